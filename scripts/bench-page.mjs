#!/usr/bin/env node
// Wall time of the two things a newcomer clicks first, in the real page in Debian's chromium
// (the browser tests' harness): the default certification (100 points, n = 1,000) and the
// default 30-episode ARQ search, on the shipped lenet. Usage: node scripts/bench-page.mjs
// (needs pkg/ and www/vendor/ from `make pkg www/vendor/d3.min.js`). Prints JSON seconds.
import { LONG, launch, openPage, waitIdle } from '../tests/web/harness.mjs';

const { browser, baseUrl, close } = await launch();
try {
  const { page } = await openPage(browser, baseUrl, '');
  /** Seconds from a click until the page is idle again. @param {string} button */
  const timed = async (button) => {
    const t0 = Date.now();
    await page.click(button);
    await page.waitForSelector('body[data-busy]', { timeout: 5000 }).catch(() => {});
    await waitIdle(page);
    return (Date.now() - t0) / 1000;
  };
  const certifySeconds = await timed('#certify-start');
  await page.waitForSelector('#search-card:not([hidden])', { timeout: LONG });
  const searchSeconds = await timed('#search-arq');
  console.log(JSON.stringify({ certifySeconds, searchSeconds }));
  console.log(await page.textContent('#search-progress-text'));
} finally {
  await close();
}
