// The engine self-test on load: a worker of its own runs a tiny fixed experiment through the
// engine (noise, f32 forward, training steps, certification, the integer path) and compares
// its SHA-256 digests with the golden values committed in the source (src/selftest.rs; the
// native `arq selftest` and the test suites check the same values). The footer says "engine
// self-test passed in N ms", or warns which part gives other numbers here, so a browser whose
// floating point or wasm engine differs is named instead of silently giving other results.
import { scriptURL } from './dom.js';

/**
 * @typedef {import('../../pkg/arq.js').SelfTest} SelfTest
 * @typedef {{ok: true, result: SelfTest, ms: number} | {ok: false, message: string}} SelfTestReply
 * @typedef {{state: 'passed' | 'failed' | 'error', ms: number | null, result: SelfTest | null, message: string}} SelfTestOutcome
 */

/** Longer than this and the self-test is given up (a stalled worker never blocks the page). */
const TIMEOUT_MS = 60_000;

/**
 * Runs the self-test in a fresh worker.
 * @returns {Promise<SelfTestOutcome>}
 */
export function runSelfTest() {
  return new Promise((resolve) => {
    /** @type {Worker} */
    let worker;
    /** @param {SelfTestOutcome} o */
    const finish = (o) => {
      clearTimeout(timer);
      worker?.terminate();
      resolve(o);
    };
    const timer = setTimeout(() => finish({ state: 'error', ms: null, result: null, message: `it did not finish within ${TIMEOUT_MS / 1000} s` }), TIMEOUT_MS);
    try {
      worker = new Worker(scriptURL(new URL('./worker-selftest.js', import.meta.url)), { type: 'module' });
    } catch (e) {
      finish({ state: 'error', ms: null, result: null, message: `its worker could not start (${e instanceof Error ? e.message : String(e)})` });
      return;
    }
    worker.addEventListener('message', (ev) => {
      const r = /** @type {SelfTestReply} */ (ev.data);
      if (r.ok) finish({ state: r.result.passed ? 'passed' : 'failed', ms: r.ms, result: r.result, message: r.result.message });
      else finish({ state: 'error', ms: null, result: null, message: r.message });
    });
    worker.addEventListener('error', (ev) => {
      ev.preventDefault();
      finish({ state: 'error', ms: null, result: null, message: `its worker failed (${ev.message || 'no reason given'})` });
    });
  });
}

/**
 * Shows an outcome in `node` (the footer's self-test line).
 * @param {HTMLElement} node @param {SelfTestOutcome} o
 */
export function showSelfTest(node, o) {
  node.dataset.state = o.state;
  if (o.state === 'passed' && o.result && o.ms !== null) {
    node.textContent = `engine self-test passed in ${Math.round(o.ms)} ms`;
    node.title = `Digest ${o.result.digest} of a tiny fixed experiment equals the committed golden value (the native \`arq selftest\` checks the same): this browser computes the same numbers as the reference build.`;
  } else if (o.state === 'failed') {
    const parts = o.result?.parts.filter((p) => !p.ok).map((p) => `${p.name} (${p.what})`).join(', ') ?? '';
    node.textContent = `Warning: engine self-test failed: this browser computes other numbers in ${parts}, so results here may differ from the same link elsewhere.`;
    node.title = o.message;
  } else {
    node.textContent = `Engine self-test could not run: ${o.message}. The page works, but its numbers were not checked against the reference.`;
    node.title = '';
  }
}

/** Runs the self-test and shows it in `node`. @param {HTMLElement} node @returns {Promise<SelfTestOutcome>} */
export async function selfTest(node) {
  node.dataset.state = 'running';
  node.textContent = 'engine self-test running…';
  const o = await runSelfTest();
  showSelfTest(node, o);
  return o;
}
