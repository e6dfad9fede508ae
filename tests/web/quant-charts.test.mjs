// The bit editor, the weight histogram and the search charts as components, fed with the
// hand-made data of quant-fixtures.mjs on a test-only page (no engine): layout in cost
// proportion, keys and locks, the grid, streaming-free rendering, clicks, the final table's
// Markdown and its difference columns (a significant and a not significant interval). A screenshot goes to artifacts/. No timing assertions.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ARTIFACTS, launch } from './harness.mjs';
import { FINAL_ROWS, LAYERS, episodes, histogram } from './quant-fixtures.mjs';

/** @type {Awaited<ReturnType<typeof launch>>} */
let env;

before(async () => {
  env = await launch();
});

after(async () => {
  await env?.close();
});

const DATA = {
  layers: LAYERS,
  draft: { wb: [8, 4, 4, 32, 8], ab: [8, 4, 4, 4, 8], lk: [false, false, false, false, true] },
  hist: histogram(),
  runs: [
    { id: 1, kind: 'arq', label: 'ARQ #1', color: '#1f6fb2', episodes: episodes(30, 8, 1), planned: 40, warmup: 8, best: null, state: 'paused', values: {} },
    { id: 2, kind: 'random', label: 'random #2', color: '#7b5ea7', episodes: episodes(20, 20, 2), planned: 20, warmup: 20, best: null, state: 'done', values: {} },
  ],
  final: FINAL_ROWS,
  sig: {
    resamples: 2000, level: 0.95, points: 100, grid: [0, 0.25, 0.5, 0.75, 1],
    rows: FINAL_ROWS.map((r) => {
      /** @param {string} against @param {number} diff @param {number} low @param {number} high */
      const d = (against, diff, low, high) => ({
        against, acr: { diff, low, high, significant: low > 0 || high < 0 },
        certifiedAccuracy: [0, 0.25, 0.5, 0.75, 1].map(() => ({ diff: diff / 10, low: low / 10, high: high / 10, significant: low > 0 || high < 0 })),
      });
      const acr = Number(r.summary.acr);
      return {
        name: r.name,
        vsFp32: r.name === 'FP32' ? null : d('FP32', acr - 0.62, acr - 0.62 - 0.04, r.name === 'W4A4' ? 0.01 : acr - 0.62 + 0.03),
        vsArq: r.name === 'ARQ' ? null : d('ARQ', acr - 0.59, acr - 0.59 - 0.02, acr - 0.59 + 0.02),
      };
    }),
  },
};

const PAGE = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>fixture</title>
<link rel="stylesheet" href="/style.css"><script src="/vendor/d3.min.js"></script></head>
<body><main class="wrap"><div class="card">
<div id="bits-editor" class="bits-editor"></div>
<select id="chan"></select><div id="hist" class="chart-host"></div><p id="cap"></p><div id="hist-fb"></div>
<div id="reward" class="chart-host"></div><div id="pareto" class="chart-host" tabindex="0"></div>
<div id="heatmap" class="chart-host"></div><table id="final"></table><pre id="md"></pre>
<table id="final-sig"></table><pre id="md-sig"></pre>
</div></main>
<script id="data" type="application/json">${JSON.stringify(DATA)}</script>
<script type="module">
import { BitsEditor } from '/js/bits-editor.js';
import { WeightHistogram } from '/js/bits-histogram.js';
import { ParetoChart, RewardChart } from '/js/search-charts.js';
import { BitsHeatmap } from '/js/search-heatmap.js';
import { finalMarkdown, renderFinal } from '/js/final-view.js';
const data = JSON.parse(document.getElementById('data').textContent);
const log = { changes: [], refused: [], picks: [] };
const editor = new BitsEditor(document.getElementById('bits-editor'), {
  onChange: (d, how) => log.changes.push({ how, wb: [...d.wb], ab: [...d.ab], lk: [...d.lk] }),
  onFocus: () => {}, onRefused: (why) => log.refused.push(why),
});
editor.set(data.layers, data.draft);
const h = data.hist;
new WeightHistogram(document.getElementById('hist'), document.getElementById('chan'), document.getElementById('cap'), document.getElementById('hist-fb'))
  .show({ ...h, weights: new Float32Array(h.weights), thresholds: new Float32Array(h.thresholds) }, 'conv1');
data.runs[0].best = data.runs[0].episodes[12];
new RewardChart(document.getElementById('reward')).show(data.runs[0]);
new ParetoChart(document.getElementById('pareto'), (run, e) => log.picks.push([run.id, e.episode]))
  .set(data.runs, [{ label: 'FP32', bopsRatio: 1, acr: 0.62, accuracy: 0.985 }], 1 / 64, 'acr');
new BitsHeatmap(document.getElementById('heatmap')).show(data.runs[0], data.layers.map((l) => l.name));
renderFinal(document.getElementById('final'), data.final, ['ARQ (fine-tune)']);
document.getElementById('md').textContent = finalMarkdown(data.final);
renderFinal(document.getElementById('final-sig'), data.final, [], data.sig);
document.getElementById('md-sig').textContent = finalMarkdown(data.final, data.sig);
window.fixture = log;
requestAnimationFrame(() => requestAnimationFrame(() => document.body.dataset.ready = '1'));
</script></body></html>`;

async function openFixture() {
  const context = await env.browser.newContext({ viewport: { width: 1100, height: 900 } });
  await context.route('**/fixture/quant.html', (route) => route.fulfill({ contentType: 'text/html', body: PAGE }));
  const page = await context.newPage();
  /** @type {string[]} */
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${env.baseUrl}/fixture/quant.html`);
  await page.waitForSelector('body[data-ready="1"]');
  return { page, errors };
}

test('bit editor components: cost-proportional columns, keys, locks; charts render the fixture', async () => {
  const { page, errors } = await openFixture();
  const cols = await page.$$eval('.bit-col', (c) => c.map((x) => ({ w: x.getBoundingClientRect().width, share: Number(x.getAttribute('data-share')), floor: x.classList.contains('floor') })));
  assert.equal(cols.length, 5);
  const scaled = cols.filter((c) => !c.floor);
  assert.ok(scaled.length >= 3, 'the three big layers are to scale');
  for (const c of scaled) {
    const ratio = (c.w / scaled[0].w) / (c.share / scaled[0].share);
    assert.ok(Math.abs(ratio - 1) < 0.03, `width in proportion to cost share (ratio ${ratio})`);
  }
  assert.deepEqual(await page.$$eval('.bit-col', (c) => c.map((x) => x.getAttribute('data-wb'))), ['8', '4', '4', 'f', '8']);
  await page.focus('.bit-col[data-layer="1"]');
  await page.keyboard.press('ArrowUp');
  await page.keyboard.press('Shift+ArrowDown');
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('ArrowUp');
  const log = await page.evaluate(() => /** @type {any} */ (window).fixture);
  assert.deepEqual(log.changes.at(-1).wb, [8, 5, 5, 32, 8]);
  assert.deepEqual(log.changes.at(-1).ab, [8, 3, 4, 4, 8]);
  assert.ok(log.changes.some((/** @type {any} */ c) => c.how === 'preview') && log.changes.some((/** @type {any} */ c) => c.how === 'commit'));
  await page.focus('.bit-col[data-layer="4"]');
  await page.keyboard.press('ArrowDown');
  assert.equal(await page.getAttribute('.bit-col[data-layer="4"]', 'data-wb'), '8', 'a locked layer keeps its bits');
  assert.match((await page.evaluate(() => /** @type {any} */ (window).fixture.refused.at(-1))) ?? '', /locked/);
  assert.equal(await page.getAttribute('#hist', 'data-points'), '7');
  assert.ok(await page.$$eval('#hist rect.bin.clipped', (r) => r.filter((x) => Number(x.getAttribute('height')) > 0).length) > 0, 'clipped weights are shown');
  assert.equal(await page.$$eval('#reward path.series', (p) => p.length), 3);
  assert.equal(await page.$$eval('#reward circle.ep-dot', (c) => c.length), 30);
  assert.equal(await page.$$eval('#pareto circle.pt', (c) => c.length), 50);
  assert.equal(await page.$$eval('#heatmap g.hm-cell', (c) => c.length), 300);
  await page.dispatchEvent('#pareto circle.pt[data-run="1"][data-episode="5"]', 'click');
  assert.deepEqual(await page.evaluate(() => /** @type {any} */ (window).fixture.picks.at(-1)), [1, 5]);
  assert.equal(await page.$$eval('#final tbody tr', (r) => r.length), 6);
  assert.match(await page.textContent('#md') ?? '', /^\| policy \| clean acc\. \(held out\) \|.*\n\| --- \|/);
  // the difference columns: "…" until the intervals are there, then difference [interval]
  // with " *" (excludes 0) or " n.s." (contains 0) in text, and the interval in the title
  assert.equal(await page.getAttribute('#final', 'data-sig'), 'pending');
  assert.equal(await page.getAttribute('#final-sig', 'data-sig'), 'done');
  /** @param {string} table @param {string} row */
  const diffCells = (table, row) => page.$$eval(`${table} tbody tr[data-row="${row}"] td`, (td, t) => {
    // td k is column k + 1: the two columns after ACR are td[col] and td[col + 1]
    const col = [...document.querySelectorAll(`${t} thead th`)].map((h) => h.textContent).indexOf('ACR');
    return td.slice(col, col + 2).map((x) => ({ text: x.textContent, title: x.getAttribute('title') ?? '' }));
  }, table);
  assert.deepEqual((await diffCells('#final', 'W4A4')).map((c) => c.text), ['…', '…']);
  const [w4Fp32, w4Arq] = await diffCells('#final-sig', 'W4A4');
  assert.equal(w4Fp32.text, '-0.070 [-0.110, +0.010] n.s.');
  assert.match(w4Fp32.title, /^ACR of W4A4 minus FP32: -0\.070; 95 % paired bootstrap interval \[-0\.110, \+0\.010\] \(2,000 resamples of the 100 points\): not significant/);
  assert.equal(w4Arq.text, '-0.040 [-0.060, -0.020] *');
  assert.match(w4Arq.title, /: significant \(excludes 0\)$/);
  const [fpSelf, fpArq] = await diffCells('#final-sig', 'FP32');
  assert.equal(fpSelf.text, '—');
  assert.equal(fpArq.text, '+0.030 [+0.010, +0.050] *');
  assert.equal((await diffCells('#final-sig', 'ARQ'))[1].text, '—');
  const certTitle = await page.getAttribute('#final-sig tbody tr[data-row="W4A4"] td:nth-child(4)', 'title') ?? '';
  assert.match(certTitle, /^Certified accuracy at r = 0\.25 of W4A4 minus FP32: -0\.7 percentage points;/);
  assert.match(await page.textContent('#final-sig tfoot') ?? '', /n\.s\. = it contains 0/);
  const md = (await page.textContent('#md-sig') ?? '').trim().split('\n');
  assert.equal(md.length, FINAL_ROWS.length + 4);
  assert.match(md[0], /\| ACR \| ΔACR vs FP32 \[95% CI\] \| vs ARQ \| BOPs % of FP32 \|/);
  assert.match(md.at(-1) ?? '', /^ΔACR: /);
  await page.screenshot({ path: join(ARTIFACTS, 'quant-components.png'), fullPage: true });
  assert.deepEqual(errors, []);
  await page.context().close();
});
