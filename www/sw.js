// The service worker that makes the page work offline after the first visit (it is served
// from the site's root so its scope is the whole page). On install it caches the page, its
// modules, the engine (pkg/), the data (data/mnist10k.u8) and every shipped model
// (models/index.json and the files it names); every request afterwards goes to the network
// first (so a rebuilt engine or new models are picked up and replace the cached copies) and
// falls back to the cache when there is no network. The cache is named after the engine
// version the page registers it with (sw.js?engine=0.1.0): a new version installs a new cache
// and deletes the old ones. Plain static files: any static host serves it.

const sw = /** @type {ServiceWorkerGlobalScope} */ (/** @type {unknown} */ (self));
const ENGINE = new URL(sw.location.href).searchParams.get('engine') || 'unknown';
const CACHE = `arq-${ENGINE}`;

/** Relative to this file (the site root). Every module of www/js (tests/web/offline.test.mjs checks the list). */
const FILES = [
  './',
  'index.html',
  'style.css',
  'digit.css',
  'favicon.svg',
  'vendor/d3.min.js',
  'pkg/arq.js',
  'pkg/arq_bg.wasm',
  'data/mnist10k.u8',
  'models/index.json',
  'js/bits-editor.js',
  'js/bits-histogram.js',
  'js/bits-view.js',
  'js/cert-charts.js',
  'js/cert-table.js',
  'js/certify-view.js',
  'js/charts.js',
  'js/client.js',
  'js/data-tables.js',
  'js/digit-view.js',
  'js/dom.js',
  'js/draw.js',
  'js/eval-view.js',
  'js/exports-view.js',
  'js/exports.js',
  'js/final-view.js',
  'js/format.js',
  'js/history-view.js',
  'js/history.js',
  'js/job.js',
  'js/lesson-math.js',
  'js/lesson-view.js',
  'js/loader.js',
  'js/main.js',
  'js/model-view.js',
  'js/nav.js',
  'js/noise-quant.js',
  'js/noise-view.js',
  'js/offline.js',
  'js/pool.js',
  'js/protocol.js',
  'js/quant-types.js',
  'js/samples-view.js',
  'js/search-charts.js',
  'js/search-cost.js',
  'js/search-heatmap.js',
  'js/search-tables.js',
  'js/search-view.js',
  'js/selftest.js',
  'js/sensitivity-view.js',
  'js/settings.js',
  'js/share-view.js',
  'js/share.js',
  'js/showcase-view.js',
  'js/status.js',
  'js/teacher.js',
  'js/train-view.js',
  'js/types.js',
  'js/url.js',
  'js/worker-digit.js',
  'js/worker-loops.js',
  'js/worker-quant.js',
  'js/worker-selftest.js',
  'js/worker-sensitivity.js',
  'js/worker.js',
];

/** The model files models/index.json names. @param {Cache} cache */
async function cacheModels(cache) {
  const res = await fetch('models/index.json', { cache: 'no-cache' });
  if (!res.ok) return;
  const entries = await res.json();
  const files = Array.isArray(entries) ? entries.map((e) => e?.file).filter((f) => typeof f === 'string' && /^[\w.-]+$/.test(f) && !f.startsWith('.')) : [];
  await cache.addAll(files.map((f) => `models/${f}`));
}

sw.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    await cache.addAll(FILES.map((f) => new Request(f, { cache: 'no-cache' })));
    await cacheModels(cache);
    await sw.skipWaiting();
  })());
});

sw.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) if (key.startsWith('arq-') && key !== CACHE) await caches.delete(key);
    await sw.clients.claim();
  })());
});

sw.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET' || new URL(req.url).origin !== sw.location.origin) return;
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    try {
      const res = await fetch(req);
      if (res.ok && res.status === 200) await cache.put(req, res.clone());
      return res;
    } catch (e) {
      // offline: the cached copy (a module reloaded after a crash carries ?g=N; same file)
      const hit = await cache.match(req) ?? await cache.match(req, { ignoreSearch: true });
      if (hit) return hit;
      throw e;
    }
  })());
});
