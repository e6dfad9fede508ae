//! Certifying one user digit, side by side under the FP32 model and the config's quantized
//! policy, as a resumable [`Job`] (the page steps it in its worker; `arq certify-digit` runs
//! it to the end): CERTIFY (Cohen et al.) with the config's n0, n, alpha and sigma on noise
//! streams keyed by the config's seed and the digit's own key ([`super::Digit::key`]), then,
//! for a certified digit, what the radius means: among 16 random unit directions and the
//! direction from the top class's mean training digit towards the runner-up's, the one that
//! most lowers the top class's vote share (probed on the same [`PROBE_SAMPLES`] noise draws
//! each), the digit moved exactly the radius along it, and the smoothed classifier's votes
//! there on n fresh draws.
//!
//! The quantized model is built as the quick read-out builds it: activation ranges calibrated
//! on the pretrained weights, `qft` noise-aware fine-tuning batches, then the integer model.

use super::{Digit, SIDE};
use crate::certify::sampler::Sampler;
use crate::certify::smooth::{argmax, certificate, Prediction};
use crate::certify::stats;
use crate::certify::BaseClassifier;
use crate::config::ExperimentConfig;
use crate::data::{Dataset, Split};
use crate::error::{Error, Result};
use crate::job::{Job, Work};
use crate::nn::Model;
use crate::pipeline::FT_BATCH_WORK;
use crate::quant::{calibrate, IntModel, Policy, QatTrainer, QuantizedModel};
use crate::rng::{NoiseSource, Stream};
use serde::Serialize;

/// Noise stream of the selection samples.
pub const PURPOSE_SELECT: &str = "noise-digit-select";
/// Noise stream of the estimation samples (the first [`SHOWN_SAMPLES`] are shown).
pub const PURPOSE_ESTIMATE: &str = "noise-digit-estimate";
/// Noise stream of the direction probes (the same draws for every direction).
pub const PURPOSE_PROBE: &str = "noise-digit-probe";
/// Noise stream of the votes on the perturbed digit.
pub const PURPOSE_PERTURBED: &str = "noise-digit-perturbed";
/// Random unit directions probed (plus the mean-digit direction).
pub const RANDOM_DIRECTIONS: usize = 16;
/// Noise draws per probed direction (at most n).
pub const PROBE_SAMPLES: u64 = 100;
/// Noisy samples shown (the first estimation draws).
pub const SHOWN_SAMPLES: usize = 8;

/// Which way a probed direction points.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub enum DirectionKind {
    /// From the top class's mean training digit towards the runner-up's.
    MeanDigit,
    /// A uniformly random unit direction (stream `digit-directions-<key>` of the seed).
    Random,
}

/// The digit moved exactly the certified radius along the probed direction that lowered the
/// top class's votes most, and the smoothed classifier's votes there.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct Perturbation {
    /// The chosen direction's kind.
    pub kind: DirectionKind,
    /// Index among the probed directions (0 = mean digit, 1.. = random).
    pub chosen: u32,
    /// The runner-up class the mean-digit direction points to.
    pub towards: u8,
    /// Top-class votes among [`PROBE_SAMPLES`] draws at each probed direction (0 = mean digit).
    pub probe_counts: Vec<u64>,
    /// Draws per probe.
    pub probe_samples: u64,
    /// The L2 norm of the perturbation as applied in f32 (the radius up to rounding).
    pub norm: f64,
    /// The perturbed input (784 values; may leave [0, 1]: the certificate is about L2 in R^784).
    pub image: Vec<f32>,
    /// The base classifier's votes per class on n fresh noisy copies of the perturbed input.
    pub votes: Vec<u64>,
    /// Draws behind `votes` (n).
    pub n: u64,
    /// The class with most of `votes` (the lowest on a tie).
    pub top: u8,
    /// Clopper-Pearson lower bound (1 - alpha) of the certified class's probability there.
    pub p_lower: f64,
    /// The certified class still has the most votes at the perturbed input.
    pub holds: bool,
}

/// One model's certificate of the digit.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct DigitCertificate {
    /// "fp32" or "quantized".
    pub model: String,
    /// Votes per class among the n0 selection draws (they pick the top class).
    pub select_votes: Vec<u64>,
    /// Votes per class among the n estimation draws.
    pub votes: Vec<u64>,
    /// The selected class cA (argmax of `select_votes`, lowest on a tie).
    pub top: u8,
    /// cA, or null when abstaining.
    pub prediction: Option<u8>,
    /// Estimation draws classified as cA.
    pub count: u64,
    /// Estimation draws.
    pub n: u64,
    /// One-sided (1 - alpha) Clopper-Pearson lower bound of cA's probability.
    pub p_lower: f64,
    /// sigma * PhiInv(pLower), or null (abstain).
    pub radius: Option<f64>,
    /// The base classifier's class on each of the shown noisy samples.
    pub sample_preds: Vec<u8>,
    /// What the radius means (certified digits only, once computed).
    pub perturbation: Option<Perturbation>,
}

/// A step of the digit job: the digit, the settings and whatever is finished so far.
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct DigitStep {
    /// The preprocessed digit.
    pub digit: Digit,
    /// The canonical fragment the certificates belong to.
    pub fragment: String,
    /// The noise level (as the config says; the noise uses it rounded to f32).
    pub sigma: f64,
    /// Failure probability of each certificate.
    pub alpha: f64,
    /// Selection draws.
    pub n0: u64,
    /// Estimation draws.
    pub n: u64,
    /// The quantized policy (`wb=..&ab=..`), or null when it is full precision.
    pub policy: Option<String>,
    /// Why there is no quantized certificate, if there is none to come.
    pub quant_note: Option<String>,
    /// The first [`SHOWN_SAMPLES`] estimation draws, 784 values each.
    pub noisy: Vec<f32>,
    /// FP32's certificate, once finished.
    pub fp32: Option<DigitCertificate>,
    /// The quantized model's certificate, once finished.
    pub quantized: Option<DigitCertificate>,
    /// Both are finished.
    pub done: bool,
}

/// The settings of the digit's smoothing, shared by both models.
struct Ctx {
    sigma: f32,
    n0: u64,
    n: u64,
    alpha: f64,
    cfg_sigma: f64,
    key: u64,
    seed: u64,
    x: Vec<f32>,
    /// Mean training digit per class.
    means: Vec<Vec<f32>>,
    select: NoiseSource,
    estimate: NoiseSource,
    probe: NoiseSource,
    perturbed: NoiseSource,
}

/// Where one model's run is.
enum Phase {
    Select,
    Estimate,
    Probe,
    Perturbed,
    Done,
}

/// One model's CERTIFY of the digit, then the radius's illustration.
struct Run {
    model: &'static str,
    phase: Phase,
    sel: Vec<u64>,
    est: Vec<u64>,
    done: u64,
    top: u8,
    shown: Vec<u8>,
    cert: Option<DigitCertificate>,
    dirs: Vec<Vec<f32>>,
    towards: u8,
    probes: Vec<u64>,
    image: Vec<f32>,
    pert: Vec<u64>,
}

fn tally(counts: &mut [u64], classes: &[u8]) {
    for &c in classes {
        if let Some(k) = counts.get_mut(c as usize) {
            *k += 1;
        }
    }
}

fn unit(v: &[f64]) -> Option<Vec<f32>> {
    let norm = v.iter().map(|a| a * a).sum::<f64>().sqrt();
    (norm > 0.0).then(|| v.iter().map(|a| (a / norm) as f32).collect())
}

/// x + r * d in f32 (no fused multiply-add).
fn moved(x: &[f32], r: f64, d: &[f32]) -> Vec<f32> {
    let r = r as f32;
    x.iter().zip(d).map(|(&a, &b)| a + r * b).collect()
}

impl Run {
    fn new(model: &'static str, classes: usize) -> Run {
        Run {
            model,
            phase: Phase::Select,
            sel: vec![0; classes],
            est: vec![0; classes],
            done: 0,
            top: 0,
            shown: Vec::new(),
            cert: None,
            dirs: Vec::new(),
            towards: 0,
            probes: Vec::new(),
            image: Vec::new(),
            pert: vec![0; classes],
        }
    }

    /// The work this run does at most: n0 + n + probes + n.
    fn total(c: &Ctx) -> u64 {
        c.n0 + c.n + (RANDOM_DIRECTIONS as u64 + 1) * PROBE_SAMPLES.min(c.n) + c.n
    }

    fn is_done(&self) -> bool {
        matches!(self.phase, Phase::Done)
    }

    /// The probed directions: towards the runner-up's mean digit first, then the random ones.
    fn directions(&mut self, c: &Ctx) {
        let top = self.top as usize;
        let dist = |k: usize| -> f64 {
            c.means[k]
                .iter()
                .zip(&c.x)
                .map(|(&m, &x)| ((m - x) as f64).powi(2))
                .sum()
        };
        // runner-up: most estimation votes, then selection votes, then the nearest mean digit
        let mut best: Option<usize> = None;
        for k in (0..self.est.len()).filter(|&k| k != top) {
            best = match best {
                None => Some(k),
                Some(b) => {
                    let better = (self.est[k], self.sel[k]) > (self.est[b], self.sel[b])
                        || ((self.est[k], self.sel[k]) == (self.est[b], self.sel[b])
                            && dist(k) < dist(b));
                    Some(if better { k } else { b })
                }
            };
        }
        let ru = best.unwrap_or(0);
        self.towards = ru as u8;
        let toward: Vec<f64> = c.means[ru]
            .iter()
            .zip(&c.means[top])
            .map(|(&a, &b)| a as f64 - b as f64)
            .collect();
        let mut stream = Stream::new(c.seed, &format!("digit-directions-{:016x}", c.key));
        let len = c.x.len();
        let mut dirs = vec![unit(&toward).unwrap_or_else(|| vec![0.0; len])];
        for _ in 0..RANDOM_DIRECTIONS {
            let v: Vec<f64> = (0..len).map(|_| stream.normal() as f64).collect();
            dirs.push(unit(&v).unwrap_or_else(|| vec![0.0; len]));
        }
        self.dirs = dirs;
    }

    fn finish_cert(&mut self, c: &Ctx) {
        let count = self.est[self.top as usize];
        let cert = certificate(self.top, count, c.n, c.alpha, c.cfg_sigma);
        let certified = matches!(cert.prediction, Prediction::Class(_));
        self.cert = Some(DigitCertificate {
            model: self.model.to_string(),
            select_votes: self.sel.clone(),
            votes: self.est.clone(),
            top: self.top,
            prediction: cert.prediction.class(),
            count,
            n: c.n,
            p_lower: cert.p_lower,
            radius: certified.then_some(cert.radius),
            sample_preds: self.shown.clone(),
            perturbation: None,
        });
        if certified {
            self.directions(c);
            self.phase = Phase::Probe;
        } else {
            self.phase = Phase::Done;
        }
    }

    fn radius(&self) -> f64 {
        self.cert.as_ref().and_then(|c| c.radius).unwrap_or(0.0)
    }

    /// Runs at most `budget` forward samples (a batch at a time); returns the work done,
    /// counting the illustration's skipped work when the digit abstains.
    fn advance<F: BaseClassifier + ?Sized>(
        &mut self,
        c: &Ctx,
        f: &mut F,
        sampler: &mut Sampler,
        budget: u64,
    ) -> u64 {
        let batch = sampler.batch() as u64;
        let m = PROBE_SAMPLES.min(c.n);
        let mut used = 0;
        while used < budget {
            let room = batch.min(budget - used);
            match self.phase {
                Phase::Select => {
                    let k = room.min(c.n0 - self.done);
                    let cl = sampler
                        .classify_noisy(f, &c.x, c.sigma, &c.select, c.key, self.done, k as usize);
                    tally(&mut self.sel, cl);
                    self.done += k;
                    used += k;
                    if self.done == c.n0 {
                        self.top = argmax(&self.sel);
                        self.phase = Phase::Estimate;
                        self.done = 0;
                    }
                }
                Phase::Estimate => {
                    let k = room.min(c.n - self.done);
                    let cl = sampler.classify_noisy(
                        f,
                        &c.x,
                        c.sigma,
                        &c.estimate,
                        c.key,
                        self.done,
                        k as usize,
                    );
                    let want = SHOWN_SAMPLES.saturating_sub(self.shown.len()).min(cl.len());
                    self.shown.extend_from_slice(&cl[..want]);
                    tally(&mut self.est, cl);
                    self.done += k;
                    used += k;
                    if self.done == c.n {
                        self.done = 0;
                        self.finish_cert(c);
                        if self.is_done() {
                            // the illustration's work is skipped: count it as done
                            used += (RANDOM_DIRECTIONS as u64 + 1) * m + c.n;
                            break;
                        }
                    }
                }
                Phase::Probe => {
                    // direction j = done / m, its draws done % m
                    let j = (self.done / m) as usize;
                    let s = self.done % m;
                    let k = room.min(m - s);
                    let img = moved(&c.x, self.radius(), &self.dirs[j]);
                    let cl =
                        sampler.classify_noisy(f, &img, c.sigma, &c.probe, c.key, s, k as usize);
                    let hits = cl.iter().filter(|&&p| p == self.top).count() as u64;
                    if s == 0 {
                        self.probes.push(0);
                    }
                    self.probes[j] += hits;
                    self.done += k;
                    used += k;
                    if self.done == m * self.dirs.len() as u64 {
                        // the direction with the fewest top votes (the first on a tie)
                        let mut best = 0;
                        for (i, &p) in self.probes.iter().enumerate() {
                            if p < self.probes[best] {
                                best = i;
                            }
                        }
                        self.image = moved(&c.x, self.radius(), &self.dirs[best]);
                        self.done = 0;
                        self.phase = Phase::Perturbed;
                    }
                }
                Phase::Perturbed => {
                    let k = room.min(c.n - self.done);
                    let cl = sampler.classify_noisy(
                        f,
                        &self.image,
                        c.sigma,
                        &c.perturbed,
                        c.key,
                        self.done,
                        k as usize,
                    );
                    tally(&mut self.pert, cl);
                    self.done += k;
                    used += k;
                    if self.done == c.n {
                        self.finish_perturbation(c);
                    }
                }
                Phase::Done => break,
            }
        }
        used
    }

    fn finish_perturbation(&mut self, c: &Ctx) {
        let mut chosen = 0;
        for (i, &p) in self.probes.iter().enumerate() {
            if p < self.probes[chosen] {
                chosen = i;
            }
        }
        let norm = self
            .image
            .iter()
            .zip(&c.x)
            .map(|(&a, &b)| ((a - b) as f64).powi(2))
            .sum::<f64>()
            .sqrt();
        let top = argmax(&self.pert);
        let certified = self.top;
        let p_lower = stats::cp_lower(self.pert[certified as usize], c.n, c.alpha);
        let p = Perturbation {
            kind: if chosen == 0 {
                DirectionKind::MeanDigit
            } else {
                DirectionKind::Random
            },
            chosen: chosen as u32,
            towards: self.towards,
            probe_counts: self.probes.clone(),
            probe_samples: PROBE_SAMPLES.min(c.n),
            norm,
            image: std::mem::take(&mut self.image),
            votes: self.pert.clone(),
            n: c.n,
            top,
            p_lower,
            holds: top == certified,
        };
        if let Some(cert) = self.cert.as_mut() {
            cert.perturbation = Some(p);
        }
        self.dirs = Vec::new();
        self.phase = Phase::Done;
    }
}

/// Building the quantized model.
enum Build {
    /// Not started (calibration comes first).
    Calibrate,
    Finetune(Box<QatTrainer>, Model),
    Ready(Box<IntModel>),
    /// The policy is full precision: nothing to compare.
    None,
}

/// The digit's certification under FP32 and the config's quantized policy, as a [`Job`]
/// whose budget is noisy forward samples (a fine-tuning batch counts [`FT_BATCH_WORK`]).
pub struct DigitJob {
    digit: Digit,
    cfg: ExperimentConfig,
    ctx: Ctx,
    policy: Policy,
    fp32_model: Model,
    sampler: Sampler,
    noisy: Vec<f32>,
    fp32: Run,
    quant: Run,
    build: Build,
    work_done: u64,
    work_total: u64,
    ft_counted: u64,
}

impl DigitJob {
    /// Certify `digit` with `model` (FP32) and the config's policy quantized from it; `data`
    /// gives the class means and, for the quantized model, calibration and fine-tuning.
    pub fn new(
        cfg: &ExperimentConfig,
        model: &Model,
        data: &Dataset,
        digit: Digit,
    ) -> Result<DigitJob> {
        let len = SIDE * SIDE;
        if model.input_len() != len || data.image_len() != len {
            return Err(Error::invalid(
                "model",
                cfg.model,
                "its input is not a 28x28 image",
                "a model of 28x28 digits",
            ));
        }
        let policy = cfg.policy(crate::quant::quant_layers(model).len())?;
        let full = policy.layers.iter().all(|l| l.w.is_full() && l.a.is_full());
        let classes = model.classes;
        // mean training digit per class, in f64 then f32
        let mut sums = vec![vec![0f64; len]; classes];
        let mut counts = vec![0u64; classes];
        for i in 0..data.split_len(Split::Train) {
            let idx = data.index(Split::Train, i);
            let l = data.labels[idx] as usize;
            if l < classes {
                counts[l] += 1;
                for (s, &p) in sums[l].iter_mut().zip(data.image_u8(idx)) {
                    *s += p as f64 / 255.0;
                }
            }
        }
        let means = sums
            .iter()
            .zip(&counts)
            .map(|(s, &k)| s.iter().map(|v| (v / k.max(1) as f64) as f32).collect())
            .collect();
        let seed = cfg.seed;
        let ctx = Ctx {
            sigma: cfg.sigma as f32,
            n0: cfg.n0 as u64,
            n: cfg.n as u64,
            alpha: cfg.alpha,
            cfg_sigma: cfg.sigma,
            key: digit.key,
            seed,
            x: digit.input(),
            means,
            select: NoiseSource::new(seed, PURPOSE_SELECT),
            estimate: NoiseSource::new(seed, PURPOSE_ESTIMATE),
            probe: NoiseSource::new(seed, PURPOSE_PROBE),
            perturbed: NoiseSource::new(seed, PURPOSE_PERTURBED),
        };
        let shown = SHOWN_SAMPLES.min(cfg.n as usize);
        let mut noisy = vec![0f32; shown * len];
        for (j, out) in noisy.chunks_exact_mut(len).enumerate() {
            crate::certify::sampler::noisy_input(
                &ctx.x,
                ctx.sigma,
                &ctx.estimate,
                ctx.key,
                j as u64,
                out,
            );
        }
        let per_run = Run::total(&ctx);
        let build = if full { Build::None } else { Build::Calibrate };
        let build_work = if full {
            0
        } else {
            1 + cfg.qft as u64 * FT_BATCH_WORK + per_run
        };
        Ok(DigitJob {
            digit,
            cfg: cfg.clone(),
            policy,
            fp32_model: model.clone(),
            sampler: Sampler::new(cfg.cert_batch as usize),
            noisy,
            fp32: Run::new("fp32", classes),
            quant: Run::new("quantized", classes),
            build,
            work_done: 0,
            work_total: per_run + build_work,
            ft_counted: 0,
            ctx,
        })
    }

    /// The step's report: everything finished so far.
    pub fn report(&self) -> DigitStep {
        let full = matches!(self.build, Build::None);
        DigitStep {
            digit: self.digit.clone(),
            fragment: self.cfg.to_fragment(),
            sigma: self.cfg.sigma,
            alpha: self.cfg.alpha,
            n0: self.ctx.n0,
            n: self.ctx.n,
            policy: (!full).then(|| self.policy.to_fragment()),
            quant_note: full.then(|| {
                "the policy is full precision (no wb/ab set): choose bits in the bits card, or add e.g. wb=4&ab=4 to the link".to_string()
            }),
            noisy: self.noisy.clone(),
            fp32: self.fp32.is_done().then(|| self.fp32.cert.clone()).flatten(),
            quantized: self.quant.is_done().then(|| self.quant.cert.clone()).flatten(),
            done: self.is_done(),
        }
    }
}

impl Job for DigitJob {
    type Env<'a> = &'a Dataset;
    type Report = DigitStep;

    fn step(
        &mut self,
        data: &Dataset,
        budget: u64,
        clock: &mut dyn FnMut() -> u64,
    ) -> Result<DigitStep> {
        let budget = budget.max(1);
        if !self.fp32.is_done() {
            let used =
                self.fp32
                    .advance(&self.ctx, &mut self.fp32_model, &mut self.sampler, budget);
            self.work_done += used;
            return Ok(self.report());
        }
        match &mut self.build {
            Build::None => {}
            Build::Calibrate => {
                let calib = calibrate(&self.fp32_model, data, &self.cfg.calib_config());
                self.work_done += 1;
                let mut float = self.fp32_model.clone();
                self.build = if self.cfg.qft > 0 {
                    let qc = self.cfg.qat_config(self.cfg.qft as usize, data.train_count);
                    let t = QatTrainer::new(qc, &self.policy, &calib, &mut float, data)?
                        .without_epoch_eval();
                    Build::Finetune(Box::new(t), float)
                } else {
                    let q = QuantizedModel::new(
                        &float,
                        &self.policy,
                        &calib,
                        &self.cfg.quant_config(),
                    )?;
                    Build::Ready(Box::new(IntModel::new(&q)?))
                };
            }
            Build::Finetune(t, float) => {
                let batches = (budget / FT_BATCH_WORK).max(1);
                let p = Job::step(&mut **t, (float, data), batches, clock)?;
                let counted = p.batches_done as u64 * FT_BATCH_WORK;
                self.work_done += counted - self.ft_counted;
                self.ft_counted = counted;
                if p.done {
                    if let Build::Finetune(t, _) = std::mem::replace(&mut self.build, Build::None) {
                        let q = t.into_quantized();
                        self.build = Build::Ready(Box::new(IntModel::new(&q)?));
                    }
                }
            }
            Build::Ready(int) => {
                let used = self
                    .quant
                    .advance(&self.ctx, &mut **int, &mut self.sampler, budget);
                self.work_done += used;
            }
        }
        Ok(self.report())
    }

    fn work(&self) -> Work {
        let phase = if !self.fp32.is_done() {
            "fp32"
        } else {
            match self.build {
                Build::Calibrate => "calibrate",
                Build::Finetune(..) => "finetune",
                Build::Ready(_) if !self.quant.is_done() => "quantized",
                _ => "done",
            }
        };
        Work {
            phase,
            done: self.work_done.min(self.work_total),
            total: self.work_total,
        }
    }

    fn is_done(&self) -> bool {
        self.fp32.is_done()
            && match self.build {
                Build::None => true,
                Build::Ready(_) => self.quant.is_done(),
                _ => false,
            }
    }
}

/// Certify `digit` to the end in steps of `step` samples (the CLI and the tests; the page
/// steps the same job from its worker, and step sizes never change the numbers).
pub fn certify_digit(
    cfg: &ExperimentConfig,
    model: &Model,
    data: &Dataset,
    digit: Digit,
    step: u64,
    mut progress: impl FnMut(&Work),
) -> Result<DigitStep> {
    let mut job = DigitJob::new(cfg, model, data, digit)?;
    let mut clock = || 0u64;
    loop {
        let r = Job::step(&mut job, data, step, &mut clock)?;
        progress(&job.work());
        if r.done {
            return Ok(r);
        }
    }
}
