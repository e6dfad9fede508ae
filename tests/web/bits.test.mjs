// The "Bits per layer" card in Debian's chromium with the real engine: lenet's five columns in
// cost proportion, arrow keys and the URL (replaceState while pressed, pushState on release),
// locks, presets and "Fit budget", Back, the weight histogram, the quick IRS read-out with its
// deltas going stale on a policy change, and the noise view's quantized toggle. Screenshots
// under artifacts/. No timing assertions.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { LONG, launch, openPage, screenshot, waitIdle, waitNoise } from './harness.mjs';

/** A read-out small enough for seconds (keys from the engine's schema()). */
const TINY = '#v=1&n0=20&n=200&points=5&np=100&qft=2';

/** @type {Awaited<ReturnType<typeof launch>>} */
let env;

before(async () => {
  env = await launch();
});

after(async () => {
  await env?.close();
});

/** @param {import('playwright-core').Page} page */
const columns = (page) => page.$$eval('#bits-editor .bit-col', (cols) => cols.map((c) => ({
  name: c.getAttribute('data-name'), wb: c.getAttribute('data-wb'), ab: c.getAttribute('data-ab'),
  share: Number(c.getAttribute('data-share')), width: c.getBoundingClientRect().width, floor: c.classList.contains('floor'),
  locked: c.classList.contains('locked'),
})));

/** @param {import('playwright-core').Page} page @param {RegExp} re */
const hashMatches = (page, re) => page.waitForFunction((src) => new RegExp(src).test(decodeURIComponent(location.hash)), re.source, { timeout: LONG });

/** Waits until no policy edit is on its way to the engine and no job runs. @param {import('playwright-core').Page} page */
async function settled(page) {
  await page.waitForFunction(() => !document.querySelector('#bits-card')?.hasAttribute('data-sending'), undefined, { timeout: LONG });
  await waitIdle(page);
}

/** @param {import('playwright-core').Page} page @param {number} n */
const historyIs = (page, n) => page.waitForFunction((k) => history.length === k, n, { timeout: LONG });

/** @param {import('playwright-core').Page} page */
async function openBits(page) {
  await page.waitForSelector('#bits-card:not([hidden]) #bits-editor .bit-col', { timeout: LONG });
  await waitIdle(page);
}

test('the bit editor: five lenet columns in cost proportion, keys, URL, locks, presets, Fit budget, Back', async () => {
  const { page, errors } = await openPage(env.browser, env.baseUrl);
  await openBits(page);
  let cols = await columns(page);
  assert.deepEqual(cols.map((c) => c.name), ['conv1', 'conv2', 'fc3', 'fc4', 'fc5']);
  assert.ok(Math.abs(cols.reduce((s, c) => s + c.share, 0) - 1) < 1e-6, 'cost shares add up to 1');
  const scaled = cols.filter((c) => !c.floor);
  assert.ok(scaled.length >= 3, `at least the three costly layers are to scale (${JSON.stringify(cols)})`);
  for (const c of scaled) {
    const r = (c.width / scaled[0].width) / (c.share / scaled[0].share);
    assert.ok(Math.abs(r - 1) < 0.03, `${c.name}: width in proportion to its cost share (ratio ${r.toFixed(3)})`);
  }
  for (const c of cols.filter((x) => x.floor)) assert.ok(c.width >= c.share * scaled[0].width / scaled[0].share, `${c.name} is held at the minimum width`);
  assert.deepEqual(cols.map((c) => c.wb), ['f', 'f', 'f', 'f', 'f'], 'the default policy is full precision');

  // Arrow keys: Down lowers conv2's weight bits from f to 8; one key press is one history entry.
  const length = await page.evaluate(() => history.length);
  await page.focus('#bits-editor .bit-col[data-layer="1"]');
  await page.keyboard.press('ArrowDown');
  await hashMatches(page, /wb=f,8,f,f,f/);
  await settled(page);
  await historyIs(page, length + 1);
  await page.keyboard.press('Shift+ArrowDown');
  await hashMatches(page, /ab=f,8,f,f,f/);
  await page.keyboard.press('ArrowRight');
  assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('data-layer')), '2');
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('ArrowDown');
  await hashMatches(page, /wb=f,8,7,f,f/);
  assert.match(await page.inputValue('#cfg-wb'), /^f,8,7,f,f$/, 'the settings form follows');

  // Presets and the header.
  await page.click('#bits-w4a4');
  await hashMatches(page, /wb=4,4,4,4,4&ab=4,4,4,4,4/);
  await waitIdle(page);
  assert.equal(await page.textContent('#bits-header [data-stat="bops"] .stat-value'), '1.56%');
  // the default budget (v=2) is 1/192: W4A4 (1/64) is over it, W2A2 (1/256) within
  assert.equal(await page.getAttribute('#bits-header', 'data-within'), 'false');
  assert.equal(await page.getAttribute('#bits-histogram', 'data-points'), '15', '4 bits: 7 levels per side, 15 grid points');
  await page.click('#bits-w2a2');
  await hashMatches(page, /wb=2,2,2,2,2&ab=2,2,2,2,2/);
  await waitIdle(page);
  assert.equal(await page.textContent('#bits-header [data-stat="bops"] .stat-value'), '0.39%');
  assert.equal(await page.getAttribute('#bits-header', 'data-within'), 'true');
  await page.click('#bits-w8a8');
  await hashMatches(page, /wb=8,8,8,8,8/);
  await waitIdle(page);
  assert.equal(await page.getAttribute('#bits-header', 'data-within'), 'false');
  await page.click('#bits-fit');
  await waitIdle(page);
  await page.waitForSelector('#bits-header[data-within="true"]');
  const { bops, budget } = await page.$eval('#bits-header', (h) => ({ bops: Number(h.getAttribute('data-bops')), budget: Number(h.getAttribute('data-budget')) }));
  assert.ok(bops <= budget, `Fit budget: BOPs ${bops} within the budget ${budget}`);
  await settled(page);
  const fitted = await columns(page);
  assert.ok(fitted.some((c) => c.wb !== '8' || c.ab !== '8'), 'Fit budget lowered some bits');

  // First/last 8, rest 4 sets bits only (no locks, so a search can still meet the budget);
  // the user locks the first and last layer, then unlocks the last again.
  await page.click('#bits-fl8');
  await hashMatches(page, /wb=8,4,4,4,8&ab=8,4,4,4,8$/);
  await settled(page);
  assert.deepEqual((await columns(page)).map((c) => c.locked), [false, false, false, false, false]);
  await page.click('#bits-editor .bit-col[data-layer="0"] .bit-lock');
  await settled(page);
  await page.click('#bits-editor .bit-col[data-layer="4"] .bit-lock');
  await hashMatches(page, /lk=1,0,0,0,1/);
  await settled(page);
  assert.deepEqual((await columns(page)).map((c) => c.locked), [true, false, false, false, true]);
  await page.click('#bits-editor .bit-col[data-layer="4"] .bit-lock');
  await hashMatches(page, /lk=1,0,0,0,0/);
  await settled(page);

  // A locked layer keeps its bits under the keys.
  const before = (await columns(page))[0];
  await page.focus('#bits-editor .bit-col[data-layer="0"]');
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('Shift+ArrowUp');
  await page.waitForFunction(() => /locked/.test(document.querySelector('#status')?.textContent ?? ''));
  cols = await columns(page);
  assert.equal(cols[0].wb, before.wb);
  assert.equal(cols[0].ab, before.ab);
  assert.ok(cols[0].locked);

  // Back four times (preset, lock, lock, unlock): the fitted W8A8 policy, nothing locked.
  await page.evaluate(() => history.go(-4));
  await page.waitForFunction(() => !document.querySelector('#bits-editor .bit-col[data-layer="0"]')?.classList.contains('locked'), undefined, { timeout: LONG });
  await settled(page);
  assert.deepEqual((await columns(page)).map((c) => [c.wb, c.ab]), fitted.map((c) => [c.wb, c.ab]));

  // The histogram of the focused layer.
  await page.focus('#bits-editor .bit-col[data-layer="2"]');
  await page.waitForFunction(() => /^fc3 ·/.test(document.querySelector('#bits-histogram-caption')?.textContent ?? ''), undefined, { timeout: LONG });
  assert.ok(await page.$$eval('#bits-histogram rect.bin', (r) => r.length) > 10);
  assert.ok(await page.$$eval('#bits-histogram-fallback tbody tr', (r) => r.length) > 10, 'the histogram has a data table');
  await screenshot(page, 'bits-editor.png');

  // FP32: every layer at full precision, 100 % of the BOPs, no grid in the histogram.
  await page.click('#bits-fp32');
  await page.waitForFunction(() => document.querySelector('#bits-header [data-stat="bops"] .stat-value')?.textContent === '100.00%', undefined, { timeout: LONG });
  await settled(page);
  assert.deepEqual((await columns(page)).map((c) => `${c.wb}${c.ab}`), ['ff', 'ff', 'ff', 'ff', 'ff']);
  await page.waitForFunction(() => document.querySelector('#bits-histogram')?.getAttribute('data-points') === '0');
  assert.deepEqual(errors, []);
  await page.context().close();
});

test('dragging a bar previews then commits; a quick read-out shows the deltas, a policy change makes them stale', async () => {
  const { page, errors } = await openPage(env.browser, env.baseUrl, TINY);
  await openBits(page);
  await page.click('#bits-w4a4');
  await hashMatches(page, /wb=4,4,4,4,4/);
  await settled(page);

  // Drag conv2's weight bar to the top of its area (full precision), then back down.
  const length = await page.evaluate(() => history.length);
  const area = await page.locator('#bits-editor .bit-col[data-layer="1"] .bit-area.w').boundingBox();
  assert.ok(area);
  await page.mouse.move(area.x + area.width / 2, area.y + area.height * 0.6);
  await page.mouse.down();
  await page.mouse.move(area.x + area.width / 2, area.y + area.height * 0.3, { steps: 4 });
  await page.mouse.move(area.x + area.width / 2, area.y + 2, { steps: 4 });
  await page.mouse.up();
  await hashMatches(page, /wb=4,f,4,4,4/);
  await settled(page);
  await historyIs(page, length + 1);
  await page.click('#bits-w4a4');
  await hashMatches(page, /wb=4,4,4,4,4/);
  await waitIdle(page);

  await page.click('#bits-eval');
  await page.waitForSelector('#bits-progress:not([hidden])');
  await page.waitForSelector('#bits-header[data-state="fresh"]', { timeout: LONG });
  await waitIdle(page);
  assert.match(await page.textContent('#bits-header [data-stat="acc"] .stat-value') ?? '', /^\d{1,3}\.\d%$/);
  assert.match(await page.textContent('#bits-header [data-stat="acc"] .stat-note') ?? '', /^[+−±]\d+\.\d pts vs FP32$/);
  assert.match(await page.textContent('#bits-header [data-stat="acr"] .stat-value') ?? '', /^\d\.\d{3}$/);
  assert.match(await page.textContent('#bits-header [data-stat="acr"] .stat-note') ?? '', /^[+−±]\d\.\d{3} vs FP32 \d\.\d{3}$/);
  assert.equal(await page.$('#bits-stale'), null);
  // an IRS read-out says what it guarantees: alpha + alpha_zeta and its own cap
  assert.match(await page.textContent('#bits-progress-text') ?? '',
    /holds with probability ≥ 1 − \(α \+ α_ζ\) = 0\.998 \(IRS, n_p = \d+\); no radius can exceed R_max = 0\.\d{3}\./);

  // The noise view can now label the tiles with the quantized model.
  await waitNoise(page);
  assert.equal(await page.isDisabled('#noise-quantized'), false);
  await page.check('#noise-quantized');
  await page.waitForSelector('#noise-card[data-mode="quantized"]');
  await waitIdle(page);
  await page.waitForFunction(() => /read-out/.test(document.querySelector('#noise-quant-note')?.textContent ?? ''));
  await waitNoise(page);

  // A policy change: the read-out is stale.
  await page.focus('#bits-editor .bit-col[data-layer="0"]');
  await page.keyboard.press('ArrowUp');
  await page.waitForSelector('#bits-header[data-state="stale"]');
  assert.match(await page.textContent('#bits-stale') ?? '', /stale: the policy changed/);
  await waitIdle(page);
  await screenshot(page, 'bits-readout.png');
  assert.deepEqual(errors, []);
  await page.context().close();
});

test('the read-out can be cancelled and the page stays usable', async () => {
  const { page, errors } = await openPage(env.browser, env.baseUrl, '#v=1&n0=20&n=200&points=50&np=100&qft=400');
  await openBits(page);
  await page.click('#bits-w4a4');
  await waitIdle(page);
  await page.click('#bits-eval');
  await page.waitForFunction(() => !(/** @type {HTMLButtonElement} */ (document.querySelector('#bits-eval-cancel')).disabled));
  await page.click('#bits-eval-cancel');
  await page.waitForSelector('#bits-progress[data-state="aborted"]', { timeout: LONG });
  await waitIdle(page);
  assert.equal(await page.getAttribute('#bits-header', 'data-state'), 'none');
  await page.click('#bits-w2a2');
  await hashMatches(page, /wb=2,2,2,2,2/);
  assert.deepEqual(errors, []);
  await page.context().close();
});
