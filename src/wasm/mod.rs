//! wasm-bindgen bindings: thin wrappers over `experiment::Session`. Long-lived state stays in
//! Rust behind the opaque `Engine` handle; JS drives long work in small steps. Every failure
//! becomes a JS `Error` with the core's message (field, value, allowed range); a Rust panic
//! is reported by console_error_panic_hook and the worker then re-creates the Engine.
//! API reference: docs/wasm-api.md.

use crate::config::{ExperimentConfig, Kind, SCHEMA};
use crate::data::Split;
use crate::experiment::Session;
use js_sys::{Float32Array, Object, Reflect, Uint8Array};
use serde::Serialize;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

fn to_js<T: Serialize + ?Sized>(v: &T) -> Result<JsValue, JsError> {
    v.serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| JsError::new(&format!("internal: cannot convert result: {e}")))
}

fn err(e: crate::Error) -> JsError {
    JsError::new(&e.to_string())
}

fn set(obj: &Object, key: &str, v: impl Into<JsValue>) {
    // Reflect::set on a plain fresh object cannot fail.
    let _ = Reflect::set(obj, &JsValue::from_str(key), &v.into());
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FieldJs {
    key: &'static str,
    group: &'static str,
    #[serde(flatten)]
    kind: Kind,
    default: String,
    help: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Parsed {
    config: ExperimentConfig,
    /// Every setting by its URL key, as text (defaults included).
    values: std::collections::BTreeMap<&'static str, String>,
    fragment: String,
    notices: Vec<String>,
}

fn parse_lenient(fragment: &str) -> (ExperimentConfig, Parsed) {
    let (mut cfg, mut notes) = ExperimentConfig::from_fragment_lenient(fragment);
    // bit/lock lists that do not fit the config's model are dropped like any bad value
    notes.extend(crate::experiment::drop_unfit_policy(&mut cfg));
    let p = Parsed {
        config: cfg.clone(),
        values: SCHEMA.iter().map(|f| (f.key, (f.get)(&cfg))).collect(),
        fragment: cfg.to_fragment(),
        notices: notes
            .iter()
            .map(|e| format!("{e}; using the default"))
            .collect(),
    };
    (cfg, p)
}

#[wasm_bindgen]
pub fn version() -> String {
    crate::VERSION.to_string()
}

/// The config schema (drives the settings form, the URL and the CLI flags).
#[wasm_bindgen]
pub fn schema() -> Result<JsValue, JsError> {
    let d = ExperimentConfig::default();
    let rows: Vec<FieldJs> = SCHEMA
        .iter()
        .map(|f| FieldJs {
            key: f.key,
            group: f.group,
            kind: f.kind,
            default: (f.get)(&d),
            help: f.help,
        })
        .collect();
    to_js(&rows)
}

/// Lenient parse of a URL fragment: {config, fragment (canonical), notices}.
#[wasm_bindgen(js_name = parseFragment)]
pub fn parse_fragment(fragment: &str) -> Result<JsValue, JsError> {
    to_js(&parse_lenient(fragment).1)
}

/// The certificate of a top-class count: {pLower, radius} with radius null for abstain
/// (Clopper-Pearson lower bound at 1 - alpha; R = sigma * PhiInv(pLower)).
#[wasm_bindgen]
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
    let p = crate::certify::stats::cp_lower(count as u64, n as u64, alpha);
    let o = Object::new();
    set(&o, "pLower", p);
    set(
        &o,
        "radius",
        crate::certify::stats::radius(sigma, p)
            .map(JsValue::from_f64)
            .unwrap_or(JsValue::NULL),
    );
    Ok(o.into())
}

#[wasm_bindgen]
pub struct Engine {
    s: Session,
}

#[wasm_bindgen]
impl Engine {
    /// `dataset`: the bytes of data/mnist10k.u8 (verified by size and SHA-256).
    #[wasm_bindgen(constructor)]
    pub fn new(dataset: &[u8]) -> Result<Engine, JsError> {
        let s = Session::new(ExperimentConfig::default(), Some(dataset)).map_err(err)?;
        Ok(Engine { s })
    }

    #[wasm_bindgen(js_name = setConfig)]
    pub fn set_config(&mut self, fragment: &str) -> Result<JsValue, JsError> {
        let (cfg, parsed) = parse_lenient(fragment);
        self.s.set_config(cfg).map_err(err)?;
        to_js(&parsed)
    }

    pub fn config(&self) -> Result<JsValue, JsError> {
        to_js(&self.s.cfg)
    }

    #[wasm_bindgen(js_name = datasetInfo)]
    pub fn dataset_info(&self) -> JsValue {
        let o = Object::new();
        let d = &self.s.data;
        set(&o, "name", d.name.as_str());
        set(&o, "count", d.len() as u32);
        set(&o, "train", d.train_count as u32);
        set(&o, "test", d.test_count() as u32);
        set(&o, "rows", d.rows as u32);
        set(&o, "cols", d.cols as u32);
        o.into()
    }

    /// `count` digits of a split from `start`: {pixels: Uint8Array, labels: Uint8Array}.
    pub fn samples(&self, split: &str, start: u32, count: u32) -> Result<JsValue, JsError> {
        let split = Split::parse(split).map_err(err)?;
        let d = &self.s.data;
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
        let o = Object::new();
        set(&o, "pixels", Uint8Array::from(&px[..]));
        set(&o, "labels", Uint8Array::from(&labels[..]));
        Ok(o.into())
    }

    #[wasm_bindgen(js_name = modelInfo)]
    pub fn model_info(&self) -> Result<JsValue, JsError> {
        let info = self.s.model.info();
        let o: Object = to_js(&info)?.into();
        set(&o, "sigma", self.s.cfg.sigma);
        set(&o, "trained", self.s.epochs_trained > 0);
        set(&o, "epochs", self.s.epochs_trained);
        set(
            &o,
            "checkpointHash",
            self.s
                .checkpoint
                .as_ref()
                .map(|c| JsValue::from_str(&c.hash))
                .unwrap_or(JsValue::NULL),
        );
        Ok(o.into())
    }

    #[wasm_bindgen(js_name = loadCheckpoint)]
    pub fn load_checkpoint(&mut self, bytes: &[u8]) -> Result<JsValue, JsError> {
        let c = self.s.load_checkpoint(bytes).map_err(err)?;
        let o = Object::new();
        set(&o, "model", c.meta.model.as_str());
        set(&o, "sigma", c.meta.sigma);
        set(&o, "hash", c.hash.as_str());
        set(&o, "epochs", c.meta.epochs);
        set(&o, "testAccuracy", c.meta.test_accuracy);
        set(&o, "fragment", self.s.cfg.to_fragment());
        Ok(o.into())
    }

    #[wasm_bindgen(js_name = saveCheckpoint)]
    pub fn save_checkpoint(&self) -> Uint8Array {
        Uint8Array::from(&self.s.save_checkpoint()[..])
    }

    #[wasm_bindgen(js_name = trainBegin)]
    pub fn train_begin(&mut self) -> Result<JsValue, JsError> {
        let p = self.s.train_begin().map_err(err)?;
        let o = Object::new();
        set(&o, "epochs", self.s.cfg.epochs);
        set(&o, "batchesPerEpoch", p.batches_per_epoch as u32);
        set(&o, "totalBatches", p.total_batches as u32);
        Ok(o.into())
    }

    #[wasm_bindgen(js_name = trainStep)]
    pub fn train_step(&mut self, max_batches: u32) -> Result<JsValue, JsError> {
        if max_batches == 0 || max_batches > 10_000 {
            return Err(err(crate::Error::invalid(
                "maxBatches",
                max_batches,
                "out of range",
                "1..=10000",
            )));
        }
        let p = self.s.train_step(max_batches as usize).map_err(err)?;
        to_js(&p)
    }

    pub fn evaluate(&self) -> Result<JsValue, JsError> {
        to_js(&self.s.evaluate())
    }

    #[wasm_bindgen(js_name = noiseSamples)]
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
        let o = Object::new();
        set(&o, "label", ns.label);
        set(&o, "clean", Float32Array::from(&ns.clean[..]));
        set(&o, "images", Float32Array::from(&ns.images[..]));
        set(&o, "preds", Uint8Array::from(&ns.preds[..]));
        // votes: rows x classes counts of the base classifier's predictions
        let classes = self.s.model.classes;
        let mut votes = vec![0u32; sigmas.len() * classes];
        for (i, &p) in ns.preds.iter().enumerate() {
            votes[(i / k as usize) * classes + p as usize] += 1;
        }
        set(&o, "votes", js_sys::Uint32Array::from(&votes[..]));
        Ok(o.into())
    }

    /// Start certifying the current model on the configured test points:
    /// {examplesDone, examplesTotal, samplesDone, samplesTotal}.
    #[wasm_bindgen(js_name = certifyBegin)]
    pub fn certify_begin(&mut self) -> Result<JsValue, JsError> {
        to_js(&self.s.certify_begin().map_err(err)?)
    }

    /// Up to `maxSamples` noisy forward passes: {records, progress, done, summary}.
    #[wasm_bindgen(js_name = certifyStep)]
    pub fn certify_step(&mut self, max_samples: u32) -> Result<JsValue, JsError> {
        if max_samples == 0 {
            return Err(err(crate::Error::invalid(
                "maxSamples",
                0,
                "out of range",
                "1..=4294967295",
            )));
        }
        let mut clock = || (js_sys::Date::now() * 1000.0) as u64;
        to_js(
            &self
                .s
                .certify_step(max_samples as u64, &mut clock)
                .map_err(err)?,
        )
    }

    /// Logits for `batch` flat 28x28 inputs in [0,1]: Float32Array of batch*10, from the FP32
    /// model or, with `quantized`, the integer model of the last read-out.
    pub fn logits(
        &mut self,
        x: &[f32],
        batch: u32,
        quantized: Option<bool>,
    ) -> Result<Float32Array, JsError> {
        let il = self.s.model.input_len();
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
            self.s.model.forward(x, batch as usize)
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

    #[wasm_bindgen(js_name = quantLayers)]
    pub fn quant_layers(&self) -> Result<JsValue, JsError> {
        let ql = crate::quant::quant_layers(&self.s.model);
        let total: u64 = ql.iter().map(|q| q.macs).sum();
        let rows: Vec<serde_json::Value> = ql
            .iter()
            .map(|q| serde_json::json!({"name": q.name, "kind": q.kind, "macs": q.macs, "weights": q.weights, "inShape": q.in_shape, "outShape": q.out_shape, "macShare": q.macs as f64 / total.max(1) as f64}))
            .collect();
        to_js(&rows)
    }

    pub fn policy(&self) -> Result<JsValue, JsError> {
        to_js(&self.s.policy_info().map_err(err)?)
    }

    #[wasm_bindgen(js_name = setPolicy)]
    pub fn set_policy(&mut self, wb: &str, ab: &str, lk: &str) -> Result<JsValue, JsError> {
        to_js(&self.s.set_policy(wb, ab, lk).map_err(err)?)
    }

    #[wasm_bindgen(js_name = applyPreset)]
    pub fn apply_preset(&mut self, name: &str) -> Result<JsValue, JsError> {
        to_js(&self.s.apply_preset(name).map_err(err)?)
    }

    #[wasm_bindgen(js_name = enforceBudget)]
    pub fn enforce_budget(&mut self) -> Result<JsValue, JsError> {
        to_js(&self.s.enforce_budget().map_err(err)?)
    }

    #[wasm_bindgen(js_name = layerHistogram)]
    pub fn layer_histogram(&self, j: u32) -> Result<JsValue, JsError> {
        let h = self.s.layer_histogram(j as usize).map_err(err)?;
        let o = Object::new();
        set(&o, "name", h.name.as_str());
        set(&o, "weights", Float32Array::from(&h.weights[..]));
        set(&o, "thresholds", Float32Array::from(&h.thresholds[..]));
        set(&o, "bits", h.bits);
        set(&o, "levels", h.levels);
        set(&o, "clipped", h.clipped as u32);
        Ok(o.into())
    }

    #[wasm_bindgen(js_name = quantEvalBegin)]
    pub fn quant_eval_begin(&mut self) -> Result<JsValue, JsError> {
        to_js(&self.s.quant_eval_begin(false).map_err(err)?)
    }

    #[wasm_bindgen(js_name = quantEvalStep)]
    pub fn quant_eval_step(&mut self, max_work: u32) -> Result<JsValue, JsError> {
        to_js(
            &self
                .s
                .quant_eval_step(max_work.max(1) as u64, &mut clock)
                .map_err(err)?,
        )
    }

    // ---- search and the final comparison (docs/wasm-api.md, "Search") ----

    #[wasm_bindgen(js_name = searchBegin)]
    pub fn search_begin(&mut self, method: &str) -> Result<JsValue, JsError> {
        to_js(&self.s.search_begin(method).map_err(err)?)
    }

    #[wasm_bindgen(js_name = searchStep)]
    pub fn search_step(&mut self, max_work: u32) -> Result<JsValue, JsError> {
        to_js(
            &self
                .s
                .search_step(max_work.max(1) as u64, &mut clock)
                .map_err(err)?,
        )
    }

    #[wasm_bindgen(js_name = searchState)]
    pub fn search_state(&self) -> Result<JsValue, JsError> {
        to_js(&self.s.search_state())
    }

    #[wasm_bindgen(js_name = compareBegin)]
    pub fn compare_begin(&mut self) -> Result<JsValue, JsError> {
        to_js(&self.s.compare_begin().map_err(err)?)
    }

    #[wasm_bindgen(js_name = compareStep)]
    pub fn compare_step(&mut self, max_work: u32) -> Result<JsValue, JsError> {
        to_js(
            &self
                .s
                .compare_step(max_work.max(1) as u64, &mut clock)
                .map_err(err)?,
        )
    }
}

/// Microseconds since the epoch from the JS clock (the core never reads a clock itself).
fn clock() -> u64 {
    (js_sys::Date::now() * 1000.0) as u64
}
