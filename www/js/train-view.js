// The train card: the training settings in force, Train / Cancel, a progress bar with ETA,
// the live loss + accuracy chart, and the per-epoch table (also the chart's data fallback).
import { TrainChart } from './charts.js';
import { JobAborted } from './client.js';
import { byId, dataTable, el } from './dom.js';
import * as fmt from './format.js';

/**
 * @typedef {import('./main.js').App} App
 * @typedef {import('./types.js').Field} Field
 * @typedef {import('./protocol.js').TrainPoint} TrainPoint
 * @typedef {import('./protocol.js').EpochPoint} EpochPoint
 * @typedef {import('./protocol.js').TrainPlan} TrainPlan
 * @typedef {import('./protocol.js').TrainResult} TrainResult
 * @typedef {import('./client.js').Progress} Progress
 */

export class TrainView {
  /** @param {App} app */
  constructor(app) {
    this.app = app;
    this.settings = byId('train-settings', HTMLElement);
    this.trainButton = byId('train-start', HTMLButtonElement);
    this.cancelButton = byId('train-cancel', HTMLButtonElement);
    this.progressBox = byId('train-progress', HTMLElement);
    this.bar = byId('train-bar', HTMLProgressElement);
    this.progressText = byId('train-progress-text', HTMLElement);
    this.figure = byId('train-figure', HTMLElement);
    this.epochTable = byId('train-epochs', HTMLElement);
    this.fallback = byId('train-fallback', HTMLElement);
    this.chart = new TrainChart(byId('train-chart', HTMLElement));
    /** @type {TrainPlan | null} */
    this.plan = null;
    /** @type {EpochPoint[]} */
    this.epochs = [];
    /** @type {(() => void) | null} */
    this.cancel = null;
    this.trainButton.addEventListener('click', () => this.start());
    this.cancelButton.addEventListener('click', () => {
      this.cancelButton.disabled = true;
      this.progressText.textContent = 'Cancelling after the current step…';
      this.cancel?.();
    });
  }

  /**
   * Lists the settings that training uses (the schema group that holds the epochs field).
   * @param {Field[]} schema
   * @param {Record<string, string>} values by URL key
   */
  showSettings(schema, values) {
    const group = schema.find((f) => /epoch/i.test(f.key))?.group;
    const fields = schema.filter((f) => f.group === group || f.key === 'sigma' || f.key === 'model');
    this.settings.replaceChildren(...fields.map((f) => el('span', { class: 'setting', title: f.help }, [
      el('span', { class: 'key', text: f.key }), ' ', el('strong', { text: values[f.key] ?? '' }),
    ])));
  }

  /** Forgets the last run (the model was replaced). */
  clear() {
    this.plan = null;
    this.epochs = [];
    this.chart.reset(1);
    this.figure.hidden = true;
    this.progressBox.hidden = true;
    this.epochTable.replaceChildren();
    this.fallback.replaceChildren();
  }

  async start() {
    await this.app.run('Training', async () => {
      this.clear();
      this.figure.hidden = false;
      this.progressBox.hidden = false;
      this.progressText.textContent = 'Starting…';
      this.bar.removeAttribute('value');
      /** @type {TrainPoint[]} */
      const all = [];
      const job = this.app.client.start('train', {}, {
        onPartial: (data) => {
          if (!this.plan) this.chart.reset(data.plan.totalBatches);
          this.plan = data.plan;
          all.push(...data.points);
          this.epochs.push(...data.epochs);
          this.chart.add(data.points, data.epochs);
          if (data.epochs.length) this.renderEpochs();
        },
        onProgress: (p) => this.showProgress(p, all.at(-1)),
      });
      this.cancel = job.cancel;
      this.cancelButton.disabled = false;
      try {
        const result = await job.promise;
        this.finish(result, all, false);
      } catch (e) {
        if (!(e instanceof JobAborted)) throw e;
        this.finish(/** @type {TrainResult} */ (e.result), all, true);
      } finally {
        this.cancel = null;
        this.cancelButton.disabled = true;
      }
    });
  }

  /** @param {Progress} p @param {TrainPoint | undefined} last */
  showProgress(p, last) {
    if (p.total > 0) {
      this.bar.max = p.total;
      this.bar.value = p.done;
    }
    const epoch = last && this.plan ? ` · ${last.epoch} of ${this.plan.epochs} epochs done` : '';
    const loss = last ? ` · loss ${fmt.real(last.loss)} · accuracy ${fmt.percent(last.accuracy)}` : '';
    this.progressText.textContent = `${fmt.int(p.done)} / ${fmt.int(p.total)} mini-batches${epoch}${loss} · ${fmt.eta(p.eta)}`;
  }

  /** @param {TrainResult} result @param {TrainPoint[]} points @param {boolean} aborted */
  finish(result, points, aborted) {
    const last = result.last;
    const done = last ? last.batchesDone : 0;
    const total = result.plan.totalBatches;
    this.bar.max = total;
    this.bar.value = done;
    const what = aborted ? `Cancelled after ${fmt.int(done)} of ${fmt.int(total)} mini-batches; the model keeps the weights of the last finished step.`
      : `Finished ${fmt.count(total, 'mini-batch', 'mini-batches')} (${fmt.count(result.plan.epochs, 'epoch')}).`;
    this.progressText.textContent = what;
    const summary = aborted ? `Training cancelled after ${fmt.int(done)} of ${fmt.int(total)} mini-batches.`
      : `Training finished: ${fmt.count(total, 'mini-batch', 'mini-batches')}, ${fmt.count(result.plan.epochs, 'epoch')}.`;
    this.progressBox.dataset.state = aborted ? 'aborted' : 'done';
    this.renderEpochs();
    this.fallback.replaceChildren(dataTable('Training curve: running means over the current epoch',
      ['mini-batches', 'epoch', 'loss', 'accuracy'],
      points.map((p) => [fmt.int(p.step), p.epoch, fmt.real(p.loss), fmt.percent(p.accuracy)])));
    this.app.modelChanged(result.model, aborted ? 'training cancelled' : 'trained');
    this.app.status.set(summary, aborted ? 'info' : 'ok');
  }

  renderEpochs() {
    if (!this.epochs.length) {
      this.epochTable.replaceChildren();
      return;
    }
    const table = dataTable('Per epoch', ['epoch', 'train loss', 'train accuracy', 'test accuracy'],
      this.epochs.map((e) => [e.epoch, fmt.real(e.trainLoss), fmt.percent(e.trainAccuracy), fmt.percent(e.testAccuracy)]));
    table.className = 'compact';
    this.epochTable.replaceChildren(table);
  }
}
