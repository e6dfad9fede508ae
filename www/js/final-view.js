// The final comparison of the Search card: FP32, the best uniform policy within the budget
// (chosen on the search split) and the best policy of each search run (random, HAQ-reward,
// ARQ), each fine-tuned and certified FRESH on the test split (never IRS), computed in the
// worker with progress and cancel (finished rows stay). Rows in the paper's order: clean
// accuracy, certified accuracy at each radius of the grid, ACR, the ACR difference with FP32
// and with ARQ and its paired bootstrap interval (the engine's finalStats, marked "n.s." when
// not significant, the interval also in the cell's title), BOPs % and size; copyable as
// Markdown.
import { copyText } from './cert-table.js';
import { JobAborted } from './client.js';
import { byId, el } from './dom.js';
import * as fmt from './format.js';

/**
 * @typedef {import('./main.js').App} App
 * @typedef {import('./quant-types.js').FinalRow} FinalRow
 * @typedef {import('./quant-types.js').TableSignificance} TableSignificance
 * @typedef {import('./quant-types.js').DiffInterval} DiffInterval
 * @typedef {import('../../pkg/arq.js').PairedDiff} PairedDiff
 */

/** Column heads of the two difference columns (as in `arq run`'s Markdown). */
export const DIFF_HEADS = ['ΔACR vs FP32 [95% CI]', 'vs ARQ'];

/** A signed difference, "+0.012" / "-0.012" (ASCII minus, as the CLI prints it). @param {number} x @param {number} [digits] */
const signed = (x, digits = 3) => `${x < 0 || Object.is(x, -0) ? '-' : '+'}${Math.abs(x).toFixed(digits)}`;

/**
 * A difference with its interval, as `arq run` prints it: "-0.012 [-0.030, -0.004] *", " n.s."
 * when the interval contains 0; "—" without a comparison, "…" while it is computed.
 * @param {DiffInterval | null | undefined} iv @param {boolean} ready
 */
export function diffText(iv, ready) {
  if (!ready) return '…';
  if (!iv) return '—';
  return `${signed(iv.diff)} [${signed(iv.low)}, ${signed(iv.high)}]${iv.significant ? ' *' : ' n.s.'}`;
}

/**
 * The cell's title: the comparison in words.
 * @param {string} what e.g. "ACR" @param {string} row @param {PairedDiff} d @param {DiffInterval} iv
 * @param {TableSignificance} sig @param {number} [scale] 100 for percentage points
 */
function diffTitle(what, row, d, iv, sig, scale = 1) {
  const unit = scale === 100 ? ' percentage points' : '';
  const v = (/** @type {number} */ x) => signed(scale * x, scale === 100 ? 1 : 3);
  return `${what} of ${row} minus ${d.against}: ${v(iv.diff)}${unit}; 95 % paired bootstrap interval [${v(iv.low)}, ${v(iv.high)}] `
    + `(${fmt.int(sig.resamples)} resamples of the ${fmt.int(sig.points)} points): ${iv.significant ? 'significant (excludes 0)' : 'not significant (contains 0)'}`;
}

/** The footnote of the difference columns. @param {TableSignificance} sig */
export function significanceNote(sig) {
  return `ΔACR: the row's ACR minus FP32's / ARQ's on the same ${fmt.int(sig.points)} reported points (each row certified on noise of its own); `
    + `[95% CI]: paired bootstrap over the points (${fmt.int(sig.resamples)} resamples, percentile interval); * = the interval excludes 0 (significant at 5 %), n.s. = it contains 0 (not significant).`;
}

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
 * A row's comparisons, if the significance is of this table.
 * @param {TableSignificance | null} sig @param {FinalRow} r
 */
const comparisons = (sig, r) => sig?.rows.find((s) => s.name === r.name) ?? null;

/**
 * @param {FinalRow[]} rows @param {string[]} pending names not finished yet
 * @param {TableSignificance | null} sig the rows' paired intervals (null: not computed yet)
 * @returns {{head: string[], body: string[][], grid: number[]}}
 */
function cells(rows, pending, sig) {
  const grid = rows.find((r) => r.summary.grid.length)?.summary.grid ?? [];
  const head = ['policy', 'clean acc. (held out)', ...grid.map((r) => `cert. acc. r = ${fmt.sigma(r)}`), 'ACR', ...DIFF_HEADS, 'BOPs % of FP32', 'size'];
  const body = ordered(rows).map((r) => {
    const c = comparisons(sig, r);
    return [r.name, fmt.percent(r.testAccuracy, 1),
      ...grid.map((_, i) => (Number.isFinite(r.summary.certifiedAccuracy[i]) ? fmt.percent(r.summary.certifiedAccuracy[i], 1) : '—')),
      fmt.fixed(r.summary.acr), diffText(c?.vsFp32?.acr, c !== null), diffText(c?.vsArq?.acr, c !== null),
      fmt.percent(r.bopsRatio), fmt.bytes(r.sizeBytes)];
  });
  for (const name of pending) body.push([`${name} (running…)`, ...head.slice(1).map(() => '')]);
  return { head, body, grid };
}

/**
 * The attributes of a data cell: difference cells carry their numbers (exact, for tests and
 * tools) and a title in words; certified-accuracy cells the intervals of their differences.
 * @param {FinalRow | undefined} r @param {number} j the column @param {number} gridLen
 * @param {TableSignificance | null} sig
 * @returns {Record<string, string>}
 */
function cellAttrs(r, j, gridLen, sig) {
  const c = r ? comparisons(sig, r) : null;
  if (!r || !c || !sig) return {};
  const acrCol = 2 + gridLen;
  if (j === acrCol + 1 || j === acrCol + 2) {
    const d = j === acrCol + 1 ? c.vsFp32 : c.vsArq;
    if (!d) return { 'data-vs': 'none' };
    const iv = d.acr;
    return {
      'data-vs': d.against, 'data-diff': String(iv.diff), 'data-low': String(iv.low), 'data-high': String(iv.high),
      'data-significant': String(iv.significant), title: diffTitle('ACR', r.name, d, iv, sig),
    };
  }
  if (j >= 2 && j < acrCol) {
    const i = j - 2;
    const parts = [c.vsFp32, c.vsArq].filter((d) => d !== null && d !== undefined)
      .map((d) => diffTitle(`Certified accuracy at r = ${fmt.sigma(sig.grid[i])}`, r.name, /** @type {PairedDiff} */ (d), /** @type {PairedDiff} */ (d).certifiedAccuracy[i], sig, 100));
    return parts.length ? { title: parts.join('\n') } : {};
  }
  return {};
}

/**
 * Renders the table; the best ACR among the quantized rows is marked.
 * @param {HTMLTableElement} table @param {FinalRow[]} rows @param {string[]} pending
 * @param {TableSignificance | null} [sig] the rows' paired intervals, once computed
 */
export function renderFinal(table, rows, pending, sig = null) {
  const { head, body, grid } = cells(rows, pending, sig);
  const quantized = rows.filter((r) => r.bopsRatio < 0.999);
  const bestAcr = Math.max(...quantized.map((r) => r.summary.acr));
  const sorted = ordered(rows);
  const gridLen = grid.length;
  table.dataset.sig = sig && rows.every((r) => comparisons(sig, r)) ? 'done' : 'pending';
  table.replaceChildren(
    el('caption', { text: 'Final comparison: each policy fine-tuned, then certified afresh on the test points (CERTIFY, not IRS, on noise streams of its own); clean accuracy on the test digits outside the search split' }),
    el('thead', {}, [el('tr', {}, head.map((h) => el('th', { scope: 'col', text: h })))]),
    el('tbody', {}, body.map((row, i) => {
      const r = sorted[i];
      return el('tr', { 'data-row': r ? r.name : row[0], 'data-state': r ? 'done' : 'pending', title: r?.fragment ?? '', class: r && r.summary.acr === bestAcr && quantized.includes(r) ? 'best' : '' },
        row.map((c, j) => (j === 0 ? el('th', { scope: 'row', text: c }) : el('td', { class: 'num', text: c || '…', ...cellAttrs(r, j, gridLen, sig) }))));
    })),
    ...(sig && rows.length ? [el('tfoot', {}, [el('tr', {}, [el('td', { colspan: String(head.length), class: 'note', text: significanceNote(sig) })])])] : []),
  );
}

/**
 * The table as Markdown, with the footnote of the difference columns once computed.
 * @param {FinalRow[]} rows @param {TableSignificance | null} [sig]
 */
export function finalMarkdown(rows, sig = null) {
  const { head, body } = cells(rows, [], sig);
  const line = (/** @type {string[]} */ r) => `| ${r.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
  const note = sig && rows.length ? `\n${significanceNote(sig)}\n` : '';
  return [line(head), `|${head.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`, ...body.map(line)].join('\n') + '\n' + note;
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
    /** @type {string[]} */
    this.pending = [];
    /** The paired intervals of `rows` (null until the engine computed them), and which rows they are of. */
    /** @type {TableSignificance | null} */
    this.sig = null;
    this.sigKey = '';
    /** @type {(() => void) | null} */
    this.cancel = null;
    /** The address the last table was computed under (its settings). */
    this.fragment = '';
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
    this.pending = pending.filter((n) => !rows.some((r) => r.name === n));
    // rows only ever join a table: its names say which rows the intervals are of
    const key = rows.map((r) => r.name).join('\n');
    if (key !== this.sigKey) {
      this.sigKey = key;
      this.sig = null;
      if (rows.length) void this.stats(rows, key);
    }
    this.render();
    this.table.hidden = false;
    this.copyButton.disabled = rows.length === 0;
    this.onRows(rows);
  }

  render() {
    renderFinal(this.table, this.rows, this.pending, this.sig);
  }

  /**
   * Asks the engine for the paired intervals of `rows` (computed in worker 0 from the merged
   * rows, so every worker count gives the same); shown unless the table changed meanwhile.
   * @param {FinalRow[]} rows @param {string} key
   */
  async stats(rows, key) {
    try {
      const sig = await this.app.client.request('finalStats', { rows });
      if (this.sigKey !== key) return;
      this.sig = sig;
      this.render();
    } catch (e) {
      if (this.sigKey !== key) return;
      this.app.status.set(`The intervals of the final table could not be computed: ${e instanceof Error ? e.message : String(e)}`, 'error');
    }
  }

  async run() {
    await this.app.run('Final comparison (fresh certification)', async () => {
      this.sigKey = '';
      this.fragment = location.hash;
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
          // the phase names the row in progress (and the uniform candidate being evaluated)
          const now = p.phase.startsWith('final: ') ? p.phase.slice('final: '.length) : pending.at(-1);
          this.text.textContent = `${fmt.int(this.rows.length)} of ${fmt.int(total)} rows${now ? ` · ${now}` : ''}${at}`;
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
    const how = await copyText(finalMarkdown(this.rows, this.sig), byId('final-copy-fallback', HTMLElement));
    this.app.status.set(how === 'clipboard' ? 'Copied the final table as Markdown.' : 'The clipboard is not available here: the Markdown is selected below, copy it with Ctrl+C / ⌘C.', how === 'clipboard' ? 'ok' : 'info');
  }
}
