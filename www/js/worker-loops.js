// The worker's long jobs. Every one is an engine job (`begin(spec)`, then `step(kind, k)`)
// run by one driver, `drive`: one StepSizer (about STEP_MS per step) and a yield to the event
// loop between steps, so that a {cmd: 'cancel', id} message is seen within one step. Results
// stream as throttled 'partial' replies (about 10 Hz); a cancel leaves everything already
// computed with the page. Training and certification live here, the quantization jobs in
// worker-quant.js. Used by worker.js only.
import { Aborted } from './job.js';

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
 * @typedef {import('./types.js').TrainPlan} TrainPlan
 * @typedef {import('../../pkg/arq.js').JobStep} JobStep
 * @typedef {import('../../pkg/arq.js').JobEvent} JobEvent
 * @typedef {import('../../pkg/arq.js').JobKind} JobKind
 * @typedef {import('../../pkg/arq.js').Engine} Engine
 */

/**
 * How long one engine step should take, in ms: a cancel or pause waits at most one step, so
 * steps stay well under 50 ms (the next step is sized from the last one's time).
 */
export const STEP_MS = 30;
/** How often a job waiting for other workers' results looks again, in ms. */
const WAIT_MS = 2;
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
 * A step's payload, checked to be the kind of job that was driven.
 * @template {JobEvent['kind']} K
 * @param {JobStep} step @param {K} kind @returns {Extract<JobEvent, {kind: K}>}
 */
export function eventOf(step, kind) {
  if (step.event.kind !== kind) throw new Error(`engine: a ${kind} job answered with a ${step.event.kind} step`);
  return /** @type {Extract<JobEvent, {kind: K}>} */ (step.event);
}

/**
 * The one driver of every long engine job: `eng.step(kind, k)` calls sized by one StepSizer,
 * with a yield to the event loop between them. `onStep` folds each step into the command's
 * own result and says what comes next: 'stop' ends the run early (the engine keeps the job,
 * e.g. a search stepped one episode at a time), 'reset' starts the sizer over (the next
 * step's cost is unknown: a new phase, episode or row), 'wait' steps again after a short
 * sleep (the job waits for other workers' parts, handed in by an immediate command), nothing
 * sizes the next step from this one's time. A cancel throws `Aborted` with `cancelled()`'s snapshot and drops the
 * engine's job, unless `keep` (a paused search resumes where it stopped).
 * @param {Engine} eng @param {Job} job @param {JobKind} kind
 * @param {{unit?: number, keep?: boolean, cancelled: () => unknown, onStep: (step: JobStep, ms: number) => 'stop' | 'reset' | 'wait' | void}} o
 * @returns {Promise<JobStep>} the last step
 */
export async function drive(eng, job, kind, { unit = 1, keep = false, cancelled, onStep }) {
  const sizer = new StepSizer(unit);
  try {
    for (;;) {
      job.checkCancel(cancelled);
      const t0 = performance.now();
      const step = eng.step(kind, sizer.k);
      const ms = performance.now() - t0;
      const next = onStep(step, ms);
      if (step.done || next === 'stop') return step;
      if (next === 'wait') {
        // waiting for other workers (a pooled IRS phase): poll without spinning on the core
        await new Promise((resolve) => setTimeout(resolve, WAIT_MS));
        continue;
      }
      if (next === 'reset') sizer.reset();
      else sizer.next(ms);
      await yieldToEvents();
    }
  } catch (e) {
    // Only a cancel: after a panic the engine cannot be called again (worker.js restarts it).
    if (e instanceof Aborted && !keep) eng.cancel(kind);
    throw e;
  }
}

/**
 * Trains with small steps, streaming points; cancellable between steps.
 * @param {Engine} eng @param {Job} job @returns {Promise<TrainResult>}
 */
export async function train(eng, job) {
  const first = eventOf(eng.begin({ kind: 'train' }), 'train');
  /** @type {TrainPlan} */
  const plan = { epochs: eng.config().epochs, batchesPerEpoch: first.batchesPerEpoch, totalBatches: first.totalBatches };
  /** @type {TrainPoint[]} */ let points = [];
  /** @type {EpochPoint[]} */ let epochs = [];
  /** @type {TrainProgress | null} */ let last = null;
  job.partial({ plan, points, epochs }, 'train', 0, plan.totalBatches);
  await drive(eng, job, 'train', {
    cancelled: () => ({ plan, last, model: eng.modelInfo() }),
    onStep(step) {
      const p = eventOf(step, 'train');
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
    },
  });
  return { plan, last, model: eng.modelInfo() };
}

/**
 * CERTIFY on the configured test points, streaming the finished records, the running summary
 * and the throughput; cancellable between steps (the aborted reply carries the records not
 * yet streamed). Steps are whole forward batches. With `part`, only that share of the points
 * (the pool's split; worker 0 then assembles the whole), of the reported points or, with
 * `points` 'search', of the search split.
 * @param {Engine} eng @param {Job} job @param {import('../../pkg/arq.js').Part} [part]
 * @param {'report' | 'search'} [points]
 * @returns {Promise<CertifyResult>}
 */
export async function certify(eng, job, part, points) {
  const unit = Math.max(1, eng.config().certBatch);
  /** @type {CertProgress} */
  let progress = eventOf(eng.begin(part ? { kind: 'certify', part, ...(points ? { points } : {}) } : { kind: 'certify' }), 'certify').progress;
  const model = eng.modelInfo();
  /** @type {CertRecord[]} */ let records = [];
  /** @type {CertSummary | null} */ let summary = null;
  /** @type {number | null} */ let rate = null;
  const t0 = performance.now();
  job.partial({ model, records, summary, progress, rate }, 'certify', 0, progress.samplesTotal);
  await drive(eng, job, 'certify', {
    unit,
    cancelled: () => ({ records, summary, progress, rate }),
    onStep(step) {
      const s = eventOf(step, 'certify');
      progress = s.progress;
      summary = s.summary;
      records.push(...s.records);
      const seconds = (performance.now() - t0) / 1000;
      rate = seconds > 0 ? progress.samplesDone / seconds : null;
      const { samplesDone: done, samplesTotal: total } = progress;
      if (s.done || job.due('certify', done, total)) {
        job.partial({ model: null, records, summary, progress, rate }, 'certify', done, total);
        records = [];
      } else {
        job.at('certify', done, total);
      }
    },
  });
  return { records, summary, progress, rate };
}

/**
 * Measures certification throughput (time inside the engine) for about `ms` milliseconds with
 * the current model and settings, then drops the run.
 * @param {Engine} eng @param {Job} job @param {number} ms @returns {Promise<ProbeResult>}
 */
export async function probe(eng, job, ms) {
  eng.begin({ kind: 'certify' });
  let samples = 0;
  let busy = 0;
  await drive(eng, job, 'certify', {
    unit: Math.max(1, eng.config().certBatch),
    cancelled: () => null,
    onStep(step, took) {
      busy += took;
      samples = eventOf(step, 'certify').progress.samplesDone;
      return busy >= ms ? 'stop' : undefined;
    },
  });
  eng.cancel('certify');
  const seconds = Math.max(busy, 1) / 1000;
  return { model: eng.modelInfo().name, samples, seconds, rate: samples / seconds };
}

/**
 * One part of another worker's split IRS phase (`task`: its splitIrs bytes), in small steps;
 * the finished part's bytes for that worker's irsMerge.
 * @param {Engine} eng @param {Job} job @param {Uint8Array} task
 * @returns {Promise<{bytes: Uint8Array}>}
 */
export async function irsPart(eng, job, task) {
  const first = eng.beginIrsPart(task);
  job.progress(first.work.phase, 0, first.work.total);
  await drive(eng, job, 'irsPart', {
    unit: Math.max(1, eng.config().certBatch),
    cancelled: () => null,
    onStep(step) {
      job.progress(step.work.phase, step.work.done, step.work.total);
    },
  });
  return { bytes: eng.exportIrsPart() };
}
