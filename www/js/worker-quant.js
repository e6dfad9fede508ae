// The worker's quantization and search commands (docs/wasm-api.md, "Quantization" and
// "Search"): policy edits, the layer histogram, the quick IRS read-out, the DDPG / random
// search episode by episode, and the final comparison table. Long work runs as engine
// step(k) calls sized by worker-loops.js's StepSizer, with a yield between steps so a cancel
// is seen; each finished episode streams to the page at once. Results are normalised by
// quant-normalize.js. Used by worker.js only.
import { ProtocolError } from './protocol.js';
import { bitsText, episodeOf, finalRowOf, num, numbers, policyOf, quantEvalOf, searchProgressOf, withPolicy, workOf } from './quant-normalize.js';
import { StepSizer, yieldToEvents } from './worker-loops.js';

/**
 * @typedef {import('./job.js').Job} Job
 * @typedef {import('./types.js').ParsedConfig} ParsedConfig
 * @typedef {import('./quant-types.js').QuantLayer} QuantLayer
 * @typedef {import('./quant-types.js').PolicyUpdate} PolicyUpdate
 * @typedef {import('./quant-types.js').LayerHistogram} LayerHistogram
 * @typedef {import('./quant-types.js').QuantEval} QuantEval
 * @typedef {import('./quant-types.js').EpisodeRecord} EpisodeRecord
 * @typedef {import('./quant-types.js').SearchKindName} SearchKindName
 * @typedef {import('./quant-types.js').SearchPartial} SearchPartial
 * @typedef {import('./quant-types.js').SearchResult} SearchResult
 * @typedef {import('./quant-types.js').SearchStateInfo} SearchStateInfo
 * @typedef {import('./quant-types.js').FinalRow} FinalRow
 * @typedef {import('./quant-types.js').FinalPartial} FinalPartial
 * @typedef {import('./loader.js').ArqModule} ArqModule
 */

/**
 * The engine methods used here (pkg/arq.d.ts types their results `any`). The final table's
 * pair is finalBegin/finalStep in the docs and compareBegin/compareStep in the engine.
 * @typedef {object} QuantEngine
 * @property {() => any} config
 * @property {() => any} quantLayers
 * @property {() => any} policy
 * @property {(wb: string, ab: string, lk: string) => any} setPolicy
 * @property {(name: string) => any} applyPreset
 * @property {() => any} enforceBudget
 * @property {(j: number) => any} layerHistogram
 * @property {() => any} quantEvalBegin
 * @property {(maxWork: number) => any} quantEvalStep
 * @property {(kind: string) => any} searchBegin
 * @property {(maxWork: number) => any} searchStep
 * @property {() => any} searchState
 * @property {(() => any) | undefined} [finalBegin]
 * @property {((maxWork: number) => any) | undefined} [finalStep]
 * @property {(() => any) | undefined} [compareBegin]
 * @property {((maxWork: number) => any) | undefined} [compareStep]
 */

/**
 * What worker.js lends these commands.
 * @typedef {object} QuantContext
 * @property {() => QuantEngine} engine
 * @property {() => ArqModule} module
 * @property {() => string} fragment the engine's canonical fragment
 * @property {(fragment: string) => void} setFragment
 */

/** The run the engine holds (from its begin) and the engine time spent on its unfinished episode. */
const run = { kind: /** @type {SearchKindName | null} */ (null), episodes: 0, warmup: 0, episodeMs: 0, phase: '', engine: /** @type {unknown} */ (null) };

/** @param {QuantContext} ctx */
export function quantHandlers(ctx) {
  /** @param {any} raw @returns {PolicyUpdate} */
  const applied = (raw) => {
    const policy = policyOf(raw);
    /** @type {ParsedConfig} */
    const parsed = ctx.module().parseFragment(withPolicy(ctx.fragment(), policy.fragment));
    ctx.setFragment(parsed.fragment);
    return { policy, parsed };
  };
  return {
    /** @returns {Promise<QuantLayer[] | null>} null: this engine build has no quantization API */
    async quantLayers() {
      const eng = ctx.engine();
      if (typeof eng.quantLayers !== 'function') return null;
      const layers = eng.quantLayers();
      const total = layers.reduce((/** @type {number} */ s, /** @type {any} */ l) => s + Number(l.macs), 0) || 1;
      return layers.map((/** @type {any} */ l) => ({
        name: String(l.name), kind: String(l.kind), macs: Number(l.macs), weights: num(l, ['weights']),
        inShape: numbers(l.inShape), outShape: numbers(l.outShape), macShare: num(l, ['macShare'], Number(l.macs) / total),
      }));
    },
    async policy() {
      return policyOf(ctx.engine().policy());
    },
    /** @param {{wb: number[], ab: number[], lk: boolean[]}} p */
    async setPolicy({ wb, ab, lk }) {
      const eng = ctx.engine();
      const layers = eng.quantLayers().length;
      for (const [key, list] of /** @type {[string, unknown[]][]} */ ([['wb', wb], ['ab', ab], ['lk', lk]])) {
        if (list.length !== layers) {
          throw new ProtocolError(`params.${key}=${JSON.stringify(list)}: expected ${layers} values, one per quantizable layer`);
        }
      }
      return applied(eng.setPolicy(bitsText(wb), bitsText(ab), lk.map(Number).join(',')));
    },
    /** @param {{name: string}} p */
    async applyPreset({ name }) {
      return applied(ctx.engine().applyPreset(name));
    },
    async enforceBudget() {
      return applied(ctx.engine().enforceBudget());
    },
    /** @param {{layer: number}} p @returns {Promise<LayerHistogram>} */
    async layerHistogram({ layer }) {
      const eng = ctx.engine();
      const count = eng.quantLayers().length;
      if (layer >= count) throw new ProtocolError(`params.layer=${layer}: the model has ${count} quantizable layers (0..${count - 1})`);
      const h = eng.layerHistogram(layer);
      const f32 = (/** @type {unknown} */ v) => (v instanceof Float32Array ? v : new Float32Array(numbers(v)));
      return { layer, weights: f32(h.weights), thresholds: f32(h.thresholds), bits: num(h, ['bits']), levels: num(h, ['levels'], 0), clipped: num(h, ['clipped'], 0) };
    },
    /** @param {{}} _p @param {Job} job */
    quantEval: (_p, job) => quantEval(ctx.engine(), job),
    /** @param {{kind: SearchKindName, resume?: boolean, episodes?: number}} p @param {Job} job */
    search: (p, job) => search(ctx.engine(), job, p),
    /** @returns {Promise<SearchStateInfo>} */
    async searchState() {
      const s = ctx.engine().searchState();
      const list = (/** @type {any} */ l) => (Array.isArray(l) ? l.map((e) => episodeOf(e, null)) : []);
      return { kind: s?.kind ?? s?.method ?? null, history: list(s?.history), pareto: list(s?.pareto), best: s?.best ? episodeOf(s.best, null) : null };
    },
    /** @param {{}} _p @param {Job} job */
    final: (_p, job) => final(ctx.engine(), job),
  };
}

/**
 * The quick read-out: quantEvalBegin() then quantEvalStep(k) until a result; progress per phase.
 * @param {QuantEngine} eng @param {Job} job @returns {Promise<QuantEval>}
 */
async function quantEval(eng, job) {
  const plan = eng.quantEvalBegin();
  const phases = Array.isArray(plan?.phases) ? plan.phases.map(String) : [];
  let phase = String(plan?.phase ?? phases[0] ?? 'quantEval');
  job.partial({ phases, phase }, phase, 0, 0);
  const sizer = new StepSizer();
  for (;;) {
    job.checkCancel(() => null);
    const t0 = performance.now();
    const step = eng.quantEvalStep(sizer.k);
    const ms = performance.now() - t0;
    const { done, total } = workOf(step);
    if (step.phase && step.phase !== phase) {
      phase = String(step.phase);
      sizer.reset();
      job.partial({ phases, phase }, phase, done, total);
    } else {
      job.progress(phase, done, total);
      sizer.next(ms);
    }
    if (step.result) return quantEvalOf(step.result);
    if (step.done === true) throw new Error('quantEvalStep finished without a result');
    await yieldToEvents();
  }
}

/**
 * Runs (or resumes) a search. Each finished episode streams at once as a partial; `episodes`
 * > 0 stops after that many episodes (Step = 1). A cancel (pause) keeps the engine's run as it
 * is and returns the episodes not yet streamed.
 * @param {QuantEngine} eng @param {Job} job
 * @param {{kind: SearchKindName, resume?: boolean, episodes?: number}} p
 * @returns {Promise<SearchResult>}
 */
async function search(eng, job, { kind, resume = false, episodes = 0 }) {
  if (resume && run.kind !== null && run.engine !== eng) {
    run.kind = null;
    throw new Error('the paused search was lost when the engine restarted: start a new one');
  }
  if (!resume || run.kind === null) {
    const plan = eng.searchBegin(kind);
    const config = eng.config();
    Object.assign(run, { kind, episodes: num(plan, ['episodes'], Number(config.episodes)), warmup: num(plan, ['warmup'], Number(config.warmup)), episodeMs: 0, phase: String(plan?.phase ?? ''), engine: eng });
  } else if (run.kind !== kind) {
    throw new ProtocolError(`params.kind=${JSON.stringify(kind)}: the paused search is ${JSON.stringify(run.kind)}; start a new one instead`);
  }
  const kindNow = /** @type {SearchKindName} */ (run.kind);
  /** @type {EpisodeRecord[]} */
  let records = [];
  /** @type {EpisodeRecord | null} */
  let best = null;
  let progress = { episode: 0, episodes: run.episodes, done: 0, total: 0 };
  let phase = 'search';
  let finished = false;
  let ran = 0;
  /** @returns {SearchPartial} */
  const data = () => ({ kind: kindNow, episodes: run.episodes, warmup: run.warmup, records, best, progress, phase });
  job.partial(data(), phase, 0, run.episodes);
  const sizer = new StepSizer();
  for (;;) {
    job.checkCancel(() => ({ ...data(), finished }));
    const t0 = performance.now();
    const step = eng.searchStep(sizer.k);
    const ms = performance.now() - t0;
    // The FP32 reference on the search split (certified once) is not part of any episode.
    if (!/fp32/i.test(run.phase)) run.episodeMs += ms;
    progress = searchProgressOf(step.progress ?? step);
    phase = String(step.phase ?? step.progress?.phase ?? 'search');
    run.phase = phase;
    if (step.best) best = episodeOf(step.best, null);
    finished = step.done === true || step.progress?.done === true;
    if (step.episode) {
      records.push(episodeOf(step.episode, run.episodeMs));
      run.episodeMs = 0;
      ran += 1;
      sizer.reset();
    } else {
      sizer.next(ms);
    }
    const stop = finished || (episodes > 0 && ran >= episodes);
    if (step.episode || stop) {
      job.partial(data(), phase, progress.episode, progress.episodes);
      records = [];
    } else {
      job.progress(phase, progress.episode, progress.episodes);
    }
    if (finished) run.kind = null;
    if (stop) return { ...data(), finished };
    await yieldToEvents();
  }
}

/**
 * The comparison table: finalBegin() (or compareBegin()) then step(k), streaming every
 * finished row (merged by name: the engine may return all rows so far or only new ones).
 * @param {QuantEngine} eng @param {Job} job @returns {Promise<FinalPartial>}
 */
async function final(eng, job) {
  const begin = eng.finalBegin ?? eng.compareBegin;
  const stepFn = eng.finalStep ?? eng.compareStep;
  if (!begin || !stepFn) throw new Error('this engine build has no final comparison (finalBegin / compareBegin)');
  const plan = begin.call(eng);
  const names = Array.isArray(plan?.rows) ? plan.rows.filter((/** @type {unknown} */ r) => typeof r === 'string') : [];
  let total = num(plan, ['rowsTotal'], names.length);
  /** @type {FinalRow[]} */
  let rows = [];
  /** @type {string | null} */
  let current = plan?.current ?? null;
  /** @returns {FinalPartial} */
  const data = () => ({ names, rows, phase: 'final', current, total });
  job.partial(data(), 'final', 0, total);
  const sizer = new StepSizer();
  for (;;) {
    job.checkCancel(data);
    const t0 = performance.now();
    const step = stepFn.call(eng, sizer.k);
    const ms = performance.now() - t0;
    const now = [...(Array.isArray(step.rows) ? step.rows : []), ...(step.row ? [step.row] : [])].map(finalRowOf);
    const merged = [...rows.filter((r) => !now.some((n) => n.name === r.name)), ...now.filter((n, i) => now.findIndex((m) => m.name === n.name) === i)];
    const changed = merged.length !== rows.length;
    rows = merged;
    current = step.current ?? null;
    total = num(step, ['rowsTotal'], total);
    const { done: workDone, total: workTotal } = workOf(step);
    // One progress phase per row, so the ETA is the row's.
    const phase = current ? `final: ${current}` : 'final';
    if (changed || step.done) {
      job.partial(data(), phase, workDone, workTotal);
      sizer.reset();
    } else {
      job.progress(phase, workDone, workTotal);
      sizer.next(ms);
    }
    if (step.done) return data();
    await yieldToEvents();
  }
}
