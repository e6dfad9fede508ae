// Shared set-up of the browser tests: the static server in-process on a free port, Debian's
// chromium through playwright-core (never a downloaded browser), and page helpers.
import { chromium } from 'playwright-core';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from '../../scripts/serve.mjs';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const ARTIFACTS = join(ROOT, 'artifacts');
/** The tree the server serves (pkg/, data/, models/, www/); ARQ_WEB_ROOT points elsewhere. */
const SERVE_ROOT = process.env.ARQ_WEB_ROOT ?? ROOT;
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run'];

/** How long a page may take to load or a job to finish (generous: 2-core CI machines). */
export const LONG = 180_000;

/** The page needs d3 at /vendor/d3.min.js (the Makefile copies it; do the same if missing). */
function ensureVendor() {
  const target = join(ROOT, 'www', 'vendor', 'd3.min.js');
  if (existsSync(target)) return;
  mkdirSync(join(ROOT, 'www', 'vendor'), { recursive: true });
  copyFileSync(join(ROOT, 'node_modules', 'd3', 'dist', 'd3.min.js'), target);
}

/**
 * Starts the server and the browser.
 * @returns {Promise<{browser: import('playwright-core').Browser, baseUrl: string, close: () => Promise<void>}>}
 */
export async function launch() {
  if (!existsSync(join(SERVE_ROOT, 'pkg', 'arq.js'))) {
    throw new Error('pkg/arq.js is missing: build the engine first with `make pkg`');
  }
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium`);
  ensureVendor();
  mkdirSync(ARTIFACTS, { recursive: true });
  const server = await startServer({ port: 0, root: SERVE_ROOT });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
  return {
    browser,
    baseUrl: server.url,
    close: async () => {
      await browser.close();
      await server.close();
      if (cspViolations.length) throw new Error(`Content-Security-Policy violations:\n${cspViolations.join('\n')}`);
    },
  };
}

/**
 * Content-Security-Policy violations seen by any page this process opened (the page's
 * `securitypolicyviolation` events, the worker's, and the browser's "Refused to ..." console
 * lines). openPage() fails on them at load and the `close()` of launch() fails on any seen later,
 * so every browser test also proves the page works under its CSP.
 * @type {string[]}
 */
export const cspViolations = [];

/** Reports the page's CSP violations on the console, where openPage() picks them up. */
const CSP_LISTENER = () => {
  document.addEventListener('securitypolicyviolation', (e) => {
    console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || '(inline)'} at ${e.sourceFile}:${e.lineNumber} ${e.sample ?? ''}`);
  });
};

/** @param {string} text */
const isCspMessage = (text) => /CSP violation|Content Security Policy|Refused to (load|execute|apply|compile|evaluate|create|connect|frame)/i.test(text);

/**
 * @typedef {object} OpenedPage
 * @property {import('playwright-core').Page} page
 * @property {string[]} errors uncaught page errors and console errors seen so far
 */

/**
 * Opens the playground and waits until it is ready (or failed, which fails the test).
 * @param {import('playwright-core').Browser} browser
 * @param {string} baseUrl
 * @param {string} [fragment] e.g. "#v=1&seed=3"
 * @param {{viewport?: {width: number, height: number},
 *   setup?: (context: import("playwright-core").BrowserContext) => Promise<unknown>}} [options]
 *   setup runs before the page opens (e.g. to route requests)
 * @returns {Promise<OpenedPage>}
 */
export async function openPage(browser, baseUrl, fragment = '', options = {}) {
  const context = await browser.newContext({ viewport: options.viewport ?? { width: 1280, height: 900 } });
  await options.setup?.(context);
  await context.addInitScript(CSP_LISTENER);
  const page = await context.newPage();
  /** @type {string[]} */
  const errors = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
    if (isCspMessage(m.text())) cspViolations.push(`${page.url()}: ${m.text()}`);
  });
  const response = await page.goto(baseUrl + fragment);
  if (!response?.headers()['content-security-policy']) throw new Error('the page was served without a Content-Security-Policy header');
  await page.waitForSelector('body[data-state="ready"], body[data-state="failed"]', { timeout: LONG });
  const state = await page.getAttribute('body', 'data-state');
  if (state !== 'ready') {
    const status = await page.textContent('#status');
    throw new Error(`page failed to load: ${status}\n${errors.join('\n')}`);
  }
  await waitIdle(page);
  if (cspViolations.length) throw new Error(`Content-Security-Policy violations:\n${cspViolations.join('\n')}`);
  return { page, errors };
}

/**
 * Waits until no engine job is running (the page marks busy jobs on <body data-busy>).
 * @param {import('playwright-core').Page} page
 */
export async function waitIdle(page) {
  await page.waitForFunction(() => !document.body.hasAttribute('data-busy'), undefined, { timeout: LONG });
}

/**
 * The noise view renders after the page is ready; wait for its rows.
 * @param {import('playwright-core').Page} page
 */
export async function waitNoise(page) {
  await page.waitForSelector('#noise-rows .noise-row .noise-tile', { timeout: LONG });
}

/**
 * A full-page screenshot. A full-page capture stretches the viewport, which the sticky
 * settings sidebar does not survive, so it is laid out statically for the picture.
 * @param {import('playwright-core').Page} page
 * @param {string} name file name under artifacts/
 */
export async function screenshot(page, name) {
  // Through the CSSOM: the page's CSP refuses an added <style> tag.
  await page.evaluate(() => {
    for (const node of document.querySelectorAll('.settings')) {
      const style = /** @type {HTMLElement} */ (node).style;
      style.setProperty('position', 'static', 'important');
      style.setProperty('max-height', 'none', 'important');
    }
  });
  await page.screenshot({ path: join(ARTIFACTS, name), fullPage: true });
}
