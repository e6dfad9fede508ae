// d3 is loaded as a classic <script src="/vendor/d3.min.js"> that sets the global `d3`
// (the Makefile copies node_modules/d3/dist/d3.min.js there); typed by @types/d3.
declare const d3: typeof import('d3');
