// What the engine's quantization and search methods return, normalised into the page's types
// (quant-types.js). docs/wasm-api.md is the contract; the engine's serde structs spell some
// things differently (e.g. cost.ratio for bopsRatio, isWarmup for warmup, workDone/workTotal
// for progress, the read-out's numbers inside Summary objects), so each field is read from the
// documented name first and from the engine's spelling second. Used by worker-quant.js.

/**
 * @typedef {import('./quant-types.js').Cost} Cost
 * @typedef {import('./quant-types.js').PolicyInfo} PolicyInfo
 * @typedef {import('./quant-types.js').QuantEval} QuantEval
 * @typedef {import('./quant-types.js').EpisodeRecord} EpisodeRecord
 * @typedef {import('./quant-types.js').SearchProgress} SearchProgress
 * @typedef {import('./quant-types.js').FinalRow} FinalRow
 */

/** The first finite number among `values`, else `fallback`. @param {unknown[]} values @param {number} [fallback] */
export function first(values, fallback = Number.NaN) {
  for (const v of values) if (typeof v === 'number' && Number.isFinite(v)) return v;
  return fallback;
}

/** @param {any} o @param {string[]} keys @param {number} [fallback] */
export const num = (o, keys, fallback = Number.NaN) => first(keys.map((k) => o?.[k]), fallback);

/** @param {unknown} v @returns {number[]} */
export const numbers = (v) => (Array.isArray(v) || ArrayBuffer.isView(v) ? Array.from(/** @type {ArrayLike<number>} */ (v), Number) : []);

/** Bit widths as numbers, 'f' -> 32. @param {unknown} v @returns {number[]} */
export const bitsOf = (v) => (Array.isArray(v) || ArrayBuffer.isView(v)
  ? Array.from(/** @type {ArrayLike<unknown>} */ (v), (b) => (b === 'f' || b === 'F' ? 32 : Number(b))) : []);

/** Bit widths in the URL's words: 32 -> 'f'. @param {number[]} b */
export const bitsText = (b) => b.map((x) => (x >= 32 ? 'f' : String(x))).join(',');

/** @param {any} c @returns {Cost} */
export function costOf(c) {
  const bops = num(c, ['bops']);
  return {
    bops,
    bopsRatio: num(c, ['bopsRatio', 'ratio']),
    sizeBytes: num(c, ['sizeBytes']),
    fp32SizeBytes: num(c, ['fp32SizeBytes']),
    compression: num(c, ['compression']),
    layers: (Array.isArray(c?.layers) ? c.layers : []).map((/** @type {any} */ l) => ({
      name: String(l.name), wbits: num(l, ['wbits', 'wBits']), abits: num(l, ['abits', 'aBits']), bops: num(l, ['bops']),
      bopsShare: num(l, ['bopsShare'], bops > 0 ? num(l, ['bops']) / bops : 0),
    })),
  };
}

/** @param {any} p @returns {PolicyInfo} */
export function policyOf(p) {
  const wb = bitsOf(p.wb ?? p.wbits);
  return {
    wb, ab: bitsOf(p.ab ?? p.abits),
    locks: Array.from(p.locks ?? p.lk ?? wb.map(() => false), Boolean),
    fragment: String(p.fragment ?? ''), cost: costOf(p.cost), budget: num(p, ['budget']),
    withinBudget: Boolean(p.withinBudget),
  };
}

/**
 * A read-out: the documented flat fields, or the engine's {summary, fp32, pointsAccuracy,
 * fp32PointsAccuracy} (clean accuracy = the base classifier's on the certified points).
 * @param {any} r @returns {QuantEval}
 */
export function quantEvalOf(r) {
  const s = r.summary ?? {};
  const f = r.fp32 ?? {};
  return {
    fragment: String(r.fragment ?? ''), cost: costOf(r.cost),
    cleanAccuracy: first([r.cleanAccuracy, r.pointsAccuracy, s.cleanAccuracy]),
    fp32CleanAccuracy: first([r.fp32CleanAccuracy, r.fp32PointsAccuracy, f.cleanAccuracy]),
    acr: first([r.acr, s.acr]), fp32Acr: first([r.fp32Acr, f.acr]),
    grid: numbers(r.grid ?? s.grid), certifiedAccuracy: numbers(r.certifiedAccuracy ?? s.certifiedAccuracy),
    fp32CertifiedAccuracy: numbers(r.fp32CertifiedAccuracy ?? f.certifiedAccuracy), irs: r.irs ?? null,
    alpha: first([s.alpha]), rMax: first([s.rMax]), irsGuarantee: s.irs ?? null,
  };
}

/** @param {any} e @param {number | null} wallMs @returns {EpisodeRecord} */
export function episodeOf(e, wallMs) {
  /** @type {Record<string, number>} */
  const metrics = {};
  const raw = e.metrics instanceof Map ? Object.fromEntries(e.metrics) : e.metrics ?? {};
  for (const [k, v] of Object.entries(raw)) if (typeof v === 'number') metrics[k] = v;
  return {
    episode: num(e, ['episode']), wbits: bitsOf(e.wbits), abits: bitsOf(e.abits), reward: num(e, ['reward']),
    costRatio: num(e, ['costRatio']), warmup: Boolean(e.warmup ?? e.isWarmup), metrics, wallMs,
  };
}

/**
 * Search progress: documented {episode, episodes, done, total} or the engine's
 * {phase, episode, episodes, done: boolean, workDone, workTotal}.
 * @param {any} p @returns {SearchProgress}
 */
export const searchProgressOf = (p) => ({
  episode: num(p, ['episode'], 0), episodes: num(p, ['episodes'], 0),
  done: num(p, ['workDone', 'done'], 0), total: num(p, ['workTotal', 'total'], 0),
});

/** A step's {done, total} work: `progress` or workDone / workTotal. @param {any} step */
export const workOf = (step) => ({
  done: first([step?.progress?.done, step?.workDone], 0), total: first([step?.progress?.total, step?.workTotal], 0),
});

/** A final-table row: documented flat fields or the engine's {testAccuracy, summary}. @param {any} r @returns {FinalRow} */
export function finalRowOf(r) {
  const s = r.summary ?? {};
  return {
    name: String(r.name), fragment: String(r.fragment ?? ''), bopsRatio: num(r, ['bopsRatio', 'costRatio']),
    sizeBytes: num(r, ['sizeBytes']), cleanAccuracy: first([r.cleanAccuracy, r.testAccuracy, s.cleanAccuracy]),
    grid: numbers(r.grid ?? s.grid), certifiedAccuracy: numbers(r.certifiedAccuracy ?? s.certifiedAccuracy), acr: first([r.acr, s.acr]),
  };
}

/** The config's fragment with the policy keys replaced by `policy` ('wb=..&ab=..&lk=..'). @param {string} fragment @param {string} policy */
export function withPolicy(fragment, policy) {
  const keep = fragment.replace(/^#/, '').split('&').filter((p) => p && !/^(wb|ab|lk)=/.test(p));
  return `#${[...keep, ...policy.split('&').filter(Boolean)].join('&')}`;
}
