//! The policy search: HAQ's DDPG agent (Wang et al., CVPR 2019) over per-layer weight and
//! activation bits, a random-search baseline, and the driver that runs either one episode at a
//! time. See docs/method.md section 7.
//!
//! This module knows nothing about models or quantizers. The caller describes the quantizable
//! layers with [`LayerFeatures`] and supplies an [`Evaluator`]: budget enforcement (ARQ: walk
//! the layers from last to first, lowering activation then weight bits until the BOPs budget
//! holds) and the episode's evaluation (ARQ: fine-tune, certify with IRS, reward
//! 0.1 * (ACR_q - ACR_fp)).
//!
//! All randomness comes from named streams of the search seed: `search-actions` (warm-up and
//! exploration draws; the random baseline uses the same stream, so both see common random
//! numbers), `search-init` (network initialisation) and `search-replay` (batch sampling).

pub(crate) mod ddpg;
pub(crate) mod driver;
pub(crate) mod env;
pub mod mlp;
pub mod replay;

pub use ddpg::{trunc_normal, DdpgConfig};
pub use driver::{EpisodeRecord, SearchConfig, SearchDriver, SearchKind};
pub use env::{action_to_bits, BitRange, Env};

use crate::error::Result;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What the search sees of one quantizable layer (convs and fcs, in network order).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LayerFeatures {
    /// Position among the quantizable layers (0-based).
    pub index: usize,
    /// Input channels (input features of a fully connected layer).
    pub c_in: usize,
    /// Output channels (output features of a fully connected layer).
    pub c_out: usize,
    /// Convolution stride; 1 for a fully connected layer.
    pub stride: usize,
    /// Kernel size k of a k x k conv; 1 for a fully connected layer.
    pub kernel: usize,
    /// Number of weights (biases excluded).
    pub weights: usize,
    /// Input feature-map size H * W (1 for a fully connected layer).
    pub in_hw: usize,
    /// Whether the convolution is depthwise (groups = channels); never so in the zoo.
    pub depthwise: bool,
    /// Multiply-accumulates per image.
    pub macs: u64,
}

/// The result of evaluating one budget-enforced policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EpisodeOutcome {
    /// What the agent maximises (ARQ: 0.1 * (ACR_q - ACR_fp)).
    pub reward: f64,
    /// BOPs of the policy / BOPs of FP32 (the Pareto set's cost axis).
    pub cost_ratio: f64,
    /// Anything else worth reporting (acr, accuracy, sizeBytes, fineTuneMs, ...), by name.
    pub metrics: BTreeMap<String, f64>,
}

impl EpisodeOutcome {
    /// An outcome with no extra metrics.
    pub fn new(reward: f64, cost_ratio: f64) -> EpisodeOutcome {
        EpisodeOutcome {
            reward,
            cost_ratio,
            metrics: BTreeMap::new(),
        }
    }

    /// The outcome with metric `name` set to `value` (builder style).
    pub fn with(mut self, name: &str, value: f64) -> EpisodeOutcome {
        self.metrics.insert(name.to_string(), value);
        self
    }
}

/// How a policy is constrained and scored; supplied by the caller.
pub trait Evaluator {
    /// Bring a requested policy within the budget. Must return one weight and one activation
    /// bit width per layer, each within the search's [`BitRange`].
    fn enforce_budget(&self, wbits: &[u8], abits: &[u8]) -> (Vec<u8>, Vec<u8>);
    /// Evaluate a (budget-enforced) policy.
    fn evaluate(&mut self, wbits: &[u8], abits: &[u8]) -> Result<EpisodeOutcome>;
}
