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

pub const MAGIC: &[u8; 8] = b"ARQCKPT\0";
pub const VERSION: u32 = 1;

/// The noise levels a checkpoint may carry, which are the `sigma` setting's range (the
/// session adopts a loaded checkpoint's sigma).
pub const SIGMA_MIN: f64 = 0.01;
pub const SIGMA_MAX: f64 = 2.0;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CheckpointMeta {
    pub model: String,
    pub sigma: f64,
    pub seed: u64,
    pub epochs: u32,
    pub test_accuracy: f32,
    pub params: usize,
    pub engine: String,
    /// The experiment fragment that produced it (reproduce with `arq train --url`).
    pub fragment: String,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadedCheckpoint {
    pub meta: CheckpointMeta,
    /// Full SHA-256 hex of the file body.
    pub hash: String,
}

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
    let meta: CheckpointMeta = serde_json::from_slice(&bytes[16..16 + hlen])
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
mod tests {
    use super::*;

    fn meta(m: &Model) -> CheckpointMeta {
        CheckpointMeta {
            model: m.arch.to_string(),
            sigma: 0.25,
            seed: 1,
            epochs: 0,
            test_accuracy: 0.0,
            params: m.param_count(),
            engine: "test".into(),
            fragment: "v=1".into(),
        }
    }

    #[test]
    fn round_trip_and_corruption() {
        let m = Model::zoo("lenet", 3).unwrap();
        let bytes = save(&m, &meta(&m));
        let (m2, info) = load(&bytes).unwrap();
        assert_eq!(m2.params_flat(), m.params_flat());
        assert_eq!(info.meta, meta(&m));
        let e = load(&bytes[..bytes.len() - 5]).unwrap_err().to_string();
        assert!(e.contains("hash mismatch"), "{e}");
        let mut flipped = bytes.clone();
        flipped[100] ^= 1;
        assert!(load(&flipped)
            .unwrap_err()
            .to_string()
            .contains("hash mismatch"));
        assert!(load(b"hello")
            .unwrap_err()
            .to_string()
            .contains("bad magic"));
    }

    /// A checkpoint of `header` (JSON) and `params` raw bytes with a valid trailing hash.
    fn forge(hlen: u32, header: &[u8], params: &[u8]) -> Vec<u8> {
        let mut b = MAGIC.to_vec();
        b.extend_from_slice(&VERSION.to_le_bytes());
        b.extend_from_slice(&hlen.to_le_bytes());
        b.extend_from_slice(header);
        b.extend_from_slice(params);
        let d = Sha256::digest(&b);
        b.extend_from_slice(&d);
        b
    }

    fn header(m: &Model, sigma: &str, params: &str) -> Vec<u8> {
        format!(
            r#"{{"model":"{}","sigma":{sigma},"seed":1,"epochs":0,"testAccuracy":0.0,"params":{params},"engine":"t","fragment":"v=1"}}"#,
            m.arch
        )
        .into_bytes()
    }

    /// Regression (issue 8): `meta.params * 4` overflowed (a panic with overflow checks; in
    /// release 2^62 + 1 parameters wrapped to 4 bytes and got past the size check).
    #[test]
    fn huge_parameter_count_is_an_error() {
        let m = Model::zoo("lenet", 3).unwrap();
        for n in ["4611686018427387905", "18446744073709551615"] {
            let h = header(&m, "0.25", n);
            let e = load(&forge(h.len() as u32, &h, &[0; 4]))
                .unwrap_err()
                .to_string();
            assert!(e.contains("parameter bytes") && e.contains(n), "{e}");
        }
    }

    /// Regression (issue 8): `16 + hlen` wraps a 32-bit usize (wasm32) for hlen near
    /// u32::MAX and the header slice then panicked; now compared without the addition.
    #[test]
    fn huge_header_length_is_an_error() {
        for hlen in [u32::MAX, u32::MAX - 15, 1 << 31, 3] {
            let e = load(&forge(hlen, b"{}", &[])).unwrap_err().to_string();
            assert!(
                e.contains("header length") || e.contains("bad header"),
                "{e}"
            );
        }
    }

    /// Regression (issue 8): a checkpoint's sigma replaces the session's, and non-finite
    /// weights poison every forward pass; both loaded without complaint.
    #[test]
    fn header_sigma_and_parameter_values_are_checked() {
        let m = Model::zoo("lenet", 3).unwrap();
        let good = save(&m, &meta(&m));
        let hlen = u32::from_le_bytes(good[12..16].try_into().unwrap()) as usize;
        let params = &good[16 + hlen..good.len() - 32];
        let n = m.param_count().to_string();
        for sigma in ["-1", "0", "1e300", "3"] {
            let h = header(&m, sigma, &n);
            let e = load(&forge(h.len() as u32, &h, params))
                .unwrap_err()
                .to_string();
            assert!(e.contains("sigma=") && e.contains("0.01..=2"), "{e}");
        }
        let h = header(&m, "0.5", &n);
        assert!(load(&forge(h.len() as u32, &h, params)).is_ok());
        let mut nan = params.to_vec();
        nan[40..44].copy_from_slice(&f32::NAN.to_le_bytes());
        let e = load(&forge(h.len() as u32, &h, &nan))
            .unwrap_err()
            .to_string();
        assert!(e.contains("parameter 10 is NaN"), "{e}");
    }

    /// Regression (issue 8): short_hash sliced 12 hex digits out of fewer.
    #[test]
    fn short_hash_of_short_input() {
        assert_eq!(short_hash(b""), "");
        assert_eq!(short_hash(b"\x01\x02"), "0102");
        assert_eq!(short_hash(&[0xab; 40]).len(), 12);
    }
}
