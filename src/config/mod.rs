//! The experiment configuration: one schema table drives validation, the URL fragment
//! (`#v=2&model=lenet&sigma=0.25&...`), the CLI flags and the README's parameter table.
//!
//! Every setting is held as a typed value (a number, a [`Choice`] enum, a [`BitsList`] or
//! [`Flags`]); text exists only at the boundary ([`fragment`]: `set`, `get`, the fragment).
//! [`parts`] derives each part's own settings (smoothing, IRS, quantization, training, the
//! policy) from the config.
//!
//! Canonical form: `v=2` first, then every non-default key in schema order, floats in Rust's
//! shortest round-trip notation. Two configs are equal iff their canonical fragments are.

mod fragment;
mod parts;
mod view;

pub use fragment::{fragment_sets, schema_markdown};
pub use view::{PartSet, ViewName, PARTS, VIEW_GROUP};

use crate::choice::{choice_enum, Choice};
use crate::error::{Error, Result};
use crate::nn::checkpoint::{SIGMA_MAX, SIGMA_MIN};
pub(crate) use crate::nn::Arch;
use crate::quant::Bits;
pub(crate) use crate::quant::WeightClip;
use serde::{Serialize, Serializer};
use std::fmt;

/// The URL/config format version. Bump when a key changes meaning or a default changes; every
/// older version stays readable with its own defaults ([`ExperimentConfig::defaults_of`]), so
/// an old link computes exactly what it computed before.
pub(crate) const FORMAT_VERSION: u32 = 2;

/// The format versions a fragment may declare.
pub(crate) const FORMAT_VERSIONS: [u32; 2] = [1, 2];

/// Seeds stay below 2^53 so they survive a round trip through a JavaScript number.
pub const MAX_SEED: u64 = (1 << 53) - 1;

choice_enum! {
    /// The `ds` setting: which data.
    pub enum DatasetName {
        /// 10,000 real MNIST digits (data/mnist10k.u8).
        Mnist = "mnist",
        /// A small procedural set for tests.
        Synth = "synth",
    }
}

choice_enum! {
    /// The `opt` setting: the training optimizer.
    pub enum Optimizer {
        /// Adam (the default), with bias correction.
        Adam = "adam",
        /// Plain SGD with momentum `mom`.
        Sgd = "sgd",
    }
}

choice_enum! {
    /// The `wgran` setting: weight scales per output channel or one per tensor.
    pub enum Granularity {
        /// One scale per output channel (the default).
        Ch = "ch",
        /// One scale for the whole weight tensor.
        Tensor = "tensor",
    }
}

choice_enum! {
    /// The `aclip` setting: how an activation range is calibrated
    /// ([`crate::quant::ActClip`]; `pct` is the 99.99th percentile).
    pub enum ActClipChoice {
        /// The clip that minimises the squared quantization error (the default).
        Mse = "mse",
        /// The 99.99th percentile of the calibration activations.
        Pct = "pct",
        /// The largest calibration activation.
        Max = "max",
    }
}

choice_enum! {
    /// The `reward` setting of the DDPG search (docs/method.md section 7).
    pub enum Reward {
        /// ARQ: the certified radius.
        Acr = "acr",
        /// HAQ: clean accuracy.
        Acc = "acc",
        /// Both.
        Acracc = "acracc",
    }
}

choice_enum! {
    /// The `lesson` setting: which guided lesson the page shows (src/lesson.rs); presentation
    /// only, no computation reads it.
    pub enum LessonChoice {
        /// No lesson open (the default).
        None = "none",
        /// Noise and voting.
        Noise = "noise",
        /// What a certificate promises; n and alpha.
        Certificate = "certificate",
        /// What quantization costs; the BOPs budget.
        Budget = "budget",
        /// Why the search's reward should be certified.
        Reward = "reward",
    }
}

/// A `wb` / `ab` setting: bit widths, one per quantizable layer or one for all layers;
/// empty means full precision everywhere.
///
/// It keeps its canonical text (items without surrounding blanks, lower case), which is
/// what `get` and the fragment print: `32` and `f` both mean full precision but each keeps
/// its spelling, as the fragment always has.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BitsList {
    bits: Vec<Bits>,
    text: String,
}

impl BitsList {
    /// The list of `bits`, spelled canonically (`f` for full precision).
    pub(crate) fn from_bits(bits: Vec<Bits>) -> BitsList {
        let text = bits
            .iter()
            .map(Bits::to_string)
            .collect::<Vec<_>>()
            .join(",");
        BitsList { bits, text }
    }

    /// The bit widths, in network order; empty means full precision everywhere.
    pub fn bits(&self) -> &[Bits] {
        &self.bits
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.bits.is_empty()
    }
}

impl fmt::Display for BitsList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for BitsList {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

/// The `lk` setting: lock flags, one per quantizable layer or one for all layers; empty
/// means nothing is locked. Printed as `1,0,...`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Flags(pub Vec<bool>);

impl Flags {
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let items: Vec<&str> = self.0.iter().map(|&k| if k { "1" } else { "0" }).collect();
        f.write_str(&items.join(","))
    }
}

impl Serialize for Flags {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One experiment's every setting, typed and range-checked; the single source of truth for a run.
///
/// Each field is one row of [`SCHEMA`] (its URL key in parentheses below, where it differs);
/// the defaults are [`Default::default`]'s. Same config + same [`crate::VERSION`] = same numbers.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct ExperimentConfig {
    /// (`ds`) Which data: the real MNIST digits or the procedural test set.
    pub dataset: DatasetName,
    /// Network architecture (docs/method.md section 8).
    pub model: Arch,
    /// Gaussian noise level in raw-pixel units (inputs in [0, 1]): the training augmentation's and
    /// randomized smoothing's standard deviation; radii are in the same units.
    pub sigma: f64,
    /// Master seed (0..=[`MAX_SEED`]); every random stream derives from it.
    pub seed: u64,
    // training
    /// Training epochs.
    pub epochs: u32,
    /// Training mini-batch size.
    pub batch: u32,
    /// Peak learning rate, decayed to 0 by a cosine schedule over the run.
    pub lr: f64,
    /// (`opt`) The training optimizer.
    pub optimizer: Optimizer,
    /// (`mom`) SGD momentum, 0..=0.999 (unused by Adam).
    pub momentum: f64,
    /// (`wd`) L2 weight decay, on weights and biases.
    pub weight_decay: f64,
    /// (`train`) Number of training digits used: the first `train_size` of the train split.
    pub train_size: u32,
    /// Augmentation: each training digit is translated at random by up to this many pixels.
    pub shift: u32,
    // certification
    /// CERTIFY's n0: selection samples that pick the top class cA.
    pub n0: u32,
    /// CERTIFY's n: estimation samples that count nA; sets the radius cap R_max(n, alpha).
    pub n: u32,
    /// CERTIFY's alpha: each certificate fails with probability at most alpha.
    pub alpha: f64,
    /// Number of reported test points certified.
    pub points: u32,
    /// Reported points are the test digits at positions 0, stride, 2 stride, ...
    pub stride: u32,
    /// (`cbatch`) Noisy samples per forward batch; memory is O(cert_batch).
    pub cert_batch: u32,
    // incremental randomized smoothing
    /// (`np`) IRS: n_p, the cached estimation samples replayed through a modified model (<= n).
    pub n_p: u32,
    /// (`az`) IRS: alpha_zeta, the failure probability of the disagreement bound zeta_up.
    pub alpha_zeta: f64,
    /// IRS: gamma; at pA_low >= gamma the modified model is certified from scratch (fallback).
    pub gamma: f64,
    // quantization
    /// Weight bits per quantizable layer, in network order.
    #[cfg_attr(target_arch = "wasm32", tsify(type = "string"))]
    pub wb: BitsList,
    /// Activation bits per quantizable layer: the precision of the layer's input.
    #[cfg_attr(target_arch = "wasm32", tsify(type = "string"))]
    pub ab: BitsList,
    /// (`lk`) Locked layers: the search and budget fitting leave their bits alone.
    #[cfg_attr(target_arch = "wasm32", tsify(type = "string"))]
    pub locks: Flags,
    /// (`wgran`) Weight scales per output channel or per tensor.
    pub weight_granularity: Granularity,
    /// (`wclip`) Weight clipping: the MSE-optimal clip or max |w|.
    pub weight_clip: WeightClip,
    /// (`aclip`) How activation ranges are calibrated on noisy training digits.
    pub act_clip: ActClipChoice,
    /// Calibration digits: a fixed seeded subset of the train split.
    pub calib: u32,
    /// Noise-aware fine-tuning batches (straight-through estimator) before a quick read-out.
    pub qft: u32,
    /// Fine-tuning learning rate (Adam).
    pub qlr: f64,
    // search
    /// BOPs budget of a searched policy, as a fraction of FP32's (1/64 = uniform W4A4).
    pub budget: f64,
    /// Search episodes, one evaluated policy each.
    pub episodes: u32,
    /// Warm-up episodes of uniform random actions before the DDPG updates begin.
    pub warmup: u32,
    /// Hidden units of each of the DDPG actor's and critic's two hidden layers (HAQ: 300).
    pub hidden: u32,
    /// What a search episode's reward measures.
    pub reward: Reward,
    /// Search-split size: the first odd-numbered test digits that are not reported points.
    pub spoints: u32,
    /// Fine-tuning batches per search episode.
    pub sft: u32,
    /// Fine-tuning batches for each policy of the final comparison.
    pub fft: u32,
    // presentation (group `view`, src/config/view.rs): read by no computation
    /// The view of the page that opens.
    pub view: ViewName,
    /// Parts of the page that are hidden (a teacher's link).
    #[cfg_attr(target_arch = "wasm32", tsify(type = "string"))]
    pub hide: PartSet,
    /// Parts of the page whose controls are locked (shown, not changeable).
    #[cfg_attr(target_arch = "wasm32", tsify(type = "string"))]
    pub lock: PartSet,
    /// 1: embed mode (no header or footer, only the chosen view), for slides or an iframe.
    pub embed: u32,
    // presentation: what the page shows; no computation reads these
    /// The guided lesson the page shows (src/lesson.rs).
    pub lesson: LessonChoice,
    /// The lesson's step, from 1.
    pub step: u32,
    /// The format version the config is spelled in (`v=`, not a setting): a link keeps its
    /// own version, so an old link reads back as it was shared. [`FORMAT_VERSION`] unless
    /// read from an older fragment.
    #[serde(skip)]
    pub format: u32,
}

impl Default for ExperimentConfig {
    fn default() -> Self {
        ExperimentConfig {
            dataset: DatasetName::Mnist,
            model: Arch::Lenet,
            sigma: 0.25,
            seed: 1,
            epochs: 20,
            batch: 64,
            lr: 0.003,
            optimizer: Optimizer::Adam,
            momentum: 0.9,
            weight_decay: 0.0,
            train_size: 8000,
            shift: 1,
            n0: 100,
            n: 1000,
            alpha: 0.001,
            points: 100,
            stride: 20,
            cert_batch: 250,
            wb: BitsList::default(),
            ab: BitsList::default(),
            locks: Flags::default(),
            weight_granularity: Granularity::Ch,
            weight_clip: WeightClip::Mse,
            act_clip: ActClipChoice::Mse,
            calib: 512,
            qft: 50,
            qlr: 0.001,
            // v=2: 1/192 of FP32's BOPs (between uniform W2A2, 1/256, and W2A4, 1/128), where
            // uniform quantization loses robustness and how the bits are spread decides what
            // survives; n_p = 300 and gamma = 1 give the reward the resolution to see it
            // (docs/method.md, "The reward's resolution" and "Format versions").
            n_p: 300,
            alpha_zeta: 0.001,
            gamma: 1.0,
            budget: 1.0 / 192.0,
            episodes: 30,
            warmup: 10,
            hidden: 300,
            reward: Reward::Acr,
            spoints: 50,
            sft: 10,
            fft: 300,
            view: ViewName::Model,
            hide: PartSet::default(),
            lock: PartSet::default(),
            embed: 0,
            lesson: LessonChoice::None,
            step: 1,
            format: FORMAT_VERSION,
        }
    }
}

impl ExperimentConfig {
    /// The defaults of format `version` (one of [`FORMAT_VERSIONS`]): v=1 searched at 1/64 of
    /// FP32's BOPs (uniform W4A4 fits, lenet is almost lossless) with n_p = 100 and
    /// gamma = 0.99, a reward that barely separates policies.
    pub(crate) fn defaults_of(version: u32) -> ExperimentConfig {
        let mut c = ExperimentConfig {
            format: version,
            ..ExperimentConfig::default()
        };
        if version == 1 {
            c.n_p = 100;
            c.gamma = 0.99;
            c.budget = 1.0 / 64.0;
        }
        c
    }
}

/// The type and range of one setting.
#[derive(Clone, Copy, Debug, Serialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Kind {
    /// An integer in `min..=max`.
    Int {
        /// Smallest allowed value.
        min: i64,
        /// Largest allowed value.
        max: i64,
    },
    /// A number in `min..=max`.
    Float {
        /// Smallest allowed value.
        min: f64,
        /// Largest allowed value.
        max: f64,
    },
    /// One of the URL words of a [`Choice`] enum.
    Enum {
        /// The allowed words, in the enum's order.
        choices: &'static [&'static str],
    },
    /// A seed: an integer in `0..=MAX_SEED`.
    Seed,
    /// Comma-separated bit widths (2..=8, or f / 32 for full precision); one per quantizable
    /// layer or a single value for all. Empty = full precision everywhere.
    Bits,
    /// Comma-separated 0/1 flags, one per quantizable layer.
    Flags,
    /// A set of words: comma-separated, each one of `choices` (order and repetition do not
    /// matter; the canonical text lists them in `choices` order). Empty = none.
    Words {
        /// The allowed words.
        choices: &'static [&'static str],
    },
}

impl Kind {
    /// Human-readable allowed range, used in every error message.
    pub fn allowed(&self) -> String {
        match self {
            Kind::Int { min, max } => format!("an integer {min}..={max}"),
            Kind::Float { min, max } => format!("a number {min}..={max}"),
            Kind::Enum { choices } => crate::choice::allowed(choices),
            Kind::Seed => format!("an integer 0..={MAX_SEED}"),
            Kind::Bits => "comma-separated bit widths 2..8 or f (full precision), one per quantizable layer or one for all".into(),
            Kind::Flags => "comma-separated 0/1 flags, one per quantizable layer".into(),
            Kind::Words { choices } => {
                format!("comma-separated words from {} (or none)", choices.join(", "))
            }
        }
    }
}

/// A parsed, range-checked value ([`Kind::parse`]).
#[derive(Clone, Debug)]
pub enum Value {
    /// An integer setting's value.
    Int(i64),
    /// A float setting's value.
    Float(f64),
    /// The position of the word in the [`Kind::Enum`]'s choices.
    Word(usize),
    /// A `wb` / `ab` list.
    Bits(BitsList),
    /// An `lk` list.
    Flags(Flags),
    /// The positions of the words of a [`Kind::Words`] set in its choices.
    Words(Vec<usize>),
}

impl Value {
    fn int(&self) -> i64 {
        match self {
            Value::Int(v) => *v,
            _ => unreachable!("schema kind mismatch"),
        }
    }
    fn float(&self) -> f64 {
        match self {
            Value::Float(v) => *v,
            _ => unreachable!("schema kind mismatch"),
        }
    }
    fn word(&self) -> usize {
        match self {
            Value::Word(v) => *v,
            _ => unreachable!("schema kind mismatch"),
        }
    }
    fn bits(self) -> BitsList {
        match self {
            Value::Bits(v) => v,
            _ => unreachable!("schema kind mismatch"),
        }
    }
    fn flags(self) -> Flags {
        match self {
            Value::Flags(v) => v,
            _ => unreachable!("schema kind mismatch"),
        }
    }
    fn parts(self) -> PartSet {
        match self {
            Value::Words(v) => PartSet::from_positions(v),
            _ => unreachable!("schema kind mismatch"),
        }
    }
}

/// One row of the schema.
pub struct Field {
    /// The URL key (also the CLI flag and `set` / `get` name).
    pub key: &'static str,
    /// The group the setting belongs to (data, model, train, certify, irs, quant, search;
    /// `view` for the presentation keys, which no computation reads).
    pub group: &'static str,
    /// The setting's type and allowed range.
    pub kind: Kind,
    /// One-line description, shown by the CLI, the page and the README's table.
    pub help: &'static str,
    /// The setting's canonical text.
    pub get: fn(&ExperimentConfig) -> String,
    /// Store a value that [`Kind::parse`] of this row's kind returned.
    pub set: fn(&mut ExperimentConfig, Value),
}

macro_rules! field {
    // first: a choice row's `choice T` is no expression. The choices are T's words, so a
    // word's position is its value's.
    ($key:literal, $group:literal, choice $t:ty, $help:literal, $f:ident) => {
        Field {
            key: $key,
            group: $group,
            kind: Kind::Enum {
                choices: <$t as Choice>::WORDS,
            },
            help: $help,
            get: |c| c.$f.to_string(),
            set: |c, v| c.$f = <$t as Choice>::ALL[v.word()],
        }
    };
    // the other rows: `$get` names the `Value` accessor that yields the field's type
    ($key:literal, $group:literal, $kind:expr, $help:literal, $f:ident, $get:ident) => {
        Field {
            key: $key,
            group: $group,
            kind: $kind,
            help: $help,
            get: |c| c.$f.to_string(),
            set: |c, v| c.$f = field!(@value v, $get),
        }
    };
    // integers are stored in the field's own width; the schema's range fits it
    (@value $v:ident, int) => {
        $v.int() as _
    };
    (@value $v:ident, $get:ident) => {
        $v.$get()
    };
}

/// The schema, in canonical order.
pub static SCHEMA: &[Field] = &[
    field!("ds", "data", choice DatasetName, "Dataset: 10,000 real MNIST digits (8,000 train / 2,000 test) or a small procedural set for tests", dataset),
    field!("model", "model", choice Arch, "Network architecture (docs/method.md section 8)", model),
    field!("sigma", "model", Kind::Float { min: SIGMA_MIN, max: SIGMA_MAX }, "Gaussian noise level: training augmentation and randomized smoothing (pixel units, inputs in [0,1])", sigma, float),
    field!("seed", "model", Kind::Seed, "Master seed; every random stream (init, data order, noise, search) derives from it", seed, int),
    field!("epochs", "train", Kind::Int { min: 1, max: 200 }, "Training epochs", epochs, int),
    field!("batch", "train", Kind::Int { min: 1, max: 1024 }, "Training mini-batch size", batch, int),
    field!("lr", "train", Kind::Float { min: 1e-6, max: 1.0 }, "Peak learning rate (cosine decay to 0 over the run)", lr, float),
    field!("opt", "train", choice Optimizer, "Optimizer", optimizer),
    field!("mom", "train", Kind::Float { min: 0.0, max: 0.999 }, "SGD momentum", momentum, float),
    field!("wd", "train", Kind::Float { min: 0.0, max: 0.1 }, "Weight decay (L2, on weights and biases)", weight_decay, float),
    field!("train", "train", Kind::Int { min: 1, max: 8000 }, "Number of training digits used (the first N of the train split)", train_size, int),
    field!("shift", "train", Kind::Int { min: 0, max: 4 }, "Augmentation: random translation of each training digit by up to this many pixels", shift, int),
    field!("n0", "certify", Kind::Int { min: 1, max: 100_000 }, "CERTIFY selection samples", n0, int),
    field!("n", "certify", Kind::Int { min: 1, max: 1_000_000 }, "CERTIFY estimation samples (sets the radius cap R_max)", n, int),
    field!("alpha", "certify", Kind::Float { min: 1e-9, max: 0.5 }, "Failure probability of each certificate", alpha, float),
    field!("points", "certify", Kind::Int { min: 1, max: 2000 }, "Number of test points certified", points, int),
    field!("stride", "certify", Kind::Int { min: 1, max: 2000 }, "Certify every k-th test digit", stride, int),
    field!("cbatch", "certify", Kind::Int { min: 1, max: 10_000 }, "Noisy samples per forward batch (memory is O(cbatch))", cert_batch, int),
    field!("np", "irs", Kind::Int { min: 1, max: 1_000_000 }, "IRS: replayed samples n_p for a modified model (the default is lowered to n when n is smaller; v=1 links: 100)", n_p, int),
    field!("az", "irs", Kind::Float { min: 1e-9, max: 0.5 }, "IRS: failure probability alpha_zeta of the disagreement bound", alpha_zeta, float),
    field!("gamma", "irs", Kind::Float { min: 0.5, max: 1.0 }, "IRS: above this pA_low, re-certify from scratch instead (v=1 links: 0.99)", gamma, float),
    field!("wb", "quant", Kind::Bits, "Weight bits per quantizable layer (network order)", wb, bits),
    field!("ab", "quant", Kind::Bits, "Activation bits per quantizable layer: precision of the layer's input", ab, bits),
    field!("lk", "quant", Kind::Flags, "Locked layers: the search and budget fitting leave them alone", locks, flags),
    field!("wgran", "quant", choice Granularity, "Weight scales per output channel or per tensor", weight_granularity),
    field!("wclip", "quant", choice WeightClip, "Weight clipping: MSE-optimal (below 5 bits) or max |w|", weight_clip),
    field!("aclip", "quant", choice ActClipChoice, "Activation range: MSE-optimal, 99.99th percentile or max, calibrated on noisy training digits", act_clip),
    field!("calib", "quant", Kind::Int { min: 16, max: 8000 }, "Calibration digits (a fixed seeded subset of the train split)", calib, int),
    field!("qft", "quant", Kind::Int { min: 0, max: 5000 }, "Noise-aware fine-tuning batches (straight-through estimator) before a quick read-out", qft, int),
    field!("qlr", "quant", Kind::Float { min: 1e-6, max: 1.0 }, "Fine-tuning learning rate (Adam)", qlr, float),
    field!("budget", "search", Kind::Float { min: 0.001, max: 1.0 }, "BOPs budget as a fraction of FP32, default 1/192 (1/64 = uniform W4A4, 1/256 = W2A2; v=1 links: 1/64)", budget, float),
    field!("episodes", "search", Kind::Int { min: 1, max: 2000 }, "Search episodes (one evaluated policy each)", episodes, int),
    field!("warmup", "search", Kind::Int { min: 0, max: 2000 }, "Warm-up episodes of uniform random actions before DDPG updates", warmup, int),
    field!("hidden", "search", Kind::Int { min: 4, max: 512 }, "Hidden units of the DDPG actor and critic (HAQ: 300)", hidden, int),
    field!("reward", "search", choice Reward, "Reward: ARQ's certified radius (acr), HAQ's clean accuracy (acc), or both", reward),
    field!("spoints", "search", Kind::Int { min: 1, max: 1000 }, "Search-split size: the first odd-numbered test digits that are not reported points (disjoint for every stride)", spoints, int),
    field!("sft", "search", Kind::Int { min: 0, max: 5000 }, "Fine-tuning batches per search episode", sft, int),
    field!("fft", "search", Kind::Int { min: 0, max: 20000 }, "Fine-tuning batches for each policy of the final comparison", fft, int),
    // presentation (src/config/view.rs): no computation reads these; they stay last
    field!("view", "view", choice ViewName, "Presentation: the view of the page that opens (no effect on any number)", view),
    field!("hide", "view", Kind::Words { choices: PARTS }, "Presentation: parts of the page hidden, e.g. a teacher's link (no effect on any number)", hide, parts),
    field!("lock", "view", Kind::Words { choices: PARTS }, "Presentation: parts of the page shown but locked, their controls disabled (no effect on any number)", lock, parts),
    field!("embed", "view", Kind::Int { min: 0, max: 1 }, "Presentation: 1 = embed mode for slides or an iframe, only the chosen view (no effect on any number)", embed, int),
    // presentation keys: what the page shows, never what is computed
    field!("lesson", "view", choice LessonChoice, "Guided lesson the page shows (presentation only; `arq info --lessons`)", lesson),
    field!("step", "view", Kind::Int { min: 1, max: crate::lesson::MAX_STEPS as i64 }, "Step of the guided lesson, from 1 (at most the lesson's number of steps)", step, int),
];

pub(crate) fn field(key: &str) -> Option<&'static Field> {
    SCHEMA.iter().find(|f| f.key == key)
}

impl ExperimentConfig {
    /// Cross-field checks that a single range cannot express.
    pub fn check(&self) -> Result<()> {
        self.check_np()?;
        self.check_step()
    }

    /// A lesson's `step` is one of its steps; without a lesson it is 1.
    pub(crate) fn check_step(&self) -> Result<()> {
        let steps = crate::lesson::steps_of(self.lesson);
        if self.step as usize > steps.max(1) {
            let why = match self.lesson {
                LessonChoice::None => "no lesson is open (lesson=none)".to_string(),
                l => format!("lesson {l} has {steps} steps"),
            };
            return Err(Error::invalid(
                "step",
                self.step,
                &why,
                format!("1..={}", steps.max(1)),
            ));
        }
        Ok(())
    }

    /// The default n_p is at most n: with `np` not given, a smaller n lowers it to n (v=2's
    /// default 300 would otherwise refuse every n below 300, which nobody asked for).
    pub fn fit_default_np(&mut self, np_given: bool) {
        if !np_given && self.n_p > self.n {
            self.n_p = self.n;
        }
    }

    fn check_np(&self) -> Result<()> {
        if self.n_p > self.n {
            return Err(Error::invalid(
                "np",
                self.n_p,
                "IRS replays cached estimation samples, so n_p cannot exceed n",
                format!("1..={}", self.n),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::choice::tests::check_round_trip;

    /// Every choice enum's words round-trip through parse, Display and serde, and are the
    /// choices its schema row offers.
    #[test]
    fn choice_words_are_the_schema_choices() {
        check_round_trip::<DatasetName>();
        check_round_trip::<Arch>();
        check_round_trip::<Optimizer>();
        check_round_trip::<Granularity>();
        check_round_trip::<WeightClip>();
        check_round_trip::<ActClipChoice>();
        check_round_trip::<Reward>();
        check_round_trip::<LessonChoice>();
        let choices = |key| match field(key).unwrap().kind {
            Kind::Enum { choices } => choices,
            k => panic!("{key} is {k:?}"),
        };
        assert_eq!(choices("ds"), ["mnist", "synth"]);
        assert_eq!(choices("model"), ["lenet", "cnn3", "resnet"]);
        assert_eq!(choices("opt"), ["adam", "sgd"]);
        assert_eq!(choices("wgran"), ["ch", "tensor"]);
        assert_eq!(choices("wclip"), ["mse", "max"]);
        assert_eq!(choices("aclip"), ["mse", "pct", "max"]);
        assert_eq!(choices("reward"), ["acr", "acc", "acracc"]);
    }

    /// The page reads the config as JSON: every setting keeps its JSON form (words and lists
    /// as strings).
    #[test]
    fn json_form_is_unchanged() {
        let mut c = ExperimentConfig::default();
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["dataset"], "mnist");
        assert_eq!(v["model"], "lenet");
        assert_eq!(v["optimizer"], "adam");
        assert_eq!(v["weightGranularity"], "ch");
        assert_eq!(v["weightClip"], "mse");
        assert_eq!(v["actClip"], "mse");
        assert_eq!(v["reward"], "acr");
        assert_eq!(
            (&v["wb"], &v["ab"], &v["locks"]),
            (&"".into(), &"".into(), &"".into())
        );
        c.set("model", "cnn3").unwrap();
        c.set("wb", "4, F ,32").unwrap();
        c.set("lk", "1,0").unwrap();
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(
            (&v["model"], &v["wb"], &v["locks"]),
            (&"cnn3".into(), &"4,f,32".into(), &"1,0".into())
        );
    }

    /// The policy lists are typed: `32` and `f` are both full precision, an empty list is no
    /// list, and a list built from bits is spelled canonically.
    #[test]
    fn policy_lists_are_typed() {
        let mut c = ExperimentConfig::default();
        c.set("wb", "4, F ,32").unwrap();
        c.set("ab", "").unwrap();
        c.set("lk", " 1 ,0").unwrap();
        let b = |v| Bits::new(v).unwrap();
        assert_eq!(c.wb.bits(), [b(4), Bits::FULL, Bits::FULL]);
        assert!(c.ab.is_empty() && c.ab.bits().is_empty());
        assert_eq!(c.locks, Flags(vec![true, false]));
        let l = BitsList::from_bits(vec![b(8), Bits::FULL, b(2)]);
        assert_eq!(l.to_string(), "8,f,2");
        let mut d = ExperimentConfig::default();
        d.set("wb", "8,f,2").unwrap();
        assert_eq!(d.wb, l);
        assert_eq!(Flags(vec![]).to_string(), "");
    }

    /// The checkpoint loader's sigma range is the `sigma` setting's.
    #[test]
    fn sigma_range_is_the_checkpoints() {
        match field("sigma").unwrap().kind {
            Kind::Float { min, max } => assert_eq!((min, max), (SIGMA_MIN, SIGMA_MAX)),
            k => panic!("{k:?}"),
        }
    }
}
