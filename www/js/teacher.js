// The "Teacher link" builder: the current experiment plus the presentation keys a teacher
// chooses (which view opens, which parts are hidden or locked, embed mode), as a link to copy
// and, in embed mode, an <iframe> snippet. The engine validates the keys when the link opens,
// like every setting (README "Settings", docs/navigation.md).
import { byId, el } from './dom.js';

/**
 * @typedef {import('./nav.js').Navigation} Navigation
 */

export class TeacherLink {
  /**
   * @param {Navigation} nav
   * @param {(text: string, kind: 'ok'|'info') => void} say the status line
   */
  constructor(nav, say) {
    this.nav = nav;
    this.say = say;
    this.form = byId('teacher-form', HTMLFormElement);
    this.output = byId('teacher-url', HTMLInputElement);
    this.open = byId('teacher-open', HTMLAnchorElement);
    this.snippet = byId('teacher-iframe', HTMLTextAreaElement);
    this.snippetBox = byId('teacher-iframe-box', HTMLElement);
    this.form.addEventListener('submit', (ev) => ev.preventDefault());
    this.form.addEventListener('change', () => this.update());
    byId('teacher-copy', HTMLButtonElement).addEventListener('click', () => this.copy());
    byId('teacher-current', HTMLButtonElement).addEventListener('click', () => this.fill());
  }

  /** Builds the controls from the schema's words (once the engine has loaded). */
  build() {
    const views = this.nav.views.map((v) => el('option', { value: v.word, text: v.label }));
    const checks = (/** @type {string} */ key, /** @type {string} */ legend) => el('fieldset', { class: 'teacher-parts', 'data-key': key }, [
      el('legend', { text: legend }),
      ...this.nav.partWords.map((w) => el('label', {}, [
        el('input', { type: 'checkbox', name: `${key}-${w}`, value: w, 'data-key': key }),
        ` ${this.nav.partLabel(w)}`,
      ])),
    ]);
    this.form.replaceChildren(
      el('label', { class: 'teacher-view' }, ['Opens on ', el('select', { id: 'teacher-view', name: 'view' }, views)]),
      checks('hide', 'Hide'),
      checks('lock', 'Lock (shown, not changeable)'),
      el('label', {}, [el('input', { type: 'checkbox', id: 'teacher-embed', name: 'embed' }), ' Embed mode: only the chosen view, no header or footer (slides, iframes)']),
    );
    this.fill();
  }

  /** Starts from what the page shows now. */
  fill() {
    const view = this.form.querySelector('#teacher-view');
    if (view instanceof HTMLSelectElement) view.value = this.nav.current();
    for (const box of this.form.querySelectorAll('input[data-key]')) {
      if (box instanceof HTMLInputElement) box.checked = this.nav.words(box.dataset.key ?? '').includes(box.value);
    }
    const embed = this.form.querySelector('#teacher-embed');
    if (embed instanceof HTMLInputElement) embed.checked = this.nav.values.embed === '1';
    this.update();
  }

  /** @returns {Record<string, string>} the chosen presentation values */
  chosen() {
    const words = (/** @type {string} */ key) => [...this.form.querySelectorAll(`input[data-key="${key}"]`)]
      .filter((b) => b instanceof HTMLInputElement && b.checked).map((b) => /** @type {HTMLInputElement} */ (b).value).join(',');
    const view = this.form.querySelector('#teacher-view');
    const embed = this.form.querySelector('#teacher-embed');
    return {
      view: view instanceof HTMLSelectElement ? view.value : '',
      hide: words('hide'),
      lock: words('lock'),
      embed: embed instanceof HTMLInputElement && embed.checked ? '1' : '0',
    };
  }

  /** The link: this page, the current experiment, the chosen presentation. */
  link() {
    const fragment = this.nav.withPresentation(this.nav.fragment, this.chosen());
    return `${location.origin}${location.pathname}${fragment}`;
  }

  update() {
    if (!this.form.querySelector('#teacher-view')) return;
    const link = this.link();
    this.output.value = link;
    this.open.href = link;
    const embed = this.chosen().embed === '1';
    this.snippetBox.hidden = !embed;
    this.snippet.value = embed ? `<iframe src="${link}" title="ARQ Playground" width="960" height="720" loading="lazy"></iframe>` : '';
  }

  async copy() {
    this.update();
    try {
      await navigator.clipboard.writeText(this.output.value);
      this.say('Teacher link copied.', 'ok');
    } catch {
      this.output.focus();
      this.output.select();
      this.say('The clipboard is not available: the link is selected, copy it with Ctrl+C.', 'info');
    }
  }
}
