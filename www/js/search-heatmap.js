// The layer x episode heatmap of a search run: one column per episode, weight bits of every
// layer in the upper block and activation bits mirrored in the lower one (as in the bit
// editor), the number in each cell when it fits; warm-up episodes marked above. Tooltips per
// cell; the numbers are in the view's data table.
import { Chart } from './charts.js';

/**
 * @typedef {import('./quant-types.js').EpisodeRecord} EpisodeRecord
 * @typedef {import('./quant-types.js').SearchRun} SearchRun
 */

/** Colour of a bit width: light for few bits, dark for many; full precision in slate. @param {number} b */
export const bitsColor = (b) => (b >= 32 ? '#37474f' : d3.interpolateYlGnBu(0.15 + (0.8 * (b - 2)) / 6));
/** @param {number} b */
const onDark = (b) => b >= 6;

export class BitsHeatmap extends Chart {
  /** @param {HTMLElement} host an empty, position: relative element */
  constructor(host) {
    super(host, 'bits-heatmap');
    /** @type {SearchRun | null} */
    this.run = null;
    /** @type {string[]} */
    this.layers = [];
  }

  /** Draws at most once per frame. @param {SearchRun | null} run @param {string[]} layers names in network order */
  show(run, layers) {
    this.run = run;
    this.layers = layers;
    this.redraw();
  }

  /** @override */
  draw() {
    const eps = this.run?.episodes ?? [];
    const L = this.layers.length;
    const rows = [...this.layers.map((name, j) => ({ name, j, which: /** @type {'w'|'a'} */ ('w') })),
      ...this.layers.map((name, j) => ({ name, j, which: /** @type {'w'|'a'} */ ('a') }))];
    const m = { top: 34, right: 10, bottom: 30, left: 92 };
    const width = Math.max(280, this.host.clientWidth);
    const cols = Math.max(this.run?.planned ?? 0, eps.length, 1);
    const cw = (width - m.left - m.right) / cols;
    const ch = 18;
    const gap = 8;
    const height = m.top + 2 * L * ch + gap + m.bottom;
    const g = this.canvas(width, height);
    const rowY = (/** @type {number} */ r) => m.top + r * ch + (r >= L ? gap : 0);
    g.selectAll('text.row-label').data(rows).join('text').attr('class', 'row-label').attr('x', m.left - 6)
      .attr('y', (_, r) => rowY(r) + ch / 2).attr('dy', '0.35em').attr('text-anchor', 'end')
      .text((d) => `${d.which === 'w' ? 'W' : 'A'} ${d.name}`);
    g.append('text').attr('class', 'axis-title').attr('x', 4).attr('y', 11).text('weights (upper rows) / activations (lower rows)');
    const warm = eps.filter((e) => e.isWarmup);
    if (warm.length) {
      g.append('rect').attr('class', 'warmup-strip').attr('x', m.left).attr('y', m.top - 7).attr('width', warm.length * cw).attr('height', 4);
      g.append('text').attr('class', 'band-label').attr('x', m.left + warm.length * cw + 4).attr('y', m.top - 3).attr('text-anchor', 'start')
        .text('◂ warm-up');
    }
    const cells = eps.flatMap((e, c) => rows.map((row, r) => ({ e, c, r, row, bits: (row.which === 'w' ? e.wbits : e.abits)[row.j] })));
    const cell = g.append('g').selectAll('g').data(cells).join('g').attr('class', 'hm-cell')
      .attr('transform', (d) => `translate(${m.left + d.c * cw},${rowY(d.r)})`);
    cell.append('rect').attr('width', Math.max(0.5, cw - (cw > 4 ? 1 : 0))).attr('height', ch - 1).attr('fill', (d) => bitsColor(d.bits));
    if (cw >= 13) {
      cell.append('text').attr('x', cw / 2).attr('y', ch / 2).attr('dy', '0.35em').attr('text-anchor', 'middle')
        .attr('class', (d) => (onDark(d.bits) ? 'on-dark' : 'on-light')).text((d) => (d.bits >= 32 ? 'f' : String(d.bits)));
    }
    this.tooltip.follow(cell, (d) => [`episode ${d.e.episode + 1}${d.e.isWarmup ? ' (warm-up)' : ''}`,
      `${d.row.name} ${d.row.which === 'w' ? 'weights' : 'activations'}: ${d.bits >= 32 ? 'full precision' : `${d.bits} bits`}`,
      `reward ${d3.format('.4~g')(d.e.reward)}`]);
    const x = d3.scaleLinear().domain([0, cols]).range([m.left, m.left + cols * cw]);
    g.append('g').attr('transform', `translate(0,${rowY(2 * L - 1) + ch + 2})`)
      .call(d3.axisBottom(x).ticks(Math.min(cols, Math.max(2, Math.floor(width / 80)))).tickFormat(d3.format('~d')));
    g.append('text').attr('class', 'axis-title').attr('x', (m.left + width - m.right) / 2).attr('y', height - 2).attr('text-anchor', 'middle').text('episode');
  }
}
