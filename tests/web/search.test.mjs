// The Search card in Debian's chromium with the real engine: a tiny ARQ search streams its
// episodes one by one into the reward chart, the Pareto scatter and the heatmap; clicking a
// Pareto point loads its policy into the bit editor (and the URL); step / pause / play; a
// cancel keeps the finished episodes; the final comparison table (the best uniform policy
// within the budget, the ACR differences with their paired intervals) and its Markdown; the
// worker's validation of the new commands. Screenshots under artifacts/. No timing assertions.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { LONG, launch, openPage, screenshot, waitIdle } from './harness.mjs';

/** Small enough for seconds (keys from the engine's schema()). */
const TINY = '#v=1&episodes=3&warmup=2&spoints=5&sft=1&n0=20&n=200&np=100&points=5&fft=2&calib=64';
/** Long enough to pause and cancel in the middle. */
const LONGER = '#v=1&episodes=40&warmup=2&spoints=5&sft=1&n0=20&n=200&np=100&calib=64';

/** @type {Awaited<ReturnType<typeof launch>>} */
let env;

before(async () => {
  env = await launch();
});

after(async () => {
  await env?.close();
});

/** @param {import('playwright-core').Page} page */
async function openSearch(page) {
  await page.waitForSelector('#search-card:not([hidden])', { timeout: LONG });
  await page.waitForSelector('#bits-editor .bit-col', { timeout: LONG });
  await waitIdle(page);
}

/** @param {import('playwright-core').Page} page */
const episodesShown = async (page) => Number(await page.getAttribute('#search-results', 'data-episodes'));

/** @param {import('playwright-core').Page} page @param {string} state */
const searchIs = (page, state) => page.waitForSelector(`#search-card[data-search="${state}"]`, { timeout: LONG });

test('a tiny ARQ search streams episodes into the charts; a Pareto point loads its policy; the final table', async () => {
  const { page, errors } = await openPage(env.browser, env.baseUrl, TINY);
  await page.context().grantPermissions(['clipboard-read', 'clipboard-write']);
  await openSearch(page);
  assert.match(await page.textContent('#search-cost') ?? '', /^3 episodes \(2 warm-up\)/);
  await page.evaluate(() => {
    const w = /** @type {any} */ (window);
    w.seen = [];
    const results = /** @type {HTMLElement} */ (document.querySelector('#search-results'));
    new MutationObserver(() => {
      const n = results.dataset.episodes;
      if (n && w.seen.at(-1) !== n) w.seen.push(n);
    }).observe(results, { attributes: true, attributeFilter: ['data-episodes'] });
  });
  await page.click('#search-arq');
  await page.waitForSelector('#search-progress[data-state="done"]', { timeout: LONG });
  await waitIdle(page);
  assert.deepEqual(await page.evaluate(() => /** @type {any} */ (window).seen), ['0', '1', '2', '3'], 'the charts start empty and each episode streams in on its own');
  assert.equal(await page.$$eval('#search-reward circle.ep-dot', (c) => c.length), 3);
  assert.equal(await page.$$eval('#search-reward circle.ep-dot.warmup', (c) => c.length), 2);
  assert.equal(await page.$$eval('#search-reward path.series', (p) => p.length), 3);
  assert.equal(await page.$$eval('#search-pareto circle.pt', (c) => c.length), 3);
  assert.equal(await page.$$eval('#search-pareto line.budget-line', (l) => l.length), 1);
  assert.equal(await page.$$eval('#search-heatmap g.hm-cell', (c) => c.length), 3 * 10);
  assert.equal(await page.$$eval('#search-pareto-fallback tbody tr', (r) => r.length), 3);
  assert.match(await page.textContent('#search-cost') ?? '', /: (about \d+ s|under 1 s) \(/, 'the cost is now measured');
  assert.match(await page.textContent('#search-legend') ?? '', /ARQ #1/);
  await page.selectOption('#search-metric', 'accuracy');
  await page.waitForFunction(() => /clean accuracy \(search split\)/.test(document.querySelector('#search-pareto svg')?.textContent ?? ''));
  assert.equal(await page.$$eval('#search-pareto circle.pt', (c) => c.length), 3);

  // Click a point: its policy goes into the bit editor and the URL.
  const point = '#search-pareto circle.pt[data-episode="1"]';
  const wb = await page.getAttribute(point, 'data-wb');
  const ab = await page.getAttribute(point, 'data-ab');
  await page.dispatchEvent(point, 'click');
  await page.waitForFunction((want) => decodeURIComponent(location.hash).includes(want), `wb=${wb}&ab=${ab}`, { timeout: LONG });
  await page.waitForFunction(() => !document.querySelector('#bits-card')?.hasAttribute('data-sending'));
  assert.deepEqual(await page.$$eval('#bits-editor .bit-col', (c) => c.map((x) => x.getAttribute('data-wb')).join(',')), wb);
  assert.deepEqual(await page.$$eval('#bits-editor .bit-col', (c) => c.map((x) => x.getAttribute('data-ab')).join(',')), ab);

  // The final comparison: fresh certification of FP32, the best uniform policy within the
  // budget (chosen on the search split first: its candidates show in the progress) and the
  // search's best, then the paired intervals of the ACR differences.
  await page.evaluate(() => {
    const w = /** @type {any} */ (window);
    w.finalTexts = [];
    const text = /** @type {HTMLElement} */ (document.querySelector('#final-progress-text'));
    new MutationObserver(() => w.finalTexts.push(text.textContent)).observe(text, { childList: true, characterData: true, subtree: true });
  });
  await page.click('#final-start');
  await page.waitForSelector('#final-progress[data-state="done"]', { timeout: LONG });
  await page.waitForSelector('#final-table[data-sig="done"]', { timeout: LONG });
  await waitIdle(page);
  const texts = /** @type {string[]} */ (await page.evaluate(() => /** @type {any} */ (window).finalTexts));
  assert.ok(texts.some((t) => /uniform \(best within budget\): evaluating W\dA\d \(\d+ of 19\) on the search split/.test(t)), `progress: ${texts.slice(0, 5)}`);
  const rows = await page.$$eval('#final-table tbody tr', (r) => r.map((x) => x.getAttribute('data-row')));
  assert.equal(rows.length, 3, `rows: ${rows}`);
  assert.equal(rows[0], 'FP32');
  assert.match(rows[1] ?? '', /^uniform W\dA\d \(best within budget\)$/);
  assert.equal(rows[2], 'ARQ');
  const head = await page.$$eval('#final-table thead th', (t) => t.map((x) => x.textContent));
  const acrCol = head.indexOf('ACR');
  assert.deepEqual(head.slice(acrCol + 1, acrCol + 3), ['ΔACR vs FP32 [95% CI]', 'vs ARQ']);
  const cells = await page.$$eval('#final-table tbody tr:first-child td', (t) => t.map((x) => x.textContent));
  assert.match(cells[0] ?? '', /^\d{1,3}\.\d%$/, 'clean accuracy');
  /** The two difference cells of a row (td index = column - 1): text, title and numbers. @param {number} i */
  const diffs = (i) => page.$$eval(`#final-table tbody tr:nth-child(${i + 1}) td`, (t, col) => t.slice(col, col + 2).map((x) => ({
    text: x.textContent ?? '', title: x.getAttribute('title') ?? '', vs: x.dataset.vs, low: Number(x.dataset.low), high: Number(x.dataset.high), significant: x.dataset.significant,
  })), acrCol);
  const cell = /^[+-]\d\.\d{3} \[[+-]\d\.\d{3}, [+-]\d\.\d{3}\]( \*| n\.s\.)$/;
  const [fp32Vs, fp32Arq] = await diffs(0);
  assert.equal(fp32Vs.text, '—', 'FP32 against itself');
  assert.match(fp32Arq.text, cell);
  const [uniVs, uniArq] = await diffs(1);
  for (const d of [fp32Arq, uniVs, uniArq]) {
    assert.match(d.text, cell);
    assert.ok(d.low <= d.high);
    // not significant is marked in text ("n.s.") and its title gives the interval in words
    assert.equal(d.text.endsWith(' n.s.'), d.significant === 'false');
    assert.equal(d.significant === 'true', d.low > 0 || d.high < 0);
    assert.match(d.title, /95 % paired bootstrap interval \[[+-]\d\.\d{3}, [+-]\d\.\d{3}\] \(2,000 resamples of the 5 points\): (significant|not significant)/);
  }
  assert.equal(uniVs.vs, 'FP32');
  assert.equal(uniArq.vs, 'ARQ');
  assert.equal((await diffs(2))[1].text, '—', 'ARQ against itself');
  assert.match(await page.textContent('#final-table tfoot') ?? '', /paired bootstrap over the points \(2,000 resamples/);
  await page.click('#final-copy');
  await page.waitForFunction(() => /Markdown/.test(document.querySelector('#status')?.textContent ?? ''));
  const md = await page.evaluate(async () => {
    const area = /** @type {HTMLTextAreaElement} */ (document.querySelector('#final-copy-text'));
    return area.value || navigator.clipboard.readText();
  });
  assert.match(md, /^\| policy \| clean acc\. \(held out\) \| cert\. acc\. r = 0 \|/);
  assert.match(md, /\| ACR \| ΔACR vs FP32 \[95% CI\] \| vs ARQ \|/);
  // the table, a blank line and the footnote of the intervals
  const lines = md.trim().split('\n');
  assert.equal(lines.length, rows.length + 4);
  assert.match(lines.at(-1) ?? '', /^ΔACR: .* n\.s\. = it contains 0/);
  await screenshot(page, 'search.png');
  assert.deepEqual(errors, []);
  await page.context().close();
});

test('step, pause and play; a cancel keeps the finished episodes', async () => {
  const { page, errors } = await openPage(env.browser, env.baseUrl, LONGER);
  await openSearch(page);
  // Step with no paused search starts one and stops after one episode.
  await page.click('#search-step');
  await searchIs(page, 'paused');
  await waitIdle(page);
  assert.equal(await episodesShown(page), 1);
  await page.click('#search-step');
  await page.waitForFunction(() => document.querySelector('#search-results')?.getAttribute('data-episodes') === '2', undefined, { timeout: LONG });
  await searchIs(page, 'paused');
  await waitIdle(page);
  assert.equal(await page.$$eval('#search-pareto circle.pt', (c) => c.length), 2);
  // Play; clicking a Pareto point while it runs pauses it and loads the point's policy.
  await page.click('#search-play');
  await searchIs(page, 'running');
  await page.waitForFunction(() => Number(document.querySelector('#search-results')?.getAttribute('data-episodes')) >= 3, undefined, { timeout: LONG });
  const point = '#search-pareto circle.pt[data-episode="0"]';
  const wb = await page.getAttribute(point, 'data-wb');
  await page.dispatchEvent(point, 'click');
  await searchIs(page, 'paused');
  await page.waitForFunction((want) => decodeURIComponent(location.hash).includes(want), `wb=${wb}&`, { timeout: LONG });
  await waitIdle(page);
  // Play again, then Pause.
  const before = await episodesShown(page);
  await page.click('#search-play');
  await searchIs(page, 'running');
  await page.waitForFunction((n) => Number(document.querySelector('#search-results')?.getAttribute('data-episodes')) > n, before, { timeout: LONG });
  await page.click('#search-pause');
  await searchIs(page, 'paused');
  await waitIdle(page);
  const paused = await episodesShown(page);
  assert.ok(paused >= 4 && paused < 40, `paused after ${paused} episodes`);
  assert.equal(await page.$$eval('#search-pareto circle.pt', (c) => c.length), paused);
  // Cancel while paused: the run ends, its episodes stay.
  await page.click('#search-cancel');
  await searchIs(page, 'idle');
  assert.match(await page.textContent('#search-run') ?? '', /ARQ #1 \(cancelled\)/);
  assert.equal(await page.$$eval('#search-pareto circle.pt', (c) => c.length), paused);
  // Cancel while running: a random search, stopped after its first episode.
  await page.click('#search-random');
  await page.waitForFunction(() => document.querySelectorAll('#search-pareto circle.pt[data-run="2"]').length >= 1, undefined, { timeout: LONG });
  await page.click('#search-cancel');
  await searchIs(page, 'idle');
  await waitIdle(page);
  assert.match(await page.textContent('#search-progress-text') ?? '', /random #2 cancelled after \d+ episode/);
  const kept = await page.$$eval('#search-pareto circle.pt[data-run="2"]', (c) => c.length);
  assert.ok(kept >= 1, 'the cancelled run keeps its episodes');
  assert.equal(await page.$$eval('#search-pareto circle.pt', (c) => c.length), paused + kept);
  assert.equal(await page.$$eval('#search-legend li', (l) => l.length), 2);
  assert.deepEqual(errors, []);
  await page.context().close();
});

test('the worker rejects bad quantization and search requests with the field and value', async () => {
  const { page } = await openPage(env.browser, env.baseUrl);
  await openSearch(page);
  /** @param {unknown} msg */
  const send = (msg) => page.evaluate((m) => /** @type {any} */ (window).arq.client.raw(m).then(() => 'ok', (/** @type {Error} */ e) => e.message), msg);
  assert.match(await send({ cmd: 'setPolicy', params: { wb: [4, 4], ab: [4, 4], lk: [false, false] } }), /params\.wb=\[4,4\]: expected 5 values/);
  assert.match(await send({ cmd: 'setPolicy', params: { wb: [4, 4, 9, 4, 4], ab: [4, 4, 4, 4, 4], lk: [false, false, false, false, false] } }), /params\.wb=\[4,4,9,4,4\]: expected .*bit widths, each 2\.\.8 or 32/);
  assert.match(await send({ cmd: 'setPolicy', params: { wb: [4, 4, 4, 4, 4], ab: [4, 4, 4, 4, 4], lk: [0, 0, 0, 0, 0] } }), /params\.lk=\[0,0,0,0,0\]: expected .*lock flags/);
  assert.match(await send({ cmd: 'applyPreset', params: { name: 'w3a3' } }), /params\.name="w3a3": expected one of fp32, w8a8/);
  assert.match(await send({ cmd: 'layerHistogram', params: { layer: 7 } }), /params\.layer=7: the model has 5 quantizable layers/);
  assert.match(await send({ cmd: 'search', params: { kind: 'bogus' } }), /params\.kind="bogus": expected one of arq, haq, random/);
  assert.match(await send({ cmd: 'search', params: { kind: 'arq', episodes: -1 } }), /params\.episodes=-1: expected an integer/);
  assert.match(await send({ cmd: 'noise', params: { index: 0, sigmas: [0.25], k: 4, quantized: 'yes' } }), /params\.quantized="yes": expected true or false/);
  assert.match(await send({ cmd: 'layerHistogram', params: { layer: 0 } }), /^ok$/);
  await page.context().close();
});
