// "Your digit": a drawing pad (pointer events: mouse, touch, pen; Undo, Clear, a stroke width
// that gives MNIST-like strokes) and an image upload (PNG, JPEG, GIF, WebP through
// createImageBitmap, size and dimensions capped). The page only rasterises: the engine turns
// the RGBA raster into gray, preprocesses it like the training digits (src/digit/) and
// certifies it under FP32 and the config's quantized policy (the worker's `digit` job, with
// progress and cancel). Each model's column shows noisy samples with the base classifier's
// labels, the vote bars, pA_low and the radius or ABSTAIN, and what the radius covers: the
// digit moved exactly that far along the direction that hurt the top class most, with the
// smoothed classifier's votes there. "Download this digit" saves the raster as a PGM that
// `arq certify-digit` reads, giving the same certificate.
import { JobAborted } from './client.js';
import { byId, el } from './dom.js';
import { digitCanvas, drawFloat, drawGray } from './draw.js';
import * as fmt from './format.js';

/**
 * @typedef {import('./main.js').App} App
 * @typedef {import('../../pkg/arq.js').DigitStep} DigitStep
 * @typedef {import('../../pkg/arq.js').DigitCertificate} DigitCertificate
 * @typedef {import('./worker-digit.js').DigitPrepared} DigitPrepared
 * @typedef {{width: number, points: {x: number, y: number}[]}} Stroke
 */

/** Uploads larger than this are refused before decoding. */
export const MAX_UPLOAD_BYTES = 5 * 1024 * 1024;
/** Decoded images larger than this on a side are refused (the engine's limit too). */
export const MAX_SIDE = 4096;
/** ... and smaller than this. */
export const MIN_SIDE = 8;
const ALLOWED = `PNG, JPEG, GIF or WebP, at most ${MAX_UPLOAD_BYTES / 1024 / 1024} MB and ${MIN_SIDE}..${MAX_SIDE} pixels a side`;
const SIDE = 28;

export class DigitView {
  /** @param {App} app */
  constructor(app) {
    this.app = app;
    this.card = byId('digit-card', HTMLElement);
    this.pad = byId('digit-pad', HTMLCanvasElement);
    this.undoButton = byId('digit-undo', HTMLButtonElement);
    this.clearButton = byId('digit-clear', HTMLButtonElement);
    this.stroke = byId('digit-stroke', HTMLInputElement);
    this.file = byId('digit-file', HTMLInputElement);
    this.preview = byId('digit-preview', HTMLElement);
    this.info = byId('digit-info', HTMLElement);
    this.certifyButton = byId('digit-certify', HTMLButtonElement);
    this.cancelButton = byId('digit-cancel', HTMLButtonElement);
    this.downloadButton = byId('digit-download', HTMLButtonElement);
    this.error = byId('digit-error', HTMLElement);
    this.progressBox = byId('digit-progress', HTMLElement);
    this.bar = byId('digit-bar', HTMLProgressElement);
    this.progressText = byId('digit-progress-text', HTMLElement);
    this.results = byId('digit-results', HTMLElement);
    this.cli = byId('digit-cli', HTMLElement);
    this.staleNote = byId('digit-stale', HTMLElement);
    /** @type {Stroke[]} */
    this.strokes = [];
    /** @type {Stroke | null} */
    this.current = null;
    /** What the engine made of the input now: null before any, or when it was refused. @type {DigitPrepared | null} */
    this.prepared = null;
    /** Where the input comes from: the pad or an uploaded file's name. */
    this.source = 'pad';
    /** The engine's message about the input now ('' when usable). */
    this.problem = '';
    /** @type {(() => void) | null} */
    this.cancel = null;
    /** The fragment of the certificates shown ('' before any) and the config's now. */
    this.shownFragment = '';
    this.configFragment = '';
    this.seq = 0;
    this.ctx = this.pad.getContext('2d', { willReadFrequently: true });
    this.redraw();
    this.pad.addEventListener('pointerdown', (ev) => this.down(ev));
    this.pad.addEventListener('pointermove', (ev) => this.move(ev));
    this.pad.addEventListener('pointerup', (ev) => this.up(ev));
    this.pad.addEventListener('pointercancel', (ev) => this.up(ev));
    this.undoButton.addEventListener('click', () => {
      this.strokes.pop();
      this.padChanged();
    });
    this.clearButton.addEventListener('click', () => {
      this.strokes = [];
      this.padChanged();
    });
    this.file.addEventListener('change', () => {
      const f = this.file.files?.[0];
      if (f) this.upload(f);
    });
    this.certifyButton.addEventListener('click', () => this.certify());
    this.cancelButton.addEventListener('click', () => {
      this.cancelButton.disabled = true;
      this.cancel?.();
    });
    this.downloadButton.addEventListener('click', () => this.download());
  }

  /**
   * The config changed: certificates of other settings are marked as such.
   * @param {string} fragment the canonical fragment now
   */
  setConfig(fragment) {
    this.configFragment = fragment.replace(/^#/, '');
    this.markStale();
  }

  markStale() {
    const stale = this.shownFragment !== '' && this.configFragment !== '' && this.shownFragment !== this.configFragment;
    this.card.toggleAttribute('data-stale', stale);
    this.staleNote.textContent = stale ? 'The settings changed since these certificates (see their link below): certify again for the current ones.' : '';
  }

  /** @param {PointerEvent} ev @returns {{x: number, y: number}} the point in pad pixels */
  point(ev) {
    const r = this.pad.getBoundingClientRect();
    return { x: (ev.clientX - r.left) * this.pad.width / r.width, y: (ev.clientY - r.top) * this.pad.height / r.height };
  }

  /** @param {PointerEvent} ev */
  down(ev) {
    if (ev.button !== 0 && ev.pointerType === 'mouse') return;
    ev.preventDefault();
    this.pad.setPointerCapture(ev.pointerId);
    this.current = { width: Number(this.stroke.value), points: [this.point(ev)] };
    this.strokes.push(this.current);
    this.redraw();
  }

  /** @param {PointerEvent} ev */
  move(ev) {
    if (!this.current) return;
    ev.preventDefault();
    const events = typeof ev.getCoalescedEvents === 'function' ? ev.getCoalescedEvents() : [];
    for (const e of events.length ? events : [ev]) this.current.points.push(this.point(e));
    this.redraw();
  }

  /** @param {PointerEvent} ev */
  up(ev) {
    if (!this.current) return;
    if (this.pad.hasPointerCapture(ev.pointerId)) this.pad.releasePointerCapture(ev.pointerId);
    this.current = null;
    this.padChanged();
  }

  /** White strokes on black, round caps and joins: the shape of MNIST's pen strokes. */
  redraw() {
    const c = this.ctx;
    if (!c) return;
    c.fillStyle = '#000';
    c.fillRect(0, 0, this.pad.width, this.pad.height);
    c.strokeStyle = '#fff';
    c.fillStyle = '#fff';
    c.lineCap = 'round';
    c.lineJoin = 'round';
    for (const s of this.strokes) {
      c.lineWidth = s.width;
      if (s.points.length === 1) {
        c.beginPath();
        c.arc(s.points[0].x, s.points[0].y, s.width / 2, 0, 2 * Math.PI);
        c.fill();
        continue;
      }
      c.beginPath();
      c.moveTo(s.points[0].x, s.points[0].y);
      for (const p of s.points.slice(1)) c.lineTo(p.x, p.y);
      c.stroke();
    }
  }

  /** The pad changed (a stroke ended, Undo, Clear): it is the input again. */
  padChanged() {
    this.redraw();
    this.undoButton.disabled = this.strokes.length === 0;
    this.clearButton.disabled = this.strokes.length === 0;
    this.source = 'pad';
    this.file.value = '';
    if (!this.ctx) return;
    const img = this.ctx.getImageData(0, 0, this.pad.width, this.pad.height);
    this.prepare(new Uint8Array(img.data.buffer), img.width, img.height);
  }

  /**
   * Has the engine turn an RGBA raster into its gray raster and 28x28 input.
   * @param {Uint8Array} rgba @param {number} width @param {number} height
   */
  async prepare(rgba, width, height) {
    const seq = ++this.seq;
    try {
      const p = await this.app.client.request('digitPrepare', { rgba, width, height });
      if (seq !== this.seq) return;
      this.prepared = p;
      this.problem = '';
      this.error.textContent = '';
      this.showPrepared(p);
    } catch (e) {
      if (seq !== this.seq) return;
      this.refuse(e instanceof Error ? e.message : String(e));
    }
  }

  /** The input cannot be used: say why, keep nothing of it. @param {string} why */
  refuse(why) {
    this.prepared = null;
    this.problem = this.source === 'pad' ? `Your drawing: ${why}` : `${this.source}: ${why}`;
    this.error.textContent = this.problem;
    this.preview.replaceChildren();
    this.info.textContent = '';
    this.downloadButton.disabled = true;
  }

  /** @param {DigitPrepared} p */
  showPrepared(p) {
    const d = p.digit;
    const c = digitCanvas(SIDE, SIDE, 'the preprocessed 28 by 28 input');
    drawGray(c, d.pixels, 0);
    this.preview.replaceChildren(c);
    const from = this.source === 'pad' ? 'the pad' : this.source;
    this.info.textContent = `From ${from} (${p.width}×${p.height}${d.inverted ? ', dark on light: inverted' : ''}): ink box ${d.bbox[2]}×${d.bbox[3]}, scaled to ${d.scaled[0]}×${d.scaled[1]}, placed at (${d.offset[0]}, ${d.offset[1]}).`;
    this.downloadButton.disabled = false;
  }

  /**
   * Decodes an uploaded image (after checking its size) and hands its pixels to the engine.
   * @param {File} f
   */
  async upload(f) {
    this.source = `${f.name}`;
    this.seq += 1;
    if (f.size > MAX_UPLOAD_BYTES) {
      this.refuse(`the file has ${fmt.bytes(f.size)}; allowed: ${ALLOWED}`);
      return;
    }
    /** @type {ImageBitmap} */
    let bmp;
    try {
      bmp = await createImageBitmap(f);
    } catch {
      this.refuse(`not an image the browser can decode (type "${f.type || 'unknown'}"); allowed: ${ALLOWED}`);
      return;
    }
    const { width, height } = bmp;
    if (width > MAX_SIDE || height > MAX_SIDE || width < MIN_SIDE || height < MIN_SIDE) {
      bmp.close();
      this.refuse(`the image is ${width}×${height} pixels; allowed: ${ALLOWED}`);
      return;
    }
    const canvas = new OffscreenCanvas(width, height);
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    if (!ctx) {
      bmp.close();
      this.refuse('this browser could not read the image\'s pixels');
      return;
    }
    ctx.drawImage(bmp, 0, 0);
    bmp.close();
    const img = ctx.getImageData(0, 0, width, height);
    await this.prepare(new Uint8Array(img.data.buffer), width, height);
  }

  download() {
    if (!this.prepared) return;
    const url = URL.createObjectURL(new Blob([new Uint8Array(this.prepared.pgm)], { type: 'image/x-portable-graymap' }));
    const a = el('a', { href: url, download: 'digit.pgm' });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  async certify() {
    const p = this.prepared;
    if (!p) {
      this.error.textContent = this.problem || 'Draw a digit on the pad or upload an image first.';
      return;
    }
    await this.app.run('Certifying your digit', async () => {
      this.card.dataset.state = 'running';
      this.progressBox.hidden = false;
      this.progressText.textContent = 'Starting…';
      this.bar.removeAttribute('value');
      this.results.replaceChildren();
      this.cli.replaceChildren();
      /** @type {DigitStep | null} */
      let last = null;
      const job = this.app.client.start('digit', { gray: p.gray, width: p.width, height: p.height }, {
        onPartial: (s) => {
          last = s;
          this.render(s);
        },
        onProgress: (pr) => this.showProgress(pr.phase, pr.done, pr.total, pr.eta),
      });
      this.cancel = job.cancel;
      this.cancelButton.disabled = false;
      try {
        last = await job.promise;
        this.render(last);
        this.card.dataset.state = 'done';
        this.progressText.textContent = 'Done.';
        this.bar.max = 1;
        this.bar.value = 1;
        this.app.status.set('Your digit is certified under both models.', 'ok');
      } catch (e) {
        if (e instanceof JobAborted) {
          this.card.dataset.state = 'aborted';
          const kept = /** @type {DigitStep | null} */ (e.result) ?? last;
          if (kept) this.render(kept);
          this.progressText.textContent = 'Cancelled: the certificates already finished stay.';
        } else {
          this.card.dataset.state = 'failed';
          this.progressText.textContent = `Failed: ${e instanceof Error ? e.message : String(e)}`;
          throw e;
        }
      } finally {
        this.cancel = null;
        this.cancelButton.disabled = true;
      }
    });
  }

  /** @param {string} phase @param {number} done @param {number} total @param {number | null} eta */
  showProgress(phase, done, total, eta) {
    const names = /** @type {Record<string, string>} */ ({ fp32: 'certifying with the float model', calibrate: 'calibrating the quantized model',
      finetune: 'fine-tuning the quantized model', quantized: 'certifying with the quantized model', done: 'done' });
    this.bar.max = Math.max(1, total);
    this.bar.value = done;
    this.progressText.textContent = `${names[phase] ?? phase}: ${fmt.int(done)} of ${fmt.int(total)}${eta !== null ? ` · ${fmt.eta(eta)}` : ''}`;
  }

  /** @param {DigitStep} s */
  render(s) {
    const columns = [this.column('FP32 (float model)', s.fp32 ?? null, s, 'fp32')];
    if (s.policy) columns.push(this.column(`Quantized (${s.policy})`, s.quantized ?? null, s, 'quantized'));
    else columns.push(el('div', { class: 'digit-model', 'data-model': 'quantized', 'data-state': 'none' }, [el('h3', { text: 'Quantized' }), el('p', { class: 'subtle', text: `No quantized certificate: ${s.quantNote ?? ''}` })]));
    this.results.replaceChildren(...columns);
    this.cli.replaceChildren('Same certificate natively: download this digit, then ', el('code', { text: `arq certify-digit digit.pgm --url '#${s.fragment}'` }));
    this.shownFragment = s.fragment;
    this.markStale();
  }

  /**
   * One model's column.
   * @param {string} title @param {DigitCertificate | null} c @param {DigitStep} s @param {string} model
   */
  column(title, c, s, model) {
    const head = el('h3', { text: title });
    if (!c) return el('div', { class: 'digit-model', 'data-model': model, 'data-state': 'pending' }, [head, el('p', { class: 'subtle', text: 'Waiting…' })]);
    const certified = c.radius !== null && c.radius !== undefined;
    const verdict = el('p', { class: 'digit-verdict' }, certified
      ? [`class ${c.top} · pA_low ${fmt.fixed(c.pLower, 4)} · `, el('strong', { text: `radius ${fmt.fixed(/** @type {number} */ (c.radius), 3)}` })]
      : [`top class ${c.top} · pA_low ${fmt.fixed(c.pLower, 4)} < ½ · `, el('strong', { class: 'abstain', text: 'ABSTAIN' })]);
    const tiles = [];
    const n = Math.min(c.samplePreds.length, Math.floor(s.noisy.length / (SIDE * SIDE)));
    for (let j = 0; j < n; j++) {
      const pred = c.samplePreds[j];
      const ok = pred === c.top;
      const canvas = digitCanvas(SIDE, SIDE, `noisy sample ${j + 1}: classified ${pred}`);
      drawFloat(canvas, s.noisy, j * SIDE * SIDE);
      tiles.push(el('div', { class: `noise-tile ${ok ? 'ok' : 'bad'}` }, [canvas, el('span', { class: 'pred', 'aria-hidden': 'true', text: String(pred) })]));
    }
    const parts = [
      head,
      verdict,
      el('p', { class: 'subtle', text: `${fmt.int(c.count)} of ${fmt.int(c.n)} noisy copies (σ = ${fmt.sigma(s.sigma)}) voted ${c.top}; α = ${fmt.sigma(s.alpha)}.`
        + (c.count === c.n ? ` Every copy agreed, so the radius is R_max, the most n = ${fmt.int(c.n)} draws can certify (a larger n raises it).` : '') }),
      el('div', { class: 'digit-samples', 'aria-label': 'the first noisy samples, labelled by the base classifier' }, tiles),
      this.votes(`selection (n0 = ${fmt.int(s.n0)})`, c.selectVotes, c.top),
      this.votes(`estimation (n = ${fmt.int(s.n)})`, c.votes, c.top),
    ];
    if (c.perturbation) parts.push(this.perturbation(c, s));
    else if (certified) parts.push(el('p', { class: 'subtle', text: 'Illustrating the radius…' }));
    return el('div', {
      class: 'digit-model', 'data-model': model, 'data-state': certified ? 'certified' : 'abstain',
      'data-top': c.top, 'data-count': c.count, 'data-p-lower': String(c.pLower), 'data-radius': certified ? String(c.radius) : '',
    }, parts);
  }

  /** @param {string} label @param {number[]} counts @param {number} top */
  votes(label, counts, top) {
    const total = counts.reduce((a, b) => a + b, 0);
    const order = counts.map((k, cl) => ({ cl, k })).filter((v) => v.k > 0).sort((a, b) => b.k - a.k || a.cl - b.cl);
    const bar = el('div', { class: 'vote-bar', 'aria-hidden': 'true' }, order.map((v) => {
      const seg = el('span', { class: `vote ${v.cl === top ? 'ok' : 'bad'}`, title: `${v.cl}: ${v.k} of ${total}`, text: String(v.cl) });
      seg.style.flexGrow = String(v.k);
      return seg;
    }));
    return el('div', { class: 'votes digit-votes' }, [bar, el('span', { class: 'vote-text', text: `${label}: ${order.map((v) => `${v.cl}: ${v.k}`).join(' · ')}` })]);
  }

  /** @param {DigitCertificate} c @param {DigitStep} s */
  perturbation(c, s) {
    const p = /** @type {NonNullable<DigitCertificate['perturbation']>} */ (c.perturbation);
    const x = new Float32Array(SIDE * SIDE);
    s.digit.pixels.forEach((v, i) => { x[i] = v / 255; });
    const before = digitCanvas(SIDE, SIDE, 'your digit');
    drawFloat(before, x, 0);
    const after = digitCanvas(SIDE, SIDE, `your digit moved by ${fmt.fixed(p.norm)} in L2`);
    drawFloat(after, p.image, 0);
    const dir = p.kind === 'meanDigit' ? `towards the mean training ${p.towards}` : `along random direction ${p.chosen} of 16`;
    const share = p.votes[p.top];
    const text = `Moved by exactly the radius, ${fmt.fixed(p.norm)} (L2), ${dir}: of 17 directions tried it lowered the ${c.top}'s votes most `
      + `(${p.probeCounts[p.chosen]} of ${p.probeSamples}). There the smoothed classifier votes ${p.top} with ${fmt.int(share)} of ${fmt.int(p.n)} `
      + (p.holds ? `: still ${c.top}, as the certificate promises.` : `: not ${c.top} (the certificate fails with probability at most α).`);
    return el('div', { class: 'digit-radius', 'data-holds': String(p.holds), 'data-top': p.top }, [
      el('div', { class: 'digit-pair' }, [
        el('figure', {}, [before, el('figcaption', { text: 'your digit' })]),
        el('figure', {}, [after, el('figcaption', { text: `+ ${fmt.fixed(p.norm)} (L2)` })]),
      ]),
      el('p', { class: 'subtle', text }),
    ]);
  }
}

