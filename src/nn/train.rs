//! Training with Gaussian noise augmentation (the base classifier of randomized smoothing,
//! Cohen et al. 2019, section 5: train on x + N(0, sigma^2 I) at the certification sigma).
//!
//! Step-driven and resumable: `Trainer::step(model, data, max_batches)` runs a bounded number
//! of mini-batches and returns progress, so the page can report and cancel between calls.
//! Every random choice is keyed by (seed, epoch, batch): the epoch's order comes from stream
//! `train-order-{epoch}`, the batch's noise from `train-noise-{epoch}-{batch}`, so a run
//! resumed at any batch boundary is bit-identical to an uninterrupted one.

use super::model::{argmax_rows, softmax_xent, Model};
use super::optim::{OptKind, Optimizer};
use crate::config::ExperimentConfig;
use crate::data::{Dataset, Split};
use crate::rng::Stream;
use serde::Serialize;

#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch: usize,
    pub lr: f32,
    pub opt: OptKind,
    pub sigma: f32,
    pub train_size: usize,
    pub shift: usize,
    pub seed: u64,
}

impl TrainConfig {
    pub fn from_experiment(c: &ExperimentConfig) -> Self {
        let wd = c.weight_decay as f32;
        TrainConfig {
            epochs: c.epochs as usize,
            batch: c.batch as usize,
            lr: c.lr as f32,
            opt: if c.optimizer == "sgd" {
                OptKind::Sgd {
                    momentum: c.momentum as f32,
                    weight_decay: wd,
                }
            } else {
                OptKind::Adam { weight_decay: wd }
            },
            sigma: c.sigma as f32,
            train_size: c.train_size as usize,
            shift: c.shift as usize,
            seed: c.seed,
        }
    }
}

#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EpochEnd {
    pub epoch: usize,
    pub train_loss: f32,
    pub train_accuracy: f32,
    pub test_accuracy: f32,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
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

pub struct Trainer {
    pub cfg: TrainConfig,
    opt: Optimizer,
    epoch: usize,
    batch: usize,
    order: Vec<usize>,
    loss_sum: f64,
    correct: usize,
    seen: usize,
    pub history: Vec<EpochEnd>,
}

impl Trainer {
    pub fn new(cfg: TrainConfig, model: &mut Model, data: &Dataset) -> Self {
        let n = cfg.train_size.min(data.split_len(Split::Train));
        let cfg = TrainConfig {
            train_size: n,
            batch: cfg.batch.min(n).max(1),
            ..cfg
        };
        let opt = Optimizer::new(cfg.opt.clone(), model);
        let mut t = Trainer {
            cfg,
            opt,
            epoch: 0,
            batch: 0,
            order: vec![],
            loss_sum: 0.0,
            correct: 0,
            seen: 0,
            history: vec![],
        };
        t.order = t.epoch_order(0);
        t
    }

    fn epoch_order(&self, epoch: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.cfg.train_size).collect();
        Stream::new(self.cfg.seed, &format!("train-order-{epoch}")).shuffle(&mut order);
        order
    }

    pub fn batches_per_epoch(&self) -> usize {
        self.cfg.train_size.div_ceil(self.cfg.batch)
    }

    pub fn total_batches(&self) -> usize {
        self.batches_per_epoch() * self.cfg.epochs
    }

    pub fn batches_done(&self) -> usize {
        self.epoch * self.batches_per_epoch() + self.batch
    }

    pub fn is_done(&self) -> bool {
        self.epoch >= self.cfg.epochs
    }

    /// Cosine decay from lr to 0 over the whole run, evaluated at the current batch.
    fn lr_now(&self) -> f32 {
        let t = self.batches_done() as f64 / self.total_batches() as f64;
        (self.cfg.lr as f64 * 0.5 * (1.0 + libm::cos(core::f64::consts::PI * t))) as f32
    }

    /// Run one mini-batch with noise augmentation; returns its mean loss.
    fn train_batch(&mut self, model: &mut Model, data: &Dataset) -> f32 {
        let bs = self.cfg.batch;
        let lo = self.batch * bs;
        let idx = &self.order[lo..(lo + bs).min(self.order.len())];
        let il = model.input_len();
        let mut x = vec![0.0; idx.len() * il];
        let labels: Vec<u8> = idx
            .iter()
            .map(|&i| data.labels[data.index(Split::Train, i)])
            .collect();
        let mut noise = Stream::new(
            self.cfg.seed,
            &format!("train-noise-{}-{}", self.epoch, self.batch),
        );
        for (k, &i) in idx.iter().enumerate() {
            let xi = &mut x[k * il..(k + 1) * il];
            data.image_f32(data.index(Split::Train, i), xi);
            if self.cfg.shift > 0 {
                let span = 2 * self.cfg.shift as u32 + 1;
                let dy = noise.below(span) as isize - self.cfg.shift as isize;
                let dx = noise.below(span) as isize - self.cfg.shift as isize;
                translate(xi, data.rows, data.cols, dy, dx);
            }
            for v in xi.iter_mut() {
                *v += self.cfg.sigma * noise.normal();
            }
        }
        model.zero_grad();
        let acts = model.forward_train(&x, idx.len());
        let (loss, grad, correct) =
            softmax_xent(acts.last().expect("logits"), &labels, model.classes);
        model.backward(&acts, grad, idx.len());
        let lr = self.lr_now();
        self.opt.step(model, lr);
        self.loss_sum += loss as f64 * idx.len() as f64;
        self.correct += correct;
        self.seen += idx.len();
        loss
    }

    /// Run up to `max_batches` mini-batches, stopping early at the end of an epoch (where the
    /// test accuracy is measured on clean digits).
    pub fn step(&mut self, model: &mut Model, data: &Dataset, max_batches: usize) -> TrainProgress {
        let mut epoch_end = None;
        for _ in 0..max_batches.max(1) {
            if self.is_done() {
                break;
            }
            self.train_batch(model, data);
            self.batch += 1;
            if self.batch == self.batches_per_epoch() {
                let e = EpochEnd {
                    epoch: self.epoch + 1,
                    train_loss: (self.loss_sum / self.seen as f64) as f32,
                    train_accuracy: self.correct as f32 / self.seen as f32,
                    test_accuracy: evaluate(model, data, Split::Test).accuracy,
                };
                self.history.push(e.clone());
                epoch_end = Some(e);
                self.epoch += 1;
                self.batch = 0;
                self.loss_sum = 0.0;
                self.correct = 0;
                self.seen = 0;
                if !self.is_done() {
                    self.order = self.epoch_order(self.epoch);
                }
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
            batch: self.batch,
            batches_per_epoch: self.batches_per_epoch(),
            total_batches: self.total_batches(),
            batches_done: self.batches_done(),
            done: self.is_done(),
            loss,
            accuracy,
            epoch_end,
        }
    }
}

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
#[serde(rename_all = "camelCase")]
pub struct Evaluation {
    pub accuracy: f32,
    pub n: usize,
    /// 10 x 10, row = true label, column = prediction.
    pub confusion: Vec<u32>,
}

/// Clean accuracy and confusion matrix of the base classifier on a split.
pub fn evaluate(model: &Model, data: &Dataset, split: Split) -> Evaluation {
    let n = data.split_len(split);
    let il = model.input_len();
    let k = model.classes;
    let mut confusion = vec![0u32; k * k];
    let bs = 500;
    let mut x = vec![0.0; bs * il];
    let mut pred = vec![0u8; bs];
    for lo in (0..n).step_by(bs) {
        let m = bs.min(n - lo);
        for j in 0..m {
            data.image_f32(data.index(split, lo + j), &mut x[j * il..(j + 1) * il]);
        }
        let logits = model.forward(&x[..m * il], m);
        argmax_rows(&logits, k, &mut pred[..m]);
        for j in 0..m {
            let y = data.labels[data.index(split, lo + j)] as usize;
            confusion[y * k + pred[j] as usize] += 1;
        }
    }
    let correct: u32 = (0..k).map(|c| confusion[c * k + c]).sum();
    Evaluation {
        accuracy: correct as f32 / n.max(1) as f32,
        n,
        confusion,
    }
}
