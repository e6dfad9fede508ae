#!/usr/bin/env node
// The zoo architectures (src/experiment/model.rs), a reader for ARQ checkpoints (format v1,
// src/nn/checkpoint.rs) and an in-memory ONNX exporter (opset 13: Conv, Relu, MaxPool,
// Flatten, Gemm; float32 initializers), written as a small protobuf encoder so no ONNX
// tooling is needed. Used by scripts/bench-peers.mjs; also a command:
//
//   node scripts/onnx-export.mjs models/lenet-s0.25-784d3204f689.arqc /tmp/lenet.onnx
//
// The exported model takes x [N, 1, 28, 28] (NCHW, pixels in [0, 1]) and returns logits [N, 10],
// the same numbers as `Engine.logits` up to float summation order.
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * @typedef {{ type: 'conv', cin: number, cout: number, k: number, stride: number, pad: number, pool: number }} ConvSpec
 *   a convolution followed by ReLU and, when pool > 0, a pool x pool max-pool with stride pool
 * @typedef {{ type: 'fc', fin: number, fout: number, relu: boolean }} FcSpec
 * @typedef {ConvSpec | FcSpec} LayerSpec
 * @typedef {ConvSpec & { w: Float32Array, b: Float32Array, hIn: number, hOut: number }} ConvLayer
 *   w is [cout][cin][k][k]; hIn is the input side, hOut the side after the (optional) pool
 * @typedef {FcSpec & { w: Float32Array, b: Float32Array, flatten: null | { c: number, h: number } }} FcLayer
 *   w is [fout][fin]; flatten is set on the first linear layer (its input is C, H, W in order)
 * @typedef {ConvLayer | FcLayer} Layer
 * @typedef {{ model: string, sigma: number, params: number, [key: string]: unknown }} CheckpointMeta
 * @typedef {{ meta: CheckpointMeta, layers: Layer[], macs: number, side: number }} Network
 */

/** The zoo (input 1 x 28 x 28). @type {Record<string, LayerSpec[]>} */
export const ARCHITECTURES = {
  lenet: [
    { type: 'conv', cin: 1, cout: 6, k: 5, stride: 1, pad: 0, pool: 2 },
    { type: 'conv', cin: 6, cout: 16, k: 5, stride: 1, pad: 0, pool: 2 },
    { type: 'fc', fin: 256, fout: 120, relu: true },
    { type: 'fc', fin: 120, fout: 84, relu: true },
    { type: 'fc', fin: 84, fout: 10, relu: false },
  ],
  cnn3: [
    { type: 'conv', cin: 1, cout: 16, k: 3, stride: 1, pad: 1, pool: 0 },
    { type: 'conv', cin: 16, cout: 32, k: 3, stride: 2, pad: 1, pool: 0 },
    { type: 'conv', cin: 32, cout: 64, k: 3, stride: 2, pad: 1, pool: 0 },
    { type: 'fc', fin: 3136, fout: 10, relu: false },
  ],
};

/**
 * Parse and verify a checkpoint (magic, version, SHA-256, parameter count) and cut its
 * parameters into the layers of its architecture.
 * @param {Uint8Array} bytes
 * @returns {Network}
 */
export function readCheckpoint(bytes) {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = new TextDecoder().decode(bytes.subarray(0, 8));
  if (bytes.length < 48 || magic !== 'ARQCKPT\0') throw new Error('not an ARQ checkpoint');
  const version = dv.getUint32(8, true);
  if (version !== 1) throw new Error(`checkpoint format version ${version}, expected 1`);
  const hlen = dv.getUint32(12, true);
  /** @type {CheckpointMeta} */
  const meta = JSON.parse(new TextDecoder().decode(bytes.subarray(16, 16 + hlen)));
  const body = bytes.subarray(0, bytes.length - 32);
  const digest = createHash('sha256').update(body).digest();
  if (!digest.equals(bytes.subarray(bytes.length - 32))) throw new Error('checkpoint SHA-256 mismatch');
  const spec = ARCHITECTURES[meta.model];
  if (!spec) throw new Error(`unknown model ${meta.model}`);
  let off = 16 + hlen;
  const nParams = (body.length - off) / 4;
  /** @param {number} n */
  const take = (n) => {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = dv.getFloat32(off + 4 * i, true);
    off += 4 * n;
    return out;
  };
  /** @type {Layer[]} */
  const layers = [];
  let c = 1;
  let h = 28;
  let macs = 0;
  let flat = true;
  let expected = 0;
  for (const s of spec) {
    if (s.type === 'conv') {
      if (s.cin !== c) throw new Error(`${meta.model}: channel mismatch`);
      const conv = Math.floor((h + 2 * s.pad - s.k) / s.stride) + 1;
      macs += conv * conv * s.cout * s.cin * s.k * s.k;
      const hOut = s.pool ? conv / s.pool : conv;
      expected += s.cout * s.cin * s.k * s.k + s.cout;
      layers.push({ ...s, w: take(s.cout * s.cin * s.k * s.k), b: take(s.cout), hIn: h, hOut });
      c = s.cout;
      h = hOut;
    } else {
      const flatten = flat ? { c, h } : null;
      if (flat && s.fin !== c * h * h) throw new Error(`${meta.model}: flatten size ${c * h * h} != ${s.fin}`);
      flat = false;
      macs += s.fin * s.fout;
      expected += s.fin * s.fout + s.fout;
      layers.push({ ...s, w: take(s.fout * s.fin), b: take(s.fout), flatten });
    }
  }
  if (nParams !== expected || meta.params !== expected) {
    throw new Error(`${meta.model}: ${nParams} parameters in the file, header says ${meta.params}, architecture has ${expected}`);
  }
  return { meta, layers, macs, side: 28 };
}

// --- a minimal protobuf writer (proto2 wire format, as onnx.proto) --------------------------
class Pb {
  constructor() {
    /** @type {Uint8Array[]} */
    this.parts = [];
    /** @type {number[]} */
    this.cur = [];
  }
  /** @param {number} n non-negative integer < 2^53 */
  varint(n) {
    while (n >= 128) { this.cur.push((n % 128) | 128); n = Math.floor(n / 128); }
    this.cur.push(n);
    return this;
  }
  /** @param {number} field @param {number} n */
  int(field, n) { return this.varint(field * 8).varint(n); }
  /** @param {number} field @param {Uint8Array} b */
  bytes(field, b) {
    this.varint(field * 8 + 2).varint(b.length);
    this.parts.push(Uint8Array.from(this.cur), b);
    this.cur = [];
    return this;
  }
  /** @param {number} field @param {string} s */
  str(field, s) { return this.bytes(field, new TextEncoder().encode(s)); }
  /** @param {number} field @param {Pb} m */
  msg(field, m) { return this.bytes(field, m.finish()); }
  finish() {
    const all = [...this.parts, Uint8Array.from(this.cur)];
    const out = new Uint8Array(all.reduce((s, p) => s + p.length, 0));
    let o = 0;
    for (const p of all) { out.set(p, o); o += p.length; }
    return out;
  }
}

const FLOAT = 1; // TensorProto.DataType.FLOAT
const ATTR_INT = 2;
const ATTR_INTS = 7;

/** @param {string} name @param {number | number[]} v */
function attr(name, v) {
  const a = new Pb().str(1, name);
  if (Array.isArray(v)) { for (const x of v) a.int(8, x); a.int(20, ATTR_INTS); } else { a.int(3, v).int(20, ATTR_INT); }
  return a;
}

/** @param {string} op @param {string[]} inputs @param {string} output @param {Pb[]} [attrs] */
function node(op, inputs, output, attrs = []) {
  const n = new Pb();
  for (const i of inputs) n.str(1, i);
  n.str(2, output).str(3, output).str(4, op);
  for (const a of attrs) n.msg(5, a);
  return n;
}

/** @param {string} name @param {number[]} dims @param {Float32Array} data */
function initializer(name, dims, data) {
  const t = new Pb();
  for (const d of dims) t.int(1, d);
  t.int(2, FLOAT).str(8, name);
  const raw = new Uint8Array(data.length * 4);
  const dv = new DataView(raw.buffer);
  for (let i = 0; i < data.length; i++) dv.setFloat32(4 * i, data[i], true);
  return t.bytes(9, raw);
}

/** A float tensor value_info; a string dim is symbolic. @param {string} name @param {(number|string)[]} dims */
function valueInfo(name, dims) {
  const shape = new Pb();
  for (const d of dims) shape.msg(1, typeof d === 'string' ? new Pb().str(2, d) : new Pb().int(1, d));
  const tensor = new Pb().int(1, FLOAT).msg(2, shape);
  return new Pb().str(1, name).msg(2, new Pb().msg(1, tensor));
}

/**
 * The network as an ONNX ModelProto (IR version 7, opset 13), input "x" [N,1,28,28], output
 * "logits" [N,10].
 * @param {Network} net
 * @returns {Uint8Array}
 */
export function toOnnx(net) {
  const g = new Pb().str(2, `arq_${net.meta.model}`);
  /** @type {Pb[]} */
  const inits = [];
  let cur = 'x';
  net.layers.forEach((l, i) => {
    if (l.type === 'conv') {
      inits.push(initializer(`conv${i}.w`, [l.cout, l.cin, l.k, l.k], l.w), initializer(`conv${i}.b`, [l.cout], l.b));
      g.msg(1, node('Conv', [cur, `conv${i}.w`, `conv${i}.b`], `conv${i}`, [
        attr('kernel_shape', [l.k, l.k]), attr('strides', [l.stride, l.stride]), attr('pads', [l.pad, l.pad, l.pad, l.pad]),
      ]));
      g.msg(1, node('Relu', [`conv${i}`], `relu${i}`));
      cur = `relu${i}`;
      if (l.pool) {
        g.msg(1, node('MaxPool', [cur], `pool${i}`, [attr('kernel_shape', [l.pool, l.pool]), attr('strides', [l.pool, l.pool])]));
        cur = `pool${i}`;
      }
    } else {
      if (l.flatten) {
        g.msg(1, node('Flatten', [cur], 'flat', [attr('axis', 1)]));
        cur = 'flat';
      }
      inits.push(initializer(`fc${i}.w`, [l.fout, l.fin], l.w), initializer(`fc${i}.b`, [l.fout], l.b));
      const last = i === net.layers.length - 1;
      const out = last ? 'logits' : `fc${i}`;
      g.msg(1, node('Gemm', [cur, `fc${i}.w`, `fc${i}.b`], out, [attr('transB', 1)]));
      cur = out;
      if (l.relu) {
        g.msg(1, node('Relu', [cur], `relu${i}`));
        cur = `relu${i}`;
      }
    }
  });
  for (const t of inits) g.msg(5, t);
  g.msg(11, valueInfo('x', ['N', 1, net.side, net.side]));
  g.msg(12, valueInfo('logits', ['N', 10]));
  return new Pb()
    .int(1, 7) // ir_version
    .str(2, 'arq-playground scripts/onnx-export.mjs')
    .msg(7, g)
    .msg(8, new Pb().str(1, '').int(2, 13)) // opset_import: default domain, 13
    .finish();
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [input, output] = process.argv.slice(2);
  if (!input || !output) {
    console.error('usage: node scripts/onnx-export.mjs CHECKPOINT.arqc OUT.onnx');
    process.exit(2);
  }
  const net = readCheckpoint(readFileSync(input));
  const onnx = toOnnx(net);
  writeFileSync(output, onnx);
  console.log(`${output}: ${net.meta.model} (sigma ${net.meta.sigma}), ${net.meta.params} parameters, ${net.macs} MACs per image, ${onnx.length} bytes`);
}
