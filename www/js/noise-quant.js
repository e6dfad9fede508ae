// The noise view's float / quantized toggle, kept apart from noise-view.js: a checkbox in the
// noise card's toolbar, and an App whose client adds `quantized: true` to the view's noise
// requests while it is on (the engine then labels the tiles with the integer model of the last
// quick read-out). Off until a read-out exists; its note names the policy read out, and says
// so when the policy has changed since.
import { el } from './dom.js';

/** @typedef {import('./main.js').App} App */

export class NoiseQuantToggle {
  /** @param {App} app */
  constructor(app) {
    this.input = el('input', { type: 'checkbox', id: 'noise-quantized', disabled: true });
    this.note = el('span', { id: 'noise-quant-note', class: 'subtle', text: 'quantized: evaluate a policy in the bits card first' });
    const label = el('label', { for: 'noise-quantized', title: 'Label the noisy tiles with the quantized (integer) model of the last quick read-out instead of the float model' },
      [this.input, 'quantized labels']);
    const toolbar = document.querySelector('#noise-card .toolbar');
    toolbar?.append(el('span', { class: 'quant-toggle' }, [label, this.note]));
    this.readout = '';
    /** @type {(() => void) | null} */
    this.refresh = null;
    const client = app.client;
    const request = /** @type {typeof client.request} */ ((cmd, params, handlers) => client.request(cmd,
      cmd === 'noise' && this.input.checked ? /** @type {typeof params} */ ({ ...params, quantized: true }) : params, handlers));
    /** The App the noise view gets: the same, but for its client's `request`. @type {App} */
    this.app = Object.create(app, { client: { value: Object.create(client, { request: { value: request } }) } });
    /** The bit editor's policy now (the note says when it differs from the read-out's). */
    this.current = '';
    this.input.addEventListener('change', () => {
      document.getElementById('noise-card')?.setAttribute('data-mode', this.input.checked ? 'quantized' : 'float');
      this.showNote(this.current);
      this.refresh?.();
    });
  }

  /** @param {() => void} refresh the noise view's refresh */
  attach(refresh) {
    this.refresh = refresh;
  }

  /** A quick read-out finished: its integer model can label the tiles. @param {string} policy */
  setReadout(policy) {
    this.readout = policy;
    // Usable from now on whenever the engine is idle (setBusy toggles data-idle-only controls).
    this.input.setAttribute('data-idle-only', '');
    this.input.disabled = document.body.hasAttribute('data-busy');
    this.showNote(policy);
    if (this.input.checked) this.refresh?.();
  }

  /** @param {string} current the bit editor's policy now */
  showNote(current) {
    this.current = current;
    if (!this.readout) return;
    const changed = current && current !== this.readout ? ' (the bit editor has changed since: evaluate to update)' : '';
    this.note.textContent = this.input.checked ? `labels from the read-out of ${this.readout}${changed}` : 'labels from the float model';
  }
}
