//! Incremental randomized smoothing (IRS): Ugare, Suresh, Banerjee, Singh, Misailovic,
//! "Incremental Randomized Smoothing Certification", ICLR 2024 (arXiv 2305.19521).
//!
//! Certify a modified classifier f^q (here: quantized) by reusing the certification of the
//! original f. With disagreement zeta = P[f(x+e) != f^q(x+e)],
//! P[f^q(x+e) = cA] >= pA_low - zeta_up, so
//!
//!   R^q = sigma * PhiInv(pA_low - zeta_up)   if pA_low - zeta_up > 1/2, else ABSTAIN,
//!
//! where zeta_up = BetaInv(1 - alpha_zeta; k + 1, n_p - k) is the one-sided (1 - alpha_zeta)
//! Clopper-Pearson upper bound on the disagreements k among the first n_p estimation samples of
//! f's certification, replayed bit-identically (the same [`NoiseSource`] stream, named by the
//! cache's `estimate_purpose`, with the same seed, example ids and sample indices). The result
//! is wrong with probability at most alpha + alpha_zeta. When f's class is wrong or abstained
//! the radius is 0 (no samples are drawn). When pA_low >= gamma the bound is too loose, and
//! f^q is certified from scratch with n_p estimation samples and n0 = n_p / 10 selection
//! samples at alpha + alpha_zeta, on streams of its own ([`PURPOSE_FALLBACK_SELECT`], [`PURPOSE_FALLBACK_ESTIMATE`]).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::job::{Progress, Stopwatch};
use super::sampler::Sampler;
use super::smooth::{noise_sigma, Example, Plan, Prediction, RunState};
use super::{stats, BaseClassifier};
use crate::error::Result;
use crate::job::{Job, Work};
use crate::rng::NoiseSource;

/// Selection stream of the gamma fallback (independent of f's streams).
pub const PURPOSE_FALLBACK_SELECT: &str = "noise-irs-select";
/// Estimation stream of the gamma fallback.
pub const PURPOSE_FALLBACK_ESTIMATE: &str = "noise-irs-estimate";

/// What IRS keeps from certifying f (built by
/// [`CertifyJob::with_irs_cache`](super::CertifyJob::with_irs_cache)).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IrsCache {
    /// The noise stream of f's estimation samples, which IRS replays.
    pub estimate_purpose: String,
    /// The noise level of f's certification (pixel units).
    pub sigma: f64,
    /// Master seed of f's noise streams.
    pub seed: u64,
    /// Selection samples of f's certification.
    pub n0: u64,
    /// Estimation samples of f's certification.
    pub n: u64,
    /// f's CERTIFY alpha.
    pub alpha: f64,
    /// f's class is kept for estimation samples 0..n_keep of each point.
    pub n_keep: u64,
    /// One entry per certified point, in certification order.
    pub entries: Vec<CacheEntry>,
}

/// One point of the cache: f's certificate and its class on the kept estimation samples.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheEntry {
    /// The point (its id keys the noise replay).
    pub example: Example,
    /// f's smoothed prediction cA (or abstain).
    pub prediction: Prediction,
    /// nA of f.
    pub count: u64,
    /// pA_low of f.
    pub p_lower: f64,
    /// f's class on estimation sample j, j < n_keep.
    pub preds: Vec<u8>,
}

/// IRS settings. Validated by the config layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IrsParams {
    /// Replayed (or, in the fallback, fresh) estimation samples; <= the cache's n_keep.
    pub n_p: u64,
    /// Failure probability of the disagreement bound.
    pub alpha_zeta: f64,
    /// Fallback threshold on f's pA_low.
    pub gamma: f64,
    /// Noisy samples per forward call.
    pub batch: usize,
}

/// Which way a point was certified.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Branch {
    /// Replay of n_p cached samples: R^q = sigma * PhiInv(pA_low - zeta_up).
    Incremental,
    /// pA_low >= gamma: certified from scratch at alpha + alpha_zeta.
    Fallback,
    /// f was wrong or abstained: radius 0, no samples.
    Skipped,
}

/// zeta_up: one-sided (1 - alpha_zeta) Clopper-Pearson upper bound of k disagreements in n_p.
pub(crate) fn zeta_up(k: u64, n_p: u64, alpha_zeta: f64) -> f64 {
    stats::cp_upper(k, n_p, alpha_zeta)
}

/// IRS radius: sigma * PhiInv(pA_low - zeta_up) if pA_low - zeta_up > 1/2, else None
/// (abstain), with sigma as the noise used it ([`noise_sigma`]).
pub(crate) fn irs_radius(sigma: f64, p_lower: f64, zeta_up: f64) -> Option<f64> {
    let p = p_lower - zeta_up;
    (p > 0.5).then(|| noise_sigma(sigma) * stats::phi_inv(p))
}

/// One point certified for f^q.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IrsRecord {
    /// The example id.
    pub index: u64,
    /// The true class.
    pub label: u8,
    /// Incremental: cA or abstain. Fallback: f^q's own certificate. Skipped: f's prediction,
    /// inherited (f^q is not evaluated).
    pub prediction: Prediction,
    /// Which way the point was certified.
    pub branch: Branch,
    /// Estimation samples of f^q used (replayed or fresh); 0 when skipped.
    pub n_p: u64,
    /// Incremental: disagreements k between f and f^q among the replayed samples.
    pub disagreements: Option<u64>,
    /// Incremental: zeta_up.
    pub zeta_up: Option<f64>,
    /// Fallback: nA of f^q.
    pub count: Option<u64>,
    /// Lower bound on P[f^q(x+e) = prediction]: max(0, pA_low - zeta_up) (incremental),
    /// pA_low of f^q (fallback), 0 (skipped).
    pub p_lower: f64,
    /// Certified radius of f^q; 0 when abstaining or skipped.
    pub radius: f64,
    /// Whether `prediction` is the label (false when abstaining).
    pub correct: bool,
    /// Forward samples of f^q spent on this point.
    pub samples: u64,
    /// Wall time in microseconds, when every step that touched this point had a clock.
    pub micros: Option<u64>,
}

/// Resumable IRS certification of f^q over every point of a cache; each
/// [`IrsJob::step`] runs at most `max_samples` forward samples.
pub struct IrsJob {
    params: IrsParams,
    cache: Arc<IrsCache>,
    replay: NoiseSource,
    fallback: Plan,
    pos: usize,
    replay_done: u64,
    disagreements: u64,
    run: RunState,
    watch: Stopwatch,
    sampler: Sampler,
    samples_done: u64,
    samples_total: u64,
    records: Vec<IrsRecord>,
}

impl IrsJob {
    /// A job certifying f^q on every point of `cache`; nothing runs until `step`.
    /// `params.n_p` must not exceed `cache.n_keep` (replays are cut to the kept samples).
    pub fn new(cache: Arc<IrsCache>, params: IrsParams) -> Self {
        debug_assert!(params.n_p > 0 && params.n_p <= cache.n_keep);
        let n0 = (params.n_p / 10).max(1);
        let alpha = cache.alpha + params.alpha_zeta;
        let purposes = [PURPOSE_FALLBACK_SELECT, PURPOSE_FALLBACK_ESTIMATE];
        let fallback = Plan::new(cache.sigma, n0, params.n_p, alpha, cache.seed, purposes);
        let mut job = IrsJob {
            replay: NoiseSource::new(cache.seed, &cache.estimate_purpose),
            sampler: Sampler::new(params.batch),
            fallback,
            pos: 0,
            replay_done: 0,
            disagreements: 0,
            run: RunState::default(),
            watch: Stopwatch::new(),
            samples_done: 0,
            samples_total: 0,
            records: Vec::new(),
            params,
            cache,
        };
        job.samples_total = job.cache.entries.iter().map(|e| job.cost(e)).sum();
        job
    }

    /// Which branch a cached point takes.
    pub(crate) fn branch(&self, entry: &CacheEntry) -> Branch {
        if entry.prediction != Prediction::Class(entry.example.label) {
            Branch::Skipped
        } else if entry.p_lower >= self.params.gamma {
            Branch::Fallback
        } else {
            Branch::Incremental
        }
    }

    fn replay_len(&self, entry: &CacheEntry) -> u64 {
        self.params.n_p.min(entry.preds.len() as u64)
    }

    fn cost(&self, entry: &CacheEntry) -> u64 {
        match self.branch(entry) {
            Branch::Skipped => 0,
            Branch::Incremental => self.replay_len(entry),
            Branch::Fallback => self.fallback.samples_per_example(),
        }
    }

    /// Run at most `max_samples` forward samples of f^q; returns the records finished meanwhile.
    pub fn step<F: BaseClassifier + ?Sized>(
        &mut self,
        fq: &mut F,
        max_samples: u64,
    ) -> Vec<IrsRecord> {
        self.step_inner(fq, max_samples, None)
    }

    /// Like [`IrsJob::step`], timing each point with `now_micros` (any monotonic clock).
    pub(crate) fn step_timed<F: BaseClassifier + ?Sized>(
        &mut self,
        fq: &mut F,
        max_samples: u64,
        now_micros: &mut dyn FnMut() -> u64,
    ) -> Vec<IrsRecord> {
        self.step_inner(fq, max_samples, Some(now_micros))
    }

    fn step_inner<F: BaseClassifier + ?Sized>(
        &mut self,
        fq: &mut F,
        max_samples: u64,
        mut clock: Option<&mut dyn FnMut() -> u64>,
    ) -> Vec<IrsRecord> {
        let cache = Arc::clone(&self.cache);
        let mut out = Vec::new();
        let mut budget = max_samples;
        while let Some(entry) = cache.entries.get(self.pos) {
            let t0 = clock.as_mut().map(|c| c());
            let (used, record) = match self.branch(entry) {
                Branch::Skipped => (0, Some(self.skipped(entry))),
                Branch::Incremental => self.advance_replay(fq, entry, budget),
                Branch::Fallback => self.advance_fallback(fq, entry, budget),
            };
            self.watch.add(t0, &mut clock);
            budget -= used;
            self.samples_done += used;
            let Some(mut record) = record else { break };
            record.micros = self.watch.micros();
            self.records.push(record.clone());
            out.push(record);
            self.pos += 1;
            self.replay_done = 0;
            self.disagreements = 0;
            self.run = RunState::default();
            self.watch = Stopwatch::new();
        }
        out
    }

    fn skipped(&self, entry: &CacheEntry) -> IrsRecord {
        IrsRecord {
            index: entry.example.index,
            label: entry.example.label,
            prediction: entry.prediction,
            branch: Branch::Skipped,
            n_p: 0,
            disagreements: None,
            zeta_up: None,
            count: None,
            p_lower: 0.0,
            radius: 0.0,
            correct: false,
            samples: 0,
            micros: None,
        }
    }

    /// Replay estimation samples replay_done.. of f's stream through f^q, counting
    /// disagreements with the cached classes.
    fn advance_replay<F: BaseClassifier + ?Sized>(
        &mut self,
        fq: &mut F,
        entry: &CacheEntry,
        budget: u64,
    ) -> (u64, Option<IrsRecord>) {
        let n_r = self.replay_len(entry);
        let sigma = self.cache.sigma as f32;
        let x = &entry.example.input;
        let batch = self.sampler.batch() as u64;
        let mut used = 0;
        while used < budget && self.replay_done < n_r {
            let start = self.replay_done;
            let c = batch.min(n_r - start).min(budget - used);
            let idx = entry.example.index;
            let classes =
                self.sampler
                    .classify_noisy(fq, x, sigma, &self.replay, idx, start, c as usize);
            let cached = &entry.preds[start as usize..(start + c) as usize];
            self.disagreements += classes.iter().zip(cached).filter(|(a, b)| a != b).count() as u64;
            self.replay_done += c;
            used += c;
        }
        if self.replay_done < n_r {
            return (used, None);
        }
        let k = self.disagreements;
        let z = zeta_up(k, n_r, self.params.alpha_zeta);
        let (prediction, radius) = match irs_radius(self.cache.sigma, entry.p_lower, z) {
            Some(r) => (entry.prediction, r),
            None => (Prediction::Abstain, 0.0),
        };
        let record = IrsRecord {
            index: entry.example.index,
            label: entry.example.label,
            prediction,
            branch: Branch::Incremental,
            n_p: n_r,
            disagreements: Some(k),
            zeta_up: Some(z),
            count: None,
            p_lower: (entry.p_lower - z).max(0.0),
            radius,
            correct: prediction == Prediction::Class(entry.example.label),
            samples: n_r,
            micros: None,
        };
        (used, Some(record))
    }

    /// Certify f^q from scratch (Cohen's CERTIFY with n0 = n_p / 10, n = n_p, alpha + alpha_zeta).
    fn advance_fallback<F: BaseClassifier + ?Sized>(
        &mut self,
        fq: &mut F,
        entry: &CacheEntry,
        budget: u64,
    ) -> (u64, Option<IrsRecord>) {
        let ex = &entry.example;
        let (used, cert) = self.run.advance(
            &self.fallback,
            fq,
            &mut self.sampler,
            &ex.input,
            ex.index,
            budget,
            0,
        );
        let record = cert.map(|c| IrsRecord {
            index: ex.index,
            label: ex.label,
            prediction: c.prediction,
            branch: Branch::Fallback,
            n_p: c.n,
            disagreements: None,
            zeta_up: None,
            count: Some(c.count),
            p_lower: c.p_lower,
            radius: c.radius,
            correct: c.prediction == Prediction::Class(ex.label),
            samples: self.fallback.samples_per_example(),
            micros: None,
        });
        (used, record)
    }

    /// All points certified.
    pub fn is_done(&self) -> bool {
        self.pos >= self.cache.entries.len()
    }

    /// Points and forward samples done / total (the total is known up front: the branch of
    /// each point depends only on the cache).
    pub(crate) fn progress(&self) -> Progress {
        Progress {
            examples_done: self.pos,
            examples_total: self.cache.entries.len(),
            samples_done: self.samples_done,
            samples_total: self.samples_total,
        }
    }

    /// Every record finished so far, in cache order.
    pub(crate) fn records(&self) -> &[IrsRecord] {
        &self.records
    }
}

/// IRS as a [`Job`]: the budget is forward samples of f^q, each point timed with the clock.
impl Job for IrsJob {
    type Env<'a> = &'a mut dyn BaseClassifier;
    type Report = Vec<IrsRecord>;

    fn step(
        &mut self,
        fq: Self::Env<'_>,
        budget: u64,
        clock: &mut dyn FnMut() -> u64,
    ) -> Result<Vec<IrsRecord>> {
        Ok(self.step_timed(fq, budget, clock))
    }

    fn work(&self) -> Work {
        let p = self.progress();
        Work {
            phase: "irs",
            done: p.samples_done,
            total: p.samples_total,
        }
    }

    fn is_done(&self) -> bool {
        IrsJob::is_done(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certify::{CertifyJob, SmoothParams};

    /// Known zeta_up values, docs/method.md section 10 (alpha_zeta = 0.001), printed to 6 decimals.
    const ZETA_KNOWN: [(u64, u64, f64); 5] = [
        (0, 100, 0.066746),
        (1, 100, 0.088627),
        (0, 1000, 0.006884),
        (5, 1000, 0.016361),
        (0, 10000, 0.000691),
    ];
    const ZETA_TOL: f64 = 1e-6;

    #[test]
    fn zeta_and_radius_known_values() {
        for (k, n, z) in ZETA_KNOWN {
            assert!((zeta_up(k, n, 0.001) - z).abs() < ZETA_TOL, "{k}/{n}");
        }
        // pA_low = 0.95, zeta_up = 0.02, sigma = 0.5 -> 0.737896 (6 decimals)
        let r = irs_radius(0.5, 0.95, 0.02).unwrap_or(-1.0);
        assert!((r - 0.737896).abs() < 1e-6, "{r}");
        assert_eq!(irs_radius(0.5, 0.55, 0.05), None);
    }

    /// f(x) = argmax over 3 classes of the bands x[0] < lo, lo..hi, >= hi; `flip` swaps
    /// classes 1 and 2 on a band, so f^q can be made to disagree on a known region.
    #[derive(Clone)]
    struct Bands {
        lo: f32,
        hi: f32,
    }

    impl BaseClassifier for Bands {
        fn input_len(&self) -> usize {
            2
        }
        fn num_classes(&self) -> usize {
            3
        }
        fn classify(&mut self, x: &[f32], batch: usize, out: &mut [u8]) {
            for (o, xi) in out[..batch].iter_mut().zip(x.chunks_exact(2)) {
                *o = if xi[0] < self.lo {
                    0
                } else if xi[0] < self.hi {
                    1
                } else {
                    2
                };
            }
        }
    }

    fn cache(points: &[(f32, u8)], n: u64, keep: u64) -> Arc<IrsCache> {
        let params = SmoothParams {
            sigma: 0.5,
            n0: 50,
            n,
            alpha: 0.001,
            batch: 64,
            seed: 3,
        };
        let ex = points
            .iter()
            .enumerate()
            .map(|(i, &(x0, label))| Example {
                index: i as u64,
                input: vec![x0, 0.0],
                label,
            })
            .collect();
        let mut job = CertifyJob::new(params, ex).with_irs_cache(keep);
        let mut f = Bands { lo: -1.0, hi: 1.0 };
        job.step(&mut f, u64::MAX);
        Arc::new(job.take_cache().unwrap_or_else(|| unreachable!()))
    }

    #[test]
    fn branches_costs_and_resumption() {
        // point 0: deep in class 1 (pA_low > 0.99 at n = 2000 -> fallback);
        // point 1: near the edge (incremental); point 2: wrong label (skipped).
        let c = cache(&[(0.0, 1), (0.6, 1), (0.0, 2)], 2000, 500);
        // P[class 1] = Phi(2) - Phi(-2) = 0.954 at x0 = 0, Phi(0.8) - Phi(-3.2) = 0.788 at 0.6
        assert!(c.entries[0].p_lower >= 0.9, "{}", c.entries[0].p_lower);
        assert!(c.entries[1].p_lower < 0.9 && c.entries[1].p_lower > 0.5);
        let params = IrsParams {
            n_p: 400,
            alpha_zeta: 0.001,
            gamma: 0.9,
            batch: 64,
        };
        let mut fq = Bands { lo: -1.0, hi: 0.9 };
        let mut big = IrsJob::new(Arc::clone(&c), params.clone());
        let all = big.step(&mut fq, u64::MAX);
        let branches: Vec<Branch> = all.iter().map(|r| r.branch).collect();
        assert_eq!(
            branches,
            vec![Branch::Fallback, Branch::Incremental, Branch::Skipped]
        );
        assert_eq!(all[0].samples, 440);
        assert_eq!(all[1].samples, 400);
        assert_eq!(all[2].samples, 0);
        assert_eq!(big.progress().samples_total, 840);
        assert_eq!(big.progress().samples_done, 840);
        assert!(!all[2].correct && all[2].radius == 0.0);
        // f^q moved the edge from 1.0 to 0.9: point 1 sees disagreements
        assert!(all[1].disagreements.unwrap_or(0) > 0);
        for max in [1, 63, 100] {
            let mut job = IrsJob::new(Arc::clone(&c), params.clone());
            let mut recs = Vec::new();
            while !job.is_done() {
                recs.extend(job.step(&mut fq, max));
            }
            assert_eq!(recs, all, "budget {max}");
        }
    }

    #[test]
    fn identical_model_has_no_disagreements() {
        let c = cache(&[(0.3, 1), (-0.2, 1)], 1000, 1000);
        let params = IrsParams {
            n_p: 1000,
            alpha_zeta: 0.001,
            gamma: 0.99,
            batch: 100,
        };
        let mut job = IrsJob::new(Arc::clone(&c), params);
        let recs = job.step(&mut Bands { lo: -1.0, hi: 1.0 }, u64::MAX);
        for (r, e) in recs.iter().zip(&c.entries) {
            assert_eq!(r.branch, Branch::Incremental);
            assert_eq!(r.disagreements, Some(0));
            let want = 0.5 * stats::phi_inv(e.p_lower - stats::cp_upper(0, 1000, 0.001));
            assert!((r.radius - want).abs() < 1e-12);
        }
    }

    #[test]
    fn cache_round_trips_through_json() {
        let c = cache(&[(0.3, 1)], 200, 20);
        let s = serde_json::to_string(&*c).unwrap_or_default();
        assert!(s.contains("\"nKeep\":20") && s.contains("\"pLower\""));
        let back: IrsCache = serde_json::from_str(&s).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, *c);
    }
}
