// History: finished certifications are kept in IndexedDB with their links and survive a
// reload; pinning two shows both curves and a side-by-side table; delete removes one. Without
// IndexedDB (a private mode) the card says so and the page keeps working.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { LONG, launch, openPage, waitIdle } from './harness.mjs';

/** @type {Awaited<ReturnType<typeof launch>>} */
let env;

before(async () => {
  env = await launch();
});

after(async () => {
  await env?.close();
});

/** @param {import('playwright-core').Page} page */
async function certify(page) {
  await page.click('#certify-start');
  await page.waitForSelector('#certify-progress[data-state="done"]', { timeout: LONG });
  await waitIdle(page);
}

/** @param {import('playwright-core').Page} page @param {number} n */
async function historyCount(page, n) {
  await page.waitForFunction((k) => document.querySelector('#history-card')?.getAttribute('data-count') === String(k), n, { timeout: LONG });
}

test('finished runs are kept across a reload, and two pinned runs are compared side by side', async () => {
  const { page, errors } = await openPage(env.browser, env.baseUrl, '#v=1&points=5&n=200&n0=20');
  await historyCount(page, 0);
  await certify(page);
  await historyCount(page, 1);
  await page.evaluate(() => { location.hash = '#v=1&points=5&n=100&n0=20'; });
  await page.waitForFunction(() => /&n=100&/.test(document.querySelector('#fragment-view')?.textContent ?? ''), undefined, { timeout: LONG });
  await waitIdle(page);
  await certify(page);
  await historyCount(page, 2);

  await page.reload();
  await page.waitForSelector('body[data-state="ready"]', { timeout: LONG });
  await historyCount(page, 2);
  const rows = page.locator('#history-table tbody tr');
  assert.equal(await rows.count(), 2);
  // newest first, each with its link and engine version
  // the link carries the run's results (share.js): the settings, then eng= and r=
  const links = [await rows.nth(0).locator('a.history-open').getAttribute('href'), await rows.nth(1).locator('a.history-open').getAttribute('href')];
  assert.match(links[0] ?? '', /^#v=1&n0=20&n=100&points=5&eng=[\d.]+&r=[\w-]+$/);
  assert.match(links[1] ?? '', /^#v=1&n0=20&n=200&points=5&eng=[\d.]+&r=[\w-]+$/);
  assert.match(await rows.nth(0).textContent() ?? '', /certify.*ACR \d\.\d{3}.*\d+\.\d+\.\d+/);

  await rows.nth(0).locator('input.history-pin').check();
  assert.equal(await page.isHidden('#history-compare'), true, 'one pin: no comparison yet');
  await rows.nth(1).locator('input.history-pin').check();
  await page.waitForSelector('#history-compare:not([hidden])');
  await page.waitForFunction(() => document.querySelectorAll('#history-curve path.run-line').length === 2, undefined, { timeout: LONG });
  const head = await page.textContent('#history-compare-table thead') ?? '';
  assert.match(head, /A: .*B: /);
  const acr = page.locator('#history-compare-table tbody tr', { hasText: /^ACR/ });
  const cells = await acr.locator('td').allTextContents();
  assert.equal(cells.length, 2);
  for (const c of cells) assert.match(c, /^\d\.\d{3}$/);
  const settings = await page.locator('#history-compare-table tbody tr', { hasText: /^settings/ }).locator('td').allTextContents();
  assert.deepEqual(settings.map((s) => /&n=(\d+)&/.exec(s)?.[1]), ['100', '200']);

  await rows.nth(0).locator('button.history-delete').click();
  await historyCount(page, 1);
  assert.equal(await page.isHidden('#history-compare'), true);
  page.once('dialog', (d) => d.accept());
  await page.click('#history-clear');
  await historyCount(page, 0);
  assert.deepEqual(errors, []);
  await page.context().close();
});

test('without IndexedDB the history says it is off and certification still works', async () => {
  const { page } = await openPage(env.browser, env.baseUrl, '#v=1&points=3&n=100&n0=20', {
    setup: (context) => context.addInitScript(() => { Object.defineProperty(window, 'indexedDB', { value: undefined }); }),
  });
  await page.waitForSelector('#history-notice:not([hidden])', { timeout: LONG });
  assert.match(await page.textContent('#history-notice') ?? '', /History is off: .*no IndexedDB.*Runs still work/);
  await certify(page);
  assert.match(await page.textContent('#certify-progress-text') ?? '', /Certified 3 test points/);
  await page.context().close();
});
