// The URL fragment is the experiment (README, "Settings").
// The engine owns parsing and the canonical form; this module only reads and writes
// location.hash: replaceState while a control is being typed in or dragged (preview),
// pushState when a change is committed (push), and a callback when the user navigates
// (back/forward, an edited address, a followed link).

import { DEFAULT_FRAGMENT } from './protocol.js';

/** The fragment the page last wrote or applied, so our own writes are not seen as navigation. */
let applied = normalize(location.hash);
/** The last committed fragment: what the current history entry stands for. */
let committed = applied;

/**
 * "#v=2&a=b", "v=2&a=b" and "" all become fragments starting with '#' (or "" when empty).
 * @param {string} fragment
 */
export function normalize(fragment) {
  const f = fragment.trim();
  if (f === '' || f === '#') return '';
  return f.startsWith('#') ? f : `#${f}`;
}

/** @returns {string} the current fragment, with its '#', or "" */
export function current() {
  return normalize(location.hash);
}

/** @param {string} f a normalised fragment @param {'replace'|'push'} how */
function write(f, how) {
  const target = f || location.pathname + location.search;
  if (how === 'push') history.pushState(null, '', target);
  else if (current() !== f) history.replaceState(history.state, '', target);
}

/**
 * Shows the fragment of a value being typed or dragged, without a history entry.
 * @param {string} fragment
 */
export function preview(fragment) {
  applied = normalize(fragment);
  write(applied, 'replace');
}

/**
 * Makes the current history entry stand for this fragment (the canonical rewrite of an
 * opened link, or a navigation that was applied).
 * @param {string} fragment
 */
export function replace(fragment) {
  applied = committed = normalize(fragment);
  write(applied, 'replace');
}

/**
 * Records a committed change as a new history entry, so Back returns to the state before
 * it (a preview may have rewritten the current entry: it is restored first).
 * @param {string} fragment
 */
export function push(fragment) {
  const f = normalize(fragment);
  if (f === committed) {
    replace(f);
    return;
  }
  write(committed, 'replace');
  write(f, 'push');
  applied = committed = f;
}

/**
 * Calls `onChange(fragment)` when the fragment changes by navigation: back/forward
 * (popstate), an edited address bar or a followed link (hashchange). Both events may fire
 * for one navigation; the callback runs once.
 * @param {(fragment: string) => void} onChange
 */
export function onNavigate(onChange) {
  const check = () => {
    const f = current();
    if (f === applied) return;
    applied = committed = f;
    onChange(f);
  };
  window.addEventListener('popstate', check);
  window.addEventListener('hashchange', check);
}

/**
 * Percent-encodes a value as typed, so the engine (which percent-decodes fragment values)
 * sees exactly the typed text: `%41` stays `%41`, `a&b` stays one value, `é` stays `é`.
 * Commas, the list separator of bit widths and locks, stay readable.
 * @param {string} value
 */
export function encodeValue(value) {
  // encodeURIComponent throws on a lone surrogate (pasted text can hold one): U+FFFD instead
  const wellFormed = value.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
  return encodeURIComponent(wellFormed).replace(/%2C/gi, ',');
}

/**
 * The `v=N` pair of a fragment, or the current version's when it has none.
 * @param {string} fragment
 */
export function versionOf(fragment) {
  const m = /(?:^#?|&)(v=\d+)(?:&|$)/.exec(fragment);
  return m ? m[1] : DEFAULT_FRAGMENT.slice(1);
}

/**
 * Appends a configuration to a fragment as `key=value` pairs. Values come from form
 * controls and are percent-encoded as typed (the engine validates them and names a bad one
 * in a notice); empty values are left out (the engine then uses the default). The format
 * version is the page's current fragment's, so editing an old link keeps it in its own
 * spelling (every value is given, so the version changes no number).
 * @param {[string, string][]} pairs
 * @returns {string}
 */
export function build(pairs) {
  const clean = (/** @type {string} */ s) => s.replace(/[&#=\s]/g, '');
  const body = pairs
    .map(([key, value]) => [clean(key), value.trim()])
    .filter(([key, value]) => key !== 'v' && key !== '' && value !== '')
    .map(([key, value]) => `${key}=${encodeValue(value)}`);
  return `#${[versionOf(applied), ...body].join('&')}`;
}
