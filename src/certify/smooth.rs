//! Randomized smoothing: PREDICT and CERTIFY of Cohen, Rosenfeld and Kolter, "Certified
//! Adversarial Robustness via Randomized Smoothing", ICML 2019 (arXiv 1902.02918).
//!
//! The smoothed classifier is g(x) = argmax_c P[f(x + e) = c], e ~ N(0, sigma^2 I). Noise is
//! added to raw inputs without clamping (as Cohen et al.): x_noisy = x + sigma * z, computed in
//! f32 as `x[i] + sigma * z[i]` (no fused multiply-add), with z from
//! [`NoiseSource::fill`]`(example, sample)`. Selection, estimation and prediction samples come
//! from independent streams ([`PURPOSE_SELECT`], [`PURPOSE_ESTIMATE`], [`PURPOSE_PREDICT`]).
//! Samples are drawn in batches, so memory is O(batch * input_len) whatever the sample count.

use serde::{Deserialize, Serialize};

use super::irs::{CacheEntry, IrsCache};
use super::{stats, BaseClassifier};
use crate::rng::NoiseSource;

/// Noise stream of CERTIFY's n0 selection samples.
pub const PURPOSE_SELECT: &str = "noise-select";
/// Noise stream of CERTIFY's n estimation samples (replayed by IRS).
pub const PURPOSE_ESTIMATE: &str = "noise-estimate";
/// Noise stream of PREDICT's samples.
pub const PURPOSE_PREDICT: &str = "noise-predict";

/// The smoothed classifier's answer. Serialises as the class number or `null` for abstain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "Option<u8>", into = "Option<u8>")]
pub enum Prediction {
    /// The statistical test could not separate the top class (CERTIFY: pA_low < 1/2).
    Abstain,
    /// The smoothed classifier's class.
    Class(u8),
}

impl Prediction {
    /// The class, or `None` for abstain.
    pub fn class(self) -> Option<u8> {
        match self {
            Prediction::Abstain => None,
            Prediction::Class(c) => Some(c),
        }
    }

    /// True for [`Prediction::Abstain`].
    pub fn is_abstain(self) -> bool {
        self == Prediction::Abstain
    }
}

impl From<Option<u8>> for Prediction {
    fn from(c: Option<u8>) -> Self {
        c.map_or(Prediction::Abstain, Prediction::Class)
    }
}

impl From<Prediction> for Option<u8> {
    fn from(p: Prediction) -> Self {
        p.class()
    }
}

/// Parameters of PREDICT / CERTIFY. Validated by the config layer; here only debug-asserted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SmoothParams {
    /// Noise level sigma (raw-pixel units); radii are in the same units.
    pub sigma: f64,
    /// Selection samples (CERTIFY); >= 1.
    pub n0: u64,
    /// Estimation samples (CERTIFY) or prediction samples (PREDICT); >= 1.
    pub n: u64,
    /// Failure probability alpha in (0, 1).
    pub alpha: f64,
    /// Noisy samples per forward call; >= 1. Memory is O(batch * input_len).
    pub batch: usize,
    /// Master seed of the noise streams.
    pub seed: u64,
}

impl Default for SmoothParams {
    /// The browser default (README, "Settings"): n0 = 100, n = 1,000, alpha = 0.001,
    /// sigma = 0.25, batch 100 (paper grade is n = 100,000).
    fn default() -> Self {
        SmoothParams {
            sigma: 0.25,
            n0: 100,
            n: 1000,
            alpha: 0.001,
            batch: 100,
            seed: 0,
        }
    }
}

/// One test point: `index` is its example id (the noise key, typically the test-split index).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Example {
    pub index: u64,
    pub input: Vec<f32>,
    pub label: u8,
}

/// The outcome of CERTIFY on one input.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Certificate {
    pub prediction: Prediction,
    /// nA: estimation samples classified as the selected class cA.
    pub count: u64,
    /// n: estimation samples.
    pub n: u64,
    /// pA_low: one-sided (1 - alpha) Clopper-Pearson lower bound of nA / n.
    pub p_lower: f64,
    /// sigma * PhiInv(pA_low), or 0 when abstaining.
    pub radius: f64,
}

/// The noise level the samples really have: inputs are perturbed in f32 as
/// `x + (sigma as f32) * z`, so radii use sigma rounded to f32 (for sigma = 0.12 that is
/// 0.11999999731779099, a radius smaller by 2e-8 relative; 0.25 and 0.5 are exact).
pub fn noise_sigma(sigma: f64) -> f64 {
    sigma as f32 as f64
}

/// CERTIFY's final step: pA_low = BetaInv(alpha; nA, n - nA + 1); ABSTAIN if pA_low < 1/2,
/// else (cA, R = sigma * PhiInv(pA_low)) (Cohen et al. 2019, Algorithm "CERTIFY"), with sigma
/// as the noise used it ([`noise_sigma`]).
pub fn certificate(class_a: u8, count: u64, n: u64, alpha: f64, sigma: f64) -> Certificate {
    let p_lower = stats::cp_lower(count, n, alpha);
    let (prediction, radius) = match stats::radius(noise_sigma(sigma), p_lower) {
        Some(r) => (Prediction::Class(class_a), r),
        None => (Prediction::Abstain, 0.0),
    };
    Certificate {
        prediction,
        count,
        n,
        p_lower,
        radius,
    }
}

/// Write one noisy input: out[i] = x[i] + sigma * z[i], z = noise.fill(example, sample).
pub fn noisy_input(
    x: &[f32],
    sigma: f32,
    noise: &NoiseSource,
    example: u64,
    sample: u64,
    out: &mut [f32],
) {
    debug_assert_eq!(x.len(), out.len());
    noise.fill(example, sample, out);
    for (o, &xi) in out.iter_mut().zip(x) {
        *o = xi + sigma * *o;
    }
}

/// Reusable batch buffers for noisy forward passes: at most `batch * input_len` floats and
/// `batch` classes, whatever the total number of samples.
#[derive(Clone, Debug, Default)]
pub struct Sampler {
    batch: usize,
    noisy: Vec<f32>,
    classes: Vec<u8>,
}

impl Sampler {
    /// Buffers for `batch` (>= 1) samples per forward call; they grow on first use.
    pub fn new(batch: usize) -> Self {
        debug_assert!(batch > 0);
        Sampler {
            batch: batch.max(1),
            noisy: Vec::new(),
            classes: Vec::new(),
        }
    }

    /// Samples per forward call.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Classify the noisy samples `start..start + count` (count <= batch) of `x` under
    /// `noise`; returns the `count` predicted classes in sample order.
    #[allow(clippy::too_many_arguments)]
    pub fn classify_noisy<F: BaseClassifier + ?Sized>(
        &mut self,
        f: &mut F,
        x: &[f32],
        sigma: f32,
        noise: &NoiseSource,
        example: u64,
        start: u64,
        count: usize,
    ) -> &[u8] {
        debug_assert!(count <= self.batch);
        debug_assert_eq!(x.len(), f.input_len());
        let len = x.len();
        if self.noisy.len() < count * len {
            self.noisy.resize(count * len, 0.0);
        }
        if self.classes.len() < count {
            self.classes.resize(count, 0);
        }
        // one noisy copy per row, rows over every core natively
        crate::par::fill_rows(&mut self.noisy[..count * len], len, |j, out| {
            noisy_input(x, sigma, noise, example, start + j as u64, out)
        });
        f.classify(
            &self.noisy[..count * len],
            count,
            &mut self.classes[..count],
        );
        &self.classes[..count]
    }
}

/// Index of the largest count (the first one on ties, like numpy's argmax).
fn argmax(counts: &[u64]) -> u8 {
    let mut best = 0;
    for (c, &k) in counts.iter().enumerate() {
        if k > counts[best] {
            best = c;
        }
    }
    debug_assert!(best <= u8::MAX as usize);
    best as u8
}

fn tally(counts: &mut Vec<u64>, classes: &[u8]) {
    for &c in classes {
        let c = c as usize;
        if c >= counts.len() {
            // The classifier broke its num_classes() contract; count it anyway.
            debug_assert!(false, "class {c} out of range {}", counts.len());
            counts.resize(c + 1, 0);
        }
        counts[c] += 1;
    }
}

/// The fixed settings of one CERTIFY run (shared by every example of a job).
#[derive(Clone)]
pub(crate) struct Plan {
    pub sigma: f64,
    pub n0: u64,
    pub n: u64,
    pub alpha: f64,
    pub select: NoiseSource,
    pub estimate: NoiseSource,
}

impl Plan {
    pub fn new(sigma: f64, n0: u64, n: u64, alpha: f64, seed: u64, purposes: [&str; 2]) -> Self {
        debug_assert!(sigma > 0.0 && n0 > 0 && n > 0 && alpha > 0.0 && alpha < 1.0);
        Plan {
            sigma,
            n0,
            n,
            alpha,
            select: NoiseSource::new(seed, purposes[0]),
            estimate: NoiseSource::new(seed, purposes[1]),
        }
    }

    pub fn samples_per_example(&self) -> u64 {
        self.n0 + self.n
    }
}

/// Resumable CERTIFY of one example: selection counts, then estimation counts.
#[derive(Clone, Debug, Default)]
pub(crate) struct RunState {
    counts0: Vec<u64>,
    done0: u64,
    class_a: Option<u8>,
    done: u64,
    count: u64,
    /// f's class on estimation samples 0..keep (for the IRS cache).
    pub preds: Vec<u8>,
}

impl RunState {
    /// Run at most `budget` forward samples; returns the samples used and, once all n0 + n
    /// are done, the certificate.
    #[allow(clippy::too_many_arguments)]
    pub fn advance<F: BaseClassifier + ?Sized>(
        &mut self,
        plan: &Plan,
        f: &mut F,
        sampler: &mut Sampler,
        x: &[f32],
        example: u64,
        budget: u64,
        keep: u64,
    ) -> (u64, Option<Certificate>) {
        if self.counts0.len() < f.num_classes() {
            self.counts0.resize(f.num_classes(), 0);
        }
        let sigma = plan.sigma as f32;
        let batch = sampler.batch() as u64;
        let mut used = 0;
        while used < budget && self.done < plan.n {
            if self.done0 < plan.n0 {
                let c = batch.min(plan.n0 - self.done0).min(budget - used);
                let classes = sampler.classify_noisy(
                    f,
                    x,
                    sigma,
                    &plan.select,
                    example,
                    self.done0,
                    c as usize,
                );
                tally(&mut self.counts0, classes);
                self.done0 += c;
                used += c;
                continue;
            }
            let class_a = *self.class_a.get_or_insert_with(|| argmax(&self.counts0));
            let c = batch.min(plan.n - self.done).min(budget - used);
            let start = self.done;
            let classes =
                sampler.classify_noisy(f, x, sigma, &plan.estimate, example, start, c as usize);
            self.count += classes.iter().filter(|&&k| k == class_a).count() as u64;
            let kept = keep.saturating_sub(start).min(c) as usize;
            self.preds.extend_from_slice(&classes[..kept]);
            self.done += c;
            used += c;
        }
        if self.done0 < plan.n0 || self.done < plan.n {
            return (used, None);
        }
        let class_a = *self.class_a.get_or_insert_with(|| argmax(&self.counts0));
        (
            used,
            Some(certificate(
                class_a, self.count, plan.n, plan.alpha, plan.sigma,
            )),
        )
    }
}

/// PREDICT (Cohen et al. 2019): count f's classes over `params.n` noisy samples (stream
/// [`PURPOSE_PREDICT`]); with cA, cB the top two counts nA >= nB, return cA if the two-sided
/// binomial test of nA successes in nA + nB trials at p = 1/2 has p-value <= alpha, else
/// ABSTAIN. Returns a wrong class with probability at most alpha.
pub fn predict<F: BaseClassifier + ?Sized>(
    f: &mut F,
    x: &[f32],
    example: u64,
    params: &SmoothParams,
) -> Prediction {
    let noise = NoiseSource::new(params.seed, PURPOSE_PREDICT);
    let mut sampler = Sampler::new(params.batch);
    let mut counts = vec![0u64; f.num_classes()];
    let mut done = 0;
    while done < params.n {
        let c = (sampler.batch() as u64).min(params.n - done);
        let classes =
            sampler.classify_noisy(f, x, params.sigma as f32, &noise, example, done, c as usize);
        tally(&mut counts, classes);
        done += c;
    }
    let a = argmax(&counts) as usize;
    let n_a = counts.get(a).copied().unwrap_or(0);
    let n_b = counts
        .iter()
        .enumerate()
        .filter(|&(c, _)| c != a)
        .map(|(_, &k)| k)
        .max();
    let n_b = n_b.unwrap_or(0);
    if stats::binom_test_half(n_a, n_a + n_b) > params.alpha {
        Prediction::Abstain
    } else {
        Prediction::Class(a as u8)
    }
}

/// CERTIFY (Cohen et al. 2019) of one input, run to completion: cA = argmax of the counts of
/// n0 selection samples; nA = count of cA among n fresh estimation samples;
/// pA_low = BetaInv(alpha; nA, n - nA + 1); ABSTAIN if pA_low < 1/2, else
/// (cA, R = sigma * PhiInv(pA_low)). The radius is wrong with probability at most alpha.
pub fn certify<F: BaseClassifier + ?Sized>(
    f: &mut F,
    x: &[f32],
    example: u64,
    params: &SmoothParams,
) -> Certificate {
    let p = params;
    let plan = Plan::new(
        p.sigma,
        p.n0,
        p.n,
        p.alpha,
        p.seed,
        [PURPOSE_SELECT, PURPOSE_ESTIMATE],
    );
    let mut sampler = Sampler::new(p.batch);
    let mut state = RunState::default();
    let (_, cert) = state.advance(&plan, f, &mut sampler, x, example, u64::MAX, 0);
    debug_assert!(cert.is_some());
    cert.unwrap_or(certificate(0, 0, p.n, p.alpha, p.sigma))
}

/// One certified test point, as [`CertifyJob`] reports it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct CertRecord {
    /// The example id.
    pub index: u64,
    pub label: u8,
    /// The class, or null for abstain.
    #[cfg_attr(target_arch = "wasm32", tsify(type = "number | null"))]
    pub prediction: Prediction,
    /// nA.
    pub count: u64,
    /// n (estimation samples).
    pub n: u64,
    /// pA_low.
    pub p_lower: f64,
    /// Certified L2 radius; 0 when abstaining.
    pub radius: f64,
    /// prediction == Class(label).
    pub correct: bool,
    /// Forward samples spent (n0 + n).
    pub samples: u64,
    /// Wall time in microseconds, when every step that touched this example had a clock.
    pub micros: Option<u64>,
}

/// How far a job is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    pub examples_done: usize,
    pub examples_total: usize,
    pub samples_done: u64,
    pub samples_total: u64,
}

/// Per-example wall time, from an injected clock (the core has no clock: `Instant` panics on
/// wasm32). `None` once any step ran without a clock.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stopwatch(Option<u64>);

impl Stopwatch {
    pub fn new() -> Self {
        Stopwatch(Some(0))
    }

    pub fn add(&mut self, t0: Option<u64>, clock: &mut Option<&mut dyn FnMut() -> u64>) {
        match (t0, clock) {
            (Some(t0), Some(c)) => {
                if let Some(e) = &mut self.0 {
                    *e += c().saturating_sub(t0);
                }
            }
            _ => self.0 = None,
        }
    }

    pub fn micros(self) -> Option<u64> {
        self.0
    }
}

/// Resumable CERTIFY over a list of examples: each [`CertifyJob::step`] runs at most
/// `max_samples` forward samples and returns the records finished during it. The records do
/// not depend on how the work is split into steps. Optionally keeps f's predictions on the
/// first `n_keep` estimation samples of every example, building an [`IrsCache`].
pub struct CertifyJob {
    params: SmoothParams,
    /// Noise streams (selection, estimation): [`PURPOSE_SELECT`], [`PURPOSE_ESTIMATE`]
    /// unless [`CertifyJob::with_purposes`] chose others.
    purposes: [&'static str; 2],
    plan: Plan,
    examples: Vec<Example>,
    pos: usize,
    state: RunState,
    watch: Stopwatch,
    sampler: Sampler,
    samples_done: u64,
    records: Vec<CertRecord>,
    cache: Option<IrsCache>,
}

impl CertifyJob {
    /// A job certifying `examples` in order with `params`; nothing runs until `step`.
    pub fn new(params: SmoothParams, examples: Vec<Example>) -> Self {
        let p = &params;
        let plan = Plan::new(
            p.sigma,
            p.n0,
            p.n,
            p.alpha,
            p.seed,
            [PURPOSE_SELECT, PURPOSE_ESTIMATE],
        );
        CertifyJob {
            sampler: Sampler::new(params.batch),
            params,
            purposes: [PURPOSE_SELECT, PURPOSE_ESTIMATE],
            plan,
            examples,
            pos: 0,
            state: RunState::default(),
            watch: Stopwatch::new(),
            samples_done: 0,
            records: Vec::new(),
            cache: None,
        }
    }

    /// Draw the selection and estimation noise from the streams `purposes` instead of
    /// [`PURPOSE_SELECT`] and [`PURPOSE_ESTIMATE`]: a certification that must not share a
    /// noise draw with another one on the same examples (the final comparison) names its own.
    pub fn with_purposes(mut self, purposes: [&'static str; 2]) -> Self {
        let p = &self.params;
        self.plan = Plan::new(p.sigma, p.n0, p.n, p.alpha, p.seed, purposes);
        self.purposes = purposes;
        if let Some(c) = &mut self.cache {
            c.estimate_purpose = purposes[1].to_string();
        }
        self
    }

    /// Also build an IRS cache keeping f's class on the first `n_keep` (<= n) estimation
    /// samples of each example (one byte per sample).
    pub fn with_irs_cache(mut self, n_keep: u64) -> Self {
        let p = &self.params;
        debug_assert!(n_keep <= p.n);
        self.cache = Some(IrsCache {
            estimate_purpose: self.purposes[1].to_string(),
            sigma: p.sigma,
            seed: p.seed,
            n0: p.n0,
            n: p.n,
            alpha: p.alpha,
            n_keep: n_keep.min(p.n),
            entries: Vec::new(),
        });
        self
    }

    /// The job's parameters.
    pub fn params(&self) -> &SmoothParams {
        &self.params
    }

    /// Run at most `max_samples` forward samples; returns the records finished meanwhile.
    pub fn step<F: BaseClassifier + ?Sized>(
        &mut self,
        f: &mut F,
        max_samples: u64,
    ) -> Vec<CertRecord> {
        self.step_inner(f, max_samples, None)
    }

    /// Like [`CertifyJob::step`], timing each example with `now_micros` (any monotonic clock).
    pub fn step_timed<F: BaseClassifier + ?Sized>(
        &mut self,
        f: &mut F,
        max_samples: u64,
        now_micros: &mut dyn FnMut() -> u64,
    ) -> Vec<CertRecord> {
        self.step_inner(f, max_samples, Some(now_micros))
    }

    fn step_inner<F: BaseClassifier + ?Sized>(
        &mut self,
        f: &mut F,
        max_samples: u64,
        mut clock: Option<&mut dyn FnMut() -> u64>,
    ) -> Vec<CertRecord> {
        let mut out = Vec::new();
        let mut budget = max_samples;
        let keep = self.cache.as_ref().map_or(0, |c| c.n_keep);
        while let Some(ex) = self.examples.get(self.pos) {
            let t0 = clock.as_mut().map(|c| c());
            let (used, cert) = self.state.advance(
                &self.plan,
                f,
                &mut self.sampler,
                &ex.input,
                ex.index,
                budget,
                keep,
            );
            self.watch.add(t0, &mut clock);
            budget -= used;
            self.samples_done += used;
            let Some(cert) = cert else { break };
            let record = CertRecord {
                index: ex.index,
                label: ex.label,
                prediction: cert.prediction,
                count: cert.count,
                n: cert.n,
                p_lower: cert.p_lower,
                radius: cert.radius,
                correct: cert.prediction == Prediction::Class(ex.label),
                samples: self.plan.samples_per_example(),
                micros: self.watch.micros(),
            };
            if let Some(cache) = &mut self.cache {
                cache.entries.push(CacheEntry {
                    example: ex.clone(),
                    prediction: cert.prediction,
                    count: cert.count,
                    p_lower: cert.p_lower,
                    preds: std::mem::take(&mut self.state.preds),
                });
            }
            self.records.push(record.clone());
            out.push(record);
            self.state = RunState::default();
            self.watch = Stopwatch::new();
            self.pos += 1;
        }
        out
    }

    /// All examples certified.
    pub fn is_done(&self) -> bool {
        self.pos >= self.examples.len()
    }

    /// Examples and forward samples done / total.
    pub fn progress(&self) -> Progress {
        Progress {
            examples_done: self.pos,
            examples_total: self.examples.len(),
            samples_done: self.samples_done,
            samples_total: self.examples.len() as u64 * self.plan.samples_per_example(),
        }
    }

    /// Every record finished so far, in example order.
    pub fn records(&self) -> &[CertRecord] {
        &self.records
    }

    /// The IRS cache (complete once the job is done), if requested.
    pub fn cache(&self) -> Option<&IrsCache> {
        self.cache.as_ref()
    }

    /// Move the IRS cache out (e.g. into an `Arc` for [`IrsJob`](super::IrsJob)).
    pub fn take_cache(&mut self) -> Option<IrsCache> {
        self.cache.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// f(x) = 1 if x[0] > t else 0, on inputs of length `len`; records the largest batch.
    struct Threshold {
        len: usize,
        t: f32,
        max_batch: usize,
        calls: u64,
    }

    impl Threshold {
        fn new(len: usize, t: f32) -> Self {
            Threshold {
                len,
                t,
                max_batch: 0,
                calls: 0,
            }
        }
    }

    impl BaseClassifier for Threshold {
        fn input_len(&self) -> usize {
            self.len
        }
        fn num_classes(&self) -> usize {
            2
        }
        fn classify(&mut self, x: &[f32], batch: usize, out: &mut [u8]) {
            assert_eq!(x.len(), batch * self.len);
            assert_eq!(out.len(), batch);
            self.max_batch = self.max_batch.max(batch);
            self.calls += 1;
            for (o, xi) in out.iter_mut().zip(x.chunks_exact(self.len)) {
                *o = u8::from(xi[0] > self.t);
            }
        }
    }

    /// Published values, docs/method.md section 10 (scipy/statsmodels): nA, n, pA_low, R/sigma.
    const KNOWN: [(u64, u64, f64, f64); 7] = [
        (100000, 100000, 0.999931, 3.8115),
        (99000, 100000, 0.988989, 2.2900),
        (9900, 10000, 0.986531, 2.2124),
        (9000, 10000, 0.890410, 1.2287),
        (5200, 10000, 0.504502, 0.0113),
        (1000, 1000, 0.993116, 2.4633),
        (980, 1000, 0.962301, 1.7780),
    ];
    /// The table is printed to 6 (p) and 4 (R/sigma) decimals.
    const P_TOL: f64 = 1e-6;
    const R_TOL: f64 = 1e-4;

    #[test]
    fn certificate_matches_known_values() {
        for (k, n, p, r) in KNOWN {
            let c = certificate(3, k, n, 0.001, 0.5);
            assert!((c.p_lower - p).abs() < P_TOL, "{k}/{n}: {}", c.p_lower);
            assert!((c.radius / 0.5 - r).abs() < R_TOL, "{k}/{n}: {}", c.radius);
            assert_eq!(c.prediction, Prediction::Class(3));
        }
        let c = certificate(3, 400, 1000, 0.001, 0.5);
        assert_eq!(c.prediction, Prediction::Abstain);
        assert!(c.radius.abs() < R_TOL);
    }

    #[test]
    fn prediction_serialises_as_class_or_null() {
        let s = serde_json::to_string(&[Prediction::Class(7), Prediction::Abstain]).unwrap();
        assert_eq!(s, "[7,null]");
        let back: Vec<Prediction> = serde_json::from_str(&s).unwrap();
        assert_eq!(back, vec![Prediction::Class(7), Prediction::Abstain]);
    }

    #[test]
    fn noisy_samples_are_regenerable() {
        let x = [0.5f32, -1.0, 2.0];
        let src = NoiseSource::new(9, PURPOSE_ESTIMATE);
        let mut z = [0f32; 3];
        src.fill(4, 17, &mut z);
        let mut a = [0f32; 3];
        noisy_input(&x, 0.25, &src, 4, 17, &mut a);
        for i in 0..3 {
            assert_eq!(a[i].to_bits(), (x[i] + 0.25 * z[i]).to_bits());
        }
    }

    #[test]
    fn predict_returns_clear_class_and_abstains_on_a_coin_flip() {
        let params = SmoothParams {
            sigma: 0.5,
            n: 1000,
            ..SmoothParams::default()
        };
        let mut f = Threshold::new(4, 0.0);
        // x[0] = 2 = 4 sigma above the threshold: P[class 1] = Phi(4)
        assert_eq!(
            predict(&mut f, &[2.0, 0.0, 0.0, 0.0], 0, &params),
            Prediction::Class(1)
        );
        assert_eq!(
            predict(&mut f, &[-2.0, 0.0, 0.0, 0.0], 0, &params),
            Prediction::Class(0)
        );
        // on the boundary the votes are a fair coin: p-value > 0.001 except with prob. 0.001
        assert_eq!(predict(&mut f, &[0.0; 4], 0, &params), Prediction::Abstain);
    }

    #[test]
    fn certify_matches_the_threshold_closed_form() {
        // P[f(x+e) = 1] = Phi(x0 / sigma): x0 = sigma gives 0.841; radius < x0 = 0.5.
        let params = SmoothParams {
            sigma: 0.5,
            n: 10_000,
            alpha: 0.001,
            ..SmoothParams::default()
        };
        let mut f = Threshold::new(3, 0.0);
        let c = certify(&mut f, &[0.5, 0.0, 0.0], 11, &params);
        assert_eq!(c.prediction, Prediction::Class(1));
        let p_hat = c.count as f64 / c.n as f64;
        // binomial sd at n = 10,000 is 0.0037; 5 sd
        assert!((p_hat - stats::phi(1.0)).abs() < 0.019, "p_hat {p_hat}");
        assert!(c.radius < 0.5 && c.radius > 0.3, "radius {}", c.radius);
    }

    #[test]
    fn million_samples_stay_batch_sized() {
        let params = SmoothParams {
            sigma: 0.5,
            n0: 100,
            n: 1_000_000,
            batch: 1000,
            ..SmoothParams::default()
        };
        let ex = Example {
            index: 0,
            input: vec![3.0, 0.0],
            label: 1,
        };
        let mut job = CertifyJob::new(params, vec![ex]);
        let mut f = Threshold::new(2, 0.0);
        let mut steps = 0;
        while !job.is_done() {
            job.step(&mut f, 300_000);
            steps += 1;
            // buffers are bounded by one batch at all times
            assert!(job.sampler.noisy.capacity() <= 1000 * 2);
            assert!(job.sampler.classes.capacity() <= 1000);
            assert!(job.state.preds.capacity() == 0);
        }
        assert_eq!(steps, 4);
        assert_eq!(f.max_batch, 1000);
        // 1 selection call + 1000 estimation calls, plus at most one split batch per step
        assert!(
            f.calls >= 1001 && f.calls <= 1001 + steps,
            "calls {}",
            f.calls
        );
        let r = &job.records()[0];
        assert_eq!(r.samples, 1_000_100);
        assert_eq!(job.progress().samples_done, 1_000_100);
        assert_eq!(r.prediction, Prediction::Class(1));
        // x0 / sigma = 6 sd: every sample agrees, so pA_low = alpha^(1/n) and R = R_max
        assert_eq!(r.count, 1_000_000);
        let r_max = 0.5 * stats::phi_inv(0.001f64.powf(1e-6));
        assert!((r.radius - r_max).abs() < 1e-9);
    }

    fn examples(k: u64) -> Vec<Example> {
        (0..k)
            .map(|i| Example {
                index: 100 + i,
                input: vec![0.1 * i as f32 - 0.3, 0.2],
                label: (i % 2) as u8,
            })
            .collect()
    }

    fn run(params: &SmoothParams, max: u64, keep: u64) -> (Vec<CertRecord>, Option<IrsCache>) {
        let mut job = CertifyJob::new(params.clone(), examples(6)).with_irs_cache(keep);
        let mut f = Threshold::new(2, 0.0);
        let mut streamed = Vec::new();
        while !job.is_done() {
            streamed.extend(job.step(&mut f, max));
        }
        assert_eq!(streamed, job.records());
        (streamed, job.take_cache())
    }

    #[test]
    fn records_do_not_depend_on_step_size() {
        let params = SmoothParams {
            sigma: 0.5,
            n0: 50,
            n: 700,
            batch: 64,
            seed: 5,
            ..SmoothParams::default()
        };
        let (big, cache_big) = run(&params, u64::MAX, 300);
        for max in [1, 37, 64, 751] {
            let (small, cache_small) = run(&params, max, 300);
            assert_eq!(small, big, "step budget {max}");
            assert_eq!(cache_small, cache_big);
        }
        let cache = cache_big.unwrap();
        assert_eq!(cache.entries.len(), 6);
        assert!(cache.entries.iter().all(|e| e.preds.len() == 300));
        // the kept predictions are the estimation samples' classes: recount for one example
        let e = &cache.entries[1];
        let mut f = Threshold::new(2, 0.0);
        let mut s = Sampler::new(300);
        let src = NoiseSource::new(5, PURPOSE_ESTIMATE);
        assert_eq!(
            s.classify_noisy(&mut f, &e.example.input, 0.5, &src, 101, 0, 300),
            &e.preds[..]
        );
    }

    #[test]
    fn seeds_change_records_and_timing_is_injected() {
        let params = SmoothParams {
            sigma: 0.5,
            n0: 50,
            n: 700,
            batch: 64,
            seed: 5,
            ..SmoothParams::default()
        };
        let (a, _) = run(&params, 1000, 0);
        let (b, _) = run(
            &SmoothParams {
                seed: 6,
                ..params.clone()
            },
            1000,
            0,
        );
        assert_ne!(a, b);
        assert!(a.iter().all(|r| r.micros.is_none()));
        let mut job = CertifyJob::new(params, examples(2));
        let mut f = Threshold::new(2, 0.0);
        let mut t = 0u64;
        let mut clock = || {
            t += 10;
            t
        };
        let mut recs = job.step_timed(&mut f, 400, &mut clock);
        recs.extend(job.step_timed(&mut f, u64::MAX, &mut clock));
        // one (t0, t1) pair per advance call: example 0 spans two steps, example 1 one
        assert_eq!(recs[0].micros, Some(20));
        assert_eq!(recs[1].micros, Some(10));
    }
}
