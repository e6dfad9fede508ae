//! Training with Gaussian noise augmentation (the base classifier of randomized smoothing,
//! Cohen et al. 2019, section 5: train on x + N(0, sigma^2 I) at the certification sigma).
//!
//! Step-driven and resumable: `Trainer::step(model, data, max_batches)` runs a bounded number
//! of mini-batches and returns progress, so the page can report and cancel between calls.
//! Every random choice is keyed by (seed, epoch, batch): the epoch's order comes from stream
//! `train-order-{epoch}`, the batch's noise from `train-noise-{epoch}-{batch}`, so a run
//! resumed at any batch boundary is bit-identical to an uninterrupted one.

use super::model::{softmax_xent, Model};
use super::optim::{OptKind, Optimizer};
use super::schedule::Schedule;
use crate::data::{Dataset, Split};
use serde::Serialize;

/// The settings of one noise-augmented training run (derived from the experiment config).
#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    /// Passes over the training digits.
    pub epochs: usize,
    /// Mini-batch size.
    pub batch: usize,
    /// Peak learning rate of the cosine schedule.
    pub lr: f32,
    /// The optimizer and its momentum / weight decay.
    pub opt: OptKind,
    /// Standard deviation of the Gaussian noise added to each training input (pixel units).
    pub sigma: f32,
    /// Training digits used: the first `train_size` of the train split.
    pub train_size: usize,
    /// Maximum random translation of each training digit, in pixels (0 = none).
    pub shift: usize,
    /// Master seed of the data order and the noise streams.
    pub seed: u64,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct EpochEnd {
    pub epoch: usize,
    pub train_loss: f32,
    pub train_accuracy: f32,
    pub test_accuracy: f32,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct TrainProgress {
    pub epoch: usize,
    pub batch: usize,
    pub batches_per_epoch: usize,
    pub total_batches: usize,
    pub batches_done: usize,
    pub done: bool,
    pub loss: f32,
    pub accuracy: f32,
    pub epoch_end: Option<EpochEnd>,
}

/// A resumable training run: the optimizer's state and the batch schedule, advanced by
/// [`Trainer::step`].
pub struct Trainer {
    /// The run's settings.
    pub cfg: TrainConfig,
    opt: Optimizer,
    sched: Schedule,
}

impl Trainer {
    /// A run of `cfg` over `data` that starts at epoch 0, with a fresh optimizer state for `model`.
    pub fn new(cfg: TrainConfig, model: &mut Model, data: &Dataset) -> Self {
        let sched = Schedule::new(
            "train",
            cfg.epochs,
            cfg.batch,
            cfg.lr,
            cfg.train_size,
            cfg.seed,
            data,
        );
        let opt = Optimizer::new(cfg.opt.clone(), model);
        Trainer { cfg, opt, sched }
    }

    pub(crate) fn batches_per_epoch(&self) -> usize {
        self.sched.batches_per_epoch()
    }

    pub(crate) fn total_batches(&self) -> usize {
        self.sched.total_batches()
    }

    pub(crate) fn batches_done(&self) -> usize {
        self.sched.batches_done()
    }

    pub(crate) fn history(&self) -> &[EpochEnd] {
        &self.sched.history
    }

    /// Whether every epoch has run.
    pub fn is_done(&self) -> bool {
        self.sched.is_done()
    }

    /// Run up to `max_batches` mini-batches with noise (and shift) augmentation, stopping
    /// early at the end of an epoch, where the test accuracy is measured on clean digits.
    pub fn step(&mut self, model: &mut Model, data: &Dataset, max_batches: usize) -> TrainProgress {
        let (cfg, opt) = (&self.cfg, &mut self.opt);
        self.sched.run(
            model,
            max_batches,
            |sched, model| {
                let shift = cfg.shift;
                let b = sched.batch_data(data, model.input_len(), cfg.sigma, |xi, noise| {
                    if shift > 0 {
                        let span = 2 * shift as u32 + 1;
                        let dy = noise.below(span) as isize - shift as isize;
                        let dx = noise.below(span) as isize - shift as isize;
                        translate(xi, data.rows, data.cols, dy, dx);
                    }
                });
                model.zero_grad();
                let acts = model.forward_train(&b.x, b.labels.len());
                let (loss, grad, correct) =
                    softmax_xent(acts.last().expect("logits"), &b.labels, model.classes);
                model.backward(&acts, grad, b.labels.len());
                opt.step(model, b.lr);
                (loss, correct, b.labels.len())
            },
            |model| evaluate(model, data, Split::Test).accuracy,
        )
    }
}

// Training as a [`Job`](crate::job::Job).
crate::job::batch_job!(Trainer, TrainProgress, "train");

/// Shift an image by (dy, dx) pixels in place, filling with zeros.
fn translate(img: &mut [f32], rows: usize, cols: usize, dy: isize, dx: isize) {
    let src = img.to_vec();
    for y in 0..rows as isize {
        for x in 0..cols as isize {
            let (sy, sx) = (y - dy, x - dx);
            let inside = sy >= 0 && sy < rows as isize && sx >= 0 && sx < cols as isize;
            img[(y * cols as isize + x) as usize] = if inside {
                src[(sy * cols as isize + sx) as usize]
            } else {
                0.0
            };
        }
    }
}

#[derive(Clone, Debug, Serialize, PartialEq)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct Evaluation {
    pub accuracy: f32,
    pub n: usize,
    /// 10 x 10, row = true label, column = prediction.
    pub confusion: Vec<u32>,
}

/// Clean accuracy (f32, as [`crate::quant::accuracy`]) and confusion matrix of the model on a
/// split, in batches of 500.
pub(crate) fn evaluate(model: &Model, data: &Dataset, split: Split) -> Evaluation {
    let n = data.split_len(split);
    let k = model.classes;
    let mut confusion = vec![0u32; k * k];
    crate::certify::classify_each(
        model.input_len(),
        n,
        500,
        |i, x| data.image_f32(data.index(split, i), x),
        |x, m, out| model.predict(x, m, out),
        |i, p| confusion[data.labels[data.index(split, i)] as usize * k + p as usize] += 1,
    );
    let correct: u32 = (0..k).map(|c| confusion[c * k + c]).sum();
    Evaluation {
        accuracy: correct as f32 / n.max(1) as f32,
        n,
        confusion,
    }
}
