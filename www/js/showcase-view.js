// Named experiments (the engine's `experiments()`): a button each in the Search card. A click
// loads the experiment's settings into the address, runs its searches one after the other,
// then the final table, and says what to look at. Each step is the page's own (the search
// and final views), so pause/cancel and the results behave as if the user clicked them; a
// cancelled or failed step ends the experiment and keeps what was computed.
import { byId, el } from './dom.js';

/**
 * @typedef {import('./main.js').App} App
 * @typedef {import('../../pkg/arq.js').Showcase} Showcase
 * @typedef {import('./search-view.js').SearchView} SearchView
 * @typedef {import('./final-view.js').FinalView} FinalView
 * @typedef {'arq' | 'haq' | 'random'} Kind
 */

export class ShowcaseView {
  /** @param {App} app @param {{search: SearchView, final: FinalView}} views */
  constructor(app, views) {
    this.app = app;
    this.views = views;
    this.host = byId('showcases', HTMLElement);
    this.note = byId('showcase-note', HTMLElement);
    /** @type {Showcase[]} */
    this.list = [];
  }

  /** @param {Showcase[]} list */
  show(list) {
    this.list = list;
    this.host.replaceChildren(el('span', { class: 'subtle', text: 'Experiments:' }), ...list.map((x) => {
      const b = el('button', { type: 'button', 'data-idle-only': true, 'data-showcase': x.id,
        title: `${x.fragment} · searches: ${x.methods.join(', ')}, then the final table` }, [x.title]);
      b.addEventListener('click', () => this.run(x));
      return b;
    }));
    this.host.hidden = list.length === 0;
  }

  /** @param {Showcase} x */
  async run(x) {
    const { search, final } = this.views;
    this.note.hidden = false;
    this.note.dataset.showcase = x.id;
    this.note.dataset.state = 'running';
    const steps = [...x.methods.map((m) => `${m} search`), 'final table'];
    const say = (/** @type {number} */ i) => {
      this.note.replaceChildren(el('strong', { text: x.title }), ' ', el('span', { class: 'subtle', text: i < steps.length
        ? `(step ${i + 1} of ${steps.length}: ${steps[i]})` : '(done)' }), el('p', { text: x.text }));
    };
    say(0);
    await this.app.loadFragment(x.fragment);
    for (const [i, m] of x.methods.entries()) {
      say(i);
      const run = await search.start(/** @type {Kind} */ (m), 0);
      if (run.state !== 'done') return this.stopped(x, steps[i]);
    }
    say(steps.length - 1);
    await final.run();
    if (final.box.dataset.state !== 'done') return this.stopped(x, 'final table');
    say(steps.length);
    this.note.dataset.state = 'done';
  }

  /** @param {Showcase} x @param {string} step */
  stopped(x, step) {
    this.note.dataset.state = 'stopped';
    this.note.replaceChildren(el('strong', { text: x.title }), ' ', el('span', { class: 'subtle', text: `(stopped at the ${step}; what finished is kept)` }), el('p', { text: x.text }));
  }
}
