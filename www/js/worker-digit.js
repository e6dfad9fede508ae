// The worker's "Your digit" commands: digitPrepare turns the page's RGBA raster into the gray
// raster, its 28x28 preprocessed input and the PGM file of the download (all by the engine:
// src/digit/); digit certifies a gray raster with the engine's digit job, driven by
// worker-loops.js's `drive` so a cancel is seen within one step. Partials carry the job's
// state whenever a certificate finishes or the phase changes; a cancel returns the
// certificates already finished. Used by worker.js only.
import { drive, eventOf } from './worker-loops.js';

/**
 * @typedef {import('./job.js').Job} Job
 * @typedef {import('../../pkg/arq.js').Engine} Engine
 * @typedef {import('../../pkg/arq.js').DigitStep} DigitStep
 * @typedef {import('../../pkg/arq.js').Digit} Digit
 * @typedef {import('./loader.js').ArqModule} ArqModule
 */

/**
 * A raster the page drew or decoded, in the engine's terms.
 * @typedef {object} DigitPrepared
 * @property {Uint8Array} gray one gray byte per pixel (what `digit` and the download take)
 * @property {number} width
 * @property {number} height
 * @property {Digit} digit the preprocessed 28x28 input
 * @property {Uint8Array} pgm the gray raster as a binary PGM (P5) file, for `arq certify-digit`
 */

/**
 * @param {ArqModule} arq @param {{rgba: Uint8Array, width: number, height: number}} p
 * @returns {DigitPrepared}
 */
export function digitPrepare(arq, { rgba, width, height }) {
  const gray = arq.grayFromRgba(rgba, width, height);
  const digit = arq.preprocessDigit(gray, width, height);
  return { gray, width, height, digit, pgm: arq.digitPgm(gray, width, height) };
}

/**
 * Certifies a gray raster under FP32 and the config's quantized policy.
 * @param {Engine} eng @param {Job} job @param {{gray: Uint8Array, width: number, height: number}} p
 * @returns {Promise<DigitStep>}
 */
export async function digit(eng, job, { gray, width, height }) {
  const first = eng.beginDigit(gray, width, height);
  let s = eventOf(first, 'digit');
  let phase = first.work.phase;
  job.partial(s, phase, first.work.done, first.work.total);
  await drive(eng, job, 'digit', {
    unit: Math.max(1, eng.config().certBatch),
    cancelled: () => s,
    onStep(step) {
      const before = [s.fp32 !== null && s.fp32 !== undefined, s.quantized !== null && s.quantized !== undefined];
      s = eventOf(step, 'digit');
      const now = step.work.phase;
      const finished = (s.fp32 != null) !== before[0] || (s.quantized != null) !== before[1];
      const changed = now !== phase;
      phase = now;
      if (finished || changed) {
        job.partial(s, phase, step.work.done, step.work.total);
        return 'reset';
      }
      job.progress(phase, step.work.done, step.work.total);
      return undefined;
    },
  });
  return s;
}
