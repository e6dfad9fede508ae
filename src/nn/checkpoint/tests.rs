//! Unit tests of the checkpoint format: round trips, headers and refused inputs.

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

/// Every zoo architecture round-trips, the resnet's projection shortcuts included (the
/// parameters are written in layer order, so a checkpoint of another architecture's size is
/// refused with both counts named).
#[test]
fn every_architecture_round_trips() {
    for arch in <crate::nn::Arch as crate::choice::Choice>::WORDS {
        let m = Model::zoo(arch, 4).unwrap();
        let (m2, info) = load(&save(&m, &meta(&m))).unwrap();
        assert_eq!(m2.arch, m.arch);
        assert_eq!(m2.params_flat(), m.params_flat(), "{arch}");
        assert_eq!(
            m2.forward(&[0.5; 784], 1),
            m.forward(&[0.5; 784], 1),
            "{arch}"
        );
        assert_eq!(info.meta.params, m.param_count());
    }
    let r = Model::zoo("resnet", 1).unwrap();
    let mut wrong = meta(&r);
    wrong.model = "cnn3".into();
    let e = load(&save(&r, &wrong)).unwrap_err().to_string();
    assert!(e.contains("43946") && e.contains("cnn3"), "{e}");
}

/// The checkpoints shipped before the resnet existed still load, bit for bit the model their
/// header names.
#[test]
fn shipped_lenet_and_cnn3_checkpoints_still_load() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/models");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !(name.starts_with("lenet-") || name.starts_with("cnn3-")) {
            continue;
        }
        let (m, info) = load(&std::fs::read(&path).unwrap()).unwrap();
        assert!(name.starts_with(&info.meta.model), "{name}");
        assert!(name.contains(&info.hash[..12]), "{name}");
        assert_eq!(m.param_count(), info.meta.params);
    }
}
