#!/usr/bin/env node
// Our wasm engine next to the peers a user would pick, in one Node process (Node's V8 is
// Chromium's WebAssembly engine), on the same weights, one thread each, SIMD on:
//   ours             pkg/ (make pkg): Engine.logits; noise + forward = CERTIFY (ChaCha8 noise)
//   TF.js            @tensorflow/tfjs-core + tfjs-backend-wasm (SIMD, threads off), the network
//                    from tf.fused.conv2d / tf.maxPool / tf.fused.matMul (what tfjs-layers and
//                    tfjs-converter run), noise = tf.randomNormal added inside tf.tidy
//   onnxruntime-web  wasm execution provider, numThreads = 1, the network exported to ONNX in
//                    memory (scripts/onnx-export.mjs), noise drawn in JS (xorshift + Box-Muller)
// plus the machine's SIMD peak: a wabt-compiled loop of f32x4.mul + f32x4.add on independent
// accumulators (no FMA, no relaxed SIMD, like our kernels), turned into a ceiling in images/s.
//
//   node scripts/bench-peers.mjs [--runs N] [--models lenet,cnn3]     (make bench-peers: --runs 3)
//
// First all three engines must agree on the logits of 16 noisy real test digits (max |diff|
// <= TOL, same argmax); the exit code is 1 when they do not. Then each run measures, engines
// interleaved rep by rep, images/s (median of several reps after warm-up) of forward at batch
// 1 and 1000 and of noise + forward shaped like one certification (n0 = 100 then n = 10,000
// in batches of 1,000: 10,100 samples). Inputs are real digits plus Gaussian noise, not smooth
// synthetic patterns (those make ReLU and max-pool branches predictable and overstate speed).
// Prints one Markdown table: medians over runs, ratios as median (min-max) over runs.
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import * as tf from '@tensorflow/tfjs-core';
import { setThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import * as ort from 'onnxruntime-web';
import wabtInit from 'wabt';
import { initSync, Engine } from '../pkg/arq.js';
import { noisyDigits } from './bench-common.mjs';
import { readCheckpoint, toOnnx } from './onnx-export.mjs';

/** @typedef {import('./onnx-export.mjs').Network} Network */
/** @typedef {(x: Float32Array, n: number) => Promise<Float32Array>} Forward */
/** @typedef {{ name: string, forward: Forward, noisy: () => Promise<void>, free: () => void }} Peer */

const TOL = 1e-3; // max |logit difference| allowed between engines (fp32, different summation orders)
const SIGMA = 0.25;
const N0 = 100;
const N = 10000;
const CBATCH = 1000;
const SAMPLES = N0 + N;

const args = process.argv.slice(2);
/** @param {string} flag @param {string} dflt */
const opt = (flag, dflt) => { const i = args.indexOf(flag); return i >= 0 ? args[i + 1] : dflt; };
const runs = Number(opt('--runs', '1'));
const models = opt('--models', 'lenet,cnn3').split(',');
if (!Number.isInteger(runs) || runs < 1 || args.some((a) => a.startsWith('--') && a !== '--runs' && a !== '--models')) {
  console.error('usage: node scripts/bench-peers.mjs [--runs N] [--models lenet,cnn3]');
  process.exit(2);
}
/** @param {string} s */
const log = (s) => process.stderr.write(`${s}\n`);

// --- inputs: real test digits plus Gaussian noise ------------------------------------------------
const data = readFileSync(new URL('../data/mnist10k.u8', import.meta.url));
if (data.toString('latin1', 0, 4) !== 'MNU8') throw new Error('data/mnist10k.u8: bad magic');
const COUNT = data.readUInt32LE(4);
const PX = data.readUInt16LE(8) * data.readUInt16LE(10);
const IMAGES = 12 + COUNT;
/** Digit i counted from the end of the file (the test digits), pixels in [0, 1]. @param {number} i */
const digit = (i) => Float32Array.from(data.subarray(IMAGES + (COUNT - 1 - i) * PX, IMAGES + (COUNT - i) * PX), (v) => v / 255);

/** onnxruntime-web's noise stream: xorshift32 and Box-Muller, both outputs used. @param {number} seed */
function gaussian(seed) {
  let s = seed >>> 0 || 1;
  let spare = NaN;
  return () => {
    if (spare === spare) { const z = spare; spare = NaN; return z; }
    s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
    const u1 = ((s >>> 0) + 1) / 4294967297;
    s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
    const u2 = (s >>> 0) / 4294967296;
    const r = Math.sqrt(-2 * Math.log(u1));
    spare = r * Math.sin(2 * Math.PI * u2);
    return r * Math.cos(2 * Math.PI * u2);
  };
}

/** Index of the largest of the 10 logits of row r. @param {Float32Array} l @param {number} r */
function argmax(l, r) {
  let best = 0;
  for (let c = 1; c < 10; c++) if (l[r * 10 + c] > l[r * 10 + best]) best = c;
  return best;
}

/**
 * Median seconds per engine of `reps` timed calls after `warm` untimed ones, the engines
 * interleaved rep by rep so that a burst of load on the machine hits all of them alike.
 * @param {(() => Promise<unknown>)[]} fns @param {number} reps @param {number} [warm]
 */
async function medians(fns, reps, warm = 1) {
  for (let i = 0; i < warm; i++) for (const fn of fns) await fn();
  /** @type {number[][]} */
  const t = fns.map(() => []);
  for (let i = 0; i < reps; i++) {
    for (const [j, fn] of fns.entries()) { const a = performance.now(); await fn(); t[j].push((performance.now() - a) / 1000); }
  }
  return t.map((v) => v.sort((a, b) => a - b)[Math.floor(v.length / 2)]);
}

// --- the engines ---------------------------------------------------------------------------------
initSync({ module: readFileSync(new URL('../pkg/arq_bg.wasm', import.meta.url)) });

tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false); // one thread, like ours
setThreadsCount(1);
await tf.setBackend('wasm');
await tf.ready();
if (tf.getBackend() !== 'wasm' || !tf.env().getBool('WASM_HAS_SIMD_SUPPORT')) throw new Error('TF.js: wasm backend with SIMD not available');

ort.env.wasm.numThreads = 1;
ort.env.wasm.simd = 'fixed';

/** @param {Network} net @param {Uint8Array} bytes @returns {Peer} */
function ours(net, bytes) {
  const e = new Engine(data);
  e.loadCheckpoint(bytes, null);
  const model = net.meta.model;
  /** @type {Forward} */
  const forward = async (x, n) => e.logits(x, n);
  const probe = noisyDigits(data, 4);
  const before = e.logits(probe, 4);
  // same model and dataset: setConfig keeps the loaded weights (src/experiment/mod.rs, set_config)
  e.setConfig(`v=1&model=${model}&sigma=${net.meta.sigma}&points=1&n=${N}&n0=${N0}&cbatch=${CBATCH}&np=1000`);
  if (!e.logits(probe, 4).every((v, i) => v === before[i])) throw new Error('setConfig dropped the checkpoint');
  return {
    name: 'ours',
    forward,
    noisy: async () => { e.begin({ kind: 'certify' }); while (!e.step('certify', 1e9).done) { /* one step does it all */ } },
    free: () => e.free(),
  };
}

/** @param {Network} net @returns {Peer} */
function tfjs(net) {
  /** @type {((x: tf.Tensor4D | tf.Tensor2D) => tf.Tensor)[]} */
  const ops = [];
  for (const l of net.layers) {
    if (l.type === 'conv') {
      // [cout][cin][k][k] -> HWIO [k][k][cin][cout]
      const f = new Float32Array(l.w.length);
      for (let co = 0; co < l.cout; co++) for (let ci = 0; ci < l.cin; ci++) for (let y = 0; y < l.k; y++) for (let x = 0; x < l.k; x++) {
        f[((y * l.k + x) * l.cin + ci) * l.cout + co] = l.w[((co * l.cin + ci) * l.k + y) * l.k + x];
      }
      const filter = tf.tensor4d(f, [l.k, l.k, l.cin, l.cout]);
      const bias = tf.tensor1d(l.b);
      const pad = l.pad === 0 ? 'valid' : l.pad; // explicit: 'same' would pad stride-2 layers bottom/right only
      ops.push((x) => {
        const y = tf.fused.conv2d({ x: /** @type {tf.Tensor4D} */ (x), filter, strides: l.stride, pad, bias, activation: 'relu' });
        return l.pool ? tf.maxPool(y, l.pool, l.pool, 'valid') : y;
      });
    } else {
      // [fout][fin] -> [fin][fout]; the first linear layer's rows permuted from C,H,W to NHWC's H,W,C
      const w = new Float32Array(l.w.length);
      const fl = l.flatten;
      for (let i = 0; i < l.fin; i++) {
        let src = i;
        if (fl) { const c = i % fl.c; const hw = (i - c) / fl.c; src = c * fl.h * fl.h + hw; }
        for (let o = 0; o < l.fout; o++) w[i * l.fout + o] = l.w[o * l.fin + src];
      }
      const b = tf.tensor2d(w, [l.fin, l.fout]);
      const bias = tf.tensor1d(l.b);
      ops.push((x) => {
        const a = fl ? tf.reshape(x, [x.shape[0], l.fin]) : x;
        return tf.fused.matMul({ a: /** @type {tf.Tensor2D} */ (a), b, bias, activation: l.relu ? 'relu' : 'linear' });
      });
    }
  }
  /** @param {tf.Tensor4D} x NHWC */
  const net4 = (x) => ops.reduce((/** @type {tf.Tensor} */ h, op) => op(/** @type {tf.Tensor4D} */ (h)), x);
  /** @type {Forward} */
  const forward = async (x, n) => tf.tidy(() => /** @type {Float32Array} */ (net4(tf.tensor4d(x, [n, net.side, net.side, 1])).dataSync()));
  const base = tf.tensor4d(digit(0), [1, net.side, net.side, 1]);
  /** @param {number} n */
  const batch = (n) => {
    const l = /** @type {Float32Array} */ (tf.tidy(() => net4(tf.add(base, tf.randomNormal([n, net.side, net.side, 1], 0, SIGMA))).dataSync()));
    let votes = 0;
    for (let r = 0; r < n; r++) votes += argmax(l, r);
    return votes;
  };
  return {
    name: 'TF.js',
    forward, // NCHW with one channel is NHWC: no transposition of the input
    noisy: async () => { batch(N0); for (let i = 0; i < N / CBATCH; i++) batch(CBATCH); },
    free: () => tf.disposeVariables(),
  };
}

/** @param {Network} net @returns {Promise<Peer>} */
async function onnx(net) {
  const session = await ort.InferenceSession.create(toOnnx(net), { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
  /** @type {Forward} */
  const forward = async (x, n) => {
    const out = await session.run({ x: new ort.Tensor('float32', x, [n, 1, net.side, net.side]) });
    return /** @type {Float32Array} */ (out.logits.data);
  };
  const base = digit(0);
  const g = gaussian(12345);
  const buf = new Float32Array(CBATCH * PX);
  /** @param {number} n */
  const batch = async (n) => {
    const x = buf.subarray(0, n * PX);
    for (let i = 0; i < n * PX; i += PX) for (let j = 0; j < PX; j++) x[i + j] = base[j] + SIGMA * g();
    const l = await forward(x, n);
    let votes = 0;
    for (let r = 0; r < n; r++) votes += argmax(l, r);
    return votes;
  };
  return {
    name: 'onnxruntime-web',
    forward,
    noisy: async () => { await batch(N0); for (let i = 0; i < N / CBATCH; i++) await batch(CBATCH); },
    free: () => { session.release(); },
  };
}

// --- peak: f32x4.mul + f32x4.add on independent accumulators -------------------------------------
/**
 * WAT of `peak(iters) -> f32` with k accumulators. "chain": acc = acc * m + c (mul and add both
 * on the dependency chain); "load": acc = acc + v128.load(p) * m (the mul off the chain, its
 * operand loaded from L1 each iteration so that it cannot be hoisted, like a GEMM kernel).
 * Separate f32x4.mul and f32x4.add, 4 MACs a pair.
 * @param {number} k @param {'chain' | 'load'} variant
 */
function peakWat(k, variant) {
  const acc = [...Array(k).keys()];
  const step = variant === 'chain'
    ? (/** @type {number} */ i) => `(local.set $a${i} (f32x4.add (f32x4.mul (local.get $a${i}) (local.get $m)) (local.get $c)))`
    : (/** @type {number} */ i) => `(local.set $a${i} (f32x4.add (local.get $a${i}) (f32x4.mul (v128.load offset=${16 * i} (local.get $p)) (local.get $m))))`;
  return `(module (memory 1)
  (func (export "peak") (param $n i32) (result f32)
    ${acc.map((i) => `(local $a${i} v128)`).join(' ')} (local $m v128) (local $c v128) (local $p i32)
    (local.set $m (f32x4.splat (f32.const 0.999)))
    (local.set $c (f32x4.splat (f32.const 0.001)))
    ${acc.map((i) => `(local.set $a${i} (f32x4.splat (f32.const ${(i + 1) / (k + 1)})))`).join('\n    ')}
    (block $done (loop $top
      (br_if $done (i32.eqz (local.get $n)))
      (local.set $p (i32.shl (i32.and (local.get $n) (i32.const 63)) (i32.const 8)))
      ${acc.map(step).join('\n      ')}
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $top)))
    ${acc.slice(1).map((i) => `(local.set $a0 (f32x4.add (local.get $a0) (local.get $a${i})))`).join('\n    ')}
    (f32x4.extract_lane 0 (local.get $a0))))`;
}

const wabt = await wabtInit();
/** @type {{ label: string, k: number, fn: (n: number) => number }[]} */
const peakFns = [];
for (const variant of /** @type {const} */ (['chain', 'load'])) {
  for (const k of [8, 10, 12]) {
    const mod = wabt.parseWat(`peak-${variant}${k}.wat`, peakWat(k, variant), { simd: true });
    mod.validate();
    const { buffer } = mod.toBinary({});
    mod.destroy();
    const inst = await WebAssembly.instantiate(new WebAssembly.Module(new Uint8Array(buffer)));
    peakFns.push({ label: `${variant}, ${k} accumulators`, k, fn: /** @type {(n: number) => number} */ (inst.exports.peak) });
  }
}

/** Best GMAC/s (fastest of 7 reps: a ceiling, not a typical speed) over the variants. */
function peak() {
  let best = { gmacs: 0, label: '' };
  for (const { label, k, fn } of peakFns) {
    const iters = 2e6;
    fn(iters); fn(iters);
    let s = Infinity;
    for (let r = 0; r < 7; r++) { const a = performance.now(); fn(iters); s = Math.min(s, (performance.now() - a) / 1000); }
    const gmacs = (iters * k * 4) / s / 1e9;
    if (gmacs > best.gmacs) best = { gmacs, label };
  }
  return best;
}

// --- agreement -----------------------------------------------------------------------------------
/** @type {Map<string, { net: Network, peers: Peer[] }>} */
const setups = new Map();
const index = JSON.parse(readFileSync(new URL('../models/index.json', import.meta.url), 'utf8'));
let agreed = true;
/** @type {string[]} */
const agreeLines = [];
for (const model of models) {
  const entry = index.find((/** @type {{model: string, sigma: number}} */ m) => m.model === model && m.sigma === SIGMA);
  if (!entry) throw new Error(`models/index.json: no ${model} at sigma ${SIGMA}`);
  const bytes = readFileSync(new URL(`../models/${entry.file}`, import.meta.url));
  const net = readCheckpoint(bytes);
  if (net.meta.model !== model) throw new Error(`${entry.file}: header says ${net.meta.model}`);
  const peers = [ours(net, bytes), tfjs(net), await onnx(net)];
  setups.set(model, { net, peers });
  const x = noisyDigits(data, 16);
  const ref = await peers[0].forward(x, 16);
  const parts = [];
  for (const p of peers.slice(1)) {
    const l = await p.forward(x, 16);
    let diff = 0;
    let same = 0;
    for (let i = 0; i < ref.length; i++) diff = Math.max(diff, Math.abs(l[i] - ref[i]));
    for (let r = 0; r < 16; r++) same += Number(argmax(l, r) === argmax(ref, r));
    const ok = diff <= TOL && same === 16;
    agreed &&= ok;
    parts.push(`${p.name} max |diff| ${diff.toExponential(2)}, argmax ${same}/16${ok ? '' : ' DISAGREES'}`);
  }
  let maxAbs = 0;
  for (const v of ref) maxAbs = Math.max(maxAbs, Math.abs(v));
  agreeLines.push(`${model} (${entry.file}, ${net.meta.params.toLocaleString('en-US')} parameters, ${net.macs.toLocaleString('en-US')} MACs/image): against ours on 16 noisy test digits (|logit| up to ${maxAbs.toFixed(1)}): ${parts.join('; ')}`);
}
for (const l of agreeLines) log(l);
if (!agreed) {
  console.log(`Engines disagree beyond max |diff| <= ${TOL} or on an argmax:\n${agreeLines.map((l) => `- ${l}`).join('\n')}`);
  process.exit(1);
}

// --- timing --------------------------------------------------------------------------------------
const MEASURES = ['forward, batch 1', 'forward, batch 1000', `noise + forward, batch 1000 (${SAMPLES.toLocaleString('en-US')} samples)`];
/** images/s per [model][measure][peer], one entry per run. @type {Record<string, number[][][]>} */
const rates = {};
/** @type {number[]} */
const peaks = [];
/** @type {string[]} */
const peakLabels = [];
const x1000 = noisyDigits(data, 1000);
for (let run = 0; run < runs; run++) {
  const pk = peak();
  peaks.push(pk.gmacs);
  peakLabels.push(pk.label);
  log(`run ${run + 1}/${runs}: peak ${pk.gmacs.toFixed(1)} GMAC/s (${pk.label})`);
  for (const [model, { peers }] of setups) {
    const r = (rates[model] ??= MEASURES.map(() => peers.map(() => [])));
    // batch 1: 200 different noisy digits a rep; 3 reps of warm-up (V8 tiers up each engine's
    // small per-call JavaScript and wasm functions late, which otherwise shows in the first run)
    const s1 = await medians(peers.map((p) => async () => { for (let i = 0; i < 200; i++) await p.forward(x1000.subarray(i * PX, (i + 1) * PX), 1); }), 7, 3);
    const s1000 = await medians(peers.map((p) => () => p.forward(x1000, 1000)), 5);
    const sNoisy = await medians(peers.map((p) => p.noisy), 3);
    for (const pi of peers.keys()) {
      r[0][pi].push(200 / s1[pi]);
      r[1][pi].push(1000 / s1000[pi]);
      r[2][pi].push(SAMPLES / sNoisy[pi]);
      log(`  ${model} ${peers[pi].name}: ${MEASURES.map((_, m) => Math.round(r[m][pi][run]).toLocaleString('en-US')).join(' / ')} images/s`);
    }
  }
}

// --- the table -----------------------------------------------------------------------------------
/** @param {number[]} v */
const sorted = (v) => [...v].sort((a, b) => a - b);
/** @param {number[]} v */
const med = (v) => sorted(v)[Math.floor(v.length / 2)];
/** @param {number} v */
const int = (v) => Math.round(v).toLocaleString('en-US');
/** median (min-max) of per-run ratios. @param {number[]} v */
const spread = (v) => (v.length === 1 ? v[0].toFixed(2) : `${med(v).toFixed(2)} (${sorted(v)[0].toFixed(2)}-${sorted(v)[v.length - 1].toFixed(2)})`);
const pk = med(peaks);
console.log(`| images/s, 1 thread, Node ${process.versions.node} | ours | TF.js wasm | onnxruntime-web | ours / TF.js | ours / ORT | ours, % of ceiling |`);
console.log('|---|---:|---:|---:|---:|---:|---:|');
for (const [model, { net }] of setups) {
  const ceiling = (pk * 1e9) / net.macs;
  for (const [m, name] of MEASURES.entries()) {
    const [o, t, n] = rates[model][m];
    const ratio = (/** @type {number[]} */ peer) => spread(o.map((v, i) => v / peer[i]));
    console.log(`| ${model} ${name} | ${int(med(o))} | ${int(med(t))} | ${int(med(n))} | ${ratio(t)} | ${ratio(n)} | ${((100 * med(o)) / ceiling).toFixed(0)} % |`);
  }
}
console.log('');
console.log(`${runs} run${runs > 1 ? 's' : ''}; images/s are medians over runs, ratios are median (min-max) of the per-run ratios.`);
console.log(`Peak (wabt loop of f32x4.mul + f32x4.add, no FMA): ${pk.toFixed(1)} GMAC/s (fastest rep; runs: ${peaks.map((v, i) => `${v.toFixed(1)} [${peakLabels[i]}]`).join(', ')}), ` +
  `a ceiling of ${[...setups].map(([m, { net }]) => `${int((pk * 1e9) / net.macs)} images/s for ${m} (${net.macs.toLocaleString('en-US')} MACs)`).join(' and ')}.`);
console.log(`Agreement (max |diff| <= ${TOL}, same argmax):`);
for (const l of agreeLines) console.log(`- ${l}`);
for (const { peers } of setups.values()) for (const p of peers) p.free();
