//! The session's per-layer sensitivity job ([`JobSpec::Sensitivity`](super::JobSpec)): one
//! search-episode evaluation per quantizable layer, sharing the session's FP32 reference of
//! the search split with the search (either one certifies it, the other reuses it).

use super::{JobKind, Session};
use crate::error::Result;
use crate::job::{Job, Work};
use crate::pipeline::sensitivity::{
    ranks, sensitivity_bits, SensitivityJob, SensitivityReference, SensitivityRow, Side,
};
use crate::pipeline::Points;
use serde::Serialize;

/// One increment of a sensitivity run.
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct SensitivityStep {
    /// Whether the last row finished in this step.
    pub done: bool,
    /// The bit width of every row.
    pub bits: u32,
    /// Which side of each layer is quantized.
    pub side: Side,
    /// Rows finished.
    pub rows_done: usize,
    /// Rows the table will have (the quantizable layers).
    pub rows_total: usize,
    /// The layer being evaluated, if any.
    pub current: Option<String>,
    /// The row finished in this step, if any.
    pub row: Option<SensitivityRow>,
    /// Every row finished so far, in layer order.
    pub rows: Vec<SensitivityRow>,
    /// Rank of each of `rows` by ΔACR among the finished rows (1 = the largest drop; ties by
    /// Δ accuracy, then layer order).
    pub ranks: Vec<usize>,
    /// The FP32 numbers and the IRS floor, once certified.
    pub reference: Option<SensitivityReference>,
}

impl SensitivityStep {
    fn of(job: &SensitivityJob, row: Option<SensitivityRow>) -> (Work, SensitivityStep) {
        let (bits, side) = job.setting();
        let step = SensitivityStep {
            done: job.is_done(),
            bits,
            side,
            rows_done: job.rows().len(),
            rows_total: job.rows_total(),
            current: job.current().map(str::to_string),
            row,
            rows: job.rows().to_vec(),
            ranks: ranks(job.rows()),
            reference: job.reference().cloned(),
        };
        (job.work(), step)
    }
}

impl Session {
    /// Start the sensitivity table at `bits` (2..=8) on `side` of each layer, reusing the
    /// session's FP32 reference of the search split when it matches the weights and config.
    pub(super) fn sensitivity_start(
        &mut self,
        bits: u32,
        side: Side,
    ) -> Result<(Work, SensitivityStep)> {
        let bits = sensitivity_bits(bits)?;
        let job = SensitivityJob::new(
            &self.cfg,
            &self.model,
            &self.data,
            self.fp32_ref(Points::Search),
            self.generation,
            bits,
            side,
        )?;
        let step = SensitivityStep::of(&job, None);
        self.sensitivity = Some(job);
        Ok(step)
    }

    /// The FP32 reference is kept as soon as it is certified; a finished run leaves its slot.
    pub(super) fn sensitivity_next(
        &mut self,
        max_work: u64,
        clock: &mut dyn FnMut() -> u64,
    ) -> Result<(Work, SensitivityStep)> {
        let job = self
            .sensitivity
            .as_mut()
            .ok_or_else(|| JobKind::Sensitivity.not_running())?;
        let row = job.step(&self.data, max_work, clock)?;
        let step = SensitivityStep::of(job, row);
        let fp32 = job.fp32().cloned();
        self.keep_ref(Points::Search, fp32.as_ref());
        if step.1.done {
            self.sensitivity = None;
        }
        Ok(step)
    }
}
