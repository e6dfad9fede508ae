// The page's entry point: starts the engine worker, loads (with visible phases and bytes),
// builds the settings form from the schema, keeps the URL fragment and the engine's config in
// step, and wires the views. The main thread only renders; every number comes from the worker.
import { BitsView } from './bits-view.js';
import { CertifyView } from './certify-view.js';
import { DigitView } from './digit-view.js';
import { EngineError, JobAborted } from './client.js';
import { offerDataTables } from './data-tables.js';
import { byId, reducedMotion, scriptURL, setBusy } from './dom.js';
import { EvalView } from './eval-view.js';
import { HistoryView } from './history-view.js';
import { wireExports } from './exports-view.js';
import * as fmt from './format.js';
import { LessonView } from './lesson-view.js';
import { ModelView } from './model-view.js';
import { Navigation } from './nav.js';
import { NoiseQuantToggle } from './noise-quant.js';
import { NoiseView } from './noise-view.js';
import { registerOffline } from './offline.js';
import { EnginePool, MAX_WORKERS } from './pool.js';
import { SamplesView } from './samples-view.js';
import { selfTest } from './selftest.js';
import { SearchView } from './search-view.js';
import { SensitivityView } from './sensitivity-view.js';
import { SettingsForm } from './settings.js';
import { splitLink } from './share.js';
import { ShareView } from './share-view.js';
import { ShowcaseView } from './showcase-view.js';
import { TeacherLink } from './teacher.js';
import { Notices, Status } from './status.js';
import { TrainView } from './train-view.js';
import * as url from './url.js';
import { DEFAULT_FRAGMENT } from './protocol.js';

/**
 * @typedef {import('./types.js').Field} Field
 * @typedef {import('./types.js').ModelInfo} ModelInfo
 * @typedef {import('./types.js').DatasetInfo} DatasetInfo
 * @typedef {import('./types.js').ParsedConfig} ParsedConfig
 */

/**
 * What the views share.
 * @typedef {object} App
 * @property {EnginePool} client the engine: worker 0, with certification and the final table
 *   split over the pool's workers
 * @property {Status} status
 * @property {DatasetInfo} dataset
 * @property {<T>(label: string, fn: () => Promise<T>) => Promise<T | undefined>} run runs one
 *   engine job at a time with the action controls disabled; errors are shown, not thrown
 * @property {(model: ModelInfo, why: string) => void} modelChanged the weights changed
 * @property {(e: unknown) => void} error shows an error
 * @property {(patch: Record<string, string>) => Promise<void>} applySettings changes some
 *   settings (by URL key) as if edited in the form: validated by the engine, a history entry
 * @property {(fragment: string) => Promise<void>} loadFragment replaces every setting by a
 *   fragment's (a named experiment, a lesson), a history entry; presentation keys the fragment
 *   does not set (a teacher's hide/lock, the view) stay the page's
 * @property {(patch: Record<string, string>) => Promise<void>} setPresentation changes
 *   presentation keys (lesson, step) that no computation reads: the engine applies only
 *   them (even while a job runs), the address is rewritten without a history entry
 * @property {(testIndex: number) => void} pickNoiseDigit shows a test digit in the noise view
 * @property {(group: string, key: string) => void} openSettings unfolds a settings group and
 *   focuses one of its fields
 * @property {(parsed: ParsedConfig, how: 'preview'|'push') => void} policyApplied the engine
 *   applied a policy edit: show its config; 'preview' (dragging) rewrites the address, 'push'
 *   (released) adds a history entry
 */

const status = new Status(byId('status', HTMLElement), byId('load-phases', HTMLOListElement));
const notices = new Notices(byId('notices', HTMLElement));
const fragmentView = byId('fragment-view', HTMLElement);
/** The views' table of contents and the presentation keys (view, hide, lock, embed). */
const nav = new Navigation({
  onFragment: (fragment) => {
    fragmentView.textContent = fragment;
    teacher.update();
  },
  address: (fragment) => shareView.keep(fragment),
});
const teacher = new TeacherLink(nav, (text, kind) => status.set(text, kind));
const workerURL = scriptURL(new URL('./worker.js', import.meta.url));
const pool = new EnginePool((name) => new Worker(workerURL, { type: 'module', name }), (e) => {
  document.body.dataset.state = 'failed';
  showError(e);
});
/** Worker 0's client (the session); every page request goes through the pool. */
const client = pool.main;

/** @type {Field[]} */
let schema = [];
let busy = false;
/** A navigation that arrived while a job was running; applied when it ends. @type {string | null} */
let pendingNavigation = null;
let inputSeq = 0;
let modelLabel = '';
let engineVersion = '';
/** The applied config's values by URL key (the engine's `values`). @type {Record<string, string>} */
let currentValues = {};

/** @param {unknown} e */
function showError(e) {
  if (e instanceof JobAborted) return;
  const message = e instanceof Error ? e.message : String(e);
  status.set(message, 'error');
  const title = e instanceof EngineError && e.panic ? 'The engine crashed and was restarted' : 'Something went wrong';
  notices.show(title, [message], 'error');
  if (e instanceof EngineError && e.panic) {
    // Show the fresh model, but re-run nothing automatically: that could repeat the crash.
    pool.request('modelInfo', {}).then((m) => {
      modelView.showModel(m);
      evalView.markStale('the engine was restarted');
      bitsView.markStale('the engine was restarted');
      trainView.clear();
    }, () => {});
  }
}

/** @type {App} */
const app = {
  client: pool,
  status,
  dataset: { name: '', count: 0, train: 0, test: 0, rows: 28, cols: 28 },
  async run(label, fn) {
    if (busy) {
      status.set(`Busy: ${label.toLowerCase()} has to wait until the current job ends.`, 'info');
      return undefined;
    }
    busy = true;
    setBusy(true);
    status.set(`${label}…`, 'busy');
    try {
      return await fn();
    } catch (e) {
      showError(e);
      return undefined;
    } finally {
      busy = false;
      setBusy(false);
      if (status.line.dataset.kind === 'busy') setReady();
      if (pendingNavigation !== null) {
        const f = pendingNavigation;
        pendingNavigation = null;
        commit(f, 'replace');
      }
    }
  },
  modelChanged(model, why) {
    modelView.showModel(model);
    modelLabel = `${model.name}, σ = ${fmt.sigma(model.sigma)}`;
    weightsChanged(why);
  },
  error: showError,
  async applySettings(patch) {
    await commit(url.build(Object.entries({ ...currentValues, ...nav.values, ...patch })), 'push');
  },
  async loadFragment(fragment) {
    await commit(nav.adopt(fragment), 'push');
  },
  async setPresentation(patch) {
    try {
      // the table of contents' view is newer than the engine's copy of it
      const parsed = await pool.request('setPresentation', { fragment: url.build(Object.entries({ ...currentValues, ...nav.values, ...patch })) });
      currentValues = parsed.values;
      settings.setValues(parsed.values);
      nav.apply(parsed.values, parsed.fragment, false);
      url.replace(shareView.keep(parsed.fragment));
      fragmentView.textContent = url.normalize(parsed.fragment) || DEFAULT_FRAGMENT;
      lessonView.setConfig(parsed.values);
    } catch (e) {
      showError(e);
    }
  },
  pickNoiseDigit,
  openSettings(group, key) {
    const details = byId('settings-details', HTMLDetailsElement);
    details.open = true;
    const fieldset = details.querySelector(`fieldset[data-group="${group}"] details`);
    if (fieldset instanceof HTMLDetailsElement) fieldset.open = true;
    const input = document.getElementById(`cfg-${key}`);
    input?.scrollIntoView({ behavior: reducedMotion() ? 'auto' : 'smooth', block: 'center' });
    input?.focus({ preventScroll: true });
  },
  policyApplied(parsed, how) {
    if (how === 'push') {
      showConfig(parsed, 'push');
      return;
    }
    currentValues = parsed.values;
    settings.setValues(parsed.values);
    const fragment = nav.withPresentation(parsed.fragment);
    url.preview(fragment);
    fragmentView.textContent = url.normalize(fragment) || DEFAULT_FRAGMENT;
  },
};

const modelView = new ModelView({ onLoadPretrained: () => app.run('Loading the pretrained checkpoint', () => loadPretrained(true)) });
const samplesView = new SamplesView(client, { onPick: (i) => pickNoiseDigit(i), onError: showError });
const trainView = new TrainView(app);
const evalView = new EvalView(app);
const noiseQuant = new NoiseQuantToggle(app);
const noiseView = new NoiseView(noiseQuant.app);
noiseQuant.attach(() => noiseView.refresh());
const certifyView = new CertifyView(app);
const digitView = new DigitView(app);
const bitsView = new BitsView(app);
const searchView = new SearchView(app, { loadPolicy: (wb, ab) => (nav.locked('bits') ? status.set('The bits per layer are locked by this link: the policy was not loaded.', 'info') : bitsView.load(wb, ab)), layerNames: () => bitsView.layers.map((l) => l.name) });
const showcaseView = new ShowcaseView(app, { search: searchView, final: searchView.final });
const sensitivityView = new SensitivityView(app, { layerNames: () => bitsView.layers.map((l) => l.name) });
const lessonView = new LessonView(app, { noise: noiseView, certify: certifyView, bits: bitsView, search: searchView });
const shareView = new ShareView(app, { certify: certifyView, search: searchView, notify: (title, lines, kind) => notices.show(title, lines, kind), engineVersion: () => engineVersion,
  experiment: (f) => nav.experiment(f), present: (f) => nav.withPresentation(f) });
bitsView.policyListeners.push(() => noiseQuant.showNote(bitsView.describe()));
bitsView.readoutListeners.push((r) => {
  noiseQuant.setReadout(bitsView.describe());
  searchView.addReadout(r);
});
// The form has no presentation keys: the page's current ones are added to what it commits.
const settings = new SettingsForm(byId('settings-form', HTMLFormElement), {
  onInput: (f) => preview(nav.withPresentation(f)),
  onCommit: (f) => commit(nav.withPresentation(f), 'push'),
});
new HistoryView(app, { certify: certifyView, search: searchView, engine: () => engineVersion });
wireExports(app, {
  certify: certifyView,
  search: searchView,
  checkpointLoaded(r) {
    showConfig(r.checkpoint.parsed, 'push');
    trainView.clear();
    app.modelChanged(r.model, 'a checkpoint was loaded');
  },
});

/** The weights changed (the model view already shows it): refresh what depends on them. @param {string} why */
function weightsChanged(why) {
  evalView.markStale(why);
  bitsView.markStale(why);
  sensitivityView.markStale(why);
  noiseView.refresh();
}

function setReady() {
  status.set(`Ready · engine ${engineVersion} · ${modelLabel}`, 'ok');
}

/** @param {number} index */
function pickNoiseDigit(index) {
  noiseView.select(index);
  nav.choose('noise', false);
}

/**
 * Shows a configuration the engine accepted: form, fragment, notices.
 * @param {ParsedConfig} parsed
 * @param {'push'|'replace'} how
 */
function showConfig(parsed, how) {
  const values = parsed.values;
  currentValues = values;
  settings.setValues(values);
  // the fields whose value was dropped keep their message until the next edit
  settings.markNotices(parsed.notices);
  // An opened link or a navigation sets the presentation; a change made on the page keeps
  // the page's (the engine's copy of `view` lags behind the table of contents). A link's
  // results keys (eng=, r=) stay in the address while its settings stand.
  const fragment = how === 'push' ? nav.withPresentation(parsed.fragment) : parsed.fragment;
  const link = shareView.keep(fragment);
  if (how === 'push') {
    nav.setFragment(fragment);
    url.push(link);
  } else {
    nav.apply(values, fragment, true);
    url.replace(link);
  }
  teacher.update();
  fragmentView.textContent = url.normalize(fragment) || DEFAULT_FRAGMENT;
  trainView.showSettings(schema, values);
  certifyView.showSettings(schema, values);
  bitsView.setConfig(values);
  sensitivityView.setConfig(values);
  searchView.showSettings(schema, values);
  noiseView.setConfig(values);
  digitView.setConfig(parsed.fragment);
  lessonView.setConfig(values);
  if (parsed.notices.length) {
    notices.show('Some settings could not be used; the defaults stand in for them:', parsed.notices, 'warning');
  }
}

/** While typing or dragging: canonical fragment via replaceState, field-level hints only. @param {string} fragment */
async function preview(fragment) {
  if (busy) return;
  const seq = ++inputSeq;
  try {
    const parsed = await pool.request('parseFragment', { fragment });
    if (seq !== inputSeq) return;
    url.preview(parsed.fragment);
    fragmentView.textContent = url.normalize(parsed.fragment) || DEFAULT_FRAGMENT;
    settings.markNotices(parsed.notices);
  } catch (e) {
    showError(e);
  }
}

/**
 * Applies a fragment to the engine (a committed change or a navigation).
 * @param {string} fragment
 * @param {'push'|'replace'} how pushState for a change made on the page, replaceState for navigation
 */
async function commit(fragment, how) {
  if (busy) {
    if (how === 'replace') pendingNavigation = fragment;
    return;
  }
  inputSeq += 1;
  await app.run('Applying the settings', async () => {
    // the engine gets the settings part: results keys (eng=, r=) are ShareView's
    const r = await pool.request('setConfig', { fragment: splitLink(fragment).settings });
    showConfig(r.parsed, how);
    if (JSON.stringify(r.dataset) !== JSON.stringify(app.dataset)) {
      app.dataset = r.dataset;
      samplesView.setInfo(r.dataset);
      noiseView.setTestSize(r.dataset.test);
    }
    if (r.modelChanged) {
      trainView.clear();
      modelView.showModel(r.model);
      await loadPretrained(false);
      weightsChanged('the model was re-initialised');
    }
  });
}

/**
 * Loads the shipped checkpoint for the config's model and sigma, if there is one.
 * @param {boolean} explicit the user asked (so say so when there is none)
 */
async function loadPretrained(explicit) {
  modelView.setCheckpoint('loading', 'Looking for a pretrained checkpoint…');
  const r = await pool.request('loadPretrained', {}, { onProgress: (p) => status.phase(p.phase, p.done, p.total) });
  status.finishPhases();
  modelView.showPretrained(r);
  modelLabel = `${r.model.name}, σ = ${fmt.sigma(r.model.sigma)}`;
  if (r.checkpoint) {
    trainView.clear();
    if (explicit) weightsChanged('a checkpoint was loaded');
    status.set(`Loaded the pretrained checkpoint for ${modelLabel}.`, 'ok');
  } else if (explicit) {
    status.set(`No pretrained checkpoint for ${modelLabel}: train it.`, 'info');
  }
  return r;
}

async function boot() {
  setBusy(true);
  busy = true;
  status.set('Loading the engine…', 'busy');
  shareView.expect(url.current());
  try {
    const init = await pool.request('init', { fragment: splitLink(url.current()).settings }, { onProgress: (p) => status.phase(p.phase, p.done, p.total) });
    schema = init.schema;
    engineVersion = init.version;
    app.dataset = init.dataset;
    byId('engine-version', HTMLElement).textContent = `engine ${init.version}`;
    settings.build(init.schema);
    nav.setSchema(init.schema);
    showcaseView.show(init.experiments);
    lessonView.show(init.lessons);
    showConfig(init.parsed, 'replace');
    teacher.build();
    modelView.showModel(init.model);
    modelLabel = `${init.model.name}, σ = ${fmt.sigma(init.model.sigma)}`;
    samplesView.setInfo(init.dataset);
    noiseView.setTestSize(init.dataset.test);
  } catch (e) {
    document.body.dataset.state = 'failed';
    const message = e instanceof Error ? e.message : String(e);
    status.set(`Could not load: ${message}`, 'error');
    notices.show('The playground could not load', [message], 'error');
    return;
  } finally {
    busy = false;
    setBusy(false);
    status.finishPhases();
  }
  await app.run('Looking for a pretrained checkpoint', () => loadPretrained(false));
  if (status.line.dataset.kind !== 'error') setReady();
  await shareView.open();
  document.body.dataset.state = 'ready';
  noiseView.refresh();
  // After loading, so it does not compete with it: its time is the self-test's own.
  selfTest(byId('selftest', HTMLElement));
  registerOffline(byId('offline-status', HTMLElement), engineVersion);
}

url.onNavigate((fragment) => {
  shareView.expect(fragment);
  void commit(fragment, 'replace').then(() => shareView.open());
});
offerDataTables();
// On a narrow screen the settings start folded so the views come first.
if (matchMedia('(max-width: 900px)').matches) byId('settings-details', HTMLDetailsElement).open = false;
byId('reset-config', HTMLButtonElement).addEventListener('click', () => commit(nav.withPresentation(DEFAULT_FRAGMENT), 'push'));
byId('copy-link', HTMLButtonElement).addEventListener('click', async () => {
  try {
    await navigator.clipboard.writeText(location.href);
    status.set('Link copied: it opens this experiment with these settings.', 'ok');
  } catch {
    status.set(`Copy this link: ${location.href}`, 'info');
  }
});

// The pool's size: the footer's choice, kept in localStorage (it never changes results).
const poolSize = byId('pool-size', HTMLSelectElement);
for (let n = 1; n <= MAX_WORKERS; n++) poolSize.append(new Option(String(n), String(n)));
poolSize.value = String(pool.size);
byId('pool-cores', HTMLElement).textContent = String(navigator.hardwareConcurrency || 1);
poolSize.addEventListener('change', () => {
  pool.setSize(Number(poolSize.value));
  status.set(`Certification, the IRS of the search and the read-out, and the final table will use ${pool.size === 1 ? 'one worker' : `${pool.size} workers`}.`, 'ok');
});

/**
 * For the browser tests and the console: worker 0's client, the pool, and a deliberate engine panic
 * (run like any job, so the page shows the error and recovers).
 */
Object.assign(window, { arq: { client, pool, nav, debugPanic: () => app.run('Crash test', () => pool.request('debugPanic', {})) } });
boot();
