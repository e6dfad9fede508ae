//! The search run as a resumable job: DDPG with ARQ's certified-radius reward, DDPG with HAQ's
//! accuracy reward, or random search, all under the same budget and the same per-episode
//! evaluation (calibrate, `sft` fine-tuning batches, IRS on the search split).

use super::eval::{EvalJob, EvalSpec};
use super::{Fp32Job, Fp32Ref, Points};
use crate::config::{ExperimentConfig, Reward};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::job::{Job, Work};
use crate::nn::layers::Layer;
use crate::nn::Model;
use crate::quant::cost::enforce_budget;
use crate::quant::{quant_layers, Bits, Policy};
use crate::search::{
    BitRange, DdpgConfig, EpisodeOutcome, EpisodeRecord, Evaluator, LayerFeatures, SearchConfig,
    SearchDriver, SearchKind,
};
use serde::Serialize;
use std::sync::Arc;

/// Which search a run performs (the CLI's `--method`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub enum Method {
    /// DDPG, reward from the certified radius (the config's `reward`, ARQ by default).
    Arq,
    /// DDPG, HAQ's reward 0.1 * (acc_q - acc_fp) on clean inputs.
    Haq,
    /// Uniform random policies (same budget, same number of evaluations).
    Random,
}

impl Method {
    /// `arq`, `haq` or `random`.
    pub fn parse(s: &str) -> Result<Method> {
        [Method::Arq, Method::Haq, Method::Random]
            .into_iter()
            .find(|m| m.word() == s)
            .ok_or_else(|| Error::invalid("method", s, "unknown search method", "arq, haq, random"))
    }
    /// The method's word: `arq`, `haq` or `random` (what [`Method::parse`] reads).
    pub fn word(self) -> &'static str {
        match self {
            Method::Arq => "arq",
            Method::Haq => "haq",
            Method::Random => "random",
        }
    }
    pub(crate) fn label(self) -> &'static str {
        match self {
            Method::Arq => "ARQ",
            Method::Haq => "HAQ reward",
            Method::Random => "random",
        }
    }
}

/// The reward of an evaluated policy (docs/method.md section 7; ARQ choice, ours, for the
/// certified-radius form): acr = 0.1 (ACR_q - ACR_fp); acc = 0.1 (acc_q - acc_fp) on clean
/// search-split digits (HAQ); acracc = their sum. HAQ's search always uses acc.
pub(crate) fn reward_of(
    method: Method,
    reward: Reward,
    fp: &Fp32Ref,
    acr_q: f64,
    acc_q: f64,
) -> f64 {
    let acr = 0.1 * (acr_q - fp.summary.acr);
    let acc = 0.1 * (acc_q - fp.base_accuracy);
    match (method, reward) {
        (Method::Haq, _) | (_, Reward::Acc) => acc,
        (_, Reward::Acracc) => acr + acc,
        (_, Reward::Acr) => acr,
    }
}

/// HAQ's state features of the quantizable layers.
pub(crate) fn layer_features(model: &Model) -> Vec<LayerFeatures> {
    quant_layers(model)
        .iter()
        .enumerate()
        .map(|(j, q)| {
            let (c_in, stride, kernel) = match &model.layers[q.index] {
                Layer::Conv(c) | Layer::Shortcut(c) => (c.cin, c.stride, c.k),
                Layer::Linear(l) => (l.fin, 1, 1),
                _ => unreachable!("quantizable"),
            };
            LayerFeatures {
                index: j,
                c_in,
                c_out: q.cout,
                stride,
                kernel,
                weights: q.weights,
                in_hw: q.in_shape[1] * q.in_shape[2],
                depthwise: false,
                macs: q.macs,
            }
        })
        .collect()
}

/// HAQ's budget wall over the model's MACs, honouring the config's locks.
pub(crate) struct BudgetWall {
    pub macs: Vec<u64>,
    pub budget: f64,
    pub locked: Policy,
}

impl BudgetWall {
    pub(crate) fn policy(&self, wbits: &[u8], abits: &[u8]) -> Policy {
        let mut p = self.locked.clone();
        for (l, (&w, &a)) in p.layers.iter_mut().zip(wbits.iter().zip(abits)) {
            if !l.locked {
                l.w = Bits::new(w as u32).expect("search bits are 2..=8");
                l.a = Bits::new(a as u32).expect("search bits are 2..=8");
            }
        }
        p
    }
}

impl Evaluator for BudgetWall {
    fn enforce_budget(&self, wbits: &[u8], abits: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let mut p = self.policy(wbits, abits);
        // An unreachable budget leaves the floor policy; SearchJob::new rejects that case.
        let _ = enforce_budget(&self.macs, &mut p, self.budget, Bits::MIN);
        let bits = |b: Bits| if b.is_full() { 8 } else { b.get() as u8 };
        (
            p.layers.iter().map(|l| bits(l.w)).collect(),
            p.layers.iter().map(|l| bits(l.a)).collect(),
        )
    }
    fn evaluate(&mut self, _: &[u8], _: &[u8]) -> Result<EpisodeOutcome> {
        Err(Error::State(
            "episodes are evaluated step by step by SearchJob".into(),
        ))
    }
}

/// Where a search run stands.
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct SearchProgress {
    /// The current phase's word (e.g. `fp32-certify`, `propose`, `finetune`, `irs`).
    pub phase: &'static str,
    /// Episodes completed.
    pub episode: usize,
    /// Episodes planned.
    pub episodes: usize,
    /// Whether every episode has completed.
    pub done: bool,
    /// Work of the current phase (FP32 reference or current episode).
    pub work_done: u64,
    /// Work units of the current phase (0 between episodes).
    pub work_total: u64,
}

/// Where a search stands.
enum Phase {
    /// Certifying the FP32 model on the search split (no reference was at hand).
    Fp32(Box<Fp32Job>),
    /// The reference is ready; `episode` is the evaluation in progress, if any.
    Ready {
        fp32: Arc<Fp32Ref>,
        episode: Option<Box<EvalJob>>,
    },
}

pub(crate) struct SearchJob {
    pub method: Method,
    cfg: ExperimentConfig,
    pretrained: Model,
    generation: u64,
    driver: SearchDriver,
    wall: BudgetWall,
    phase: Phase,
    /// Activation ranges of the pretrained model, computed in the first episode.
    calib: Option<crate::quant::Calibration>,
}

impl SearchJob {
    /// `fp32`: a ready FP32 reference of the search split, if the session has one.
    pub(crate) fn new(
        method: Method,
        cfg: &ExperimentConfig,
        pretrained: &Model,
        data: &Dataset,
        fp32: Option<Arc<Fp32Ref>>,
        generation: u64,
    ) -> Result<SearchJob> {
        let layers = layer_features(pretrained);
        let locked = cfg.policy(layers.len())?;
        let macs: Vec<u64> = layers.iter().map(|l| l.macs).collect();
        let mut floor = locked.clone();
        enforce_budget(&macs, &mut floor, cfg.budget, Bits::MIN)?;
        let sc = SearchConfig {
            kind: if method == Method::Random {
                SearchKind::Random
            } else {
                SearchKind::Ddpg
            },
            episodes: cfg.episodes as usize,
            warmup: cfg.warmup as usize,
            seed: cfg.seed,
            bits: BitRange::default(),
            ddpg: DdpgConfig {
                hidden: cfg.hidden as usize,
                ..DdpgConfig::default()
            },
            pareto_metric: Some("acr".into()),
        };
        let driver = SearchDriver::new(sc, &layers)?;
        let phase = match fp32 {
            Some(fp32) => Phase::Ready {
                fp32,
                episode: None,
            },
            None => Phase::Fp32(Box::new(Fp32Job::new(
                cfg,
                pretrained,
                data,
                Points::Search,
                generation,
            )?)),
        };
        Ok(SearchJob {
            method,
            cfg: cfg.clone(),
            pretrained: pretrained.clone(),
            generation,
            driver,
            wall: BudgetWall {
                macs,
                budget: cfg.budget,
                locked,
            },
            phase,
            calib: None,
        })
    }

    /// The episode being evaluated, if any.
    pub(crate) fn episode_mut(&mut self) -> Option<&mut EvalJob> {
        match &mut self.phase {
            Phase::Ready {
                episode: Some(e), ..
            } => Some(e),
            _ => None,
        }
    }

    pub(crate) fn driver(&self) -> &SearchDriver {
        &self.driver
    }

    /// The FP32 reference of the search split, once certified.
    pub(crate) fn fp32(&self) -> Option<&Arc<Fp32Ref>> {
        match &self.phase {
            Phase::Ready { fp32, .. } => Some(fp32),
            Phase::Fp32(_) => None,
        }
    }

    pub(crate) fn progress(&self) -> SearchProgress {
        let w = self.work();
        SearchProgress {
            phase: w.phase,
            episode: self.driver.episode(),
            episodes: self.cfg.episodes as usize,
            done: self.is_done(),
            work_done: w.done,
            work_total: w.total,
        }
    }

    /// The best policy so far.
    pub(crate) fn best_policy(&self) -> Option<Policy> {
        self.driver
            .best()
            .map(|b| self.wall.policy(&b.wbits, &b.abits))
    }
}

/// A search as a [`Job`]: the budget is noisy samples (see [`EvalJob`]); a step hands out
/// the episode it finished, if any.
impl Job for SearchJob {
    type Env<'a> = &'a Dataset;
    type Report = Option<EpisodeRecord>;

    fn step(
        &mut self,
        data: &Dataset,
        max_work: u64,
        clock: &mut dyn FnMut() -> u64,
    ) -> Result<Option<EpisodeRecord>> {
        let (fp32, episode) = match &mut self.phase {
            Phase::Fp32(job) => {
                if let Some(r) = Job::step(&mut **job, (), max_work, clock)?.reference {
                    self.phase = Phase::Ready {
                        fp32: Arc::new(r),
                        episode: None,
                    };
                }
                return Ok(None);
            }
            Phase::Ready { fp32, episode } => (fp32.clone(), episode),
        };
        let job = match episode {
            Some(job) => job,
            None => {
                if self.driver.is_done() {
                    return Ok(None);
                }
                let p = self.driver.propose(&self.wall)?;
                let spec = EvalSpec::episode(
                    format!("episode {}", p.episode),
                    self.wall.policy(&p.wbits, &p.abits),
                    &self.cfg,
                );
                let job = EvalJob::new(
                    spec,
                    &self.cfg,
                    &self.pretrained,
                    data,
                    Some(fp32.clone()),
                    self.generation,
                )?
                .with_calibration(self.calib.clone());
                episode.insert(Box::new(job))
            }
        };
        let Some(out) = job.step(data, max_work, clock)? else {
            return Ok(None);
        };
        if self.calib.is_none() {
            self.calib = job.calibration().cloned();
        }
        *episode = None;
        let r = &out.result;
        let t0 = clock();
        let outcome = EpisodeOutcome::new(
            reward_of(
                self.method,
                self.cfg.reward,
                &fp32,
                r.summary.acr,
                r.points_accuracy,
            ),
            r.cost.ratio,
        )
        .with("acr", r.summary.acr)
        .with("certifiedAccuracy0", r.summary.clean_accuracy)
        .with("accuracy", r.points_accuracy)
        .with("sizeBytes", r.cost.size_bytes as f64)
        .with("calibrateMs", r.micros.calibrate as f64 / 1000.0)
        .with("fineTuneMs", r.micros.finetune as f64 / 1000.0)
        .with("irsMs", r.micros.certify as f64 / 1000.0);
        let mut rec = self.driver.complete(outcome)?;
        rec.metrics
            .insert("agentMs".into(), (clock() - t0) as f64 / 1000.0);
        Ok(Some(rec))
    }

    /// The FP32 reference's work, the current episode's, or nothing between episodes.
    fn work(&self) -> Work {
        match &self.phase {
            Phase::Fp32(j) => j.work(),
            Phase::Ready {
                episode: Some(e), ..
            } => e.work(),
            Phase::Ready { episode: None, .. } => Work {
                phase: "propose",
                done: 0,
                total: 0,
            },
        }
    }

    fn is_done(&self) -> bool {
        self.driver.is_done() && matches!(self.phase, Phase::Ready { episode: None, .. })
    }
}
