//! Per-layer sensitivity: how much the smoothed classifier's average certified radius (ACR)
//! and the base classifier's clean accuracy drop when ONLY one quantizable layer goes to k
//! bits (weights, activations or both) while every other layer stays FP32.
//!
//! Each layer's policy gets exactly a search episode's evaluation ([`super::search`]):
//! calibrate, `sft` noise-aware fine-tuning batches, then IRS against the FP32 reference of
//! the search split ([`Points::Search`]). The deltas are taken against that reference as the
//! search's reward is: ΔACR = ACR_q (IRS) − ACR_FP32 (CERTIFY). IRS radii are capped lower
//! than CERTIFY's (R_max at n_p and alpha + alpha_zeta instead of n and alpha), so every
//! layer's ΔACR carries a common offset; the job therefore also certifies the unquantized
//! FP32 model through the same IRS once ([`SensitivityReference::irs_floor_acr`]): the score
//! of a quantization that changes nothing. Rows are independent of each other and of the
//! step budget.

use super::eval::{EvalJob, EvalSpec, IrsStats};
use super::{Fp32Job, Fp32Ref, Points};
use crate::certify::{metrics::GRID_SMALL, IrsGuarantee, IrsJob, Outcome, Summary};
use crate::config::ExperimentConfig;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::job::{Job, Work};
use crate::nn::Model;
use crate::quant::{quant_layers, Bits, Calibration, Policy};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Which side of a layer goes to k bits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub enum Side {
    /// The layer's weights only (its input activations stay FP32).
    W,
    /// The layer's input activations only (its weights stay FP32).
    A,
    /// Weights and input activations.
    #[default]
    Both,
}

/// What `--side` accepts, for error messages.
pub const SIDE_ALLOWED: &str = "w, a, both";
/// What `--bits` accepts, for error messages.
pub const SENSITIVITY_BITS_ALLOWED: &str = "an integer 2..=8";

impl Side {
    /// `w`, `a` or `both`; errors name `side`.
    pub fn parse(s: &str) -> Result<Side> {
        match s {
            "w" => Ok(Side::W),
            "a" => Ok(Side::A),
            "both" => Ok(Side::Both),
            _ => Err(Error::invalid(
                "side",
                s,
                "not a side of a layer",
                SIDE_ALLOWED,
            )),
        }
    }

    /// The word `parse` accepts.
    pub fn name(self) -> &'static str {
        match self {
            Side::W => "w",
            Side::A => "a",
            Side::Both => "both",
        }
    }
}

/// The bit width of a sensitivity run: 2..=8 (full precision is not a quantization); errors
/// name `bits`.
pub fn sensitivity_bits(k: u32) -> Result<Bits> {
    match k {
        2..=8 => Bits::new(k),
        _ => Err(Error::invalid(
            "bits",
            k,
            "not a quantized bit width",
            SENSITIVITY_BITS_ALLOWED,
        )),
    }
}

/// The policy of row `layer`: every layer FP32 except `layer`, whose `side` is at `bits`.
pub fn single_layer_policy(layers: usize, layer: usize, bits: Bits, side: Side) -> Policy {
    let mut p = Policy::fp32(layers);
    if let Some(l) = p.layers.get_mut(layer) {
        if side != Side::A {
            l.w = bits;
        }
        if side != Side::W {
            l.a = bits;
        }
    }
    p
}

/// One layer's row of the sensitivity table.
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct SensitivityRow {
    /// Index among the quantizable layers (network order).
    pub layer: usize,
    /// The layer's name (`conv1`, `fc3`, ...).
    pub name: String,
    /// `conv` or `linear`.
    pub kind: String,
    /// The layer's bit width in this row.
    pub bits: u32,
    /// Which side of the layer is at `bits`.
    pub side: Side,
    /// `wb=..&ab=..` of the row's policy.
    pub fragment: String,
    /// ACR of the smoothed quantized classifier on the search split (IRS).
    pub acr: f64,
    /// `acr` − the FP32 reference's ACR (CERTIFY), as a search episode's reward sees it.
    pub delta_acr: f64,
    /// The quantized base classifier's clean accuracy on the search split.
    pub accuracy: f64,
    /// `accuracy` − the FP32 base classifier's on the same digits.
    pub delta_accuracy: f64,
    /// BOPs of the row's policy / BOPs of FP32.
    pub bops_ratio: f64,
    /// IRS bookkeeping: samples, and how many points were incremental, fallback, skipped.
    pub irs: Option<IrsStats>,
}

/// What every row is compared with: the FP32 model on the search split.
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct SensitivityReference {
    /// Points of the search split.
    pub points: usize,
    /// ACR of the FP32 smoothed classifier (CERTIFY at n0, n, alpha).
    pub fp32_acr: f64,
    /// Clean accuracy of the FP32 base classifier.
    pub fp32_accuracy: f64,
    /// ACR of the unquantized FP32 model certified through the rows' IRS: what a quantization
    /// that changes nothing would score (the IRS radius cap makes it lower than `fp32_acr`).
    pub irs_floor_acr: f64,
    /// The largest radius an IRS certificate can give (R_max at n_p, alpha + alpha_zeta).
    pub irs_r_max: f64,
    /// The largest radius the FP32 certificates can give (R_max at n, alpha).
    pub fp32_r_max: f64,
}

/// Where the run stands.
enum Phase {
    /// Certifying the FP32 model on the search split (no reference was at hand).
    Fp32(Box<Fp32Job>),
    /// Certifying the unquantized model through IRS against its own cache (the floor).
    Floor(Box<IrsJob>),
    /// Evaluating one layer's policy (`None` between rows).
    Rows(Option<Box<EvalJob>>),
}

/// The per-layer sensitivity table as a resumable [`Job`]: one row per quantizable layer,
/// in network order.
pub struct SensitivityJob {
    cfg: ExperimentConfig,
    pretrained: Model,
    generation: u64,
    bits: Bits,
    side: Side,
    layers: Vec<(String, &'static str)>,
    phase: Phase,
    fp32: Option<Arc<Fp32Ref>>,
    reference: Option<SensitivityReference>,
    /// Activation ranges of the pretrained model, computed by the first row.
    calib: Option<Calibration>,
    rows: Vec<SensitivityRow>,
}

impl SensitivityJob {
    /// `fp32`: a ready FP32 reference of the search split, if one is at hand (else the job
    /// certifies it first); `generation` identifies `pretrained`'s weights.
    pub fn new(
        cfg: &ExperimentConfig,
        pretrained: &Model,
        data: &Dataset,
        fp32: Option<Arc<Fp32Ref>>,
        generation: u64,
        bits: Bits,
        side: Side,
    ) -> Result<SensitivityJob> {
        let bits = sensitivity_bits(bits.get())?;
        let layers = quant_layers(pretrained)
            .into_iter()
            .map(|q| (q.name, q.kind))
            .collect();
        let mut job = SensitivityJob {
            cfg: cfg.clone(),
            pretrained: pretrained.clone(),
            generation,
            bits,
            side,
            layers,
            phase: Phase::Rows(None),
            fp32: None,
            reference: None,
            calib: None,
            rows: vec![],
        };
        job.phase = match fp32 {
            Some(r) => job.floor(r),
            None => Phase::Fp32(Box::new(Fp32Job::new(
                cfg,
                pretrained,
                data,
                Points::Search,
                generation,
            )?)),
        };
        Ok(job)
    }

    /// The floor phase for a finished FP32 reference.
    fn floor(&mut self, r: Arc<Fp32Ref>) -> Phase {
        let job = IrsJob::new(r.cache.clone(), self.cfg.irs_params());
        self.fp32 = Some(r);
        Phase::Floor(Box::new(job))
    }

    /// The FP32 reference of the search split, once certified (the session keeps it for
    /// the search).
    pub fn fp32(&self) -> Option<&Arc<Fp32Ref>> {
        self.fp32.as_ref()
    }

    /// The FP32 reference's numbers and the IRS floor, once both are certified.
    pub fn reference(&self) -> Option<&SensitivityReference> {
        self.reference.as_ref()
    }

    /// The rows finished so far, in layer order.
    pub fn rows(&self) -> &[SensitivityRow] {
        &self.rows
    }

    /// The number of rows the table will have (the quantizable layers).
    pub fn rows_total(&self) -> usize {
        self.layers.len()
    }

    /// The bit width and side of every row.
    pub fn setting(&self) -> (u32, Side) {
        (self.bits.get(), self.side)
    }

    /// The name of the layer in progress, if a row is being evaluated.
    pub fn current(&self) -> Option<&str> {
        match &self.phase {
            Phase::Rows(Some(_)) => self.layers.get(self.rows.len()).map(|l| l.0.as_str()),
            _ => None,
        }
    }

    /// The reference from the finished floor certification.
    fn finish_floor(&mut self, job: &IrsJob) -> Result<SensitivityReference> {
        let fp = self
            .fp32
            .as_ref()
            .ok_or_else(|| Error::State("the IRS floor needs the FP32 reference".into()))?;
        let outcomes: Vec<Outcome> = job.records().iter().map(Outcome::from).collect();
        let c = &self.cfg;
        let g = IrsGuarantee::from(&c.irs_params());
        let floor = Summary::irs(
            "FP32 via IRS",
            c.sigma,
            c.n as u64,
            c.alpha,
            g,
            &outcomes,
            &GRID_SMALL,
        );
        Ok(SensitivityReference {
            points: fp.summary.points,
            fp32_acr: fp.summary.acr,
            fp32_accuracy: fp.base_accuracy,
            irs_floor_acr: floor.acr,
            irs_r_max: floor.r_max,
            fp32_r_max: fp.summary.r_max,
        })
    }

    /// The evaluation of the next row's policy, if any row is left.
    fn next_row(&self, data: &Dataset) -> Result<Option<EvalJob>> {
        let j = self.rows.len();
        let Some((name, _)) = self.layers.get(j) else {
            return Ok(None);
        };
        let spec = EvalSpec::episode(
            name.clone(),
            single_layer_policy(self.layers.len(), j, self.bits, self.side),
            &self.cfg,
        );
        let job = EvalJob::new(
            spec,
            &self.cfg,
            &self.pretrained,
            data,
            self.fp32.clone(),
            self.generation,
        )?
        .with_calibration(self.calib.clone());
        Ok(Some(job))
    }
}

/// Sensitivity as a [`Job`]: the budget is noisy samples (a fine-tuning batch counts as in
/// [`EvalJob`]); a step hands out the row it finished, if any. The work is the current
/// phase's (the FP32 reference, the floor, or the current row).
impl Job for SensitivityJob {
    type Env<'a> = &'a Dataset;
    type Report = Option<SensitivityRow>;

    fn step(
        &mut self,
        data: &Dataset,
        max_work: u64,
        clock: &mut dyn FnMut() -> u64,
    ) -> Result<Option<SensitivityRow>> {
        let max_work = max_work.max(1);
        if matches!(self.phase, Phase::Rows(None)) {
            // the next row's evaluation, if any row is left
            self.phase = Phase::Rows(self.next_row(data)?.map(Box::new));
        }
        match &mut self.phase {
            Phase::Fp32(job) => {
                if let Some(r) = Job::step(&mut **job, (), max_work, clock)?.reference {
                    self.phase = self.floor(Arc::new(r));
                }
                Ok(None)
            }
            Phase::Floor(job) => {
                job.step(&mut self.pretrained, max_work);
                if job.is_done() {
                    let job = std::mem::replace(&mut self.phase, Phase::Rows(None));
                    if let Phase::Floor(job) = job {
                        self.reference = Some(self.finish_floor(&job)?);
                    }
                }
                Ok(None)
            }
            Phase::Rows(current) => {
                let Some(job) = current.as_mut() else {
                    return Ok(None);
                };
                let Some(out) = job.step(data, max_work, clock)? else {
                    return Ok(None);
                };
                if self.calib.is_none() {
                    self.calib = job.calibration().cloned();
                }
                *current = None;
                let r = &out.result;
                let j = self.rows.len();
                let (name, kind) = self.layers[j].clone();
                let fp_acr = r.fp32.as_ref().map_or(f64::NAN, |s| s.acr);
                let fp_acc = r.fp32_points_accuracy.unwrap_or(f64::NAN);
                let row = SensitivityRow {
                    layer: j,
                    name,
                    kind: kind.to_string(),
                    bits: self.bits.get(),
                    side: self.side,
                    fragment: r.fragment.clone(),
                    acr: r.summary.acr,
                    delta_acr: r.summary.acr - fp_acr,
                    accuracy: r.points_accuracy,
                    delta_accuracy: r.points_accuracy - fp_acc,
                    bops_ratio: r.cost.ratio,
                    irs: r.irs.clone(),
                };
                self.rows.push(row.clone());
                Ok(Some(row))
            }
        }
    }

    fn work(&self) -> Work {
        match &self.phase {
            Phase::Fp32(j) => j.work(),
            Phase::Floor(j) => {
                let p = j.progress();
                Work {
                    phase: "irs-floor",
                    done: p.samples_done,
                    total: p.samples_total,
                }
            }
            Phase::Rows(Some(j)) => j.work(),
            Phase::Rows(None) => Work {
                phase: if self.is_done() {
                    "done"
                } else {
                    "sensitivity"
                },
                done: 0,
                total: 0,
            },
        }
    }

    fn is_done(&self) -> bool {
        matches!(self.phase, Phase::Rows(None)) && self.rows.len() == self.layers.len()
    }
}

/// Ranks of the rows by ΔACR, worst (most negative) first, ties broken by Δ accuracy then
/// layer order: `rank[i]` is row i's rank, 1-based.
pub fn ranks(rows: &[SensitivityRow]) -> Vec<usize> {
    let order = crate::order::stable_order(rows.len(), &|a, b| {
        let (ra, rb) = (&rows[a], &rows[b]);
        ra.delta_acr
            .total_cmp(&rb.delta_acr)
            .then(ra.delta_accuracy.total_cmp(&rb.delta_accuracy))
            .then(a.cmp(&b))
    });
    let mut rank = vec![0; rows.len()];
    for (r, &i) in order.iter().enumerate() {
        rank[i] = r + 1;
    }
    rank
}

/// The table in Markdown, in layer order, with a rank column (1 = most sensitive).
pub fn markdown(rows: &[SensitivityRow], reference: Option<&SensitivityReference>) -> String {
    let rank = ranks(rows);
    let mut s = String::from(
        "| rank | layer | kind | bits | side | ACR (IRS) | ΔACR | ΔACR vs IRS floor | clean acc. | Δ acc. (pts) | BOPs % | IRS incr./fallback/skipped |\n\
         |---:|---|---|---:|---|---:|---:|---:|---:|---:|---:|---|\n",
    );
    let floor = reference.map(|r| r.irs_floor_acr - r.fp32_acr);
    for (i, r) in rows.iter().enumerate() {
        let vs_floor = floor.map_or("".to_string(), |f| format!("{:+.3}", r.delta_acr - f));
        let irs = r.irs.as_ref().map_or("".to_string(), |s| {
            format!("{}/{}/{}", s.incremental, s.fallback, s.skipped)
        });
        s.push_str(&format!(
            "| {} | {} {} | {} | {} | {} | {:.3} | {:+.3} | {vs_floor} | {:.3} | {:+.1} | {:.3} | {irs} |\n",
            rank[i],
            r.layer,
            r.name,
            r.kind,
            r.bits,
            r.side.name(),
            r.acr,
            r.delta_acr,
            r.accuracy,
            100.0 * r.delta_accuracy,
            100.0 * r.bops_ratio,
        ));
    }
    s
}
