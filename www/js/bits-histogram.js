// The focused layer's weight histogram (d3) with its quantization grid: the float weights in
// bins, the grid points k * t / L (k = -L..L, L = 2^(b-1) - 1 levels per side, t = the
// channel's clip) as vertical lines, the clip at +-t, and the weights beyond their channel's
// clip in red. Per-channel clips differ: "all channels" draws the widest channel's grid and
// shades the spread of the clips; picking one channel shows just its weights and exact grid.
import { Chart } from './charts.js';
import { dataTable, el } from './dom.js';
import * as fmt from './format.js';

/** @typedef {import('./quant-types.js').LayerHistogram} LayerHistogram */

const BINS = 60;
/** More grid lines than this are drawn faint (8 bits has 255 points). */
const DENSE = 40;

export class WeightHistogram extends Chart {
  /**
   * @param {HTMLElement} host an empty, position: relative element
   * @param {HTMLSelectElement} select the channel picker
   * @param {HTMLElement} caption @param {HTMLElement} fallback
   */
  constructor(host, select, caption, fallback) {
    super(host, 'histogram');
    this.select = select;
    this.caption = caption;
    this.fallback = fallback;
    /** @type {LayerHistogram | null} */
    this.h = null;
    this.name = '';
    select.addEventListener('change', () => this.draw());
  }

  /** @param {LayerHistogram} h @param {string} name */
  show(h, name) {
    const keep = this.h && this.h.layer === h.layer && this.h.thresholds.length === h.thresholds.length ? this.select.value : '-1';
    this.h = h;
    this.name = name;
    const t = Array.from(h.thresholds);
    const widest = t.indexOf(Math.max(...t));
    this.select.replaceChildren(
      el('option', { value: '-1', text: t.length > 1 ? `all ${t.length} channels (grid of the widest, #${widest})` : 'per-tensor grid' }),
      ...(t.length > 1 ? t.map((v, c) => el('option', { value: c, text: `channel ${c} (clip ${fmt.real(v)})` })) : []),
    );
    this.select.value = keep;
    this.select.disabled = t.length <= 1;
    this.draw();
  }

  /** @override */
  draw() {
    const h = this.h;
    if (!h) return;
    const t = Array.from(h.thresholds);
    const channels = Math.max(1, t.length);
    const per = h.weights.length % channels === 0 ? h.weights.length / channels : h.weights.length;
    const chosen = Number(this.select.value);
    const channelOf = (/** @type {number} */ i) => (t.length > 1 ? Math.floor(i / per) : 0);
    /** @type {{w: number, clipped: boolean}[]} */
    const items = [];
    h.weights.forEach((w, i) => {
      const c = channelOf(i);
      if (chosen >= 0 && c !== chosen) return;
      items.push({ w, clipped: h.bits < 32 && Math.abs(w) > (t[c] ?? Infinity) });
    });
    const clip = chosen >= 0 ? t[chosen] : Math.max(...t);
    const quantized = h.bits < 32 && h.levels > 0 && Number.isFinite(clip);
    const span = Math.max(1e-6, d3.max(items, (d) => Math.abs(d.w)) ?? 0, quantized ? clip : 0) * 1.04;
    const width = Math.max(280, this.host.clientWidth);
    const height = 220;
    const m = { top: 12, right: 14, bottom: 38, left: 48 };
    const x = d3.scaleLinear().domain([-span, span]).range([m.left, width - m.right]);
    const bins = d3.bin().domain([-span, span]).thresholds(d3.range(1, BINS).map((k) => -span + (2 * span * k) / BINS))(items.map((d) => d.w));
    const counts = bins.map((b) => {
      const lo = b.x0 ?? 0;
      const hi = b.x1 ?? 0;
      const inBin = items.filter((d) => d.w >= lo && (d.w < hi || (hi === span && d.w <= hi)));
      return { lo, hi, total: inBin.length, clipped: inBin.filter((d) => d.clipped).length };
    });
    const y = d3.scaleLinear().domain([0, d3.max(counts, (c) => c.total) || 1]).nice().range([height - m.bottom, m.top]);
    const g = this.canvas(width, height);
    if (chosen < 0 && t.length > 1 && quantized) {
      const lo = Math.min(...t);
      for (const s of [-1, 1]) {
        g.append('rect').attr('class', 'clip-spread').attr('x', x(s > 0 ? lo : -clip)).attr('width', Math.max(0, x(clip) - x(lo)))
          .attr('y', m.top).attr('height', height - m.top - m.bottom);
      }
    }
    if (quantized) {
      const step = clip / h.levels;
      const points = d3.range(-h.levels, h.levels + 1).map((k) => k * step);
      g.append('g').attr('class', `grid-points${points.length > DENSE ? ' dense' : ''}`).selectAll('line').data(points).join('line')
        .attr('x1', (d) => x(d)).attr('x2', (d) => x(d)).attr('y1', m.top).attr('y2', height - m.bottom);
      g.append('g').attr('class', 'clip-lines').selectAll('line').data([-clip, clip]).join('line')
        .attr('x1', (d) => x(d)).attr('x2', (d) => x(d)).attr('y1', m.top - 4).attr('y2', height - m.bottom);
    }
    const bw = (/** @type {{lo: number, hi: number}} */ c) => Math.max(0.5, x(c.hi) - x(c.lo) - 1);
    const bars = g.append('g').selectAll('g').data(counts).join('g');
    bars.append('rect').attr('class', 'bin').attr('x', (c) => x(c.lo) + 0.5).attr('width', bw)
      .attr('y', (c) => y(c.total - c.clipped)).attr('height', (c) => y(0) - y(c.total - c.clipped));
    bars.append('rect').attr('class', 'bin clipped').attr('x', (c) => x(c.lo) + 0.5).attr('width', bw)
      .attr('y', (c) => y(c.total)).attr('height', (c) => y(c.total - c.clipped) - y(c.total));
    this.tooltip.follow(bars, (c) => [`${fmt.real(c.lo)} … ${fmt.real(c.hi)}`, `${fmt.int(c.total)} weights`, ...(c.clipped ? [`${fmt.int(c.clipped)} clipped`] : [])]);
    g.append('g').attr('transform', `translate(0,${height - m.bottom})`).call(d3.axisBottom(x).ticks(Math.max(3, Math.floor(width / 90))));
    g.append('g').attr('transform', `translate(${m.left},0)`).call(d3.axisLeft(y).ticks(4).tickFormat(d3.format('~s')));
    g.append('text').attr('class', 'axis-title').attr('x', (m.left + width - m.right) / 2).attr('y', height - 4).attr('text-anchor', 'middle').text('weight value');
    g.append('text').attr('class', 'axis-title').attr('transform', `translate(12,${(height - m.bottom + m.top) / 2}) rotate(-90)`).attr('text-anchor', 'middle').text('weights');
    this.describe(h, items.length, chosen, clip, quantized);
    this.fallback.replaceChildren(dataTable(`Weight histogram of ${this.name}: weights per bin, and how many of them lie beyond their channel's clip`,
      ['bin from', 'to', 'weights', 'clipped'], counts.map((c) => [fmt.real(c.lo), fmt.real(c.hi), fmt.int(c.total), fmt.int(c.clipped)])));
    this.host.dataset.points = quantized ? String(2 * h.levels + 1) : '0';
  }

  /** @param {LayerHistogram} h @param {number} shown @param {number} chosen @param {number} clip @param {boolean} quantized */
  describe(h, shown, chosen, clip, quantized) {
    const which = chosen >= 0 ? `channel ${chosen}: ${fmt.int(shown)} weights` : `${fmt.int(h.weights.length)} weights`;
    const grid = quantized
      ? `${h.bits} bits: ${h.levels} levels per side (${2 * h.levels + 1} grid points, step ${fmt.real(clip / h.levels)}), clip ±${fmt.real(clip)}`
        + `${h.thresholds.length > 1 ? ` (per output channel, ${h.thresholds.length} channels)` : ' (per tensor)'}`
      : 'full precision: no quantization grid';
    this.caption.textContent = `${this.name} · ${which} · ${grid} · ${fmt.int(h.clipped)} weights clipped in the layer (red).`;
  }
}
