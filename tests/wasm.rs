//! The core compiled to wasm32 and run in Node by wasm-bindgen-test-runner:
//! `cargo test --target wasm32-unknown-unknown --test wasm` (make test-wasm).
#![cfg(target_arch = "wasm32")]

mod common {
    pub mod fingerprints;
}
use arq::wasm::{parse_fragment, Engine};
use common::fingerprints::fingerprints;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

/// Forward passes, training steps, noise and certification are bit-identical to the native
/// build: both compare against the same golden digests.
#[wasm_bindgen_test]
fn wasm_matches_native_fingerprints() {
    let want: serde_json::Value =
        serde_json::from_str(include_str!("data/determinism.json")).unwrap();
    for (k, v) in fingerprints() {
        assert_eq!(
            want[&k].as_str(),
            Some(v.as_str()),
            "fingerprint {k} differs from the native build"
        );
    }
}

fn message(e: wasm_bindgen::JsError) -> String {
    let v: JsValue = e.into();
    js_sys::Reflect::get(&v, &"message".into())
        .unwrap()
        .as_string()
        .unwrap()
}

#[wasm_bindgen_test]
fn engine_rejects_bad_input_with_clear_errors() {
    let e = message(Engine::new(&[1, 2, 3]).err().unwrap());
    assert!(e.contains("bad magic"), "{e}");
    let parsed = parse_fragment("#v=1&sigma=abc&seed=4").unwrap();
    let notices = js_sys::Reflect::get(&parsed, &"notices".into()).unwrap();
    let first = js_sys::Array::from(&notices).get(0).as_string().unwrap();
    assert!(first.contains("sigma=abc"), "{first}");
    let frag = js_sys::Reflect::get(&parsed, &"fragment".into())
        .unwrap()
        .as_string()
        .unwrap();
    assert_eq!(frag, "v=1&seed=4");
}

#[wasm_bindgen_test]
fn engine_trains_and_evaluates_on_mnist() {
    let mut e = Engine::new(include_bytes!("../data/mnist10k.u8")).unwrap();
    e.set_config("v=1&train=1024&epochs=2&batch=32&lr=0.003")
        .unwrap();
    e.train_begin().unwrap();
    let mut done = false;
    for _ in 0..100 {
        let p = e.train_step(4).unwrap();
        done = js_sys::Reflect::get(&p, &"done".into())
            .unwrap()
            .as_bool()
            .unwrap();
        if done {
            break;
        }
    }
    assert!(done);
    let ev = e.evaluate().unwrap();
    let acc = js_sys::Reflect::get(&ev, &"accuracy".into())
        .unwrap()
        .as_f64()
        .unwrap();
    assert!(
        acc > 0.5,
        "two short epochs should beat chance (0.1) clearly, got {acc}"
    );
    let bad = message(e.train_step(0).err().unwrap());
    assert!(bad.contains("maxBatches=0"), "{bad}");
}

/// The explicit SIMD128 integer dot product equals the portable one (exact integer sums).
#[wasm_bindgen_test]
fn simd_integer_dot_matches_portable() {
    use arq::quant::int_kernels::{dot_i16, dot_i16_portable};
    let mut s = arq::rng::Stream::new(11, "dot");
    for len in [0usize, 1, 7, 8, 9, 16, 25, 32, 150, 160, 256, 3136] {
        let a: Vec<i16> = (0..len).map(|_| s.below(511) as i16 - 255).collect();
        let b: Vec<i16> = (0..len).map(|_| s.below(255) as i16 - 127).collect();
        assert_eq!(dot_i16(&a, &b), dot_i16_portable(&a, &b), "len {len}");
    }
}

/// The SIMD128 integer GEMM (four output columns per pass) equals the scalar reference.
#[wasm_bindgen_test]
fn simd_integer_gemm_matches_reference() {
    use arq::quant::int_kernels::{gemm_nt_i16, gemm_nt_i16_ref};
    let mut s = arq::rng::Stream::new(12, "gemm");
    for (m, n, k) in [
        (3usize, 6usize, 32usize),
        (5, 16, 160),
        (2, 10, 96),
        (7, 3, 8),
        (4, 9, 25),
    ] {
        let a: Vec<i16> = (0..m * k).map(|_| s.below(256) as i16).collect();
        let b: Vec<i16> = (0..n * k).map(|_| s.below(255) as i16 - 127).collect();
        let (mut c1, mut c2) = (vec![0i32; m * n], vec![0i32; m * n]);
        gemm_nt_i16(m, n, k, &a, &b, &mut c1);
        gemm_nt_i16_ref(m, n, k, &a, &b, &mut c2);
        assert_eq!(c1, c2, "{m}x{n}x{k}");
    }
}
