// The worker's quantization and search commands (docs/wasm-api.md, "Quantization" and
// "Search"): policy edits, the layer histogram, the quick IRS read-out, the DDPG / random
// search episode by episode, and the final comparison table. The long ones are engine jobs
// run by worker-loops.js's `drive` (small steps, a yield between them so a cancel is seen);
// each finished episode or row streams to the page at once. The engine's results are
// forwarded as they are (pkg/arq.d.ts types them). Used by worker.js only.
import { ProtocolError } from './protocol.js';
import { drive, eventOf } from './worker-loops.js';

/**
 * @typedef {import('./job.js').Job} Job
 * @typedef {import('./quant-types.js').QuantLayer} QuantLayer
 * @typedef {import('./quant-types.js').PolicyInfo} PolicyInfo
 * @typedef {import('./quant-types.js').PolicyUpdate} PolicyUpdate
 * @typedef {import('./quant-types.js').LayerHistogram} LayerHistogram
 * @typedef {import('./quant-types.js').QuantEval} QuantEval
 * @typedef {import('./quant-types.js').EpisodeRecord} EpisodeRecord
 * @typedef {import('./quant-types.js').SearchKindName} SearchKindName
 * @typedef {import('./quant-types.js').SearchProgress} SearchProgress
 * @typedef {import('./quant-types.js').SearchPartial} SearchPartial
 * @typedef {import('./quant-types.js').SearchResult} SearchResult
 * @typedef {import('./quant-types.js').SearchStateInfo} SearchStateInfo
 * @typedef {import('./quant-types.js').FinalRow} FinalRow
 * @typedef {import('./quant-types.js').FinalPartial} FinalPartial
 * @typedef {import('../../pkg/arq.js').Engine} Engine
 */

/**
 * What worker.js lends these commands.
 * @typedef {object} QuantContext
 * @property {() => Engine} engine
 * @property {(fragment: string) => void} setFragment records the engine's canonical fragment
 */

/** Bit widths in the URL's words: 32 -> 'f'. @param {number[]} b */
const bitsText = (b) => b.map((x) => (x >= 32 ? 'f' : String(x))).join(',');

/** An episode with the wall time spent on it. @param {import('../../pkg/arq.js').EpisodeRecord} e @param {number | null} wallMs @returns {EpisodeRecord} */
const withWall = (e, wallMs) => ({ ...e, wallMs });

/** The run the engine holds (from its begin) and the engine time spent on its unfinished episode. */
const run = { kind: /** @type {SearchKindName | null} */ (null), episodes: 0, warmup: 0, episodeMs: 0, phase: '', engine: /** @type {unknown} */ (null) };

/** @param {QuantContext} ctx */
export function quantHandlers(ctx) {
  /** @param {PolicyUpdate} update @returns {PolicyUpdate} */
  const applied = (update) => {
    ctx.setFragment(update.parsed.fragment);
    return update;
  };
  return {
    /** @returns {Promise<QuantLayer[]>} */
    async quantLayers() {
      return ctx.engine().quantLayers();
    },
    /** @returns {Promise<PolicyInfo>} */
    async policy() {
      return ctx.engine().policy();
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
      return { ...eng.layerHistogram(layer), layer };
    },
    /** @param {{pool?: number}} p @param {Job} job */
    quantEval: ({ pool = 1 }, job) => quantEval(ctx.engine(), job, pool),
    /** @param {{kind: SearchKindName, resume?: boolean, episodes?: number, pool?: number}} p @param {Job} job */
    search: (p, job) => search(ctx.engine(), job, p),
    /** @returns {Promise<SearchStateInfo>} */
    async searchState() {
      const s = ctx.engine().searchState();
      const list = (/** @type {import('../../pkg/arq.js').EpisodeRecord[]} */ l) => l.map((e) => withWall(e, null));
      return { kind: s?.method ?? null, history: list(s?.history ?? []), pareto: list(s?.pareto ?? []), best: s?.best ? withWall(s.best, null) : null };
    },
    /** @param {{}} _p @param {Job} job */
    final: (_p, job) => final(ctx.engine(), job),
    /** @param {{part: import('../../pkg/arq.js').Part, rows: import('../../pkg/arq.js').CompareRowSpec[]}} p @param {Job} job */
    finalPart: ({ part, rows }, job) => final(ctx.engine(), job, part, rows),
  };
}

/**
 * A pooled IRS phase in worker 0 (the pool's split, pool.js): when the job's IRS phase starts
 * it is split over `pool` workers (this one keeps part 0) and the other parts' tasks go out in
 * a partial; once its own part is done the job waits for the parts (irsMerge). Returns what
 * the step loop should do, and the tasks when it split in this step.
 * @param {Engine} eng @param {'quantEval' | 'search'} kind @param {number} pool
 */
function irsSplitter(eng, kind, pool) {
  let split = false;
  return {
    /** @param {string} phase @returns {{next: 'wait' | undefined, tasks: Uint8Array[] | null}} */
    at(phase) {
      if (pool > 1 && phase === 'irs' && !split) {
        split = true;
        return { next: undefined, tasks: /** @type {Uint8Array[]} */ (eng.splitIrs(kind, pool)) };
      }
      return { next: phase === 'irs-pool' ? 'wait' : undefined, tasks: null };
    },
    /** The phase ended (the episode finished): the next one is split afresh. */
    reset() {
      split = false;
    },
  };
}

/**
 * The quick read-out: calibration, fine-tuning, then IRS against the FP32 cache; progress per
 * stage, the result from the step that finishes it. With `pool` > 1 its IRS is split over the
 * pool (the tasks stream in a partial, see irsSplitter).
 * @param {Engine} eng @param {Job} job @param {number} pool @returns {Promise<QuantEval>}
 */
async function quantEval(eng, job, pool) {
  let phase = eng.begin({ kind: 'quantEval', fresh: false }).work.phase;
  job.partial({ phase }, phase, 0, 0);
  const splitter = irsSplitter(eng, 'quantEval', pool);
  /** @type {QuantEval | null} */
  let result = null;
  await drive(eng, job, 'quantEval', {
    cancelled: () => null,
    onStep(step) {
      const { work } = step;
      result = eventOf(step, 'quantEval').result ?? result;
      const { next, tasks } = splitter.at(work.phase);
      if (tasks) job.partial({ phase: work.phase, tasks }, work.phase, work.done, work.total);
      if (next) return next;
      if (work.phase !== phase) {
        phase = work.phase;
        job.partial({ phase }, phase, work.done, work.total);
        return 'reset';
      }
      job.progress(phase, work.done, work.total);
      return undefined;
    },
  });
  if (!result) throw new Error('the read-out finished without a result');
  return result;
}

/**
 * Runs (or resumes) a search. Each finished episode streams at once as a partial; `episodes`
 * > 0 stops after that many episodes (Step = 1). A cancel (pause) keeps the engine's run as it
 * is and returns the episodes not yet streamed.
 * @param {Engine} eng @param {Job} job
 * @param {{kind: SearchKindName, resume?: boolean, episodes?: number, pool?: number}} p
 * @returns {Promise<SearchResult>}
 */
async function search(eng, job, { kind, resume = false, episodes = 0, pool = 1 }) {
  if (resume && run.kind !== null && run.engine !== eng) {
    run.kind = null;
    throw new Error('the paused search was lost when the engine restarted: start a new one');
  }
  if (!resume || run.kind === null) {
    const plan = eventOf(eng.begin({ kind: 'search', method: kind }), 'search').progress;
    Object.assign(run, { kind, episodes: plan.episodes, warmup: eng.config().warmup, episodeMs: 0, phase: plan.phase, engine: eng });
  } else if (run.kind !== kind) {
    throw new ProtocolError(`params.kind=${JSON.stringify(kind)}: the paused search is ${JSON.stringify(run.kind)}; start a new one instead`);
  } else {
    // an episode paused in a pooled IRS phase runs its IRS whole again (and is split afresh)
    eng.splitIrs('search', 1);
  }
  const splitter = irsSplitter(eng, 'search', pool);
  /** When the last step asked to wait for the pool's parts. @type {number | null} */
  let waitedAt = null;
  const kindNow = /** @type {SearchKindName} */ (run.kind);
  /** @type {EpisodeRecord[]} */
  let records = [];
  /** @type {EpisodeRecord | null} */
  let best = null;
  /** @type {SearchProgress} */
  let progress = { phase: run.phase, episode: 0, episodes: run.episodes, done: false, workDone: 0, workTotal: 0 };
  let ran = 0;
  /** @returns {SearchPartial} */
  const data = () => ({ kind: kindNow, episodes: run.episodes, warmup: run.warmup, records, best, progress, phase: progress.phase });
  job.partial(data(), progress.phase, 0, run.episodes);
  await drive(eng, job, 'search', {
    keep: true,
    cancelled: () => ({ ...data(), finished: false }),
    onStep(step, ms) {
      const s = eventOf(step, 'search');
      // The FP32 reference on the search split (certified once) is not part of any episode.
      if (!/fp32/i.test(run.phase)) run.episodeMs += ms;
      // time spent waiting for the pool's IRS parts belongs to the episode too
      if (waitedAt !== null) run.episodeMs += Math.max(0, performance.now() - ms - waitedAt);
      waitedAt = null;
      progress = s.progress;
      run.phase = progress.phase;
      if (s.best) best = withWall(s.best, null);
      if (s.episode) {
        records.push(withWall(s.episode, run.episodeMs));
        run.episodeMs = 0;
        ran += 1;
        splitter.reset();
      }
      const { next, tasks } = splitter.at(progress.phase);
      if (tasks) job.partial({ ...data(), tasks }, progress.phase, progress.episode, progress.episodes);
      if (tasks) records = [];
      if (next) {
        waitedAt = performance.now();
        return next;
      }
      const stop = progress.done || (episodes > 0 && ran >= episodes);
      if (s.episode || stop) {
        job.partial(data(), progress.phase, progress.episode, progress.episodes);
        records = [];
      } else {
        job.progress(progress.phase, progress.episode, progress.episodes);
      }
      if (stop) return 'stop';
      return s.episode ? 'reset' : undefined;
    },
  });
  if (progress.done) run.kind = null;
  return { ...data(), finished: progress.done };
}

/**
 * The comparison table, streaming every finished row; with `part`, only that share of `rows`
 * (the pool's split of the main worker's table).
 * @param {Engine} eng @param {Job} job @param {import('../../pkg/arq.js').Part} [part]
 * @param {import('../../pkg/arq.js').CompareRowSpec[]} [table]
 * @returns {Promise<FinalPartial>}
 */
async function final(eng, job, part, table) {
  const plan = eventOf(eng.begin({ kind: 'compare', ...(part ? { part } : {}), ...(table ? { rows: table } : {}) }), 'compare');
  let total = plan.rowsTotal;
  /** @type {FinalRow[]} */
  let rows = plan.rows;
  let current = plan.current;
  /** @returns {FinalPartial} */
  const data = () => ({ rows, phase: 'final', current, total });
  job.partial(data(), 'final', 0, total);
  await drive(eng, job, 'compare', {
    cancelled: data,
    onStep(step) {
      const s = eventOf(step, 'compare');
      const changed = s.rows.length !== rows.length;
      rows = s.rows;
      current = s.current;
      total = s.rowsTotal;
      // One progress phase per row, so the ETA is the row's.
      const phase = current ? `final: ${current}` : 'final';
      if (changed || s.done) {
        job.partial(data(), phase, s.workDone, s.workTotal);
        return 'reset';
      }
      job.progress(phase, s.workDone, s.workTotal);
      return undefined;
    },
  });
  return data();
}
