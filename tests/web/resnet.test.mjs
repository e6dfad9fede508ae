// The resnet in the page, in Debian's chromium with the real engine: choosing it in the model
// select loads its shipped checkpoint (models/index.json), the layers table shows its residual
// blocks and 16 quantizable layers, a small certification runs on it, and the bits editor has
// one column per quantizable layer (the projection shortcuts included). No timing assertions.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LONG, ROOT, launch, openPage, screenshot, waitIdle } from './harness.mjs';

/** Three test points, small n: seconds even for the 5-MMAC resnet. */
const SMALL = '#v=1&points=3&n=200&n0=20';

const NAMES = ['conv1', 'conv2', 'conv3', 'conv4', 'conv5', 'conv6', 'conv7', 'proj8', 'conv9', 'conv10',
  'conv11', 'conv12', 'proj13', 'conv14', 'conv15', 'fc16'];

/** The shipped resnet checkpoint at the default sigma, from the index the page reads. */
const SHIPPED = /** @type {{model: string, sigma: number, hash: string, file: string}[]} */ (
  JSON.parse(readFileSync(join(ROOT, 'models', 'index.json'), 'utf8'))).find((e) => e.model === 'resnet' && e.sigma === 0.25);

/** @type {Awaited<ReturnType<typeof launch>>} */
let env;

before(async () => {
  env = await launch();
});

after(async () => {
  await env?.close();
});

test('resnet: the select loads its shipped checkpoint, certification runs, one bit column per layer', async () => {
  assert.ok(SHIPPED, 'models/index.json lists a resnet checkpoint at sigma 0.25');
  const { page, errors } = await openPage(env.browser, env.baseUrl, SMALL);
  await page.selectOption('#cfg-model', 'resnet');
  await page.waitForFunction(() => location.hash.includes('model=resnet'), undefined, { timeout: LONG });
  await page.waitForFunction(() => document.querySelector('#layers-table [data-total="macs"]')?.textContent === '5,074,368', undefined, { timeout: LONG });
  await page.waitForSelector('#checkpoint-status[data-state="pretrained"]', { timeout: LONG });
  await waitIdle(page);
  assert.match(await page.textContent('#model-title') ?? '', /resnet/);
  assert.match(await page.textContent('#checkpoint-status') ?? '', new RegExp(SHIPPED.hash.slice(0, 6)));

  // The layers table: 16 quantizable rows in network order, and the residual plumbing.
  const quantizable = await page.$$eval('#layers-table tbody tr[data-quantizable="true"]', (rows) => rows.map((r) => r.querySelector('th code')?.textContent ?? ''));
  assert.deepEqual(quantizable, NAMES);
  for (const kind of ['fork', 'add', 'shortcut', 'avgpool']) {
    assert.ok(await page.locator(`#layers-table tbody tr[data-kind="${kind}"]`).count() > 0, `a ${kind} row`);
  }

  // A small certification on the pretrained resnet.
  await page.click('#certify-start');
  await page.waitForSelector('#certify-progress[data-state="done"]', { timeout: LONG });
  await waitIdle(page);
  assert.match(await page.textContent('#certify-progress-text') ?? '', /Certified 3 test points/);
  assert.equal(await page.getAttribute('#certify-results', 'data-records'), '3');

  // The bits editor: one column per quantizable layer, named like the table, full precision.
  await page.waitForSelector('#bits-card:not([hidden]) #bits-editor .bit-col', { timeout: LONG });
  const cols = await page.$$eval('#bits-editor .bit-col', (c) => c.map((x) => ({ name: x.getAttribute('data-name'), wb: x.getAttribute('data-wb') })));
  assert.deepEqual(cols.map((c) => c.name), NAMES);
  assert.ok(cols.every((c) => c.wb === 'f'), 'the default policy is full precision');
  await screenshot(page, 'resnet.png');
  assert.deepEqual(errors, []);
  await page.context().close();
});
