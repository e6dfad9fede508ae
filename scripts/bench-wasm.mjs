#!/usr/bin/env node
// Throughput of the wasm build in Node 20 (the same V8 WebAssembly engine as Chromium):
// forward (batch 1 and 1000), noise+forward via certification, and training, for both zoo
// models. Usage: make bench-wasm   (needs pkg/ from `make pkg`). Prints a Markdown table.
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { initSync, Engine } from '../pkg/arq.js';

initSync({ module: readFileSync(new URL('../pkg/arq_bg.wasm', import.meta.url)) });
const data = readFileSync(new URL('../data/mnist10k.u8', import.meta.url));

/** Median seconds of `reps` runs of fn. @param {() => void} fn @param {number} reps */
function median(fn, reps) {
  const t = [];
  for (let i = 0; i < reps; i++) { const a = performance.now(); fn(); t.push((performance.now() - a) / 1000); }
  t.sort((a, b) => a - b);
  return t[Math.floor(t.length / 2)];
}

const rows = [];
for (const model of ['lenet', 'cnn3']) {
  const e = new Engine(data);
  e.setConfig(`v=1&model=${model}`);
  for (const batch of [1, 1000]) {
    const x = new Float32Array(batch * 784).map((_, i) => (i % 29) / 28);
    const reps = batch === 1 ? 200 : 5;
    const s = median(() => e.logits(x, batch), reps);
    rows.push([model, `forward, batch ${batch}`, batch / s]);
  }
  // noise + forward: certify one point with n0 = 100, n = 10,000, batch 1,000
  e.setConfig(`v=1&model=${model}&points=1&n=10000&cbatch=1000&np=1000`);
  const cs = median(() => { e.certifyBegin(); let r; do { r = e.certifyStep(1e9); } while (!r.done); }, 3);
  rows.push([model, 'noise+forward (CERTIFY n0=100, n=10,000, batch 1000)', 10100 / cs]);
  rows.push([model, 'CERTIFY one image, seconds', cs]);
  e.setConfig(`v=1&model=${model}&train=1344&epochs=1&batch=64`);
  const ts = median(() => { e.trainBegin(); e.trainStep(20); }, 3);
  rows.push([model, 'training (noise-augmented, batch 64)', 1280 / ts]);
  e.free();
}
console.log('| model | what (wasm, Node ' + process.versions.node + ') | images/s |');
console.log('|---|---|---:|');
for (const [m, w, v] of rows) console.log(`| ${m} | ${w} | ${w.includes('seconds') ? v.toFixed(3) + ' s' : Math.round(v).toLocaleString('en-US')} |`);
