// The engine self-test on load: the footer says it passed and how long it took, with the
// digest equal to the native `arq selftest` (the same golden values); a self-test reporting a
// differing part is a visible warning naming it, and the page keeps working.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { LONG, ROOT, launch, openPage } from './harness.mjs';

/** @type {Awaited<ReturnType<typeof launch>>} */
let env;

before(async () => {
  env = await launch();
});

after(async () => {
  await env?.close();
});

test('the footer reports the engine self-test passing, with the native digest and its time', async () => {
  const { page, errors } = await openPage(env.browser, env.baseUrl, '#v=1');
  await page.waitForSelector('#selftest[data-state="passed"], #selftest[data-state="failed"], #selftest[data-state="error"]', { timeout: LONG });
  const text = await page.textContent('#selftest') ?? '';
  assert.match(text, /^engine self-test passed in \d+ ms$/, text);
  const ms = Number(/(\d+) ms/.exec(text)?.[1]);
  console.log(`page self-test: ${ms} ms`);
  const title = await page.getAttribute('#selftest', 'title') ?? '';
  const arq = join(ROOT, 'target', 'release', 'arq');
  if (existsSync(arq)) {
    const native = JSON.parse(execFileSync(arq, ['selftest', '--json'], { encoding: 'utf8' }));
    assert.equal(native.passed, true);
    assert.ok(title.includes(native.digest), `page digest in "${title}" equals native ${native.digest}`);
    console.log(`native self-test: ${Math.round(native.ms)} ms`);
  }
  assert.deepEqual(errors, []);
  await page.context().close();
});

test('a self-test that differs is a warning naming the part, and the page keeps working', async () => {
  const { page } = await openPage(env.browser, env.baseUrl, '#v=1', {
    setup: (context) => context.route('**/js/worker-selftest.js', (route) => route.fulfill({
      contentType: 'text/javascript',
      body: `self.postMessage({ ok: true, ms: 12, result: { passed: false, engine: 'x', digest: 'd', golden: 'g', message: 'integer differs',
        parts: [{ name: 'noise', what: 'Gaussian noise stream', digest: 'a', golden: 'a', ok: true },
                 { name: 'integer', what: 'integer quantized path', digest: 'b', golden: 'c', ok: false }] } });`,
    })),
  });
  await page.waitForSelector('#selftest[data-state="failed"]', { timeout: LONG });
  const text = await page.textContent('#selftest') ?? '';
  assert.match(text, /self-test failed.*integer \(integer quantized path\)/, text);
  assert.doesNotMatch(text, /noise/);
  assert.equal(await page.getAttribute('body', 'data-state'), 'ready');
  await page.context().close();
});
