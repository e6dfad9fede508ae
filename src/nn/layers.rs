//! Layers: Conv2d (stride, zero padding), ReLU, MaxPool2d, Flatten, Linear, global average
//! pooling, and the three pieces of a residual block (Fork, Shortcut, Add; see [`Layer`]).
//! Activations are flat f32 buffers in NCHW order with an explicit shape; parameters are
//! ndarray arrays.
//! Forward and backward are written out by hand; `tests/gradcheck.rs` holds them against
//! finite differences.

use super::kernels::{
    col2im, gemm_nn, gemm_nt, im2col, transpose, ConvGeom, DirectConv, OcConv, CONV_LANES,
};
use super::simd::F4;
use crate::rng::Stream;
use ndarray::{Array1, Array2, Array4};

/// Per-image activation shape (C, H, W); a flat vector has H = W = 1.
pub(crate) type Shape = [usize; 3];

pub(crate) fn numel(s: Shape) -> usize {
    s[0] * s[1] * s[2]
}

#[derive(Clone, Debug)]
pub struct Conv2d {
    pub cin: usize,
    pub cout: usize,
    pub k: usize,
    pub stride: usize,
    pub pad: usize,
    /// [cout, cin, k, k]
    pub w: Array4<f32>,
    pub b: Array1<f32>,
    pub gw: Array4<f32>,
    pub gb: Array1<f32>,
}

#[derive(Clone, Debug)]
pub struct Linear {
    pub fin: usize,
    pub fout: usize,
    /// [fout, fin] (PyTorch layout)
    pub w: Array2<f32>,
    pub b: Array1<f32>,
    pub gw: Array2<f32>,
    pub gb: Array1<f32>,
}

/// One layer of a [`crate::nn::Model`]'s flat layer list.
///
/// A residual block y = relu(body(x) + shortcut(x)) stays flat: `Fork` saves its input x on
/// a skip stack (the main stream passes on unchanged), the body's layers follow, an optional
/// `Shortcut` convolution (the 1x1 projection) replaces the saved x by its output (the main
/// stream again passes on unchanged), and `Add` pops the saved branch and adds it to the
/// main stream; a `Relu` follows. So every quantizable layer keeps one index in the list,
/// and the walkers (forward, backward, fake-quant, the integer path) carry the skip stack.
#[derive(Clone, Debug)]
pub enum Layer {
    Conv(Conv2d),
    Relu,
    MaxPool(usize),
    Flatten,
    Linear(Linear),
    /// Start of a residual block: push the input onto the skip stack.
    Fork,
    /// A projection shortcut: a convolution of the saved block input (the top of the skip
    /// stack), replacing it; its input shape is the block input's.
    Shortcut(Conv2d),
    /// End of a residual block: pop the skip branch and add it to the main stream.
    Add,
    /// Global average pooling: (C, H, W) -> (C, 1, 1), the mean over each channel.
    GlobalAvgPool,
}

/// PyTorch's default init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases.
fn uniform_init(rng: &mut Stream, fan_in: usize, out: &mut [f32]) {
    let bound = 1.0 / (fan_in as f32).sqrt();
    for v in out {
        *v = (2.0 * rng.uniform() - 1.0) * bound;
    }
}

impl Conv2d {
    pub(crate) fn new(
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
        pad: usize,
        rng: &mut Stream,
    ) -> Self {
        let mut w = Array4::zeros((cout, cin, k, k));
        let mut b = Array1::zeros(cout);
        let fan_in = cin * k * k;
        uniform_init(rng, fan_in, w.as_slice_mut().expect("standard layout"));
        uniform_init(rng, fan_in, b.as_slice_mut().expect("standard layout"));
        Conv2d {
            cin,
            cout,
            k,
            stride,
            pad,
            gw: Array4::zeros(w.raw_dim()),
            gb: Array1::zeros(cout),
            w,
            b,
        }
    }
    /// Like [`Conv2d::new`], but the weights drawn He-uniform, U(-sqrt(6 / fan_in),
    /// sqrt(6 / fan_in)), which keeps the activations' scale through ReLUs (He et al. 2015),
    /// for a network without normalisation layers; the biases as in `new`.
    pub(crate) fn new_he(
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
        pad: usize,
        rng: &mut Stream,
    ) -> Self {
        let mut c = Conv2d::new(cin, cout, k, stride, pad, rng);
        let gain = 6f32.sqrt();
        c.w.iter_mut().for_each(|w| *w *= gain);
        c
    }

    pub(crate) fn geom(&self, s: Shape) -> ConvGeom {
        ConvGeom {
            c: s[0],
            h: s[1],
            w: s[2],
            k: self.k,
            stride: self.stride,
            pad: self.pad,
        }
    }
}

impl Linear {
    pub(crate) fn new(fin: usize, fout: usize, rng: &mut Stream) -> Self {
        let mut w = Array2::zeros((fout, fin));
        let mut b = Array1::zeros(fout);
        uniform_init(rng, fin, w.as_slice_mut().expect("standard layout"));
        uniform_init(rng, fin, b.as_slice_mut().expect("standard layout"));
        Linear {
            fin,
            fout,
            gw: Array2::zeros(w.raw_dim()),
            gb: Array1::zeros(fout),
            w,
            b,
        }
    }
}

impl Layer {
    pub(crate) fn out_shape(&self, s: Shape) -> Shape {
        match self {
            Layer::Conv(c) => {
                let g = c.geom(s);
                [c.cout, g.out_h(), g.out_w()]
            }
            Layer::Relu => s,
            Layer::MaxPool(p) => [s[0], s[1] / p, s[2] / p],
            Layer::Flatten => [numel(s), 1, 1],
            Layer::Linear(l) => [l.fout, 1, 1],
            Layer::Fork | Layer::Shortcut(_) | Layer::Add => s,
            Layer::GlobalAvgPool => [s[0], 1, 1],
        }
    }

    /// The shape this layer's own computation maps: for a [`Layer::Shortcut`] the projection
    /// of the block input `skip_in` (the main stream passes through), else `out_shape(s)`.
    pub(crate) fn branch_out_shape(&self, s: Shape) -> Shape {
        match self {
            Layer::Shortcut(c) => {
                let g = c.geom(s);
                [c.cout, g.out_h(), g.out_w()]
            }
            l => l.out_shape(s),
        }
    }

    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Layer::Conv(_) => "conv",
            Layer::Relu => "relu",
            Layer::MaxPool(_) => "maxpool",
            Layer::Flatten => "flatten",
            Layer::Linear(_) => "linear",
            Layer::Fork => "fork",
            Layer::Shortcut(_) => "shortcut",
            Layer::Add => "add",
            Layer::GlobalAvgPool => "avgpool",
        }
    }

    pub(crate) fn params(&self) -> usize {
        match self {
            Layer::Conv(c) | Layer::Shortcut(c) => c.w.len() + c.b.len(),
            Layer::Linear(l) => l.w.len() + l.b.len(),
            _ => 0,
        }
    }

    /// Multiply-accumulates per image (docs/method.md section 5); `s` is the input of the
    /// layer's own computation (the block input for a [`Layer::Shortcut`]).
    pub(crate) fn macs(&self, s: Shape) -> usize {
        match self {
            Layer::Conv(c) | Layer::Shortcut(c) => {
                let g = c.geom(s);
                c.cout * g.out_hw() * c.cin * c.k * c.k
            }
            Layer::Linear(l) => l.fin * l.fout,
            _ => 0,
        }
    }

    pub(crate) fn is_quantizable(&self) -> bool {
        matches!(self, Layer::Conv(_) | Layer::Shortcut(_) | Layer::Linear(_))
    }

    /// Forward a batch: `x` holds `batch` images of shape `s`; returns the output batch.
    /// `scratch` is reused between calls to avoid allocation. A [`Layer::Shortcut`] computes
    /// its projection of `x` (the caller passes the saved block input and its shape), `Fork`
    /// is the identity on the main stream; `Add` needs the skip branch, which the model's
    /// walkers add themselves ([`add_in_place`]).
    pub(crate) fn forward(
        &self,
        s: Shape,
        batch: usize,
        x: &[f32],
        scratch: &mut Vec<f32>,
    ) -> Vec<f32> {
        match self {
            Layer::Conv(c) | Layer::Shortcut(c) => conv_forward(c, s, batch, x, scratch, false),
            Layer::Fork => x.to_vec(),
            Layer::Add => unreachable!("the model's walker adds the skip branch"),
            Layer::GlobalAvgPool => avgpool_forward(s, batch, x),
            Layer::Relu => {
                let mut y = x.to_vec();
                relu_in_place(&mut y);
                y
            }
            Layer::MaxPool(p) => maxpool_forward(s, *p, batch, x),
            Layer::Flatten => x.to_vec(),
            Layer::Linear(l) => {
                let mut out = vec![0.0; batch * l.fout];
                for bi in 0..batch {
                    out[bi * l.fout..(bi + 1) * l.fout]
                        .copy_from_slice(l.b.as_slice().expect("standard layout"));
                }
                gemm_nt(
                    batch,
                    l.fout,
                    l.fin,
                    x,
                    l.w.as_slice().expect("standard layout"),
                    &mut out,
                );
                out
            }
        }
    }

    /// Backward: given this layer's input `x`, output `y` and dL/dy, accumulate parameter
    /// gradients and return dL/dx. For a [`Layer::Shortcut`] these are the projection's input
    /// (the block input, shape `s`) and output; `Fork` and `Add` route gradients between the
    /// main stream and the skip stack in the model's walkers and are the identity here.
    pub(crate) fn backward(
        &mut self,
        s: Shape,
        batch: usize,
        x: &[f32],
        y: &[f32],
        gy: &[f32],
    ) -> Vec<f32> {
        let ni = numel(s);
        match self {
            Layer::Conv(c) | Layer::Shortcut(c) => {
                let g = c.geom(s);
                let (hw, patch) = (g.out_hw(), g.patch());
                let no = c.cout * hw;
                let mut col = vec![0.0; patch * hw];
                let mut gcol = vec![0.0; patch * hw];
                let mut wt = vec![0.0; patch * c.cout];
                transpose(
                    c.cout,
                    patch,
                    c.w.as_slice().expect("standard layout"),
                    &mut wt,
                );
                let mut gx = vec![0.0; batch * ni];
                let gw = c.gw.as_slice_mut().expect("standard layout");
                for bi in 0..batch {
                    let gyi = &gy[bi * no..(bi + 1) * no];
                    im2col(&g, &x[bi * ni..(bi + 1) * ni], &mut col);
                    gemm_nt(c.cout, patch, hw, gyi, &col, gw);
                    for (oc, gbv) in c.gb.iter_mut().enumerate() {
                        *gbv += gyi[oc * hw..(oc + 1) * hw].iter().sum::<f32>();
                    }
                    gcol.fill(0.0);
                    gemm_nn(patch, c.cout, hw, &wt, gyi, &mut gcol);
                    col2im(&g, &gcol, &mut gx[bi * ni..(bi + 1) * ni]);
                }
                gx
            }
            Layer::Relu => gy
                .iter()
                .zip(y)
                .map(|(&g, &v)| if v > 0.0 { g } else { 0.0 })
                .collect(),
            Layer::MaxPool(p) => {
                let mut gx = vec![0.0; batch * ni];
                maxpool_backward(s, *p, batch, x, gy, &mut gx);
                gx
            }
            Layer::Flatten | Layer::Fork | Layer::Add => gy.to_vec(),
            Layer::GlobalAvgPool => {
                let hw = s[1] * s[2];
                let inv = 1.0 / hw as f32;
                let mut gx = vec![0.0; batch * ni];
                for (gxc, &g) in gx.chunks_exact_mut(hw).zip(gy) {
                    gxc.fill(g * inv);
                }
                gx
            }
            Layer::Linear(l) => {
                // dW[fout x fin] += gy^T[fout x B] * x[B x fin]; db += sum_b gy; dx = gy * W
                let mut gyt = vec![0.0; l.fout * batch];
                transpose(batch, l.fout, gy, &mut gyt);
                gemm_nn(
                    l.fout,
                    batch,
                    l.fin,
                    &gyt,
                    x,
                    l.gw.as_slice_mut().expect("standard layout"),
                );
                for (o, gbv) in l.gb.iter_mut().enumerate() {
                    *gbv += gyt[o * batch..(o + 1) * batch].iter().sum::<f32>();
                }
                let mut gx = vec![0.0; batch * l.fin];
                gemm_nn(
                    batch,
                    l.fout,
                    l.fin,
                    gy,
                    l.w.as_slice().expect("standard layout"),
                    &mut gx,
                );
                gx
            }
        }
    }

    /// (parameter, gradient) slices, weights first.
    pub fn param_grads(&mut self) -> Vec<(&mut [f32], &mut [f32])> {
        match self {
            Layer::Conv(c) | Layer::Shortcut(c) => vec![
                (
                    c.w.as_slice_mut().expect("std"),
                    c.gw.as_slice_mut().expect("std"),
                ),
                (
                    c.b.as_slice_mut().expect("std"),
                    c.gb.as_slice_mut().expect("std"),
                ),
            ],
            Layer::Linear(l) => vec![
                (
                    l.w.as_slice_mut().expect("std"),
                    l.gw.as_slice_mut().expect("std"),
                ),
                (
                    l.b.as_slice_mut().expect("std"),
                    l.gb.as_slice_mut().expect("std"),
                ),
            ],
            _ => vec![],
        }
    }

    pub(crate) fn param_slices(&self) -> Vec<&[f32]> {
        match self {
            Layer::Conv(c) | Layer::Shortcut(c) => {
                vec![c.w.as_slice().expect("std"), c.b.as_slice().expect("std")]
            }
            Layer::Linear(l) => vec![l.w.as_slice().expect("std"), l.b.as_slice().expect("std")],
            _ => vec![],
        }
    }
}

/// A convolution layer's forward pass over a batch, optionally with the following ReLU
/// applied as the outputs are stored (the same values as the separate layer).
pub(crate) fn conv_forward(
    c: &Conv2d,
    s: Shape,
    batch: usize,
    x: &[f32],
    scratch: &mut Vec<f32>,
    relu: bool,
) -> Vec<f32> {
    let g = c.geom(s);
    let (ni, no) = (numel(s), c.cout * g.out_hw());
    let w = c.w.as_slice().expect("standard layout");
    let b = c.b.as_slice().expect("standard layout");
    let mut out = vec![0.0; batch * no];
    if direct_conv_pays(&g) {
        // image by image, no im2col buffer at all
        let conv = DirectConv::new(&g, c.cout, w, b);
        for (xi, oi) in x.chunks_exact(ni).zip(out.chunks_exact_mut(no)) {
            conv.run(xi, oi, scratch, relu);
        }
    } else {
        OcConv::new(&g, c.cout, w, b).run_batch(batch, x, &mut out, scratch, relu);
    }
    out
}

/// Global average pooling of a batch: per image and channel, the sum of its H x W values
/// in scan order divided by H x W.
fn avgpool_forward(s: Shape, batch: usize, x: &[f32]) -> Vec<f32> {
    let hw = s[1] * s[2];
    let n = hw as f32;
    x[..batch * numel(s)]
        .chunks_exact(hw)
        .map(|c| c.iter().sum::<f32>() / n)
        .collect()
}

/// The residual add: `y += skip`, element by element.
pub(crate) fn add_in_place(y: &mut [f32], skip: &[f32]) {
    debug_assert_eq!(y.len(), skip.len());
    for (a, &b) in y.iter_mut().zip(skip) {
        *a += b;
    }
}

/// ReLU: `v > 0 ? v : 0` (so -0 and NaN become +0), four lanes at a time.
#[allow(unsafe_code)]
pub(crate) fn relu_in_place(x: &mut [f32]) {
    let mut chunks = x.chunks_exact_mut(4);
    for c in &mut chunks {
        // SAFETY: the chunk holds four f32.
        unsafe { F4::load_ptr(c.as_ptr()) }
            .max_gt(F4::splat(0.0))
            .store(c);
    }
    for v in chunks.into_remainder() {
        *v = if *v > 0.0 { *v } else { 0.0 };
    }
}

/// Whether [`DirectConv`] (lanes across an output row) beats [`OcConv`] (lanes across output
/// channels) for this geometry: for small patches, and when the output rows fill whole lane
/// blocks (a 14-pixel row computes 16 lanes). Both give bit-identical results; this only
/// picks the faster one.
fn direct_conv_pays(g: &ConvGeom) -> bool {
    g.patch() <= 32 || g.out_w() % CONV_LANES == 0
}

/// p x p max pooling with stride p (floor). Ties go to the first element in scan order.
#[allow(unsafe_code)]
fn maxpool_forward(s: Shape, p: usize, batch: usize, x: &[f32]) -> Vec<f32> {
    let (c, h, w) = (s[0], s[1], s[2]);
    let (oh, ow) = (h / p, w / p);
    let mut out = vec![f32::NEG_INFINITY; batch * c * oh * ow];
    for (src, dst) in x.chunks_exact(h * w).zip(out.chunks_exact_mut(oh * ow)) {
        for (oy, o) in dst.chunks_exact_mut(ow).enumerate() {
            let mut done = 0;
            if p == 2 {
                // four outputs at a time: each row's eight inputs split into even and odd
                // columns, then compared in the scan order (0,0), (0,1), (1,0), (1,1) with
                // the scalar loop's `v > m` (max_gt)
                let rows = [&src[2 * oy * w..], &src[(2 * oy + 1) * w..]];
                while done + 4 <= ow {
                    let mut m = F4::splat(f32::NEG_INFINITY);
                    for row in rows {
                        let r = &row[2 * done..2 * done + 8];
                        // SAFETY: `r` holds eight f32.
                        let (ev, od) = unsafe {
                            F4::load_ptr(r.as_ptr()).deinterleave(F4::load_ptr(r.as_ptr().add(4)))
                        };
                        m = ev.max_gt(m);
                        m = od.max_gt(m);
                    }
                    m.store(&mut o[done..]);
                    done += 4;
                }
            }
            let o = &mut o[done..];
            // window element (dy, dx) of every remaining output of the row, in scan order
            for dy in 0..p {
                let row = &src[(oy * p + dy) * w + done * p..(oy * p + dy) * w + ow * p];
                for dx in 0..p {
                    for (m, win) in o.iter_mut().zip(row.chunks_exact(p)) {
                        let v = win[dx];
                        if v > *m {
                            *m = v;
                        }
                    }
                }
            }
        }
    }
    out
}

fn maxpool_backward(s: Shape, p: usize, batch: usize, x: &[f32], gy: &[f32], gx: &mut [f32]) {
    let (c, h, w) = (s[0], s[1], s[2]);
    let (oh, ow) = (h / p, w / p);
    for bc in 0..batch * c {
        let src = &x[bc * h * w..(bc + 1) * h * w];
        for oy in 0..oh {
            for ox in 0..ow {
                let (mut m, mut at) = (f32::NEG_INFINITY, 0);
                for dy in 0..p {
                    for dx in 0..p {
                        let i = (oy * p + dy) * w + ox * p + dx;
                        if src[i] > m {
                            m = src[i];
                            at = i;
                        }
                    }
                }
                gx[bc * h * w + at] += gy[(bc * oh + oy) * ow + ox];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The textbook loop: each window in scan order, `v > m` from -inf.
    fn maxpool_ref(s: Shape, p: usize, batch: usize, x: &[f32]) -> Vec<f32> {
        let (c, h, w) = (s[0], s[1], s[2]);
        let (oh, ow) = (h / p, w / p);
        let mut out = vec![0.0; batch * c * oh * ow];
        for bc in 0..batch * c {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut m = f32::NEG_INFINITY;
                    for dy in 0..p {
                        for dx in 0..p {
                            let v = x[bc * h * w + (oy * p + dy) * w + ox * p + dx];
                            if v > m {
                                m = v;
                            }
                        }
                    }
                    out[(bc * oh + oy) * ow + ox] = m;
                }
            }
        }
        out
    }

    #[test]
    fn maxpool_matches_the_scan_order_loop_bitwise() {
        let mut s = Stream::new(21, "pool");
        let special = [f32::NAN, -0.0, 0.0, f32::NEG_INFINITY, f32::INFINITY];
        for (shape, p) in [
            ([6, 24, 24], 2),
            ([16, 8, 8], 2),
            ([3, 9, 11], 2),
            ([2, 7, 7], 3),
        ] {
            let n = 2 * numel(shape);
            let x: Vec<f32> = (0..n)
                .map(|_| {
                    if s.below(10) == 0 {
                        special[s.below(5) as usize]
                    } else {
                        s.normal()
                    }
                })
                .collect();
            let bits = |v: Vec<f32>| v.into_iter().map(f32::to_bits).collect::<Vec<_>>();
            assert_eq!(
                bits(maxpool_forward(shape, p, 2, &x)),
                bits(maxpool_ref(shape, p, 2, &x)),
                "{shape:?} pool {p}"
            );
        }
    }
}
