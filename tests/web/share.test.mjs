// The link is the result (issue 12): a page session certifies, searches and computes the final
// table, puts the results in the link; another session opens that link, sees the results
// before any computation ("as shared, not yet replayed"), replays them and sees
// "bit-identical"; `arq verify` and `arq run` give the same digests for the same link; a
// bundle round-trips page -> CLI -> page; bad result payloads give a notice and the settings
// still load.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { LONG, ROOT, launch, openPage, waitIdle } from './harness.mjs';

/** Small: 8 reported points at n = 200, a 2-episode ARQ search, 2 fine-tuning batches per row. */
const FRAGMENT = '#v=1&n0=20&n=200&points=8&calib=64&episodes=2&warmup=1&hidden=32&spoints=6&sft=1&fft=2&seed=4';
const ARQ = join(ROOT, 'target', 'release', 'arq');
/** The page's share module (the page's own instance: the same URL). */
const SHARE_MODULE = '/js/share.js';
const TMP = mkdtempSync(join(tmpdir(), 'arq-share-'));

/** @type {Awaited<ReturnType<typeof launch>>} */
let env;
before(async () => { env = await launch(); });
after(async () => { await env?.close(); });

/** @param {string[]} args */
function arq(args) {
  return spawnSync(ARQ, args, { cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 26 });
}

/** The shown jobs' digests. @param {import('playwright-core').Page} page */
const jobDigests = (page) => page.$$eval('#share-tables .share-job', (ds) => Object.fromEntries(ds.map((d) => [d.getAttribute('data-job'), d.getAttribute('data-digest')])));

/** Shared between the tests, in order. */
const state = { link: '', digest: '', bundle: '' };

test('a session puts its results in the link; arq gives the same digests for it', { timeout: 4 * LONG }, async () => {
  assert.ok(existsSync(ARQ), `${ARQ} is missing: cargo build --release --bin arq`);
  const { page, errors } = await openPage(env.browser, env.baseUrl, FRAGMENT);
  await page.waitForSelector('#search-card:not([hidden])', { timeout: LONG });
  await page.waitForSelector('#bits-editor .bit-col', { timeout: LONG });
  assert.equal(await page.isHidden('#share-shared'), true, 'nothing shared in a plain link');
  await page.click('#certify-start');
  await page.waitForSelector('#certify-progress[data-state="done"]', { timeout: LONG });
  await waitIdle(page);
  await page.click('#search-arq');
  await page.waitForSelector('#search-progress[data-state="done"]', { timeout: LONG });
  await waitIdle(page);
  await page.click('#final-start');
  await page.waitForSelector('#final-progress[data-state="done"]', { timeout: LONG });
  await waitIdle(page);
  await page.click('#share-link');
  await page.waitForSelector('#share-status[data-digest]', { timeout: LONG });
  state.digest = /** @type {string} */ (await page.getAttribute('#share-status', 'data-digest'));
  state.link = await page.evaluate(() => location.hash);
  assert.match(state.digest, /^[0-9a-f]{64}$/);
  assert.match(state.link, /&eng=[^&]+&r=[A-Za-z0-9_-]+$/);
  assert.ok(state.link.startsWith(FRAGMENT.replace('&seed=4', '')) || state.link.includes('seed=4'), state.link);
  assert.ok(state.link.length < 4000, `link of ${state.link.length} characters`);
  // the same link from the module other parts of the page use (e.g. a run history)
  const viaModule = await page.evaluate(async (path) => {
    const share = /** @type {typeof import('../../www/js/share.js')} */ (await import(path));
    return share.shareLink();
  }, SHARE_MODULE);
  assert.equal(viaModule, state.link);

  // the bundle the page writes
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#share-download')]);
  state.bundle = join(TMP, 'page.arq.json');
  await download.saveAs(state.bundle);
  const bundle = JSON.parse(readFileSync(state.bundle, 'utf8'));
  assert.equal(bundle.format, 'arq-bundle');
  assert.equal(bundle.digest, state.digest);
  assert.deepEqual(bundle.jobs.map((/** @type {{job: string}} */ j) => j.job), ['certify', 'search:arq', 'table']);
  assert.deepEqual(errors, []);
  await page.context().close();

  // arq verify replays the link: bit-identical, same digest
  const v = arq(['verify', state.link, '--quiet', '--json']);
  assert.equal(v.status, 0, v.stdout + v.stderr);
  const verdict = JSON.parse(v.stdout).verdict;
  assert.equal(verdict.identical, true, verdict.message);
  assert.equal(verdict.sharedDigest, state.digest);
  assert.equal(verdict.replayDigest, state.digest);
  // arq run --url LINK runs the link's searches and table: the same job digests as the page's
  const run = arq(['run', '--url', state.link, '--quiet', '--json']);
  assert.equal(run.status, 0, run.stderr);
  const jobs = Object.fromEntries(JSON.parse(run.stdout).results.jobs.map((/** @type {{job: string, digest: string}} */ j) => [j.job, j.digest]));
  const want = Object.fromEntries(bundle.jobs.map((/** @type {{job: string, digest: string}} */ j) => [j.job, j.digest]));
  assert.equal(jobs['search:arq'], want['search:arq']);
  assert.equal(jobs.table, want.table);
  // and arq certify the certification's
  const cert = arq(['certify', '--url', state.link, '--quiet', '--json']);
  assert.equal(cert.status, 0, cert.stderr);
  assert.equal(JSON.parse(cert.stdout).results.jobs[0].digest, want.certify);
  // the page's bundle verifies natively too
  const vb = arq(['verify', state.bundle, '--quiet']);
  assert.equal(vb.status, 0, vb.stdout + vb.stderr);
  assert.match(vb.stdout, /replayed, bit-identical/);
});

test('another session sees the shared results before computing anything, replays them: bit-identical', { timeout: 4 * LONG }, async () => {
  assert.ok(state.link, 'the first test made the link');
  const { page, errors } = await openPage(env.browser, env.baseUrl, state.link);
  await page.waitForSelector('#share-shared:not([hidden])', { timeout: LONG });
  assert.equal(await page.getAttribute('#share-badge', 'data-state'), 'shared');
  assert.equal((await page.textContent('#share-badge'))?.trim(), 'as shared, not yet replayed');
  assert.equal(await page.textContent('.share-digest'), state.digest);
  // nothing was computed: no certification run, no search run, no final table
  assert.equal(await page.isHidden('#certify-results'), true);
  assert.equal(await page.isHidden('#final-table'), true);
  const shown = await jobDigests(page);
  assert.deepEqual(Object.keys(shown), ['certify', 'search:arq', 'table']);
  const rows = await page.$$eval('[data-job="table"] tbody tr th', (ths) => ths.map((t) => t.textContent));
  assert.equal(rows[0], 'FP32');
  assert.equal(rows.length, 3);
  // the address keeps the results while the settings are theirs
  assert.equal(await page.evaluate(() => location.hash), state.link);
  await page.click('#share-replay');
  await page.waitForSelector('#share-badge[data-state="identical"], #share-badge[data-state="differs"], #share-badge[data-state="failed"]', { timeout: 3 * LONG });
  const text = await page.textContent('#share-verdict');
  assert.equal(await page.getAttribute('#share-badge', 'data-state'), 'identical', text ?? '');
  assert.equal((await page.textContent('#share-badge'))?.trim(), 'replayed, bit-identical');
  assert.match(text ?? '', /bit-identical/);
  assert.deepEqual(errors, []);
  await page.context().close();
});

test('bundles round-trip: arq writes one, the page imports it and shows its results as shared', { timeout: 2 * LONG }, async () => {
  const out = join(TMP, 'cli.arq.json');
  const run = arq(['run', '--url', FRAGMENT, '--quiet', '--json', '--bundle', out]);
  assert.equal(run.status, 0, run.stderr);
  const cliDigest = JSON.parse(run.stdout).results.digest;
  const { page, errors } = await openPage(env.browser, env.baseUrl, '#v=1&seed=9');
  await page.setInputFiles('#share-file', out);
  await page.waitForSelector('#share-shared:not([hidden])', { timeout: LONG });
  assert.equal(await page.textContent('.share-digest'), cliDigest);
  assert.equal(await page.getAttribute('#share-badge', 'data-state'), 'shared');
  // the bundle's settings were loaded, and the address carries its results
  const hash = await page.evaluate(() => location.hash);
  assert.ok(hash.includes('seed=4') && hash.includes('&r='), hash);
  // an edited bundle is refused with a notice naming the digest
  const edited = readFileSync(out, 'utf8').replace(/"reward":(-?[0-9.e-]+)/, '"reward":0.5');
  writeFileSync(join(TMP, 'edited.arq.json'), edited);
  await page.setInputFiles('#share-file', join(TMP, 'edited.arq.json'));
  await page.waitForSelector('#notices .notice', { timeout: LONG });
  assert.match(await page.textContent('#notices') ?? '', /bundle\.jobs\[0\]\.digest.*does not match its records/);
  writeFileSync(join(TMP, 'junk.arq.json'), '{"format": "zip"}');
  await page.setInputFiles('#share-file', join(TMP, 'junk.arq.json'));
  await page.waitForFunction(() => (document.querySelector('#notices')?.textContent ?? '').includes('bundle.format'), undefined, { timeout: LONG });
  assert.deepEqual(errors, []);
  await page.context().close();
});

/**
 * A link whose `r=` is replaced by the result of `edit` on its inflated JSON (in the page, with
 * its own CompressionStream).
 * @param {import('playwright-core').Page} page @param {string} link @param {string} edit a function body over `j`
 */
async function retamper(page, link, edit) {
  return page.evaluate(async ({ link, edit, path }) => {
    const share = /** @type {typeof import('../../www/js/share.js')} */ (await import(path));
    const parts = share.splitLink(link);
    const j = JSON.parse(new TextDecoder().decode(await share.decodeResults(/** @type {string} */ (parts.results))));
    const apply = { tags: () => { j.jobs[0].tags = 'zz'; }, acr: () => { j.jobs[2].data.rows[0].acr = 0.99; }, engine: () => { j.engine = '0.0.9'; } }[edit];
    apply?.();
    const r = await share.encodeResults(new TextEncoder().encode(JSON.stringify(j)));
    return share.joinLink(parts.settings, j.engine, r);
  }, { link, edit, path: SHARE_MODULE });
}

test('bad results in a link: a notice naming r= or eng=, the settings still load; a tampered number shows unverified', { timeout: 2 * LONG }, async () => {
  assert.ok(state.link, 'the first test made the link');
  const settings = state.link.slice(0, state.link.indexOf('&eng='));
  const r = state.link.slice(state.link.indexOf('&r=') + 3);
  const cases = [
    [`${settings}&eng=0.1.0&r=${r.slice(0, Math.floor(r.length / 2))}`, /r=.*(truncated|not deflated)/],
    [`${settings}&eng=0.1.0&r=${'A'.repeat(17000)}`, /r=.*too long/],
    [`${settings}&eng=9.9.9&r=${r}`, /eng=9\.9\.9: does not match/],
    [`${settings.replace('seed=4', 'seed=5')}&eng=0.1.0&r=${r}`, /computed with other settings/],
  ];
  const { page } = await openPage(env.browser, env.baseUrl, '#v=1');
  cases.push([await retamper(page, state.link, 'tags'), /r\.jobs\[0\]\.tags/]);
  const tampered = await retamper(page, state.link, 'acr');
  const older = await retamper(page, state.link, 'engine');
  await page.context().close();
  for (const [link, want] of cases) {
    const { page: p, errors } = await openPage(env.browser, env.baseUrl, /** @type {string} */ (link));
    const notice = await p.textContent('#notices');
    assert.match(notice ?? '', /** @type {RegExp} */ (want), `${String(link).slice(0, 120)}: ${notice}`);
    assert.match(notice ?? '', /its settings were loaded/);
    assert.equal(await p.isHidden('#share-shared'), true);
    // the settings part applied, the results keys left the address
    const hash = await p.evaluate(() => location.hash);
    assert.ok(!hash.includes('&r=') && hash.includes('points=8'), hash);
    assert.deepEqual(errors, []);
    await p.context().close();
  }
  // a valid but edited number: shown, as shared only (only a replay could verify it, and the
  // engine's verify refuses it: src/results tests)
  const { page: p } = await openPage(env.browser, env.baseUrl, tampered);
  await p.waitForSelector('#share-shared:not([hidden])', { timeout: LONG });
  assert.equal(await p.getAttribute('#share-badge', 'data-state'), 'shared');
  // a link from another engine version says so before any replay
  const { page: o } = await openPage(env.browser, env.baseUrl, older);
  await o.waitForSelector('#share-shared:not([hidden])', { timeout: LONG });
  assert.equal(await o.getAttribute('#share-meta', 'data-engine'), 'other');
  assert.match(await o.textContent('#share-meta') ?? '', /engine 0\.0\.9 \(this page runs [^)]+: a replay may differ\)/);
  await o.context().close();
  const v = arq(['verify', tampered, '--quiet']);
  assert.equal(v.status, 1, v.stdout + v.stderr);
  assert.match(v.stdout, /differs: table: the same records, but the shared numbers are not theirs/);
  await p.context().close();
});
