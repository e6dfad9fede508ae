// The worker's long jobs: each drives an engine begin() + step(k) pair in small steps (one
// StepSizer for every job, about STEP_MS each), with a yield to the event loop between steps
// so that a {cmd: 'cancel', id} message is seen within one step. Results stream as throttled 'partial' replies (about
// 10 Hz); a cancel leaves everything already computed with the page. Used by worker.js only.

/**
 * @typedef {import('./job.js').Job} Job
 * @typedef {import('./protocol.js').TrainPoint} TrainPoint
 * @typedef {import('./protocol.js').EpochPoint} EpochPoint
 * @typedef {import('./protocol.js').TrainResult} TrainResult
 * @typedef {import('./protocol.js').CertifyResult} CertifyResult
 * @typedef {import('./protocol.js').ProbeResult} ProbeResult
 * @typedef {import('./types.js').TrainProgress} TrainProgress
 * @typedef {import('./types.js').CertProgress} CertProgress
 * @typedef {import('./types.js').CertRecord} CertRecord
 * @typedef {import('./types.js').CertSummary} CertSummary
 * @typedef {import('./types.js').CertifyStepResult} CertifyStepResult
 * @typedef {import('./loader.js').ArqModule} ArqModule
 * @typedef {InstanceType<ArqModule['Engine']>} Engine
 */

/**
 * How long one engine step should take, in ms: a cancel or pause waits at most one step, so
 * steps stay well under 50 ms (the next step is sized from the last one's time).
 */
export const STEP_MS = 30;
/** The largest step, in the engine's work units. */
const MAX_STEP = 1 << 22;

/**
 * Sizes step(k) calls from the time the last one took, whatever the engine's work unit: aims
 * at STEP_MS, grows at most 4x and shrinks at most 4x per step (a step whose work changes
 * kind, e.g. from fine-tuning to certification, is corrected within a few steps), and keeps
 * k a multiple of `unit` (a whole forward batch).
 */
export class StepSizer {
  /** @param {number} [unit] */
  constructor(unit = 1) {
    this.unit = Math.max(1, Math.floor(unit));
    this.k = this.unit;
  }

  /** @param {number} ms the last step's time @returns {number} the next k */
  next(ms) {
    const want = Math.round(this.k * STEP_MS / Math.max(ms, 0.5));
    const k = Math.max(1, Math.min(MAX_STEP, this.k * 4, Math.max(Math.floor(this.k / 4), want)));
    this.k = Math.max(1, Math.round(k / this.unit)) * this.unit;
    return this.k;
  }

  /** Back to the smallest step (new work whose cost is unknown). */
  reset() {
    this.k = this.unit;
  }
}

/**
 * Yields to the event loop so that queued messages (a cancel, a pause) are handled between
 * steps. A MessageChannel round trip, not setTimeout(0): browsers clamp nested timers to
 * 4 ms, which at 30 ms steps would waste over a tenth of the time.
 */
const channel = new MessageChannel();
/** @type {(() => void)[]} */
const waiting = [];
channel.port1.onmessage = () => waiting.shift()?.();
/** @returns {Promise<void>} */
export const yieldToEvents = () => new Promise((resolve) => {
  waiting.push(resolve);
  channel.port2.postMessage(null);
});

/**
 * Trains with small steps, streaming points; cancellable between steps.
 * @param {Engine} eng @param {Job} job @returns {Promise<TrainResult>}
 */
export async function train(eng, job) {
  const plan = eng.trainBegin();
  /** @type {TrainPoint[]} */ let points = [];
  /** @type {EpochPoint[]} */ let epochs = [];
  /** @type {TrainProgress | null} */ let last = null;
  const sizer = new StepSizer();
  job.partial({ plan, points, epochs }, 'train', 0, plan.totalBatches);
  for (;;) {
    job.checkCancel(() => ({ plan, last, model: eng.modelInfo() }));
    const t0 = performance.now();
    /** @type {TrainProgress} */
    const p = eng.trainStep(sizer.k);
    const ms = performance.now() - t0;
    last = p;
    points.push({ step: p.batchesDone, epoch: p.epoch, loss: p.loss, accuracy: p.accuracy });
    if (p.epochEnd) epochs.push({ ...p.epochEnd, step: p.batchesDone });
    if (p.done || p.epochEnd || job.due('train', p.batchesDone, p.totalBatches)) {
      job.partial({ plan, points, epochs }, 'train', p.batchesDone, p.totalBatches);
      points = [];
      epochs = [];
    } else {
      job.at('train', p.batchesDone, p.totalBatches);
    }
    if (p.done) break;
    sizer.next(ms);
    await yieldToEvents();
  }
  return { plan, last, model: eng.modelInfo() };
}

/**
 * CERTIFY on the configured test points: engine.certifyBegin() then certifyStep(k) calls,
 * streaming the finished records, the running summary and the throughput; cancellable
 * between steps (the aborted reply carries the records not yet streamed).
 * @param {Engine} eng @param {Job} job @returns {Promise<CertifyResult>}
 */
export async function certify(eng, job) {
  const batch = Math.max(1, Number(eng.config().certBatch) || 1);
  /** @type {CertProgress} */
  let progress = eng.certifyBegin();
  const model = eng.modelInfo();
  /** @type {CertRecord[]} */ let records = [];
  /** @type {CertSummary | null} */ let summary = null;
  /** @type {number | null} */ let rate = null;
  const t0 = performance.now();
  const sizer = new StepSizer(batch);
  job.partial({ model, records, summary, progress, rate }, 'certify', 0, progress.samplesTotal);
  for (;;) {
    job.checkCancel(() => ({ records, summary, progress, rate }));
    const s0 = performance.now();
    /** @type {CertifyStepResult} */
    const step = eng.certifyStep(sizer.k);
    const ms = performance.now() - s0;
    progress = step.progress;
    summary = step.summary;
    records.push(...step.records);
    const seconds = (performance.now() - t0) / 1000;
    rate = seconds > 0 ? progress.samplesDone / seconds : null;
    const { samplesDone: done, samplesTotal: total } = progress;
    if (step.done || job.due('certify', done, total)) {
      job.partial({ model: null, records, summary, progress, rate }, 'certify', done, total);
      records = [];
    } else {
      job.at('certify', done, total);
    }
    if (step.done) break;
    sizer.next(ms);
    await yieldToEvents();
  }
  return { records, summary, progress, rate };
}

/**
 * Measures certification throughput (time inside the engine) for about `ms` milliseconds with
 * the current model and settings, then abandons the run (the engine keeps nothing from it but an unfinished job,
 * which the next certifyBegin replaces).
 * @param {Engine} eng @param {number} ms @returns {Promise<ProbeResult>}
 */
export async function probe(eng, ms) {
  const batch = Math.max(1, Number(eng.config().certBatch) || 1);
  eng.certifyBegin();
  let samples = 0;
  const sizer = new StepSizer(batch);
  let busy = 0;
  while (busy < ms) {
    const s0 = performance.now();
    /** @type {CertifyStepResult} */
    const step = eng.certifyStep(sizer.k);
    const took = performance.now() - s0;
    busy += took;
    samples = step.progress.samplesDone;
    if (step.done) break;
    sizer.next(took);
    await yieldToEvents();
  }
  const seconds = Math.max(busy, 1) / 1000;
  return { model: eng.modelInfo().name, samples, seconds, rate: samples / seconds };
}
