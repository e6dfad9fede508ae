//! Uniform quantizers (docs/method.md section 6), round half to even everywhere (IEEE
//! roundTiesToEven via [`round_even`], tested equal to `f32::round_ties_even` and faster).
//!
//! Weights, symmetric, per output channel (or per tensor):
//!   s = t / (2^(b-1) - 1),  w_q = round(clamp(w, -t, t) / s) * s,
//! with t = max|w|, or for b < 5 optionally the MSE-optimal clip searched over the fixed grid
//! t = f * max|w|, f in {1.00, 0.99, ..., 0.20} ([`CLIP_GRID`]; ties keep the larger clip).
//!
//! Activations after a ReLU, unsigned: s = r / (2^b - 1), x_q = round(clamp(x, 0, r) / s) * s.
//! Activations that may be negative (the first layer's input: pixels plus Gaussian noise during
//! smoothing) use the signed symmetric form s = r / (2^(b-1) - 1), clamp to [-r, r]. The range
//! r comes from calibration ([`super::calib`]). A zero range or clip gives s = 1 (all codes 0).

use super::policy::Bits;
use crate::choice::choice_enum;
use serde::Serialize;

/// Number of clip fractions searched: f = 1 - k / 100 for k = 0..CLIP_GRID.
pub(crate) const CLIP_GRID: usize = 81;

/// Clip fraction k of the grid: 1.00, 0.99, ..., 0.20.
pub(crate) fn clip_fraction(k: usize) -> f32 {
    (100 - k) as f32 / 100.0
}

/// Largest code magnitude: 2^(b-1) - 1 (signed) or 2^b - 1 (unsigned).
pub(crate) fn qmax(bits: u32, signed: bool) -> i32 {
    if signed {
        (1 << (bits - 1)) - 1
    } else {
        (1 << bits) - 1
    }
}

/// Scale for range (or clip) `r`: r / qmax, or 1 when that is not a positive normal number
/// (r = 0: every code is 0 either way).
pub(crate) fn scale_for(r: f32, qmax: i32) -> f32 {
    let s = r / qmax as f32;
    if s.is_normal() && s > 0.0 {
        s
    } else {
        1.0
    }
}

/// 1.5 * 2^23: adding and subtracting it rounds |x| <= 2^22 to an integer.
const ROUND_MAGIC: f32 = 12_582_912.0;

#[cfg(test)]
/// Round half to even for |x| <= 2^22 (all our clamped codes): x + 1.5 * 2^23 lands in
/// [2^23, 2^24), where the f32 spacing is 1, so IEEE addition (round to nearest, ties to even,
/// the only rounding mode Rust uses) rounds x exactly like `f32::round_ties_even`; the
/// subtraction is exact. Unlike `round_ties_even`, which is a libm call on x86-64 without
/// SSE4.1, this vectorises (two adds); wasm gives the same bits.
#[inline]
pub(crate) fn round_even(x: f32) -> f32 {
    debug_assert!(x.abs() <= 4_194_304.0 || x.is_nan());
    (x + ROUND_MAGIC) - ROUND_MAGIC
}

/// [`round_even`] as an integer: for |x| <= 2^22 the sum x + 1.5 * 2^23 has exponent 23, so
/// its bit pattern is bits(1.5 * 2^23) + round(x). Integer subtraction instead of a
/// saturating float-to-int cast keeps the loops vectorised.
#[inline]
pub(crate) fn round_even_int(x: f32) -> i32 {
    debug_assert!(x.abs() <= 4_194_304.0);
    (x + ROUND_MAGIC).to_bits() as i32 - ROUND_MAGIC.to_bits() as i32
}

/// x clamped to [lo, hi] (lo <= hi), NaN to lo: the values of `x.max(lo).min(hi)` (up to
/// the sign of a zero, which no rounding below can see), but with comparisons, which wasm
/// compiles inline; `f32::max` / `min` become calls to fmaxf / fminf there (their NaN rules
/// differ from wasm's f32.max), which took 30 % of the integer path.
#[inline(always)]
pub(crate) fn clamp_f32(x: f32, lo: f32, hi: f32) -> f32 {
    let x = if x >= lo { x } else { lo };
    if x <= hi {
        x
    } else {
        hi
    }
}

/// round_half_even(clamp(x, lo, hi) / s), as an integer code (|hi / s| <= 255).
#[inline]
pub(crate) fn code(x: f32, lo: f32, hi: f32, s: f32) -> i16 {
    round_even_int(clamp_f32(x, lo, hi) / s) as i16
}

choice_enum! {
    /// How the weight clip t is chosen; the `wclip` setting.
    pub enum WeightClip {
        /// MSE-optimal t on [`CLIP_GRID`] for b < 5, max|w| otherwise.
        Mse = "mse",
        /// t = max|w|.
        Max = "max",
    }
}

/// Sum of squared quantization errors of `w` with clip t at qmax levels (f64, fixed order).
fn weight_sse(w: &[f32], t: f32, qm: i32) -> f64 {
    let s = scale_for(t, qm);
    w.iter()
        .map(|&v| {
            let e = (code(v, -t, t, s) as f32 * s - v) as f64;
            e * e
        })
        .sum()
}

/// The clip t for one channel's (or the whole tensor's) weights.
pub fn weight_clip(w: &[f32], bits: u32, clip: WeightClip) -> f32 {
    let tmax = w.iter().fold(0f32, |m, v| m.max(v.abs()));
    if clip == WeightClip::Max || bits >= 5 || tmax == 0.0 {
        return tmax;
    }
    let qm = qmax(bits, true);
    let (mut best_t, mut best_e) = (tmax, f64::INFINITY);
    for k in 0..CLIP_GRID {
        let t = tmax * clip_fraction(k);
        let e = weight_sse(w, t, qm);
        if e < best_e {
            (best_t, best_e) = (t, e);
        }
    }
    best_t
}

/// A quantized weight tensor: integer codes, one scale per output channel (per-tensor
/// quantization repeats the same scale), and the clip used.
///
/// ```
/// use arq::quant::{Bits, WeightClip, WeightQuant};
/// // 4 bits, symmetric: codes in [-7, 7] (qmax = 2^3 - 1); t = max|w| = 1.4, s = 1.4 / 7 = 0.2.
/// let w = [1.4, -0.45, 0.33, 0.0];
/// let q = WeightQuant::new(&w, 1, Bits::new(4).unwrap(), false, WeightClip::Max);
/// assert_eq!(q.clips, [1.4]);
/// assert!((q.scales[0] - 0.2).abs() < 1e-7);
/// // codes round(w / s) = round(7, -2.25, 1.65, 0) = 7, -2, 2, 0
/// assert_eq!(q.codes, [7, -2, 2, 0]);
/// // w_q = code * s = 1.4, -0.4, 0.4, 0
/// for (wq, want) in q.dequant().iter().zip([1.4, -0.4, 0.4, 0.0]) {
///     assert!((wq - want).abs() < 1e-6);
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WeightQuant {
    /// Bit width b, 2..=8; codes lie in [-(2^(b-1) - 1), 2^(b-1) - 1].
    pub bits: u32,
    /// One scale per output channel (else the per-tensor scale repeated per channel).
    pub per_channel: bool,
    /// Per output channel (length = channels even for per-tensor).
    pub scales: Vec<f32>,
    /// The clip t per output channel (same layout as `scales`): weights are clamped to [-t, t].
    pub clips: Vec<f32>,
    /// Same layout as the weights ([cout, ...] row-major), in [-(2^(b-1)-1), 2^(b-1)-1].
    #[serde(skip)]
    pub codes: Vec<i16>,
}

impl WeightQuant {
    /// Quantize `w` (`channels` rows of equal length) at `bits` (must be a quantized width).
    pub fn new(
        w: &[f32],
        channels: usize,
        bits: Bits,
        per_channel: bool,
        clip: WeightClip,
    ) -> Self {
        let b = bits
            .quantized()
            .expect("weight quantizer needs a quantized bit width");
        let qm = qmax(b, true);
        let row = w.len() / channels;
        let clips: Vec<f32> = if per_channel {
            w.chunks_exact(row)
                .map(|c| weight_clip(c, b, clip))
                .collect()
        } else {
            vec![weight_clip(w, b, clip); channels]
        };
        let scales: Vec<f32> = clips.iter().map(|&t| scale_for(t, qm)).collect();
        let mut codes = vec![0i16; w.len()];
        for (c, (src, dst)) in w
            .chunks_exact(row)
            .zip(codes.chunks_exact_mut(row))
            .enumerate()
        {
            let (t, s) = (clips[c], scales[c]);
            for (d, &v) in dst.iter_mut().zip(src) {
                *d = code(v, -t, t, s);
            }
        }
        WeightQuant {
            bits: b,
            per_channel,
            scales,
            clips,
            codes,
        }
    }

    /// Dequantized weights w_q = code * s (the fake-quant values).
    pub fn dequant(&self) -> Vec<f32> {
        let row = self.codes.len() / self.scales.len();
        let mut out = vec![0.0; self.codes.len()];
        for (c, (src, dst)) in self
            .codes
            .chunks_exact(row)
            .zip(out.chunks_exact_mut(row))
            .enumerate()
        {
            for (d, &q) in dst.iter_mut().zip(src) {
                *d = q as f32 * self.scales[c];
            }
        }
        out
    }

    /// Number of stored scales: channels, or 1 per tensor.
    pub fn scale_count(&self) -> usize {
        if self.per_channel {
            self.scales.len()
        } else {
            1
        }
    }
}

/// An activation quantizer (a layer's input): unsigned after a ReLU, signed symmetric otherwise.
///
/// ```
/// use arq::quant::ActQuant;
/// // 2 bits unsigned over r = 3: s = 3 / (2^2 - 1) = 1, codes 0..=3.
/// let q = ActQuant::new(2, false, 3.0);
/// assert_eq!(q.scale, 1.0);
/// assert_eq!([q.code(1.4), q.code(2.5), q.code(3.5), q.code(9.0), q.code(-1.0)], [1, 2, 3, 3, 0]);
/// // 2.5 is a tie: round half to even gives 2; 9 is clamped to r; -1 to 0.
/// assert_eq!(q.fake(1.4), 1.0);
/// // Signed, 4 bits over r = 1.4: s = 1.4 / 7 = 0.2, codes -7..=7.
/// let q = ActQuant::new(4, true, 1.4);
/// assert_eq!((q.qmin(), q.qmax()), (-7, 7));
/// assert_eq!([q.code(-0.45), q.code(-2.0)], [-2, -7]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ActQuant {
    /// Bit width b, 2..=8.
    pub bits: u32,
    /// Signed (codes -qmax..=qmax, qmax = 2^(b-1) - 1) or unsigned (codes 0..=qmax, qmax = 2^b - 1).
    pub signed: bool,
    /// Clip range r: inputs are clamped to [0, r] (unsigned) or [-r, r] (signed).
    pub range: f32,
    /// Step size s = range / qmax (1 when that is not a positive normal number).
    pub scale: f32,
}

impl ActQuant {
    /// The quantizer for `bits`, `signed`, clip range `range` (negative ranges become 0).
    pub fn new(bits: u32, signed: bool, range: f32) -> Self {
        let range = range.max(0.0);
        ActQuant {
            bits,
            signed,
            range,
            scale: scale_for(range, qmax(bits, signed)),
        }
    }

    /// Largest code: 2^(b-1) - 1 (signed) or 2^b - 1 (unsigned).
    pub fn qmax(&self) -> i32 {
        qmax(self.bits, self.signed)
    }

    /// Smallest code: -qmax (signed) or 0.
    pub fn qmin(&self) -> i32 {
        if self.signed {
            -self.qmax()
        } else {
            0
        }
    }

    fn lo(&self) -> f32 {
        if self.signed {
            -self.range
        } else {
            0.0
        }
    }

    /// Integer code round(clamp(x, lo, r) / s).
    #[inline]
    pub fn code(&self, x: f32) -> i16 {
        code(x, self.lo(), self.range, self.scale)
    }

    /// Fake-quantized value code(x) * s.
    #[inline]
    pub fn fake(&self, x: f32) -> f32 {
        self.code(x) as f32 * self.scale
    }

    /// Straight-through estimator mask: true where x was not clipped (lo <= x <= r).
    #[inline]
    pub fn passes(&self, x: f32) -> bool {
        x >= self.lo() && x <= self.range
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamp_is_max_then_min() {
        let xs = [
            f32::NAN,
            -0.0,
            0.0,
            -1.5,
            0.5,
            3.0,
            7.5,
            f32::INFINITY,
            f32::NEG_INFINITY,
        ];
        for (lo, hi) in [(0.0f32, 7.0f32), (-8.0, 7.0), (-0.0, 0.0)] {
            for x in xs {
                let (got, want) = (clamp_f32(x, lo, hi), x.max(lo).min(hi));
                // equal values; a zero's sign may differ, which no code can see
                assert!(
                    got == want,
                    "clamp({x}, {lo}, {hi}) = {got}, max/min {want}"
                );
                assert_eq!(code(x, lo, hi, 0.5), round_even_int(want / 0.5) as i16);
            }
        }
    }

    #[test]
    fn codes_round_half_to_even() {
        // s = 1: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, -0.5 -> 0, -1.5 -> -2
        let q: Vec<i16> = [0.5, 1.5, 2.5, -0.5, -1.5, 3.49]
            .iter()
            .map(|&x| code(x, -7.0, 7.0, 1.0))
            .collect();
        assert_eq!(q, vec![0, 2, 2, 0, -2, 3]);
    }

    #[test]
    fn round_even_is_round_ties_even() {
        let mut xs: Vec<f32> = (-600..=600).map(|i| i as f32 * 0.5).collect();
        xs.extend([
            0.49999997,
            -0.49999997,
            2.5000002,
            1e-30,
            -1e-30,
            4_194_303.5,
            -4_194_304.0,
        ]);
        for x in xs {
            let want = x.round_ties_even();
            assert_eq!(
                round_even(x).to_bits() & 0x7fff_ffff,
                want.to_bits() & 0x7fff_ffff,
                "{x}"
            );
            assert_eq!(round_even_int(x), want as i32, "{x}");
        }
    }

    #[test]
    fn mse_clip_cuts_an_outlier_at_low_bits() {
        let mut w = vec![0.1f32; 64];
        w[0] = 1.0;
        // 3 bits (levels k * t / 3): t = 1 rounds every 0.1 to 0 (SSE 0.63); t = 0.3 keeps
        // them exact and costs the outlier 0.49, so the MSE clip is well below max|w|.
        let t = weight_clip(&w, 3, WeightClip::Mse);
        assert!(t < 0.5, "clip {t}");
        assert!((weight_clip(&w, 5, WeightClip::Mse) - 1.0).abs() < f32::EPSILON);
        assert!((weight_clip(&w, 2, WeightClip::Max) - 1.0).abs() < f32::EPSILON);
    }

    #[test]
    fn zero_tensor_is_safe() {
        let q = WeightQuant::new(&[0.0; 8], 2, Bits::new(4).unwrap(), true, WeightClip::Mse);
        assert!(q.codes.iter().all(|&c| c == 0) && q.scales.iter().all(|&s| s == 1.0));
        let a = ActQuant::new(4, false, 0.0);
        assert_eq!(a.code(3.0), 0);
    }
}
