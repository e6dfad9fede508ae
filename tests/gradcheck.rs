//! Backward passes checked against central finite differences of the loss, for every
//! parameter tensor of the zoo models (the resnet's residual blocks, projection shortcuts
//! and global average pooling included).

use arq::nn::model::softmax_xent;
use arq::nn::Model;
use arq::rng::Stream;

fn loss(m: &Model, x: &[f32], y: &[u8]) -> f64 {
    let logits = m.forward(x, y.len());
    softmax_xent(&logits, y, m.classes).0 as f64
}

/// Relative agreement with an absolute floor: f32 finite differences carry ~1e-4 noise.
const REL_TOL: f64 = 2e-2;
const ABS_TOL: f64 = 2e-3;

/// A copy of `m` with entry `i` of parameter tensor `t` (layer order, weight then bias) moved by `d`.
fn nudged(m: &Model, t: usize, i: usize, d: f32) -> Model {
    let mut mm = m.clone();
    let mut k = 0;
    for l in mm.layers.iter_mut() {
        for (p, _) in l.param_grads() {
            if k == t {
                p[i] += d;
            }
            k += 1;
        }
    }
    mm
}

fn check(name: &str) {
    check_model(Model::zoo(name, 5).unwrap(), name);
}

fn check_model(mut m: Model, name: &str) {
    let mut r = Stream::new(9, "gradcheck");
    let batch = 3;
    let x: Vec<f32> = (0..batch * m.input_len()).map(|_| r.uniform()).collect();
    let y = vec![1u8, 4, 7];
    m.zero_grad();
    let acts = m.forward_train(&x, batch);
    let (_, g, _) = softmax_xent(acts.last().unwrap(), &y, m.classes);
    m.backward(&acts, g, batch);
    let analytic = m.grad_tensors();
    let eps = 1e-3f32;
    let mut checked = 0;
    for (t, grads) in analytic.iter().enumerate() {
        // probe the largest-gradient entries and a few fixed ones
        let mut idx: Vec<usize> = (0..grads.len()).collect();
        idx.sort_by(|&a, &b| grads[b].abs().total_cmp(&grads[a].abs()));
        idx.truncate(4);
        idx.push(grads.len() / 2);
        for &i in &idx {
            let bump = |d: f32| loss(&nudged(&m, t, i, d), &x, &y);
            let numeric = (bump(eps) - bump(-eps)) / (2.0 * eps as f64);
            let a = grads[i] as f64;
            assert!(
                (numeric - a).abs() <= ABS_TOL.max(REL_TOL * a.abs().max(numeric.abs())),
                "{name} tensor {t} index {i}: analytic {a} vs numeric {numeric}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 5 * analytic.len());
}

#[test]
fn lenet_gradients_match_finite_differences() {
    check("lenet");
}

#[test]
fn cnn3_gradients_match_finite_differences() {
    check("cnn3");
}

/// The resnet with every parameter drawn at random: its blocks' second convolutions start at
/// zero, which would hide the gradient of the first ones.
#[test]
fn resnet_gradients_match_finite_differences() {
    let mut m = Model::zoo("resnet", 5).unwrap();
    let mut r = Stream::new(4, "gradcheck-resnet");
    let p: Vec<f32> = (0..m.param_count())
        .map(|_| (2.0 * r.uniform() - 1.0) * 0.2)
        .collect();
    m.set_params_flat(&p).unwrap();
    check_model(m, "resnet");
}
