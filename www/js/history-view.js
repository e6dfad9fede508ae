// The History card: every finished certification, search and final table is kept in the
// browser (history.js) with its time, engine version, settings and link; the list opens,
// deletes or clears them, and two pinned runs are compared side by side (their
// certified-accuracy curves in one chart, their numbers in one table).
import { CurveChart } from './cert-charts.js';
import { byId, el } from './dom.js';
import * as fmt from './format.js';
import { HISTORY_FORMAT, HistoryError, HistoryStore } from './history.js';
import { shareLink, splitLink } from './share.js';
import { DEFAULT_FRAGMENT } from './protocol.js';

/**
 * @typedef {import('./main.js').App} App
 * @typedef {import('./history.js').HistoryRecord} HistoryRecord
 * @typedef {import('./certify-view.js').CertifyView} CertifyView
 * @typedef {import('./certify-view.js').CertRun} CertRun
 * @typedef {import('./search-view.js').SearchView} SearchView
 */

const PIN_COLORS = ['#1f6fb2', '#c2571a'];

/** `#v=2&...` of a location hash (the settings part). @param {string} hash */

/** The headline number of a record. @param {HistoryRecord} r */
function headline(r) {
  if (r.certify) return `ACR ${fmt.fixed(r.certify.summary.acr)} · ${fmt.percent(r.certify.summary.cleanAccuracy, 1)} at r = 0 · ${fmt.int(r.certify.summary.points)} points`;
  if (r.final) return r.final.rows.map((x) => `${x.name} ${fmt.fixed(x.summary.acr)}`).join(' · ');
  if (r.search) {
    const b = r.search.best;
    return b ? `best reward ${fmt.real(b.reward)} (episode ${b.episode + 1} of ${r.search.episodes}, BOPs ${fmt.percent(b.costRatio)})` : `${r.search.episodes} episodes`;
  }
  return '';
}

export class HistoryView {
  /**
   * @param {App} app
   * @param {{certify: CertifyView, search: SearchView, engine: () => string}} views
   */
  constructor(app, views) {
    this.app = app;
    this.views = views;
    this.card = byId('history-card', HTMLElement);
    this.notice = byId('history-notice', HTMLElement);
    this.table = byId('history-table', HTMLTableElement);
    this.compareBox = byId('history-compare', HTMLElement);
    this.compareTable = byId('history-compare-table', HTMLTableElement);
    this.clearButton = byId('history-clear', HTMLButtonElement);
    this.curve = new CurveChart(byId('history-curve', HTMLElement));
    /** @type {HistoryStore | null} */
    this.store = null;
    /** @type {HistoryRecord[]} */
    this.records = [];
    /** Pinned record ids, at most two, oldest pin first. @type {number[]} */
    this.pinned = [];
    this.clearButton.addEventListener('click', () => this.clear());
    this.hook();
    this.ready = this.open();
  }

  async open() {
    try {
      this.store = await HistoryStore.open();
      await this.refresh();
    } catch (e) {
      this.unavailable(e);
    }
  }

  /** @param {unknown} e */
  unavailable(e) {
    const message = e instanceof HistoryError ? e.message : `the history failed: ${e instanceof Error ? e.message : String(e)}`;
    this.notice.hidden = false;
    this.notice.textContent = `History is off: ${message}. Runs still work; they are just not kept after this page closes.`;
    this.card.dataset.state = 'unavailable';
  }

  /** Records finished runs as the views finish them (their own code unchanged). */
  hook() {
    const { certify, search } = this.views;
    const finish = certify.finish.bind(certify);
    certify.finish = (run, result, state) => {
      finish(run, result, state);
      if (state === 'done' && run.summary) {
        this.keep({ kind: 'certify', label: run.label, fragment: run.fragment, certify: { summary: run.summary, records: run.records } });
      }
    };
    const finished = search.finished.bind(search);
    search.finished = (run) => {
      finished(run);
      if (run.state === 'done') {
        this.keep({ kind: 'search', label: run.label, fragment: location.hash, search: { method: run.kind, episodes: run.episodes.length, best: run.best } });
      }
    };
    const final = search.final;
    const runFinal = final.run.bind(final);
    final.run = async () => {
      await runFinal();
      if (final.box.dataset.state !== 'done' || !final.rows.length) return;
      const rows = final.rows;
      /** @type {import('./quant-types.js').TableSignificance | null} */
      let significance = null;
      try {
        significance = await this.app.client.request('finalStats', { rows });
      } catch {
        // the table is kept without its intervals
      }
      this.keep({ kind: 'final', label: `Final table (${rows.length} rows)`, fragment: location.hash, final: { rows, significance } });
    };
  }

  /**
   * Stores a finished run. Its link carries the results of every job finished so far under
   * these settings (share.js: `#settings&eng=...&r=...`), so opening it from the list shows
   * them at once and can replay them; the settings link when the results cannot be encoded.
   * @param {Omit<HistoryRecord, 'format' | 'time' | 'engine' | 'link'>} part
   */
  async keep(part) {
    let link = location.hash || DEFAULT_FRAGMENT;
    try {
      link = await shareLink();
    } catch {
      // keep the settings link: the run's numbers are stored in the record anyway
    }
    /** @type {HistoryRecord} */
    const record = { format: HISTORY_FORMAT, time: new Date().toISOString(), engine: this.views.engine(), link, ...part, fragment: splitLink(part.fragment || DEFAULT_FRAGMENT).settings || DEFAULT_FRAGMENT };
    await this.ready;
    if (!this.store) return;
    try {
      await this.store.add(record);
      await this.refresh();
    } catch (e) {
      this.unavailable(e);
    }
  }

  async refresh() {
    if (!this.store) return;
    this.records = await this.store.list();
    this.pinned = this.pinned.filter((id) => this.records.some((r) => r.id === id));
    this.render();
  }

  /** @param {number} id */
  async remove(id) {
    if (!this.store) return;
    await this.store.delete(id);
    await this.refresh();
  }

  async clear() {
    if (!this.store || !this.records.length) return;
    if (!confirm(`Delete all ${this.records.length} kept runs from this browser?`)) return;
    await this.store.clear();
    this.pinned = [];
    await this.refresh();
  }

  /** @param {number} id @param {boolean} on */
  pin(id, on) {
    this.pinned = this.pinned.filter((x) => x !== id);
    if (on) this.pinned.push(id);
    if (this.pinned.length > 2) this.pinned.shift();
    this.render();
  }

  render() {
    this.card.dataset.count = String(this.records.length);
    this.clearButton.disabled = this.records.length === 0;
    const rows = [...this.records].reverse().map((r) => {
      const id = /** @type {number} */ (r.id);
      const pin = el('input', { type: 'checkbox', class: 'history-pin', 'aria-label': `Pin ${r.label} for comparison` });
      pin.checked = this.pinned.includes(id);
      pin.addEventListener('change', () => this.pin(id, pin.checked));
      const del = el('button', { type: 'button', class: 'history-delete', text: 'Delete', 'aria-label': `Delete ${r.label}` });
      del.addEventListener('click', () => this.remove(id));
      const open = el('a', { href: r.link, class: 'history-open', text: 'Open', title: `Open this run's link (${r.fragment})` });
      return el('tr', { 'data-id': id, 'data-kind': r.kind }, [
        el('td', {}, [pin]),
        el('td', { text: new Date(r.time).toLocaleString() }),
        el('td', { text: r.kind }),
        el('th', { scope: 'row', text: r.label }),
        el('td', { class: 'history-result', text: headline(r) }),
        el('td', { text: r.engine }),
        el('td', { class: 'history-actions' }, [open, ' ', del]),
      ]);
    });
    this.table.hidden = rows.length === 0;
    this.table.replaceChildren(
      el('caption', { text: 'Finished runs kept in this browser, newest first; pin two to compare them' }),
      el('thead', {}, [el('tr', {}, ['pin', 'time', 'kind', 'run', 'result', 'engine', ''].map((h) => el('th', { scope: 'col', text: h })))]),
      el('tbody', {}, rows),
    );
    this.renderCompare();
  }

  renderCompare() {
    const pins = this.pinned.map((id) => this.records.find((r) => r.id === id)).filter((r) => r !== undefined);
    this.compareBox.hidden = pins.length !== 2;
    if (pins.length !== 2) return;
    const [a, b] = /** @type {[HistoryRecord, HistoryRecord]} */ (pins);
    /** @type {CertRun[]} */
    const curves = pins.flatMap((r, i) => (r.certify ? [{
      id: i + 1, label: `${i === 0 ? 'A' : 'B'}: ${r.label}`, color: PIN_COLORS[i], fragment: r.fragment, state: /** @type {'done'} */ ('done'),
      records: r.certify.records, summary: r.certify.summary, testOffset: 0,
      progress: { examplesDone: r.certify.records.length, examplesTotal: r.certify.records.length, samplesDone: 0, samplesTotal: 0 },
    }] : []));
    byId('history-curve-figure', HTMLElement).hidden = curves.length === 0;
    this.curve.setRuns(curves);

    /** @type {string[][]} */
    const lines = [
      ['run', a.label, b.label],
      ['kind', a.kind, b.kind],
      ['time', new Date(a.time).toLocaleString(), new Date(b.time).toLocaleString()],
      ['engine', a.engine, b.engine],
      ['settings', a.fragment, b.fragment],
    ];
    const cert = (/** @type {HistoryRecord} */ r) => r.certify?.summary;
    const grid = cert(a)?.grid ?? cert(b)?.grid ?? [];
    if (cert(a) || cert(b)) {
      grid.forEach((g, k) => lines.push([`certified acc. r = ${fmt.sigma(g)}`, ...[a, b].map((r) => {
        const s = cert(r);
        return s && s.grid[k] === g ? fmt.percent(s.certifiedAccuracy[k], 1) : '—';
      })]));
      lines.push(['ACR', ...[a, b].map((r) => (cert(r) ? fmt.fixed(/** @type {number} */ (cert(r)?.acr)) : '—'))]);
      lines.push(['abstain', ...[a, b].map((r) => (cert(r) ? fmt.percent(/** @type {number} */ (cert(r)?.abstainRate), 1) : '—'))]);
    }
    const names = [...new Set([a, b].flatMap((r) => r.final?.rows.map((x) => x.name) ?? []))];
    for (const n of names) {
      lines.push([`${n}: ACR / BOPs %`, ...[a, b].map((r) => {
        const row = r.final?.rows.find((x) => x.name === n);
        return row ? `${fmt.fixed(row.summary.acr)} / ${fmt.percent(row.bopsRatio)}` : '—';
      })]);
    }
    if (a.search || b.search) {
      const best = (/** @type {HistoryRecord} */ r) => r.search?.best ?? null;
      lines.push(['search best reward', ...[a, b].map((r) => (best(r) ? fmt.real(/** @type {number} */ (best(r)?.reward)) : '—'))]);
      lines.push(['search best bits', ...[a, b].map((r) => {
        const e = best(r);
        return e ? `W ${e.wbits.map((x) => (x >= 32 ? 'f' : x)).join(',')} A ${e.abits.map((x) => (x >= 32 ? 'f' : x)).join(',')}` : '—';
      })]);
    }
    const [head, ...body] = lines;
    this.compareTable.replaceChildren(
      el('caption', { text: 'The two pinned runs side by side' }),
      el('thead', {}, [el('tr', {}, [el('th', { scope: 'col', text: '' }), ...head.slice(1).map((h, i) => el('th', { scope: 'col', text: `${i === 0 ? 'A' : 'B'}: ${h}` }))])]),
      el('tbody', {}, body.map(([k, ...xs]) => el('tr', {}, [el('th', { scope: 'row', text: k }), ...xs.map((x) => el('td', { text: x }))]))),
    );
  }
}
