//! The numeric kernels every layer is built from, with a fixed reduction order.
//!
//! Reproducibility (design.md, convention 5): each output element is accumulated in one fixed
//! order, with separate IEEE multiply and add (Rust never fuses them into FMA without an
//! explicit call), so the native build and wasm32 (with or without SIMD128) give bit-identical
//! results. Vectorisation happens *across* independent output elements (`gemm_nn`) or across a
//! fixed set of 8 partial sums (`dot`), never by reassociating one sum.
//!
//! Each fast kernel has a plain scalar reference beside it (`*_ref`); property tests hold one
//! against the other (bit-identical for `gemm_nn`, a documented tolerance for `dot`).

/// Register block of [`gemm_nn`]: MR rows x NR columns of C are accumulated in locals.
const MR: usize = 4;
const NR: usize = 8;

/// C[m x n] += A[m x k] * B[k x n], all row-major. Each C[i][j] starts from its old value and
/// adds A[i][p] * B[p][j] for p = 0..k in order, exactly like [`gemm_nn_ref`]; the blocking
/// (an MR x NR register tile, column panels outermost so a k x NR panel of B stays in L1)
/// only changes which elements are computed together, never one element's summation order.
pub fn gemm_nn(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    debug_assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n);
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
fn tile(k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    let mut acc = [[0f32; NR]; MR];
    for (r, row) in acc.iter_mut().enumerate() {
        row.copy_from_slice(&c[r * n..r * n + NR]);
    }
    for p in 0..k {
        let bv: &[f32; NR] = b[p * n..p * n + NR].try_into().expect("NR columns");
        for (r, row) in acc.iter_mut().enumerate() {
            let av = a[r * k + p];
            for l in 0..NR {
                row[l] += av * bv[l];
            }
        }
    }
    for (r, row) in acc.iter().enumerate() {
        c[r * n..r * n + NR].copy_from_slice(row);
    }
}

/// Scalar reference for [`gemm_nn`]: the textbook i-j-p loop, same summation order.
pub fn gemm_nn_ref(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
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
pub fn dot(x: &[f32], y: &[f32]) -> f32 {
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

/// Scalar reference for [`dot`]: one running sum (differs from `dot` by rounding only).
pub fn dot_ref(x: &[f32], y: &[f32]) -> f32 {
    x.iter().zip(y).fold(0.0, |s, (a, b)| s + a * b)
}

/// C[m x n] += A[m x k] * B[n x k]^T (rows of A dotted with rows of B).
pub fn gemm_nt(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    debug_assert!(a.len() >= m * k && b.len() >= n * k && c.len() >= m * n);
    for i in 0..m {
        let arow = &a[i * k..(i + 1) * k];
        for j in 0..n {
            c[i * n + j] += dot(arow, &b[j * k..(j + 1) * k]);
        }
    }
}

/// out[cols x rows] = in[rows x cols]^T.
pub fn transpose(rows: usize, cols: usize, input: &[f32], out: &mut [f32]) {
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = input[r * cols + c];
        }
    }
}

/// Geometry of a 2-D convolution on one image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeom {
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub k: usize,
    pub stride: usize,
    pub pad: usize,
}

impl ConvGeom {
    pub fn out_h(&self) -> usize {
        (self.h + 2 * self.pad - self.k) / self.stride + 1
    }
    pub fn out_w(&self) -> usize {
        (self.w + 2 * self.pad - self.k) / self.stride + 1
    }
    /// Rows of the im2col matrix: C * K * K.
    pub fn patch(&self) -> usize {
        self.c * self.k * self.k
    }
    pub fn out_hw(&self) -> usize {
        self.out_h() * self.out_w()
    }
}

/// Unfold one C x H x W image into a (C*K*K) x (OH*OW) matrix (zero padding).
pub fn im2col(g: &ConvGeom, img: &[f32], col: &mut [f32]) {
    im2col_ld(g, img, col, g.out_hw());
}

/// [`im2col`] into a wider matrix whose rows are `ld` apart, so the columns of several images
/// can sit side by side (one GEMM for a whole batch).
pub fn im2col_ld(g: &ConvGeom, img: &[f32], col: &mut [f32], ld: usize) {
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
pub fn col2im(g: &ConvGeom, col: &[f32], img: &mut [f32]) {
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

/// Direct convolution of one image, the scalar reference for im2col + gemm_nn.
/// Sums in the same (channel, ky, kx) order, starting from the bias, so it is bit-identical.
pub fn conv2d_ref(
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
