// A pool of workers gives the same results as one worker: the default certification (small
// settings) with 1 and with 2 workers streams the same records (wall times aside) and ends
// with the same core summary, the read-out after a pooled certification finds worker 0's
// assembled IRS cache (no FP32 certification again), and the final table's rows (the uniform
// row chosen by whichever worker owns it) and their paired intervals are the same;
// the page's Certify button works with 2 workers; the worker count is kept in localStorage;
// bad parts, rows and part bytes are refused with the field; a failing or hung helper is a
// clear error naming it, and the pool works again afterwards.
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
  // the split IRS's commands: bad params by the worker's checks, bad bytes and states by the engine's
  assert.match(await send({ cmd: 'certifyPart', params: { part: { index: 0, count: 1 }, points: 'final' } }), /params\.points="final"/);
  assert.match(await send({ cmd: 'hasReference', params: { points: 'x' } }), /params\.points="x"/);
  assert.match(await send({ cmd: 'quantEval', params: { pool: 0 } }), /params\.pool=0/);
  assert.match(await send({ cmd: 'search', params: { kind: 'arq', pool: 65 } }), /params\.pool=65/);
  assert.match(await send({ cmd: 'irsPart', params: { task: [1, 2] } }), /params\.task/);
  assert.match(await send({ cmd: 'irsPart', params: { task: new Uint8Array([1, 2]) } }), /task=2 bytes/);
  assert.match(await send({ cmd: 'irsMerge', params: { kind: 'train', parts: [new Uint8Array([1])] } }), /params\.kind="train"/);
  assert.match(await send({ cmd: 'irsMerge', params: { kind: 'search', parts: [] } }), /params\.parts/);
  assert.match(await send({ cmd: 'irsMerge', params: { kind: 'quantEval', parts: [new Uint8Array([1])] } }), /parts\[0\]/);

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

/** A search and a read-out: 3 ARQ episodes on 6 search digits (3 per worker of 2). */
const SEARCH = '#v=1&points=10&n=200&n0=20&episodes=3&warmup=1&spoints=6&sft=1&qft=1&calib=32&hidden=16&wb=4&ab=4';

/** An episode or read-out without its wall times. @param {any} x */
function untimed(x) {
  const { wallMs: _w, micros: _m, ...rest } = x;
  if (rest.metrics) {
    const { calibrateMs: _c, fineTuneMs: _f, irsMs: _i, agentMs: _a, ...m } = rest.metrics;
    rest.metrics = m;
  }
  return rest;
}

/**
 * In a fresh page with `workers` workers: the read-out of the config's policy, then an ARQ
 * search (paused after its first episode and resumed when `pause`); the read-out, the
 * episodes (as streamed and as the engine holds them) and the phases seen.
 * @param {number} workers @param {boolean} pause
 */
async function searchRun(workers, pause) {
  const { page, errors } = await openPage(env.browser, env.baseUrl, SEARCH);
  await page.waitForSelector('#search-card:not([hidden])', { timeout: LONG });
  await waitIdle(page);
  await page.selectOption('#pool-size', String(workers));
  const out = await page.evaluate(async ([pausing]) => {
    const pool = /** @type {any} */ (window).arq.pool;
    /** @type {string[]} */
    const phases = [];
    const onProgress = (/** @type {any} */ p) => phases.push(p.phase);
    const readout = await pool.request('quantEval', {}, { onProgress });
    /** @type {any[]} */
    const episodes = [];
    const run = (/** @type {boolean} */ resume) => {
      const job = pool.start('search', { kind: 'arq', resume }, {
        onProgress,
        onPartial: (/** @type {any} */ d) => {
          episodes.push(...d.records);
          if (pausing && !resume && episodes.length >= 1) job.cancel();
        },
      });
      return job.promise.then((/** @type {any} */ r) => { episodes.push(...r.records); return r.finished; },
        (/** @type {any} */ e) => { if (e?.result) episodes.push(...e.result.records); return false; });
    };
    let finished = await run(false);
    if (pausing) {
      if (finished) throw new Error('the search was not paused');
      finished = await run(true);
    }
    const state = await pool.request('searchState', {});
    return { readout, episodes, finished, history: state.history, phases: [...new Set(phases)], splits: pool.irsSplits };
  }, [pause]);
  assert.deepEqual(errors, []);
  await page.context().close();
  return out;
}

test('1 and 2 workers: the same read-out and search episodes, a paused pooled search resumes', { timeout: 4 * LONG }, async () => {
  const one = await searchRun(1, false);
  const two = await searchRun(2, false);
  assert.equal(one.finished, true);
  assert.equal(one.episodes.length, 3);
  assert.ok(two.phases.includes('irs'), `phases: ${two.phases}`);
  // one IRS split for the read-out and one per episode; none with one worker
  assert.equal(two.splits, 4);
  assert.equal(one.splits, 0);
  assert.deepEqual(untimed(two.readout), untimed(one.readout));
  assert.deepEqual(two.episodes.map(untimed), one.episodes.map(untimed));
  assert.deepEqual(two.history.map(untimed), one.history.map(untimed));
  // paused after the first episode with 2 workers, resumed: the same episodes
  const paused = await searchRun(2, true);
  assert.deepEqual(paused.episodes.map(untimed), one.episodes.map(untimed));
});

test('a failing helper is a clear error, and the pool works again afterwards', { timeout: 2 * LONG }, async () => {
  const { page, errors } = await openPage(env.browser, env.baseUrl, SEARCH);
  await page.waitForSelector('#search-card:not([hidden])', { timeout: LONG });
  await waitIdle(page);
  await page.selectOption('#pool-size', '2');
  const r = await page.evaluate(async () => {
    const pool = /** @type {any} */ (window).arq.pool;
    const want = await pool.request('quantEval', {});
    // the helper's config changes behind the pool's back: its IRS part refuses the task
    const [h] = pool.helpers;
    await h.client.request('setConfig', { fragment: '#v=1&points=10&n=200&n0=20&seed=9' });
    const failed = await pool.request('quantEval', {}).then(() => 'no error', (/** @type {Error} */ e) => e.message);
    const again = await pool.request('quantEval', {});
    return { failed, same: JSON.stringify({ ...again, micros: null }) === JSON.stringify({ ...want, micros: null }) };
  });
  assert.match(r.failed, /pool worker 1: .*task\.identity/);
  assert.ok(r.same, 'the read-out after the failure');
  assert.deepEqual(errors, []);
  await page.context().close();
});

test('a hung helper is stopped: the job fails naming it, the page stays usable, the next job runs with a fresh helper', { timeout: 2 * LONG }, async () => {
  const { page, errors } = await openPage(env.browser, env.baseUrl, '#v=1&points=40&n=2000&n0=50');
  await waitIdle(page);
  await page.selectOption('#pool-size', '2');
  // a short stall limit for the test (the page's is 30 s), set before the helper starts
  await page.evaluate(() => {
    const w = /** @type {any} */ (window);
    w.arq.pool.stallMs = 1500;
    w.hung = w.arq.pool.request('certify', {}).then(() => 'no error', (/** @type {Error} */ e) => e.message);
  });
  // once the helper is working, its event loop is blocked by a busy loop (as a runaway
  // computation would): it posts nothing more
  const named = async () => {
    for (const w of page.workers()) {
      if (await w.evaluate(() => self.name).catch(() => '') === 'arq pool worker 1') return w;
    }
    return null;
  };
  await page.waitForFunction(() => /** @type {any} */ (window).arq.pool.helpers.length === 1, null, { timeout: LONG });
  let helper = null;
  for (let i = 0; i < 100 && helper === null; i++) {
    helper = await named();
    if (helper === null) await page.waitForTimeout(50);
  }
  assert.ok(helper, 'the helper worker is named');
  helper.evaluate(() => { for (;;) { /* hung */ } }).catch(() => {});
  const message = await page.evaluate(() => /** @type {any} */ (window).hung);
  assert.match(message, /^pool worker 1: stopped answering \(nothing for [\d.]+ s while working\)/);
  assert.equal(await page.evaluate(() => /** @type {any} */ (window).arq.pool.helpers.length), 0, 'the hung helper is forgotten');
  // the page works on: a click certifies with a fresh helper
  await page.evaluate(() => { location.hash = '#v=1&points=6&n=200&n0=20'; });
  await waitIdle(page);
  await page.click('#certify-start');
  await waitIdle(page);
  assert.equal(await page.$$eval('#certify-points-fallback tbody tr', (r) => r.length), 6);
  assert.equal(await page.evaluate(() => /** @type {any} */ (window).arq.pool.helpers.length), 1);
  assert.deepEqual(errors, []);
  await page.context().close();
});
