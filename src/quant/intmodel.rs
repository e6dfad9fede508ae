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
//!
//! **Residual blocks.** Activations carry the quantizer of their codes. A block's input is
//! held by its first convolution's input quantizer; the Fork saves those codes for the skip
//! branch, and a projection shortcut recodes them to its own input quantizer (the fake-quant
//! model quantizes the dequantized value again: the same numbers). The sum is held by the
//! input quantizer N of the next quantizable layer (scale s): the block's last convolution
//! and the projection requantize their accumulators to terms round_half_even(acc * M_c + B_c)
//! of scale s without clipping, an identity skip's codes become round_half_even(q s_x / s),
//! the terms are added as integers and clamped to N's codes (the ReLU after the sum is the
//! clamp at 0). Between the last block and the linear layer, the global average pool sums
//! the codes per channel exactly and rounds the mean to N's codes. With N full precision the
//! sum is an f32 add, as in the fake-quant model.

/// Samples per piece of [`IntModel::logits`]: buffers stay small, and pieces spread over cores.
const LOGITS_CHUNK: usize = 64;

use super::fakequant::QuantizedModel;
use super::int_kernels::{
    add_term, gemm_nt_i16, maxpool_i16, pad_rows, padded, requant, requant_terms, IntConv, MAX_K,
};
use super::quantizer::{round_even_int, ActQuant};
use crate::certify::BaseClassifier;
use crate::error::{Error, Result};
use crate::nn::layers::{add_in_place, Layer, Shape};
use crate::nn::model::argmax_rows;

/// An activation between layers of the integer path.
enum Act {
    /// Integer codes of the quantizer.
    Codes(Vec<i16>, ActQuant),
    /// Real values.
    Float(Vec<f32>),
    /// One branch of a residual sum, as integer terms of the sum's scale, not yet added.
    Terms(Vec<i32>),
}

/// What a stage makes of its accumulators.
#[derive(Clone, Copy)]
enum Out {
    /// Codes of the next quantizable layer's input quantizer (a ReLU in between is the clamp
    /// at 0 of an unsigned quantizer).
    Codes(ActQuant),
    /// Terms of a residual sum held by this quantizer.
    Terms(ActQuant),
    /// Real values (the next input is full precision, or these are the logits).
    Float,
}

impl Out {
    fn quant(self) -> Option<ActQuant> {
        match self {
            Out::Codes(n) | Out::Terms(n) => Some(n),
            Out::Float => None,
        }
    }
}

/// A non-quantizable layer after a stage, run on whatever the activation is.
enum Glue {
    /// ReLU, max-pooling, flatten or global average pooling, with its input shape.
    Layer(Box<Layer>, Shape),
    /// Save the activation for the skip branch.
    Fork,
    /// The residual sum: held by this quantizer with this code ceiling, or an f32 add.
    Add(Option<(ActQuant, i32)>),
}

struct Stage {
    /// The layer with fake-quant weights, for the f32 kernel.
    layer: Layer,
    in_shape: Shape,
    input: Option<ActQuant>,
    /// A projection shortcut: the input is the skip branch, and so is the output.
    shortcut: bool,
    /// Integer weight codes ([cout, kp], rows zero-padded to kp = padded(K)); None when the
    /// weights are full precision.
    wcodes: Option<Vec<i16>>,
    kp: usize,
    cout: usize,
    bias: Vec<f32>,
    out: Out,
    /// The layers up to the next stage.
    glue: Vec<Glue>,
    /// Before which glue entry a real-valued output becomes codes of `out` (the position of
    /// the next input quantizer, which precedes a block's Fork); `glue.len()`: after all.
    code_at: usize,
    /// s_w[c] * s_x per channel (dequantize acc).
    deq: Vec<f32>,
    /// M_c = s_w[c] s_x / s_out and B_c = bias_c / s_out (requantize acc).
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

/// Where stage `j`'s output goes: walk past the layers that keep its representation (ReLU,
/// pooling, flatten, Fork; a Shortcut for the main stream) to the next quantizable layer's
/// input quantizer, a residual Add (terms of the sum's quantizer) or the end.
fn out_of(q: &QuantizedModel, j: usize) -> Out {
    let layers = &q.model.layers;
    let from = q.layers[j].index + 1;
    for (i, l) in layers.iter().enumerate().skip(from) {
        match l {
            Layer::Add => {
                return match super::add_target(&q.model, &q.layers, i).and_then(|(k, _)| q.acts[k])
                {
                    Some(n) => Out::Terms(n),
                    None => Out::Float,
                }
            }
            Layer::GlobalAvgPool => return Out::Float,
            Layer::Shortcut(_) => {}
            l if l.is_quantizable() => {
                let k = q
                    .layers
                    .iter()
                    .position(|l| l.index == i)
                    .expect("quantizable");
                return q.acts[k].map_or(Out::Float, Out::Codes);
            }
            _ => {}
        }
    }
    Out::Float
}

fn glue_of(q: &QuantizedModel, j: usize) -> (Vec<Glue>, usize) {
    let shapes = q.model.shapes();
    let range = q.layers[j].glue.clone();
    let next_quant_at = q.layers.get(j + 1).map_or(range.end, |l| l.quant_at);
    let code_at = next_quant_at.clamp(range.start, range.end) - range.start;
    let glue = range
        .map(|i| match &q.model.layers[i] {
            Layer::Fork => Glue::Fork,
            Layer::Add => Glue::Add(super::add_target(&q.model, &q.layers, i).and_then(
                |(k, pooled)| {
                    q.acts[k].map(|n| (n, if pooled { i16::MAX as i32 } else { n.qmax() }))
                },
            )),
            l => Glue::Layer(Box::new(l.clone()), shapes[i]),
        })
        .collect();
    (glue, code_at)
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
            let input = q.acts[j];
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
            let out = out_of(q, j);
            let sn = out.quant().map_or(1.0, |a| a.scale);
            let (glue, code_at) = glue_of(q, j);
            stages.push(Stage {
                in_shape: ql.in_shape,
                input,
                shortcut: matches!(layer, Layer::Shortcut(_)),
                wcodes: wq.map(|w| pad_rows(&w.codes, ql.cout, k, padded(k))),
                kp: padded(k),
                cout: ql.cout,
                out,
                glue,
                code_at,
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
        let mut skips = Vec::new();
        for st in &self.stages {
            if st.shortcut {
                let x = skips.pop().expect("a Fork opened the block");
                let x = st.take_input(x);
                if let Some(t) = trace.as_deref_mut() {
                    t.push(st.dequant(&x));
                }
                let y = st.compute(batch, x);
                act = st.run_glue(batch, act, y, &mut skips);
            } else {
                let x = st.take_input(act);
                if let Some(t) = trace.as_deref_mut() {
                    t.push(st.dequant(&x));
                }
                let y = st.compute(batch, x);
                act = st.run_glue(batch, y, Act::Float(Vec::new()), &mut skips);
            }
        }
        match act {
            Act::Float(z) => z,
            _ => unreachable!("the last stage emits f32 logits"),
        }
    }
}

/// A stage's input: its quantizer's codes, or real values when the input is full precision.
enum Input {
    Codes(Vec<i16>),
    Float(Vec<f32>),
}

impl Stage {
    /// Bring an activation to this stage's input: codes of another quantizer are recoded
    /// through their real values (as the fake-quant model quantizes the dequantized value).
    fn take_input(&self, act: Act) -> Input {
        match (act, self.input) {
            (Act::Codes(c, a), Some(me)) if a == me => Input::Codes(c),
            (Act::Codes(c, a), Some(me)) => {
                Input::Codes(c.iter().map(|&v| me.code(v as f32 * a.scale)).collect())
            }
            (Act::Float(f), Some(me)) => Input::Codes(f.iter().map(|&v| me.code(v)).collect()),
            (Act::Codes(c, a), None) => {
                Input::Float(c.iter().map(|&v| v as f32 * a.scale).collect())
            }
            (Act::Float(f), None) => Input::Float(f),
            (Act::Terms(_), _) => unreachable!("terms only flow into a residual add"),
        }
    }

    fn dequant(&self, x: &Input) -> Vec<f32> {
        match (x, self.input) {
            (Input::Codes(c), Some(a)) => c.iter().map(|&q| q as f32 * a.scale).collect(),
            (Input::Float(f), _) => f.clone(),
            (Input::Codes(_), None) => unreachable!("codes only for a quantized input"),
        }
    }

    /// The layer's output in the representation `self.out` asks for (Float when the f32
    /// kernel ran and the output becomes codes only at `code_at`).
    fn compute(&self, batch: usize, x: Input) -> Act {
        if let (Some(w), Input::Codes(codes)) = (&self.wcodes, &x) {
            let acc = self.accumulate(batch, w, codes);
            return self.emit_int(batch, &acc);
        }
        let x = self.dequant(&x);
        let y = self
            .layer
            .forward(self.in_shape, batch, &x, &mut Vec::new());
        match self.out {
            Out::Terms(n) => Act::Terms(y.iter().map(|&v| add_term(v, n.scale)).collect()),
            _ => Act::Float(y),
        }
    }

    /// i32 accumulators, [batch, cout, hw] (hw = 1 for a linear layer).
    fn accumulate(&self, batch: usize, w: &[i16], x: &[i16]) -> Vec<i32> {
        match &self.layer {
            Layer::Conv(c) | Layer::Shortcut(c) => {
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
            _ => unreachable!("stages are conv, shortcut or linear"),
        }
    }

    fn emit_int(&self, batch: usize, acc: &[i32]) -> Act {
        let hw = acc.len() / (batch * self.cout);
        let chans = acc.chunks_exact(hw).enumerate();
        match self.out {
            Out::Codes(n) => {
                let mut q = vec![0i16; acc.len()];
                for ((i, a), o) in chans.zip(q.chunks_exact_mut(hw)) {
                    let c = i % self.cout;
                    requant(a, self.mult[c], self.add[c], n.qmin(), n.qmax(), o);
                }
                Act::Codes(q, n)
            }
            Out::Terms(_) => {
                let mut t = vec![0i32; acc.len()];
                for ((i, a), o) in chans.zip(t.chunks_exact_mut(hw)) {
                    let c = i % self.cout;
                    requant_terms(a, self.mult[c], self.add[c], o);
                }
                Act::Terms(t)
            }
            Out::Float => {
                let mut y = vec![0f32; acc.len()];
                for ((i, a), o) in chans.zip(y.chunks_exact_mut(hw)) {
                    let c = i % self.cout;
                    for (ov, &av) in o.iter_mut().zip(a) {
                        *ov = av as f32 * self.deq[c] + self.bias[c];
                    }
                }
                Act::Float(y)
            }
        }
    }

    /// A real-valued output becomes codes of `out` where the next input quantizer sits.
    fn code(&self, act: Act) -> Act {
        match (act, self.out) {
            (Act::Float(f), Out::Codes(n)) => Act::Codes(f.iter().map(|&v| n.code(v)).collect(), n),
            (a, _) => a,
        }
    }

    /// Run the glue on the main stream `main`; a shortcut stage's output `branch` goes onto
    /// the skip stack first (the main stream passes it unchanged).
    fn run_glue(&self, batch: usize, main: Act, branch: Act, skips: &mut Vec<Act>) -> Act {
        let mut act = main;
        if self.shortcut {
            skips.push(branch);
        }
        for (g, glue) in self.glue.iter().enumerate() {
            if g == self.code_at {
                act = self.code(act);
            }
            act = match glue {
                Glue::Fork => {
                    skips.push(match &act {
                        Act::Codes(c, a) => Act::Codes(c.clone(), *a),
                        Act::Float(f) => Act::Float(f.clone()),
                        Act::Terms(_) => unreachable!("a block input is codes or f32"),
                    });
                    act
                }
                Glue::Add(sum) => {
                    let skip = skips.pop().expect("a Fork opened the block");
                    residual_add(act, skip, *sum)
                }
                Glue::Layer(l, s) => glue_layer(l, *s, batch, act),
            };
        }
        if self.code_at >= self.glue.len() {
            act = self.code(act);
        }
        act
    }
}

/// The residual sum (module docs): integer terms added and clamped to the codes of the
/// quantizer holding the sum, or an f32 add of real values.
fn residual_add(main: Act, skip: Act, sum: Option<(ActQuant, i32)>) -> Act {
    match sum {
        Some((n, hi)) => {
            let Act::Terms(mut t) = main else {
                unreachable!("the block's last layer emits terms of the sum")
            };
            let lo = n.qmin();
            let mut add = |k: usize, v: i32| t[k] += v;
            match skip {
                Act::Terms(s) => s.into_iter().enumerate().for_each(|(k, v)| add(k, v)),
                Act::Codes(c, a) => c
                    .into_iter()
                    .enumerate()
                    .for_each(|(k, v)| add(k, add_term(v as f32 * a.scale, n.scale))),
                Act::Float(f) => f
                    .into_iter()
                    .enumerate()
                    .for_each(|(k, v)| add(k, add_term(v, n.scale))),
            }
            Act::Codes(t.into_iter().map(|v| v.clamp(lo, hi) as i16).collect(), n)
        }
        None => {
            let Act::Float(mut y) = main else {
                unreachable!("an unquantized sum adds real values")
            };
            match skip {
                Act::Float(f) => add_in_place(&mut y, &f),
                Act::Codes(c, a) => y
                    .iter_mut()
                    .zip(c)
                    .for_each(|(v, q)| *v += q as f32 * a.scale),
                Act::Terms(_) => unreachable!("terms only for a quantized sum"),
            }
            Act::Float(y)
        }
    }
}

/// ReLU, pooling or flatten on codes or real values. On codes: ReLU is a clamp at 0 (the
/// codes of an unsigned quantizer already are), max-pooling is exact (quantization is
/// monotone), global average pooling sums each channel's codes exactly and rounds the mean
/// (half to even) to a code of the same quantizer.
fn glue_layer(l: &Layer, s: Shape, batch: usize, act: Act) -> Act {
    match act {
        Act::Float(y) => Act::Float(l.forward(s, batch, &y, &mut Vec::new())),
        Act::Codes(mut q, a) => match l {
            Layer::Relu => {
                q.iter_mut().for_each(|v| *v = (*v).max(0));
                Act::Codes(q, a)
            }
            Layer::MaxPool(p) => Act::Codes(maxpool_i16(s, *p, batch, &q), a),
            Layer::GlobalAvgPool => {
                let hw = s[1] * s[2];
                let n = hw as f32;
                let (lo, hi) = (a.qmin(), a.qmax());
                let pooled = q
                    .chunks_exact(hw)
                    .map(|c| {
                        let sum: i32 = c.iter().map(|&v| v as i32).sum();
                        round_even_int(sum as f32 / n).clamp(lo, hi) as i16
                    })
                    .collect();
                Act::Codes(pooled, a)
            }
            _ => Act::Codes(q, a),
        },
        Act::Terms(_) => unreachable!("terms only flow into a residual add"),
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
