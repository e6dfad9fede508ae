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
use crate::nn::schedule::Schedule;
use crate::nn::train::EpochEnd;

use crate::nn::{Model, TrainProgress};

/// Progress of a fine-tuning run (same shape as training progress).
pub(crate) type QatProgress = TrainProgress;

/// The settings of one quantization-aware fine-tuning run (straight-through estimator, Gaussian
/// noise at `sigma`).
#[derive(Clone, Debug, PartialEq)]
pub struct QatConfig {
    /// Passes over the training digits.
    pub epochs: usize,
    /// Mini-batch size.
    pub batch: usize,
    /// Peak learning rate of the cosine schedule.
    pub lr: f32,
    /// The optimizer and its weight decay.
    pub opt: OptKind,
    /// Standard deviation of the Gaussian noise added to each training input (pixel units).
    pub sigma: f32,
    /// Training digits used: the first `train_size` of the train split (`usize::MAX` = all).
    pub train_size: usize,
    /// Seed of the data order and the noise streams.
    pub seed: u64,
    /// How weights and activations are quantized.
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

/// A resumable fine-tuning run: the fake-quant model, the optimizer state and the batch
/// schedule; the float master weights are updated in place.
pub struct QatTrainer {
    /// The run's settings.
    pub cfg: QatConfig,
    q: QuantizedModel,
    opt: Optimizer,
    sched: Schedule,
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
        let sched = Schedule::new(
            "qat",
            cfg.epochs,
            cfg.batch,
            cfg.lr,
            cfg.train_size,
            cfg.seed,
            data,
        );
        let opt = Optimizer::new(cfg.opt.clone(), model);
        Ok(QatTrainer {
            cfg,
            q,
            opt,
            sched,
            eval_at_epoch_end: true,
        })
    }

    /// Skip the test-accuracy measurement at epoch ends (reported as NaN).
    pub(crate) fn without_epoch_eval(mut self) -> Self {
        self.eval_at_epoch_end = false;
        self
    }

    /// The fine-tuned fake-quant model (requantized from the master weights after every step).
    pub fn into_quantized(self) -> QuantizedModel {
        self.q
    }

    pub(crate) fn total_batches(&self) -> usize {
        self.sched.total_batches()
    }

    pub(crate) fn batches_done(&self) -> usize {
        self.sched.batches_done()
    }

    pub(crate) fn is_done(&self) -> bool {
        self.sched.is_done()
    }

    /// The per-epoch summaries so far (test accuracy NaN where its measurement was switched off).
    pub fn history(&self) -> &[EpochEnd] {
        &self.sched.history
    }

    /// Run up to `max_batches` mini-batches, stopping early at the end of an epoch (where the
    /// fake-quant model's clean test accuracy is measured unless disabled).
    pub fn step(&mut self, model: &mut Model, data: &Dataset, max_batches: usize) -> QatProgress {
        let (sigma, opt, eval) = (self.cfg.sigma, &mut self.opt, self.eval_at_epoch_end);
        let mut ctx = (model, &mut self.q);
        self.sched.run(
            &mut ctx,
            max_batches,
            |sched, (model, q)| {
                let b = sched.batch_data(data, model.input_len(), sigma, |_, _| {});
                let n = b.labels.len();
                q.model.zero_grad();
                let trace = q.forward_train(&b.x, n);
                let (loss, grad, correct) = softmax_xent(trace.logits(), &b.labels, model.classes);
                q.backward(&trace, grad, n);
                for (ml, ql) in model.layers.iter_mut().zip(q.model.layers.iter_mut()) {
                    for ((_, mg), (_, qg)) in ml.param_grads().into_iter().zip(ql.param_grads()) {
                        mg.copy_from_slice(qg);
                    }
                }
                opt.step(model, b.lr);
                q.requantize(model);
                (loss, correct, n)
            },
            |(_, q)| {
                if eval {
                    super::accuracy(&mut **q, data, Split::Test)
                } else {
                    f32::NAN
                }
            },
        )
    }
}

// Fine-tuning as a [`Job`](crate::job::Job).
crate::job::batch_job!(QatTrainer, QatProgress, "finetune");
