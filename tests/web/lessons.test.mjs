// Guided lessons: a student opens one from its button, walks it from the first step to the last
// (Next, the step's action done by the page, the keyboard), and the numbers its formulas show
// are the engine's: the certification's ACR and R_max equal `arq certify` for the same settings,
// bit for bit. A lesson link opens at its step, survives a reload, and Back / Finish rewrite
// the address.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { LONG, ROOT, launch, openPage, screenshot, waitIdle, waitNoise } from './harness.mjs';

/** @type {Awaited<ReturnType<typeof launch>>} */
let env;

before(async () => {
  env = await launch();
});

after(async () => {
  await env?.close();
});

const ARQ = join(ROOT, 'target/release/arq');

/** `arq certify --url F --json`'s summary. @param {string} fragment */
async function cliSummary(fragment) {
  const { stdout } = await promisify(execFile)(ARQ, ['certify', '--url', fragment, '--json', '--quiet'], { cwd: ROOT, maxBuffer: 16 << 20 });
  return JSON.parse(stdout).summary;
}

/**
 * The unrounded number a lesson formula shows under `name`, once it is there (and differs
 * from `not`, when given).
 * @param {import('playwright-core').Page} page @param {string} name @param {number} [not]
 */
async function shown(page, name, not) {
  const sel = `#lesson-math [data-name="${name}"]`;
  await page.waitForFunction(({ s, old }) => {
    const v = document.querySelector(s)?.getAttribute('data-value');
    return v != null && (old === null || Number(v) !== old);
  }, { s: sel, old: not ?? null }, { timeout: LONG });
  return Number(await page.getAttribute(sel, 'data-value'));
}

/** @param {import('playwright-core').Page} page @param {number} step @param {number} of */
async function atStep(page, step, of) {
  await page.waitForFunction(([s, n]) => document.querySelector('#lesson-progress')?.textContent === `Step ${s} of ${n}`, [step, of], { timeout: LONG });
}

test('the certificate lesson, first step to last: its ACR and R_max are the engine\'s', async () => {
  // the CLI certifies the lesson's settings and the two caps meanwhile (its own process)
  const cli = Promise.all([cliSummary('#v=2&points=20'), cliSummary('#v=2&n=10000&points=1'), cliSummary('#v=2&n=10000&alpha=0.1&points=1')]);
  const { page, errors } = await openPage(env.browser, env.baseUrl, '');
  const button = page.locator('#lesson-list button[data-lesson="certificate"]');
  assert.equal(await button.textContent(), 'What a certificate promises');
  await button.click();
  await page.waitForFunction(() => location.hash === '#v=2&points=20&lesson=certificate', null, { timeout: LONG });
  await page.waitForSelector('#lesson-panel:not([hidden])');
  await atStep(page, 1, 5);
  assert.equal(await page.textContent('#lesson-step-title'), 'The promise');
  assert.ok(await page.$('#certify-card.lesson-target'), 'the step points to the Certify card');
  assert.ok(await page.$('#certify-start.lesson-control'), 'and to its button');
  assert.equal(await page.isDisabled('#lesson-back'), true);
  assert.equal(await shown(page, 'confidence'), 1 - 0.001);
  assert.equal(await page.$$eval('#lesson-math math', (m) => m.length), 1);
  // step 1's action, done by the page: press Certify
  await page.click('#lesson-do');
  await page.waitForSelector('#certify-progress[data-state="done"]', { timeout: LONG });
  await waitIdle(page);
  await page.click('#lesson-next');
  await atStep(page, 2, 5);
  assert.match(await page.evaluate(() => location.hash), /&lesson=certificate&step=2$/);
  const [want, want10k, want01] = await cli;
  assert.equal(await shown(page, 'acr'), want.acr, 'the ACR of the page\'s run is `arq certify`\'s');
  assert.equal(await shown(page, 'points'), 20);
  assert.equal(await shown(page, 'runRMax'), want.rMax);
  await page.click('#lesson-next');
  await atStep(page, 3, 5);
  const cap = await shown(page, 'rMax');
  assert.equal(cap, want.rMax, 'R_max(1,000, 0.001) is the engine\'s, as `arq certify` reports it');
  assert.equal(await shown(page, 'n'), 1000);
  // the keyboard moves too
  await page.focus('#lesson-next');
  await page.keyboard.press('ArrowRight');
  await atStep(page, 4, 5);
  await page.click('#lesson-do'); // n from 1,000 to 10,000
  await page.waitForFunction(() => location.hash.includes('n=10000') && location.hash.endsWith('&lesson=certificate&step=4'), null, { timeout: LONG });
  await waitIdle(page);
  const cap10k = await shown(page, 'rMax', cap);
  assert.equal(cap10k, want10k.rMax);
  assert.ok(cap10k > cap);
  await page.click('#lesson-next');
  await atStep(page, 5, 5);
  assert.equal(await page.textContent('#lesson-next'), 'Finish');
  await page.click('#lesson-do'); // alpha from 0.001 to 0.1
  await waitIdle(page);
  const cap01 = await shown(page, 'rMax', cap10k);
  assert.equal(cap01, want01.rMax);
  assert.equal(await shown(page, 'alpha'), 0.1);
  await screenshot(page, 'lesson-certificate.png');
  await page.click('#lesson-next');
  await page.waitForSelector('#lesson-panel[hidden]', { state: 'attached' });
  assert.equal(await page.evaluate(() => location.hash), '#v=2&n=10000&alpha=0.1&points=20');
  assert.equal(await page.$('.lesson-target'), null);
  assert.deepEqual(errors, []);
  await page.close();
});

test('a lesson link opens at its step, survives a reload; Back and the votes follow the noise view', async () => {
  const { page, errors } = await openPage(env.browser, env.baseUrl, '#v=1&lesson=noise&step=2');
  await atStep(page, 2, 4);
  assert.equal(await page.textContent('#lesson-title'), 'Noise and voting');
  assert.equal(await page.textContent('#lesson-step-title'), 'Votes');
  assert.ok(await page.$('#noise-card.lesson-target'));
  await waitNoise(page);
  await page.click('#lesson-do'); // 64 draws
  await page.waitForFunction(() => document.querySelectorAll('#noise-rows .noise-row.config .noise-tile').length === 64, null, { timeout: LONG });
  assert.equal(await shown(page, 'n', 12), 64);
  const count = await shown(page, 'count');
  const top = await shown(page, 'top');
  // the noise view's certificate line of the config row says the same
  const line = await page.textContent('#noise-rows .noise-row.config .row-cert') ?? '';
  assert.match(line, new RegExp(`^top class ${top} \\(\\w+\\): ${count} of 64 draws`));
  await page.reload();
  await page.waitForSelector('body[data-state="ready"]', { timeout: LONG });
  await atStep(page, 2, 4);
  await page.click('#lesson-back');
  await atStep(page, 1, 4);
  assert.equal(await page.evaluate(() => location.hash), '#v=1&lesson=noise');
  assert.equal(await page.isDisabled('#lesson-back'), true);
  assert.equal(await shown(page, 'sigma'), 0.25);
  await page.click('#lesson-next');
  await page.click('#lesson-next');
  await atStep(page, 3, 4);
  // a step beyond the lesson is refused with a notice naming it; the lesson opens at step 1
  await page.goto(`${env.baseUrl}#v=1&lesson=noise&step=5`);
  await page.waitForFunction(() => /step=5/.test(document.querySelector('#notices')?.textContent ?? ''), null, { timeout: LONG });
  await atStep(page, 1, 4);
  assert.deepEqual(errors, []);
  await page.close();
});

test('the budget lesson: the BOPs it shows are the bit editor\'s, before and after fitting the budget', async () => {
  const { page, errors } = await openPage(env.browser, env.baseUrl, '#v=1&lesson=budget');
  await atStep(page, 1, 5);
  await page.waitForSelector('#bits-card:not([hidden])', { timeout: LONG });
  assert.ok(await page.$('#bits-card.lesson-target'));
  await page.click('#lesson-do'); // W8A8
  await page.waitForFunction(() => location.hash.includes('wb=8'), null, { timeout: LONG });
  await waitIdle(page);
  const ratio = await shown(page, 'ratio', 1);
  assert.equal(ratio, 64 / 1024);
  assert.equal(ratio, Number(await page.getAttribute('#bits-header', 'data-bops')));
  assert.equal(await shown(page, 'bops') / await shown(page, 'fp32Bops'), ratio);
  await page.click('#lesson-next');
  await atStep(page, 2, 5);
  assert.match(await page.textContent('#lesson-math') ?? '', /\(over\)/);
  assert.equal(await shown(page, 'budget'), 1 / 64);
  await page.click('#lesson-next');
  await atStep(page, 3, 5);
  await page.click('#lesson-do'); // Fit budget
  const fitted = await shown(page, 'ratio', ratio);
  await waitIdle(page);
  assert.ok(fitted <= 1 / 64, `${fitted}`);
  assert.equal(fitted, Number(await page.getAttribute('#bits-header', 'data-bops')));
  assert.match(await page.textContent('#lesson-math') ?? '', /\(fits\)/);
  assert.match(await page.evaluate(() => location.hash), /&lesson=budget&step=3$/);
  assert.deepEqual(errors, []);
  await page.close();
});
