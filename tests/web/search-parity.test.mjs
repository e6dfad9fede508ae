// The same URL gives the same search trajectory in the page and in the native CLI: every
// episode's budget-enforced bits and reward, for a small ARQ search (DDPG + IRS), compared
// with `arq search --method arq` (target/release/arq; make test-web builds it).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { LONG, ROOT, launch, openPage, waitIdle } from './harness.mjs';

const FRAGMENT = '#v=1&episodes=5&warmup=3&spoints=6&sft=2&n0=20&n=200&np=100&calib=64&hidden=32&seed=4';
const ARQ = join(ROOT, 'target', 'release', 'arq');

/** @type {Awaited<ReturnType<typeof launch>>} */
let env;
before(async () => { env = await launch(); });
after(async () => { await env?.close(); });

test('page search equals `arq search` episode by episode for the same fragment', { timeout: LONG }, async () => {
  assert.ok(existsSync(ARQ), `${ARQ} is missing: cargo build --release --bin arq`);
  const log = join(mkdtempSync(join(tmpdir(), 'arq-search-')), 'episodes.jsonl');
  const cli = spawnSync(ARQ, ['search', '--method', 'arq', '--no-compare', '--quiet', '--json', '--url', FRAGMENT, '--log', log], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(cli.status, 0, cli.stderr);
  /** @type {{episode: number, wbits: number[], abits: number[], reward: number}[]} */
  const episodes = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(episodes.length, 5);

  const { page } = await openPage(env.browser, env.baseUrl, FRAGMENT);
  await page.waitForSelector('#search-card:not([hidden])', { timeout: LONG });
  await page.waitForSelector('#bits-editor .bit-col', { timeout: LONG });
  await waitIdle(page);
  await page.click('#search-arq');
  await page.waitForSelector('#search-progress[data-state="done"]', { timeout: LONG });
  await waitIdle(page);
  const bits = await page.$$eval('#search-heatmap-fallback tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td,th')].map((c) => (c.textContent ?? '').trim())));
  const rewards = await page.$$eval('#search-reward-fallback tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td,th')].map((c) => (c.textContent ?? '').trim())));
  assert.equal(bits.length, episodes.length);
  episodes.forEach((e, i) => {
    assert.deepEqual(bits[i].slice(1).map(Number), [...e.wbits, ...e.abits], `episode ${i}: bits`);
    // the page prints rewards with 4 significant digits (d3 '.4~g'); d3 writes U+2212 for minus
    const shown = Number(rewards[i][2].replace('\u2212', '-'));
    assert.ok(Math.abs(shown - e.reward) <= 5e-4 * Math.abs(e.reward) + 1e-12, `episode ${i}: reward ${shown} vs ${e.reward}`);
  });
});

/** A search and its final table, small: 8 reported points, 2 fine-tuning batches per row. */
const FINAL = '#v=1&episodes=2&warmup=1&spoints=6&sft=1&n0=20&n=200&np=100&calib=64&hidden=32&seed=4&points=8&fft=2';

test('the final table and its paired intervals: the page equals `arq search` for the same fragment', { timeout: LONG }, async () => {
  assert.ok(existsSync(ARQ), `${ARQ} is missing: cargo build --release --bin arq`);
  const cli = spawnSync(ARQ, ['search', '--method', 'arq', '--quiet', '--json', '--url', FINAL], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(cli.status, 0, cli.stderr);
  /** @type {{rows: {name: string, summary: {acr: number}}[], significance: {rows: {name: string, vsFp32: any, vsArq: any}[]}}} */
  const want = JSON.parse(cli.stdout);
  assert.equal(want.rows.length, 3);
  assert.match(want.rows[1].name, /^uniform W\dA\d \(best within budget\)$/);

  const { page, errors } = await openPage(env.browser, env.baseUrl, FINAL);
  await page.waitForSelector('#search-card:not([hidden])', { timeout: LONG });
  await page.waitForSelector('#bits-editor .bit-col', { timeout: LONG });
  await waitIdle(page);
  await page.click('#search-arq');
  await page.waitForSelector('#search-progress[data-state="done"]', { timeout: LONG });
  await waitIdle(page);
  await page.click('#final-start');
  await page.waitForSelector('#final-progress[data-state="done"]', { timeout: LONG });
  await page.waitForSelector('#final-table[data-sig="done"]', { timeout: LONG });
  await waitIdle(page);
  const head = await page.$$eval('#final-table thead th', (t) => t.map((x) => x.textContent));
  const acrCol = head.indexOf('ACR');
  const shown = await page.$$eval('#final-table tbody tr', (trs, col) => trs.map((tr) => {
    const td = [...tr.querySelectorAll('td')];
    const diff = (/** @type {HTMLElement} */ c) => (c.dataset.vs && c.dataset.vs !== 'none'
      ? { against: c.dataset.vs, diff: Number(c.dataset.diff), low: Number(c.dataset.low), high: Number(c.dataset.high), significant: c.dataset.significant === 'true' }
      : null);
    return { name: tr.getAttribute('data-row'), acr: td[col - 1].textContent, vsFp32: diff(td[col]), vsArq: diff(td[col + 1]) };
  }), acrCol);
  assert.deepEqual(shown.map((r) => r.name), want.rows.map((r) => r.name));
  want.rows.forEach((r, i) => {
    assert.equal(shown[i].acr, r.summary.acr.toFixed(3), `${r.name}: ACR`);
    const s = want.significance.rows[i];
    // the intervals bit for bit (the cells carry the engine's numbers)
    const pick = (/** @type {any} */ d) => (d ? { against: d.against, ...d.acr } : null);
    assert.deepEqual(shown[i].vsFp32, pick(s.vsFp32), `${r.name}: vs FP32`);
    assert.deepEqual(shown[i].vsArq, pick(s.vsArq), `${r.name}: vs ARQ`);
  });
  assert.deepEqual(errors, []);
  await page.context().close();
});
