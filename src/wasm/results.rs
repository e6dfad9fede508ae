//! Bindings of src/results: the page's side of results that travel with a link (docs/wasm-api.md,
//! "Results in the link"). The page deflates / inflates and base64url-codes the bytes
//! (CompressionStream, to keep a compressor out of this module); every payload is validated here.

use super::{err, from_js, to_js, to_js_typed, typed_slot};
use crate::results::{verify, Bundle, ResultInput, Shared};
use js_sys::Uint8Array;
use serde::Serialize;
use tsify::Tsify;
use wasm_bindgen::prelude::*;

/// Validated shared results: their digest and their JSON (the bytes the link deflates; the
/// page parses them as a `Shared`, which keeps a second serializer of it out of this module).
#[derive(Serialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub struct SharedEncoded {
    /// SHA-256 (hex) of the whole result set.
    digest: String,
    /// The `Shared` summary as JSON.
    #[serde(serialize_with = "typed_slot")]
    #[tsify(type = "Uint8Array")]
    json: Uint8Array,
}

fn encoded(shared: Shared) -> Result<JsValue, JsError> {
    let json = Uint8Array::from(shared.to_bytes().as_slice());
    let v = SharedEncoded {
        digest: shared.digest(),
        json,
    };
    to_js_typed(&v, &[("json", &v.json)])
}

const INPUT: &str = "{certify?: CertRecord[], searches: {method, episodes: EpisodeRecord[]}[], table?: CompareRow[]}";

/// The shared summary of finished jobs computed with `fragment` from `checkpoint`.
#[wasm_bindgen(js_name = sharedResults, unchecked_return_type = "SharedEncoded")]
pub fn shared_results(
    #[wasm_bindgen(unchecked_param_type = "ResultInput")] input: JsValue,
    fragment: &str,
    checkpoint: Option<String>,
) -> Result<JsValue, JsError> {
    let input: ResultInput = from_js("input", input, INPUT)?;
    encoded(Shared::build(&input, fragment, checkpoint.as_deref()).map_err(err)?)
}

/// Reads the inflated `r=` bytes of a link whose settings part is `settings` and `eng=` is
/// `engine`: validated field by field, and refused unless they belong to those settings.
#[wasm_bindgen(js_name = readSharedResults, unchecked_return_type = "SharedEncoded")]
pub fn read_shared_results(
    bytes: &[u8],
    settings: &str,
    engine: Option<String>,
) -> Result<JsValue, JsError> {
    let shared = Shared::from_bytes(bytes).map_err(err)?;
    shared
        .check_link(settings, engine.as_deref())
        .map_err(err)?;
    encoded(shared)
}

/// Compares a replay's summary with the shared one (both re-validated).
#[wasm_bindgen(js_name = verifyResults, unchecked_return_type = "Verdict")]
pub fn verify_results(
    #[wasm_bindgen(unchecked_param_type = "Shared")] shared: JsValue,
    #[wasm_bindgen(unchecked_param_type = "Shared")] replay: JsValue,
) -> Result<JsValue, JsError> {
    let shared: Shared = from_js("shared", shared, "shared results")?;
    let replay: Shared = from_js("replay", replay, "shared results")?;
    shared.validate().map_err(err)?;
    replay.validate().map_err(err)?;
    to_js(&verify(&shared, &replay, None))
}

/// The `.arq.json` text of finished jobs.
#[wasm_bindgen(js_name = writeBundle)]
pub fn write_bundle(
    #[wasm_bindgen(unchecked_param_type = "ResultInput")] input: JsValue,
    fragment: &str,
    checkpoint: Option<String>,
) -> Result<String, JsError> {
    let input: ResultInput = from_js("input", input, INPUT)?;
    Ok(Bundle::build(&input, fragment, checkpoint.as_deref())
        .map_err(err)?
        .0
        .to_json())
}

/// Reads an `.arq.json` bundle (every digest checked against its records): its shared summary.
#[wasm_bindgen(js_name = readBundle, unchecked_return_type = "SharedEncoded")]
pub fn read_bundle(text: &str) -> Result<JsValue, JsError> {
    encoded(Bundle::read(text).map_err(err)?.1)
}
