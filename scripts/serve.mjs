#!/usr/bin/env node
// A dependency-free static server for the ARQ Playground (node:http only).
//
//   node scripts/serve.mjs            -> http://127.0.0.1:8000/   (PORT=9000 to change)
//
// URL prefix -> directory (relative to the repository root):
//   /pkg/     -> pkg/          (wasm-bindgen output)
//   /data/    -> data/         (mnist10k.u8)
//   /models/  -> models/       (index.json + checkpoints)
//   /vendor/  -> www/vendor/   (d3.min.js, copied by the Makefile)
//   /         -> www/
// Every response carries `Cache-Control: no-cache` so a rebuilt pkg/ is picked up on reload,
// and the Content-Security-Policy below (the same as www/index.html's <meta>).
// Paths are decoded, normalised and checked to stay inside their directory (no traversal);
// anything else is a 404 (or 400 for a malformed path, 405 for a method other than GET/HEAD).
import { createServer } from 'node:http';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** @type {Record<string, string>} */
export const MIME_TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.ts': 'text/plain; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.u8': 'application/octet-stream',
  '.bin': 'application/octet-stream',
  '.arqc': 'application/octet-stream',
  '.sha256': 'text/plain; charset=utf-8',
};

/**
 * The Content-Security-Policy of every response. www/index.html carries the same policy in a
 * <meta> tag (so any static host enforces it) except frame-ancestors, which only a header can
 * carry. No inline script, no eval ('wasm-unsafe-eval' allows WebAssembly compilation only), no
 * inline styles (scripts set styles through the CSSOM, which style-src does not govern), and
 * nothing loaded from another origin. Trusted Types: HTML and script sinks (innerHTML,
 * script text, eval) refuse plain strings, and the one policy allowed ('arq', www/js/dom.js
 * scriptURL) only makes same-origin script URLs (the worker's). The header also reaches the
 * worker's script, so the worker runs under the same policy.
 */
export const CSP = [
  "default-src 'none'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "worker-src 'self'",
  "connect-src 'self'",
  "img-src 'self' blob:",
  "style-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "object-src 'none'",
  "require-trusted-types-for 'script'",
  "trusted-types arq",
  // Any page may frame the playground (teacher links with embed=1 in slides, a course page, an
  // LMS): it has no login, no cookies, no storage worth stealing and no server-side action, so
  // a framing page can make a click do nothing worse than start a computation in the visitor's
  // own tab (docs/navigation.md, "Embedding"). A header is per file, not per fragment, so the
  // choice holds for every mode of the page.
  'frame-ancestors *',
].join('; ');

/** URL prefixes, most specific first. @type {[string, string][]} */
const MOUNTS = [
  ['/pkg/', 'pkg'],
  ['/data/', 'data'],
  ['/models/', 'models'],
  ['/vendor/', join('www', 'vendor')],
  ['/', 'www'],
];

/**
 * Maps a request path to a file inside one of the mounted directories.
 * @param {string} root repository root (absolute)
 * @param {string} pathname the URL path, still percent-encoded
 * @returns {string | null} an absolute file path, or null when the path is malformed or escapes
 */
export function resolvePath(root, pathname) {
  let decoded;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return null;
  }
  if (decoded.includes('\0') || decoded.includes('\\') || !decoded.startsWith('/')) return null;
  const mount = MOUNTS.find(([prefix]) => decoded.startsWith(prefix));
  if (!mount) return null;
  const base = resolve(root, mount[1]);
  const rest = decoded.slice(mount[0].length);
  if (rest.split('/').some((part) => part === '..')) return null;
  const file = resolve(base, '.' + sep + rest);
  if (file !== base && !file.startsWith(base + sep)) return null;
  return file;
}

/**
 * @param {import('node:http').ServerResponse} res
 * @param {number} status
 * @param {string} text
 */
function sendText(res, status, text) {
  const body = `${status} ${text}\n`;
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-cache',
    'X-Content-Type-Options': 'nosniff',
    'Content-Security-Policy': CSP,
  });
  res.end(body);
}

/**
 * @param {string} root
 * @param {import('node:http').IncomingMessage} req
 * @param {import('node:http').ServerResponse} res
 */
async function handle(root, req, res) {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    return sendText(res, 405, 'Method Not Allowed');
  }
  const pathname = (req.url ?? '/').split(/[?#]/, 1)[0];
  let file = resolvePath(root, pathname);
  if (file === null) return sendText(res, 400, 'Bad Request');
  let info = await stat(file).catch(() => null);
  if (info?.isDirectory()) {
    if (!pathname.endsWith('/')) {
      res.writeHead(301, { Location: pathname + '/', 'Cache-Control': 'no-cache', 'Content-Length': 0 });
      return res.end();
    }
    file = join(file, 'index.html');
    info = await stat(file).catch(() => null);
  }
  if (!info?.isFile()) return sendText(res, 404, 'Not Found');
  res.writeHead(200, {
    'Content-Type': MIME_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
    'Content-Length': info.size,
    'Cache-Control': 'no-cache',
    'X-Content-Type-Options': 'nosniff',
    'Content-Security-Policy': CSP,
  });
  if (req.method === 'HEAD') return res.end();
  const stream = createReadStream(file);
  stream.on('error', () => res.destroy());
  stream.pipe(res);
}

/**
 * Starts the static server on 127.0.0.1.
 * @param {{port?: number, root?: string, host?: string}} [options] port 0 picks a free port;
 *   root defaults to the repository root (the parent of scripts/).
 * @returns {Promise<{server: import('node:http').Server, port: number, url: string, close: () => Promise<void>}>}
 */
export function startServer({ port = 8000, root, host = '127.0.0.1' } = {}) {
  const rootDir = resolve(root ?? fileURLToPath(new URL('..', import.meta.url)));
  const server = createServer((req, res) => {
    handle(rootDir, req, res).catch((err) => {
      if (!res.headersSent) sendText(res, 500, 'Internal Server Error');
      else res.destroy();
      console.error(err);
    });
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, host, () => {
      server.off('error', fail);
      const addr = server.address();
      const actual = typeof addr === 'object' && addr ? addr.port : port;
      const close = () => new Promise((/** @type {(v: void) => void} */ done) => {
        server.closeAllConnections();
        server.close(() => done());
      });
      ok({ server, port: actual, url: `http://${host}:${actual}/`, close });
    });
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const port = Number.parseInt(process.env.PORT ?? '8000', 10);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`PORT=${process.env.PORT}: expected an integer in 0..65535`);
    process.exit(2);
  }
  const { url } = await startServer({ port });
  console.log(`ARQ Playground: serving on ${url}  (Ctrl+C to stop)`);
}
