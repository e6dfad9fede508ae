//! Unit tests of the statistics, against docs/method.md section 10, scipy and statrs. The
//! CERTIFY reference table (Cohen et al. 2019, alpha = 0.001) is the fixture
//! `tests/data/certify_table.tsv`, shared with `certify::smooth`'s tests through
//! [`certify_table`].

use super::*;

/// Values quoted in docs/method.md section 10 with 6 significant digits.
const DOC_6SIG_REL: f64 = 1e-5;
/// Full-precision values from scipy 1.17 (Boost); both sides are ~1e-15 accurate.
const SCIPY_REL: f64 = 1e-12;
/// Identities and closed forms evaluated in f64.
const IDENTITY_REL: f64 = 1e-13;
/// statrs 0.19 cross-check for n <= 1000 (statrs' own error measured up to 1.7e-10 there).
const STATRS_REL: f64 = 1e-9;

fn assert_rel(actual: f64, expected: f64, rel: f64, what: &str) {
    let err = (actual - expected).abs();
    assert!(
        err <= rel * expected.abs(),
        "{what}: got {actual:e}, expected {expected:e}, rel err {:e} > {rel:e}",
        err / expected.abs()
    );
}

/// Relative tolerance of a value printed with `decimals` decimals (half a unit in the last
/// printed place, relative to the value, plus 1 % slack).
fn printed_rel(expected: f64, decimals: i32) -> f64 {
    0.505 * 10f64.powi(-decimals) / expected.abs()
}

const ALPHA: f64 = 0.001;

/// One row of `tests/data/certify_table.tsv`: nA of n samples, alpha = 0.001, pA_low and
/// R / sigma as docs/method.md section 10 prints them (6 and 4 decimals) and in full precision
/// (scipy 1.17: `beta.ppf(0.001, nA, n - nA + 1)` and `norm.ppf` of it).
pub(crate) struct CertifyRow {
    pub(crate) k: u64,
    pub(crate) n: u64,
    pub(crate) doc_p_lower: f64,
    pub(crate) doc_radius: f64,
    pub(crate) scipy_p_lower: f64,
    pub(crate) scipy_radius: f64,
}

/// The CERTIFY reference table (`tests/data/certify_table.tsv`; '#' lines are comments, the
/// first other line is the header).
pub(crate) fn certify_table() -> Vec<CertifyRow> {
    include_str!("../../../tests/data/certify_table.tsv")
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 6, "certify_table.tsv row {l:?}");
            let float = |i: usize| f[i].parse::<f64>().expect("a float");
            CertifyRow {
                k: f[0].parse().expect("nA"),
                n: f[1].parse().expect("n"),
                doc_p_lower: float(2),
                doc_radius: float(3),
                scipy_p_lower: float(4),
                scipy_radius: float(5),
            }
        })
        .collect()
}

#[test]
fn certify_table_is_the_one_in_the_docs() {
    let docs = include_str!("../../../docs/method.md");
    let table = certify_table();
    assert_eq!(table.len(), 7);
    for r in &table {
        let row = format!(
            "| {} / {} | {:.6} | {:.4} |",
            r.k, r.n, r.doc_p_lower, r.doc_radius
        );
        assert!(docs.contains(&row), "docs/method.md section 10 lacks {row}");
    }
}

#[test]
fn cp_lower_and_radius_on_the_certify_table() {
    for r in certify_table() {
        let (k, n) = (r.k, r.n);
        let p = cp_lower(k, n, ALPHA);
        assert_rel(
            p,
            r.doc_p_lower,
            DOC_6SIG_REL,
            &format!("pA_low {k}/{n} (doc)"),
        );
        assert_rel(
            p,
            r.scipy_p_lower,
            SCIPY_REL,
            &format!("pA_low {k}/{n} (scipy)"),
        );
        let rad = radius(1.0, p).expect("should certify");
        let printed = printed_rel(r.doc_radius, 4);
        assert_rel(
            rad,
            r.doc_radius,
            printed,
            &format!("R/sigma {k}/{n} (doc)"),
        );
        // R/sigma near 0.011 amplifies p's error by 1/(R phi(R)) ~ 220.
        let what = format!("R/sigma {k}/{n} (scipy)");
        assert_rel(rad, r.scipy_radius, 1e3 * SCIPY_REL, &what);
    }
}

#[test]
fn doc_binomial_p_values() {
    let rows: [(u64, u64, f64, f64); 3] = [
        (510, 490, 0.547973, 0.5479727459234766),
        (60, 40, 0.0568879, 0.05688793364098089),
        (70, 30, 7.85014e-05, 7.85013964559367e-05),
    ];
    for (a, b, doc, scipy) in rows {
        let pv = binom_test_half(a, a + b);
        assert_rel(pv, doc, DOC_6SIG_REL, &format!("binom {a} vs {b} (doc)"));
        assert_rel(pv, scipy, SCIPY_REL, &format!("binom {a} vs {b} (scipy)"));
        // The test is symmetric in the two counts.
        assert_rel(
            binom_test_half(b, a + b),
            pv,
            IDENTITY_REL,
            "binom symmetry",
        );
    }
}

#[test]
fn doc_zeta_up() {
    // (disagreements, n_p, doc, scipy betaincinv/betainccinv) with alpha_zeta = 0.001.
    let rows: [(u64, u64, f64, f64); 5] = [
        (0, 100, 0.066746, 0.06674569920300895),
        (1, 100, 0.088627, 0.08862688870395756),
        (0, 1000, 0.006884, 0.006883951579066227),
        (5, 1000, 0.016361, 0.016360751154977753),
        (0, 10000, 0.000691, 0.0006905369974100782),
    ];
    for (k, n, doc, scipy) in rows {
        let z = cp_upper(k, n, ALPHA);
        assert_rel(
            z,
            doc,
            printed_rel(doc, 6),
            &format!("zeta_up {k}/{n} (doc)"),
        );
        assert_rel(z, scipy, SCIPY_REL, &format!("zeta_up {k}/{n} (scipy)"));
    }
}

#[test]
fn doc_irs_radius_example() {
    // pA_low = 0.95, zeta_up = 0.02, sigma = 0.5 -> R^q = 0.737896.
    let rq = radius(0.5, 0.95 - 0.02).expect("should certify");
    assert_rel(rq, 0.737896, DOC_6SIG_REL, "R^q (doc)");
    assert_rel(rq, 0.737895514089585, SCIPY_REL, "R^q (scipy)");
}

#[test]
fn doc_r_max() {
    // R_max / sigma = PhiInv(alpha^(1/n)) at alpha = 0.001.
    let rows: [(u64, f64, f64); 3] = [
        (1_000, 2.46, 2.4632626147808114),
        (10_000, 3.20, 3.1985775147383384),
        (100_000, 3.81, 3.8114565633899145),
    ];
    for (n, doc, scipy) in rows {
        let p = cp_lower(n, n, ALPHA);
        assert_rel(
            p,
            libm::pow(ALPHA, 1.0 / n as f64),
            IDENTITY_REL,
            "alpha^(1/n)",
        );
        let r = radius(1.0, p).expect("should certify");
        assert_rel(r, doc, printed_rel(doc, 2), &format!("R_max n={n} (doc)"));
        assert_rel(r, scipy, SCIPY_REL, &format!("R_max n={n} (scipy)"));
    }
}

#[test]
fn closed_forms() {
    for n in [1u64, 2, 7, 100, 1_000, 100_000, 1_000_000] {
        for alpha in [0.001, 0.01, 0.05, 0.3] {
            let l = libm::log(alpha) / n as f64;
            assert_rel(
                cp_lower(n, n, alpha),
                libm::exp(l),
                IDENTITY_REL,
                "lower k=n",
            );
            assert_rel(
                cp_upper(0, n, alpha),
                -libm::expm1(l),
                IDENTITY_REL,
                "upper k=0",
            );
            assert_eq!(cp_lower(0, n, alpha), 0.0);
            assert_eq!(cp_upper(n, n, alpha), 1.0);
            // k = 1: 1 - (1 - p)^n = alpha  =>  p = -expm1(log1p(-alpha) / n).
            let l1 = libm::log1p(-alpha) / n as f64;
            if n >= 2 {
                assert_rel(cp_lower(1, n, alpha), -libm::expm1(l1), 1e-12, "lower k=1");
                // k = n-1 upper: p^n = 1 - alpha.
                assert_rel(
                    cp_upper(n - 1, n, alpha),
                    libm::exp(l1),
                    1e-12,
                    "upper k=n-1",
                );
            }
        }
    }
}

#[test]
fn bounds_bracket_the_estimate_and_are_monotone() {
    for n in [1u64, 10, 1_000, 1_000_000] {
        let mut prev_lo = -1.0;
        let mut prev_up = -1.0;
        let ks: Vec<u64> = if n <= 1_000 {
            (0..=n).collect()
        } else {
            vec![
                0, 1, 2, 10, 1_000, 499_999, 500_000, 999_000, 999_999, 1_000_000,
            ]
        };
        for k in ks {
            let lo = cp_lower(k, n, 0.01);
            let up = cp_upper(k, n, 0.01);
            let phat = k as f64 / n as f64;
            assert!(lo <= phat && phat <= up, "k={k} n={n}: {lo} {phat} {up}");
            assert!(lo > prev_lo && up > prev_up, "monotone in k: k={k} n={n}");
            // Wider at smaller alpha.
            assert!(cp_lower(k, n, 0.001) <= lo && cp_upper(k, n, 0.001) >= up);
            prev_lo = lo;
            prev_up = up;
        }
    }
}

#[test]
fn defining_equation_against_statrs() {
    // I_p(k, n-k+1) = alpha at p = cp_lower; I_p(k+1, n-k) = 1 - alpha at p = cp_upper.
    use statrs::distribution::{Beta, ContinuousCDF};
    use statrs::function::beta::beta_reg;
    for n in [2u64, 10, 33, 100, 1_000] {
        for k in [1, 2, n / 3, n / 2, n - 2, n - 1] {
            if k == 0 || k >= n {
                continue;
            }
            for alpha in [0.001, 0.05] {
                let (a, b) = ((k) as f64, (n - k + 1) as f64);
                let lo = cp_lower(k, n, alpha);
                assert_rel(beta_reg(a, b, lo), alpha, STATRS_REL, "I(lo)");
                let st = Beta::new(a, b).unwrap().inverse_cdf(alpha);
                assert_rel(lo, st, STATRS_REL, &format!("statrs lower {k}/{n}"));
                let up = cp_upper(k, n, alpha);
                let (a, b) = ((k + 1) as f64, (n - k) as f64);
                // Compare the small side: 1 - I = alpha.
                assert_rel(1.0 - beta_reg(a, b, up), alpha, STATRS_REL, "I(up)");
                let st = Beta::new(a, b).unwrap().inverse_cdf(1.0 - alpha);
                assert_rel(up, st, STATRS_REL, &format!("statrs upper {k}/{n}"));
            }
        }
    }
}

#[test]
fn binom_test_matches_exact_rational_sum() {
    // Exact integer arithmetic for n <= 100: 2 * sum_{j<=m} C(n, j) / 2^n.
    for n in 1u64..=100 {
        let mut c: u128 = 1; // C(n, 0)
        let mut cum: u128 = 0;
        for k in 0..=n {
            cum += c;
            let m = k.min(n - k);
            if k <= n / 2 && 2 * m + 1 < n {
                let exact = (2.0 * cum as f64 / libm::pow(2.0, n as f64)).min(1.0);
                assert_rel(
                    binom_test_half(k, n),
                    exact,
                    IDENTITY_REL,
                    &format!("{k}/{n}"),
                );
                assert_rel(binom_test_half(n - k, n), exact, IDENTITY_REL, "mirror");
            }
            if k < n {
                c = c * (n - k) as u128 / (k + 1) as u128;
            }
        }
        assert_eq!(binom_test_half(n / 2, n), 1.0);
    }
}

#[test]
fn binom_test_extremes_do_not_panic() {
    assert_eq!(binom_test_half(0, 1), 1.0);
    assert_eq!(binom_test_half(1, 1), 1.0);
    assert_rel(binom_test_half(0, 2), 0.5, IDENTITY_REL, "0/2");
    assert_rel(
        binom_test_half(0, 1000),
        libm::pow(2.0, -999.0),
        IDENTITY_REL,
        "0/1000",
    );
    assert_eq!(binom_test_half(0, 1_000_000), 0.0); // 2^-999999 underflows
    assert_eq!(binom_test_half(500_000, 1_000_000), 1.0);
    let p = binom_test_half(499_000, 1_000_000);
    assert!(p > 0.04 && p < 0.05, "{p}");
}

#[test]
fn phi_and_phi_inv() {
    // mpmath (50 digits) reference values.
    let rows: [(f64, f64); 7] = [
        (-37.0, 5.725571222524577e-300),
        (-20.0, 2.7536241186062337e-89),
        (-5.0, 2.866515718791939e-7),
        (-1.0, 0.15865525393145705),
        (0.0, 0.5),
        (0.5, 0.6914624612740131),
        (3.0, 0.9986501019683699),
    ];
    for (x, p) in rows {
        assert_rel(phi(x), p, 1e-14, &format!("phi({x})"));
        if x != 0.0 {
            assert_rel(phi_inv(p), x, 1e-14, &format!("phi_inv({p:e})"));
        }
    }
    assert_eq!(phi_inv(0.5), 0.0);
    assert_eq!(phi_inv(0.0), f64::NEG_INFINITY);
    assert_eq!(phi_inv(1.0), f64::INFINITY);
    assert!(phi_inv(1.5).is_nan() && phi_inv(f64::NAN).is_nan());
    assert_eq!(phi(f64::NEG_INFINITY), 0.0);
    assert_eq!(phi(f64::INFINITY), 1.0);
    // Round trip and antisymmetry over the whole range.
    let mut p = 1e-300;
    while p < 0.5 {
        let x = phi_inv(p);
        // One ulp of x moves Phi(x) by ~x^2 ulps (d ln Phi / dx ~ |x|): allow 4 of them.
        let tol = 4.0 * f64::EPSILON * (1.0 + x * x);
        assert_rel(phi(x), p, tol, &format!("phi(phi_inv({p:e}))"));
        let upper = 1.0 - p;
        if upper < 1.0 {
            // Exact antisymmetry (1 - upper is exact for upper >= 1/2).
            assert_eq!(phi_inv(upper), -phi_inv(1.0 - upper));
        }
        p *= 3.7;
    }
}

#[test]
fn radius_abstains_at_half() {
    assert_eq!(radius(0.5, 0.5), None);
    assert_eq!(radius(0.5, 0.3), None);
    assert_eq!(radius(0.5, f64::NAN), None);
    let r = radius(0.25, 0.5 + 1e-12).unwrap();
    assert!(r > 0.0 && r < 1e-11);
    // cp_lower of a 50/50 split never certifies.
    assert_eq!(radius(1.0, cp_lower(500, 1000, ALPHA)), None);
}

#[test]
fn invalid_inputs_do_not_panic_in_release() {
    // These violate the (debug-asserted) preconditions; only check the release-mode answers.
    if cfg!(debug_assertions) {
        return;
    }
    assert_eq!(cp_lower(0, 0, 0.01), 0.0);
    assert_eq!(cp_upper(0, 0, 0.01), 1.0);
    assert_eq!(binom_test_half(0, 0), 1.0);
    // k > n is treated as k = n.
    assert_eq!(cp_upper(11, 10, 0.01), 1.0);
    assert_eq!(binom_test_half(11, 10), binom_test_half(10, 10));
    // A NaN alpha terminates with some number instead of hanging or panicking.
    let _ = cp_lower(5, 10, f64::NAN);
    let _ = cp_upper(5, 10, f64::NAN);
    let _ = cp_lower(5, 10, 1.5);
}
