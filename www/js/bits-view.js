// The "Bits per layer" card: the bit editor (bits-editor.js), presets and "Fit budget", a
// header with BOPs % of FP32 against the budget, model size, compression, and the accuracy /
// ACR change against FP32 from the last quick read-out (IRS against the FP32 cache), marked
// stale whenever the policy, the settings or the weights changed since; the focused layer's
// weight histogram with its quantization grid. The policy lives in the URL: every edit goes
// to the engine (setPolicy), and the engine's canonical fragment replaces the address while
// dragging and is pushed on release.
import { BitsEditor, bitsLabel } from './bits-editor.js';
import { WeightHistogram } from './bits-histogram.js';
import { JobAborted } from './client.js';
import { byId, el } from './dom.js';
import * as fmt from './format.js';

/**
 * @typedef {import('./main.js').App} App
 * @typedef {import('./quant-types.js').QuantLayer} QuantLayer
 * @typedef {import('./quant-types.js').PolicyInfo} PolicyInfo
 * @typedef {import('./quant-types.js').PolicyUpdate} PolicyUpdate
 * @typedef {import('./quant-types.js').QuantEval} QuantEval
 * @typedef {import('./quant-types.js').Bits} Bits
 * @typedef {import('./bits-editor.js').Draft} Draft
 */

/** Presets: the engine's name, the button, the words. */
export const PRESETS = [['fp32', 'bits-fp32', 'FP32'], ['w8a8', 'bits-w8a8', 'W8A8'], ['w4a4', 'bits-w4a4', 'W4A4'], ['w2a2', 'bits-w2a2', 'W2A2'],
  ['fl8', 'bits-fl8', 'first/last 8, rest 4']];
/** Settings that change a read-out's numbers besides the policy. */
const CONTEXT_KEYS = ['ds', 'model', 'sigma', 'seed', 'n0', 'n', 'alpha', 'points', 'stride', 'np', 'az', 'gamma', 'wgran', 'wclip', 'aclip', 'qft', 'qlr'];

/** The engine's phase names in words (read-out, search episodes, final table). */
const PHASES = /** @type {Record<string, string>} */ ({
  'fp32-certify': 'certifying FP32 (the reference and the IRS cache)', calibrate: 'calibrating the activation ranges',
  finetune: 'noise-aware fine-tuning', irs: 'IRS certification', certify: 'fresh certification', propose: 'choosing the next policy',
  'irs-pool': 'IRS certification (the other workers’ parts)', done: 'done',
});
/** @param {string} phase */
export const phaseLabel = (phase) => PHASES[phase] ?? phase;

/** A signed change: "+0.8 pts", "−0.031". @param {number} d @param {(x: number) => string} f */
const signed = (d, f) => `${d > 0 ? '+' : d < 0 ? '−' : '±'}${f(Math.abs(d))}`;

export class BitsView {
  /** @param {App} app */
  constructor(app) {
    this.app = app;
    this.card = byId('bits-card', HTMLElement);
    this.header = byId('bits-header', HTMLElement);
    this.editor = new BitsEditor(byId('bits-editor', HTMLElement), {
      onChange: (draft, how) => this.edit(draft, how),
      onFocus: (j) => this.showHistogram(j),
      onRefused: (why) => app.status.set(why, 'info'),
    });
    this.histogram = new WeightHistogram(byId('bits-histogram', HTMLElement), byId('bits-channel', HTMLSelectElement),
      byId('bits-histogram-caption', HTMLElement), byId('bits-histogram-fallback', HTMLElement));
    this.evalButton = byId('bits-eval', HTMLButtonElement);
    this.cancelButton = byId('bits-eval-cancel', HTMLButtonElement);
    this.progressBox = byId('bits-progress', HTMLElement);
    this.bar = byId('bits-bar', HTMLProgressElement);
    this.progressText = byId('bits-progress-text', HTMLElement);
    /** @type {QuantLayer[]} */
    this.layers = [];
    /** @type {PolicyInfo | null} */
    this.policy = null;
    /** @type {QuantEval | null} */
    this.last = null;
    /** The settings the last read-out ran with, and why it is stale beyond a policy change. */
    this.lastContext = '';
    /** @type {string | null} */
    this.staleWhy = null;
    /** @type {Record<string, string>} */
    this.values = {};
    /** The config the editor shows (skips a refetch after our own edits). */
    this.key = '';
    this.model = '';
    /** Edits are sent one at a time; the latest draft waits here. @type {{draft: Draft, how: 'preview'|'commit'} | null} */
    this.queued = null;
    this.sending = false;
    this.histSeq = 0;
    /** @type {(() => void) | null} */
    this.cancel = null;
    /** Listeners of a finished read-out (the noise view's quantized toggle). @type {((r: QuantEval) => void)[]} */
    this.readoutListeners = [];
    /** Listeners of a policy shown. @type {((p: PolicyInfo) => void)[]} */
    this.policyListeners = [];
    for (const [name, id, label] of PRESETS) byId(id, HTMLButtonElement).addEventListener('click', () => this.command('applyPreset', name, label));
    byId('bits-fit', HTMLButtonElement).addEventListener('click', () => this.command('enforceBudget', '', ''));
    this.evalButton.addEventListener('click', () => this.evaluate());
    this.cancelButton.addEventListener('click', () => {
      this.cancelButton.disabled = true;
      this.progressText.textContent = 'Cancelling after the current step…';
      this.cancel?.();
    });
  }

  /** The settings changed (or were first applied): refresh layers and policy from the engine. @param {Record<string, string>} values */
  async setConfig(values) {
    this.values = values;
    const key = JSON.stringify(values);
    if (key === this.key) return;
    this.key = key;
    const model = `${values.ds}/${values.model}`;
    try {
      if (model !== this.model || !this.layers.length) {
        const layers = await this.app.client.request('quantLayers', {});
        if (!layers) return; // an engine build without the quantization API: the card stays hidden
        this.layers = layers;
        this.model = model;
      }
      this.show(await this.app.client.request('policy', {}));
    } catch (e) {
      this.app.error(e);
    }
  }

  /** The weights changed: the read-out no longer describes them. @param {string} why */
  markStale(why) {
    if (this.last) this.staleWhy = why;
    this.renderHeader();
    if (this.policy) this.showHistogram(this.editor.focus);
  }

  /** Shows the engine's policy. @param {PolicyInfo} policy */
  show(policy) {
    const first = !this.policy;
    this.policy = policy;
    this.card.hidden = false;
    // A newer edit is on its way: keep showing it rather than jump back to this reply.
    if (!this.queued) this.editor.set(this.layers, { wb: policy.wb, ab: policy.ab, lk: policy.locks });
    this.renderHeader();
    for (const f of this.policyListeners) f(policy);
    if (first || !this.sending) this.showHistogram(this.editor.focus);
  }

  /** Loads a policy (e.g. a search episode's) into the editor, keeping the locks. @param {Bits[]} wb @param {Bits[]} ab */
  load(wb, ab) {
    this.edit({ wb, ab, lk: this.policy?.locks ?? wb.map(() => false) }, 'commit');
    this.card.scrollIntoView({ behavior: 'smooth', block: 'start' });
  }

  /** An edit in the editor: send it (coalescing while one is in flight). @param {Draft} draft @param {'preview'|'commit'} how */
  async edit(draft, how) {
    const strongest = this.queued?.how === 'commit' ? 'commit' : how;
    this.queued = { draft: { wb: [...draft.wb], ab: [...draft.ab], lk: [...draft.lk] }, how: strongest };
    if (this.sending) return;
    this.sending = true;
    this.card.dataset.sending = 'true';
    try {
      while (this.queued) {
        const { draft: d, how: h } = this.queued;
        this.queued = null;
        const r = await this.app.client.request('setPolicy', { wb: d.wb, ab: d.ab, lk: d.lk });
        this.applied(r, h);
      }
    } catch (e) {
      this.queued = null;
      this.app.error(e);
      if (this.policy) this.show(this.policy);
    } finally {
      this.sending = false;
      delete this.card.dataset.sending;
    }
  }

  /** A preset or "Fit budget". @param {'applyPreset'|'enforceBudget'} cmd @param {string} name @param {string} label */
  async command(cmd, name, label) {
    await this.app.run(cmd === 'applyPreset' ? `Applying the ${label} preset` : 'Fitting the budget', async () => {
      const r = cmd === 'applyPreset' ? await this.app.client.request('applyPreset', { name }) : await this.app.client.request('enforceBudget', {});
      this.applied(r, 'commit');
      const p = r.policy;
      this.app.status.set(`${cmd === 'applyPreset' ? `Preset ${label}` : 'Fitted to the budget'}: BOPs ${fmt.percent(p.cost.ratio)} of FP32 `
        + `(budget ${fmt.percent(p.budget)}${p.withinBudget ? '' : ', over it'}).`, p.withinBudget ? 'ok' : 'info');
    });
  }

  /** @param {PolicyUpdate} r @param {'preview'|'commit'} how */
  applied(r, how) {
    this.key = JSON.stringify(r.parsed.values);
    this.values = r.parsed.values;
    this.show(r.policy);
    this.app.policyApplied(r.parsed, how === 'commit' ? 'push' : 'preview');
    if (how === 'commit') this.showHistogram(this.editor.focus);
  }

  /** Why the read-out does not describe the current policy and settings, or null. */
  stale() {
    if (!this.last || !this.policy) return null;
    if (this.last.fragment !== this.policy.fragment) return 'the policy changed since';
    if (this.lastContext !== this.context()) return 'the settings changed since';
    return this.staleWhy;
  }

  context() {
    return CONTEXT_KEYS.map((k) => `${k}=${this.values[k] ?? ''}`).join('&');
  }

  renderHeader() {
    const p = this.policy;
    if (!p) return;
    const c = p.cost;
    const scale = Math.min(1, Math.max(p.budget * 2, c.ratio * 1.1));
    const fill = el('span', { class: 'meter-fill' });
    fill.style.width = `${Math.min(100, (c.ratio / scale) * 100)}%`;
    const mark = el('span', { class: 'meter-budget', title: `budget ${fmt.percent(p.budget)}` });
    mark.style.left = `${Math.min(100, (p.budget / scale) * 100)}%`;
    const stale = this.stale();
    const d = this.last;
    /** @type {HTMLElement[]} */
    const items = [
      this.stat('bops', 'BOPs', `${fmt.percent(c.ratio)}`, `of FP32 · budget ${fmt.percent(p.budget)}${p.withinBudget ? '' : ' · over budget'}`,
        el('span', { class: `meter${p.withinBudget ? '' : ' over'}`, 'aria-hidden': 'true' }, [fill, mark])),
      this.stat('size', 'size', fmt.bytes(c.sizeBytes), `FP32 ${fmt.bytes(c.fp32SizeBytes)}`),
      this.stat('compression', 'compression', `×${d3.format('.3~r')(c.compression)}`, 'smaller than FP32'),
      d ? this.stat('acc', 'clean accuracy', fmt.percent(d.pointsAccuracy, 1), `${signed((d.pointsAccuracy - (d.fp32PointsAccuracy ?? Number.NaN)) * 100, (x) => `${x.toFixed(1)} pts`)} vs FP32`)
        : this.stat('acc', 'clean accuracy', '—', 'Evaluate to read it out'),
      d ? this.stat('acr', 'ACR', fmt.fixed(d.summary.acr), `${signed(d.summary.acr - (d.fp32?.acr ?? Number.NaN), (x) => x.toFixed(3))} vs FP32 ${fmt.fixed(d.fp32?.acr ?? Number.NaN)}`)
        : this.stat('acr', 'ACR', '—', 'average certified radius'),
    ];
    if (stale) items.push(el('span', { class: 'stale-badge', id: 'bits-stale', text: `stale: ${stale}; evaluate again` }));
    this.header.replaceChildren(...items);
    this.header.dataset.state = !d ? 'none' : stale ? 'stale' : 'fresh';
    this.header.dataset.within = String(p.withinBudget);
    this.header.dataset.bops = String(c.ratio);
    this.header.dataset.budget = String(p.budget);
  }

  /** @param {string} key @param {string} label @param {string} value @param {string} note @param {HTMLElement} [extra] */
  stat(key, label, value, note, extra) {
    return el('div', { class: 'stat', 'data-stat': key }, [
      el('span', { class: 'stat-label', text: label }), el('strong', { class: 'stat-value', text: value }), extra ?? null,
      el('span', { class: 'stat-note', text: note }),
    ]);
  }

  /** @param {number} j */
  async showHistogram(j) {
    const layer = this.layers[j];
    if (!layer) return;
    const seq = ++this.histSeq;
    try {
      const h = await this.app.client.request('layerHistogram', { layer: j });
      if (seq === this.histSeq) this.histogram.show(h, layer.name);
    } catch (e) {
      if (seq === this.histSeq) this.app.error(e);
    }
  }

  /** The quick read-out of the current policy (the engine's quantEval job, run by the worker). */
  async evaluate() {
    await this.app.run('Quick IRS read-out of the policy', async () => {
      this.progressBox.hidden = false;
      this.progressBox.dataset.state = 'running';
      this.progressText.textContent = 'Starting…';
      this.bar.removeAttribute('value');
      const job = this.app.client.start('quantEval', {}, {
        onProgress: (p) => {
          if (p.total > 0) {
            this.bar.max = p.total;
            this.bar.value = p.done;
          } else this.bar.removeAttribute('value');
          this.progressText.textContent = `${phaseLabel(p.phase)}: ${p.total > 0 ? `${fmt.int(p.done)} / ${fmt.int(p.total)}` : '…'} ${fmt.eta(p.eta)}`;
        },
      });
      this.cancel = job.cancel;
      this.cancelButton.disabled = false;
      const context = this.context();
      try {
        const r = await job.promise;
        this.last = r;
        this.lastContext = context;
        this.staleWhy = null;
        this.progressBox.dataset.state = 'done';
        const irs = r.irs ? ` IRS: ${fmt.int(r.irs.samples)} samples (${fmt.int(r.irs.incremental)} points incremental, ${fmt.int(r.irs.fallback)} from scratch).` : '';
        const g = r.summary.irs;
        const holds = ` Each radius holds with probability ≥ ${g ? '1 − (α + α_ζ)' : '1 − α'} = ${fmt.real(1 - r.summary.alpha)}`
          + `${g ? ` (IRS, n_p = ${fmt.int(g.nP)})` : ''}; no radius can exceed R_max = ${fmt.fixed(r.summary.rMax)}.`;
        this.progressText.textContent = `Read out ${r.fragment.replace(/&/g, ' ')}: clean accuracy ${fmt.percent(r.pointsAccuracy, 1)}, ACR ${fmt.fixed(r.summary.acr)}.${irs}${holds}`;
        this.renderHeader();
        for (const f of this.readoutListeners) f(r);
        this.app.status.set(`Quick read-out: clean accuracy ${fmt.percent(r.pointsAccuracy, 1)} (FP32 ${fmt.percent(r.fp32PointsAccuracy ?? Number.NaN, 1)}), ACR ${fmt.fixed(r.summary.acr)} (FP32 ${fmt.fixed(r.fp32?.acr ?? Number.NaN)}).`, 'ok');
      } catch (e) {
        this.progressBox.dataset.state = 'aborted';
        if (e instanceof JobAborted) this.progressText.textContent = 'Cancelled: the previous read-out (if any) still stands.';
        else throw e;
      } finally {
        this.cancel = null;
        this.cancelButton.disabled = true;
      }
    });
  }

  /** The current policy in the URL's words, e.g. "wb=8,4,4,4,8 ab=…". */
  describe() {
    const p = this.policy;
    return p ? `W ${p.wb.map(bitsLabel).join(',')} · A ${p.ab.map(bitsLabel).join(',')}` : '';
  }
}
