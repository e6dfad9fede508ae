// Offline use after the first visit: registers the service worker (www/sw.js), which caches
// the page, the engine, the data and the shipped models under the engine's version, and says
// in the footer whether the page is available offline. A browser that refuses service
// workers (or a page not served over HTTPS / localhost) gets a clear line; nothing else changes.
import { scriptURL } from './dom.js';

/**
 * @param {HTMLElement} node the footer's line
 * @param {string} engineVersion names the cache (a new engine replaces it)
 * @returns {Promise<boolean>} whether the page is available offline
 */
export async function registerOffline(node, engineVersion) {
  const show = (/** @type {string} */ state, /** @type {string} */ text) => {
    node.dataset.state = state;
    node.textContent = text;
  };
  if (!('serviceWorker' in navigator) || !window.isSecureContext) {
    show('unsupported', 'Offline use is not available here (this browser or an insecure page offers no service worker).');
    return false;
  }
  const root = new URL('../', import.meta.url);
  try {
    show('installing', 'making the page available offline…');
    const url = new URL(`sw.js?engine=${encodeURIComponent(engineVersion)}`, root);
    await navigator.serviceWorker.register(scriptURL(url), { scope: root.pathname, type: 'classic' });
    await navigator.serviceWorker.ready;
    show('ready', 'available offline (page, engine, data and models cached)');
    return true;
  } catch (e) {
    show('error', `Offline use could not be set up (${e instanceof Error ? e.message : String(e)}); the page works online as before.`);
    return false;
  }
}
