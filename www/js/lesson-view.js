// Guided lessons (the engine's `lessons()`, src/lesson.rs): a button per lesson opens its
// prepared state (a fragment with lesson=ID); the panel then walks through its steps: a short
// text, what to do (with a button that does it: press a view's button, change a setting, fill a
// view's input), the view it points to (scrolled to and highlighted) and a formula in MathML with
// the current run's numbers (lesson-math.js). The lesson and step live in the address
// (`lesson=ID&step=K`, presentation keys no computation reads), so a link or a reload opens the
// same step; Back/Next and ←/→ move between steps without a history entry.
import { byId, el } from './dom.js';
import { renderFormula } from './lesson-math.js';

/**
 * @typedef {import('./main.js').App} App
 * @typedef {import('../../pkg/arq.js').Lesson} Lesson
 * @typedef {import('./lesson-math.js').LessonData} LessonData
 * @typedef {import('./noise-view.js').NoiseView} NoiseView
 * @typedef {import('./certify-view.js').CertifyView} CertifyView
 * @typedef {import('./bits-view.js').BitsView} BitsView
 * @typedef {import('./search-view.js').SearchView} SearchView
 */

export class LessonView {
  /**
   * @param {App} app
   * @param {{noise: NoiseView, certify: CertifyView, bits: BitsView, search: SearchView}} views
   */
  constructor(app, views) {
    this.app = app;
    this.views = views;
    this.list = byId('lesson-list', HTMLElement);
    this.panel = byId('lesson-panel', HTMLElement);
    this.title = byId('lesson-title', HTMLElement);
    this.progress = byId('lesson-progress', HTMLElement);
    this.stepTitle = byId('lesson-step-title', HTMLElement);
    this.text = byId('lesson-text', HTMLElement);
    this.action = byId('lesson-action', HTMLElement);
    this.math = byId('lesson-math', HTMLElement);
    this.doButton = byId('lesson-do', HTMLButtonElement);
    this.back = byId('lesson-back', HTMLButtonElement);
    this.next = byId('lesson-next', HTMLButtonElement);
    this.showButton = byId('lesson-show', HTMLButtonElement);
    /** @type {Lesson[]} */
    this.lessons = [];
    /** @type {Lesson | null} */
    this.lesson = null;
    /** 1-based. */
    this.step = 1;
    /** @type {Record<string, string>} */
    this.values = {};
    this.seq = 0;
    /** The step's view could not be scrolled to yet (the page is loading or the view hidden). */
    this.pointLater = false;
    this.back.addEventListener('click', () => this.go(-1));
    this.next.addEventListener('click', () => this.go(1));
    this.showButton.addEventListener('click', () => this.point());
    byId('lesson-close', HTMLButtonElement).addEventListener('click', () => this.close());
    this.doButton.addEventListener('click', () => this.doIt());
    this.panel.addEventListener('keydown', (ev) => {
      const t = ev.target;
      if (t instanceof HTMLInputElement || t instanceof HTMLSelectElement || t instanceof HTMLTextAreaElement) return;
      if (ev.key === 'ArrowRight' || ev.key === 'ArrowLeft') {
        ev.preventDefault();
        this.go(ev.key === 'ArrowRight' ? 1 : -1);
      } else if (ev.key === 'Escape') {
        ev.preventDefault();
        this.close();
      }
    });
    // the numbers follow the run: a finished job, a new noise result, policy or read-out
    new MutationObserver(() => {
      if (this.pointLater) this.point();
      if (!document.body.hasAttribute('data-busy')) this.refresh();
    }).observe(document.body, { attributes: true, attributeFilter: ['data-busy', 'data-state'] });
    views.noise.listeners.push(() => this.refresh());
    views.bits.policyListeners.push(() => this.refresh());
    views.bits.readoutListeners.push(() => this.refresh());
  }

  /** @param {Lesson[]} lessons */
  show(lessons) {
    this.lessons = lessons;
    this.list.replaceChildren(...lessons.map((l) => {
      const b = el('button', { type: 'button', 'data-idle-only': true, 'data-lesson': l.id, title: l.summary }, [l.title]);
      b.addEventListener('click', () => this.app.loadFragment(l.fragment));
      return b;
    }));
  }

  /**
   * The applied config (on load, navigation, any committed change): open, move or close the
   * lesson it names.
   * @param {Record<string, string>} values by URL key
   */
  setConfig(values) {
    this.values = values;
    const lesson = this.lessons.find((l) => l.id === values.lesson) ?? null;
    const step = Math.min(Math.max(1, Number(values.step) || 1), lesson?.steps.length ?? 1);
    const moved = lesson !== this.lesson || step !== this.step;
    this.lesson = lesson;
    this.step = step;
    if (!lesson) {
      this.panel.hidden = true;
      delete this.panel.dataset.lesson;
      this.highlight(null);
      return;
    }
    this.render(lesson);
    if (moved) this.point();
  }

  /** @param {Lesson} lesson */
  render(lesson) {
    const s = lesson.steps[this.step - 1];
    const last = this.step === lesson.steps.length;
    this.panel.hidden = false;
    this.panel.dataset.lesson = lesson.id;
    this.panel.dataset.step = String(this.step);
    this.title.textContent = lesson.title;
    this.progress.textContent = `Step ${this.step} of ${lesson.steps.length}`;
    this.stepTitle.textContent = s.title;
    this.text.textContent = s.text;
    this.action.textContent = s.action;
    this.doButton.hidden = s.act.kind === 'look';
    this.doButton.textContent = s.act.kind === 'press' ? `Press it for me` : s.act.kind === 'set' ? `Change it for me (${s.act.patch.replaceAll('&', ', ')})` : 'Do it for me';
    this.back.disabled = this.step === 1;
    this.next.textContent = last ? 'Finish' : 'Next';
    this.refresh();
  }

  /** Scrolls to the step's view and highlights it (and the control its action uses). */
  point() {
    const s = this.lesson?.steps[this.step - 1];
    if (!s) return;
    const view = document.getElementById(s.view);
    const control = s.act.kind === 'press' || s.act.kind === 'input' ? document.getElementById(s.act.id) : null;
    this.highlight(view, control);
    // while the page loads, views appear and grow: scroll once it is ready and the view shown
    const ready = view instanceof HTMLElement && !view.hidden && document.body.dataset.state === 'ready';
    this.pointLater = !ready;
    if (ready) view.scrollIntoView({ behavior: 'smooth', block: 'start' });
  }

  /** @param {Element | null} view @param {Element | null} [control] */
  highlight(view, control = null) {
    for (const e of document.querySelectorAll('.lesson-target, .lesson-control')) e.classList.remove('lesson-target', 'lesson-control');
    view?.classList.add('lesson-target');
    control?.classList.add('lesson-control');
  }

  /** @param {number} delta */
  async go(delta) {
    const lesson = this.lesson;
    if (!lesson) return;
    const step = this.step + delta;
    if (step < 1) return;
    if (step > lesson.steps.length) {
      await this.close();
      return;
    }
    await this.app.setPresentation({ lesson: lesson.id, step: String(step) });
  }

  async close() {
    await this.app.setPresentation({ lesson: 'none', step: '1' });
  }

  /** Does the step's action for the student. */
  async doIt() {
    const act = this.lesson?.steps[this.step - 1].act;
    if (!act || act.kind === 'look') return;
    if (act.kind === 'set') {
      await this.app.applySettings(Object.fromEntries(new URLSearchParams(act.patch)));
      return;
    }
    const target = document.getElementById(act.id);
    if (act.kind === 'input' && target instanceof HTMLInputElement && !target.disabled) {
      target.value = act.value;
      target.dispatchEvent(new Event('change'));
      return;
    }
    if (act.kind === 'press' && target instanceof HTMLButtonElement && !target.disabled && !target.closest('[hidden]')) {
      target.click();
      return;
    }
    this.app.status.set('That control is not available right now (a job is running, or the model has not loaded yet): try again in a moment.', 'info');
  }

  /** Re-typesets the step's formula with the current numbers. */
  async refresh() {
    const s = this.lesson?.steps[this.step - 1];
    if (!s) return;
    if (this.pointLater) this.point();
    const seq = ++this.seq;
    const data = await this.data(s.formula === 'rMax');
    if (seq !== this.seq) return;
    this.math.replaceChildren(...renderFormula(s.formula, data));
    this.math.dataset.formula = s.formula;
  }

  /** @param {boolean} withCap ask the engine for R_max @returns {Promise<LessonData>} */
  async data(withCap) {
    const { noise, certify, bits, search } = this.views;
    const run = certify.runs.at(-1);
    const v = this.values;
    /** @type {LessonData['rMax']} */
    let rMax = null;
    if (withCap) {
      const [n, alpha, sigma] = [Number(v.n), Number(v.alpha), Number(v.sigma)];
      try {
        rMax = { n, alpha, sigma, radius: await this.app.client.request('rMax', { n, alpha, sigma }) };
      } catch (e) {
        this.app.error(e);
      }
    }
    return {
      values: v,
      noise: noise.last,
      certify: run ? { summary: run.summary, records: run.records, state: run.state } : null,
      rMax,
      policy: bits.policy,
      readout: bits.last,
      searches: search.runs,
      finalRows: search.finalRows,
    };
  }
}
