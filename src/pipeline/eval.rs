//! One policy's evaluation: calibrate -> noise-aware fine-tune -> certify the integer model.

use super::irs_pool::{check_parts, merge_parts, part_cache, IrsPartOut, IrsTask, PartRecords};
use super::{examples, held_out_accuracy, Fp32Job, Fp32Ref, Points, FT_BATCH_WORK};
use crate::certify::{
    metrics::GRID_SMALL, Branch, CertifyJob, IrsGuarantee, IrsJob, Outcome, Summary,
};
use crate::config::ExperimentConfig;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::job::{Job, Part, Work};
use crate::nn::Model;
use crate::quant::calib::{calibrate, Calibration};
use crate::quant::cost::Cost;
use crate::quant::{IntModel, Policy, QatTrainer, QuantizedModel};
use serde::Serialize;
use std::sync::Arc;

/// How the quantized model is certified.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub enum Mode {
    /// Incremental randomized smoothing against the FP32 cache (n_p replayed samples).
    Irs,
    /// Cohen's CERTIFY from scratch (n0 + n fresh samples): what gets reported.
    Fresh,
}

#[derive(Clone, Debug)]
pub(crate) struct EvalSpec {
    pub name: String,
    pub policy: Policy,
    /// Fine-tuning batches (0 = none).
    pub finetune: usize,
    pub mode: Mode,
    pub points: Points,
}

impl EvalSpec {
    /// A search episode's evaluation of `policy` (section 7 of docs/method.md): `sft`
    /// fine-tuning batches, IRS on the search split. The search, the uniform row's choice,
    /// the per-layer sensitivity and the reward's resolution all evaluate this way.
    pub(crate) fn episode(name: String, policy: Policy, cfg: &ExperimentConfig) -> EvalSpec {
        EvalSpec {
            name,
            policy,
            finetune: cfg.sft as usize,
            mode: Mode::Irs,
            points: Points::Search,
        }
    }

    /// The final table's evaluation of `policy`: `fft` fine-tuning batches, fresh CERTIFY on
    /// the reported points on the final comparison's noise streams.
    pub(crate) fn final_row(name: String, policy: Policy, cfg: &ExperimentConfig) -> EvalSpec {
        EvalSpec {
            name,
            policy,
            finetune: cfg.fft as usize,
            mode: Mode::Fresh,
            points: Points::Final,
        }
    }
}

/// Microseconds spent per stage.
#[derive(Clone, Debug, Default, Serialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct StageTimes {
    /// FP32 certification (when the evaluation had to build its reference).
    pub fp32: u64,
    /// Calibration of the activation ranges.
    pub calibrate: u64,
    /// Noise-aware fine-tuning.
    pub finetune: u64,
    /// Certification of the integer model (IRS or fresh).
    pub certify: u64,
}

/// How an IRS evaluation's points were certified, and what it saved.
#[derive(Clone, Debug, Default, Serialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct IrsStats {
    /// Forward samples IRS used.
    pub samples: u64,
    /// What certifying the same points from scratch would cost: n0 + n per point.
    pub scratch_samples: u64,
    /// Points certified by replaying cached samples.
    pub incremental: usize,
    /// Points re-certified from scratch (f's pA_low >= gamma).
    pub fallback: usize,
    /// Points skipped because f was wrong or abstained (radius 0, no samples).
    pub skipped: usize,
}

/// One policy's evaluation: cost, accuracy and certification of its integer model.
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct EvalResult {
    /// Row label (e.g. `episode 3`, a preset's label).
    pub name: String,
    /// How the integer model was certified.
    pub mode: Mode,
    /// `wb=..&ab=..` of the evaluated policy.
    pub fragment: String,
    /// BOPs and size of the policy.
    pub cost: Cost,
    /// The quantized base classifier's clean accuracy on the certified points and on the
    /// test digits outside the search split (the latter only for the reported points:
    /// search episodes skip its 2,000 forward passes, NaN there).
    pub points_accuracy: f64,
    /// See `points_accuracy`.
    pub test_accuracy: f64,
    /// The integer model's certification of the points.
    pub summary: Summary,
    /// The FP32 reference's summary on the same points, when the evaluation had one (every IRS
    /// evaluation does).
    pub fp32: Option<Summary>,
    /// The FP32 base classifier's clean accuracy on the same points, with `fp32`.
    pub fp32_points_accuracy: Option<f64>,
    /// IRS bookkeeping (IRS evaluations only).
    pub irs: Option<IrsStats>,
    /// Time per stage.
    pub micros: StageTimes,
    /// Certified radius per point (0 when wrong or abstained), in point order.
    pub radii: Vec<f64>,
}

/// What a finished evaluation hands out, in the report of its last step.
pub(crate) struct EvalOutput {
    pub result: EvalResult,
    /// The certified integer model.
    pub int: IntModel,
    /// Per point, in point order: the smoothed class is the label (not abstained).
    pub correct: Vec<bool>,
}

/// The stages, each holding the data it works on.
enum Stage {
    /// Certifying the FP32 model first (IRS without a reference at hand).
    Fp32(Box<Fp32Job>),
    Calibrate,
    Finetune(Box<QatTrainer>),
    /// Fine-tuned (or not) and quantized; the integer model is built by the next step.
    Quantized(Box<QuantizedModel>),
    Certify(Box<Certifying>),
    Done,
}

/// The integer model under certification.
struct Certifying {
    int: IntModel,
    cert: Cert,
    /// Set when the certification is split over a pool: this job certifies part 0 only.
    split: Option<Split>,
}

/// A certification phase split over a pool ([`EvalJob::split_irs`]).
struct Split {
    id: u64,
    count: u32,
    /// The other parts' outputs, once handed in ([`EvalJob::merge_irs`]).
    others: Option<Vec<IrsPartOut>>,
}

enum Cert {
    Irs(IrsJob),
    Fresh(CertifyJob),
}

impl Certifying {
    fn samples_done(&self) -> u64 {
        match &self.cert {
            Cert::Irs(j) => j.progress().samples_done,
            Cert::Fresh(j) => j.progress().samples_done,
        }
    }

    /// One certification step (untimed: the records' times are not reported); true when
    /// the last point is done (of a split phase: this part's, and the other parts are in).
    fn step(&mut self, max_work: u64) -> bool {
        let done = match &mut self.cert {
            Cert::Irs(j) => {
                j.step(&mut self.int, max_work);
                j.is_done()
            }
            Cert::Fresh(j) => {
                j.step(&mut self.int, max_work);
                j.is_done()
            }
        };
        done && self.split.as_ref().is_none_or(|s| s.others.is_some())
    }

    /// This part is certified and the other parts' records are not in yet.
    fn waiting(&self) -> bool {
        let own_done = match &self.cert {
            Cert::Irs(j) => j.is_done(),
            Cert::Fresh(j) => j.is_done(),
        };
        own_done && self.split.as_ref().is_some_and(|s| s.others.is_none())
    }
}

/// One policy's evaluation as a resumable job.
pub(crate) struct EvalJob {
    spec: EvalSpec,
    cfg: ExperimentConfig,
    /// Float master weights, reset to the pretrained model and updated by fine-tuning.
    float: Model,
    fp32: Option<Arc<Fp32Ref>>,
    /// Activation ranges of the pretrained weights: given, or computed by the calibrate stage.
    calib: Option<Calibration>,
    stage: Stage,
    times: StageTimes,
    work_done: u64,
    work_total: u64,
    ft_counted: u64,
    /// Work done before the certification stage (a split restarts the certification there).
    cert_base: u64,
}

impl EvalJob {
    /// `fp32`: the FP32 reference of the spec's point set, if one is at hand (an IRS job
    /// without it certifies the FP32 model first). `generation` identifies `pretrained`.
    pub(crate) fn new(
        spec: EvalSpec,
        cfg: &ExperimentConfig,
        pretrained: &Model,
        data: &Dataset,
        fp32: Option<Arc<Fp32Ref>>,
        generation: u64,
    ) -> Result<EvalJob> {
        let needs_fp32 = spec.mode == Mode::Irs && fp32.is_none();
        let stage = if needs_fp32 {
            Stage::Fp32(Box::new(Fp32Job::new(
                cfg,
                pretrained,
                data,
                spec.points,
                generation,
            )?))
        } else {
            Stage::Calibrate
        };
        let n_points = examples(cfg, data, pretrained.input_len(), spec.points)?.len() as u64;
        let fp32_work = if needs_fp32 {
            n_points * (cfg.n0 + cfg.n) as u64
        } else {
            0
        };
        let cert_work = n_points
            * if spec.mode == Mode::Irs {
                cfg.n_p as u64
            } else {
                (cfg.n0 + cfg.n) as u64
            };
        let ft_work = spec.finetune as u64 * FT_BATCH_WORK;
        Ok(EvalJob {
            work_total: fp32_work + 1 + ft_work + cert_work,
            spec,
            cfg: cfg.clone(),
            float: pretrained.clone(),
            fp32,
            calib: None,
            stage,
            times: StageTimes::default(),
            work_done: 0,
            ft_counted: 0,
            cert_base: 0,
        })
    }

    /// The FP32 reference this job used (certified by it if none was given).
    pub(crate) fn fp32(&self) -> Option<&Arc<Fp32Ref>> {
        self.fp32.as_ref()
    }

    /// Reuse `calib` (computed on the same pretrained weights and config) instead of
    /// calibrating again; search episodes share one calibration.
    pub(crate) fn with_calibration(mut self, calib: Option<Calibration>) -> Self {
        self.calib = calib;
        self
    }

    /// The calibration of the pretrained weights, once computed.
    pub(crate) fn calibration(&self) -> Option<&Calibration> {
        self.calib.as_ref()
    }

    /// The integer model of `q` and its certification job.
    fn start_certify(&self, q: &QuantizedModel, data: &Dataset) -> Result<Certifying> {
        let int = IntModel::new(q)?;
        let cert = match self.spec.mode {
            Mode::Irs => {
                let fp32 = self
                    .fp32
                    .as_ref()
                    .ok_or_else(|| Error::State("IRS needs the FP32 reference".into()))?;
                Cert::Irs(IrsJob::new(fp32.cache.clone(), self.cfg.irs_params()))
            }
            Mode::Fresh => {
                let ex = examples(&self.cfg, data, int_input_len(&int), self.spec.points)?;
                Cert::Fresh(
                    CertifyJob::new(self.cfg.smooth_params(), ex)
                        .with_purposes(self.spec.points.purposes()),
                )
            }
        };
        Ok(Certifying {
            int,
            cert,
            split: None,
        })
    }

    /// The records of every point, in point order: the job's own, or of a split phase the
    /// parts' merged.
    fn records(&self, c: &Certifying, data: &Dataset) -> Result<PartRecords> {
        let own = match &c.cert {
            Cert::Irs(job) => PartRecords::Irs(job.records().to_vec()),
            Cert::Fresh(job) => PartRecords::Fresh(job.records().to_vec()),
        };
        match &c.split {
            None => Ok(own),
            Some(s) => {
                let others = s.others.clone().unwrap_or_default();
                check_parts(
                    s.id,
                    s.count,
                    self.spec.mode == Mode::Fresh,
                    &self.indices(data)?,
                    &others,
                )?;
                merge_parts(own, others)
            }
        }
    }

    /// The record indices of the evaluation's points, in point order.
    fn indices(&self, data: &Dataset) -> Result<Vec<u64>> {
        let ex = examples(&self.cfg, data, self.float.input_len(), self.spec.points)?;
        Ok(ex.iter().map(|x| x.index).collect())
    }

    /// The evaluation is at its certification phase (fine-tuned and quantized; IRS or fresh).
    pub(crate) fn at_certify(&self) -> bool {
        matches!(self.stage, Stage::Quantized(_) | Stage::Certify(_))
    }

    /// Split the certification phase over `count` workers (point i in part i % count): this
    /// job restarts it on part 0 (what it certified of the phase so far is dropped; `count` 1
    /// makes it whole again) and returns the other parts' tasks, tagged `id` and `identity`.
    /// Errors unless the job is at its certification phase.
    pub(crate) fn split_irs(
        &mut self,
        count: u32,
        id: u64,
        identity: &str,
        data: &Dataset,
    ) -> Result<Vec<IrsTask>> {
        let part = Part { index: 0, count }.check()?;
        if !self.at_certify() {
            return Err(Error::State(format!(
                "no IRS phase to split: the evaluation is at its {} phase",
                self.work().phase
            )));
        }
        let fp32 = match self.spec.mode {
            Mode::Irs => Some(
                self.fp32
                    .clone()
                    .ok_or_else(|| Error::State("IRS needs the FP32 reference".into()))?,
            ),
            Mode::Fresh => None,
        };
        let ex = part.select(examples(
            &self.cfg,
            data,
            self.float.input_len(),
            self.spec.points,
        )?);
        let int = match std::mem::replace(&mut self.stage, Stage::Done) {
            Stage::Quantized(q) => {
                self.cert_base = self.work_done;
                IntModel::new(&q)
            }
            Stage::Certify(c) => Ok(c.int),
            _ => unreachable!("at_certify"),
        }?;
        let cert = match &fp32 {
            Some(fp32) if part.is_whole() => {
                Cert::Irs(IrsJob::new(fp32.cache.clone(), self.cfg.irs_params()))
            }
            Some(fp32) => Cert::Irs(IrsJob::new(
                Arc::new(part_cache(&fp32.cache, part)),
                self.cfg.irs_params(),
            )),
            None => Cert::Fresh(
                CertifyJob::new(self.cfg.smooth_params(), ex)
                    .with_purposes(self.spec.points.purposes()),
            ),
        };
        self.stage = Stage::Certify(Box::new(Certifying {
            int,
            cert,
            split: (!part.is_whole()).then_some(Split {
                id,
                count,
                others: None,
            }),
        }));
        self.work_done = self.cert_base;
        let points = self.spec.points;
        let cache = fp32.as_ref().map(|f| &*f.cache);
        Ok((1..count)
            .map(|index| {
                let p = Part { index, count };
                let (policy, float) = (&self.spec.policy, &self.float);
                IrsTask::new(identity.into(), id, points, p, policy, float, cache)
            })
            .collect())
    }

    /// The certification phase is split ([`EvalJob::split_irs`]).
    pub(crate) fn is_split(&self) -> bool {
        matches!(&self.stage, Stage::Certify(c) if c.split.is_some())
    }

    /// Hand in the other parts' outputs of the split phase (any order, before or after this
    /// job's own part is done); checked against the split and its points.
    pub(crate) fn merge_irs(&mut self, others: Vec<IrsPartOut>, data: &Dataset) -> Result<()> {
        let indices = self.indices(data)?;
        let fresh = self.spec.mode == Mode::Fresh;
        let Stage::Certify(c) = &mut self.stage else {
            return Err(Error::State("no split IRS phase to merge into".into()));
        };
        let Some(s) = c.split.as_mut() else {
            return Err(Error::State("no split IRS phase to merge into".into()));
        };
        check_parts(s.id, s.count, fresh, &indices, &others)?;
        let samples: u64 = others.iter().map(|o| o.records.samples()).sum();
        s.others = Some(others);
        self.work_done += samples;
        Ok(())
    }

    /// The result of a finished certification, and per point whether it is certified correct.
    fn result(&self, c: &mut Certifying, data: &Dataset) -> Result<(EvalResult, Vec<bool>)> {
        let (outcomes, irs): (Vec<Outcome>, Option<IrsStats>) = match self.records(c, data)? {
            PartRecords::Irs(recs) => {
                let count = |b: Branch| recs.iter().filter(|r| r.branch == b).count();
                let stats = IrsStats {
                    // what the job counted: each point's samples (the parts' when split)
                    samples: match (&c.cert, &c.split) {
                        (Cert::Irs(job), None) => job.progress().samples_done,
                        _ => recs.iter().map(|r| r.samples).sum(),
                    },
                    scratch_samples: recs.len() as u64 * (self.cfg.n0 + self.cfg.n) as u64,
                    incremental: count(Branch::Incremental),
                    fallback: count(Branch::Fallback),
                    skipped: count(Branch::Skipped),
                };
                (recs.iter().map(Outcome::from).collect(), Some(stats))
            }
            PartRecords::Fresh(recs) => (recs.iter().map(Outcome::from).collect(), None),
        };
        let int = &mut c.int;
        let ex = examples(&self.cfg, data, int_input_len(int), self.spec.points)?;
        let (name, cfg) = (self.spec.name.clone(), &self.cfg);
        let (sigma, n, alpha) = (cfg.sigma, cfg.n as u64, cfg.alpha);
        let summary = match self.spec.mode {
            Mode::Irs => {
                let g = IrsGuarantee::from(&cfg.irs_params());
                Summary::irs(name, sigma, n, alpha, g, &outcomes, &GRID_SMALL)
            }
            Mode::Fresh => Summary::new(name, sigma, n, alpha, &outcomes, &GRID_SMALL),
        };
        let correct = outcomes.iter().map(|o| o.correct && !o.abstain).collect();
        let result = EvalResult {
            name: self.spec.name.clone(),
            mode: self.spec.mode,
            fragment: self.spec.policy.to_fragment(),
            cost: self.cfg.policy_cost(&self.float, &self.spec.policy)?,
            points_accuracy: super::points_accuracy(int, &ex),
            test_accuracy: match self.spec.points {
                Points::Report | Points::Final => held_out_accuracy(int, &self.cfg, data)?,
                Points::Search => f64::NAN,
            },
            summary,
            fp32: self.fp32.as_ref().map(|f| f.summary.clone()),
            fp32_points_accuracy: self.fp32.as_ref().map(|f| f.base_accuracy),
            irs,
            micros: self.times.clone(),
            radii: outcomes
                .iter()
                .map(|o| if o.correct { o.radius } else { 0.0 })
                .collect(),
        };
        Ok((result, correct))
    }
}

/// An evaluation as a [`Job`]: the budget is noisy samples (a fine-tuning batch counts
/// [`FT_BATCH_WORK`]); the step that finishes hands out the result and the integer model.
impl Job for EvalJob {
    type Env<'a> = &'a Dataset;
    type Report = Option<EvalOutput>;

    fn step(
        &mut self,
        data: &Dataset,
        max_work: u64,
        clock: &mut dyn FnMut() -> u64,
    ) -> Result<Option<EvalOutput>> {
        let t0 = clock();
        let max_work = max_work.max(1);
        if let Stage::Quantized(q) = &self.stage {
            let c = self.start_certify(q, data)?;
            self.stage = Stage::Certify(Box::new(c));
            self.cert_base = self.work_done;
        }
        match &mut self.stage {
            Stage::Fp32(job) => {
                let before = job.progress().samples_done;
                let r = Job::step(&mut **job, (), max_work, clock)?.reference;
                self.work_done += job.progress().samples_done - before;
                self.times.fp32 += clock() - t0;
                if let Some(r) = r {
                    self.fp32 = Some(Arc::new(r));
                    self.stage = Stage::Calibrate;
                }
            }
            Stage::Calibrate => {
                // calibration depends only on the pretrained weights: reuse a given one
                let calib = match self.calib.take() {
                    Some(c) => c,
                    None => calibrate(&self.float, data, &self.cfg.calib_config()),
                };
                self.work_done += 1;
                self.stage = if self.spec.finetune > 0 {
                    let qc = self.cfg.qat_config(self.spec.finetune, data.train_count);
                    Stage::Finetune(Box::new(
                        QatTrainer::new(qc, &self.spec.policy, &calib, &mut self.float, data)?
                            .without_epoch_eval(),
                    ))
                } else {
                    Stage::Quantized(Box::new(QuantizedModel::new(
                        &self.float,
                        &self.spec.policy,
                        &calib,
                        &self.cfg.quant_config(),
                    )?))
                };
                self.calib = Some(calib);
                self.times.calibrate += clock() - t0;
            }
            Stage::Finetune(t) => {
                let batches = (max_work / FT_BATCH_WORK).max(1);
                let p = Job::step(&mut **t, (&mut self.float, data), batches, clock)?;
                let counted = p.batches_done as u64 * FT_BATCH_WORK;
                self.work_done += counted - self.ft_counted;
                self.ft_counted = counted;
                self.times.finetune += clock() - t0;
                if p.done {
                    self.stage = match std::mem::replace(&mut self.stage, Stage::Done) {
                        Stage::Finetune(t) => Stage::Quantized(Box::new(t.into_quantized())),
                        other => other,
                    };
                }
            }
            Stage::Certify(c) => {
                let before = c.samples_done();
                let finished = c.step(max_work);
                self.work_done += c.samples_done() - before;
                self.times.certify += clock() - t0;
                if finished {
                    // move the integer model out: the job is done once its result is built
                    let mut c = match std::mem::replace(&mut self.stage, Stage::Done) {
                        Stage::Certify(c) => c,
                        other => {
                            self.stage = other;
                            return Ok(None);
                        }
                    };
                    return match self.result(&mut c, data) {
                        Ok((result, correct)) => {
                            self.work_done = self.work_total;
                            Ok(Some(EvalOutput {
                                result,
                                int: c.int,
                                correct,
                            }))
                        }
                        Err(e) => {
                            self.stage = Stage::Certify(c);
                            Err(e)
                        }
                    };
                }
            }
            Stage::Quantized(_) | Stage::Done => {}
        }
        Ok(None)
    }

    /// The stage and the work done / total in noisy-sample units.
    fn work(&self) -> Work {
        let phase = match self.stage {
            Stage::Fp32(_) => "fp32-certify",
            Stage::Calibrate => "calibrate",
            Stage::Finetune(_) => "finetune",
            Stage::Certify(ref c) if c.waiting() => match self.spec.mode {
                Mode::Irs => "irs-pool",
                Mode::Fresh => "certify-pool",
            },
            Stage::Quantized(_) | Stage::Certify(_) => match self.spec.mode {
                Mode::Irs => "irs",
                Mode::Fresh => "certify",
            },
            Stage::Done => "done",
        };
        Work {
            phase,
            done: self.work_done.min(self.work_total),
            total: self.work_total,
        }
    }

    fn is_done(&self) -> bool {
        matches!(self.stage, Stage::Done)
    }
}

fn int_input_len(m: &IntModel) -> usize {
    crate::certify::BaseClassifier::input_len(m)
}
