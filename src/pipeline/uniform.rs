//! The final table's uniform baseline (docs/method.md, "The final comparison"): the best
//! uniform policy within the budget, chosen on the search split, never on the reported points.
//!
//! A uniform policy puts the same weight bits w and the same activation bits a on every layer
//! that is not locked (locked layers keep their bits, as in the search's budget wall). The
//! candidates are all pairs (w, a) in 2..=8 that fit the budget (19 at the default budget of
//! 1/64, where w * a <= 16; 1 at 1/256). Each candidate is evaluated exactly like a search
//! episode of ARQ ([`SearchJob`]):
//! calibrate, `sft` fine-tuning batches, IRS on the search split against the FP32 reference,
//! scored with the search's reward ([`reward`]). The highest reward wins; ties go to the
//! candidate listed first (fewer BOPs first, then fewer weight bits). A single candidate is
//! taken without evaluation.
//!
//! [`SearchJob`]: super::search::SearchJob

use super::eval::{EvalJob, EvalSpec};
use super::search::{reward_of, Method};
use super::Fp32Ref;
use crate::config::ExperimentConfig;
use crate::data::Dataset;
use crate::error::Result;
use crate::job::{Job, Work};
use crate::nn::Model;
use crate::quant::calib::Calibration;
use crate::quant::cost::total_bops;
use crate::quant::{quant_layers, Bits, Policy};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The uniform row's name before its policy is chosen.
pub const UNIFORM_ROW: &str = "uniform (best within budget)";

/// The uniform row's name once `w`, `a` are chosen, e.g. `uniform W2A4 (best within budget)`.
pub fn uniform_label(w: u32, a: u32) -> String {
    format!("uniform W{w}A{a} (best within budget)")
}

/// A fitting uniform pair and its policy.
#[derive(Clone, Debug)]
pub struct Candidate {
    /// Weight bits of every unlocked layer.
    pub w: u32,
    /// Activation bits of every unlocked layer.
    pub a: u32,
    /// The policy: (w, a) on every unlocked layer, locked layers as they are.
    pub policy: Policy,
    /// BOPs of the policy / BOPs of FP32.
    pub bops_ratio: f64,
}

/// The candidates of the uniform row (module docs), in choice order: fewer BOPs first, then
/// fewer weight bits. `locked`: the config's policy (only its locked layers count). Empty when
/// not even W2A2 fits the budget.
pub fn candidates(model: &Model, locked: &Policy, budget: f64) -> Vec<Candidate> {
    let macs: Vec<u64> = quant_layers(model).iter().map(|q| q.macs).collect();
    let fp32: u64 = macs.iter().map(|m| m * 1024).sum();
    let uniform = |w: u32, a: u32| {
        let mut p = locked.clone();
        for l in p.layers.iter_mut().filter(|l| !l.locked) {
            l.w = Bits::new(w).expect("2..=8");
            l.a = Bits::new(a).expect("2..=8");
        }
        p
    };
    // the same test as the budget walk's (quant::cost::enforce_budget)
    let fits = |p: &Policy| total_bops(&macs, p) as f64 <= budget * fp32 as f64;
    let range = Bits::MIN.get()..=Bits::MAX.get();
    let fitting: Vec<(u32, u32)> = range
        .clone()
        .flat_map(|w| range.clone().map(move |a| (w, a)))
        .filter(|&(w, a)| fits(&uniform(w, a)))
        .collect();
    let mut out: Vec<Candidate> = fitting
        .iter()
        .map(|&(w, a)| {
            let policy = uniform(w, a);
            Candidate {
                w,
                a,
                bops_ratio: total_bops(&macs, &policy) as f64 / fp32.max(1) as f64,
                policy,
            }
        })
        .collect();
    crate::order::sort_by_key(&mut out, |c| (total_bops(&macs, &c.policy), c.w));
    out
}

/// One evaluated candidate: what the search's evaluation measured on the search split.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct UniformScore {
    /// Weight bits.
    pub w: u32,
    /// Activation bits.
    pub a: u32,
    /// BOPs / BOPs of FP32.
    pub bops_ratio: f64,
    /// The ARQ search's reward (docs/method.md section 7).
    pub reward: f64,
    /// IRS ACR on the search split.
    pub acr: f64,
    /// Clean accuracy of the base classifier on the search split.
    pub accuracy: f64,
}

/// How the uniform row's policy was chosen.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct UniformChoice {
    /// The chosen weight bits.
    pub w: u32,
    /// The chosen activation bits.
    pub a: u32,
    /// Every candidate's score, in choice order (empty when there was a single candidate).
    pub scores: Vec<UniformScore>,
}

/// The choice of the uniform row as a resumable [`Job`]: one candidate evaluation after the
/// other (certifying the FP32 model on the search split first when no reference is given).
pub struct UniformJob {
    cfg: ExperimentConfig,
    pretrained: Model,
    generation: u64,
    candidates: Vec<Candidate>,
    scores: Vec<UniformScore>,
    fp32: Option<Arc<Fp32Ref>>,
    calib: Option<Calibration>,
    current: Option<Box<EvalJob>>,
    chosen: Option<usize>,
}

impl UniformJob {
    /// `fp32`: the session's FP32 reference of the search split, if it holds one.
    pub fn new(
        cfg: &ExperimentConfig,
        pretrained: &Model,
        candidates: Vec<Candidate>,
        fp32: Option<Arc<Fp32Ref>>,
        generation: u64,
    ) -> UniformJob {
        let chosen = (candidates.len() == 1).then_some(0);
        UniformJob {
            cfg: cfg.clone(),
            pretrained: pretrained.clone(),
            generation,
            candidates,
            scores: vec![],
            fp32,
            calib: None,
            current: None,
            chosen,
        }
    }

    /// The FP32 reference of the search split, once at hand.
    pub fn fp32(&self) -> Option<&Arc<Fp32Ref>> {
        self.fp32.as_ref()
    }

    /// The candidate being evaluated, as "W2A8 (1 of 5)".
    pub fn current(&self) -> Option<String> {
        let c = self.candidates.get(self.scores.len())?;
        Some(format!(
            "W{}A{} ({} of {})",
            c.w,
            c.a,
            self.scores.len() + 1,
            self.candidates.len()
        ))
    }

    /// The chosen candidate and how, once decided.
    fn choice(&self) -> Option<(Candidate, UniformChoice)> {
        let c = self.candidates.get(self.chosen?)?.clone();
        let choice = UniformChoice {
            w: c.w,
            a: c.a,
            scores: self.scores.clone(),
        };
        Some((c, choice))
    }
}

/// The choice as a [`Job`]: the budget is noisy samples (see [`EvalJob`]); the step that
/// decides hands out the chosen candidate.
impl Job for UniformJob {
    type Env<'a> = &'a Dataset;
    type Report = Option<(Candidate, UniformChoice)>;

    fn step(
        &mut self,
        data: &Dataset,
        max_work: u64,
        clock: &mut dyn FnMut() -> u64,
    ) -> Result<Option<(Candidate, UniformChoice)>> {
        if self.chosen.is_some() {
            return Ok(self.choice());
        }
        let job = match &mut self.current {
            Some(job) => job,
            None => {
                let Some(c) = self.candidates.get(self.scores.len()) else {
                    return Err(crate::error::Error::State(
                        "no uniform candidate to evaluate".into(),
                    ));
                };
                let spec = EvalSpec::episode(uniform_label(c.w, c.a), c.policy.clone(), &self.cfg);
                let job = EvalJob::new(
                    spec,
                    &self.cfg,
                    &self.pretrained,
                    data,
                    self.fp32.clone(),
                    self.generation,
                )?
                .with_calibration(self.calib.clone());
                self.current.insert(Box::new(job))
            }
        };
        let Some(out) = job.step(data, max_work, clock)? else {
            return Ok(None);
        };
        if self.calib.is_none() {
            self.calib = job.calibration().cloned();
        }
        if self.fp32.is_none() {
            self.fp32 = job.fp32().cloned();
        }
        self.current = None;
        let fp = self
            .fp32
            .as_ref()
            .ok_or_else(|| crate::error::Error::State("IRS without its FP32 reference".into()))?;
        let r = &out.result;
        let c = &self.candidates[self.scores.len()];
        self.scores.push(UniformScore {
            w: c.w,
            a: c.a,
            bops_ratio: c.bops_ratio,
            reward: reward_of(
                Method::Arq,
                self.cfg.reward,
                fp,
                r.summary.acr,
                r.points_accuracy,
            ),
            acr: r.summary.acr,
            accuracy: r.points_accuracy,
        });
        if self.scores.len() < self.candidates.len() {
            return Ok(None);
        }
        // the first of the highest rewards (candidates are in choice order)
        let best = self.scores.iter().enumerate().fold(0, |b, (i, s)| {
            if s.reward > self.scores[b].reward {
                i
            } else {
                b
            }
        });
        self.chosen = Some(best);
        Ok(self.choice())
    }

    fn work(&self) -> Work {
        match &self.current {
            Some(j) => j.work(),
            None => Work {
                phase: if self.is_done() { "done" } else { "uniform" },
                done: 0,
                total: 0,
            },
        }
    }

    fn is_done(&self) -> bool {
        self.chosen.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::Arch;

    fn pairs(c: &[Candidate]) -> Vec<(u32, u32)> {
        c.iter().map(|c| (c.w, c.a)).collect()
    }

    #[test]
    fn every_pair_within_the_budget() {
        let m = Model::build(Arch::Lenet, 1);
        let n = quant_layers(&m).len();
        let fp = Policy::fp32(n);
        // 1/64 of FP32: w * a <= 16 on every layer; ordered by BOPs, then weight bits
        let c = candidates(&m, &fp, 1.0 / 64.0);
        let want = [
            (2, 2),
            (2, 3),
            (3, 2),
            (2, 4),
            (4, 2),
            (3, 3),
            (2, 5),
            (5, 2),
            (2, 6),
            (3, 4),
            (4, 3),
            (6, 2),
            (2, 7),
            (7, 2),
            (3, 5),
            (5, 3),
            (2, 8),
            (4, 4),
            (8, 2),
        ];
        assert_eq!(pairs(&c), want);
        assert!(c.iter().all(|c| c.bops_ratio <= 1.0 / 64.0));
        assert_eq!(pairs(&candidates(&m, &fp, 1.0 / 256.0)), [(2, 2)]);
        assert!(candidates(&m, &fp, 1.0 / 512.0).is_empty());
        assert_eq!(candidates(&m, &fp, 1.0).len(), 49);
    }

    #[test]
    fn locked_layers_keep_their_bits_and_count() {
        let m = Model::build(Arch::Lenet, 1);
        let n = quant_layers(&m).len();
        let mut locked = Policy::fp32(n);
        locked.layers[0].locked = true;
        locked.layers[0].w = Bits::new(8).unwrap();
        locked.layers[0].a = Bits::new(8).unwrap();
        let c = candidates(&m, &locked, 1.0 / 16.0);
        assert!(!c.is_empty());
        for c in &c {
            assert_eq!(
                (c.policy.layers[0].w.get(), c.policy.layers[0].a.get()),
                (8, 8)
            );
            assert!(c.policy.layers[0].locked);
            assert!(c.policy.layers[1..]
                .iter()
                .all(|l| l.w.get() == c.w && l.a.get() == c.a));
        }
        // conv1 at W8A8 alone costs more than 1/64 of FP32's BOPs: nothing fits
        assert!(candidates(&m, &locked, 1.0 / 64.0).is_empty());
    }
}
