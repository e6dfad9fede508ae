// d3 charts: the live training chart and the confusion-matrix heatmap, and the scaffolding
// every chart module shares (Chart, Tooltip, hoverRule, axesFrame, frameScheduler). Each chart
// draws at its container's width (redrawn on resize), has axes, a legend or axis titles, a
// tooltip, and leaves the numbers to a data table (see the views).
import * as fmt from './format.js';

/**
 * @typedef {import('./protocol.js').TrainPoint} TrainPoint
 * @typedef {import('./protocol.js').EpochPoint} EpochPoint
 */

/** A tooltip inside a positioned container. */
export class Tooltip {
  /** @param {HTMLElement} host */
  constructor(host) {
    this.host = host;
    this.node = document.createElement('div');
    this.node.className = 'tooltip';
    this.node.setAttribute('aria-hidden', 'true');
    this.node.hidden = true;
    host.append(this.node);
  }

  /** @param {string[]} lines @param {number} x @param {number} y position in the host, px */
  show(lines, x, y) {
    this.node.replaceChildren(...lines.map((l) => Object.assign(document.createElement('div'), { textContent: l })));
    this.node.hidden = false;
    const w = this.node.offsetWidth;
    const left = Math.min(Math.max(0, x + 12), Math.max(0, this.host.clientWidth - w));
    this.node.style.left = `${left}px`;
    // Above the pointer, or below it when there is no room above.
    const above = y - this.node.offsetHeight - 8;
    this.node.style.top = `${above >= 0 ? above : y + 16}px`;
  }

  hide() {
    this.node.hidden = true;
  }

  /**
   * Shows `lines(d)` at the pointer while it is over an element of `sel`, hides it on leave.
   * @template {import('d3').BaseType} E @template D
   * @param {import('d3').Selection<E, D, any, any>} sel
   * @param {(d: D) => string[]} lines
   */
  follow(sel, lines) {
    sel.on('pointermove', (ev, d) => {
      const [px, py] = d3.pointer(ev, this.host);
      this.show(lines(d), px, py);
    }).on('pointerleave', () => this.hide());
  }
}

/** @typedef {{top: number, right: number, bottom: number, left: number}} Margins */

/**
 * A vertical hover rule over the plot area of `g`: on pointer moves, `move(mx)` gets the
 * pointer's x in the chart and returns where to put the rule and the tooltip's lines (or null
 * for nothing to show); on leave the rule and tooltip hide and `leave` runs.
 * @param {import('d3').Selection<SVGGElement, unknown, null, undefined>} g
 * @param {{m: Margins, width: number, height: number}} box
 * @param {Tooltip} tooltip
 * @param {(mx: number) => {x: number, lines: string[]} | null} move
 * @param {() => void} [leave]
 */
export function hoverRule(g, { m, width, height }, tooltip, move, leave = () => {}) {
  const rule = g.append('line').attr('class', 'hover-rule').attr('y1', m.top).attr('y2', height - m.bottom).style('display', 'none');
  g.append('rect').attr('class', 'hover-target').attr('x', m.left).attr('y', m.top)
    .attr('width', Math.max(0, width - m.left - m.right)).attr('height', Math.max(0, height - m.top - m.bottom))
    .on('pointermove', (/** @type {PointerEvent} */ ev) => {
      const at = move(d3.pointer(ev)[0]);
      if (!at) return;
      const [px, py] = d3.pointer(ev, tooltip.host);
      rule.attr('x1', at.x).attr('x2', at.x).style('display', null);
      tooltip.show(at.lines, px, py);
    })
    .on('pointerleave', () => {
      rule.style('display', 'none');
      tooltip.hide();
      leave();
    });
}

/** Wraps `draw` so that calls draw at most once per frame. @param {() => void} draw */
export function frameScheduler(draw) {
  let pending = false;
  return () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      draw();
    });
  };
}

/**
 * Grid lines at y's ticks, the x axis `xAxis` (a d3.axisBottom of x), a y axis with 5 ticks
 * and the two axis titles: the frame of the single-axis charts.
 * @param {import('d3').Selection<SVGGElement, unknown, null, undefined>} g
 * @param {{m: Margins, width: number, height: number}} box
 * @param {import('d3').Axis<any>} xAxis @param {import('d3').ScaleLinear<number, number>} y
 * @param {string} xTitle @param {string} yTitle @param {(d: number) => string} yFormat
 */
export function axesFrame(g, { m, width, height }, xAxis, y, xTitle, yTitle, yFormat) {
  g.append('g').attr('class', 'grid').selectAll('line').data(y.ticks(5)).join('line')
    .attr('x1', m.left).attr('x2', width - m.right).attr('y1', (d) => y(d)).attr('y2', (d) => y(d));
  g.append('g').attr('transform', `translate(0,${height - m.bottom})`).call(xAxis);
  g.append('g').attr('transform', `translate(${m.left},0)`).call(d3.axisLeft(y).ticks(5).tickFormat((d) => yFormat(Number(d))));
  g.append('text').attr('class', 'axis-title').attr('x', (m.left + width - m.right) / 2).attr('y', height - 4).attr('text-anchor', 'middle').text(xTitle);
  g.append('text').attr('class', 'axis-title').attr('transform', `translate(13,${(height - m.bottom + m.top) / 2}) rotate(-90)`).attr('text-anchor', 'middle').text(yTitle);
}

/**
 * The scaffolding every chart class shares: an svg of class `chart` (plus `kind`) and a
 * tooltip in the host, a redraw on width changes, and `redraw()` for at most one draw per
 * frame. Subclasses implement `draw()` and start it with `canvas(width, height)`.
 */
export class Chart {
  /** @param {HTMLElement} host an empty, position: relative element @param {string} [kind] */
  constructor(host, kind) {
    this.host = host;
    this.svg = d3.select(host).append('svg').attr('class', kind ? `chart ${kind}` : 'chart').attr('aria-hidden', 'true');
    this.tooltip = new Tooltip(host);
    this.redraw = frameScheduler(() => this.draw());
    onResize(host, () => this.draw());
  }

  /** Draws the chart (subclasses). */
  draw() {}

  /** Sizes and empties the svg. @param {number} width @param {number} height @returns the root group */
  canvas(width, height) {
    this.svg.attr('width', width).attr('height', height).attr('viewBox', `0 0 ${width} ${height}`);
    this.svg.selectAll('*').remove();
    return this.svg.append('g');
  }
}

// Okabe-Ito (colour-blind safe): vermillion, blue, bluish green
export const COLORS = { loss: '#D55E00', accuracy: '#0072B2', test: '#009E73', grid: '#e6e8eb' };

/** Redraws when the host's width changes. @param {HTMLElement} host @param {() => void} draw */
export function onResize(host, draw) {
  let width = host.clientWidth;
  new ResizeObserver(() => {
    if (host.clientWidth !== width) {
      width = host.clientWidth;
      draw();
    }
  }).observe(host);
}

/** The live loss / accuracy chart of a training run. */
export class TrainChart extends Chart {
  /** @param {HTMLElement} host an empty, position: relative element */
  constructor(host) {
    super(host);
    /** @type {TrainPoint[]} */
    this.points = [];
    /** @type {EpochPoint[]} */
    this.epochs = [];
    this.total = 1;
  }

  /** @param {number} totalBatches */
  reset(totalBatches) {
    this.points = [];
    this.epochs = [];
    this.total = totalBatches;
    this.draw();
  }

  /** Adds streamed points; draws at most once per frame. @param {TrainPoint[]} points @param {EpochPoint[]} epochs */
  add(points, epochs) {
    this.points.push(...points);
    this.epochs.push(...epochs);
    this.redraw();
  }

  /** @override */
  draw() {
    const width = Math.max(280, this.host.clientWidth);
    const height = 260;
    const m = { top: 14, right: 52, bottom: 38, left: 52 };
    const g = this.canvas(width, height);
    const x = d3.scaleLinear().domain([0, this.total]).range([m.left, width - m.right]);
    const maxLoss = d3.max(this.points, (p) => p.loss) ?? 1;
    const yLoss = d3.scaleLinear().domain([0, maxLoss]).nice().range([height - m.bottom, m.top]);
    const yAcc = d3.scaleLinear().domain([0, 1]).range([height - m.bottom, m.top]);
    g.append('g').attr('class', 'grid').selectAll('line').data(yAcc.ticks(5)).join('line')
      .attr('x1', m.left).attr('x2', width - m.right).attr('y1', (d) => yAcc(d)).attr('y2', (d) => yAcc(d));
    g.append('g').attr('class', 'epoch-rules').selectAll('line').data(this.epochs).join('line')
      .attr('x1', (d) => x(d.step)).attr('x2', (d) => x(d.step)).attr('y1', m.top).attr('y2', height - m.bottom);
    g.append('g').attr('transform', `translate(0,${height - m.bottom})`).call(d3.axisBottom(x).ticks(Math.max(2, Math.floor(width / 90))).tickFormat(d3.format('~s')));
    g.append('g').attr('transform', `translate(${m.left},0)`).call(d3.axisLeft(yLoss).ticks(5));
    g.append('g').attr('transform', `translate(${width - m.right},0)`).call(d3.axisRight(yAcc).ticks(5).tickFormat(d3.format('.0%')));
    g.append('text').attr('class', 'axis-title').attr('x', (m.left + width - m.right) / 2).attr('y', height - 4).attr('text-anchor', 'middle').text('mini-batches trained');
    g.append('text').attr('class', 'axis-title').attr('transform', `translate(14,${(height - m.bottom + m.top) / 2}) rotate(-90)`).attr('text-anchor', 'middle').attr('fill', COLORS.loss).text('loss');
    g.append('text').attr('class', 'axis-title').attr('transform', `translate(${width - 10},${(height - m.bottom + m.top) / 2}) rotate(90)`).attr('text-anchor', 'middle').attr('fill', COLORS.accuracy).text('accuracy');
    /** @param {(p: TrainPoint) => number} y */
    const line = (y) => d3.line().x((/** @type {any} */ p) => x(p.step)).y((/** @type {any} */ p) => y(p));
    g.append('path').attr('class', 'series').attr('stroke', COLORS.loss).attr('d', line((p) => yLoss(p.loss))(/** @type {any} */ (this.points)));
    g.append('path').attr('class', 'series').attr('stroke', COLORS.accuracy).attr('d', line((p) => yAcc(p.accuracy))(/** @type {any} */ (this.points)));
    g.append('g').selectAll('circle').data(this.epochs).join('circle').attr('class', 'test-point')
      .attr('cx', (d) => x(d.step)).attr('cy', (d) => yAcc(d.testAccuracy)).attr('r', 4).attr('fill', COLORS.test);
    this.addHover(g, x, yLoss, yAcc, { m, width, height });
  }

  /**
   * @param {import('d3').Selection<SVGGElement, unknown, null, undefined>} g
   * @param {import('d3').ScaleLinear<number, number>} x
   * @param {import('d3').ScaleLinear<number, number>} yLoss
   * @param {import('d3').ScaleLinear<number, number>} yAcc
   * @param {{m: Margins, width: number, height: number}} box
   */
  addHover(g, x, yLoss, yAcc, box) {
    const dots = [COLORS.loss, COLORS.accuracy].map((c) => g.append('circle').attr('r', 3.5).attr('fill', c).style('display', 'none'));
    const bisect = d3.bisector((/** @type {TrainPoint} */ p) => p.step).center;
    hoverRule(g, box, this.tooltip, (mx) => {
      if (!this.points.length) return null;
      const p = this.points[bisect(this.points, x.invert(mx))];
      const epoch = this.epochs.find((e) => e.step === p.step);
      dots[0].attr('cx', x(p.step)).attr('cy', yLoss(p.loss)).style('display', null);
      dots[1].attr('cx', x(p.step)).attr('cy', yAcc(p.accuracy)).style('display', null);
      return {
        x: x(p.step),
        lines: [
          `after ${fmt.int(p.step)} mini-batches`,
          `loss ${fmt.real(p.loss)}`,
          `accuracy ${fmt.percent(p.accuracy)}`,
          ...(epoch ? [`test accuracy ${fmt.percent(epoch.testAccuracy)}`] : []),
        ],
      };
    }, () => dots.forEach((d) => d.style('display', 'none')));
  }
}

/**
 * Draws a confusion matrix: rows = true label, columns = predicted, a number in each cell.
 * @param {HTMLElement} host an empty, position: relative element
 * @param {ArrayLike<number>} counts classes*classes counts, row-major
 * @param {number} classes
 */
export function confusionHeatmap(host, counts, classes) {
  const tooltip = new Tooltip(host);
  const svg = d3.select(host).append('svg').attr('class', 'chart heatmap').attr('aria-hidden', 'true');
  const cells = d3.range(classes * classes).map((i) => ({ t: Math.floor(i / classes), p: i % classes, n: counts[i] }));
  const draw = () => {
    const m = { top: 40, right: 8, bottom: 8, left: 48 };
    const side = Math.min(440, Math.max(240, host.clientWidth)) - m.left - m.right;
    const cell = side / classes;
    svg.attr('width', side + m.left + m.right).attr('height', side + m.top + m.bottom);
    svg.selectAll('*').remove();
    const max = d3.max(cells, (c) => c.n) ?? 1;
    const color = d3.scaleSequentialSqrt(d3.interpolateBlues).domain([0, max || 1]);
    const g = svg.append('g').attr('transform', `translate(${m.left},${m.top})`);
    const band = d3.scaleBand().domain(d3.range(classes).map(String)).range([0, side]);
    g.append('g').call(d3.axisTop(band).tickSize(0)).call((a) => a.select('.domain').remove());
    g.append('g').call(d3.axisLeft(band).tickSize(0)).call((a) => a.select('.domain').remove());
    g.append('text').attr('class', 'axis-title').attr('x', side / 2).attr('y', -26).attr('text-anchor', 'middle').text('predicted label');
    g.append('text').attr('class', 'axis-title').attr('transform', `translate(-34,${side / 2}) rotate(-90)`).attr('text-anchor', 'middle').text('true label');
    const cellG = g.selectAll('g.cell').data(cells).join('g').attr('class', 'cell')
      .attr('transform', (c) => `translate(${c.p * cell},${c.t * cell})`);
    cellG.append('rect').attr('width', cell - 1).attr('height', cell - 1).attr('fill', (c) => color(c.n))
      .attr('class', (c) => (c.t === c.p ? 'diag' : null));
    cellG.append('text').attr('x', cell / 2).attr('y', cell / 2).attr('dy', '0.35em').attr('text-anchor', 'middle')
      .attr('class', (c) => (c.n > max / 2 ? 'on-dark' : 'on-light')).style('font-size', `${Math.min(12, cell / 3)}px`)
      .text((c) => fmt.int(c.n));
    tooltip.follow(cellG, (c) => [`true ${c.t} → predicted ${c.p}`, `${fmt.int(c.n)} digits${c.t === c.p ? ' (correct)' : ''}`]);
  };
  draw();
  onResize(host, draw);
}
