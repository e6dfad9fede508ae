// The model card: checkpoint status, the Load pretrained action, and the layers table
// (name, kind, input/output shape, parameters, MACs, totals from the engine).
import { byId, el } from './dom.js';
import * as fmt from './format.js';

/**
 * @typedef {import('./types.js').ModelInfo} ModelInfo
 * @typedef {import('./protocol.js').PretrainedResult} PretrainedResult
 */

export class ModelView {
  /** @param {{onLoadPretrained: () => void}} handlers */
  constructor(handlers) {
    this.title = byId('model-title', HTMLElement);
    this.checkpoint = byId('checkpoint-status', HTMLElement);
    this.table = byId('layers-table', HTMLTableElement);
    this.loadButton = byId('load-pretrained', HTMLButtonElement);
    this.loadButton.addEventListener('click', () => handlers.onLoadPretrained());
  }

  /** @param {ModelInfo} model */
  showModel(model) {
    this.title.textContent = `${model.name}, σ = ${fmt.sigma(model.sigma)}`;
    const quantizable = model.layers.filter((l) => l.quantizable).length;
    const rows = model.layers.map((l, i) => el('tr', { 'data-kind': l.kind, 'data-quantizable': l.quantizable ? 'true' : 'false' }, [
      el('td', { class: 'num', text: i + 1 }),
      el('th', { scope: 'row' }, [el('code', { text: l.name })]),
      el('td', {}, [l.kind, l.quantizable ? el('span', { class: 'badge', title: 'quantizable: its weights and input activations get their own bit widths', text: 'Q' }) : null]),
      el('td', { class: 'shape', text: fmt.shape(l.inShape) }),
      el('td', { class: 'shape', text: fmt.shape(l.outShape) }),
      el('td', { class: 'num', text: fmt.int(l.params) }),
      el('td', { class: 'num', text: fmt.int(l.macs) }),
    ]));
    this.table.replaceChildren(
      el('caption', { text: `Layers of ${model.name} (${quantizable} quantizable, marked Q), per input image` }),
      el('thead', {}, [el('tr', {}, ['#', 'layer', 'kind', 'input', 'output', 'params', 'MACs'].map((h) => el('th', { scope: 'col', text: h })))]),
      el('tbody', {}, rows),
      el('tfoot', {}, [el('tr', {}, [
        el('td', {}),
        el('th', { scope: 'row', colspan: 4, text: 'total' }),
        el('td', { class: 'num', 'data-total': 'params', text: fmt.int(model.params) }),
        el('td', { class: 'num', 'data-total': 'macs', text: fmt.int(model.macs) }),
      ])]),
    );
    this.table.dataset.quantizable = String(quantizable);
    if (!model.trained) this.setCheckpoint('untrained', 'Untrained: initial weights from the seed.');
    else if (model.checkpointHash) this.setCheckpoint('pretrained', `Pretrained checkpoint ${fmt.hash(model.checkpointHash)}.`);
    else this.setCheckpoint('trained', 'Trained in this page (not a shipped checkpoint).');
  }

  /** @param {PretrainedResult} r */
  showPretrained(r) {
    this.showModel(r.model);
    if (r.checkpoint) {
      const acc = Number.isFinite(r.checkpoint.testAccuracy) ? `, test accuracy ${fmt.percent(r.checkpoint.testAccuracy)}` : '';
      this.setCheckpoint('pretrained', `Pretrained checkpoint ${fmt.hash(r.checkpoint.hash)} loaded (${r.checkpoint.model}, σ = ${fmt.sigma(r.checkpoint.sigma)}, ${fmt.count(r.checkpoint.epochs, 'epoch')}${acc}).`);
    } else {
      const now = r.model.trained ? 'the current weights stay (trained earlier, maybe at another σ)' : 'the model below is untrained and usable';
      this.setCheckpoint('missing', `No pretrained checkpoint for this model/sigma — train it. None is shipped for ${r.model.name} at σ = ${fmt.sigma(r.model.sigma)}; ${now}.`);
    }
  }

  /** @param {'untrained'|'pretrained'|'trained'|'missing'|'loading'|'error'} state @param {string} text */
  setCheckpoint(state, text) {
    this.checkpoint.dataset.state = state;
    this.checkpoint.textContent = text;
  }
}
