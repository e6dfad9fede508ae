//! Randomness, made explicit and portable.
//!
//! One master seed feeds named streams (`data`, `init`, `train`, `noise-*`, `search`, ...).
//! Each stream is a ChaCha8 generator (rand_chacha, a fixed published algorithm, unlike
//! `StdRng`) keyed by SHA-256(master seed || stream name), so streams are independent and the
//! same on every platform. Gaussian noise is *counter based*: the draw for
//! (stream, example, sample index) sits at a fixed position of the ChaCha key stream
//! (ChaCha stream id = example, word position = sample * words per sample), so any single
//! noisy sample can be regenerated exactly, in any order, natively or in wasm. That is what
//! incremental randomized smoothing replays.
//!
//! Transcendentals come from the `libm` crate (pure Rust) rather than `f64::ln`/`cos`, which
//! call the platform's C library natively: this keeps native and wasm bit-identical.

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

/// Derive the 32-byte ChaCha key of a named stream from the master seed.
pub fn stream_key(seed: u64, name: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"arq-stream-v1\0");
    h.update(seed.to_le_bytes());
    h.update(name.as_bytes());
    h.finalize().into()
}

/// A named, seeded random stream with the few draws the project needs.
pub struct Stream {
    rng: ChaCha8Rng,
    spare: Option<f32>,
}

impl Stream {
    pub fn new(seed: u64, name: &str) -> Self {
        Stream {
            rng: ChaCha8Rng::from_seed(stream_key(seed, name)),
            spare: None,
        }
    }

    pub fn next_u32(&mut self) -> u32 {
        self.rng.next_u32()
    }

    /// Uniform in [0, 1) with 24 random bits (exact in f32).
    pub fn uniform(&mut self) -> f32 {
        (self.next_u32() >> 8) as f32 * (1.0 / 16_777_216.0)
    }

    /// Uniform in [0, 1) with 53 random bits.
    pub fn uniform_f64(&mut self) -> f64 {
        let hi = (self.next_u32() >> 5) as u64;
        let lo = (self.next_u32() >> 6) as u64;
        ((hi << 26) | lo) as f64 * (1.0 / 9_007_199_254_740_992.0)
    }

    /// Unbiased integer in 0..n (rejection sampling on the top of the u32 range). n > 0.
    pub fn below(&mut self, n: u32) -> u32 {
        debug_assert!(n > 0);
        let zone = u32::MAX - (u32::MAX - n + 1) % n;
        loop {
            let x = self.next_u32();
            if x <= zone {
                return x % n;
            }
        }
    }

    /// Standard normal (Box-Muller, pairs cached).
    pub fn normal(&mut self) -> f32 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        let (a, b) = box_muller(self.next_u32(), self.next_u32());
        self.spare = Some(b);
        a
    }

    /// Fisher-Yates shuffle.
    pub fn shuffle<T>(&mut self, xs: &mut [T]) {
        for i in (1..xs.len()).rev() {
            let j = self.below(i as u32 + 1) as usize;
            xs.swap(i, j);
        }
    }
}

/// Two independent standard normals from two u32 words (Box-Muller, computed in f64).
/// u1 is in (0, 1] so ln(u1) is finite; the tail is cut at sqrt(2 * 32 ln 2) = 6.66.
#[inline]
pub fn box_muller(a: u32, b: u32) -> (f32, f32) {
    let u1 = (a as f64 + 1.0) * (1.0 / 4_294_967_296.0);
    let u2 = b as f64 * (1.0 / 4_294_967_296.0);
    let r = libm::sqrt(-2.0 * libm::log(u1));
    let (s, c) = libm::sincos(core::f64::consts::TAU * u2);
    ((r * c) as f32, (r * s) as f32)
}

/// Counter-based Gaussian noise: `fill(example, sample, out)` writes the standard-normal
/// vector of that (example, sample) pair; the same arguments always give the same numbers.
#[derive(Clone)]
pub struct NoiseSource {
    key: [u8; 32],
}

impl NoiseSource {
    /// `purpose` names the independent stream, e.g. "noise-select", "noise-estimate".
    pub fn new(seed: u64, purpose: &str) -> Self {
        NoiseSource {
            key: stream_key(seed, purpose),
        }
    }

    /// Fill `out` (one sample, any length) with N(0, 1) draws for (example, sample).
    /// Uses [`fast_box_muller`]: f32 polynomials instead of libm calls, several times faster
    /// and still bit-identical on every platform (plain IEEE multiply and add).
    pub fn fill(&self, example: u64, sample: u64, out: &mut [f32]) {
        let words = (out.len() + 1) & !1; // whole Box-Muller pairs
        let mut rng = ChaCha8Rng::from_seed(self.key);
        rng.set_stream(example);
        rng.set_word_pos(sample as u128 * words as u128);
        let mut buf = [0u32; 2 * PAIRS];
        let mut z = [0f32; 2 * PAIRS];
        for chunk in out.chunks_mut(2 * PAIRS) {
            let w = (chunk.len() + 1) & !1;
            for v in buf[..w].iter_mut() {
                *v = rng.next_u32();
            }
            fast_box_muller(&buf[..w], &mut z[..w]);
            chunk.copy_from_slice(&z[..chunk.len()]);
        }
    }
}

/// Box-Muller pairs processed together by [`NoiseSource::fill`].
const PAIRS: usize = 64;

/// ln(x) for x in (0, 1] in f32: x = m * 2^e with m in [sqrt(1/2), sqrt(2)), then
/// ln(m) = 2 atanh(t), t = (m - 1) / (m + 1), |t| <= 0.1716, by its series to t^9
/// (truncation error < 3e-9, below f32 rounding).
#[inline(always)]
fn ln_f32(x: f32) -> f32 {
    let bits = x.to_bits();
    let mut e = ((bits >> 23) & 0xff) as i32 - 127;
    let mut m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000);
    if m > core::f32::consts::SQRT_2 {
        m *= 0.5;
        e += 1;
    }
    let t = (m - 1.0) / (m + 1.0);
    let t2 = t * t;
    let p = 1.0 + t2 * (1.0 / 3.0 + t2 * (1.0 / 5.0 + t2 * (1.0 / 7.0 + t2 * (1.0 / 9.0))));
    e as f32 * core::f32::consts::LN_2 + 2.0 * t * p
}

/// (sin, cos) of 2 pi u for u in [0, 1) in f32: the quadrant from the top bits of u, then
/// Taylor polynomials on [-pi/4, pi/4] (errors < 4e-8).
#[inline(always)]
fn sincos_turns(u: f32) -> (f32, f32) {
    // nearest quarter turn q, remainder r in [-1/8, 1/8] turns
    let q = (u * 4.0 + 0.5) as i32; // u >= 0, so truncation = floor
    let r = (u - q as f32 * 0.25) * core::f32::consts::TAU;
    let r2 = r * r;
    let s = r
        * (1.0
            + r2 * (-1.0 / 6.0
                + r2 * (1.0 / 120.0 + r2 * (-1.0 / 5040.0 + r2 * (1.0 / 362_880.0)))));
    let c = 1.0 + r2 * (-0.5 + r2 * (1.0 / 24.0 + r2 * (-1.0 / 720.0 + r2 * (1.0 / 40_320.0))));
    match q & 3 {
        0 => (s, c),
        1 => (c, -s),
        2 => (-s, -c),
        _ => (-c, s),
    }
}

/// Box-Muller over pairs of words: z0 = r cos(2 pi u2), z1 = r sin(2 pi u2),
/// r = sqrt(-2 ln u1), u1 = (a >> 8 + 1) / 2^24 in (0, 1] (tail cut at 5.77), u2 = (b >> 8) / 2^24.
pub fn fast_box_muller(words: &[u32], out: &mut [f32]) {
    debug_assert!(words.len() % 2 == 0 && out.len() >= words.len());
    for (w, o) in words.chunks_exact(2).zip(out.chunks_exact_mut(2)) {
        let u1 = ((w[0] >> 8) + 1) as f32 * (1.0 / 16_777_216.0);
        let u2 = (w[1] >> 8) as f32 * (1.0 / 16_777_216.0);
        let r = (-2.0 * ln_f32(u1)).sqrt();
        let (s, c) = sincos_turns(u2);
        o[0] = r * c;
        o[1] = r * s;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_differ_by_name_and_seed() {
        let a: Vec<u32> = (0..4)
            .map({
                let mut s = Stream::new(1, "init");
                move |_| s.next_u32()
            })
            .collect();
        let b: Vec<u32> = (0..4)
            .map({
                let mut s = Stream::new(1, "train");
                move |_| s.next_u32()
            })
            .collect();
        let c: Vec<u32> = (0..4)
            .map({
                let mut s = Stream::new(2, "init");
                move |_| s.next_u32()
            })
            .collect();
        assert_ne!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn noise_is_counter_based() {
        let src = NoiseSource::new(7, "noise-estimate");
        let mut x = vec![0f32; 785];
        let mut y = vec![0f32; 785];
        src.fill(3, 10, &mut x);
        // unrelated draws in between do not matter
        src.fill(4, 11, &mut y);
        src.fill(3, 10, &mut y);
        assert_eq!(x, y);
        src.fill(3, 11, &mut y);
        assert_ne!(x, y);
        src.fill(4, 10, &mut y);
        assert_ne!(x, y);
    }

    #[test]
    fn noise_moments_are_standard_normal() {
        let src = NoiseSource::new(1, "noise-test");
        let mut x = vec![0f32; 784];
        let (mut s1, mut s2, mut n) = (0f64, 0f64, 0f64);
        for k in 0..200 {
            src.fill(0, k, &mut x);
            for &v in &x {
                s1 += v as f64;
                s2 += (v as f64) * (v as f64);
                n += 1.0;
            }
        }
        let mean = s1 / n;
        let var = s2 / n - mean * mean;
        // 156,800 draws: the standard error of the mean is 0.0025, of the variance 0.0036
        assert!(mean.abs() < 0.0125, "mean {mean}");
        assert!((var - 1.0).abs() < 0.018, "var {var}");
    }

    #[test]
    fn fast_transcendentals_match_libm() {
        // named tolerances: a few f32 ulps
        const LN_TOL: f64 = 4e-7;
        const TRIG_TOL: f64 = 3e-7;
        let mut s = Stream::new(5, "t");
        for _ in 0..20_000 {
            let x = ((s.next_u32() >> 8) + 1) as f32 / 16_777_216.0;
            let want = libm::log(x as f64);
            assert!(
                (ln_f32(x) as f64 - want).abs() <= LN_TOL * want.abs().max(1e-3),
                "ln {x}"
            );
            let u = (s.next_u32() >> 8) as f32 / 16_777_216.0;
            let (sn, cs) = sincos_turns(u);
            let (ws, wc) = libm::sincos(core::f64::consts::TAU * u as f64);
            assert!(
                (sn as f64 - ws).abs() <= TRIG_TOL && (cs as f64 - wc).abs() <= TRIG_TOL,
                "sincos {u}"
            );
        }
        assert_eq!(ln_f32(1.0), 0.0);
    }

    #[test]
    fn below_is_in_range_and_covers() {
        let mut s = Stream::new(3, "t");
        let mut seen = [false; 7];
        for _ in 0..1000 {
            let v = s.below(7) as usize;
            seen[v] = true;
        }
        assert!(seen.iter().all(|&b| b));
    }
}
