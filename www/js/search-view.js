// The Search card: run ARQ (DDPG, ACR reward via IRS), HAQ (DDPG, accuracy reward) or random
// search under the BOPs budget, with the cost stated first; play / pause / step (one episode)
// / cancel, each finished episode streaming into the reward chart, the Pareto scatter (click
// a point to load its policy into the bit editor) and the layer x episode heatmap; then the
// final comparison table (fresh certification on the test split), copyable as Markdown.
// A pause or a cancel keeps every finished episode.
import { phaseLabel } from './bits-view.js';
import { JobAborted } from './client.js';
import { byId, el } from './dom.js';
import { FinalView } from './final-view.js';
import * as fmt from './format.js';
import { ParetoChart, RewardChart, SERIES, WINDOW } from './search-charts.js';
import { BitsHeatmap, bitsColor } from './search-heatmap.js';
import { about, estimate, presetButtons } from './search-cost.js';
import { heatmapTable, paretoTable, rewardTable } from './search-tables.js';

/**
 * @typedef {import('./main.js').App} App
 * @typedef {import('./types.js').Field} Field
 * @typedef {import('./quant-types.js').EpisodeRecord} EpisodeRecord
 * @typedef {import('./quant-types.js').SearchKindName} SearchKindName
 * @typedef {import('./quant-types.js').SearchPartial} SearchPartial
 * @typedef {import('./quant-types.js').SearchResult} SearchResult
 * @typedef {import('./quant-types.js').QuantEval} QuantEval
 * @typedef {import('./quant-types.js').FinalRow} FinalRow
 * @typedef {import('./search-charts.js').Baseline} Baseline
 * @typedef {import('./search-charts.js').Metric} Metric
 * @typedef {import('./quant-types.js').SearchRun} SearchRun
 */

export const KINDS = /** @type {const} */ ({
  arq: { label: 'ARQ', color: '#0072B2', what: 'DDPG, ACR reward (IRS)' },
  haq: { label: 'HAQ-reward', color: '#D55E00', what: 'DDPG, clean-accuracy reward' },
  random: { label: 'random', color: '#CC79A7', what: 'uniform random policies' },
});

export class SearchView {
  /**
   * @param {App} app
   * @param {{loadPolicy: (wb: number[], ab: number[]) => void, layerNames: () => string[]}} bits
   */
  constructor(app, bits) {
    this.app = app;
    this.bits = bits;
    this.settings = byId('search-settings', HTMLElement);
    this.cost = byId('search-cost', HTMLElement);
    this.progressBox = byId('search-progress', HTMLElement);
    this.bar = byId('search-bar', HTMLProgressElement);
    this.progressText = byId('search-progress-text', HTMLElement);
    this.results = byId('search-results', HTMLElement);
    this.runSelect = byId('search-run', HTMLSelectElement);
    this.metric = byId('search-metric', HTMLSelectElement);
    this.buttons = {
      play: byId('search-play', HTMLButtonElement), pause: byId('search-pause', HTMLButtonElement),
      step: byId('search-step', HTMLButtonElement), cancel: byId('search-cancel', HTMLButtonElement),
    };
    this.reward = new RewardChart(byId('search-reward', HTMLElement));
    this.pareto = new ParetoChart(byId('search-pareto', HTMLElement), (run, e) => this.pick(run, e));
    this.heatmap = new BitsHeatmap(byId('search-heatmap', HTMLElement));
    byId('search-heatmap-legend', HTMLElement).replaceChildren(...[2, 3, 4, 5, 6, 7, 8, 32].map((b) => el('li', {}, [
      el('span', { class: 'swatch block', style: `--c: ${bitsColor(b)}` }), b >= 32 ? 'f (full precision)' : `${b} bits`,
    ])));
    /** @type {SearchRun[]} */
    this.runs = [];
    /** The run the engine holds (running or paused). @type {SearchRun | null} */
    this.current = null;
    /** @type {{cancel: () => void} | null} */
    this.job = null;
    /** What the pending cancel means. @type {'pause'|'cancel'} */
    this.stopping = 'pause';
    /** @type {Record<string, string>} */
    this.values = {};
    /** @type {Field[]} */
    this.schema = [];
    /** @type {Baseline[]} */
    this.readouts = [];
    /** @type {FinalRow[]} */
    this.finalRows = [];
    /** @type {SearchKindName} */
    this.lastKind = 'arq';
    for (const kind of /** @type {SearchKindName[]} */ (['arq', 'haq', 'random'])) {
      byId(`search-${kind}`, HTMLButtonElement).addEventListener('click', () => this.start(kind, 0));
    }
    this.buttons.play.addEventListener('click', () => this.resume(0));
    this.buttons.step.addEventListener('click', () => (this.current?.state === 'paused' ? this.resume(1) : this.start(this.lastKind, 1)));
    this.buttons.pause.addEventListener('click', () => this.stop('pause'));
    this.buttons.cancel.addEventListener('click', () => this.stop('cancel'));
    this.runSelect.addEventListener('change', () => this.render());
    this.metric.addEventListener('change', () => this.render());
    byId('search-edit', HTMLButtonElement).addEventListener('click', () => app.openSettings('search', 'episodes'));
    this.final = new FinalView(app, (rows) => {
      this.finalRows = rows;
      this.render();
    });
    this.updateButtons();
  }

  /** @param {Field[]} schema @param {Record<string, string>} values */
  showSettings(schema, values) {
    // Another model or dataset: the runs so far searched other layers.
    if (this.values.model !== undefined && (values.model !== this.values.model || values.ds !== this.values.ds) && !this.job) {
      this.runs = [];
      this.current = null;
      this.updateButtons();
    }
    this.values = values;
    this.schema = schema;
    // Shown once the engine build has the search (its settings are in the schema).
    byId('search-card', HTMLElement).hidden = !schema.some((f) => f.key === 'episodes');
    const fields = schema.filter((f) => f.group === 'search' || ['budget', 'np', 'sigma'].includes(f.key));
    this.settings.replaceChildren(...fields.map((f) => el('span', { class: 'setting', title: f.help, 'data-key': f.key }, [
      el('span', { class: 'key', text: f.key }), ' ', el('strong', { text: values[f.key] ?? '' }),
    ])));
    this.showCost();
    this.render();
  }

  /** The last episode measured here, with its run's settings. */
  measured() {
    const run = [...this.runs].reverse().find((r) => r.episodes.some((e) => e.wallMs !== null));
    const episode = run?.episodes.filter((e) => e.wallMs !== null).at(-1);
    return run && episode ? { episode, values: run.values } : null;
  }

  showCost() {
    const v = this.values;
    const m = this.measured();
    const est = estimate(v, m);
    const work = `${fmt.count(Number(v.episodes), 'episode')} (${fmt.int(Number(v.warmup))} warm-up), each: fine-tune ${fmt.count(Number(v.sft), 'batch', 'batches')}, `
      + `IRS on ${fmt.count(Number(v.spoints), 'search point')} × n_p = ${fmt.int(Number(v.np))}`;
    this.cost.textContent = est === null ? `${work}. Time: the first episode measures it (the first search also certifies FP32 on the search split once).`
      : `${work}: ${about(est.total)} (${d3.format('.2~r')(est.perEpisode)} s per episode, measured here).`;
    this.cost.dataset.seconds = est === null ? '' : String(est.total);
    if (this.schema.length) {
      byId('search-presets', HTMLElement).replaceChildren(el('span', { class: 'subtle', text: 'Presets:' }),
        ...presetButtons(this.schema, v, m, (patch) => this.app.applySettings(patch)));
    }
  }

  /**
   * Starts a search run and drives it until it finishes, pauses or stops.
   * @param {SearchKindName} kind @param {number} episodes 0 = all
   * @returns {Promise<SearchRun>} the run (its `state` says how it ended)
   */
  async start(kind, episodes) {
    if (this.current?.state === 'paused') this.current.state = 'cancelled';
    const id = this.runs.length + 1;
    const k = KINDS[kind];
    /** @type {SearchRun} */
    const run = { id, kind, label: `${k.label} #${id}`, color: k.color, episodes: [], planned: Number(this.values.episodes) || 0,
      warmup: Number(this.values.warmup) || 0, best: null, state: 'running', values: { ...this.values } };
    this.runs.push(run);
    this.current = run;
    this.lastKind = kind;
    this.runSelect.value = '';
    await this.drive(run, { kind, resume: false, episodes });
    return run;
  }

  /** @param {number} episodes 0 = to the end */
  async resume(episodes) {
    const run = this.current;
    if (!run || run.state !== 'paused') return;
    await this.drive(run, { kind: run.kind, resume: true, episodes });
  }

  /** @param {'pause'|'cancel'} how */
  stop(how) {
    if (this.job) {
      this.stopping = how;
      this.progressText.textContent = how === 'pause' ? 'Pausing after the current step…' : 'Cancelling after the current step…';
      this.job.cancel();
    } else if (how === 'cancel' && this.current?.state === 'paused') {
      this.current.state = 'cancelled';
      this.finished(this.current);
    }
  }

  /** @param {SearchRun} run @param {{kind: SearchKindName, resume: boolean, episodes: number}} params */
  async drive(run, params) {
    await this.app.run(`${run.label} search`, async () => {
      run.state = 'running';
      this.stopping = 'pause';
      this.results.hidden = false;
      this.progressBox.hidden = false;
      this.progressBox.dataset.state = 'running';
      const job = this.app.client.start('search', params, {
        onPartial: (data) => this.add(run, data),
        onProgress: (p) => this.showProgress(run, p.phase),
      });
      this.job = job;
      this.updateButtons();
      this.render();
      try {
        const r = await job.promise;
        this.add(run, r);
        run.state = r.finished ? 'done' : 'paused';
      } catch (e) {
        if (!(e instanceof JobAborted)) {
          run.state = 'failed';
          throw e;
        }
        if (e.result) this.add(run, /** @type {SearchResult} */ (e.result));
        run.state = /** @type {'pause'|'cancel'} */ (this.stopping) === 'cancel' ? 'cancelled' : 'paused';
      } finally {
        this.job = null;
        this.finished(run);
      }
    });
  }

  /** Episodes streamed in. @param {SearchRun} run @param {SearchPartial} data */
  add(run, data) {
    run.planned = data.episodes || run.planned;
    run.warmup = data.warmup;
    for (const e of data.records) if (!run.episodes.some((x) => x.episode === e.episode)) run.episodes.push(e);
    if (data.best) run.best = data.best;
    this.results.dataset.episodes = String(run.episodes.length);
    if (data.records.length) this.render();
  }

  /** @param {SearchRun} run @param {string} phase */
  showProgress(run, phase) {
    const done = run.episodes.length;
    this.bar.max = Math.max(1, run.planned);
    this.bar.value = done;
    const last = run.episodes.at(-1);
    const per = last?.wallMs ? last.wallMs / 1000 : null;
    // The job's ETA is per engine phase (they alternate within an episode): use the episode time instead.
    const left = per !== null ? ` · ${about(per * Math.max(0, run.planned - done))} left` : '';
    this.progressText.textContent = `${run.label}: ${fmt.int(done)} / ${fmt.int(run.planned)} episodes${done < run.warmup ? ' (warm-up)' : ''} · ${phaseLabel(phase)}${left}`;
  }

  /** @param {SearchRun} run */
  finished(run) {
    if (run.state !== 'paused' && this.current === run) this.current = null;
    const best = run.best ? `best reward ${fmt.real(run.best.reward)} at episode ${run.best.episode + 1} (BOPs ${fmt.percent(run.best.costRatio)}, ACR ${fmt.fixed(run.best.metrics.acr ?? Number.NaN)})` : 'no episode finished';
    const what = { done: 'finished', paused: 'paused', cancelled: 'cancelled', failed: 'stopped by an error', running: 'running' }[run.state];
    this.progressText.textContent = `${run.label} ${what} after ${fmt.count(run.episodes.length, 'episode')} of ${fmt.int(run.planned)}: ${best}.`
      + (run.state === 'paused' ? ' Play or Step to go on.' : '');
    this.progressBox.dataset.state = run.state === 'done' ? 'done' : run.state === 'paused' ? 'paused' : 'aborted';
    this.updateButtons();
    this.showCost();
    this.render();
    if (run.state !== 'failed') this.app.status.set(this.progressText.textContent, run.state === 'done' ? 'ok' : 'info');
  }

  updateButtons() {
    const running = this.job !== null;
    const paused = this.current?.state === 'paused';
    this.buttons.pause.disabled = !running;
    this.buttons.cancel.disabled = !running && !paused;
    this.buttons.play.hidden = !paused;
    this.buttons.step.title = paused ? 'Run one more episode of the paused search' : `Start a ${KINDS[this.lastKind].label} search and run one episode`;
    document.getElementById('search-card')?.setAttribute('data-search', running ? 'running' : paused ? 'paused' : 'idle');
  }

  /** A bit-editor read-out, drawn on the Pareto chart as a baseline ("read-out W4A4"). @param {QuantEval} r */
  addReadout(r) {
    const list = (/** @type {string} */ k) => new URLSearchParams(r.fragment).get(k)?.split(',') ?? [];
    const [wb, ab] = [list('wb'), list('ab')];
    const uniform = wb.length > 0 && new Set(wb).size === 1 && new Set(ab).size === 1;
    const name = (/** @type {string} */ b) => (b === 'f' || b === '32' ? '32' : b);
    const label = `read-out ${uniform ? `W${name(wb[0])}A${name(ab[0])}` : `#${this.readouts.length + 1}`}`;
    this.readouts = [...this.readouts.filter((b) => b.label !== label), { label, bopsRatio: r.cost.ratio, acr: r.summary.acr, accuracy: r.pointsAccuracy }];
    this.render();
  }

  /** @param {SearchRun} run @param {EpisodeRecord} e */
  pick(run, e) {
    if (this.job) this.stop('pause');
    this.bits.loadPolicy(e.wbits, e.abits);
    this.app.status.set(`Loaded ${run.label}'s episode ${e.episode + 1} into the bit editor${this.job ? ' (search paused)' : ''}.`, 'ok');
  }

  baselines() {
    /** @type {Baseline[]} */
    const list = [];
    const fp = this.runs.flatMap((r) => r.episodes).find((e) => Number.isFinite(e.metrics.fp32Acr));
    if (fp) list.push({ label: 'FP32', bopsRatio: 1, acr: fp.metrics.fp32Acr, accuracy: fp.metrics.fp32Accuracy ?? Number.NaN });
    for (const r of this.finalRows) list.push({ label: `final ${r.name}`, bopsRatio: r.bopsRatio, acr: r.summary.acr, accuracy: r.testAccuracy });
    return [...list, ...this.readouts];
  }

  render() {
    const chosen = this.runSelect.value;
    this.runSelect.replaceChildren(...this.runs.map((r) => el('option', { value: r.id, text: `${r.label} (${r.state})` })).reverse());
    const run = this.runs.find((r) => String(r.id) === chosen && r !== this.current) ?? this.current ?? this.runs.at(-1) ?? null;
    this.runSelect.value = run ? String(run.id) : '';
    const metric = /** @type {Metric} */ (this.metric.value);
    const names = this.bits.layerNames();
    this.reward.show(run);
    this.pareto.set(this.runs, this.baselines(), Number(this.values.budget), metric);
    this.heatmap.show(run, names);
    byId('search-legend', HTMLElement).replaceChildren(...this.runs.map((r) => el('li', { 'data-run': r.id }, [
      el('span', { class: 'swatch dot', style: `--c: ${r.color}` }), `${r.label}: ${KINDS[r.kind].what}, ${fmt.count(r.episodes.length, 'episode')}${r.state === 'done' ? '' : ` (${r.state})`}`,
    ])));
    byId('search-reward-legend', HTMLElement).replaceChildren(
      el('li', {}, [el('span', { class: 'swatch', style: `--c: ${SERIES.raw}` }), 'reward per episode']),
      el('li', {}, [el('span', { class: 'swatch', style: `--c: ${SERIES.smooth}` }), `mean of the last ${WINDOW}`]),
      el('li', {}, [el('span', { class: 'swatch', style: `--c: ${SERIES.best}` }), 'best so far']),
    );
    byId('search-reward-fallback', HTMLElement).replaceChildren(rewardTable(run));
    byId('search-pareto-fallback', HTMLElement).replaceChildren(paretoTable(this.runs, metric));
    byId('search-heatmap-fallback', HTMLElement).replaceChildren(heatmapTable(run, names));
  }
}
