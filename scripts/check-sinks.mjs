#!/usr/bin/env node
// Fails (exit 1) when the page's code could turn text into markup or code, or could trip its
// Content-Security-Policy:
//   - www/js/*.js: no HTML-parsing sink (innerHTML, outerHTML, insertAdjacentHTML,
//     document.write/writeln, createContextualFragment, DOMParser, srcdoc, d3's .html()),
//     no eval / new Function / string timers, no style attribute set from script
//     (setAttribute('style'), d3 .attr('style')): the CSP has no 'unsafe-inline' for styles;
//   - www/index.html: no inline <script>, no inline event handler (on...=), no style attribute,
//     no <style> block, no javascript: URL, and its CSP <meta> equals scripts/serve.mjs's CSP
//     header minus frame-ancestors (which a <meta> cannot carry).
// Comments are ignored. Run by `make test` (test-js); `node scripts/check-sinks.mjs`.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CSP } from './serve.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** @type {[RegExp, string][]} */
const JS_RULES = [
  [/\.\s*innerHTML\b/, 'innerHTML (use textContent or dom.js el())'],
  [/\.\s*outerHTML\b/, 'outerHTML'],
  [/\binsertAdjacentHTML\b/, 'insertAdjacentHTML'],
  [/\bdocument\s*\.\s*write(ln)?\b/, 'document.write'],
  [/\bcreateContextualFragment\b/, 'createContextualFragment'],
  [/\bDOMParser\b/, 'DOMParser'],
  [/\bsrcdoc\b/, 'srcdoc'],
  [/\.\s*html\s*\(/, "d3's .html() (use .text())"],
  [/(^|[^.\w$])eval\s*\(/, 'eval'],
  [/\bnew\s+Function\b/, 'new Function'],
  [/\bset(Timeout|Interval)\s*\(\s*['"`]/, 'a timer with a string of code'],
  [/setAttribute\s*\(\s*['"`]style['"`]/, "setAttribute('style') (refused by the CSP: use el()'s style or node.style)"],
  [/\.attr\s*\(\s*['"`]style['"`]/, ".attr('style') (refused by the CSP: use .style())"],
  [/\bsetAttribute\s*\(\s*['"`]on\w+['"`]/, 'an inline event handler attribute'],
  [/javascript:/i, 'a javascript: URL'],
];

/**
 * Removes block comments and line comments (a `//` at the start of a line or after white
 * space, so URLs in strings stay), keeping line numbers.
 * @param {string} text
 */
function stripComments(text) {
  return text
    .replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, ' '))
    .split('\n')
    .map((line) => line.replace(/(^|\s)\/\/.*$/, '$1'))
    .join('\n');
}

/** @type {string[]} */
const problems = [];

const jsDir = join(ROOT, 'www', 'js');
const files = readdirSync(jsDir).filter((f) => f.endsWith('.js')).sort();
for (const file of files) {
  const lines = stripComments(readFileSync(join(jsDir, file), 'utf8')).split('\n');
  lines.forEach((line, i) => {
    for (const [pattern, what] of JS_RULES) {
      if (pattern.test(line)) problems.push(`www/js/${file}:${i + 1}: ${what}: ${line.trim().slice(0, 120)}`);
    }
  });
}

const htmlPath = join(ROOT, 'www', 'index.html');
const html = readFileSync(htmlPath, 'utf8').replace(/<!--[\s\S]*?-->/g, (c) => c.replace(/[^\n]/g, ' '));
/** @type {[RegExp, string][]} */
const HTML_RULES = [
  [/<script\b(?![^>]*\bsrc=)[^>]*>/i, 'an inline <script> (move it to a file under www/js/)'],
  [/<[a-z][^>]*\son[a-z]+\s*=/i, 'an inline event handler (on...=): use addEventListener in a module'],
  [/<[a-z][^>]*\sstyle\s*=/i, 'a style attribute (refused by the CSP): use a class in style.css'],
  [/<style\b/i, 'a <style> block (refused by the CSP): use style.css'],
  [/javascript:/i, 'a javascript: URL'],
];
html.split('\n').forEach((line, i) => {
  for (const [pattern, what] of HTML_RULES) {
    if (pattern.test(line)) problems.push(`www/index.html:${i + 1}: ${what}: ${line.trim().slice(0, 120)}`);
  }
});

const meta = /<meta\s+http-equiv="Content-Security-Policy"\s+content="([^"]*)"/i.exec(html);
const expected = CSP.split(/;\s*/).filter((d) => !d.startsWith('frame-ancestors')).join('; ');
if (!meta) problems.push('www/index.html: no <meta http-equiv="Content-Security-Policy">');
else if (meta[1] !== expected) {
  problems.push(`www/index.html: the CSP <meta> differs from scripts/serve.mjs's CSP (minus frame-ancestors)\n  meta:     ${meta[1]}\n  expected: ${expected}`);
}
if (meta && /'unsafe-(eval|inline)'/.test(meta[1])) problems.push("www/index.html: the CSP allows 'unsafe-eval' or 'unsafe-inline'");

if (problems.length) {
  console.error(`check-sinks: ${problems.length} problem(s):\n${problems.join('\n')}`);
  process.exit(1);
}
console.log(`check-sinks: ${files.length} files in www/js and www/index.html are free of HTML/code sinks and inline script/style; the CSP <meta> matches the server's`);
