// Tests of scripts/serve.mjs on a temporary tree: mounts, MIME types, caching headers, 404s,
// and that no path reaches outside the mounted directories.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from '../../scripts/serve.mjs';

/** @type {Awaited<ReturnType<typeof startServer>>} */
let srv;
let root = '';

/**
 * A raw GET (fetch would normalise "..", which is what the server must handle itself).
 * @param {string} path
 * @param {string} [method]
 * @returns {Promise<{status: number, headers: import('node:http').IncomingHttpHeaders, body: string}>}
 */
function get(path, method = 'GET') {
  return new Promise((ok, fail) => {
    const req = request({ host: '127.0.0.1', port: srv.port, path, method }, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (c) => { body += c; });
      res.on('end', () => ok({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', fail);
    req.end();
  });
}

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'arq-serve-'));
  const files = {
    'www/index.html': '<!doctype html><title>t</title>',
    'www/style.css': 'body{}',
    'www/js/main.js': 'export {};',
    'www/js/lib.mjs': 'export {};',
    'www/vendor/d3.min.js': '// d3',
    'pkg/arq.js': 'export default 1;',
    'pkg/arq_bg.wasm': '\0asm\x01\0\0\0',
    'data/mnist10k.u8': 'MNU8....',
    'models/index.json': '[]',
    'secret.txt': 'SECRET',
  };
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text, 'latin1');
  }
  srv = await startServer({ port: 0, root });
});

after(async () => {
  await srv?.close();
  rmSync(root, { recursive: true, force: true });
});

test('listens on 127.0.0.1 and reports its URL', () => {
  assert.match(srv.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  assert.ok(srv.port > 0);
});

test('maps the mounts with the right MIME types and no-cache', async () => {
  /** @type {[string, string][]} */
  const cases = [
    ['/', 'text/html'],
    ['/index.html', 'text/html'],
    ['/style.css', 'text/css'],
    ['/js/main.js', 'text/javascript'],
    ['/js/lib.mjs', 'text/javascript'],
    ['/vendor/d3.min.js', 'text/javascript'],
    ['/pkg/arq.js', 'text/javascript'],
    ['/pkg/arq_bg.wasm', 'application/wasm'],
    ['/data/mnist10k.u8', 'application/octet-stream'],
    ['/models/index.json', 'application/json'],
  ];
  for (const [path, type] of cases) {
    const res = await get(path);
    assert.equal(res.status, 200, path);
    assert.ok(String(res.headers['content-type']).startsWith(type), `${path}: ${res.headers['content-type']}`);
    assert.equal(res.headers['cache-control'], 'no-cache', path);
    assert.equal(Number(res.headers['content-length']), Buffer.byteLength(res.body, 'latin1'), path);
  }
  assert.equal((await get('/pkg/arq_bg.wasm')).body, '\0asm\x01\0\0\0');
});

test('answers 404 for missing files and ignores query strings', async () => {
  assert.equal((await get('/nope.js')).status, 404);
  assert.equal((await get('/pkg/missing.wasm')).status, 404);
  assert.equal((await get('/models/x.bin')).status, 404);
  const q = await get('/pkg/arq.js?g=2');
  assert.equal(q.status, 200);
  assert.equal(q.body, 'export default 1;');
});

test('never serves a file outside the mounted directories', async () => {
  const attempts = [
    '/../secret.txt',
    '/%2e%2e/secret.txt',
    '/js/..%2f..%2fsecret.txt',
    '/pkg/../secret.txt',
    '/pkg/%2e%2e%2fsecret.txt',
    '/data/..%5csecret.txt',
    '/vendor/../../secret.txt',
    '/models/%2e%2e/%2e%2e/secret.txt',
    '/%00',
    '/%E0%A4%A',
    '//secret.txt',
  ];
  for (const path of attempts) {
    const res = await get(path);
    assert.ok([400, 404].includes(res.status), `${path}: status ${res.status}`);
    assert.ok(!res.body.includes('SECRET'), path);
  }
});

test('HEAD works, other methods are refused, directories redirect', async () => {
  const head = await get('/js/main.js', 'HEAD');
  assert.equal(head.status, 200);
  assert.equal(head.body, '');
  assert.equal(Number(head.headers['content-length']), 'export {};'.length);
  const post = await get('/', 'POST');
  assert.equal(post.status, 405);
  assert.equal(post.headers.allow, 'GET, HEAD');
  const dir = await get('/js');
  assert.equal(dir.status, 301);
  assert.equal(dir.headers.location, '/js/');
  assert.equal((await get('/js/')).status, 404);
});
