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
pub mod job;
pub mod metrics;
pub mod sampler;
pub mod smooth;
pub mod stats;

pub use irs::{Branch, CacheEntry, IrsCache, IrsJob, IrsParams, IrsRecord};
pub use job::{CertRecord, CertifyJob, Progress};
pub use metrics::{IrsGuarantee, Outcome, Summary};
pub use sampler::Sampler;
pub use smooth::{
    certify, predict, Certificate, Example, Prediction, SmoothParams, PURPOSE_ESTIMATE,
    PURPOSE_PREDICT, PURPOSE_SELECT,
};

/// A base classifier f: maps a batch of flat inputs to class indices.
pub trait BaseClassifier {
    fn input_len(&self) -> usize;
    fn num_classes(&self) -> usize;
    /// x holds `batch` inputs of input_len() f32 each; write one class per input into out[..batch].
    fn classify(&mut self, x: &[f32], batch: usize, out: &mut [u8]);
}
