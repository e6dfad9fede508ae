//! The shipped checkpoints' index, models/index.json: one lookup, used by the CLI
//! (`arq ... ` without `--checkpoint`) and by the page's worker (`Engine.shippedCheckpoint`),
//! so both pick the same file for a (model, sigma) under the same rules.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// One usable entry of models/index.json.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct IndexEntry {
    /// The architecture's word (`lenet`, `cnn3`, `resnet`).
    pub model: String,
    /// The noise level the checkpoint was trained at (pixel units).
    pub sigma: f64,
    /// A file name in models/ (`^[\w.-]+$`, not starting with '.').
    pub file: String,
    /// SHA-256 hex of the checkpoint body (in full or a prefix), when the index states it
    /// (a missing field reads as None).
    pub hash: Option<String>,
    /// The checkpoint's clean accuracy on the test digits (a fraction in [0, 1]), when the index
    /// states it.
    pub test_accuracy: Option<f64>,
}

impl IndexEntry {
    /// Whether `hash` (a checkpoint's full SHA-256 hex) is the one this entry states:
    /// equal, or one a prefix of the other, ignoring case. An entry without a hash accepts any.
    pub fn hash_matches(&self, hash: &str) -> bool {
        let Some(h) = &self.hash else { return true };
        let (a, b) = (h.to_ascii_lowercase(), hash.to_ascii_lowercase());
        a.starts_with(&b) || b.starts_with(&a)
    }

    /// An error unless [`IndexEntry::hash_matches`] `hash`.
    pub fn check_hash(&self, hash: &str) -> Result<()> {
        if self.hash_matches(hash) {
            return Ok(());
        }
        Err(Error::invalid(
            "hash",
            hash,
            &format!(
                "checkpoint {}: models/index.json states another hash",
                self.file
            ),
            self.hash.clone().unwrap_or_default(),
        ))
    }
}

/// A file name that stays inside models/: word characters, '.' and '-', not starting with '.'.
fn safe_file_name(f: &str) -> bool {
    !f.is_empty()
        && !f.starts_with('.')
        && f.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-')
}

/// The usable entries of an index.json text: a JSON array whose entries without a string
/// `model`, a number `sigma` and a safe `file` name are skipped. Errors (naming
/// models/index.json) when the text is not a JSON array.
pub fn entries(index_json: &str) -> Result<Vec<IndexEntry>> {
    // each entry as its own text, read (or skipped) by IndexEntry's own reader: no
    // serde_json::Value, whose code the page's module would carry for this one file
    let list: Vec<&serde_json::value::RawValue> =
        serde_json::from_str(index_json).map_err(|e| {
            Error::bad_file(
                "models/index.json",
                format!("expected a JSON array of {{model, sigma, file, hash, testAccuracy}}: {e}"),
            )
        })?;
    Ok(list
        .into_iter()
        .filter_map(|v| serde_json::from_str::<IndexEntry>(v.get()).ok())
        .filter(|e| safe_file_name(&e.file))
        .collect())
}

/// The first usable entry for `model` at exactly `sigma` (compared as f64), if any.
pub fn find(index_json: &str, model: &str, sigma: f64) -> Result<Option<IndexEntry>> {
    Ok(entries(index_json)?
        .into_iter()
        .find(|e| e.model == model && e.sigma == sigma))
}

#[cfg(test)]
mod tests {
    use super::*;

    const INDEX: &str = r#"[
      {"model": "cnn3", "sigma": 0.25, "file": "../evil.arqc", "hash": "aa"},
      {"model": "cnn3", "sigma": "0.25", "file": "str-sigma.arqc"},
      {"model": 3, "sigma": 0.25, "file": "num-model.arqc"},
      {"model": "cnn3", "sigma": 0.25, "file": ".hidden"},
      {"model": "cnn3", "sigma": 0.25, "file": "cnn3-s0.25.arqc", "hash": "ABCDEF", "testAccuracy": 0.98},
      {"model": "cnn3", "sigma": 0.5, "file": "cnn3-s0.5.arqc"}
    ]"#;

    #[test]
    fn bad_entries_are_skipped_and_sigma_is_exact() {
        let e = find(INDEX, "cnn3", 0.25).unwrap().unwrap();
        assert_eq!(e.file, "cnn3-s0.25.arqc");
        assert_eq!(e.test_accuracy, Some(0.98));
        assert_eq!(entries(INDEX).unwrap().len(), 2);
        assert!(find(INDEX, "cnn3", 0.250001).unwrap().is_none());
        assert!(find(INDEX, "lenet", 0.25).unwrap().is_none());
        assert!(find(INDEX, "cnn3", 0.5)
            .unwrap()
            .unwrap()
            .hash_matches("anything"));
    }

    #[test]
    fn hash_in_full_or_by_prefix() {
        let e = find(INDEX, "cnn3", 0.25).unwrap().unwrap();
        assert!(e.hash_matches("abcdef0123"));
        assert!(e.hash_matches("abc"));
        let err = e.check_hash("abd0").unwrap_err().to_string();
        assert!(err.contains("hash") && err.contains("abd0"), "{err}");
    }

    #[test]
    fn not_an_array_names_the_file() {
        let err = entries(r#"{"model": "cnn3"}"#).unwrap_err().to_string();
        assert!(err.contains("models/index.json"), "{err}");
    }

    #[test]
    fn the_shipped_index_has_an_entry_per_default_sigma() {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/models/index.json"))
                .unwrap();
        for sigma in [0.12, 0.25, 0.5] {
            for model in ["lenet", "cnn3", "resnet"] {
                assert!(
                    find(&text, model, sigma).unwrap().is_some(),
                    "{model} sigma {sigma}"
                );
            }
        }
    }
}
