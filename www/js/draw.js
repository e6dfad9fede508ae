// Digit tiles on canvases: one canvas pixel per image pixel, scaled up by CSS
// (image-rendering: pixelated). Ink is drawn dark on a light background.

/**
 * @param {number} rows
 * @param {number} cols
 * @param {string} label accessible name of the image
 * @returns {HTMLCanvasElement}
 */
export function digitCanvas(rows, cols, label) {
  const canvas = document.createElement('canvas');
  canvas.width = cols;
  canvas.height = rows;
  canvas.className = 'digit';
  canvas.setAttribute('role', 'img');
  canvas.setAttribute('aria-label', label);
  return canvas;
}

/**
 * Draws an 8-bit gray image (0 = background, 255 = ink).
 * @param {HTMLCanvasElement} canvas
 * @param {ArrayLike<number>} pixels
 * @param {number} offset index of the image's first pixel
 */
export function drawGray(canvas, pixels, offset) {
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  const img = ctx.createImageData(canvas.width, canvas.height);
  const n = canvas.width * canvas.height;
  for (let i = 0; i < n; i++) {
    const g = 255 - pixels[offset + i];
    img.data[4 * i] = g;
    img.data[4 * i + 1] = g;
    img.data[4 * i + 2] = g;
    img.data[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

/**
 * Draws a float image in [0, 1] (noisy images leave that range: shown clipped).
 * @param {HTMLCanvasElement} canvas
 * @param {ArrayLike<number>} values
 * @param {number} offset index of the image's first value
 */
export function drawFloat(canvas, values, offset) {
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  const img = ctx.createImageData(canvas.width, canvas.height);
  const n = canvas.width * canvas.height;
  for (let i = 0; i < n; i++) {
    const v = values[offset + i];
    const g = 255 - (v <= 0 ? 0 : v >= 1 ? 255 : v * 255);
    img.data[4 * i] = g;
    img.data[4 * i + 1] = g;
    img.data[4 * i + 2] = g;
    img.data[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}
