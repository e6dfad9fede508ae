//! Optimizers: SGD with momentum and weight decay (PyTorch's formulation), and Adam
//! (Kingma & Ba 2015) with L2 weight decay added to the gradient.

use super::model::Model;

/// The training optimizer and its hyperparameters; weight decay is L2, added to the gradient.
#[derive(Clone, Debug, PartialEq)]
pub enum OptKind {
    /// SGD with momentum (PyTorch's formulation: m = momentum * m + g, p -= lr * m).
    Sgd {
        /// Momentum factor in [0, 1).
        momentum: f32,
        /// L2 coefficient: `weight_decay * p` is added to each gradient.
        weight_decay: f32,
    },
    /// Adam with PyTorch's defaults (beta1 = 0.9, beta2 = 0.999, eps = 1e-8).
    Adam {
        /// L2 coefficient: `weight_decay * p` is added to each gradient.
        weight_decay: f32,
    },
}

pub(crate) struct Optimizer {
    pub kind: OptKind,
    m: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
    t: i32,
}

const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const EPS: f32 = 1e-8;

/// One Adam step's constants (Kingma & Ba 2015, PyTorch's defaults beta1 = 0.9,
/// beta2 = 0.999, eps = 1e-8), shared by [`Optimizer`] and the search's MLPs:
/// m = b1 m + (1 - b1) g, v = b2 v + (1 - b2) g^2,
/// p -= lr / (1 - b1^t) * m / (sqrt(v / (1 - b2^t)) + eps).
/// The bias corrections are computed in f64 with libm (so native and wasm agree) and applied
/// in f32.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AdamStep {
    b1: f32,
    b2: f32,
    /// lr / (1 - b1^t).
    step: f32,
    /// 1 / (1 - b2^t).
    inv_bc2: f32,
}

impl AdamStep {
    /// The constants of step `t` (1 for the first update) at learning rate `lr`.
    pub(crate) fn new(lr: f32, t: i32) -> AdamStep {
        let bc1 = 1.0 - libm::pow(BETA1, t as f64);
        let bc2 = 1.0 - libm::pow(BETA2, t as f64);
        AdamStep {
            b1: BETA1 as f32,
            b2: BETA2 as f32,
            step: lr / bc1 as f32,
            inv_bc2: 1.0 / bc2 as f32,
        }
    }

    /// Update the parameters `p` and their moments `m`, `v` in place (all the same length);
    /// `grad(i, p[i])` is element i's gradient.
    #[inline]
    pub(crate) fn apply(
        &self,
        p: &mut [f32],
        m: &mut [f32],
        v: &mut [f32],
        grad: impl Fn(usize, f32) -> f32,
    ) {
        let (b1, b2) = (self.b1, self.b2);
        for i in 0..p.len() {
            let gi = grad(i, p[i]);
            m[i] = b1 * m[i] + (1.0 - b1) * gi;
            v[i] = b2 * v[i] + (1.0 - b2) * gi * gi;
            p[i] -= self.step * m[i] / ((v[i] * self.inv_bc2).sqrt() + EPS);
        }
    }
}

impl Optimizer {
    pub(crate) fn new(kind: OptKind, model: &mut Model) -> Self {
        let shapes: Vec<usize> = model
            .layers
            .iter_mut()
            .flat_map(|l| {
                l.param_grads()
                    .into_iter()
                    .map(|(p, _)| p.len())
                    .collect::<Vec<_>>()
            })
            .collect();
        let zeros = || shapes.iter().map(|&n| vec![0.0; n]).collect::<Vec<_>>();
        Optimizer {
            m: zeros(),
            v: zeros(),
            kind,
            t: 0,
        }
    }

    /// One update with learning rate `lr` from the accumulated gradients.
    /// SGD: v = mu v + (g + wd p); p -= lr v. Adam: [`AdamStep`] on g + wd p.
    pub(crate) fn step(&mut self, model: &mut Model, lr: f32) {
        self.t += 1;
        let adam = AdamStep::new(lr, self.t);
        let mut idx = 0;
        for l in &mut model.layers {
            for (p, g) in l.param_grads() {
                let m = &mut self.m[idx];
                let v = &mut self.v[idx];
                idx += 1;
                match self.kind {
                    OptKind::Sgd {
                        momentum,
                        weight_decay,
                    } => {
                        for i in 0..p.len() {
                            let gi = g[i] + weight_decay * p[i];
                            m[i] = momentum * m[i] + gi;
                            p[i] -= lr * m[i];
                        }
                    }
                    OptKind::Adam { weight_decay } => {
                        adam.apply(p, m, v, |i, pi| g[i] + weight_decay * pi);
                    }
                }
            }
        }
    }
}
