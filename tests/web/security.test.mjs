// No text from the address, the form or the engine's notices can run script: fragments
// carrying <img onerror>, <script>, javascript: and "><svg onload> payloads in every text-ish
// field (wb, ab, lk, model, ...), in unknown keys, in a hashchange after load, and typed into
// the form; each payload sets window.__pwned and calls alert() if it ever runs. The page must
// show the text literally, create no element from it, run nothing (no flag, no dialog), and
// trip no CSP rule (the harness fails on any violation). Also: the server and the page carry
// the same Content-Security-Policy, without 'unsafe-eval' or 'unsafe-inline'.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, cspViolations, launch, openPage, waitIdle } from './harness.mjs';
import { CSP } from '../../scripts/serve.mjs';

/** @type {Awaited<ReturnType<typeof launch>>} */
let env;

before(async () => {
  env = await launch();
});

after(async () => {
  await env?.close();
});

const PAYLOADS = [
  `<img src=x onerror="window.__pwned='img';alert('img')">`,
  `<script>window.__pwned='script';alert('script')</script>`,
  `javascript:window.__pwned='js';alert('js')//`,
  `"><svg onload="window.__pwned='svg';alert('svg')">`,
  `'><iframe srcdoc="<script>parent.__pwned='iframe'</script>"></iframe>`,
];
/** Settings whose values are text in the URL (every kind of field: lists, enums, numbers). */
const FIELDS = ['wb', 'ab', 'lk', 'model', 'ds', 'opt', 'wgran', 'reward', 'sigma', 'seed', 'n', 'budget'];

/**
 * A fragment with the payload in every field, as an unknown key, and as an unknown key's value.
 * @param {string} payload
 */
function fragmentOf(payload) {
  const v = encodeURIComponent(payload);
  return `#v=1&${FIELDS.map((f) => `${f}=${v}`).join('&')}&${v}=1&zz${v}=${v}`;
}

/**
 * What the page shows and whether anything ran.
 * @param {import('playwright-core').Page} page
 */
async function inspect(page) {
  return page.evaluate(() => {
    const w = /** @type {any} */ (window);
    const all = [...document.querySelectorAll('*')];
    return {
      pwned: w.__pwned ?? null,
      // Elements a payload would create: the page itself has none of these.
      injected: document.querySelectorAll('img, iframe, object, embed, script:not([src]), svg[onload], [srcdoc]').length,
      handlers: all.filter((e) => [...e.attributes].some((a) => /^on/i.test(a.name))).map((e) => e.tagName),
      jsLinks: [...document.querySelectorAll('[href], [src], [action], [formaction]')]
        .filter((e) => /^\s*javascript:/i.test(e.getAttribute('href') ?? e.getAttribute('src') ?? e.getAttribute('action') ?? e.getAttribute('formaction') ?? '')).length,
      scripts: document.scripts.length,
      notices: document.querySelector('#notices')?.textContent ?? '',
      body: document.body.textContent ?? '',
      state: document.body.dataset.state,
    };
  });
}

/**
 * @param {string} payload
 * @param {Awaited<ReturnType<typeof inspect>>} seen
 * @param {string[]} dialogs
 */
function assertInert(payload, seen, dialogs) {
  assert.equal(seen.pwned, null, `${payload}: no script ran`);
  assert.deepEqual(dialogs, [], `${payload}: no dialog opened`);
  assert.equal(seen.injected, 0, `${payload}: no element was created from the text`);
  assert.deepEqual(seen.handlers, [], `${payload}: no inline event handler attribute`);
  assert.equal(seen.jsLinks, 0, `${payload}: no javascript: link`);
  assert.equal(seen.scripts, 2, `${payload}: only the page's own two scripts`);
  assert.equal(seen.state, 'ready', `${payload}: the page loaded`);
}

test('the server and the page carry the same CSP, with no unsafe-eval or unsafe-inline', async () => {
  const res = await fetch(env.baseUrl);
  const header = res.headers.get('content-security-policy') ?? '';
  assert.equal(header, CSP);
  for (const path of ['js/worker.js', 'js/main.js', 'style.css', 'no-such-file']) {
    const r = await fetch(env.baseUrl + path);
    assert.equal(r.headers.get('content-security-policy'), CSP, `${path} carries the CSP`);
  }
  // only frame-ancestors may be a wildcard: any page may embed the playground (scripts/serve.mjs)
  assert.match(CSP, /; frame-ancestors \*$/);
  assert.doesNotMatch(CSP.replace(/; frame-ancestors \*$/, ''), /'unsafe-eval'|'unsafe-inline'|\*/);
  assert.match(CSP, /script-src 'self' 'wasm-unsafe-eval'/);
  assert.match(CSP, /worker-src 'self'/);
  assert.match(CSP, /style-src 'self'(;|$)/);
  assert.match(CSP, /require-trusted-types-for 'script'; trusted-types arq(;|$)/);
  const html = readFileSync(join(ROOT, 'www', 'index.html'), 'utf8');
  const meta = /<meta http-equiv="Content-Security-Policy" content="([^"]+)">/.exec(html)?.[1];
  assert.equal(meta, CSP.replace(/; frame-ancestors \*/, ''), 'the <meta> is the header minus frame-ancestors');
});

test('the CSP is enforced: inline script, eval, HTML strings in sinks and inline styles are refused', async () => {
  const { page } = await openPage(env.browser, env.baseUrl);
  const result = await page.evaluate(async () => {
    const w = /** @type {any} */ (window);
    /** @type {string[]} */
    const violations = [];
    document.addEventListener('securitypolicyviolation', (e) => violations.push(e.violatedDirective));
    // From a task of the page's own (code evaluated by the test driver itself may bypass the CSP).
    const evalRefused = await new Promise((resolve) => setTimeout(() => {
      try {
        (0, eval)('window.__pwned = "eval"');
        resolve(false);
      } catch {
        try {
          // eslint-disable-next-line no-new-func
          new Function('window.__pwned = "function"')();
          resolve(false);
        } catch {
          resolve(true);
        }
      }
    }, 0));
    // An inline script: Trusted Types refuse its text outright; were it set, script-src would
    // refuse to run it.
    const script = document.createElement('script');
    let scriptTextRefused = false;
    try {
      script.textContent = 'window.__pwned = "inline"';
    } catch {
      scriptTextRefused = true;
    }
    document.body.append(script);
    let innerHTMLRefused = false;
    const sink = document.createElement('div');
    try {
      sink.innerHTML = '<img src=x onerror="window.__pwned=1">';
    } catch {
      innerHTMLRefused = true;
    }
    const styled = document.createElement('div');
    styled.setAttribute('style', 'width: 123px');
    document.body.append(styled);
    const cssom = document.createElement('div');
    cssom.style.setProperty('width', '77px');
    cssom.style.setProperty('--c', 'red');
    document.body.append(cssom);
    await new Promise((r) => setTimeout(r, 100));
    const out = {
      evalRefused, scriptTextRefused, innerHTMLRefused, sinkChildren: sink.childElementCount, pwned: w.__pwned ?? null, styleAttr: styled.getBoundingClientRect().width,
      cssom: cssom.getBoundingClientRect().width, custom: cssom.style.getPropertyValue('--c'), violations: [...new Set(violations)].sort(),
    };
    script.remove();
    styled.remove();
    cssom.remove();
    return out;
  });
  // These refusals are the point of this test: they are not the page's violations.
  cspViolations.length = 0;
  assert.equal(result.evalRefused, true, 'eval is refused');
  assert.equal(result.pwned, null, 'inline script did not run');
  assert.equal(result.scriptTextRefused, true, 'Trusted Types refuse a plain string as script text');
  assert.equal(result.innerHTMLRefused, true, 'Trusted Types refuse a plain string for innerHTML');
  assert.equal(result.sinkChildren, 0);
  assert.notEqual(result.styleAttr, 123, 'a style attribute is refused');
  assert.equal(result.cssom, 77, 'styles set through the CSSOM apply (d3 and the views use them)');
  assert.equal(result.custom, 'red');
  assert.ok(result.violations.includes('require-trusted-types-for'), `violations: ${result.violations}`);
  assert.ok(result.violations.includes('style-src-attr') || result.violations.includes('style-src'), `violations: ${result.violations}`);
  await page.context().close();
  cspViolations.length = 0;
});

test('payloads in every fragment field, key and notice stay text', async () => {
  for (const payload of PAYLOADS) {
    /** @type {string[]} */
    const dialogs = [];
    const { page } = await openPage(env.browser, env.baseUrl, fragmentOf(payload), {
      setup: async (context) => context.on('page', (p) => p.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss().catch(() => {}); })),
    });
    await waitIdle(page);
    const seen = await inspect(page);
    assertInert(payload, seen, dialogs);
    // The notice quotes the bad values literally (the start of the payload, as text).
    assert.ok(seen.notices.includes(payload.slice(0, 16)), `${payload}: the notice shows the text (${seen.notices.slice(0, 300)})`);
    // The canonical fragment dropped every bad pair.
    assert.doesNotMatch(await page.textContent('#fragment-view') ?? '', /pwned/);

    // The same payloads arriving by navigation after load (hashchange), raw this time.
    await page.evaluate((p) => {
      document.querySelector('#notices')?.replaceChildren();
      location.hash = `v=1&wb=${p}&model=${p}&${p}=1`;
    }, payload);
    await page.waitForFunction((p) => (document.querySelector('#notices')?.textContent ?? '').includes(p.slice(0, 8)), payload);
    await waitIdle(page);
    assertInert(payload, await inspect(page), dialogs);
    await page.context().close();
  }
});

test('payloads typed into the form and the noise view stay text', async () => {
  /** @type {string[]} */
  const dialogs = [];
  const { page } = await openPage(env.browser, env.baseUrl, '', {
    setup: async (context) => context.on('page', (p) => p.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss().catch(() => {}); })),
  });
  for (const payload of PAYLOADS) {
    await page.fill('#noise-sigmas', payload);
    await page.press('#noise-sigmas', 'Enter');
    await page.locator('#noise-sigmas').blur();
    // The noise view quotes the first token it could not read, as text.
    const token = payload.split(/[\s,]+/)[0].slice(0, 8);
    await page.waitForFunction((t) => (document.querySelector('#noise-error')?.textContent ?? '').includes(t), token);
    // Text fields of the settings form (some sit in folded groups: set the value as typing would).
    for (const key of ['wb', 'ab', 'lk']) {
      const typed = await page.evaluate(({ key, payload }) => {
        const field = document.querySelector(`#settings-form input[name="${key}"]`);
        if (!(field instanceof HTMLInputElement)) return false;
        field.value = payload;
        field.dispatchEvent(new Event('input', { bubbles: true }));
        field.dispatchEvent(new Event('change', { bubbles: true }));
        return true;
      }, { key, payload });
      assert.ok(typed, `the form has a ${key} field`);
      await waitIdle(page);
    }
    assertInert(payload, await inspect(page), dialogs);
  }
  await page.context().close();
});
