// What the benchmark scripts share: their inputs, real digits plus Gaussian noise like the
// batches certification classifies (smooth synthetic inputs make ReLU and max-pool branches
// predictable and overstated our forward speed by up to 2x), and the median timer.
import { performance } from 'node:perf_hooks';

/**
 * Median seconds of `reps` runs of `fn`.
 * @param {() => void} fn @param {number} reps
 */
export function median(fn, reps) {
  const t = [];
  for (let i = 0; i < reps; i++) {
    const a = performance.now();
    fn();
    t.push((performance.now() - a) / 1000);
  }
  t.sort((a, b) => a - b);
  return t[Math.floor(t.length / 2)];
}

/**
 * `count` digits (the last ones of data/mnist10k.u8, format MNU8: magic, u32 LE count,
 * u16 LE rows, u16 LE cols, the labels, then the pixels) plus N(0, sigma^2) noise, in [0, 1]
 * pixel units, the same on every run (xorshift32 + Box-Muller).
 * @param {Uint8Array} data the dataset file
 * @param {number} count @param {number} [sigma]
 * @returns {Float32Array} count x rows*cols values
 */
export function noisyDigits(data, count, sigma = 0.25) {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const n = view.getUint32(4, true);
  const px = view.getUint16(8, true) * view.getUint16(10, true);
  if (count > n) throw new RangeError(`noisyDigits: ${count} digits asked, the file has ${n}`);
  const images = 12 + n;
  let s = 0x9e3779b9;
  const u = () => { s ^= s << 13; s ^= s >>> 17; s ^= s << 5; return ((s >>> 0) + 1) / 4294967297; };
  const x = new Float32Array(count * px);
  for (let i = 0; i < count; i++) {
    const img = images + (n - 1 - i) * px;
    for (let j = 0; j < px; j++) {
      const z = Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
      x[i * px + j] = data[img + j] / 255 + sigma * z;
    }
  }
  return x;
}
