//! Integer kernels of the quantized path: i16 operands (weight codes |q| <= 127, activation
//! codes 0..=255 unsigned or |q| <= 127 signed, i.e. b <= 8), exact i32 accumulation.
//!
//! Integer addition is associative, so the result does not depend on the summation order and
//! the kernels may vectorise freely (explicitly: `pmaddwd` on x86-64, `i32x4.dot_i16x8_s` on
//! wasm SIMD128); native and wasm agree bit for bit. No overflow: |acc| <=
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
/// `i32x4.dot_i16x8_s` explicitly (LLVM does not form it from the portable loop); on x86-64
/// `pmaddwd` explicitly (AVX2 when the CPU has it, else SSE2); elsewhere the portable loop.
/// Integer sums are exact, so all give the same result as [`dot_i16_portable`] (tested
/// natively and in wasm).
#[inline]
pub fn dot_i16(a: &[i16], b: &[i16]) -> i32 {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        dot_i16_simd128(a, b)
    }
    #[cfg(target_arch = "x86_64")]
    {
        x86::dot(a, b)
    }
    #[cfg(not(any(
        target_arch = "x86_64",
        all(target_arch = "wasm32", target_feature = "simd128")
    )))]
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
/// Four output columns per pass share each load of A's row (explicit SIMD128 in wasm,
/// `pmaddwd` kernels on x86-64).
pub fn gemm_nt_i16(m: usize, n: usize, k: usize, a: &[i16], b: &[i16], c: &mut [i32]) {
    debug_assert!(a.len() >= m * k && b.len() >= n * k && c.len() >= m * n);
    #[cfg(target_arch = "x86_64")]
    if k > 0 && n > 0 {
        return x86::gemm_nt(m, n, k, a, b, c);
    }
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

/// The x86-64 kernels: `pmaddwd` multiplies eight i16 pairs and adds adjacent products into
/// four i32 lanes; SSE2 (`_mm_madd_epi16`, 8 codes per step) is part of the x86-64 baseline,
/// AVX2 (`_mm256_madd_epi16`, 16 codes per step) is used when the CPU has it.
///
/// Exactness: codes are at most 8-bit magnitudes (weights |q| <= 127, activations
/// |q| <= 255), so one product is at most 127 * 255 = 32,385 in magnitude, one `pmaddwd`
/// pair sum at most 64,770 (its only overflow, (-32768)^2 * 2, cannot occur), and any
/// partial sum of a dot product's K products at most K * 32,385 <= i32::MAX for
/// K <= [`MAX_K`]. No intermediate result overflows in any summation order, so every kernel
/// here equals the portable scalar reference bit for bit.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use core::arch::x86_64::{
        __m128i, __m256i, _mm256_add_epi32, _mm256_castsi256_si128, _mm256_extracti128_si256,
        _mm256_loadu_si256, _mm256_madd_epi16, _mm256_setzero_si256, _mm_add_epi32,
        _mm_cvtsi128_si32, _mm_loadu_si128, _mm_madd_epi16, _mm_setzero_si128, _mm_storeu_si128,
        _mm_unpackhi_epi32, _mm_unpackhi_epi64, _mm_unpacklo_epi32, _mm_unpacklo_epi64,
    };

    /// Whether the CPU has AVX2 (std caches the CPUID answer: this is one atomic load).
    #[inline]
    fn has_avx2() -> bool {
        std::arch::is_x86_feature_detected!("avx2")
    }

    /// [`super::dot_i16`] on x86-64.
    #[inline]
    #[allow(unsafe_code)] // calls the AVX2 kernel after checking the CPU has AVX2
    pub(super) fn dot(a: &[i16], b: &[i16]) -> i32 {
        if has_avx2() {
            // SAFETY: the CPU supports AVX2 (checked just above).
            unsafe { dot_avx2(a, b) }
        } else {
            dot_sse2(a, b)
        }
    }

    /// [`super::gemm_nt_i16`] on x86-64 (k, n > 0); the CPU is asked for AVX2 once per call.
    #[allow(unsafe_code)] // calls the AVX2 kernels after checking the CPU has AVX2
    pub(super) fn gemm_nt(m: usize, n: usize, k: usize, a: &[i16], b: &[i16], c: &mut [i32]) {
        if has_avx2() {
            // SAFETY: the CPU supports AVX2 (checked just above).
            unsafe { gemm_nt_avx2(m, n, k, a, b, c) }
        } else {
            gemm_nt_sse2(m, n, k, a, b, c)
        }
    }

    /// The GEMM with SSE2 kernels only (k, n > 0; the tests call it to force this path).
    #[allow(unsafe_code)] // instantiates the tile loop without AVX2
    pub(super) fn gemm_nt_sse2(m: usize, n: usize, k: usize, a: &[i16], b: &[i16], c: &mut [i32]) {
        // SAFETY: without AVX2 the tile loop uses SSE2 only, part of the x86-64 baseline.
        unsafe { gemm_tiles::<false>(m, n, k, a, b, c) }
    }

    /// The GEMM with AVX2 kernels.
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    #[allow(unsafe_code)] // an AVX2 function: callers must check the CPU
    pub(super) unsafe fn gemm_nt_avx2(
        m: usize,
        n: usize,
        k: usize,
        a: &[i16],
        b: &[i16],
        c: &mut [i32],
    ) {
        // SAFETY: the caller guarantees AVX2; inlined here, the kernels compile with it.
        unsafe { gemm_tiles::<true>(m, n, k, a, b, c) }
    }

    /// Two rows of A at a time (then the odd last row), four columns of C per pass
    /// ([`tile`]), the last n % 4 columns one at a time.
    ///
    /// # Safety
    /// With `AVX2`, the CPU must support AVX2.
    #[inline(always)]
    #[allow(unsafe_code)] // calls the AVX2 kernels when the caller vouches for AVX2
    unsafe fn gemm_tiles<const AVX2: bool>(
        m: usize,
        n: usize,
        k: usize,
        a: &[i16],
        b: &[i16],
        c: &mut [i32],
    ) {
        let (a, b, c) = (&a[..m * k], &b[..n * k], &mut c[..m * n]);
        let mut a2 = a.chunks_exact(2 * k);
        let mut c2 = c.chunks_exact_mut(2 * n);
        for (arows, crows) in (&mut a2).zip(&mut c2) {
            // SAFETY: AVX2 only when the caller guarantees it.
            unsafe { row_block::<2, AVX2>(n, k, arows, b, crows) };
        }
        // SAFETY: as above.
        unsafe { row_block::<1, AVX2>(n, k, a2.remainder(), b, c2.into_remainder()) };
    }

    /// The columns of R rows of C (`crows`, R x n) from R rows of A (`arows`, R x k; empty
    /// for none) and all n rows of B.
    ///
    /// # Safety
    /// With `AVX2`, the CPU must support AVX2.
    #[inline(always)]
    #[allow(unsafe_code)] // calls the AVX2 kernels when the caller vouches for AVX2
    unsafe fn row_block<const R: usize, const AVX2: bool>(
        n: usize,
        k: usize,
        arows: &[i16],
        b: &[i16],
        crows: &mut [i32],
    ) {
        if arows.len() != R * k {
            return;
        }
        let mut j = 0;
        for b4 in b.chunks_exact(4 * k) {
            // SAFETY: AVX2 only when the caller guarantees it.
            unsafe { tile::<R, AVX2>(k, arows, b4, n, j, crows) };
            j += 4;
        }
        for (arow, crow) in arows.chunks_exact(k).zip(crows.chunks_exact_mut(n)) {
            for (out, brow) in crow[j..].iter_mut().zip(b[j * k..].chunks_exact(k)) {
                // SAFETY: AVX2 only when the caller guarantees it.
                *out = if AVX2 {
                    unsafe { dot_avx2(arow, brow) }
                } else {
                    dot_sse2(arow, brow)
                };
            }
        }
    }

    /// [`super::dot_i16`] with SSE2: eight codes per step, then the scalar tail.
    #[inline]
    #[allow(unsafe_code)] // SSE2 intrinsics
    pub(super) fn dot_sse2(a: &[i16], b: &[i16]) -> i32 {
        // SAFETY: SSE2 is part of the x86-64 baseline.
        dot_from_sse2(unsafe { _mm_setzero_si128() }, a, b, 0)
    }

    /// [`super::dot_i16`] with AVX2: sixteen codes per step, then [`dot_from_sse2`].
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[inline]
    #[target_feature(enable = "avx2")]
    #[allow(unsafe_code)] // AVX2 intrinsics and unaligned loads
    pub(super) unsafe fn dot_avx2(a: &[i16], b: &[i16]) -> i32 {
        let n = a.len().min(b.len());
        let mut acc = _mm256_setzero_si256();
        let mut i = 0;
        while i + 16 <= n {
            // SAFETY: i + 16 <= n <= both lengths; loadu has no alignment requirement.
            unsafe {
                let va = _mm256_loadu_si256(a.as_ptr().add(i).cast::<__m256i>());
                let vb = _mm256_loadu_si256(b.as_ptr().add(i).cast::<__m256i>());
                acc = _mm256_add_epi32(acc, _mm256_madd_epi16(va, vb));
            }
            i += 16;
        }
        dot_from_sse2(fold(acc), a, b, i)
    }

    /// The dot product of `a[i..]` and `b[i..]` added to the lane sums in `acc`.
    #[inline(always)]
    #[allow(unsafe_code)] // SSE2 intrinsics and unaligned loads
    fn dot_from_sse2(mut acc: __m128i, a: &[i16], b: &[i16], mut i: usize) -> i32 {
        let n = a.len().min(b.len());
        while i + 8 <= n {
            // SAFETY: SSE2 is baseline; i + 8 <= n <= both lengths; loadu is unaligned.
            unsafe {
                let va = _mm_loadu_si128(a.as_ptr().add(i).cast::<__m128i>());
                let vb = _mm_loadu_si128(b.as_ptr().add(i).cast::<__m128i>());
                acc = _mm_add_epi32(acc, _mm_madd_epi16(va, vb));
            }
            i += 8;
        }
        // SAFETY: SSE2 is part of the x86-64 baseline. (Lane 0 of sum4 is the sum of its
        // first argument.)
        let s = unsafe { _mm_cvtsi128_si32(sum4(acc, acc, acc, acc)) };
        s + super::dot_i16_portable(&a[i..n], &b[i..n])
    }

    /// The R x 4 dot products of R rows of A (`a`, R x k) with four rows of B (`b4`, 4 x k),
    /// stored at columns j..j + 4 of the R rows of `c` (row length n): with AVX2 sixteen
    /// codes per step, then eight per step with SSE2, then the scalar tail. Each load of B
    /// serves the R rows and each load of A the four columns.
    ///
    /// # Safety
    /// With `AVX2`, the CPU must support AVX2.
    #[inline(always)]
    #[allow(unsafe_code)] // SSE2 / AVX2 intrinsics and unaligned loads and stores
    unsafe fn tile<const R: usize, const AVX2: bool>(
        k: usize,
        a: &[i16],
        b4: &[i16],
        n: usize,
        j: usize,
        c: &mut [i32],
    ) {
        assert!(a.len() == R * k && b4.len() == 4 * k);
        // SAFETY: SSE2 is part of the x86-64 baseline.
        let mut acc = [[unsafe { _mm_setzero_si128() }; 4]; R];
        let mut p = 0;
        if AVX2 {
            // SAFETY (this block): the caller guarantees AVX2. Loads: p + 16 <= k, so
            // r * k + p + 16 <= R * k = a.len() for r < R and c * k + p + 16 <= 4k = b4.len()
            // for c < 4; loadu has no alignment requirement.
            unsafe {
                let mut wide = [[_mm256_setzero_si256(); 4]; R];
                while p + 16 <= k {
                    let vb: [__m256i; 4] = core::array::from_fn(|c| {
                        _mm256_loadu_si256(b4.as_ptr().add(c * k + p).cast::<__m256i>())
                    });
                    for (r, acc_r) in wide.iter_mut().enumerate() {
                        let va = _mm256_loadu_si256(a.as_ptr().add(r * k + p).cast::<__m256i>());
                        for (acc_rc, &vb_c) in acc_r.iter_mut().zip(&vb) {
                            *acc_rc = _mm256_add_epi32(*acc_rc, _mm256_madd_epi16(va, vb_c));
                        }
                    }
                    p += 16;
                }
                for (acc_r, wide_r) in acc.iter_mut().zip(&wide) {
                    for (acc_rc, &w) in acc_r.iter_mut().zip(wide_r) {
                        *acc_rc = fold(w);
                    }
                }
            }
        }
        // SAFETY (this block): SSE2 is part of the x86-64 baseline. Loads: p + 8 <= k, so
        // r * k + p + 8 <= R * k = a.len() for r < R and c * k + p + 8 <= 4k = b4.len() for
        // c < 4; loadu has no alignment requirement.
        unsafe {
            while p + 8 <= k {
                let vb: [__m128i; 4] = core::array::from_fn(|c| {
                    _mm_loadu_si128(b4.as_ptr().add(c * k + p).cast::<__m128i>())
                });
                for (r, acc_r) in acc.iter_mut().enumerate() {
                    let va = _mm_loadu_si128(a.as_ptr().add(r * k + p).cast::<__m128i>());
                    for (acc_rc, &vb_c) in acc_r.iter_mut().zip(&vb) {
                        *acc_rc = _mm_add_epi32(*acc_rc, _mm_madd_epi16(va, vb_c));
                    }
                }
                p += 8;
            }
        }
        for (r, (acc_r, arow)) in acc.iter().zip(a.chunks_exact(k)).enumerate() {
            let out = &mut c[r * n + j..r * n + j + 4];
            // SAFETY: SSE2 is baseline; `out` and `tail` hold four i32 (16 bytes) each;
            // loadu and storeu have no alignment requirement.
            unsafe {
                let mut sums = sum4(acc_r[0], acc_r[1], acc_r[2], acc_r[3]);
                if p < k {
                    let tail: [i32; 4] = core::array::from_fn(|col| {
                        super::dot_i16_portable(&arow[p..], &b4[col * k + p..(col + 1) * k])
                    });
                    sums = _mm_add_epi32(sums, _mm_loadu_si128(tail.as_ptr().cast::<__m128i>()));
                }
                _mm_storeu_si128(out.as_mut_ptr().cast::<__m128i>(), sums);
            }
        }
    }

    /// The lane sums of four vectors, [sum(v0), sum(v1), sum(v2), sum(v3)] (a transpose and
    /// two adds).
    #[inline(always)]
    #[allow(unsafe_code)] // SSE2 intrinsics
    fn sum4(v0: __m128i, v1: __m128i, v2: __m128i, v3: __m128i) -> __m128i {
        // SAFETY: SSE2 is part of the x86-64 baseline.
        unsafe {
            // [v0_0 + v0_2, v1_0 + v1_2, v0_1 + v0_3, v1_1 + v1_3] and likewise for v2, v3
            let s01 = _mm_add_epi32(_mm_unpacklo_epi32(v0, v1), _mm_unpackhi_epi32(v0, v1));
            let s23 = _mm_add_epi32(_mm_unpacklo_epi32(v2, v3), _mm_unpackhi_epi32(v2, v3));
            _mm_add_epi32(_mm_unpacklo_epi64(s01, s23), _mm_unpackhi_epi64(s01, s23))
        }
    }

    /// The two 128-bit halves of `v` added lane by lane.
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[inline]
    #[target_feature(enable = "avx2")]
    #[allow(unsafe_code)] // AVX2 intrinsics
    unsafe fn fold(v: __m256i) -> __m128i {
        _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v))
    }
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
            if p == 2 {
                // the 2 x 2 case without the running fold, which the compiler can vectorise
                // (integer max: any order gives the same)
                let r0 = &src[2 * oy * w..][..2 * ow];
                let r1 = &src[(2 * oy + 1) * w..][..2 * ow];
                for ((o, a), b) in orow
                    .iter_mut()
                    .zip(r0.chunks_exact(2))
                    .zip(r1.chunks_exact(2))
                {
                    *o = a[0].max(a[1]).max(b[0].max(b[1]));
                }
                continue;
            }
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

/// Requantize one output channel to terms of a residual sum (see [`add_term`]):
/// round_half_even(clamp(acc * m + b, -2^22, 2^22)), not clipped to any code range.
#[inline]
pub(crate) fn requant_terms(acc: &[i32], m: f32, b: f32, out: &mut [i32]) {
    const LIM: f32 = 4_194_304.0;
    for (o, &a) in out.iter_mut().zip(acc) {
        *o = round_even_int(clamp_f32(a as f32 * m + b, -LIM, LIM));
    }
}

/// One branch of a residual sum as a code of the sum's scale s: round_half_even(v / s),
/// clamped to +-2^22 first (so the rounding is exact and two terms add without overflow).
/// The fake-quant and the integer path both use it for values they hold as f32.
#[inline]
pub(crate) fn add_term(v: f32, s: f32) -> i32 {
    const LIM: f32 = 4_194_304.0;
    round_even_int(clamp_f32(v / s, -LIM, LIM))
}

/// Output channels per tile of [`IntConv`]: two vectors of four i32 lanes.
const IC_BLOCK: usize = 8;
/// Output pixels per tile of [`IntConv`].
const IC_PIX: usize = 4;

/// Eight i16 lanes / four i32 lanes, for [`IntConv`]: SIMD128 on wasm32, SSE2 on x86-64,
/// plain arrays elsewhere. `dot2` is `i32x4.dot_i16x8_s` / `pmaddwd`: lane l of the result
/// is a[2l] b[2l] + a[2l+1] b[2l+1], exact for codes (see the x86 module's note).
mod v128i {
    #![allow(unsafe_code)]
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    use core::arch::wasm32::{
        i32x4_add, i32x4_dot_i16x8, i32x4_shuffle, i32x4_splat, i64x2_shuffle, v128, v128_load,
        v128_store,
    };
    #[cfg(target_arch = "x86_64")]
    use core::arch::x86_64::{
        __m128i, _mm_add_epi32, _mm_loadu_si128, _mm_madd_epi16, _mm_set1_epi32, _mm_setzero_si128,
        _mm_storeu_si128, _mm_unpackhi_epi32, _mm_unpackhi_epi64, _mm_unpacklo_epi32,
        _mm_unpacklo_epi64,
    };

    #[derive(Clone, Copy)]
    pub(super) struct V(Inner);
    #[cfg(target_arch = "x86_64")]
    type Inner = __m128i;
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    type Inner = v128;
    #[cfg(not(any(
        target_arch = "x86_64",
        all(target_arch = "wasm32", target_feature = "simd128")
    )))]
    type Inner = [i32; 4];

    impl V {
        #[inline(always)]
        pub(super) fn zero() -> V {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: SSE2 is part of the x86-64 baseline.
            return V(unsafe { _mm_setzero_si128() });
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            return V(i32x4_splat(0));
            #[cfg(not(any(
                target_arch = "x86_64",
                all(target_arch = "wasm32", target_feature = "simd128")
            )))]
            return V([0; 4]);
        }

        /// The pair of i16 at `p` in every 32-bit lane.
        ///
        /// # Safety
        /// `p .. p + 2` must be readable.
        #[inline(always)]
        pub(super) unsafe fn splat_pair(p: *const i16) -> V {
            // SAFETY: the caller guarantees two readable i16.
            let bits = unsafe { (p as *const i32).read_unaligned() };
            #[cfg(target_arch = "x86_64")]
            // SAFETY: SSE2 is part of the x86-64 baseline.
            return V(unsafe { _mm_set1_epi32(bits) });
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            return V(i32x4_splat(bits));
            #[cfg(not(any(
                target_arch = "x86_64",
                all(target_arch = "wasm32", target_feature = "simd128")
            )))]
            return V([bits; 4]);
        }

        /// Eight i16 at `p`.
        ///
        /// # Safety
        /// `p .. p + 8` must be readable.
        #[inline(always)]
        pub(super) unsafe fn load(p: *const i16) -> V {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: the caller guarantees 16 readable bytes; the load is unaligned.
            return V(unsafe { _mm_loadu_si128(p.cast::<__m128i>()) });
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            // SAFETY: the caller guarantees 16 readable bytes; no alignment requirement.
            return V(unsafe { v128_load(p.cast::<v128>()) });
            #[cfg(not(any(
                target_arch = "x86_64",
                all(target_arch = "wasm32", target_feature = "simd128")
            )))]
            // SAFETY: the caller guarantees eight readable i16.
            return V(core::array::from_fn(|l| unsafe {
                (*p.add(2 * l) as u16 as i32) | ((*p.add(2 * l + 1) as u16 as i32) << 16)
            }));
        }

        /// self + dot2(a, b) (see the module note).
        #[inline(always)]
        pub(super) fn add_dot2(self, a: V, b: V) -> V {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: SSE2 is part of the x86-64 baseline.
            return V(unsafe { _mm_add_epi32(self.0, _mm_madd_epi16(a.0, b.0)) });
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            return V(i32x4_add(self.0, i32x4_dot_i16x8(a.0, b.0)));
            #[cfg(not(any(
                target_arch = "x86_64",
                all(target_arch = "wasm32", target_feature = "simd128")
            )))]
            return V(core::array::from_fn(|l| {
                let lo = |v: i32| v as i16 as i32;
                let hi = |v: i32| (v >> 16) as i16 as i32;
                self.0[l] + lo(a.0[l]) * lo(b.0[l]) + hi(a.0[l]) * hi(b.0[l])
            }));
        }

        /// Write the four i32 lanes to `d[..4]`.
        #[inline(always)]
        pub(super) fn store(self, d: &mut [i32]) {
            let d = &mut d[..4];
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `d` holds 16 bytes; the store is unaligned.
            unsafe {
                _mm_storeu_si128(d.as_mut_ptr().cast::<__m128i>(), self.0)
            };
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            // SAFETY: `d` holds 16 bytes; no alignment requirement.
            unsafe {
                v128_store(d.as_mut_ptr().cast::<v128>(), self.0)
            };
            #[cfg(not(any(
                target_arch = "x86_64",
                all(target_arch = "wasm32", target_feature = "simd128")
            )))]
            d.copy_from_slice(&self.0);
        }

        /// The 4 x 4 transpose of the i32 rows `r`.
        #[inline(always)]
        pub(super) fn transpose4(r: [V; 4]) -> [V; 4] {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: SSE2 is part of the x86-64 baseline.
            return unsafe {
                let t0 = _mm_unpacklo_epi32(r[0].0, r[1].0);
                let t1 = _mm_unpacklo_epi32(r[2].0, r[3].0);
                let t2 = _mm_unpackhi_epi32(r[0].0, r[1].0);
                let t3 = _mm_unpackhi_epi32(r[2].0, r[3].0);
                [
                    V(_mm_unpacklo_epi64(t0, t1)),
                    V(_mm_unpackhi_epi64(t0, t1)),
                    V(_mm_unpacklo_epi64(t2, t3)),
                    V(_mm_unpackhi_epi64(t2, t3)),
                ]
            };
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            return {
                let t0 = i32x4_shuffle::<0, 4, 1, 5>(r[0].0, r[1].0);
                let t1 = i32x4_shuffle::<0, 4, 1, 5>(r[2].0, r[3].0);
                let t2 = i32x4_shuffle::<2, 6, 3, 7>(r[0].0, r[1].0);
                let t3 = i32x4_shuffle::<2, 6, 3, 7>(r[2].0, r[3].0);
                [
                    V(i64x2_shuffle::<0, 2>(t0, t1)),
                    V(i64x2_shuffle::<1, 3>(t0, t1)),
                    V(i64x2_shuffle::<0, 2>(t2, t3)),
                    V(i64x2_shuffle::<1, 3>(t2, t3)),
                ]
            };
            #[cfg(not(any(
                target_arch = "x86_64",
                all(target_arch = "wasm32", target_feature = "simd128")
            )))]
            return core::array::from_fn(|i| V(core::array::from_fn(|l| r[l].0[i])));
        }
    }
}

/// Integer direct convolution with lanes across output channels (the integer twin of
/// `nn::kernels::OcConv`): no im2row buffer, only a zero-padded copy of each image. A tile is
/// [`IC_BLOCK`] output channels x [`IC_PIX`] output pixels (row-major pixel order, tiles run
/// across row ends) in eight i32x4 accumulators. Taps are taken in pairs (kx, kx + 1) of one
/// kernel row: the two input codes are adjacent in the padded row, so one 32-bit splat feeds
/// `dot2` against the packed weight pairs of four channels (a phantom tap kx = K when K is
/// odd has weight 0 and reads the next padded value, in bounds). Integer sums are exact, so
/// the result equals [`conv2d_i16_ref`] whatever the order. Weights are packed once per call,
/// then the batch runs image by image.
pub struct IntConv {
    g: ConvGeom,
    cout: usize,
    /// Taps per kernel row rounded up to even.
    ke: usize,
    pw: usize,
    plane: usize,
    /// Offset of each kernel row (ch, ky) from a pixel's base in the padded image.
    rows: Vec<usize>,
    /// Offset of each output pixel's (0, 0) tap in the padded image.
    pix: Vec<usize>,
    /// packed[(((blk * rows + r) * ke/2 + q) * 2 + v) * 8 + 2 b + e] =
    /// w[blk * 8 + 4 v + b][(r, kx = 2 q + e)] (0 for kx >= K or channels past cout).
    packed: Vec<i16>,
}

impl IntConv {
    /// `w`: cout rows of `kp >= patch` codes (the first `patch` used).
    pub fn new(g: &ConvGeom, cout: usize, w: &[i16], kp: usize) -> Self {
        let (k, patch) = (g.k, g.patch());
        assert!(kp >= patch && w.len() >= cout * kp);
        let ke = k.div_ceil(2) * 2;
        let pw = g.w + 2 * g.pad;
        let plane = (g.h + 2 * g.pad) * pw;
        let rows: Vec<usize> = (0..g.c)
            .flat_map(|ch| (0..k).map(move |ky| ch * plane + ky * pw))
            .collect();
        let (oh, ow, s) = (g.out_h(), g.out_w(), g.stride);
        let pix = (0..oh)
            .flat_map(|oy| (0..ow).map(move |ox| oy * s * pw + ox * s))
            .collect();
        let blocks = cout.div_ceil(IC_BLOCK);
        let nr = rows.len();
        let mut packed = vec![0i16; blocks * nr * ke * IC_BLOCK];
        for o in 0..cout {
            let (blk, v, b) = (o / IC_BLOCK, (o % IC_BLOCK) / 4, o % 4);
            for r in 0..nr {
                for kx in 0..k {
                    let (q, e) = (kx / 2, kx % 2);
                    let at = (((blk * nr + r) * (ke / 2) + q) * 2 + v) * 8 + 2 * b + e;
                    packed[at] = w[o * kp + r * k + kx];
                }
            }
        }
        IntConv {
            g: *g,
            cout,
            ke,
            pw,
            plane,
            rows,
            pix,
            packed,
        }
    }

    /// `batch` images of C x H x W codes in `x` to `batch` blocks of cout x OH x OW sums in
    /// `acc`. `scratch` holds the zero-padded copy of one image.
    pub fn run_batch(&self, batch: usize, x: &[i16], scratch: &mut Vec<i16>, acc: &mut [i32]) {
        let g = &self.g;
        let (ni, no) = (g.c * g.h * g.w, self.cout * g.out_hw());
        assert!(x.len() >= batch * ni && acc.len() >= batch * no);
        // the border stays zero: only the interior is written, image after image; the
        // extra values cover the phantom tap of the last pixel
        scratch.clear();
        scratch.resize(g.c * self.plane + self.ke, 0);
        for (img, o) in x.chunks_exact(ni).zip(acc.chunks_exact_mut(no)).take(batch) {
            for ch in 0..g.c {
                for y in 0..g.h {
                    let at = ch * self.plane + (y + g.pad) * self.pw + g.pad;
                    scratch[at..at + g.w]
                        .copy_from_slice(&img[(ch * g.h + y) * g.w..(ch * g.h + y + 1) * g.w]);
                }
            }
            let hw = g.out_hw();
            let full = hw - hw % IC_PIX;
            for blk in 0..self.cout.div_ceil(IC_BLOCK) {
                for p0 in (0..full).step_by(IC_PIX) {
                    self.tile::<IC_PIX>(blk, p0, scratch, o);
                }
                let mut p0 = full;
                while p0 < hw {
                    if hw - p0 >= 2 {
                        self.tile::<2>(blk, p0, scratch, o);
                        p0 += 2;
                    } else {
                        self.tile::<1>(blk, p0, scratch, o);
                        p0 += 1;
                    }
                }
            }
        }
    }

    /// Output channels blk * IC_BLOCK.. (up to cout) at pixels p0..p0 + NP.
    #[inline(always)]
    #[allow(unsafe_code)]
    fn tile<const NP: usize>(&self, blk: usize, p0: usize, pad: &[i16], out: &mut [i32]) {
        use v128i::V;
        let (nr, hq) = (self.rows.len(), self.ke / 2);
        let per_row = hq * 2 * IC_BLOCK;
        let wp = &self.packed[blk * nr * per_row..(blk + 1) * nr * per_row];
        let bases: [usize; NP] = core::array::from_fn(|j| self.pix[p0 + j]);
        // every input read below is pad[bases[j] + rows[r] + 2 q .. + 2], 2 q + 2 <= ke
        let reach = self.rows.last().copied().unwrap_or(0) + self.ke;
        assert!(bases.iter().all(|&b| b + reach <= pad.len()));
        let mut acc = [[V::zero(); 2]; NP];
        for (&row, wr) in self.rows.iter().zip(wp.chunks_exact(per_row)) {
            for (q, wq) in wr.chunks_exact(2 * IC_BLOCK).enumerate() {
                // SAFETY: wq holds 16 codes.
                let wv = unsafe { [V::load(wq.as_ptr()), V::load(wq.as_ptr().add(8))] };
                for (a, &base) in acc.iter_mut().zip(&bases) {
                    // SAFETY: base + row + 2 q + 2 <= base + reach <= pad.len() (asserted).
                    let xv = unsafe { V::splat_pair(pad.as_ptr().add(base + row + 2 * q)) };
                    a[0] = a[0].add_dot2(wv[0], xv);
                    a[1] = a[1].add_dot2(wv[1], xv);
                }
            }
        }
        let hw = self.g.out_hw();
        let nb = (self.cout - blk * IC_BLOCK).min(IC_BLOCK);
        #[allow(clippy::needless_range_loop)] // v indexes the inner arrays of acc
        for v in 0..2 {
            let rows: [V; 4] = core::array::from_fn(|j| if j < NP { acc[j][v] } else { V::zero() });
            for (b, col) in V::transpose4(rows).into_iter().enumerate() {
                if 4 * v + b >= nb {
                    break;
                }
                let at = (blk * IC_BLOCK + 4 * v + b) * hw + p0;
                if NP == 4 {
                    col.store(&mut out[at..at + 4]);
                } else {
                    let mut lanes = [0i32; 4];
                    col.store(&mut lanes);
                    out[at..at + NP].copy_from_slice(&lanes[..NP]);
                }
            }
        }
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
        for &(m, n, k) in &[
            (1, 1, 1),
            (6, 576, 25),
            (3, 5, 3136),
            (10, 7, 17),
            (0, 3, 8),
            (2, 0, 8),
            (2, 3, 0),
        ] {
            let a = codes(&mut s, m * k, -127, 127);
            let b = codes(&mut s, n * k, 0, 255);
            let (mut c1, mut c2) = (vec![0; m * n], vec![0; m * n]);
            gemm_nt_i16(m, n, k, &a, &b, &mut c1);
            gemm_nt_i16_ref(m, n, k, &a, &b, &mut c2);
            assert_eq!(c1, c2);
        }
    }

    /// The x86-64 kernels, each path forced (SSE2 always, AVX2 when the CPU has it), against
    /// the portable reference over lengths around every vector width and codes at the
    /// extremes of their ranges (activations -255..=255, weights -127..=127).
    #[cfg(target_arch = "x86_64")]
    #[test]
    #[allow(unsafe_code)] // calls the AVX2 kernels after checking the CPU has AVX2
    fn x86_kernels_match_portable() {
        let avx2 = std::arch::is_x86_feature_detected!("avx2");
        let mut s = Stream::new(3, "ik");
        let lens = [
            0, 1, 2, 7, 8, 9, 15, 16, 17, 23, 24, 25, 31, 32, 33, 47, 48, 150, 160, 255, 256, 3136,
        ];
        for &k in &lens {
            // random codes, and the extremes (the largest possible sum, negated below)
            for extreme in [false, true] {
                let (a, b) = if extreme {
                    (vec![-127i16; k], vec![-255i16; 5 * k])
                } else {
                    (codes(&mut s, k, -127, 127), codes(&mut s, 5 * k, -255, 255))
                };
                let want = dot_i16_portable(&a, &b[..k]);
                assert_eq!(x86::dot_sse2(&a, &b[..k]), want, "sse2 dot, k {k}");
                assert_eq!(dot_i16(&a, &b[..k]), want, "dot, k {k}");
                if avx2 {
                    // SAFETY: the CPU supports AVX2 (checked above).
                    assert_eq!(
                        unsafe { x86::dot_avx2(&a, &b[..k]) },
                        want,
                        "avx2 dot, k {k}"
                    );
                }
                // 3 rows of A (a two-row block and a single row) against 5 of B (a
                // four-column tile and a single column)
                let a3: Vec<i16> = (a.iter().copied())
                    .chain(a.iter().map(|&v| -v))
                    .chain(a.iter().rev().copied())
                    .collect();
                let mut want = vec![0; 15];
                gemm_nt_i16_ref(3, 5, k, &a3, &b, &mut want);
                let mut c = vec![7; 15];
                gemm_nt_i16(3, 5, k, &a3, &b, &mut c);
                assert_eq!(c, want, "gemm, k {k}");
                if k > 0 {
                    let mut c = vec![7; 15];
                    x86::gemm_nt_sse2(3, 5, k, &a3, &b, &mut c);
                    assert_eq!(c, want, "sse2 gemm, k {k}");
                    if avx2 {
                        let mut c = vec![7; 15];
                        // SAFETY: the CPU supports AVX2 (checked above).
                        unsafe { x86::gemm_nt_avx2(3, 5, k, &a3, &b, &mut c) };
                        assert_eq!(c, want, "avx2 gemm, k {k}");
                    }
                }
            }
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
    fn int_conv_matches_reference() {
        let mut s = Stream::new(5, "ik");
        // lenet's and cnn3's layers, odd sizes, even and odd K, strides 1-3, cout around 8
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
            (1, 3, 3, 3, 2, 1, 9),
        ] {
            let g = ConvGeom {
                c,
                h,
                w,
                k,
                stride,
                pad,
            };
            let no = cout * g.out_hw();
            for extreme in [false, true] {
                let (img, wt) = if extreme {
                    (vec![255i16; 3 * c * h * w], vec![-127i16; cout * g.patch()])
                } else {
                    (
                        codes(&mut s, 3 * c * h * w, -255, 255),
                        codes(&mut s, cout * g.patch(), -127, 127),
                    )
                };
                let kp = padded(g.patch());
                let wp = pad_rows(&wt, cout, g.patch(), kp);
                let mut want = vec![0; 3 * no];
                for (i, o) in img.chunks_exact(c * h * w).zip(want.chunks_exact_mut(no)) {
                    conv2d_i16_ref(&g, cout, &wt, i, o);
                }
                let mut got = vec![7; 3 * no];
                IntConv::new(&g, cout, &wp, kp).run_batch(3, &img, &mut Vec::new(), &mut got);
                assert_eq!(got, want, "{c}x{h}x{w} k{k} s{stride} p{pad} -> {cout}");
            }
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
