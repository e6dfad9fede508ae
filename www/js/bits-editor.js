// The per-layer bit editor's columns: one per quantizable layer in network order, its width
// proportional to the layer's share of the cost (flex-grow = macShare, so every column above
// the minimum width is exactly to scale; a narrower one is held at the minimum and marked),
// weight bits as a bar above the baseline, activation bits mirrored below, the number in each
// bar ('f' = full precision). Drag a bar, or focus a column and press Up/Down (weights),
// Shift+Up/Down (activations), Left/Right (another layer), L (lock). Every change is a
// 'preview' while it goes on and a 'commit' when the pointer or the key is released.
import { el, frozen, svgEl } from './dom.js';
import * as fmt from './format.js';

/**
 * @typedef {import('./quant-types.js').QuantLayer} QuantLayer
 * @typedef {import('./quant-types.js').Bits} Bits
 * @typedef {{wb: Bits[], ab: Bits[], lk: boolean[]}} Draft
 * @typedef {'w'|'a'} Which
 */

/** The settable widths, bottom to top: a bar's height is (position + 1) / LEVELS.length. */
export const LEVELS = [2, 3, 4, 5, 6, 7, 8, 32];
/**
 * A padlock icon (SVG built node by node: emoji fonts are not everywhere, and no HTML is parsed).
 * @param {boolean} closed
 * @returns {SVGSVGElement}
 */
function lockIcon(closed) {
  return svgEl('svg', { viewBox: '0 0 16 16', width: 14, height: 14, 'aria-hidden': 'true' }, [
    svgEl('path', { d: closed ? 'M5 7V5a3 3 0 0 1 6 0v2' : 'M5 7V5a3 3 0 0 1 5.8-1', fill: 'none', stroke: 'currentColor', 'stroke-width': 1.6 }),
    closed
      ? svgEl('rect', { x: 3, y: 7, width: 10, height: 8, rx: 1.5, fill: 'currentColor' })
      : svgEl('rect', { x: 3, y: 7, width: 10, height: 8, rx: 1.5, fill: 'none', stroke: 'currentColor', 'stroke-width': 1.4 }),
  ]);
}
/** @param {Bits} b */
export const bitsLabel = (b) => (b >= 32 ? 'f' : String(b));
/** @param {Bits} b */
const level = (b) => Math.max(0, LEVELS.indexOf(b >= 32 ? 32 : b));
/** One step up or down the levels. @param {Bits} b @param {number} d */
export const stepBits = (b, d) => LEVELS[Math.max(0, Math.min(LEVELS.length - 1, level(b) + d))];

/** @param {QuantLayer} l @param {Bits} w @param {Bits} a @param {boolean} locked */
const describe = (l, w, a, locked) => `${l.name}: weights ${w >= 32 ? 'full precision' : `${w} bits`}, activations ${a >= 32 ? 'full precision' : `${a} bits`}`
  + `${locked ? ', locked' : ''}; ${fmt.percent(l.macShare, 1)} of the cost`;

/** Why an edit is refused: a running job, or a teacher's link that locks the bits. */
const refusal = () => (document.body.hasAttribute('data-busy')
  ? 'The engine is busy: change the bits when the current job ends.'
  : 'The bits are locked by this link.');

export class BitsEditor {
  /**
   * @param {HTMLElement} host
   * @param {{onChange: (draft: Draft, how: 'preview'|'commit') => void, onFocus: (j: number) => void,
   *   onRefused: (why: string) => void}} handlers
   */
  constructor(host, handlers) {
    this.host = host;
    this.handlers = handlers;
    /** @type {QuantLayer[]} */
    this.layers = [];
    /** @type {Draft} */
    this.draft = { wb: [], ab: [], lk: [] };
    this.focus = 0;
    /** @type {HTMLElement[]} */
    this.columns = [];
    /** A key-driven change not yet committed. */
    this.keyDirty = false;
    new ResizeObserver(() => this.markFloors()).observe(host);
  }

  /** @param {QuantLayer[]} layers @param {Draft} draft */
  set(layers, draft) {
    const rebuild = layers.length !== this.layers.length || layers.some((l, j) => l.name !== this.layers[j]?.name);
    this.layers = layers;
    this.draft = { wb: [...draft.wb], ab: [...draft.ab], lk: [...draft.lk] };
    this.focus = Math.min(this.focus, Math.max(0, layers.length - 1));
    if (rebuild) this.build();
    else this.update();
  }

  build() {
    this.columns = this.layers.map((l, j) => {
      const wBar = el('div', { class: 'bit-bar w' }, [el('span', { class: 'bit-num' })]);
      const aBar = el('div', { class: 'bit-bar a' }, [el('span', { class: 'bit-num' })]);
      const wArea = el('div', { class: 'bit-area w', 'data-which': 'w', title: 'Drag to set the weight bits' }, [wBar]);
      const aArea = el('div', { class: 'bit-area a', 'data-which': 'a', title: 'Drag to set the activation bits' }, [aBar]);
      const lock = el('button', { type: 'button', class: 'bit-lock', 'data-idle-only': true, tabindex: -1 });
      lock.disabled = document.body.hasAttribute('data-busy');
      const col = el('div', {
        class: 'bit-col', role: 'group', tabindex: j === this.focus ? 0 : -1, 'data-layer': j, 'data-name': l.name,
        'data-share': l.macShare,
      }, [
        el('div', { class: 'bit-head' }, [el('span', { class: 'bit-name', text: l.name }), el('span', { class: 'bit-share', text: fmt.percent(l.macShare, 1) })]),
        wArea, el('div', { class: 'bit-baseline', 'aria-hidden': 'true' }), aArea, lock,
      ]);
      col.style.flexGrow = String(Math.max(l.macShare, 1e-6));
      for (const area of [wArea, aArea]) this.dragOn(area, j);
      lock.addEventListener('click', () => this.toggleLock(j));
      col.addEventListener('focus', () => this.setFocus(j, false));
      col.addEventListener('keydown', (ev) => this.key(ev, j));
      col.addEventListener('keyup', (ev) => {
        if ((ev.key === 'ArrowUp' || ev.key === 'ArrowDown') && this.keyDirty) {
          this.keyDirty = false;
          this.handlers.onChange(this.draft, 'commit');
        }
      });
      return col;
    });
    this.host.replaceChildren(...this.columns);
    this.update();
    this.markFloors();
  }

  /** Redraws bars, numbers, locks and labels from the draft. */
  update() {
    this.columns.forEach((col, j) => {
      const l = this.layers[j];
      const w = this.draft.wb[j];
      const a = this.draft.ab[j];
      const locked = Boolean(this.draft.lk[j]);
      for (const [which, b] of /** @type {[Which, Bits][]} */ ([['w', w], ['a', a]])) {
        const bar = /** @type {HTMLElement} */ (col.querySelector(`.bit-bar.${which}`));
        bar.style.height = `${((level(b) + 1) / LEVELS.length) * 100}%`;
        bar.dataset.bits = bitsLabel(b);
        bar.classList.toggle('full', b >= 32);
        /** @type {HTMLElement} */ (bar.firstElementChild).textContent = bitsLabel(b);
      }
      col.dataset.wb = bitsLabel(w);
      col.dataset.ab = bitsLabel(a);
      col.classList.toggle('locked', locked);
      col.classList.toggle('focused', j === this.focus);
      col.tabIndex = j === this.focus ? 0 : -1;
      col.setAttribute('aria-label', `${describe(l, w, a, locked)}. Up/Down: weight bits, Shift+Up/Down: activation bits, Left/Right: layer, L: lock`);
      const lock = /** @type {HTMLButtonElement} */ (col.querySelector('.bit-lock'));
      if (lock.dataset.icon !== String(locked)) {
        lock.replaceChildren(lockIcon(locked));
        lock.dataset.icon = String(locked);
      }
      lock.setAttribute('aria-pressed', String(locked));
      lock.setAttribute('aria-label', `${locked ? 'Unlock' : 'Lock'} ${l.name}`);
      lock.title = locked ? `${l.name} is locked: editing, presets, Fit budget and the search leave its bits alone; click to unlock` : `Lock ${l.name}'s bits`;
    });
  }

  /** Marks columns held at the minimum width (not to scale). */
  markFloors() {
    const min = Number.parseFloat(getComputedStyle(this.host).getPropertyValue('--bit-col-min')) || 0;
    for (const col of this.columns) {
      col.classList.toggle('floor', min > 0 && col.getBoundingClientRect().width <= min + 0.5);
    }
  }

  /** @param {number} j @param {boolean} moveDom */
  setFocus(j, moveDom) {
    if (j < 0 || j >= this.columns.length) return;
    const changed = j !== this.focus;
    this.focus = j;
    this.update();
    if (moveDom) this.columns[j].focus();
    if (changed || !moveDom) this.handlers.onFocus(j);
  }

  /** @param {number} j @param {Which} which @param {Bits} bits */
  setBits(j, which, bits) {
    if (this.draft.lk[j]) {
      this.handlers.onRefused(`${this.layers[j].name} is locked: unlock it to change its bits.`);
      return false;
    }
    const list = which === 'w' ? this.draft.wb : this.draft.ab;
    if (list[j] === bits) return false;
    list[j] = bits;
    this.update();
    return true;
  }

  /** @param {number} j */
  toggleLock(j) {
    if (frozen(this.host)) return;
    this.draft.lk[j] = !this.draft.lk[j];
    this.update();
    this.handlers.onChange(this.draft, 'commit');
  }

  /** @param {KeyboardEvent} ev @param {number} j */
  key(ev, j) {
    const busy = frozen(this.host);
    if (ev.key === 'ArrowLeft' || ev.key === 'ArrowRight' || ev.key === 'Home' || ev.key === 'End') {
      ev.preventDefault();
      const next = ev.key === 'Home' ? 0 : ev.key === 'End' ? this.columns.length - 1 : j + (ev.key === 'ArrowLeft' ? -1 : 1);
      this.setFocus(Math.max(0, Math.min(this.columns.length - 1, next)), true);
    } else if (ev.key === 'ArrowUp' || ev.key === 'ArrowDown') {
      ev.preventDefault();
      if (busy) return this.handlers.onRefused(refusal());
      const which = ev.shiftKey ? 'a' : 'w';
      const cur = which === 'w' ? this.draft.wb[j] : this.draft.ab[j];
      if (this.setBits(j, which, stepBits(cur, ev.key === 'ArrowUp' ? 1 : -1))) {
        this.keyDirty = true;
        this.handlers.onChange(this.draft, 'preview');
      }
    } else if (ev.key === 'l' || ev.key === 'L') {
      ev.preventDefault();
      this.toggleLock(j);
    }
    return undefined;
  }

  /** Pointer drag on a weight or activation area. @param {HTMLElement} area @param {number} j */
  dragOn(area, j) {
    const which = /** @type {Which} */ (area.dataset.which);
    /** @param {PointerEvent} ev */
    const bitsAt = (ev) => {
      const r = area.getBoundingClientRect();
      const frac = which === 'w' ? (r.bottom - ev.clientY) / r.height : (ev.clientY - r.top) / r.height;
      return LEVELS[Math.max(0, Math.min(LEVELS.length - 1, Math.ceil(frac * LEVELS.length) - 1))];
    };
    let dragging = false;
    let moved = false;
    area.addEventListener('pointerdown', (ev) => {
      if (ev.button !== 0) return;
      this.setFocus(j, true);
      if (frozen(this.host)) return this.handlers.onRefused(refusal());
      if (this.draft.lk[j]) return this.handlers.onRefused(`${this.layers[j].name} is locked: unlock it to change its bits.`);
      ev.preventDefault();
      area.setPointerCapture(ev.pointerId);
      dragging = true;
      moved = this.setBits(j, which, bitsAt(ev));
      if (moved) this.handlers.onChange(this.draft, 'preview');
      return undefined;
    });
    area.addEventListener('pointermove', (ev) => {
      if (!dragging) return;
      if (this.setBits(j, which, bitsAt(ev))) {
        moved = true;
        this.handlers.onChange(this.draft, 'preview');
      }
    });
    const end = () => {
      if (!dragging) return;
      dragging = false;
      if (moved) this.handlers.onChange(this.draft, 'commit');
      moved = false;
    };
    area.addEventListener('pointerup', end);
    area.addEventListener('pointercancel', end);
  }
}
