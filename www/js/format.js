// Formatting only: every number shown comes from the engine (or is a byte count / a time).

const intFmt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

/** 281640 -> "281,640". @param {number} n */
export const int = (n) => intFmt.format(n);

/** 0.98153 -> "98.15%". @param {number} x @param {number} [digits] */
export const percent = (x, digits = 2) => d3.format(`.${digits}%`)(x);

/** A loss or other real value with 4 significant digits. @param {number} x */
export const real = (x) => (Number.isFinite(x) ? d3.format('.4~g')(x) : String(x));

/** A sigma or a setting value as the engine gave it. @param {number} x */
export const sigma = (x) => d3.format('~g')(x);

/** [6, 24, 24] -> "6×24×24". @param {number[]} shape */
export const shape = (shape) => shape.join('×');

/** Byte counts: "512 B", "12.3 kB", "7.85 MB". @param {number} n */
export function bytes(n) {
  if (n < 1000) return `${n} B`;
  if (n < 1e6) return `${d3.format('.3~r')(n / 1e3)} kB`;
  return `${d3.format('.3~r')(n / 1e6)} MB`;
}

/** Seconds left: "ETA 12 s", "ETA 3 min 05 s". @param {number|null} eta */
export function eta(eta) {
  if (eta === null || !Number.isFinite(eta)) return '';
  const s = Math.max(0, Math.round(eta));
  if (s < 60) return `ETA ${s} s`;
  return `ETA ${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
}

/** "1 epoch", "3 epochs". @param {number} n @param {string} one @param {string} [many] */
export const count = (n, one, many = `${one}s`) => `${int(n)} ${n === 1 ? one : many}`;

/** A content hash, shortened for display. @param {string|null|undefined} h */
export const hash = (h) => (h ? h.slice(0, 12) : '—');

/** A radius or another small real with a fixed number of decimals. @param {number} x @param {number} [digits] */
export const fixed = (x, digits = 3) => (Number.isFinite(x) ? x.toFixed(digits) : String(x));

/** A duration for a cost estimate: "under 1 s", "40 s", "12 min", "1 h 05 min". @param {number} seconds */
export function duration(seconds) {
  if (seconds < 1) return 'under 1 s';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const min = Math.round(s / 60);
  if (min < 60) return `${min} min`;
  return `${Math.floor(min / 60)} h ${String(min % 60).padStart(2, '0')} min`;
}

/** A large count in words: 50,050,000 -> "50 million". @param {number} n */
export function approx(n) {
  if (n >= 1e9) return `${d3.format('.2~r')(n / 1e9)} billion`;
  if (n >= 1e6) return `${d3.format('.2~r')(n / 1e6)} million`;
  return int(n);
}
