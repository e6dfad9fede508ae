//! The pipeline as one long-lived session with step-driven work, shared by the CLI and the
//! wasm worker: the same calls in the same order give the same numbers in both.

mod digit;
mod pool;
mod quant;
mod sensitivity;
pub use pool::IrsPartStep;
pub use quant::{
    CompareRowSpec, CompareStep, LayerHistogram, PolicyInfo, QuantEvalStep, SearchState, SearchStep,
};
pub use sensitivity::SensitivityStep;

use crate::certify::{CertRecord, Progress, Summary};
use crate::config::{BitsList, DatasetName, ExperimentConfig, Flags};
use crate::data::{Dataset, Split};
use crate::error::{Error, Result};
use crate::job::{Job, Part, Work};
use crate::nn::checkpoint::{self, CheckpointMeta, LoadedCheckpoint};
use crate::nn::{evaluate, Evaluation, Model, TrainProgress, Trainer};
use crate::pipeline::search::Method;
use crate::pipeline::{assemble_fp32, fp32_identity, Fp32Job, Fp32Part, Fp32Ref, Points};
use crate::rng::NoiseSource;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Size and seed of the procedural dataset (`ds=synth`).
pub(crate) const SYNTH_COUNT: usize = 2000;
pub(crate) const SYNTH_SEED: u64 = 0;

/// One experiment in memory: the config, its data, the FP32 model and everything derived
/// from them (trainer, certification caches, quantized read-outs, search).
///
/// The fields are private so that every change of the model goes through a method that
/// invalidates what was derived from the old weights; read them with the accessors.
pub struct Session {
    cfg: ExperimentConfig,
    mnist: Option<Dataset>,
    data: Dataset,
    model: Model,
    checkpoint: Option<LoadedCheckpoint>,
    /// Epochs of training behind the current weights (0 = freshly initialised).
    epochs_trained: u32,
    trainer: Option<Trainer>,
    certify: Option<Fp32Job>,
    /// Bumped whenever the FP32 weights change; part of every FP32 reference's key.
    generation: u64,
    /// FP32 certification of the reported points (from the last complete certify run or
    /// read-out): its IRS cache lets a quantized model be re-certified cheaply.
    report_ref: Option<Arc<Fp32Ref>>,
    /// The same for the search split.
    search_ref: Option<Arc<Fp32Ref>>,
    /// The last finished part of a sharded certification (of the reported points or the
    /// search split), until exported or assembled into `report_ref` / `search_ref`.
    report_part: Option<Fp32Part>,
    /// A pool's split IRS phases (src/experiment/pool.rs).
    pool: pool::PoolState,
    quant: quant::QuantState,
    /// The running per-layer sensitivity table, if any.
    sensitivity: Option<crate::pipeline::sensitivity::SensitivityJob>,
    /// The running certification of a user's digit, if any (src/experiment/digit.rs).
    digit: Option<Box<crate::digit::job::DigitJob>>,
}

/// One increment of a certification run.
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct CertifyStep {
    /// Records finished by this step.
    pub records: Vec<CertRecord>,
    /// Points and samples done of the whole certification.
    pub progress: Progress,
    pub(crate) done: bool,
    /// Summary over every record finished so far ("partial" until done).
    pub summary: Summary,
}

/// A long task of the session and what it needs to start ([`Session::begin`]). Read from one
/// flat object (see its `Deserialize`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum JobSpec {
    /// Train from freshly initialised weights (stream "init" of the seed).
    Train,
    /// Certify the FP32 model on the reported points (or only `part` of them, default the
    /// whole), keeping the IRS cache; a part's reference is kept for
    /// [`Session::export_certify_part`] / [`Session::import_certify_parts`].
    Certify {
        /// The share of the points this job certifies (default: all).
        #[serde(default)]
        part: Part,
        /// Which points: the reported ones (default) or the search split (a pool certifies
        /// the search's FP32 reference in parts); not `final`.
        #[serde(default)]
        points: Points,
    },
    /// Read out the config's policy on the reported points: IRS against the FP32 cache or,
    /// with `fresh`, a full certification from scratch.
    QuantEval {
        /// Certify from scratch (n0 + n fresh samples) instead of IRS.
        fresh: bool,
    },
    /// A search of per-layer bits.
    Search {
        /// Which search: ARQ's or HAQ's reward, or random policies.
        method: Method,
    },
    /// The final comparison: FP32, the best uniform policy within the budget (chosen on the
    /// search split) and each finished search's best, certified fresh;
    /// only `part` of the rows (default all). `rows`: the table's rows in table order
    /// (default: [`Session::compare_rows`], from this session's finished searches), so that
    /// every worker of a pool splits the same table.
    Compare {
        /// The share of the rows this job computes (default: all).
        #[serde(default)]
        part: Part,
        /// The table's rows in table order (default: this session's).
        #[serde(default)]
        rows: Option<Vec<CompareRowSpec>>,
    },
    /// Per-layer sensitivity: each quantizable layer alone at `bits` (2..=8) on `side`
    /// (default both), evaluated like a search episode against the FP32 reference.
    Sensitivity {
        /// The bit width of the one quantized layer, 2..=8.
        bits: u32,
        /// Weights, input activations or both (default both).
        #[serde(default)]
        side: crate::pipeline::sensitivity::Side,
    },
}

/// Reads the shape `#[serde(tag = "kind")]` writes through one flat struct of every variant's
/// fields: the derived internally tagged reader buffers the whole object first and was the
/// largest function of the page's wasm module (23 KB, issue 10). Fields of other kinds are
/// read (so must have their types) and ignored.
impl<'de> Deserialize<'de> for JobSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Flat {
            kind: JobKind,
            part: Option<Part>,
            points: Option<Points>,
            fresh: Option<bool>,
            method: Option<Method>,
            rows: Option<Vec<CompareRowSpec>>,
            bits: Option<u32>,
            side: Option<crate::pipeline::sensitivity::Side>,
        }
        let f = Flat::deserialize(d)?;
        fn need<T, E: serde::de::Error>(
            v: Option<T>,
            name: &'static str,
        ) -> std::result::Result<T, E> {
            v.ok_or_else(|| E::missing_field(name))
        }
        Ok(match f.kind {
            JobKind::Train => JobSpec::Train,
            JobKind::Certify => JobSpec::Certify {
                part: f.part.unwrap_or_default(),
                points: f.points.unwrap_or_default(),
            },
            JobKind::QuantEval => JobSpec::QuantEval {
                fresh: need(f.fresh, "fresh")?,
            },
            JobKind::Search => JobSpec::Search {
                method: need(f.method, "method")?,
            },
            JobKind::Compare => JobSpec::Compare {
                part: f.part.unwrap_or_default(),
                rows: f.rows,
            },
            JobKind::Sensitivity => JobSpec::Sensitivity {
                bits: need(f.bits, "bits")?,
                side: f.side.unwrap_or_default(),
            },
            // started by their own calls (irs parts by the pool, a digit by beginDigit)
            JobKind::IrsPart | JobKind::Digit => {
                let kind = if f.kind == JobKind::Digit {
                    "digit"
                } else {
                    "irsPart"
                };
                return Err(D::Error::unknown_variant(
                    kind,
                    &[
                        "train",
                        "certify",
                        "quantEval",
                        "search",
                        "compare",
                        "sensitivity",
                    ],
                ));
            }
        })
    }
}

impl JobSpec {
    /// The whole certification of the reported points.
    pub const CERTIFY: JobSpec = JobSpec::Certify {
        part: Part::WHOLE,
        points: Points::Report,
    };
    /// The whole final comparison over this session's finished searches.
    pub const COMPARE: JobSpec = JobSpec::Compare {
        part: Part::WHOLE,
        rows: None,
    };

    /// The spec's kind (its slot in the session).
    pub fn kind(&self) -> JobKind {
        match self {
            JobSpec::Train => JobKind::Train,
            JobSpec::Certify { .. } => JobKind::Certify,
            JobSpec::QuantEval { .. } => JobKind::QuantEval,
            JobSpec::Search { .. } => JobKind::Search,
            JobSpec::Compare { .. } => JobKind::Compare,
            JobSpec::Sensitivity { .. } => JobKind::Sensitivity,
        }
    }
}

/// Which long task: [`JobSpec`] without its settings. The session holds one slot per kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub enum JobKind {
    /// Training ([`JobSpec::Train`]).
    Train,
    /// FP32 certification ([`JobSpec::Certify`]).
    Certify,
    /// The quick read-out of the config's policy ([`JobSpec::QuantEval`]).
    QuantEval,
    /// A policy search ([`JobSpec::Search`]).
    Search,
    /// The final comparison ([`JobSpec::Compare`]).
    Compare,
    /// Per-layer sensitivity ([`JobSpec::Sensitivity`]).
    Sensitivity,
    /// One part of another worker's split IRS phase ([`Session::begin_irs_part`]).
    IrsPart,
    /// A user's digit under FP32 and the quantized policy ([`Session::begin_digit`]).
    Digit,
}

impl JobKind {
    /// The kind as serialised: train, certify, quantEval, search, compare, sensitivity,
    /// irsPart, digit.
    pub fn name(self) -> &'static str {
        match self {
            JobKind::Train => "train",
            JobKind::Certify => "certify",
            JobKind::QuantEval => "quantEval",
            JobKind::Search => "search",
            JobKind::Compare => "compare",
            JobKind::Sensitivity => "sensitivity",
            JobKind::IrsPart => "irsPart",
            JobKind::Digit => "digit",
        }
    }

    /// The error of a step with no job of this kind in its slot.
    fn not_running(self) -> Error {
        let k = self.name();
        Error::State(format!(
            "{k} step without a running {k} job: begin one first (none was begun, or it \
             finished or was cancelled)"
        ))
    }
}

impl std::fmt::Display for JobKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What [`Session::begin`] and [`Session::step`] hand out, the same shape for every kind.
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct JobStep {
    /// Which job the step belongs to.
    pub kind: JobKind,
    /// The job's phase and work units done / total after this step.
    pub work: Work,
    /// The job finished in this step (its slot is empty again, except for a comparison,
    /// whose finished table stays readable by further steps).
    pub done: bool,
    /// The kind's own payload.
    pub event: JobEvent,
}

/// The kind's own payload of a step, tagged with the kind (`{"kind": "train", ...}`).
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum JobEvent {
    /// Batches, running loss and accuracy, and the epoch that ended in this step, if any.
    Train(TrainProgress),
    /// Records finished in this step, the running summary and the progress.
    Certify(CertifyStep),
    /// The read-out's stage and work; its result in the step that finishes it.
    QuantEval(QuantEvalStep),
    /// The search's progress, the episode finished in this step and the best so far.
    Search(SearchStep),
    /// The row finished in this step, every row so far and the row in progress.
    Compare(CompareStep),
    /// The layer row finished in this step, every row so far and the FP32 reference.
    Sensitivity(SensitivityStep),
    /// The progress of an IRS part.
    IrsPart(IrsPartStep),
    /// A user's digit: its certificates so far.
    Digit(crate::digit::job::DigitStep),
}

/// One digit under k noise draws per sigma row, with the base classifier's votes per row
/// and each row's certificate.
#[derive(Clone, Debug)]
pub struct NoiseSamples {
    /// The digit's true class.
    pub label: u8,
    /// The clean digit, input_len values in [0, 1].
    pub clean: Vec<f32>,
    /// rows x k x input_len: row r, draw j = clean + sigma_r * z_j (same z_j in every row).
    pub images: Vec<f32>,
    /// The base classifier's class for each image (rows x k).
    pub preds: Vec<u8>,
    /// rows x classes: how many of row r's k draws the base classifier put in each class.
    pub votes: Vec<u32>,
    /// The config's alpha, used for the certificates.
    pub alpha: f64,
    /// Per row: the certificate of its top class (None for a row at sigma = 0).
    pub certificates: Vec<Option<RowCertificate>>,
}

/// The CERTIFY bound of one noise-view row: its top class's count over the row's k draws,
/// the Clopper-Pearson lower bound at 1 - alpha and the radius sigma * PhiInv(pLower), with
/// sigma as the noise used it (f32); None = abstain (pLower < 1/2).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct RowCertificate {
    /// The class with the most votes (the lowest one on a tie).
    pub top: u8,
    /// Votes for `top` among the row's k draws.
    pub count: u32,
    /// The draws in the row (k).
    pub n: u32,
    /// pLower: the one-sided Clopper-Pearson lower bound on the top class's probability at
    /// 1 - alpha.
    pub p_lower: f64,
    /// The certified L2 radius sigma * PhiInv(pLower), or None (abstain) when pLower < 1/2.
    pub radius: Option<f64>,
}

impl RowCertificate {
    /// The certificate of the top class among `votes` (one row's counts over `n` draws).
    pub fn of_votes(votes: &[u32], n: u32, alpha: f64, sigma: f32) -> RowCertificate {
        use crate::certify::smooth::{argmax, certificate};
        let counts: Vec<u64> = votes.iter().map(|&v| v as u64).collect();
        let top = argmax(&counts);
        // CERTIFY's own final step; sigma is already the f32 the noise was drawn with
        let c = certificate(top, counts[top as usize], n as u64, alpha, sigma as f64);
        RowCertificate {
            top,
            count: votes[top as usize],
            n,
            p_lower: c.p_lower,
            radius: match c.prediction {
                crate::certify::Prediction::Class(_) => Some(c.radius),
                crate::certify::Prediction::Abstain => None,
            },
        }
    }
}

/// Read-only views of the session's state.
impl Session {
    /// The experiment's config.
    pub fn cfg(&self) -> &ExperimentConfig {
        &self.cfg
    }

    /// The dataset the config selects (`ds`).
    pub fn data(&self) -> &Dataset {
        &self.data
    }

    /// The FP32 model (its weights change only through training or loading a checkpoint).
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The checkpoint the current weights were loaded from, if any (`None` after training).
    pub fn checkpoint(&self) -> Option<&LoadedCheckpoint> {
        self.checkpoint.as_ref()
    }

    /// Epochs of training behind the current weights (0 = freshly initialised).
    pub fn epochs_trained(&self) -> u32 {
        self.epochs_trained
    }

    /// Bumped whenever the FP32 weights change; part of every FP32 reference's key.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// FP32 certification of the reported points, if complete (its IRS cache lets a
    /// quantized model be re-certified cheaply).
    pub fn report_ref(&self) -> Option<&Arc<Fp32Ref>> {
        self.report_ref.as_ref()
    }

    /// FP32 certification of the search points, if complete.
    pub fn search_ref(&self) -> Option<&Arc<Fp32Ref>> {
        self.search_ref.as_ref()
    }
}

impl Session {
    /// `mnist` is data/mnist10k.u8's bytes (verified), or None when only `ds=synth` is used.
    pub fn new(cfg: ExperimentConfig, mnist_bytes: Option<&[u8]>) -> Result<Session> {
        let mnist = mnist_bytes.map(Dataset::mnist_from_bytes).transpose()?;
        let data = Self::pick_data(&cfg, &mnist)?;
        let model = Model::build(cfg.model, cfg.seed);
        check_policy(&cfg, &model)?;
        Ok(Session {
            cfg,
            mnist,
            data,
            model,
            checkpoint: None,
            epochs_trained: 0,
            trainer: None,
            certify: None,
            generation: 0,
            report_ref: None,
            search_ref: None,
            report_part: None,
            pool: pool::PoolState::default(),
            quant: quant::QuantState::default(),
            sensitivity: None,
            digit: None,
        })
    }

    fn pick_data(cfg: &ExperimentConfig, mnist: &Option<Dataset>) -> Result<Dataset> {
        match cfg.dataset {
            DatasetName::Synth => Ok(Dataset::synthetic(SYNTH_COUNT, SYNTH_SEED)),
            DatasetName::Mnist => mnist.clone().ok_or_else(|| {
                Error::State("ds=mnist needs the MNIST data file (data/mnist10k.u8)".into())
            }),
        }
    }

    /// Apply only the presentation keys (schema group `view`: the guided lesson and its step)
    /// of a fragment, parsed leniently; every other setting, the weights and the jobs stay as
    /// they are, so this is safe while a job runs. Returns the notices of the fragment's bad
    /// view pairs (a step beyond the lesson falls back to 1); other pairs are ignored.
    pub fn set_presentation(&mut self, fragment: &str) -> Vec<crate::Error> {
        let view = |f: &&crate::config::Field| f.group == "view";
        let pairs: Vec<&str> = fragment
            .trim()
            .trim_start_matches('#')
            .split('&')
            .filter(|p| {
                p.split_once('=').is_some_and(|(k, _)| {
                    crate::config::SCHEMA
                        .iter()
                        .filter(view)
                        .any(|f| f.key == k)
                })
            })
            .collect();
        let (parsed, notices) = ExperimentConfig::from_fragment_lenient(&pairs.join("&"));
        for f in crate::config::SCHEMA.iter().filter(view) {
            self.cfg
                .set(f.key, &(f.get)(&parsed))
                .expect("a parsed value is valid");
        }
        notices
    }

    /// Apply a new config. A change of dataset or model re-initialises the model from the seed;
    /// other keys (training, certification settings) keep the current weights.
    pub fn set_config(&mut self, cfg: ExperimentConfig) -> Result<()> {
        cfg.check()?;
        // everything is checked before anything changes: a rejected config leaves the session as it was
        let data = if cfg.dataset != self.cfg.dataset {
            Some(Self::pick_data(&cfg, &self.mnist)?)
        } else {
            None
        };
        let reinit = cfg.model != self.model.arch || cfg.dataset != self.cfg.dataset;
        let model = if reinit {
            Some(Model::build(cfg.model, cfg.seed))
        } else {
            None
        };
        check_policy(&cfg, model.as_ref().unwrap_or(&self.model))?;
        if let Some(d) = data {
            self.data = d;
        }
        self.cfg = cfg;
        if let Some(m) = model {
            self.model = m;
            self.checkpoint = None;
            self.epochs_trained = 0;
            self.weights_changed();
        }
        self.trainer = None;
        self.certify = None;
        Ok(())
    }

    /// Adopt a checkpoint (verified by [`crate::nn::checkpoint::load`]): its weights, architecture
    /// and sigma replace the session's, any running training or certification is dropped, and
    /// the loaded header is returned.
    pub fn load_checkpoint(&mut self, bytes: &[u8]) -> Result<&LoadedCheckpoint> {
        let (model, info) = checkpoint::load(bytes)?;
        self.cfg.model = model.arch;
        self.cfg.sigma = info.meta.sigma;
        self.model = model;
        self.epochs_trained = info.meta.epochs;
        self.trainer = None;
        self.certify = None;
        self.weights_changed();
        Ok(self.checkpoint.insert(info))
    }

    /// The session's model as a checkpoint file (format: [`crate::nn::checkpoint`]), with the
    /// config's fragment and the clean test accuracy (measured now) in its header.
    pub fn save_checkpoint(&self) -> Vec<u8> {
        let meta = CheckpointMeta {
            model: self.model.arch.to_string(),
            sigma: self.cfg.sigma,
            seed: self.cfg.seed,
            epochs: self.epochs_trained,
            test_accuracy: evaluate(&self.model, &self.data, Split::Test).accuracy,
            params: self.model.param_count(),
            engine: crate::VERSION.into(),
            // the experiment only: a teacher's view/hide/lock keys are no property of the weights
            fragment: self.cfg.experiment_fragment(),
        };
        checkpoint::save(&self.model, &meta)
    }

    /// Start a long task, replacing any job of the same kind (other kinds' jobs keep their
    /// slots: a paused search survives a certification run).
    pub fn begin(&mut self, spec: JobSpec) -> Result<JobStep> {
        let kind = spec.kind();
        Ok(match spec {
            JobSpec::Train => JobStep::of(kind, self.train_start()?, JobEvent::Train),
            JobSpec::Certify { part, points } => {
                JobStep::of(kind, self.certify_start(part, points)?, JobEvent::Certify)
            }
            JobSpec::QuantEval { fresh } => {
                JobStep::of(kind, self.quant_eval_start(fresh)?, JobEvent::QuantEval)
            }
            JobSpec::Search { method } => {
                JobStep::of(kind, self.search_start(method)?, JobEvent::Search)
            }
            JobSpec::Compare { part, rows } => {
                JobStep::of(kind, self.compare_start(part, rows)?, JobEvent::Compare)
            }
            JobSpec::Sensitivity { bits, side } => JobStep::of(
                kind,
                self.sensitivity_start(bits, side)?,
                JobEvent::Sensitivity,
            ),
        })
    }

    /// Advance the job of `kind` by about `budget` work units (training: mini-batches; the
    /// rest: noisy samples). `clock` returns microseconds (any monotonic origin) to time the
    /// work; the core itself never reads a clock. A finished job leaves its slot (a further
    /// step is an error) and its results in the session.
    pub fn step(
        &mut self,
        kind: JobKind,
        budget: u64,
        clock: &mut dyn FnMut() -> u64,
    ) -> Result<JobStep> {
        Ok(match kind {
            JobKind::Train => JobStep::of(kind, self.train_next(budget, clock)?, JobEvent::Train),
            JobKind::Certify => {
                JobStep::of(kind, self.certify_next(budget, clock)?, JobEvent::Certify)
            }
            JobKind::QuantEval => JobStep::of(
                kind,
                self.quant_eval_next(budget, clock)?,
                JobEvent::QuantEval,
            ),
            JobKind::Search => {
                JobStep::of(kind, self.search_next(budget, clock)?, JobEvent::Search)
            }
            JobKind::Compare => {
                JobStep::of(kind, self.compare_next(budget, clock)?, JobEvent::Compare)
            }
            JobKind::Sensitivity => JobStep::of(
                kind,
                self.sensitivity_next(budget, clock)?,
                JobEvent::Sensitivity,
            ),
            JobKind::IrsPart => {
                JobStep::of(kind, self.irs_part_next(budget, clock)?, JobEvent::IrsPart)
            }
            JobKind::Digit => JobStep::of(kind, self.digit_next(budget, clock)?, JobEvent::Digit),
        })
    }

    /// Drop the job of `kind`, if any; what it finished before stays (trained weights,
    /// finished searches). A step of that kind is then an error until the next begin.
    pub fn cancel(&mut self, kind: JobKind) {
        match kind {
            JobKind::Train => self.trainer = None,
            JobKind::Certify => self.certify = None,
            JobKind::QuantEval | JobKind::Search | JobKind::Compare => self.quant.cancel(kind),
            JobKind::Sensitivity => self.sensitivity = None,
            JobKind::IrsPart => self.irs_part_cancel(),
            JobKind::Digit => self.digit = None,
        }
    }

    fn train_start(&mut self) -> Result<(Work, TrainProgress)> {
        self.model = Model::build(self.cfg.model, self.cfg.seed);
        self.checkpoint = None;
        self.epochs_trained = 0;
        let t = Trainer::new(self.cfg.train_config(), &mut self.model, &self.data);
        let p = TrainProgress {
            epoch: 0,
            batch: 0,
            batches_per_epoch: t.batches_per_epoch(),
            total_batches: t.total_batches(),
            batches_done: 0,
            done: false,
            loss: 0.0,
            accuracy: 0.0,
            epoch_end: None,
        };
        let w = Job::work(&t);
        self.trainer = Some(t);
        self.certify = None;
        self.weights_changed();
        Ok((w, p))
    }

    fn train_next(
        &mut self,
        max_batches: u64,
        clock: &mut dyn FnMut() -> u64,
    ) -> Result<(Work, TrainProgress)> {
        let t = self
            .trainer
            .as_mut()
            .ok_or_else(|| JobKind::Train.not_running())?;
        let p = Job::step(t, (&mut self.model, &self.data), max_batches, clock)?;
        let w = Job::work(t);
        self.epochs_trained = t.history().len() as u32;
        self.weights_changed();
        if p.done {
            self.trainer = None;
        }
        Ok((w, p))
    }

    /// Clean accuracy and confusion matrix of the FP32 model on the test split.
    pub fn evaluate(&self) -> Evaluation {
        evaluate(&self.model, &self.data, Split::Test)
    }

    /// One test digit under k noise draws, for each sigma row (the same draws scaled per row),
    /// with the base classifier's prediction on each. Noise stream "noise-view". With
    /// `quantized`, the labels come from the integer model of the last quick read-out.
    pub fn noise_samples(
        &mut self,
        test_index: usize,
        sigmas: &[f32],
        k: usize,
        quantized: bool,
    ) -> Result<NoiseSamples> {
        let n_test = self.data.split_len(Split::Test);
        if test_index >= n_test {
            return Err(Error::invalid(
                "index",
                test_index,
                "no such test digit",
                format!("0..{n_test}"),
            ));
        }
        if k == 0 || k > 64 {
            return Err(Error::invalid(
                "k",
                k,
                "draws per row out of range",
                "1..=64",
            ));
        }
        if sigmas.is_empty() || sigmas.len() > 8 || sigmas.iter().any(|s| !(0.0..=2.0).contains(s))
        {
            return Err(Error::invalid(
                "sigmas",
                format!("{sigmas:?}"),
                "bad noise levels",
                "1..=8 values in 0..=2",
            ));
        }
        let il = self.model.input_len();
        let idx = self.data.index(Split::Test, test_index);
        let mut clean = vec![0.0; il];
        self.data.image_f32(idx, &mut clean);
        let src = NoiseSource::new(self.cfg.seed, "noise-view");
        let mut z = vec![0.0; il];
        let mut images = vec![0.0; sigmas.len() * k * il];
        for j in 0..k {
            src.fill(idx as u64, j as u64, &mut z);
            for (r, &s) in sigmas.iter().enumerate() {
                let dst = &mut images[(r * k + j) * il..(r * k + j + 1) * il];
                for ((d, &c), &zv) in dst.iter_mut().zip(&clean).zip(&z) {
                    *d = c + s * zv;
                }
            }
        }
        let mut preds = vec![0u8; sigmas.len() * k];
        if quantized {
            let q = self.quantized_classifier().ok_or_else(|| {
                Error::State("no quantized model yet: evaluate a policy first".into())
            })?;
            crate::certify::BaseClassifier::classify(q, &images, sigmas.len() * k, &mut preds);
        } else {
            self.model.predict(&images, sigmas.len() * k, &mut preds);
        }
        let classes = self.model.classes;
        let mut votes = vec![0u32; sigmas.len() * classes];
        for (i, &p) in preds.iter().enumerate() {
            votes[(i / k) * classes + p as usize] += 1;
        }
        let alpha = self.cfg.alpha;
        let certificates = sigmas
            .iter()
            .zip(votes.chunks(classes))
            .map(|(&s, row)| (s > 0.0).then(|| RowCertificate::of_votes(row, k as u32, alpha, s)))
            .collect();
        Ok(NoiseSamples {
            label: self.data.labels[idx],
            clean,
            images,
            preds,
            votes,
            alpha,
            certificates,
        })
    }
}

/// The config's `wb`/`ab`/`lk` lists must fit the model: one value, or one per quantizable
/// layer (the config's own parse cannot know the layer count).
pub(crate) fn check_policy(cfg: &ExperimentConfig, model: &Model) -> Result<()> {
    cfg.policy(crate::quant::quant_layers(model).len())
        .map(|_| ())
}

/// The lenient form of [`check_policy`] for a parsed fragment (the page): a `wb`, `ab` or `lk`
/// list that does not fit the config's model is dropped (full precision, no locks), and the
/// returned errors name each dropped list, like the other bad values of a lenient parse.
pub fn drop_unfit_policy(cfg: &mut ExperimentConfig) -> Vec<Error> {
    let model = Model::build(cfg.model, cfg.seed);
    let mut dropped = vec![];
    // at most one error per list: each round clears the list it names
    for _ in 0..3 {
        let Err(e) = check_policy(cfg, &model) else {
            break;
        };
        match &e {
            Error::InvalidValue { field, .. } if field == "wb" => cfg.wb = BitsList::default(),
            Error::InvalidValue { field, .. } if field == "ab" => cfg.ab = BitsList::default(),
            Error::InvalidValue { field, .. } if field == "lk" => cfg.locks = Flags::default(),
            _ => break,
        }
        dropped.push(e);
    }
    dropped
}

impl Session {
    /// The FP32 weights changed: every FP32 reference and quantized result is stale.
    fn weights_changed(&mut self) {
        self.generation += 1;
        self.report_ref = None;
        self.search_ref = None;
        self.report_part = None;
        self.quant = quant::QuantState::default();
        self.sensitivity = None;
        self.pool.reset();
    }

    /// Start certifying the current (FP32) model on the configured test points. The run keeps
    /// f's predictions on the first n_p estimation samples of each point: the IRS cache.
    fn certify_start(&mut self, part: Part, points: Points) -> Result<(Work, CertifyStep)> {
        if points == Points::Final {
            return Err(Error::invalid(
                "spec.points",
                "final",
                "the final table certifies its own points",
                "report, search",
            ));
        }
        let job = Fp32Job::part(
            &self.cfg,
            &self.model,
            &self.data,
            points,
            self.generation,
            part,
        )?;
        let step = CertifyStep {
            records: vec![],
            progress: job.progress(),
            done: false,
            summary: job.summary(),
        };
        let w = job.work();
        self.certify = Some(job);
        Ok((w, step))
    }

    /// Run up to `max_samples` noisy forward passes, timing each point with `clock`.
    fn certify_next(
        &mut self,
        max_samples: u64,
        clock: &mut dyn FnMut() -> u64,
    ) -> Result<(Work, CertifyStep)> {
        let job = self
            .certify
            .as_mut()
            .ok_or_else(|| JobKind::Certify.not_running())?;
        let st = job.step((), max_samples, clock)?;
        let w = job.work();
        let done = st.reference.is_some();
        if let Some(r) = st.reference {
            let (part, points) = (job.part_of(), job.points());
            if part.is_whole() {
                self.keep_ref(points, Some(&Arc::new(r)));
            } else {
                // a part is kept apart: only the assembled whole becomes the reference
                let id = fp32_identity(&self.cfg, &self.model, points);
                let records = job.records().to_vec();
                self.report_part = Some(Fp32Part {
                    points,
                    ..Fp32Part::of(id, part, r, records)
                });
            }
            self.certify = None;
        }
        Ok((
            w,
            CertifyStep {
                records: st.records,
                progress: st.progress,
                done,
                summary: st.summary,
            },
        ))
    }
}

impl Session {
    /// The summary of certification records of the reported points, as the certify job
    /// computes it (records are taken in point order, i.e. by record index): the summary of
    /// a sharded certification's merged records.
    pub fn certify_summary(&self, records: &[CertRecord]) -> Summary {
        let mut sorted = records.to_vec();
        crate::order::sort_by_key(&mut sorted, |r| r.index);
        crate::pipeline::fp32_summary(&self.cfg, &sorted)
    }

    /// The last finished part of a sharded certification (`JobSpec::CERTIFY` with a part
    /// other than the whole): its IRS cache entries and records, as bytes for
    /// [`Session::import_certify_parts`] in another session with the same weights and config.
    pub fn export_certify_part(&self) -> Result<Vec<u8>> {
        self.report_part
            .as_ref()
            .map(Fp32Part::to_bytes)
            .ok_or_else(|| {
                Error::State(
                    "no finished certification part to export: run a certify job with a part                      first (the weights or settings may have changed since)"
                        .into(),
                )
            })
    }

    /// Assemble the whole FP32 reference of the reported points (or of the search split: the
    /// parts' points) from this session's own
    /// finished part (if any) and the other parts' bytes ([`Session::export_certify_part`]):
    /// the result is the reference an unsharded certify run leaves (same key, IRS cache and
    /// summary), so the read-out and the search find it. Returns the merged records (in point
    /// order) and their summary.
    pub fn import_certify_parts(&mut self, others: &[Vec<u8>]) -> Result<CertifyStep> {
        let mut parts: Vec<Fp32Part> = others
            .iter()
            .enumerate()
            .map(|(k, b)| Fp32Part::from_bytes(&format!("parts[{k}]"), b))
            .collect::<Result<_>>()?;
        parts.extend(self.report_part.clone());
        // the points of the parts (assemble_fp32 refuses parts of other points by identity)
        let points = parts.first().map_or(Points::Report, |p| p.points);
        let (r, records) = assemble_fp32(
            &self.cfg,
            &mut self.model,
            &self.data,
            points,
            self.generation,
            parts,
        )?;
        let summary = r.summary.clone();
        self.keep_ref(points, Some(&Arc::new(r)));
        self.report_part = None;
        let n = records.len();
        let samples: u64 = records.iter().map(|r| r.samples).sum();
        Ok(CertifyStep {
            records,
            progress: Progress {
                examples_done: n,
                examples_total: n,
                samples_done: samples,
                samples_total: samples,
            },
            done: true,
            summary,
        })
    }
}

impl JobStep {
    /// The step of `kind` from a job's work and its kind's payload.
    fn of<P>(kind: JobKind, (work, payload): (Work, P), event: fn(P) -> JobEvent) -> JobStep {
        let event = event(payload);
        JobStep {
            kind,
            done: event.done(),
            work,
            event,
        }
    }
}

impl JobEvent {
    /// The job finished in this step.
    fn done(&self) -> bool {
        match self {
            JobEvent::Train(p) => p.done,
            JobEvent::Certify(s) => s.done,
            JobEvent::QuantEval(s) => s.done,
            JobEvent::Search(s) => s.progress.done,
            JobEvent::Compare(s) => s.done,
            JobEvent::Sensitivity(s) => s.done,
            JobEvent::IrsPart(s) => s.done,
            JobEvent::Digit(s) => s.done,
        }
    }
}
