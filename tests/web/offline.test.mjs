// Offline after the first visit: the service worker caches the page, the engine, the data and
// the models; with the network gone, a reload still loads and certifies. Its file list covers
// every module of www/js.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { LONG, ROOT, launch, openPage, waitIdle } from './harness.mjs';

/** @type {Awaited<ReturnType<typeof launch>>} */
let env;

before(async () => {
  env = await launch();
});

after(async () => {
  await env?.close();
});

test('the service worker caches every module and style sheet of the page', () => {
  const sw = readFileSync(join(ROOT, 'www', 'sw.js'), 'utf8');
  for (const f of readdirSync(join(ROOT, 'www', 'js')).filter((x) => x.endsWith('.js'))) {
    assert.ok(sw.includes(`'js/${f}'`), `www/sw.js caches js/${f}`);
  }
  for (const f of readdirSync(join(ROOT, 'www')).filter((x) => x.endsWith('.css'))) {
    assert.ok(sw.includes(`'${f}'`), `www/sw.js caches ${f}`);
  }
});

test('after one visit the page reloads and certifies without a network', async () => {
  const { page, errors } = await openPage(env.browser, env.baseUrl, '#v=1&points=3&n=100&n0=20');
  await page.waitForSelector('#offline-status[data-state="ready"], #offline-status[data-state="error"]', { timeout: LONG });
  assert.equal(await page.getAttribute('#offline-status', 'data-state'), 'ready', await page.textContent('#offline-status') ?? '');
  const stored = await page.evaluate(async () => {
    const keys = await caches.keys();
    const cache = await caches.open(keys[0]);
    return { keys, urls: (await cache.keys()).map((/** @type {Request} */ r) => new URL(r.url).pathname) };
  });
  assert.deepEqual(stored.keys, ['arq-0.1.0']);
  for (const p of ['/', '/pkg/arq_bg.wasm', '/data/mnist10k.u8', '/models/index.json', '/js/worker.js']) {
    assert.ok(stored.urls.includes(p), `${p} is cached`);
  }
  assert.ok(stored.urls.some((/** @type {string} */ u) => /^\/models\/lenet-s0\.25-.*\.arqc$/.test(u)), 'the shipped lenet checkpoint is cached');

  await page.context().setOffline(true);
  await page.reload();
  await page.waitForSelector('body[data-state="ready"], body[data-state="failed"]', { timeout: LONG });
  assert.equal(await page.getAttribute('body', 'data-state'), 'ready', await page.textContent('#status') ?? '');
  await waitIdle(page);
  assert.match(await page.textContent('#checkpoint-status') ?? '', /Pretrained checkpoint/);
  await page.click('#certify-start');
  await page.waitForSelector('#certify-progress[data-state="done"]', { timeout: LONG });
  assert.match(await page.textContent('#certify-progress-text') ?? '', /Certified 3 test points/);
  await page.waitForSelector('#selftest[data-state="passed"]', { timeout: LONG });
  assert.deepEqual(errors.filter((e) => !/ERR_INTERNET_DISCONNECTED|Failed to fetch/.test(e)), []);
  await page.context().close();
});
