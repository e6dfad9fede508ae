// Small DOM helpers (no framework).

/**
 * Creates an element with attributes, properties and children.
 * @template {keyof HTMLElementTagNameMap} T
 * @param {T} tag
 * @param {Record<string, string|number|boolean|null|undefined>} [attrs] attributes; `text`
 *   sets textContent, `class` sets className; false/null/undefined leave the attribute out
 * @param {(Node|string|null|undefined|false)[]} [children]
 * @returns {HTMLElementTagNameMap[T]}
 */
export function el(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (key === 'text') node.textContent = String(value);
    else if (key === 'class') node.className = String(value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child);
  }
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
      node.disabled = busy;
    }
  }
}
