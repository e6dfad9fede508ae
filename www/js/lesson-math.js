// The guided lessons' formulas (the engine's `Formula` names, src/lesson.rs), typeset in MathML
// (Chromium and Firefox render it natively) with the numbers of the current run: every number
// comes from an engine result the page already holds (the noise view's votes and certificates,
// the last certification, R_max from the engine's `rMax`, the policy's BOPs, the read-out,
// the searches and the final table). A number is an <mn> carrying data-name and data-value (the
// unrounded value), so tests can compare it with the engine's. Missing data says what to do.
import { el } from './dom.js';
import * as fmt from './format.js';

/**
 * @typedef {import('../../pkg/arq.js').Formula} Formula
 * @typedef {import('./types.js').NoiseResult} NoiseResult
 * @typedef {import('./types.js').CertSummary} CertSummary
 * @typedef {import('./types.js').CertRecord} CertRecord
 * @typedef {import('../../pkg/arq.js').PolicyInfo} PolicyInfo
 * @typedef {import('./quant-types.js').QuantEval} QuantEval
 * @typedef {import('./quant-types.js').SearchRun} SearchRun
 * @typedef {import('./quant-types.js').FinalRow} FinalRow
 */

/**
 * What the formulas read, gathered by the lesson view from the other views and the engine.
 * @typedef {object} LessonData
 * @property {Record<string, string>} values the applied config, by URL key
 * @property {{r: NoiseResult, sigmas: number[], k: number, index: number} | null} noise the
 *   noise view's current result
 * @property {{summary: CertSummary | null, records: CertRecord[], state: string} | null} certify
 *   the latest certification run
 * @property {{n: number, alpha: number, sigma: number, radius: number} | null} rMax the engine's
 *   R_max for the config's n, alpha and sigma
 * @property {PolicyInfo | null} policy the bit editor's policy
 * @property {QuantEval | null} readout the bit editor's last quick read-out
 * @property {SearchRun[]} searches the search runs of this session
 * @property {FinalRow[]} finalRows the final table's rows so far
 */

const NS = 'http://www.w3.org/1998/Math/MathML';

/** @param {string} tag @param {(Node | string)[]} [kids] @param {Record<string, string>} [attrs] @returns {Element} */
function m(tag, kids = [], attrs = {}) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.append(...kids);
  return e;
}
const mi = (/** @type {string} */ t) => m('mi', [t]);
const mo = (/** @type {string} */ t) => m('mo', [t]);
const mtext = (/** @type {string} */ t) => m('mtext', [t]);
/** A literal number (a constant of the formula, not of the run). @param {string} t */
const mn = (t) => m('mn', [t]);
/** A number of the current run. @param {string} name @param {number} value @param {string} text */
const val = (name, value, text) => m('mn', [text], { 'data-name': name, 'data-value': String(value), class: 'lesson-value' });
const row = (/** @type {(Node | string)[]} */ ...kids) => m('mrow', kids);
const sub = (/** @type {Node} */ base, /** @type {Node} */ s) => m('msub', [base, s]);
const sup = (/** @type {Node} */ base, /** @type {Node} */ s) => m('msup', [base, s]);
const frac = (/** @type {Node} */ a, /** @type {Node} */ b) => m('mfrac', [a, b]);
const paren = (/** @type {(Node | string)[]} */ ...kids) => row(mo('('), ...kids, mo(')'));
const phiInv = () => sup(mi('Φ'), row(mo('−'), mn('1')));
const pAlow = () => sub(mi('p'), row(mi('A'), mo(','), mtext('low')));
const sigma = () => mi('σ');
/** A displayed equation with a plain-text label for screen readers. @param {string} label @param {(Node | string)[]} kids */
const eq = (label, ...kids) => m('math', [row(...kids)], { display: 'block', 'aria-label': label });
/** What to do before the numbers appear. @param {string} text */
const todo = (text) => el('p', { class: 'lesson-todo', text });

/** The config's sigma and alpha, as numbers. @param {LessonData} d */
const config = (d) => ({ sigma: Number(d.values.sigma), alpha: Number(d.values.alpha), n: Number(d.values.n) });

/** The noise view's row at the config's sigma. @param {LessonData} d */
function configRow(d) {
  if (!d.noise) return null;
  const i = d.noise.sigmas.indexOf(config(d).sigma);
  const c = i < 0 ? null : d.noise.r.certificates[i];
  return c ? { c, i } : null;
}

/** @param {number | null} radius */
const radiusText = (radius) => (radius === null ? 'ABSTAIN' : fmt.fixed(radius));

/** @type {{[F in Formula]: (d: LessonData) => Element[]}} */
const RENDER = {
  smoothing(d) {
    const { sigma: s } = config(d);
    const k = d.noise?.k ?? 0;
    return [eq(`x_i = x + sigma eps_i, eps_i ~ N(0, I), sigma = ${s}, i = 1..${k}`,
      sub(mi('x'), mi('i')), mo('='), mi('x'), mo('+'), sigma(), sub(mi('ε'), mi('i')), mo(','),
      sub(mi('ε'), mi('i')), mo('∼'), mi('𝒩'), paren(mn('0'), mo(','), mi('I')), mo(','),
      sigma(), mo('='), val('sigma', s, fmt.sigma(s)), mo(','), mi('i'), mo('='), mn('1'), mo('…'),
      d.noise ? val('k', k, String(k)) : mi('k'))];
  },
  votes(d) {
    const hit = configRow(d);
    if (!hit) return [todo('The votes appear when the noise view shows a row at the config σ.')];
    const { c } = hit;
    return [eq(`g(x) = argmax_c #{i : f(x_i) = c} = ${c.top}, with n_A = ${c.count} of n = ${c.n} votes`,
      mi('g'), paren(mi('x')), mo('='), sub(mo('argmax'), mi('c')), mo('#'), row(mo('{'), mi('i'), mo(':'), mi('f'), paren(sub(mi('x'), mi('i'))), mo('='), mi('c'), mo('}')),
      mo('='), val('top', c.top, String(c.top))),
    eq(`n_A = ${c.count} of n = ${c.n}`, sub(mi('n'), mi('A')), mo('='), val('count', c.count, fmt.int(c.count)), mtext(' of '), mi('n'), mo('='), val('n', c.n, fmt.int(c.n)))];
  },
  pLower(d) {
    const hit = configRow(d);
    if (!hit) return [todo('pA_low appears when the noise view shows a row at the config σ.')];
    const { c } = hit;
    const { alpha } = config(d);
    return [eq(`pA_low = B(alpha; n_A, n - n_A + 1) = ${fmt.fixed(c.pLower, 4)}, below the share ${c.count}/${c.n}`,
      pAlow(), mo('='), mi('B'), paren(mi('α'), mo(';'), sub(mi('n'), mi('A')), mo(','), mi('n'), mo('−'), sub(mi('n'), mi('A')), mo('+'), mn('1')),
      mo('='), mi('B'), paren(val('alpha', alpha, fmt.sigma(alpha)), mo(';'), mn(String(c.count)), mo(','), mn(String(c.n - c.count + 1))),
      mo('='), val('pLower', c.pLower, fmt.fixed(c.pLower, 4)), mo('≤'), frac(mn(String(c.count)), mn(String(c.n))), mo('='), mn(fmt.fixed(c.count / c.n, 4)))];
  },
  radius(d) {
    if (!d.noise) return [todo('The radii appear when the noise view has drawn its rows.')];
    const out = [];
    for (const [i, s] of d.noise.sigmas.entries()) {
      const c = d.noise.r.certificates[i];
      if (!c) continue;
      const label = `sigma = ${s}: R = sigma PhiInv(pA_low) = ${s} PhiInv(${fmt.fixed(c.pLower, 4)}) = ${radiusText(c.radius)}`;
      out.push(c.radius === null
        ? eq(label, sigma(), mo('='), mn(fmt.sigma(s)), mo(':'), pAlow(), mo('='), val(`pLower@${s}`, c.pLower, fmt.fixed(c.pLower, 4)), mo('<'), frac(mn('1'), mn('2')), mo('⇒'), mtext('ABSTAIN'))
        : eq(label, sigma(), mo('='), mn(fmt.sigma(s)), mo(':'), mi('R'), mo('='), sigma(), phiInv(), paren(pAlow()), mo('='), mn(fmt.sigma(s)), mo('·'), phiInv(),
          paren(val(`pLower@${s}`, c.pLower, fmt.fixed(c.pLower, 4))), mo('='), val(`radius@${s}`, c.radius, fmt.fixed(c.radius))));
    }
    return out;
  },
  guarantee(d) {
    const { alpha } = config(d);
    return [eq(`P[g(x + delta) = c_A for all ||delta||_2 < R] >= 1 - alpha = ${1 - alpha}`,
      mi('P'), row(mo('['), mi('g'), paren(mi('x'), mo('+'), mi('δ')), mo('='), sub(mi('c'), mi('A')), mtext(' for all '), sub(row(mo('‖'), mi('δ'), mo('‖')), mn('2')), mo('<'), mi('R'), mo(']')),
      mo('≥'), mn('1'), mo('−'), mi('α'), mo('='), val('confidence', 1 - alpha, fmt.sigma(1 - alpha)))];
  },
  runSummary(d) {
    const s = d.certify?.summary;
    if (!d.certify || !s) return [todo('Press Certify: your run\'s numbers appear here.')];
    const radii = d.certify.records.map((r) => r.radius ?? 0);
    const max = Math.max(0, ...radii);
    return [eq(`ACR = mean radius over ${s.points} points = ${fmt.fixed(s.acr)}`,
      mtext('ACR'), mo('='), frac(mn('1'), mi('N')), m('munderover', [mo('∑'), row(mi('i'), mo('='), mn('1')), mi('N')]), sub(mi('R'), mi('i')), mo('='), val('acr', s.acr, fmt.fixed(s.acr)),
      mo(','), mi('N'), mo('='), val('points', s.points, fmt.int(s.points))),
    eq(`largest radius ${fmt.fixed(max)} <= R_max = ${fmt.fixed(s.rMax)}`,
      sub(mo('max'), mi('i')), sub(mi('R'), mi('i')), mo('='), val('maxRadius', max, fmt.fixed(max)), mo('≤'), sub(mi('R'), mtext('max')), mo('='), val('runRMax', s.rMax, fmt.fixed(s.rMax)))];
  },
  rMax(d) {
    const r = d.rMax;
    if (!r) return [todo('R_max appears when the engine has computed it for the current n and α.')];
    return [eq(`R_max(n, alpha) = sigma PhiInv(alpha^(1/n)) = ${r.sigma} PhiInv(${r.alpha}^(1/${r.n})) = ${fmt.fixed(r.radius, 4)}`,
      sub(mi('R'), mtext('max')), paren(mi('n'), mo(','), mi('α')), mo('='), sigma(), phiInv(), paren(sup(mi('α'), row(mn('1'), mo('/'), mi('n')))),
      mo('='), val('sigma', r.sigma, fmt.sigma(r.sigma)), mo('·'), phiInv(),
      paren(sup(val('alpha', r.alpha, fmt.sigma(r.alpha)), row(mn('1'), mo('/'), val('n', r.n, fmt.int(r.n))))),
      mo('='), val('rMax', r.radius, fmt.fixed(r.radius, 4)))];
  },
  bops(d) {
    const p = d.policy;
    if (!p) return [todo('The policy\'s cost appears when the bit editor has loaded.')];
    const c = p.cost;
    const terms = c.layers.flatMap((l, i) => [...(i ? [mo('+')] : []), row(mn(fmt.int(l.macs)), mo('·'), mn(String(l.wBits)), mo('·'), mn(String(l.aBits)))]);
    return [eq(`BOPs = sum over layers of MACs b_w b_a = ${c.bops}`,
      mtext('BOPs'), mo('='), m('munder', [mo('∑'), mi('l')]), sub(mtext('MACs'), mi('l')), mo('·'), sub(mi('b'), row(mi('w'), mo(','), mi('l'))), mo('·'), sub(mi('b'), row(mi('a'), mo(','), mi('l')))),
    eq(`= ${c.bops} bit operations per image`, mo('='), ...terms, mo('='), val('bops', c.bops, fmt.int(c.bops))),
    eq(`BOPs / BOPs_FP32 = ${c.ratio}`, frac(mtext('BOPs'), sub(mtext('BOPs'), mtext('FP32'))), mo('='), frac(mn(fmt.int(c.bops)), val('fp32Bops', c.fp32Bops, fmt.int(c.fp32Bops))),
      mo('='), val('ratio', c.ratio, fmt.percent(c.ratio, 3)))];
  },
  budget(d) {
    const p = d.policy;
    const budget = Number(d.values.budget);
    if (!p) return [todo('The policy\'s cost appears when the bit editor has loaded.')];
    const within = p.cost.ratio <= budget;
    return [eq(`BOPs / BOPs_FP32 = ${fmt.percent(p.cost.ratio, 3)} ${within ? '<=' : '>'} budget = ${fmt.percent(budget, 3)}`,
      frac(mtext('BOPs'), sub(mtext('BOPs'), mtext('FP32'))), mo('='), val('ratio', p.cost.ratio, fmt.percent(p.cost.ratio, 3)),
      mo(within ? '≤' : '>'), mtext('budget'), mo('='), val('budget', budget, fmt.percent(budget, 4)),
      mtext(within ? '  (fits)' : '  (over)')),
    eq(`budget times BOPs_FP32 = ${Math.floor(budget * p.cost.fp32Bops)} bit operations`,
      mtext('budget'), mo('·'), sub(mtext('BOPs'), mtext('FP32')), mo('='), mn(fmt.int(Math.floor(budget * p.cost.fp32Bops))))];
  },
  readout(d) {
    const r = d.readout;
    if (!r || !r.fp32) return [todo('Press Evaluate (quick IRS): the read-out\'s ACR appears here.')];
    const diff = r.summary.acr - r.fp32.acr;
    return [eq(`Delta ACR = ACR_q - ACR_FP32 = ${fmt.fixed(r.summary.acr)} - ${fmt.fixed(r.fp32.acr)} = ${fmt.fixed(diff)}`,
      mi('Δ'), mtext('ACR'), mo('='), sub(mtext('ACR'), mi('q')), mo('−'), sub(mtext('ACR'), mtext('FP32')), mo('='),
      val('acrQ', r.summary.acr, fmt.fixed(r.summary.acr)), mo('−'), val('acrFp32', r.fp32.acr, fmt.fixed(r.fp32.acr)), mo('='), val('deltaAcr', diff, fmt.fixed(diff))),
    eq(`at BOPs ${fmt.percent(r.cost.ratio, 3)} of FP32; caps R_max ${fmt.fixed(r.summary.rMax)} (read-out) and ${fmt.fixed(r.fp32.rMax)} (FP32)`,
      mtext('BOPs'), mo('='), val('readoutRatio', r.cost.ratio, fmt.percent(r.cost.ratio, 3)), mtext(' of FP32;  '),
      sub(mi('R'), row(mtext('max'), mo(','), mi('q'))), mo('='), val('rMaxQ', r.summary.rMax, fmt.fixed(r.summary.rMax)), mo(','),
      sub(mi('R'), row(mtext('max'), mo(','), mtext('FP32'))), mo('='), val('rMaxFp32', r.fp32.rMax, fmt.fixed(r.fp32.rMax)))];
  },
  rewards(d) {
    const out = [
      eq('r_ARQ = 0.1 (ACR_q - ACR_FP32)', sub(mi('r'), mtext('ARQ')), mo('='), mn('0.1'), paren(sub(mtext('ACR'), mi('q')), mo('−'), sub(mtext('ACR'), mtext('FP32')))),
      eq('r_HAQ = 0.1 (acc_q - acc_FP32)', sub(mi('r'), mtext('HAQ')), mo('='), mn('0.1'), paren(sub(mtext('acc'), mi('q')), mo('−'), sub(mtext('acc'), mtext('FP32')))),
    ];
    for (const run of latestRuns(d)) {
      const b = run.best;
      if (!b) continue;
      const acr = b.metrics.acr ?? Number.NaN;
      out.push(eq(`${run.label}: best reward ${fmt.fixed(b.reward, 4)}, its ACR ${fmt.fixed(acr)}`,
        mtext(`${run.label}: best `), mi('r'), mo('='), val(`reward@${run.kind}`, b.reward, fmt.fixed(b.reward, 4)), mo(','), mtext(' ACR'), mo('='), val(`acr@${run.kind}`, acr, fmt.fixed(acr))));
    }
    if (out.length === 2) out.push(todo('Run a search: its best reward appears here.'));
    return out;
  },
  spread(d) {
    const out = [];
    for (const run of latestRuns(d)) {
      const eps = run.episodes;
      if (!eps.length) continue;
      const span = (/** @type {string} */ key) => {
        const xs = eps.map((e) => e.metrics[key]).filter((x) => Number.isFinite(x));
        return [Math.min(...xs), Math.max(...xs)];
      };
      const [a0, a1] = span('accuracy');
      const [r0, r1] = span('acr');
      out.push(eq(`${run.label}, ${eps.length} episodes: accuracy from ${fmt.fixed(a0)} to ${fmt.fixed(a1)}, ACR from ${fmt.fixed(r0)} to ${fmt.fixed(r1)}`,
        mtext(`${run.label} (${eps.length} episodes): `), mtext('acc'), mo('∈'), row(mo('['), val(`accMin@${run.kind}`, a0, fmt.fixed(a0)), mo(','), val(`accMax@${run.kind}`, a1, fmt.fixed(a1)), mo(']')),
        mo(','), mtext(' ACR'), mo('∈'), row(mo('['), val(`acrMin@${run.kind}`, r0, fmt.fixed(r0)), mo(','), val(`acrMax@${run.kind}`, r1, fmt.fixed(r1)), mo(']'))));
    }
    return out.length ? out : [todo('Run ARQ and HAQ-reward: the spread of their scores appears here.')];
  },
  final(d) {
    const acr = (/** @type {RegExp} */ re) => d.finalRows.find((r) => re.test(r.name));
    const arq = acr(/^ARQ/);
    const haq = acr(/HAQ/);
    if (!arq || !haq) return [todo('Press Compute the final table (after both searches): the fresh ACRs appear here.')];
    const diff = arq.summary.acr - haq.summary.acr;
    return [eq(`ACR_ARQ - ACR_HAQ = ${fmt.fixed(arq.summary.acr)} - ${fmt.fixed(haq.summary.acr)} = ${fmt.fixed(diff)}`,
      sub(mtext('ACR'), mtext('ARQ')), mo('−'), sub(mtext('ACR'), mtext('HAQ')), mo('='), val('finalArq', arq.summary.acr, fmt.fixed(arq.summary.acr)), mo('−'),
      val('finalHaq', haq.summary.acr, fmt.fixed(haq.summary.acr)), mo('='), val('finalDiff', diff, fmt.fixed(diff)))];
  },
};

/** The latest run of each search kind, in the order ARQ, HAQ, random. @param {LessonData} d */
function latestRuns(d) {
  return /** @type {const} */ (['arq', 'haq', 'random']).map((k) => d.searches.filter((r) => r.kind === k).at(-1)).filter((r) => r !== undefined);
}

/**
 * The formula's equations with the current numbers (or what to do first).
 * @param {Formula} formula @param {LessonData} data @returns {Element[]}
 */
export function renderFormula(formula, data) {
  return RENDER[formula](data);
}
