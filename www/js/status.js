// The status line (aria-live), the loading phases with bytes, and dismissible notices.
import { el } from './dom.js';
import * as fmt from './format.js';

/** Human names of the worker's loading phases. @type {Record<string, string>} */
const PHASE_LABELS = {
  wasm: 'Engine (WebAssembly)',
  dataset: 'MNIST digits',
  engine: 'Starting the engine',
  index: 'Checkpoint index',
  checkpoint: 'Pretrained checkpoint',
};

export class Status {
  /** @param {HTMLElement} line the aria-live status line @param {HTMLOListElement} phases */
  constructor(line, phases) {
    this.line = line;
    this.phases = phases;
    /** @type {Map<string, {item: HTMLLIElement, bar: HTMLProgressElement, text: HTMLElement}>} */
    this.items = new Map();
    /** @type {number | undefined} */
    this.hideToken = undefined;
  }

  /**
   * @param {string} text
   * @param {'busy'|'ok'|'error'|'info'} [kind]
   */
  set(text, kind = 'info') {
    this.line.textContent = visible(text);
    this.line.dataset.kind = kind;
  }

  /**
   * Shows one loading phase with its bytes (or steps).
   * @param {string} phase
   * @param {number} done
   * @param {number} total 0 when unknown
   */
  phase(phase, done, total) {
    let item = this.items.get(phase);
    if (!item) {
      const bar = el('progress', { max: 1, value: 0, 'aria-label': PHASE_LABELS[phase] ?? phase });
      const text = el('span', { class: 'phase-bytes' });
      const li = el('li', { 'data-phase': phase }, [el('span', { class: 'phase-name', text: PHASE_LABELS[phase] ?? phase }), bar, text]);
      item = { item: li, bar, text };
      this.items.set(phase, item);
      this.phases.append(li);
      for (const other of this.items.values()) {
        if (other !== item) other.item.dataset.state = 'done';
      }
    }
    this.phases.hidden = false;
    this.hideToken = (this.hideToken ?? 0) + 1;
    const counted = phase !== 'engine' && phase !== 'index';
    if (total > 0) {
      item.bar.max = total;
      item.bar.value = done;
    } else {
      item.bar.removeAttribute('value');
    }
    item.text.textContent = !counted ? '' : total > 0 ? `${fmt.bytes(done)} / ${fmt.bytes(total)}` : fmt.bytes(done);
    item.item.dataset.state = total > 0 && done >= total ? 'done' : 'active';
  }

  /** Marks every phase finished and hides the list after a moment. */
  finishPhases() {
    for (const item of this.items.values()) {
      item.item.dataset.state = 'done';
      if (!item.bar.hasAttribute('value')) item.bar.value = item.bar.max;
    }
    const token = (this.hideToken = (this.hideToken ?? 0) + 1);
    setTimeout(() => {
      if (token === this.hideToken) this.phases.hidden = true;
    }, 1500);
  }
}

/**
 * Invisible and direction-changing characters (zero-width, bidi marks, embeddings, overrides
 * and isolates, BOM, other format controls) shown as `<U+202E>`: a value quoted in a message
 * can then neither hide nor reverse the text around it.
 * @param {string} text
 */
export function visible(text) {
  return text.replace(/[\p{Cf}\u0000-\u0008\u000B-\u001F\u007F-\u009F\u2028\u2029]/gu, (c) => `<U+${(c.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}>`);
}

export class Notices {
  /** @param {HTMLElement} container */
  constructor(container) {
    this.container = container;
  }

  /**
   * Shows a dismissible notice.
   * @param {string} title
   * @param {string[]} lines
   * @param {'warning'|'error'|'info'} [kind]
   * @returns {HTMLElement}
   */
  show(title, lines, kind = 'warning') {
    const key = JSON.stringify([title, lines, kind]);
    for (const old of this.container.querySelectorAll('.notice')) {
      if (old instanceof HTMLElement && old.dataset.key === key) old.remove();
    }
    const close = el('button', { type: 'button', class: 'notice-close', 'aria-label': 'Dismiss this notice', text: '×' });
    const notice = el('div', { class: `notice notice-${kind}`, role: kind === 'error' ? 'alert' : 'status' }, [
      el('div', { class: 'notice-body' }, [
        el('strong', { text: visible(title) }),
        lines.length ? el('ul', {}, lines.map((l) => el('li', { text: visible(l) }))) : null,
      ]),
      close,
    ]);
    notice.dataset.key = key;
    close.addEventListener('click', () => notice.remove());
    this.container.append(notice);
    return notice;
  }

  /** Removes every notice. */
  clear() {
    this.container.replaceChildren();
  }
}
