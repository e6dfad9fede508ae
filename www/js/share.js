// Results that travel with the link (issue 12): `#<settings>&eng=<engine>&r=<payload>`.
// The payload is the engine's shared summary (src/results: rounded curves, ACR, the final
// table, each search's best policy and reward curve, job digests and per-record tags) as
// JSON, raw-deflated with the browser's CompressionStream('deflate-raw') and base64url-coded;
// `arq` writes and reads the same text (miniz_oxide). Sizes are capped before and after
// inflating, and the engine validates every field (readSharedResults). `eng=` and `r=` never
// change what the experiment computes: the engine skips them when it parses the settings.
//
// The one entry point for other modules (e.g. a run history): `shareLink()` returns the
// current page's link with its finished results, and `sharedState()` the results the opened
// link or bundle carries (see ShareView in share-view.js, which registers both).
import { DEFAULT_FRAGMENT } from './protocol.js';


/** The keys of a link that carry results, not settings. */
export const RESULT_KEYS = ['eng', 'r'];
/** Largest `r=` value accepted, in characters (the engine's MAX_LINK_CHARS). */
export const MAX_LINK_CHARS = 16 * 1024;
/** Largest inflated summary, in bytes (the engine's MAX_SHARED_BYTES). */
export const MAX_SHARED_BYTES = 64 * 1024;
/** Largest bundle file read, in bytes (the engine's MAX_BUNDLE_BYTES). */
export const MAX_BUNDLE_BYTES = 32 * 1024 * 1024;

/**
 * A link taken apart.
 * @typedef {object} LinkParts
 * @property {string} settings the fragment without its results keys, with '#' ("" when empty)
 * @property {string | null} engine `eng=`
 * @property {string | null} results `r=`
 */

/**
 * Splits a fragment (or a whole URL) into its settings and its results keys.
 * @param {string} link
 * @returns {LinkParts}
 */
export function splitLink(link) {
  const at = link.indexOf('#');
  const body = at >= 0 ? link.slice(at + 1) : link;
  /** @type {string[]} */
  const settings = [];
  /** @type {string | null} */
  let engine = null;
  /** @type {string | null} */
  let results = null;
  for (const pair of body.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const key = eq >= 0 ? pair.slice(0, eq) : pair;
    const value = eq >= 0 ? pair.slice(eq + 1) : '';
    if (key === 'eng') engine = value;
    else if (key === 'r') results = value;
    else settings.push(pair);
  }
  return { settings: settings.length ? `#${settings.join('&')}` : '', engine, results };
}

/**
 * The link of settings plus results.
 * @param {string} settings a settings fragment (with or without '#') @param {string} engine @param {string} r
 */
export function joinLink(settings, engine, r) {
  const s = settings.replace(/^#/, '') || DEFAULT_FRAGMENT.slice(1);
  return `#${s}&eng=${engine}&r=${r}`;
}

/** base64url without padding. @param {Uint8Array} bytes */
export function b64Encode(bytes) {
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/**
 * base64url without padding, strictly.
 * @param {string} text
 * @throws {Error} naming `r`
 */
export function b64Decode(text) {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) {
    const bad = text.match(/[^A-Za-z0-9_-]/)?.[0] ?? '';
    throw new Error(`r=${shorten(text)}: '${bad}' is not a base64url character; allowed: base64url text (A-Z a-z 0-9 - _) as the page writes it`);
  }
  if (text.length % 4 === 1) throw new Error(`r=${shorten(text)}: truncated; allowed: base64url text as the page writes it`);
  const bin = atob(text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** @param {string} s */
function shorten(s) {
  return s.length > 40 ? `${s.slice(0, 40)}… (${s.length} characters)` : s;
}

/**
 * Reads a stream to its end, refusing more than `max` bytes (an inflation bomb stops there).
 * @param {ReadableStream<Uint8Array>} stream @param {number} max @param {() => Error} tooBig
 */
async function readCapped(stream, max, tooBig) {
  const reader = stream.getReader();
  /** @type {Uint8Array[]} */
  const chunks = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > max) {
      await reader.cancel().catch(() => {});
      throw tooBig();
    }
    chunks.push(value);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/**
 * @param {Uint8Array} bytes @param {CompressionStream | DecompressionStream} t
 * @returns {ReadableStream<Uint8Array>}
 */
function through(bytes, t) {
  return new Blob([/** @type {BlobPart} */ (bytes)]).stream().pipeThrough(/** @type {ReadableWritablePair<Uint8Array, Uint8Array>} */ (/** @type {unknown} */ (t)));
}

/** The `r=` value of the engine's summary JSON. @param {Uint8Array} json */
export async function encodeResults(json) {
  const packed = await readCapped(through(json, new CompressionStream('deflate-raw')), MAX_SHARED_BYTES, () => new Error('the results summary is too large for a link'));
  return b64Encode(packed);
}

/**
 * The inflated bytes of an `r=` value (the engine validates them: readSharedResults).
 * @param {string} r
 * @throws {Error} naming `r` for text too long, not base64url, not deflate, or inflating too far
 */
export async function decodeResults(r) {
  if (r.length > MAX_LINK_CHARS) {
    throw new Error(`r=${shorten(r)}: the results part is too long; allowed: at most ${MAX_LINK_CHARS} characters`);
  }
  const raw = b64Decode(r);
  try {
    return await readCapped(through(raw, new DecompressionStream('deflate-raw')), MAX_SHARED_BYTES,
      () => new Error(`r=${shorten(r)}: inflates to more than ${MAX_SHARED_BYTES} bytes; allowed: the deflated results summary the page or arq writes`));
  } catch (e) {
    if (e instanceof Error && e.message.startsWith('r=')) throw e;
    throw new Error(`r=${shorten(r)}: not deflated data (truncated or corrupted); allowed: the deflated results summary the page or arq writes`);
  }
}

/**
 * What the opened link or bundle carries, for other modules.
 * @typedef {object} SharedState
 * @property {import('../../pkg/arq.js').Shared} shared the engine-validated summary
 * @property {string} digest SHA-256 of the whole result set, as the sender's engine computed it
 * @property {string} link the link that carries it
 * @property {'link' | 'bundle'} source
 * @property {'shared' | 'replaying' | 'identical' | 'differs' | 'failed'} state "as shared,
 *   not yet replayed" until a replay gave the same digest and numbers ('identical')
 * @property {import('../../pkg/arq.js').Verdict | null} verdict the replay's comparison
 */

/** @type {{link: () => Promise<string>, state: () => SharedState | null}} */
const registry = { link: async () => location.hash, state: () => null };

/**
 * Registers the page's providers (ShareView does, once).
 * @param {() => Promise<string>} link @param {() => SharedState | null} state
 */
export function register(link, state) {
  registry.link = link;
  registry.state = state;
}

/**
 * The current page's link with the results of its finished jobs under the current settings
 * (certification, searches, the final table), or the settings link when none finished.
 * @returns {Promise<string>} a fragment starting with '#'
 */
export function shareLink() {
  return registry.link();
}

/** The results the opened link or imported bundle carries, and whether a replay verified them. */
export function sharedState() {
  return registry.state();
}
