//! The experiment configuration: one schema table drives validation, the URL fragment
//! (`#v=1&model=lenet&sigma=0.25&...`), the CLI flags and the README's parameter table.
//!
//! Canonical form: `v=1` first, then every non-default key in schema order, floats in Rust's
//! shortest round-trip notation. Two configs are equal iff their canonical fragments are.

use crate::error::{Error, Result};
use serde::Serialize;

/// The URL/config format version. Bump when a key changes meaning.
pub const FORMAT_VERSION: u32 = 1;

/// Seeds stay below 2^53 so they survive a round trip through a JavaScript number.
pub const MAX_SEED: u64 = (1 << 53) - 1;

#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct ExperimentConfig {
    pub dataset: String,
    pub model: String,
    pub sigma: f64,
    pub seed: u64,
    // training
    pub epochs: u32,
    pub batch: u32,
    pub lr: f64,
    pub optimizer: String,
    pub momentum: f64,
    pub weight_decay: f64,
    pub train_size: u32,
    pub shift: u32,
    // certification
    pub n0: u32,
    pub n: u32,
    pub alpha: f64,
    pub points: u32,
    pub stride: u32,
    pub cert_batch: u32,
    // incremental randomized smoothing
    pub n_p: u32,
    pub alpha_zeta: f64,
    pub gamma: f64,
    // quantization
    pub wb: String,
    pub ab: String,
    pub locks: String,
    pub weight_granularity: String,
    pub weight_clip: String,
    pub act_clip: String,
    pub calib: u32,
    pub qft: u32,
    pub qlr: f64,
    // search
    pub budget: f64,
    pub episodes: u32,
    pub warmup: u32,
    pub hidden: u32,
    pub reward: String,
    pub spoints: u32,
    pub sft: u32,
    pub fft: u32,
}

impl Default for ExperimentConfig {
    fn default() -> Self {
        ExperimentConfig {
            dataset: "mnist".into(),
            model: "lenet".into(),
            sigma: 0.25,
            seed: 1,
            epochs: 20,
            batch: 64,
            lr: 0.003,
            optimizer: "adam".into(),
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
            n_p: 100,
            alpha_zeta: 0.001,
            gamma: 0.99,
            wb: String::new(),
            ab: String::new(),
            locks: String::new(),
            weight_granularity: "ch".into(),
            weight_clip: "mse".into(),
            act_clip: "mse".into(),
            calib: 512,
            qft: 50,
            qlr: 0.001,
            budget: 1.0 / 64.0,
            episodes: 30,
            warmup: 10,
            hidden: 300,
            reward: "acr".into(),
            spoints: 50,
            sft: 10,
            fft: 300,
        }
    }
}

/// The type and range of one setting.
#[derive(Clone, Copy, Debug, Serialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Kind {
    Int {
        min: i64,
        max: i64,
    },
    Float {
        min: f64,
        max: f64,
    },
    Enum {
        choices: &'static [&'static str],
    },
    Seed,
    /// Comma-separated bit widths (2..=8, or f / 32 for full precision); one per quantizable
    /// layer or a single value for all. Empty = full precision everywhere.
    Bits,
    /// Comma-separated 0/1 flags, one per quantizable layer.
    Flags,
}

/// A parsed, range-checked value.
#[derive(Clone, Debug)]
pub enum Value {
    Int(i64),
    Float(f64),
    Text(String),
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
    fn text(&self) -> String {
        match self {
            Value::Text(v) => v.clone(),
            _ => unreachable!("schema kind mismatch"),
        }
    }
}

/// One row of the schema.
pub struct Field {
    pub key: &'static str,
    pub group: &'static str,
    pub kind: Kind,
    pub help: &'static str,
    pub get: fn(&ExperimentConfig) -> String,
    pub set: fn(&mut ExperimentConfig, &Value),
}

impl Kind {
    /// Human-readable allowed range, used in every error message.
    pub fn allowed(&self) -> String {
        match self {
            Kind::Int { min, max } => format!("an integer {min}..={max}"),
            Kind::Float { min, max } => format!("a number {min}..={max}"),
            Kind::Enum { choices } => format!("one of {}", choices.join(", ")),
            Kind::Seed => format!("an integer 0..={MAX_SEED}"),
            Kind::Bits => "comma-separated bit widths 2..8 or f (full precision), one per quantizable layer or one for all".into(),
            Kind::Flags => "comma-separated 0/1 flags, one per quantizable layer".into(),
        }
    }

    /// Parse and range-check a textual value.
    pub fn parse(&self, key: &str, raw: &str) -> Result<Value> {
        let bad = |reason: &str| Error::invalid(key, raw, reason, self.allowed());
        match *self {
            Kind::Int { min, max } => {
                let v: i64 = raw.trim().parse().map_err(|_| bad("not an integer"))?;
                if v < min || v > max {
                    return Err(bad("out of range"));
                }
                Ok(Value::Int(v))
            }
            Kind::Float { min, max } => {
                let v: f64 = raw.trim().parse().map_err(|_| bad("not a number"))?;
                if !v.is_finite() || v < min || v > max {
                    return Err(bad("out of range"));
                }
                // -0 is 0: equal configs must have equal canonical fragments
                Ok(Value::Float(v + 0.0))
            }
            Kind::Enum { choices } => {
                let v = raw.trim();
                if choices.contains(&v) {
                    Ok(Value::Text(v.to_string()))
                } else {
                    Err(bad("not a known choice"))
                }
            }
            Kind::Bits | Kind::Flags => {
                let v = raw.trim();
                for item in v.split(',').filter(|_| !v.is_empty()) {
                    let t = item.trim();
                    let ok = match self {
                        Kind::Bits => {
                            t.eq_ignore_ascii_case("f")
                                || matches!(t.parse::<u32>(), Ok(2..=8 | 32))
                        }
                        _ => t == "0" || t == "1",
                    };
                    if !ok {
                        return Err(bad(&format!("'{t}' is not allowed")));
                    }
                }
                // canonical text: items without surrounding blanks, lower case
                let items: Vec<&str> = v.split(',').map(str::trim).collect();
                Ok(Value::Text(items.join(",").to_ascii_lowercase()))
            }
            Kind::Seed => {
                let v: u64 = raw
                    .trim()
                    .parse()
                    .map_err(|_| bad("not a non-negative integer"))?;
                if v > MAX_SEED {
                    return Err(bad("out of range"));
                }
                Ok(Value::Int(v as i64))
            }
        }
    }
}

macro_rules! field {
    ($key:literal, $group:literal, $kind:expr, $help:literal, $f:ident, int) => {
        Field {
            key: $key,
            group: $group,
            kind: $kind,
            help: $help,
            get: |c| c.$f.to_string(),
            set: |c, v| c.$f = v.int() as _,
        }
    };
    ($key:literal, $group:literal, $kind:expr, $help:literal, $f:ident, float) => {
        Field {
            key: $key,
            group: $group,
            kind: $kind,
            help: $help,
            get: |c| c.$f.to_string(),
            set: |c, v| c.$f = v.float(),
        }
    };
    ($key:literal, $group:literal, $kind:expr, $help:literal, $f:ident, text) => {
        Field {
            key: $key,
            group: $group,
            kind: $kind,
            help: $help,
            get: |c| c.$f.clone(),
            set: |c, v| c.$f = v.text(),
        }
    };
}

pub const DATASETS: &[&str] = &["mnist", "synth"];
pub const MODELS: &[&str] = &["lenet", "cnn3"];
pub const OPTIMIZERS: &[&str] = &["adam", "sgd"];
pub const GRANULARITIES: &[&str] = &["ch", "tensor"];
pub const WEIGHT_CLIPS: &[&str] = &["mse", "max"];
pub const ACT_CLIPS: &[&str] = &["mse", "pct", "max"];
pub const REWARDS: &[&str] = &["acr", "acc", "acracc"];

/// The schema, in canonical order.
pub static SCHEMA: &[Field] = &[
    field!("ds", "data", Kind::Enum { choices: DATASETS }, "Dataset: 10,000 real MNIST digits (8,000 train / 2,000 test) or a small procedural set for tests", dataset, text),
    field!("model", "model", Kind::Enum { choices: MODELS }, "Network architecture (docs/method.md section 8)", model, text),
    field!("sigma", "model", Kind::Float { min: 0.01, max: 2.0 }, "Gaussian noise level: training augmentation and randomized smoothing (pixel units, inputs in [0,1])", sigma, float),
    field!("seed", "model", Kind::Seed, "Master seed; every random stream (init, data order, noise, search) derives from it", seed, int),
    field!("epochs", "train", Kind::Int { min: 1, max: 200 }, "Training epochs", epochs, int),
    field!("batch", "train", Kind::Int { min: 1, max: 1024 }, "Training mini-batch size", batch, int),
    field!("lr", "train", Kind::Float { min: 1e-6, max: 1.0 }, "Peak learning rate (cosine decay to 0 over the run)", lr, float),
    field!("opt", "train", Kind::Enum { choices: OPTIMIZERS }, "Optimizer", optimizer, text),
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
    field!("np", "irs", Kind::Int { min: 1, max: 1_000_000 }, "IRS: replayed samples n_p for a modified model", n_p, int),
    field!("az", "irs", Kind::Float { min: 1e-9, max: 0.5 }, "IRS: failure probability alpha_zeta of the disagreement bound", alpha_zeta, float),
    field!("gamma", "irs", Kind::Float { min: 0.5, max: 1.0 }, "IRS: above this pA_low, re-certify from scratch instead", gamma, float),
    field!("wb", "quant", Kind::Bits, "Weight bits per quantizable layer (network order)", wb, text),
    field!("ab", "quant", Kind::Bits, "Activation bits per quantizable layer: precision of the layer's input", ab, text),
    field!("lk", "quant", Kind::Flags, "Locked layers: the search and budget fitting leave them alone", locks, text),
    field!("wgran", "quant", Kind::Enum { choices: GRANULARITIES }, "Weight scales per output channel or per tensor", weight_granularity, text),
    field!("wclip", "quant", Kind::Enum { choices: WEIGHT_CLIPS }, "Weight clipping: MSE-optimal (below 5 bits) or max |w|", weight_clip, text),
    field!("aclip", "quant", Kind::Enum { choices: ACT_CLIPS }, "Activation range: MSE-optimal, 99.99th percentile or max, calibrated on noisy training digits", act_clip, text),
    field!("calib", "quant", Kind::Int { min: 16, max: 8000 }, "Calibration digits (a fixed seeded subset of the train split)", calib, int),
    field!("qft", "quant", Kind::Int { min: 0, max: 5000 }, "Noise-aware fine-tuning batches (straight-through estimator) before a quick read-out", qft, int),
    field!("qlr", "quant", Kind::Float { min: 1e-6, max: 1.0 }, "Fine-tuning learning rate (Adam)", qlr, float),
    field!("budget", "search", Kind::Float { min: 0.001, max: 1.0 }, "BOPs budget as a fraction of FP32 (1/64 = uniform W4A4)", budget, float),
    field!("episodes", "search", Kind::Int { min: 1, max: 2000 }, "Search episodes (one evaluated policy each)", episodes, int),
    field!("warmup", "search", Kind::Int { min: 0, max: 2000 }, "Warm-up episodes of uniform random actions before DDPG updates", warmup, int),
    field!("hidden", "search", Kind::Int { min: 4, max: 512 }, "Hidden units of the DDPG actor and critic (HAQ: 300)", hidden, int),
    field!("reward", "search", Kind::Enum { choices: REWARDS }, "Reward: ARQ's certified radius (acr), HAQ's clean accuracy (acc), or both", reward, text),
    field!("spoints", "search", Kind::Int { min: 1, max: 1000 }, "Search-split size: the first odd-numbered test digits that are not reported points (disjoint for every stride)", spoints, int),
    field!("sft", "search", Kind::Int { min: 0, max: 5000 }, "Fine-tuning batches per search episode", sft, int),
    field!("fft", "search", Kind::Int { min: 0, max: 20000 }, "Fine-tuning batches for each policy of the final comparison", fft, int),
];

pub fn field(key: &str) -> Option<&'static Field> {
    SCHEMA.iter().find(|f| f.key == key)
}

fn known_keys() -> String {
    let mut k: Vec<&str> = vec!["v"];
    k.extend(SCHEMA.iter().map(|f| f.key));
    k.join(", ")
}

impl ExperimentConfig {
    /// Set one key from text, strictly.
    pub fn set(&mut self, key: &str, raw: &str) -> Result<()> {
        let f = field(key).ok_or_else(|| Error::UnknownField {
            field: key.into(),
            known: known_keys(),
        })?;
        let v = f.kind.parse(key, raw)?;
        (f.set)(self, &v);
        Ok(())
    }

    pub fn get(&self, key: &str) -> Option<String> {
        field(key).map(|f| (f.get)(self))
    }

    /// Cross-field checks that a single range cannot express.
    pub fn check(&self) -> Result<()> {
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

    /// Canonical fragment without the leading '#': `v=1&key=value...`, defaults omitted.
    pub fn to_fragment(&self) -> String {
        let d = ExperimentConfig::default();
        let mut parts = vec![format!("v={FORMAT_VERSION}")];
        for f in SCHEMA {
            let v = (f.get)(self);
            if v != (f.get)(&d) {
                parts.push(format!("{}={}", f.key, v));
            }
        }
        parts.join("&")
    }

    /// Strict parse (CLI `--url`, files): the first problem is an error.
    pub fn from_fragment(fragment: &str) -> Result<Self> {
        let (cfg, notices) = Self::from_fragment_lenient(fragment);
        match notices.into_iter().next() {
            Some(e) => Err(e),
            None => {
                cfg.check()?;
                Ok(cfg)
            }
        }
    }

    /// Lenient parse (the page): every bad pair is dropped and reported; the rest applies.
    pub fn from_fragment_lenient(fragment: &str) -> (Self, Vec<Error>) {
        let mut cfg = ExperimentConfig::default();
        let mut notices = Vec::new();
        let body = fragment.trim().trim_start_matches('#');
        for pair in body.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = match pair.split_once('=') {
                Some(kv) => kv,
                None => {
                    notices.push(Error::invalid(
                        pair,
                        "",
                        "missing '='",
                        "key=value pairs joined by '&'",
                    ));
                    continue;
                }
            };
            let v = percent_decode(v);
            if k == "v" {
                if v != FORMAT_VERSION.to_string() {
                    notices.push(Error::invalid(
                        "v",
                        &v,
                        "unsupported format version",
                        FORMAT_VERSION,
                    ));
                }
                continue;
            }
            if let Err(e) = cfg.set(k, &v) {
                notices.push(e);
            }
        }
        if let Err(e) = cfg.check() {
            notices.push(e);
            let d = ExperimentConfig::default();
            cfg.n_p = d.n_p.min(cfg.n);
        }
        (cfg, notices)
    }

    /// The per-layer noise purpose names etc. read the seed through here.
    pub fn summary_line(&self) -> String {
        format!(
            "{} on {} at sigma={} seed={}",
            self.model, self.dataset, self.sigma, self.seed
        )
    }
}

/// Minimal %XX decoding for values pasted from a browser's address bar. Works on bytes (a
/// `%` may be followed by any UTF-8 text); only `%` plus exactly two ASCII hex digits is an
/// escape, anything else is kept as it is; invalid UTF-8 after decoding becomes U+FFFD.
fn percent_decode(s: &str) -> String {
    fn hex_digit(c: u8) -> Option<u8> {
        (c as char).to_digit(16).map(|d| d as u8)
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if let (Some(hi), Some(lo)) = (
                b.get(i + 1).copied().and_then(hex_digit),
                b.get(i + 2).copied().and_then(hex_digit),
            ) {
                out.push(hi << 4 | lo);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The README's parameter table, generated from the schema (`arq info --schema-md`).
pub fn schema_markdown() -> String {
    let d = ExperimentConfig::default();
    let mut s =
        String::from("| key | group | default | allowed | meaning |\n|---|---|---|---|---|\n");
    for f in SCHEMA {
        s.push_str(&format!(
            "| `{}` | {} | {} | {} | {} |\n",
            f.key,
            f.group,
            (f.get)(&d),
            f.kind.allowed(),
            f.help
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_fragment_is_minimal() {
        assert_eq!(ExperimentConfig::default().to_fragment(), "v=1");
    }

    #[test]
    fn round_trip_and_canonical_order() {
        let c = ExperimentConfig::from_fragment("#v=1&seed=7&sigma=0.5&model=cnn3").unwrap();
        assert_eq!(c.to_fragment(), "v=1&model=cnn3&sigma=0.5&seed=7");
        let again = ExperimentConfig::from_fragment(&c.to_fragment()).unwrap();
        assert_eq!(again, c);
    }

    #[test]
    fn errors_name_field_value_and_range() {
        let e = ExperimentConfig::from_fragment("v=1&sigma=9")
            .unwrap_err()
            .to_string();
        assert!(e.contains("sigma=9") && e.contains("0.01..=2"), "{e}");
        let e = ExperimentConfig::from_fragment("v=1&model=vgg")
            .unwrap_err()
            .to_string();
        assert!(e.contains("model=vgg") && e.contains("lenet, cnn3"), "{e}");
        let e = ExperimentConfig::from_fragment("v=1&bogus=1")
            .unwrap_err()
            .to_string();
        assert!(e.contains("bogus"), "{e}");
        let e = ExperimentConfig::from_fragment("v=1&n=100&np=500")
            .unwrap_err()
            .to_string();
        assert!(e.contains("np=500"), "{e}");
    }

    /// Regression (issue 8, the fuzzers' round-trip property): `wd=-0` equals the default
    /// config but printed `wd=-0`, and `wb=4, 4` kept its blank, so equal settings had
    /// different canonical fragments.
    #[test]
    fn canonical_text_of_equal_values_is_equal() {
        let c = ExperimentConfig::from_fragment("v=1&mom=-0&wd=-0.0").unwrap();
        assert_eq!(c.to_fragment(), "v=1&mom=0");
        let c = ExperimentConfig::from_fragment("v=1&wb=4, F ,32&lk= 1 ,0").unwrap();
        assert_eq!(c.to_fragment(), "v=1&wb=4,f,32&lk=1,0");
        assert_eq!(
            ExperimentConfig::from_fragment(&c.to_fragment()).unwrap(),
            c
        );
    }

    #[test]
    fn lenient_parse_keeps_good_pairs() {
        let (c, notes) =
            ExperimentConfig::from_fragment_lenient("#v=1&sigma=abc&seed=9&&junk&epochs=0");
        assert_eq!(c.seed, 9);
        assert_eq!(c.sigma, 0.25);
        assert_eq!(c.epochs, 20);
        assert_eq!(notes.len(), 3, "{notes:?}");
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("0%2E5"), "0.5");
        assert_eq!(percent_decode("0%2e5"), "0.5");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%4"), "%4");
        assert_eq!(percent_decode("%41"), "A");
        // only two hex digits are an escape: from_str_radix would also take "+1"
        assert_eq!(percent_decode("%+1"), "%+1");
        assert_eq!(percent_decode("%C3%A9"), "\u{e9}");
        assert_eq!(percent_decode("%FF"), "\u{fffd}");
    }

    /// Regression (issue 8): a '%' followed by a multi-byte character sliced the string
    /// inside that character and panicked (`arq info --url '#v=1&wb=%aé'`).
    #[test]
    fn percent_decoding_non_ascii_after_percent() {
        assert_eq!(percent_decode("%a\u{e9}"), "%a\u{e9}");
        assert_eq!(percent_decode("%\u{e9}"), "%\u{e9}");
        assert_eq!(percent_decode("\u{e9}%\u{e9}1"), "\u{e9}%\u{e9}1");
        assert_eq!(percent_decode("%\u{1F600}"), "%\u{1F600}");
        let e = ExperimentConfig::from_fragment("#v=1&wb=%a\u{e9}")
            .unwrap_err()
            .to_string();
        assert!(e.contains("wb=%a\u{e9}") && e.contains("bit widths"), "{e}");
        let (c, notes) = ExperimentConfig::from_fragment_lenient("#v=1&wb=%a\u{e9}&seed=3");
        assert_eq!((c.seed, notes.len()), (3, 1), "{notes:?}");
    }
}
