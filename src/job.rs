//! One shape for every long task: a [`Job`] advances by a bounded amount of work per
//! [`Job::step`], so the CLI and the page's worker can show progress between steps and cancel
//! by dropping the job. Results never depend on how the work is split into steps.
//!
//! A job whose run ends in a final value hands it out in the report of the step that
//! finishes it (e.g. [`crate::pipeline::Fp32Step::reference`]), so it cannot be read early.

use crate::error::Result;
use serde::Serialize;

/// Where a long task stands: its phase and the work units done of the total (the units are
/// the job's own: mini-batches for training, noisy forward samples for certification).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct Work {
    /// The stage of the task now running, a stable lowercase word (e.g. `fp32-certify`, `compare`,
    /// `done`).
    pub phase: &'static str,
    /// Work units done so far, at most `total`.
    pub done: u64,
    /// Work units of the whole phase.
    pub total: u64,
}

/// A long task driven in bounded steps.
pub trait Job {
    /// What a step reads or changes besides the job itself (the data, the model, the
    /// classifier being certified ...).
    type Env<'a>;
    /// What one step hands out: finished records, an episode, a table row, progress.
    type Report;

    /// Advance by about `budget` work units (at least one unit of progress while not done).
    /// `clock` returns microseconds from any monotonic origin; the core never reads a clock.
    fn step(
        &mut self,
        env: Self::Env<'_>,
        budget: u64,
        clock: &mut dyn FnMut() -> u64,
    ) -> Result<Self::Report>;

    /// The current phase and its work done / total.
    fn work(&self) -> Work;

    /// Nothing is left to do.
    fn is_done(&self) -> bool;
}

/// [`Job`] for a mini-batch loop over `(model, data)` (training, fine-tuning): the budget is
/// mini-batches and the clock is not used. The type provides inherent `step(model, data,
/// max_batches) -> $report`, `batches_done`, `total_batches` and `is_done`.
macro_rules! batch_job {
    ($t:ty, $report:ty, $phase:literal) => {
        impl $crate::job::Job for $t {
            type Env<'a> = (&'a mut $crate::nn::Model, &'a $crate::data::Dataset);
            type Report = $report;

            fn step(
                &mut self,
                (model, data): Self::Env<'_>,
                budget: u64,
                _clock: &mut dyn FnMut() -> u64,
            ) -> $crate::error::Result<$report> {
                let max_batches = usize::try_from(budget).unwrap_or(usize::MAX);
                Ok(<$t>::step(self, model, data, max_batches))
            }

            fn work(&self) -> $crate::job::Work {
                $crate::job::Work {
                    phase: $phase,
                    done: self.batches_done() as u64,
                    total: self.total_batches() as u64,
                }
            }

            fn is_done(&self) -> bool {
                <$t>::is_done(self)
            }
        }
    };
}
pub(crate) use batch_job;
