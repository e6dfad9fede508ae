#!/usr/bin/env node
// Wall time of what a newcomer clicks, in the real page in Debian's chromium (the browser
// tests' harness), on the shipped lenet, with the page's pool of Web Workers.
//
// Default: the default certification (100 points, n = 1,000), the default 30-episode ARQ
// search and then the final table (FP32, the best uniform policy within the budget, ARQ),
// with `--workers N` workers (default: the page's own default, min(cores, 4)). Certification
// is run twice (the first pooled job also starts the helpers and hands them the weights).
//
// `--compare 1,2`: the search and the quick read-out side by side in one invocation, for each
// worker count in the list, `--runs R` times (default 3), the counts alternating within each
// round, each in a fresh page: the read-out of the default policy twice (the first also
// certifies FP32 on the reported points, the second is IRS only), then a default ARQ search of
// `--episodes N` episodes (default 30; it certifies FP32 on the search split first), and the
// same search once more in the same page (episodes only: the reference is held). Prints every
// run and the median of each timing with its ratio to the first count's. `--console` sends
// the same requests to the pool from the console instead of clicking (no view renders them).
//
// `--fragment F` runs the experiment F (e.g. `v=1`, format 1's defaults) instead of the
// defaults.
//
// Usage: node scripts/bench-page.mjs [--workers N] [--no-search] [--fragment F]
//        node scripts/bench-page.mjs --compare 1,2 [--runs 3] [--episodes 30] [--console] [--fragment F]
// (needs pkg/ and www/vendor/ from `make pkg www/vendor/d3.min.js`). Prints JSON seconds.
import { parseArgs } from 'node:util';
import { LONG, launch, openPage, waitIdle } from '../tests/web/harness.mjs';

const { values } = parseArgs({
  options: {
    workers: { type: 'string' },
    'no-search': { type: 'boolean', default: false },
    compare: { type: 'string' },
    runs: { type: 'string', default: '3' },
    console: { type: 'boolean', default: false },
    episodes: { type: 'string', default: '30' },
    fragment: { type: 'string', default: '' },
  },
});
/** The experiment's settings without '#' (`--fragment`, e.g. `v=1` for format 1's defaults). */
const settings = values.fragment.replace(/^#/, '');
const { browser, baseUrl, close } = await launch();

/** Seconds from a click until the page is idle again. @param {import('playwright-core').Page} page @param {string} button */
async function timed(page, button) {
  const t0 = Date.now();
  await page.click(button);
  await page.waitForSelector('body[data-busy]', { timeout: 5000 }).catch(() => {});
  await waitIdle(page);
  return (Date.now() - t0) / 1000;
}

/** @param {number[]} xs */
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * Seconds of a request through the page's pool from the console (no view renders it).
 * @param {import('playwright-core').Page} page @param {string} cmd @param {object} params
 */
async function viaConsole(page, cmd, params) {
  return page.evaluate(async ([c, p]) => {
    const t0 = performance.now();
    await /** @type {any} */ (window).arq.pool.request(c, p);
    return (performance.now() - t0) / 1000;
  }, /** @type {const} */ ([cmd, params]));
}

/** One fresh page with `workers` workers: the read-out twice, the search twice. @param {number} workers @param {number} episodes */
async function compareRun(workers, episodes) {
  const { page } = await openPage(browser, baseUrl, `#${settings ? `${settings}&` : ''}episodes=${episodes}`);
  try {
    await page.waitForSelector('#search-card:not([hidden])', { timeout: LONG });
    await page.waitForSelector('#bits-editor .bit-col', { timeout: LONG });
    await waitIdle(page);
    await page.selectOption('#pool-size', String(workers));
    // the first read-out also certifies FP32 on the reported points (and starts the helpers)
    if (values.console) {
      const readoutFirst = await viaConsole(page, 'quantEval', {});
      const readout = await viaConsole(page, 'quantEval', {});
      const searchFirst = await viaConsole(page, 'search', { kind: 'arq' });
      const search = await viaConsole(page, 'search', { kind: 'arq' });
      return { workers, readoutFirst, readout, searchFirst, search, episodes };
    }
    const readoutFirst = await timed(page, '#bits-eval');
    const readout = await timed(page, '#bits-eval');
    const searchFirst = await timed(page, '#search-arq');
    const search = await timed(page, '#search-arq');
    const eps = Number(await page.getAttribute('#search-results', 'data-episodes'));
    return { workers, readoutFirst, readout, searchFirst, search, episodes: eps };
  } finally {
    await page.context().close();
  }
}

try {
  if (values.compare !== undefined) {
    const counts = values.compare.split(',').map(Number);
    const runs = Number(values.runs);
    const episodes = Number(values.episodes);
    /** @type {Awaited<ReturnType<typeof compareRun>>[]} */
    const all = [];
    for (let r = 0; r < runs; r++) {
      for (const w of counts) {
        const run = await compareRun(w, episodes);
        console.log(JSON.stringify({ round: r, ...run }));
        all.push(run);
      }
    }
    const keys = /** @type {const} */ (['readoutFirst', 'readout', 'searchFirst', 'search']);
    const med = Object.fromEntries(counts.map((w) => [w, Object.fromEntries(keys.map((k) => [k, median(all.filter((x) => x.workers === w).map((x) => x[k]))]))]));
    const base = med[counts[0]];
    const ratios = Object.fromEntries(counts.slice(1).map((w) => [w, Object.fromEntries(keys.map((k) => [k, Number((base[k] / med[w][k]).toFixed(2))]))]));
    console.log(JSON.stringify({ episodes, runs, median: med, speedup: ratios }));
  } else {
    const { page } = await openPage(browser, baseUrl, settings ? `#${settings}` : '');
    if (values.workers !== undefined) await page.selectOption('#pool-size', values.workers);
    const workers = Number(await page.inputValue('#pool-size'));
    const certifySeconds = await timed(page, '#certify-start');
    const certifyAgainSeconds = await timed(page, '#certify-start');
    await page.waitForSelector('#search-card:not([hidden])', { timeout: LONG });
    const searchSeconds = values['no-search'] ? null : await timed(page, '#search-arq');
    const finalSeconds = await timed(page, '#final-start');
    const rows = await page.$$eval('#final-table tbody tr', (trs) => trs.length);
    console.log(JSON.stringify({ workers, certifySeconds, certifyAgainSeconds, searchSeconds, finalSeconds, finalRows: rows }));
  }
} finally {
  await close();
}
