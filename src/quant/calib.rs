//! Calibration of activation ranges on a fixed, seeded subset of the training split.
//!
//! The float model runs on `samples` training images (chosen by shuffling the training indices
//! with stream `quant-calib-{seed}` and taking the first `samples`), each with Gaussian noise
//! N(0, sigma^2) added (stream `quant-calib-noise`), because the quantized model is certified
//! on noisy inputs. For each quantizable layer we record the statistics of its input: the
//! maximum of x (after a ReLU) or of |x| (signed inputs: the noisy image), and a histogram of
//! [`BINS`] bins over [0, hi), hi a power of two that doubles (merging bin pairs) whenever a
//! larger value arrives, so one pass suffices and bin edges stay exact.
//!
//! From the statistics, [`LayerStats::range`] gives the clip range r for any bit width:
//! - `Max`: r = max;
//! - `Percentile(p)`: the upper edge of the histogram bin holding the p-th percentile of all
//!   values (zeros included), at most max;
//! - `Mse`: the r = max * f, f in {1, 0.995, ..., 0.005} ([`ACT_GRID`]), minimising
//!   sum_bins count * (q_r(center) - center)^2 with the layer's quantizer at b bits (ties keep
//!   the larger r). Bin centres stand for their values, so this is exact up to bin width.

use super::quantizer::{code, qmax, scale_for};
use super::{quant_layers, QLayer};
use crate::data::{Dataset, Split};
use crate::nn::Model;
use crate::rng::Stream;
use serde::Serialize;

pub(crate) const BINS: usize = 2048;
/// Activation clip grid: f = (ACT_GRID - k) / ACT_GRID, k = 0..ACT_GRID.
pub(crate) const ACT_GRID: usize = 200;

/// How an activation range is chosen from the calibration statistics.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "lowercase", tag = "kind", content = "p")]
pub enum ActClip {
    /// The largest calibration value.
    Max,
    /// Percentile in (0, 100], e.g. 99.99.
    Percentile(f32),
    /// The range that minimises the histogram estimate of the squared quantization error, searched
    /// over fractions of the maximum.
    Mse,
}

impl ActClip {
    /// `max`, `mse`, or `p99.99` (a percentile in (0, 100]).
    #[cfg(test)]
    pub(crate) fn parse(field: &str, s: &str) -> crate::error::Result<ActClip> {
        let bad = || {
            crate::Error::invalid(
                field,
                s,
                "unknown clipping rule",
                "max, mse, p<percentile> e.g. p99.99",
            )
        };
        match s {
            "max" => Ok(ActClip::Max),
            "mse" => Ok(ActClip::Mse),
            _ => {
                let p: f32 = s
                    .strip_prefix('p')
                    .ok_or_else(bad)?
                    .parse()
                    .map_err(|_| bad())?;
                if p > 0.0 && p <= 100.0 {
                    Ok(ActClip::Percentile(p))
                } else {
                    Err(bad())
                }
            }
        }
    }
}

/// Statistics of one quantizable layer's input.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LayerStats {
    /// Whether the input may be negative (statistics of |x|, quantized on a symmetric grid).
    pub signed: bool,
    /// max x (unsigned) or max |x| (signed).
    pub max: f32,
    /// Number of values seen.
    pub count: u64,
    /// Values that counted as zero: exact zeros, NaNs and (unsigned) negatives.
    pub zeros: u64,
    /// Histogram upper end (a power of two, or 0 before the first non-zero value).
    pub hi: f32,
    /// Histogram of the non-zero values over [0, `hi`) in equal bins.
    #[serde(skip)]
    pub hist: Vec<u64>,
}

impl LayerStats {
    pub(crate) fn new(signed: bool) -> Self {
        LayerStats {
            signed,
            max: 0.0,
            count: 0,
            zeros: 0,
            hi: 0.0,
            hist: vec![0; BINS],
        }
    }

    fn grow(&mut self) {
        for i in 0..BINS / 2 {
            self.hist[i] = self.hist[2 * i] + self.hist[2 * i + 1];
        }
        self.hist[BINS / 2..].fill(0);
        self.hi *= 2.0;
    }

    /// Add values (their magnitude if signed; negatives count as 0 if unsigned).
    pub(crate) fn add(&mut self, xs: &[f32]) {
        for &x in xs {
            let v = if self.signed { x.abs() } else { x.max(0.0) };
            self.count += 1;
            if v.is_nan() || v == 0.0 {
                self.zeros += 1;
                continue;
            }
            if self.hi == 0.0 {
                self.hi = 1.0;
                while self.hi / 2.0 > v {
                    self.hi /= 2.0;
                }
            }
            while v >= self.hi {
                self.grow();
            }
            self.max = self.max.max(v);
            let bin = ((v / self.hi) * BINS as f32) as usize;
            self.hist[bin.min(BINS - 1)] += 1;
        }
    }

    fn bin_width(&self) -> f32 {
        self.hi / BINS as f32
    }

    /// Upper edge of the bin holding the p-th percentile (zeros included), at most max.
    pub(crate) fn percentile(&self, p: f32) -> f32 {
        let target = ((p as f64 / 100.0) * self.count as f64).ceil() as u64;
        let mut cum = self.zeros;
        if cum >= target {
            return self.max;
        }
        for (i, &c) in self.hist.iter().enumerate() {
            cum += c;
            if cum >= target {
                return ((i + 1) as f32 * self.bin_width()).min(self.max);
            }
        }
        self.max
    }

    /// Histogram estimate of the squared quantization error with range r at qm levels.
    fn sse(&self, r: f32, qm: i32) -> f64 {
        let (s, w) = (scale_for(r, qm), self.bin_width());
        let lo = if self.signed { -r } else { 0.0 };
        self.hist
            .iter()
            .enumerate()
            .filter(|(_, &c)| c > 0)
            .map(|(i, &c)| {
                let v = (i as f32 + 0.5) * w;
                let e = (code(v, lo, r, s) as f32 * s - v) as f64;
                c as f64 * e * e
            })
            .sum()
    }

    /// MSE-optimal range on the [`ACT_GRID`] fractions of max.
    pub(crate) fn mse_range(&self, bits: u32) -> f32 {
        let qm = qmax(bits, self.signed);
        let (mut best_r, mut best_e) = (self.max, f64::INFINITY);
        for k in 0..ACT_GRID {
            let r = self.max * ((ACT_GRID - k) as f32 / ACT_GRID as f32);
            let e = self.sse(r, qm);
            if e < best_e {
                (best_r, best_e) = (r, e);
            }
        }
        best_r
    }

    /// The clip range for `bits` under `clip`.
    pub fn range(&self, bits: u32, clip: ActClip) -> f32 {
        match clip {
            ActClip::Max => self.max,
            ActClip::Percentile(p) => self.percentile(p),
            ActClip::Mse => self.mse_range(bits),
        }
    }
}

/// Which digits calibrate the activation ranges, and their noise.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CalibConfig {
    /// Number of calibration digits (at most the train split): the `calib` setting.
    pub samples: usize,
    /// Standard deviation of the Gaussian noise added to each calibration digit (pixel units).
    pub sigma: f32,
    /// Seed of the calibration subset and its noise.
    pub seed: u64,
}

impl CalibConfig {
    /// A calibration of `samples` digits, noisy at `sigma`, drawn with `seed`.
    pub fn new(samples: usize, sigma: f32, seed: u64) -> Self {
        CalibConfig {
            samples,
            sigma,
            seed,
        }
    }
}

/// Per quantizable layer input statistics of one float model.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Calibration {
    /// One entry per quantizable layer, in network order: its input's statistics.
    pub layers: Vec<LayerStats>,
}

/// The fixed, seeded calibration subset of the training split (record indices).
pub fn calibration_indices(data: &Dataset, samples: usize, seed: u64) -> Vec<usize> {
    let n = data.split_len(Split::Train);
    let mut idx: Vec<usize> = (0..n).collect();
    Stream::new(seed, &format!("quant-calib-{seed}")).shuffle(&mut idx);
    idx.truncate(samples.min(n));
    idx.into_iter()
        .map(|i| data.index(Split::Train, i))
        .collect()
}

/// Run the float model on the calibration subset (noisy at sigma) and collect statistics.
pub fn calibrate(model: &Model, data: &Dataset, cfg: &CalibConfig) -> Calibration {
    let ql = quant_layers(model);
    let mut layers: Vec<LayerStats> = ql.iter().map(|q| LayerStats::new(q.signed_input)).collect();
    let idx = calibration_indices(data, cfg.samples, cfg.seed);
    let il = model.input_len();
    let mut noise = Stream::new(cfg.seed, "quant-calib-noise");
    for chunk in idx.chunks(64) {
        let mut x = vec![0.0; chunk.len() * il];
        for (k, &i) in chunk.iter().enumerate() {
            let xi = &mut x[k * il..(k + 1) * il];
            data.image_f32(i, xi);
            for v in xi.iter_mut() {
                *v += cfg.sigma * noise.normal();
            }
        }
        add_batch(model, &ql, &x, chunk.len(), &mut layers);
    }
    Calibration { layers }
}

fn add_batch(model: &Model, ql: &[QLayer], x: &[f32], batch: usize, layers: &mut [LayerStats]) {
    let acts = model.forward_train(x, batch);
    for (q, st) in ql.iter().zip(layers.iter_mut()) {
        st.add(&acts[q.input_at]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_grows_and_keeps_counts() {
        let mut s = LayerStats::new(false);
        s.add(&[0.0, 0.3, 0.2, -1.0]);
        s.add(&[5.0, 0.1]);
        assert_eq!((s.count, s.zeros), (6, 2));
        assert_eq!(s.hist.iter().sum::<u64>(), 4);
        assert!((s.hi - 8.0).abs() < f32::EPSILON && (s.max - 5.0).abs() < f32::EPSILON);
    }

    #[test]
    fn percentile_and_mse_clip_outliers() {
        let mut s = LayerStats::new(false);
        let xs: Vec<f32> = (0..10_000).map(|i| (i % 100) as f32 / 100.0).collect();
        s.add(&xs);
        s.add(&[50.0]);
        assert!((s.range(8, ActClip::Max) - 50.0).abs() < 1e-6);
        let p = s.range(8, ActClip::Percentile(99.0));
        assert!(p > 0.95 && p < 1.05, "{p}");
        // At 3 bits the outlier is worth clipping: r well below max (50), above the bulk (1).
        let m = s.range(3, ActClip::Mse);
        assert!(m > 1.0 && m < 10.0, "{m}");
    }

    #[test]
    fn clip_rule_parsing() {
        let p = ActClip::parse("clip", "p99.9").unwrap();
        assert!(
            matches!(p, ActClip::Percentile(v) if (v - 99.9).abs() < 1e-4),
            "{p:?}"
        );
        assert_eq!(ActClip::parse("clip", "mse").unwrap(), ActClip::Mse);
        assert!(ActClip::parse("clip", "p101")
            .unwrap_err()
            .to_string()
            .contains("clip=p101"));
    }
}
