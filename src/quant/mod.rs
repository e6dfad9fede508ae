//! Mixed-precision quantization (ARQ, Yang et al., arXiv 2410.24214; HAQ, Wang et al.,
//! CVPR 2019), docs/method.md sections 5 and 6.
//!
//! - [`policy`]: per-layer weight / activation bits ([`Bits`], 2..=8 or full precision), locks,
//!   the compact `wb=8,4,4,4,8&ab=...` text form.
//! - [`quantizer`]: symmetric per-channel weight and unsigned / signed activation quantizers,
//!   round half to even.
//! - [`calib`]: activation ranges from a seeded, noisy subset of the training split.
//! - [`fakequant`]: the f32 fake-quant model (the reference, and what QAT trains).
//! - [`int_kernels`], [`intmodel`]: the real integer path (i16 codes, i32 accumulation,
//!   requantization), a [`crate::certify::BaseClassifier`] that is what gets certified.
//! - [`agree`]: the measured agreement of the two paths against their documented bound.
//! - [`cost`]: MACs, BOPs, size, and HAQ's budget enforcement.
//! - [`qat`]: quantization-aware fine-tuning (straight-through estimator, Gaussian noise).
//! - [`baselines`]: uniform W8A8 / W4A4 / W2A2 and "first/last 8, rest 4".
//!
//! Activation bits of layer i quantize layer i's *input*, so BOPs = MACs * b_w * b_a.

pub(crate) mod agree;
pub(crate) mod baselines;
pub mod calib;
pub mod cost;
pub(crate) mod fakequant;
pub mod int_kernels;
pub(crate) mod intmodel;
pub mod policy;
pub(crate) mod qat;
pub mod quantizer;

pub use agree::agreement;
pub use baselines::Preset;
pub use calib::{calibrate, ActClip, CalibConfig, Calibration};
pub use cost::{cost, enforce_budget, Cost};
pub use fakequant::{QuantConfig, QuantizedModel};
pub use intmodel::IntModel;
pub use policy::{Bits, LayerBits, Policy};
pub use qat::{QatConfig, QatTrainer};
pub use quantizer::{ActQuant, WeightClip, WeightQuant};

use crate::certify::{count_correct, BaseClassifier};
use crate::data::{Dataset, Split};
use crate::nn::layers::{Layer, Shape};
use crate::nn::Model;
use serde::Serialize;
use std::ops::Range;

/// One quantizable layer (conv, projection shortcut or linear) of a model, in network order.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QLayer {
    /// Position in `model.layers`.
    pub index: usize,
    /// `conv1`, `conv2`, `proj3`, `fc4`, ... (the numbering of [`Model::info`]).
    pub name: String,
    /// `conv`, `shortcut` or `linear`.
    pub kind: &'static str,
    /// Input shape (channels, height, width).
    pub in_shape: Shape,
    /// Output shape (channels, height, width).
    pub out_shape: Shape,
    /// Multiply-accumulates per image.
    pub macs: u64,
    /// Number of weights.
    pub weights: usize,
    /// Number of biases (one per output channel).
    pub biases: usize,
    /// Output channels (convolution) or output features (linear).
    pub cout: usize,
    /// The input may be negative: the (noisy) image, or no ReLU since the previous layer.
    pub signed_input: bool,
    /// The non-quantizable layers after this one, up to the next quantizable layer.
    pub glue: Range<usize>,
    /// Position in `model.layers` whose (main-stream) input is this layer's input: `index`,
    /// except for a projection shortcut, whose input is its residual block's (the Fork's).
    #[serde(skip)]
    pub(crate) input_at: usize,
    /// Position in `model.layers` in front of which this layer's input quantizer sits: the
    /// block's Fork for a block's first convolution (so the skip branch carries the same
    /// quantized input), else `index` (a shortcut's quantizer acts on the skip branch).
    #[serde(skip)]
    pub(crate) quant_at: usize,
}

/// The quantizable layers of `model`, in network order.
pub fn quant_layers(model: &Model) -> Vec<QLayer> {
    let (io, forks) = (model.io_shapes(), model.forks());
    let idx: Vec<usize> = (0..model.layers.len())
        .filter(|&i| model.layers[i].is_quantizable())
        .collect();
    let mut out: Vec<QLayer> = Vec::with_capacity(idx.len());
    for (j, &i) in idx.iter().enumerate() {
        let l = &model.layers[i];
        let next = idx.get(j + 1).copied().unwrap_or(model.layers.len());
        let input_at = match l {
            Layer::Shortcut(_) => forks[i].expect("a Fork opened the block"),
            _ => i,
        };
        let quant_at = if i > 0 && matches!(model.layers[i - 1], Layer::Fork) {
            i - 1
        } else {
            i
        };
        // a ReLU since the previous quantizable layer (a shortcut: since the one before its
        // block, which is the block's first convolution's answer)
        let signed_input = match l {
            Layer::Shortcut(_) => out
                .iter()
                .find(|q| q.index == input_at + 1)
                .is_none_or(|q| q.signed_input),
            _ => {
                let prev_end = if j == 0 { 0 } else { idx[j - 1] + 1 };
                !model.layers[prev_end..i]
                    .iter()
                    .any(|l| matches!(l, Layer::Relu))
            }
        };
        let (weights, cout) = match l {
            Layer::Conv(c) | Layer::Shortcut(c) => (c.w.len(), c.cout),
            Layer::Linear(f) => (f.w.len(), f.fout),
            _ => unreachable!("quantizable layers are conv, shortcut or linear"),
        };
        out.push(QLayer {
            index: i,
            name: format!("{}{}", crate::nn::model::quant_prefix(l), j + 1),
            kind: l.kind(),
            in_shape: io[i].0,
            out_shape: io[i].1,
            macs: l.macs(io[i].0) as u64,
            weights,
            biases: cout,
            cout,
            signed_input,
            glue: i + 1..next,
            input_at,
            quant_at,
        });
    }
    out
}

/// Where a residual block's sum is quantized: for the [`Layer::Add`] at `p`, the first
/// quantizable layer after it (j, its position in `layers`) whose input quantizer then
/// holds the sum, and whether a global average pool lies in between (the sum then keeps the
/// quantizer's scale but not its upper clip, which applies after the pooling). None when
/// no quantizable layer follows.
pub(crate) fn add_target(model: &Model, layers: &[QLayer], p: usize) -> Option<(usize, bool)> {
    let mut pooled = false;
    for i in p + 1..model.layers.len() {
        match &model.layers[i] {
            Layer::GlobalAvgPool => pooled = true,
            l if l.is_quantizable() => {
                return layers
                    .iter()
                    .position(|q| q.index == i)
                    .map(|j| (j, pooled))
            }
            _ => {}
        }
    }
    None
}

/// Clean accuracy of any base classifier on a whole split, in f32 (the training and QAT
/// progress figures; [`crate::pipeline::points_accuracy`] is the f64 one on a point set).
pub fn accuracy<F: BaseClassifier + ?Sized>(f: &mut F, data: &Dataset, split: Split) -> f32 {
    let n = data.split_len(split);
    let correct = count_correct(
        f,
        n,
        |i, x| data.image_f32(data.index(split, i), x),
        |i| data.labels[data.index(split, i)],
    );
    correct as f32 / n.max(1) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zoo_quantizable_layers() {
        let m = Model::zoo("lenet", 0).unwrap();
        let q = quant_layers(&m);
        let names: Vec<&str> = q.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["conv1", "conv2", "fc3", "fc4", "fc5"]);
        let signed: Vec<bool> = q.iter().map(|l| l.signed_input).collect();
        assert_eq!(signed, [true, false, false, false, false]);
        assert_eq!(q.iter().map(|l| l.macs).sum::<u64>(), 281_640);
        assert_eq!(q[0].glue, 1..3);
        assert_eq!(q[4].glue, 12..12);
        let c = quant_layers(&Model::zoo("cnn3", 0).unwrap());
        assert_eq!(c.len(), 4);
        assert_eq!(c.iter().map(|l| l.macs).sum::<u64>(), 1_950_592);
    }

    #[test]
    fn resnet_quantizable_layers() {
        let m = Model::zoo("resnet", 0).unwrap();
        let q = quant_layers(&m);
        assert_eq!(q.len(), 16);
        let names: Vec<&str> = q.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "conv1", "conv2", "conv3", "conv4", "conv5", "conv6", "conv7", "proj8", "conv9",
                "conv10", "conv11", "conv12", "proj13", "conv14", "conv15", "fc16"
            ]
        );
        // only the image is signed: every block input and the pooled features follow a ReLU
        assert!(q[0].signed_input && q[1..].iter().all(|l| !l.signed_input));
        // a projection reads its block's input: 8 x 28 x 28 into stage 2, at stride 2
        assert_eq!((q[7].in_shape, q[7].out_shape), ([8, 28, 28], [16, 14, 14]));
        assert_eq!(q[7].input_at, q[5].index - 1);
        assert_eq!(q[5].quant_at, q[5].index - 1);
        assert_eq!(q[6].quant_at, q[6].index);
        assert_eq!(q.iter().map(|l| l.macs).sum::<u64>(), 5_074_368);
        assert_eq!(q[15].in_shape, [32, 1, 1]);
        // block 1's sum is held by block 2's first conv's quantizer; the last block's by the
        // fc's, through the pooling
        let add = |k: usize| {
            (0..m.layers.len())
                .filter(|&i| matches!(m.layers[i], Layer::Add))
                .nth(k)
                .unwrap()
        };
        assert_eq!(add_target(&m, &q, add(0)), Some((3, false)));
        assert_eq!(add_target(&m, &q, add(5)), Some((15, true)));
    }
}
