// Certification in the browser: a small run streams records into the curve, the per-example
// plot and Cohen's table (copied as Markdown and CSV, through the clipboard and through the
// fallback textarea); clicking a point selects the digit in the noise view; Cancel keeps the
// partial results; runs accumulate and clear; the paper-grade preset states its cost; a
// deliberate engine panic is a readable error and the page stays usable. No timing assertions.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { LONG, launch, openPage, screenshot, waitIdle, waitNoise } from './harness.mjs';

/** Five test points, small n: a few seconds. Points are test digits 0, 20, 40, 60, 80. */
const SMALL = '#v=1&points=5&n=200&n0=20';
/** Long enough to cancel in the middle (40 points x 4,100 samples). */
const LONGER = '#v=1&points=40&n=4000&n0=100';

/** @type {Awaited<ReturnType<typeof launch>>} */
let env;

before(async () => {
  env = await launch();
});

after(async () => {
  await env?.close();
});

/**
 * Records every record count the results show while a run streams.
 * @param {import('playwright-core').Page} page
 */
async function watchRecords(page) {
  await page.evaluate(() => {
    const w = /** @type {any} */ (window);
    w.recordCounts = [];
    const node = /** @type {HTMLElement} */ (document.querySelector('#certify-results'));
    new MutationObserver(() => { w.recordCounts.push(Number(node.dataset.records)); })
      .observe(node, { attributes: true, attributeFilter: ['data-records'] });
  });
}

/** @param {import('playwright-core').Page} page */
async function runAndWait(page) {
  await page.click('#certify-start');
  await page.waitForSelector('#certify-progress[data-state="done"]', { timeout: LONG });
  await waitIdle(page);
}

test('a small certification streams records into the curve, the per-example plot and the table', async () => {
  const { page, errors } = await openPage(env.browser, env.baseUrl, SMALL);
  await page.context().grantPermissions(['clipboard-read', 'clipboard-write']);
  assert.match(await page.textContent('#certify-settings') ?? '', /points\s*5/);
  assert.match(await page.textContent('#certify-cost') ?? '', /1,100 noisy samples/);
  await watchRecords(page);
  await runAndWait(page);
  // Streamed: some partial count (1..4 of 5) was shown before the end.
  const counts = /** @type {number[]} */ (await page.evaluate(() => /** @type {any} */ (window).recordCounts));
  assert.ok(counts.some((c) => c > 0 && c < 5), `records arrived in parts: ${counts}`);
  assert.equal(counts.at(-1), 5);
  assert.match(await page.textContent('#certify-progress-text') ?? '', /Certified 5 test points/);
  // The curve, complete (not dashed), and the R_max line with its hint.
  assert.equal(await page.locator('#certify-curve path.run-line').count(), 1);
  assert.equal(await page.locator('#certify-curve path.run-line.partial').count(), 0);
  assert.ok(((await page.getAttribute('#certify-curve path.run-line', 'd')) ?? '').length > 10);
  assert.equal(await page.locator('#certify-curve line.rmax-line').count(), 1);
  assert.match(await page.textContent('#certify-curve .rmax-label') ?? '', /R_max = 0\.\d{3} \(n = 200\)/);
  assert.match(await page.textContent('#certify-curve .rmax-hint') ?? '', /raise n to move this cap/);
  // One point per certified digit, at test indices 0, 20, ..., 80.
  const indices = await page.$$eval('#certify-points circle.pt', (c) => c.map((x) => Number(x.getAttribute('data-index'))));
  assert.deepEqual(indices, [0, 20, 40, 60, 80]);
  for (const cls of await page.$$eval('#certify-points circle.pt', (c) => c.map((x) => x.getAttribute('class') ?? ''))) {
    assert.match(cls, /\b(correct|wrong|abstain)\b/);
  }
  assert.equal(await page.$$eval('#certify-points-fallback tbody tr', (r) => r.length), 5);
  assert.ok(await page.$$eval('#certify-curve-fallback tbody tr', (r) => r.length) >= 1);
  // The table: one run, Cohen's columns.
  const head = await page.$$eval('#certify-table thead th', (t) => t.map((x) => x.textContent));
  assert.deepEqual(head, ['run', 'r = 0', 'r = 0.25', 'r = 0.5', 'r = 0.75', 'r = 1', 'r = 1.25', 'r = 1.5', 'ACR', 'abstain']);
  assert.equal(await page.locator('#certify-table tbody tr').count(), 1);
  assert.match(await page.textContent('#certify-table tbody th') ?? '', /FP32 n=200 σ=0\.25/);
  // Copy as Markdown, through the clipboard.
  await page.click('#certify-copy-md');
  await page.waitForFunction(() => /Copied the table as Markdown/.test(document.querySelector('#status')?.textContent ?? ''));
  const md = await page.evaluate(() => navigator.clipboard.readText());
  const lines = md.trim().split('\n');
  assert.match(lines[0], /^\| run \| r = 0 \| r = 0\.25 \|.*\| ACR \| abstain \|$/);
  assert.match(lines[1], /^\| --- \|( ---: \|)+$/);
  assert.equal(lines.length, 3);
  assert.match(lines[2], /^\| FP32 n=200 σ=0\.25.*\| \d+\.\d% \|/);
  // Copy as CSV, through the fallback textarea when the clipboard refuses.
  await page.evaluate(() => { navigator.clipboard.writeText = () => Promise.reject(new Error('denied')); });
  await page.click('#certify-copy-csv');
  await page.waitForSelector('#certify-copy-fallback:not([hidden])');
  const csv = await page.inputValue('#certify-copy-text');
  assert.match(csv.split('\n')[0], /^run,r=0,r=0\.25,.*,ACR,abstain_rate$/);
  assert.equal(csv.trim().split('\n').length, 2);
  // Clicking a point shows that digit in the noise view.
  await waitNoise(page);
  await page.click('#certify-points circle.pt[data-index="40"]');
  await page.waitForFunction(() => /** @type {HTMLInputElement} */ (document.querySelector('#noise-index')).value === '40');
  await page.waitForFunction(() => /#40,/.test(document.querySelector('#noise-clean')?.textContent ?? ''), undefined, { timeout: LONG });
  // ... and so does the keyboard: focus the plot, move to the second point, Enter.
  await page.focus('#certify-points');
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => /#20,/.test(document.querySelector('#noise-clean')?.textContent ?? ''), undefined, { timeout: LONG });
  await page.locator('#certify-card').scrollIntoViewIfNeeded();
  await screenshot(page, 'certify-done.png');
  // Narrow screens: the charts shrink and the table scrolls inside its box.
  await page.setViewportSize({ width: 380, height: 800 });
  await page.evaluate(() => { /** @type {HTMLDetailsElement} */ (document.querySelector('#settings-details')).open = false; });
  await page.waitForFunction(() => (document.querySelector('#certify-curve svg')?.getBoundingClientRect().width ?? 999) <= 380);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `no horizontal scrolling at 380 px (overflow ${overflow} px)`);
  assert.deepEqual(errors, []);
  await page.context().close();
});

test('Cancel in the middle keeps the partial results and leaves a usable page', async () => {
  const { page, errors } = await openPage(env.browser, env.baseUrl, LONGER);
  await page.click('#certify-start');
  await page.waitForFunction(() => Number(/** @type {HTMLElement} */ (document.querySelector('#certify-results')).dataset.records ?? 0) >= 1, undefined, { timeout: LONG });
  // While it runs: the curve is drawn as partial, with a label.
  await page.waitForSelector('#certify-curve path.run-line.partial', { timeout: LONG });
  assert.match(await page.textContent('#certify-legend') ?? '', /partial: \d+ of 40 points/);
  assert.match(await page.textContent('#certify-progress-text') ?? '', /noisy samples · \d+ \/ 40 points/);
  await page.click('#certify-cancel');
  await page.waitForSelector('#certify-progress[data-state="aborted"]', { timeout: LONG });
  await waitIdle(page);
  assert.match(await page.textContent('#certify-progress-text') ?? '', /Cancelled after \d+ of 40 points/);
  const kept = await page.locator('#certify-points circle.pt').count();
  assert.ok(kept >= 1 && kept < 40, `the finished points stay (${kept})`);
  assert.equal(await page.locator('#certify-curve path.run-line.partial').count(), 1);
  assert.equal(await page.locator('#certify-curve line.rmax-line').count(), 1);
  assert.match(await page.textContent('#certify-table tbody th') ?? '', /partial, cancelled: \d+ of 40 points/);
  assert.equal(await page.isDisabled('#certify-start'), false);
  assert.equal(await page.isDisabled('#certify-cancel'), true);
  // Usable: the noise view moves, and a second (small) run adds a second line and row.
  await page.click('#noise-next');
  await page.waitForFunction(() => /#1,/.test(document.querySelector('#noise-clean')?.textContent ?? ''), undefined, { timeout: LONG });
  await page.evaluate(() => { location.hash = '#v=1&points=3&n=100&n0=10'; });
  await page.waitForFunction(() => /** @type {HTMLInputElement} */ (document.querySelector('#cfg-n')).value === '100', undefined, { timeout: LONG });
  await waitIdle(page);
  await runAndWait(page);
  assert.equal(await page.locator('#certify-curve path.run-line').count(), 2);
  assert.equal(await page.locator('#certify-table tbody tr').count(), 2);
  assert.equal(await page.locator('#certify-legend li').count(), 2);
  assert.equal(await page.locator('#certify-curve line.rmax-line').count(), 2, 'one R_max line per n');
  await screenshot(page, 'certify-two-runs.png');
  await page.click('#certify-clear');
  assert.equal(await page.locator('#certify-table tbody tr').count(), 0);
  assert.equal(await page.isHidden('#certify-results'), true);
  assert.deepEqual(errors, []);
  await page.context().close();
});

test('the paper-grade preset states its cost, asks first, and can be cancelled', async () => {
  const { page, errors } = await openPage(env.browser, env.baseUrl);
  assert.match(await page.textContent('#certify-cost') ?? '', /100 test points × \(n0 \+ n\) = 110,000 noisy samples/);
  await page.click('#certify-paper');
  await page.waitForSelector('#certify-confirm:not([hidden])', { timeout: LONG });
  const text = await page.textContent('#certify-confirm-text') ?? '';
  assert.match(text, /n = 100,000/);
  assert.match(text, /500 test points at stride 4/);
  assert.match(text, /about 50 million noisy samples/);
  assert.match(text, /~\d+.*at [\d,]+ samples\/s \(measured on this machine/);
  // "Not now" changes nothing.
  await page.click('#certify-confirm-cancel');
  assert.equal(await page.isHidden('#certify-confirm'), true);
  assert.doesNotMatch(await page.evaluate(() => location.hash), /n=100000/);
  // Confirming applies the preset (in the URL and the form) and starts; Cancel stops it.
  await page.click('#certify-paper');
  await page.waitForSelector('#certify-confirm:not([hidden])', { timeout: LONG });
  await page.click('#certify-confirm-run');
  await page.waitForFunction(() => /n=100000/.test(location.hash) && /points=500/.test(location.hash) && /stride=4/.test(location.hash), undefined, { timeout: LONG });
  await page.waitForSelector('#certify-progress[data-state="running"]', { timeout: LONG });
  await page.waitForFunction(() => !/** @type {HTMLButtonElement} */ (document.querySelector('#certify-cancel')).disabled, undefined, { timeout: LONG });
  await page.click('#certify-cancel');
  await page.waitForSelector('#certify-progress[data-state="aborted"]', { timeout: LONG });
  await waitIdle(page);
  assert.equal(await page.inputValue('#cfg-n'), '100000');
  // The browser default comes back in one click.
  await page.click('#certify-small');
  await page.waitForFunction(() => /** @type {HTMLInputElement} */ (document.querySelector('#cfg-n')).value === '1000', undefined, { timeout: LONG });
  await waitIdle(page);
  assert.doesNotMatch(await page.evaluate(() => location.hash), /n=|points=|stride=/);
  assert.deepEqual(errors, []);
  await page.context().close();
});

test('an engine panic is a readable error; the engine restarts and the page stays usable', async () => {
  const { page } = await openPage(env.browser, env.baseUrl, SMALL);
  await waitNoise(page);
  await page.evaluate(() => /** @type {any} */ (window).arq.debugPanic());
  const notice = page.locator('#notices .notice-error');
  await notice.first().waitFor({ timeout: LONG });
  const text = await notice.first().textContent() ?? '';
  assert.match(text, /The engine crashed and was restarted/);
  assert.match(text, /engine crashed during debugPanic: .*debugPanic/);
  assert.match(text, /restarted with the same settings/);
  assert.equal(await page.getAttribute('#status', 'data-kind'), 'error');
  await waitIdle(page);
  // The restarted engine kept the settings and works: noise view, evaluation, certification.
  assert.equal(await page.inputValue('#cfg-points'), '5');
  await page.click('#noise-next');
  await page.waitForFunction(() => /#1,/.test(document.querySelector('#noise-clean')?.textContent ?? ''), undefined, { timeout: LONG });
  await page.click('#eval-start');
  await page.waitForSelector('#eval-result:not([hidden]) svg.heatmap', { timeout: LONG });
  await waitIdle(page);
  await runAndWait(page);
  assert.equal(await page.locator('#certify-points circle.pt').count(), 5);
  await notice.first().locator('.notice-close').click();
  await page.context().close();
});
