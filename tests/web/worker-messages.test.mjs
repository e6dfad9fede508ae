// Malformed messages posted straight to the engine worker (not through EngineClient, which
// only sends well-formed ones): every one gets an error reply (with the message's id when it
// has a usable one, else id null) naming what was wrong, nothing crashes or restarts, and
// normal requests afterwards still succeed. No timing assertions.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { LONG, launch, openPage } from './harness.mjs';

/** @type {Awaited<ReturnType<typeof launch>>} */
let env;

before(async () => {
  env = await launch();
});

after(async () => {
  await env?.close();
});

/** Ids far above the page's own (EngineClient counts from 1), so no reply reaches its jobs. */
const BASE = 1_000_000_000;

/**
 * @typedef {object} Outcome
 * @property {string} name
 * @property {{id: number|null, type: string, phase?: string, message?: string}[]} replies
 * @property {number|null} expectId
 */

test('malformed messages each get an error reply and the worker keeps serving', async () => {
  const { page, errors } = await openPage(env.browser, env.baseUrl, '#v=1&points=2&n=100&n0=10');
  /** @type {Outcome[]} */
  const outcomes = await page.evaluate(async (base) => {
    const w = /** @type {any} */ (window);
    const client = w.arq.client;
    /** @type {Worker} */
    const worker = client.worker;
    // Replies to these messages are not the page's business: keep them off its error path.
    const onFatal = client.onFatal;
    client.onFatal = () => {};
    /** @type {any[]} */
    let inbox = [];
    const listen = (/** @type {MessageEvent} */ ev) => inbox.push(ev.data);
    worker.addEventListener('message', listen);
    const cyclic = /** @type {any} */ ({ a: 1 });
    cyclic.self = cyclic;
    let deep = /** @type {any} */ ({});
    for (let i = 0; i < 1000; i += 1) deep = { deep };
    const manyKeys = Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`k${i}`, i]));
    let id = base;
    const next = () => (id += 1);
    /** @type {[string, () => unknown, boolean][]} name, message, whether the reply carries its id */
    const cases = [
      ['null', () => null, false],
      ['undefined', () => undefined, false],
      ['a string', () => 'modelInfo', false],
      ['a number', () => 42, false],
      ['a boolean', () => true, false],
      ['an array', () => [next(), 'modelInfo', {}], false],
      ['an empty object', () => ({}), false],
      ['a Map', () => new Map(/** @type {[string, unknown][]} */ ([['id', next()], ['cmd', 'modelInfo']])), false],
      ['a Date', () => new Date(0), false],
      ['an ArrayBuffer', () => new ArrayBuffer(16), false],
      ['missing id', () => ({ cmd: 'modelInfo', params: {} }), false],
      ['null id', () => ({ id: null, cmd: 'modelInfo', params: {} }), false],
      ['negative id', () => ({ id: -1, cmd: 'modelInfo', params: {} }), false],
      ['huge id', () => ({ id: 2 ** 60, cmd: 'modelInfo', params: {} }), false],
      ['Infinity id', () => ({ id: Infinity, cmd: 'modelInfo', params: {} }), false],
      ['NaN id', () => ({ id: NaN, cmd: 'modelInfo', params: {} }), false],
      ['non-integer id', () => ({ id: 1.5, cmd: 'modelInfo', params: {} }), false],
      ['string id', () => ({ id: String(next()), cmd: 'modelInfo', params: {} }), false],
      ['BigInt id', () => ({ id: BigInt(next()), cmd: 'modelInfo', params: {} }), false],
      ['cancel without id', () => ({ cmd: 'cancel' }), false],
      ['missing cmd', () => ({ id: next(), params: {} }), true],
      ['unknown cmd', () => ({ id: next(), cmd: 'rm -rf /', params: {} }), true],
      ['cmd not a string', () => ({ id: next(), cmd: 7, params: {} }), true],
      ['cmd __proto__', () => ({ id: next(), cmd: '__proto__', params: {} }), true],
      ['cmd toString', () => ({ id: next(), cmd: 'toString', params: {} }), true],
      ['cmd constructor', () => ({ id: next(), cmd: 'constructor', params: {} }), true],
      ['cmd hasOwnProperty', () => ({ id: next(), cmd: 'hasOwnProperty', params: {} }), true],
      ['params a string', () => ({ id: next(), cmd: 'modelInfo', params: 'x' }), true],
      ['params an array', () => ({ id: next(), cmd: 'modelInfo', params: [1, 2] }), true],
      ['params a number', () => ({ id: next(), cmd: 'modelInfo', params: 5 }), true],
      ['unknown param', () => ({ id: next(), cmd: 'modelInfo', params: { x: 1 } }), true],
      ['param __proto__', () => ({ id: next(), cmd: 'modelInfo', params: JSON.parse('{"__proto__": {"x": 1}}') }), true],
      ['samples: wrong types', () => ({ id: next(), cmd: 'samples', params: { split: 1, start: '0', count: true } }), true],
      ['samples: unknown split', () => ({ id: next(), cmd: 'samples', params: { split: 'all', start: 0, count: 1 } }), true],
      ['samples: huge count', () => ({ id: next(), cmd: 'samples', params: { split: 'test', start: 0, count: 1e9 } }), true],
      ['samples: past the end', () => ({ id: next(), cmd: 'samples', params: { split: 'test', start: 999_999, count: 1 } }), true],
      ['samples: missing params', () => ({ id: next(), cmd: 'samples' }), true],
      ['noise: sigmas a string', () => ({ id: next(), cmd: 'noise', params: { index: 0, sigmas: '0.25', k: 4 } }), true],
      ['noise: sigmas NaN', () => ({ id: next(), cmd: 'noise', params: { index: 0, sigmas: [NaN], k: 4 } }), true],
      ['noise: sigmas Infinity', () => ({ id: next(), cmd: 'noise', params: { index: 0, sigmas: [Infinity], k: 4 } }), true],
      ['noise: sigmas a Float32Array', () => ({ id: next(), cmd: 'noise', params: { index: 0, sigmas: new Float32Array([0.25]), k: 4 } }), true],
      ['noise: a million sigmas', () => ({ id: next(), cmd: 'noise', params: { index: 0, sigmas: new Array(1_000_000).fill(0.25), k: 4 } }), true],
      ['noise: huge k', () => ({ id: next(), cmd: 'noise', params: { index: 0, sigmas: [0.25], k: 1e9 } }), true],
      ['noise: fractional index', () => ({ id: next(), cmd: 'noise', params: { index: 0.5, sigmas: [0.25], k: 4 } }), true],
      ['noise: missing k', () => ({ id: next(), cmd: 'noise', params: { index: 0, sigmas: [0.25] } }), true],
      ['noise: quantized a string', () => ({ id: next(), cmd: 'noise', params: { index: 0, sigmas: [0.25], k: 4, quantized: 'yes' } }), true],
      ['setConfig: missing fragment', () => ({ id: next(), cmd: 'setConfig', params: {} }), true],
      ['setConfig: fragment a number', () => ({ id: next(), cmd: 'setConfig', params: { fragment: 1 } }), true],
      ['setConfig: a 10 MB fragment', () => ({ id: next(), cmd: 'setConfig', params: { fragment: '#v=1&' + 'a'.repeat(10_000_000) } }), true],
      ['parseFragment: an object', () => ({ id: next(), cmd: 'parseFragment', params: { fragment: { toString: 'x' } } }), true],
      ['init: missing fragment', () => ({ id: next(), cmd: 'init', params: {} }), true],
      ['setPolicy: strings', () => ({ id: next(), cmd: 'setPolicy', params: { wb: '4', ab: '4', lk: '0' } }), true],
      ['setPolicy: bad widths', () => ({ id: next(), cmd: 'setPolicy', params: { wb: [1, 9, 4, 4, 4], ab: [4, 4, 4, 4, 4], lk: [false, false, false, false, false] } }), true],
      ['setPolicy: wrong length', () => ({ id: next(), cmd: 'setPolicy', params: { wb: [4], ab: [4], lk: [false] } }), true],
      ['setPolicy: 100,000 widths', () => ({ id: next(), cmd: 'setPolicy', params: { wb: new Array(100_000).fill(4), ab: [4], lk: [false] } }), true],
      ['applyPreset: unknown', () => ({ id: next(), cmd: 'applyPreset', params: { name: 'w1a1' } }), true],
      ['applyPreset: missing name', () => ({ id: next(), cmd: 'applyPreset', params: {} }), true],
      ['layerHistogram: out of range', () => ({ id: next(), cmd: 'layerHistogram', params: { layer: 63 } }), true],
      ['layerHistogram: negative', () => ({ id: next(), cmd: 'layerHistogram', params: { layer: -1 } }), true],
      ['search: unknown kind', () => ({ id: next(), cmd: 'search', params: { kind: 'exhaustive' } }), true],
      ['search: missing kind', () => ({ id: next(), cmd: 'search', params: {} }), true],
      ['search: negative episodes', () => ({ id: next(), cmd: 'search', params: { kind: 'random', episodes: -1 } }), true],
      ['search: resume a number', () => ({ id: next(), cmd: 'search', params: { kind: 'random', resume: 1 } }), true],
      ['certify: params given', () => ({ id: next(), cmd: 'certify', params: { n: 5 } }), true],
      ['cyclic params', () => ({ id: next(), cmd: 'modelInfo', params: cyclic }), true],
      ['deeply nested params', () => ({ id: next(), cmd: 'samples', params: { split: deep, start: 0, count: 1 } }), true],
      ['10,000 unknown params', () => ({ id: next(), cmd: 'modelInfo', params: manyKeys }), true],
    ];
    /** @type {{name: string, replies: any[], expectId: number|null}[]} */
    const out = [];
    for (const [name, make, carriesId] of cases) {
      const msg = make();
      inbox = [];
      worker.postMessage(msg);
      // Every refusal is synchronous in the worker; a reply (or a second one) would come at once.
      const t0 = performance.now();
      while (inbox.length === 0 && performance.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 5));
      await new Promise((r) => setTimeout(r, 20));
      out.push({ name, replies: inbox.map((r) => ({ id: r.id, type: r.type, phase: r.phase, message: String(r.message ?? '') })), expectId: carriesId ? id : null });
    }
    worker.removeEventListener('message', listen);
    client.onFatal = onFatal;
    return out;
  }, BASE);

  for (const o of outcomes) {
    assert.equal(o.replies.length, 1, `${o.name}: exactly one reply (${JSON.stringify(o.replies)})`);
    const [r] = o.replies;
    assert.equal(r.type, 'error', `${o.name}: an error reply (${JSON.stringify(r)})`);
    assert.equal(r.id, o.expectId, `${o.name}: reply id`);
    assert.ok((r.message ?? '').length > 10 && (r.message ?? '').length < 600, `${o.name}: a short readable message (${r.message})`);
    assert.match(r.message ?? '', /=|expected|unknown|params|message/, `${o.name}: names what was wrong (${r.message})`);
  }
  const byName = Object.fromEntries(outcomes.map((o) => [o.name, o.replies[0]?.message ?? '']));
  assert.match(byName['null'], /message=null: expected an object/);
  assert.match(byName['unknown cmd'], /cmd="rm -rf \/": unknown command/);
  assert.match(byName['cmd toString'], /cmd="toString": unknown command/);
  assert.match(byName['huge id'], /^id=\d+: expected an integer/);
  assert.match(byName['noise: a million sigmas'], /params\.sigmas=\[0\.25,.*expected 1 to 8 numbers/);
  assert.match(byName['setConfig: a 10 MB fragment'], /params\.fragment=".*\.\.\.: expected a string of at most/);
  assert.match(byName['samples: past the end'], /test split has/);
  assert.match(byName['cyclic params'], /params\.a=1: unknown parameter/);

  // The same worker (no restart) still serves: read-only, queued and long commands.
  const after = await page.evaluate(async () => {
    const client = /** @type {any} */ (window).arq.client;
    const memory = await client.request('memoryInfo', {});
    const model = await client.request('modelInfo', {});
    const samples = await client.request('samples', { split: 'test', start: 0, count: 2 });
    const noise = await client.request('noise', { index: 0, sigmas: [0.25], k: 4 });
    const cert = await client.request('certify', {});
    return { generation: memory.generation, layers: model.layers.length, labels: samples.labels.length, preds: noise.preds.length, points: cert.summary.points };
  });
  assert.deepEqual(after, { generation: 0, layers: after.layers, labels: 2, preds: 4, points: 2 });
  assert.ok(after.layers > 0);
  assert.equal(await page.getAttribute('body', 'data-state'), 'ready');
  assert.deepEqual(errors, []);
  await page.context().close();
});

test('a second request with the id of a running one is refused; the first one finishes', async () => {
  // Several engine steps (with event-loop turns between them), so the second message arrives mid-run.
  const { page, errors } = await openPage(env.browser, env.baseUrl, '#v=1&points=10&n=1000&n0=100');
  const replies = await page.evaluate(async (id) => {
    const worker = /** @type {Worker} */ (/** @type {any} */ (window).arq.client.worker);
    /** @type {any[]} */
    const inbox = [];
    const done = new Promise((resolve) => {
      worker.addEventListener('message', (ev) => {
        if (ev.data.id !== id) return;
        inbox.push({ type: ev.data.type, message: ev.data.message ?? '' });
        if (ev.data.type === 'done' || ev.data.type === 'aborted') resolve(null);
      });
    });
    worker.postMessage({ id, cmd: 'certify', params: {} });
    worker.postMessage({ id, cmd: 'modelInfo', params: {} });
    await done;
    return inbox.filter((r) => r.type !== 'progress' && r.type !== 'partial');
  }, BASE + 77);
  assert.equal(replies.length, 2, JSON.stringify(replies));
  assert.equal(replies[0].type, 'error');
  assert.match(replies[0].message, /id=1000000077: a request with this id is still running/);
  assert.equal(replies[1].type, 'done');
  await page.waitForFunction(() => document.body.dataset.state === 'ready', undefined, { timeout: LONG });
  assert.deepEqual(errors, []);
  await page.context().close();
});
