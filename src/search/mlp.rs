//! A small fully connected network for the DDPG actor and critic, with hand-written
//! forward/backward, Adam and soft target updates.
//!
//! Layer l computes y = act(W x + b): ReLU on hidden layers, identity or sigmoid
//! sigma(z) = 1 / (1 + exp(-z)) on the output. Everything is f32 with a fixed reduction order:
//! each output element accumulates its terms in ascending input index (forward), ascending
//! output index (input gradient) and ascending sample index (parameter gradients), written as
//! lane-wise multiply-then-add loops (Rust never contracts them into FMA), so the compiler may
//! vectorise across independent outputs without changing a single bit. Exact zeros of the
//! input (ReLU outputs) are skipped; that is the same code path everywhere, so results stay
//! reproducible. `tests/search_mlp.rs` checks backward against central finite differences.
//!
//! Public for the cross-checks in tests/search_mlp.rs (gradients against finite differences,
//! Adam and soft updates); the DDPG agent is its only user, not user API.

use crate::nn::optim::AdamStep;
use crate::rng::Stream;

/// Output activation of the last layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutAct {
    /// y = z.
    Identity,
    /// y = 1 / (1 + exp(-z)), in (0, 1).
    Sigmoid,
}

/// One dense layer. `wt` is stored input-major: `wt[i * n_out + j]` = W[j][i].
#[derive(Clone, Debug, PartialEq)]
pub struct Dense {
    /// Inputs.
    pub n_in: usize,
    /// Outputs.
    pub n_out: usize,
    /// Weights, input-major (`wt[i * n_out + j]` = `W[j][i]`).
    pub wt: Vec<f32>,
    /// Biases, one per output.
    pub b: Vec<f32>,
}

/// A multilayer perceptron: ReLU after every layer but the last, `out_act` after the last.
#[derive(Clone, Debug, PartialEq)]
pub struct Mlp {
    /// The layers, input to output.
    pub layers: Vec<Dense>,
    /// Activation of the last layer.
    pub out_act: OutAct,
}

/// Parameter gradients, laid out like the parameters (`w[l]` like `layers[l].wt`).
#[derive(Clone, Debug, PartialEq)]
pub struct Grads {
    /// Weight gradients per layer, laid out like [`Dense::wt`].
    pub w: Vec<Vec<f32>>,
    /// Bias gradients per layer.
    pub b: Vec<Vec<f32>>,
}

/// Activations kept by `forward_train` for `backward`: `acts[0]` is the input, `acts[l + 1]`
/// the (post-activation) output of layer l, each `batch` rows.
pub struct Cache {
    /// Rows (samples) in each activation.
    pub batch: usize,
    /// `acts[0]` is the input, `acts[l + 1]` layer l's output after its activation.
    pub acts: Vec<Vec<f32>>,
}

impl Cache {
    /// The network output, `batch x n_out`.
    pub(crate) fn output(&self) -> &[f32] {
        self.acts.last().expect("a cache always holds the input")
    }
}

/// Numerically safe logistic function (libm, so native and wasm agree).
pub fn sigmoid(z: f32) -> f32 {
    if z >= 0.0 {
        1.0 / (1.0 + libm::expf(-z))
    } else {
        let e = libm::expf(z);
        e / (1.0 + e)
    }
}

fn fill_uniform(rng: &mut Stream, bound: f32, out: &mut [f32]) {
    for v in out {
        *v = (2.0 * rng.uniform() - 1.0) * bound;
    }
}

impl Dense {
    /// y[s] = b + sum_i x[s][i] * W[.][i], accumulated in ascending i.
    fn forward(&self, x: &[f32], batch: usize, y: &mut [f32]) {
        let (n_in, n_out) = (self.n_in, self.n_out);
        for s in 0..batch {
            let xs = &x[s * n_in..(s + 1) * n_in];
            let ys = &mut y[s * n_out..(s + 1) * n_out];
            ys.copy_from_slice(&self.b);
            for (i, &xi) in xs.iter().enumerate() {
                if xi == 0.0 {
                    continue;
                }
                let row = &self.wt[i * n_out..(i + 1) * n_out];
                for (yj, &w) in ys.iter_mut().zip(row) {
                    *yj += xi * w;
                }
            }
        }
    }
}

impl Mlp {
    /// Layer sizes `sizes[0] -> sizes[1] -> ... -> sizes[last]`. Hidden layers use PyTorch's
    /// default U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases; the last layer uses
    /// U(-last_init, last_init) (DDPG, Lillicrap et al. 2016: 3e-3) so initial outputs sit
    /// near act(0).
    pub fn new(sizes: &[usize], out_act: OutAct, last_init: f32, rng: &mut Stream) -> Mlp {
        assert!(sizes.len() >= 2 && sizes.iter().all(|&n| n > 0));
        let last = sizes.len() - 2;
        let layers = sizes
            .windows(2)
            .enumerate()
            .map(|(l, w)| {
                let (n_in, n_out) = (w[0], w[1]);
                let bound = if l == last {
                    last_init
                } else {
                    1.0 / (n_in as f32).sqrt()
                };
                let mut wt = vec![0.0; n_in * n_out];
                let mut b = vec![0.0; n_out];
                fill_uniform(rng, bound, &mut wt);
                fill_uniform(rng, bound, &mut b);
                Dense { n_in, n_out, wt, b }
            })
            .collect();
        Mlp { layers, out_act }
    }

    pub(crate) fn n_in(&self) -> usize {
        self.layers[0].n_in
    }

    pub(crate) fn n_out(&self) -> usize {
        self.layers.last().expect("non-empty").n_out
    }

    /// Number of parameters.
    pub fn len(&self) -> usize {
        self.layers.iter().map(|d| d.wt.len() + d.b.len()).sum()
    }

    /// True for a network without parameters.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn activate(&self, l: usize, y: &mut [f32]) {
        if l + 1 < self.layers.len() {
            for v in y {
                *v = v.max(0.0);
            }
        } else if self.out_act == OutAct::Sigmoid {
            for v in y {
                *v = sigmoid(*v);
            }
        }
    }

    /// Forward pass keeping every activation.
    pub fn forward_train(&self, x: &[f32], batch: usize) -> Cache {
        assert_eq!(x.len(), batch * self.n_in());
        let mut acts = Vec::with_capacity(self.layers.len() + 1);
        acts.push(x.to_vec());
        for (l, d) in self.layers.iter().enumerate() {
            let mut y = vec![0.0; batch * d.n_out];
            d.forward(&acts[l], batch, &mut y);
            self.activate(l, &mut y);
            acts.push(y);
        }
        Cache { batch, acts }
    }

    /// Forward pass, output only (`batch x n_out`).
    pub fn forward(&self, x: &[f32], batch: usize) -> Vec<f32> {
        let mut cache = self.forward_train(x, batch);
        cache.acts.pop().expect("output")
    }

    /// Zero gradients shaped like this network.
    pub fn zero_grads(&self) -> Grads {
        Grads {
            w: self.layers.iter().map(|d| vec![0.0; d.wt.len()]).collect(),
            b: self.layers.iter().map(|d| vec![0.0; d.b.len()]).collect(),
        }
    }

    /// Backward pass from dL/d(output) (`batch x n_out`). Adds the parameter gradients into
    /// `grads` when given, and returns dL/d(input) (`batch x n_in`).
    pub fn backward(
        &self,
        cache: &Cache,
        grad_out: &[f32],
        mut grads: Option<&mut Grads>,
    ) -> Vec<f32> {
        let batch = cache.batch;
        assert_eq!(grad_out.len(), batch * self.n_out());
        let mut g = grad_out.to_vec();
        // output activation
        if self.out_act == OutAct::Sigmoid {
            for (gi, &y) in g.iter_mut().zip(cache.output()) {
                *gi *= y * (1.0 - y);
            }
        }
        let mut w_row_major = Vec::new();
        for l in (0..self.layers.len()).rev() {
            let d = &self.layers[l];
            let (n_in, n_out) = (d.n_in, d.n_out);
            let x = &cache.acts[l];
            if let Some(gr) = grads.as_deref_mut() {
                let (gw, gb) = (&mut gr.w[l], &mut gr.b[l]);
                for s in 0..batch {
                    let gs = &g[s * n_out..(s + 1) * n_out];
                    for (b, &v) in gb.iter_mut().zip(gs) {
                        *b += v;
                    }
                    for (i, &xi) in x[s * n_in..(s + 1) * n_in].iter().enumerate() {
                        if xi == 0.0 {
                            continue;
                        }
                        for (w, &v) in gw[i * n_out..(i + 1) * n_out].iter_mut().zip(gs) {
                            *w += xi * v;
                        }
                    }
                }
            }
            // dL/dx[s][i] = sum_j g[s][j] * W[j][i], ascending j, vectorised over i.
            w_row_major.resize(n_in * n_out, 0.0);
            for i in 0..n_in {
                for j in 0..n_out {
                    w_row_major[j * n_in + i] = d.wt[i * n_out + j];
                }
            }
            let mut gx = vec![0.0f32; batch * n_in];
            for s in 0..batch {
                let gxs = &mut gx[s * n_in..(s + 1) * n_in];
                for (j, &gj) in g[s * n_out..(s + 1) * n_out].iter().enumerate() {
                    if gj == 0.0 {
                        continue;
                    }
                    for (v, &w) in gxs.iter_mut().zip(&w_row_major[j * n_in..(j + 1) * n_in]) {
                        *v += gj * w;
                    }
                }
            }
            // through the ReLU that produced x (every layer input but the network input)
            if l > 0 {
                for (v, &xi) in gx.iter_mut().zip(x) {
                    if xi <= 0.0 {
                        *v = 0.0;
                    }
                }
            }
            g = gx;
        }
        g
    }

    /// Polyak averaging toward `src`: theta' = (1 - tau) theta' + tau theta.
    pub fn soft_update(&mut self, src: &Mlp, tau: f32) {
        let keep = 1.0 - tau;
        for (d, s) in self.layers.iter_mut().zip(&src.layers) {
            for (t, &v) in d.wt.iter_mut().zip(&s.wt).chain(d.b.iter_mut().zip(&s.b)) {
                *t = keep * *t + tau * v;
            }
        }
    }
}

/// Adam over an [`Mlp`]'s weights and biases ([`AdamStep`]: PyTorch's defaults, no weight
/// decay).
#[derive(Clone, Debug)]
pub struct Adam {
    /// Learning rate.
    pub lr: f32,
    t: i32,
    m: Grads,
    v: Grads,
}

impl Adam {
    /// A fresh optimizer (zero moments, step 0) for `net`'s shapes at learning rate `lr`.
    pub fn new(net: &Mlp, lr: f32) -> Adam {
        Adam {
            lr,
            t: 0,
            m: net.zero_grads(),
            v: net.zero_grads(),
        }
    }

    /// One update of `net` from `grads`.
    pub fn step(&mut self, net: &mut Mlp, grads: &Grads) {
        self.t += 1;
        let adam = AdamStep::new(self.lr, self.t);
        for (l, d) in net.layers.iter_mut().enumerate() {
            let tensors = [
                (&mut d.wt, &grads.w[l], &mut self.m.w[l], &mut self.v.w[l]),
                (&mut d.b, &grads.b[l], &mut self.m.b[l], &mut self.v.b[l]),
            ];
            for (p, g, m, v) in tensors {
                adam.apply(p, m, v, |i, _| g[i]);
            }
        }
    }
}

/// Set every gradient to zero (keeps the allocation).
pub(crate) fn clear(grads: &mut Grads) {
    for v in grads.w.iter_mut().chain(grads.b.iter_mut()) {
        v.fill(0.0);
    }
}
