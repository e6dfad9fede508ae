// Issue 13 (classroom): the views' table of contents and deep links (`view=`), teacher links
// that hide and lock parts of the page, embed mode (also inside another origin's iframe), the
// teacher-link builder, keyboard navigation, an axe-core audit of every view in light and dark
// colour schemes, and screenshots of every view at phone and desktop widths (light and dark)
// under artifacts/screenshots/.
//
// axe-core runs under the page's own CSP: its source is evaluated through the DevTools
// protocol (page.evaluate), which is no script element and no eval of the page, so the
// page's CSP and Trusted Types stay enforced (no bypassCSP anywhere).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { ARTIFACTS, LONG, ROOT, launch, openPage, waitIdle } from './harness.mjs';

const VIEWS = ['lessons', 'share', 'model', 'noise', 'digit', 'certify', 'bits', 'search', 'history'];
const AXE = readFileSync(join(ROOT, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');
const SHOTS = join(ARTIFACTS, 'screenshots');

/** @type {Awaited<ReturnType<typeof launch>>} */
let env;

before(async () => {
  env = await launch();
  mkdirSync(SHOTS, { recursive: true });
});

after(async () => {
  await env?.close();
});

/** @param {import('playwright-core').Page} page @param {string} selector */
const shown = (page, selector) => page.$eval(selector, (n) => n instanceof HTMLElement && n.offsetParent !== null && getComputedStyle(n).display !== 'none');

/** @param {import('playwright-core').Page} page */
const tocWords = (page) => page.$$eval('#toc a[data-view-link]', (a) => a.map((x) => x.getAttribute('data-view-link')));

test('a teacher link opens its view with parts hidden and locked', async () => {
  const { page, errors } = await openPage(env.browser, env.baseUrl, '#v=1&lock=bits&hide=settings,search&view=certify&sigma=0.25');
  // canonical: the experiment first, then the presentation keys in schema order
  assert.equal(await page.evaluate(() => location.hash), '#v=1&view=certify&hide=search,settings&lock=bits');
  // hidden: gone from the page and from the navigation
  assert.equal(await shown(page, '.settings'), false);
  assert.equal(await shown(page, '#search-card'), false);
  assert.deepEqual(await tocWords(page), ['lessons', 'share', 'model', 'noise', 'digit', 'certify', 'bits', 'history']);
  assert.equal(await page.getAttribute('#toc a[data-view-link="certify"]', 'aria-current'), 'true');
  // the chosen view is on screen
  await page.waitForFunction(() => {
    const top = document.getElementById('certify-card')?.getBoundingClientRect().top ?? -1;
    return top >= 0 && top < 200;
  }, undefined, { timeout: 5000 });
  // locked: the bits' controls are disabled, with a note, and stay so after a job
  await page.waitForSelector('#bits-card:not([hidden])');
  assert.match(await page.textContent('#bits-card .lock-note') ?? '', /locked by this link/);
  for (const id of ['#bits-w4a4', '#bits-fit', '#bits-eval', '#sens-start']) {
    assert.equal(await page.$eval(id, (b) => /** @type {HTMLButtonElement} */ (b).disabled), true, `${id} is disabled`);
  }
  await page.click('#eval-start');
  await waitIdle(page);
  assert.equal(await page.$eval('#bits-w4a4', (b) => /** @type {HTMLButtonElement} */ (b).disabled), true, 'still locked after a job');
  assert.equal(await page.$eval('#certify-start', (b) => /** @type {HTMLButtonElement} */ (b).disabled), false, 'certify is not locked');
  // the editor refuses a keyboard edit
  const before = await page.evaluate(() => location.hash);
  await page.focus('#bits-editor .bit-col');
  await page.keyboard.press('ArrowDown');
  assert.match(await page.textContent('#status') ?? '', /locked by this link/);
  assert.equal(await page.evaluate(() => location.hash), before);
  assert.deepEqual(errors, []);
  await page.context().close();
});

test('a bad presentation key is named in a notice and dropped; the rest applies', async () => {
  const { page } = await openPage(env.browser, env.baseUrl, '#v=1&hide=settings,serch&view=bits');
  const notice = await page.textContent('#notices') ?? '';
  assert.match(notice, /hide=settings,serch: 'serch' is not a known word; allowed: comma-separated words from lessons, share, model, noise, digit, certify, bits, search, history, settings/);
  assert.equal(await page.evaluate(() => location.hash), '#v=1&view=bits');
  assert.equal(await shown(page, '.settings'), true);
  await page.context().close();
});

test('embed mode shows only the chosen view, also in another origin\'s iframe', async () => {
  const { page, errors } = await openPage(env.browser, env.baseUrl, '#v=1&view=noise&embed=1');
  assert.equal(await shown(page, '#noise-card'), true);
  for (const sel of ['#model-card', '#certify-card', '.settings', '.site-footer', '#toc', 'h1']) {
    assert.equal(await shown(page, sel), false, `${sel} is not shown in embed mode`);
  }
  assert.deepEqual(errors, []);
  // a slide deck on another origin (another port: a plain server of its own, no CSP) frames it;
  // frame-ancestors allows it (scripts/serve.mjs, docs/navigation.md)
  const context = page.context();
  const frameSrc = `${env.baseUrl.replace(/\/$/, '')}/#v=1&view=certify&embed=1`;
  const deck = createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><title>Slides</title><iframe id="f" title="ARQ" width="900" height="700" src="${frameSrc}"></iframe>`);
  });
  await new Promise((ok) => deck.listen(0, '127.0.0.1', () => ok(undefined)));
  const address = deck.address();
  const slidesUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/deck.html`;
  const slides = await context.newPage();
  await slides.goto(slidesUrl);
  const frame = await (await slides.waitForSelector('#f')).contentFrame();
  assert.ok(frame);
  await frame.waitForSelector('body[data-state="ready"], body[data-state="failed"]', { timeout: LONG });
  assert.equal(await frame.getAttribute('body', 'data-state'), 'ready', await frame.textContent('#status') ?? '');
  assert.equal(await frame.$eval('#certify-card', (n) => n instanceof HTMLElement && n.offsetParent !== null), true);
  assert.equal(await frame.$eval('#noise-card', (n) => n instanceof HTMLElement && n.offsetParent !== null), false);
  await context.close();
  deck.close();
});

test('the table of contents works by keyboard and keeps the experiment', async () => {
  const { page, errors } = await openPage(env.browser, env.baseUrl, '#v=1&seed=3');
  // Tab: the skip link, then the first view's link
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement?.className), 'skip-link');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('data-view-link')), 'lessons');
  const outline = await page.evaluate(() => getComputedStyle(/** @type {Element} */ (document.activeElement)).outlineStyle);
  assert.notEqual(outline, 'none', 'visible focus');
  // lessons, share, model, noise, digit, certify, ...
  for (let i = 0; i < 5; i++) await page.keyboard.press('ArrowRight');
  assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('data-view-link')), 'certify');
  await page.keyboard.press('End');
  assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('data-view-link')), 'history');
  await page.keyboard.press('ArrowRight');
  assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('data-view-link')), 'lessons', 'wraps around');
  // ... search, bits
  for (let i = 0; i < 3; i++) await page.keyboard.press('ArrowLeft');
  await page.keyboard.press('Enter');
  assert.equal(await page.evaluate(() => location.hash), '#v=1&seed=3&view=bits');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'bits-heading');
  assert.equal(await page.getAttribute('#toc a[data-view-link="bits"]', 'aria-current'), 'true');
  // a settings change keeps the view; the link of each view is a deep link
  await page.fill('#cfg-seed', '4');
  await page.press('#cfg-seed', 'Enter');
  await waitIdle(page);
  assert.equal(await page.evaluate(() => location.hash), '#v=1&seed=4&view=bits');
  assert.equal(await page.getAttribute('#toc a[data-view-link="search"]', 'href'), '#v=1&seed=4&view=search');
  // the skip link focuses the views without touching the address
  await page.focus('.skip-link');
  await page.keyboard.press('Enter');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'content');
  assert.equal(await page.evaluate(() => location.hash), '#v=1&seed=4&view=bits');
  assert.deepEqual(errors, []);
  await page.context().close();
});

test('the teacher-link builder makes a link that opens as chosen', async () => {
  const { page, errors } = await openPage(env.browser, env.baseUrl, '#v=1&sigma=0.5');
  await page.click('#teacher-title');
  await page.selectOption('#teacher-view', 'bits');
  await page.check('input[name="hide-search"]');
  await page.check('input[name="hide-teacher"]');
  await page.check('input[name="lock-settings"]');
  await page.check('#teacher-embed');
  const link = await page.inputValue('#teacher-url');
  assert.equal(link, `${env.baseUrl.replace(/\/$/, "")}/#v=1&sigma=0.5&view=bits&hide=search,teacher&lock=settings&embed=1`);
  assert.match(await page.inputValue('#teacher-iframe'), /^<iframe src="http:.*embed=1" title="ARQ Playground"/);
  // without embed, it opens on the bits view with the settings locked and the builder gone
  await page.uncheck('#teacher-embed');
  const plain = await page.inputValue('#teacher-url');
  assert.equal(await page.isHidden('#teacher-iframe-box'), true);
  const opened = await openPage(env.browser, '', plain);
  const p = opened.page;
  assert.equal(await shown(p, '#teacher-card'), false);
  assert.equal(await shown(p, '#search-card'), false);
  assert.equal(await p.$eval('#settings-form fieldset', (f) => /** @type {HTMLFieldSetElement} */ (f).disabled), true);
  assert.equal(await p.$eval('#reset-config', (b) => /** @type {HTMLButtonElement} */ (b).disabled), true);
  assert.match(await p.textContent('.settings .lock-note') ?? '', /locked by this link/);
  assert.equal(await p.getAttribute('#toc a[data-view-link="bits"]', 'aria-current'), 'true');
  assert.deepEqual(opened.errors, []);
  await p.context().close();
  assert.deepEqual(errors, []);
  await page.context().close();
});

/**
 * Runs axe-core on the page (WCAG 2.1 A/AA rules and best practices) within `include`.
 * @param {import('playwright-core').Page} page
 * @param {string[]} include CSS selectors
 * @returns {Promise<{id: string, impact: string, help: string, nodes: string[]}[]>} serious and critical violations
 */
async function audit(page, include) {
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(AXE);
  return page.evaluate(async (sel) => {
    // @ts-ignore axe is the audit's global
    const r = await window.axe.run({ include: sel.map((s) => [s]) }, { resultTypes: ['violations'] });
    return r.violations.filter((/** @type {any} */ v) => v.impact === 'serious' || v.impact === 'critical')
      .map((/** @type {any} */ v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 4).map((/** @type {any} */ n) => n.target.join(' ')) }));
  }, include);
}

for (const scheme of /** @type {const} */ (['light', 'dark'])) {
  test(`axe finds no serious or critical violation on any view (${scheme}); screenshots`, async () => {
    const { page, errors } = await openPage(env.browser, env.baseUrl, '#v=1&points=5&n0=20&n=200');
    // reduced motion: the views' links then jump instead of gliding (and the screenshots are sharp)
    await page.emulateMedia({ colorScheme: scheme, reducedMotion: 'reduce' });
    // fill the views with results: an evaluation and a small certification
    await page.click('#eval-start');
    await waitIdle(page);
    await page.click('#certify-start');
    await waitIdle(page);
    await page.waitForSelector('#certify-results:not([hidden])');
    await page.click('#teacher-title');
    /** @type {string[]} */
    const problems = [];
    const chrome = await audit(page, ['.site-header', '#toc', '.sidebar', '.site-footer']);
    problems.push(...chrome.map((v) => `chrome: ${v.id} (${v.impact}) ${v.help}: ${v.nodes.join(', ')}`));
    for (const view of VIEWS) {
      const found = await audit(page, [`[data-view="${view}"]`]);
      problems.push(...found.map((v) => `${view}: ${v.id} (${v.impact}) ${v.help}: ${v.nodes.join(', ')}`));
    }
    assert.deepEqual(problems, []);
    // screenshots of each view, desktop then phone
    for (const [device, viewport] of /** @type {const} */ ([['desktop', { width: 1440, height: 900 }], ['phone', { width: 390, height: 844 }]])) {
      await page.setViewportSize(viewport);
      for (const view of VIEWS) {
        await page.evaluate((w) => /** @type {any} */ (window).arq.nav.choose(w, false), view);
        await page.waitForTimeout(150);
        await page.screenshot({ path: join(SHOTS, `${view}-${device}-${scheme}.png`) });
      }
      // no horizontal scrolling of the page at this width
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      assert.ok(overflow <= 1, `${device}: the page scrolls sideways by ${overflow} px`);
    }
    // from the smallest phone to a projector
    for (const width of [360, 1920]) {
      await page.setViewportSize({ width, height: 900 });
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      assert.ok(overflow <= 1, `${width} px: the page scrolls sideways by ${overflow} px`);
    }
    assert.deepEqual(errors, []);
    await page.context().close();
  });
}
