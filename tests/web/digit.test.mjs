// "Your digit" in Debian's chromium with the real engine: a 7 drawn with pointer events on
// the pad is certified under FP32 and the quantized policy (vote bars, pA_low, radius, the
// radius's illustration), and the downloaded digit gives the same numbers in
// `arq certify-digit` (target/release/arq; make test-web builds it); an uploaded PNG (made
// here with node:zlib) gets the expected class; a blank drawing, a file that is not an image
// and images of the wrong size get a clear message, and the page stays usable. No timing
// assertions.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import { ARTIFACTS, LONG, ROOT, launch, openPage, screenshot, waitIdle } from './harness.mjs';

/** Quick settings: few fine-tuning batches for the quantized model, n = 500. */
const FRAGMENT = '#v=1&n=500&wb=4&ab=4&qft=5';
const ARQ = join(ROOT, 'target', 'release', 'arq');

/** @type {Awaited<ReturnType<typeof launch>>} */
let env;
before(async () => { env = await launch(); });
after(async () => { await env?.close(); });

/**
 * A PNG file: 8-bit gray (colour type 0), RGB (2) or RGBA (6).
 * @param {number} width @param {number} height @param {(x: number, y: number) => number[]} pixel
 * @param {0 | 2 | 6} type
 */
function png(width, height, pixel, type) {
  const channels = { 0: 1, 2: 3, 6: 4 }[type];
  const raw = Buffer.alloc(height * (1 + width * channels));
  for (let y = 0; y < height; y++) {
    const row = y * (1 + width * channels);
    for (let x = 0; x < width; x++) raw.set(pixel(x, y), row + 1 + x * channels);
  }
  /** @param {string} kind @param {Buffer} data */
  const chunk = (kind, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(kind, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, type, 0, 0, 0], 8);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

/** Distance from (px, py) to the segment a-b. @param {number} px @param {number} py @param {number[]} a @param {number[]} b */
function segment(px, py, a, b) {
  const [dx, dy] = [b[0] - a[0], b[1] - a[1]];
  const t = Math.max(0, Math.min(1, ((px - a[0]) * dx + (py - a[1]) * dy) / (dx * dx + dy * dy)));
  return Math.hypot(px - a[0] - t * dx, py - a[1] - t * dy);
}

/** A pen-drawn "1": dark ink on light paper, slightly slanted. @param {number} x @param {number} y */
const one = (x, y) => (segment(x, y, [68, 18], [52, 102]) < 6 ? 30 : 225);

/** Draws polylines on the pad with the mouse (pointer events). @param {import('playwright-core').Page} page @param {number[][][]} lines in 0..1 pad units */
async function draw(page, lines) {
  await page.locator('#digit-pad').scrollIntoViewIfNeeded();
  const box = await page.locator('#digit-pad').boundingBox();
  assert.ok(box);
  for (const line of lines) {
    const x = (/** @type {number[]} */ p) => box.x + p[0] * box.width;
    const y = (/** @type {number[]} */ p) => box.y + p[1] * box.height;
    await page.mouse.move(x(line[0]), y(line[0]));
    await page.mouse.down();
    for (const p of line.slice(1)) await page.mouse.move(x(p), y(p), { steps: 12 });
    await page.mouse.up();
  }
}

/** The certificate columns. @param {import('playwright-core').Page} page */
const columns = (page) => page.$$eval('#digit-results .digit-model', (cols) => cols.map((c) => ({
  model: c.getAttribute('data-model'), state: c.getAttribute('data-state'), top: Number(c.getAttribute('data-top')),
  count: Number(c.getAttribute('data-count')), pLower: Number(c.getAttribute('data-p-lower')),
  radius: c.getAttribute('data-radius') ? Number(c.getAttribute('data-radius')) : null,
  holds: c.querySelector('.digit-radius')?.getAttribute('data-holds') ?? null,
  tiles: c.querySelectorAll('.digit-samples canvas').length, bars: c.querySelectorAll('.vote-bar').length,
})));

/** @param {import('playwright-core').Page} page */
async function certify(page) {
  await page.click('#digit-certify');
  await page.waitForSelector('#digit-card[data-state="done"]', { timeout: LONG });
  await waitIdle(page);
  return columns(page);
}

test('a 7 drawn on the pad: certificates under FP32 and quantized, the same as arq certify-digit', { timeout: LONG }, async () => {
  const { page, errors } = await openPage(env.browser, env.baseUrl, FRAGMENT);
  await draw(page, [[[0.25, 0.22], [0.75, 0.22], [0.45, 0.85]]]);
  await page.waitForSelector('#digit-preview canvas');
  assert.match(await page.textContent('#digit-info') ?? '', /From the pad \(280×280\)/);
  const cols = await certify(page);
  assert.deepEqual(cols.map((c) => c.model), ['fp32', 'quantized']);
  for (const c of cols) {
    assert.equal(c.state, 'certified', `${c.model}: ${JSON.stringify(c)}`);
    assert.equal(c.top, 7, c.model ?? '');
    assert.ok(c.radius !== null && c.radius > 0 && c.pLower > 0.5 && c.count <= 500);
    assert.equal(c.holds, 'true', `${c.model}: the radius's perturbation keeps the class`);
    assert.equal(c.tiles, 8);
    assert.equal(c.bars, 2);
  }
  await screenshot(page, 'digit-page.png');
  await page.locator('#digit-card').screenshot({ path: join(ARTIFACTS, 'digit-card.png') });
  // the downloaded digit, certified natively with the fragment the page shows
  assert.ok(existsSync(ARQ), `${ARQ} is missing: cargo build --release --bin arq`);
  const dir = mkdtempSync(join(tmpdir(), 'arq-digit-'));
  try {
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#digit-download')]);
    const file = join(dir, 'digit.pgm');
    await download.saveAs(file);
    const command = await page.textContent('#digit-cli code') ?? '';
    const url = /--url '([^']*)'/.exec(command)?.[1];
    assert.ok(url, command);
    const out = spawnSync(ARQ, ['certify-digit', file, '--url', url, '--json', '--quiet'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(out.status, 0, out.stderr);
    const r = JSON.parse(out.stdout).result;
    for (const [c, native] of [[cols[0], r.fp32], [cols[1], r.quantized]]) {
      assert.equal(c.top, native.top, c.model);
      assert.equal(c.count, native.count, c.model);
      assert.equal(c.pLower, native.pLower, c.model);
      assert.equal(c.radius, native.radius, c.model);
      assert.equal(c.holds, String(native.perturbation.holds), c.model);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.deepEqual(errors, []);
});

test('an uploaded PNG gets the expected class; bad drawings and files get a clear message', { timeout: LONG }, async () => {
  const { page, errors } = await openPage(env.browser, env.baseUrl, '#v=1&n=300');
  // nothing drawn yet
  await page.click('#digit-certify');
  assert.match(await page.textContent('#digit-error') ?? '', /Draw a digit on the pad or upload an image first/);
  // a stroke undone: the blank pad is refused by the engine, naming the image
  await draw(page, [[[0.5, 0.2], [0.5, 0.8]]]);
  await page.waitForSelector('#digit-preview canvas');
  await page.click('#digit-undo');
  await page.waitForFunction(() => /blank/.test(document.getElementById('digit-error')?.textContent ?? ''));
  await page.click('#digit-certify');
  const blank = await page.textContent('#digit-error') ?? '';
  assert.match(blank, /^Your drawing: image=280x280 with contrast 0 of 255: blank/);
  assert.equal(await page.locator('#digit-results .digit-model').count(), 0, 'nothing certified');
  // files that are not images, or of the wrong size
  /** @type {[{name: string, mimeType: string, buffer: Buffer}, RegExp][]} */
  const cases = [
    [{ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not an image') }, /^notes\.txt: not an image the browser can decode/],
    [{ name: 'dot.png', mimeType: 'image/png', buffer: png(1, 1, () => [0], 0) }, /^dot\.png: the image is 1×1 pixels; allowed: PNG, JPEG, GIF or WebP/],
    [{ name: 'huge.png', mimeType: 'image/png', buffer: png(5000, 5000, () => [255], 0) }, /^huge\.png: the image is 5000×5000 pixels/],
    [{ name: 'big.png', mimeType: 'image/png', buffer: Buffer.alloc(6 * 1024 * 1024) }, /^big\.png: the file has .*MB; allowed/],
    [{ name: 'empty.png', mimeType: 'image/png', buffer: png(64, 64, () => [200, 200, 200, 255], 6) }, /^empty\.png: image=64x64 with contrast 0 of 255: blank/],
  ];
  for (const [file, want] of cases) {
    await page.setInputFiles('#digit-file', file);
    await page.waitForFunction((name) => (document.getElementById('digit-error')?.textContent ?? '').startsWith(name), file.name, { timeout: LONG });
    assert.match(await page.textContent('#digit-error') ?? '', want);
    assert.equal(await page.isDisabled('#digit-download'), true);
  }
  // a dark-on-light RGB upload: inverted, centred and certified as a 1
  await page.setInputFiles('#digit-file', { name: 'one.png', mimeType: 'image/png', buffer: png(120, 120, (x, y) => Array(3).fill(one(x, y)), 2) });
  await page.waitForFunction(() => (document.getElementById('digit-info')?.textContent ?? '').startsWith('From one.png'));
  assert.equal(await page.textContent('#digit-error'), '');
  assert.match(await page.textContent('#digit-info') ?? '', /120×120, dark on light: inverted/);
  const cols = await certify(page);
  assert.equal(cols[0].model, 'fp32');
  assert.equal(cols[0].state, 'certified');
  assert.equal(cols[0].top, 1);
  // the default policy is full precision: the quantized column says how to get one
  assert.equal(cols[1].state, 'none');
  assert.match(await page.textContent('#digit-results [data-model="quantized"]') ?? '', /full precision/);
  // other settings: the certificates shown say they belong to the old ones
  assert.equal(await page.textContent('#digit-stale'), '');
  await page.evaluate(() => { location.hash = '#v=1&n=300&seed=2'; });
  await page.waitForSelector('#digit-card[data-stale]', { timeout: LONG });
  assert.match(await page.textContent('#digit-stale') ?? '', /settings changed since these certificates/);
  assert.deepEqual(errors, []);
});

test('a cancel keeps the page usable and what finished', { timeout: LONG }, async () => {
  const { page, errors } = await openPage(env.browser, env.baseUrl, '#v=1&n=20000&wb=4&ab=4&qft=2000');
  await draw(page, [[[0.3, 0.2], [0.3, 0.5], [0.7, 0.5]], [[0.65, 0.2], [0.65, 0.85]]]);
  await page.waitForSelector('#digit-preview canvas');
  await page.click('#digit-certify');
  // the FP32 certificate finishes first; cancel during the quantized model's fine-tuning
  await page.waitForSelector('#digit-results [data-model="fp32"][data-state="certified"], #digit-results [data-model="fp32"][data-state="abstain"]', { timeout: LONG });
  await page.click('#digit-cancel');
  await page.waitForSelector('#digit-card[data-state="aborted"]', { timeout: LONG });
  await waitIdle(page);
  assert.match(await page.textContent('#digit-progress-text') ?? '', /Cancelled/);
  assert.equal(await page.locator('#digit-results [data-model="fp32"][data-state="pending"]').count(), 0, 'FP32 stays');
  assert.equal(await page.locator('#digit-results [data-model="quantized"][data-state="pending"]').count(), 1);
  assert.equal(await page.isDisabled('#digit-certify'), false, 'usable again');
  assert.deepEqual(errors, []);
});
