// The final comparison of the Search card: FP32, uniform W4A4 and the best policy of each
// search run (random, HAQ-reward, ARQ), each fine-tuned and certified FRESH on the test split
// (never IRS), computed in the worker with progress and cancel (finished rows stay). Rows in
// the paper's order: clean accuracy, certified accuracy at each radius of the grid, ACR,
// BOPs % and size; copyable as Markdown.
import { copyText } from './cert-table.js';
import { JobAborted } from './client.js';
import { byId, el } from './dom.js';
import * as fmt from './format.js';

/**
 * @typedef {import('./main.js').App} App
 * @typedef {import('./quant-types.js').FinalRow} FinalRow
 */

/** Row order: baselines first, ARQ last. @param {string} name */
function rank(name) {
  const n = name.toLowerCase();
  const order = ['fp32', 'w4a4', 'uniform', 'random', 'haq', 'arq'];
  const i = order.findIndex((k) => n.includes(k));
  return i < 0 ? order.length : i;
}

/** @param {FinalRow[]} rows */
export const ordered = (rows) => [...rows].sort((a, b) => rank(a.name) - rank(b.name));

/**
 * @param {FinalRow[]} rows @param {string[]} pending names not finished yet
 * @returns {{head: string[], body: string[][]}}
 */
function cells(rows, pending) {
  const grid = rows.find((r) => r.summary.grid.length)?.summary.grid ?? [];
  const head = ['policy', 'clean acc. (held out)', ...grid.map((r) => `cert. acc. r = ${fmt.sigma(r)}`), 'ACR', 'BOPs % of FP32', 'size'];
  const body = ordered(rows).map((r) => [r.name, fmt.percent(r.testAccuracy, 1),
    ...grid.map((_, i) => (Number.isFinite(r.summary.certifiedAccuracy[i]) ? fmt.percent(r.summary.certifiedAccuracy[i], 1) : '—')),
    fmt.fixed(r.summary.acr), fmt.percent(r.bopsRatio), fmt.bytes(r.sizeBytes)]);
  for (const name of pending) body.push([`${name} (running…)`, ...head.slice(1).map(() => '')]);
  return { head, body };
}

/**
 * Renders the table; the best ACR among the quantized rows is marked.
 * @param {HTMLTableElement} table @param {FinalRow[]} rows @param {string[]} pending
 */
export function renderFinal(table, rows, pending) {
  const { head, body } = cells(rows, pending);
  const quantized = rows.filter((r) => r.bopsRatio < 0.999);
  const bestAcr = Math.max(...quantized.map((r) => r.summary.acr));
  const sorted = ordered(rows);
  table.replaceChildren(
    el('caption', { text: 'Final comparison: each policy fine-tuned, then certified afresh on the test points (CERTIFY, not IRS, on noise streams of its own); clean accuracy on the test digits outside the search split' }),
    el('thead', {}, [el('tr', {}, head.map((h) => el('th', { scope: 'col', text: h })))]),
    el('tbody', {}, body.map((row, i) => {
      const r = sorted[i];
      return el('tr', { 'data-row': r ? r.name : row[0], 'data-state': r ? 'done' : 'pending', title: r?.fragment ?? '', class: r && r.summary.acr === bestAcr && quantized.includes(r) ? 'best' : '' },
        row.map((c, j) => (j === 0 ? el('th', { scope: 'row', text: c }) : el('td', { class: 'num', text: c || '…' }))));
    })),
  );
}

/** The table as Markdown. @param {FinalRow[]} rows */
export function finalMarkdown(rows) {
  const { head, body } = cells(rows, []);
  const line = (/** @type {string[]} */ r) => `| ${r.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(head), `|${head.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`, ...body.map(line)].join('\n') + '\n';
}

export class FinalView {
  /** @param {App} app @param {(rows: FinalRow[]) => void} onRows */
  constructor(app, onRows) {
    this.app = app;
    this.onRows = onRows;
    this.table = byId('final-table', HTMLTableElement);
    this.box = byId('final-progress', HTMLElement);
    this.text = byId('final-progress-text', HTMLElement);
    this.cancelButton = byId('final-cancel', HTMLButtonElement);
    this.copyButton = byId('final-copy', HTMLButtonElement);
    /** @type {FinalRow[]} */
    this.rows = [];
    /** @type {(() => void) | null} */
    this.cancel = null;
    byId('final-start', HTMLButtonElement).addEventListener('click', () => this.run());
    this.cancelButton.addEventListener('click', () => {
      this.cancelButton.disabled = true;
      this.text.textContent = 'Cancelling after the current step…';
      this.cancel?.();
    });
    this.copyButton.addEventListener('click', () => this.copy());
  }

  /** @param {FinalRow[]} rows @param {string[]} pending */
  show(rows, pending) {
    this.rows = rows;
    renderFinal(this.table, rows, pending.filter((n) => !rows.some((r) => r.name === n)));
    this.table.hidden = false;
    this.copyButton.disabled = rows.length === 0;
    this.onRows(rows);
  }

  async run() {
    await this.app.run('Final comparison (fresh certification)', async () => {
      this.box.hidden = false;
      this.box.dataset.state = 'running';
      this.text.textContent = 'Starting…';
      /** @type {string[]} */
      let pending = [];
      let total = 0;
      const job = this.app.client.start('final', {}, {
        onPartial: (d) => {
          pending = d.current ? [d.current] : [];
          total = d.total;
          this.show(d.rows, pending);
          this.text.textContent = `${fmt.int(d.rows.length)} of ${fmt.int(total)} rows${d.current ? ` · fine-tuning and certifying ${d.current}` : ''}`;
        },
        onProgress: (p) => {
          const at = p.total > 0 ? ` (${fmt.percent(p.done / p.total, 0)} of this row) ${fmt.eta(p.eta)}` : '';
          this.text.textContent = `${fmt.int(this.rows.length)} of ${fmt.int(total)} rows${pending.length ? ` · ${pending.at(-1)}` : ''}${at}`;
        },
      });
      this.cancel = job.cancel;
      this.cancelButton.disabled = false;
      try {
        const r = await job.promise;
        this.show(r.rows, []);
        this.text.textContent = `Final table: ${fmt.count(r.rows.length, 'row')}, each certified afresh on the test split.`;
        this.box.dataset.state = 'done';
      } catch (e) {
        if (!(e instanceof JobAborted)) throw e;
        const d = /** @type {import('./quant-types.js').FinalPartial | null} */ (e.result);
        if (d) this.show(d.rows, []);
        this.text.textContent = `Cancelled: ${fmt.count(this.rows.length, 'finished row')} kept.`;
        this.box.dataset.state = 'aborted';
      } finally {
        this.cancel = null;
        this.cancelButton.disabled = true;
      }
    });
  }

  async copy() {
    const how = await copyText(finalMarkdown(this.rows), byId('final-copy-fallback', HTMLElement));
    this.app.status.set(how === 'clipboard' ? 'Copied the final table as Markdown.' : 'The clipboard is not available here: the Markdown is selected below, copy it with Ctrl+C / ⌘C.', how === 'clipboard' ? 'ok' : 'info');
  }
}
