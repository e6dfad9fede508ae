// The engine worker: the only place that touches the wasm Engine (docs/wasm-api.md).
// Messages follow protocol.js. Commands that change the engine run one at a time in arrival
// order; read-only ones (parseFragment, samples, modelInfo) run at once, even during training.
// Long work (training, certification) runs as small engine step(k) calls with a yield to the
// event loop between them (worker-loops.js), so a {cmd: 'cancel', id} message is seen between
// steps, and the read-only commands can answer between steps too.
import { Aborted, Job } from './job.js';
import { DEFAULT_FRAGMENT, ProtocolError, usePresets, validateRequest } from './protocol.js';
import { fetchBytes, loadEngineModule } from './loader.js';
import { certify, irsPart, probe, train, yieldToEvents } from './worker-loops.js';
import { quantHandlers } from './worker-quant.js';
import { sensitivity } from './worker-sensitivity.js';
import { digit, digitPrepare } from './worker-digit.js';

/**
 * @typedef {import('./protocol.js').Request} Request
 * @typedef {import('./protocol.js').Cmd} Cmd
 * @typedef {import('./protocol.js').CommandMap} CommandMap
 * @typedef {import('./loader.js').ArqModule} ArqModule
 * @typedef {import('../../pkg/arq.js').Engine} Engine
 */

const scope = /** @type {DedicatedWorkerGlobalScope} */ (/** @type {unknown} */ (self));
const DATA_URL = new URL('../../data/mnist10k.u8', import.meta.url);
const MODELS_URL = new URL('../../models/', import.meta.url);
/** How long the throughput probe for a cost estimate runs, in ms of engine time. */
const PROBE_MS = 400;

/** @type {ArqModule | null} */
let arq = null;
/** @type {Engine | null} */
let engine = null;
/** @type {Uint8Array | null} */
let datasetBytes = null;
/** The text of /models/index.json ('[]' when there is none), fetched once. @type {string | null} */
let modelIndex = null;
/** The engine's canonical fragment, re-applied after a panic. */
let appliedFragment = DEFAULT_FRAGMENT;
/** Module generation: a reload after a fatal panic imports pkg/arq.js?g=N afresh. */
let generation = 0;
/** The last console.error line, which is where console_error_panic_hook writes the panic. */
let lastConsoleError = '';
/** Requests accepted and not finished yet. @type {Set<number>} */
const live = new Set();
/** Of those, the ones whose cancel message has arrived. @type {Set<number>} */
const cancelled = new Set();
/** @type {Promise<void>} */
let queue = Promise.resolve();

const consoleError = console.error.bind(console);
console.error = (/** @type {unknown[]} */ ...args) => {
  lastConsoleError = args.map(String).join(' ');
  consoleError(...args);
};

/** @returns {Engine} */
function requireEngine() {
  if (!engine) throw new Error('the engine is not loaded (loading has not finished or it failed)');
  return engine;
}

/** @returns {ArqModule} */
function requireModule() {
  if (!arq) throw new Error('the engine is not loaded (loading has not finished or it failed)');
  return arq;
}

/** @param {string} split @param {number} start @param {number} count */
function checkRange(split, start, count) {
  const info = requireEngine().datasetInfo();
  const size = split === 'train' ? info.train : info.test;
  if (start + count > size) {
    throw new ProtocolError(`params.start=${start}, params.count=${count}: the ${split} split has ${size} digits (indices 0..${size - 1})`);
  }
}

/** The text of /models/index.json; the engine reads it (src/zoo_index.rs). @param {Job} job @returns {Promise<string>} */
async function loadIndex(job) {
  if (modelIndex !== null) return modelIndex;
  job.progress('index', 0, 0);
  const res = await fetch(new URL('index.json', MODELS_URL), { cache: 'no-cache' });
  if (res.status === 404) return (modelIndex = '[]');
  if (!res.ok) throw new Error(`/models/index.json: HTTP ${res.status} ${res.statusText}`);
  return (modelIndex = await res.text());
}

/**
 * The engine's validated results summary with its JSON parsed.
 * @param {import('../../pkg/arq.js').SharedEncoded} r
 * @returns {import('./protocol.js').SharedResults}
 */
function withShared(r) {
  return { ...r, shared: /** @type {import('../../pkg/arq.js').Shared} */ (JSON.parse(new TextDecoder().decode(r.json))) };
}

/** @type {{[K in Cmd]: (params: CommandMap[K]['params'], job: Job) => Promise<CommandMap[K]['result']>}} */
const HANDLERS = {
  async init({ fragment }, job) {
    if (!arq) {
      arq = await loadEngineModule(generation, (done, total) => job.progress('wasm', done, total));
      usePresets(arq.presets().map((p) => p.name));
    }
    if (!datasetBytes) {
      datasetBytes = await fetchBytes(DATA_URL, (done, total) => job.progress('dataset', done, total));
    }
    job.progress('engine', 0, 1);
    engine?.free();
    engine = new arq.Engine(datasetBytes);
    const parsed = engine.setConfig(fragment);
    appliedFragment = parsed.fragment;
    job.progress('engine', 1, 1);
    return { version: arq.version(), schema: arq.schema(), presets: arq.presets(), experiments: arq.experiments(), lessons: arq.lessons(), parsed, dataset: engine.datasetInfo(), model: engine.modelInfo() };
  },
  async parseFragment({ fragment }) {
    return requireModule().parseFragment(fragment);
  },
  async setPresentation({ fragment }) {
    const parsed = requireEngine().setPresentation(fragment);
    appliedFragment = parsed.fragment;
    return parsed;
  },
  async rMax({ n, alpha, sigma }) {
    return requireModule().rMax(sigma, n, alpha);
  },
  async setConfig({ fragment }) {
    const eng = requireEngine();
    const before = eng.config();
    const parsed = eng.setConfig(fragment);
    appliedFragment = parsed.fragment;
    // A new model, dataset or sigma calls for another checkpoint (the engine re-initialises
    // the weights on a model or dataset change).
    const modelChanged = before.model !== parsed.config.model || before.sigma !== parsed.config.sigma
      || before.dataset !== parsed.config.dataset;
    return { parsed, model: eng.modelInfo(), modelChanged, dataset: eng.datasetInfo() };
  },
  async loadPretrained(_params, job) {
    const eng = requireEngine();
    const entry = eng.shippedCheckpoint(await loadIndex(job));
    let checkpoint = null;
    if (entry) {
      const bytes = await fetchBytes(new URL(entry.file, MODELS_URL), (d, t) => job.progress('checkpoint', d, t));
      checkpoint = eng.loadCheckpoint(bytes, entry);
      appliedFragment = checkpoint.parsed.fragment;
    }
    return { entry, checkpoint, model: eng.modelInfo() };
  },
  async modelInfo() {
    return requireEngine().modelInfo();
  },
  async memoryInfo() {
    // The wasm-bindgen init function returns the instance's exports once it has loaded.
    const exports = await requireModule().default();
    return { wasmBytes: exports.memory.buffer.byteLength, generation, live: live.size };
  },
  async samples({ split, start, count }) {
    checkRange(split, start, count);
    return requireEngine().samples(split, start, count);
  },
  train: (_params, job) => train(requireEngine(), job),
  certify: (_params, job) => certify(requireEngine(), job),
  certifyPart: ({ part, points }, job) => certify(requireEngine(), job, part, points),
  async hasReference({ points }) {
    return requireEngine().hasReference(points);
  },
  irsPart: ({ task }, job) => irsPart(requireEngine(), job, task),
  async irsMerge({ kind, parts }) {
    requireEngine().mergeIrs(kind, parts);
    return null;
  },
  async certifyExport() {
    return { bytes: requireEngine().exportCertifyPart() };
  },
  async certifyImport({ parts }) {
    return requireEngine().importCertifyParts(parts);
  },
  async certifySummary({ records }) {
    return requireEngine().certifySummary(records);
  },
  async compareRows() {
    return requireEngine().compareRows();
  },
  async finalStats({ rows }) {
    return requireEngine().compareSignificance(rows);
  },
  async exportState({ weights }) {
    return { fragment: appliedFragment, checkpoint: weights ? requireEngine().saveCheckpoint() : null };
  },
  async importState({ fragment, checkpoint }) {
    const eng = requireEngine();
    appliedFragment = eng.setConfig(fragment).fragment;
    if (checkpoint) {
      eng.loadCheckpoint(checkpoint, null);
      // the checkpoint sets model and sigma only: the whole config is the other worker's
      appliedFragment = eng.setConfig(fragment).fragment;
    }
    return eng.modelInfo();
  },
  certifyProbe: (_params, job) => probe(requireEngine(), job, PROBE_MS),
  async debugPanic() {
    requireEngine().debugPanic();
    return null;
  },
  async evaluate(_params, job) {
    job.progress('evaluate', 0, 1);
    await yieldToEvents();
    const result = requireEngine().evaluate();
    job.at('evaluate', 1, 1);
    return result;
  },
  async noise({ index, sigmas, k, quantized }, job) {
    checkRange('test', index, 1);
    job.progress('noise', 0, 1);
    const result = requireEngine().noiseSamples(index, new Float32Array(sigmas), k, quantized === true);
    job.at('noise', 1, 1);
    return result;
  },
  sensitivity: (params, job) => sensitivity(requireEngine(), job, params),
  async digitPrepare(params) {
    return digitPrepare(requireModule(), params);
  },
  digit: (params, job) => digit(requireEngine(), job, params),
  async exportTable({ spec, format }) {
    return requireModule().exportTable(spec, format);
  },
  async cohenRecords({ records, testOffset }) {
    return requireModule().cohenRecords(records, testOffset);
  },
  async saveCheckpoint() {
    const eng = requireEngine();
    const m = eng.modelInfo();
    const bytes = eng.saveCheckpoint();
    return { bytes, name: `${m.name}-s${m.sigma}-e${m.epochs}.arqc` };
  },
  async loadCheckpoint({ bytes }) {
    const eng = requireEngine();
    const checkpoint = eng.loadCheckpoint(bytes, null);
    appliedFragment = checkpoint.parsed.fragment;
    return { checkpoint, model: eng.modelInfo() };
  },
  // Results that travel with a link (share.js): free functions of the engine module, which
  // returns the validated summary as JSON (parsed here).
  async resultsEncode({ input, fragment, checkpoint }) {
    return withShared(requireModule().sharedResults(input, fragment, checkpoint ?? null));
  },
  async resultsRead({ bytes, settings, engine }) {
    return withShared(requireModule().readSharedResults(bytes, settings, engine ?? null));
  },
  async resultsVerify({ shared, replay }) {
    return requireModule().verifyResults(shared, replay);
  },
  async bundleWrite({ input, fragment, checkpoint }) {
    return requireModule().writeBundle(input, fragment, checkpoint ?? null);
  },
  async bundleRead({ text }) {
    return withShared(requireModule().readBundle(text));
  },
  // Quantization and search (worker-quant.js).
  ...quantHandlers({
    engine: requireEngine,
    setFragment: (f) => { appliedFragment = f; },
  }),
};

/**
 * Commands that only read (and irsMerge, which hands a pooled IRS phase the parts it waits
 * for: it must reach the job while it runs), and may run while a long job is between steps (e.g. the noise view
 * of a digit picked in the per-example radius plot while a certification runs).
 */
const IMMEDIATE = new Set(['parseFragment', 'rMax', 'setPresentation', 'samples', 'modelInfo', 'memoryInfo', 'noise', 'quantLayers', 'policy', 'layerHistogram', 'searchState', 'certifySummary', 'compareRows',
  'finalStats', 'hasReference', 'irsMerge', 'digitPrepare', 'exportTable', 'cohenRecords',
  'resultsEncode', 'resultsRead', 'resultsVerify', 'bundleWrite', 'bundleRead']);

/** @param {unknown} e */
function messageOf(e) {
  if (e instanceof Error) return e.message;
  if (typeof e === 'string') return e;
  try {
    return JSON.stringify(e);
  } catch {
    return String(e);
  }
}

/** A trap inside wasm (a Rust panic ends in `unreachable`). @param {unknown} e */
const isPanic = (e) => e instanceof WebAssembly.RuntimeError;

/**
 * After a panic: a fresh Engine in the same instance, or else a fresh instance. The crashed
 * Engine cannot be freed (its wasm-bindgen borrow flag stays taken after the trap, so free()
 * traps too), so each panic keeps its memory (about 16 MB: the dataset copy and the model)
 * until the page reloads; only a test hook or an engine bug panics.
 */
async function recover() {
  if (!arq || !datasetBytes) return 'The engine was not loaded yet';
  try {
    engine = new arq.Engine(datasetBytes);
  } catch {
    generation += 1;
    arq = null;
    engine = null;
    arq = await loadEngineModule(generation, () => {});
    engine = new arq.Engine(datasetBytes);
  }
  try {
    engine.setConfig(appliedFragment);
  } catch {
    engine.setConfig(DEFAULT_FRAGMENT);
  }
  return 'The engine was restarted with the same settings; the model is back to its initial (untrained) weights';
}

/** @param {Request} req */
async function run(req) {
  const job = new Job(req.id, req.cmd, (reply) => scope.postMessage(reply), cancelled);
  try {
    job.checkCancel(() => null);
    // validateRequest checked the params against PARAM_SPECS[req.cmd]: they are that command's
    const result = await HANDLERS[req.cmd](/** @type {never} */ (req.params), job);
    job.send({ type: 'done', result });
  } catch (e) {
    if (e instanceof Aborted) {
      job.send({ type: 'aborted', result: e.result });
    } else if (isPanic(e)) {
      const cause = lastConsoleError.replace(/\s*\n\s*/g, ' ').trim().slice(0, 400) || messageOf(e);
      lastConsoleError = '';
      let after;
      try {
        after = await recover();
      } catch (e2) {
        after = `Restarting it failed too (${messageOf(e2)}); reload the page`;
      }
      job.send({ type: 'error', message: `engine crashed during ${req.cmd}: ${cause}. ${after}.`, panic: true });
    } else {
      job.send({ type: 'error', message: messageOf(e), panic: false });
    }
  } finally {
    live.delete(req.id);
    cancelled.delete(req.id);
  }
}

/**
 * Refuses a message: an error reply carrying the message's id when it has a usable one (else
 * null), and the worker goes on serving.
 * @param {unknown} data @param {unknown} e
 */
function refuse(data, e) {
  const raw = data && typeof data === 'object' && !Array.isArray(data) ? /** @type {{id?: unknown}} */ (data).id : undefined;
  const id = typeof raw === 'number' && Number.isSafeInteger(raw) && raw >= 0 ? raw : null;
  scope.postMessage({ id, type: 'error', phase: 'validate', done: 0, total: 0, eta: null, message: messageOf(e), panic: false });
}

scope.addEventListener('message', (ev) => {
  let req;
  try {
    req = validateRequest(ev.data);
    if (req.cmd !== 'cancel' && live.has(req.id)) {
      throw new ProtocolError(`id=${req.id}: a request with this id is still running; use a new id per request`);
    }
  } catch (e) {
    refuse(ev.data, e);
    return;
  }
  if (req.cmd === 'cancel') {
    if (live.has(req.id)) cancelled.add(req.id);
    return;
  }
  const r = req;
  live.add(r.id);
  if (IMMEDIATE.has(r.cmd) && engine) run(r);
  else queue = queue.then(() => run(r));
});

// A message that could not be deserialised (e.g. a SharedArrayBuffer from elsewhere) still
// gets an answer, with no id.
scope.addEventListener('messageerror', () => refuse(null, new ProtocolError('message: could not be read (not structured-cloneable here)')));

// Content-Security-Policy refusals inside the worker, on the console (the browser tests fail on them).
scope.addEventListener('securitypolicyviolation', (e) => {
  const ev = /** @type {SecurityPolicyViolationEvent} */ (e);
  console.warn(`CSP violation in the worker: ${ev.violatedDirective} blocked ${ev.blockedURI || '(inline)'}`);
});
