// The evaluation card: clean test accuracy and the 10x10 confusion matrix (d3 heatmap with
// numbers and tooltips, plus a data table for screen readers).
import { confusionHeatmap } from './charts.js';
import { byId, dataTable } from './dom.js';
import * as fmt from './format.js';

/**
 * @typedef {import('./main.js').App} App
 * @typedef {import('./types.js').EvalResult} EvalResult
 */

const CLASSES = 10;

export class EvalView {
  /** @param {App} app */
  constructor(app) {
    this.app = app;
    this.button = byId('eval-start', HTMLButtonElement);
    this.result = byId('eval-result', HTMLElement);
    this.accuracy = byId('eval-accuracy', HTMLElement);
    this.figure = byId('eval-figure', HTMLElement);
    this.chart = byId('confusion-chart', HTMLElement);
    this.fallback = byId('confusion-fallback', HTMLElement);
    this.button.addEventListener('click', () => this.start());
  }

  async start() {
    await this.app.run('Evaluating on the test split', async () => {
      const r = await this.app.client.request('evaluate', {});
      this.show(r);
      this.app.status.set(`Clean test accuracy ${fmt.percent(r.accuracy)} on ${fmt.int(r.n)} test digits.`, 'ok');
    });
  }

  /** @param {EvalResult} r */
  show(r) {
    const confusion = /** @type {number[]} */ (Array.from(/** @type {ArrayLike<number | number[]>} */ (r.confusion)).flat());
    this.result.hidden = false;
    this.result.dataset.state = 'fresh';
    this.accuracy.textContent = fmt.percent(r.accuracy);
    this.accuracy.dataset.value = String(r.accuracy);
    byId('eval-n', HTMLElement).textContent = fmt.int(r.n);
    this.figure.hidden = false;
    this.chart.replaceChildren();
    confusionHeatmap(this.chart, confusion, CLASSES);
    const rows = [];
    for (let t = 0; t < CLASSES; t++) {
      rows.push([`true ${t}`, ...confusion.slice(t * CLASSES, (t + 1) * CLASSES).map((n) => fmt.int(n))]);
    }
    this.fallback.replaceChildren(dataTable('Confusion matrix: rows are true labels, columns predicted labels',
      ['', ...Array.from({ length: CLASSES }, (_, p) => `predicted ${p}`)], rows));
  }

  /** The model changed: the numbers shown are now stale. @param {string} why */
  markStale(why) {
    if (this.result.hidden) return;
    this.result.dataset.state = 'stale';
    byId('eval-stale', HTMLElement).textContent = `stale: ${why}; evaluate again`;
  }
}
