// The page and the native CLI give the same certification for the same URL: every point's
// vote count (which pins the noise, the forward passes and the shipped checkpoint), pA_low and
// radius, and the summary. The CLI is target/release/arq (make test-web builds it).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { LONG, ROOT, launch, openPage, waitIdle } from './harness.mjs';

const FRAGMENT = '#v=1&points=8&stride=25&n=300&n0=30&seed=3';
const ARQ = join(ROOT, 'target', 'release', 'arq');

/** @type {Awaited<ReturnType<typeof launch>>} */
let env;
before(async () => { env = await launch(); });
after(async () => { await env?.close(); });

test('page certification equals `arq certify` for the same fragment', { timeout: LONG }, async () => {
  assert.ok(existsSync(ARQ), `${ARQ} is missing: cargo build --release --bin arq`);
  const dir = mkdtempSync(join(tmpdir(), 'arq-parity-'));
  const recFile = join(dir, 'records.jsonl');
  const cli = spawnSync(ARQ, ['certify', '--url', FRAGMENT, '--json', '--quiet', '--records', recFile], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(cli.status, 0, cli.stderr);
  const summary = JSON.parse(cli.stdout).summary;
  /** @type {{index: number, count: number, pLower: number, radius: number}[]} */
  const records = readFileSync(recFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(records.length, 8);

  const { page } = await openPage(env.browser, env.baseUrl, FRAGMENT);
  await page.click('#certify-start');
  await page.waitForSelector('#certify-progress[data-state="done"]', { timeout: LONG });
  await waitIdle(page);
  const rows = await page.$$eval('#certify-points-fallback tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td,th')].map((c) => c.textContent ?? '')));
  assert.equal(rows.length, records.length);
  records.forEach((r, i) => {
    const [, , , , radius, pLower, count] = rows[i];
    assert.equal(count.split('/')[0].replace(/[^0-9]/g, ''), String(r.count), `point ${i}: vote count`);
    assert.equal(pLower.trim(), r.pLower.toFixed(5), `point ${i}: pA_low`);
    assert.equal(Number(radius), Number(r.radius.toFixed(3)), `point ${i}: radius`);
  });
  const acr = await page.$$eval('#certify-table tbody tr td', (tds) => tds.map((t) => t.textContent ?? ''));
  assert.ok(acr.some((t) => t.includes(summary.acr.toFixed(3))), `ACR ${summary.acr.toFixed(3)} not in the page's table: ${acr.join(' | ')}`);
});
