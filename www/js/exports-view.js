// Wires the downloads into the views: the certification table (Markdown / LaTeX / CSV) and its
// per-point records in Cohen et al.'s layout, the final table, the searches' episodes, every
// chart (SVG / PNG), and the model's checkpoint: download, load by a file input, or drop a
// .arqc file anywhere on the page.
import { rowName } from './cert-table.js';
import { byId, el } from './dom.js';
import { addChartDownloads, download, stamped, tableDownloads } from './exports.js';

/**
 * @typedef {import('./main.js').App} App
 * @typedef {import('./certify-view.js').CertifyView} CertifyView
 * @typedef {import('./search-view.js').SearchView} SearchView
 * @typedef {import('./types.js').CheckpointInfo} CheckpointInfo
 * @typedef {import('./types.js').ModelInfo} ModelInfo
 */

/** Checkpoints are a few MB; refuse anything far larger before reading it. */
const MAX_CHECKPOINT = 256 << 20;

/**
 * @param {App} app
 * @param {{certify: CertifyView, search: SearchView,
 *   checkpointLoaded: (r: {checkpoint: CheckpointInfo, model: ModelInfo}) => void}} views
 */
export function wireExports(app, views) {
  const info = (/** @type {string} */ text) => app.status.set(text, 'info');
  const { certify, search } = views;

  // Certification: the table of every run, and the chosen run's records in Cohen's layout.
  const cohen = el('button', { type: 'button', class: 'download', 'data-format': 'cohen', text: 'Records (certify.py TSV)',
    title: 'The per-point records of the run chosen above the per-digit plot, in the layout of Cohen et al.\'s certify.py: idx label predict radius correct time (predict -1 = abstain)' });
  cohen.addEventListener('click', async () => {
    const run = certify.runs.find((r) => String(r.id) === certify.runSelect.value) ?? certify.runs.at(-1);
    if (!run || run.records.length === 0) {
      info('No certified points to export yet.');
      return;
    }
    try {
      const text = await app.client.request('cohenRecords', { records: run.records, testOffset: run.testOffset });
      download(`${stamped('certify-records')}.tsv`, text, 'text/tab-separated-values;charset=utf-8');
    } catch (e) {
      app.error(e);
    }
  });
  const certTable = tableDownloads(app.client, 'certification', () => {
    const runs = certify.runs.filter((r) => r.summary).map((r) => ({ .../** @type {import('./types.js').CertSummary} */ (r.summary), name: rowName(r) }));
    if (!runs.length) info('No certification run to export yet.');
    return runs.length ? { kind: 'certify', runs } : null;
  }, app.error);
  byId('certify-copy-csv', HTMLButtonElement).parentElement?.after(el('div', { id: 'certify-downloads', class: 'button-row' }, [certTable, cohen]));

  // The final table, with its intervals when computed.
  const final = search.final;
  const finalTable = tableDownloads(app.client, 'final-table', () => {
    if (!final.rows.length) info('No final table to export yet.');
    return final.rows.length ? { kind: 'compare', rows: final.rows, significance: final.sig ?? null } : null;
  }, app.error);
  byId('final-table', HTMLTableElement).closest('.table-scroll')?.after(el('div', { id: 'final-downloads', class: 'button-row' }, [finalTable]));

  // Every search's episodes.
  const episodes = tableDownloads(app.client, 'search-episodes', () => {
    const runs = search.runs.filter((r) => r.episodes.length).map((r) => ({ method: r.label, episodes: r.episodes }));
    if (!runs.length) info('No search episodes to export yet.');
    return runs.length ? { kind: 'episodes', runs } : null;
  }, app.error);
  byId('search-results', HTMLElement).append(el('div', { id: 'search-downloads', class: 'button-row' }, [episodes]));

  addChartDownloads(app.error, info);
  wireCheckpoints(app, views.checkpointLoaded);
}

/**
 * The model card's checkpoint actions: download the current weights, load a file (input or
 * drop anywhere on the page). A wrong file is a clear error and changes nothing.
 * @param {App} app
 * @param {(r: {checkpoint: CheckpointInfo, model: ModelInfo}) => void} loaded
 */
function wireCheckpoints(app, loaded) {
  const save = el('button', { type: 'button', id: 'checkpoint-download', text: 'Download checkpoint', title: 'Save the current weights as a .arqc checkpoint (loadable here or with arq --checkpoint FILE)' });
  const input = el('input', { type: 'file', id: 'checkpoint-file', accept: '.arqc,application/octet-stream', class: 'visually-hidden', 'data-idle-only': true });
  const pick = el('label', { for: 'checkpoint-file', class: 'button-like', text: 'Load checkpoint…', title: 'Load a .arqc checkpoint (or drop one anywhere on the page)' });
  byId('load-pretrained', HTMLButtonElement).after(save, input, pick);

  save.addEventListener('click', async () => {
    try {
      const r = await app.client.request('saveCheckpoint', {});
      download(r.name, /** @type {Uint8Array<ArrayBuffer>} */ (r.bytes), 'application/octet-stream');
    } catch (e) {
      app.error(e);
    }
  });

  /** @param {File} file */
  const load = (file) => app.run(`Loading the checkpoint ${file.name}`, async () => {
    if (file.size > MAX_CHECKPOINT) throw new Error(`${file.name}: ${file.size} bytes is not a checkpoint (they are a few MB; at most ${MAX_CHECKPOINT >> 20} MB)`);
    const bytes = new Uint8Array(await file.arrayBuffer());
    let r;
    try {
      r = await app.client.request('loadCheckpoint', { bytes });
    } catch (e) {
      throw new Error(`${file.name} is not a usable checkpoint: ${e instanceof Error ? e.message : String(e)}`);
    }
    loaded(r);
    app.status.set(`Loaded the checkpoint ${file.name} (${r.checkpoint.model}, σ = ${r.checkpoint.sigma}).`, 'ok');
  });
  input.addEventListener('change', () => {
    const file = input.files?.[0];
    input.value = '';
    if (file) load(file);
  });

  // Drag and drop: a file dragged over the page highlights it; dropping one loads it.
  let depth = 0;
  const hasFiles = (/** @type {DragEvent} */ e) => [...(e.dataTransfer?.types ?? [])].includes('Files');
  document.addEventListener('dragenter', (e) => {
    if (!hasFiles(e)) return;
    depth += 1;
    document.body.dataset.drop = 'over';
  });
  document.addEventListener('dragleave', (e) => {
    if (!hasFiles(e)) return;
    depth = Math.max(0, depth - 1);
    if (depth === 0) delete document.body.dataset.drop;
  });
  document.addEventListener('dragover', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy';
  });
  document.addEventListener('drop', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    depth = 0;
    delete document.body.dataset.drop;
    const files = [...(e.dataTransfer?.files ?? [])];
    if (files.length !== 1) {
      app.error(new Error(`drop one checkpoint file (.arqc); got ${files.length} files`));
      return;
    }
    load(files[0]);
  });
}
