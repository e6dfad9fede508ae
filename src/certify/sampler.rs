//! Noisy inputs and the batch buffers that classify them: x_noisy = x + sigma * z in f32
//! (no fused multiply-add), z from [`NoiseSource::fill`]`(example, sample)`.

use super::BaseClassifier;
use crate::rng::NoiseSource;

/// Write one noisy input: out[i] = x[i] + sigma * z[i], z = noise.fill(example, sample).
pub(crate) fn noisy_input(
    x: &[f32],
    sigma: f32,
    noise: &NoiseSource,
    example: u64,
    sample: u64,
    out: &mut [f32],
) {
    debug_assert_eq!(x.len(), out.len());
    noise.fill(example, sample, out);
    for (o, &xi) in out.iter_mut().zip(x) {
        *o = xi + sigma * *o;
    }
}

/// Reusable batch buffers for noisy forward passes: at most `batch * input_len` floats and
/// `batch` classes, whatever the total number of samples.
#[derive(Clone, Debug, Default)]
pub(crate) struct Sampler {
    batch: usize,
    noisy: Vec<f32>,
    classes: Vec<u8>,
}

impl Sampler {
    /// Buffers for `batch` (>= 1) samples per forward call; they grow on first use.
    pub(crate) fn new(batch: usize) -> Self {
        debug_assert!(batch > 0);
        Sampler {
            batch: batch.max(1),
            noisy: Vec::new(),
            classes: Vec::new(),
        }
    }

    /// Samples per forward call.
    pub(crate) fn batch(&self) -> usize {
        self.batch
    }

    /// Capacity of the (noisy input, class) buffers: bounded by one batch.
    #[cfg(test)]
    pub(super) fn capacity(&self) -> (usize, usize) {
        (self.noisy.capacity(), self.classes.capacity())
    }

    /// Classify the noisy samples `start..start + count` (count <= batch) of `x` under
    /// `noise`; returns the `count` predicted classes in sample order.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn classify_noisy<F: BaseClassifier + ?Sized>(
        &mut self,
        f: &mut F,
        x: &[f32],
        sigma: f32,
        noise: &NoiseSource,
        example: u64,
        start: u64,
        count: usize,
    ) -> &[u8] {
        debug_assert!(count <= self.batch);
        debug_assert_eq!(x.len(), f.input_len());
        let len = x.len();
        if self.noisy.len() < count * len {
            self.noisy.resize(count * len, 0.0);
        }
        if self.classes.len() < count {
            self.classes.resize(count, 0);
        }
        // one noisy copy per row, rows over every core natively
        crate::par::fill_rows(&mut self.noisy[..count * len], len, |j, out| {
            noisy_input(x, sigma, noise, example, start + j as u64, out)
        });
        f.classify(
            &self.noisy[..count * len],
            count,
            &mut self.classes[..count],
        );
        &self.classes[..count]
    }
}
