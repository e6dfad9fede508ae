//! Quantization-aware fine-tuning with the straight-through estimator (Bengio, Leonard,
//! Courville 2013; as in HAQ and ARQ) and Gaussian noise augmentation at sigma (Cohen et al.
//! 2019), so the quantized base classifier is trained for the noisy inputs it is certified on.
//!
//! Each step: quantize the float master weights (w_q per the policy), run the fake-quant
//! forward on x + N(0, sigma^2) with the activation ranges fixed by calibration, backpropagate
//! (dL/dw_q via `Layer::backward`; zero gradient where an activation was clipped), and apply
//! dL/dw_q to the float master weights (STE: dw_q/dw = 1) with the optimizer; learning rate
//! cosine-decayed to 0 over the run. Weight STE passes everywhere (also beyond an MSE clip).
//!
//! Step-driven and resumable like [`crate::nn::Trainer`]: the epoch order comes from stream
//! `qat-order-{epoch}`, the batch's noise from `qat-noise-{epoch}-{batch}` (master seed), so a
//! run resumed at a batch boundary is bit-identical to an uninterrupted one.

use super::calib::Calibration;
use super::fakequant::{QuantConfig, QuantizedModel};
use super::policy::Policy;
use crate::data::{Dataset, Split};
use crate::error::Result;
use crate::nn::model::softmax_xent;
use crate::nn::optim::{OptKind, Optimizer};
use crate::nn::train::EpochEnd;
use crate::nn::{Model, TrainProgress};
use crate::rng::Stream;

/// Progress of a fine-tuning run (same shape as training progress).
pub type QatProgress = TrainProgress;

#[derive(Clone, Debug, PartialEq)]
pub struct QatConfig {
    pub epochs: usize,
    pub batch: usize,
    pub lr: f32,
    pub opt: OptKind,
    pub sigma: f32,
    pub train_size: usize,
    pub seed: u64,
    pub quant: QuantConfig,
}

impl QatConfig {
    /// A short fine-tune: 1 epoch, batch 64, Adam at lr 1e-3 (a third of the training default).
    pub fn new(sigma: f32, seed: u64) -> Self {
        QatConfig {
            epochs: 1,
            batch: 64,
            lr: 1e-3,
            opt: OptKind::Adam { weight_decay: 0.0 },
            sigma,
            train_size: usize::MAX,
            seed,
            quant: QuantConfig::default(),
        }
    }
}

pub struct QatTrainer {
    pub cfg: QatConfig,
    q: QuantizedModel,
    opt: Optimizer,
    epoch: usize,
    batch: usize,
    order: Vec<usize>,
    loss_sum: f64,
    correct: usize,
    seen: usize,
    pub history: Vec<EpochEnd>,
    /// Measure the clean test accuracy at each epoch end (off for search episodes, where
    /// it would cost 2,000 forward passes per episode and is never used).
    eval_at_epoch_end: bool,
}

impl QatTrainer {
    /// Start fine-tuning `model` (the float master weights, updated in place by `step`) under
    /// `policy`, with activation ranges from `calib` (computed on `model`).
    pub fn new(
        cfg: QatConfig,
        policy: &Policy,
        calib: &Calibration,
        model: &mut Model,
        data: &Dataset,
    ) -> Result<Self> {
        let q = QuantizedModel::new(model, policy, calib, &cfg.quant)?;
        let n = cfg.train_size.min(data.split_len(Split::Train));
        let cfg = QatConfig {
            train_size: n,
            batch: cfg.batch.min(n).max(1),
            ..cfg
        };
        let opt = Optimizer::new(cfg.opt.clone(), model);
        let mut t = QatTrainer {
            cfg,
            q,
            opt,
            epoch: 0,
            batch: 0,
            order: vec![],
            loss_sum: 0.0,
            correct: 0,
            seen: 0,
            history: vec![],
            eval_at_epoch_end: true,
        };
        t.order = t.epoch_order(0);
        Ok(t)
    }

    fn epoch_order(&self, epoch: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.cfg.train_size).collect();
        Stream::new(self.cfg.seed, &format!("qat-order-{epoch}")).shuffle(&mut order);
        order
    }

    /// Skip the test-accuracy measurement at epoch ends (reported as NaN).
    pub fn without_epoch_eval(mut self) -> Self {
        self.eval_at_epoch_end = false;
        self
    }

    /// The current quantized model (fake-quant; compile with `IntModel::new` to certify).
    pub fn quantized(&self) -> &QuantizedModel {
        &self.q
    }

    pub fn into_quantized(self) -> QuantizedModel {
        self.q
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

    fn lr_now(&self) -> f32 {
        let t = self.batches_done() as f64 / self.total_batches().max(1) as f64;
        (self.cfg.lr as f64 * 0.5 * (1.0 + libm::cos(core::f64::consts::PI * t))) as f32
    }

    /// The noisy inputs and labels of the current batch.
    fn batch_data(&self, data: &Dataset, il: usize) -> (Vec<f32>, Vec<u8>) {
        let bs = self.cfg.batch;
        let lo = self.batch * bs;
        let idx = &self.order[lo..(lo + bs).min(self.order.len())];
        let mut x = vec![0.0; idx.len() * il];
        let mut noise = Stream::new(
            self.cfg.seed,
            &format!("qat-noise-{}-{}", self.epoch, self.batch),
        );
        let mut labels = Vec::with_capacity(idx.len());
        for (k, &i) in idx.iter().enumerate() {
            let r = data.index(Split::Train, i);
            labels.push(data.labels[r]);
            let xi = &mut x[k * il..(k + 1) * il];
            data.image_f32(r, xi);
            xi.iter_mut()
                .for_each(|v| *v += self.cfg.sigma * noise.normal());
        }
        (x, labels)
    }

    fn train_batch(&mut self, model: &mut Model, data: &Dataset) {
        let (x, labels) = self.batch_data(data, model.input_len());
        let b = labels.len();
        self.q.model.zero_grad();
        let trace = self.q.forward_train(&x, b);
        let (loss, grad, correct) = softmax_xent(trace.logits(), &labels, model.classes);
        self.q.backward(&trace, grad, b);
        for (ml, ql) in model.layers.iter_mut().zip(self.q.model.layers.iter_mut()) {
            for ((_, mg), (_, qg)) in ml.param_grads().into_iter().zip(ql.param_grads()) {
                mg.copy_from_slice(qg);
            }
        }
        let lr = self.lr_now();
        self.opt.step(model, lr);
        self.q.requantize(model);
        self.loss_sum += loss as f64 * b as f64;
        self.correct += correct;
        self.seen += b;
    }

    fn end_epoch(&mut self, data: &Dataset) -> EpochEnd {
        let e = EpochEnd {
            epoch: self.epoch + 1,
            train_loss: (self.loss_sum / self.seen.max(1) as f64) as f32,
            train_accuracy: self.correct as f32 / self.seen.max(1) as f32,
            test_accuracy: if self.eval_at_epoch_end {
                super::accuracy(&mut self.q, data, Split::Test)
            } else {
                f32::NAN
            },
        };
        self.history.push(e.clone());
        self.epoch += 1;
        self.batch = 0;
        (self.loss_sum, self.correct, self.seen) = (0.0, 0, 0);
        if !self.is_done() {
            self.order = self.epoch_order(self.epoch);
        }
        e
    }

    /// Run up to `max_batches` mini-batches, stopping early at the end of an epoch (where the
    /// fake-quant model's clean test accuracy is measured).
    pub fn step(&mut self, model: &mut Model, data: &Dataset, max_batches: usize) -> QatProgress {
        let mut epoch_end = None;
        for _ in 0..max_batches.max(1) {
            if self.is_done() {
                break;
            }
            self.train_batch(model, data);
            self.batch += 1;
            if self.batch == self.batches_per_epoch() {
                epoch_end = Some(self.end_epoch(data));
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
