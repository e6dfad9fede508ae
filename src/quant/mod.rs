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

/// One quantizable layer (conv or linear) of a model, in network order.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QLayer {
    /// Position in `model.layers`.
    pub index: usize,
    /// `conv1`, `conv2`, `fc3`, ... (the numbering of [`Model::info`]).
    pub name: String,
    /// `conv` or `linear`.
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
}

/// The quantizable layers of `model`, in network order.
pub fn quant_layers(model: &Model) -> Vec<QLayer> {
    let shapes = model.shapes();
    let idx: Vec<usize> = (0..model.layers.len())
        .filter(|&i| model.layers[i].is_quantizable())
        .collect();
    let mut out = Vec::with_capacity(idx.len());
    for (j, &i) in idx.iter().enumerate() {
        let prev_end = if j == 0 { 0 } else { idx[j - 1] + 1 };
        let signed_input = !model.layers[prev_end..i]
            .iter()
            .any(|l| matches!(l, Layer::Relu));
        let next = idx.get(j + 1).copied().unwrap_or(model.layers.len());
        let l = &model.layers[i];
        let (weights, cout) = match l {
            Layer::Conv(c) => (c.w.len(), c.cout),
            Layer::Linear(f) => (f.w.len(), f.fout),
            _ => unreachable!("quantizable layers are conv or linear"),
        };
        out.push(QLayer {
            index: i,
            name: format!(
                "{}{}",
                if l.kind() == "conv" { "conv" } else { "fc" },
                j + 1
            ),
            kind: l.kind(),
            in_shape: shapes[i],
            out_shape: shapes[i + 1],
            macs: l.macs(shapes[i]) as u64,
            weights,
            biases: cout,
            cout,
            signed_input,
            glue: i + 1..next,
        });
    }
    out
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
}
