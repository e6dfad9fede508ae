// The "Layer sensitivity" panel of the bits card: for each quantizable layer, how much the
// smoothed classifier's ACR and the base classifier's clean accuracy drop when only that
// layer goes to k bits (weights, input activations or both) and every other layer stays FP32.
// Each layer is evaluated exactly like a search episode (the engine's sensitivity job, run by
// the worker: worker-sensitivity.js). Rows appear as layers finish; a cancel keeps them. A
// chart of ΔACR and Δ accuracy per layer (ΔACR with the IRS floor marked) and a table with
// the same numbers; the table marks itself stale when the weights or the settings change.
import { JobAborted } from './client.js';
import { Chart } from './charts.js';
import { byId, el } from './dom.js';
import * as fmt from './format.js';

/**
 * @typedef {import('./main.js').App} App
 * @typedef {import('./worker-sensitivity.js').SensitivityPartial} SensitivityPartial
 * @typedef {import('../../pkg/arq.js').SensitivityRow} SensitivityRow
 * @typedef {import('../../pkg/arq.js').SensitivityReference} SensitivityReference
 * @typedef {import('../../pkg/arq.js').Side} Side
 */

/** Settings that change the table's numbers (the policy itself does not). */
const CONTEXT_KEYS = ['ds', 'model', 'sigma', 'seed', 'n0', 'n', 'alpha', 'points', 'stride', 'np', 'az', 'gamma',
  'wgran', 'wclip', 'aclip', 'calib', 'qlr', 'spoints', 'sft'];
/** The sides in words. */
const SIDES = /** @type {Record<Side, string>} */ ({ both: 'weights and input activations', w: 'weights only', a: 'input activations only' });
/** Bar colours: ΔACR, Δ accuracy. */
const COLORS = { acr: '#0072B2', acc: '#D55E00', floor: '#6c7a89' }; // Okabe-Ito
/** The engine's phase names in words. */
const PHASES = /** @type {Record<string, string>} */ ({
  'fp32-certify': 'certifying FP32 on the search split (the reference and the IRS cache)',
  'irs-floor': 'certifying the unquantized model through IRS (the floor)', calibrate: 'calibrating the activation ranges',
  finetune: 'noise-aware fine-tuning', irs: 'IRS certification', sensitivity: 'next layer', done: 'done',
});

/** "+0.012" / "−0.034": a signed number with a real minus sign. @param {number} x @param {number} [digits] */
const signed = (x, digits = 3) => `${x > 0 ? '+' : x < 0 ? '−' : '±'}${Math.abs(x).toFixed(digits)}`;

/** The drops per layer: ΔACR (left panel, with the IRS floor) and Δ accuracy (right panel). */
export class SensitivityChart extends Chart {
  /** @param {HTMLElement} host an empty, position: relative element */
  constructor(host) {
    super(host, 'sensitivity');
    /** @type {SensitivityPartial | null} */
    this.data = null;
    /** @type {string[]} layer names, so that pending layers have a band too */
    this.layers = [];
  }

  /** @param {SensitivityPartial | null} data @param {string[]} layers */
  show(data, layers) {
    this.data = data;
    this.layers = layers;
    this.redraw();
  }

  /** @override */
  draw() {
    const d = this.data;
    const names = this.layers.length ? this.layers : (d?.rows ?? []).map((r) => r.name);
    const band = 30;
    const m = { top: 24, right: 16, bottom: 40, left: 78 };
    const width = Math.max(320, this.host.clientWidth);
    const height = m.top + m.bottom + band * Math.max(1, names.length);
    const g = this.canvas(width, height);
    const rows = d?.rows ?? [];
    const ref = d?.reference ?? null;
    const floor = ref ? ref.irsFloorAcr - ref.fp32Acr : null;
    const gap = 28;
    const panel = (width - m.left - m.right - gap) / 2;
    const y = d3.scaleBand().domain(names).range([m.top, height - m.bottom]).padding(0.25);
    /** @param {number[]} values @param {number} minPad @returns {[number, number]} */
    const extent = (values, minPad) => {
      const lo = Math.min(...values);
      const hi = Math.max(...values);
      const pad = Math.max(minPad, (hi - lo) * 0.08);
      return [lo - pad, hi + pad];
    };
    // ΔACR bars start at the IRS floor (every row's common offset), so each layer's own loss
    // is the bar's length; the axis stays ΔACR against FP32.
    const base = floor ?? 0;
    const xAcr = d3.scaleLinear().domain(extent([base, ...rows.map((r) => r.deltaAcr)], 0.005)).nice()
      .range([m.left, m.left + panel]);
    const xAcc = d3.scaleLinear().domain(extent([0, ...rows.map((r) => 100 * r.deltaAccuracy)], 0.5)).nice()
      .range([m.left + panel + gap, width - m.right]);
    g.append('g').attr('transform', `translate(${m.left},0)`).call(d3.axisLeft(y).tickSize(0))
      .call((a) => a.select('.domain').remove());
    for (const [x, title, fmtTick] of /** @type {[import('d3').ScaleLinear<number, number>, string, (v: number) => string][]} */ ([
      [xAcr, floor === null ? 'ΔACR vs FP32' : 'ΔACR vs FP32 (bars from the IRS floor)', d3.format('+.3~f')],
      [xAcc, 'Δ clean accuracy (pts)', d3.format('+.1~f')]])) {
      const [x0, x1] = x.range();
      g.append('g').attr('class', 'grid').selectAll('line').data(x.ticks(4)).join('line')
        .attr('x1', (v) => x(v)).attr('x2', (v) => x(v)).attr('y1', m.top).attr('y2', height - m.bottom);
      g.append('g').attr('transform', `translate(0,${height - m.bottom})`).call(d3.axisBottom(x).ticks(4).tickFormat((v) => fmtTick(Number(v))));
      const [lo, hi] = x.domain();
      if (lo <= 0 && hi >= 0) g.append('line').attr('class', 'zero-line').attr('x1', x(0)).attr('x2', x(0)).attr('y1', m.top - 4).attr('y2', height - m.bottom);
      g.append('text').attr('class', 'axis-title').attr('x', (x0 + x1) / 2).attr('y', height - 6).attr('text-anchor', 'middle').text(title);
    }
    if (floor !== null) {
      g.append('line').attr('class', 'floor-line').attr('stroke', COLORS.floor).attr('stroke-dasharray', '5 3').attr('stroke-width', 1.5)
        .attr('x1', xAcr(floor)).attr('x2', xAcr(floor)).attr('y1', m.top - 8).attr('y2', height - m.bottom);
      g.append('text').attr('class', 'axis-title').attr('x', xAcr(floor)).attr('y', m.top - 12).attr('text-anchor', 'middle')
        .text(`IRS floor ${signed(floor)}`);
    }
    const bar = (/** @type {string} */ cls, /** @type {string} */ color, /** @type {(r: SensitivityRow) => number} */ v,
      /** @type {import('d3').ScaleLinear<number, number>} */ x, /** @type {number} */ from) => g.append('g').selectAll('rect').data(rows).join('rect')
      .attr('class', `sens-bar ${cls}`).attr('fill', color).attr('data-layer', (r) => r.layer)
      .attr('x', (r) => Math.min(x(from), x(v(r)))).attr('width', (r) => Math.max(1, Math.abs(x(v(r)) - x(from))))
      .attr('y', (r) => y(r.name) ?? 0).attr('height', y.bandwidth());
    const ranks = d?.ranks ?? [];
    /** @param {SensitivityRow} r */
    const lines = (r) => [`${r.name} (${r.kind}) at ${r.bits} bits, ${SIDES[r.side]}; rank ${ranks[rows.indexOf(r)] ?? '—'}`,
      `ACR ${fmt.fixed(r.acr)} (IRS), ΔACR ${signed(r.deltaAcr)}${floor === null ? '' : `, ${signed(r.deltaAcr - floor)} below the IRS floor`}`,
      `clean accuracy ${fmt.percent(r.accuracy, 1)}, ${signed(100 * r.deltaAccuracy, 1)} pts`, `BOPs ${fmt.percent(r.bopsRatio)} of FP32`];
    this.tooltip.follow(bar('acr', COLORS.acr, (r) => r.deltaAcr, xAcr, base), lines);
    this.tooltip.follow(bar('acc', COLORS.acc, (r) => 100 * r.deltaAccuracy, xAcc, 0), lines);
  }
}

export class SensitivityView {
  /** @param {App} app @param {{layerNames: () => string[]}} bits the bits card (the layers' names) */
  constructor(app, bits) {
    this.app = app;
    this.bits = bits;
    this.panel = byId('sens-panel', HTMLElement);
    this.bitsSelect = byId('sens-bits', HTMLSelectElement);
    this.sideSelect = byId('sens-side', HTMLSelectElement);
    this.startButton = byId('sens-start', HTMLButtonElement);
    this.cancelButton = byId('sens-cancel', HTMLButtonElement);
    this.progressBox = byId('sens-progress', HTMLElement);
    this.bar = byId('sens-bar', HTMLProgressElement);
    this.progressText = byId('sens-progress-text', HTMLElement);
    this.reference = byId('sens-reference', HTMLElement);
    this.figure = byId('sens-figure', HTMLElement);
    this.legend = byId('sens-legend', HTMLElement);
    this.table = byId('sens-table', HTMLTableElement);
    this.chart = new SensitivityChart(byId('sens-chart', HTMLElement));
    /** @type {SensitivityPartial | null} */
    this.data = null;
    /** The settings the shown table ran with, and why it is stale beyond a settings change. */
    this.dataContext = '';
    /** @type {string | null} */
    this.staleWhy = null;
    /** @type {Record<string, string>} */
    this.values = {};
    /** @type {(() => void) | null} */
    this.cancel = null;
    this.legend.replaceChildren(
      el('li', {}, [el('span', { class: 'swatch block', style: `--c: ${COLORS.acr}` }), 'ΔACR: ACR of the smoothed classifier (IRS) − FP32\'s (CERTIFY), drawn from the IRS floor']),
      el('li', {}, [el('span', { class: 'swatch dashed' }), 'IRS floor: the unquantized model through the same IRS']),
      el('li', {}, [el('span', { class: 'swatch block', style: `--c: ${COLORS.acc}` }), 'Δ clean accuracy of the base classifier (points)']),
    );
    this.startButton.addEventListener('click', () => this.measure());
    this.cancelButton.addEventListener('click', () => {
      this.cancelButton.disabled = true;
      this.progressText.textContent = 'Cancelling after the current step…';
      this.cancel?.();
    });
  }

  /** The settings changed (or were first applied). @param {Record<string, string>} values */
  setConfig(values) {
    this.values = values;
    this.render();
  }

  /** The weights changed: the table no longer describes them. @param {string} why */
  markStale(why) {
    if (this.data) this.staleWhy = why;
    this.render();
  }

  context() {
    return CONTEXT_KEYS.map((k) => `${k}=${this.values[k] ?? ''}`).join('&');
  }

  /** Why the shown table does not describe the current weights and settings, or null. */
  stale() {
    if (!this.data) return null;
    if (this.dataContext !== this.context()) return 'the settings changed since';
    return this.staleWhy;
  }

  /** Runs the engine's sensitivity job, showing rows as they finish. */
  async measure() {
    const bits = Number(this.bitsSelect.value);
    const side = /** @type {Side} */ (this.sideSelect.value);
    await this.app.run(`Measuring the layers' sensitivity at ${bits} bits`, async () => {
      this.progressBox.hidden = false;
      this.panel.dataset.state = 'running';
      this.progressText.textContent = 'Starting…';
      this.bar.removeAttribute('value');
      this.data = null;
      this.staleWhy = null;
      this.dataContext = this.context();
      this.render();
      const job = this.app.client.start('sensitivity', { bits, side }, {
        onPartial: (data) => {
          this.data = data;
          this.render();
        },
        onProgress: (p) => this.showProgress(p),
      });
      this.cancel = job.cancel;
      this.cancelButton.disabled = false;
      try {
        this.data = await job.promise;
        this.panel.dataset.state = 'done';
        const worst = this.data.rows[this.data.ranks.indexOf(1)];
        this.progressText.textContent = `Measured ${fmt.count(this.data.rows.length, 'layer')} at ${bits} bits (${SIDES[side]}).`
          + (worst ? ` The most sensitive: ${worst.name} (ΔACR ${signed(worst.deltaAcr)}).` : '');
        this.bar.max = 1;
        this.bar.value = 1;
        this.app.status.set(this.progressText.textContent, 'ok');
      } catch (e) {
        if (e instanceof JobAborted) {
          this.panel.dataset.state = 'aborted';
          const kept = /** @type {SensitivityPartial | null} */ (e.result);
          if (kept) this.data = kept;
          const n = this.data?.rows.length ?? 0;
          this.progressText.textContent = `Cancelled: ${n ? `the ${fmt.count(n, 'finished row')} stay` : 'no layer had finished'}.`;
        } else {
          this.panel.dataset.state = 'failed';
          this.progressText.textContent = `Failed: ${e instanceof Error ? e.message : String(e)}`;
          throw e;
        }
      } finally {
        this.cancel = null;
        this.cancelButton.disabled = true;
        this.render();
      }
    });
  }

  /** @param {import('./client.js').Progress} p */
  showProgress(p) {
    const d = this.data;
    const total = d?.total ?? 0;
    const doneRows = d?.rows.length ?? 0;
    const [layer, stage] = p.phase.includes(': ') ? p.phase.split(': ') : [null, p.phase];
    if (total > 0) {
      this.bar.max = total;
      this.bar.value = Math.min(total, doneRows + (layer && p.total > 0 ? p.done / p.total : 0));
    } else this.bar.removeAttribute('value');
    const where = layer ? `layer ${layer} (${doneRows + 1} of ${total}): ` : '';
    this.progressText.textContent = `${where}${PHASES[stage] ?? stage}${p.total > 0 ? ` ${fmt.int(p.done)} / ${fmt.int(p.total)}` : ''} ${fmt.eta(p.eta)}`;
  }

  render() {
    const d = this.data;
    const names = this.bits.layerNames();
    this.figure.hidden = !d;
    this.table.hidden = !d;
    if (!d) {
      this.reference.textContent = '';
      this.table.replaceChildren();
      this.chart.show(null, names);
      return;
    }
    this.chart.show(d, names.length === d.total ? names : d.rows.map((r) => r.name));
    const ref = d.reference;
    const stale = this.stale();
    this.panel.dataset.stale = String(stale !== null);
    this.reference.replaceChildren(
      ref ? `FP32 on the search split (${fmt.count(ref.points, 'digit')}): ACR ${fmt.fixed(ref.fp32Acr)} (CERTIFY, R_max ${fmt.fixed(ref.fp32RMax, 4)}), `
        + `clean accuracy ${fmt.percent(ref.fp32Accuracy, 1)}. The unquantized model through the rows' IRS scores ACR ${fmt.fixed(ref.irsFloorAcr)} `
        + `(the IRS floor, ${signed(ref.irsFloorAcr - ref.fp32Acr)}: IRS radii stop at R_max ${fmt.fixed(ref.irsRMax, 4)}), so a layer's own loss is its ΔACR below the floor.`
        : 'Certifying the FP32 reference…',
      stale ? el('span', { class: 'stale-badge', id: 'sens-stale', text: ` stale: ${stale}; measure again` }) : '',
    );
    const floor = ref ? ref.irsFloorAcr - ref.fp32Acr : null;
    const head = ['rank', 'layer', 'kind', 'bits', 'ACR (IRS)', 'ΔACR', 'ΔACR below IRS floor', 'clean acc.', 'Δ acc. (pts)', 'BOPs % of FP32', 'IRS points: incr. / fallback / skipped'];
    const body = d.rows.map((r, i) => el('tr', {
      'data-layer': r.layer, 'data-rank': d.ranks[i], 'data-delta-acr': r.deltaAcr, 'data-delta-accuracy': r.deltaAccuracy,
      'data-acr': r.acr, 'data-accuracy': r.accuracy, 'data-bops': r.bopsRatio, title: r.fragment,
    }, [
      el('td', { class: 'num', text: String(d.ranks[i]) }),
      el('th', { scope: 'row', text: `${r.layer} ${r.name}` }),
      el('td', { text: r.kind }),
      el('td', { class: 'num', text: `${r.bits} (${r.side})` }),
      el('td', { class: 'num', text: fmt.fixed(r.acr) }),
      el('td', { class: 'num', text: signed(r.deltaAcr) }),
      el('td', { class: 'num', text: floor === null ? '—' : signed(r.deltaAcr - floor) }),
      el('td', { class: 'num', text: fmt.fixed(r.accuracy) }),
      el('td', { class: 'num', text: signed(100 * r.deltaAccuracy, 1) }),
      el('td', { class: 'num', text: fmt.fixed(100 * r.bopsRatio) }),
      el('td', { class: 'num', text: r.irs ? `${r.irs.incremental} / ${r.irs.fallback} / ${r.irs.skipped}` : '—' }),
    ]));
    const pending = names.slice(d.rows.length).map((name, k) => el('tr', { class: 'pending', 'data-state': 'running', 'data-pending': d.rows.length + k }, [
      el('td', { class: 'num', text: '' }), el('th', { scope: 'row', text: `${d.rows.length + k} ${name}` }),
      el('td', { colspan: head.length - 2, text: d.current === name ? 'measuring…' : (this.panel.dataset.state === 'running' ? 'waiting' : 'not measured') }),
    ]));
    this.table.replaceChildren(
      el('caption', { text: `Each layer alone at ${d.bits} bits (${SIDES[d.side]}), every other layer FP32; rank 1 = the largest ACR drop` }),
      el('thead', {}, [el('tr', {}, head.map((h) => el('th', { scope: 'col', text: h })))]),
      el('tbody', {}, [...body, ...(d.total === names.length ? pending : [])]),
    );
  }
}
