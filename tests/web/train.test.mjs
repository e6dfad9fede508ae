// Training in the browser: a tiny configuration runs to the end while the chart grows, and a
// Cancel in the middle leaves the page usable. No timing assertions.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { LONG, launch, openPage, screenshot, waitIdle } from './harness.mjs';

/** A configuration small enough to train in seconds (keys from the engine's schema()). */
const TINY = '#v=1&epochs=1&train=512';
/** A configuration long enough to cancel in the middle. */
const LONGER = '#v=1&epochs=5';

/** @type {Awaited<ReturnType<typeof launch>>} */
let env;

before(async () => {
  env = await launch();
});

after(async () => {
  await env?.close();
});

/**
 * Counts how often the training chart is redrawn (to see it grow without timing anything).
 * @param {import('playwright-core').Page} page
 */
async function countRedraws(page) {
  await page.evaluate(() => {
    const w = /** @type {any} */ (window);
    w.chartRedraws = 0;
    new MutationObserver(() => { w.chartRedraws += 1; }).observe(/** @type {Node} */ (document.querySelector('#train-chart svg')), { childList: true });
  });
}

test('a tiny training run streams into the chart and finishes', async () => {
  const { page, errors } = await openPage(env.browser, env.baseUrl, TINY);
  await countRedraws(page);
  await page.click('#train-start');
  await page.waitForSelector('#train-progress[data-state="done"]', { timeout: LONG });
  await waitIdle(page);
  const redraws = await page.evaluate(() => /** @type {any} */ (window).chartRedraws);
  assert.ok(redraws >= 2, `the chart was redrawn as points arrived (${redraws} redraws)`);
  const path = await page.getAttribute('#train-chart path.series', 'd');
  assert.ok(path && path.length > 10, 'the loss curve has points');
  const curve = await page.$$eval('#train-fallback tbody tr', (r) => r.length);
  assert.ok(curve >= 2, `the data table lists the curve (${curve} rows)`);
  assert.ok(await page.$$eval('#train-epochs tbody tr', (r) => r.length) >= 1, 'one row per epoch');
  assert.match(await page.textContent('#train-progress-text') ?? '', /Finished/);
  assert.match(await page.textContent('#status') ?? '', /Training finished/);
  assert.equal(await page.getAttribute('#checkpoint-status', 'data-state'), 'trained');
  assert.equal(await page.isDisabled('#train-start'), false);
  assert.equal(await page.isDisabled('#train-cancel'), true);
  await screenshot(page, 'train-done.png');
  assert.deepEqual(errors, []);
  await page.context().close();
});

test('Cancel in the middle of training leaves a usable page', async () => {
  const { page, errors } = await openPage(env.browser, env.baseUrl, LONGER);
  await page.click('#train-start');
  await page.waitForFunction(() => {
    const bar = /** @type {HTMLProgressElement | null} */ (document.querySelector('#train-bar'));
    return !!bar && bar.hasAttribute('value') && bar.value > 0;
  }, undefined, { timeout: LONG });
  await page.click('#train-cancel');
  await page.waitForSelector('#train-progress[data-state="aborted"]', { timeout: LONG });
  await waitIdle(page);
  assert.match(await page.textContent('#train-progress-text') ?? '', /Cancelled after/);
  assert.equal(await page.isDisabled('#train-start'), false);
  // Still usable: evaluate and the noise view work with the weights of the last step.
  await page.click('#eval-start');
  await page.waitForSelector('#eval-result:not([hidden]) svg.heatmap', { timeout: LONG });
  await page.click('#noise-next');
  await page.waitForFunction(() => /#1,/.test(document.querySelector('#noise-clean')?.textContent ?? ''), undefined, { timeout: LONG });
  assert.deepEqual(errors, []);
  await page.context().close();
});
