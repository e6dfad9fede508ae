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

/// A fixed share of a job's items, for splitting one job over several workers: item `i` (in
/// the job's own order) belongs to part `i % count` (interleaved, so every part gets a mix of
/// cheap and costly items). `{index: 0, count: 1}` (the default) is the whole job. The parts'
/// results, merged back in item order, are the whole job's bit for bit: no item's result
/// depends on which other items a part holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
pub struct Part {
    /// Which part: 0..count.
    pub index: u32,
    /// How many parts the job is split into: 1..=64.
    pub count: u32,
}

impl Default for Part {
    fn default() -> Self {
        Part::WHOLE
    }
}

impl Part {
    /// The whole job.
    pub const WHOLE: Part = Part { index: 0, count: 1 };
    /// The most parts a job can be split into.
    pub const MAX_COUNT: u32 = 64;

    /// `count` in 1..=[`Part::MAX_COUNT`] and `index` < `count`; errors name the field.
    pub fn check(self) -> Result<Part> {
        if self.count == 0 || self.count > Part::MAX_COUNT {
            return Err(crate::Error::invalid(
                "part.count",
                self.count,
                "parts out of range",
                format!("1..={}", Part::MAX_COUNT),
            ));
        }
        if self.index >= self.count {
            return Err(crate::Error::invalid(
                "part.index",
                self.index,
                &format!("no such part of {}", self.count),
                format!("0..{}", self.count),
            ));
        }
        Ok(self)
    }

    /// The whole job (a single part).
    pub fn is_whole(self) -> bool {
        self.count == 1
    }

    /// Item `i` belongs to this part.
    pub fn holds(self, i: usize) -> bool {
        i % self.count as usize == self.index as usize
    }

    /// The items of `items` that belong to this part, in order.
    pub fn select<T>(self, items: impl IntoIterator<Item = T>) -> Vec<T> {
        items
            .into_iter()
            .enumerate()
            .filter(|(i, _)| self.holds(*i))
            .map(|(_, t)| t)
            .collect()
    }

    /// Merge the parts' items (`parts[k]` = part k of `parts.len()`, each in its own order)
    /// back into the whole job's order; None if the lengths do not fit an interleaved split.
    pub fn merge<T>(parts: Vec<Vec<T>>) -> Option<Vec<T>> {
        let count = parts.len();
        let total: usize = parts.iter().map(Vec::len).sum();
        let fits = parts
            .iter()
            .enumerate()
            .all(|(k, p)| p.len() == (total + count - 1 - k) / count.max(1));
        if count == 0 || !fits {
            return None;
        }
        let mut iters: Vec<_> = parts.into_iter().map(Vec::into_iter).collect();
        Some((0..total).filter_map(|i| iters[i % count].next()).collect())
    }
}
