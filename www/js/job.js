// One running request inside the worker: sends its replies (progress throttled to about
// 10 Hz, with an ETA), and checks between steps whether its cancel message has arrived.
import { throttle } from './protocol.js';

/**
 * @typedef {import('./protocol.js').Reply} Reply
 * @typedef {import('./protocol.js').Cmd} Cmd
 */

/** Thrown inside a job when its cancel message has arrived. */
export class Aborted extends Error {
  /** @param {unknown} result */
  constructor(result) {
    super('aborted');
    this.result = result;
  }
}

/** One running request: sends its replies, throttles progress, checks for cancellation. */
export class Job {
  /**
   * @param {number} id
   * @param {Cmd} cmd the first phase's name
   * @param {(reply: Reply) => void} post sends a reply to the page
   * @param {Set<number>} cancelled ids whose cancel message has arrived
   */
  constructor(id, cmd, post, cancelled) {
    this.id = id;
    this.post = post;
    this.cancelled = cancelled;
    /** @type {string} */
    this.phase = cmd;
    this.done = 0;
    this.total = 0;
    this.due = throttle(100);
    this.phaseStart = performance.now();
  }

  /** Seconds left in the current phase, from the time spent so far (display only). */
  eta() {
    if (this.done <= 0 || this.total <= 0 || this.done >= this.total) return this.done >= this.total && this.total > 0 ? 0 : null;
    const elapsed = (performance.now() - this.phaseStart) / 1000;
    return (elapsed * (this.total - this.done)) / this.done;
  }

  /** @param {string} phase @param {number} done @param {number} total */
  at(phase, done, total) {
    if (phase !== this.phase) this.phaseStart = performance.now();
    this.phase = phase;
    this.done = done;
    this.total = total;
  }

  /** @param {Partial<Reply> & {type: Reply['type']}} extra */
  send(extra) {
    const base = { id: this.id, phase: this.phase, done: this.done, total: this.total, eta: this.eta() };
    this.post(/** @type {Reply} */ ({ ...base, ...extra }));
  }

  /** Progress, throttled to about 10 Hz. @param {string} phase @param {number} done @param {number} total */
  progress(phase, done, total) {
    this.at(phase, done, total);
    if (this.due(phase, done, total)) this.send({ type: 'progress' });
  }

  /** @param {unknown} data @param {string} phase @param {number} done @param {number} total */
  partial(data, phase, done, total) {
    this.at(phase, done, total);
    this.send({ type: 'partial', data });
  }

  /** @param {() => unknown} state what the cancelled job leaves behind */
  checkCancel(state) {
    if (this.cancelled.has(this.id)) throw new Aborted(state());
  }
}
