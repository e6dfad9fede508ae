// The typed message protocol between the page (main thread) and the engine worker.
//
// Request:  {id, cmd, params}            (id: a non-negative integer chosen by the page)
// Cancel:   {cmd: 'cancel', id}          (id: the request to cancel; checked between steps)
// Replies:  {id, type, phase, done, total, eta, ...}
//   type 'progress' - throttled to about 10 Hz; done/total in the phase's unit (bytes,
//                     batches, noisy samples)
//   type 'partial'  - `data` holds results so far (charts grow live); throttled like progress
//   type 'done'     - `result` holds the command's result
//   type 'error'    - `message` is readable and names the field and value; `panic` marks a
//                     wasm panic after which the worker re-created the Engine
//   type 'aborted'  - the request was cancelled; `result` may hold the state it left
// A reply with id null is an error about a message that had no usable id.
//
// The worker uses validateRequest() and throttle(); the page uses EngineClient (client.js).

/**
 * @typedef {import('./types.js').Field} Field
 * @typedef {import('./types.js').ParsedConfig} ParsedConfig
 * @typedef {import('./types.js').DatasetInfo} DatasetInfo
 * @typedef {import('./types.js').ModelInfo} ModelInfo
 * @typedef {import('./types.js').Samples} Samples
 * @typedef {import('./types.js').CheckpointInfo} CheckpointInfo
 * @typedef {import('./types.js').IndexEntry} IndexEntry
 * @typedef {import('./types.js').TrainPlan} TrainPlan
 * @typedef {import('./types.js').TrainProgress} TrainProgress
 * @typedef {import('./types.js').EpochEnd} EpochEnd
 * @typedef {import('./types.js').EvalResult} EvalResult
 * @typedef {import('./types.js').NoiseResult} NoiseResult
 * @typedef {import('./types.js').CertProgress} CertProgress
 * @typedef {import('./types.js').CertRecord} CertRecord
 * @typedef {import('./types.js').CertSummary} CertSummary
 * @typedef {import('./types.js').CertifyStepResult} CertifyStepResult
 * @typedef {import('./worker-sensitivity.js').SensitivityPartial} SensitivityPartial
 */

/**
 * @typedef {object} InitResult
 * @property {string} version
 * @property {Field[]} schema
 * @property {import('../../pkg/arq.js').PresetInfo[]} presets the policy presets the engine knows
 * @property {import('../../pkg/arq.js').Showcase[]} experiments the named experiments
 * @property {import('../../pkg/arq.js').Lesson[]} lessons the guided lessons
 * @property {ParsedConfig} parsed the page's fragment, applied
 * @property {DatasetInfo} dataset
 * @property {ModelInfo} model
 */

/**
 * @typedef {object} SetConfigResult
 * @property {ParsedConfig} parsed
 * @property {ModelInfo} model
 * @property {boolean} modelChanged model, dataset or sigma changed: look for another checkpoint
 * @property {DatasetInfo} dataset the dataset in use (ds may have changed)
 */

/**
 * @typedef {object} PretrainedResult
 * @property {IndexEntry|null} entry the index.json entry for the config's model and sigma
 * @property {CheckpointInfo|null} checkpoint what the engine loaded (null: none shipped), with
 *   the engine's config afterwards
 * @property {ModelInfo} model
 */

/**
 * One point of the live training chart (running means over the current epoch).
 * @typedef {object} TrainPoint
 * @property {number} step batches done so far
 * @property {number} epoch
 * @property {number} loss
 * @property {number} accuracy
 */

/**
 * An epoch's end, placed on the chart's x axis.
 * @typedef {EpochEnd & {step: number}} EpochPoint
 */

/**
 * @typedef {object} TrainPartial
 * @property {TrainPlan} plan
 * @property {TrainPoint[]} points new points since the last partial
 * @property {EpochPoint[]} epochs epochs finished since the last partial
 */

/**
 * @typedef {object} TrainResult
 * @property {TrainPlan} plan
 * @property {TrainProgress|null} last the last finished step
 * @property {ModelInfo} model
 */

/**
 * A certification's stream: the first partial carries `model` (the weights being certified);
 * every partial the records finished since the previous one and the running summary.
 * @typedef {object} CertifyPartial
 * @property {ModelInfo|null} model set on the first partial only
 * @property {CertRecord[]} records new since the last partial
 * @property {CertSummary|null} summary over every record so far (null before the first step)
 * @property {CertProgress} progress
 * @property {number|null} rate noisy samples per second so far
 */

/**
 * The end of a certification (also the `result` of an aborted one: its `records` are the
 * points finished after the last partial, so the page loses nothing).
 * @typedef {object} CertifyResult
 * @property {CertRecord[]} records not yet sent in a partial
 * @property {CertSummary|null} summary
 * @property {CertProgress} progress
 * @property {number|null} rate
 */

/**
 * A short measurement of certification throughput with the current model and settings.
 * @typedef {object} ProbeResult
 * @property {string} model
 * @property {number} samples
 * @property {number} seconds
 * @property {number} rate samples per second
 */

/**
 * The worker's memory, for diagnostics.
 * @typedef {object} MemoryInfo
 * @property {number} wasmBytes the wasm linear memory's size (memory.buffer.byteLength; it
 *   grows and never shrinks, so it is the high-water mark of the engine's heap)
 * @property {number} generation how many times the wasm instance was replaced after a fatal panic
 * @property {number} live requests accepted and not finished, this one included
 */

/**
 * Results that travel with a link (share.js, docs/wasm-api.md "Results in the link").
 * @typedef {import('../../pkg/arq.js').SharedEncoded} SharedEncoded
 * @typedef {import('../../pkg/arq.js').ResultInput} ResultInput
 * @typedef {import('../../pkg/arq.js').Verdict} Verdict
 * @typedef {SharedEncoded & {shared: import('../../pkg/arq.js').Shared}} SharedResults the engine's
 *   validated summary (`shared`, parsed from its JSON `json`) and digest
 */

/**
 * The commands, their params, results and partial data.
 * @typedef {object} CommandMap
 * @property {{params: {fragment: string}, result: InitResult, partial: never}} init
 * @property {{params: {fragment: string}, result: ParsedConfig, partial: never}} parseFragment
 * @property {{params: {n: number, alpha: number, sigma: number}, result: number, partial: never}} rMax
 * @property {{params: {fragment: string}, result: ParsedConfig, partial: never}} setPresentation
 *   applies only the presentation keys (lesson, step); runs even while a job does
 *   the cap R_max(n, alpha) of a CERTIFY radius (engine's `rMax`)
 * @property {{params: {fragment: string}, result: SetConfigResult, partial: never}} setConfig
 * @property {{params: {}, result: PretrainedResult, partial: never}} loadPretrained
 * @property {{params: {}, result: ModelInfo, partial: never}} modelInfo
 * @property {{params: {}, result: MemoryInfo, partial: never}} memoryInfo the worker's wasm
 *   memory (diagnostics; the memory test checks it stays flat over repeated jobs)
 * @property {{params: {split: 'train'|'test', start: number, count: number}, result: Samples, partial: never}} samples
 * @property {{params: {}, result: TrainResult, partial: TrainPartial}} train
 * @property {{params: {}, result: EvalResult, partial: never}} evaluate
 * @property {{params: {index: number, sigmas: number[], k: number, quantized?: boolean}, result: NoiseResult, partial: never}} noise
 * @property {{params: {}, result: CertifyResult, partial: CertifyPartial}} certify
 * @property {{params: {part: Part, points?: 'report' | 'search'}, result: CertifyResult, partial: CertifyPartial}} certifyPart
 *   certifies only `part` of the reported points (point i in part i % count: the pool's
 *   split), or with `points` 'search' of the search split; a finished part stays for certifyExport
 * @property {{params: {points: 'report' | 'search'}, result: boolean, partial: never}} hasReference
 *   whether the engine holds the FP32 reference of `points` for its weights and config
 * @property {{params: {task: Uint8Array}, result: {bytes: Uint8Array}, partial: never}} irsPart
 *   one part of worker 0's split IRS phase (a task from its quantEval / search partials);
 *   the result is the part's records as bytes for irsMerge
 * @property {{params: {kind: 'quantEval' | 'search', parts: Uint8Array[]}, result: null, partial: never}} irsMerge
 *   hands the split IRS phase of the running read-out or search the other parts (runs at
 *   once, between the job's steps)
 * @property {{params: {}, result: {bytes: Uint8Array}, partial: never}} certifyExport the last
 *   finished certification part, as bytes for certifyImport in the main worker
 * @property {{params: {parts: Uint8Array[]}, result: CertifyStepResult, partial: never}} certifyImport
 *   assembles the whole certification (its FP32 reference, records and summary) from this
 *   worker's own finished part and the others' certifyExport bytes
 * @property {{params: {records: CertRecord[]}, result: CertSummary, partial: never}} certifySummary
 *   the core's summary of a pooled certification's records so far
 * @property {{params: {}, result: Q['CompareRowSpec'][], partial: never}} compareRows the final
 *   table's rows (names and policies) in table order, for the pool's helper workers
 * @property {{params: {rows: Q['FinalRow'][]}, result: Q['TableSignificance'], partial: never}} finalStats
 *   paired bootstrap intervals of a final table's differences with FP32 and ARQ
 * @property {{params: {weights: boolean}, result: EngineState, partial: never}} exportState the
 *   config (and, with `weights`, the weights) a helper worker needs to match this one
 * @property {{params: {fragment: string, checkpoint?: Uint8Array}, result: ModelInfo, partial: never}} importState
 *   makes this worker's config (and weights) another's exportState
 * @property {{params: {}, result: ProbeResult, partial: never}} certifyProbe
 * @property {{params: {}, result: null, partial: never}} debugPanic test hook: a panic inside wasm
 * @property {{params: {}, result: Q['QuantLayer'][], partial: never}} quantLayers
 * @property {{params: {}, result: Q['PolicyInfo'], partial: never}} policy
 * @property {{params: {wb: number[], ab: number[], lk: boolean[]}, result: Q['PolicyUpdate'], partial: never}} setPolicy
 * @property {{params: {name: string}, result: Q['PolicyUpdate'], partial: never}} applyPreset
 * @property {{params: {}, result: Q['PolicyUpdate'], partial: never}} enforceBudget
 * @property {{params: {layer: number}, result: Q['LayerHistogram'], partial: never}} layerHistogram
 * @property {{params: {pool?: number}, result: Q['QuantEval'], partial: Q['QuantEvalPartial']}} quantEval
 * @property {{params: {input: ResultInput, fragment: string, checkpoint?: string}, result: SharedResults, partial: never}} resultsEncode
 *   the shared summary of finished jobs (and the JSON the link deflates)
 * @property {{params: {bytes: Uint8Array, settings: string, engine?: string}, result: SharedResults, partial: never}} resultsRead
 *   validates a link's inflated `r=` bytes against its settings part and `eng=`
 * @property {{params: {shared: SharedResults['shared'], replay: SharedResults['shared']}, result: Verdict, partial: never}} resultsVerify
 *   compares a replay's summary with the shared one
 * @property {{params: {input: ResultInput, fragment: string, checkpoint?: string}, result: string, partial: never}} bundleWrite
 *   the .arq.json text of finished jobs
 * @property {{params: {text: string}, result: SharedResults, partial: never}} bundleRead
 *   reads and checks an .arq.json bundle
 *   the quick read-out; with `pool` > 1 its IRS phase is split over that many workers (the
 *   other parts' tasks come in a partial, their results go back with irsMerge)
 * @property {{params: {kind: Q['SearchKindName'], resume?: boolean, episodes?: number, pool?: number}, result: Q['SearchResult'], partial: Q['SearchPartial']}} search
 *   runs (or with resume, continues) a search; episodes > 0 stops after that many (Step); a
 *   cancel pauses it, keeping every finished episode; `pool` splits each episode's IRS like
 *   quantEval's
 * @property {{params: {}, result: Q['SearchStateInfo'], partial: never}} searchState
 * @property {{params: {}, result: Q['FinalPartial'], partial: Q['FinalPartial']}} final
 * @property {{params: {part: Part, rows: Q['CompareRowSpec'][]}, result: Q['FinalPartial'], partial: Q['FinalPartial']}} finalPart
 *   only `part` of the final table's `rows` (worker 0's compareRows: the pool's split)
 * @property {{params: {spec: import('../../pkg/arq.js').TableSpec, format: import('../../pkg/arq.js').Format}, result: string, partial: never}} exportTable
 *   a table (certification, final comparison, search episodes) as Markdown, LaTeX or CSV (src/export.rs)
 * @property {{params: {records: CertRecord[], testOffset: number}, result: string, partial: never}} cohenRecords
 *   certification records in the layout of Cohen et al.'s certify.py
 * @property {{params: {}, result: {bytes: Uint8Array, name: string}, partial: never}} saveCheckpoint
 *   the current weights as a checkpoint file, with a file name
 * @property {{params: {bytes: Uint8Array}, result: {checkpoint: CheckpointInfo, model: ModelInfo}, partial: never}} loadCheckpoint
 *   adopts a checkpoint file (its model and sigma too); a wrong file is an error naming it
 * @property {{params: {bits: number, side: import('../../pkg/arq.js').Side}, result: SensitivityPartial, partial: SensitivityPartial}} sensitivity
 *   per-layer sensitivity: each quantizable layer alone at `bits` (2..8) on `side`; rows stream
 *   as they finish, a cancel returns the finished ones
 * @property {{params: {rgba: Uint8Array, width: number, height: number}, result: import('./worker-digit.js').DigitPrepared, partial: never}} digitPrepare
 *   a drawn or decoded RGBA raster as the engine's gray raster, its preprocessed 28x28 input
 *   and its PGM file (runs at once, even during a long job)
 * @property {{params: {gray: Uint8Array, width: number, height: number}, result: import('../../pkg/arq.js').DigitStep, partial: import('../../pkg/arq.js').DigitStep}} digit
 *   certifies a gray raster under FP32 and the config's quantized policy; partials as each
 *   certificate finishes or the phase changes, a cancel returns the finished ones
 */

/**
 * A fixed share of a job (item i belongs to part i % count).
 * @typedef {import('../../pkg/arq.js').Part} Part
 */

/**
 * What a helper worker of the pool needs to match the main one.
 * @typedef {object} EngineState
 * @property {string} fragment the canonical config
 * @property {Uint8Array | null} checkpoint the weights (saveCheckpoint), when asked for
 */

/** The quantization and search types (quant-types.js). @typedef {{
 *   QuantLayer: import('./quant-types.js').QuantLayer, PolicyInfo: import('./quant-types.js').PolicyInfo,
 *   PolicyUpdate: import('./quant-types.js').PolicyUpdate, LayerHistogram: import('./quant-types.js').LayerHistogram,
 *   QuantEval: import('./quant-types.js').QuantEval, QuantEvalPartial: import('./quant-types.js').QuantEvalPartial,
 *   SearchKindName: import('./quant-types.js').SearchKindName, SearchPartial: import('./quant-types.js').SearchPartial,
 *   SearchResult: import('./quant-types.js').SearchResult, SearchStateInfo: import('./quant-types.js').SearchStateInfo,
 *   FinalPartial: import('./quant-types.js').FinalPartial, FinalRow: import('./quant-types.js').FinalRow,
 *   TableSignificance: import('./quant-types.js').TableSignificance,
 *   CompareRowSpec: import('../../pkg/arq.js').CompareRowSpec}} Q */

/** @typedef {keyof CommandMap} Cmd */

/**
 * @typedef {object} ReplyBase
 * @property {number|null} id
 * @property {string} phase
 * @property {number} done
 * @property {number} total
 * @property {number|null} eta seconds left, when known
 */
/**
 * @typedef {ReplyBase & ({type: 'progress'} | {type: 'partial', data: unknown}
 *   | {type: 'done', result: unknown} | {type: 'error', message: string, panic: boolean}
 *   | {type: 'aborted', result: unknown})} Reply
 */

/** @typedef {{id: number, cmd: Cmd, params: Record<string, unknown>}} Request */
/** @typedef {{cmd: 'cancel', id: number}} CancelRequest */

/**
 * The experiment with every default: the engine's current format version (`v=2`) and nothing
 * else. A link of an older version (`v=1`) keeps that version's defaults; the engine reads it.
 */
export const DEFAULT_FRAGMENT = '#v=2';

/** A request that the worker refused: the message names the field and the value. */
export class ProtocolError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = 'ProtocolError';
  }
}

/**
 * A short rendering of a refused value for an error message. Bounded work whatever the value
 * (a huge array or string, a deep or cyclic object, a BigInt): at most 64 nodes are visited
 * and long strings are cut before they are quoted.
 * @param {unknown} v
 */
const show = (v) => {
  let budget = 64;
  try {
    const s = JSON.stringify(v, (_key, x) => {
      if (budget-- <= 0) return undefined;
      if (typeof x === 'string' && x.length > 60) return x.slice(0, 60);
      if (typeof x === 'bigint') return `${x}n`;
      if (Array.isArray(x) && x.length > 16) return x.slice(0, 16);
      if (x && typeof x === 'object' && !Array.isArray(x)) {
        const keys = Object.keys(x);
        if (keys.length > 16) return Object.fromEntries(keys.slice(0, 16).map((k) => [k, x[k]]));
      }
      return x;
    }) ?? String(v);
    return s.length > 60 ? s.slice(0, 57) + '...' : s;
  } catch {
    return typeof v;
  }
};

/** @typedef {(v: unknown, name: string) => void} Check */

/** @param {number} min @param {number} max @returns {Check} */
const int = (min, max) => (v, name) => {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new ProtocolError(`${name}=${show(v)}: expected an integer in ${min}..${max}`);
  }
};
/** @type {Check} */
const str = (v, name) => {
  if (typeof v !== 'string' || v.length > 4096) {
    throw new ProtocolError(`${name}=${show(v)}: expected a string of at most 4096 characters`);
  }
};
/** @param {string[]} choices @returns {Check} */
const oneOf = (choices) => (v, name) => {
  if (typeof v !== 'string' || !choices.includes(v)) {
    throw new ProtocolError(`${name}=${show(v)}: expected one of ${choices.join(', ')}`);
  }
};
/** @param {number} min @param {number} max @returns {Check} */
const num = (min, max) => (v, name) => {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
    throw new ProtocolError(`${name}=${show(v)}: expected a number in ${min}..${max}`);
  }
};
/** @param {number} minLen @param {number} maxLen @param {number} min @param {number} max @returns {Check} */
const numbers = (minLen, maxLen, min, max) => (v, name) => {
  const ok = Array.isArray(v) && v.length >= minLen && v.length <= maxLen
    && v.every((x) => typeof x === 'number' && Number.isFinite(x) && x >= min && x <= max);
  if (!ok) {
    throw new ProtocolError(`${name}=${show(v)}: expected ${minLen} to ${maxLen} numbers in ${min}..${max}`);
  }
};

/** @type {Check} */
const bool = (v, name) => {
  if (typeof v !== 'boolean') throw new ProtocolError(`${name}=${show(v)}: expected true or false`);
};
/** @param {Check} check @returns {Check} */
const optional = (check) => (v, name) => {
  if (v !== undefined) check(v, name);
};
/** Per-layer bit widths: 2..8, or 32 for full precision. @type {Check} */
const bitsList = (v, name) => {
  if (!Array.isArray(v) || v.length < 1 || v.length > 64 || !v.every((b) => b === 32 || (Number.isInteger(b) && b >= 2 && b <= 8))) {
    throw new ProtocolError(`${name}=${show(v)}: expected 1 to 64 bit widths, each 2..8 or 32 (full precision)`);
  }
};
/** @type {Check} */
const bools = (v, name) => {
  if (!Array.isArray(v) || v.length < 1 || v.length > 64 || !v.every((b) => typeof b === 'boolean')) {
    throw new ProtocolError(`${name}=${show(v)}: expected 1 to 64 lock flags (true or false)`);
  }
};

/** A share of a job: {index, count}; the engine checks index < count. @type {Check} */
const part = (v, name) => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ProtocolError(`${name}=${show(v)}: expected {index, count}`);
  const p = /** @type {Record<string, unknown>} */ (v);
  const extra = Object.keys(p).find((k) => k !== 'index' && k !== 'count');
  if (extra !== undefined) throw new ProtocolError(`${name}.${extra}=${show(p[extra])}: unknown field; allowed: index, count`);
  int(0, 63)(p.index, `${name}.index`);
  int(1, 64)(p.count, `${name}.count`);
};
/** @param {number} max @returns {Check} an array of at most `max` objects (the engine checks their shape) */
const objects = (max) => (v, name) => {
  if (!Array.isArray(v) || v.length > max || !v.every((x) => typeof x === 'object' && x !== null && !Array.isArray(x))) {
    throw new ProtocolError(`${name}=${show(v)}: expected an array of at most ${max} objects`);
  }
};
/** @type {Check} */
const obj = (v, name) => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ProtocolError(`${name}=${show(v)}: expected an object`);
};
/** @param {number} max @returns {Check} a string of at most `max` characters */
const text = (max) => (v, name) => {
  if (typeof v !== 'string' || v.length > max) throw new ProtocolError(`${name}=${show(v)}: expected a string of at most ${max} characters`);
};
/** @type {Check} */
const bytes = (v, name) => {
  if (!(v instanceof Uint8Array) || v.length > 1 << 28) throw new ProtocolError(`${name}=${show(v)}: expected a Uint8Array`);
};
/** @type {Check} */
const byteArrays = (v, name) => {
  if (!Array.isArray(v) || v.length < 1 || v.length > 63) throw new ProtocolError(`${name}=${show(v)}: expected 1 to 63 Uint8Arrays`);
  v.forEach((b, i) => bytes(b, `${name}[${i}]`));
};

/** A plain object (the engine checks its shape). @type {Check} */
const anObject = (v, name) => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ProtocolError(`${name}=${show(v)}: expected an object`);
};

/** The preset names the engine accepts (its `presets()`), set by the worker once it loaded the engine. @type {string[]} */
let presetNames = [];

/** Makes `names` (the engine's `presets()`) the names applyPreset accepts. @param {string[]} names */
export function usePresets(names) {
  presetNames = names;
}

/** One of the engine's presets. @type {Check} */
const preset = (v, name) => oneOf(presetNames)(v, name);

/** Parameter checks per command; the engine re-validates against the data and config. */
/** @type {Record<Cmd, Record<string, Check>>} */
export const PARAM_SPECS = {
  init: { fragment: str },
  parseFragment: { fragment: str },
  rMax: { n: int(1, 1_000_000), alpha: num(1e-9, 0.5), sigma: num(0.01, 2) },
  setPresentation: { fragment: str },
  setConfig: { fragment: str },
  loadPretrained: {},
  modelInfo: {},
  memoryInfo: {},
  samples: { split: oneOf(['train', 'test']), start: int(0, 1_000_000), count: int(1, 1000) },
  train: {},
  evaluate: {},
  noise: { index: int(0, 1_000_000), sigmas: numbers(1, 8, 0, 2), k: int(1, 64), quantized: optional(bool) },
  certify: {},
  certifyPart: { part, points: optional(oneOf(['report', 'search'])) },
  hasReference: { points: oneOf(['report', 'search']) },
  irsPart: { task: bytes },
  irsMerge: { kind: oneOf(['quantEval', 'search']), parts: byteArrays },
  certifyExport: {},
  certifyImport: { parts: byteArrays },
  certifySummary: { records: objects(100_000) },
  compareRows: {},
  finalStats: { rows: objects(64) },
  exportState: { weights: bool },
  importState: { fragment: str, checkpoint: optional(bytes) },
  certifyProbe: {},
  debugPanic: {},
  quantLayers: {},
  policy: {},
  setPolicy: { wb: bitsList, ab: bitsList, lk: bools },
  applyPreset: { name: preset },
  enforceBudget: {},
  layerHistogram: { layer: int(0, 63) },
  quantEval: { pool: optional(int(1, 64)) },
  search: { kind: oneOf(['arq', 'haq', 'random']), resume: optional(bool), episodes: optional(int(0, 100_000)), pool: optional(int(1, 64)) },
  searchState: {},
  final: {},
  finalPart: { part, rows: objects(64) },
  sensitivity: { bits: int(2, 8), side: oneOf(['w', 'a', 'both']) },
  digitPrepare: { rgba: bytes, width: int(1, 4096), height: int(1, 4096) },
  digit: { gray: bytes, width: int(1, 4096), height: int(1, 4096) },
  exportTable: { spec: anObject, format: oneOf(['md', 'latex', 'csv']) },
  cohenRecords: { records: objects(100_000), testOffset: int(0, 1_000_000) },
  saveCheckpoint: {},
  loadCheckpoint: { bytes },
  resultsEncode: { input: obj, fragment: str, checkpoint: optional(str) },
  resultsRead: { bytes, settings: str, engine: optional(str) },
  resultsVerify: { shared: obj, replay: obj },
  bundleWrite: { input: obj, fragment: str, checkpoint: optional(str) },
  bundleRead: { text: text(32 * 1024 * 1024) },
};

/**
 * Validates one incoming message in the worker.
 * @param {unknown} msg
 * @returns {Request | CancelRequest}
 * @throws {ProtocolError} naming the field and the value
 */
export function validateRequest(msg) {
  if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) {
    throw new ProtocolError(`message=${show(msg)}: expected an object {id, cmd, params}`);
  }
  const m = /** @type {Record<string, unknown>} */ (msg);
  int(0, Number.MAX_SAFE_INTEGER)(m.id, 'id');
  const id = /** @type {number} */ (m.id);
  if (m.cmd === 'cancel') return { cmd: 'cancel', id };
  if (typeof m.cmd !== 'string' || !Object.hasOwn(PARAM_SPECS, m.cmd)) {
    // the list stays readable as the protocol grows: the first commands, then a count
    const all = ['cancel', ...Object.keys(PARAM_SPECS)];
    const known = all.length > 16 ? `${all.slice(0, 16).join(', ')} and ${all.length - 16} more (www/js/protocol.js)` : all.join(', ');
    throw new ProtocolError(`cmd=${show(m.cmd)}: unknown command; expected one of ${known}`);
  }
  const cmd = /** @type {Cmd} */ (m.cmd);
  const params = m.params ?? {};
  if (typeof params !== 'object' || params === null || Array.isArray(params)) {
    throw new ProtocolError(`params=${show(params)}: expected an object`);
  }
  const p = /** @type {Record<string, unknown>} */ (params);
  const spec = PARAM_SPECS[cmd];
  for (const key of Object.keys(p)) {
    if (!Object.hasOwn(spec, key)) {
      const allowed = Object.keys(spec).join(', ') || 'none';
      throw new ProtocolError(`params.${key}=${show(p[key])}: unknown parameter of ${cmd}; allowed: ${allowed}`);
    }
  }
  for (const [key, check] of Object.entries(spec)) check(p[key], `params.${key}`);
  return { id, cmd, params: p };
}

/**
 * Returns a function that says whether a progress reply is due: at most one per `intervalMs`,
 * but always on a phase change or at the end of a phase.
 * @param {number} [intervalMs]
 * @returns {(phase: string, done: number, total: number) => boolean}
 */
export function throttle(intervalMs = 100) {
  let last = -Infinity;
  let lastPhase = '';
  return (phase, done, total) => {
    const now = performance.now();
    if (phase !== lastPhase || done >= total || now - last >= intervalMs) {
      last = now;
      lastPhase = phase;
      return true;
    }
    return false;
  };
}
