//! Test evaluators for the search (shared by tests/search_ddpg.rs and tests/search_env.rs).
//!
//! [`ToyEvaluator`]: no model, just a known target policy. reward =
//! -(sum_l |w_l - w*_l| + |a_l - a*_l|) / (2L), so 0 exactly at the target; cost ratio =
//! sum MACs_l w_l a_l / sum MACs_l * 32 * 32 (docs/method.md section 5); budget enforcement is
//! the library's HAQ wall, `arq::quant::cost::enforce_budget`. The real evaluator lives with
//! the quantization code; this one only exercises the search. [`FnEvaluator`] builds an
//! evaluator from two closures.
#![allow(dead_code)] // each test binary uses part of this module

use arq::error::Result;
use arq::quant::cost::enforce_budget;
use arq::quant::{Bits, Policy};
use arq::search::{BitRange, EpisodeOutcome, Evaluator, LayerFeatures};

/// The five quantizable layers of the lenet of docs/method.md section 8 (281,640 MACs).
pub fn lenet_features() -> Vec<LayerFeatures> {
    // (c_in, c_out, kernel, weights, in_hw, macs)
    let rows: [(usize, usize, usize, usize, usize, u64); 5] = [
        (1, 6, 5, 150, 784, 86_400),
        (6, 16, 5, 2_400, 144, 153_600),
        (256, 120, 1, 30_720, 1, 30_720),
        (120, 84, 1, 10_080, 1, 10_080),
        (84, 10, 1, 840, 1, 840),
    ];
    rows.iter()
        .enumerate()
        .map(
            |(i, &(c_in, c_out, kernel, weights, in_hw, macs))| LayerFeatures {
                index: i,
                c_in,
                c_out,
                stride: 1,
                kernel,
                weights,
                in_hw,
                depthwise: false,
                macs,
            },
        )
        .collect()
}

/// Target-distance evaluator with a BOPs budget.
#[derive(Clone, Debug)]
pub struct ToyEvaluator {
    pub macs: Vec<u64>,
    pub target_w: Vec<u8>,
    pub target_a: Vec<u8>,
    /// Largest allowed cost ratio (e.g. 1/64).
    pub budget: f64,
    pub range: BitRange,
    /// Evaluations so far.
    pub evaluations: usize,
}

impl ToyEvaluator {
    pub fn new(
        layers: &[LayerFeatures],
        target_w: Vec<u8>,
        target_a: Vec<u8>,
        budget: f64,
        range: BitRange,
    ) -> ToyEvaluator {
        assert!(target_w.len() == layers.len() && target_a.len() == layers.len());
        ToyEvaluator {
            macs: layers.iter().map(|l| l.macs).collect(),
            target_w,
            target_a,
            budget,
            range,
            evaluations: 0,
        }
    }

    /// Sum MACs * w * a over sum MACs * 1024.
    pub fn cost_ratio(&self, w: &[u8], a: &[u8]) -> f64 {
        let num: u64 = (0..w.len())
            .map(|l| self.macs[l] * w[l] as u64 * a[l] as u64)
            .sum();
        let den: u64 = self.macs.iter().map(|m| m * 1024).sum();
        num as f64 / den as f64
    }

    /// Mean absolute bit distance to the target.
    pub fn distance(&self, w: &[u8], a: &[u8]) -> f64 {
        let d: u32 = (0..w.len())
            .map(|l| {
                w[l].abs_diff(self.target_w[l]) as u32 + a[l].abs_diff(self.target_a[l]) as u32
            })
            .sum();
        d as f64 / (2 * w.len()) as f64
    }
}

impl Evaluator for ToyEvaluator {
    /// HAQ's wall at `range.min()`; an unreachable budget leaves every layer at `range.min()`.
    fn enforce_budget(&self, wbits: &[u8], abits: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let bits = |b: &[u8]| -> Vec<Bits> {
            b.iter()
                .map(|&b| Bits::new(b as u32).expect("search bits are 2..=8"))
                .collect()
        };
        let mut p = Policy::uniform(wbits.len(), Bits::MAX, Bits::MAX);
        for (l, (w, a)) in p
            .layers
            .iter_mut()
            .zip(bits(wbits).into_iter().zip(bits(abits)))
        {
            (l.w, l.a) = (w, a);
        }
        let min = Bits::new(self.range.min() as u32).expect("a BitRange is within 2..=8");
        if enforce_budget(&self.macs, &mut p, self.budget, min).is_err() {
            let floor = vec![min.get() as u8; wbits.len()];
            return (floor.clone(), floor);
        }
        (
            p.layers.iter().map(|l| l.w.get() as u8).collect(),
            p.layers.iter().map(|l| l.a.get() as u8).collect(),
        )
    }

    fn evaluate(&mut self, wbits: &[u8], abits: &[u8]) -> Result<EpisodeOutcome> {
        self.evaluations += 1;
        let d = self.distance(wbits, abits);
        Ok(EpisodeOutcome::new(-d, self.cost_ratio(wbits, abits)).with("distance", d))
    }
}

/// An [`Evaluator`] from two closures.
pub struct FnEvaluator<B, F> {
    pub budget: B,
    pub eval: F,
}

impl<B, F> Evaluator for FnEvaluator<B, F>
where
    B: Fn(&[u8], &[u8]) -> (Vec<u8>, Vec<u8>),
    F: FnMut(&[u8], &[u8]) -> Result<EpisodeOutcome>,
{
    fn enforce_budget(&self, wbits: &[u8], abits: &[u8]) -> (Vec<u8>, Vec<u8>) {
        (self.budget)(wbits, abits)
    }
    fn evaluate(&mut self, wbits: &[u8], abits: &[u8]) -> Result<EpisodeOutcome> {
        (self.eval)(wbits, abits)
    }
}
