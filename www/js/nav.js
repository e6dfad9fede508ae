// The page's navigation and the presentation keys of the fragment (schema group "view",
// README "Settings"; docs/navigation.md): a table of contents of the views with deep links
// (`view=search`), the teacher's `hide` / `lock` of parts of the page, and `embed=1` (no
// header or footer, only the chosen view, for slides or an iframe). No computation reads these
// keys: the engine validates and canonicalises them like every setting, and this module keeps
// them in the address while the views are browsed, without asking the engine (so browsing
// works while a job runs).
//
// A view is every element of #content with `data-view="WORD"` (WORD one of the schema's `view`
// choices; elements sharing a word form one view, linked at the first, labelled by its
// `data-view-label`). Other parts are marked `data-part="WORD ..."`. Adding a view to the
// navigation: put `data-view="WORD" data-view-label="Label"` on its section, and WORD in
// src/config/view.rs `views!`.
import { el, reducedMotion } from './dom.js';
import { DEFAULT_FRAGMENT } from './protocol.js';
import * as url from './url.js';

/**
 * @typedef {import('./types.js').Field} Field
 */

/** The schema group of the presentation keys (the canonical fragment ends with them). */
const GROUP = 'view';

/** Parts that are no view, for the teacher's builder. @type {Record<string, string>} */
const PART_LABELS = {
  settings: 'Experiment settings',
  advanced: 'Advanced controls (settings beyond data and model, paper-grade certify, workers)',
  teacher: 'This teacher-link builder',
  workers: 'Workers (footer)',
};

/** What the user does that ends the pinning of an opened view (pinOpened). */
const USER_EVENTS = ['wheel', 'touchstart', 'keydown', 'pointerdown'];

/** Settings groups that stay when `advanced` is hidden or locked. */
const BASIC_GROUPS = ['data', 'model'];

/**
 * `key=value` pairs of a fragment, in order, values as written (still percent-encoded).
 * @param {string} fragment
 * @returns {[string, string][]}
 */
function pairs(fragment) {
  return fragment.replace(/^#/, '').split('&').filter((p) => p !== '').map((p) => {
    const i = p.indexOf('=');
    return /** @type {[string, string]} */ (i < 0 ? [p, ''] : [p.slice(0, i), p.slice(i + 1)]);
  });
}

export class Navigation {
  /**
   * @param {{onLockedChange?: () => void, onFragment?: (fragment: string) => void,
   *   address?: (fragment: string) => string}} [hooks]
   *   onFragment: the table of contents rewrote the address (a view was chosen); address: the
   *   address for a settings fragment (e.g. with the results keys of a shared link kept)
   */
  constructor(hooks = {}) {
    this.hooks = hooks;
    this.content = /** @type {HTMLElement} */ (document.getElementById('content'));
    this.toc = /** @type {HTMLElement} */ (document.getElementById('toc'));
    /** The presentation keys in schema order: every row of the group (setSchema). */
    this.keys = ['view', 'hide', 'lock', 'embed'];
    /** Presentation values by key, as the engine spells them (canonical). @type {Record<string, string>} */
    this.values = { view: '', hide: '', lock: '', embed: '' };
    /** Defaults by key, from the schema. @type {Record<string, string>} */
    this.defaults = { view: '', hide: '', lock: '', embed: '0' };
    /** The `view` words the schema allows. @type {string[]} */
    this.viewWords = [];
    /** The `hide` / `lock` words the schema allows. @type {string[]} */
    this.partWords = [];
    /** The canonical fragment of the applied config (with its presentation keys). */
    this.fragment = DEFAULT_FRAGMENT;
    /** Keeps an opened view in place while the page fills in. @type {ResizeObserver | undefined} */
    this.pin = undefined;
    /** Views in DOM order: word, label, elements. @type {{word: string, label: string, nodes: HTMLElement[]}[]} */
    this.views = [];
    for (const node of this.content.querySelectorAll('[data-view]')) {
      if (!(node instanceof HTMLElement)) continue;
      const word = node.dataset.view ?? '';
      const view = this.views.find((v) => v.word === word);
      if (view) view.nodes.push(node);
      else this.views.push({ word, label: node.dataset.viewLabel ?? word, nodes: [node] });
    }
    // The skip link's own "#content" would replace the experiment in the address: focus instead.
    document.querySelector('.skip-link')?.addEventListener('click', (ev) => {
      ev.preventDefault();
      this.content.focus();
    });
  }

  /**
   * Takes the schema: which words `view`, `hide` and `lock` allow; checks the page's views.
   * @param {Field[]} schema
   */
  setSchema(schema) {
    this.keys = schema.filter((f) => f.group === GROUP).map((f) => f.key);
    for (const f of schema) {
      if (f.group === GROUP) this.defaults[f.key] = f.default;
      if (f.key === 'view' && f.kind === 'enum') this.viewWords = f.choices;
      if (f.key === 'hide' && f.kind === 'words') this.partWords = f.choices;
    }
    for (const v of this.views) {
      if (!this.viewWords.includes(v.word)) console.error(`data-view="${v.word}" is no choice of the schema's view (${this.viewWords.join(', ')})`);
    }
    this.buildToc();
  }

  /** @param {string} word @returns {string} a part's human label */
  partLabel(word) {
    return this.views.find((v) => v.word === word)?.label ?? PART_LABELS[word] ?? word;
  }

  /** @param {string} key @returns {string[]} the words of a `hide` / `lock` value */
  words(key) {
    return (this.values[key] ?? '').split(',').filter((w) => w !== '');
  }

  /** @param {string} part @returns {boolean} whether the link locks this part */
  locked(part) {
    return this.words('lock').includes(part);
  }

  /** The view shown: the chosen one, or the first not hidden. */
  current() {
    const hidden = this.words('hide');
    const shown = this.views.filter((v) => !hidden.includes(v.word));
    return (shown.find((v) => v.word === this.values.view) ?? shown[0])?.word ?? '';
  }

  /**
   * A fragment with its presentation keys replaced by these values (defaults left out), at
   * the end as in the canonical form.
   * @param {string} fragment
   * @param {Record<string, string>} [values] default: the current ones
   */
  withPresentation(fragment, values = this.values) {
    // the fragment's own format version: an old link keeps its version's defaults
    const version = url.versionOf(fragment);
    const rest = pairs(fragment).filter(([k]) => !this.keys.includes(k) && k !== 'v');
    const mine = this.keys.filter((k) => (values[k] ?? '') !== '' && values[k] !== this.defaults[k])
      .map((k) => /** @type {[string, string]} */ ([k, values[k]]));
    return `#${[version, ...[...rest, ...mine].map(([k, v]) => `${k}=${v}`)].join('&')}`;
  }

  /**
   * A fragment with the page's presentation values, except those the fragment sets itself
   * (a lesson's `lesson=`): a named experiment or a lesson replaces the settings, while a
   * teacher's hide/lock and the chosen view stay unless it says otherwise.
   * @param {string} fragment
   */
  adopt(fragment) {
    const own = Object.fromEntries(pairs(fragment).filter(([k]) => this.keys.includes(k)));
    this.values = { ...this.values, ...own };
    return this.withPresentation(fragment);
  }

  /** @param {string} fragment @returns {string} the fragment without presentation keys */
  experiment(fragment) {
    return this.withPresentation(fragment, {});
  }

  /**
   * Shows a config the engine accepted: its presentation values take effect.
   * @param {Record<string, string>} values every setting by URL key
   * @param {string} fragment its canonical fragment
   * @param {boolean} opened a link was opened or navigated to (scroll to its view)
   */
  apply(values, fragment, opened) {
    const before = this.current();
    for (const k of this.keys) this.values[k] = values[k] ?? this.defaults[k];
    this.fragment = fragment;
    this.applyParts();
    this.buildToc();
    const now = this.current();
    if (opened && (now !== before || this.values.view !== this.defaults.view)) {
      this.reveal(now, false, true);
      this.pinOpened();
    }
  }

  /** Hides and locks the parts the link names; embed mode. */
  applyParts() {
    const hidden = this.words('hide');
    const locked = this.words('lock');
    const embed = this.values.embed === '1';
    document.body.toggleAttribute('data-embed', embed);
    const current = this.current();
    for (const word of this.partWords) {
      for (const node of this.partNodes(word)) {
        node.toggleAttribute('data-hidden-part', hidden.includes(word) || (embed && this.isView(word) && word !== current));
        this.lockNode(node, locked.includes(word), word);
      }
    }
    // Engine-only controls (data-idle-only) that a lock covers stay disabled when a job ends.
    for (const node of document.querySelectorAll('[data-locked]')) {
      if ('disabled' in node) /** @type {HTMLButtonElement} */ (node).disabled = true;
    }
    this.hooks.onLockedChange?.();
  }

  /** @param {string} word */
  isView(word) {
    return this.views.some((v) => v.word === word);
  }

  /** @param {string} word @returns {HTMLElement[]} the elements of a part */
  partNodes(word) {
    const view = this.views.find((v) => v.word === word);
    if (view) return view.nodes;
    /** @type {HTMLElement[]} */
    const nodes = [...document.querySelectorAll(`[data-part~="${word}"]`)].filter((n) => n instanceof HTMLElement);
    if (word === 'advanced') {
      for (const f of document.querySelectorAll('#settings-form fieldset[data-group]')) {
        if (f instanceof HTMLElement && !BASIC_GROUPS.includes(f.dataset.group ?? '')) nodes.push(f);
      }
      for (const n of document.querySelectorAll('#certify-paper, [data-part~="workers"]')) if (n instanceof HTMLElement) nodes.push(n);
    }
    return nodes;
  }

  /**
   * Locks or unlocks a part: its state-changing controls ([data-idle-only]) are disabled and
   * marked, with a note at the top of the part.
   * @param {HTMLElement} node @param {boolean} on @param {string} word
   */
  lockNode(node, on, word) {
    const controls = [node, ...node.querySelectorAll('[data-idle-only]')].filter((n) => n.hasAttribute('data-idle-only'));
    for (const c of controls) {
      const was = c.hasAttribute('data-locked');
      c.toggleAttribute('data-locked', on);
      if (was && !on && 'disabled' in c) /** @type {HTMLButtonElement} */ (c).disabled = document.body.hasAttribute('data-busy');
    }
    node.toggleAttribute('data-locked-part', on);
    const first = this.partNodes(word)[0] === node;
    let note = node.querySelector(':scope > .lock-note');
    if (on && first && !note) {
      note = el('p', { class: 'lock-note', text: `🔒 ${this.partLabel(word)}: locked by this link. You can look, not change.` });
      const heading = node.querySelector(':scope > h2, :scope > details > summary, :scope > h3');
      if (heading && heading.parentElement === node) heading.after(note);
      else node.prepend(note);
    }
    if (!on || !first) note?.remove();
  }

  /**
   * The canonical fragment changed by a change made on the page (the presentation stays).
   * @param {string} fragment
   */
  setFragment(fragment) {
    this.fragment = fragment;
    this.buildToc();
  }

  /** The table of contents: one link per shown view, the current one marked. */
  buildToc() {
    const hidden = this.words('hide');
    const current = this.current();
    const items = this.views.filter((v) => !hidden.includes(v.word)).map((v) => {
      const a = el('a', { href: this.withPresentation(this.fragment, { ...this.values, view: v.word }), 'data-view-link': v.word, text: v.label });
      if (v.word === current) a.setAttribute('aria-current', 'true');
      a.addEventListener('click', (ev) => {
        if (ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return; // a new tab follows the deep link
        ev.preventDefault();
        this.choose(v.word);
      });
      a.addEventListener('keydown', (ev) => this.onKey(ev));
      return el('li', {}, [a]);
    });
    this.toc.replaceChildren(el('h2', { class: 'visually-hidden', id: 'toc-title', text: 'Views' }), el('ul', {}, items));
    this.toc.hidden = items.length < 2;
  }

  /**
   * Arrow keys move between the links (Home/End: first/last), as in a toolbar.
   * @param {KeyboardEvent} ev
   */
  onKey(ev) {
    const links = [...this.toc.querySelectorAll('a[data-view-link]')].filter((a) => a instanceof HTMLAnchorElement);
    const i = links.indexOf(/** @type {HTMLAnchorElement} */ (ev.currentTarget));
    const next = { ArrowRight: i + 1, ArrowDown: i + 1, ArrowLeft: i - 1, ArrowUp: i - 1, Home: 0, End: links.length - 1 }[ev.key];
    if (next === undefined || i < 0) return;
    ev.preventDefault();
    links[(next + links.length) % links.length].focus();
  }

  /**
   * Opens a view (a table-of-contents link or another view's action): marks it, shows it in
   * embed mode, writes `view=` into the address (no history entry: browsing is no change of
   * the experiment) and scrolls to it.
   * @param {string} word
   * @param {boolean} [focus] move the keyboard focus to the view's heading (default true)
   * @returns {boolean} false when there is no such view or the link hides it
   */
  choose(word, focus = true) {
    if (!this.isView(word) || this.words('hide').includes(word)) return false;
    this.values.view = word;
    this.fragment = this.withPresentation(this.fragment);
    url.replace(this.hooks.address?.(this.fragment) ?? this.fragment);
    this.hooks.onFragment?.(this.fragment);
    this.applyParts();
    this.buildToc();
    this.reveal(word, focus);
    return true;
  }

  /**
   * Keeps the view a link opened on (not the default one) at the top while the views above it
   * fill in (tables, digits, charts), until the user scrolls, types, clicks or 5 s pass.
   */
  pinOpened() {
    if (this.values.view === this.defaults.view || this.pin) return;
    const word = this.current();
    const stop = () => {
      this.pin?.disconnect();
      this.pin = undefined;
      for (const ev of USER_EVENTS) window.removeEventListener(ev, stop, true);
    };
    this.pin = new ResizeObserver(() => this.reveal(word, false, true));
    this.pin.observe(this.content);
    for (const ev of USER_EVENTS) window.addEventListener(ev, stop, { capture: true, passive: true });
    setTimeout(stop, 5000);
  }

  /**
   * Scrolls to a view; with `focus`, its heading takes the keyboard focus.
   * @param {string} word @param {boolean} focus @param {boolean} [jump] no smooth scrolling
   */
  reveal(word, focus, jump = false) {
    const node = this.views.find((v) => v.word === word)?.nodes[0];
    if (!node) return;
    const heading = node.querySelector('h2') ?? node;
    if (focus) {
      if (!heading.hasAttribute('tabindex')) heading.setAttribute('tabindex', '-1');
      heading.focus({ preventScroll: true });
    }
    node.scrollIntoView({ behavior: jump || reducedMotion() ? 'auto' : 'smooth', block: 'start' });
  }
}
