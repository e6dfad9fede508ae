// The page's side of the worker protocol (protocol.js): numbered requests, promises for
// results, callbacks for progress and partial results, cancellation.

/**
 * @typedef {import('./protocol.js').CommandMap} CommandMap
 * @typedef {import('./protocol.js').Cmd} Cmd
 * @typedef {import('./protocol.js').Reply} Reply
 */

/**
 * @typedef {object} Progress
 * @property {string} phase
 * @property {number} done
 * @property {number} total
 * @property {number|null} eta seconds left, when known
 */

/** The worker reported an error for a request (or for the worker itself). */
export class EngineError extends Error {
  /** @param {string} message @param {boolean} panic @param {string} phase */
  constructor(message, panic = false, phase = '') {
    super(message);
    this.name = 'EngineError';
    this.panic = panic;
    this.phase = phase;
  }
}

/** The request was cancelled; `result` holds what the worker reported about the state left. */
export class JobAborted extends Error {
  /** @param {unknown} result */
  constructor(result) {
    super('cancelled');
    this.name = 'JobAborted';
    this.result = result;
  }
}

/**
 * @template {Cmd} K
 * @typedef {object} Job
 * @property {number} id
 * @property {Promise<CommandMap[K]['result']>} promise
 * @property {() => void} cancel
 */

/**
 * @template {Cmd} K
 * @typedef {object} Handlers
 * @property {(p: Progress) => void} [onProgress]
 * @property {(data: CommandMap[K]['partial'], p: Progress) => void} [onPartial]
 */

/**
 * @typedef {object} Pending
 * @property {(v: any) => void} resolve
 * @property {(e: Error) => void} reject
 * @property {Handlers<any>} handlers
 */

export class EngineClient {
  /**
   * @param {Worker} worker a module worker running worker.js
   * @param {(err: EngineError) => void} onFatal worker-level errors (failed to load, crashed,
   *   or an error reply without a request id)
   */
  constructor(worker, onFatal) {
    this.worker = worker;
    this.nextId = 1;
    /** @type {Map<number, Pending>} */
    this.pending = new Map();
    this.onFatal = onFatal;
    /** How errors of the worker as a whole name it (e.g. "pool worker 1"; "" for worker 0). */
    this.name = '';
    /** Milliseconds of silence with a request pending after which the worker is hung (0: never). */
    this.stallMs = 0;
    /** When the worker was last heard from (or a request was sent to an idle worker). */
    this.heard = 0;
    /** @type {ReturnType<typeof setInterval> | null} */
    this.watchdog = null;
    worker.addEventListener('message', (ev) => {
      this.heard = performance.now();
      this.receive(/** @type {Reply} */ (ev.data));
    });
    worker.addEventListener('error', (ev) => {
      ev.preventDefault();
      const where = ev.filename ? ` (${ev.filename}:${ev.lineno})` : '';
      this.failAll(new EngineError(`engine worker failed: ${ev.message || 'could not load worker.js'}${where}`));
    });
    worker.addEventListener('messageerror', () => {
      this.onFatal(new EngineError('engine worker sent a message that could not be read'));
    });
  }

  /**
   * Sends a request.
   * @template {Cmd} K
   * @param {K} cmd
   * @param {CommandMap[K]['params']} params
   * @param {Handlers<K>} [handlers]
   * @returns {Job<K>}
   */
  start(cmd, params, handlers = {}) {
    const id = this.nextId++;
    this.watch();
    /** @type {Promise<CommandMap[K]['result']>} */
    const promise = new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, handlers });
    });
    this.worker.postMessage({ id, cmd, params });
    return { id, promise, cancel: () => this.worker.postMessage({ cmd: 'cancel', id }) };
  }

  /**
   * Sends a request and waits for its result.
   * @template {Cmd} K
   * @param {K} cmd
   * @param {CommandMap[K]['params']} params
   * @param {Handlers<K>} [handlers]
   * @returns {Promise<CommandMap[K]['result']>}
   */
  request(cmd, params, handlers) {
    return this.start(cmd, params, handlers).promise;
  }

  /**
   * Sends a raw message (tests use this to check the worker's validation).
   * @param {unknown} message
   * @returns {Promise<unknown>}
   */
  raw(message) {
    const id = this.nextId++;
    const promise = new Promise((resolve, reject) => this.pending.set(id, { resolve, reject, handlers: {} }));
    const m = /** @type {Record<string, unknown>} */ (message);
    this.worker.postMessage({ ...m, id: Object.hasOwn(m, 'id') ? m.id : id });
    return promise;
  }

  /** @param {Reply} reply */
  receive(reply) {
    const job = reply.id === null ? undefined : this.pending.get(reply.id);
    if (!job) {
      // An error without an id is about a message of ours that the worker could not read; a
      // reply for an id we never sent (or already settled) is not ours: ignore it.
      if (reply.type === 'error' && reply.id === null) this.onFatal(new EngineError(reply.message, reply.panic, reply.phase));
      return;
    }
    /** @type {Progress} */
    const progress = { phase: reply.phase, done: reply.done, total: reply.total, eta: reply.eta };
    switch (reply.type) {
      case 'progress':
        job.handlers.onProgress?.(progress);
        break;
      case 'partial':
        job.handlers.onPartial?.(reply.data, progress);
        job.handlers.onProgress?.(progress);
        break;
      case 'done':
        this.pending.delete(/** @type {number} */ (reply.id));
        job.resolve(reply.result);
        break;
      case 'aborted':
        this.pending.delete(/** @type {number} */ (reply.id));
        job.reject(new JobAborted(reply.result));
        break;
      case 'error':
        this.pending.delete(/** @type {number} */ (reply.id));
        job.reject(new EngineError(reply.message, reply.panic, reply.phase));
        break;
    }
  }

  /**
   * Declares the worker hung when a request is pending and it sends nothing for `stallMs`
   * (a job posts progress at least every step of about 30 ms; a busy loop or a lost worker
   * posts nothing): every pending request fails with an error that says so, and `onFatal`
   * runs (the pool stops and forgets a hung helper). Called as each request is sent.
   */
  watch() {
    if (this.stallMs <= 0) return;
    if (this.pending.size === 0) this.heard = performance.now();
    if (this.watchdog !== null) return;
    const every = Math.min(1000, this.stallMs / 4);
    let tick = performance.now();
    this.watchdog = setInterval(() => {
      if (this.pending.size === 0) {
        clearInterval(/** @type {ReturnType<typeof setInterval>} */ (this.watchdog));
        this.watchdog = null;
        return;
      }
      const now = performance.now();
      // a late tick means this thread was frozen or busy (a background tab, a long render):
      // the silence is ours, not the worker's, so it starts again
      if (now - tick > 2 * every + 1000) this.heard = now;
      tick = now;
      const silent = now - this.heard;
      if (silent < this.stallMs) return;
      clearInterval(/** @type {ReturnType<typeof setInterval>} */ (this.watchdog));
      this.watchdog = null;
      this.failAll(new EngineError(`${this.name ? `${this.name}: ` : ''}stopped answering (nothing for ${(silent / 1000).toFixed(1)} s while working); it was stopped, and the next job starts a fresh worker`));
    }, every);
  }

  /** @param {EngineError} err */
  failAll(err) {
    for (const job of this.pending.values()) job.reject(err);
    this.pending.clear();
    this.onFatal(err);
  }
}
