//! The integer execution path: what a quantized model runs on when it is certified.
//!
//! Per quantizable layer ("stage") with quantized weights AND quantized input: integer codes
//! (i16 storage, b <= 8), exact i32 accumulation acc[c] = sum_k qw[c,k] qx[k]
//! ([`super::int_kernels`]), then
//! - if the next stage's input is quantized: requantization straight to its codes,
//!   q' = clamp(round_half_even(acc * M_c + B_c), qmin', qmax'), with the per-channel multiplier
//!   M_c = s_w[c] s_x / s' and B_c = bias_c / s' in f32 (biases stay f32 and are added after
//!   scaling, not rounded into the integer domain). A ReLU between the layers is folded into
//!   the clamp (qmin' = 0 for the unsigned quantizer); max-pooling then runs on the codes,
//!   which is exact because quantization is monotone;
//! - otherwise (next input full precision, or the logits): y = acc * (s_w[c] s_x) + bias_c.
//!
//! Stages with a full-precision operand run the f32 kernels on dequantized values, exactly as
//! the fake-quant model does. The first layer's input (the noisy image) is quantized with the
//! calibrated signed range, as in [`super::quantizer`].
//!
//! **Agreement with the fake-quant path** ([`super::fakequant`]). Both compute the same real
//! formula and differ by f32 rounding only: the fake-quant layer sums f32 products
//! w_q x_q (relative error <= gamma_n = n u / (1 - n u), u = 2^-24, n = K + 2, on
//! sum |w_q x_q| + |b|), the integer layer is exact up to its final multiply-add and the
//! rounding of the dequantized operands (<= 8u together). So an intermediate code differs by
//! one step only where a value lies within that rounding error of a rounding boundary, which
//! is rare; such flips propagate. For a linear last layer, per class c,
//!   |z_fq[c] - z_int[c]| <= B_c = sum_k |x_fq[k] - x_int[k]| |w_q[c,k]|
//!                                + 2 (gamma_{K+2} + 8u) (sum_k |w_q[c,k] x_fq[k]| + |b_c|),
//! where x are the last layer's dequantized inputs, so x_fq[k] - x_int[k] is a whole number of
//! the last layer's activation scale s_x ([`super::agree::logit_bound`]). Predictions agree whenever the
//! fake-quant top-2 logit gap exceeds 2 max_c B_c (tests/quant_paths.rs holds both).

/// Samples per piece of [`IntModel::logits`]: buffers stay small, and pieces spread over cores.
const LOGITS_CHUNK: usize = 64;

use super::fakequant::QuantizedModel;
use super::int_kernels::{gemm_nt_i16, maxpool_i16, pad_rows, padded, requant, IntConv, MAX_K};
use super::quantizer::ActQuant;
use crate::certify::BaseClassifier;
use crate::error::{Error, Result};
use crate::nn::layers::{Layer, Shape};
use crate::nn::model::argmax_rows;

/// Activations between stages: integer codes (of the next stage's input quantizer) or f32.
enum Act {
    Codes(Vec<i16>),
    Float(Vec<f32>),
}

struct Stage {
    /// The layer with fake-quant weights, for the f32 kernel.
    layer: Layer,
    in_shape: Shape,
    input: Option<ActQuant>,
    /// Integer weight codes ([cout, kp], rows zero-padded to kp = padded(K)); None when the
    /// weights are full precision.
    wcodes: Option<Vec<i16>>,
    kp: usize,
    cout: usize,
    bias: Vec<f32>,
    /// Glue layers (ReLU, max-pool, flatten) with their input shapes.
    glue: Vec<(Layer, Shape)>,
    /// The next stage's input quantizer (None: next input is f32, or this is the last stage).
    next: Option<ActQuant>,
    /// s_w[c] * s_x per channel (dequantize acc).
    deq: Vec<f32>,
    /// M_c = s_w[c] s_x / s_next and B_c = bias_c / s_next (requantize acc).
    mult: Vec<f32>,
    add: Vec<f32>,
}

/// A quantized model on the integer path; implements [`BaseClassifier`].
pub struct IntModel {
    prefix: Vec<(Layer, Shape)>,
    stages: Vec<Stage>,
    input_len: usize,
    classes: usize,
}

fn glue_of(q: &QuantizedModel, j: usize) -> Vec<(Layer, Shape)> {
    let shapes = q.model.shapes();
    q.layers[j]
        .glue
        .clone()
        .map(|i| (q.model.layers[i].clone(), shapes[i]))
        .collect()
}

impl IntModel {
    /// Compile a fake-quant model to the integer path.
    pub fn new(q: &QuantizedModel) -> Result<IntModel> {
        let shapes = q.model.shapes();
        let first = q.layers.first().map_or(q.model.layers.len(), |l| l.index);
        let prefix = (0..first)
            .map(|i| (q.model.layers[i].clone(), shapes[i]))
            .collect();
        let mut stages = Vec::with_capacity(q.layers.len());
        for (j, ql) in q.layers.iter().enumerate() {
            let layer = q.model.layers[ql.index].clone();
            let bias = layer.param_slices()[1].to_vec();
            let (input, next) = (q.acts[j], q.acts.get(j + 1).copied().flatten());
            let k = ql.weights / ql.cout;
            let wq = q.weights[j].as_ref().filter(|_| input.is_some());
            if wq.is_some() && k > MAX_K {
                return Err(Error::State(format!(
                    "layer {}: K = {k} > {MAX_K} overflows i32",
                    ql.name
                )));
            }
            let sx = input.map_or(1.0, |a| a.scale);
            let deq: Vec<f32> = wq.map_or(vec![], |w| w.scales.iter().map(|&s| s * sx).collect());
            let sn = next.map_or(1.0, |a| a.scale);
            stages.push(Stage {
                in_shape: ql.in_shape,
                input,
                wcodes: wq.map(|w| pad_rows(&w.codes, ql.cout, k, padded(k))),
                kp: padded(k),
                cout: ql.cout,
                glue: glue_of(q, j),
                next,
                mult: deq.iter().map(|&d| d / sn).collect(),
                add: bias.iter().map(|&b| b / sn).collect(),
                deq,
                bias,
                layer,
            });
        }
        Ok(IntModel {
            prefix,
            stages,
            input_len: q.model.input_len(),
            classes: q.model.classes,
        })
    }

    /// Logits (batch x classes), [`LOGITS_CHUNK`] samples at a time (over every core
    /// natively; samples are independent, so the chunking changes nothing).
    pub(crate) fn logits(&self, x: &[f32], batch: usize) -> Vec<f32> {
        crate::par::map_batch(
            x,
            batch,
            self.input_len,
            self.classes,
            LOGITS_CHUNK,
            |xs, nb| self.run(xs, nb, None),
        )
    }

    /// Logits, plus each stage's input as real values (codes dequantized: code * s).
    pub(crate) fn trace(&self, x: &[f32], batch: usize) -> (Vec<f32>, Vec<Vec<f32>>) {
        let mut t = Vec::new();
        let z = self.run(x, batch, Some(&mut t));
        (z, t)
    }

    fn run(&self, x: &[f32], batch: usize, mut trace: Option<&mut Vec<Vec<f32>>>) -> Vec<f32> {
        let mut scratch = Vec::new();
        let mut cur = x.to_vec();
        for (l, s) in &self.prefix {
            cur = l.forward(*s, batch, &cur, &mut scratch);
        }
        let mut act = Act::Float(cur);
        for st in &self.stages {
            if let Some(t) = trace.as_deref_mut() {
                t.push(st.dequant_input(&act));
            }
            act = st.run(batch, act);
        }
        match act {
            Act::Float(z) => z,
            Act::Codes(_) => unreachable!("the last stage emits f32 logits"),
        }
    }
}

impl Stage {
    fn dequant_input(&self, act: &Act) -> Vec<f32> {
        match (act, self.input) {
            (Act::Codes(c), Some(a)) => c.iter().map(|&q| q as f32 * a.scale).collect(),
            (Act::Float(f), Some(a)) => f.iter().map(|&v| a.fake(v)).collect(),
            (Act::Float(f), None) => f.clone(),
            (Act::Codes(_), None) => unreachable!("codes only flow into quantized inputs"),
        }
    }

    fn run(&self, batch: usize, act: Act) -> Act {
        match (&self.wcodes, self.input) {
            (Some(w), Some(a)) => {
                let codes = match act {
                    Act::Codes(c) => c,
                    Act::Float(f) => f.iter().map(|&v| a.code(v)).collect(),
                };
                let acc = self.accumulate(batch, w, &codes);
                self.emit_int(batch, &acc)
            }
            _ => {
                let x = self.dequant_input(&act);
                let y = self
                    .layer
                    .forward(self.in_shape, batch, &x, &mut Vec::new());
                let y = self.glue_f32(batch, y);
                match self.next {
                    Some(n) => Act::Codes(y.iter().map(|&v| n.code(v)).collect()),
                    None => Act::Float(y),
                }
            }
        }
    }

    /// i32 accumulators, [batch, cout, hw] (hw = 1 for a linear layer).
    fn accumulate(&self, batch: usize, w: &[i16], x: &[i16]) -> Vec<i32> {
        match &self.layer {
            Layer::Conv(c) => {
                let g = c.geom(self.in_shape);
                let mut acc = vec![0i32; batch * self.cout * g.out_hw()];
                IntConv::new(&g, self.cout, w, self.kp).run_batch(
                    batch,
                    x,
                    &mut Vec::new(),
                    &mut acc,
                );
                acc
            }
            Layer::Linear(l) => {
                let mut acc = vec![0i32; batch * l.fout];
                let xp = pad_rows(x, batch, l.fin, self.kp);
                gemm_nt_i16(batch, l.fout, self.kp, &xp, w, &mut acc);
                acc
            }
            _ => unreachable!("stages are conv or linear"),
        }
    }

    fn emit_int(&self, batch: usize, acc: &[i32]) -> Act {
        let hw = acc.len() / (batch * self.cout);
        match self.next {
            Some(n) => {
                let mut q = vec![0i16; acc.len()];
                for (i, (a, o)) in acc.chunks_exact(hw).zip(q.chunks_exact_mut(hw)).enumerate() {
                    let c = i % self.cout;
                    requant(a, self.mult[c], self.add[c], n.qmin(), n.qmax(), o);
                }
                Act::Codes(self.glue_codes(batch, q))
            }
            None => {
                let mut y = vec![0f32; acc.len()];
                for (i, (a, o)) in acc.chunks_exact(hw).zip(y.chunks_exact_mut(hw)).enumerate() {
                    let c = i % self.cout;
                    for (ov, &av) in o.iter_mut().zip(a) {
                        *ov = av as f32 * self.deq[c] + self.bias[c];
                    }
                }
                Act::Float(self.glue_f32(batch, y))
            }
        }
    }

    fn glue_f32(&self, batch: usize, mut y: Vec<f32>) -> Vec<f32> {
        for (l, s) in &self.glue {
            y = l.forward(*s, batch, &y, &mut Vec::new());
        }
        y
    }

    /// Glue on codes: ReLU is already in the clamp, flatten is a no-op, pooling is exact.
    fn glue_codes(&self, batch: usize, mut q: Vec<i16>) -> Vec<i16> {
        for (l, s) in &self.glue {
            if let Layer::MaxPool(p) = l {
                q = maxpool_i16(*s, *p, batch, &q);
            }
        }
        q
    }
}

impl BaseClassifier for IntModel {
    fn input_len(&self) -> usize {
        self.input_len
    }
    fn num_classes(&self) -> usize {
        self.classes
    }
    fn classify(&mut self, x: &[f32], batch: usize, out: &mut [u8]) {
        argmax_rows(&self.logits(x, batch), self.classes, out);
    }
}
