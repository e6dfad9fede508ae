//! Models: an ordered list of layers, the zoo of docs/method.md section 8, inference, training passes and
//! the softmax cross-entropy loss.

use super::layers::{
    add_in_place, conv_forward, numel, relu_in_place, Conv2d, Layer, Linear, Shape,
};
use crate::certify::BaseClassifier;
use crate::choice::{choice_enum, Choice};
use crate::error::{Error, Result};
use crate::rng::Stream;
use serde::Serialize;

choice_enum! {
    /// The architectures of the model zoo (docs/method.md section 8); the `model` setting.
    pub enum Arch {
        /// LeNet-5 style: two 5x5 convolutions with max-pooling, three fully connected layers.
        Lenet = "lenet",
        /// Three 3x3 convolutions (the last two at stride 2) and one fully connected layer.
        Cnn3 = "cnn3",
        /// A small ResNet: a 3x3 stem, three stages of two residual basic blocks at 8, 16
        /// and 32 channels (stride 2 and a 1x1 projection shortcut where a stage starts),
        /// global average pooling and one fully connected layer: 16 quantizable layers.
        Resnet = "resnet",
    }
}

/// Images per inference chunk (see [`Model::forward`]).
pub(crate) const INFER_CHUNK: usize = 16;

/// A feed-forward network: an ordered list of layers over NCHW inputs, inference and training
/// passes, and the softmax cross-entropy loss.
#[derive(Clone, Debug)]
pub struct Model {
    /// Which zoo architecture the layers are.
    pub arch: Arch,
    /// Input shape (channels, height, width): 1 x 28 x 28 for the zoo.
    pub input: Shape,
    /// Number of output logits (10).
    pub classes: usize,
    /// The layers, in forward order; quantizable ones are the convolutions and linear layers.
    pub layers: Vec<Layer>,
}

/// One layer's row of [`ModelInfo`].
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct LayerInfo {
    /// Display name: quantizable layers are `conv1`, `conv2`, `fc3`, ... (numbered over the
    /// quantizable layers; a projection shortcut is `projN`); residual blocks' pieces are
    /// `block1.in`, `block1.add`, `block1.relu`; the others are named after the layer they
    /// follow (`conv1.relu`, `conv1.pool`) or by kind (`flatten`, `avgpool`).
    pub name: String,
    /// `conv`, `relu`, `maxpool`, `flatten`, `linear`, `fork`, `shortcut`, `add` or `avgpool`.
    pub kind: &'static str,
    /// Input shape (channels, height, width); a shortcut's is its residual block's input.
    pub in_shape: Vec<usize>,
    /// Output shape (channels, height, width).
    pub out_shape: Vec<usize>,
    /// Number of parameters (weights and biases).
    pub params: usize,
    /// Multiply-accumulates per image (docs/method.md section 5); 0 for layers without weights.
    pub macs: usize,
    /// Whether the layer is a convolution or linear layer, which a policy gives bit widths.
    pub quantizable: bool,
}

/// A model's architecture summary: its layers with shapes, parameters and MACs.
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct ModelInfo {
    /// The architecture's word (`lenet`, `cnn3`, `resnet`).
    pub name: String,
    /// Every layer, in forward order.
    pub layers: Vec<LayerInfo>,
    /// Total parameters.
    pub params: usize,
    /// Total multiply-accumulates per image (lenet 281,640, cnn3 1,950,592, resnet 5,074,368).
    pub macs: usize,
}

/// Batched inference over a flat input buffer, with reusable scratch.
impl Model {
    /// Build a zoo model by name (`lenet`, `cnn3`, `resnet`: the checkpoint header's spelling) with
    /// seeded initial weights (stream "init").
    pub fn zoo(name: &str, seed: u64) -> Result<Model> {
        let arch = Arch::from_word(name).ok_or_else(|| {
            Error::invalid(
                "model",
                name,
                "not in the model zoo",
                Arch::WORDS.join(", "),
            )
        })?;
        Ok(Model::build(arch, seed))
    }

    /// Build a zoo architecture with seeded initial weights (stream "init").
    pub(crate) fn build(arch: Arch, seed: u64) -> Model {
        let mut r = Stream::new(seed, "init");
        let layers = match arch {
            Arch::Lenet => vec![
                Layer::Conv(Conv2d::new(1, 6, 5, 1, 0, &mut r)),
                Layer::Relu,
                Layer::MaxPool(2),
                Layer::Conv(Conv2d::new(6, 16, 5, 1, 0, &mut r)),
                Layer::Relu,
                Layer::MaxPool(2),
                Layer::Flatten,
                Layer::Linear(Linear::new(256, 120, &mut r)),
                Layer::Relu,
                Layer::Linear(Linear::new(120, 84, &mut r)),
                Layer::Relu,
                Layer::Linear(Linear::new(84, 10, &mut r)),
            ],
            Arch::Cnn3 => vec![
                Layer::Conv(Conv2d::new(1, 16, 3, 1, 1, &mut r)),
                Layer::Relu,
                Layer::Conv(Conv2d::new(16, 32, 3, 2, 1, &mut r)),
                Layer::Relu,
                Layer::Conv(Conv2d::new(32, 64, 3, 2, 1, &mut r)),
                Layer::Relu,
                Layer::Flatten,
                Layer::Linear(Linear::new(3136, 10, &mut r)),
            ],
            Arch::Resnet => resnet_layers(&mut r),
        };
        Model {
            arch,
            input: [1, 28, 28],
            classes: 10,
            layers,
        }
    }

    /// Values per input image: channels x height x width (784).
    pub fn input_len(&self) -> usize {
        numel(self.input)
    }

    /// For each layer, the index of the [`Layer::Fork`] that opened the residual block it
    /// closes or projects ([`Layer::Add`], [`Layer::Shortcut`]); None for every other layer.
    pub(crate) fn forks(&self) -> Vec<Option<usize>> {
        let mut open = Vec::new();
        self.layers
            .iter()
            .enumerate()
            .map(|(i, l)| match l {
                Layer::Fork => {
                    open.push(i);
                    None
                }
                Layer::Shortcut(_) => open.last().copied(),
                Layer::Add => open.pop(),
                _ => None,
            })
            .collect()
    }

    /// Input and output shape of each layer's own computation: the main stream's, except a
    /// [`Layer::Shortcut`], which maps its block's input (the shape before its Fork).
    pub(crate) fn io_shapes(&self) -> Vec<(Shape, Shape)> {
        let (shapes, forks) = (self.shapes(), self.forks());
        self.layers
            .iter()
            .enumerate()
            .map(|(i, l)| match (l, forks[i]) {
                (Layer::Shortcut(_), Some(f)) => (shapes[f], l.branch_out_shape(shapes[f])),
                _ => (shapes[i], shapes[i + 1]),
            })
            .collect()
    }

    /// Shapes before each layer, plus the final output shape (len = layers + 1).
    pub(crate) fn shapes(&self) -> Vec<Shape> {
        let mut s = vec![self.input];
        for l in &self.layers {
            let next = l.out_shape(*s.last().expect("non-empty"));
            s.push(next);
        }
        s
    }

    /// The architecture summary the page and the CLI show.
    pub fn info(&self) -> ModelInfo {
        let io = self.io_shapes();
        let (mut qi, mut block) = (0, 0);
        let mut last = String::new();
        let layers: Vec<LayerInfo> = self
            .layers
            .iter()
            .enumerate()
            .map(|(i, l)| {
                // quantizable layers are numbered conv1, conv2, fc3, ... (a projection
                // shortcut is projN); residual blocks are block1, block2, ... (block1.in,
                // block1.add, block1.relu); the others are named after the layer they follow
                // (conv1.relu, conv1.pool) or by kind (flatten, avgpool)
                let name = if l.is_quantizable() {
                    qi += 1;
                    last = format!("{}{qi}", quant_prefix(l));
                    last.clone()
                } else if matches!(l, Layer::Fork) {
                    block += 1;
                    format!("block{block}.in")
                } else if matches!(l, Layer::Add) {
                    last = format!("block{block}");
                    format!("{last}.add")
                } else if qi == 0 || matches!(l, Layer::Flatten | Layer::GlobalAvgPool) {
                    l.kind().to_string()
                } else {
                    format!(
                        "{last}.{}",
                        if matches!(l, Layer::MaxPool(_)) {
                            "pool"
                        } else {
                            l.kind()
                        }
                    )
                };
                LayerInfo {
                    name,
                    kind: l.kind(),
                    in_shape: io[i].0.to_vec(),
                    out_shape: io[i].1.to_vec(),
                    params: l.params(),
                    macs: l.macs(io[i].0),
                    quantizable: l.is_quantizable(),
                }
            })
            .collect();
        ModelInfo {
            name: self.arch.to_string(),
            params: layers.iter().map(|l| l.params).sum(),
            macs: layers.iter().map(|l| l.macs).sum(),
            layers,
        }
    }

    /// Logits for a batch (batch x classes). Works through the batch in chunks of
    /// [`INFER_CHUNK`] images so intermediate buffers stay small and cache-resident whatever
    /// the batch size, the chunks spread over every core natively (results depend on neither).
    pub fn forward(&self, x: &[f32], batch: usize) -> Vec<f32> {
        let (il, shapes) = (self.input_len(), self.shapes());
        crate::par::map_batch(x, batch, il, self.classes, INFER_CHUNK, |xs, nb| {
            self.forward_chunk(&shapes, xs, nb)
        })
    }

    /// [`Model::forward`] of one chunk of `nb` images; `shapes` are each layer's input shape.
    fn forward_chunk(&self, shapes: &[Shape], x: &[f32], nb: usize) -> Vec<f32> {
        let mut scratch = Vec::new();
        let mut cur = x.to_vec();
        let (forks, mut skips) = (self.forks(), Vec::new());
        let mut i = 0;
        while i < self.layers.len() {
            // a convolution followed by ReLU applies it as it stores (same values)
            let fuse = matches!(self.layers[i], Layer::Conv(_))
                && matches!(self.layers.get(i + 1), Some(Layer::Relu));
            match &self.layers[i] {
                Layer::Conv(c) => cur = conv_forward(c, shapes[i], nb, &cur, &mut scratch, fuse),
                Layer::Relu => relu_in_place(&mut cur),
                Layer::Flatten => {}
                Layer::Fork => skips.push(cur.clone()),
                Layer::Shortcut(c) => {
                    let x = skips.pop().expect("a Fork opened the block");
                    let s = shapes[forks[i].expect("a Fork opened the block")];
                    skips.push(conv_forward(c, s, nb, &x, &mut scratch, false));
                }
                Layer::Add => {
                    add_in_place(&mut cur, &skips.pop().expect("a Fork opened the block"))
                }
                l => cur = l.forward(shapes[i], nb, &cur, &mut scratch),
            }
            i += 1 + fuse as usize;
        }
        cur
    }

    /// Forward keeping every activation of the main stream (acts[0] = input, acts[L] =
    /// logits) for backward. A residual block's skip branch is not kept: its input is the
    /// activation before the block's Fork.
    pub fn forward_train(&self, x: &[f32], batch: usize) -> Vec<Vec<f32>> {
        let (shapes, forks) = (self.shapes(), self.forks());
        let mut scratch = Vec::new();
        let mut acts = vec![x.to_vec()];
        let mut skips = Vec::new();
        for (i, l) in self.layers.iter().enumerate() {
            let y = match l {
                Layer::Fork => {
                    skips.push(acts[i].clone());
                    acts[i].clone()
                }
                Layer::Shortcut(_) => {
                    let x = skips.pop().expect("a Fork opened the block");
                    let s = shapes[forks[i].expect("a Fork opened the block")];
                    skips.push(l.forward(s, batch, &x, &mut scratch));
                    acts[i].clone()
                }
                Layer::Add => {
                    let mut y = acts[i].clone();
                    add_in_place(&mut y, &skips.pop().expect("a Fork opened the block"));
                    y
                }
                l => l.forward(shapes[i], batch, &acts[i], &mut scratch),
            };
            acts.push(y);
        }
        acts
    }

    /// Backpropagate dL/dlogits through all layers, accumulating parameter gradients. The
    /// gradient of a residual block's output goes both ways at its Add (the skip branch's on
    /// a stack), through the Shortcut's projection if any, and is summed again at its Fork.
    pub fn backward(&mut self, acts: &[Vec<f32>], grad_logits: Vec<f32>, batch: usize) {
        let (shapes, forks) = (self.shapes(), self.forks());
        let mut g = grad_logits;
        let mut gskips = Vec::new();
        for i in (0..self.layers.len()).rev() {
            match (&mut self.layers[i], forks[i]) {
                (Layer::Add, _) => gskips.push(g.clone()),
                (l @ Layer::Shortcut(_), Some(f)) => {
                    let gs = gskips.pop().expect("an Add closed the block");
                    gskips.push(l.backward(shapes[f], batch, &acts[f], &[], &gs));
                }
                (Layer::Fork, _) => {
                    add_in_place(&mut g, &gskips.pop().expect("an Add closed the block"))
                }
                (l, _) => g = l.backward(shapes[i], batch, &acts[i], &acts[i + 1], &g),
            }
        }
    }

    /// Reset every parameter gradient to zero.
    pub fn zero_grad(&mut self) {
        for l in &mut self.layers {
            for (_, g) in l.param_grads() {
                g.fill(0.0);
            }
        }
    }

    /// The accumulated gradient of every parameter tensor, in layer order (weight, then bias).
    pub fn grad_tensors(&mut self) -> Vec<Vec<f32>> {
        self.layers
            .iter_mut()
            .flat_map(|l| {
                l.param_grads()
                    .into_iter()
                    .map(|(_, g)| g.to_vec())
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// All parameters in layer order (weights, then bias, per layer).
    pub fn params_flat(&self) -> Vec<f32> {
        self.layers
            .iter()
            .flat_map(|l| {
                l.param_slices()
                    .into_iter()
                    .flatten()
                    .copied()
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Number of parameters (weights and biases), the length of [`Model::params_flat`].
    pub fn param_count(&self) -> usize {
        self.layers.iter().map(|l| l.params()).sum()
    }

    /// Replace every parameter from `flat`, in [`Model::params_flat`]'s order; fails if the length
    /// is not [`Model::param_count`].
    pub fn set_params_flat(&mut self, flat: &[f32]) -> Result<()> {
        if flat.len() != self.param_count() {
            return Err(Error::bad_file(
                "parameters",
                format!(
                    "{} values, model {} needs {}",
                    flat.len(),
                    self.arch,
                    self.param_count()
                ),
            ));
        }
        let mut off = 0;
        for l in &mut self.layers {
            for (p, _) in l.param_grads() {
                p.copy_from_slice(&flat[off..off + p.len()]);
                off += p.len();
            }
        }
        Ok(())
    }

    /// Argmax class per input (ties to the lowest index).
    pub(crate) fn predict(&self, x: &[f32], batch: usize, out: &mut [u8]) {
        let logits = self.forward(x, batch);
        argmax_rows(&logits, self.classes, out);
    }
}

/// The name prefix of a quantizable layer: `conv`, `proj` (a projection shortcut) or `fc`.
pub(crate) fn quant_prefix(l: &Layer) -> &'static str {
    match l {
        Layer::Conv(_) => "conv",
        Layer::Shortcut(_) => "proj",
        _ => "fc",
    }
}

/// The `resnet` layers (docs/method.md section 8): a 3x3 stem conv to 8 channels, three stages
/// of two basic blocks (conv3x3-ReLU-conv3x3 plus the shortcut, then ReLU) at 8, 16 and 32
/// channels, the first block of stages 2 and 3 at stride 2 with a 1x1 stride-2 projection
/// shortcut, global average pooling and a 32 -> 10 linear layer. No batch norm: each block's
/// second convolution starts at zero (weights and bias), so every block starts as the
/// identity (plus projection) and the deep stack trains stably; the other convolutions are
/// He-initialised, so the signal keeps its scale through the stem and the projections.
fn resnet_layers(r: &mut Stream) -> Vec<Layer> {
    let mut layers = vec![Layer::Conv(Conv2d::new_he(1, 8, 3, 1, 1, r)), Layer::Relu];
    let mut cin = 8;
    for (stage, cout) in [8, 16, 32].into_iter().enumerate() {
        for block in 0..2 {
            let stride = if stage > 0 && block == 0 { 2 } else { 1 };
            layers.push(Layer::Fork);
            layers.push(Layer::Conv(Conv2d::new_he(cin, cout, 3, stride, 1, r)));
            layers.push(Layer::Relu);
            let mut last = Conv2d::new(cout, cout, 3, 1, 1, r);
            last.w.fill(0.0);
            last.b.fill(0.0);
            layers.push(Layer::Conv(last));
            if stride != 1 || cin != cout {
                layers.push(Layer::Shortcut(Conv2d::new_he(cin, cout, 1, stride, 0, r)));
            }
            layers.push(Layer::Add);
            layers.push(Layer::Relu);
            cin = cout;
        }
    }
    layers.push(Layer::GlobalAvgPool);
    layers.push(Layer::Linear(Linear::new(32, 10, r)));
    layers
}

pub(crate) fn argmax_rows(logits: &[f32], classes: usize, out: &mut [u8]) {
    for (row, o) in logits.chunks_exact(classes).zip(out.iter_mut()) {
        let mut best = 0;
        for c in 1..classes {
            if row[c] > row[best] {
                best = c;
            }
        }
        *o = best as u8;
    }
}

impl BaseClassifier for Model {
    fn input_len(&self) -> usize {
        Model::input_len(self)
    }
    fn num_classes(&self) -> usize {
        self.classes
    }
    fn classify(&mut self, x: &[f32], batch: usize, out: &mut [u8]) {
        self.predict(x, batch, out)
    }
}

/// Mean softmax cross-entropy over the batch, its gradient w.r.t. the logits, and the number
/// of correct argmax predictions. exp/ln come from `libm` for cross-platform identity.
pub fn softmax_xent(logits: &[f32], labels: &[u8], classes: usize) -> (f32, Vec<f32>, usize) {
    let batch = labels.len();
    let mut grad = vec![0.0; logits.len()];
    let mut loss = 0.0f32;
    let mut correct = 0;
    let inv_b = 1.0 / batch as f32;
    for (bi, &y) in labels.iter().enumerate() {
        let row = &logits[bi * classes..(bi + 1) * classes];
        let mut best = 0;
        let mut m = row[0];
        for (c, &v) in row.iter().enumerate() {
            if v > m {
                m = v;
                best = c;
            }
        }
        if best == y as usize {
            correct += 1;
        }
        let g = &mut grad[bi * classes..(bi + 1) * classes];
        let mut sum = 0.0f32;
        for (gc, &v) in g.iter_mut().zip(row) {
            *gc = libm::expf(v - m);
            sum += *gc;
        }
        loss += libm::logf(sum) + m - row[y as usize];
        for gc in g.iter_mut() {
            *gc = *gc / sum * inv_b;
        }
        g[y as usize] -= inv_b;
    }
    (loss * inv_b, grad, correct)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zoo_mac_counts_match_the_method_doc() {
        assert_eq!(Model::zoo("lenet", 0).unwrap().info().macs, 281_640);
        assert_eq!(Model::zoo("cnn3", 0).unwrap().info().macs, 1_950_592);
        let r = Model::zoo("resnet", 0).unwrap().info();
        assert_eq!(r.macs, 5_074_368);
        assert_eq!(r.layers.iter().filter(|l| l.quantizable).count(), 16);
        let e = Model::zoo("vgg", 0).unwrap_err().to_string();
        assert!(e.contains("model=vgg"), "{e}");
    }

    #[test]
    fn params_round_trip() {
        let a = Model::zoo("lenet", 1).unwrap();
        let mut b = Model::zoo("lenet", 2).unwrap();
        assert_ne!(a.params_flat(), b.params_flat());
        b.set_params_flat(&a.params_flat()).unwrap();
        assert_eq!(a.params_flat(), b.params_flat());
        assert!(b.set_params_flat(&[0.0; 3]).is_err());
    }

    #[test]
    fn xent_of_uniform_logits_is_ln_classes() {
        let (l, g, _) = softmax_xent(&[0.0; 20], &[3, 7], 10);
        assert!((l - 10f32.ln()).abs() < 1e-6);
        assert!((g[3] - (0.1 - 1.0) / 2.0).abs() < 1e-7);
    }
}
