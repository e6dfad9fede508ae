// d3 charts of the Certify view: certified accuracy vs radius (one step curve per run, a
// dashed line at each run's R_max, "partial" while running) and the per-example radius plot
// (click or Enter on a point to see that test digit in the noise view). Both draw at their
// container's width; the numbers are in the view's data tables.
import { Chart, axesFrame, hoverRule } from './charts.js';
import * as fmt from './format.js';

/**
 * @typedef {import('./types.js').CertRecord} CertRecord
 * @typedef {import('./certify-view.js').CertRun} CertRun
 * @typedef {import('./charts.js').Margins} Margins
 */

// Okabe-Ito (colour-blind safe): bluish green, vermillion, grey
export const OUTCOME_COLORS = { correct: '#009E73', wrong: '#D55E00', abstain: '#8a949e' };

/** @param {CertRun} run */
export const isPartial = (run) => run.state !== 'done';

/** @param {CertRecord} r @returns {'correct'|'wrong'|'abstain'} */
export const outcome = (r) => (r.prediction === null ? 'abstain' : r.correct ? 'correct' : 'wrong');

/**
 * The certified-accuracy step curve of a run's records: acc(r) = #{correct and radius >= r} / N
 * holds from each point's r to the next one's (d3.curveStepAfter).
 * @param {CertRecord[]} records
 * @returns {{r: number, acc: number}[]}
 */
export function curveSteps(records) {
  const total = records.length;
  if (!total) return [];
  const radii = records.filter((r) => r.correct).map((r) => r.radius).sort((a, b) => a - b);
  const steps = [{ r: 0, acc: radii.length / total }];
  radii.forEach((radius, i) => {
    if (radii[i + 1] !== radius) steps.push({ r: radius, acc: (radii.length - i - 1) / total });
  });
  return steps;
}

/** Certified accuracy at radius r. @param {CertRecord[]} records @param {number} r */
export const accuracyAt = (records, r) => (records.length ? records.filter((x) => x.correct && x.radius >= r).length / records.length : 0);

/** The distinct R_max values of the runs, with the n that set them. @param {CertRun[]} runs */
function capsOf(runs) {
  /** @type {Map<string, {rMax: number, n: number, color: string}>} */
  const caps = new Map();
  for (const run of runs) {
    if (run.summary) caps.set(run.summary.rMax.toFixed(6), { rMax: run.summary.rMax, n: run.summary.n, color: run.color });
  }
  return [...caps.values()].sort((a, b) => a.rMax - b.rMax);
}

/** Certified accuracy vs radius, one step curve per run. */
export class CurveChart extends Chart {
  /** @param {HTMLElement} host an empty, position: relative element */
  constructor(host) {
    super(host, 'curve');
    /** @type {CertRun[]} */
    this.runs = [];
    /** The last drawing's width: a resize hides the tooltip, a data update keeps it. */
    this.width = 0;
  }

  /** @param {CertRun[]} runs */
  setRuns(runs) {
    this.runs = runs;
    this.redraw();
  }

  /** @override */
  draw() {
    const width = Math.max(280, this.host.clientWidth);
    const height = 280;
    const m = { top: 18, right: 16, bottom: 38, left: 50 };
    if (width !== this.width) this.tooltip.hide();
    this.width = width;
    const caps = capsOf(this.runs);
    const maxRadius = d3.max(this.runs.flatMap((run) => run.records), (r) => r.radius) ?? 0;
    const xMax = Math.max(0.5, (caps.at(-1)?.rMax ?? 0) * 1.12, maxRadius * 1.05);
    const x = d3.scaleLinear().domain([0, xMax]).range([m.left, width - m.right]);
    const y = d3.scaleLinear().domain([0, 1]).range([height - m.bottom, m.top]);
    const g = this.canvas(width, height);
    axesFrame(g, { m, width, height }, d3.axisBottom(x).ticks(Math.max(2, Math.floor(width / 80))), y,
      'radius r (L2, pixel units in [0, 1])', 'certified accuracy', d3.format('.0%'));
    caps.forEach((cap, i) => {
      const cx = x(cap.rMax);
      const rule = g.append('g').attr('class', 'rmax').attr('data-rmax', cap.rMax);
      rule.append('line').attr('class', 'rmax-line').attr('x1', cx).attr('x2', cx).attr('y1', m.top).attr('y2', height - m.bottom).attr('stroke', cap.color);
      const anchor = cx > width - 170 ? 'end' : 'start';
      const dx = anchor === 'end' ? -4 : 4;
      rule.append('text').attr('class', 'rmax-label').attr('x', cx + dx).attr('y', m.top + 10 + 12 * i).attr('text-anchor', anchor)
        .text(`R_max = ${fmt.fixed(cap.rMax)} (n = ${fmt.int(cap.n)})`);
      if (i === caps.length - 1) {
        rule.append('text').attr('class', 'rmax-hint').attr('x', cx + dx).attr('y', m.top + 22 + 12 * i).attr('text-anchor', anchor)
          .text('raise n to move this cap');
      }
    });
    const line = d3.line().curve(d3.curveStepAfter);
    for (const run of this.runs) {
      const steps = curveSteps(run.records);
      if (!steps.length) continue;
      const pts = /** @type {[number, number][]} */ ([...steps, { r: xMax, acc: steps[steps.length - 1].acc }].map((s) => [x(s.r), y(s.acc)]));
      g.append('path').attr('class', `run-line${isPartial(run) ? ' partial' : ''}`).attr('data-run', run.id)
        .attr('stroke', run.color).attr('d', line(pts));
      if (run.state === 'running') {
        g.append('text').attr('class', 'partial-label').attr('x', pts[0][0] + 6).attr('y', pts[0][1] - 6).attr('fill', run.color)
          .text(`partial: ${run.records.length} of ${run.progress.examplesTotal} points`);
      }
    }
    this.addHover(g, x, { m, width, height });
  }

  /**
   * @param {import('d3').Selection<SVGGElement, unknown, null, undefined>} g
   * @param {import('d3').ScaleLinear<number, number>} x
   * @param {{m: Margins, width: number, height: number}} box
   */
  addHover(g, x, box) {
    hoverRule(g, box, this.tooltip, (mx) => {
      const runs = this.runs.filter((run) => run.records.length);
      if (!runs.length) return null;
      const r = Math.max(0, x.invert(mx));
      return {
        x: x(r),
        lines: [`radius ${fmt.fixed(r, 2)}`, ...runs.map((run) =>
          `${run.label}${isPartial(run) ? ' (partial)' : ''}: ${fmt.percent(accuracyAt(run.records, r), 1)}`)],
      };
    });
  }
}

/** One run's radius per test point; colour = correct / wrong / abstain. */
export class RadiusPlot extends Chart {
  /**
   * @param {HTMLElement} host a focusable, position: relative element
   * @param {(testIndex: number) => void} onPick
   */
  constructor(host, onPick) {
    super(host, 'radii');
    this.onPick = onPick;
    /** @type {CertRun | null} */
    this.run = null;
    /** Keyboard cursor: a position in the run's records. */
    this.cursor = -1;
    this.width = 0;
    /** The last drawing's scales (for the keyboard cursor's tooltip). */
    this.x = d3.scaleLinear();
    this.y = d3.scaleLinear();
    host.addEventListener('keydown', (ev) => this.key(ev));
    host.addEventListener('blur', () => this.tooltip.hide());
  }

  /** @param {CertRun | null} run */
  show(run) {
    if (run !== this.run) {
      this.cursor = -1;
      this.tooltip.hide();
    }
    this.run = run;
    this.redraw();
  }

  /** @param {CertRecord} r */
  testIndex(r) {
    return r.index - (this.run?.testOffset ?? 0);
  }

  /** @override */
  draw() {
    const width = Math.max(280, this.host.clientWidth);
    const height = 220;
    const m = { top: 14, right: 16, bottom: 38, left: 50 };
    if (width !== this.width) this.tooltip.hide();
    this.width = width;
    const records = this.run?.records ?? [];
    const rMax = this.run?.summary?.rMax ?? 0;
    const maxIndex = d3.max(records, (r) => this.testIndex(r)) ?? 1;
    const x = d3.scaleLinear().domain([0, Math.max(1, maxIndex)]).nice().range([m.left + 6, width - m.right - 6]);
    const y = d3.scaleLinear().domain([0, Math.max(0.25, rMax, d3.max(records, (r) => r.radius) ?? 0) * 1.08]).range([height - m.bottom, m.top]);
    const g = this.canvas(width, height);
    axesFrame(g, { m, width, height }, d3.axisBottom(x).ticks(Math.max(2, Math.floor(width / 80))), y, 'test digit #', 'certified radius', d3.format('.2~f'));
    if (this.run?.summary) {
      g.append('line').attr('class', 'rmax-line horizontal').attr('x1', m.left).attr('x2', width - m.right)
        .attr('y1', y(rMax)).attr('y2', y(rMax));
    }
    g.append('g').attr('class', 'points').selectAll('circle').data(records).join('circle')
      .attr('class', (r, i) => `pt ${outcome(r)}${i === this.cursor ? ' cursor' : ''}`)
      .attr('data-index', (r) => this.testIndex(r))
      .attr('cx', (r) => x(this.testIndex(r))).attr('cy', (r) => y(r.radius)).attr('r', 4.5)
      .attr('fill', (r) => OUTCOME_COLORS[outcome(r)])
      .call((pts) => this.tooltip.follow(pts, (r) => this.lines(r)))
      .on('click', (_ev, r) => this.onPick(this.testIndex(r)));
    this.x = x;
    this.y = y;
  }

  /** @param {CertRecord} r @returns {string[]} */
  lines(r) {
    const what = r.prediction === null ? 'ABSTAIN' : `predicted ${r.prediction} (${r.correct ? 'correct' : 'wrong'})`;
    return [
      `test digit #${fmt.int(this.testIndex(r))} · label ${r.label}`,
      what,
      `radius ${fmt.fixed(r.radius)}`,
      `pA_low ${fmt.fixed(r.pLower, 5)} · count ${fmt.int(r.count)} / ${fmt.int(r.n)}`,
      'click: see it under noise',
    ];
  }

  /** Arrow keys move a cursor over the points, Enter opens it in the noise view. @param {KeyboardEvent} ev */
  key(ev) {
    const records = this.run?.records ?? [];
    if (!records.length) return;
    const moves = { ArrowRight: 1, ArrowLeft: -1, Home: -Infinity, End: Infinity };
    if (ev.key in moves) {
      ev.preventDefault();
      const d = moves[/** @type {keyof typeof moves} */ (ev.key)];
      const next = this.cursor < 0 ? 0 : this.cursor + d;
      this.cursor = Math.max(0, Math.min(records.length - 1, Number.isFinite(next) ? next : d > 0 ? records.length : 0));
      this.draw();
      const r = records[this.cursor];
      this.tooltip.show(this.lines(r), this.x(this.testIndex(r)), this.y(r.radius));
    } else if ((ev.key === 'Enter' || ev.key === ' ') && this.cursor >= 0) {
      ev.preventDefault();
      this.onPick(this.testIndex(records[this.cursor]));
    }
  }
}
