// A pool of engine workers (issue 10). Worker 0 is the page's engine: it trains, holds the
// session and runs every command. Certification of the reported points and the final table
// are split over all the pool's workers in fixed parts (item i in part i % count) and merged
// in item order, by the engine's own rules (records and rows merged in order, the summary and
// the FP32 reference assembled by worker 0's core), so every worker count gives the same
// results bit for bit. The search and the quick read-out run in worker 0 (the fine-tuning is
// sequential), with their FP32 reference certified in parts first when worker 0 lacks it and
// the IRS phase of every episode (of the read-out) split: worker 0 sends each helper a task
// (the fine-tuned weights, the policy, its part of the FP32 cache), certifies part 0 itself,
// and finishes the episode once the helpers' parts are merged. Before a pooled job the helpers get worker 0's config and weights
// (its checkpoint bytes), again whenever they changed since (generation counters). Plain
// messages only: no SharedArrayBuffer, no special headers. With one worker every command
// goes to worker 0 unchanged.
import { EngineClient, EngineError, JobAborted } from './client.js';
import { DEFAULT_FRAGMENT } from './protocol.js';

/**
 * @typedef {import('./protocol.js').CommandMap} CommandMap
 * @typedef {import('./protocol.js').Cmd} Cmd
 * @typedef {import('./protocol.js').CertifyPartial} CertifyPartial
 * @typedef {import('./protocol.js').CertifyResult} CertifyResult
 * @typedef {import('./client.js').Progress} Progress
 * @typedef {import('./types.js').CertRecord} CertRecord
 * @typedef {import('./types.js').CertSummary} CertSummary
 * @typedef {import('./types.js').CertProgress} CertProgress
 * @typedef {import('./quant-types.js').FinalPartial} FinalPartial
 * @typedef {import('./quant-types.js').FinalRow} FinalRow
 */
/**
 * @template {Cmd} K
 * @typedef {import('./client.js').Job<K>} Job
 */
/**
 * @template {Cmd} K
 * @typedef {import('./client.js').Handlers<K>} Handlers
 */

/** The most workers the page offers. */
export const MAX_WORKERS = 8;
const STORE_KEY = 'arq.workers';

/** Commands that change neither the config nor the weights of worker 0. */
const READ_ONLY = new Set(['parseFragment', 'rMax', 'setPresentation', 'samples', 'modelInfo', 'memoryInfo', 'noise', 'quantLayers', 'policy',
  'layerHistogram', 'searchState', 'evaluate', 'certify', 'certifyPart', 'certifyProbe', 'certifySummary', 'certifyExport',
  'compareRows', 'finalStats', 'exportState', 'quantEval', 'search', 'final', 'finalPart', 'sensitivity', 'hasReference', 'irsPart', 'irsMerge', 'digitPrepare', 'digit',
  'exportTable', 'cohenRecords', 'saveCheckpoint',
  'resultsEncode', 'resultsRead', 'resultsVerify', 'bundleWrite', 'bundleRead']);
/** Commands that (may) change worker 0's weights. */
const WEIGHTS = new Set(['init', 'loadPretrained', 'train', 'debugPanic', 'importState', 'loadCheckpoint']);

/** The default worker count: the machine's cores, at most 4. */
export function defaultWorkers() {
  return Math.max(1, Math.min(navigator.hardwareConcurrency || 1, 4));
}

/** The worker count the user chose (localStorage; it never changes results, so not in the URL). */
export function storedWorkers() {
  let v = NaN;
  try {
    v = Number(localStorage.getItem(STORE_KEY));
  } catch { /* storage refused: the default */ }
  return Number.isInteger(v) && v >= 1 && v <= MAX_WORKERS ? v : defaultWorkers();
}

/** @param {number} n */
function storeWorkers(n) {
  try {
    localStorage.setItem(STORE_KEY, String(n));
  } catch { /* storage refused: this page only */ }
}

/**
 * A helper worker and the generations of worker 0's weights and config it holds.
 * @typedef {object} Helper
 * @property {EngineClient} client
 * @property {Worker} worker
 * @property {Promise<unknown>} ready its engine loaded
 * @property {number} weights
 * @property {number} config
 */

/**
 * A pooled job's cancellation: the flag, and its part jobs once started.
 * @typedef {object} Control
 * @property {boolean} cancelled
 * @property {{cancel: () => void}[]} parts
 */

/** The sum of the parts' progress, with the slowest part's ETA. @param {(Progress | null)[]} ps @param {string} phase @returns {Progress} */
function sumProgress(ps, phase) {
  const got = ps.filter((p) => p !== null);
  const etas = got.map((p) => p.eta);
  return {
    phase,
    done: got.reduce((a, p) => a + p.done, 0),
    total: got.reduce((a, p) => a + p.total, 0),
    eta: etas.some((e) => e === null) || etas.length < ps.length ? null : Math.max(...etas.map(Number)),
  };
}

/** Items of parts (part k's j-th item is item j * count + k), back in item order. @template T @param {T[][]} parts */
function interleave(parts) {
  /** @type {T[]} */
  const out = [];
  for (let j = 0; parts.some((p) => j < p.length); j++) {
    for (const p of parts) if (j < p.length) out.push(p[j]);
  }
  return out;
}

/** Silence of a working helper after which it counts as hung (steps post every ~30 ms). */
const HELPER_STALL_MS = 30_000;

export class EnginePool {
  /**
   * @param {(name: string) => Worker} makeWorker starts a module worker running worker.js,
   *   named for the browser's developer tools
   * @param {(err: EngineError) => void} onFatal worker 0's worker-level errors
   */
  constructor(makeWorker, onFatal) {
    this.makeWorker = makeWorker;
    /** Worker 0: the session. */
    this.main = new EngineClient(makeWorker('arq worker 0'), onFatal);
    /** @type {Helper[]} */
    this.helpers = [];
    this.size = storedWorkers();
    /** Generations of worker 0's weights and config (bumped by every command that may change them). */
    this.weightsGen = 0;
    this.configGen = 0;
    /** IRS phases split over the pool so far (diagnostics: the browser tests check the split ran). */
    this.irsSplits = 0;
    /**
     * A helper silent this long while it has work is hung: it is stopped and the job fails
     * with a clear error instead of waiting forever (worker 0 holds the session and is never
     * stopped this way). Applies to helpers started afterwards.
     */
    this.stallMs = HELPER_STALL_MS;
  }

  /** Uses `n` workers from the next pooled job on (kept in localStorage). @param {number} n */
  setSize(n) {
    this.size = Math.max(1, Math.min(MAX_WORKERS, Math.floor(n)));
    storeWorkers(this.size);
    for (const h of this.helpers.splice(this.size - 1)) h.worker.terminate();
  }

  /**
   * Sends a request: certification and the final table over the pool when it has more than
   * one worker, everything else to worker 0.
   * @template {Cmd} K
   * @param {K} cmd @param {CommandMap[K]['params']} params @param {Handlers<K>} [handlers]
   * @returns {Job<K>}
   */
  start(cmd, params, handlers = {}) {
    if (this.size > 1 && cmd === 'certify') {
      return /** @type {Job<K>} */ (/** @type {unknown} */ (this.pooled((ctl) => this.certify(ctl, /** @type {Handlers<'certify'>} */ (handlers)))));
    }
    if (this.size > 1 && cmd === 'final') {
      return /** @type {Job<K>} */ (/** @type {unknown} */ (this.pooled((ctl) => this.final(ctl, /** @type {Handlers<'final'>} */ (handlers)))));
    }
    if (this.size > 1 && cmd === 'search') {
      const p = /** @type {CommandMap['search']['params']} */ (params);
      return /** @type {Job<K>} */ (/** @type {unknown} */ (this.pooled((ctl) => this.irsPooled(ctl, 'search', p, /** @type {Handlers<'search'>} */ (handlers)))));
    }
    if (this.size > 1 && cmd === 'quantEval') {
      const p = /** @type {CommandMap['quantEval']['params']} */ (params);
      return /** @type {Job<K>} */ (/** @type {unknown} */ (this.pooled((ctl) => this.irsPooled(ctl, 'quantEval', p, /** @type {Handlers<'quantEval'>} */ (handlers)))));
    }
    const job = this.main.start(cmd, params, handlers);
    if (!READ_ONLY.has(cmd)) {
      this.configGen += 1;
      if (WEIGHTS.has(cmd)) this.weightsGen += 1;
      // a config that re-initialised the model, and a crash (the engine restarts untrained)
      job.promise.then((r) => {
        if (cmd === 'setConfig' && /** @type {CommandMap['setConfig']['result']} */ (r).modelChanged) this.weightsGen += 1;
      }, (e) => {
        if (e instanceof EngineError && e.panic) this.weightsGen += 1;
      });
    }
    return job;
  }

  /**
   * @template {Cmd} K
   * @param {K} cmd @param {CommandMap[K]['params']} params @param {Handlers<K>} [handlers]
   * @returns {Promise<CommandMap[K]['result']>}
   */
  request(cmd, params, handlers) {
    return this.start(cmd, params, handlers).promise;
  }

  /** Helper k (1-based), started and loaded on first use. @param {number} k @returns {Helper} */
  helper(k) {
    let h = this.helpers[k - 1];
    if (!h) {
      const worker = this.makeWorker(`arq pool worker ${k}`);
      // A helper that fails as a whole (or hangs) is dropped: the next pooled job starts a fresh one.
      const client = new EngineClient(worker, () => this.drop(h));
      client.name = `pool worker ${k}`;
      client.stallMs = this.stallMs;
      // a helper that could not load is dropped too (the job that needed it fails with why)
      const ready = client.request('init', { fragment: DEFAULT_FRAGMENT }).catch((e) => {
        this.drop(h);
        throw e;
      });
      h = { client, worker, ready, weights: -1, config: -1 };
      this.helpers[k - 1] = h;
    }
    return h;
  }

  /** Stops a helper and forgets it. @param {Helper} h */
  drop(h) {
    const i = this.helpers.indexOf(h);
    if (i >= 0) this.helpers.splice(i, 1);
    h.worker.terminate();
  }

  /**
   * The pool's helpers, loaded and holding worker 0's config and weights.
   * @returns {Promise<Helper[]>}
   */
  async syncedHelpers() {
    const helpers = Array.from({ length: this.size - 1 }, (_, i) => this.helper(i + 1));
    await Promise.all(helpers.map((h) => h.ready));
    const [w, c] = [this.weightsGen, this.configGen];
    const stale = helpers.filter((h) => h.weights !== w || h.config !== c);
    if (stale.length === 0) return helpers;
    const state = await this.main.request('exportState', { weights: stale.some((h) => h.weights !== w) });
    await Promise.all(stale.map(async (h) => {
      const params = h.weights !== w && state.checkpoint ? { fragment: state.fragment, checkpoint: state.checkpoint } : { fragment: state.fragment };
      await h.client.request('importState', params);
      h.weights = w;
      h.config = c;
    }));
    return helpers;
  }

  /**
   * A pooled job: `run` puts its part jobs on `ctl.parts` (so that a cancel reaches them) and
   * checks `ctl.cancelled` before starting them.
   * @template T
   * @param {(ctl: Control) => Promise<T>} run
   * @returns {{id: number, promise: Promise<T>, cancel: () => void}}
   */
  pooled(run) {
    /** @type {Control} */
    const ctl = { cancelled: false, parts: [] };
    const cancel = () => {
      ctl.cancelled = true;
      ctl.parts.forEach((j) => j.cancel());
    };
    return { id: -1, promise: run(ctl), cancel };
  }

  /**
   * Waits for every part; on the first error (not a cancel) the other parts are cancelled. A
   * helper that crashed is re-synced before its next job; a helper's error names it.
   * @param {{promise: Promise<unknown>, cancel: () => void}[]} parts @param {(Helper | null)[]} owners
   * @param {number} [first] the pool's number of the first part's worker (0: worker 0's)
   * @returns {Promise<{results: unknown[], aborted: boolean, error: unknown}>}
   */
  async settle(parts, owners, first = 0) {
    /** @type {unknown} */
    let error = null;
    const settled = await Promise.allSettled(parts.map((p, k) => p.promise.catch((e) => {
      const h = owners[k];
      // A helper that failed gets the config and weights again before its next job (a crash
      // restarted its engine untrained); its error names it, and worker 0 and the page's
      // model are untouched, so it is not reported as a panic.
      if (h && !(e instanceof JobAborted)) [h.weights, h.config] = [-1, -1];
      const who = `pool worker ${k + first}: `;
      if (h && e instanceof EngineError && !e.message.startsWith(who)) e = new EngineError(`${who}${e.message}`, false, e.phase);
      if (!(e instanceof JobAborted) && error === null) {
        error = e;
        parts.forEach((q, i) => { if (i !== k) q.cancel(); });
      }
      throw e;
    })));
    const aborted = settled.some((s) => s.status === 'rejected' && s.reason instanceof JobAborted);
    const results = settled.map((s) => (s.status === 'fulfilled' ? s.value : s.reason instanceof JobAborted ? s.reason.result : null));
    return { results, aborted, error };
  }

  /**
   * Certification over the pool: worker k certifies part k of the points; records stream as
   * they come, the running summary is the core's over all records so far (worker 0), and at
   * the end worker 0 assembles the whole FP32 reference (what the read-out and the search
   * re-use) and the final summary from the parts.
   * @param {Control} ctl @param {Handlers<'certify'>} handlers
   * @returns {Promise<CertifyResult>}
   */
  async certify(ctl, handlers) {
    const helpers = await this.syncedHelpers();
    if (ctl.cancelled) throw new JobAborted(null);
    const clients = [this.main, ...helpers.map((h) => h.client)];
    const n = clients.length;
    /** @type {(Progress | null)[]} */
    const progress = clients.map(() => null);
    /** @type {(CertProgress | null)[]} */
    const certProgress = clients.map(() => null);
    /** @type {number[]} */
    const rates = clients.map(() => 0);
    /** @type {CertRecord[]} */
    const all = [];
    /** @type {CertSummary | null} */
    let summary = null;
    let finished = false;
    /** Records not shown yet, and worker 0's model until the first partial carries it. */
    /** @type {CertRecord[]} */
    let pending = [];
    /** @type {CertifyPartial['model']} */
    let model = null;
    /** @type {ReturnType<typeof setTimeout> | null} */
    let timer = null;
    /** When records were last shown. */
    let shown = -Infinity;
    const phase = 'certify';
    /** @returns {CertProgress} */
    const cert = () => {
      const got = certProgress.filter((p) => p !== null);
      const sum = (/** @type {(p: CertProgress) => number} */ f) => got.reduce((a, p) => a + f(p), 0);
      return { examplesDone: sum((p) => p.examplesDone), examplesTotal: sum((p) => p.examplesTotal), samplesDone: sum((p) => p.samplesDone), samplesTotal: sum((p) => p.samplesTotal) };
    };
    const rate = () => rates.reduce((a, r) => a + r, 0) || null;
    // The parts' partials are coalesced (at most about 10 Hz, like one worker's; the first
    // records at once) into one partial with the core's summary over every record so far: the
    // views render no more often than with one worker, and rendering takes less of the cores
    // the workers run on.
    const flush = async () => {
      let s = summary;
      try {
        s = await this.main.request('certifySummary', { records: all.slice() });
      } catch { /* the run's own error is reported */ }
      if (finished) return;
      summary = s;
      const data = { model, records: pending, summary, progress: cert(), rate: rate() };
      if (pending.length) shown = performance.now();
      pending = [];
      model = null;
      handlers.onPartial?.(data, sumProgress(progress, phase));
      timer = null;
      if (pending.length) schedule();
    };
    const schedule = () => {
      if (timer === null) timer = setTimeout(flush, Math.max(0, shown + 100 - performance.now()));
    };
    const parts = clients.map((c, k) => c.start('certifyPart', { part: { index: k, count: n } }, {
      onPartial: (d, p) => {
        progress[k] = p;
        certProgress[k] = d.progress;
        rates[k] = d.rate ?? 0;
        all.push(...d.records);
        pending.push(...d.records);
        if (k === 0 && d.model) model = d.model;
        schedule();
      },
      onProgress: (p) => {
        progress[k] = p;
        handlers.onProgress?.(sumProgress(progress, phase));
      },
    }));
    ctl.parts.push(...parts);
    const { results, aborted, error } = await this.settle(parts, [null, ...helpers]);
    finished = true;
    if (timer !== null) clearTimeout(timer);
    /** @type {CertRecord[]} */
    const rest = pending;
    for (const r of /** @type {(CertifyResult | null)[]} */ (results)) {
      if (r) {
        rest.push(...r.records);
        all.push(...r.records);
      }
    }
    if (error !== null) throw error;
    if (aborted) {
      const s = all.length ? await this.main.request('certifySummary', { records: all }) : summary;
      throw new JobAborted({ records: rest, summary: s, progress: cert(), rate: rate() });
    }
    const exported = await Promise.all(helpers.map((h) => h.client.request('certifyExport', {})));
    const whole = await this.main.request('certifyImport', { parts: exported.map((e) => e.bytes) });
    return { records: rest, summary: whole.summary, progress: cert(), rate: rate() };
  }

  /**
   * Makes sure worker 0 holds the FP32 reference of `points` (what IRS replays): if not, every
   * worker certifies its part of the points and worker 0 assembles the whole, the reference an
   * unpooled run would certify itself.
   * @param {Control} ctl @param {'report' | 'search'} points @param {Helper[]} helpers
   * @param {(p: Progress) => void} [onProgress]
   */
  async reference(ctl, points, helpers, onProgress) {
    if (await this.main.request('hasReference', { points })) return;
    const clients = [this.main, ...helpers.map((h) => h.client)];
    const n = clients.length;
    /** @type {(Progress | null)[]} */
    const progress = clients.map(() => null);
    const report = (/** @type {number} */ k, /** @type {Progress} */ p) => {
      progress[k] = p;
      onProgress?.(sumProgress(progress, 'fp32-certify'));
    };
    const parts = clients.map((c, k) => c.start('certifyPart', { part: { index: k, count: n }, points }, {
      onPartial: (_d, p) => report(k, p),
      onProgress: (p) => report(k, p),
    }));
    ctl.parts.push(...parts);
    const { aborted, error } = await this.settle(parts, [null, ...helpers]);
    if (error !== null) throw error;
    if (aborted) throw new JobAborted(null);
    const exported = await Promise.all(helpers.map((h) => h.client.request('certifyExport', {})));
    await this.main.request('certifyImport', { parts: exported.map((e) => e.bytes) });
  }

  /**
   * The search or the quick read-out with its IRS phases split over the pool: worker 0 runs
   * the command with `pool`; each time an IRS phase starts, its partial carries the other
   * parts' tasks, helper k certifies task k - 1 (irsPart) and worker 0 gets the parts back
   * (irsMerge) while it certifies part 0 or waits for them. Partials and progress are worker
   * 0's, the result is its command's. A helper's failure cancels worker 0's command and is the
   * job's error; a cancel reaches worker 0 (a search pauses, its finished episodes stay) and
   * the running parts.
   * @template {'search' | 'quantEval'} K
   * @param {Control} ctl @param {K} kind @param {CommandMap[K]['params']} params @param {Handlers<K>} handlers
   * @returns {Promise<CommandMap[K]['result']>}
   */
  async irsPooled(ctl, kind, params, handlers) {
    const helpers = await this.syncedHelpers();
    if (ctl.cancelled) throw new JobAborted(null);
    const onFp32 = (/** @type {Progress} */ p) => handlers.onProgress?.(p);
    // the reference a fresh search or a read-out would certify first (a resumed search has it)
    const resumed = kind === 'search' && /** @type {CommandMap['search']['params']} */ (params).resume;
    if (!resumed) await this.reference(ctl, kind === 'search' ? 'search' : 'report', helpers, onFp32);
    if (ctl.cancelled) throw new JobAborted(null);
    /** @type {unknown} */
    let failure = null;
    /** @type {{cancel: () => void, promise: Promise<unknown>}[]} */
    let running = [];
    /** @param {Uint8Array[]} tasks */
    const dispatch = (tasks) => {
      this.irsSplits += 1;
      const parts = helpers.map((h, k) => h.client.start('irsPart', { task: tasks[k] }));
      running = parts;
      ctl.parts.push(...parts);
      this.settle(parts, helpers, 1).then(async ({ results, aborted, error }) => {
        const mine = /** @type {{cancel: () => void}[]} */ (parts);
        ctl.parts = ctl.parts.filter((p) => !mine.includes(p));
        if (error !== null) throw error;
        if (aborted || ctl.cancelled) return;
        const bytes = /** @type {{bytes: Uint8Array}[]} */ (results).map((r) => r.bytes);
        await this.main.request('irsMerge', { kind, parts: bytes });
      }).catch((e) => {
        if (failure === null) failure = e;
        main.cancel();
      });
    };
    const main = this.main.start(kind, /** @type {CommandMap[K]['params']} */ ({ ...params, pool: helpers.length + 1 }), {
      onPartial: (d, p) => {
        const { tasks, ...data } = /** @type {{tasks?: Uint8Array[]}} */ (d);
        if (tasks) {
          if (tasks.length !== helpers.length) failure ??= new EngineError(`pool: ${tasks.length} IRS tasks for ${helpers.length} helpers`);
          else dispatch(tasks);
        }
        handlers.onPartial?.(/** @type {CommandMap[K]['partial']} */ (/** @type {unknown} */ (data)), p);
      },
      onProgress: (p) => handlers.onProgress?.(p),
    });
    ctl.parts.push(main);
    try {
      return /** @type {CommandMap[K]['result']} */ (await main.promise);
    } catch (e) {
      running.forEach((p) => p.cancel());
      // a helper's failure, not the user's cancel
      if (failure !== null) throw failure;
      throw e;
    }
  }

  /**
   * The final table over the pool: worker 0's rows (names and policies, in table order) go
   * to every worker, worker k computes part k, and the rows are merged in table order.
   * @param {Control} ctl @param {Handlers<'final'>} handlers
   * @returns {Promise<FinalPartial>}
   */
  async final(ctl, handlers) {
    const rows = await this.main.request('compareRows', {});
    const helpers = (await this.syncedHelpers()).slice(0, Math.max(0, rows.length - 1));
    if (ctl.cancelled) throw new JobAborted(null);
    const clients = [this.main, ...helpers.map((h) => h.client)];
    const n = clients.length;
    const total = rows.length;
    /** @type {FinalRow[][]} */
    const done = clients.map(() => []);
    /** @type {(string | null)[]} */
    const current = clients.map(() => null);
    /** @type {(Progress | null)[]} */
    const progress = clients.map(() => null);
    /** @returns {FinalPartial} the parts' finished rows so far, in table order */
    const data = () => ({ rows: interleave(done), phase: 'final', current: current.find((c) => c !== null) ?? null, total });
    const parts = clients.map((c, k) => c.start('finalPart', { part: { index: k, count: n }, rows }, {
      onPartial: (d, p) => {
        done[k] = d.rows;
        current[k] = d.current;
        progress[k] = p;
        handlers.onPartial?.(data(), sumProgress(progress, 'final'));
      },
      onProgress: (p) => {
        progress[k] = p;
        // a part's phase names its row in progress (and the uniform candidate being evaluated)
        if (p.phase.startsWith('final: ')) current[k] = p.phase.slice('final: '.length);
        handlers.onProgress?.(sumProgress(progress, data().current ? `final: ${data().current}` : 'final'));
      },
    }));
    ctl.parts.push(...parts);
    const { results, aborted, error } = await this.settle(parts, [null, ...helpers]);
    results.forEach((r, k) => { if (r) done[k] = /** @type {FinalPartial} */ (r).rows; });
    current.fill(null);
    if (error !== null) throw error;
    if (aborted) throw new JobAborted(data());
    return data();
  }
}
