//! Native half of the cross-platform determinism check (see tests/common/fingerprints.rs).
mod common {
    pub mod fingerprints;
}
use common::fingerprints::fingerprints;

#[test]
fn native_matches_golden_fingerprints() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/determinism.json");
    let got = fingerprints();
    if std::env::var("ARQ_BLESS").is_ok() {
        let map: serde_json::Map<String, serde_json::Value> = got
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().into()))
            .collect();
        std::fs::write(path, serde_json::to_string_pretty(&map).unwrap() + "\n").unwrap();
    }
    let want: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for (k, v) in &got {
        assert_eq!(
            want[k].as_str(),
            Some(v.as_str()),
            "fingerprint {k} changed (bless with ARQ_BLESS=1 if intended)"
        );
    }
}
