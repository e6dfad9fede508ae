//! Checkpoint format, version 1 (all little-endian):
//!
//! ```text
//! 0   8  magic "ARQCKPT\0"
//! 8   4  u32 format version (1)
//! 12  4  u32 header length H
//! 16  H  header, UTF-8 JSON: {model, sigma, seed, epochs, testAccuracy, params, engine, fragment}
//! ..  4P parameters, f32, in layer order (weight then bias per layer), P = header.params
//! ..  32 SHA-256 of every byte before it
//! ```
//!
//! The loader checks magic, version, sizes, the architecture's parameter count and the hash,
//! so a wrong, truncated or corrupted file is a clear error. Shipped files are named
//! `<model>-s<sigma>-<first 12 hex digits of the hash>.arqc` (content-addressed).

use super::model::Model;
use crate::data::hex;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub(crate) const MAGIC: &[u8; 8] = b"ARQCKPT\0";
pub(crate) const VERSION: u32 = 1;

/// The noise levels a checkpoint may carry, which are the `sigma` setting's range (the
/// session adopts a loaded checkpoint's sigma).
pub(crate) const SIGMA_MIN: f64 = 0.01;
pub(crate) const SIGMA_MAX: f64 = 2.0;

/// The checkpoint header (JSON): what the weights are and how they were trained.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CheckpointMeta {
    /// The architecture's word (`lenet`, `cnn3`, `resnet`).
    pub model: String,
    /// The noise level trained at, in `SIGMA_MIN..=SIGMA_MAX` (0.01..=2); the session adopts it.
    pub sigma: f64,
    /// The master seed of the training run.
    pub seed: u64,
    /// Training epochs run.
    pub epochs: u32,
    /// Clean accuracy on the test digits, a fraction in [0, 1].
    pub test_accuracy: f32,
    /// Number of f32 parameters stored after the header; must be the architecture's count.
    pub params: usize,
    /// The engine version ([`crate::VERSION`]) that wrote the file.
    pub engine: String,
    /// The experiment fragment that produced it (reproduce with `arq train --url`).
    pub fragment: String,
}

/// A checkpoint that passed every check of [`load`].
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadedCheckpoint {
    /// Its header.
    pub meta: CheckpointMeta,
    /// Full SHA-256 hex of the file body.
    pub hash: String,
}

/// Serialise `model` with header `meta` into the checkpoint format (module docs), ending in
/// the SHA-256 of everything before it.
pub fn save(model: &Model, meta: &CheckpointMeta) -> Vec<u8> {
    let header = serde_json::to_vec(meta).expect("meta serialises");
    let params = model.params_flat();
    let mut out = Vec::with_capacity(16 + header.len() + params.len() * 4 + 32);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    out.extend_from_slice(&header);
    for p in params {
        out.extend_from_slice(&p.to_le_bytes());
    }
    let digest = Sha256::digest(&out);
    out.extend_from_slice(&digest);
    out
}

/// Short content hash used in file names: the first 12 hex digits of the trailing SHA-256
/// (fewer when the input is shorter than 6 bytes).
pub fn short_hash(bytes: &[u8]) -> String {
    let n = bytes.len().saturating_sub(32);
    let tail = &bytes[n..];
    hex(&tail[..tail.len().min(6)])
}

/// Parse, verify and build the model a checkpoint describes.
pub fn load(bytes: &[u8]) -> Result<(Model, LoadedCheckpoint)> {
    let bad = |r: String| Error::bad_file("checkpoint", r);
    if bytes.len() < 16 + 32 || &bytes[..8] != MAGIC {
        return Err(bad(
            "not an ARQ checkpoint (bad magic or shorter than 48 bytes)".into(),
        ));
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if version != VERSION {
        return Err(bad(format!(
            "format version {version}, this engine reads version {VERSION}"
        )));
    }
    let body = &bytes[..bytes.len() - 32];
    let digest = Sha256::digest(body);
    if digest.as_slice() != &bytes[bytes.len() - 32..] {
        return Err(bad(
            "content hash mismatch: the file is truncated or corrupted".into(),
        ));
    }
    let hlen = u32::from_le_bytes(bytes[12..16].try_into().expect("4 bytes")) as usize;
    // body.len() >= 16 (checked above); no `16 + hlen`, which wraps a 32-bit usize
    if hlen > body.len() - 16 {
        return Err(bad(format!(
            "header length {hlen} exceeds the file ({} bytes after the fixed header)",
            body.len() - 16
        )));
    }
    // as text, through the one serde_json reader the engine links (its other JSON is text)
    let meta: CheckpointMeta = std::str::from_utf8(&bytes[16..16 + hlen])
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str(t).map_err(|e| e.to_string()))
        .map_err(|e| bad(format!("bad header: {e}")))?;
    // the session adopts the checkpoint's sigma, so it must be a valid `sigma` setting
    if !(SIGMA_MIN..=SIGMA_MAX).contains(&meta.sigma) {
        let e = Error::invalid(
            "sigma",
            meta.sigma,
            "out of range",
            format!("a number {SIGMA_MIN}..={SIGMA_MAX}"),
        );
        return Err(bad(format!("bad header: {e}")));
    }
    let pbytes = &body[16 + hlen..];
    if meta.params.checked_mul(4) != Some(pbytes.len()) {
        return Err(bad(format!(
            "{} parameter bytes, header says {} parameters",
            pbytes.len(),
            meta.params
        )));
    }
    let mut model = Model::zoo(&meta.model, 0).map_err(|e| bad(e.to_string()))?;
    let params: Vec<f32> = pbytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
        .collect();
    if let Some(i) = params.iter().position(|p| !p.is_finite()) {
        return Err(bad(format!(
            "parameter {i} is {}; allowed: finite numbers",
            params[i]
        )));
    }
    model
        .set_params_flat(&params)
        .map_err(|e| bad(e.to_string()))?;
    Ok((
        model,
        LoadedCheckpoint {
            meta,
            hash: hex(&digest),
        },
    ))
}

#[cfg(test)]
mod tests;
