//! HAQ's quantization environment (Wang et al., CVPR 2019): one episode walks the quantizable
//! layers in order with two actions per layer, weight bits then activation bits.
//!
//! State of a step (10 columns): layer index, C_in, C_out, stride, kernel size, #weights,
//! input feature-map size H*W, depthwise flag, previous action, weight-or-activation flag.
//! The eight static columns are min-max normalised over the layers, x' = (x - min) / (max -
//! min), a constant column becoming 0. The previous action is the raw continuous action of
//! the previous step, already in [0, 1] (0 on the first step); the flag is 1 on a weight
//! step and 0 on an activation step.
//!
//! Action a in [0, 1] -> bits b = round((b_max - b_min + 1) * a + b_min - 0.5), rounding half
//! to even (numpy's `round`, which HAQ uses), clamped to [b_min, b_max]: every bit width gets
//! an equal share of the action interval.

use super::LayerFeatures;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Columns of the state embedding.
pub(crate) const STATE_DIM: usize = 10;
const STATIC_COLS: usize = 8;
/// Widest bit width the search may assign.
pub(crate) const MAX_BITS: u8 = 16;

/// The allowed bit widths, `min..=max` (checked: 1 <= min <= max <= 16).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BitRange {
    min: u8,
    max: u8,
}

impl Default for BitRange {
    /// ARQ/HAQ: 2..=8 bits.
    fn default() -> Self {
        BitRange { min: 2, max: 8 }
    }
}

impl BitRange {
    /// The range `min..=max`; fails unless 1 <= min <= max <= 16.
    pub fn new(min: u8, max: u8) -> Result<BitRange> {
        if min < 1 || max > MAX_BITS || min > max {
            return Err(Error::invalid(
                "bits",
                format!("{min}..{max}"),
                "need 1 <= min <= max",
                format!("1..{MAX_BITS}"),
            ));
        }
        Ok(BitRange { min, max })
    }
    /// The narrowest allowed width.
    pub fn min(&self) -> u8 {
        self.min
    }
    pub(crate) fn max(&self) -> u8 {
        self.max
    }
    /// Whether `b` is in `min..=max`.
    pub fn contains(&self, b: u8) -> bool {
        (self.min..=self.max).contains(&b)
    }
}

/// b = round_half_even((b_max - b_min + 1) * a + b_min - 0.5), clamped to the range.
pub fn action_to_bits(a: f32, range: BitRange) -> u8 {
    let levels = (range.max - range.min) as f64 + 1.0;
    let x = levels * a as f64 + (range.min as f64 - 0.5);
    let b = x.round_ties_even();
    if b.is_nan() || b <= range.min as f64 {
        range.min
    } else if b >= range.max as f64 {
        range.max
    } else {
        b as u8
    }
}

/// The environment: normalised static features per layer and the bit range.
#[derive(Clone, Debug)]
pub struct Env {
    features: Vec<[f32; STATIC_COLS]>,
    range: BitRange,
}

/// Everything one episode produced before evaluation.
#[derive(Clone, Debug, PartialEq)]
pub struct Rollout {
    /// `steps + 1` states; the last one follows the final action (never bootstrapped from).
    pub states: Vec<[f32; STATE_DIM]>,
    /// The raw actions in [0, 1], one per step.
    pub actions: Vec<f32>,
    /// The requested (not yet budget-enforced) bits.
    pub wbits: Vec<u8>,
    pub abits: Vec<u8>,
}

fn raw_columns(f: &LayerFeatures) -> [f64; STATIC_COLS] {
    [
        f.index as f64,
        f.c_in as f64,
        f.c_out as f64,
        f.stride as f64,
        f.kernel as f64,
        f.weights as f64,
        f.in_hw as f64,
        if f.depthwise { 1.0 } else { 0.0 },
    ]
}

impl Env {
    /// An environment over `layers` (at least one) whose static state columns are min-max
    /// normalised over the layers.
    pub fn new(layers: &[LayerFeatures], range: BitRange) -> Result<Env> {
        if layers.is_empty() {
            return Err(Error::State(
                "search: the model has no quantizable layers".into(),
            ));
        }
        let raw: Vec<[f64; STATIC_COLS]> = layers.iter().map(raw_columns).collect();
        let mut features = vec![[0f32; STATIC_COLS]; layers.len()];
        for c in 0..STATIC_COLS {
            let lo = raw.iter().map(|r| r[c]).fold(f64::INFINITY, f64::min);
            let hi = raw.iter().map(|r| r[c]).fold(f64::NEG_INFINITY, f64::max);
            for (f, r) in features.iter_mut().zip(&raw) {
                f[c] = if hi > lo {
                    ((r[c] - lo) / (hi - lo)) as f32
                } else {
                    0.0
                };
            }
        }
        Ok(Env { features, range })
    }

    pub(crate) fn layers(&self) -> usize {
        self.features.len()
    }

    /// Steps per episode: two per layer.
    pub fn steps(&self) -> usize {
        2 * self.features.len()
    }

    /// The bit widths an action maps to.
    pub fn range(&self) -> BitRange {
        self.range
    }

    /// The state of step `step` (layer step / 2; weight step when even).
    pub fn state(&self, step: usize, prev_action: f32) -> [f32; STATE_DIM] {
        let mut s = [0f32; STATE_DIM];
        let layer = step.min(self.steps() - 1) / 2;
        s[..STATIC_COLS].copy_from_slice(&self.features[layer]);
        s[STATIC_COLS] = prev_action;
        s[STATIC_COLS + 1] = if step % 2 == 0 { 1.0 } else { 0.0 };
        s
    }

    /// Run one episode with `policy(step, state) -> action`; actions are clamped to [0, 1].
    pub fn rollout(&self, mut policy: impl FnMut(usize, &[f32; STATE_DIM]) -> f32) -> Rollout {
        let n = self.steps();
        let mut states = Vec::with_capacity(n + 1);
        let mut actions = Vec::with_capacity(n);
        let (mut wbits, mut abits) = (Vec::new(), Vec::new());
        let mut prev = 0.0f32;
        for t in 0..n {
            let s = self.state(t, prev);
            let a = policy(t, &s);
            let a = if a.is_nan() { 0.0 } else { a.clamp(0.0, 1.0) };
            let b = action_to_bits(a, self.range);
            if t % 2 == 0 {
                wbits.push(b);
            } else {
                abits.push(b);
            }
            states.push(s);
            actions.push(a);
            prev = a;
        }
        // terminal successor: same layer features, the final action as "previous action"
        states.push(self.state(n, prev));
        Rollout {
            states,
            actions,
            wbits,
            abits,
        }
    }
}
