// Issue 8: the bad-input matrix through the page. The fields come from the engine's schema()
// (pkg/arq.js, the same module the page runs), the classes of bad value mirror
// tests/common/bad_input.rs. A bad value, in an opened link, a navigation or the settings
// form, must give a visible notice naming the field, the value and what is allowed; the page
// is never blank, stays usable, and the address shows the canonical fragment.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { LONG, ROOT, launch, openPage, waitIdle } from './harness.mjs';

/**
 * The schema rows with every kind's range fields optional (the cases probe all kinds alike).
 * @typedef {import('../../www/js/types.js').Field & {min?: number, max?: number, choices?: string[]}} Field
 * @typedef {{key: string, field: Field, cls: string, raw: string, expect: 'reject'|'accept'|'model'}} Case
 */

/** @type {Awaited<ReturnType<typeof launch>>} */
let env;
/** @type {Field[]} */
let schema = [];

before(async () => {
  const arq = await import(pathToFileURL(join(ROOT, 'pkg', 'arq.js')).href);
  arq.initSync({ module: readFileSync(join(ROOT, 'pkg', 'arq_bg.wasm')) });
  schema = arq.schema();
  env = await launch();
});

after(async () => {
  await env?.close();
});

const MAX_SEED = 2 ** 53 - 1;

/** The classes of tests/common/bad_input.rs, by name. */
const CLASSES = ['empty', 'garbage', 'nan', 'inf', '-inf', 'negative', 'huge-float', 'huge-int', 'unknown-word',
  'above-range', 'below-range', 'wrong-list-length', 'unicode-latin', 'unicode-emoji', 'unicode-rtl-mark',
  'unicode-rtl-override', 'unicode-fullwidth-digit', 'percent-valid', 'percent-invalid', 'percent-truncated',
  'percent-multibyte', 'percent-invalid-utf8'];

/** @param {Field} f @param {string} cls @returns {string} */
function valueFor(f, cls) {
  const min = f.min ?? 0;
  const max = f.max ?? 0;
  switch (cls) {
    case 'empty': return '';
    case 'garbage': return 'abc';
    case 'nan': return 'NaN';
    case 'inf': return 'inf';
    case '-inf': return '-inf';
    case 'negative': return '-1';
    case 'huge-float': return '1e300';
    case 'huge-int': return '99999999999999999999';
    case 'unknown-word': return 'xyzzy';
    case 'above-range':
      return { int: String(max + 1), float: String(max * 1.5), seed: String(BigInt(MAX_SEED) + 1n), enum: (f.choices ?? [''])[0].toUpperCase(), bits: '9', flags: '2', words: (f.choices ?? [''])[0].toUpperCase() }[f.kind] ?? '';
    case 'below-range':
      return { int: String(min - 1), float: min > 0 ? String(min / 2) : '-0.001', seed: '-0.5', enum: ` ${(f.choices ?? [''])[0]}x`, bits: '1', flags: '-1', words: `${(f.choices ?? [''])[0]},` }[f.kind] ?? '';
    case 'wrong-list-length': return f.kind === 'bits' ? '4,4' : f.kind === 'flags' ? '1,0' : '1,2';
    case 'unicode-latin': return '\u00e9';
    case 'unicode-emoji': return '\u{1F600}';
    case 'unicode-rtl-mark': return '\u200f1';
    case 'unicode-rtl-override': return '\u202e1';
    case 'unicode-fullwidth-digit': return '\uff11';
    case 'percent-valid': return '%41';
    case 'percent-invalid': return '%zz';
    case 'percent-truncated': return '%4';
    case 'percent-multibyte': return '%a\u00e9';
    case 'percent-invalid-utf8': return '%FF';
    default: throw new Error(`unknown class ${cls}`);
  }
}

/** @param {Field} f @param {string} cls @returns {Case} */
function makeCase(f, cls) {
  const list = f.kind === 'bits' || f.kind === 'flags';
  // an empty list is valid: full precision, no locks, no hidden or locked parts
  const expect = (list || f.kind === 'words') && cls === 'empty' ? 'accept' : list && cls === 'wrong-list-length' ? 'model' : 'reject';
  return { key: f.key, field: f, cls, raw: valueFor(f, cls), expect };
}

/** The engine's decoding of a fragment value: %XX is a byte, anything else stays. @param {string} s */
function percentDecode(s) {
  const bytes = [...new TextEncoder().encode(s)];
  /** @type {number[]} */
  const out = [];
  const hex = (/** @type {number|undefined} */ c) => (c !== undefined && /^[0-9a-f]$/i.test(String.fromCharCode(c)) ? parseInt(String.fromCharCode(c), 16) : null);
  for (let i = 0; i < bytes.length; i++) {
    const h = hex(bytes[i + 1]);
    const l = hex(bytes[i + 2]);
    if (bytes[i] === 0x25 && h !== null && l !== null) {
      out.push(h * 16 + l);
      i += 2;
    } else {
      out.push(bytes[i]);
    }
  }
  return new TextDecoder().decode(new Uint8Array(out));
}

/** As www/js/status.js shows a message: invisible and bidi characters as <U+XXXX>. @param {string} s */
const visible = (s) => s.replace(/[\p{Cf}\u0000-\u0008\u000B-\u001F\u007F-\u009F\u2028\u2029]/gu, (c) => `<U+${(c.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}>`);

/** What the notice must say is allowed. @param {Case} c */
function allowedText(c) {
  if (c.expect === 'model') return 'comma-separated values';
  const f = c.field;
  return {
    int: `${f.min}..=${f.max}`,
    float: `..=${f.max}`,
    seed: `0..=${MAX_SEED}`,
    enum: (f.choices ?? []).join(', '),
    bits: 'bit widths',
    flags: '0/1 flags',
    words: `comma-separated words from ${(f.choices ?? []).join(', ')}`,
  }[f.kind] ?? '';
}

/**
 * Checks the notice lines against the cases; returns the problems.
 * @param {string[]} lines @param {Case[]} cases @param {(c: Case) => string} shownValue
 */
function checkLines(lines, cases, shownValue) {
  const problems = [];
  for (const c of cases) {
    const mine = lines.filter((l) => l.startsWith(`${c.key}=`));
    if (c.expect === 'accept') {
      if (mine.length) problems.push(`${c.key}=${JSON.stringify(c.raw)} (${c.cls}) is valid but has a notice: ${mine}`);
      continue;
    }
    const want = `${c.key}=${visible(shownValue(c))}`;
    if (!mine.some((l) => l.startsWith(want) && l.includes(allowedText(c)) && /allowed/.test(l))) {
      problems.push(`${c.key}=${JSON.stringify(c.raw)} (${c.cls}): no notice starting ${JSON.stringify(want)} with ${JSON.stringify(allowedText(c))}: ${JSON.stringify(mine)}`);
    }
  }
  return problems;
}

/** The fragment with every case's raw value. @param {Case[]} cases */
const fragmentOf = (cases) => `#v=1&${cases.map((c) => `${c.key}=${c.raw}`).join('&')}`;

/** @param {import('playwright-core').Page} page */
async function noticeLines(page) {
  await page.locator('#notices .notice').first().waitFor({ timeout: LONG });
  return page.$$eval('#notices .notice li', (li) => li.map((l) => l.textContent ?? ''));
}

/** @param {import('playwright-core').Page} page */
async function clearNotices(page) {
  await page.evaluate(() => document.getElementById('notices')?.replaceChildren());
}

/**
 * The page is still there and works: layers, the sample grid and its paging, the fragment.
 * @param {import('playwright-core').Page} page @param {string[]} errors
 */
async function assertUsable(page, errors) {
  await waitIdle(page);
  assert.equal(await page.getAttribute('body', 'data-state'), 'ready');
  assert.notEqual(await page.getAttribute('#status', 'data-kind'), 'error', await page.textContent('#status') ?? '');
  assert.ok((await page.evaluate(() => document.body.innerText.length)) > 500, 'the page is not blank');
  assert.equal(await page.$$eval('#layers-table tbody tr[data-quantizable="true"]', (r) => r.length), 5);
  await page.waitForSelector('#sample-grid .tile canvas');
  const range = await page.textContent('#sample-range');
  await page.click('#sample-next');
  await page.waitForFunction((b) => document.querySelector('#sample-range')?.textContent !== b, range);
  assert.equal(await page.evaluate(() => location.hash), '#v=1', 'the address shows the canonical fragment');
  assert.deepEqual(errors, []);
}

test('an opened link with a bad value for every field: one notice names each field, value and range', async () => {
  // every field gets a different class, so the kinds meet many classes in one load
  const cases = schema.map((f, i) => makeCase(f, CLASSES[(i * 5 + 1) % CLASSES.length]));
  for (const cls of ['unicode-rtl-override', 'percent-multibyte', 'percent-valid']) {
    if (!cases.some((c) => c.cls === cls)) throw new Error(`class ${cls} not covered`);
  }
  const { page, errors } = await openPage(env.browser, env.baseUrl, fragmentOf(cases));
  const lines = await noticeLines(page);
  assert.deepEqual(checkLines(lines, cases, (c) => percentDecode(c.raw)), []);
  assert.match(await page.textContent('#notices .notice strong') ?? '', /could not be used/);
  await assertUsable(page, errors);
  await page.context().close();
});

test('navigating to a bad fragment, class by class over every field: notices, canonical fragment, a working page', async () => {
  const { page, errors } = await openPage(env.browser, env.baseUrl);
  let checked = 0;
  for (const cls of CLASSES) {
    const cases = schema.map((f) => makeCase(f, cls));
    await clearNotices(page);
    await page.evaluate((f) => { location.hash = f; }, fragmentOf(cases));
    await page.waitForFunction(() => location.hash === '#v=1', undefined, { timeout: LONG });
    await waitIdle(page);
    const rejected = cases.filter((c) => c.expect !== 'accept');
    const lines = rejected.length ? await noticeLines(page) : [];
    assert.deepEqual(checkLines(lines, cases, (c) => percentDecode(c.raw)), [], `class ${cls}`);
    // the notice marks the fields too
    for (const c of rejected.slice(0, 3)) {
      assert.match(await page.textContent(`#cfg-${c.key}-err`) ?? '', new RegExp(`^${c.key}=`), `${c.key} (${cls}) marked`);
    }
    checked += cases.length;
  }
  console.log(`page matrix (navigation): ${checked} cases (${schema.length} fields x ${CLASSES.length} classes)`);
  await assertUsable(page, errors);
  await page.context().close();
});

test('typing bad values into the settings form: a notice names the field, the value as typed and the range', async () => {
  const { page, errors } = await openPage(env.browser, env.baseUrl);
  await page.evaluate(() => {
    for (const d of document.querySelectorAll('#settings-form details, #settings-details')) /** @type {HTMLDetailsElement} */ (d).open = true;
  });
  // the first field of each kind that has a text box (an enum is a <select>: no typing)
  const kinds = ['float', 'int', 'seed', 'bits', 'flags'];
  const fields = kinds.map((k) => schema.find((f) => f.kind === k)).filter((f) => f !== undefined);
  assert.equal(fields.length, kinds.length);
  const few = ['garbage', 'huge-int', 'negative', 'wrong-list-length', 'unicode-emoji', 'unicode-rtl-override', 'percent-valid', 'percent-multibyte'];
  let typed = 0;
  for (const f of fields) {
    for (const cls of f.kind === 'float' ? CLASSES : ['empty', ...few]) {
      const c = makeCase(f, cls);
      const box = `#cfg-${f.key}`;
      await clearNotices(page);
      await page.fill(box, c.raw);
      await page.press(box, 'Tab');
      await waitIdle(page);
      typed += 1;
      if (c.raw.trim() === '' || c.expect === 'accept') {
        assert.equal(await page.locator('#notices .notice').count(), 0, `${f.key}=${JSON.stringify(c.raw)} is valid`);
        continue;
      }
      const lines = await noticeLines(page);
      // a typed value reaches the engine as typed (trimmed): %41 stays %41
      assert.deepEqual(checkLines(lines, [c], () => c.raw.trim()), [], `typed ${f.key}=${JSON.stringify(c.raw)}`);
      assert.match(await page.textContent(`#cfg-${f.key}-err`) ?? '', new RegExp(`^${f.key}=`), `${f.key} marked`);
      assert.equal(await page.getAttribute(box, 'aria-invalid'), '');
      assert.equal(await page.inputValue(box), f.default, `${f.key} shows the value in use again`);
      assert.equal(await page.evaluate(() => location.hash), '#v=2');
    }
  }
  console.log(`page matrix (typed): ${typed} values into ${fields.length} fields`);
  // what the form sends is the typed text, percent-encoded (a lone surrogate cannot be encoded)
  const built = await page.evaluate(async () => {
    const modulePath = new URL('js/url.js', location.href).href;
    /** @type {typeof import('../../www/js/url.js')} */
    const u = await import(modulePath);
    return u.build([['sigma', '%41'], ['wb', '4, 4'], ['lr', 'a&b=c#d'], ['seed', '\uD800']]);
  });
  assert.equal(built, '#v=2&sigma=%2541&wb=4,%204&lr=a%26b%3Dc%23d&seed=%EF%BF%BD');
  // a good value clears the mark
  await page.fill('#cfg-sigma', '0.5');
  await page.press('#cfg-sigma', 'Tab');
  await waitIdle(page);
  assert.equal(await page.textContent('#cfg-sigma-err'), '');
  assert.equal(await page.evaluate(() => location.hash), '#v=2&sigma=0.5');
  await page.evaluate(() => { location.hash = '#v=1'; });
  await page.waitForFunction(() => location.hash === '#v=1');
  await assertUsable(page, errors);
  await page.context().close();
});
