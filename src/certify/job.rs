//! CERTIFY over a list of points as a resumable [`Job`]: records, progress and the per-point
//! stopwatch, optionally keeping f's predictions for IRS.

use serde::{Deserialize, Serialize};

use super::irs::{CacheEntry, IrsCache};
use super::sampler::Sampler;
use super::smooth::{
    Example, Plan, Prediction, RunState, SmoothParams, PURPOSE_ESTIMATE, PURPOSE_SELECT,
};
use super::BaseClassifier;
use crate::error::Result;
use crate::job::{Job, Work};

/// One certified test point, as [`CertifyJob`] reports it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct CertRecord {
    /// The example id.
    pub index: u64,
    /// The true class.
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
    /// Points certified so far.
    pub examples_done: usize,
    /// Points to certify.
    pub examples_total: usize,
    /// Forward samples (selection and estimation) spent so far.
    pub samples_done: u64,
    /// Forward samples of the whole job: points * (n0 + n).
    pub samples_total: u64,
}

/// Per-example wall time, from an injected clock (the core has no clock: `Instant` panics on
/// wasm32). `None` once any step ran without a clock.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stopwatch(Option<u64>);

impl Stopwatch {
    pub(crate) fn new() -> Self {
        Stopwatch(Some(0))
    }

    pub(crate) fn add(&mut self, t0: Option<u64>, clock: &mut Option<&mut dyn FnMut() -> u64>) {
        match (t0, clock) {
            (Some(t0), Some(c)) => {
                if let Some(e) = &mut self.0 {
                    *e += c().saturating_sub(t0);
                }
            }
            _ => self.0 = None,
        }
    }

    pub(crate) fn micros(self) -> Option<u64> {
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
        let plan = Plan::of(&params, [PURPOSE_SELECT, PURPOSE_ESTIMATE]);
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
    pub(crate) fn with_purposes(mut self, purposes: [&'static str; 2]) -> Self {
        let p = &self.params;
        self.plan = Plan::of(p, purposes);
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

    /// Run at most `max_samples` forward samples; returns the records finished meanwhile.
    pub fn step<F: BaseClassifier + ?Sized>(
        &mut self,
        f: &mut F,
        max_samples: u64,
    ) -> Vec<CertRecord> {
        self.step_inner(f, max_samples, None)
    }

    /// Like [`CertifyJob::step`], timing each example with `now_micros` (any monotonic clock).
    pub(crate) fn step_timed<F: BaseClassifier + ?Sized>(
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

    /// Move the IRS cache out (e.g. into an `Arc` for [`IrsJob`](super::IrsJob)).
    pub fn take_cache(&mut self) -> Option<IrsCache> {
        self.cache.take()
    }
}

/// CERTIFY as a [`Job`]: the budget is forward samples, each point timed with the clock.
impl Job for CertifyJob {
    type Env<'a> = &'a mut dyn BaseClassifier;
    type Report = Vec<CertRecord>;

    fn step(
        &mut self,
        f: Self::Env<'_>,
        budget: u64,
        clock: &mut dyn FnMut() -> u64,
    ) -> Result<Vec<CertRecord>> {
        Ok(self.step_timed(f, budget, clock))
    }

    fn work(&self) -> Work {
        let p = self.progress();
        Work {
            phase: "certify",
            done: p.samples_done,
            total: p.samples_total,
        }
    }

    fn is_done(&self) -> bool {
        CertifyJob::is_done(self)
    }
}

#[cfg(test)]
mod tests;
