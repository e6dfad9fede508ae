// The data card: a grid of dataset digits (canvas tiles with their labels), paged.
// Clicking a test digit shows it in the noise view.
import { byId, el } from './dom.js';
import { digitCanvas, drawGray } from './draw.js';
import * as fmt from './format.js';

/**
 * @typedef {import('./client.js').EngineClient} EngineClient
 * @typedef {import('./types.js').DatasetInfo} DatasetInfo
 */

const PAGE = 48;

export class SamplesView {
  /**
   * @param {EngineClient} client
   * @param {{onPick: (testIndex: number) => void, onError: (e: unknown) => void}} handlers
   */
  constructor(client, handlers) {
    this.client = client;
    this.handlers = handlers;
    this.grid = byId('sample-grid', HTMLElement);
    this.split = byId('sample-split', HTMLSelectElement);
    this.prev = byId('sample-prev', HTMLButtonElement);
    this.next = byId('sample-next', HTMLButtonElement);
    this.range = byId('sample-range', HTMLElement);
    this.summary = byId('dataset-summary', HTMLElement);
    /** @type {DatasetInfo | null} */
    this.info = null;
    this.start = 0;
    this.seq = 0;
    this.split.addEventListener('change', () => this.show(0));
    this.prev.addEventListener('click', () => this.show(this.start - PAGE));
    this.next.addEventListener('click', () => this.show(this.start + PAGE));
  }

  /** @returns {'train'|'test'} */
  splitName() {
    return this.split.value === 'train' ? 'train' : 'test';
  }

  /** @param {DatasetInfo} info */
  setInfo(info) {
    this.info = info;
    const what = info.name === 'synth' ? 'procedural test digits' : 'real MNIST digits';
    this.summary.textContent = `${fmt.int(info.count)} ${what} (${info.rows}×${info.cols}, 256 gray levels): the first ${fmt.int(info.train)} train, the last ${fmt.int(info.test)} test.`;
    this.show(0);
  }

  /** @param {number} start */
  async show(start) {
    if (!this.info) return;
    const split = this.splitName();
    const size = split === 'train' ? this.info.train : this.info.test;
    const from = Math.max(0, Math.min(start, size - 1));
    const count = Math.min(PAGE, size - from);
    const seq = ++this.seq;
    let samples;
    try {
      samples = await this.client.request('samples', { split, start: from, count });
    } catch (e) {
      this.handlers.onError(e);
      return;
    }
    if (seq !== this.seq) return;
    this.start = from;
    this.prev.disabled = from === 0;
    this.next.disabled = from + count >= size;
    this.range.textContent = `${split} digits ${fmt.int(from)}–${fmt.int(from + count - 1)} of ${fmt.int(size)}`;
    const { rows, cols } = this.info;
    const tiles = [];
    for (let i = 0; i < count; i++) {
      const index = from + i;
      const label = samples.labels[i];
      const canvas = digitCanvas(rows, cols, `${split} digit ${index}, label ${label}`);
      drawGray(canvas, samples.pixels, i * rows * cols);
      const caption = el('span', { class: 'tile-label', text: String(label) });
      if (split === 'test') {
        const button = el('button', { type: 'button', class: 'tile', title: `Test digit #${index} (label ${label}): show it under noise`, 'data-index': index }, [canvas, caption]);
        button.addEventListener('click', () => this.handlers.onPick(index));
        tiles.push(button);
      } else {
        tiles.push(el('div', { class: 'tile', title: `Train digit #${index} (label ${label})`, 'data-index': index }, [canvas, caption]));
      }
    }
    this.grid.replaceChildren(...tiles);
  }
}
