//! The session's side of a pool of workers splitting an IRS phase (a search episode's or the
//! quick read-out's; src/pipeline/irs_pool.rs): the worker that runs the evaluation splits
//! it ([`Session::split_irs`]) and later merges the other parts ([`Session::merge_irs`]); each
//! other worker runs its part as a job of kind [`JobKind::IrsPart`]
//! ([`Session::begin_irs_part`], then `step`) and exports it ([`Session::export_irs_part`]).

use super::{JobEvent, JobKind, JobStep, Session};
use crate::certify::Progress;
use crate::error::{Error, Result};
use crate::job::{Job, Work};
use crate::pipeline::eval::EvalJob;
use crate::pipeline::irs_pool::{pool_identity, IrsPartJob, IrsPartOut, IrsTask};
use crate::pipeline::Points;
use crate::quant::calib::Calibration;
use serde::Serialize;

/// The pool's state in one session.
#[derive(Default)]
pub(super) struct PoolState {
    /// The IRS part this worker is certifying for another one.
    part: Option<IrsPartJob>,
    /// The last finished part, until exported.
    done: Option<IrsPartOut>,
    /// The calibration of the pretrained weights under a [`pool_identity`] (the IRS parts'
    /// integer models are rebuilt with it).
    calib: Option<(String, Calibration)>,
    /// Splits made so far: each split's id, so that a part of an earlier one is refused.
    seq: u64,
}

impl PoolState {
    /// The weights changed: nothing held is valid any more (split ids keep counting).
    pub(super) fn reset(&mut self) {
        *self = PoolState {
            seq: self.seq,
            ..PoolState::default()
        };
    }
}

/// One increment of an IRS part ([`JobKind::IrsPart`]).
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct IrsPartStep {
    /// The part finished in this step (export it with `exportIrsPart`).
    pub done: bool,
    /// Points and samples done of the part.
    pub progress: Progress,
}

impl Session {
    /// The evaluation of `kind` (the quick read-out, or the search's current episode).
    fn irs_eval(&mut self, kind: JobKind) -> Result<Option<&mut EvalJob>> {
        match kind {
            JobKind::QuantEval | JobKind::Search => Ok(self.quant.irs_eval(kind)),
            _ => Err(Error::invalid(
                "kind",
                kind.name(),
                "only a read-out's or a search episode's IRS is split",
                "quantEval, search",
            )),
        }
    }

    /// Split the certification phase (IRS; a fresh read-out's CERTIFY) of the running read-out
    /// or search episode (`kind`) over `count` workers: this session goes on with part 0; the result is the tasks of parts
    /// 1..count, as bytes for [`Session::begin_irs_part`] in workers holding the same weights
    /// and config. With `count` 1 a split phase is made whole again (its IRS restarts; a
    /// paused search resumed by one worker) and nothing else happens. The results never
    /// depend on the split. Errors unless the job is at its IRS phase (for `count` > 1).
    pub fn split_irs(&mut self, kind: JobKind, count: u32) -> Result<Vec<Vec<u8>>> {
        let points = match kind {
            JobKind::Search => Points::Search,
            _ => Points::Report,
        };
        let identity = pool_identity(&self.cfg, &self.model, points);
        self.pool.seq += 1;
        let id = self.pool.seq;
        self.irs_eval(kind)?;
        let job = self.quant.irs_eval(kind);
        if count == 1 {
            if let Some(j) = job.filter(|j| j.is_split()) {
                j.split_irs(1, id, &identity, &self.data)?;
            }
            return Ok(vec![]);
        }
        let job = job.ok_or_else(|| kind.not_running())?;
        let tasks = job.split_irs(count, id, &identity, &self.data)?;
        Ok(tasks.iter().map(IrsTask::to_bytes).collect())
    }

    /// Hand the other parts' outputs ([`Session::export_irs_part`] bytes, any order) to the
    /// split IRS phase of `kind`; the job's next steps finish it as if it had run whole.
    pub fn merge_irs(&mut self, kind: JobKind, parts: &[Vec<u8>]) -> Result<()> {
        let outs = parts
            .iter()
            .enumerate()
            .map(|(k, b)| IrsPartOut::from_bytes(&format!("parts[{k}]"), b))
            .collect::<Result<Vec<_>>>()?;
        self.irs_eval(kind)?;
        let job = self
            .quant
            .irs_eval(kind)
            .ok_or_else(|| kind.not_running())?;
        job.merge_irs(outs, &self.data)
    }

    /// Start certifying one part of another worker's split IRS phase (`task`: a
    /// [`Session::split_irs`] task). The session must hold the splitting worker's weights and
    /// config; replaces any part in progress.
    pub fn begin_irs_part(&mut self, task: &[u8]) -> Result<JobStep> {
        let task = IrsTask::from_bytes(task)?;
        let job = IrsPartJob::new(
            task,
            &self.cfg,
            &self.model,
            &self.data,
            &mut self.pool.calib,
        )?;
        let step = (
            job.work(),
            IrsPartStep {
                done: false,
                progress: job.progress(),
            },
        );
        self.pool.part = Some(job);
        self.pool.done = None;
        Ok(JobStep::of(JobKind::IrsPart, step, JobEvent::IrsPart))
    }

    pub(super) fn irs_part_next(
        &mut self,
        budget: u64,
        clock: &mut dyn FnMut() -> u64,
    ) -> Result<(Work, IrsPartStep)> {
        let job = self
            .pool
            .part
            .as_mut()
            .ok_or_else(|| JobKind::IrsPart.not_running())?;
        job.step((), budget, clock)?;
        let w = job.work();
        let step = IrsPartStep {
            done: job.is_done(),
            progress: job.progress(),
        };
        if let Some(out) = job.output() {
            self.pool.done = Some(out);
            self.pool.part = None;
        }
        Ok((w, step))
    }

    /// Drop the IRS part in progress.
    pub(super) fn irs_part_cancel(&mut self) {
        self.pool.part = None;
    }

    /// The last finished IRS part, as bytes for [`Session::merge_irs`] in the splitting
    /// worker.
    pub fn export_irs_part(&self) -> Result<Vec<u8>> {
        self.pool
            .done
            .as_ref()
            .map(IrsPartOut::to_bytes)
            .ok_or_else(|| {
                Error::State(
                    "no finished IRS part to export: run an IRS part job first (the weights \
                     may have changed since)"
                        .into(),
                )
            })
    }

    /// Whether the session holds the FP32 reference of `points` for the current weights and
    /// config (a read-out or search then starts at once, without certifying FP32 first).
    pub fn has_reference(&self, points: Points) -> bool {
        self.fp32_ref(points).is_some()
    }
}
