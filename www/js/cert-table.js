// The Certify view's tables: the summary in Cohen et al.'s layout (rows = runs, columns =
// certified accuracy at r = 0, 0.25, ..., ACR, abstain rate; every number from the engine's
// summary), its Markdown and CSV forms with a clipboard copy (and a textarea to copy from when
// the clipboard is refused), and the visually hidden data tables behind the two charts.
import { curveSteps, isPartial, outcome } from './cert-charts.js';
import { dataTable, el } from './dom.js';
import * as fmt from './format.js';

/**
 * @typedef {import('./certify-view.js').CertRun} CertRun
 */

/** The radii of the table's columns (the engine's grid; all runs share it). @param {CertRun[]} runs */
const gridOf = (runs) => runs.find((r) => r.summary)?.summary?.grid ?? [0, 0.25, 0.5, 0.75, 1, 1.25, 1.5];

/** "FP32 n=1,000 σ=0.25", with "(partial: 37 of 100 points)" when unfinished. @param {CertRun} run */
export function rowName(run) {
  if (!isPartial(run)) return run.label;
  const why = run.state === 'running' ? 'partial' : run.state === 'failed' ? 'partial, failed' : 'partial, cancelled';
  return `${run.label} (${why}: ${run.records.length} of ${run.progress.examplesTotal} points)`;
}

/**
 * The table's cells: formatted for people, or plain numbers for CSV.
 * @param {CertRun[]} runs @param {boolean} raw
 * @returns {{head: string[], rows: string[][]}}
 */
function cells(runs, raw) {
  const grid = gridOf(runs);
  const head = ['run', ...grid.map((r) => `r = ${fmt.sigma(r)}`), 'ACR', 'abstain'];
  const rows = runs.map((run) => {
    const s = run.summary;
    if (!s) return [rowName(run), ...grid.map(() => ''), '', ''];
    const acc = grid.map((_, i) => (raw ? String(s.certifiedAccuracy[i]) : fmt.percent(s.certifiedAccuracy[i], 1)));
    return [rowName(run), ...acc, raw ? String(s.acr) : fmt.fixed(s.acr), raw ? String(s.abstainRate) : fmt.percent(s.abstainRate, 1)];
  });
  return { head, rows };
}

/** Renders the summary table. @param {HTMLTableElement} table @param {CertRun[]} runs */
export function renderSummary(table, runs) {
  const { head, rows } = cells(runs, false);
  const body = rows.map((row, i) => el('tr', { 'data-run': runs[i].id, 'data-state': runs[i].state, title: runs[i].fragment },
    row.map((c, j) => (j === 0
      ? el('th', { scope: 'row' }, [el('span', { class: 'swatch', style: `--c: ${runs[i].color}` }), c])
      : el('td', { class: 'num', text: c || '—' })))));
  table.replaceChildren(
    el('caption', { text: 'Certified accuracy at each radius, average certified radius (ACR) and abstain rate, per run (Cohen et al.\'s layout)' }),
    el('thead', {}, [el('tr', {}, head.map((h) => el('th', { scope: 'col', text: h })))]),
    el('tbody', {}, body),
  );
}

/** The summary as a Markdown table. @param {CertRun[]} runs */
export function markdown(runs) {
  const { head, rows } = cells(runs, false);
  const esc = (/** @type {string} */ c) => c.replace(/\|/g, '\\|');
  const line = (/** @type {string[]} */ r) => `| ${r.map(esc).join(' | ')} |`;
  return [line(head), `|${head.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`, ...rows.map(line)].join('\n') + '\n';
}

/** The summary as CSV (fractions, not percentages). @param {CertRun[]} runs */
export function csv(runs) {
  const { head, rows } = cells(runs, true);
  const quote = (/** @type {string} */ c) => (/[",\n]/.test(c) ? `"${c.replace(/"/g, '""')}"` : c);
  const header = head.map((h) => h.replace('r = ', 'r=')).map((h) => (h === 'abstain' ? 'abstain_rate' : h));
  return [header, ...rows].map((r) => r.map(quote).join(',')).join('\n') + '\n';
}

/**
 * Copies text to the clipboard; when that is refused (no permission, an insecure page), shows
 * it selected in `box`'s textarea to copy by hand.
 * @param {string} text @param {HTMLElement} box holds a <textarea>
 * @returns {Promise<'clipboard' | 'fallback'>}
 */
export async function copyText(text, box) {
  try {
    if (!navigator.clipboard) throw new Error('no clipboard');
    await navigator.clipboard.writeText(text);
    box.hidden = true;
    return 'clipboard';
  } catch {
    const area = box.querySelector('textarea');
    if (area) {
      area.value = text;
      box.hidden = false;
      area.focus();
      area.select();
      try {
        document.execCommand('copy');
      } catch {
        // Selected for the user to copy by hand.
      }
    }
    return 'fallback';
  }
}

/** The curve chart's data: each run's steps. @param {CertRun[]} runs */
export function curveTable(runs) {
  const rows = runs.flatMap((run) => curveSteps(run.records).map((s) => [rowName(run), fmt.fixed(s.r), fmt.percent(s.acc, 1)]));
  return dataTable('Certified accuracy vs radius: from each radius on, the accuracy holds until the next row of the same run',
    ['run', 'from radius', 'certified accuracy'], rows);
}

/** The per-example plot's data. @param {CertRun | null} run */
export function pointsTable(run) {
  const records = run?.records ?? [];
  const off = run?.testOffset ?? 0;
  return dataTable(`Per test digit${run ? ` (${rowName(run)})` : ''}: prediction, radius, pA_low and the top class's count`,
    ['test digit #', 'label', 'prediction', 'outcome', 'radius', 'pA_low', 'count'],
    records.map((r) => [fmt.int(r.index - off), r.label, r.prediction === null ? 'ABSTAIN' : r.prediction, outcome(r),
      fmt.fixed(r.radius), fmt.fixed(r.pLower, 5), `${fmt.int(r.count)} / ${fmt.int(r.n)}`]));
}
