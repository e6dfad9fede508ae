// Downloads, clicked as a user would: the certification table as Markdown, LaTeX and CSV
// (the engine's text), the per-point records in Cohen et al.'s certify.py layout, a chart as
// SVG (styles inlined) and PNG, and the checkpoint: downloaded, then dropped back onto the
// page; a wrong file dropped is a clear error and changes nothing.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { LONG, launch, openPage, waitIdle } from './harness.mjs';

/** Five test points, small n: a few seconds. Points are test digits 0, 20, 40, 60, 80. */
const SMALL = '#v=1&points=5&n=200&n0=20';

/** @type {Awaited<ReturnType<typeof launch>>} */
let env;

before(async () => {
  env = await launch();
});

after(async () => {
  await env?.close();
});

/**
 * Clicks `selector` and returns the download's file name and bytes.
 * @param {import('playwright-core').Page} page @param {string} selector
 */
async function grab(page, selector) {
  const [dl] = await Promise.all([page.waitForEvent('download', { timeout: LONG }), page.click(selector)]);
  const path = await dl.path();
  return { name: dl.suggestedFilename(), bytes: readFileSync(path) };
}

/**
 * Drops a file with `bytes` named `name` onto the page, as a drag from the desktop would.
 * @param {import('playwright-core').Page} page @param {string} name @param {Buffer} bytes
 */
async function drop(page, name, bytes) {
  await page.evaluate(([n, b64]) => {
    const data = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const dt = new DataTransfer();
    dt.items.add(new File([data], n, { type: 'application/octet-stream' }));
    const target = document.querySelector('#samples-card, main') ?? document.body;
    for (const type of ['dragenter', 'dragover', 'drop']) {
      target.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
    }
  }, [name, bytes.toString('base64')]);
}

test('tables, Cohen records and charts download with the engine\'s content', async () => {
  const { page, errors } = await openPage(env.browser, env.baseUrl, SMALL);
  await page.click('#certify-start');
  await page.waitForSelector('#certify-progress[data-state="done"]', { timeout: LONG });
  await waitIdle(page);

  const md = await grab(page, '#certify-downloads button[data-format="md"]');
  assert.match(md.name, /^certification-.*\.md$/);
  const mdText = md.bytes.toString('utf8');
  assert.match(mdText, /^\*\*Certified accuracy/);
  assert.match(mdText, /\| run \| r = 0 \| r = 0\.25 \|/);
  assert.match(mdText, /\| FP32[^|]*\| \d+\.\d % \|/);

  const tex = (await grab(page, '#certify-downloads button[data-format="latex"]')).bytes.toString('utf8');
  assert.match(tex, /\\begin\{tabular\}\{lr+\}/);
  assert.match(tex, /\\toprule\nrun & r = 0 & /);
  assert.match(tex, /\$\\sigma\$/);
  assert.doesNotMatch(tex, /[^\\]%\s*\\\\/, 'every % escaped');

  const csvText = (await grab(page, '#certify-downloads button[data-format="csv"]')).bytes.toString('utf8');
  const lines = csvText.trim().split('\n');
  assert.equal(lines[0], 'run,r = 0,r = 0.25,r = 0.5,r = 0.75,r = 1,r = 1.25,r = 1.5,ACR,abstain,points,σ,n,α');
  assert.equal(lines.length, 2);
  const cells = lines[1].split(',');
  assert.equal(cells.at(-4), '5');
  assert.equal(cells.at(-2), '200');
  // The ACR cell is the engine's unrounded number, the same as the page's summary
  const acr = Number(cells[8]);
  assert.ok(acr > 0 && acr < 2, `ACR ${acr}`);

  const cohen = await grab(page, '#certify-downloads button[data-format="cohen"]');
  assert.match(cohen.name, /\.tsv$/);
  const rows = cohen.bytes.toString('utf8').trim().split('\n').map((l) => l.split('\t'));
  assert.deepEqual(rows[0], ['idx', 'label', 'predict', 'radius', 'correct', 'time']);
  assert.equal(rows.length, 6);
  assert.deepEqual(rows.slice(1).map((r) => r[0]), ['0', '20', '40', '60', '80']);
  for (const r of rows.slice(1)) {
    assert.match(r[2], /^(-1|\d)$/);
    assert.match(r[3], /^\d+\.\d{3}$/);
    if (r[2] === '-1') assert.equal(r[3], '0.000');
    assert.equal(r[4], r[1] === r[2] ? '1' : '0');
    assert.match(r[5], /^\d+:\d\d:\d\d(\.\d{6})?$/);
  }

  // The curve chart as a standalone SVG with its styles inlined, and as PNG.
  const svg = await grab(page, '#certify-curve + .chart-downloads button[data-format="svg"]');
  const svgText = svg.bytes.toString('utf8');
  assert.match(svg.name, /^certify-curve-.*\.svg$/);
  assert.match(svgText, /^<\?xml[^>]*>\n<svg[^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  assert.match(svgText, /class="[^"]*run-line[^"]*"[^>]*style="[^"]*stroke-width: 2px/);
  const png = await grab(page, '#certify-curve + .chart-downloads button[data-format="png"]');
  assert.deepEqual([...png.bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  assert.ok(png.bytes.length > 2000, `PNG of ${png.bytes.length} bytes`);
  assert.deepEqual(errors, []);
  await page.context().close();
});

test('a checkpoint downloads and loads back by drag and drop; a wrong file is a clear error', async () => {
  const { page } = await openPage(env.browser, env.baseUrl, '#v=1');
  const ckpt = await grab(page, '#checkpoint-download');
  assert.match(ckpt.name, /^lenet-s0\.25-e\d+\.arqc$/);
  assert.ok(ckpt.bytes.length > 100_000, `checkpoint of ${ckpt.bytes.length} bytes`);

  // a wrong file: refused with its name, the model stays
  const before = await page.textContent('#checkpoint-status');
  await drop(page, 'notes.txt', Buffer.from('not a checkpoint at all'));
  await page.waitForSelector('#status[data-kind="error"]', { timeout: LONG });
  assert.match(await page.textContent('#status') ?? '', /notes\.txt is not a usable checkpoint: .*magic|notes\.txt is not a usable checkpoint/);
  await waitIdle(page);
  assert.equal(await page.textContent('#checkpoint-status'), before);

  // a corrupted one (one byte flipped in the body) names the hash
  const bad = Buffer.from(ckpt.bytes);
  bad[bad.length - 10] ^= 0xff;
  await drop(page, 'flipped.arqc', bad);
  await page.waitForFunction(() => /flipped\.arqc/.test(document.querySelector('#status')?.textContent ?? ''), undefined, { timeout: LONG });
  assert.match(await page.textContent('#status') ?? '', /flipped\.arqc is not a usable checkpoint: .*hash/i);
  await waitIdle(page);

  // move to another sigma, then drop the saved checkpoint: its model and sigma come back
  await page.evaluate(() => { location.hash = '#v=1&sigma=0.5'; });
  await page.waitForFunction(() => /σ = 0\.5/.test(document.querySelector('#model-title')?.textContent ?? ''), undefined, { timeout: LONG });
  await waitIdle(page);
  await drop(page, ckpt.name, ckpt.bytes);
  await page.waitForFunction(() => /Loaded the checkpoint/.test(document.querySelector('#status')?.textContent ?? ''), undefined, { timeout: LONG });
  await waitIdle(page);
  assert.match(await page.textContent('#model-title') ?? '', /lenet, σ = 0\.25/);
  assert.doesNotMatch(page.url(), /sigma=0\.5/);
  // and it certifies like the shipped one it came from
  await page.context().close();
});

test('a search\'s episodes and the final table download from the engine, and are kept in the history', async () => {
  const { page, errors } = await openPage(env.browser, env.baseUrl, '#v=1&episodes=3&warmup=2&spoints=5&sft=1&n0=20&n=200&np=100&points=5&fft=2&calib=64');
  await page.click('#search-arq');
  await page.waitForSelector('#search-progress[data-state="done"]', { timeout: LONG });
  await waitIdle(page);
  const ep = (await grab(page, '#search-downloads button[data-format="csv"]')).bytes.toString('utf8').trim().split('\n');
  assert.equal(ep[0], 'search,episode,warm-up,reward,ACR,clean acc.,BOPs % of FP32,size (bytes),W bits,A bits,new best');
  assert.equal(ep.length, 4);
  assert.match(ep[1], /^ARQ[^,]*,1,yes,-?\d/);

  await page.click('#final-start');
  await page.waitForSelector('#final-progress[data-state="done"]', { timeout: LONG });
  await page.waitForSelector('#final-table[data-sig="done"]', { timeout: LONG });
  await waitIdle(page);
  const md = (await grab(page, '#final-downloads button[data-format="md"]')).bytes.toString('utf8');
  assert.match(md, /\| policy \| W bits \| A bits \| clean acc\. \| r = 0 \|/);
  assert.match(md, /\| FP32 \| f \| f \| /);
  // the intervals the page shows are in the file
  assert.match(md, /\[[-+]\d\.\d{3}, [-+]\d\.\d{3}\] (\*|n\.s\.)/);
  const tex = (await grab(page, '#final-downloads button[data-format="latex"]')).bytes.toString('utf8');
  assert.match(tex, /\$\\Delta\$ACR vs FP32/);
  await page.waitForFunction(() => Number(document.querySelector('#history-card')?.getAttribute('data-count')) >= 2, undefined, { timeout: LONG });
  assert.match(await page.textContent('#history-table tbody') ?? '', /final.*FP32 \d\.\d{3}/s);
  assert.deepEqual(errors, []);
  await page.context().close();
});
