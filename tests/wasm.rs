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
