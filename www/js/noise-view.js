// The noise-sample view: one test digit under k Gaussian noise draws; one row per sigma (the
// listed ones plus the config's) with the same draws scaled per row (image = clean + sigma * z).
// Each tile shows the base classifier's label (green if it equals the true label, red
// otherwise); each row a vote bar from the engine's votes and the engine's certificate of the row:
// the top class's pA_low over the row's k draws and its radius or ABSTAIN.
import { byId, el } from './dom.js';
import { digitCanvas, drawFloat } from './draw.js';
import * as fmt from './format.js';

/**
 * @typedef {import('./main.js').App} App
 * @typedef {import('./types.js').NoiseResult} NoiseResult
 * @typedef {import('./types.js').RowCertificate} RowCertificate
 */

const CLASSES = 10;

/** The engine's votes per class for each row. @param {Uint32Array} votes @param {number} rows @returns {number[][]} */
const votesOf = (votes, rows) => Array.from({ length: rows }, (_, row) => Array.from(votes.subarray(row * CLASSES, (row + 1) * CLASSES)));

/** Parses "0.12, 0.25 0.5" into numbers. @param {string} text @returns {number[] | string} */
function parseSigmas(text) {
  const parts = text.split(/[\s,]+/).filter((s) => s !== '');
  if (!parts.length) return 'list at least one sigma';
  const values = parts.map(Number);
  const bad = parts.find((_, i) => !Number.isFinite(values[i]) || values[i] < 0 || values[i] > 2);
  if (bad !== undefined) return `"${bad}" is not a sigma in 0..2`;
  if (values.length > 8) return 'at most 8 rows';
  return values;
}

/**
 * The rows: the listed sigmas plus the config's, ascending, without repeats, at most 8.
 * @param {number[]} listed @param {number} config (NaN when unknown)
 */
function rowSigmas(listed, config) {
  const all = [...new Set([...listed, ...(Number.isFinite(config) ? [config] : [])])].sort((a, b) => a - b);
  if (all.length <= 8) return all;
  return [...listed.slice(0, 7), config].sort((a, b) => a - b);
}

export class NoiseView {
  /** @param {App} app */
  constructor(app) {
    this.app = app;
    this.index = byId('noise-index', HTMLInputElement);
    this.k = byId('noise-k', HTMLInputElement);
    this.sigmas = byId('noise-sigmas', HTMLInputElement);
    this.error = byId('noise-error', HTMLElement);
    this.figure = byId('noise-figure', HTMLElement);
    this.clean = byId('noise-clean', HTMLElement);
    this.rows = byId('noise-rows', HTMLElement);
    this.testSize = 0;
    this.seq = 0;
    /** The config's sigma and alpha (a row is always shown at the config's sigma). */
    this.configSigma = Number.NaN;
    this.alpha = '';
    this.rendered = false;
    /** The result shown, with what it shows. @type {{r: NoiseResult, index: number, sigmas: number[], k: number} | null} */
    this.last = null;
    /** Listeners of a result shown (the guided lessons). @type {(() => void)[]} */
    this.listeners = [];
    byId('noise-prev', HTMLButtonElement).addEventListener('click', () => this.step(-1));
    byId('noise-next', HTMLButtonElement).addEventListener('click', () => this.step(1));
    for (const input of [this.index, this.k, this.sigmas]) input.addEventListener('change', () => this.refresh());
    this.figure.addEventListener('keydown', (ev) => {
      if (ev.key === 'ArrowLeft' || ev.key === 'ArrowRight') {
        ev.preventDefault();
        this.step(ev.key === 'ArrowLeft' ? -1 : 1);
      }
    });
  }

  /** @param {number} testSize */
  setTestSize(testSize) {
    this.testSize = testSize;
    this.index.max = String(testSize - 1);
    if (Number(this.index.value) >= testSize) this.index.value = '0';
  }

  /**
   * The config changed: refresh when the config's sigma or alpha (which the rows use) did.
   * @param {Record<string, string>} values by URL key
   */
  setConfig(values) {
    const sigma = Number(values.sigma);
    const changed = sigma !== this.configSigma || values.alpha !== this.alpha;
    this.configSigma = sigma;
    this.alpha = values.alpha;
    if (changed && this.rendered) this.refresh();
  }

  /** @param {number} index */
  select(index) {
    this.index.value = String(index);
    this.refresh();
  }

  /** @param {number} delta */
  step(delta) {
    if (document.body.hasAttribute('data-busy') || this.testSize === 0) return;
    const i = Number.parseInt(this.index.value, 10);
    const current = Number.isInteger(i) ? i : 0;
    this.select((current + delta + this.testSize) % this.testSize);
  }

  async refresh() {
    const index = Number(this.index.value);
    const k = Number(this.k.value);
    const listed = parseSigmas(this.sigmas.value);
    const sigmas = typeof listed === 'string' ? listed : rowSigmas(listed, this.configSigma);
    const problem = !Number.isInteger(index) || index < 0 || index >= this.testSize ? `test digit # must be an integer in 0..${this.testSize - 1}`
      : !Number.isInteger(k) || k < 1 || k > 64 ? 'draws must be an integer in 1..64'
        : typeof sigmas === 'string' ? `σ rows: ${sigmas}` : '';
    this.error.textContent = problem;
    if (problem || typeof sigmas === 'string') return;
    const seq = ++this.seq;
    let r;
    try {
      r = await this.app.client.request('noise', { index, sigmas, k });
    } catch (e) {
      if (seq === this.seq) this.app.error(e);
      return;
    }
    if (seq === this.seq) {
      this.render(r, index, sigmas, k);
      this.last = { r, index, sigmas, k };
      for (const f of this.listeners) f();
    }
    this.rendered = true;
  }

  /** @param {NoiseResult} r @param {number} index @param {number[]} sigmas @param {number} k */
  render(r, index, sigmas, k) {
    const { rows, cols } = this.app.dataset;
    const pix = rows * cols;
    const clean = digitCanvas(rows, cols, `test digit ${index}, true label ${r.label}`);
    drawFloat(clean, r.clean, 0);
    this.clean.replaceChildren(el('div', { class: 'clean-tile' }, [clean]),
      el('p', {}, [`Test digit #${fmt.int(index)}, true label `, el('strong', { 'data-label': r.label, text: String(r.label) })]));
    const votes = votesOf(r.votes, sigmas.length);
    this.rows.replaceChildren(...sigmas.map((s, row) => {
      const tiles = [];
      for (let d = 0; d < k; d++) {
        const pred = r.preds[row * k + d];
        const ok = pred === r.label;
        const canvas = digitCanvas(rows, cols, `draw ${d + 1} at sigma ${fmt.sigma(s)}: predicted ${pred}${ok ? ' (correct)' : ' (wrong)'}`);
        drawFloat(canvas, r.images, (row * k + d) * pix);
        tiles.push(el('div', { class: `noise-tile ${ok ? 'ok' : 'bad'}` }, [canvas, el('span', { class: 'pred', 'aria-hidden': 'true', text: String(pred) })]));
      }
      const isConfig = s === this.configSigma;
      return el('div', { class: `noise-row${isConfig ? ' config' : ''}`, 'data-sigma': s }, [
        el('div', { class: 'row-head' }, [`σ = ${fmt.sigma(s)}`, isConfig ? el('span', { class: 'badge', text: 'config σ' }) : null]),
        el('div', { class: 'noise-tiles' }, tiles),
        this.voteBar(votes[row], k, r.label),
        this.certificate(r.certificates[row], r.alpha, r.label),
      ]);
    }));
  }

  /**
   * The row's pA_low and radius or ABSTAIN, from the engine (null: a row without noise).
   * @param {RowCertificate | null} c @param {number} alpha @param {number} label
   */
  certificate(c, alpha, label) {
    if (c === null) return el('p', { class: 'row-cert', 'data-state': 'none', text: 'σ = 0: no noise, no certificate.' });
    const head = `top class ${c.top} (${c.top === label ? 'correct' : 'wrong'}): ${c.count} of ${c.n} draws · pA_low ${fmt.fixed(c.pLower, 4)} at α = ${fmt.sigma(alpha)} · `;
    const verdict = c.radius === null ? el('strong', { class: 'abstain', text: 'ABSTAIN' }) : el('strong', { text: `radius ${fmt.fixed(c.radius)}` });
    return el('p', { class: 'row-cert', 'data-state': c.radius === null ? 'abstain' : 'certified', title: 'Clopper-Pearson bound over only these k draws, which also chose the class: an illustration; CERTIFY uses n0 + n separate draws (Certify card).' }, [head, verdict]);
  }

  /** @param {number[]} counts @param {number} k @param {number} label */
  voteBar(counts, k, label) {
    const order = counts.map((n, c) => ({ c, n })).filter((v) => v.n > 0).sort((a, b) => b.n - a.n || a.c - b.c);
    const bar = el('div', { class: 'vote-bar', 'aria-hidden': 'true' }, order.map((v) => {
      const seg = el('span', { class: `vote ${v.c === label ? 'ok' : 'bad'}`, title: `${v.c}: ${v.n} of ${k}`, text: String(v.c) });
      seg.style.flexGrow = String(v.n);
      return seg;
    }));
    const text = order.map((v) => `${v.c}: ${v.n}`).join(' · ');
    return el('div', { class: 'votes' }, [bar, el('span', { class: 'vote-text', text: `votes of ${k} draws: ${text}` })]);
  }
}
