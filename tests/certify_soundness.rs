//! Statistical soundness of CERTIFY and IRS against a closed form, plus determinism,
//! resumption and bounded memory, through the public API.
//!
//! For a linear binary classifier f(x) = [w.x + b > 0], P[f(x + e) = f(x)] =
//! Phi(|w.x + b| / (sigma ||w||)), so the smoothed classifier g equals f and its exact robust
//! radius is the distance to the hyperplane |w.x + b| / ||w|| (docs/method.md section 1).
//! A sound certifier returns a wrong class or a larger radius with probability <= alpha
//! (CERTIFY) or <= alpha + alpha_zeta (IRS).

use std::sync::Arc;

use arq::certify::irs::{Branch, IrsCache, IrsJob, IrsParams, IrsRecord};
use arq::certify::{stats, BaseClassifier};
use arq::certify::{CertRecord, CertifyJob, Example, Prediction, SmoothParams};
use arq::rng::Stream;

const DIM: usize = 16;
const SIGMA: f64 = 0.5;
/// Inputs and noisy inputs are f32: the exact radius of the certified (f32) point is known only
/// to about 1e-7 relative; a radius exceeding the truth by less than this is not a violation.
const FLOAT_SLACK: f64 = 1e-5;

/// f(x) = [w.x + b > 0], evaluated in f64; tracks the largest batch it was given.
#[derive(Clone)]
struct Linear {
    w: Vec<f64>,
    b: f64,
    max_batch: usize,
    calls: u64,
}

impl Linear {
    fn new(w: Vec<f64>, b: f64) -> Self {
        Linear {
            w,
            b,
            max_batch: 0,
            calls: 0,
        }
    }

    fn margin(&self, x: &[f32]) -> f64 {
        self.w
            .iter()
            .zip(x)
            .map(|(w, &x)| w * x as f64)
            .sum::<f64>()
            + self.b
    }

    fn norm(&self) -> f64 {
        self.w.iter().map(|w| w * w).sum::<f64>().sqrt()
    }

    /// The smoothed classifier's class and exact robust radius at x.
    fn truth(&self, x: &[f32]) -> (u8, f64) {
        let m = self.margin(x);
        (u8::from(m > 0.0), m.abs() / self.norm())
    }
}

impl BaseClassifier for Linear {
    fn input_len(&self) -> usize {
        self.w.len()
    }
    fn num_classes(&self) -> usize {
        2
    }
    fn classify(&mut self, x: &[f32], batch: usize, out: &mut [u8]) {
        assert_eq!(x.len(), batch * self.w.len());
        self.max_batch = self.max_batch.max(batch);
        self.calls += 1;
        for (o, xi) in out[..batch].iter_mut().zip(x.chunks_exact(self.w.len())) {
            *o = u8::from(self.margin(xi) > 0.0);
        }
    }
}

fn base_model() -> Linear {
    let mut s = Stream::new(42, "test-model");
    Linear::new((0..DIM).map(|_| s.normal() as f64).collect(), 0.3)
}

/// f^q: w rotated by `angle` radians towards a random orthogonal direction (same norm).
fn rotated(f: &Linear, angle: f64) -> Linear {
    let mut s = Stream::new(43, "test-rotation");
    let mut v: Vec<f64> = (0..DIM).map(|_| s.normal() as f64).collect();
    let (n, wv) = (
        f.norm(),
        f.w.iter().zip(&v).map(|(a, b)| a * b).sum::<f64>(),
    );
    for (vi, wi) in v.iter_mut().zip(&f.w) {
        *vi -= wv / (n * n) * wi;
    }
    let vn = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    let w =
        f.w.iter()
            .zip(&v)
            .map(|(wi, vi)| angle.cos() * wi + angle.sin() * n * vi / vn)
            .collect();
    Linear::new(w, f.b)
}

/// `count` points at signed distance uniform in sigma * [0.02, max_u] from f's hyperplane, on
/// `side` (+1: class 1, -1: class 0) or a random side.
fn points(f: &Linear, seed: u64, count: u64, max_u: f64, side: Option<f64>) -> Vec<Example> {
    let mut s = Stream::new(seed, "test-points");
    let n = f.norm();
    (0..count)
        .map(|i| {
            let z: Vec<f64> = (0..DIM).map(|_| 0.5 * s.normal() as f64).collect();
            let cur = (f.w.iter().zip(&z).map(|(a, b)| a * b).sum::<f64>() + f.b) / n;
            let coin = if s.below(2) == 0 { -1.0 } else { 1.0 };
            let side = side.unwrap_or(coin);
            let t = side * SIGMA * (0.02 + (max_u - 0.02) * s.uniform_f64());
            let input: Vec<f32> = z
                .iter()
                .zip(&f.w)
                .map(|(zi, wi)| (zi + (t - cur) * wi / n) as f32)
                .collect();
            let label = f.truth(&input).0;
            Example {
                index: seed * 1_000_000 + i,
                input,
                label,
            }
        })
        .collect()
}

/// The binomial slack: alpha + 3 standard deviations of a rate-alpha count over `trials`.
fn rate_bound(alpha: f64, trials: usize) -> f64 {
    alpha + 3.0 * (alpha * (1.0 - alpha) / trials as f64).sqrt()
}

/// Did a certificate claim a wrong class, or a radius beyond the truth?
fn violates(prediction: Prediction, radius: f64, truth: (u8, f64)) -> bool {
    match prediction {
        Prediction::Abstain => false,
        Prediction::Class(c) => c != truth.0 || radius > truth.1 + FLOAT_SLACK,
    }
}

fn run_certify(
    f: &mut Linear,
    params: &SmoothParams,
    ex: Vec<Example>,
    keep: u64,
) -> (Vec<CertRecord>, Option<IrsCache>) {
    let mut job = CertifyJob::new(params.clone(), ex);
    if keep > 0 {
        job = job.with_irs_cache(keep);
    }
    let recs = job.step(f, u64::MAX);
    assert!(job.is_done());
    (recs, job.take_cache())
}

#[test]
fn certify_is_sound_on_a_linear_classifier() {
    let alpha = 0.01;
    let mut f = base_model();
    let (mut bad, mut naive_bad, mut abstain, mut total) = (0usize, 0usize, 0usize, 0usize);
    for seed in 1..=3 {
        let params = SmoothParams {
            sigma: SIGMA,
            n0: 100,
            n: 1000,
            alpha,
            batch: 250,
            seed,
        };
        let ex = points(&f, seed, 1000, 2.5, None);
        let (recs, _) = run_certify(&mut f, &params, ex.clone(), 0);
        for (r, e) in recs.iter().zip(&ex) {
            let truth = f.truth(&e.input);
            bad += usize::from(violates(r.prediction, r.radius, truth));
            abstain += usize::from(r.prediction.is_abstain());
            // The same harness flags an unsound certifier that uses the point estimate count / n.
            let naive = SIGMA * stats::phi_inv(r.count as f64 / r.n as f64);
            let naive_pred = if naive > 0.0 {
                r.prediction
            } else {
                Prediction::Abstain
            };
            naive_bad += usize::from(violates(naive_pred, naive, truth));
            total += 1;
        }
    }
    let rate = bad as f64 / total as f64;
    let naive_rate = naive_bad as f64 / total as f64;
    let bound = rate_bound(alpha, total);
    println!(
        "CERTIFY soundness: {bad}/{total} = {rate:.4} radii beyond the truth (alpha = {alpha}, bound {bound:.4}); \
         abstained {abstain}; point-estimate radii violate at {naive_rate:.3}"
    );
    assert!(rate <= bound, "violation rate {rate} > {bound}");
    assert!(
        naive_rate > 10.0 * bound,
        "the harness cannot tell an unsound certifier: {naive_rate}"
    );
}

/// Certify f, then f^q with IRS against f's cache; returns (violations, trials, branch counts,
/// violation rate of an unsound point-estimate IRS on the incremental branch).
fn irs_soundness(
    fq0: &Linear,
    seeds: std::ops::RangeInclusive<u64>,
    side: Option<f64>,
) -> (usize, usize, [usize; 3], f64) {
    let (alpha, alpha_zeta) = (0.01, 0.01);
    let mut f = base_model();
    let irs = IrsParams {
        n_p: 500,
        alpha_zeta,
        gamma: 0.99,
        batch: 250,
    };
    let (mut bad, mut naive_bad, mut total) = (0usize, 0usize, 0usize);
    let mut branches = [0usize; 3];
    for seed in seeds {
        let params = SmoothParams {
            sigma: SIGMA,
            n0: 100,
            n: 1000,
            alpha,
            batch: 250,
            seed,
        };
        let ex = points(&f, seed, 1000, 3.5, side);
        let (_, cache) = run_certify(&mut f, &params, ex, 1000);
        let cache = Arc::new(cache.unwrap_or_else(|| unreachable!("cache requested")));
        let mut fq = fq0.clone();
        let mut job = IrsJob::new(Arc::clone(&cache), irs.clone());
        let recs: Vec<IrsRecord> = job.step(&mut fq, u64::MAX);
        assert_eq!(recs.len(), cache.entries.len());
        for (r, e) in recs.iter().zip(&cache.entries) {
            let truth = fq0.truth(&e.example.input);
            bad += usize::from(violates(r.prediction, r.radius, truth));
            branches[r.branch as usize] += 1;
            if let (Branch::Incremental, Some(k)) = (r.branch, r.disagreements) {
                // unsound: point estimates of pA and zeta instead of the two bounds
                let p = e.count as f64 / cache.n as f64 - k as f64 / r.n_p as f64;
                let naive = SIGMA * stats::phi_inv(p);
                let naive_pred = if p > 0.5 {
                    e.prediction
                } else {
                    Prediction::Abstain
                };
                naive_bad += usize::from(violates(naive_pred, naive, truth));
            }
            total += 1;
        }
    }
    (bad, total, branches, naive_bad as f64 / branches[0] as f64)
}

fn check_irs(what: &str, (bad, total, branches, naive_rate): (usize, usize, [usize; 3], f64)) {
    let rate = bad as f64 / total as f64;
    let bound = rate_bound(0.02, total);
    println!(
        "IRS soundness, {what}: {bad}/{total} = {rate:.4} radii beyond f^q's truth (alpha + alpha_zeta = 0.02, \
         bound {bound:.4}); branches incremental/fallback/skipped = {branches:?}; \
         point-estimate radii violate at {naive_rate:.3}"
    );
    assert!(rate <= bound, "violation rate {rate} > {bound}");
    assert!(
        branches.iter().all(|&b| b > 0),
        "every branch exercised: {branches:?}"
    );
    assert!(
        naive_rate > 5.0 * bound,
        "the harness cannot tell an unsound IRS: {naive_rate}"
    );
}

#[test]
fn irs_is_sound_on_a_rotated_linear_classifier() {
    let f = base_model();
    check_irs(
        "w rotated by 0.1 rad",
        irs_soundness(&rotated(&f, 0.1), 11..=13, None),
    );
}

#[test]
fn irs_is_sound_when_fq_only_loses_votes() {
    // f^q's hyperplane moved 0.05 sigma into class 1: on class-1 points every disagreement
    // is a lost vote for cA, so P[f^q = cA] = pA - zeta exactly and the IRS bound is tight.
    let f = base_model();
    let fq = Linear::new(f.w.clone(), f.b - 0.05 * SIGMA * f.norm());
    check_irs(
        "hyperplane shifted 0.05 sigma",
        irs_soundness(&fq, 21..=23, Some(1.0)),
    );
}

#[test]
fn irs_with_the_same_model_has_zero_disagreements() {
    let mut f = base_model();
    let params = SmoothParams {
        sigma: SIGMA,
        n0: 100,
        n: 2000,
        alpha: 0.001,
        batch: 128,
        seed: 7,
    };
    // points at 0.8..1.6 sigma: pA in (0.79, 0.95), below gamma = 0.99, above 1/2 after zeta_up
    let ex: Vec<Example> = points(&f, 7, 40, 3.0, None)
        .into_iter()
        .filter(|e| (0.8 * SIGMA..1.6 * SIGMA).contains(&f.truth(&e.input).1))
        .collect();
    assert!(ex.len() >= 5);
    let (_, cache) = run_certify(&mut f, &params, ex, 200);
    let cache = Arc::new(cache.unwrap_or_else(|| unreachable!("cache requested")));
    let irs = IrsParams {
        n_p: 200,
        alpha_zeta: 0.001,
        gamma: 0.99,
        batch: 64,
    };
    let mut job = IrsJob::new(Arc::clone(&cache), irs);
    let recs = job.step(&mut f.clone(), u64::MAX);
    let zeta = stats::cp_upper(0, 200, 0.001);
    for (r, e) in recs.iter().zip(&cache.entries) {
        assert_eq!(r.branch, Branch::Incremental);
        assert_eq!(r.disagreements, Some(0));
        assert_eq!(r.samples, 200);
        const EXACT: f64 = 1e-12;
        let want = SIGMA * stats::phi_inv(e.p_lower - zeta);
        assert!((r.radius - want).abs() < EXACT, "{} vs {want}", r.radius);
        assert_eq!(r.prediction, e.prediction);
    }
}

#[test]
fn a_million_samples_run_in_batch_sized_buffers() {
    let mut f = Linear::new(vec![1.0, -0.5], 0.1);
    let params = SmoothParams {
        sigma: SIGMA,
        n0: 100,
        n: 1_000_000,
        alpha: 0.001,
        batch: 500,
        seed: 1,
    };
    let ex = vec![Example {
        index: 0,
        input: vec![2.0, -2.0],
        label: 1,
    }];
    let mut job = CertifyJob::new(params, ex);
    let mut steps = 0u64;
    while !job.is_done() {
        let p = job.progress();
        let recs = job.step(&mut f, 200_000);
        assert!(job.progress().samples_done - p.samples_done <= 200_000);
        assert!(recs.len() <= 1);
        steps += 1;
    }
    assert_eq!(f.max_batch, 500);
    assert!(f.calls >= 2000 && f.calls <= 2001 + steps);
    let r = &job.records()[0];
    assert_eq!((r.n, r.samples), (1_000_000, 1_000_100));
    // margin 3.1 / ||w|| = 2.77 = 5.5 sigma: (almost) every sample agrees, so the radius sits
    // at the cap R_max(n = 1e6) = 4.35 sigma; allow float noise between two ways of computing it
    assert_eq!(r.prediction, Prediction::Class(1));
    let r_max = arq::certify::metrics::r_max(SIGMA, 1_000_000, 0.001);
    assert!(
        r.radius > SIGMA * 4.0 && r.radius <= r_max + 1e-9,
        "{} vs {r_max}",
        r.radius
    );
}

#[test]
fn records_are_deterministic_and_resumable() {
    let mut f = base_model();
    let run = |f: &mut Linear, seed: u64, budget: u64| {
        let params = SmoothParams {
            sigma: SIGMA,
            n0: 30,
            n: 400,
            alpha: 0.001,
            batch: 50,
            seed,
        };
        let mut job = CertifyJob::new(params, points(f, 5, 12, 2.0, None)).with_irs_cache(100);
        let mut recs = Vec::new();
        while !job.is_done() {
            recs.extend(job.step(f, budget));
        }
        (recs, job.take_cache())
    };
    let (a, ca) = run(&mut f, 1, u64::MAX);
    let (b, cb) = run(&mut f, 1, u64::MAX);
    assert_eq!(a, b);
    assert_eq!(ca, cb);
    let (c, _) = run(&mut f, 2, u64::MAX);
    assert_ne!(a, c, "another seed gives other samples");
    for budget in [1, 7, 50, 433] {
        let (d, cd) = run(&mut f, 1, budget);
        assert_eq!(a, d, "budget {budget}");
        assert_eq!(ca, cd);
    }
    // IRS resumes the same way
    let cache = Arc::new(ca.unwrap_or_else(|| unreachable!("cache requested")));
    let irs = IrsParams {
        n_p: 100,
        alpha_zeta: 0.001,
        gamma: 0.99,
        batch: 32,
    };
    let mut fq = rotated(&f, 0.2);
    let whole = IrsJob::new(Arc::clone(&cache), irs.clone()).step(&mut fq, u64::MAX);
    for budget in [1, 33, 99] {
        let mut job = IrsJob::new(Arc::clone(&cache), irs.clone());
        let mut recs = Vec::new();
        while !job.is_done() {
            recs.extend(job.step(&mut fq, budget));
        }
        assert_eq!(recs, whole, "budget {budget}");
    }
}
