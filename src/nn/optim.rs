//! Optimizers: SGD with momentum and weight decay (PyTorch's formulation), and Adam
//! (Kingma & Ba 2015) with L2 weight decay added to the gradient.

use super::model::Model;

#[derive(Clone, Debug, PartialEq)]
pub enum OptKind {
    Sgd { momentum: f32, weight_decay: f32 },
    Adam { weight_decay: f32 },
}

pub struct Optimizer {
    pub kind: OptKind,
    m: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
    t: i32,
}

const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const EPS: f32 = 1e-8;

impl Optimizer {
    pub fn new(kind: OptKind, model: &mut Model) -> Self {
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
    /// SGD: v = mu v + (g + wd p); p -= lr v. Adam: m, v moments with bias correction.
    pub fn step(&mut self, model: &mut Model, lr: f32) {
        self.t += 1;
        let (bc1, bc2) = (
            1.0 - libm::pow(BETA1, self.t as f64),
            1.0 - libm::pow(BETA2, self.t as f64),
        );
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
                        let (b1, b2) = (BETA1 as f32, BETA2 as f32);
                        let step = lr / bc1 as f32;
                        let inv_bc2 = 1.0 / bc2 as f32;
                        for i in 0..p.len() {
                            let gi = g[i] + weight_decay * p[i];
                            m[i] = b1 * m[i] + (1.0 - b1) * gi;
                            v[i] = b2 * v[i] + (1.0 - b2) * gi * gi;
                            p[i] -= step * m[i] / ((v[i] * inv_bc2).sqrt() + EPS);
                        }
                    }
                }
            }
        }
    }
}
