// The worker's long jobs: each drives an engine begin() + step(k) pair in small steps, sized
// from the time the last step took, with a yield to the event loop between steps so that a
// {cmd: 'cancel', id} message is seen. Results stream as throttled 'partial' replies (about
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

/** How long one training step should take, in ms (only decides how often we yield). */
const TRAIN_STEP_MS = 40;
/** How long one certification step should take, in ms (50-100 ms keeps cancel responsive). */
const CERTIFY_STEP_MS = 75;
/** The largest certification step, in noisy samples. */
const MAX_CERTIFY_STEP = 2_000_000;

export const yieldToEvents = () => new Promise((resolve) => setTimeout(resolve, 0));

/**
 * Trains with small steps, streaming points; cancellable between steps.
 * @param {Engine} eng @param {Job} job @returns {Promise<TrainResult>}
 */
export async function train(eng, job) {
  const plan = eng.trainBegin();
  /** @type {TrainPoint[]} */ let points = [];
  /** @type {EpochPoint[]} */ let epochs = [];
  /** @type {TrainProgress | null} */ let last = null;
  let k = 1;
  job.partial({ plan, points, epochs }, 'train', 0, plan.totalBatches);
  for (;;) {
    job.checkCancel(() => ({ plan, last, model: eng.modelInfo() }));
    const before = last ? last.batchesDone : 0;
    const t0 = performance.now();
    /** @type {TrainProgress} */
    const p = eng.trainStep(k);
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
    const perBatch = ms / Math.max(1, p.batchesDone - before);
    k = Math.max(1, Math.min(64, Math.floor(TRAIN_STEP_MS / Math.max(perBatch, 0.01))));
    await yieldToEvents();
  }
  return { plan, last, model: eng.modelInfo() };
}

/**
 * The next step size: about CERTIFY_STEP_MS of work, a whole number of forward batches.
 * @param {number} samples done by the last step @param {number} ms it took @param {number} batch
 */
function nextCertifyStep(samples, ms, batch) {
  const perSample = Math.max(ms, 0.1) / Math.max(1, samples);
  const batches = Math.floor(CERTIFY_STEP_MS / perSample / batch);
  return Math.min(MAX_CERTIFY_STEP, Math.max(1, batches) * batch);
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
  let k = batch;
  job.partial({ model, records, summary, progress, rate }, 'certify', 0, progress.samplesTotal);
  for (;;) {
    job.checkCancel(() => ({ records, summary, progress, rate }));
    const before = progress.samplesDone;
    const s0 = performance.now();
    /** @type {CertifyStepResult} */
    const step = eng.certifyStep(k);
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
    k = nextCertifyStep(done - before, ms, batch);
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
  let k = batch;
  let busy = 0;
  while (busy < ms) {
    const s0 = performance.now();
    /** @type {CertifyStepResult} */
    const step = eng.certifyStep(k);
    const took = performance.now() - s0;
    busy += took;
    const before = samples;
    samples = step.progress.samplesDone;
    if (step.done) break;
    k = nextCertifyStep(samples - before, took, batch);
    await yieldToEvents();
  }
  const seconds = Math.max(busy, 1) / 1000;
  return { model: eng.modelInfo().name, samples, seconds, rate: samples / seconds };
}
