// The named experiments of the Search card (the engine's `experiments()`): a button each,
// whose click loads the experiment's settings into the address, explains what to look at and
// runs its searches and the final table, with the same numbers as `arq run --experiment`;
// cancelling it stops the experiment, keeps the finished episodes and leaves the page usable.
// No timing assertions.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { LONG, ROOT, launch, openPage, screenshot, waitIdle } from './harness.mjs';

/** @type {Awaited<ReturnType<typeof launch>>} */
let env;

before(async () => {
  env = await launch();
});

after(async () => {
  await env?.close();
});

test('"Why certify the reward?" loads its settings, explains itself, runs its searches; cancel stops it cleanly', async () => {
  const { page, errors } = await openPage(env.browser, env.baseUrl, '#v=1&model=cnn3');
  await page.waitForSelector('#search-card:not([hidden])', { timeout: LONG });
  await waitIdle(page);
  const button = page.locator('#showcases button[data-showcase="why-certify"]');
  assert.equal(await button.textContent(), 'Why certify the reward?');
  const title = await button.getAttribute('title') ?? '';
  const fragment = title.split(' · ')[0];
  assert.match(fragment, /^v=2&.*budget=0\.0078125/);
  assert.match(title, /searches: arq, haq, random, then the final table/);
  await button.click();
  // the experiment's settings replace the page's (lenet instead of cnn3: defaults are omitted)
  await page.waitForFunction((f) => location.hash === `#${f}`, fragment, { timeout: LONG });
  await page.waitForSelector('#showcase-note[data-state="running"]', { timeout: LONG });
  assert.match(await page.textContent('#showcase-note') ?? '', /step 1 of 4: arq search.*certified radius/s);
  await page.waitForFunction(() => Number(document.querySelector('#search-results')?.getAttribute('data-episodes')) >= 1, null, { timeout: LONG });
  await page.click('#search-cancel');
  await screenshot(page, 'showcase-cancelled.png');
  await page.waitForSelector('#showcase-note[data-state="stopped"]', { timeout: LONG });
  assert.match(await page.textContent('#showcase-note') ?? '', /stopped at the arq search; what finished is kept/);
  await waitIdle(page);
  assert.ok(Number(await page.getAttribute('#search-results', 'data-episodes')) >= 1, 'finished episodes are kept');
  assert.equal(await page.isEnabled('#search-arq'), true, 'the page is usable again');
  assert.equal(await page.isEnabled('#showcases button'), true);
  assert.deepEqual(errors, []);
  await page.close();
});

test('the CLI knows the same experiments: same fragment, same searches', async () => {
  const arq = join(ROOT, 'target/release/arq');
  const info = JSON.parse(execFileSync(arq, ['info', '--experiment', 'why-certify', '--json'], { cwd: ROOT, encoding: 'utf8' }));
  const { page, errors } = await openPage(env.browser, env.baseUrl, '');
  await page.waitForSelector('#showcases button', { timeout: LONG });
  const title = await page.getAttribute('#showcases button[data-showcase="why-certify"]', 'title') ?? '';
  assert.equal(title.split(' · ')[0], info.fragment);
  assert.match(execFileSync(arq, ['run', '--help'], { cwd: ROOT, encoding: 'utf8' }), /--experiment <ID>/);
  // a bad override is refused before any work, naming the setting
  let stderr = '';
  try {
    execFileSync(arq, ['run', '--experiment', 'why-certify', '--episodes', '0'], { cwd: ROOT, encoding: 'utf8', stdio: 'pipe' });
  } catch (e) {
    stderr = String(/** @type {{stderr?: string}} */ (e).stderr);
  }
  assert.match(stderr, /episodes=0/);
  assert.deepEqual(errors, []);
  await page.close();
});

test('"Why certify the reward?" runs to its final table, the same table as arq run --experiment', async () => {
  const arq = join(ROOT, 'target/release/arq');
  // the CLI runs the same experiment meanwhile (its own process)
  const cli = promisify(execFile)(arq, ['run', '--experiment', 'why-certify', '--json', '--quiet'], { cwd: ROOT, maxBuffer: 64 << 20 });
  const { page, errors } = await openPage(env.browser, env.baseUrl, '');
  await page.waitForSelector('#showcases button', { timeout: LONG });
  await waitIdle(page);
  await page.click('#showcases button[data-showcase="why-certify"]');
  await page.waitForSelector('#showcase-note[data-state="done"], #showcase-note[data-state="stopped"]', { timeout: 4 * LONG });
  assert.equal(await page.getAttribute('#showcase-note', 'data-state'), 'done', await page.textContent('#showcase-note') ?? '');
  assert.match(await page.textContent('#showcase-note') ?? '', /\(done\)/);
  await waitIdle(page);
  await screenshot(page, 'showcase-done.png');
  /** @type {Record<string, string>} */
  const acr = await page.evaluate(() => {
    const heads = [...document.querySelectorAll('#final-table thead th')].map((h) => h.textContent?.trim());
    const col = heads.indexOf('ACR');
    return Object.fromEntries([...document.querySelectorAll('#final-table tbody tr')].map((tr) => [tr.getAttribute('data-row'), tr.children[col]?.textContent?.trim() ?? '']));
  });
  const run = JSON.parse((await cli).stdout);
  const want = Object.fromEntries(run.rows.map((/** @type {{name: string, summary: {acr: number}}} */ r) => [r.name, r.summary.acr.toFixed(3)]));
  assert.deepEqual(Object.keys(acr).sort(), Object.keys(want).sort(), 'the same rows: FP32, the best uniform policy, ARQ, HAQ reward, random');
  assert.deepEqual(acr, want);
  assert.deepEqual(errors, []);
  await page.close();
});
