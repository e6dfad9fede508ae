// The Certify card: CERTIFY (Cohen et al.) of the current model on the configured test points,
// run in the worker with progress, samples/s, ETA and Cancel. Every run of the session stays
// (one curve and one table row each) so runs can be compared; a cancelled run keeps what it
// finished. The settings are the config's (edited in the settings form); two presets set the
// browser default and the paper-grade setting, the latter after stating its cost.
import { CurveChart, RadiusPlot } from './cert-charts.js';
import { copyText, csv, curveTable, markdown, pointsTable, renderSummary, rowName } from './cert-table.js';
import { JobAborted } from './client.js';
import { byId, el } from './dom.js';
import * as fmt from './format.js';

/**
 * @typedef {import('./main.js').App} App
 * @typedef {import('./types.js').Field} Field
 * @typedef {import('./types.js').CertRecord} CertRecord
 * @typedef {import('./types.js').CertSummary} CertSummary
 * @typedef {import('./types.js').CertProgress} CertProgress
 * @typedef {import('./protocol.js').CertifyPartial} CertifyPartial
 * @typedef {import('./protocol.js').CertifyResult} CertifyResult
 */

/**
 * One certification run of this session.
 * @typedef {object} CertRun
 * @property {number} id
 * @property {string} label e.g. "FP32 n=1,000 σ=0.25"
 * @property {string} color
 * @property {string} fragment the settings it ran with
 * @property {'running'|'done'|'cancelled'|'failed'} state
 * @property {CertRecord[]} records
 * @property {CertSummary|null} summary the engine's, over `records`
 * @property {CertProgress} progress
 * @property {number} testOffset records' index minus this = test-split index
 */

/** Cohen et al.'s setting (n0 = 100, n = 100,000, 500 test points) and the browser default. */
const PRESETS = {
  paper: { n0: '100', n: '100000', points: '500', stride: '4' },
  small: { n0: '100', n: '1000', points: '100', stride: '20' },
};
/** Settings shown on the card (besides the certify group). */
const SHOWN = ['model', 'sigma', 'seed'];

/** Noisy forward passes a config costs: points x (n0 + n). @param {Record<string, string>} v */
const costOf = (v) => Number(v.points) * (Number(v.n0) + Number(v.n));

export class CertifyView {
  /** @param {App} app */
  constructor(app) {
    this.app = app;
    this.settings = byId('certify-settings', HTMLElement);
    this.cost = byId('certify-cost', HTMLElement);
    this.startButton = byId('certify-start', HTMLButtonElement);
    this.cancelButton = byId('certify-cancel', HTMLButtonElement);
    this.confirmBox = byId('certify-confirm', HTMLElement);
    this.confirmText = byId('certify-confirm-text', HTMLElement);
    this.progressBox = byId('certify-progress', HTMLElement);
    this.bar = byId('certify-bar', HTMLProgressElement);
    this.progressText = byId('certify-progress-text', HTMLElement);
    this.results = byId('certify-results', HTMLElement);
    this.legend = byId('certify-legend', HTMLElement);
    this.table = byId('certify-table', HTMLTableElement);
    this.runSelect = byId('certify-run', HTMLSelectElement);
    this.copyBox = byId('certify-copy-fallback', HTMLElement);
    this.curve = new CurveChart(byId('certify-curve', HTMLElement));
    this.plot = new RadiusPlot(byId('certify-points', HTMLElement), (i) => app.pickNoiseDigit(i));
    /** @type {CertRun[]} */
    this.runs = [];
    this.nextId = 1;
    /** @type {Record<string, string>} */
    this.values = {};
    /** Throughput measured here, per model (samples/s), for cost estimates. @type {Map<string, number>} */
    this.rates = new Map();
    /** @type {(() => void) | null} */
    this.cancel = null;
    this.startButton.addEventListener('click', () => this.start());
    this.cancelButton.addEventListener('click', () => {
      this.cancelButton.disabled = true;
      this.progressText.textContent = 'Cancelling after the current step…';
      this.cancel?.();
    });
    byId('certify-paper', HTMLButtonElement).addEventListener('click', () => this.askPaperGrade());
    byId('certify-small', HTMLButtonElement).addEventListener('click', () => app.applySettings(PRESETS.small));
    byId('certify-edit', HTMLButtonElement).addEventListener('click', () => app.openSettings('certify', 'n'));
    byId('certify-confirm-run', HTMLButtonElement).addEventListener('click', () => this.runPaperGrade());
    byId('certify-confirm-cancel', HTMLButtonElement).addEventListener('click', () => { this.confirmBox.hidden = true; });
    byId('certify-clear', HTMLButtonElement).addEventListener('click', () => this.clear());
    byId('certify-copy-md', HTMLButtonElement).addEventListener('click', () => this.copy('Markdown', markdown(this.runs)));
    byId('certify-copy-csv', HTMLButtonElement).addEventListener('click', () => this.copy('CSV', csv(this.runs)));
    this.runSelect.addEventListener('change', () => this.renderPoints());
  }

  /** The settings a run would use. @param {Field[]} schema @param {Record<string, string>} values by URL key */
  showSettings(schema, values) {
    this.values = values;
    const fields = schema.filter((f) => f.group === 'certify' || SHOWN.includes(f.key));
    this.settings.replaceChildren(...fields.map((f) => el('span', { class: 'setting', title: f.help, 'data-key': f.key }, [
      el('span', { class: 'key', text: f.key }), ' ', el('strong', { text: values[f.key] ?? '' }),
    ])));
    this.showCost();
  }

  showCost() {
    const samples = costOf(this.values);
    const rate = this.rates.get(this.values.model);
    const d = rate ? fmt.duration(samples / rate) : '';
    const time = rate ? `, ${d.startsWith('under') ? d : `about ${d}`} at the ${fmt.int(rate)} samples/s measured here` : '';
    this.cost.textContent = `${fmt.int(Number(this.values.points))} test points × (n0 + n) = ${fmt.int(samples)} noisy samples${time}.`;
  }

  /** @param {Record<string, string>} values @returns {string} */
  labelFor(values) {
    const base = `FP32 n=${fmt.int(Number(values.n))} σ=${values.sigma}`;
    const taken = new Set(this.runs.map((r) => r.label));
    let label = base;
    for (let k = 2; taken.has(label); k++) label = `${base} #${k}`;
    return label;
  }

  async start() {
    this.confirmBox.hidden = true;
    await this.app.run('Certifying', async () => {
      const values = this.values;
      const id = this.nextId++;
      /** @type {CertRun} */
      const run = {
        id, label: this.labelFor(values), color: d3.schemeTableau10[(id - 1) % 10],
        fragment: location.hash, state: 'running', records: [], summary: null, testOffset: this.app.dataset.train,
        progress: { examplesDone: 0, examplesTotal: Number(values.points), samplesDone: 0, samplesTotal: costOf(values) },
      };
      this.runs.push(run);
      this.results.hidden = false;
      this.progressBox.hidden = false;
      this.progressBox.dataset.state = 'running';
      this.progressText.textContent = 'Starting…';
      this.bar.removeAttribute('value');
      /** @type {number | null} */
      let rate = null;
      const job = this.app.client.start('certify', {}, {
        onPartial: (data) => {
          if (data.model && !data.model.trained) run.label += ' (untrained)';
          rate = data.rate ?? rate;
          this.add(run, data);
        },
        onProgress: (p) => this.showProgress(run, p.eta, rate),
      });
      this.cancel = job.cancel;
      this.cancelButton.disabled = false;
      this.render();
      try {
        this.finish(run, await job.promise, 'done');
      } catch (e) {
        if (e instanceof JobAborted) {
          this.finish(run, /** @type {CertifyResult | null} */ (e.result), 'cancelled');
        } else {
          this.finish(run, null, 'failed');
          throw e;
        }
      } finally {
        this.cancel = null;
        this.cancelButton.disabled = true;
      }
    });
  }

  /** New records and the running summary. @param {CertRun} run @param {CertifyPartial | CertifyResult} data */
  add(run, data) {
    run.records.push(...data.records);
    // a pool's workers finish their points in any order; the views show them in point order
    if (data.records.length) run.records.sort((a, b) => a.index - b.index);
    if (data.summary) run.summary = data.summary;
    run.progress = data.progress;
    this.results.dataset.records = String(run.records.length);
    this.render();
  }

  /** @param {CertRun} run @param {number|null} eta @param {number|null} rate */
  showProgress(run, eta, rate) {
    const p = run.progress;
    if (p.samplesTotal > 0) {
      this.bar.max = p.samplesTotal;
      this.bar.value = p.samplesDone;
    }
    const speed = rate ? ` · ${fmt.int(rate)} samples/s` : '';
    this.progressText.textContent = `${fmt.int(p.samplesDone)} / ${fmt.int(p.samplesTotal)} noisy samples · ${fmt.int(p.examplesDone)} / ${fmt.int(p.examplesTotal)} points${speed} · ${fmt.eta(eta)}`;
  }

  /**
   * @param {CertRun} run @param {CertifyResult | null} result (null after an error)
   * @param {'done'|'cancelled'|'failed'} state
   */
  finish(run, result, state) {
    if (result) this.add(run, result);
    run.state = state;
    if (result?.rate && run.progress.samplesDone > 0) this.rates.set(this.values.model, result.rate);
    const p = run.progress;
    const acc = run.summary ? `certified accuracy at r = 0: ${fmt.percent(run.summary.cleanAccuracy, 1)}, ACR ${fmt.fixed(run.summary.acr)}` : 'no point finished';
    const what = state === 'done' ? `Certified ${fmt.count(p.examplesTotal, 'test point')} (${fmt.int(p.samplesDone)} noisy samples): ${acc}.`
      : state === 'cancelled' ? `Cancelled after ${fmt.int(run.records.length)} of ${fmt.int(p.examplesTotal)} points; their results stay (${acc}).`
        : `Stopped by an error after ${fmt.int(run.records.length)} of ${fmt.int(p.examplesTotal)} points; their results stay.`;
    this.progressText.textContent = what;
    this.progressBox.dataset.state = state === 'done' ? 'done' : 'aborted';
    this.showCost();
    this.render();
    if (state !== 'failed') this.app.status.set(what, state === 'done' ? 'ok' : 'info');
  }

  render() {
    this.results.hidden = this.runs.length === 0;
    this.curve.setRuns(this.runs);
    this.legend.replaceChildren(...this.runs.map((run) => el('li', { 'data-run': run.id, class: run.state === 'done' ? '' : 'partial' }, [
      el('span', { class: 'swatch', style: `--c: ${run.color}` }), rowName(run),
    ])));
    renderSummary(this.table, this.runs);
    byId('certify-curve-fallback', HTMLElement).replaceChildren(curveTable(this.runs));
    const chosen = this.runSelect.value;
    this.runSelect.replaceChildren(...this.runs.map((run) => el('option', { value: run.id, text: run.label })).reverse());
    const keep = this.runs.some((r) => String(r.id) === chosen) && this.runs.at(-1)?.state !== 'running';
    this.runSelect.value = keep ? chosen : String(this.runs.at(-1)?.id ?? '');
    this.renderPoints();
  }

  renderPoints() {
    const run = this.runs.find((r) => String(r.id) === this.runSelect.value) ?? null;
    this.plot.show(run);
    byId('certify-points-fallback', HTMLElement).replaceChildren(pointsTable(run));
  }

  clear() {
    this.runs = [];
    this.progressBox.hidden = true;
    this.copyBox.hidden = true;
    this.render();
  }

  /** @param {string} what @param {string} text */
  async copy(what, text) {
    const how = await copyText(text, this.copyBox);
    this.app.status.set(how === 'clipboard' ? `Copied the table as ${what}.`
      : `The clipboard is not available here: the ${what} is selected below, copy it with Ctrl+C / ⌘C.`, how === 'clipboard' ? 'ok' : 'info');
  }

  /** States the paper-grade setting's cost (measured throughput) and asks to confirm. */
  async askPaperGrade() {
    const model = this.values.model;
    let rate = this.rates.get(model);
    if (!rate) {
      const probe = await this.app.run('Measuring certification speed', () => this.app.client.request('certifyProbe', {}));
      if (!probe) return;
      rate = probe.rate;
      this.app.status.set(`Measured ${fmt.int(rate)} noisy samples/s with ${probe.model}.`, 'ok');
    }
    /** @type {Record<string, string>} */
    const v = { ...this.values, ...PRESETS.paper };
    const samples = costOf(v);
    this.confirmText.textContent = `Paper-grade certification (Cohen et al.): n0 = ${fmt.int(Number(v.n0))}, n = ${fmt.int(Number(v.n))}, `
      + `${fmt.int(Number(v.points))} test points at stride ${v.stride}, σ = ${v.sigma}. That is about ${fmt.approx(samples)} noisy samples, `
      + `~${fmt.duration(samples / rate)} at ${fmt.int(rate)} samples/s (measured on this machine with ${model}). `
      + 'The page stays usable and Cancel keeps the points finished so far. Run it?';
    this.confirmText.dataset.samples = String(samples);
    this.confirmBox.hidden = false;
    byId('certify-confirm-run', HTMLButtonElement).focus();
  }

  async runPaperGrade() {
    this.confirmBox.hidden = true;
    await this.app.applySettings(PRESETS.paper);
    if (Object.entries(PRESETS.paper).every(([k, v]) => this.values[k] === v)) await this.start();
  }
}
