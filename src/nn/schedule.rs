//! The epoch / mini-batch schedule shared by training and quantization-aware fine-tuning:
//! seeded per-epoch order, seeded per-batch noise, cosine learning-rate decay, running loss and
//! accuracy, and step-driven progress. Every random choice is keyed by (seed, epoch, batch), so
//! a run resumed at any batch boundary is bit-identical to an uninterrupted one.

use super::train::{EpochEnd, TrainProgress};
use crate::data::{Dataset, Split};
use crate::rng::Stream;

#[derive(Clone, Debug)]
pub(crate) struct Schedule {
    pub epochs: usize,
    pub batch: usize,
    pub lr: f32,
    /// The first `train_size` digits of the train split are used.
    pub train_size: usize,
    pub seed: u64,
    /// Stream names are `{prefix}-order-{epoch}` and `{prefix}-noise-{epoch}-{batch}`.
    prefix: &'static str,
    epoch: usize,
    step: usize,
    order: Vec<usize>,
    loss_sum: f64,
    correct: usize,
    seen: usize,
    pub history: Vec<EpochEnd>,
}

/// One mini-batch: noisy inputs (clean + sigma * N(0, 1)) and labels.
pub(crate) struct Batch {
    pub x: Vec<f32>,
    pub labels: Vec<u8>,
    /// Learning rate of this batch (cosine schedule).
    pub lr: f32,
}

impl Schedule {
    pub(crate) fn new(
        prefix: &'static str,
        epochs: usize,
        batch: usize,
        lr: f32,
        train_size: usize,
        seed: u64,
        data: &Dataset,
    ) -> Schedule {
        let n = train_size.min(data.split_len(Split::Train)).max(1);
        let mut s = Schedule {
            epochs,
            batch: batch.min(n).max(1),
            lr,
            train_size: n,
            seed,
            prefix,
            epoch: 0,
            step: 0,
            order: vec![],
            loss_sum: 0.0,
            correct: 0,
            seen: 0,
            history: vec![],
        };
        s.order = s.epoch_order(0);
        s
    }

    fn epoch_order(&self, epoch: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.train_size).collect();
        Stream::new(self.seed, &format!("{}-order-{epoch}", self.prefix)).shuffle(&mut order);
        order
    }

    pub(crate) fn batches_per_epoch(&self) -> usize {
        self.train_size.div_ceil(self.batch)
    }

    pub(crate) fn total_batches(&self) -> usize {
        self.batches_per_epoch() * self.epochs
    }

    pub(crate) fn batches_done(&self) -> usize {
        self.epoch * self.batches_per_epoch() + self.step
    }

    pub(crate) fn is_done(&self) -> bool {
        self.epoch >= self.epochs
    }

    /// Cosine decay from lr to 0 over the whole run, evaluated at the current batch.
    fn lr_now(&self) -> f32 {
        let t = self.batches_done() as f64 / self.total_batches().max(1) as f64;
        (self.lr as f64 * 0.5 * (1.0 + libm::cos(core::f64::consts::PI * t))) as f32
    }

    /// The current batch with Gaussian noise at `sigma`; `augment` may alter each clean image
    /// first, drawing from the batch's noise stream (before the noise itself is drawn).
    pub(crate) fn batch_data(
        &self,
        data: &Dataset,
        il: usize,
        sigma: f32,
        mut augment: impl FnMut(&mut [f32], &mut Stream),
    ) -> Batch {
        let lo = self.step * self.batch;
        let idx = &self.order[lo..(lo + self.batch).min(self.order.len())];
        let mut noise = Stream::new(
            self.seed,
            &format!("{}-noise-{}-{}", self.prefix, self.epoch, self.step),
        );
        let mut x = vec![0.0; idx.len() * il];
        let mut labels = Vec::with_capacity(idx.len());
        for (k, &i) in idx.iter().enumerate() {
            let r = data.index(Split::Train, i);
            labels.push(data.labels[r]);
            let xi = &mut x[k * il..(k + 1) * il];
            data.image_f32(r, xi);
            augment(xi, &mut noise);
            for v in xi.iter_mut() {
                *v += sigma * noise.normal();
            }
        }
        Batch {
            x,
            labels,
            lr: self.lr_now(),
        }
    }

    /// Run up to `max_batches` batches through `train` (which returns the batch's mean loss,
    /// correct count and size), stopping early at an epoch end, where `test_accuracy` is
    /// called. `ctx` (the model, typically) is lent to both in turn.
    pub(crate) fn run<C: ?Sized>(
        &mut self,
        ctx: &mut C,
        max_batches: usize,
        mut train: impl FnMut(&Schedule, &mut C) -> (f32, usize, usize),
        mut test_accuracy: impl FnMut(&mut C) -> f32,
    ) -> TrainProgress {
        let mut epoch_end = None;
        for _ in 0..max_batches.max(1) {
            if self.is_done() {
                break;
            }
            let (loss, correct, n) = train(self, ctx);
            self.loss_sum += loss as f64 * n as f64;
            self.correct += correct;
            self.seen += n;
            self.step += 1;
            if self.step == self.batches_per_epoch() {
                epoch_end = Some(self.end_epoch(test_accuracy(ctx)));
                break;
            }
        }
        let (loss, accuracy) = match &epoch_end {
            Some(e) => (e.train_loss, e.train_accuracy),
            None if self.seen > 0 => (
                (self.loss_sum / self.seen as f64) as f32,
                self.correct as f32 / self.seen as f32,
            ),
            None => (0.0, 0.0),
        };
        TrainProgress {
            epoch: self.epoch,
            batch: self.step,
            batches_per_epoch: self.batches_per_epoch(),
            total_batches: self.total_batches(),
            batches_done: self.batches_done(),
            done: self.is_done(),
            loss,
            accuracy,
            epoch_end,
        }
    }

    fn end_epoch(&mut self, test_accuracy: f32) -> EpochEnd {
        let e = EpochEnd {
            epoch: self.epoch + 1,
            train_loss: (self.loss_sum / self.seen.max(1) as f64) as f32,
            train_accuracy: self.correct as f32 / self.seen.max(1) as f32,
            test_accuracy,
        };
        self.history.push(e.clone());
        self.epoch += 1;
        self.step = 0;
        (self.loss_sum, self.correct, self.seen) = (0.0, 0, 0);
        if !self.is_done() {
            self.order = self.epoch_order(self.epoch);
        }
        e
    }
}
