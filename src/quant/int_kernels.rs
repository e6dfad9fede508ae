//! Integer kernels of the quantized path: i16 operands (weight codes |q| <= 127, activation
//! codes 0..=255 unsigned or |q| <= 127 signed, i.e. b <= 8), exact i32 accumulation.
//!
//! Integer addition is associative, so the result does not depend on the summation order and
//! the compiler may vectorise freely (on x86 the dot product becomes `pmaddwd`, on wasm SIMD128
//! `i32x4.dot_i16x8_s`); native and wasm agree bit for bit. No overflow: |acc| <=
//! K * 127 * 255 < 2^31 for K <= [`MAX_K`], checked when the integer model is built.
//! Each kernel has a plain scalar reference (`*_ref`) held bit-identical by tests.
//!
//! Public for the cross-checks in tests/quant_paths.rs and tests/wasm.rs, which hold each
//! kernel to its scalar reference (natively and under wasm32); the integer model is their only
//! user, not user API.

use super::quantizer::{clamp_f32, round_even_int};
use crate::nn::kernels::ConvGeom;
use crate::nn::layers::Shape;

/// Largest reduction length with no possible i32 overflow: floor((2^31 - 1) / (127 * 255)).
pub(crate) const MAX_K: usize = (i32::MAX as usize) / (127 * 255);

/// Reduction lengths are padded with zero codes to a multiple of this, so the dot product's
/// vector loop has no scalar tail (K = 25 would otherwise run 9 of 25 products scalar).
pub(crate) const LANES: usize = 16;

/// K rounded up to a multiple of [`LANES`].
pub fn padded(k: usize) -> usize {
    k.div_ceil(LANES) * LANES
}

/// Copy `rows` rows of length k into rows of length kp >= k, zero-filled.
pub fn pad_rows(src: &[i16], rows: usize, k: usize, kp: usize) -> Vec<i16> {
    let mut out = vec![0i16; rows * kp];
    for (d, s) in out.chunks_exact_mut(kp).zip(src.chunks_exact(k)) {
        d[..k].copy_from_slice(s);
    }
    out
}

/// Exact integer dot product of two code vectors. On wasm32 with SIMD128 it uses
/// `i32x4.dot_i16x8_s` explicitly (LLVM does not form it from the portable loop); elsewhere
/// the portable version, which x86 compilers turn into `pmaddwd`. Integer sums are exact, so
/// both give the same result as [`dot_i16_portable`] (tested natively and in wasm).
#[inline]
pub fn dot_i16(a: &[i16], b: &[i16]) -> i32 {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        dot_i16_simd128(a, b)
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        dot_i16_portable(a, b)
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline]
#[allow(unsafe_code)] // unaligned SIMD128 loads; bounds argued at each SAFETY comment
fn dot_i16_simd128(a: &[i16], b: &[i16]) -> i32 {
    use core::arch::wasm32::{
        i32x4_add, i32x4_dot_i16x8, i32x4_extract_lane, i32x4_splat, v128, v128_load,
    };
    debug_assert_eq!(a.len(), b.len());
    let n = a.len().min(b.len());
    let body = n - n % 8;
    let mut acc = i32x4_splat(0);
    let mut i = 0;
    while i < body {
        // SAFETY: i + 8 <= body <= len of both slices; wasm loads need no alignment.
        let (va, vb) = unsafe {
            (
                v128_load(a.as_ptr().add(i) as *const v128),
                v128_load(b.as_ptr().add(i) as *const v128),
            )
        };
        acc = i32x4_add(acc, i32x4_dot_i16x8(va, vb));
        i += 8;
    }
    let mut s = i32x4_extract_lane::<0>(acc)
        + i32x4_extract_lane::<1>(acc)
        + i32x4_extract_lane::<2>(acc)
        + i32x4_extract_lane::<3>(acc);
    for j in body..n {
        s += a[j] as i32 * b[j] as i32;
    }
    s
}

/// The portable dot product (16 lanes at a time, then the tail).
#[inline]
pub fn dot_i16_portable(a: &[i16], b: &[i16]) -> i32 {
    debug_assert_eq!(a.len(), b.len());
    let (ac, bc) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: i32 = ac
        .remainder()
        .iter()
        .zip(bc.remainder())
        .map(|(&x, &y)| x as i32 * y as i32)
        .sum();
    ac.zip(bc)
        .map(|(x, y)| {
            x.iter()
                .zip(y)
                .map(|(&p, &q)| p as i32 * q as i32)
                .sum::<i32>()
        })
        .sum::<i32>()
        + tail
}

/// C[m x n] = A[m x k] * B[n x k]^T (rows of A dotted with rows of B), i32 results.
pub fn gemm_nt_i16(m: usize, n: usize, k: usize, a: &[i16], b: &[i16], c: &mut [i32]) {
    debug_assert!(a.len() >= m * k && b.len() >= n * k && c.len() >= m * n);
    for i in 0..m {
        let arow = &a[i * k..(i + 1) * k];
        let crow = &mut c[i * n..(i + 1) * n];
        #[allow(unused_mut)]
        let mut j0 = 0;
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        while j0 + 4 <= n && k % 8 == 0 {
            // four rows of B share each load of A's row
            crow[j0..j0 + 4].copy_from_slice(&dot4_i16_simd128(arow, &b[j0 * k..(j0 + 4) * k], k));
            j0 += 4;
        }
        for (j, cv) in crow.iter_mut().enumerate().skip(j0) {
            *cv = dot_i16(arow, &b[j * k..(j + 1) * k]);
        }
    }
}

/// Four dot products of `a` (length k, a multiple of 8) with four consecutive rows of `b4`.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline]
#[allow(unsafe_code)] // unaligned SIMD128 loads; bounds argued at each SAFETY comment
fn dot4_i16_simd128(a: &[i16], b4: &[i16], k: usize) -> [i32; 4] {
    use core::arch::wasm32::{
        i32x4_add, i32x4_dot_i16x8, i32x4_extract_lane, i32x4_splat, v128, v128_load,
    };
    debug_assert!(a.len() == k && b4.len() == 4 * k && k % 8 == 0);
    let mut acc = [i32x4_splat(0); 4];
    let mut p = 0;
    while p < k {
        // SAFETY: p + 8 <= k; rows r*k + p + 8 <= 4k = b4.len(); wasm loads need no alignment.
        unsafe {
            let va = v128_load(a.as_ptr().add(p) as *const v128);
            for (r, acc_r) in acc.iter_mut().enumerate() {
                let vb = v128_load(b4.as_ptr().add(r * k + p) as *const v128);
                *acc_r = i32x4_add(*acc_r, i32x4_dot_i16x8(va, vb));
            }
        }
        p += 8;
    }
    acc.map(|v| {
        i32x4_extract_lane::<0>(v)
            + i32x4_extract_lane::<1>(v)
            + i32x4_extract_lane::<2>(v)
            + i32x4_extract_lane::<3>(v)
    })
}

/// Scalar reference for [`gemm_nt_i16`]: the textbook triple loop.
pub fn gemm_nt_i16_ref(m: usize, n: usize, k: usize, a: &[i16], b: &[i16], c: &mut [i32]) {
    for i in 0..m {
        for j in 0..n {
            let mut s = 0i32;
            for p in 0..k {
                s += a[i * k + p] as i32 * b[j * k + p] as i32;
            }
            c[i * n + j] = s;
        }
    }
}

/// Unfold one C x H x W code image into OH*OW rows (stride kp >= C*K*K, the tail left as is,
/// normally zero) holding each output position's receptive field, zero padding. Code 0 is
/// the real value 0 for both the unsigned and the symmetric signed quantizer (no zero
/// point), so padding stays exact.
pub(crate) fn im2row_i16(g: &ConvGeom, img: &[i16], kp: usize, rows: &mut [i16]) {
    // The zoo's kernel sizes get a copy of known length (inline moves, not memmove calls).
    match g.k {
        3 => im2row_k::<3>(g, img, kp, rows),
        5 => im2row_k::<5>(g, img, kp, rows),
        _ => im2row_k::<0>(g, img, kp, rows),
    }
}

/// [`im2row_i16`] for kernel size K (0: any, read from `g`).
fn im2row_k<const K: usize>(g: &ConvGeom, img: &[i16], kp: usize, rows: &mut [i16]) {
    let (oh, ow) = (g.out_h(), g.out_w());
    let k = if K == 0 { g.k } else { K };
    for oy in 0..oh {
        for ox in 0..ow {
            let dst = &mut rows[(oy * ow + ox) * kp..(oy * ow + ox + 1) * kp];
            let ix0 = (ox * g.stride) as isize - g.pad as isize;
            let full_row = ix0 >= 0 && ix0 as usize + k <= g.w;
            for ch in 0..g.c {
                for ky in 0..k {
                    let seg = &mut dst[(ch * k + ky) * k..(ch * k + ky + 1) * k];
                    let iy = (oy * g.stride + ky) as isize - g.pad as isize;
                    if iy < 0 || iy as usize >= g.h {
                        seg.fill(0);
                        continue;
                    }
                    let row =
                        &img[(ch * g.h + iy as usize) * g.w..(ch * g.h + iy as usize + 1) * g.w];
                    if full_row {
                        seg.copy_from_slice(&row[ix0 as usize..ix0 as usize + k]);
                    } else {
                        for (kx, d) in seg.iter_mut().enumerate() {
                            let ix = ix0 + kx as isize;
                            *d = if ix >= 0 && (ix as usize) < g.w {
                                row[ix as usize]
                            } else {
                                0
                            };
                        }
                    }
                }
            }
        }
    }
}

/// Integer convolution of one image: out[o][j] = w[o] . rows[j] (i32, no bias), with the
/// weights `w` as cout rows padded to kp = [`padded`](C*K*K).
pub fn conv2d_i16(
    g: &ConvGeom,
    cout: usize,
    w: &[i16],
    img: &[i16],
    rows: &mut Vec<i16>,
    out: &mut [i32],
) {
    let (hw, kp) = (g.out_hw(), padded(g.patch()));
    if rows.len() != hw * kp {
        rows.clear();
        rows.resize(hw * kp, 0);
    }
    im2row_i16(g, img, kp, rows);
    gemm_nt_i16(cout, hw, kp, w, rows, out);
}

/// Direct integer convolution, the scalar reference for [`conv2d_i16`].
pub fn conv2d_i16_ref(g: &ConvGeom, cout: usize, w: &[i16], img: &[i16], out: &mut [i32]) {
    let (oh, ow) = (g.out_h(), g.out_w());
    for o in 0..cout {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut s = 0i32;
                for ch in 0..g.c {
                    for ky in 0..g.k {
                        for kx in 0..g.k {
                            let iy = (oy * g.stride + ky) as isize - g.pad as isize;
                            let ix = (ox * g.stride + kx) as isize - g.pad as isize;
                            if iy >= 0 && (iy as usize) < g.h && ix >= 0 && (ix as usize) < g.w {
                                let v = img[(ch * g.h + iy as usize) * g.w + ix as usize];
                                s += w[((o * g.c + ch) * g.k + ky) * g.k + kx] as i32 * v as i32;
                            }
                        }
                    }
                }
                out[(o * oh + oy) * ow + ox] = s;
            }
        }
    }
}

/// p x p max pooling with stride p (floor) on codes, for `batch` images of shape `s`.
/// Quantization is monotone, so pooling codes equals quantizing the pooled values.
pub(crate) fn maxpool_i16(s: Shape, p: usize, batch: usize, x: &[i16]) -> Vec<i16> {
    let (c, h, w) = (s[0], s[1], s[2]);
    let (oh, ow) = (h / p, w / p);
    let mut out = vec![i16::MIN; batch * c * oh * ow];
    for (src, dst) in x
        .chunks_exact(h * w)
        .zip(out.chunks_exact_mut(oh * ow))
        .take(batch * c)
    {
        for (oy, orow) in dst.chunks_exact_mut(ow).enumerate() {
            for dy in 0..p {
                let srow = &src[(oy * p + dy) * w..(oy * p + dy) * w + ow * p];
                for (o, win) in orow.iter_mut().zip(srow.chunks_exact(p)) {
                    *o = win.iter().fold(*o, |m, &v| m.max(v));
                }
            }
        }
    }
    out
}

/// Requantize one output channel: q = clamp(round_half_even(acc * m + b), lo, hi), where
/// m = s_w * s_x / s_next and b = bias / s_next (f32, separate multiply and add, no FMA).
/// lo and hi are integers, so clamping before rounding gives the same result.
#[inline]
pub(crate) fn requant(acc: &[i32], m: f32, b: f32, lo: i32, hi: i32, out: &mut [i16]) {
    let (lo, hi) = (lo as f32, hi as f32);
    for (o, &a) in out.iter_mut().zip(acc) {
        *o = round_even_int(clamp_f32(a as f32 * m + b, lo, hi)) as i16;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Stream;

    fn codes(s: &mut Stream, n: usize, lo: i32, hi: i32) -> Vec<i16> {
        (0..n)
            .map(|_| (lo + s.below((hi - lo + 1) as u32) as i32) as i16)
            .collect()
    }

    #[test]
    fn gemm_matches_reference() {
        let mut s = Stream::new(1, "ik");
        for &(m, n, k) in &[(1, 1, 1), (6, 576, 25), (3, 5, 3136), (10, 7, 17)] {
            let a = codes(&mut s, m * k, -127, 127);
            let b = codes(&mut s, n * k, 0, 255);
            let (mut c1, mut c2) = (vec![0; m * n], vec![0; m * n]);
            gemm_nt_i16(m, n, k, &a, &b, &mut c1);
            gemm_nt_i16_ref(m, n, k, &a, &b, &mut c2);
            assert_eq!(c1, c2);
        }
    }

    #[test]
    fn conv_matches_direct() {
        let mut s = Stream::new(2, "ik");
        for &(c, h, k, stride, pad, cout) in &[
            (1, 28, 5, 1, 0, 6),
            (16, 28, 3, 2, 1, 4),
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
            let img = codes(&mut s, c * h * h, -127, 127);
            let w = codes(&mut s, cout * g.patch(), -127, 127);
            let wp = pad_rows(&w, cout, g.patch(), padded(g.patch()));
            let (mut o1, mut o2) = (vec![0; cout * g.out_hw()], vec![0; cout * g.out_hw()]);
            conv2d_i16(&g, cout, &wp, &img, &mut Vec::new(), &mut o1);
            conv2d_i16_ref(&g, cout, &w, &img, &mut o2);
            assert_eq!(o1, o2);
        }
    }

    #[test]
    fn maxpool_takes_window_maxima() {
        // one 1 x 4 x 5 image (last column dropped by the floor), p = 2
        let x: Vec<i16> = (0..20).map(|i| ((i * 7) % 11) as i16 - 5).collect();
        let y = maxpool_i16([1, 4, 5], 2, 1, &x);
        let want: Vec<i16> = (0..2)
            .flat_map(|oy| (0..2).map(move |ox| (oy, ox)))
            .map(|(oy, ox)| {
                let at = |dy: usize, dx: usize| x[(2 * oy + dy) * 5 + 2 * ox + dx];
                at(0, 0).max(at(0, 1)).max(at(1, 0)).max(at(1, 1))
            })
            .collect();
        assert_eq!(y, want);
    }

    #[test]
    fn requant_rounds_half_even_and_clamps() {
        let mut out = [0i16; 5];
        requant(&[1, 3, 5, -9, 1000], 0.5, 0.0, 0, 255, &mut out);
        assert_eq!(out, [0, 2, 2, 0, 255]);
        assert!(MAX_K * 127 * 255 <= i32::MAX as usize);
    }
}
