// The "Layer sensitivity" panel of the bits card in Debian's chromium with the real engine:
// "Measure sensitivity" gives one row per quantizable layer (lenet: five), streamed as layers
// finish, with a bar chart, and the same numbers as `arq sensitivity` for the same fragment,
// k and side (target/release/arq; make test-web builds it). A cancel keeps the finished rows
// and leaves the page usable; a job that cannot start shows the engine's error in the panel.
// No timing assertions.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { LONG, ROOT, launch, openPage, screenshot, waitIdle } from './harness.mjs';

/** Small enough for seconds: a 20-digit search split, 2 fine-tuning batches per layer. */
const FRAGMENT = '#v=1&spoints=20&sft=2&np=60';
const ARQ = join(ROOT, 'target', 'release', 'arq');

/** @type {Awaited<ReturnType<typeof launch>>} */
let env;
before(async () => { env = await launch(); });
after(async () => { await env?.close(); });

/** The table's measured rows. @param {import('playwright-core').Page} page */
const rows = (page) => page.$$eval('#sens-table tbody tr[data-layer]', (trs) => trs.map((tr) => ({
  layer: Number(tr.getAttribute('data-layer')), rank: Number(tr.getAttribute('data-rank')),
  name: tr.querySelector('th')?.textContent ?? '', cells: [...tr.querySelectorAll('td')].map((c) => c.textContent ?? ''),
  acr: Number(tr.getAttribute('data-acr')), deltaAcr: Number(tr.getAttribute('data-delta-acr')),
  accuracy: Number(tr.getAttribute('data-accuracy')), deltaAccuracy: Number(tr.getAttribute('data-delta-accuracy')),
  bops: Number(tr.getAttribute('data-bops')),
})));

/** @param {import('playwright-core').Page} page */
async function openPanel(page) {
  await page.waitForSelector('#bits-card:not([hidden]) #sens-start:not([disabled])', { timeout: LONG });
  await waitIdle(page);
}

/** The CLI's table for the same fragment, k and side. @param {string[]} args */
function cli(...args) {
  assert.ok(existsSync(ARQ), `${ARQ} is missing: cargo build --release --bin arq`);
  const out = spawnSync(ARQ, ['sensitivity', '--url', FRAGMENT, '--json', '--quiet', ...args], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(out.status, 0, out.stderr);
  return JSON.parse(out.stdout);
}

test('Measure sensitivity: one row per layer, a chart, and the CLI\'s numbers', { timeout: LONG }, async () => {
  const { page, errors } = await openPage(env.browser, env.baseUrl, FRAGMENT);
  await openPanel(page);
  const layers = await page.$$eval('#bits-editor .bit-col', (cols) => cols.map((c) => c.getAttribute('data-name')));
  assert.deepEqual(layers, ['conv1', 'conv2', 'fc3', 'fc4', 'fc5']);
  await page.selectOption('#sens-bits', '2');
  await page.selectOption('#sens-side', 'w');
  await page.click('#sens-start');
  // rows stream in: the first one is there before the last
  await page.waitForSelector('#sens-table tbody tr[data-layer="0"]', { timeout: LONG });
  await page.waitForSelector('#sens-panel[data-state="done"]', { timeout: LONG });
  await waitIdle(page);
  const got = await rows(page);
  assert.deepEqual(got.map((r) => r.name), layers.map((n, j) => `${j} ${n}`), 'one row per quantizable layer, in network order');
  assert.equal(await page.locator('#sens-table tbody tr.pending').count(), 0);
  assert.equal(await page.locator('#sens-chart svg rect.sens-bar.acr').count(), layers.length);
  assert.equal(await page.locator('#sens-chart svg rect.sens-bar.acc').count(), layers.length);
  assert.equal(await page.locator('#sens-chart svg .floor-line').count(), 1);
  assert.deepEqual([...got.map((r) => r.rank)].sort(), [1, 2, 3, 4, 5]);
  const progress = await page.textContent('#sens-progress-text');
  assert.match(progress ?? '', /Measured 5 layers at 2 bits \(weights only\)/);

  const want = cli('--bits', '2', '--side', 'w');
  assert.equal(want.rows.length, layers.length);
  want.rows.forEach((/** @type {any} */ w, /** @type {number} */ j) => {
    const r = got[j];
    assert.equal(r.layer, w.layer);
    assert.equal(r.name, `${w.layer} ${w.name}`);
    // bit-identical: the page's numbers are the engine's own, the CLI's the native build's
    assert.equal(r.acr, w.acr, `${w.name}: ACR`);
    assert.equal(r.deltaAcr, w.deltaAcr, `${w.name}: ΔACR`);
    assert.equal(r.accuracy, w.accuracy, `${w.name}: accuracy`);
    assert.equal(r.deltaAccuracy, w.deltaAccuracy, `${w.name}: Δ accuracy`);
    assert.equal(r.bops, w.bopsRatio, `${w.name}: BOPs`);
    assert.equal(r.rank, want.ranks[j], `${w.name}: rank`);
    assert.equal(r.cells[3], w.acr.toFixed(3), `${w.name}: the shown ACR`);
    assert.equal(r.cells[4].replace('−', '-').replace('±', '+'), `${w.deltaAcr >= 0 ? '+' : ''}${w.deltaAcr.toFixed(3)}`.replace('+-', '-'), `${w.name}: the shown ΔACR`);
  });
  const reference = await page.textContent('#sens-reference');
  assert.ok(reference?.includes(`ACR ${want.reference.fp32Acr.toFixed(3)}`), `${reference} names the FP32 ACR`);
  assert.ok(reference?.includes(`ACR ${want.reference.irsFloorAcr.toFixed(3)}`), `${reference} names the IRS floor`);
  await screenshot(page, 'sensitivity.png');

  // a settings change marks the table stale
  await page.evaluate(() => { location.hash = '#v=1&spoints=20&sft=3&np=60'; });
  await page.waitForSelector('#sens-stale', { timeout: LONG });
  assert.deepEqual(errors, []);
});

test('Cancel keeps the finished rows and the page usable', { timeout: LONG }, async () => {
  // 300 fine-tuning batches per layer: the rest of the table takes far longer than a click
  const { page, errors } = await openPage(env.browser, env.baseUrl, '#v=1&spoints=10&sft=300&np=40');
  await openPanel(page);
  await page.click('#sens-start');
  await page.waitForSelector('#sens-table tbody tr[data-layer="0"]', { timeout: LONG });
  await page.click('#sens-cancel');
  await page.waitForSelector('#sens-panel[data-state="aborted"]', { timeout: LONG });
  await waitIdle(page);
  const kept = await rows(page);
  assert.ok(kept.length >= 1 && kept.length < 5, `finished rows stay (${kept.length})`);
  assert.match(await page.textContent('#sens-progress-text') ?? '', /Cancelled: the \d finished rows? stay/);
  assert.ok(await page.locator('#sens-table tbody tr.pending').count() >= 1, 'the layers not measured are listed as such');
  // usable: another job runs to its end
  assert.equal(await page.isDisabled('#sens-start'), false);
  await page.click('#bits-w4a4');
  await page.waitForFunction(() => decodeURIComponent(location.hash).includes('wb=4,4,4,4,4'), undefined, { timeout: LONG });
  assert.deepEqual(errors, []);
});

test('a job that cannot start shows the engine\'s error in the panel', { timeout: LONG }, async () => {
  // every test digit is a reported point: no search split is left
  const { page } = await openPage(env.browser, env.baseUrl, '#v=1&points=2000&stride=1');
  await openPanel(page);
  await page.click('#sens-start');
  await page.waitForSelector('#sens-panel[data-state="failed"]', { timeout: LONG });
  await waitIdle(page);
  const text = await page.textContent('#sens-progress-text');
  assert.match(text ?? '', /Failed: .*spoints/);
  assert.match(await page.textContent('#status') ?? '', /spoints/);
  assert.equal(await page.isDisabled('#sens-start'), false);
});

test('the worker refuses bad sensitivity params by name', { timeout: LONG }, async () => {
  const { page, errors } = await openPage(env.browser, env.baseUrl, FRAGMENT);
  const replies = await page.evaluate(async () => {
    const client = /** @type {any} */ (window).arq.client;
    /** @type {Worker} */
    const worker = client.worker;
    const cases = [{ bits: 9, side: 'both' }, { bits: 1, side: 'w' }, { bits: 4, side: 'x' }, { bits: 4 }, { bits: 4, side: 'a', k: 1 }];
    /** @type {string[]} */
    const out = [];
    for (const [i, params] of cases.entries()) {
      const id = 2_000_000_000 + i;
      out.push(await new Promise((resolve) => {
        const listen = (/** @type {MessageEvent} */ ev) => {
          if (ev.data?.id !== id || ev.data.type !== 'error') return;
          worker.removeEventListener('message', listen);
          resolve(ev.data.message);
        };
        worker.addEventListener('message', listen);
        worker.postMessage({ id, cmd: 'sensitivity', params });
      }));
    }
    return out;
  });
  assert.match(replies[0], /params\.bits=9: expected an integer in 2\.\.8/);
  assert.match(replies[1], /params\.bits=1/);
  assert.match(replies[2], /params\.side="x": expected one of w, a, both/);
  assert.match(replies[3], /params\.side=undefined|params\.side/);
  assert.match(replies[4], /params\.k=1: unknown parameter of sensitivity/);
  assert.deepEqual(errors, []);
});
