// Downloads: tables as Markdown, LaTeX and CSV (formatted by the engine, src/export.rs, the
// same text as the CLI's --table/--episodes files), certification records in the layout of
// Cohen et al.'s certify.py, every chart as SVG (computed styles inlined, so the file looks
// like the page) and PNG (the SVG drawn on an offscreen canvas at 2x), and the model's
// checkpoint. Files are made as Blobs and saved through a temporary <a download>.
import { el } from './dom.js';

/**
 * @typedef {import('../../pkg/arq.js').TableSpec} TableSpec
 * @typedef {import('../../pkg/arq.js').Format} Format
 * @typedef {{request: import('./pool.js').EnginePool['request']}} Requester
 */

/** @type {{format: Format, label: string, ext: string, mime: string}[]} */
export const FORMATS = [
  { format: 'md', label: 'Markdown', ext: 'md', mime: 'text/markdown;charset=utf-8' },
  { format: 'latex', label: 'LaTeX', ext: 'tex', mime: 'application/x-tex;charset=utf-8' },
  { format: 'csv', label: 'CSV', ext: 'csv', mime: 'text/csv;charset=utf-8' },
];

/**
 * Saves `data` as a file named `name`.
 * @param {string} name @param {BlobPart} data @param {string} mime
 */
export function download(name, data, mime) {
  const blob = new Blob([data], { type: mime });
  const href = URL.createObjectURL(blob);
  const a = el('a', { href, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  // after the click's navigation has taken the blob
  setTimeout(() => URL.revokeObjectURL(href), 10_000);
}

/** `cert-2026-12-01T08-30-05`: a file stem with the local time. @param {string} stem */
export function stamped(stem) {
  const d = new Date();
  const p = (/** @type {number} */ n) => String(n).padStart(2, '0');
  return `${stem}-${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}-${p(d.getMinutes())}-${p(d.getSeconds())}`;
}

/**
 * A row of download buttons for a table: one per format. `spec()` returns the table's data
 * (null when there is nothing to export yet); the engine formats it.
 * @param {Requester} client
 * @param {string} stem file name stem, e.g. 'certification'
 * @param {() => TableSpec | null} spec
 * @param {(e: unknown) => void} onError
 * @returns {HTMLElement} a <span class="downloads">
 */
export function tableDownloads(client, stem, spec, onError) {
  const buttons = FORMATS.map((f) => {
    const b = el('button', { type: 'button', class: 'download', 'data-format': f.format, text: f.label, title: `Download the table as ${f.label} (.${f.ext})` });
    b.addEventListener('click', async () => {
      const s = spec();
      if (!s) return;
      try {
        const text = await client.request('exportTable', { spec: s, format: f.format });
        download(`${stamped(stem)}.${f.ext}`, text, f.mime);
      } catch (e) {
        onError(e);
      }
    });
    return b;
  });
  return el('span', { class: 'downloads', role: 'group', 'aria-label': `Download the ${stem.replace(/-/g, ' ')} table` }, ['Download: ', ...buttons]);
}

/** SVG presentation properties copied from the computed style into the exported file. */
const STYLE_PROPS = ['fill', 'fill-opacity', 'stroke', 'stroke-width', 'stroke-dasharray', 'stroke-opacity', 'stroke-linecap',
  'stroke-linejoin', 'opacity', 'font-family', 'font-size', 'font-weight', 'font-style', 'text-anchor', 'dominant-baseline',
  'visibility', 'display', 'shape-rendering'];

/**
 * A standalone SVG document of a chart: a clone whose every element carries its computed
 * presentation style (so the file needs none of the page's CSS), with its size, a white
 * background and the XML namespaces.
 * @param {SVGSVGElement} svg
 * @returns {{text: string, width: number, height: number}}
 */
export function serializeSvg(svg) {
  const box = svg.getBoundingClientRect();
  const width = Math.max(1, Math.round(Number(svg.getAttribute('width')) || box.width));
  const height = Math.max(1, Math.round(Number(svg.getAttribute('height')) || box.height));
  const clone = /** @type {SVGSVGElement} */ (svg.cloneNode(true));
  const src = [svg, ...svg.querySelectorAll('*')];
  const dst = [clone, ...clone.querySelectorAll('*')];
  src.forEach((node, i) => {
    const target = /** @type {SVGElement} */ (dst[i]);
    const cs = getComputedStyle(node);
    for (const prop of STYLE_PROPS) {
      const v = cs.getPropertyValue(prop);
      // the CSSOM: the clone is never attached, and the page's CSP refuses style attributes
      if (v) target.style.setProperty(prop, v);
    }
  });
  clone.setAttribute('xmlns', 'http://www.w3.org/2000/svg');
  clone.setAttribute('xmlns:xlink', 'http://www.w3.org/1999/xlink');
  clone.setAttribute('width', String(width));
  clone.setAttribute('height', String(height));
  if (!clone.getAttribute('viewBox')) clone.setAttribute('viewBox', `0 0 ${width} ${height}`);
  clone.removeAttribute('aria-hidden');
  const bg = document.createElementNS('http://www.w3.org/2000/svg', 'rect');
  bg.setAttribute('width', '100%');
  bg.setAttribute('height', '100%');
  bg.setAttribute('fill', '#ffffff');
  clone.insertBefore(bg, clone.firstChild);
  const text = '<?xml version="1.0" encoding="UTF-8"?>\n' + new XMLSerializer().serializeToString(clone);
  return { text, width, height };
}

/**
 * The chart as PNG bytes: the standalone SVG drawn on an offscreen canvas at `scale`.
 * @param {SVGSVGElement} svg @param {number} [scale]
 * @returns {Promise<Blob>}
 */
export async function svgToPng(svg, scale = 2) {
  const { text, width, height } = serializeSvg(svg);
  const url = URL.createObjectURL(new Blob([text], { type: 'image/svg+xml' }));
  try {
    const img = new Image();
    img.decoding = 'async';
    img.src = url;
    await img.decode();
    const canvas = document.createElement('canvas');
    canvas.width = Math.round(width * scale);
    canvas.height = Math.round(height * scale);
    const ctx = canvas.getContext('2d');
    if (!ctx) throw new Error('this browser gives no 2D canvas');
    ctx.fillStyle = '#ffffff';
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
    return await new Promise((resolve, reject) => canvas.toBlob((b) => (b ? resolve(b) : reject(new Error('the canvas could not be encoded as PNG'))), 'image/png'));
  } finally {
    URL.revokeObjectURL(url);
  }
}

/**
 * Adds SVG and PNG download buttons under every chart host (`.chart-host`) of the page; each
 * exports the chart the host shows when clicked (and says so when it shows none yet).
 * @param {(e: unknown) => void} onError
 * @param {(text: string) => void} onInfo
 */
export function addChartDownloads(onError, onInfo) {
  for (const host of document.querySelectorAll('.chart-host')) {
    if (!(host instanceof HTMLElement) || host.nextElementSibling?.classList.contains('chart-downloads')) continue;
    const stem = host.id || 'chart';
    const svgOf = () => {
      const svg = host.querySelector('svg.chart');
      if (!(svg instanceof SVGSVGElement)) onInfo('This chart has nothing to export yet.');
      return svg instanceof SVGSVGElement ? svg : null;
    };
    const asSvg = el('button', { type: 'button', class: 'download', 'data-format': 'svg', text: 'SVG', title: 'Download this chart as SVG' });
    asSvg.addEventListener('click', () => {
      const svg = svgOf();
      if (svg) download(`${stamped(stem)}.svg`, serializeSvg(svg).text, 'image/svg+xml');
    });
    const asPng = el('button', { type: 'button', class: 'download', 'data-format': 'png', text: 'PNG', title: 'Download this chart as PNG (2x)' });
    asPng.addEventListener('click', async () => {
      const svg = svgOf();
      if (!svg) return;
      try {
        download(`${stamped(stem)}.png`, await svgToPng(svg), 'image/png');
      } catch (e) {
        onError(e);
      }
    });
    host.after(el('div', { class: 'chart-downloads downloads', role: 'group', 'aria-label': `Download the chart ${stem}` }, ['Chart: ', asSvg, asPng]));
  }
}
