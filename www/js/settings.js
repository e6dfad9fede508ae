// The settings form, generated from the engine's schema() so it always matches the CLI and
// the URL: one control per field, grouped by field.group, help as visible text and tooltip.
import { el } from './dom.js';
import { visible } from './status.js';
import * as url from './url.js';

/**
 * @typedef {import('./types.js').Field} Field
 */

/** @param {string} key */
const controlId = (key) => `cfg-${key.replace(/[^\w-]/g, '_')}`;

/**
 * A linear slider suits a range like sigma's (0.01..2), not a learning rate's (1e-5..1).
 * @param {number} min @param {number} max
 */
const sliderFits = (min, max) => (min > 0 ? max / min <= 1000 : max - min <= 10);

/**
 * The control(s) for one field.
 * @param {Field} f
 * @returns {{main: HTMLInputElement|HTMLSelectElement, slider: HTMLInputElement|null}}
 */
function controlFor(f) {
  const common = { id: controlId(f.key), name: f.key, 'data-key': f.key, title: f.help, 'aria-describedby': `${controlId(f.key)}-help ${controlId(f.key)}-err` };
  if (f.kind === 'enum') {
    const select = el('select', common, (f.choices ?? []).map((c) => el('option', { value: c, text: c })));
    return { main: select, slider: null };
  }
  if (f.kind === 'bits' || f.kind === 'flags') {
    // Comma lists: bit widths (2..8, f = full precision) or 0/1 lock flags, one per layer.
    const input = el('input', { ...common, type: 'text', spellcheck: 'false', autocomplete: 'off', placeholder: f.default, pattern: '[\\dfF]+(,[\\dfF]+)*' });
    return { main: input, slider: null };
  }
  const isInt = f.kind === 'int' || f.kind === 'seed';
  // A text box, not type=number: a number box hides what was typed when it is not a number
  // (its value reads as ""), so the engine could not name the bad value in its notice.
  const input = el('input', {
    ...common, type: 'text', inputmode: isInt ? 'numeric' : 'decimal', spellcheck: 'false',
    placeholder: f.default, autocomplete: 'off',
  });
  let slider = null;
  if (f.kind === 'float' && f.min !== undefined && f.max !== undefined && sliderFits(f.min, f.max)) {
    slider = el('input', { type: 'range', min: f.min, max: f.max, step: 0.01, class: 'slider', 'aria-label': `${f.key} slider`, title: f.help, tabindex: -1 });
  }
  return { main: input, slider };
}

/** @param {Field} f */
function rangeText(f) {
  if (f.kind === 'enum') return `one of ${(f.choices ?? []).join(', ')}`;
  if (f.kind === 'int' || f.kind === 'float') return `${f.min} to ${f.max}`;
  return '';
}

/** Groups shown unfolded; the others (certification, IRS, ...) start folded. */
const OPEN_GROUPS = ['data', 'model', 'train'];

export class SettingsForm {
  /**
   * @param {HTMLFormElement} form
   * @param {{onInput: (fragment: string) => void, onCommit: (fragment: string) => void}} handlers
   *   onInput while typing or dragging, onCommit when a value is committed (change event)
   */
  constructor(form, handlers) {
    this.form = form;
    /** @type {Field[]} */
    this.fields = [];
    /** @type {Map<string, {main: HTMLInputElement|HTMLSelectElement, slider: HTMLInputElement|null, error: HTMLElement}>} */
    this.controls = new Map();
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      handlers.onCommit(this.fragment());
    });
    form.addEventListener('input', (ev) => {
      this.syncPair(ev.target);
      handlers.onInput(this.fragment());
    });
    form.addEventListener('change', (ev) => {
      this.syncPair(ev.target);
      handlers.onCommit(this.fragment());
    });
  }

  /** Keeps a slider and its number box showing the same value. @param {EventTarget|null} target */
  syncPair(target) {
    for (const c of this.controls.values()) {
      if (c.slider && target === c.slider) c.main.value = c.slider.value;
      if (c.slider && target === c.main && c.main.value !== '') c.slider.value = c.main.value;
    }
  }

  /** @param {Field[]} schema */
  build(schema) {
    // the presentation keys (group view: view, hide, lock, embed) are the navigation's and the
    // teacher link's (www/js/nav.js), no experiment setting
    this.fields = schema.filter((f) => f.key !== 'v' && f.group !== 'view');
    this.controls.clear();
    /** @type {Map<string, Field[]>} */
    const groups = new Map();
    for (const f of this.fields) groups.set(f.group, [...(groups.get(f.group) ?? []), f]);
    const nodes = [...groups].map(([group, fields]) => {
      const items = fields.map((f) => {
        const { main, slider } = controlFor(f);
        const error = el('small', { class: 'field-error', id: `${controlId(f.key)}-err` });
        this.controls.set(f.key, { main, slider, error });
        const range = rangeText(f);
        return el('div', { class: 'field', 'data-kind': f.kind }, [
          el('label', { for: main.id }, [el('span', { class: 'key', text: f.key }), range ? el('span', { class: 'range', text: range }) : null]),
          el('div', { class: 'control-row' }, [slider, main]),
          el('small', { class: 'help', id: `${main.id}-help`, text: f.help }),
          error,
        ]);
      });
      const details = el('details', { open: OPEN_GROUPS.includes(group) }, [el('summary', { text: group }), ...items]);
      return el('fieldset', { class: 'group', 'data-idle-only': true, 'data-group': group, 'aria-label': `${group} settings` }, [details]);
    });
    this.form.replaceChildren(...nodes, el('button', { type: 'submit', class: 'visually-hidden', tabindex: -1, text: 'Apply' }));
  }

  /** Shows a configuration in the controls. @param {Record<string, string>} values by URL key */
  setValues(values) {
    for (const [key, c] of this.controls) {
      if (!Object.hasOwn(values, key)) continue;
      c.main.value = values[key];
      if (c.slider) c.slider.value = c.main.value;
      const details = c.main.closest('details');
      const field = this.fields.find((f) => f.key === key);
      if (details && field && values[key] !== field.default) details.open = true;
    }
    this.markNotices([]);
  }

  /** @returns {string} a fragment with every control's value (the engine canonicalises it) */
  fragment() {
    /** @type {[string, string][]} */
    const pairs = [...this.controls].map(([key, c]) => [key, c.main.value.trim()]);
    return url.build(pairs);
  }

  /**
   * Marks the fields that the engine's notices name ("key=value: reason").
   * @param {string[]} notices
   */
  markNotices(notices) {
    for (const [key, c] of this.controls) {
      const mine = notices.filter((n) => n.startsWith(`${key}=`) || n.startsWith(`${key}:`));
      c.main.toggleAttribute('aria-invalid', mine.length > 0);
      c.error.textContent = mine.map(visible).join(' ');
      const details = c.main.closest('details');
      if (mine.length && details) details.open = true;
    }
  }
}
