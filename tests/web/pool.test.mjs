// A pool of workers gives the same results as one worker: the default certification (small
// settings) with 1 and with 2 workers streams the same records (wall times aside) and ends
// with the same core summary, the read-out after a pooled certification finds worker 0's
// assembled IRS cache (no FP32 certification again), and the final table's rows (the uniform
// row chosen by whichever worker owns it) and their paired intervals are the same;
// the page's Certify button works with 2 workers; the worker count is kept in localStorage;
// bad parts, rows and part bytes are refused with the field.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { LONG, launch, openPage, waitIdle } from './harness.mjs';

/** Small: 10 points at n = 200, a 2-episode random search, 1 fine-tuning batch per row. */
const SMALL = '#v=1&points=10&n=200&n0=20&episodes=2&warmup=1&spoints=4&sft=1&fft=1&qft=1&calib=32';

/** @type {Awaited<ReturnType<typeof launch>>} */
let env;
before(async () => { env = await launch(); });
after(async () => { await env?.close(); });

/**
 * Runs a pooled command through the page's pool with `workers` workers; the partials'
 * records / rows and the result, as JSON-ready data.
 * @param {import('playwright-core').Page} page @param {number} workers @param {'certify' | 'final'} cmd
 */
async function viaPool(page, workers, cmd) {
  await page.selectOption('#pool-size', String(workers));
  return page.evaluate(async ([c]) => {
    const pool = /** @type {any} */ (window).arq.pool;
    /** @type {any[]} */
    const records = [];
    const result = await pool.request(c, {}, { onPartial: (/** @type {any} */ d) => { if (c === 'certify') records.push(...d.records); } });
    if (c === 'certify') records.push(...result.records);
    return { records, result };
  }, [cmd]);
}

/** A record without its wall time. @param {any} r */
const timeless = (r) => ({ ...r, micros: null });

test('1 and 2 workers: the same certification records, summary and final table', { timeout: 4 * LONG }, async () => {
  const { page, errors } = await openPage(env.browser, env.baseUrl, SMALL);
  await page.waitForSelector('#search-card:not([hidden])', { timeout: LONG });
  await waitIdle(page);
  assert.ok(await page.locator('#pool-size option').count() >= 2);
  // bad parts are refused with the field, by the worker's checks and by the engine's
  /** @param {unknown} msg */
  const send = (msg) => page.evaluate((m) => /** @type {any} */ (window).arq.client.raw(m).then(() => 'ok', (/** @type {Error} */ e) => e.message), msg);
  assert.match(await send({ cmd: 'certifyPart', params: { part: { index: 0, count: 0 } } }), /params\.part\.count=0/);
  assert.match(await send({ cmd: 'certifyPart', params: {} }), /params\.part=undefined|params\.part/);
  assert.match(await send({ cmd: 'certifyPart', params: { part: { index: 2, count: 2 } } }), /part\.index/);
  assert.match(await send({ cmd: 'finalPart', params: { part: { index: 0, count: 1 }, rows: [{ name: 'x', wb: [4], ab: [4], locks: [false] }] } }), /rows\[0\]\.wb/);
  assert.match(await send({ cmd: 'certifyImport', params: { parts: [new Uint8Array([1, 2])] } }), /parts\[0\]/);

  const one = await viaPool(page, 1, 'certify');
  const two = await viaPool(page, 2, 'certify');
  assert.equal(one.records.length, 10);
  const sorted = (/** @type {any[]} */ rs) => rs.map(timeless).sort((a, b) => a.index - b.index);
  assert.deepEqual(sorted(two.records), sorted(one.records));
  assert.deepEqual(two.result.summary, one.result.summary);
  assert.equal(two.result.progress.examplesDone, 10);
  assert.equal(two.result.progress.samplesDone, one.result.progress.samplesDone);

  // the read-out after the pooled run re-uses the assembled FP32 cache
  const phases = await page.evaluate(async () => {
    const pool = /** @type {any} */ (window).arq.pool;
    /** @type {string[]} */
    const seen = [];
    await pool.request('quantEval', {}, { onProgress: (/** @type {any} */ p) => seen.push(p.phase) });
    return seen;
  });
  assert.ok(phases.length > 0 && !phases.includes('fp32-certify'), `read-out phases: ${phases}`);

  // a finished search, so the table has a searched row
  await page.evaluate(() => /** @type {any} */ (window).arq.pool.request('search', { kind: 'random' }));
  const t1 = await viaPool(page, 1, 'final');
  const t2 = await viaPool(page, 2, 'final');
  const names = t1.result.rows.map((/** @type {any} */ r) => r.name);
  assert.equal(names.length, 3);
  assert.equal(names[0], 'FP32');
  assert.match(names[1], /^uniform W\dA\d \(best within budget\)$/);
  assert.equal(names[2], 'random');
  assert.deepEqual(t2.result.rows, t1.result.rows);
  // the intervals, computed by worker 0 from the merged rows
  const stats = (/** @type {any} */ rows) => page.evaluate((r) => /** @type {any} */ (window).arq.pool.request('finalStats', { rows: r }), rows);
  const s1 = await stats(t1.result.rows);
  assert.deepEqual(await stats(t2.result.rows), s1);
  assert.equal(s1.rows[1].vsFp32.against, 'FP32');
  assert.equal(s1.rows[0].vsFp32, null);
  // rows that are not one table's are refused with the field
  assert.match(await send({ cmd: 'finalStats', params: { rows: [{ name: 'x' }] } }), /rows=.*missing field/);
  const cut = structuredClone(t1.result.rows);
  cut[1].radii.pop();
  assert.match(await send({ cmd: 'finalStats', params: { rows: cut } }), /rows\[1\]\.radii=/);

  // the page's own button with 2 workers, and the count survives a reload
  await page.selectOption('#pool-size', '2');
  await page.click('#certify-start');
  await page.waitForSelector('#certify-progress[data-state="done"]', { timeout: LONG });
  await waitIdle(page);
  assert.match(await page.textContent('#certify-progress-text') ?? '', /Certified 10 test points/);
  const indices = await page.$$eval('#certify-points circle.pt', (c) => c.map((x) => Number(x.getAttribute('data-index'))));
  assert.deepEqual(indices, [...indices].sort((a, b) => a - b));
  assert.equal(indices.length, 10);
  await page.reload();
  await page.waitForSelector('#pool-size option', { state: 'attached' });
  assert.equal(await page.inputValue('#pool-size'), '2');
  assert.deepEqual(errors, []);
  await page.context().close();
});
