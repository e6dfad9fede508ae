//! The fake-quant model: the float network with each quantized layer's weights replaced by
//! w_q = round(clamp(w, -t, t) / s) * s and each quantized layer's input replaced by
//! x_q = round(clamp(x, lo, r) / s) * s (docs/method.md section 6), computed with the ordinary
//! f32 layers (`Layer::forward` / `Layer::backward`). It is the reference the integer path
//! ([`super::intmodel`]) is tested against, and what quantization-aware training runs.
//!
//! Residual blocks (docs/method.md section 6): a block's first convolution's input quantizer
//! sits before the block's Fork, so the skip branch carries the same quantized input; a
//! projection shortcut quantizes that again with its own input quantizer. The sum is held by
//! the input quantizer N of the next quantizable layer (scale s, codes qmin..=qmax): each branch
//! is rounded to the scale on its own and the codes are added,
//! y = s clamp(round(v / s) + round(skip / s), qmin, qmax),
//! which the integer path computes exactly as an integer add. When a global average pool lies
//! between the sum and N, the upper clip is `i16::MAX` (N's range applies after pooling);
//! when N is full precision, the sum is the plain f32 add.
//!
//! Training uses the straight-through estimator (Bengio et al. 2013): the gradient w.r.t. a
//! quantized input passes through where the input was inside the clip range and is zero where
//! it was clipped; weight gradients are taken w.r.t. w_q and applied to the float weights.

use super::calib::{ActClip, Calibration};
use super::int_kernels::add_term;
use super::policy::Policy;
use super::quantizer::{ActQuant, WeightClip, WeightQuant};
use super::{quant_layers, QLayer};
use crate::certify::BaseClassifier;
use crate::error::{Error, Result};
use crate::nn::layers::{add_in_place, Layer};
use crate::nn::model::argmax_rows;
use crate::nn::Model;
use serde::Serialize;

/// How weights and activations are quantized (independent of the bit widths).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QuantConfig {
    /// Per output channel weight scales (else one scale per tensor).
    pub per_channel: bool,
    /// How the weight clip t is chosen.
    pub weight_clip: WeightClip,
    /// How activation ranges are chosen from the calibration statistics.
    pub act_clip: ActClip,
}

impl Default for QuantConfig {
    fn default() -> Self {
        QuantConfig {
            per_channel: true,
            weight_clip: WeightClip::Mse,
            act_clip: ActClip::Mse,
        }
    }
}

/// A quantized network in fake-quant form.
#[derive(Clone, Debug)]
pub struct QuantizedModel {
    /// The float model with quantized layers' weights replaced by their dequantized values.
    pub model: Model,
    /// The bit widths per quantizable layer.
    pub policy: Policy,
    /// The scale and clipping settings.
    pub cfg: QuantConfig,
    /// The quantizable layers of `model`, in network order.
    pub layers: Vec<QLayer>,
    /// Per quantizable layer: the weight quantizer (None = full-precision weights).
    pub weights: Vec<Option<WeightQuant>>,
    /// Per quantizable layer: its input quantizer (None = full-precision input).
    pub acts: Vec<Option<ActQuant>>,
    /// Per model layer: the quantizable layer whose input quantizer sits before it.
    qpos: Vec<Option<usize>>,
    /// Per model layer: for an Add, the quantizable layer whose input quantizer holds the
    /// sum and whether a global average pool lies in between ([`super::add_target`]).
    add_to: Vec<Option<(usize, bool)>>,
    /// [`Model::forks`] of the model.
    forks: Vec<Option<usize>>,
}

/// Activations kept by [`QuantizedModel::forward_train`] for the backward pass.
pub struct Trace {
    /// Input of each model layer (after input quantization, if any).
    pub xs: Vec<Vec<f32>>,
    /// Output of each model layer (before the next layer's input quantization).
    pub ys: Vec<Vec<f32>>,
    /// Straight-through masks at quantized inputs: true where the value was not clipped.
    pub masks: Vec<Option<Vec<bool>>>,
}

impl Trace {
    pub fn logits(&self) -> &[f32] {
        self.ys.last().expect("at least one layer")
    }
}

impl QuantizedModel {
    /// Quantize `float` under `policy`, with activation ranges from `calib` (computed on the
    /// same float model).
    pub fn new(
        float: &Model,
        policy: &Policy,
        calib: &Calibration,
        cfg: &QuantConfig,
    ) -> Result<Self> {
        let layers = quant_layers(float);
        if policy.len() != layers.len() {
            return Err(Error::invalid(
                "wb",
                policy.wb(),
                &format!("{} layers in the policy", policy.len()),
                format!("{} layers for model {}", layers.len(), float.arch),
            ));
        }
        if calib.layers.len() != layers.len()
            || calib
                .layers
                .iter()
                .zip(&layers)
                .any(|(s, q)| s.signed != q.signed_input)
        {
            return Err(Error::State(format!(
                "calibration does not match model {}; recalibrate",
                float.arch
            )));
        }
        let acts = layers
            .iter()
            .zip(&policy.layers)
            .zip(&calib.layers)
            .map(|((q, lb), st)| {
                lb.a.quantized()
                    .map(|b| ActQuant::new(b, q.signed_input, st.range(b, cfg.act_clip)))
            })
            .collect();
        let mut qpos = vec![None; float.layers.len()];
        for (j, q) in layers.iter().enumerate() {
            qpos[q.quant_at] = Some(j);
        }
        let add_to = (0..float.layers.len())
            .map(|i| {
                matches!(float.layers[i], Layer::Add)
                    .then(|| super::add_target(float, &layers, i))
                    .flatten()
            })
            .collect();
        let mut m = QuantizedModel {
            model: float.clone(),
            policy: policy.clone(),
            cfg: *cfg,
            weights: vec![None; layers.len()],
            layers,
            acts,
            qpos,
            add_to,
            forks: float.forks(),
        };
        m.requantize(float);
        Ok(m)
    }

    /// Re-quantize the weights from (updated) float weights `float`, keeping the activation
    /// ranges fixed; biases and full-precision layers are copied.
    pub(crate) fn requantize(&mut self, float: &Model) {
        for (src, dst) in float.layers.iter().zip(self.model.layers.iter_mut()) {
            for (s, (d, _)) in src.param_slices().into_iter().zip(dst.param_grads()) {
                d.copy_from_slice(s);
            }
        }
        for (j, q) in self.layers.iter().enumerate() {
            let lb = self.policy.layers[j];
            self.weights[j] = lb.w.quantized().map(|_| {
                let w = float.layers[q.index].param_slices()[0];
                WeightQuant::new(w, q.cout, lb.w, self.cfg.per_channel, self.cfg.weight_clip)
            });
            if let Some(wq) = &self.weights[j] {
                let deq = wq.dequant();
                let mut pg = self.model.layers[q.index].param_grads();
                pg[0].0.copy_from_slice(&deq);
            }
        }
    }

    /// The input quantizer in front of model layer `i`, if any.
    pub(crate) fn act_before(&self, i: usize) -> Option<&ActQuant> {
        self.qpos[i].and_then(|j| self.acts[j].as_ref())
    }

    /// The quantizer holding the sum of the Add at model layer `i` (None: a plain f32 add)
    /// and the code ceiling of that sum.
    fn add_quant(&self, i: usize) -> Option<(ActQuant, i32)> {
        let (j, pooled) = self.add_to[i]?;
        let n = self.acts[j]?;
        Some((n, if pooled { i16::MAX as i32 } else { n.qmax() }))
    }

    /// The residual add at model layer `i` (module docs), in place on the main stream `y`;
    /// returns the straight-through mask (false where the sum hit the code ceiling).
    fn add(&self, i: usize, y: &mut [f32], skip: &[f32]) -> Option<Vec<bool>> {
        let Some((n, hi)) = self.add_quant(i) else {
            add_in_place(y, skip);
            return None;
        };
        let mut mask = Vec::with_capacity(y.len());
        for (v, &sv) in y.iter_mut().zip(skip) {
            let k = add_term(*v, n.scale) + add_term(sv, n.scale);
            mask.push(k <= hi);
            *v = k.clamp(n.qmin(), hi) as f32 * n.scale;
        }
        Some(mask)
    }

    /// Fake-quant logits for a batch (batch x classes).
    pub(crate) fn forward(&self, x: &[f32], batch: usize) -> Vec<f32> {
        let shapes = self.model.shapes();
        let mut scratch = Vec::new();
        let mut skips = Vec::new();
        let mut cur = x.to_vec();
        for (i, l) in self.model.layers.iter().enumerate() {
            let v = match l {
                Layer::Shortcut(_) => skips.last_mut().expect("a Fork opened the block"),
                _ => &mut cur,
            };
            if let Some(a) = self.act_before(i) {
                v.iter_mut().for_each(|e| *e = a.fake(*e));
            }
            match l {
                Layer::Fork => skips.push(cur.clone()),
                Layer::Shortcut(_) => {
                    let xs = skips.pop().expect("a Fork opened the block");
                    let f = self.forks[i].expect("a Fork opened the block");
                    skips.push(l.forward(shapes[f], batch, &xs, &mut scratch));
                }
                Layer::Add => {
                    let skip = skips.pop().expect("a Fork opened the block");
                    self.add(i, &mut cur, &skip);
                }
                l => cur = l.forward(shapes[i], batch, &cur, &mut scratch),
            }
        }
        cur
    }

    /// Forward keeping what backward needs. For a Shortcut, `xs` and `ys` hold its
    /// projection's (quantized) input and output; the main stream passes it unchanged.
    pub fn forward_train(&self, x: &[f32], batch: usize) -> Trace {
        let shapes = self.model.shapes();
        let mut scratch = Vec::new();
        let n = self.model.layers.len();
        let mut t = Trace {
            xs: Vec::with_capacity(n),
            ys: Vec::with_capacity(n),
            masks: Vec::with_capacity(n),
        };
        let quantize = |i: usize, v: &mut [f32]| {
            self.act_before(i).map(|a| {
                let m: Vec<bool> = v.iter().map(|&e| a.passes(e)).collect();
                v.iter_mut().for_each(|e| *e = a.fake(*e));
                m
            })
        };
        let mut skips: Vec<Vec<f32>> = Vec::new();
        let mut cur = x.to_vec();
        for (i, l) in self.model.layers.iter().enumerate() {
            if let Layer::Shortcut(_) = l {
                let mut xs = skips.pop().expect("a Fork opened the block");
                let mask = quantize(i, &mut xs);
                let f = self.forks[i].expect("a Fork opened the block");
                let y = l.forward(shapes[f], batch, &xs, &mut scratch);
                skips.push(y.clone());
                t.xs.push(xs);
                t.ys.push(y);
                t.masks.push(mask);
                continue;
            }
            let mut mask = quantize(i, &mut cur);
            let y = match l {
                Layer::Fork => {
                    skips.push(cur.clone());
                    cur.clone()
                }
                Layer::Add => {
                    let mut y = cur.clone();
                    mask = self.add(i, &mut y, &skips.pop().expect("a Fork opened the block"));
                    y
                }
                l => l.forward(shapes[i], batch, &cur, &mut scratch),
            };
            t.xs.push(cur);
            t.masks.push(mask);
            cur = y.clone();
            t.ys.push(y);
        }
        t
    }

    /// Backpropagate dL/dlogits, accumulating gradients w.r.t. the quantized weights in
    /// `self.model` (straight-through at the input quantizers and the residual sums).
    pub fn backward(&mut self, t: &Trace, grad_logits: Vec<f32>, batch: usize) {
        let shapes = self.model.shapes();
        let zero_masked = |g: &mut [f32], m: &Option<Vec<bool>>| {
            if let Some(m) = m {
                g.iter_mut()
                    .zip(m)
                    .filter(|(_, &ok)| !ok)
                    .for_each(|(gv, _)| *gv = 0.0);
            }
        };
        let mut g = grad_logits;
        let mut gskips = Vec::new();
        for i in (0..self.model.layers.len()).rev() {
            match &mut self.model.layers[i] {
                Layer::Add => {
                    // the mask is on the sum, so it applies to both branches
                    zero_masked(&mut g, &t.masks[i]);
                    gskips.push(g.clone());
                }
                l @ Layer::Shortcut(_) => {
                    let f = self.forks[i].expect("a Fork opened the block");
                    let gs: Vec<f32> = gskips.pop().expect("an Add closed the block");
                    let mut gx = l.backward(shapes[f], batch, &t.xs[i], &t.ys[i], &gs);
                    zero_masked(&mut gx, &t.masks[i]);
                    gskips.push(gx);
                }
                Layer::Fork => {
                    add_in_place(&mut g, &gskips.pop().expect("an Add closed the block"));
                    zero_masked(&mut g, &t.masks[i]);
                }
                l => {
                    g = l.backward(shapes[i], batch, &t.xs[i], &t.ys[i], &g);
                    zero_masked(&mut g, &t.masks[i]);
                }
            }
        }
    }

    /// Argmax class per input.
    pub(crate) fn predict(&self, x: &[f32], batch: usize, out: &mut [u8]) {
        argmax_rows(&self.forward(x, batch), self.model.classes, out);
    }

    /// Weight tensor of quantizable layer j as used by the forward pass (dequantized).
    pub(crate) fn layer_weights(&self, j: usize) -> &[f32] {
        match &self.model.layers[self.layers[j].index] {
            Layer::Conv(c) | Layer::Shortcut(c) => c.w.as_slice().expect("standard layout"),
            Layer::Linear(l) => l.w.as_slice().expect("standard layout"),
            _ => unreachable!("quantizable layers are conv or linear"),
        }
    }
}

impl BaseClassifier for QuantizedModel {
    fn input_len(&self) -> usize {
        self.model.input_len()
    }
    fn num_classes(&self) -> usize {
        self.model.classes
    }
    fn classify(&mut self, x: &[f32], batch: usize, out: &mut [u8]) {
        self.predict(x, batch, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Dataset;
    use crate::quant::calib::{calibrate, CalibConfig};
    use crate::quant::policy::Bits;

    #[test]
    fn fp32_policy_is_the_float_model() {
        let m = Model::zoo("lenet", 3).unwrap();
        let d = Dataset::synthetic(60, 1);
        let cal = calibrate(&m, &d, &CalibConfig::new(16, 0.25, 1));
        let q = QuantizedModel::new(&m, &Policy::fp32(5), &cal, &QuantConfig::default()).unwrap();
        let mut x = vec![0.0; 2 * 784];
        d.image_f32(0, &mut x[..784]);
        d.image_f32(1, &mut x[784..]);
        assert_eq!(q.forward(&x, 2), m.forward(&x, 2));
        let p4 = Policy::uniform(5, Bits::new(4).unwrap(), Bits::new(4).unwrap());
        let q4 = QuantizedModel::new(&m, &p4, &cal, &QuantConfig::default()).unwrap();
        assert_ne!(q4.forward(&x, 2), m.forward(&x, 2));
        assert!(QuantizedModel::new(&m, &Policy::fp32(4), &cal, &QuantConfig::default()).is_err());
    }

    /// The resnet with every parameter random (its blocks' second convolutions start at 0).
    fn live_resnet() -> Model {
        let mut m = Model::zoo("resnet", 3).unwrap();
        let mut r = crate::rng::Stream::new(8, "fq-resnet");
        let p: Vec<f32> = (0..m.param_count())
            .map(|_| (2.0 * r.uniform() - 1.0) * 0.2)
            .collect();
        m.set_params_flat(&p).unwrap();
        m
    }

    #[test]
    fn fp32_policy_is_the_float_resnet_forward_and_backward() {
        let m = live_resnet();
        let d = Dataset::synthetic(60, 1);
        let cal = calibrate(&m, &d, &CalibConfig::new(16, 0.25, 1));
        let mut q =
            QuantizedModel::new(&m, &Policy::fp32(16), &cal, &QuantConfig::default()).unwrap();
        let mut x = vec![0.0; 2 * 784];
        d.image_f32(0, &mut x[..784]);
        d.image_f32(1, &mut x[784..]);
        assert_eq!(q.forward(&x, 2), m.forward(&x, 2));
        // the same gradients through the Forks, Shortcuts and Adds
        let mut f = m.clone();
        f.zero_grad();
        let acts = f.forward_train(&x, 2);
        let g: Vec<f32> = (0..20).map(|i| (i as f32 - 9.5) * 0.01).collect();
        f.backward(&acts, g.clone(), 2);
        q.model.zero_grad();
        let t = q.forward_train(&x, 2);
        assert_eq!(t.logits(), &acts[acts.len() - 1][..]);
        q.backward(&t, g, 2);
        assert_eq!(q.model.grad_tensors(), f.grad_tensors());
        // quantized, the sums are on their quantizers' grids and differ from the float ones
        let p4 = Policy::uniform(16, Bits::new(4).unwrap(), Bits::new(4).unwrap());
        let q4 = QuantizedModel::new(&m, &p4, &cal, &QuantConfig::default()).unwrap();
        let t4 = q4.forward_train(&x, 2);
        let add = (0..m.layers.len())
            .find(|&i| matches!(m.layers[i], Layer::Add))
            .unwrap();
        let (n, hi) = q4.add_quant(add).unwrap();
        assert_eq!(hi, 15);
        for &v in &t4.ys[add] {
            let k = v / n.scale;
            assert!(
                (k - k.round()).abs() < 1e-3 && (0.0..=15.0).contains(&k.round()),
                "{v}"
            );
        }
        assert_ne!(q4.forward(&x, 2), m.forward(&x, 2));
    }
}
