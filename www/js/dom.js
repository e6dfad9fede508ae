// Small DOM helpers (no framework). Text always goes in as text (textContent, attributes):
// no HTML parsing sink (innerHTML and friends) is used anywhere in www/js
// (scripts/check-sinks.mjs, run by `make test`, enforces it).

/**
 * Creates an element with attributes, properties and children.
 * @template {keyof HTMLElementTagNameMap} T
 * @param {T} tag
 * @param {Record<string, string|number|boolean|null|undefined>} [attrs] attributes; `text`
 *   sets textContent, `class` sets className, `style` sets declarations through the CSSOM (a
 *   style attribute would be refused by the page's CSP, which has no 'unsafe-inline');
 *   false/null/undefined leave the attribute out
 * @param {(Node|string|null|undefined|false)[]} [children]
 * @returns {HTMLElementTagNameMap[T]}
 */
export function el(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (key === 'text') node.textContent = String(value);
    else if (key === 'class') node.className = String(value);
    else if (key === 'style') setStyle(node, String(value));
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child);
  }
  return node;
}

/**
 * Sets `prop: value; ...` declarations one by one through the CSSOM (custom properties such as
 * `--c` included). Allowed under a CSP without 'unsafe-inline', unlike a style attribute.
 * @param {HTMLElement | SVGElement} node
 * @param {string} declarations
 */
export function setStyle(node, declarations) {
  for (const part of declarations.split(';')) {
    const colon = part.indexOf(':');
    if (colon < 0) continue;
    const prop = part.slice(0, colon).trim();
    if (prop) node.style.setProperty(prop, part.slice(colon + 1).trim());
  }
}

/** @type {{createScriptURL: (s: string) => unknown} | null} */
let scriptPolicy = null;

/**
 * A same-origin script URL in the form the page's CSP accepts: with Trusted Types enforced
 * (require-trusted-types-for 'script'), `new Worker()` takes only a TrustedScriptURL, made by
 * the one policy the CSP allows ('arq'), which refuses every other origin. Without Trusted
 * Types (older browsers) it is the plain URL.
 * @param {URL} url
 * @returns {string} typed as a string for `new Worker()`; a TrustedScriptURL where supported
 */
export function scriptURL(url) {
  const tt = /** @type {any} */ (globalThis).trustedTypes;
  if (!tt?.createPolicy) return url.href;
  scriptPolicy ??= tt.createPolicy('arq', {
    createScriptURL: (/** @type {string} */ s) => {
      const u = new URL(s, location.href);
      if (u.origin !== location.origin) throw new TypeError(`refused script URL ${s}: not this page's origin`);
      return u.href;
    },
  });
  return /** @type {string} */ (/** @type {NonNullable<typeof scriptPolicy>} */ (scriptPolicy).createScriptURL(url.href));
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/**
 * Creates an SVG element with attributes and children (for small static icons).
 * @template {keyof SVGElementTagNameMap} T
 * @param {T} tag
 * @param {Record<string, string|number>} [attrs]
 * @param {SVGElement[]} [children]
 * @returns {SVGElementTagNameMap[T]}
 */
export function svgEl(tag, attrs = {}, children = []) {
  const node = /** @type {SVGElementTagNameMap[T]} */ (document.createElementNS(SVG_NS, tag));
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  node.append(...children);
  return node;
}

/**
 * Finds an element by id and checks its type.
 * @template {HTMLElement} T
 * @param {string} id
 * @param {new (...args: any[]) => T} type
 * @returns {T}
 */
export function byId(id, type) {
  const node = document.getElementById(id);
  if (!(node instanceof type)) throw new Error(`#${id}: missing or not a ${type.name}`);
  return node;
}

/**
 * Builds a visually hidden data table (the fallback for a chart).
 * @param {string} caption
 * @param {string[]} head
 * @param {(string|number)[][]} rows already formatted cells
 * @returns {HTMLTableElement}
 */
export function dataTable(caption, head, rows) {
  return el('table', { class: 'data-table' }, [
    el('caption', { text: caption }),
    el('thead', {}, [el('tr', {}, head.map((h) => el('th', { scope: 'col', text: h })))]),
    el('tbody', {}, rows.map((r) => el('tr', {}, r.map((c, i) => el(i === 0 ? 'th' : 'td', i === 0 ? { scope: 'row', text: String(c) } : { text: String(c) }))))),
  ]);
}

/**
 * Enables or disables every control marked `data-idle-only` (actions that must not run while
 * the engine is busy with a long job).
 * @param {boolean} busy
 */
export function setBusy(busy) {
  document.body.toggleAttribute('data-busy', busy);
  for (const node of document.querySelectorAll('[data-idle-only]')) {
    if (node instanceof HTMLButtonElement || node instanceof HTMLFieldSetElement
      || node instanceof HTMLInputElement || node instanceof HTMLSelectElement) {
      // a part locked by a teacher's link (www/js/nav.js) stays disabled
      node.disabled = busy || node.hasAttribute('data-locked');
    }
  }
}

/**
 * Whether an edit must be refused now: a job runs, or `node` is inside a part that a
 * teacher's link locks (www/js/nav.js).
 * @param {Element} node
 */
export function frozen(node) {
  return document.body.hasAttribute('data-busy') || node.closest('[data-locked-part]') !== null;
}

/** Whether the user asked for reduced motion (then scrolling jumps instead of gliding). */
export function reducedMotion() {
  return matchMedia('(prefers-reduced-motion: reduce)').matches;
}
