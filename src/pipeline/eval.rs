//! One policy's evaluation: calibrate -> noise-aware fine-tune -> certify the integer model.

use super::{
    examples, held_out_accuracy, quant_config, smooth_params, Fp32Job, Fp32Ref, Points,
    FT_BATCH_WORK,
};
use crate::certify::{
    metrics::GRID_SMALL, Branch, CertifyJob, IrsGuarantee, IrsJob, IrsParams, Outcome, Summary,
};
use crate::config::ExperimentConfig;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::nn::optim::OptKind;
use crate::nn::Model;
use crate::quant::calib::{calibrate, CalibConfig, Calibration};
use crate::quant::cost::Cost;
use crate::quant::{IntModel, Policy, QatConfig, QatTrainer};
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
pub struct EvalSpec {
    pub name: String,
    pub policy: Policy,
    /// Fine-tuning batches (0 = none).
    pub finetune: usize,
    pub mode: Mode,
    pub points: Points,
}

/// Microseconds spent per stage.
#[derive(Clone, Debug, Default, Serialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct StageTimes {
    pub fp32: u64,
    pub calibrate: u64,
    pub finetune: u64,
    pub certify: u64,
}

#[derive(Clone, Debug, Default, Serialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct IrsStats {
    /// Forward samples IRS used, and what certifying from scratch (n0 + n per point) costs.
    pub samples: u64,
    pub scratch_samples: u64,
    pub incremental: usize,
    pub fallback: usize,
    pub skipped: usize,
}

#[derive(Clone, Debug, Serialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct EvalResult {
    pub name: String,
    pub mode: Mode,
    /// `wb=..&ab=..` of the evaluated policy.
    pub fragment: String,
    pub cost: Cost,
    /// The quantized base classifier's clean accuracy on the certified points and on the
    /// test digits outside the search split (the latter only for the reported points:
    /// search episodes skip its 2,000 forward passes, NaN there).
    pub points_accuracy: f64,
    pub test_accuracy: f64,
    pub summary: Summary,
    pub fp32: Option<Summary>,
    pub fp32_points_accuracy: Option<f64>,
    pub irs: Option<IrsStats>,
    pub micros: StageTimes,
    /// Certified radius per point (0 when wrong or abstained), in point order.
    pub radii: Vec<f64>,
}

enum Stage {
    Fp32(Box<Fp32Job>),
    Calibrate,
    Finetune(Box<QatTrainer>),
    Certify,
    Done,
}

pub struct EvalJob {
    spec: EvalSpec,
    cfg: ExperimentConfig,
    /// Float master weights, reset to the pretrained model and updated by fine-tuning.
    float: Model,
    fp32: Option<Arc<Fp32Ref>>,
    calib: Option<Calibration>,
    quantized: Option<crate::quant::QuantizedModel>,
    int: Option<IntModel>,
    irs: Option<IrsJob>,
    fresh: Option<CertifyJob>,
    stage: Stage,
    times: StageTimes,
    result: Option<EvalResult>,
    work_done: u64,
    work_total: u64,
    ft_counted: u64,
}

/// The IRS settings of the config.
fn irs_params(cfg: &ExperimentConfig) -> IrsParams {
    IrsParams {
        n_p: cfg.n_p as u64,
        alpha_zeta: cfg.alpha_zeta,
        gamma: cfg.gamma,
        batch: cfg.cert_batch as usize,
    }
}

/// Fine-tuning as a QAT run of about `batches` mini-batches of 64 (ARQ choice, ours: Adam at
/// `qlr` with cosine decay, Gaussian noise at sigma, the seed's `qat-*` streams).
fn qat_config(cfg: &ExperimentConfig, batches: usize, data_len: usize) -> QatConfig {
    let batch = 64;
    let wanted = batches * batch;
    let train_size = wanted.min(data_len).max(1);
    QatConfig {
        epochs: wanted.div_ceil(train_size).max(1),
        batch,
        lr: cfg.qlr as f32,
        opt: OptKind::Adam { weight_decay: 0.0 },
        sigma: cfg.sigma as f32,
        train_size,
        seed: cfg.seed,
        quant: quant_config(cfg),
    }
}

impl EvalJob {
    /// `fp32`: the FP32 reference of the spec's point set, if one is at hand (an IRS job
    /// without it certifies the FP32 model first). `generation` identifies `pretrained`.
    pub fn new(
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
            quantized: None,
            int: None,
            irs: None,
            fresh: None,
            stage,
            times: StageTimes::default(),
            result: None,
            work_done: 0,
            ft_counted: 0,
        })
    }

    pub fn stage_name(&self) -> &'static str {
        match self.stage {
            Stage::Fp32(_) => "fp32-certify",
            Stage::Calibrate => "calibrate",
            Stage::Finetune(_) => "finetune",
            Stage::Certify => {
                if self.spec.mode == Mode::Irs {
                    "irs"
                } else {
                    "certify"
                }
            }
            Stage::Done => "done",
        }
    }

    pub fn is_done(&self) -> bool {
        matches!(self.stage, Stage::Done)
    }

    /// (work done, work total) in noisy-sample units.
    pub fn work(&self) -> (u64, u64) {
        (self.work_done.min(self.work_total), self.work_total)
    }

    /// The FP32 reference this job used (certified by it if none was given).
    pub fn fp32(&self) -> Option<&Arc<Fp32Ref>> {
        self.fp32.as_ref()
    }

    pub fn result(&self) -> Option<&EvalResult> {
        self.result.as_ref()
    }

    /// Reuse `calib` (computed on the same pretrained weights and config) instead of
    /// calibrating again; search episodes share one calibration.
    pub fn with_calibration(mut self, calib: Option<Calibration>) -> Self {
        self.calib = calib;
        self
    }

    /// The calibration of the pretrained weights, once computed.
    pub fn calibration(&self) -> Option<&Calibration> {
        self.calib.as_ref()
    }

    /// The integer model, once built (after fine-tuning).
    pub fn int_model(&self) -> Option<&IntModel> {
        self.int.as_ref()
    }

    pub fn into_int_model(self) -> Option<IntModel> {
        self.int
    }

    pub fn spec(&self) -> &EvalSpec {
        &self.spec
    }

    /// Advance by about `max_work` units (at least one unit of progress).
    pub fn step(
        &mut self,
        data: &Dataset,
        max_work: u64,
        clock: &mut dyn FnMut() -> u64,
    ) -> Result<()> {
        let t0 = clock();
        let max_work = max_work.max(1);
        match &mut self.stage {
            Stage::Fp32(job) => {
                let before = job.progress().samples_done;
                let r = job.step(max_work, clock).reference;
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
                    None => {
                        let cc = CalibConfig::new(
                            self.cfg.calib as usize,
                            self.cfg.sigma as f32,
                            self.cfg.seed,
                        );
                        calibrate(&self.float, data, &cc)
                    }
                };
                self.work_done += 1;
                self.stage = if self.spec.finetune > 0 {
                    let qc = qat_config(&self.cfg, self.spec.finetune, data.train_count);
                    Stage::Finetune(Box::new(
                        QatTrainer::new(qc, &self.spec.policy, &calib, &mut self.float, data)?
                            .without_epoch_eval(),
                    ))
                } else {
                    self.quantized = Some(crate::quant::QuantizedModel::new(
                        &self.float,
                        &self.spec.policy,
                        &calib,
                        &quant_config(&self.cfg),
                    )?);
                    Stage::Certify
                };
                self.calib = Some(calib);
                self.times.calibrate += clock() - t0;
            }
            Stage::Finetune(t) => {
                let batches = (max_work / FT_BATCH_WORK).max(1) as usize;
                let p = t.step(&mut self.float, data, batches);
                let counted = p.batches_done as u64 * FT_BATCH_WORK;
                self.work_done += counted - self.ft_counted;
                self.ft_counted = counted;
                self.times.finetune += clock() - t0;
                if p.done {
                    let Stage::Finetune(t) = std::mem::replace(&mut self.stage, Stage::Certify)
                    else {
                        unreachable!()
                    };
                    self.quantized = Some(t.into_quantized());
                }
            }
            Stage::Certify => {
                let finished = self.certify_step(data, max_work)?;
                self.times.certify += clock() - t0;
                if finished {
                    self.finish(data)?;
                }
            }
            Stage::Done => {}
        }
        Ok(())
    }

    /// One certification step; true when the last point is done.
    fn certify_step(&mut self, data: &Dataset, max_work: u64) -> Result<bool> {
        let q = self
            .quantized
            .as_ref()
            .ok_or_else(|| Error::State("no quantized model".into()))?;
        if self.int.is_none() {
            self.int = Some(IntModel::new(q)?);
        }
        let int = self.int.as_mut().expect("built above");
        let before;
        let finished = match self.spec.mode {
            Mode::Irs => {
                let fp32 = self
                    .fp32
                    .as_ref()
                    .ok_or_else(|| Error::State("IRS needs the FP32 reference".into()))?;
                let job = self
                    .irs
                    .get_or_insert_with(|| IrsJob::new(fp32.cache.clone(), irs_params(&self.cfg)));
                before = job.progress().samples_done;
                job.step(int, max_work);
                self.work_done += job.progress().samples_done - before;
                job.is_done()
            }
            Mode::Fresh => {
                if self.fresh.is_none() {
                    let ex = examples(&self.cfg, data, int_input_len(int), self.spec.points)?;
                    self.fresh = Some(
                        CertifyJob::new(smooth_params(&self.cfg), ex)
                            .with_purposes(self.spec.points.purposes()),
                    );
                }
                let job = self.fresh.as_mut().expect("set above");
                before = job.progress().samples_done;
                job.step(int, max_work);
                self.work_done += job.progress().samples_done - before;
                job.is_done()
            }
        };
        Ok(finished)
    }

    fn finish(&mut self, data: &Dataset) -> Result<()> {
        let int = self.int.as_mut().expect("certified");
        let (outcomes, irs): (Vec<Outcome>, Option<IrsStats>) = match self.spec.mode {
            Mode::Irs => {
                let job = self.irs.as_ref().expect("irs ran");
                let recs = job.records();
                let count = |b: Branch| recs.iter().filter(|r| r.branch == b).count();
                let stats = IrsStats {
                    samples: job.progress().samples_done,
                    scratch_samples: recs.len() as u64 * (self.cfg.n0 + self.cfg.n) as u64,
                    incremental: count(Branch::Incremental),
                    fallback: count(Branch::Fallback),
                    skipped: count(Branch::Skipped),
                };
                (recs.iter().map(Outcome::from).collect(), Some(stats))
            }
            Mode::Fresh => (
                self.fresh
                    .as_ref()
                    .expect("fresh ran")
                    .records()
                    .iter()
                    .map(Outcome::from)
                    .collect(),
                None,
            ),
        };
        let ex = examples(&self.cfg, data, int_input_len(int), self.spec.points)?;
        let (name, c) = (self.spec.name.clone(), &self.cfg);
        let summary = match self.spec.mode {
            Mode::Irs => {
                let g = IrsGuarantee::from(&irs_params(c));
                Summary::irs(
                    name,
                    c.sigma,
                    c.n as u64,
                    c.alpha,
                    g,
                    &outcomes,
                    &GRID_SMALL,
                )
            }
            Mode::Fresh => Summary::new(name, c.sigma, c.n as u64, c.alpha, &outcomes, &GRID_SMALL),
        };
        self.result = Some(EvalResult {
            name: self.spec.name.clone(),
            mode: self.spec.mode,
            fragment: self.spec.policy.to_fragment(),
            cost: super::policy_cost(&self.cfg, &self.float, &self.spec.policy)?,
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
        });
        self.work_done = self.work_total;
        self.stage = Stage::Done;
        Ok(())
    }
}

fn int_input_len(m: &IntModel) -> usize {
    crate::certify::BaseClassifier::input_len(m)
}
