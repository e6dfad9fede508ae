// Hand-made example data for the quantization and search views' components (no engine):
// lenet's five quantizable layers, a small search history of two runs, a weight tensor with
// per-channel clips, and a final table. Shapes follow www/js/quant-types.js.

/** lenet's quantizable layers: MACs from docs/method.md section 8 (281,640 in all). */
export const LAYERS = [
  { name: 'conv1', kind: 'conv', macs: 86400, weights: 150, inShape: [1, 28, 28], outShape: [6, 24, 24] },
  { name: 'conv2', kind: 'conv', macs: 153600, weights: 2400, inShape: [6, 12, 12], outShape: [16, 8, 8] },
  { name: 'fc1', kind: 'linear', macs: 30720, weights: 30720, inShape: [256], outShape: [120] },
  { name: 'fc2', kind: 'linear', macs: 10080, weights: 10080, inShape: [120], outShape: [84] },
  { name: 'fc3', kind: 'linear', macs: 840, weights: 840, inShape: [84], outShape: [10] },
].map((l) => ({ ...l, macShare: l.macs / 281640 }));

/** A deterministic pseudo-random sequence in [0, 1) (an LCG; fixtures only). @param {number} seed */
function lcg(seed) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** @param {number} n @param {number} seed @returns {number[]} */
function bitsList(n, seed) {
  const r = lcg(seed);
  return Array.from({ length: n }, () => 2 + Math.floor(r() * 7));
}

/**
 * A run's episodes: warm-up first, rewards drifting upwards, BOPs around the budget.
 * @param {number} count @param {number} warmup @param {number} seed
 */
export function episodes(count, warmup, seed) {
  const r = lcg(seed);
  return Array.from({ length: count }, (_, i) => {
    const wbits = bitsList(5, seed * 100 + i);
    const abits = bitsList(5, seed * 200 + i);
    const costRatio = wbits.reduce((s, w, j) => s + LAYERS[j].macShare * w * abits[j], 0) / 1024;
    const acr = 0.35 + 0.25 * r() + 0.004 * i;
    return {
      episode: i, wbits, abits, costRatio, isWarmup: i < warmup, reward: 0.1 * (acr - 0.62), wallMs: 900 + 100 * r(),
      metrics: { acr, accuracy: 0.9 + 0.08 * r(), fp32Acr: 0.62, fp32Accuracy: 0.985, fineTuneMs: 300, irsMs: 500, agentMs: 50 },
    };
  });
}

/** A layer's weights ([channel][...] order) with per-channel clips and their grid. */
export function histogram() {
  const r = lcg(7);
  const channels = 6;
  const per = 25;
  const weights = Array.from({ length: channels * per }, (_, i) => {
    const c = Math.floor(i / per);
    return (r() + r() + r() - 1.5) * (0.2 + 0.05 * c);
  });
  const thresholds = Array.from({ length: channels }, (_, c) => 0.18 + 0.04 * c);
  const clipped = weights.filter((w, i) => Math.abs(w) > thresholds[Math.floor(i / per)]).length;
  return { layer: 0, weights, thresholds, bits: 3, levels: 3, clipped };
}

export const FINAL_ROWS = [
  ['FP32', 1, 178000, 0.985, 0.62], ['W4A4', 0.015625, 11500, 0.97, 0.55], ['random', 0.0152, 11000, 0.965, 0.53],
  ['HAQ-reward', 0.0155, 11800, 0.978, 0.56], ['ARQ', 0.0154, 11700, 0.975, 0.59],
].map(([name, bopsRatio, sizeBytes, testAccuracy, acr]) => ({
  name, fragment: '', bopsRatio, sizeBytes, testAccuracy,
  summary: { grid: [0, 0.25, 0.5, 0.75, 1], acr, certifiedAccuracy: [0.97, 0.9, 0.78, 0.55, 0.2].map((x) => x * Number(acr) / 0.62) },
}));
