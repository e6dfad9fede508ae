//! Certification of smoothed classifiers.
//!
//! - [`smooth`]: randomized smoothing, PREDICT and CERTIFY (Cohen, Rosenfeld, Kolter,
//!   "Certified Adversarial Robustness via Randomized Smoothing", ICML 2019);
//!   [`sampler`]: the noisy inputs and their batch buffers; [`job`]: CERTIFY over many points
//!   as a resumable job.
//! - [`irs`]: incremental randomized smoothing (Ugare, Tiwari, Misailovic, Singh,
//!   "Incremental Randomized Smoothing Certification", ICLR 2024): certify a modified
//!   (quantized) classifier by replaying the cached noise samples of the original one.
//! - [`metrics`]: certified accuracy, average certified radius (ACR), abstain rate, the
//!   sample-count cap R_max, and Cohen's certified-accuracy table.
//! - [`stats`]: Clopper-Pearson bounds, the binomial test, Phi and its inverse.
//!
//! All noise comes from [`crate::rng::NoiseSource`], keyed by (seed, example id, sample index),
//! so every noisy sample can be regenerated bit for bit.

pub mod irs;
pub(crate) mod job;
pub mod metrics;
pub(crate) mod sampler;
pub(crate) mod smooth;
pub mod stats;

pub(crate) use irs::{Branch, IrsCache, IrsJob, IrsParams};
pub use job::{CertRecord, CertifyJob, Progress};
pub use metrics::{IrsGuarantee, Outcome, Summary};
pub use smooth::{Example, Prediction, SmoothParams};
pub(crate) use smooth::{PURPOSE_ESTIMATE, PURPOSE_SELECT};

/// A base classifier f: maps a batch of flat inputs to class indices.
pub trait BaseClassifier {
    /// Values per input (784 for a 28 x 28 image).
    fn input_len(&self) -> usize;
    /// Number of classes; every class written by `classify` is below it.
    fn num_classes(&self) -> usize;
    /// x holds `batch` inputs of input_len() f32 each; write one class per input into out[..batch].
    fn classify(&mut self, x: &[f32], batch: usize, out: &mut [u8]);
}

/// Classify `n` inputs of `input_len` values in batches of `batch`: `fill(i, x)` writes input
/// i into `x`, `classify(x, m, out)` classifies a batch of m, and `seen(i, class)` receives
/// input i's class. The one loop behind the clean-accuracy figures ([`count_correct`],
/// `nn::train::evaluate`'s confusion matrix).
pub(crate) fn classify_each(
    input_len: usize,
    n: usize,
    batch: usize,
    mut fill: impl FnMut(usize, &mut [f32]),
    mut classify: impl FnMut(&[f32], usize, &mut [u8]),
    mut seen: impl FnMut(usize, u8),
) {
    let mut x = vec![0.0; batch.min(n) * input_len];
    let mut pred = vec![0u8; batch.min(n)];
    for lo in (0..n).step_by(batch) {
        let m = batch.min(n - lo);
        for (j, xj) in x[..m * input_len].chunks_exact_mut(input_len).enumerate() {
            fill(lo + j, xj);
        }
        classify(&x[..m * input_len], m, &mut pred[..m]);
        for (j, &p) in pred[..m].iter().enumerate() {
            seen(lo + j, p);
        }
    }
}

/// How many of `n` inputs (`fill(i, x)` writes input i) `f` classifies as `label(i)`, in
/// batches of 250.
pub(crate) fn count_correct<F: BaseClassifier + ?Sized>(
    f: &mut F,
    n: usize,
    fill: impl FnMut(usize, &mut [f32]),
    label: impl Fn(usize) -> u8,
) -> usize {
    let mut correct = 0;
    let input_len = f.input_len();
    classify_each(
        input_len,
        n,
        250,
        fill,
        |x, m, out| f.classify(x, m, out),
        |i, p| correct += usize::from(p == label(i)),
    );
    correct
}
