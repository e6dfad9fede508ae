//! wasm-bindgen bindings: thin wrappers over `experiment::Session`. Long-lived state stays in
//! Rust behind the opaque `Engine` handle; JS drives long work in small steps. Every failure
//! becomes a JS `Error` with the core's message (field, value, allowed range); a Rust panic
//! is reported by console_error_panic_hook and the worker then re-creates the Engine.
//! Every value that crosses is a serde type whose TypeScript declaration tsify generates into
//! pkg/arq.d.ts, and each binding names it (`unchecked_return_type`); bulk numbers cross as
//! typed arrays. API reference: docs/wasm-api.md.

use crate::config::{ExperimentConfig, Kind, SCHEMA};
use crate::data::Split;
use crate::experiment::{JobKind, JobSpec, PolicyInfo, RowCertificate, Session};
use crate::nn::ModelInfo;
use crate::quant::Preset;
use crate::zoo_index::IndexEntry;
use js_sys::{Float32Array, Uint32Array, Uint8Array};
use serde::Serialize;
use tsify::Tsify;
use wasm_bindgen::prelude::*;

mod results;

/// Runs when the module is instantiated: route Rust panics to the console (console_error_panic_hook).
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

/// A value for JS: serialized by serde_json (which the core links anyway: one serializer per
/// type keeps the module small) and parsed by `JSON.parse`.
fn to_js<T: Serialize + ?Sized>(v: &T) -> Result<JsValue, JsError> {
    let text = serde_json::to_string(v)
        .map_err(|e| JsError::new(&format!("internal: cannot convert result: {e}")))?;
    js_sys::JSON::parse(&text).map_err(|_| JsError::new("internal: cannot parse a result"))
}

/// [`to_js`] for a value with typed-array fields: they serialize as `null` ([`typed_slot`])
/// and are put in place afterwards, without copying through JSON.
fn to_js_typed<T: Serialize>(v: &T, arrays: &[(&str, &JsValue)]) -> Result<JsValue, JsError> {
    let obj = to_js(v)?;
    for (key, array) in arrays {
        js_sys::Reflect::set(&obj, &JsValue::from_str(key), array)
            .map_err(|_| JsError::new("internal: cannot set a result field"))?;
    }
    Ok(obj)
}

/// The placeholder a typed-array field serializes to; [`to_js_typed`] replaces it.
fn typed_slot<A, S: serde::Serializer>(_: &A, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_unit()
}

fn err(e: crate::Error) -> JsError {
    JsError::new(&e.to_string())
}

/// One setting of the config schema (an interface cannot extend the `Kind` union, so the
/// declaration is spelled out as an intersection).
#[derive(Serialize, Tsify)]
#[serde(rename_all = "camelCase")]
#[tsify(type = "{ key: string; group: string; default: string; help: string } & Kind")]
pub struct Field {
    key: &'static str,
    group: &'static str,
    #[serde(flatten)]
    kind: Kind,
    default: String,
    help: &'static str,
}

/// A lenient parse of a fragment, or the engine's config after a change.
#[derive(Serialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub struct ParsedConfig {
    config: ExperimentConfig,
    /// Every setting by its URL key, as text (defaults included).
    values: std::collections::BTreeMap<&'static str, String>,
    /// The canonical fragment (schema order, defaults omitted).
    fragment: String,
    /// One per dropped value.
    notices: Vec<String>,
}

impl ParsedConfig {
    fn of(cfg: &ExperimentConfig, notices: Vec<String>) -> ParsedConfig {
        // inserted one by one: collecting into a BTreeMap sorts first (another copy of the sort)
        let mut values = std::collections::BTreeMap::new();
        for f in SCHEMA.iter() {
            values.insert(f.key, (f.get)(cfg));
        }
        ParsedConfig {
            config: cfg.clone(),
            values,
            fragment: cfg.to_fragment(),
            notices,
        }
    }
}

fn parse_lenient(fragment: &str) -> (ExperimentConfig, ParsedConfig) {
    let (mut cfg, mut notes) = ExperimentConfig::from_fragment_lenient(fragment);
    // bit/lock lists that do not fit the config's model are dropped like any bad value
    notes.extend(crate::experiment::drop_unfit_policy(&mut cfg));
    let notices = notes
        .iter()
        .map(|e| format!("{e}; using the default"))
        .collect();
    let p = ParsedConfig::of(&cfg, notices);
    (cfg, p)
}

/// A policy preset the engine knows (`applyPreset`'s names).
#[derive(Serialize, Tsify)]
pub struct PresetInfo {
    name: &'static str,
    /// Human label, e.g. "first/last 8, rest 4".
    label: &'static str,
}

/// The CERTIFY bound of a top-class count; radius null = abstain.
#[derive(Serialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub struct CountCertificate {
    p_lower: f64,
    radius: Option<f64>,
}

/// The loaded dataset's size and image shape (`Engine.datasetInfo`).
#[derive(Serialize, Tsify)]
pub struct DatasetInfo {
    /// "mnist" or "synth".
    name: String,
    count: u32,
    /// The first `train` records are the train split, the rest the test split.
    train: u32,
    test: u32,
    rows: u32,
    cols: u32,
}

/// Digits of a split: count*rows*cols gray levels and their labels.
#[derive(Serialize, Tsify)]
pub struct Samples {
    #[serde(serialize_with = "typed_slot")]
    #[tsify(type = "Uint8Array")]
    pixels: Uint8Array,
    #[serde(serialize_with = "typed_slot")]
    #[tsify(type = "Uint8Array")]
    labels: Uint8Array,
}

/// The current model and where its weights come from.
#[derive(Serialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub struct ModelState {
    #[serde(flatten)]
    info: ModelInfo,
    sigma: f64,
    trained: bool,
    /// Epochs of training behind the weights.
    epochs: u32,
    checkpoint_hash: Option<String>,
}

/// A checkpoint the engine loaded, and its config afterwards (model and sigma switched).
#[derive(Serialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub struct CheckpointInfo {
    model: String,
    sigma: f64,
    /// Full SHA-256 hex of the file body.
    hash: String,
    epochs: u32,
    test_accuracy: f32,
    parsed: ParsedConfig,
}

/// One digit under k noise draws per sigma row, the base classifier's votes and each row's
/// certificate (null for a row at sigma 0).
#[derive(Serialize, Tsify)]
pub struct NoiseResult {
    label: u8,
    /// input_len values.
    #[serde(serialize_with = "typed_slot")]
    #[tsify(type = "Float32Array")]
    clean: Float32Array,
    /// rows*k*input_len, [row][draw][pixel]; values may leave [0, 1].
    #[serde(serialize_with = "typed_slot")]
    #[tsify(type = "Float32Array")]
    images: Float32Array,
    /// rows*k predicted labels.
    #[serde(serialize_with = "typed_slot")]
    #[tsify(type = "Uint8Array")]
    preds: Uint8Array,
    /// rows*classes vote counts.
    #[serde(serialize_with = "typed_slot")]
    #[tsify(type = "Uint32Array")]
    votes: Uint32Array,
    /// The config's alpha, used for the certificates.
    alpha: f64,
    certificates: Vec<Option<RowCertificate>>,
}

/// One quantizable layer: a column of the bit editor.
#[derive(Serialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub struct QuantLayer {
    name: String,
    kind: &'static str,
    /// Per image.
    macs: u64,
    /// Weights (biases excluded).
    weights: usize,
    in_shape: [usize; 3],
    out_shape: [usize; 3],
    /// macs / the model's quantizable macs.
    mac_share: f64,
}

/// A policy the engine applied, and its whole config afterwards.
#[derive(Serialize, Tsify)]
pub struct PolicyUpdate {
    policy: PolicyInfo,
    parsed: ParsedConfig,
}

/// One layer's float weights and its quantization grid under the policy.
#[derive(Serialize, Tsify)]
pub struct LayerHistogram {
    name: String,
    #[serde(serialize_with = "typed_slot")]
    #[tsify(type = "Float32Array")]
    weights: Float32Array,
    /// Clip t per output channel, one value per-tensor, empty at full precision.
    #[serde(serialize_with = "typed_slot")]
    #[tsify(type = "Float32Array")]
    thresholds: Float32Array,
    bits: u32,
    /// 2^(b-1) - 1 per side (0 at full precision).
    levels: u32,
    /// Weights outside their channel's clip.
    clipped: usize,
}

/// The engine version ([`crate::VERSION`]).
#[wasm_bindgen]
pub fn version() -> String {
    crate::VERSION.to_string()
}

/// The engine self-test (src/selftest.rs): a tiny fixed experiment whose digests are compared
/// with the golden values committed in the source; `passed` false names the parts that differ.
#[wasm_bindgen(js_name = selfTest, unchecked_return_type = "SelfTest")]
pub fn self_test() -> Result<JsValue, JsError> {
    to_js(&crate::selftest::run().map_err(err)?)
}

/// A table (certification, final comparison or a search's episodes) as Markdown, LaTeX or
/// CSV (src/export.rs: the same text as the CLI's `--table` / `--episodes` files).
#[wasm_bindgen(js_name = exportTable)]
pub fn export_table(
    #[wasm_bindgen(unchecked_param_type = "TableSpec")] spec: JsValue,
    #[wasm_bindgen(unchecked_param_type = "Format")] format: JsValue,
) -> Result<String, JsError> {
    let format: crate::export::Format = from_js("format", format, "'md', 'latex' or 'csv'")?;
    // JSON.stringify writes each number's shortest round-trip digits and serde_json (with
    // float_roundtrip) reads them back as the exact f64 (CSV writes them unrounded)
    let spec: crate::export::TableSpec = from_js(
        "spec",
        spec,
        "{kind: 'certify', runs} | {kind: 'compare', rows, significance} | {kind: 'episodes', runs}",
    )?;
    Ok(crate::export::render(&spec.table(), format))
}

/// Certification records in the layout of Cohen et al.'s certify.py (`idx label predict
/// radius correct time`, tab-separated; predict -1 and radius 0 for an abstention); the
/// records' indices minus `testOffset` (the train split's size) are the test-split indices.
#[wasm_bindgen(js_name = cohenRecords)]
pub fn cohen_records(
    #[wasm_bindgen(unchecked_param_type = "CertRecord[]")] records: JsValue,
    test_offset: u32,
) -> Result<String, JsError> {
    let records: Vec<crate::certify::CertRecord> =
        from_js("records", records, "an array of CertRecord")?;
    Ok(crate::export::cohen_tsv(&records, test_offset as u64))
}

/// The config schema (drives the settings form, the URL and the CLI flags).
#[wasm_bindgen(unchecked_return_type = "Field[]")]
pub fn schema() -> Result<JsValue, JsError> {
    let d = ExperimentConfig::default();
    let rows: Vec<Field> = SCHEMA
        .iter()
        .map(|f| Field {
            key: f.key,
            group: f.group,
            kind: f.kind,
            default: (f.get)(&d),
            help: f.help,
        })
        .collect();
    to_js(&rows)
}

/// The policy presets `Engine.applyPreset` accepts, in the order the page offers them.
#[wasm_bindgen(unchecked_return_type = "PresetInfo[]")]
pub fn presets() -> Result<JsValue, JsError> {
    let list: Vec<PresetInfo> = Preset::ALL
        .iter()
        .map(|p| PresetInfo {
            name: p.name(),
            label: p.label(),
        })
        .collect();
    to_js(&list)
}

/// The named experiments the page offers (`arq run --experiment ID` runs the same).
#[wasm_bindgen(unchecked_return_type = "Showcase[]")]
pub fn experiments() -> Result<JsValue, JsError> {
    to_js(&crate::showcase::showcases())
}

/// R_max(n, alpha) = sigma * PhiInv(alpha^(1/n)): the largest radius CERTIFY can return with n
/// samples (the cap every certification summary reports as `rMax`, by the same function).
#[wasm_bindgen(js_name = rMax)]
pub fn r_max(sigma: f64, n: u32, alpha: f64) -> Result<f64, JsError> {
    if n == 0 || !(alpha > 0.0 && alpha < 1.0) || !(sigma > 0.0 && sigma.is_finite()) {
        return Err(err(crate::Error::invalid(
            "n/alpha/sigma",
            format!("{n}/{alpha}/{sigma}"),
            "out of range",
            "n >= 1, 0 < alpha < 1, sigma > 0",
        )));
    }
    Ok(crate::certify::metrics::r_max(sigma, n as u64, alpha))
}

/// The guided lessons the page offers (`arq info --lessons` lists the same).
#[wasm_bindgen(unchecked_return_type = "Lesson[]")]
pub fn lessons() -> Result<JsValue, JsError> {
    to_js(&crate::lesson::lessons())
}

/// Lenient parse of a URL fragment: {config, values, fragment (canonical), notices}.
#[wasm_bindgen(js_name = parseFragment, unchecked_return_type = "ParsedConfig")]
pub fn parse_fragment(fragment: &str) -> Result<JsValue, JsError> {
    to_js(&parse_lenient(fragment).1)
}

/// The certificate of a top-class count: {pLower, radius} with radius null for abstain
/// (Clopper-Pearson lower bound at 1 - alpha; R = sigma * PhiInv(pLower)).
#[wasm_bindgen(unchecked_return_type = "CountCertificate")]
pub fn certificate(count: u32, n: u32, alpha: f64, sigma: f64) -> Result<JsValue, JsError> {
    if n == 0 || count > n {
        return Err(err(crate::Error::invalid(
            "count",
            format!("{count}/{n}"),
            "count must be within 0..=n and n >= 1",
            "0 <= count <= n, n >= 1",
        )));
    }
    if !(alpha > 0.0 && alpha < 1.0 && sigma > 0.0 && sigma.is_finite()) {
        return Err(err(crate::Error::invalid(
            "alpha/sigma",
            format!("{alpha}/{sigma}"),
            "out of range",
            "0 < alpha < 1, sigma > 0",
        )));
    }
    let p_lower = crate::certify::stats::cp_lower(count as u64, n as u64, alpha);
    to_js(&CountCertificate {
        p_lower,
        radius: crate::certify::stats::radius(sigma, p_lower),
    })
}

/// An RGBA raster (a canvas's `getImageData`, `width * height * 4` bytes) as one gray byte
/// per pixel; transparent pixels are composited against the strokes (src/digit/mod.rs).
#[wasm_bindgen(js_name = grayFromRgba)]
pub fn gray_from_rgba(rgba: &[u8], width: u32, height: u32) -> Result<Uint8Array, JsError> {
    let g = crate::digit::gray_from_rgba(rgba, width as usize, height as usize).map_err(err)?;
    Ok(Uint8Array::from(&g[..]))
}

/// Any gray raster preprocessed like the training digits into the 28x28 input (a blank or
/// mis-sized raster is an error naming `image`).
#[wasm_bindgen(js_name = preprocessDigit, unchecked_return_type = "Digit")]
pub fn preprocess_digit(gray: &[u8], width: u32, height: u32) -> Result<JsValue, JsError> {
    to_js(&crate::digit::preprocess(gray, width as usize, height as usize).map_err(err)?)
}

/// A gray raster as a binary PGM (P5) file: the page's "Download this digit", which
/// `arq certify-digit FILE` reads.
#[wasm_bindgen(js_name = digitPgm)]
pub fn digit_pgm(gray: &[u8], width: u32, height: u32) -> Result<Uint8Array, JsError> {
    crate::digit::check_size(width as usize, height as usize, gray.len(), 1).map_err(err)?;
    let b = crate::digit::write_pgm(gray, width as usize, height as usize);
    Ok(Uint8Array::from(&b[..]))
}

/// The page's handle on one [`Session`]: the config, data, model and running jobs stay in Rust.
#[wasm_bindgen]
pub struct Engine {
    s: Session,
}

impl Engine {
    /// The policy `p` just stored, with the config it left.
    fn policy_update(&self, p: crate::Result<PolicyInfo>) -> Result<JsValue, JsError> {
        to_js(&PolicyUpdate {
            policy: p.map_err(err)?,
            parsed: ParsedConfig::of(self.s.cfg(), Vec::new()),
        })
    }
}

#[wasm_bindgen]
impl Engine {
    /// `dataset`: the bytes of data/mnist10k.u8 (verified by size and SHA-256).
    #[wasm_bindgen(constructor)]
    pub fn new(dataset: &[u8]) -> Result<Engine, JsError> {
        let s = Session::new(ExperimentConfig::default(), Some(dataset)).map_err(err)?;
        Ok(Engine { s })
    }

    /// Parse `fragment` leniently (bad values are dropped with a notice and keep their default),
    /// apply it, and return the parsed config.
    #[wasm_bindgen(js_name = setConfig, unchecked_return_type = "ParsedConfig")]
    pub fn set_config(&mut self, fragment: &str) -> Result<JsValue, JsError> {
        let (cfg, parsed) = parse_lenient(fragment);
        self.s.set_config(cfg).map_err(err)?;
        to_js(&parsed)
    }

    /// Apply only the presentation keys (`lesson`, `step`: schema group `view`) of a fragment,
    /// leaving every other setting, the weights and any running job alone.
    #[wasm_bindgen(js_name = setPresentation, unchecked_return_type = "ParsedConfig")]
    pub fn set_presentation(&mut self, fragment: &str) -> Result<JsValue, JsError> {
        let notices = self
            .s
            .set_presentation(fragment)
            .iter()
            .map(|e| format!("{e}; using the default"))
            .collect();
        to_js(&ParsedConfig::of(self.s.cfg(), notices))
    }

    /// The current config.
    #[wasm_bindgen(unchecked_return_type = "ExperimentConfig")]
    pub fn config(&self) -> Result<JsValue, JsError> {
        to_js(self.s.cfg())
    }

    /// The dataset's size and image shape.
    #[wasm_bindgen(js_name = datasetInfo, unchecked_return_type = "DatasetInfo")]
    pub fn dataset_info(&self) -> Result<JsValue, JsError> {
        let d = self.s.data();
        to_js(&DatasetInfo {
            name: d.name.clone(),
            count: d.len() as u32,
            train: d.train_count as u32,
            test: d.test_count() as u32,
            rows: d.rows as u32,
            cols: d.cols as u32,
        })
    }

    /// `count` digits of a split from `start`.
    #[wasm_bindgen(unchecked_return_type = "Samples")]
    pub fn samples(&self, split: &str, start: u32, count: u32) -> Result<JsValue, JsError> {
        let split = Split::parse(split).map_err(err)?;
        let d = self.s.data();
        let n = d.split_len(split);
        let (start, count) = (start as usize, count as usize);
        if start >= n || count == 0 || count > 1000 || start + count > n {
            return Err(err(crate::Error::invalid(
                "start/count",
                format!("{start}/{count}"),
                "outside the split",
                format!("start + count <= {n}, count 1..=1000"),
            )));
        }
        let mut px = Vec::with_capacity(count * d.image_len());
        let mut labels = Vec::with_capacity(count);
        for i in start..start + count {
            let idx = d.index(split, i);
            px.extend_from_slice(d.image_u8(idx));
            labels.push(d.labels[idx]);
        }
        let v = Samples {
            pixels: Uint8Array::from(&px[..]),
            labels: Uint8Array::from(&labels[..]),
        };
        to_js_typed(&v, &[("pixels", &v.pixels), ("labels", &v.labels)])
    }

    /// The model's layers, sigma, training state and checkpoint hash.
    #[wasm_bindgen(js_name = modelInfo, unchecked_return_type = "ModelState")]
    pub fn model_info(&self) -> Result<JsValue, JsError> {
        to_js(&ModelState {
            info: self.s.model().info(),
            sigma: self.s.cfg().sigma,
            trained: self.s.epochs_trained() > 0,
            epochs: self.s.epochs_trained(),
            checkpoint_hash: self.s.checkpoint().map(|c| c.hash.clone()),
        })
    }

    /// The models/index.json entry (`indexJson`: the file's text) for the config's model and
    /// sigma, or null; entries that are not usable are skipped (src/zoo_index.rs).
    #[wasm_bindgen(js_name = shippedCheckpoint, unchecked_return_type = "IndexEntry | null")]
    pub fn shipped_checkpoint(&self, index_json: &str) -> Result<JsValue, JsError> {
        let e: Option<IndexEntry> = crate::zoo_index::find(
            index_json,
            &self.s.cfg().model.to_string(),
            self.s.cfg().sigma,
        )
        .map_err(err)?;
        to_js(&e)
    }

    /// Loads a checkpoint (switching the config's model and sigma to its own). With `entry`,
    /// the index entry it was found by, its hash must match the entry's.
    #[wasm_bindgen(js_name = loadCheckpoint, unchecked_return_type = "CheckpointInfo")]
    pub fn load_checkpoint(
        &mut self,
        bytes: &[u8],
        #[wasm_bindgen(unchecked_param_type = "IndexEntry | null")] entry: Option<JsValue>,
    ) -> Result<JsValue, JsError> {
        let c = self.s.load_checkpoint(bytes).map_err(err)?;
        let hash = c.hash.clone();
        let info = CheckpointInfo {
            model: c.meta.model.clone(),
            sigma: c.meta.sigma,
            hash: c.hash.clone(),
            epochs: c.meta.epochs,
            test_accuracy: c.meta.test_accuracy,
            parsed: ParsedConfig::of(self.s.cfg(), Vec::new()),
        };
        if let Some(e) = entry.filter(|e| !e.is_null() && !e.is_undefined()) {
            let e: IndexEntry = from_js("entry", e, "a models/index.json entry or null")?;
            e.check_hash(&hash).map_err(err)?;
        }
        to_js(&info)
    }

    /// The current model as a checkpoint file.
    #[wasm_bindgen(js_name = saveCheckpoint)]
    pub fn save_checkpoint(&self) -> Uint8Array {
        Uint8Array::from(&self.s.save_checkpoint()[..])
    }

    /// Clean accuracy and confusion matrix of the FP32 model on the test split.
    #[wasm_bindgen(unchecked_return_type = "Evaluation")]
    pub fn evaluate(&self) -> Result<JsValue, JsError> {
        to_js(&self.s.evaluate())
    }

    /// One test digit (`test_index` in the test split) under `k` noise draws per sigma of `sigmas`,
    /// with the base classifier's classes, votes and per-row certificates; with `quantized`, the
    /// classes come from the integer model of the last quick read-out.
    #[wasm_bindgen(js_name = noiseSamples, unchecked_return_type = "NoiseResult")]
    pub fn noise_samples(
        &mut self,
        test_index: u32,
        sigmas: &[f32],
        k: u32,
        quantized: Option<bool>,
    ) -> Result<JsValue, JsError> {
        let ns = self
            .s
            .noise_samples(
                test_index as usize,
                sigmas,
                k as usize,
                quantized.unwrap_or(false),
            )
            .map_err(err)?;
        let v = NoiseResult {
            label: ns.label,
            clean: Float32Array::from(&ns.clean[..]),
            images: Float32Array::from(&ns.images[..]),
            preds: Uint8Array::from(&ns.preds[..]),
            votes: Uint32Array::from(&ns.votes[..]),
            alpha: ns.alpha,
            certificates: ns.certificates,
        };
        let arrays: [(&str, &JsValue); 4] = [
            ("clean", &v.clean),
            ("images", &v.images),
            ("preds", &v.preds),
            ("votes", &v.votes),
        ];
        to_js_typed(&v, &arrays)
    }

    /// Logits for `batch` flat 28x28 inputs in [0,1]: Float32Array of batch*10, from the FP32
    /// model or, with `quantized`, the integer model of the last read-out.
    pub fn logits(
        &mut self,
        x: &[f32],
        batch: u32,
        quantized: Option<bool>,
    ) -> Result<Float32Array, JsError> {
        let il = self.s.model().input_len();
        // checked: on wasm32 a huge batch times the input size would wrap around
        if batch == 0 || (batch as usize).checked_mul(il) != Some(x.len()) {
            return Err(err(crate::Error::invalid(
                "x",
                format!("{} values", x.len()),
                "input size does not match batch",
                format!("batch * {il} values, batch >= 1"),
            )));
        }
        let out = if quantized.unwrap_or(false) {
            self.s.quantized_logits(x, batch as usize).map_err(err)?
        } else {
            self.s.model().forward(x, batch as usize)
        };
        Ok(Float32Array::from(&out[..]))
    }

    /// Test hook: panics inside wasm, so the page's recovery path (re-create the Engine,
    /// keep the page usable) can be exercised by the browser tests.
    #[wasm_bindgen(js_name = debugPanic)]
    pub fn debug_panic(&self) {
        panic!("debugPanic: deliberate panic requested by a test");
    }

    // ---- quantization (docs/wasm-api.md, "Quantization") ----

    /// The quantizable layers (the bit editor's columns), each with its share of the MACs.
    #[wasm_bindgen(js_name = quantLayers, unchecked_return_type = "QuantLayer[]")]
    pub fn quant_layers(&self) -> Result<JsValue, JsError> {
        let ql = crate::quant::quant_layers(self.s.model());
        let total: u64 = ql.iter().map(|q| q.macs).sum();
        let rows: Vec<QuantLayer> = ql
            .iter()
            .map(|q| QuantLayer {
                name: q.name.clone(),
                kind: q.kind,
                macs: q.macs,
                weights: q.weights,
                in_shape: q.in_shape,
                out_shape: q.out_shape,
                mac_share: q.macs as f64 / total.max(1) as f64,
            })
            .collect();
        to_js(&rows)
    }

    /// The config's policy and its cost.
    #[wasm_bindgen(unchecked_return_type = "PolicyInfo")]
    pub fn policy(&self) -> Result<JsValue, JsError> {
        to_js(&self.s.policy_info().map_err(err)?)
    }

    /// Sets the policy from its URL text forms; returns it with the config afterwards.
    #[wasm_bindgen(js_name = setPolicy, unchecked_return_type = "PolicyUpdate")]
    pub fn set_policy(&mut self, wb: &str, ab: &str, lk: &str) -> Result<JsValue, JsError> {
        let p = self.s.set_policy(wb, ab, lk);
        self.policy_update(p)
    }

    /// One of `presets()` (locked layers keep their bits), with the config afterwards.
    #[wasm_bindgen(js_name = applyPreset, unchecked_return_type = "PolicyUpdate")]
    pub fn apply_preset(&mut self, name: &str) -> Result<JsValue, JsError> {
        let p = self.s.apply_preset(name);
        self.policy_update(p)
    }

    /// HAQ's budget walk on the config's policy, with the config afterwards.
    #[wasm_bindgen(js_name = enforceBudget, unchecked_return_type = "PolicyUpdate")]
    pub fn enforce_budget(&mut self) -> Result<JsValue, JsError> {
        let p = self.s.enforce_budget();
        self.policy_update(p)
    }

    /// The weights of quantizable layer `j` and their quantization grid under the policy.
    #[wasm_bindgen(js_name = layerHistogram, unchecked_return_type = "LayerHistogram")]
    pub fn layer_histogram(&self, j: u32) -> Result<JsValue, JsError> {
        let h = self.s.layer_histogram(j as usize).map_err(err)?;
        let v = LayerHistogram {
            name: h.name,
            weights: Float32Array::from(&h.weights[..]),
            thresholds: Float32Array::from(&h.thresholds[..]),
            bits: h.bits,
            levels: h.levels,
            clipped: h.clipped,
        };
        to_js_typed(
            &v,
            &[("weights", &v.weights), ("thresholds", &v.thresholds)],
        )
    }

    // ---- search and the final comparison (docs/wasm-api.md, "Search") ----

    // ---- long jobs (docs/wasm-api.md, "Jobs"): one shape for training, certification, the
    // quick read-out, the searches and the final comparison ----

    /// Start a long job, replacing any job of the same kind (a paused search survives other
    /// kinds' jobs). The first step of its work follows with `step`.
    #[wasm_bindgen(unchecked_return_type = "JobStep")]
    pub fn begin(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "JobSpec")] spec: JsValue,
    ) -> Result<JsValue, JsError> {
        let spec: JobSpec = from_js("spec", spec, "{kind: 'train'} or {kind: 'certify', part?: {index, count}, points?: 'report' | 'search'} or {kind: 'compare', part?: {index, count}, rows?: CompareRowSpec[]} or {kind: 'quantEval', fresh: boolean} or {kind: 'search', method: 'arq' | 'haq' | 'random'} or {kind: 'sensitivity', bits: 2..8, side?: 'w' | 'a' | 'both'}")?;
        to_js(&self.s.begin(spec).map_err(err)?)
    }

    /// Advance the job of `kind` by about `budget` work units (training: mini-batches; the
    /// rest: noisy forward samples).
    #[wasm_bindgen(unchecked_return_type = "JobStep")]
    pub fn step(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "JobKind")] kind: JsValue,
        budget: u32,
    ) -> Result<JsValue, JsError> {
        let kind = job_kind(kind)?;
        if budget == 0 {
            return Err(err(crate::Error::invalid(
                "budget",
                0,
                "out of range",
                "1..=4294967295 work units",
            )));
        }
        to_js(&self.s.step(kind, budget as u64, &mut clock).map_err(err)?)
    }

    /// Preprocess a gray raster (`width * height` bytes) and start certifying it under FP32
    /// and the config's quantized policy, replacing any digit job; step it as kind `'digit'`.
    #[wasm_bindgen(js_name = beginDigit, unchecked_return_type = "JobStep")]
    pub fn begin_digit(
        &mut self,
        gray: &[u8],
        width: u32,
        height: u32,
    ) -> Result<JsValue, JsError> {
        let st = self
            .s
            .begin_digit(gray, width as usize, height as usize)
            .map_err(err)?;
        to_js(&st)
    }

    /// Drop the job of `kind` (what it finished stays); a later `step` of that kind is an
    /// error until the next `begin`.
    pub fn cancel(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "JobKind")] kind: JsValue,
    ) -> Result<(), JsError> {
        self.s.cancel(job_kind(kind)?);
        Ok(())
    }

    // ---- a pool of workers (docs/wasm-api.md, "A pool of workers") ----

    /// The summary of certification records of the reported points (taken in point order),
    /// computed as the certify job does: the summary of a sharded run's merged records.
    #[wasm_bindgen(js_name = certifySummary, unchecked_return_type = "Summary")]
    pub fn certify_summary(
        &self,
        #[wasm_bindgen(unchecked_param_type = "CertRecord[]")] records: JsValue,
    ) -> Result<JsValue, JsError> {
        // exact f64s: JSON.stringify's shortest digits, read back by serde_json with
        // float_roundtrip (one deserializer per type in the module, see from_js)
        let records: Vec<crate::certify::CertRecord> =
            from_js("records", records, "an array of CertRecord")?;
        to_js(&self.s.certify_summary(&records))
    }

    /// The last finished part of a sharded certification (`{kind: 'certify', part}`), as
    /// bytes for `importCertifyParts` in the worker that assembles the whole reference.
    #[wasm_bindgen(js_name = exportCertifyPart)]
    pub fn export_certify_part(&self) -> Result<Uint8Array, JsError> {
        let b = self.s.export_certify_part().map_err(err)?;
        Ok(Uint8Array::from(&b[..]))
    }

    /// Assembles the whole FP32 reference of the reported points from this engine's own
    /// finished part and the others' `exportCertifyPart()` bytes (same weights and config):
    /// the reference an unsharded run leaves. Returns the merged records and their summary.
    #[wasm_bindgen(js_name = importCertifyParts, unchecked_return_type = "CertifyStep")]
    pub fn import_certify_parts(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array[]")] parts: Vec<Uint8Array>,
    ) -> Result<JsValue, JsError> {
        let parts: Vec<Vec<u8>> = parts.iter().map(Uint8Array::to_vec).collect();
        to_js(&self.s.import_certify_parts(&parts).map_err(err)?)
    }

    /// Whether the engine holds the FP32 reference of `points` ('report' or 'search') for the
    /// current weights and config (a read-out or search then starts without certifying FP32).
    #[wasm_bindgen(js_name = hasReference)]
    pub fn has_reference(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Points")] points: JsValue,
    ) -> Result<bool, JsError> {
        let points = from_js("points", points, "'report', 'search' or 'final'")?;
        Ok(self.s.has_reference(points))
    }

    /// Splits the IRS phase of the running read-out (`'quantEval'`) or search episode
    /// (`'search'`) over `count` workers: this engine goes on with part 0; returns the tasks
    /// of parts 1..count for `beginIrsPart` in engines with the same weights and config.
    /// `count` 1 makes a split phase whole again.
    #[wasm_bindgen(js_name = splitIrs, unchecked_return_type = "Uint8Array[]")]
    pub fn split_irs(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "JobKind")] kind: JsValue,
        count: u32,
    ) -> Result<js_sys::Array, JsError> {
        let kind = job_kind(kind)?;
        let tasks = self.s.split_irs(kind, count).map_err(err)?;
        Ok(tasks.iter().map(|t| Uint8Array::from(&t[..])).collect())
    }

    /// Hands the other parts' `exportIrsPart()` bytes to the split IRS phase of `kind`.
    #[wasm_bindgen(js_name = mergeIrs)]
    pub fn merge_irs(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "JobKind")] kind: JsValue,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array[]")] parts: Vec<Uint8Array>,
    ) -> Result<(), JsError> {
        let kind = job_kind(kind)?;
        let parts: Vec<Vec<u8>> = parts.iter().map(Uint8Array::to_vec).collect();
        self.s.merge_irs(kind, &parts).map_err(err)
    }

    /// Starts certifying one part of another engine's split IRS phase (`task`: one of its
    /// `splitIrs` tasks); step it as kind `'irsPart'`.
    #[wasm_bindgen(js_name = beginIrsPart, unchecked_return_type = "JobStep")]
    pub fn begin_irs_part(&mut self, task: &[u8]) -> Result<JsValue, JsError> {
        to_js(&self.s.begin_irs_part(task).map_err(err)?)
    }

    /// The last finished IRS part, as bytes for `mergeIrs` in the engine that split.
    #[wasm_bindgen(js_name = exportIrsPart)]
    pub fn export_irs_part(&self) -> Result<Uint8Array, JsError> {
        let b = self.s.export_irs_part().map_err(err)?;
        Ok(Uint8Array::from(&b[..]))
    }

    /// The final table's rows in table order (FP32, the best uniform policy within the
    /// budget, each finished search's best), to hand to the pool's other workers as
    /// `{kind: 'compare', part, rows}`.
    #[wasm_bindgen(js_name = compareRows, unchecked_return_type = "CompareRowSpec[]")]
    pub fn compare_rows(&self) -> Result<JsValue, JsError> {
        to_js(&self.s.compare_rows().map_err(err)?)
    }

    /// Paired bootstrap intervals of a final table's differences with FP32 and ARQ (the rows
    /// in table order, as a compare job or the pool's merge hands them out), from the
    /// config's seed: the numbers `arq run` prints.
    #[wasm_bindgen(js_name = compareSignificance, unchecked_return_type = "TableSignificance")]
    pub fn compare_significance(
        &self,
        #[wasm_bindgen(unchecked_param_type = "CompareRow[]")] rows: JsValue,
    ) -> Result<JsValue, JsError> {
        // exact f64s: JSON.stringify's shortest digits, read back by serde_json with
        // float_roundtrip (one deserializer per type in the module, see from_js)
        let rows: Vec<crate::pipeline::compare::CompareRow> = from_js(
            "rows",
            rows,
            "an array of CompareRow (the final table's rows)",
        )?;
        let sig = crate::pipeline::significance::table_significance(&rows, self.s.cfg().seed);
        to_js(&sig.map_err(err)?)
    }

    /// History, Pareto set and best of the running (or last finished) search; null before any.
    #[wasm_bindgen(js_name = searchState, unchecked_return_type = "SearchState | null")]
    pub fn search_state(&self) -> Result<JsValue, JsError> {
        to_js(&self.s.search_state())
    }
}

/// A typed argument from JS; a value of the wrong shape is an error naming the parameter,
/// what was given and what is allowed.
fn from_js<T: serde::de::DeserializeOwned>(
    name: &str,
    v: JsValue,
    allowed: &str,
) -> Result<T, JsError> {
    // Through JSON text and serde_json, which the core links anyway (checkpoint headers, the
    // models index, certification parts): one deserializer per type keeps the module small.
    let text = js_sys::JSON::stringify(&v).ok().and_then(|s| s.as_string());
    let bad = |shown: String, why: &str| err(crate::Error::invalid(name, shown, why, allowed));
    match text {
        Some(t) => serde_json::from_str(&t).map_err(|e| bad(t.clone(), &e.to_string())),
        None => Err(bad(format!("{v:?}"), "not a JSON value")),
    }
}

fn job_kind(v: JsValue) -> Result<JobKind, JsError> {
    from_js(
        "kind",
        v,
        "one of train, certify, quantEval, search, compare, sensitivity, irsPart, digit",
    )
}

/// Microseconds since the epoch from the JS clock (the core never reads a clock itself).
fn clock() -> u64 {
    (js_sys::Date::now() * 1000.0) as u64
}
