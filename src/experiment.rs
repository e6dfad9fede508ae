//! The pipeline as one long-lived session with step-driven work, shared by the CLI and the
//! wasm worker: the same calls in the same order give the same numbers in both.

use crate::certify::metrics::GRID_SMALL;
use crate::certify::{
    CertRecord, CertifyJob, Example, IrsCache, Outcome, Progress, SmoothParams, Summary,
};
use crate::config::ExperimentConfig;
use crate::data::{Dataset, Split};
use crate::error::{Error, Result};
use crate::nn::checkpoint::{self, CheckpointMeta, LoadedCheckpoint};
use crate::nn::{evaluate, Evaluation, Model, TrainConfig, TrainProgress, Trainer};
use crate::rng::NoiseSource;
use serde::Serialize;

/// Size and seed of the procedural dataset (`ds=synth`).
pub const SYNTH_COUNT: usize = 2000;
pub const SYNTH_SEED: u64 = 0;

pub struct Session {
    pub cfg: ExperimentConfig,
    mnist: Option<Dataset>,
    pub data: Dataset,
    pub model: Model,
    pub checkpoint: Option<LoadedCheckpoint>,
    /// Epochs of training behind the current weights (0 = freshly initialised).
    pub epochs_trained: u32,
    trainer: Option<Trainer>,
    certify: Option<CertifyJob>,
    /// The FP32 model's IRS cache from the last complete certification (and the config
    /// fragment it was made with), reused to re-certify modified models cheaply.
    pub fp32_cache: Option<(String, IrsCache)>,
}

/// One increment of a certification run.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CertifyStep {
    /// Records finished by this step.
    pub records: Vec<CertRecord>,
    pub progress: Progress,
    pub done: bool,
    /// Summary over every record finished so far ("partial" until done).
    pub summary: Summary,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NoiseSamples {
    pub label: u8,
    pub clean: Vec<f32>,
    /// rows x k x input_len: row r, draw j = clean + sigma_r * z_j (same z_j in every row).
    pub images: Vec<f32>,
    pub preds: Vec<u8>,
}

impl Session {
    /// `mnist` is data/mnist10k.u8's bytes (verified), or None when only `ds=synth` is used.
    pub fn new(cfg: ExperimentConfig, mnist_bytes: Option<&[u8]>) -> Result<Session> {
        let mnist = mnist_bytes.map(Dataset::mnist_from_bytes).transpose()?;
        let data = Self::pick_data(&cfg, &mnist)?;
        let model = Model::zoo(&cfg.model, cfg.seed)?;
        Ok(Session {
            cfg,
            mnist,
            data,
            model,
            checkpoint: None,
            epochs_trained: 0,
            trainer: None,
            certify: None,
            fp32_cache: None,
        })
    }

    fn pick_data(cfg: &ExperimentConfig, mnist: &Option<Dataset>) -> Result<Dataset> {
        match cfg.dataset.as_str() {
            "synth" => Ok(Dataset::synthetic(SYNTH_COUNT, SYNTH_SEED)),
            _ => mnist.clone().ok_or_else(|| {
                Error::State("ds=mnist needs the MNIST data file (data/mnist10k.u8)".into())
            }),
        }
    }

    /// Apply a new config. A change of dataset or model re-initialises the model from the seed;
    /// other keys (training, certification settings) keep the current weights.
    pub fn set_config(&mut self, cfg: ExperimentConfig) -> Result<()> {
        cfg.check()?;
        if cfg.dataset != self.cfg.dataset {
            self.data = Self::pick_data(&cfg, &self.mnist)?;
        }
        let reinit = cfg.model != self.model.name || cfg.dataset != self.cfg.dataset;
        self.cfg = cfg;
        if reinit {
            self.model = Model::zoo(&self.cfg.model, self.cfg.seed)?;
            self.checkpoint = None;
            self.epochs_trained = 0;
        }
        self.trainer = None;
        self.certify = None;
        Ok(())
    }

    pub fn load_checkpoint(&mut self, bytes: &[u8]) -> Result<&LoadedCheckpoint> {
        let (model, info) = checkpoint::load(bytes)?;
        self.cfg.model = info.meta.model.clone();
        self.cfg.sigma = info.meta.sigma;
        self.model = model;
        self.epochs_trained = info.meta.epochs;
        self.trainer = None;
        self.certify = None;
        self.fp32_cache = None;
        Ok(self.checkpoint.insert(info))
    }

    pub fn save_checkpoint(&self) -> Vec<u8> {
        let meta = CheckpointMeta {
            model: self.model.name.clone(),
            sigma: self.cfg.sigma,
            seed: self.cfg.seed,
            epochs: self.epochs_trained,
            test_accuracy: evaluate(&self.model, &self.data, Split::Test).accuracy,
            params: self.model.param_count(),
            engine: crate::VERSION.into(),
            fragment: self.cfg.to_fragment(),
        };
        checkpoint::save(&self.model, &meta)
    }

    /// Start training from freshly initialised weights (stream "init" of the seed).
    pub fn train_begin(&mut self) -> Result<TrainProgress> {
        self.model = Model::zoo(&self.cfg.model, self.cfg.seed)?;
        self.checkpoint = None;
        self.epochs_trained = 0;
        let t = Trainer::new(
            TrainConfig::from_experiment(&self.cfg),
            &mut self.model,
            &self.data,
        );
        let p = TrainProgress {
            epoch: 0,
            batch: 0,
            batches_per_epoch: t.batches_per_epoch(),
            total_batches: t.total_batches(),
            batches_done: 0,
            done: false,
            loss: 0.0,
            accuracy: 0.0,
            epoch_end: None,
        };
        self.trainer = Some(t);
        self.certify = None;
        self.fp32_cache = None;
        Ok(p)
    }

    pub fn train_step(&mut self, max_batches: usize) -> Result<TrainProgress> {
        let t = self
            .trainer
            .as_mut()
            .ok_or_else(|| Error::State("train_step before train_begin".into()))?;
        let p = t.step(&mut self.model, &self.data, max_batches);
        self.epochs_trained = t.history.len() as u32;
        if p.done {
            self.trainer = None;
        }
        Ok(p)
    }

    pub fn evaluate(&self) -> Evaluation {
        evaluate(&self.model, &self.data, Split::Test)
    }

    /// One test digit under k noise draws, for each sigma row (the same draws scaled per row),
    /// with the base classifier's prediction on each. Noise stream "noise-view".
    pub fn noise_samples(
        &self,
        test_index: usize,
        sigmas: &[f32],
        k: usize,
    ) -> Result<NoiseSamples> {
        let n_test = self.data.split_len(Split::Test);
        if test_index >= n_test {
            return Err(Error::invalid(
                "index",
                test_index,
                "no such test digit",
                format!("0..{n_test}"),
            ));
        }
        if k == 0 || k > 64 {
            return Err(Error::invalid(
                "k",
                k,
                "draws per row out of range",
                "1..=64",
            ));
        }
        if sigmas.is_empty() || sigmas.len() > 8 || sigmas.iter().any(|s| !(0.0..=2.0).contains(s))
        {
            return Err(Error::invalid(
                "sigmas",
                format!("{sigmas:?}"),
                "bad noise levels",
                "1..=8 values in 0..=2",
            ));
        }
        let il = self.model.input_len();
        let idx = self.data.index(Split::Test, test_index);
        let mut clean = vec![0.0; il];
        self.data.image_f32(idx, &mut clean);
        let src = NoiseSource::new(self.cfg.seed, "noise-view");
        let mut z = vec![0.0; il];
        let mut images = vec![0.0; sigmas.len() * k * il];
        for j in 0..k {
            src.fill(idx as u64, j as u64, &mut z);
            for (r, &s) in sigmas.iter().enumerate() {
                let dst = &mut images[(r * k + j) * il..(r * k + j + 1) * il];
                for ((d, &c), &zv) in dst.iter_mut().zip(&clean).zip(&z) {
                    *d = c + s * zv;
                }
            }
        }
        let mut preds = vec![0u8; sigmas.len() * k];
        self.model.predict(&images, sigmas.len() * k, &mut preds);
        Ok(NoiseSamples {
            label: self.data.labels[idx],
            clean,
            images,
            preds,
        })
    }
}

impl Session {
    /// The certified test points: every `stride`-th test digit, `points` of them. The noise of
    /// each is keyed by its global record index, so a point's samples do not depend on which
    /// other points are certified.
    pub fn certify_examples(&self) -> Result<Vec<Example>> {
        let (points, stride) = (self.cfg.points as usize, self.cfg.stride as usize);
        let n_test = self.data.split_len(Split::Test);
        if (points - 1) * stride >= n_test {
            return Err(Error::invalid(
                "points",
                points,
                &format!("{points} points at stride {stride} run past the {n_test} test digits"),
                format!("points <= {} at stride {stride}", (n_test - 1) / stride + 1),
            ));
        }
        let il = self.model.input_len();
        Ok((0..points)
            .map(|i| {
                let idx = self.data.index(Split::Test, i * stride);
                let mut input = vec![0.0; il];
                self.data.image_f32(idx, &mut input);
                Example {
                    index: idx as u64,
                    input,
                    label: self.data.labels[idx],
                }
            })
            .collect())
    }

    pub fn smooth_params(&self) -> SmoothParams {
        let c = &self.cfg;
        SmoothParams {
            sigma: c.sigma,
            n0: c.n0 as u64,
            n: c.n as u64,
            alpha: c.alpha,
            batch: c.cert_batch as usize,
            seed: c.seed,
        }
    }

    /// Start certifying the current (FP32) model on the configured test points. The run keeps
    /// f's predictions on the first n_p estimation samples of each point: the IRS cache.
    pub fn certify_begin(&mut self) -> Result<Progress> {
        let job = CertifyJob::new(self.smooth_params(), self.certify_examples()?)
            .with_irs_cache(self.cfg.n_p as u64);
        let p = job.progress();
        self.certify = Some(job);
        Ok(p)
    }

    /// Run up to `max_samples` noisy forward passes. `clock` returns microseconds (any
    /// monotonic origin) to time each point; the core itself never reads a clock.
    pub fn certify_step(
        &mut self,
        max_samples: u64,
        clock: &mut dyn FnMut() -> u64,
    ) -> Result<CertifyStep> {
        let job = self
            .certify
            .as_mut()
            .ok_or_else(|| Error::State("certify_step before certify_begin".into()))?;
        let records = job.step_timed(&mut self.model, max_samples.max(1), clock);
        let done = job.is_done();
        let outcomes: Vec<Outcome> = job.records().iter().map(Outcome::from).collect();
        let summary = Summary::new(
            "FP32",
            self.cfg.sigma,
            self.cfg.n as u64,
            self.cfg.alpha,
            &outcomes,
            &GRID_SMALL,
        );
        let progress = job.progress();
        if done {
            if let Some(cache) = job.take_cache() {
                self.fp32_cache = Some((self.cfg.to_fragment(), cache));
            }
            self.certify = None;
        }
        Ok(CertifyStep {
            records,
            progress,
            done,
            summary,
        })
    }
}
