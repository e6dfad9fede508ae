// The data tables behind the Search view's three charts (visually hidden: for screen readers
// and as a fallback).
import { dataTable } from './dom.js';
import * as fmt from './format.js';
import { frontier, metricOf, rewardSeries } from './search-charts.js';

/**
 * @typedef {import('./quant-types.js').EpisodeRecord} EpisodeRecord
 * @typedef {import('./quant-types.js').SearchRun} SearchRun
 * @typedef {import('./search-charts.js').Metric} Metric
 */

/** @param {number[]} b */
const bitsText = (b) => b.map((x) => (x >= 32 ? 'f' : x)).join(',');

/** @param {SearchRun | null} run */
export function rewardTable(run) {
  const s = rewardSeries(run?.episodes ?? []);
  return dataTable(`Reward per episode${run ? ` of ${run.label}` : ''}: raw, the mean of the last episodes, and the best so far`,
    ['episode', 'warm-up', 'reward', 'moving mean', 'best so far'],
    s.map((d) => [d.episode + 1, d.warmup ? 'yes' : 'no', fmt.real(d.raw), fmt.real(d.smooth), fmt.real(d.best)]));
}

/** @param {SearchRun[]} runs @param {Metric} metric */
export function paretoTable(runs, metric) {
  const rows = runs.flatMap((run) => {
    const front = new Set(frontier(run.episodes, metric));
    return run.episodes.map((e) => [run.label, e.episode + 1, fmt.percent(e.costRatio), fmt.fixed(metricOf(e, 'acr')),
      fmt.percent(metricOf(e, 'accuracy'), 1), front.has(e) ? 'yes' : 'no', `W ${bitsText(e.wbits)} A ${bitsText(e.abits)}`]);
  });
  return dataTable(`Every episode's cost and quality; "frontier" marks the non-dominated ones by ${metric === 'acr' ? 'ACR' : 'clean accuracy'}`,
    ['run', 'episode', 'BOPs % of FP32', 'ACR', 'clean accuracy', 'frontier', 'bits'], rows);
}

/** @param {SearchRun | null} run @param {string[]} names */
export function heatmapTable(run, names) {
  return dataTable(`Bits per layer and episode${run ? ` of ${run.label}` : ''} (f = full precision)`,
    ['episode', ...names.map((n) => `W ${n}`), ...names.map((n) => `A ${n}`)],
    (run?.episodes ?? []).map((e) => [e.episode + 1, ...e.wbits.map((b) => (b >= 32 ? 'f' : b)), ...e.abits.map((b) => (b >= 32 ? 'f' : b))]));
}
