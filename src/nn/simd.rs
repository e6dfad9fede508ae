//! A four-lane f32 vector for the float kernels: SSE on x86-64, SIMD128 on wasm32 (when the
//! build enables it), plain arrays elsewhere. Every operation is lane-wise IEEE multiply or
//! add (never fused), so all three give bit-identical results and a kernel written with
//! [`F4`] sums each lane exactly as its scalar reference does.

#![allow(unsafe_code)]

#[cfg(target_arch = "x86_64")]
use core::arch::x86_64::{
    __m128, _mm_add_ps, _mm_loadu_ps, _mm_max_ps, _mm_movehl_ps, _mm_movelh_ps, _mm_mul_ps,
    _mm_set1_ps, _mm_shuffle_ps, _mm_storeu_ps, _mm_unpackhi_ps, _mm_unpacklo_ps,
};

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
use core::arch::wasm32::{
    f32x4_add, f32x4_mul, f32x4_pmax, f32x4_splat, i32x4_shuffle, i64x2_shuffle, v128, v128_load,
    v128_store,
};

/// Four f32 lanes.
#[derive(Clone, Copy)]
pub(crate) struct F4(Inner);

#[cfg(target_arch = "x86_64")]
type Inner = __m128;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
type Inner = v128;
#[cfg(not(any(
    target_arch = "x86_64",
    all(target_arch = "wasm32", target_feature = "simd128")
)))]
type Inner = [f32; 4];

impl F4 {
    /// Every lane `v`.
    #[inline(always)]
    pub(crate) fn splat(v: f32) -> F4 {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: SSE is part of the x86-64 baseline.
        return F4(unsafe { _mm_set1_ps(v) });
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        return F4(f32x4_splat(v));
        #[cfg(not(any(
            target_arch = "x86_64",
            all(target_arch = "wasm32", target_feature = "simd128")
        )))]
        return F4([v; 4]);
    }

    /// The four values at `p`.
    ///
    /// # Safety
    /// `p .. p + 4` must be readable f32s.
    #[inline(always)]
    pub(crate) unsafe fn load_ptr(p: *const f32) -> F4 {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the caller guarantees four readable f32; the load is unaligned.
        return F4(unsafe { _mm_loadu_ps(p) });
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        // SAFETY: the caller guarantees 16 readable bytes; no alignment requirement.
        return F4(unsafe { v128_load(p as *const v128) });
        #[cfg(not(any(
            target_arch = "x86_64",
            all(target_arch = "wasm32", target_feature = "simd128")
        )))]
        // SAFETY: the caller guarantees four readable f32.
        return F4(unsafe { [*p, *p.add(1), *p.add(2), *p.add(3)] });
    }

    /// Write the lanes to the first four places of `d` (panics if it is shorter).
    #[inline(always)]
    pub(crate) fn store(self, d: &mut [f32]) {
        let d = &mut d[..4];
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `d` holds four f32; the store is unaligned.
        unsafe {
            _mm_storeu_ps(d.as_mut_ptr(), self.0)
        };
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        // SAFETY: `d` holds 16 bytes; v128_store has no alignment requirement.
        unsafe {
            v128_store(d.as_mut_ptr() as *mut v128, self.0)
        };
        #[cfg(not(any(
            target_arch = "x86_64",
            all(target_arch = "wasm32", target_feature = "simd128")
        )))]
        d.copy_from_slice(&self.0);
    }

    /// `self > other ? self : other`, lane by lane: the comparison of ReLU
    /// (`v > 0 ? v : 0`) and of max pooling, with its NaN and signed-zero behaviour.
    #[inline(always)]
    pub(crate) fn max_gt(self, other: F4) -> F4 {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: SSE is part of the x86-64 baseline; maxps(a, b) is a > b ? a : b.
        return F4(unsafe { _mm_max_ps(self.0, other.0) });
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        // pmax(a, b) is a < b ? b : a
        return F4(f32x4_pmax(other.0, self.0));
        #[cfg(not(any(
            target_arch = "x86_64",
            all(target_arch = "wasm32", target_feature = "simd128")
        )))]
        return F4(core::array::from_fn(|l| {
            if self.0[l] > other.0[l] {
                self.0[l]
            } else {
                other.0[l]
            }
        }));
    }

    /// The even and the odd lanes of the eight values `self, next`:
    /// ([s0, s2, n0, n2], [s1, s3, n1, n3]).
    #[inline(always)]
    pub(crate) fn deinterleave(self, next: F4) -> (F4, F4) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: SSE is part of the x86-64 baseline.
        return unsafe {
            (
                F4(_mm_shuffle_ps::<0b10_00_10_00>(self.0, next.0)),
                F4(_mm_shuffle_ps::<0b11_01_11_01>(self.0, next.0)),
            )
        };
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        return (
            F4(i32x4_shuffle::<0, 2, 4, 6>(self.0, next.0)),
            F4(i32x4_shuffle::<1, 3, 5, 7>(self.0, next.0)),
        );
        #[cfg(not(any(
            target_arch = "x86_64",
            all(target_arch = "wasm32", target_feature = "simd128")
        )))]
        return (
            F4([self.0[0], self.0[2], next.0[0], next.0[2]]),
            F4([self.0[1], self.0[3], next.0[1], next.0[3]]),
        );
    }

    /// The 4 x 4 transpose of the rows `r`: lane l of result i is lane i of `r[l]`.
    #[inline(always)]
    pub(crate) fn transpose4(r: [F4; 4]) -> [F4; 4] {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: SSE is part of the x86-64 baseline.
        return unsafe {
            let t0 = _mm_unpacklo_ps(r[0].0, r[1].0); // a0 b0 a1 b1
            let t1 = _mm_unpacklo_ps(r[2].0, r[3].0); // c0 d0 c1 d1
            let t2 = _mm_unpackhi_ps(r[0].0, r[1].0); // a2 b2 a3 b3
            let t3 = _mm_unpackhi_ps(r[2].0, r[3].0); // c2 d2 c3 d3
            [
                F4(_mm_movelh_ps(t0, t1)),
                F4(_mm_movehl_ps(t1, t0)),
                F4(_mm_movelh_ps(t2, t3)),
                F4(_mm_movehl_ps(t3, t2)),
            ]
        };
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        return {
            let t0 = i32x4_shuffle::<0, 4, 1, 5>(r[0].0, r[1].0);
            let t1 = i32x4_shuffle::<0, 4, 1, 5>(r[2].0, r[3].0);
            let t2 = i32x4_shuffle::<2, 6, 3, 7>(r[0].0, r[1].0);
            let t3 = i32x4_shuffle::<2, 6, 3, 7>(r[2].0, r[3].0);
            [
                F4(i64x2_shuffle::<0, 2>(t0, t1)),
                F4(i64x2_shuffle::<1, 3>(t0, t1)),
                F4(i64x2_shuffle::<0, 2>(t2, t3)),
                F4(i64x2_shuffle::<1, 3>(t2, t3)),
            ]
        };
        #[cfg(not(any(
            target_arch = "x86_64",
            all(target_arch = "wasm32", target_feature = "simd128")
        )))]
        return core::array::from_fn(|i| F4(core::array::from_fn(|l| r[l].0[i])));
    }

    /// self + a * b, lane by lane, as a separate multiply and add (no FMA).
    #[inline(always)]
    pub(crate) fn mul_add(self, a: F4, b: F4) -> F4 {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: SSE is part of the x86-64 baseline.
        return F4(unsafe { _mm_add_ps(self.0, _mm_mul_ps(a.0, b.0)) });
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        return F4(f32x4_add(self.0, f32x4_mul(a.0, b.0)));
        #[cfg(not(any(
            target_arch = "x86_64",
            all(target_arch = "wasm32", target_feature = "simd128")
        )))]
        return F4(core::array::from_fn(|l| self.0[l] + a.0[l] * b.0[l]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_are_ieee_multiply_then_add() {
        let a = [1.5f32, -0.0, f32::MIN_POSITIVE, 3.0e38];
        let b = [1.0f32 / 3.0, 2.0, 0.5, 10.0];
        let c = [0.1f32, -0.0, 1e-38, -3.0e38];
        let mut out = [0f32; 4];
        // SAFETY: each array holds four f32.
        let [a4, b4, c4] = [&a, &b, &c].map(|v| unsafe { F4::load_ptr(v.as_ptr()) });
        c4.mul_add(a4, b4).store(&mut out);
        for l in 0..4 {
            assert_eq!(out[l].to_bits(), (c[l] + a[l] * b[l]).to_bits(), "lane {l}");
        }
        F4::splat(2.5).store(&mut out);
        assert_eq!(out, [2.5; 4]);
        // max_gt is `a > b ? a : b`, NaN and signed zeros included
        let x = [f32::NAN, -0.0, 0.0, -1.0];
        let y = [0.0f32, 0.0, -0.0, f32::NAN];
        // SAFETY: each array holds four f32.
        let [x4, y4] = [&x, &y].map(|v| unsafe { F4::load_ptr(v.as_ptr()) });
        x4.max_gt(y4).store(&mut out);
        for l in 0..4 {
            let want = if x[l] > y[l] { x[l] } else { y[l] };
            assert_eq!(out[l].to_bits(), want.to_bits(), "lane {l}");
        }
        let (ev, od) = a4.deinterleave(b4);
        ev.store(&mut out);
        assert_eq!(
            out.map(f32::to_bits),
            [a[0], a[2], b[0], b[2]].map(f32::to_bits)
        );
        od.store(&mut out);
        assert_eq!(
            out.map(f32::to_bits),
            [a[1], a[3], b[1], b[3]].map(f32::to_bits)
        );
        let m: [[f32; 4]; 4] =
            core::array::from_fn(|i| core::array::from_fn(|l| (4 * i + l) as f32));
        // SAFETY: each row holds four f32.
        let rows = m.map(|r| unsafe { F4::load_ptr(r.as_ptr()) });
        for (i, t) in F4::transpose4(rows).iter().enumerate() {
            t.store(&mut out);
            assert_eq!(out, core::array::from_fn(|l| m[l][i]), "row {i}");
        }
    }
}
