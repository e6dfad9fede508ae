// A short-lived worker that runs the engine self-test (src/selftest.rs) in its own wasm
// instance, so the page's engine workers are not held up: it loads the module, runs
// selfTest() once, posts {ok: true, result, ms} (ms: the self-test alone, load excluded) or
// {ok: false, message}, and is terminated by the page (selftest.js).
import { loadEngineModule } from './loader.js';

const scope = /** @type {DedicatedWorkerGlobalScope} */ (/** @type {unknown} */ (self));

(async () => {
  try {
    const arq = await loadEngineModule(0, () => {});
    const t0 = performance.now();
    const result = arq.selfTest();
    const ms = performance.now() - t0;
    scope.postMessage({ ok: true, result, ms });
  } catch (e) {
    scope.postMessage({ ok: false, message: e instanceof Error ? e.message : String(e) });
  }
})();
