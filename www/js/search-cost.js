// What a search costs before it starts: the time estimate from an episode measured here
// (scaled part by part to other settings), and the search presets, each button labelled with
// its cost (time once an episode was measured, else its work relative to the default).
import { el } from './dom.js';
import * as fmt from './format.js';

/**
 * @typedef {import('./types.js').Field} Field
 * @typedef {import('./quant-types.js').EpisodeRecord} EpisodeRecord
 * @typedef {{episode: EpisodeRecord, values: Record<string, string>}} Measured an episode
 *   with the settings it ran with
 */

/** The search settings a preset sets; the default is the schema's. */
export const SEARCH_PRESETS = [
  { id: 'default', label: 'Browser default', patch: /** @type {Record<string, string>} */ ({}) },
  { id: 'longer', label: 'Longer', patch: { episodes: '120', warmup: '20', spoints: '100', sft: '50' } },
  { id: 'haq', label: 'HAQ-scale', patch: { episodes: '600', warmup: '100', spoints: '200', sft: '100' } },
];
/** The keys the presets touch. */
const KEYS = ['episodes', 'warmup', 'spoints', 'sft'];

/** "about 40 s", "about 3 min", or "under 1 s". @param {number} seconds */
export const about = (seconds) => (seconds < 1 ? 'under 1 s' : `about ${fmt.duration(seconds)}`);

/** @param {Record<string, string>} o @param {string} k */
const n = (o, k) => Number(o[k]) || 0;
/** @param {number} a @param {number} b */
const ratio = (a, b) => (a > 0 && b > 0 ? a / b : 1);

/**
 * The time a search with settings `v` takes, scaled from one measured episode part by part:
 * fine-tune by sft, IRS by spoints * np, calibration by calib, the agent update by hidden^2,
 * the rest by spoints. Null before any episode was measured. The FP32 reference on the search
 * split (certified once per session and settings) comes on top.
 * @param {Record<string, string>} v @param {Measured | null} m
 * @returns {{perEpisode: number, total: number} | null}
 */
export function estimate(v, m) {
  const wall = m?.episode.wallMs;
  if (!m || wall === null || wall === undefined) return null;
  const e = m.episode;
  const w = m.values;
  const part = (/** @type {string} */ k) => (e.metrics[k] ?? 0) / 1000;
  const [ft, irs, cal, agent] = ['fineTuneMs', 'irsMs', 'calibrateMs', 'agentMs'].map(part);
  const other = Math.max(0, wall / 1000 - ft - irs - cal - agent);
  const perEpisode = ft * (n(w, 'sft') > 0 ? n(v, 'sft') / n(w, 'sft') : 1)
    + irs * ratio(n(v, 'spoints') * n(v, 'np'), n(w, 'spoints') * n(w, 'np'))
    + cal * ratio(n(v, 'calib'), n(w, 'calib'))
    + agent * ratio(n(v, 'hidden') ** 2, n(w, 'hidden') ** 2)
    + other * ratio(n(v, 'spoints'), n(w, 'spoints'));
  return { perEpisode, total: perEpisode * n(v, 'episodes') };
}

/**
 * The settings of each preset (the default's from the schema).
 * @param {Field[]} schema @param {Record<string, string>} values
 */
export function presetValues(schema, values) {
  /** @type {Record<string, string>} */
  const defaults = {};
  for (const f of schema) if (KEYS.includes(f.key)) defaults[f.key] = f.default;
  return SEARCH_PRESETS.map((p) => ({ ...p, patch: { ...defaults, ...p.patch }, values: { ...values, ...defaults, ...p.patch } }));
}

/**
 * Preset buttons labelled with their cost.
 * @param {Field[]} schema @param {Record<string, string>} values @param {Measured | null} m
 * @param {(patch: Record<string, string>) => void} apply
 */
export function presetButtons(schema, values, m, apply) {
  const presets = presetValues(schema, values);
  const base = presets[0].values;
  const work = (/** @type {Record<string, string>} */ v) => n(v, 'episodes') * (n(v, 'spoints') * n(v, 'np') + 10 * n(v, 'sft'));
  return presets.map((p) => {
    const est = estimate(p.values, m);
    const cost = est ? `${about(est.total)} here` : p.id === 'default' ? 'the reference' : `${d3.format('.2~r')(work(p.values) / work(base))}× the default's work`;
    const current = KEYS.every((k) => values[k] === p.patch[k]);
    const title = `${p.patch.episodes} episodes (${p.patch.warmup} warm-up), ${p.patch.spoints} search points, ${p.patch.sft} fine-tune batches per episode`;
    const button = el('button', { type: 'button', 'data-idle-only': true, 'data-preset': p.id, 'aria-pressed': String(current), title },
      [`${p.label}: ${p.patch.episodes} episodes, ${cost}`]);
    button.disabled = document.body.hasAttribute('data-busy');
    button.addEventListener('click', () => apply(p.patch));
    return button;
  });
}
