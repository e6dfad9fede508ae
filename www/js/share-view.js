// The "Results in the link" card (issue 12). A link with results (`…&eng=…&r=…`, share.js)
// or an imported .arq.json bundle shows the sender's results at once, marked "as shared, not
// yet replayed"; "Replay and verify" re-runs the jobs they come from (certification, the
// searches in the order they ran, the final table) with the page's own views and compares
// the engine's digests: "replayed, bit-identical", or the first job and record that differ.
// Only a replay that gives the same digest and the same shown numbers verifies: a tampered
// payload can show, never verify. The card also puts the page's finished results in the link
// and writes and reads bundles.
import { byId, el } from './dom.js';
import * as fmt from './format.js';
import * as url from './url.js';
import { MAX_BUNDLE_BYTES, decodeResults, encodeResults, joinLink, register, splitLink } from './share.js';
import { DEFAULT_FRAGMENT } from './protocol.js';

/**
 * @typedef {import('./main.js').App} App
 * @typedef {import('./certify-view.js').CertifyView} CertifyView
 * @typedef {import('./search-view.js').SearchView} SearchView
 * @typedef {import('./share.js').SharedState} SharedState
 * @typedef {import('../../pkg/arq.js').Shared} Shared
 * @typedef {import('../../pkg/arq.js').ResultInput} ResultInput
 * @typedef {import('../../pkg/arq.js').SharedJob} SharedJob
 * @typedef {import('./quant-types.js').SearchRun} SearchRun
 * @typedef {'arq' | 'haq' | 'random'} Kind
 */

/** The engine's row labels of the searches' best policies in the final table. */
const ROW_LABEL = { arq: 'ARQ', haq: 'HAQ reward', random: 'random' };
/** Links longer than this are flagged (some chat tools and browsers cut long links). */
const LINK_SOFT_LIMIT = 4000;

const BADGE = {
  shared: 'as shared, not yet replayed',
  replaying: 'replaying…',
  identical: 'replayed, bit-identical',
  differs: 'replayed: differs',
  failed: 'replay stopped',
};

/**
 * The searches to replay in the order they ran: as their rows stand in the table (the table's
 * row order depends on it), else by method name (the engine's `Shared::replay_order`).
 * @param {Shared} shared @returns {Kind[]}
 */
export function replayOrder(shared) {
  const table = shared.jobs.find((j) => j.data.kind === 'table');
  const rows = table && table.data.kind === 'table' ? table.data.rows.map((r) => r.name) : [];
  const methods = /** @type {Kind[]} */ (shared.jobs.filter((j) => j.job.startsWith('search:')).map((j) => j.job.slice('search:'.length)));
  const pos = (/** @type {Kind} */ m) => {
    const i = rows.indexOf(ROW_LABEL[m]);
    return i < 0 ? Infinity : i;
  };
  return methods.map((m, i) => ({ m, i })).sort((a, b) => pos(a.m) - pos(b.m) || a.i - b.i).map((x) => x.m);
}

/** A small reward curve. @param {number[]} ys */
function sparkline(ys) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  const w = 160;
  const h = 32;
  svg.setAttribute('viewBox', `0 0 ${w} ${h}`);
  svg.setAttribute('class', 'share-spark');
  svg.setAttribute('role', 'img');
  const lo = Math.min(...ys);
  const hi = Math.max(...ys);
  svg.setAttribute('aria-label', `reward per episode, from ${fmt.real(ys[0] ?? 0)} to ${fmt.real(ys.at(-1) ?? 0)} (best ${fmt.real(hi)})`);
  const x = (/** @type {number} */ i) => (ys.length > 1 ? (i / (ys.length - 1)) * (w - 2) + 1 : w / 2);
  const y = (/** @type {number} */ v) => (hi > lo ? h - 2 - ((v - lo) / (hi - lo)) * (h - 4) : h / 2);
  const line = document.createElementNS(ns, 'polyline');
  line.setAttribute('points', ys.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' '));
  svg.append(line);
  return svg;
}

/** @param {string[]} head @param {(string | Node)[][]} body @param {string} caption */
function table(head, body, caption) {
  return el('table', { class: 'share-table' }, [
    el('caption', { text: caption }),
    el('thead', {}, [el('tr', {}, head.map((h) => el('th', { scope: 'col', text: h })))]),
    el('tbody', {}, body.map((r) => el('tr', {}, r.map((c, i) => (i === 0 ? el('th', { scope: 'row' }, [c]) : el('td', { class: 'num' }, [c])))))),
  ]);
}

/** The tables of a shared summary. @param {Shared} shared @returns {HTMLElement[]} */
export function renderShared(shared) {
  return shared.jobs.map((j) => {
    const d = j.data;
    if (d.kind === 'certify') {
      return el('div', { class: 'share-job', 'data-job': j.job, 'data-digest': j.digest }, [table(
        ['run', ...d.grid.map((r) => `r = ${fmt.sigma(r)}`), 'ACR', 'abstain', 'R_max'],
        [[`FP32, ${fmt.int(d.points)} points`, ...d.certifiedAccuracy.map((a) => fmt.percent(a, 1)), fmt.fixed(d.acr), fmt.percent(d.abstainRate, 1), fmt.fixed(d.rMax)]],
        'Certification (CERTIFY): certified accuracy at each radius'),
      ]);
    }
    if (d.kind === 'search') {
      const b = d.best;
      return el('div', { class: 'share-job', 'data-job': j.job, 'data-digest': j.digest }, [table(
        ['search', 'episodes', 'best episode', 'reward', 'BOPs % of FP32', 'ACR (search split)', 'accuracy', 'policy', 'reward curve'],
        [[j.job.slice('search:'.length), fmt.int(d.episodes), fmt.int(b.episode + 1), fmt.real(b.reward), fmt.percent(b.costRatio), fmt.fixed(b.acr), fmt.percent(b.accuracy, 1),
          `wb=${b.wbits.join(',')}&ab=${b.abits.join(',')}`, sparkline(d.rewards)]],
        `Search ${j.job.slice('search:'.length)}: its best policy${d.curveStep > 1 ? ` (curve: best of every ${d.curveStep} episodes)` : ''}`),
      ]);
    }
    return el('div', { class: 'share-job', 'data-job': j.job, 'data-digest': j.digest }, [table(
      ['policy', 'bits', 'clean acc.', ...d.grid.map((r) => `r = ${fmt.sigma(r)}`), 'ACR', 'BOPs % of FP32', 'size'],
      d.rows.map((r) => [r.name, r.policy || 'f32', fmt.percent(r.testAccuracy, 1), ...r.certifiedAccuracy.map((a) => fmt.percent(a, 1)), fmt.fixed(r.acr), fmt.percent(r.bopsRatio), fmt.bytes(r.sizeBytes)]),
      'Final table: each policy certified afresh on the test points'),
    ]);
  });
}

export class ShareView {
  /**
   * @param {App} app
   * @param {{certify: CertifyView, search: SearchView, notify: (title: string, lines: string[], kind: 'warning' | 'error') => void,
   *   engineVersion: () => string, experiment: (fragment: string) => string,
   *   present: (fragment: string) => string}} deps `experiment` drops a fragment's presentation
   *   keys (view, lesson, ...: no number depends on them), `present` puts the page's current
   *   ones on a settings fragment
   */
  constructor(app, deps) {
    this.app = app;
    this.deps = deps;
    this.card = byId('share-card', HTMLElement);
    this.badge = byId('share-badge', HTMLElement);
    this.meta = byId('share-meta', HTMLElement);
    this.tables = byId('share-tables', HTMLElement);
    this.box = byId('share-shared', HTMLElement);
    this.text = byId('share-status', HTMLElement);
    this.verdictLine = byId('share-verdict', HTMLElement);
    this.replayButton = byId('share-replay', HTMLButtonElement);
    /** The raw results keys of the opened link, kept in the address while its settings stand. */
    /** @type {{settings: string, engine: string, r: string} | null} */
    this.pending = null;
    /** @type {SharedState | null} */
    this.current = null;
    this.replayButton.addEventListener('click', () => this.replay());
    byId('share-link', HTMLButtonElement).addEventListener('click', () => this.putInLink());
    byId('share-download', HTMLButtonElement).addEventListener('click', () => this.download());
    const file = byId('share-file', HTMLInputElement);
    file.addEventListener('change', () => {
      const f = file.files?.[0];
      file.value = '';
      if (f) void this.importFile(f);
    });
    this.card.addEventListener('dragover', (e) => {
      if (e.dataTransfer?.types.includes('Files')) e.preventDefault();
    });
    this.card.addEventListener('drop', (e) => {
      const f = e.dataTransfer?.files[0];
      if (!f) return;
      e.preventDefault();
      void this.importFile(f);
    });
    register(() => this.link(), () => this.current);
  }

  /**
   * What an address computes: its settings without results keys or presentation keys.
   * @param {string} link @returns {string}
   */
  experimentOf(link) {
    return this.deps.experiment(splitLink(link).settings || DEFAULT_FRAGMENT);
  }

  /**
   * Notes the results keys of a fragment about to be applied (before the engine has read
   * them), so the canonical rewrite of the address keeps them.
   * @param {string} fragment
   */
  expect(fragment) {
    const p = splitLink(fragment);
    this.pending = p.results !== null ? { settings: p.settings, engine: p.engine ?? '', r: p.results } : null;
  }

  /**
   * The address for a canonical settings fragment: with the shown results' keys while the
   * settings are theirs.
   * @param {string} fragment canonical, as the engine spells it
   */
  keep(fragment) {
    const f = fragment.replace(/^#/, '');
    if (this.pending) {
      if (this.experimentOf(this.pending.settings) === this.experimentOf(fragment) || this.current === null) {
        return joinLink(f, this.pending.engine, this.pending.r);
      }
    }
    return fragment;
  }

  /**
   * Reads the results of the expected link (after its settings were applied): shows them, or
   * a notice naming the bad key while the settings stay loaded.
   */
  async open() {
    const p = this.pending;
    if (!p) return;
    try {
      const bytes = await decodeResults(p.r);
      const r = await this.app.client.request('resultsRead', { bytes, settings: p.settings, ...(p.engine ? { engine: p.engine } : {}) });
      this.show({ shared: r.shared, digest: r.digest, link: joinLink(r.shared.fragment, r.shared.engine, p.r), source: 'link', state: 'shared', verdict: null });
      this.pending = { settings: `#${r.shared.fragment}`, engine: r.shared.engine, r: p.r };
    } catch (e) {
      this.pending = null;
      this.current = null;
      const message = e instanceof Error ? e.message : String(e);
      this.deps.notify('The results in this link could not be read; its settings were loaded:', [message], 'warning');
      this.text.textContent = `The link's results were refused: ${message}`;
      this.card.dataset.state = 'refused';
      // the address keeps the settings only
      const settings = splitLink(location.hash).settings;
      url.replace(settings);
      this.render();
    }
  }

  /** @param {SharedState} state */
  show(state) {
    this.current = state;
    this.verdictLine.textContent = '';
    this.render();
  }

  render() {
    const s = this.current;
    this.box.hidden = s === null;
    this.replayButton.hidden = s === null;
    if (!s) return;
    this.card.dataset.state = s.state;
    this.badge.dataset.state = s.state;
    this.badge.textContent = s.state === 'differs' && s.verdict ? `${BADGE.differs}: ${s.verdict.message.replace(/^replayed, differs: /, '')}` : BADGE[s.state];
    const here = this.deps.engineVersion();
    const eng = s.shared.engine === here ? `engine ${s.shared.engine}` : `engine ${s.shared.engine} (this page runs ${here}: a replay may differ)`;
    const ck = s.shared.checkpoint ? `checkpoint ${s.shared.checkpoint.slice(0, 12)}…` : 'weights trained in the session';
    this.meta.replaceChildren(`${s.source === 'bundle' ? 'From a bundle' : 'From the link'} · `, el('code', { text: `#${s.shared.fragment}` }),
      ` · ${eng} · ${ck} · digest `, el('code', { class: 'share-digest', text: s.digest, title: 'SHA-256 of the canonical result records' }));
    this.meta.dataset.engine = s.shared.engine === here ? 'same' : 'other';
    this.tables.replaceChildren(...renderShared(s.shared));
    if (s.verdict) this.verdictLine.textContent = `${s.verdict.message} · shared ${s.verdict.sharedDigest.slice(0, 16)} · replayed ${s.verdict.replayDigest.slice(0, 16)}`;
  }

  /**
   * The page's finished results under the current settings: the last finished certification,
   * the last finished search of each method, the finished final table (and only the searches
   * whose rows it holds).
   * @returns {Promise<{input: ResultInput, fragment: string, checkpoint: string | null} | null>}
   */
  async collect() {
    const { certify, search } = this.deps;
    const here = this.experimentOf(location.hash);
    const same = (/** @type {string} */ f) => this.experimentOf(f) === here;
    const cert = [...certify.runs].reverse().find((r) => r.state === 'done' && same(r.fragment));
    const values = JSON.stringify(search.values);
    /** @type {Map<Kind, SearchRun>} */
    const searches = new Map();
    for (const r of search.runs) if (r.state === 'done' && JSON.stringify(r.values) === values) searches.set(r.kind, r);
    const final = search.final;
    const table = final.box.dataset.state === 'done' && final.rows.length && same(final.fragment) ? final.rows : null;
    if (table) for (const k of [...searches.keys()]) if (!table.some((row) => row.name === ROW_LABEL[k])) searches.delete(k);
    if (!cert && !searches.size && !table) return null;
    const model = await this.app.client.request('modelInfo', {});
    return {
      input: {
        certify: cert ? cert.records : null,
        searches: [...searches.values()].sort((a, b) => a.id - b.id).map((r) => ({ method: r.kind, episodes: r.episodes })),
        table,
      },
      fragment: here.replace(/^#/, ''),
      checkpoint: model.checkpointHash,
    };
  }

  /** The current link with the page's finished results (the settings link when none). */
  async link() {
    const c = await this.collect();
    if (!c) return splitLink(location.hash).settings || DEFAULT_FRAGMENT;
    const enc = await this.app.client.request('resultsEncode', { input: c.input, fragment: c.fragment, ...(c.checkpoint ? { checkpoint: c.checkpoint } : {}) });
    return joinLink(enc.shared.fragment, enc.shared.engine, await encodeResults(enc.json));
  }

  async putInLink() {
    try {
      const c = await this.collect();
      if (!c) {
        this.text.textContent = 'No finished job with these settings yet: certify, search or compute the final table first.';
        return;
      }
      const enc = await this.app.client.request('resultsEncode', { input: c.input, fragment: c.fragment, ...(c.checkpoint ? { checkpoint: c.checkpoint } : {}) });
      const r = await encodeResults(enc.json);
      // the address's presentation keys (the view it opens on, a lesson) travel too
      const settings = splitLink(location.hash).settings || `#${enc.shared.fragment}`;
      const link = joinLink(settings, enc.shared.engine, r);
      this.pending = { settings, engine: enc.shared.engine, r };
      url.replace(link);
      const size = location.href.length;
      const jobs = enc.shared.jobs.map((j) => j.job).join(', ');
      this.text.dataset.size = String(size);
      this.text.dataset.digest = enc.digest;
      this.text.textContent = `The link now carries the results of ${jobs} (${fmt.int(size)} characters${size > LINK_SOFT_LIMIT ? ': long; some tools cut links over about 4,000 characters, the bundle has no limit' : ''}); digest ${enc.digest.slice(0, 16)}…`;
      try {
        await navigator.clipboard.writeText(location.href);
        this.app.status.set('Link with results copied.', 'ok');
      } catch {
        this.app.status.set('The link with results is in the address bar.', 'info');
      }
    } catch (e) {
      this.app.error(e);
    }
  }

  async download() {
    try {
      const c = await this.collect();
      if (!c) {
        this.text.textContent = 'No finished job with these settings yet: nothing to export.';
        return;
      }
      const text = await this.app.client.request('bundleWrite', { input: c.input, fragment: c.fragment, ...(c.checkpoint ? { checkpoint: c.checkpoint } : {}) });
      const digest = /** @type {{digest: string}} */ (JSON.parse(text)).digest;
      const a = el('a', { href: URL.createObjectURL(new Blob([text], { type: 'application/json' })), download: `arq-${digest.slice(0, 12)}.arq.json` });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(/** @type {HTMLAnchorElement} */ (a).href), 10_000);
      this.text.textContent = `Exported ${fmt.bytes(text.length)} (digest ${digest.slice(0, 16)}…).`;
    } catch (e) {
      this.app.error(e);
    }
  }

  /** @param {File} file */
  async importFile(file) {
    try {
      if (file.size > MAX_BUNDLE_BYTES) {
        throw new Error(`bundle=${file.name} (${fmt.bytes(file.size)}): too large; allowed: at most ${fmt.bytes(MAX_BUNDLE_BYTES)}`);
      }
      const r = await this.app.client.request('bundleRead', { text: await file.text() });
      const code = await encodeResults(r.json);
      const link = joinLink(r.shared.fragment, r.shared.engine, code);
      this.expect(link);
      this.current = null;
      await this.app.loadFragment(this.deps.present(`#${r.shared.fragment}`));
      this.show({ shared: r.shared, digest: r.digest, link, source: 'bundle', state: 'shared', verdict: null });
      url.replace(link);
      this.text.textContent = `Opened ${file.name}: the results below are as exported, not yet replayed.`;
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      this.deps.notify(`${file.name} could not be opened:`, [message], 'error');
      this.text.textContent = `${file.name} was refused: ${message}`;
    }
  }

  /** Re-runs the shared jobs with the page's views and compares digests. */
  async replay() {
    const s = this.current;
    if (!s) return;
    const { certify, search } = this.deps;
    s.state = 'replaying';
    s.verdict = null;
    this.render();
    const fail = (/** @type {string} */ why) => {
      s.state = 'failed';
      this.render();
      this.verdictLine.textContent = `${why}; what finished is kept, and the shared results stay unverified.`;
    };
    try {
      if (this.experimentOf(location.hash) !== this.experimentOf(`#${s.shared.fragment}`)) await this.app.loadFragment(this.deps.present(`#${s.shared.fragment}`));
      const jobs = s.shared.jobs.map((j) => j.job);
      /** @type {ResultInput['searches']} */
      const searches = [];
      /** @type {ResultInput} */
      const input = { certify: null, searches, table: null };
      if (jobs.includes('certify')) {
        await certify.start();
        const run = certify.runs.at(-1);
        if (!run || run.state !== 'done') return fail('The certification did not finish');
        input.certify = run.records;
      }
      for (const m of replayOrder(s.shared)) {
        const run = await search.start(m, 0);
        if (run.state !== 'done') return fail(`The ${m} search did not finish`);
        searches.push({ method: m, episodes: run.episodes });
      }
      if (jobs.includes('table')) {
        await search.final.run();
        if (search.final.box.dataset.state !== 'done') return fail('The final table did not finish');
        input.table = search.final.rows;
      }
      const model = await this.app.client.request('modelInfo', {});
      const from = (/** @type {string | null} */ h) => (h ? `checkpoint ${h.slice(0, 12)}…` : 'weights trained in the session');
      const note = model.checkpointHash !== s.shared.checkpoint ? ` (the replay started from ${from(model.checkpointHash)}, the results from ${from(s.shared.checkpoint)})` : '';
      const enc = await this.app.client.request('resultsEncode', { input, fragment: s.shared.fragment, ...(model.checkpointHash ? { checkpoint: model.checkpointHash } : {}) });
      const v = await this.app.client.request('resultsVerify', { shared: s.shared, replay: enc.shared });
      s.verdict = v;
      s.state = v.identical ? 'identical' : 'differs';
      this.render();
      if (note) this.verdictLine.textContent += note;
      this.app.status.set(v.message, v.identical ? 'ok' : 'error');
    } catch (e) {
      fail(`The replay stopped: ${e instanceof Error ? e.message : String(e)}`);
      this.app.error(e);
    }
  }
}
