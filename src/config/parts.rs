//! Each part's own settings, derived from the experiment config in this one place: the
//! parts (nn, certify, quant) know nothing of the config.

use super::{ActClipChoice, BitsList, ExperimentConfig, Granularity, Optimizer};
use crate::certify::{IrsParams, SmoothParams};
use crate::error::Result;
use crate::nn::optim::OptKind;
use crate::nn::{Model, TrainConfig};
use crate::quant::cost::{cost_of, Cost};
use crate::quant::policy::fit_list;
use crate::quant::{quant_layers, ActClip, Bits, CalibConfig, Policy, QatConfig, QuantConfig};

impl ExperimentConfig {
    /// Randomized smoothing (CERTIFY) of the config.
    pub(crate) fn smooth_params(&self) -> SmoothParams {
        SmoothParams {
            sigma: self.sigma,
            n0: self.n0 as u64,
            n: self.n as u64,
            alpha: self.alpha,
            batch: self.cert_batch as usize,
            seed: self.seed,
        }
    }

    /// The IRS settings of the config.
    pub(crate) fn irs_params(&self) -> IrsParams {
        IrsParams {
            n_p: self.n_p as u64,
            alpha_zeta: self.alpha_zeta,
            gamma: self.gamma,
            batch: self.cert_batch as usize,
        }
    }

    /// Noise-augmented training of the FP32 model.
    pub(crate) fn train_config(&self) -> TrainConfig {
        let weight_decay = self.weight_decay as f32;
        TrainConfig {
            epochs: self.epochs as usize,
            batch: self.batch as usize,
            lr: self.lr as f32,
            opt: match self.optimizer {
                Optimizer::Sgd => OptKind::Sgd {
                    momentum: self.momentum as f32,
                    weight_decay,
                },
                Optimizer::Adam => OptKind::Adam { weight_decay },
            },
            sigma: self.sigma as f32,
            train_size: self.train_size as usize,
            shift: self.shift as usize,
            seed: self.seed,
        }
    }

    /// Whether weight scales are per output channel (`wgran=ch`) rather than per tensor.
    pub(crate) fn per_channel(&self) -> bool {
        match self.weight_granularity {
            Granularity::Ch => true,
            Granularity::Tensor => false,
        }
    }

    /// How weights are clipped and activation ranges calibrated.
    pub(crate) fn quant_config(&self) -> QuantConfig {
        QuantConfig {
            per_channel: self.per_channel(),
            weight_clip: self.weight_clip,
            act_clip: match self.act_clip {
                ActClipChoice::Mse => ActClip::Mse,
                ActClipChoice::Pct => ActClip::Percentile(99.99),
                ActClipChoice::Max => ActClip::Max,
            },
        }
    }

    /// Activation-range calibration: `calib` noisy training digits at sigma.
    pub(crate) fn calib_config(&self) -> CalibConfig {
        CalibConfig::new(self.calib as usize, self.sigma as f32, self.seed)
    }

    /// Fine-tuning as a QAT run of about `batches` mini-batches of 64 on a training split of
    /// `data_len` digits (ARQ choice, ours: Adam at `qlr` with cosine decay, Gaussian noise at
    /// sigma, the seed's `qat-*` streams).
    pub(crate) fn qat_config(&self, batches: usize, data_len: usize) -> QatConfig {
        let batch = 64;
        let wanted = batches * batch;
        let train_size = wanted.min(data_len).max(1);
        QatConfig {
            epochs: wanted.div_ceil(train_size).max(1),
            batch,
            lr: self.qlr as f32,
            opt: OptKind::Adam { weight_decay: 0.0 },
            sigma: self.sigma as f32,
            train_size,
            seed: self.seed,
            quant: self.quant_config(),
        }
    }

    /// The policy of the config (`wb`, `ab`, `lk`) for a model with `layers` quantizable
    /// layers: empty `wb` / `ab` mean full precision, an empty `lk` nothing locked; a list
    /// of one value applies to every layer, any other list needs one value per layer.
    pub fn policy(&self, layers: usize) -> Result<Policy> {
        Policy::check_layers(layers)?;
        let bits = |field: &str, list: &BitsList| {
            if list.is_empty() {
                Ok(vec![Bits::FULL; layers])
            } else {
                fit_list(field, &list.to_string(), list.bits(), layers)
            }
        };
        let mut p = Policy::from_bits(bits("wb", &self.wb)?, bits("ab", &self.ab)?);
        if !self.locks.is_empty() {
            p.set_locks(&fit_list(
                "lk",
                &self.locks.to_string(),
                &self.locks.0,
                layers,
            )?);
        }
        Ok(p)
    }

    /// BOPs, size and compression of `policy` on `model`, with the config's weight
    /// granularity (per-channel scales cost one 32-bit scale per output channel, per-tensor
    /// one per layer).
    pub(crate) fn policy_cost(&self, model: &Model, policy: &Policy) -> Result<Cost> {
        cost_of(&quant_layers(model), policy, self.per_channel())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(fragment: &str) -> ExperimentConfig {
        ExperimentConfig::from_fragment(fragment).unwrap()
    }

    #[test]
    fn choices_map_to_the_parts_settings() {
        let q = cfg("v=1").quant_config();
        assert!(q.per_channel);
        assert_eq!(q.weight_clip, crate::quant::WeightClip::Mse);
        assert_eq!(q.act_clip, ActClip::Mse);
        let q = cfg("v=1&wgran=tensor&wclip=max&aclip=pct").quant_config();
        assert!(!q.per_channel);
        assert_eq!(q.weight_clip, crate::quant::WeightClip::Max);
        assert_eq!(q.act_clip, ActClip::Percentile(99.99));
        assert_eq!(cfg("v=1&aclip=max").quant_config().act_clip, ActClip::Max);
        assert_eq!(
            cfg("v=1&opt=sgd&mom=0.5&wd=0.01").train_config().opt,
            OptKind::Sgd {
                momentum: 0.5,
                weight_decay: 0.01
            }
        );
        assert_eq!(
            cfg("v=1&wd=0.01").train_config().opt,
            OptKind::Adam { weight_decay: 0.01 }
        );
    }

    /// The policy keeps the text semantics: empty = full precision, one value = all layers,
    /// otherwise one per layer; a list of the wrong length names the list as written.
    #[test]
    fn policy_from_the_typed_lists() {
        assert_eq!(cfg("v=1").policy(5).unwrap(), Policy::fp32(5));
        let p = cfg("v=1&wb=8,4,4,4,32&ab=4&lk=1,0,0,0,1")
            .policy(5)
            .unwrap();
        assert_eq!(p.to_fragment(), "wb=8,4,4,4,f&ab=4,4,4,4,4&lk=1,0,0,0,1");
        let p = cfg("v=1&wb=8&lk=1").policy(3).unwrap();
        assert_eq!(p.to_fragment(), "wb=8,8,8&ab=f,f,f&lk=1,1,1");
        let e = cfg("v=1&wb=32,4").policy(5).unwrap_err().to_string();
        assert!(
            e.starts_with("wb=32,4: 2 values for 5 quantizable layers"),
            "{e}"
        );
        let e = cfg("v=1&lk=1,0").policy(5).unwrap_err().to_string();
        assert!(e.starts_with("lk=1,0: 2 values"), "{e}");
        let e = cfg("v=1&wb=4,4").policy(0).unwrap_err().to_string();
        assert!(e.contains("layers=0"), "{e}");
    }
}
