#!/usr/bin/env node
// Side-by-side throughput of two or more wasm builds in one Node process, rounds interleaved,
// so that a change is measured against its baseline under the same machine load (absolute
// numbers mean little on a shared machine; the ratios do).
//
//   node scripts/bench-wasm-compare.mjs BASELINE_PKG_DIR [OTHER_PKG_DIR ...] [--rounds N]
//
// A baseline package: `git worktree add /tmp/base REV && (cd /tmp/base && make pkg)`, or
// `git archive REV | tar -x -C /tmp/base` and the Makefile's pkg rule there. Inputs are real
// test digits plus Gaussian noise (sigma 0.25), like the batches certification classifies:
// smooth synthetic inputs make ReLU and max-pool branches predictable and overstate speed.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { median, noisyDigits } from './bench-common.mjs';

const args = process.argv.slice(2);
const at = args.indexOf('--rounds');
const rounds = at >= 0 ? Number(args.splice(at, 2)[1]) : 3;
if (args.length === 0 || !Number.isInteger(rounds) || rounds < 1) {
  console.error('usage: node scripts/bench-wasm-compare.mjs BASELINE_PKG_DIR [OTHER_PKG_DIR ...] [--rounds N]');
  process.exit(2);
}
const data = readFileSync(new URL('../data/mnist10k.u8', import.meta.url));


/** @type {{dir: string, m: any, rows: Record<string, number[]>}[]} */
const builds = [];
for (const dir of args) {
  const abs = resolve(dir);
  const m = await import(pathToFileURL(`${abs}/arq.js`).href);
  m.initSync({ module: readFileSync(`${abs}/arq_bg.wasm`) });
  builds.push({ dir, m, rows: {} });
}
/**
 * One whole certification, in whichever job API the build has: begin/step (since the one job
 * shape) or the older certifyBegin/certifyStep pair, so older builds can still be compared.
 * @param {any} e an Engine of either build
 */
function certifyAll(e) {
  if (typeof e.begin === 'function') {
    e.begin({ kind: 'certify' });
    while (!e.step('certify', 1e9).done) { /* one step does it all */ }
  } else {
    e.certifyBegin();
    while (!e.certifyStep(1e9).done) { /* one step does it all */ }
  }
}
const x = noisyDigits(data, 1000);
for (let round = 0; round < rounds; round++) {
  for (const b of builds) {
    for (const model of ['lenet', 'cnn3']) {
      const e = new b.m.Engine(data);
      e.setConfig(`v=1&model=${model}`);
      const add = (/** @type {string} */ k, /** @type {number} */ v) => (b.rows[k] ??= []).push(v);
      add(`${model} forward, batch 1000`, 1000 / median(() => e.logits(x, 1000), 5));
      e.setConfig(`v=1&model=${model}&points=1&n=10000&cbatch=1000&np=1000`);
      const cs = median(() => certifyAll(e), 3);
      add(`${model} noise + forward (CERTIFY, n = 10,000)`, 10100 / cs);
      if (typeof e.applyPreset === 'function') {
        // the integer path (W4A4; every width runs the same arithmetic), built as the page
        // does for its final table, on the same noisy digits
        e.setConfig(`v=1&model=${model}&points=1&n=10&n0=1&np=10&qft=0&calib=64`);
        e.applyPreset('w4a4');
        e.begin({ kind: 'quantEval', fresh: false });
        while (!e.step('quantEval', 1e6).done) { /* build the integer model */ }
        add(`${model} integer path W4A4, batch 1000`, 1000 / median(() => e.logits(x, 1000, true), 5));
      }
      e.free();
    }
  }
}
const med = (/** @type {number[]} */ v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const keys = Object.keys(builds[0].rows);
console.log(`| images/s, median of ${rounds} interleaved rounds | ${builds.map((b) => b.dir).join(' | ')} | ${builds.slice(1).map((b) => `${b.dir} / ${builds[0].dir}`).join(' | ')} |`);
console.log(`|---|${builds.map(() => '---:').join('|')}|${builds.slice(1).map(() => '---:').join('|')}|`);
for (const k of keys) {
  const base = med(builds[0].rows[k]);
  console.log(`| ${k} | ${builds.map((b) => Math.round(med(b.rows[k])).toLocaleString('en-US')).join(' | ')} | ${builds.slice(1).map((b) => (med(b.rows[k]) / base).toFixed(2)).join(' | ')} |`);
}
