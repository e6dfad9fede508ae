//! A synthetic evaluator for tests and agent benchmarks: no model, just a known target
//! policy. reward = -(sum_l |w_l - w*_l| + |a_l - a*_l|) / (2L), so 0 exactly at the target;
//! cost ratio = sum MACs_l w_l a_l / sum MACs_l * 32 * 32 (docs/method.md section 5); budget
//! enforcement is HAQ's wall (walk layers last to first, lowering activation bits then weight
//! bits by one, not below b_min, until the cost fits). The real evaluator lives with the
//! quantization code; this one only exercises the search.

use super::env::BitRange;
use super::{EpisodeOutcome, Evaluator, LayerFeatures};
use crate::error::Result;

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
    fn enforce_budget(&self, wbits: &[u8], abits: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let (mut w, mut a) = (wbits.to_vec(), abits.to_vec());
        let min = self.range.min();
        while self.cost_ratio(&w, &a) > self.budget {
            let mut changed = false;
            for l in (0..w.len()).rev() {
                if a[l] > min {
                    a[l] -= 1;
                    changed = true;
                    if self.cost_ratio(&w, &a) <= self.budget {
                        return (w, a);
                    }
                }
                if w[l] > min {
                    w[l] -= 1;
                    changed = true;
                    if self.cost_ratio(&w, &a) <= self.budget {
                        return (w, a);
                    }
                }
            }
            if !changed {
                break; // everything at b_min: the budget cannot be met
            }
        }
        (w, a)
    }

    fn evaluate(&mut self, wbits: &[u8], abits: &[u8]) -> Result<EpisodeOutcome> {
        self.evaluations += 1;
        let d = self.distance(wbits, abits);
        Ok(EpisodeOutcome::new(-d, self.cost_ratio(wbits, abits)).with("distance", d))
    }
}
