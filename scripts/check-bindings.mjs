// Checks the generated contract between the core and the page (`make test-js`):
// 1. pkg/arq.d.ts declares no Engine method or free function returning `any` (every value
//    that crosses the boundary has a type generated from its Rust type);
// 2. the preset buttons the page offers (www/index.html, id="bits-<name>") are exactly the
//    core's presets(), in its order.
import { readFileSync } from 'node:fs';
import { initSync, presets } from '../pkg/arq.js';

const dts = readFileSync(new URL('../pkg/arq.d.ts', import.meta.url), 'utf8');
const api = dts.slice(0, dts.indexOf('export type InitInput'));
const loose = api.split('\n').filter((l) => /^\s*(export function )?\w+\(.*\):\s*any\b/.test(l));
let failed = false;
if (loose.length) {
  console.error(`pkg/arq.d.ts: bindings returning any:\n${loose.join('\n')}`);
  failed = true;
}

initSync({ module: readFileSync(new URL('../pkg/arq_bg.wasm', import.meta.url)) });
const core = presets().map((p) => p.name);
const html = readFileSync(new URL('../www/index.html', import.meta.url), 'utf8');
const page = [...html.matchAll(/id="bits-(\w+)"/g)].map((m) => m[1]).filter((n) => core.includes(n) || /^(fp|w\d|fl)/.test(n));
if (JSON.stringify(page) !== JSON.stringify(core)) {
  console.error(`the page offers presets ${page.join(', ')}; the core knows ${core.join(', ')}`);
  failed = true;
}
if (failed) process.exit(1);
console.log(`bindings: no any in pkg/arq.d.ts; presets ${core.join(', ')}`);
