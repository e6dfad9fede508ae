//! How closely the integer path ([`IntModel`]) follows the fake-quant reference
//! ([`QuantizedModel`]): the bound of the [`super::intmodel`] module doc, measured on a batch.
//! Used by the property test (natively and in wasm) and for reports.

use super::fakequant::QuantizedModel;
use super::intmodel::IntModel;
use crate::nn::layers::Layer;
use serde::Serialize;

/// Per class c of a linear last layer (weights `w` [classes x K], bias `b`, fake-quant and
/// integer inputs `x_fq`, `x_int` as real values):
/// B_c = sum_k |x_fq[k] - x_int[k]| |w[c,k]| + 2 (gamma_{K+2} + 8u) (sum_k |w[c,k] x_fq[k]| + |b_c|),
/// gamma_n = n u / (1 - n u), u = 2^-24 (f32 unit roundoff).
pub(crate) fn logit_bound(w: &[f32], b: &[f32], x_fq: &[f32], x_int: &[f32]) -> Vec<f32> {
    let k = x_fq.len();
    let u = f32::EPSILON as f64 / 2.0;
    let n = (k + 2) as f64;
    let rel = 2.0 * (n * u / (1.0 - n * u) + 8.0 * u);
    w.chunks_exact(k)
        .zip(b)
        .map(|(row, &bc)| {
            let (mut flips, mut mag) = (0f64, bc.abs() as f64);
            for ((&wv, &xf), &xi) in row.iter().zip(x_fq).zip(x_int) {
                flips += ((xf - xi) as f64).abs() * (wv as f64).abs();
                mag += (wv as f64 * xf as f64).abs();
            }
            (flips + rel * mag) as f32
        })
        .collect()
}

/// Agreement statistics over one batch.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Agreement {
    pub inputs: usize,
    /// Inputs whose predicted classes are equal.
    pub same_prediction: usize,
    /// Largest |z_fq - z_int| over inputs and classes.
    pub max_logit_diff: f32,
    /// Largest bound B_c over inputs and classes.
    pub max_bound: f32,
    /// Logit differences that exceed their bound B_c (should be 0).
    pub bound_violations: usize,
    /// Inputs whose predictions differ although the fake-quant top-2 gap exceeds 2 max_c B_c
    /// (should be 0).
    pub unexplained: usize,
    /// Stage-input values (all stages) that differ between the paths, and their total.
    pub differing_values: usize,
    pub values: usize,
}

fn top2_gap(z: &[f32]) -> (usize, f32) {
    let mut best = 0;
    for c in 1..z.len() {
        if z[c] > z[best] {
            best = c;
        }
    }
    let second = (0..z.len())
        .filter(|&c| c != best)
        .map(|c| z[c])
        .fold(f32::NEG_INFINITY, f32::max);
    (best, z[best] - second)
}

/// Compare both paths on `batch` inputs `x`. Panics if the network does not end in its last
/// quantizable layer, a linear layer (true for the zoo).
pub fn agreement(q: &QuantizedModel, int: &IntModel, x: &[f32], batch: usize) -> Agreement {
    let last = q.layers.last().expect("a quantizable layer");
    assert!(last.glue.is_empty() && matches!(q.model.layers[last.index], Layer::Linear(_)));
    let t = q.forward_train(x, batch);
    let (z_int, ins) = int.trace(x, batch);
    let z_fq = t.logits();
    let classes = q.model.classes;
    let mut a = Agreement {
        inputs: batch,
        ..Agreement::default()
    };
    for (j, l) in q.layers.iter().enumerate() {
        let fq = &t.xs[l.index];
        a.values += fq.len();
        a.differing_values += fq
            .iter()
            .zip(&ins[j])
            .filter(|(p, r)| p.to_bits() != r.to_bits())
            .count();
    }
    let (w, b) = (
        q.layer_weights(q.layers.len() - 1),
        q.model.layers[last.index].param_slices()[1],
    );
    let (xf, xi) = (&t.xs[last.index], ins.last().expect("stages"));
    let k = xf.len() / batch;
    for i in 0..batch {
        let bound = logit_bound(w, b, &xf[i * k..(i + 1) * k], &xi[i * k..(i + 1) * k]);
        let (zf, zi) = (
            &z_fq[i * classes..(i + 1) * classes],
            &z_int[i * classes..(i + 1) * classes],
        );
        for c in 0..classes {
            let d = (zf[c] - zi[c]).abs();
            a.max_logit_diff = a.max_logit_diff.max(d);
            a.max_bound = a.max_bound.max(bound[c]);
            a.bound_violations += usize::from(d > bound[c]);
        }
        let ((pf, gap), (pi, _)) = (top2_gap(zf), top2_gap(zi));
        let maxb = bound.iter().fold(0f32, |m, &v| m.max(v));
        a.same_prediction += usize::from(pf == pi);
        a.unexplained += usize::from(pf != pi && gap > 2.0 * maxb);
    }
    a
}
