//! Randomized smoothing: PREDICT and CERTIFY of Cohen, Rosenfeld and Kolter, "Certified
//! Adversarial Robustness via Randomized Smoothing", ICML 2019 (arXiv 1902.02918).
//!
//! The smoothed classifier is g(x) = argmax_c P[f(x + e) = c], e ~ N(0, sigma^2 I). Noise is
//! added to raw inputs without clamping (as Cohen et al.): x_noisy = x + sigma * z, computed in
//! f32 as `x[i] + sigma * z[i]` (no fused multiply-add), with z from
//! [`NoiseSource::fill`]`(example, sample)`. Selection, estimation and prediction samples come
//! from independent streams ([`PURPOSE_SELECT`], [`PURPOSE_ESTIMATE`], [`PURPOSE_PREDICT`]).
//! Samples are drawn in batches ([`super::sampler`]), so memory is O(batch * input_len)
//! whatever the sample count; [`super::job::CertifyJob`] runs CERTIFY over many points in
//! bounded steps.

use serde::{Deserialize, Serialize};

use super::sampler::Sampler;
use super::{stats, BaseClassifier};
use crate::rng::NoiseSource;

/// Noise stream of CERTIFY's n0 selection samples.
pub(crate) const PURPOSE_SELECT: &str = "noise-select";
/// Noise stream of CERTIFY's n estimation samples (replayed by IRS).
pub(crate) const PURPOSE_ESTIMATE: &str = "noise-estimate";
#[cfg(test)]
/// Noise stream of PREDICT's samples.
pub(crate) const PURPOSE_PREDICT: &str = "noise-predict";

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
    /// The example id: keys the noise streams, typically the test-split index.
    pub index: u64,
    /// The clean input, pixel values in [0, 1].
    pub input: Vec<f32>,
    /// The true class.
    pub label: u8,
}

/// The outcome of CERTIFY on one input.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Certificate {
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
pub(crate) fn noise_sigma(sigma: f64) -> f64 {
    sigma as f32 as f64
}

/// CERTIFY's final step: pA_low = BetaInv(alpha; nA, n - nA + 1); ABSTAIN if pA_low < 1/2,
/// else (cA, R = sigma * PhiInv(pA_low)) (Cohen et al. 2019, Algorithm "CERTIFY"), with sigma
/// as the noise used it ([`noise_sigma`]).
pub(crate) fn certificate(class_a: u8, count: u64, n: u64, alpha: f64, sigma: f64) -> Certificate {
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

/// Index of the largest count (the first one on ties, like numpy's argmax).
pub(crate) fn argmax(counts: &[u64]) -> u8 {
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
    /// The plan of `params` on the noise streams `purposes` (selection, estimation).
    pub(crate) fn of(params: &SmoothParams, purposes: [&str; 2]) -> Self {
        let p = params;
        Plan::new(p.sigma, p.n0, p.n, p.alpha, p.seed, purposes)
    }

    pub(crate) fn new(
        sigma: f64,
        n0: u64,
        n: u64,
        alpha: f64,
        seed: u64,
        purposes: [&str; 2],
    ) -> Self {
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

    pub(crate) fn samples_per_example(&self) -> u64 {
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
    pub(crate) fn advance<F: BaseClassifier + ?Sized>(
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

#[cfg(test)]
/// PREDICT (Cohen et al. 2019): count f's classes over `params.n` noisy samples (stream
/// [`PURPOSE_PREDICT`]); with cA, cB the top two counts nA >= nB, return cA if the two-sided
/// binomial test of nA successes in nA + nB trials at p = 1/2 has p-value <= alpha, else
/// ABSTAIN. Returns a wrong class with probability at most alpha.
pub(crate) fn predict<F: BaseClassifier + ?Sized>(
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

#[cfg(test)]
/// CERTIFY (Cohen et al. 2019) of one input, run to completion: cA = argmax of the counts of
/// n0 selection samples; nA = count of cA among n fresh estimation samples;
/// pA_low = BetaInv(alpha; nA, n - nA + 1); ABSTAIN if pA_low < 1/2, else
/// (cA, R = sigma * PhiInv(pA_low)). The radius is wrong with probability at most alpha.
pub(crate) fn certify<F: BaseClassifier + ?Sized>(
    f: &mut F,
    x: &[f32],
    example: u64,
    params: &SmoothParams,
) -> Certificate {
    let p = params;
    let plan = Plan::of(p, [PURPOSE_SELECT, PURPOSE_ESTIMATE]);
    let mut sampler = Sampler::new(p.batch);
    let mut state = RunState::default();
    let (_, cert) = state.advance(&plan, f, &mut sampler, x, example, u64::MAX, 0);
    debug_assert!(cert.is_some());
    cert.unwrap_or(certificate(0, 0, p.n, p.alpha, p.sigma))
}
