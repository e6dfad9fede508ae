// End-to-end tests of the page in Debian's chromium: loading, the layers table, the sample
// grid, evaluation, the noise view, the worker's message validation, the URL round trip, a
// garbage fragment, and full-page screenshots under artifacts/. No timing assertions.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { LONG, launch, openPage, screenshot, waitIdle, waitNoise } from './harness.mjs';

/** @type {Awaited<ReturnType<typeof launch>>} */
let env;

before(async () => {
  env = await launch();
});

after(async () => {
  await env?.close();
});

test('loads with the default model: status, phases, lenet layers and MACs', async () => {
  const { page, errors } = await openPage(env.browser, env.baseUrl);
  assert.match(await page.textContent('#status') ?? '', /Ready/);
  assert.match(await page.textContent('#status') ?? '', /lenet/);
  const phases = await page.$$eval('#load-phases li', (li) => li.map((l) => l.getAttribute('data-phase')));
  for (const phase of ['wasm', 'dataset', 'engine']) assert.ok(phases.includes(phase), `phase ${phase} shown: ${phases}`);
  const quantizable = await page.$$eval('#layers-table tbody tr[data-quantizable="true"]', (r) => r.length);
  assert.equal(quantizable, 5);
  assert.equal(await page.textContent('#layers-table [data-total="macs"]'), '281,640');
  assert.match(await page.textContent('#checkpoint-status') ?? '', /checkpoint|train/i);
  assert.match(await page.textContent('#engine-version') ?? '', /engine \d+\.\d+/);
  assert.deepEqual(errors, []);
  await page.context().close();
});

test('the sample grid shows digits with labels and pages', async () => {
  const { page, errors } = await openPage(env.browser, env.baseUrl);
  await page.waitForSelector('#sample-grid .tile canvas');
  const tiles = await page.$$eval('#sample-grid .tile', (t) => t.map((x) => x.querySelector('.tile-label')?.textContent ?? ''));
  assert.equal(tiles.length, 48);
  for (const label of tiles) assert.match(label, /^\d$/);
  const inked = await page.$eval('#sample-grid .tile canvas', (c) => {
    const canvas = /** @type {HTMLCanvasElement} */ (c);
    const data = canvas.getContext('2d')?.getImageData(0, 0, canvas.width, canvas.height).data ?? [];
    let dark = 0;
    for (let i = 0; i < data.length; i += 4) if (data[i] < 128) dark += 1;
    return dark;
  });
  assert.ok(inked > 20, `the first digit has ink (${inked} dark pixels)`);
  const before = await page.textContent('#sample-range');
  await page.click('#sample-next');
  await page.waitForFunction((b) => document.querySelector('#sample-range')?.textContent !== b, before);
  assert.match(await page.textContent('#sample-range') ?? '', /test digits 48–95/);
  assert.deepEqual(errors, []);
  await page.context().close();
});

test('evaluate shows an accuracy and a 10x10 confusion matrix', async () => {
  const { page, errors } = await openPage(env.browser, env.baseUrl);
  await page.click('#eval-start');
  await page.waitForSelector('#eval-result:not([hidden]) svg.heatmap', { timeout: LONG });
  await waitIdle(page);
  assert.match(await page.textContent('#eval-accuracy') ?? '', /^\d{1,3}\.\d{2}%$/);
  assert.equal(await page.$$eval('#confusion-chart g.cell', (c) => c.length), 100);
  const counts = await page.$$eval('#confusion-fallback tbody tr', (rows) => rows.map((r) => [...r.querySelectorAll('td')].map((td) => Number((td.textContent ?? '').replace(/,/g, '')))));
  assert.equal(counts.length, 10);
  const total = counts.flat().reduce((a, b) => a + b, 0);
  const n = Number((await page.textContent('#eval-n') ?? '').replace(/,/g, ''));
  assert.equal(total, n, 'the confusion matrix counts every test digit once');
  assert.deepEqual(errors, []);
  await page.context().close();
});

test('the noise view shows labelled tiles per sigma, a vote bar and a certificate per row, and arrow keys move', async () => {
  const { page, errors } = await openPage(env.browser, env.baseUrl);
  await waitNoise(page);
  const rows = await page.$$eval('#noise-rows .noise-row', (r) => r.map((row) => ({
    sigma: row.getAttribute('data-sigma'),
    config: row.classList.contains('config'),
    preds: [...row.querySelectorAll('.noise-tile')].map((t) => ({ text: t.querySelector('.pred')?.textContent, cls: t.className })),
    votes: row.querySelector('.vote-text')?.textContent ?? '',
    cert: row.querySelector('.row-cert')?.textContent ?? '',
  })));
  assert.deepEqual(rows.map((r) => r.sigma), ['0.12', '0.25', '0.5', '1']);
  assert.deepEqual(rows.map((r) => r.config), [false, true, false, false], 'the config\'s sigma (0.25) is marked');
  for (const row of rows) {
    assert.equal(row.preds.length, 12);
    for (const p of row.preds) {
      assert.match(p.text ?? '', /^\d$/);
      assert.match(p.cls, /\b(ok|bad)\b/);
    }
    assert.match(row.votes, /votes of 12 draws: \d: \d+/);
    assert.match(row.cert, /top class \d \((correct|wrong)\): \d+ of 12 draws · pA_low 0\.\d{4} at α = 0\.001 · (ABSTAIN|radius \d\.\d{3})/);
  }
  // A config sigma outside the list adds its own row.
  await page.fill('#cfg-sigma', '0.7');
  await page.press('#cfg-sigma', 'Tab');
  await page.waitForFunction(() => !!document.querySelector('#noise-rows .noise-row.config[data-sigma="0.7"]'), undefined, { timeout: LONG });
  await waitIdle(page);
  assert.deepEqual(await page.$$eval('#noise-rows .noise-row', (r) => r.map((x) => x.getAttribute('data-sigma'))), ['0.12', '0.25', '0.5', '0.7', '1']);
  const label = await page.getAttribute('#noise-clean [data-label]', 'data-label');
  assert.match(label ?? '', /^\d$/);
  await page.focus('#noise-figure');
  await page.keyboard.press('ArrowRight');
  await page.waitForFunction(() => /** @type {HTMLInputElement} */ (document.querySelector('#noise-index')).value === '1');
  await page.waitForFunction(() => /#1,/.test(document.querySelector('#noise-clean')?.textContent ?? ''));
  await page.click('#noise-prev');
  await page.waitForFunction(() => /#0,/.test(document.querySelector('#noise-clean')?.textContent ?? ''));
  assert.deepEqual(errors, []);
  await page.context().close();
});

test('the worker rejects bad messages with the field and value', async () => {
  const { page } = await openPage(env.browser, env.baseUrl);
  /** @param {unknown} msg */
  const send = (msg) => page.evaluate((m) => /** @type {any} */ (window).arq.client.raw(m).then(() => 'ok', (/** @type {Error} */ e) => e.message), msg);
  assert.match(await send({ cmd: 'bogus', params: {} }), /cmd="bogus": unknown command/);
  assert.match(await send({ cmd: 'noise', params: { index: -1, sigmas: [0.25], k: 4 } }), /params\.index=-1/);
  assert.match(await send({ cmd: 'noise', params: { index: 0, sigmas: ['x'], k: 4 } }), /params\.sigmas=\["x"\]/);
  assert.match(await send({ cmd: 'samples', params: { split: 'test', start: 0, count: 5, extra: 1 } }), /params\.extra=1: unknown parameter/);
  assert.match(await send({ cmd: 'samples', params: { split: 'test', start: 999999, count: 5 } }), /params\.start=999999.*test split has/);
  assert.match(await send({ cmd: 'certify', params: { n: 5 } }), /params\.n=5: unknown parameter of certify; allowed: none/);
  assert.match(await send({ cmd: 'noise', params: { index: 0, sigmas: [0.25], k: 4 } }), /^ok$/);
  // The page is still usable afterwards.
  await page.click('#noise-next');
  await page.waitForFunction(() => /#1,/.test(document.querySelector('#noise-clean')?.textContent ?? ''), undefined, { timeout: LONG });
  await page.context().close();
});

test('without a shipped checkpoint the page says so and the untrained model is usable', async () => {
  const { page, errors } = await openPage(env.browser, env.baseUrl, '', {
    setup: (context) => context.route('**/models/index.json', (route) => route.fulfill({ json: [] })),
  });
  assert.equal(await page.getAttribute('#checkpoint-status', 'data-state'), 'missing');
  assert.match(await page.textContent('#checkpoint-status') ?? '', /no pretrained checkpoint for this model\/sigma — train it/i);
  await page.click('#eval-start');
  await page.waitForSelector('#eval-result:not([hidden]) svg.heatmap', { timeout: LONG });
  assert.deepEqual(errors, []);
  await page.context().close();
});

test('a corrupted checkpoint is a readable error, not a broken page', async () => {
  const { page } = await openPage(env.browser, env.baseUrl, '', {
    setup: async (context) => {
      await context.route('**/models/index.json', (route) => route.fulfill({
        json: [{ model: 'lenet', sigma: 0.25, file: 'broken.arqc', hash: 'ab'.repeat(32), testAccuracy: 0.9 }],
      }));
      await context.route('**/models/broken.arqc', (route) => route.fulfill({ body: Buffer.from('definitely not a checkpoint') }));
    },
  });
  await page.locator('#notices .notice-error').first().waitFor();
  assert.match(await page.textContent('#notices') ?? '', /checkpoint/i);
  assert.equal(await page.getAttribute('#status', 'data-kind'), 'error');
  assert.equal(await page.$$eval('#layers-table tbody tr[data-quantizable="true"]', (r) => r.length), 5);
  await page.click('#eval-start');
  await page.waitForSelector('#eval-result:not([hidden]) svg.heatmap', { timeout: LONG });
  await page.context().close();
});

test('URL round trip: fragment -> controls -> fragment, back button', async () => {
  const { page, errors } = await openPage(env.browser, env.baseUrl, '#v=1&seed=11&sigma=0.5');
  assert.equal(await page.inputValue('#cfg-seed'), '11');
  assert.equal(Number(await page.inputValue('#cfg-sigma')), 0.5);
  const hash = await page.evaluate(() => location.hash);
  assert.match(hash, /^#v=1&/);
  assert.match(hash, /seed=11/);
  assert.match(hash, /sigma=0\.5/);
  const length = await page.evaluate(() => history.length);
  // Typing previews the canonical fragment without a history entry ...
  await page.fill('#cfg-seed', '12');
  await page.waitForFunction(() => location.hash.includes('seed=12'));
  assert.equal(await page.evaluate(() => history.length), length);
  // ... committing adds one.
  await page.press('#cfg-seed', 'Tab');
  await waitIdle(page);
  await page.waitForFunction(() => location.hash.includes('seed=12'));
  assert.equal(await page.evaluate(() => history.length), length + 1);
  assert.match(await page.textContent('#fragment-view') ?? '', /seed=12/);
  // Back re-applies the previous fragment to the controls.
  await page.evaluate(() => history.back());
  await page.waitForFunction(() => /** @type {HTMLInputElement} */ (document.querySelector('#cfg-seed')).value === '11', undefined, { timeout: LONG });
  // An edited address (hashchange) is applied too.
  await page.evaluate(() => { location.hash = '#v=1&seed=21'; });
  await page.waitForFunction(() => /** @type {HTMLInputElement} */ (document.querySelector('#cfg-seed')).value === '21', undefined, { timeout: LONG });
  await waitIdle(page);
  assert.deepEqual(errors, []);
  await page.context().close();
});

test('choosing another model re-initialises it, updates the layers table and the URL', async () => {
  const { page, errors } = await openPage(env.browser, env.baseUrl);
  const length = await page.evaluate(() => history.length);
  await page.selectOption('#cfg-model', 'cnn3');
  await page.waitForFunction(() => location.hash.includes('model=cnn3'));
  await page.waitForFunction(() => document.querySelector('#layers-table [data-total="macs"]')?.textContent === '1,950,592', undefined, { timeout: LONG });
  await waitIdle(page);
  assert.equal(await page.evaluate(() => history.length), length + 1);
  assert.equal(await page.$$eval('#layers-table tbody tr[data-quantizable="true"]', (r) => r.length), 4);
  assert.match(await page.textContent('#model-title') ?? '', /cnn3/);
  assert.match(await page.getAttribute('#checkpoint-status', 'data-state') ?? '', /missing|pretrained/);
  await waitNoise(page);
  assert.deepEqual(errors, []);
  await page.context().close();
});

test('a garbage fragment shows a dismissible notice and the page still works', async () => {
  const { page, errors } = await openPage(env.browser, env.baseUrl, '#v=1&sigma=abc&bogus=1&seed=-5&%%%&model=resnet9000');
  const notice = page.locator('#notices .notice');
  await notice.first().waitFor();
  const text = await notice.first().textContent() ?? '';
  assert.match(text, /sigma/);
  assert.match(text, /model/);
  assert.equal(await page.$$eval('#layers-table tbody tr[data-quantizable="true"]', (r) => r.length), 5);
  const hash = await page.evaluate(() => location.hash);
  assert.doesNotMatch(hash, /abc|bogus|resnet9000/);
  await notice.first().locator('.notice-close').click();
  assert.equal(await page.locator('#notices .notice').count(), 0);
  await page.click('#eval-start');
  await page.waitForSelector('#eval-result:not([hidden])', { timeout: LONG });
  assert.deepEqual(errors, []);
  await page.context().close();
});

test('screenshots of the whole page (wide and narrow) are kept under artifacts/', async () => {
  const { page, errors } = await openPage(env.browser, env.baseUrl);
  await waitNoise(page);
  await page.click('#eval-start');
  await page.waitForSelector('#eval-result:not([hidden]) svg.heatmap', { timeout: LONG });
  await waitIdle(page);
  await page.waitForSelector('#load-phases', { state: 'hidden' });
  await screenshot(page, 'page-wide.png');
  await page.setViewportSize({ width: 380, height: 800 });
  await page.evaluate(() => { /** @type {HTMLDetailsElement} */ (document.querySelector('#settings-details')).open = false; });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `no horizontal scrolling at 380 px (overflow ${overflow} px)`);
  await screenshot(page, 'page-narrow.png');
  assert.deepEqual(errors, []);
  await page.context().close();
});
