//! Exact statistics for randomized-smoothing certification.
//!
//! Everything the certification code needs to turn sample counts into guarantees:
//!
//! * [`cp_lower`] / [`cp_upper`]: one-sided Clopper–Pearson bounds (Clopper & Pearson, 1934,
//!   "The use of confidence or fiducial limits illustrated in the case of the binomial",
//!   Biometrika 26(4):404–413), as used by CERTIFY in Cohen, Rosenfeld & Kolter (2019),
//!   "Certified Adversarial Robustness via Randomized Smoothing", ICML, and by incremental
//!   randomized smoothing (Ugare et al., ICLR 2024) for the disagreement bound `zeta_up`.
//! * [`binom_test_half`]: the two-sided exact binomial test at p = 1/2 used by PREDICT (Cohen et
//!   al. 2019).
//! * [`phi`] / [`phi_inv`]: the standard normal CDF and quantile, and [`radius`], the certified
//!   L2 radius `sigma * PhiInv(pA_low)` (Cohen et al. 2019, Theorem 1).
//!
//! # Method
//!
//! For integer shapes the regularized incomplete beta function is a binomial tail,
//! `I_p(k, n-k+1) = P[Bin(n, p) >= k]`, so both Clopper–Pearson bounds are roots of binomial
//! tails. Tails are summed from the term nearest the mode outwards (always the *smaller* tail,
//! the other one is `1 - smaller`), with the ratio recurrence between consecutive terms and an
//! exact re-evaluation of the term every 16 steps; the sum stops once a geometric bound on
//! everything left is below `2^-56` of the partial sum. Single terms use Loader's saddle-point
//! form (C. Loader, 2000, "Fast and Accurate Computation of Binomial Probabilities", the algorithm
//! of R's `dbinom`):
//!
//! ```text
//! ln P[X = k] = stirlerr(n) - stirlerr(k) - stirlerr(n-k) - bd0(k, n p) - bd0(n-k, n q)
//!               - ln(2 pi k (n-k) / n) / 2
//! ```
//!
//! which is accurate to a few ulp in relative terms even for n = 10^6, where the textbook
//! `lgamma` form loses ~8 digits to cancellation. The roots are found by Newton's method on
//! `ln(tail)` against `ln(u)` (u = p, or u = 1-p when the root is above 1/2, so that the returned
//! value, or its complement, is computed in the variable where it is small), safeguarded by a
//! bracket and started from the Wilson score bound; it converges in a handful of iterations,
//! each costing O(sqrt(n)) terms.
//!
//! # Why not statrs
//!
//! `statrs` 0.19.1 was measured against scipy 1.17 and mpmath (50 digits), and is not used on the
//! computation path:
//!
//! * `Beta::inverse_cdf` (= `statrs::function::beta::inv_beta_reg`, AS 64 / AS 109 with Newton
//!   steps on `beta_reg`) at the Clopper–Pearson shapes of `tests/data/stats_table.tsv`: max
//!   relative error 2e-14 for n <= 10, 7.9e-12 at n = 100, 1.7e-10 at n = 10^3, 6.7e-8 at 10^4,
//!   3.0e-6 at 10^5 and 4.5e-4 at 10^6 (e.g. k = 5, n = 10^6, alpha = 0.01). `beta_reg` (a Lentz
//!   continued fraction capped at 140 iterations, with an `ln_gamma`-difference prefactor that
//!   cancels for large shapes) is already off by 2.5e-11 at n = 10^4. That misses the 1e-10
//!   target from n ~ 10^3 on, and Newton/bisection refinement on `beta_reg` cannot fix it since
//!   `beta_reg` itself is the inaccurate part.
//! * `Normal::cdf` (`0.5 * erfc(-x/sqrt 2)` with statrs' Boost-derived `erfc`) has relative
//!   errors up to ~1e-10 (9.3e-11 at x = -0.843; 5e-11 at x = -37), apparently from truncated
//!   constants in `erf_impl` (cf. statrs-dev/statrs PR #412). `Normal::inverse_cdf` is fine
//!   (3.5e-16) but is not bit-portable (below).
//! * Every statrs special function (`ln_gamma`, `beta_reg`, `inv_beta_reg`, `erf`, `erfc`,
//!   `erfc_inv`, hence `Normal::cdf`/`inverse_cdf` and `Beta::cdf`/`inverse_cdf`) calls `std`'s
//!   `f64::ln`, `exp`, `powf`, `sqrt`, `sin`, which use the platform libm natively and Rust's own
//!   port in wasm, so its results may differ in the last ulp between the CLI and the browser.
//!
//! statrs is therefore used only in the unit tests, as an independent cross-check for n <= 1000.
//!
//! Public for the cross-checks in tests/stats_golden.rs (the golden table of
//! tests/data/stats_table.tsv, recomputed with scipy) and for its doctests; the certification
//! code is its only other user, not a general statistics API.
//!
//! # Accuracy (measured against mpmath at 45-50 digits)
//!
//! `cp_lower`, `cp_upper`: <= 1.1e-15 relative over the golden table (n = 1..10^6). `phi`:
//! <= 3.3e-16 on [-38, 8.3]. `phi_inv`: <= 1.7e-16 on [1e-300, 1 - 1e-12] (AS 241 alone:
//! 5.4e-16). `binom_test_half`: relative error ~`|ln P| * 1e-16`, e.g. <= 1e-15 for P >= 1e-3 and
//! 9.6e-14 at P ~ 1e-280 (the log of a term that small carries ~600 * ulp of absolute error).
//! For comparison scipy 1.17 itself is off by up to 8.3e-12 (`betainccinv`, k = 2, n = 10^6) and
//! 1.6e-13 (`binomtest`, n = 10^6).
//!
//! # Bit-identical results
//!
//! This module uses only IEEE basic arithmetic and the `libm` crate (`log`, `log1p`, `exp`,
//! `expm1`, `sqrt`, `erfc`, `fma`), which is the same pure-Rust code on every target, and no
//! `std` float methods, so native and wasm32 builds return bit-identical numbers.
//!
//! # Input validation
//!
//! Callers validate. Preconditions (`0 <= k <= n`, `n >= 1`, `0 < alpha < 1`, finite `sigma`)
//! are checked with `debug_assert!` only. Nothing here panics in release builds: `k > n` is
//! treated as `k = n`, `n = 0` (not allowed) gives the trivial answers `cp_lower = 0`,
//! `cp_upper = 1`, `binom_test_half = 1`, and an `alpha` outside (0, 1) gives NaN or a meaningless
//! number. `k = 0` and `k = n` are valid and handled in closed form.

// ---------------------------------------------------------------------------------------------
// Standard normal
// ---------------------------------------------------------------------------------------------

/// 1/sqrt(2) split into a double-double: `HI` is the nearest f64, `LO` the rest.
const FRAC_1_SQRT_2_HI: f64 = core::f64::consts::FRAC_1_SQRT_2;
const FRAC_1_SQRT_2_LO: f64 = -4.833_646_656_726_457e-17;
/// sqrt(2 pi).
const SQRT_2PI: f64 = 2.506_628_274_631_000_7;
/// ln(2 pi).
const LN_2PI: f64 = 1.837_877_066_409_345_6;

/// Standard normal CDF, `Phi(x) = P[Z <= x] = erfc(-x / sqrt(2)) / 2`.
///
/// Uses `libm::erfc`. The argument `-x/sqrt(2)` is formed as a double-double (with an FMA) and the
/// rounding error of its high part is put back with a first-order Taylor term
/// `-2/sqrt(pi) * exp(-w^2) * w_lo`; without it the relative error in the lower tail grows like
/// `x^2 * 2^-53` (1.5e-13 at x = -37). Relative error ~1e-15 down to `Phi(x) ~ 1e-300`
/// (x ~ -37); returns 0 below about x = -38.5 and 1 above about x = 8.3.
pub(crate) fn phi(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x.is_infinite() {
        return if x > 0.0 { 1.0 } else { 0.0 };
    }
    let w_hi = -x * FRAC_1_SQRT_2_HI;
    let w_lo = libm::fma(-x, FRAC_1_SQRT_2_HI, -w_hi) - x * FRAC_1_SQRT_2_LO;
    let e = libm::erfc(w_hi);
    let corr = core::f64::consts::FRAC_2_SQRT_PI * libm::exp(-w_hi * w_hi) * w_lo;
    0.5 * (e - corr)
}

/// Standard normal density `exp(-x^2/2) / sqrt(2 pi)`.
fn norm_pdf(x: f64) -> f64 {
    libm::exp(-0.5 * x * x) / SQRT_2PI
}

/// Standard normal quantile `PhiInv(p)`, the x with `Phi(x) = p`.
///
/// Wichura's AS 241 (PPND16; Applied Statistics 37(3):477–484, 1988; ~1e-16 relative) followed by
/// one Halley step on [`phi`]. Exactly antisymmetric: `phi_inv(1 - p) = -phi_inv(p)` (for p > 1/2
/// the quantile is computed as `-phi_inv(1 - p)`, and `1 - p` is exact there). Relative error
/// <= 1.7e-16 measured against mpmath over `[1e-300, 1 - 1e-12]`; the far upper end is as good,
/// since `1 - p` is exact. Returns -inf at 0, +inf at 1, NaN outside [0, 1].
pub fn phi_inv(p: f64) -> f64 {
    if !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    if p == 0.0 {
        return f64::NEG_INFINITY;
    }
    if p == 1.0 {
        return f64::INFINITY;
    }
    if p > 0.5 {
        return -phi_inv_le_half(1.0 - p);
    }
    phi_inv_le_half(p)
}

/// `PhiInv(p)` for `0 < p <= 1/2` (result <= 0).
fn phi_inv_le_half(p: f64) -> f64 {
    let x = as241(p);
    if x == 0.0 {
        return 0.0;
    }
    // One Halley step on Phi(x) - p. The relative residual is ~1e-16, so this only removes the
    // last ulps of AS 241.
    let u = (phi(x) - p) / norm_pdf(x);
    x - u / (1.0 + 0.5 * x * u)
}

/// Wichura (1988), Algorithm AS 241, PPND16, for `0 < p <= 1/2`. Coefficients as published
/// (constant term first).
#[allow(clippy::excessive_precision)]
fn as241(p: f64) -> f64 {
    const A: [f64; 8] = [
        3.3871328727963666080e0,
        1.3314166789178437745e+2,
        1.9715909503065514427e+3,
        1.3731693765509461125e+4,
        4.5921953931549871457e+4,
        6.7265770927008700853e+4,
        3.3430575583588128105e+4,
        2.5090809287301226727e+3,
    ];
    const B: [f64; 8] = [
        1.0,
        4.2313330701600911252e+1,
        6.8718700749205790830e+2,
        5.3941960214247511077e+3,
        2.1213794301586595867e+4,
        3.9307895800092710610e+4,
        2.8729085735721942674e+4,
        5.2264952788528545610e+3,
    ];
    const C: [f64; 8] = [
        1.42343711074968357734e0,
        4.63033784615654529590e0,
        5.76949722146069140550e0,
        3.64784832476320460504e0,
        1.27045825245236838258e0,
        2.41780725177450611770e-1,
        2.27238449892691845833e-2,
        7.74545014278341407640e-4,
    ];
    const D: [f64; 8] = [
        1.0,
        2.05319162663775882187e0,
        1.67638483018380384940e0,
        6.89767334985100004550e-1,
        1.48103976427480074590e-1,
        1.51986665636164571966e-2,
        5.47593808499534494600e-4,
        1.05075007164441684324e-9,
    ];
    const E: [f64; 8] = [
        6.65790464350110377720e0,
        5.46378491116411436990e0,
        1.78482653991729133580e0,
        2.96560571828504891230e-1,
        2.65321895265761230930e-2,
        1.24266094738807843860e-3,
        2.71155556874348757815e-5,
        2.01033439929228813265e-7,
    ];
    const F: [f64; 8] = [
        1.0,
        5.99832206555887937690e-1,
        1.36929880922735805310e-1,
        1.48753612908506148525e-2,
        7.86869131145613259100e-4,
        1.84631831751005468180e-5,
        1.42151175831644588870e-7,
        2.04426310338993978564e-15,
    ];
    let q = p - 0.5;
    if q.abs() <= 0.425 {
        let r = 0.180625 - q * q;
        return q * horner(&A, r) / horner(&B, r);
    }
    // Lower tail (q < 0): r = sqrt(-ln p).
    let r = libm::sqrt(-libm::log(p));
    if r <= 5.0 {
        -(horner(&C, r - 1.6) / horner(&D, r - 1.6))
    } else {
        -(horner(&E, r - 5.0) / horner(&F, r - 5.0))
    }
}

/// `c[0] + c[1] x + ... + c[7] x^7` by Horner's rule (plain multiply-add, no FMA).
fn horner(c: &[f64; 8], x: f64) -> f64 {
    let mut v = c[7];
    for &ci in c[..7].iter().rev() {
        v = v * x + ci;
    }
    v
}

/// Certified L2 radius of the smoothed classifier (Cohen et al. 2019, Theorem 1 with the
/// runner-up bound `pB = 1 - pA_low`): `R = sigma * PhiInv(pA_low)`.
///
/// Returns `Some(R)` when `p_lower > 1/2`, else `None` (ABSTAIN; also for NaN); `p_lower = 1`
/// gives `Some(inf)` (cannot come from [`cp_lower`] at realistic n). Also gives the IRS radius
/// `R^q` when called with `p_lower = pA_low - zeta_up` (Ugare et al. 2024).
///
/// ```
/// use arq::certify::stats::{cp_lower, radius};
/// // pA_low = 0.95 at sigma = 0.5: R = 0.5 * PhiInv(0.95) = 0.5 * 1.644854 = 0.822427.
/// let r = radius(0.5, 0.95).unwrap();
/// assert!((r - 0.822427).abs() < 1e-6);
/// // 980 of 1000 samples at alpha = 0.001: pA_low = 0.962301, R / sigma = PhiInv(0.962301)
/// // = 1.7780 (docs/method.md section 10).
/// let r = radius(1.0, cp_lower(980, 1000, 0.001)).unwrap();
/// assert!((r - 1.7780).abs() < 5e-5);
/// // pA_low <= 1/2: abstain.
/// assert_eq!(radius(0.5, 0.5), None);
/// ```
pub fn radius(sigma: f64, p_lower: f64) -> Option<f64> {
    debug_assert!(
        sigma.is_finite() && sigma >= 0.0,
        "sigma must be finite and >= 0"
    );
    debug_assert!(p_lower.is_nan() || p_lower <= 1.0, "p_lower must be <= 1");
    if p_lower > 0.5 {
        Some(sigma * phi_inv(p_lower))
    } else {
        None
    }
}

// ---------------------------------------------------------------------------------------------
// Binomial probabilities (Loader 2000)
// ---------------------------------------------------------------------------------------------

/// Exact term recomputed every `RESYNC` steps of the ratio recurrence in the tail sums.
const RESYNC: u64 = 16;
/// A tail sum stops when a bound on everything not yet added is below `TAIL_EPS` of the sum.
const TAIL_EPS: f64 = f64::EPSILON / 16.0;

/// `stirlerr(n) = ln(n!) - ln(sqrt(2 pi n) (n/e)^n)` for n = 0..=15 (entry 0 unused), computed
/// with mpmath at 50 digits.
const STIRLERR_SMALL: [f64; 16] = [
    0.0,
    0.081_061_466_795_327_26,
    0.041_340_695_955_409_3,
    0.027_677_925_684_998_34,
    0.020_790_672_103_765_093,
    0.016_644_691_189_821_193,
    0.013_876_128_823_070_748,
    0.011_896_709_945_891_77,
    0.010_411_265_261_972_096,
    0.009_255_462_182_712_733,
    0.008_330_563_433_362_87,
    0.007_573_675_487_951_841,
    0.006_942_840_107_209_53,
    0.006_408_994_188_004_207,
    0.005_951_370_112_758_847_5,
    0.005_554_733_551_962_801,
];

/// Loader's `stirlerr(n)`, the error of Stirling's formula for `ln(n!)`; table below 16, the
/// asymptotic series (Bernoulli-number coefficients 1/12, 1/360, 1/1260, 1/1680, 1/1188) above,
/// with the cut-offs of R's `stirlerr` (truncation error < 1e-16 absolute).
fn stirlerr(n: u64) -> f64 {
    const S0: f64 = 1.0 / 12.0;
    const S1: f64 = 1.0 / 360.0;
    const S2: f64 = 1.0 / 1260.0;
    const S3: f64 = 1.0 / 1680.0;
    const S4: f64 = 1.0 / 1188.0;
    if n <= 15 {
        return STIRLERR_SMALL[n as usize];
    }
    let x = n as f64;
    let xx = x * x;
    if n > 500 {
        (S0 - S1 / xx) / x
    } else if n > 80 {
        (S0 - (S1 - S2 / xx) / xx) / x
    } else if n > 35 {
        (S0 - (S1 - (S2 - S3 / xx) / xx) / xx) / x
    } else {
        (S0 - (S1 - (S2 - (S3 - S4 / xx) / xx) / xx) / xx) / x
    }
}

/// Loader's deviance term `bd0(x, m) = x ln(x/m) + m - x >= 0`, computed without cancellation:
/// by the series in `v = (x-m)/(x+m)` when x and m are close, else with `log1p`.
fn bd0(x: f64, m: f64) -> f64 {
    let d = x - m;
    if d.abs() < 0.1 * (x + m) {
        let mut v = d / (x + m);
        let mut s = d * v;
        if s.abs() < f64::MIN_POSITIVE {
            return s;
        }
        let mut ej = 2.0 * x * v;
        v *= v;
        let mut j = 1u32;
        while j < 1000 {
            ej *= v;
            let s1 = s + ej / f64::from(2 * j + 1);
            if s1 == s {
                return s1;
            }
            s = s1;
            j += 1;
        }
        s
    } else {
        x * libm::log1p(d / m) - d
    }
}

/// `P[X = x]` for `X ~ Bin(n, p)`, with `q = 1 - p` passed separately so that whichever of p, q is
/// small is exact (Loader 2000; R's `dbinom_raw`).
fn dbinom(x: u64, n: u64, p: f64, q: f64) -> f64 {
    if p == 0.0 {
        return if x == 0 { 1.0 } else { 0.0 };
    }
    if q == 0.0 {
        return if x == n { 1.0 } else { 0.0 };
    }
    let nf = n as f64;
    if x == 0 {
        // n ln q, with ln q = log1p(-p) when p is the accurate one.
        let lq = if p < q { libm::log1p(-p) } else { libm::log(q) };
        return libm::exp(nf * lq);
    }
    if x == n {
        let lp = if q < p { libm::log1p(-q) } else { libm::log(p) };
        return libm::exp(nf * lp);
    }
    let xf = x as f64;
    let yf = (n - x) as f64;
    let lc = stirlerr(n) - stirlerr(x) - stirlerr(n - x) - bd0(xf, nf * p) - bd0(yf, nf * q);
    // ln(2 pi x (n-x) / n), through the smaller of x, n-x so that the log1p argument is
    // <= 1/2 in size (log1p(-x/n) for x near n would lose digits to the rounding of x/n).
    let small = if x <= n - x { xf } else { yf };
    let lf = LN_2PI + libm::log(small) + libm::log1p(-small / nf);
    libm::exp(lc - 0.5 * lf)
}

/// `sum_{j=k}^{n} P[X = j]`, for `k >= mode` (terms non-increasing from k on).
fn sum_up(k: u64, n: u64, p: f64, q: f64) -> f64 {
    let mut t = dbinom(k, n, p, q);
    if t == 0.0 {
        return 0.0;
    }
    let r = p / q;
    let nf = n as f64;
    let mut s = t;
    let mut j = k;
    let mut since_exact = 0;
    while j < n {
        let jf = j as f64;
        // rho = t_{j+1} / t_j, decreasing in j: the rest is at most t * rho / (1 - rho).
        let rho = (nf - jf) / (jf + 1.0) * r;
        if rho < 1.0 && t * rho <= s * TAIL_EPS * (1.0 - rho) {
            break;
        }
        j += 1;
        since_exact += 1;
        t = if since_exact == RESYNC {
            since_exact = 0;
            dbinom(j, n, p, q)
        } else {
            t * rho
        };
        s += t;
    }
    s
}

/// `sum_{j=0}^{m} P[X = j]`, for `m <= mode` (terms non-increasing from m down).
fn sum_down(m: u64, n: u64, p: f64, q: f64) -> f64 {
    let mut t = dbinom(m, n, p, q);
    if t == 0.0 {
        return 0.0;
    }
    let r = q / p;
    let nf = n as f64;
    let mut s = t;
    let mut j = m;
    let mut since_exact = 0;
    while j > 0 {
        let jf = j as f64;
        // rho = t_{j-1} / t_j, decreasing as j decreases.
        let rho = jf / (nf - jf + 1.0) * r;
        if rho < 1.0 && t * rho <= s * TAIL_EPS * (1.0 - rho) {
            break;
        }
        j -= 1;
        since_exact += 1;
        t = if since_exact == RESYNC {
            since_exact = 0;
            dbinom(j, n, p, q)
        } else {
            t * rho
        };
        s += t;
    }
    s
}

/// `(P[X <= k-1], P[X >= k])` for `X ~ Bin(n, p)`, `1 <= k <= n`. The smaller tail (the one not
/// containing the mean) is summed, so it has full relative accuracy; the other is `1 - it`.
/// `P[X >= k] = I_p(k, n-k+1)`, the regularized incomplete beta function.
fn binom_split(k: u64, n: u64, p: f64, q: f64) -> (f64, f64) {
    if (k as f64) > n as f64 * p {
        let ge = sum_up(k, n, p, q).min(1.0);
        (1.0 - ge, ge)
    } else {
        let le = sum_down(k - 1, n, p, q).min(1.0);
        (le, 1.0 - le)
    }
}

// ---------------------------------------------------------------------------------------------
// Clopper–Pearson bounds
// ---------------------------------------------------------------------------------------------

/// Newton iterations are capped (they converge in ~3-8; the cap only guards against NaN input).
const MAX_ITER: usize = 200;

/// Lower bound as the pair `(p, 1 - p)`, each with full relative accuracy.
fn cp_lower_pq(k: u64, n: u64, alpha: f64) -> (f64, f64) {
    if k == 0 {
        return (0.0, 1.0);
    }
    if k >= n {
        // P[X >= n] = p^n = alpha.
        let l = libm::log(alpha) / n as f64;
        return (libm::exp(l), -libm::expm1(l));
    }
    let nf = n as f64;
    let kf = k as f64;

    // Iterate on u = p if the root is <= 1/2 (G(1/2) >= alpha), else on u = 1 - p.
    let (_, ge_half) = binom_split(k, n, 0.5, 0.5);
    let in_p = ge_half >= alpha;
    let dir = if in_p { 1.0 } else { -1.0 };

    // Solve h(u) = 0 with h increasing in p:
    //   alpha <= 1/2: h = ln P[X >= k] - ln alpha        (the small tail, accurate)
    //   alpha >  1/2: h = ln(1 - alpha) - ln P[X <= k-1]
    let use_ge = alpha <= 0.5;
    let target = if use_ge {
        libm::log(alpha)
    } else {
        libm::log1p(-alpha)
    };

    // Start: Wilson score lower bound (z = PhiInv(1 - alpha)).
    let z = -phi_inv(alpha);
    let z2 = z * z;
    let wilson = (kf + 0.5 * z2 - z * libm::sqrt(kf * (nf - kf) / nf + 0.25 * z2)) / (nf + z2);
    let (mut lo, mut hi) = (0.0f64, 0.5f64);
    let mut u = if in_p { wilson } else { 1.0 - wilson };
    if !(u > lo && u < hi) {
        u = if in_p {
            0.5 * kf / nf
        } else {
            0.5 * (nf - kf) / nf
        };
        u = u.clamp(f64::MIN_POSITIVE, 0.25);
    }

    let mut prev_step = f64::INFINITY;
    for _ in 0..MAX_ITER {
        let (p, q) = if in_p { (u, 1.0 - u) } else { (1.0 - u, u) };
        let (le, ge) = binom_split(k, n, p, q);
        let (g, h) = if use_ge {
            (ge, libm::log(ge) - target)
        } else {
            (le, target - libm::log(le))
        };
        if h == 0.0 {
            break;
        }
        // Root lies above u (in u-space) iff dir * h < 0.
        if dir * h < 0.0 {
            lo = u;
        } else {
            hi = u;
        }
        // d P[X >= k] / dp = n P[Bin(n-1, p) = k-1]; dh/d(ln u) = dir * u * density / g.
        let dens = nf * dbinom(k - 1, n - 1, p, q);
        let slope = dir * u * dens / g;
        // Newton step in ln(u).
        let step = -h / slope;
        let newton = u * libm::exp(step);
        if step.abs() <= 4.0 * f64::EPSILON {
            // Converged to rounding.
            u = newton;
            break;
        }
        if newton > lo && newton < hi {
            u = newton;
            // Stalled at the noise floor of the tail sum (~1e-15): steps stop shrinking
            // quadratically. The iterate is as good as the data allows.
            if step.abs() <= 1e-12 && step.abs() > 0.25 * prev_step {
                break;
            }
            prev_step = step.abs();
        } else {
            // Newton left the bracket (or overflowed): bisect, geometrically while lo > 0.
            u = if lo > 0.0 {
                libm::sqrt(lo * hi)
            } else {
                hi * 0.0625
            };
            prev_step = f64::INFINITY;
        }
        if hi - lo <= 2.0 * f64::EPSILON * hi {
            break;
        }
    }
    if in_p {
        (u, 1.0 - u)
    } else {
        (1.0 - u, u)
    }
}

/// One-sided (1 - alpha) Clopper–Pearson lower confidence bound on a binomial proportion after
/// `k` successes in `n` trials (Clopper & Pearson 1934):
///
/// `p_low = BetaInv(alpha; k, n - k + 1)`, i.e. the p with `P[Bin(n, p) >= k] = alpha`;
/// `p_low = 0` when `k = 0` and `p_low = alpha^(1/n)` when `k = n`.
///
/// This is `pA_low` of CERTIFY (Cohen et al. 2019). Relative error ~1e-15 for n <= 10^6 (see the
/// module docs). Preconditions (debug-checked): `n >= 1`, `k <= n`, `0 < alpha < 1`.
///
/// ```
/// use arq::certify::stats::cp_lower;
/// // All n = 1000 samples vote for the top class: P[Bin(1000, p) >= 1000] = p^1000 = alpha,
/// // so pA_low = 0.001^(1/1000) = exp(ln(0.001) / 1000) = 0.993116.
/// let p = cp_lower(1000, 1000, 0.001);
/// assert!((p - 0.001f64.powf(1.0 / 1000.0)).abs() < 1e-15);
/// assert!((p - 0.993116).abs() < 5e-7);
/// // 9000 of 10000: P[Bin(10000, 0.890410) >= 9000] = 0.001 (docs/method.md section 10),
/// // below the point estimate 0.9.
/// assert!((cp_lower(9000, 10_000, 0.001) - 0.890410).abs() < 5e-7);
/// // No successes: the bound is 0.
/// assert_eq!(cp_lower(0, 10, 0.001), 0.0);
/// ```
pub fn cp_lower(k: u64, n: u64, alpha: f64) -> f64 {
    debug_assert!(n >= 1, "cp_lower: n must be >= 1");
    debug_assert!(k <= n, "cp_lower: k must be <= n");
    debug_assert!(
        alpha > 0.0 && alpha < 1.0,
        "cp_lower: alpha must be in (0, 1)"
    );
    let k = k.min(n);
    cp_lower_pq(k, n, alpha).0
}

/// One-sided (1 - alpha) Clopper–Pearson upper confidence bound (Clopper & Pearson 1934):
///
/// `p_up = BetaInv(1 - alpha; k + 1, n - k)`, i.e. the p with `P[Bin(n, p) <= k] = alpha`;
/// `p_up = 1` when `k = n` and `p_up = 1 - alpha^(1/n)` when `k = 0`.
///
/// Used by IRS (Ugare et al. 2024) for `zeta_up` from the number of disagreements. Computed as
/// `1 - cp_lower(n - k, n, alpha)` by the symmetry `X -> n - X`, with the complement carried
/// exactly (so `1 - alpha^(1/n)` is `-expm1(ln(alpha)/n)`, not a cancelling subtraction).
/// Preconditions (debug-checked): `n >= 1`, `k <= n`, `0 < alpha < 1`.
pub fn cp_upper(k: u64, n: u64, alpha: f64) -> f64 {
    debug_assert!(n >= 1, "cp_upper: n must be >= 1");
    debug_assert!(k <= n, "cp_upper: k must be <= n");
    debug_assert!(
        alpha > 0.0 && alpha < 1.0,
        "cp_upper: alpha must be in (0, 1)"
    );
    let k = k.min(n);
    if k == n {
        return 1.0;
    }
    cp_lower_pq(n - k, n, alpha).1
}

/// Two-sided exact binomial test of `k` successes in `n` trials against p = 1/2: the p-value
/// `P[X <= min(k, n-k)] + P[X >= max(k, n-k)] = min(1, 2 P[X <= min(k, n-k)])`, `X ~ Bin(n, 1/2)`.
///
/// Equals `scipy.stats.binomtest(k, n, 0.5).pvalue` (scipy's 1e-7 relative tie tolerance in its
/// "as or less likely" rule makes no difference below n ~ 2 * 10^7) and R's `binom.test`. Used by
/// PREDICT (Cohen et al. 2019) with `k = nA`, `n = nA + nB`. Exactly 1 when `|2k - n| <= 1`.
/// Summed in the tail with Loader's terms in O(sqrt(n)) work: relative error ~`|ln P| * 1e-16`
/// (1e-15 for P >= 1e-3) for n up to 10^6 and beyond. Underflows to 0 below ~1e-308.
/// Preconditions (debug-checked): `n >= 1`, `k <= n`.
pub fn binom_test_half(k: u64, n: u64) -> f64 {
    debug_assert!(n >= 1, "binom_test_half: n must be >= 1");
    debug_assert!(k <= n, "binom_test_half: k must be <= n");
    let k = k.min(n);
    let m = k.min(n - k);
    if 2 * m + 1 >= n {
        return 1.0;
    }
    (2.0 * sum_down(m, n, 0.5, 0.5)).min(1.0)
}

#[cfg(test)]
pub(crate) mod tests;
