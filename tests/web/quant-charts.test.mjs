// The bit editor, the weight histogram and the search charts as components, fed with the
// hand-made data of quant-fixtures.mjs on a test-only page (no engine): layout in cost
// proportion, keys and locks, the grid, streaming-free rendering, clicks, the final table's
// Markdown. A screenshot goes to artifacts/. No timing assertions.
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
};

const PAGE = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>fixture</title>
<link rel="stylesheet" href="/style.css"><script src="/vendor/d3.min.js"></script></head>
<body><main class="wrap"><div class="card">
<div id="bits-editor" class="bits-editor"></div>
<select id="chan"></select><div id="hist" class="chart-host"></div><p id="cap"></p><div id="hist-fb"></div>
<div id="reward" class="chart-host"></div><div id="pareto" class="chart-host" tabindex="0"></div>
<div id="heatmap" class="chart-host"></div><table id="final"></table><pre id="md"></pre>
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
  await page.screenshot({ path: join(ARTIFACTS, 'quant-components.png'), fullPage: true });
  assert.deepEqual(errors, []);
  await page.context().close();
});
