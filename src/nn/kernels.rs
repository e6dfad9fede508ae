//! The numeric kernels every layer is built from, with a fixed reduction order.
//!
//! Reproducibility (docs/method.md section 9): each output element is accumulated in one fixed
//! order, with separate IEEE multiply and add (Rust never fuses them into FMA without an
//! explicit call), so the native build and wasm32 (with or without SIMD128) give bit-identical
//! results. Vectorisation happens *across* independent output elements (`gemm_nn`) or across a
//! fixed set of 8 partial sums (`dot`), never by reassociating one sum.
//!
//! Each fast kernel has a plain scalar reference beside it (`*_ref`); property tests hold one
//! against the other (bit-identical for `gemm_nn`, a documented tolerance for `dot`).
//!
//! Public for the cross-checks in tests/quant_paths.rs, which build a [`ConvGeom`] for the
//! integer convolution kernels of [`crate::quant::int_kernels`]; not user API.

use super::simd::F4;

/// Register block of [`gemm_nn`]: MR rows x NR columns of C are accumulated in SIMD
/// registers (12 four-lane accumulators, which fit the 16 of SSE and of V8's wasm SIMD).
const MR: usize = 4;
const NR: usize = 12;

/// C[m x n] += A[m x k] * B[k x n], all row-major. Each C[i][j] starts from its old value and
/// adds A[i][p] * B[p][j] for p = 0..k in order, exactly like [`gemm_nn_ref`]; the blocking
/// (an MR x NR register tile, column panels outermost so a k x NR panel of B stays in L1)
/// only changes which elements are computed together, never one element's summation order.
pub(crate) fn gemm_nn(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n);
    let (mb, nb) = (m - m % MR, n - n % NR);
    for j in (0..nb).step_by(NR) {
        for i in (0..mb).step_by(MR) {
            tile(k, n, &a[i * k..], &b[j..], &mut c[i * n + j..]);
        }
    }
    // leftover columns of the full row blocks, then leftover rows: plain order
    for i in 0..m {
        let j0 = if i < mb { nb } else { 0 };
        for p in 0..k {
            let av = a[i * k + p];
            for j in j0..n {
                c[i * n + j] += av * b[p * n + j];
            }
        }
    }
}

/// One MR x NR tile of C (row stride n) from MR rows of A (stride k) and NR columns of B.
#[inline(always)]
#[allow(unsafe_code)]
fn tile(k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    const V: usize = NR / 4;
    // every load below stays inside these bounds
    assert!(k > 0 && a.len() >= (MR - 1) * k + k && b.len() >= (k - 1) * n + NR);
    assert!(c.len() >= (MR - 1) * n + NR);
    let mut acc: [[F4; V]; MR] = core::array::from_fn(|r| {
        // SAFETY: row r of the tile, NR values at c[r * n..], in bounds (asserted).
        core::array::from_fn(|v| unsafe { F4::load_ptr(c.as_ptr().add(r * n + 4 * v)) })
    });
    for p in 0..k {
        // SAFETY: b[p * n .. p * n + NR] is in bounds (asserted above).
        let bv: [F4; V] =
            core::array::from_fn(|v| unsafe { F4::load_ptr(b.as_ptr().add(p * n + 4 * v)) });
        for (r, row) in acc.iter_mut().enumerate() {
            // SAFETY: r * k + p < MR * k <= a.len().
            let av = F4::splat(unsafe { *a.get_unchecked(r * k + p) });
            for (x, &bb) in row.iter_mut().zip(&bv) {
                *x = x.mul_add(av, bb);
            }
        }
    }
    for (r, row) in acc.iter().enumerate() {
        for (v, x) in row.iter().enumerate() {
            x.store(&mut c[r * n + 4 * v..]);
        }
    }
}

#[cfg(test)]
/// Scalar reference for [`gemm_nn`]: the textbook i-j-p loop, same summation order.
pub(crate) fn gemm_nn_ref(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    for i in 0..m {
        for j in 0..n {
            let mut s = c[i * n + j];
            for p in 0..k {
                s += a[i * k + p] * b[p * n + j];
            }
            c[i * n + j] = s;
        }
    }
}

/// Dot product with 8 interleaved partial sums combined in a fixed tree, then the tail.
#[inline]
pub(crate) fn dot(x: &[f32], y: &[f32]) -> f32 {
    debug_assert_eq!(x.len(), y.len());
    let mut acc = [0f32; 8];
    let xc = x.chunks_exact(8);
    let yc = y.chunks_exact(8);
    let (xt, yt) = (xc.remainder(), yc.remainder());
    for (xs, ys) in xc.zip(yc) {
        for l in 0..8 {
            acc[l] += xs[l] * ys[l];
        }
    }
    let mut tail = 0f32;
    for (a, b) in xt.iter().zip(yt) {
        tail += a * b;
    }
    (((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))) + tail
}

/// C[m x n] += A[m x k] * B[n x k]^T (rows of A dotted with rows of B).
pub(crate) fn gemm_nt(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    debug_assert!(a.len() >= m * k && b.len() >= n * k && c.len() >= m * n);
    for i in 0..m {
        let arow = &a[i * k..(i + 1) * k];
        for j in 0..n {
            c[i * n + j] += dot(arow, &b[j * k..(j + 1) * k]);
        }
    }
}

/// out[cols x rows] = in[rows x cols]^T.
pub(crate) fn transpose(rows: usize, cols: usize, input: &[f32], out: &mut [f32]) {
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = input[r * cols + c];
        }
    }
}

/// Geometry of a 2-D convolution on one image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeom {
    /// Input channels.
    pub c: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Kernel size (K x K).
    pub k: usize,
    /// Stride, the same in both directions.
    pub stride: usize,
    /// Zero padding on each side.
    pub pad: usize,
}

impl ConvGeom {
    pub(crate) fn out_h(&self) -> usize {
        (self.h + 2 * self.pad - self.k) / self.stride + 1
    }
    pub(crate) fn out_w(&self) -> usize {
        (self.w + 2 * self.pad - self.k) / self.stride + 1
    }
    /// Rows of the im2col matrix: C * K * K.
    pub fn patch(&self) -> usize {
        self.c * self.k * self.k
    }
    /// Output positions per channel: OH * OW.
    pub fn out_hw(&self) -> usize {
        self.out_h() * self.out_w()
    }
}

/// Unfold one C x H x W image into a (C*K*K) x (OH*OW) matrix (zero padding).
pub(crate) fn im2col(g: &ConvGeom, img: &[f32], col: &mut [f32]) {
    im2col_ld(g, img, col, g.out_hw());
}

/// [`im2col`] into a wider matrix whose rows are `ld` apart, so the columns of several images
/// can sit side by side (one GEMM for a whole batch).
fn im2col_ld(g: &ConvGeom, img: &[f32], col: &mut [f32], ld: usize) {
    let (oh, ow) = (g.out_h(), g.out_w());
    let hw = oh * ow;
    for ch in 0..g.c {
        for ky in 0..g.k {
            for kx in 0..g.k {
                let row = (ch * g.k + ky) * g.k + kx;
                let dst = &mut col[row * ld..row * ld + hw];
                for oy in 0..oh {
                    let iy = (oy * g.stride + ky) as isize - g.pad as isize;
                    for ox in 0..ow {
                        let ix = (ox * g.stride + kx) as isize - g.pad as isize;
                        dst[oy * ow + ox] =
                            if iy >= 0 && (iy as usize) < g.h && ix >= 0 && (ix as usize) < g.w {
                                img[(ch * g.h + iy as usize) * g.w + ix as usize]
                            } else {
                                0.0
                            };
                    }
                }
            }
        }
    }
}

/// Adjoint of [`im2col`]: add the columns back into a C x H x W gradient image.
pub(crate) fn col2im(g: &ConvGeom, col: &[f32], img: &mut [f32]) {
    let (oh, ow) = (g.out_h(), g.out_w());
    let hw = oh * ow;
    for ch in 0..g.c {
        for ky in 0..g.k {
            for kx in 0..g.k {
                let row = (ch * g.k + ky) * g.k + kx;
                let src = &col[row * hw..(row + 1) * hw];
                for oy in 0..oh {
                    let iy = (oy * g.stride + ky) as isize - g.pad as isize;
                    if iy < 0 || iy as usize >= g.h {
                        continue;
                    }
                    for ox in 0..ow {
                        let ix = (ox * g.stride + kx) as isize - g.pad as isize;
                        if ix >= 0 && (ix as usize) < g.w {
                            img[(ch * g.h + iy as usize) * g.w + ix as usize] += src[oy * ow + ox];
                        }
                    }
                }
            }
        }
    }
}

/// Output pixels of one row computed together by [`DirectConv`] (vectorised across lanes).
pub(crate) const CONV_LANES: usize = 8;
const LANES: usize = CONV_LANES;
/// Output channels computed together by [`DirectConv`]: they share every input load.
const OB: usize = 4;

/// Direct convolution of one image for the forward pass: out[o][oy][ox] = bias[o] +
/// sum over (ch, ky, kx) of w[o][ch][ky][kx] * in[ch][oy s + ky - pad][ox s + kx - pad]
/// (zero outside the image), summed in exactly the order of [`conv2d_ref`], so the result is
/// bit-identical to it and to im2col + [`gemm_nn`]. The speed comes from the layout, not from
/// reassociation: the zero-padded input is split into its `stride` phases so that, for every
/// kernel tap, the inputs of [`LANES`] consecutive output pixels are contiguous; each lane
/// then runs one output's sum, and [`OB`] output channels share each load. Prepared once for a
/// layer (tap offsets, weights packed block by block), then run image by image.
pub(crate) struct DirectConv<'a> {
    g: ConvGeom,
    cout: usize,
    bias: &'a [f32],
    lay: PhaseLayout,
    /// Where each tap (ch, ky, kx), in summation order, sits relative to the phase row of
    /// (ch 0, padded row oy * stride) at lane x0.
    offsets: Vec<usize>,
    /// Per block of [`OB`] output channels, its weights tap by tap:
    /// packed[t * ob + b] = w[o0 + b][t].
    packed: Vec<Vec<f32>>,
}

impl<'a> DirectConv<'a> {
    pub(crate) fn new(g: &ConvGeom, cout: usize, w: &[f32], bias: &'a [f32]) -> Self {
        let (ow, s, k, patch) = (g.out_w(), g.stride, g.k, g.patch());
        debug_assert!(w.len() >= cout * patch && bias.len() >= cout);
        let lay = PhaseLayout {
            ph: g.h + 2 * g.pad,
            pw: ow.div_ceil(LANES) * LANES + (k - 1) / s,
            s,
        };
        let offsets = (0..g.c)
            .flat_map(|ch| (0..k).flat_map(move |ky| (0..k).map(move |kx| (ch, ky, kx))))
            .map(|(ch, ky, kx)| lay.at(ch, ky, kx % s) + kx / s)
            .collect();
        let packed = (0..cout)
            .step_by(OB)
            .map(|o0| {
                let ob = (cout - o0).min(OB);
                let mut p = Vec::with_capacity(patch * ob);
                for t in 0..patch {
                    p.extend((0..ob).map(|b| w[(o0 + b) * patch + t]));
                }
                p
            })
            .collect();
        DirectConv {
            g: *g,
            cout,
            bias,
            lay,
            offsets,
            packed,
        }
    }

    /// One image: `out` gets cout x OH x OW values, passed through ReLU (`v > 0 ? v : 0`,
    /// exactly as the separate layer) when `relu` is set. `phases` is scratch space.
    pub(crate) fn run(&self, img: &[f32], out: &mut [f32], phases: &mut Vec<f32>, relu: bool) {
        let (g, lay, s) = (&self.g, &self.lay, self.g.stride);
        debug_assert!(img.len() >= g.c * g.h * g.w);
        debug_assert!(out.len() >= self.cout * g.out_hw());
        phases.clear();
        phases.resize(g.c * lay.ph * s * lay.pw, 0.0);
        for ch in 0..g.c {
            for y in 0..g.h {
                let row = &img[(ch * g.h + y) * g.w..(ch * g.h + y + 1) * g.w];
                for (x, &v) in row.iter().enumerate() {
                    let px = x + g.pad;
                    // pixels past the last lane's reach are never read
                    if px / s < lay.pw {
                        phases[lay.at(ch, y + g.pad, px % s) + px / s] = v;
                    }
                }
            }
        }
        for (i, packed) in self.packed.iter().enumerate() {
            let o0 = i * OB;
            let blk = ConvBlock {
                g,
                lay,
                offsets: &self.offsets,
                o0,
                packed,
                bias: self.bias,
                phases,
                relu,
            };
            match (self.cout - o0).min(OB) {
                4 => blk.run::<4>(out),
                3 => blk.run::<3>(out),
                2 => blk.run::<2>(out),
                _ => blk.run::<1>(out),
            }
        }
    }
}

/// Where [`DirectConv`] keeps the stride phases of the padded input.
#[derive(Clone, Copy)]
struct PhaseLayout {
    /// Padded height.
    ph: usize,
    /// Width of one phase row.
    pw: usize,
    s: usize,
}

impl PhaseLayout {
    /// Start of phase row (ch, padded y, phase q).
    #[inline(always)]
    fn at(&self, ch: usize, y: usize, q: usize) -> usize {
        ((ch * self.ph + y) * self.s + q) * self.pw
    }
}

/// One block of output channels of [`DirectConv`].
struct ConvBlock<'a> {
    g: &'a ConvGeom,
    lay: &'a PhaseLayout,
    offsets: &'a [usize],
    o0: usize,
    packed: &'a [f32],
    bias: &'a [f32],
    phases: &'a [f32],
    relu: bool,
}

impl ConvBlock<'_> {
    /// Output channels o0..o0 + B, [`LANES`] pixels of a row at a time, each lane one
    /// output's running sum (bias first, then every tap in (ch, ky, kx) order).
    #[allow(unsafe_code)]
    fn run<const B: usize>(&self, out: &mut [f32]) {
        const V: usize = LANES / 4;
        let (g, lay) = (self.g, self.lay);
        let (oh, ow, patch) = (g.out_h(), g.out_w(), g.patch());
        assert_eq!(self.offsets.len(), patch);
        assert_eq!(self.packed.len(), patch * B);
        let reach = self.offsets.iter().max().copied().unwrap_or(0) + LANES;
        let mut lanes = [0f32; LANES];
        for oy in 0..oh {
            for x0 in (0..ow).step_by(LANES) {
                let base = lay.at(0, oy * lay.s, 0) + x0;
                // every load below reads phases[base + offset .. base + offset + LANES]
                assert!(base + reach <= self.phases.len());
                let mut acc: [[F4; V]; B] =
                    core::array::from_fn(|b| [F4::splat(self.bias[self.o0 + b]); V]);
                for (&off, wt) in self.offsets.iter().zip(self.packed.chunks_exact(B)) {
                    // SAFETY: base + off + LANES <= base + reach <= phases.len() (asserted).
                    let x: [F4; V] = core::array::from_fn(|v| unsafe {
                        F4::load_ptr(self.phases.as_ptr().add(base + off + 4 * v))
                    });
                    for (a, &wb) in acc.iter_mut().zip(wt) {
                        let wv = F4::splat(wb);
                        for (av, &xv) in a.iter_mut().zip(&x) {
                            *av = av.mul_add(wv, xv);
                        }
                    }
                }
                let n = LANES.min(ow - x0);
                let zero = F4::splat(0.0);
                for (b, a) in acc.iter().enumerate() {
                    for (v, &av) in a.iter().enumerate() {
                        // ReLU is `v > 0 ? v : 0`, the separate layer's comparison
                        let av = if self.relu { av.max_gt(zero) } else { av };
                        av.store(&mut lanes[4 * v..]);
                    }
                    let at = ((self.o0 + b) * oh + oy) * ow + x0;
                    out[at..at + n].copy_from_slice(&lanes[..n]);
                }
            }
        }
    }
}

/// Output channels computed together by [`OcConv`]: two four-lane vectors.
const OC_BLOCK: usize = 8;
/// Output pixels computed together by [`OcConv`] (each splat of an input serves the block).
const OC_PIX: usize = 4;

/// Direct convolution with SIMD lanes across *output channels*, for layers with many input
/// channels and short output rows (cnn3's 16->32 and 32->64, 3x3, stride 2), where lanes
/// across a row would be mostly padding and im2col + GEMM moves a batch-sized buffer.
///
/// A tile is [`OC_BLOCK`] output channels x [`OC_PIX`] output pixels (any pixels of the
/// image, in row-major order, so tiles run across row ends): eight accumulators, each lane
/// one output's running sum, bias first, then every tap in (ch, ky, kx) order with a separate
/// multiply and add, exactly the order of [`conv2d_ref`], so the result is bit-identical to
/// it and to im2col + [`gemm_nn`]. For each tap the block's eight weights are two vector
/// loads (packed tap by tap) and each pixel's input one splat from the zero-padded image
/// (so padding taps add `w * 0` like the reference). The tile is transposed as it is stored,
/// with the following ReLU applied (`v > 0 ? v : 0`) when asked.
pub(crate) struct OcConv {
    g: ConvGeom,
    cout: usize,
    /// Padded row width and padded plane size of the input copy.
    pw: usize,
    plane: usize,
    /// Offset of each tap (ch, ky, kx), in summation order, from a pixel's base.
    offsets: Vec<usize>,
    /// Offset of each output pixel's (ky, kx) = (0, 0) input in the padded image.
    pix: Vec<usize>,
    /// Per block of [`OC_BLOCK`] output channels, tap by tap, zero past cout:
    /// packed[(blk * patch + t) * OC_BLOCK + b] = w[blk * OC_BLOCK + b][t].
    packed: Vec<f32>,
    /// Bias per block, zero past cout.
    bias_packed: Vec<f32>,
}

impl OcConv {
    pub(crate) fn new(g: &ConvGeom, cout: usize, w: &[f32], bias: &[f32]) -> Self {
        let (patch, k) = (g.patch(), g.k);
        assert!(w.len() >= cout * patch && bias.len() >= cout);
        let pw = g.w + 2 * g.pad;
        let plane = (g.h + 2 * g.pad) * pw;
        let offsets = (0..g.c)
            .flat_map(|ch| (0..k).flat_map(move |ky| (0..k).map(move |kx| (ch, ky, kx))))
            .map(|(ch, ky, kx)| ch * plane + ky * pw + kx)
            .collect();
        let (oh, ow, s) = (g.out_h(), g.out_w(), g.stride);
        let pix = (0..oh)
            .flat_map(|oy| (0..ow).map(move |ox| oy * s * pw + ox * s))
            .collect();
        let blocks = cout.div_ceil(OC_BLOCK);
        let mut packed = vec![0.0; blocks * patch * OC_BLOCK];
        let mut bias_packed = vec![0.0; blocks * OC_BLOCK];
        for o in 0..cout {
            let (blk, b) = (o / OC_BLOCK, o % OC_BLOCK);
            for t in 0..patch {
                packed[(blk * patch + t) * OC_BLOCK + b] = w[o * patch + t];
            }
            bias_packed[o] = bias[o];
        }
        OcConv {
            g: *g,
            cout,
            pw,
            plane,
            offsets,
            pix,
            packed,
            bias_packed,
        }
    }

    /// `batch` images of C x H x W in `x` to `batch` outputs of cout x OH x OW in `out`.
    /// `scratch` holds the zero-padded copy of one image.
    pub(crate) fn run_batch(
        &self,
        batch: usize,
        x: &[f32],
        out: &mut [f32],
        scratch: &mut Vec<f32>,
        relu: bool,
    ) {
        let g = &self.g;
        let (ni, no) = (g.c * g.h * g.w, self.cout * g.out_hw());
        assert!(x.len() >= batch * ni && out.len() >= batch * no);
        // the border stays zero: only the interior is written, image after image
        scratch.clear();
        scratch.resize(g.c * self.plane, 0.0);
        for (img, o) in x.chunks_exact(ni).zip(out.chunks_exact_mut(no)).take(batch) {
            for ch in 0..g.c {
                for y in 0..g.h {
                    let at = ch * self.plane + (y + g.pad) * self.pw + g.pad;
                    scratch[at..at + g.w]
                        .copy_from_slice(&img[(ch * g.h + y) * g.w..(ch * g.h + y + 1) * g.w]);
                }
            }
            self.run_padded(scratch, o, relu);
        }
    }

    fn run_padded(&self, pad: &[f32], out: &mut [f32], relu: bool) {
        let hw = self.g.out_hw();
        let full = hw - hw % OC_PIX;
        for blk in 0..self.cout.div_ceil(OC_BLOCK) {
            for p0 in (0..full).step_by(OC_PIX) {
                self.tile::<OC_PIX>(blk, p0, pad, out, relu);
            }
            match hw - full {
                3 => self.tile::<3>(blk, full, pad, out, relu),
                2 => self.tile::<2>(blk, full, pad, out, relu),
                1 => self.tile::<1>(blk, full, pad, out, relu),
                _ => {}
            }
        }
    }

    /// Output channels blk * OC_BLOCK.. (up to cout) at pixels p0..p0 + NP.
    #[inline(always)]
    #[allow(unsafe_code)]
    fn tile<const NP: usize>(
        &self,
        blk: usize,
        p0: usize,
        pad: &[f32],
        out: &mut [f32],
        relu: bool,
    ) {
        const V: usize = OC_BLOCK / 4;
        let patch = self.offsets.len();
        let wp = &self.packed[blk * patch * OC_BLOCK..(blk + 1) * patch * OC_BLOCK];
        let bases: [usize; NP] = core::array::from_fn(|j| self.pix[p0 + j]);
        // every input read below is pad[bases[j] + offsets[t]]
        let reach = self.offsets.last().copied().unwrap_or(0);
        assert!(bases.iter().all(|&b| b + reach < pad.len()));
        let bias = &self.bias_packed[blk * OC_BLOCK..(blk + 1) * OC_BLOCK];
        // SAFETY: bias holds OC_BLOCK = 4 V values.
        let b: [F4; V] =
            core::array::from_fn(|v| unsafe { F4::load_ptr(bias.as_ptr().add(4 * v)) });
        let mut acc: [[F4; V]; NP] = [b; NP];
        for (&off, wt) in self.offsets.iter().zip(wp.chunks_exact(OC_BLOCK)) {
            // SAFETY: wt holds OC_BLOCK = 4 V values.
            let wv: [F4; V] =
                core::array::from_fn(|v| unsafe { F4::load_ptr(wt.as_ptr().add(4 * v)) });
            for (a, &base) in acc.iter_mut().zip(&bases) {
                // SAFETY: base + off <= base + reach < pad.len() (asserted above).
                let xv = F4::splat(unsafe { *pad.get_unchecked(base + off) });
                for (av, &w) in a.iter_mut().zip(&wv) {
                    *av = av.mul_add(w, xv);
                }
            }
        }
        let hw = self.g.out_hw();
        let zero = F4::splat(0.0);
        let nb = (self.cout - blk * OC_BLOCK).min(OC_BLOCK);
        #[allow(clippy::needless_range_loop)] // v indexes the inner arrays of acc
        for v in 0..V {
            // rows: pixel j's four channels; columns after the transpose: one channel's pixels
            let rows: [F4; 4] = core::array::from_fn(|j| if j < NP { acc[j][v] } else { zero });
            for (b, col) in F4::transpose4(rows).into_iter().enumerate() {
                let o = blk * OC_BLOCK + 4 * v + b;
                if 4 * v + b >= nb {
                    break;
                }
                // ReLU is `v > 0 ? v : 0`, the separate layer's comparison
                let col = if relu { col.max_gt(zero) } else { col };
                let at = o * hw + p0;
                if NP == 4 {
                    col.store(&mut out[at..at + 4]);
                } else {
                    let mut lanes = [0f32; 4];
                    col.store(&mut lanes);
                    out[at..at + NP].copy_from_slice(&lanes[..NP]);
                }
            }
        }
    }
}

#[cfg(test)]
/// Direct convolution of one image, the scalar reference for im2col + gemm_nn.
/// Sums in the same (channel, ky, kx) order, starting from the bias, so it is bit-identical.
pub(crate) fn conv2d_ref(
    g: &ConvGeom,
    cout: usize,
    w: &[f32],
    bias: &[f32],
    img: &[f32],
    out: &mut [f32],
) {
    let (oh, ow) = (g.out_h(), g.out_w());
    for o in 0..cout {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut s = bias[o];
                for ch in 0..g.c {
                    for ky in 0..g.k {
                        for kx in 0..g.k {
                            let iy = (oy * g.stride + ky) as isize - g.pad as isize;
                            let ix = (ox * g.stride + kx) as isize - g.pad as isize;
                            let v =
                                if iy >= 0 && (iy as usize) < g.h && ix >= 0 && (ix as usize) < g.w
                                {
                                    img[(ch * g.h + iy as usize) * g.w + ix as usize]
                                } else {
                                    0.0
                                };
                            s += w[((o * g.c + ch) * g.k + ky) * g.k + kx] * v;
                        }
                    }
                }
                out[(o * oh + oy) * ow + ox] = s;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Stream;

    fn rand_vec(s: &mut Stream, n: usize) -> Vec<f32> {
        (0..n).map(|_| s.normal()).collect()
    }

    #[test]
    fn gemm_nn_matches_reference_bitwise() {
        let mut s = Stream::new(1, "k");
        for &(m, k, n) in &[
            (1, 1, 1),
            (3, 7, 5),
            (6, 25, 576),
            (17, 33, 9),
            (8, 16, 16),
            (4, 3, 8),
            (16, 150, 1024),
        ] {
            let a = rand_vec(&mut s, m * k);
            let b = rand_vec(&mut s, k * n);
            let c0 = rand_vec(&mut s, m * n);
            let mut c1 = c0.clone();
            let mut c2 = c0.clone();
            gemm_nn(m, k, n, &a, &b, &mut c1);
            gemm_nn_ref(m, k, n, &a, &b, &mut c2);
            assert_eq!(c1, c2, "{m}x{k}x{n}");
        }
    }

    #[test]
    fn conv_im2col_matches_direct_bitwise() {
        let mut s = Stream::new(2, "k");
        for &(c, h, k, stride, pad, cout) in &[
            (1, 28, 5, 1, 0, 6),
            (16, 28, 3, 2, 1, 32),
            (3, 7, 3, 1, 1, 2),
        ] {
            let g = ConvGeom {
                c,
                h,
                w: h,
                k,
                stride,
                pad,
            };
            let img = rand_vec(&mut s, c * h * h);
            let w = rand_vec(&mut s, cout * g.patch());
            let bias = rand_vec(&mut s, cout);
            let mut col = vec![0.0; g.patch() * g.out_hw()];
            im2col(&g, &img, &mut col);
            let mut out = vec![0.0; cout * g.out_hw()];
            for o in 0..cout {
                out[o * g.out_hw()..(o + 1) * g.out_hw()].fill(bias[o]);
            }
            gemm_nn(cout, g.patch(), g.out_hw(), &w, &col, &mut out);
            let mut r = vec![0.0; cout * g.out_hw()];
            conv2d_ref(&g, cout, &w, &bias, &img, &mut r);
            assert_eq!(out, r);
        }
    }

    #[test]
    fn direct_conv_matches_reference_bitwise() {
        let mut s = Stream::new(4, "k");
        // lenet's and cnn3's layers, odd sizes, strides 1-3, channel counts around OB
        for &(c, h, w, k, stride, pad, cout) in &[
            (1, 28, 28, 5, 1, 0, 6),
            (6, 12, 12, 5, 1, 0, 16),
            (1, 28, 28, 3, 1, 1, 16),
            (16, 28, 28, 3, 2, 1, 32),
            (32, 14, 14, 3, 2, 1, 64),
            (3, 9, 7, 3, 2, 1, 5),
            (2, 11, 13, 4, 3, 2, 7),
            (1, 5, 5, 5, 1, 0, 1),
            (2, 8, 10, 1, 1, 0, 3),
            (5, 6, 9, 3, 2, 1, 13),
            (4, 7, 5, 3, 1, 0, 9),
            (1, 3, 3, 3, 2, 1, 4),
        ] {
            let g = ConvGeom {
                c,
                h,
                w,
                k,
                stride,
                pad,
            };
            let img = rand_vec(&mut s, c * h * w);
            let wt = rand_vec(&mut s, cout * g.patch());
            let bias = rand_vec(&mut s, cout);
            let mut fast = vec![f32::NAN; cout * g.out_hw()];
            let mut scratch = vec![];
            DirectConv::new(&g, cout, &wt, &bias).run(&img, &mut fast, &mut scratch, false);
            let mut r = vec![0.0; cout * g.out_hw()];
            conv2d_ref(&g, cout, &wt, &bias, &img, &mut r);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                bits(&fast),
                bits(&r),
                "{c}x{h}x{w} k{k} s{stride} p{pad} -> {cout}"
            );
            // lanes across output channels, two images in a row, with and without ReLU
            let img2: Vec<f32> = img
                .iter()
                .chain(&img)
                .map(|&v| -v)
                .chain(img.iter().copied())
                .collect();
            let no = cout * g.out_hw();
            let mut r2 = vec![0.0; 3 * no];
            for (i, o) in img2.chunks_exact(img.len()).zip(r2.chunks_exact_mut(no)) {
                conv2d_ref(&g, cout, &wt, &bias, i, o);
            }
            let oc = OcConv::new(&g, cout, &wt, &bias);
            for relu in [false, true] {
                let mut fast = vec![f32::NAN; 3 * no];
                oc.run_batch(3, &img2, &mut fast, &mut scratch, relu);
                let want: Vec<f32> = if relu {
                    r2.iter().map(|&v| if v > 0.0 { v } else { 0.0 }).collect()
                } else {
                    r2.clone()
                };
                assert_eq!(
                    bits(&fast),
                    bits(&want),
                    "OcConv {c}x{h}x{w} k{k} s{stride} p{pad} -> {cout}, relu {relu}"
                );
            }
        }
    }

    #[test]
    fn col2im_is_adjoint_of_im2col() {
        // <im2col(x), y> == <x, col2im(y)> for random x, y
        let mut s = Stream::new(3, "k");
        let g = ConvGeom {
            c: 2,
            h: 9,
            w: 9,
            k: 3,
            stride: 2,
            pad: 1,
        };
        let x = rand_vec(&mut s, 2 * 81);
        let y = rand_vec(&mut s, g.patch() * g.out_hw());
        let mut col = vec![0.0; y.len()];
        im2col(&g, &x, &mut col);
        let mut back = vec![0.0; x.len()];
        col2im(&g, &y, &mut back);
        let lhs: f64 = col
            .iter()
            .zip(&y)
            .map(|(a, b)| (*a as f64) * (*b as f64))
            .sum();
        let rhs: f64 = x
            .iter()
            .zip(&back)
            .map(|(a, b)| (*a as f64) * (*b as f64))
            .sum();
        assert!(
            (lhs - rhs).abs() < 1e-4 * lhs.abs().max(1.0),
            "{lhs} vs {rhs}"
        );
    }
}
