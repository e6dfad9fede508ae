// d3 charts of the Search view: reward per episode (raw, a moving mean, best so far; warm-up
// shaded) and the Pareto scatter of BOPs % (log axis) against ACR or clean accuracy, with the
// budget line, baseline markers and each run's frontier. Clicking a point (or Enter on the
// keyboard cursor) hands its episode to `onPick`. Both redraw at most once per frame and at
// their container's width; the numbers are in the view's data tables.
import { Chart, axesFrame, hoverRule } from './charts.js';
import * as fmt from './format.js';

/**
 * @typedef {import('./quant-types.js').EpisodeRecord} EpisodeRecord
 * @typedef {import('./quant-types.js').SearchRun} SearchRun
 * @typedef {{label: string, bopsRatio: number, acr: number, accuracy: number}} Baseline
 * @typedef {import('./charts.js').Margins} Margins
 * @typedef {'acr'|'accuracy'} Metric
 */

export const SERIES = { raw: '#8a949e', smooth: '#0072B2', best: '#009E73' }; // Okabe-Ito
/** The moving mean's window, in episodes. */
export const WINDOW = 5;

/** @param {EpisodeRecord[]} eps @returns {{episode: number, raw: number, smooth: number, best: number, warmup: boolean}[]} */
export function rewardSeries(eps) {
  let best = -Infinity;
  return eps.map((e, i) => {
    best = Math.max(best, e.reward);
    const win = eps.slice(Math.max(0, i - WINDOW + 1), i + 1);
    return { episode: e.episode, raw: e.reward, smooth: d3.mean(win, (w) => w.reward) ?? e.reward, best, warmup: e.isWarmup };
  });
}

/** @param {EpisodeRecord} e @param {Metric} metric */
export const metricOf = (e, metric) => e.metrics[metric] ?? Number.NaN;

/** Lines describing an episode (tooltips, status). @param {EpisodeRecord} e @param {string} label */
export function episodeLines(e, label) {
  const bits = (/** @type {number[]} */ b) => b.map((x) => (x >= 32 ? 'f' : x)).join(',');
  return [
    `${label} · episode ${e.episode + 1}${e.isWarmup ? ' (warm-up)' : ''}`,
    `reward ${fmt.real(e.reward)} · BOPs ${fmt.percent(e.costRatio)}`,
    `ACR ${fmt.fixed(metricOf(e, 'acr'))} · accuracy ${fmt.percent(metricOf(e, 'accuracy'), 1)}`,
    `W ${bits(e.wbits)} · A ${bits(e.abits)}`,
  ];
}

/**
 * Sizes and empties the chart's svg and draws its axes, grid and titles (a log x axis gets
 * 1-2-5 ticks: its default ticks crowd).
 * @param {Chart} chart
 * @param {{width: number, height: number, m: Margins}} box
 * @param {import('d3').ScaleContinuousNumeric<number, number>} x @param {import('d3').ScaleLinear<number, number>} y
 * @param {string} xTitle @param {string} yTitle @param {(d: number) => string} xFormat @param {(d: number) => string} yFormat
 */
function frame(chart, box, x, y, xTitle, yTitle, xFormat, yFormat) {
  const g = chart.canvas(box.width, box.height);
  const [x0, x1] = x.domain();
  const logTicks = [1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1].filter((t) => t >= x0 && t <= x1);
  const axis = d3.axisBottom(x).tickFormat((d) => xFormat(Number(d)));
  if ('base' in x) axis.tickValues(logTicks);
  else axis.ticks(Math.max(2, Math.floor(box.width / 90)));
  axesFrame(g, box, axis, y, xTitle, yTitle, yFormat);
  return g;
}

/** Reward per episode of one run. */
export class RewardChart extends Chart {
  /** @param {HTMLElement} host an empty, position: relative element */
  constructor(host) {
    super(host, 'reward');
    /** @type {SearchRun | null} */
    this.run = null;
  }

  /** @param {SearchRun | null} run */
  show(run) {
    this.run = run;
    this.redraw();
  }

  /** @override */
  draw() {
    const run = this.run;
    const eps = run?.episodes ?? [];
    const s = rewardSeries(eps);
    const box = { width: Math.max(280, this.host.clientWidth), height: 240, m: { top: 14, right: 16, bottom: 38, left: 58 } };
    const { width, height, m } = box;
    const x = d3.scaleLinear().domain([0, Math.max(run?.planned ?? 1, eps.length, 2)]).range([m.left, width - m.right]);
    const lo = d3.min(s, (d) => d.raw) ?? -0.01;
    const hi = d3.max(s, (d) => d.raw) ?? 0.01;
    const pad = Math.max(1e-4, (hi - lo) * 0.08);
    const y = d3.scaleLinear().domain([lo - pad, hi + pad]).nice().range([height - m.bottom, m.top]);
    const g = frame(this, box, x, y, 'episode', 'reward', d3.format('~d'), d3.format('.3~r'));
    const warm = s.filter((d) => d.warmup).length || (run?.warmup ?? 0);
    if (warm > 0) {
      const x1 = x(Math.min(warm, x.domain()[1]));
      g.append('rect').attr('class', 'warmup-band').attr('x', x(0)).attr('y', m.top).attr('width', Math.max(0, x1 - x(0))).attr('height', height - m.top - m.bottom);
      g.append('text').attr('class', 'band-label').attr('x', x(0) + 4).attr('y', m.top + 11).text('warm-up (random actions)');
    }
    if (y.domain()[0] < 0 && y.domain()[1] > 0) {
      g.append('line').attr('class', 'zero-line').attr('x1', m.left).attr('x2', width - m.right).attr('y1', y(0)).attr('y2', y(0));
    }
    const px = (/** @type {{episode: number}} */ d) => x(d.episode + 1);
    /** @param {(d: ReturnType<typeof rewardSeries>[number]) => number} v @param {boolean} [step] */
    const line = (v, step) => d3.line().curve(step ? d3.curveStepAfter : d3.curveLinear)(/** @type {[number, number][]} */ (s.map((d) => [px(d), y(v(d))])));
    g.append('path').attr('class', 'series raw').attr('stroke', SERIES.raw).attr('d', line((d) => d.raw));
    g.append('path').attr('class', 'series smooth').attr('stroke', SERIES.smooth).attr('d', line((d) => d.smooth));
    g.append('path').attr('class', 'series best').attr('stroke', SERIES.best).attr('d', line((d) => d.best, true));
    g.append('g').selectAll('circle').data(s).join('circle').attr('class', (d) => `ep-dot${d.warmup ? ' warmup' : ''}`)
      .attr('cx', px).attr('cy', (d) => y(d.raw)).attr('r', 3).attr('stroke', SERIES.raw);
    hoverRule(g, box, this.tooltip, (mx) => {
      if (!s.length || !run) return null;
      const i = Math.max(0, Math.min(s.length - 1, Math.round(x.invert(mx)) - 1));
      return { x: px(s[i]), lines: [...episodeLines(eps[i], run.label), `moving mean ${fmt.real(s[i].smooth)} · best so far ${fmt.real(s[i].best)}`] };
    });
  }
}

/** BOPs % vs ACR (or accuracy) of every episode of every run. */
export class ParetoChart extends Chart {
  /**
   * @param {HTMLElement} host a focusable, position: relative element
   * @param {(run: SearchRun, e: EpisodeRecord) => void} onPick
   */
  constructor(host, onPick) {
    super(host, 'pareto');
    this.onPick = onPick;
    /** @type {SearchRun[]} */
    this.runs = [];
    /** @type {Baseline[]} */
    this.baselines = [];
    this.budget = Number.NaN;
    /** @type {Metric} */
    this.metric = 'acr';
    /** Keyboard cursor over the points, ordered by cost. */
    this.cursor = -1;
    /** @type {{run: SearchRun, e: EpisodeRecord}[]} */
    this.points = [];
    /** The last drawing's scales (for the keyboard cursor's tooltip). */
    this.x = d3.scaleLog();
    this.y = d3.scaleLinear();
    host.addEventListener('keydown', (ev) => this.key(ev));
    host.addEventListener('blur', () => this.tooltip.hide());
  }

  /** @param {SearchRun[]} runs @param {Baseline[]} baselines @param {number} budget @param {Metric} metric */
  set(runs, baselines, budget, metric) {
    this.runs = runs;
    this.baselines = baselines;
    this.budget = budget;
    this.metric = metric;
    this.redraw();
  }

  /** @override */
  draw() {
    const metric = this.metric;
    this.points = this.runs.flatMap((run) => run.episodes.map((e) => ({ run, e }))).filter((p) => Number.isFinite(metricOf(p.e, metric)))
      .sort((a, b) => a.e.costRatio - b.e.costRatio);
    const costs = [...this.points.map((p) => p.e.costRatio), ...this.baselines.map((b) => b.bopsRatio), ...(Number.isFinite(this.budget) ? [this.budget] : [])];
    const ys = [...this.points.map((p) => metricOf(p.e, metric)), ...this.baselines.map((b) => b[metric])].filter(Number.isFinite);
    const box = { width: Math.max(280, this.host.clientWidth), height: 280, m: { top: 14, right: 16, bottom: 38, left: 54 } };
    const { width, height, m } = box;
    const x = d3.scaleLog().domain([Math.max(1e-4, (d3.min(costs) ?? 0.01) / 1.5), Math.min(1.5, (d3.max(costs) ?? 0.02) * 1.5)]).range([m.left, width - m.right]);
    const yMax = metric === 'accuracy' ? 1 : Math.max(0.05, (d3.max(ys) ?? 0) * 1.1);
    const yMin = metric === 'accuracy' ? Math.max(0, Math.min(0.8, (d3.min(ys) ?? 0) - 0.05)) : 0;
    const y = d3.scaleLinear().domain([yMin, yMax]).nice().range([height - m.bottom, m.top]);
    const pct = d3.format('.2~%');
    const g = frame(this, box, x, y, 'BOPs, % of FP32 (log scale)', metric === 'acr' ? 'ACR (IRS, search split)' : 'clean accuracy (search split)',
      (d) => pct(d), metric === 'acr' ? d3.format('.2~f') : d3.format('.0%'));
    if (Number.isFinite(this.budget)) {
      const bx = x(this.budget);
      g.append('line').attr('class', 'budget-line').attr('x1', bx).attr('x2', bx).attr('y1', m.top).attr('y2', height - m.bottom);
      g.append('text').attr('class', 'budget-label').attr('x', bx + 4).attr('y', m.top + 10).text(`budget ${pct(this.budget)}`);
    }
    for (const run of this.runs) {
      const front = frontier(run.episodes, metric);
      if (front.length > 1) {
        g.append('path').attr('class', 'frontier').attr('stroke', run.color)
          .attr('d', d3.line().curve(d3.curveStepAfter)(/** @type {[number, number][]} */ (front.map((e) => [x(e.costRatio), y(metricOf(e, metric))]))));
      }
    }
    const base = g.append('g').attr('class', 'baselines').selectAll('g').data(this.baselines.filter((b) => Number.isFinite(b[metric]))).join('g')
      .attr('transform', (b) => `translate(${x(b.bopsRatio)},${y(b[metric])})`);
    base.append('path').attr('class', 'baseline-mark').attr('d', d3.symbol(d3.symbolDiamond, 80)());
    // Labels go above or below their marker, and are left out where they would overlap one
    // already placed (the tooltip still names every marker).
    /** @type {{x: number, y: number, w: number}[]} */
    const placed = [];
    base.each(function (b) {
      const bx = x(b.bopsRatio);
      const by = y(b[metric]);
      const w = b.label.length * 6;
      const dy = [-9, 17, -21, 29].find((d) => placed.every((p) => Math.abs(p.y - (by + d)) > 12 || p.x - p.w > bx - 6 || p.x < bx - 6 - w));
      if (dy === undefined) return;
      placed.push({ x: bx - 6, y: by + dy, w });
      d3.select(this).append('text').attr('class', 'baseline-label').attr('x', -6).attr('y', dy).attr('text-anchor', 'end').text(b.label);
    });
    this.tooltip.follow(base, (b) => [b.label, `BOPs ${fmt.percent(b.bopsRatio)}`, `ACR ${fmt.fixed(b.acr)} · accuracy ${fmt.percent(b.accuracy, 1)}`]);
    g.append('g').attr('class', 'points').selectAll('circle').data(this.points).join('circle')
      .attr('class', (p, i) => `pt${p.e.isWarmup ? ' warmup' : ''}${p.run.best?.episode === p.e.episode ? ' best' : ''}${i === this.cursor ? ' cursor' : ''}`)
      .attr('data-run', (p) => p.run.id).attr('data-episode', (p) => p.e.episode)
      .attr('data-wb', (p) => p.e.wbits.map((b) => (b >= 32 ? 'f' : b)).join(',')).attr('data-ab', (p) => p.e.abits.map((b) => (b >= 32 ? 'f' : b)).join(','))
      .attr('cx', (p) => x(p.e.costRatio)).attr('cy', (p) => y(metricOf(p.e, metric))).attr('r', 5)
      .attr('fill', (p) => p.run.color)
      .call((pts) => this.tooltip.follow(pts, (p) => [...episodeLines(p.e, p.run.label), 'click: load this policy into the bit editor']))
      .on('click', (_ev, p) => this.onPick(p.run, p.e));
    this.x = x;
    this.y = y;
  }

  /** Arrow keys move a cursor over the points (by cost); Enter loads it. @param {KeyboardEvent} ev */
  key(ev) {
    if (!this.points.length) return;
    if (ev.key === 'ArrowRight' || ev.key === 'ArrowLeft') {
      ev.preventDefault();
      this.cursor = Math.max(0, Math.min(this.points.length - 1, this.cursor < 0 ? 0 : this.cursor + (ev.key === 'ArrowRight' ? 1 : -1)));
      this.draw();
      const p = this.points[this.cursor];
      this.tooltip.show([...episodeLines(p.e, p.run.label), 'Enter: load this policy'], this.x(p.e.costRatio), this.y(metricOf(p.e, this.metric)));
    } else if ((ev.key === 'Enter' || ev.key === ' ') && this.cursor >= 0) {
      ev.preventDefault();
      const p = this.points[this.cursor];
      this.onPick(p.run, p.e);
    }
  }
}

/**
 * The non-dominated episodes (no other is at most as costly and strictly better), by cost.
 * @param {EpisodeRecord[]} eps @param {Metric} metric
 */
export function frontier(eps, metric) {
  const sorted = eps.filter((e) => Number.isFinite(metricOf(e, metric))).sort((a, b) => a.costRatio - b.costRatio || metricOf(b, metric) - metricOf(a, metric));
  /** @type {EpisodeRecord[]} */
  const out = [];
  for (const e of sorted) if (!out.length || metricOf(e, metric) > metricOf(out[out.length - 1], metric)) out.push(e);
  return out;
}
