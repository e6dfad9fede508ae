#!/usr/bin/env node
// Throughput of the wasm build in Node 20 (the same V8 WebAssembly engine as Chromium):
// forward (batch 1 and 1000), noise+forward via certification, and training, for both zoo
// models, on noisy real digits (scripts/bench-common.mjs). Usage: make bench-wasm (needs pkg/
// from `make pkg`). Prints a Markdown table.
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { initSync, Engine } from '../pkg/arq.js';
import { median, noisyDigits } from './bench-common.mjs';

initSync({ module: readFileSync(new URL('../pkg/arq_bg.wasm', import.meta.url)) });
const data = readFileSync(new URL('../data/mnist10k.u8', import.meta.url));


/** @type {[string, string, number][]} */
const rows = [];
for (const model of ['lenet', 'cnn3']) {
  const e = new Engine(data);
  e.setConfig(`v=1&model=${model}`);
  for (const batch of [1, 1000]) {
    const x = noisyDigits(data, batch);
    const reps = batch === 1 ? 200 : 5;
    const s = median(() => e.logits(x, batch), reps);
    rows.push([model, `forward, batch ${batch}`, batch / s]);
  }
  // noise + forward: certify one point with n0 = 100, n = 10,000, batch 1,000
  e.setConfig(`v=1&model=${model}&points=1&n=10000&cbatch=1000&np=1000`);
  const cs = median(() => { e.begin({ kind: 'certify' }); while (!e.step('certify', 1e9).done) { /* one step does it all */ } }, 3);
  rows.push([model, 'noise+forward (CERTIFY n0=100, n=10,000, batch 1000)', 10100 / cs]);
  rows.push([model, 'CERTIFY one image, seconds', cs]);
  e.setConfig(`v=1&model=${model}&train=1344&epochs=1&batch=64`);
  const ts = median(() => { e.begin({ kind: 'train' }); e.step('train', 20); e.cancel('train'); }, 3);
  rows.push([model, 'training (noise-augmented, batch 64)', 1280 / ts]);
  e.free();
}
// The integer path per uniform bit width (lenet, batch 1000) against f32.
{
  const e = new Engine(data);
  const x = noisyDigits(data, 1000);
  rows.push(['lenet', 'f32 forward, batch 1000 (reference for the integer rows)', 1000 / median(() => e.logits(x, 1000), 5)]);
  for (const preset of ['w8a8', 'w4a4', 'w2a2']) {
    e.setConfig('v=1&points=1&n=10&n0=1&np=10&qft=0&calib=64');
    e.applyPreset(preset);
    e.begin({ kind: 'quantEval', fresh: false });
    while (!e.step('quantEval', 1e6).done) { /* build the integer model */ }
    rows.push(['lenet', `integer path ${preset.toUpperCase()}, batch 1000`, 1000 / median(() => e.logits(x, 1000, true), 5)]);
  }
  // A default-sized search episode of the shipped lenet (sigma 0.25): where the time goes.
  const index = JSON.parse(readFileSync(new URL('../models/index.json', import.meta.url), 'utf8'));
  const shipped = index.find((/** @type {{model: string, sigma: number}} */ m) => m.model === 'lenet' && m.sigma === 0.25);
  e.loadCheckpoint(readFileSync(new URL(`../models/${shipped.file}`, import.meta.url)), null);
  e.setConfig('v=1&episodes=8&warmup=4');
  e.begin({ kind: 'search', method: 'arq' });
  /** @type {Record<string, number[]>} */
  const split = { fineTuneMs: [], irsMs: [], calibrateMs: [], agentMs: [], totalMs: [] };
  let t0 = performance.now();
  for (;;) {
    const step = e.step('search', 20000);
    if (step.event.kind !== 'search') throw new Error(`a search step answered as ${step.event.kind}`);
    const st = step.event;
    if (st.episode) {
      for (const k of ['fineTuneMs', 'irsMs', 'calibrateMs', 'agentMs']) split[k].push(st.episode.metrics[k]);
      if (st.episode.episode > 0) split.totalMs.push(performance.now() - t0); // episode 0 includes the FP32 reference
      t0 = performance.now();
    }
    if (st.progress.done) break;
  }
  const mean = (/** @type {number[]} */ a) => a.reduce((p, q) => p + q, 0) / a.length;
  for (const [k, v] of Object.entries(split)) rows.push(['lenet', `search episode (default config), ${k} per episode`, mean(v)]);
  e.free();
}
console.log('| model | what (wasm, Node ' + process.versions.node + ') | images/s (or time) |');
console.log('|---|---|---:|');
for (const [m, w, v] of rows) {
  const cell = w.includes('seconds') ? `${v.toFixed(3)} s` : w.includes('Ms ') ? `${v.toFixed(0)} ms` : Math.round(v).toLocaleString('en-US');
  console.log(`| ${m} | ${w} | ${cell} |`);
}
