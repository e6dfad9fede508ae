#!/usr/bin/env node
// Wall time of what a newcomer clicks, in the real page in Debian's chromium (the browser
// tests' harness): the default certification (100 points, n = 1,000), the default 30-episode
// ARQ search and then the final table (FP32, W4A4, ARQ), on the shipped lenet, with the page's
// pool of Web Workers set to `--workers N` (default: the page's own default, min(cores, 4)).
// Certification (run twice: the first pooled job also starts the helpers) and the final table
// are split over the workers; the search runs in worker 0.
// Usage: node scripts/bench-page.mjs [--workers N] [--no-search] (needs pkg/ and
// www/vendor/ from `make pkg www/vendor/d3.min.js`). Prints JSON seconds.
import { parseArgs } from 'node:util';
import { LONG, launch, openPage, waitIdle } from '../tests/web/harness.mjs';

const { values } = parseArgs({ options: { workers: { type: 'string' }, 'no-search': { type: 'boolean', default: false } } });
const { browser, baseUrl, close } = await launch();
try {
  const { page } = await openPage(browser, baseUrl, '');
  if (values.workers !== undefined) await page.selectOption('#pool-size', values.workers);
  const workers = Number(await page.inputValue('#pool-size'));
  /** Seconds from a click until the page is idle again. @param {string} button */
  const timed = async (button) => {
    const t0 = Date.now();
    await page.click(button);
    await page.waitForSelector('body[data-busy]', { timeout: 5000 }).catch(() => {});
    await waitIdle(page);
    return (Date.now() - t0) / 1000;
  };
  // the first pooled job also starts the helper workers and hands them the weights
  const certifySeconds = await timed('#certify-start');
  const certifyAgainSeconds = await timed('#certify-start');
  await page.waitForSelector('#search-card:not([hidden])', { timeout: LONG });
  const searchSeconds = values['no-search'] ? null : await timed('#search-arq');
  const finalSeconds = await timed('#final-start');
  const rows = await page.$$eval('#final-table tbody tr', (trs) => trs.length);
  console.log(JSON.stringify({ workers, certifySeconds, certifyAgainSeconds, searchSeconds, finalSeconds, finalRows: rows }));
} finally {
  await close();
}
