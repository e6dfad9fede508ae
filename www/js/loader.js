// Loading with visible bytes: fetch with a progress reader, and the wasm engine module.
// Used by the worker only.

/** @typedef {typeof import('../../pkg/arq.js')} ArqModule */

/** @param {unknown} e */
const reason = (e) => (e instanceof Error ? e.message : String(e));

/**
 * Fetches a file, reporting bytes received (total is 0 when the server sends no length).
 * @param {URL} url
 * @param {(done: number, total: number) => void} onProgress
 * @returns {Promise<Uint8Array>}
 */
export async function fetchBytes(url, onProgress) {
  let res;
  try {
    res = await fetch(url, { cache: 'no-cache' });
  } catch (e) {
    throw new Error(`${url.pathname}: could not fetch (${reason(e)})`);
  }
  if (!res.ok) throw new Error(`${url.pathname}: HTTP ${res.status} ${res.statusText}`.trim());
  const length = Number.parseInt(res.headers.get('Content-Length') ?? '', 10);
  const total = Number.isSafeInteger(length) && length > 0 ? length : 0;
  onProgress(0, total);
  if (!res.body) {
    const all = new Uint8Array(await res.arrayBuffer());
    onProgress(all.length, all.length);
    return all;
  }
  /** @type {Uint8Array[]} */
  const chunks = [];
  let received = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    received += value.length;
    onProgress(received, Math.max(total, received));
  }
  const all = new Uint8Array(received);
  let offset = 0;
  for (const chunk of chunks) {
    all.set(chunk, offset);
    offset += chunk.length;
  }
  onProgress(received, received);
  return all;
}

/**
 * Imports pkg/arq.js and instantiates pkg/arq_bg.wasm (fetched with progress).
 * @param {number} generation 0 the first time; a higher number imports a fresh copy of the
 *   module (pkg/arq.js?g=N), which gives a fresh wasm instance after a fatal panic
 * @param {(done: number, total: number) => void} onProgress bytes of the .wasm file
 * @returns {Promise<ArqModule>}
 */
export async function loadEngineModule(generation, onProgress) {
  const base = new URL('../../pkg/', import.meta.url);
  const jsUrl = new URL(generation ? `arq.js?g=${generation}` : 'arq.js', base);
  /** @type {ArqModule} */
  let mod;
  try {
    mod = await import(jsUrl.href);
  } catch (e) {
    throw new Error(`could not load the engine's ${jsUrl.pathname} (${reason(e)}); build it with "make pkg"`);
  }
  const bytes = await fetchBytes(new URL('arq_bg.wasm', base), onProgress);
  try {
    await mod.default({ module_or_path: bytes });
  } catch (e) {
    throw new Error(`could not start the engine's WebAssembly (${reason(e)})`);
  }
  return mod;
}
