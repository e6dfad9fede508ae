// The named experiments of the Search card (the engine's `experiments()`): a button each,
// whose click loads the experiment's settings into the address, explains what to look at and
// starts its first search; cancelling it stops the experiment, keeps the finished episodes and
// leaves the page usable. No timing assertions.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
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
  assert.match(fragment, /^v=1&.*budget=0\.0078125/);
  assert.match(title, /searches: arq, haq, random, then the final table/);
  await button.click();
  // the experiment's settings replace the page's (lenet instead of cnn3: defaults are omitted)
  await page.waitForFunction((f) => location.hash === `#${f}`, fragment, { timeout: LONG });
  await page.waitForSelector('#showcase-note[data-state="running"]', { timeout: LONG });
  assert.match(await page.textContent('#showcase-note') ?? '', /step 1 of 4: arq search.*certified radius/s);
  await page.waitForFunction(() => Number(document.querySelector('#search-results')?.getAttribute('data-episodes')) >= 1, null, { timeout: LONG });
  await screenshot(page, 'showcase-running.png');
  await page.click('#search-cancel');
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
