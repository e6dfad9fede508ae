// The worker's per-layer sensitivity command: the engine's sensitivity job (each quantizable
// layer alone at k bits, evaluated like a search episode) run by worker-loops.js's `drive`.
// Every finished row streams to the page at once, with every row so far; a cancel returns
// the rows finished before it. Used by worker.js only.
import { drive, eventOf } from './worker-loops.js';

/**
 * @typedef {import('./job.js').Job} Job
 * @typedef {import('../../pkg/arq.js').Engine} Engine
 * @typedef {import('../../pkg/arq.js').SensitivityStep} SensitivityStep
 * @typedef {import('../../pkg/arq.js').SensitivityRow} SensitivityRow
 * @typedef {import('../../pkg/arq.js').SensitivityReference} SensitivityReference
 * @typedef {import('../../pkg/arq.js').Side} Side
 */

/**
 * The table so far (a partial, the result, and an aborted run's result).
 * @typedef {object} SensitivityPartial
 * @property {number} bits the one quantized layer's bit width
 * @property {Side} side which half of the layer is quantized
 * @property {SensitivityRow[]} rows every row finished so far, in layer order
 * @property {number[]} ranks each row's rank by ΔACR among them (1 = the largest drop)
 * @property {SensitivityReference | null} reference FP32 on the search split and the IRS floor
 * @property {number} total rows the table will have
 * @property {string | null} current the layer being evaluated
 * @property {boolean} done every row finished
 */

/**
 * Runs the sensitivity table at `bits` on `side`; one progress phase per stage of each row.
 * @param {Engine} eng @param {Job} job @param {{bits: number, side: Side}} p
 * @returns {Promise<SensitivityPartial>}
 */
export async function sensitivity(eng, job, { bits, side }) {
  const first = eng.begin({ kind: 'sensitivity', bits, side });
  let s = eventOf(first, 'sensitivity');
  /** @returns {SensitivityPartial} */
  const data = () => ({ bits: s.bits, side: s.side, rows: s.rows, ranks: s.ranks, reference: s.reference ?? null,
    total: s.rowsTotal, current: s.current ?? null, done: s.done });
  /** @param {import('../../pkg/arq.js').Work} w */
  const phaseOf = (w) => (s.current ? `${s.current}: ${w.phase}` : w.phase);
  let phase = phaseOf(first.work);
  job.partial(data(), phase, first.work.done, first.work.total);
  await drive(eng, job, 'sensitivity', {
    cancelled: data,
    onStep(step) {
      const hadReference = s.reference != null;
      s = eventOf(step, 'sensitivity');
      const now = phaseOf(step.work);
      const changed = now !== phase;
      phase = now;
      if (s.row || s.done || (s.reference != null && !hadReference)) {
        job.partial(data(), phase, step.work.done, step.work.total);
        return 'reset';
      }
      job.progress(phase, step.work.done, step.work.total);
      return changed ? 'reset' : undefined;
    },
  });
  return data();
}
