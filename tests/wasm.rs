//! The core compiled to wasm32 and run in Node by wasm-bindgen-test-runner:
//! `cargo test --target wasm32-unknown-unknown --test wasm` (make test-wasm).
#![cfg(target_arch = "wasm32")]

mod common {
    pub mod bad_input;
    pub mod fingerprints;
    pub mod sensitivity;
}
use arq::wasm::{certificate, parse_fragment, presets, Engine};
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

/// The engine self-test (src/selftest.rs) gives its golden digests in wasm32 too, through the
/// binding the page calls on load.
#[wasm_bindgen_test]
fn selftest_matches_golden_in_wasm() {
    let t = arq::selftest::run().unwrap();
    assert!(t.passed, "{}", t.message);
    let v = arq::wasm::self_test().unwrap();
    let passed = js_sys::Reflect::get(&v, &"passed".into()).unwrap();
    assert_eq!(passed.as_bool(), Some(true));
}

/// A job spec or kind as the page passes it (a JSON value).
fn js(json: &str) -> JsValue {
    js_sys::JSON::parse(json).unwrap()
}

/// `begin({kind})` for a kind without settings.
fn begin(e: &mut Engine, kind: &str) -> Result<JsValue, wasm_bindgen::JsError> {
    e.begin(js(&format!(r#"{{"kind":"{kind}"}}"#)))
}

fn step(e: &mut Engine, kind: &str, budget: u32) -> Result<JsValue, wasm_bindgen::JsError> {
    e.step(JsValue::from_str(kind), budget)
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
    let mut e = Engine::new(MNIST).unwrap();
    e.set_config("v=1&train=1024&epochs=2&batch=32&lr=0.003")
        .unwrap();
    begin(&mut e, "train").unwrap();
    let mut done = false;
    for _ in 0..100 {
        let p = step(&mut e, "train", 4).unwrap();
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
    let bad = message(step(&mut e, "train", 0).err().unwrap());
    assert!(bad.contains("budget=0"), "{bad}");
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

/// The SIMD128 integer direct convolution (lanes across output channels, tap pairs through
/// `i32x4.dot_i16x8_s`) equals the scalar reference on lenet's and cnn3's layers and odd ones.
#[wasm_bindgen_test]
fn simd_integer_conv_matches_reference() {
    use arq::nn::kernels::ConvGeom;
    use arq::quant::int_kernels::{conv2d_i16_ref, pad_rows, padded, IntConv};
    let mut s = arq::rng::Stream::new(13, "conv");
    for (c, h, w, k, stride, pad, cout) in [
        (1usize, 28usize, 28usize, 5usize, 1usize, 0usize, 6usize),
        (6, 12, 12, 5, 1, 0, 16),
        (16, 28, 28, 3, 2, 1, 32),
        (32, 14, 14, 3, 2, 1, 64),
        (3, 9, 7, 3, 2, 1, 5),
        (2, 11, 13, 4, 3, 2, 7),
    ] {
        let g = ConvGeom {
            c,
            h,
            w,
            k,
            stride,
            pad,
        };
        let (ni, no) = (c * h * w, cout * g.out_hw());
        let img: Vec<i16> = (0..2 * ni).map(|_| s.below(511) as i16 - 255).collect();
        let wt: Vec<i16> = (0..cout * g.patch())
            .map(|_| s.below(255) as i16 - 127)
            .collect();
        let mut want = vec![0i32; 2 * no];
        for (i, o) in img.chunks_exact(ni).zip(want.chunks_exact_mut(no)) {
            conv2d_i16_ref(&g, cout, &wt, i, o);
        }
        let kp = padded(g.patch());
        let mut got = vec![7i32; 2 * no];
        IntConv::new(&g, cout, &pad_rows(&wt, cout, g.patch(), kp), kp).run_batch(
            2,
            &img,
            &mut Vec::new(),
            &mut got,
        );
        assert_eq!(got, want, "{c}x{h}x{w} k{k} s{stride} p{pad} -> {cout}");
    }
}

/// The SIMD128 Box-Muller (four pairs per pass) equals the scalar reference bit for bit:
/// random words, the extreme words, and angles on every quadrant boundary.
#[wasm_bindgen_test]
fn simd_box_muller_matches_reference() {
    use arq::rng::{box_muller_reference, fast_box_muller, WORDS_PER_PAIR};
    let mut s = arq::rng::Stream::new(13, "bm");
    let mut words: Vec<u32> = (0..3 * 4000).map(|_| s.next_u32()).collect();
    let edges = [
        0u32,
        1,
        0x7ff,
        0x800,
        0x00ff_ffff,
        0x8000_0000,
        u32::MAX - 1,
        u32::MAX,
    ];
    for (i, t) in words.chunks_exact_mut(WORDS_PER_PAIR).take(512).enumerate() {
        t[0] = edges[i % 8];
        t[1] = edges[(i / 8) % 8];
        // u2 at and next to every eighth of a turn (quadrant and octant boundaries)
        t[2] = ((i as u32 % 8) << 29)
            .wrapping_add((i as u32 / 64) % 3 * 256)
            .wrapping_sub(256);
    }
    for len in [0usize, 1, 3, 4, 5, 8, 392, 4000] {
        let w = &words[..len * WORDS_PER_PAIR];
        let (mut fast, mut slow) = (vec![0f32; 2 * len], vec![0f32; 2 * len]);
        fast_box_muller(w, &mut fast);
        box_muller_reference(w, &mut slow);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&fast), bits(&slow), "{len} pairs");
    }
}

/// The wasm noise (ChaCha8 four blocks at a time, Box-Muller four pairs at a time, both in
/// SIMD128) is rand_chacha's ChaCha8 words through the scalar Box-Muller, at word positions
/// inside blocks, on block and four-block edges, and far out in the stream.
#[wasm_bindgen_test]
fn simd_noise_is_rand_chachas_words() {
    use arq::rng::{box_muller_reference, stream_key, NoiseSource, WORDS_PER_PAIR};
    use rand_chacha::rand_core::{RngCore, SeedableRng};
    for (case, (example, sample, len)) in [
        (0u64, 0u64, 784usize),
        (3, 5, 784),
        (7, 1, 1),
        (u64::MAX - 2, 9, 33),
        (12, 1 << 40, 200),
        (5, 3, 43),
        (1, 123_456_789, 785),
    ]
    .into_iter()
    .enumerate()
    {
        let src = NoiseSource::new(case as u64, "noise-test");
        let mut got = vec![0f32; len];
        src.fill(example, sample, &mut got);
        let pairs = len.div_ceil(2);
        let mut rng = rand_chacha::ChaCha8Rng::from_seed(stream_key(case as u64, "noise-test"));
        rng.set_stream(example);
        rng.set_word_pos(sample as u128 * (pairs * WORDS_PER_PAIR) as u128);
        let words: Vec<u32> = (0..pairs * WORDS_PER_PAIR)
            .map(|_| rng.next_u32())
            .collect();
        let mut want = vec![0f32; 2 * pairs];
        box_muller_reference(&words, &mut want);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(
            bits(&got),
            bits(&want[..len]),
            "example {example}, sample {sample}, {len} draws"
        );
    }
}

// ---- issue 8: the bad-input matrix through the wasm API (tests/common/bad_input.rs) ----

use common::bad_input::{matrix, Case, Expect, CLASSES};

static MNIST: &[u8] = include_bytes!("../data/mnist10k.u8");

fn get(v: &JsValue, key: &str) -> JsValue {
    js_sys::Reflect::get(v, &key.into()).unwrap()
}

fn strings(v: &JsValue) -> Vec<String> {
    js_sys::Array::from(v)
        .iter()
        .map(|x| x.as_string().unwrap())
        .collect()
}

/// A lenient parse's result for one case: rejected values leave one notice naming the key,
/// the value and what is allowed, and the canonical fragment without them.
fn check_parsed(parsed: &JsValue, cases: &[&Case]) -> Result<(), String> {
    let notices = strings(&get(parsed, "notices"));
    let fragment = get(parsed, "fragment").as_string().unwrap();
    if fragment != "v=1" {
        return Err(format!("fragment {fragment:?} keeps a bad value"));
    }
    for c in cases {
        let hit = notices.iter().find(|n| {
            n.starts_with(&format!("{}={}", c.key, c.decoded())) && n.contains(&c.allowed())
        });
        match (c.expect, hit) {
            (Expect::Accept, _)
                if notices
                    .iter()
                    .any(|n| n.starts_with(&format!("{}=", c.key))) =>
            {
                return Err(format!(
                    "{}: a notice for a valid value: {notices:?}",
                    c.label()
                ))
            }
            (Expect::Reject | Expect::RejectForModel, None) => {
                return Err(format!("{}: no notice naming it: {notices:?}", c.label()))
            }
            _ => {}
        }
    }
    Ok(())
}

fn fragment_of(cases: &[&Case]) -> String {
    let pairs: Vec<String> = cases
        .iter()
        .map(|c| format!("{}={}", c.key, c.raw))
        .collect();
    format!("#v=1&{}", pairs.join("&"))
}

/// parseFragment: every field x every class, one case at a time and a whole class at once.
#[wasm_bindgen_test]
fn parse_fragment_matrix() {
    let all = matrix();
    let mut failures = vec![];
    for c in &all {
        let parsed = parse_fragment(&fragment_of(&[c])).unwrap();
        if let Err(e) = check_parsed(&parsed, &[c]) {
            failures.push(e);
        }
    }
    for &class in CLASSES {
        let cases: Vec<&Case> = all.iter().filter(|c| c.class == class).collect();
        let parsed = parse_fragment(&fragment_of(&cases)).unwrap();
        if let Err(e) = check_parsed(&parsed, &cases) {
            failures.push(format!("class {class}: {e}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Engine.setConfig: the same matrix; a rejected value never changes the engine's config,
/// and the engine still works afterwards.
#[wasm_bindgen_test]
fn engine_set_config_matrix() {
    let mut e = Engine::new(MNIST).unwrap();
    let all = matrix();
    let mut failures = vec![];
    for c in &all {
        e.set_config("#v=1&seed=5").unwrap();
        let parsed = e.set_config(&fragment_of(&[c])).unwrap();
        if let Err(err) = check_parsed(&parsed, &[c]) {
            failures.push(format!("setConfig: {err}"));
        }
        let cfg = e.config().unwrap();
        if get(&cfg, "seed").as_f64() != Some(1.0) || get(&cfg, "sigma").as_f64() != Some(0.25) {
            failures.push(format!("{}: config not the defaults afterwards", c.label()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let parsed = e.set_config("#v=1&model=cnn3&wb=4,4,4,4,4").unwrap();
    let notices = strings(&get(&parsed, "notices"));
    assert!(
        notices.len() == 1
            && notices[0].contains("wb=4,4,4,4,4")
            && notices[0].contains("4 comma-separated"),
        "a lenet-sized list on cnn3 is dropped with a notice: {notices:?}"
    );
    e.set_config("#v=1").unwrap();
    assert!(e.samples("test", 0, 4).is_ok());
    assert!(e.policy().is_ok());
}

/// setPolicy: the text forms of wb, ab and lk, with wrong lengths, widths out of range and
/// garbage; a refused policy leaves the current one.
#[wasm_bindgen_test]
fn set_policy_matrix() {
    let mut e = Engine::new(MNIST).unwrap();
    let before = get(&e.policy().unwrap(), "fragment").as_string().unwrap();
    let mut failures = vec![];
    let mut n = 0;
    for c in matrix()
        .iter()
        .filter(|c| ["wb", "ab", "lk"].contains(&c.key))
    {
        n += 1;
        let arg = |k: &str| if c.key == k { c.raw.as_str() } else { "" };
        match (c.expect, e.set_policy(arg("wb"), arg("ab"), arg("lk"))) {
            (Expect::Accept, Ok(_)) => {}
            (Expect::Accept, Err(err)) => {
                failures.push(format!("{}: refused: {}", c.label(), message(err)))
            }
            (_, Ok(_)) => failures.push(format!("{}: accepted", c.label())),
            (_, Err(err)) => {
                let m = message(err);
                if !(m.contains(&format!("{}={}", c.key, c.raw)) && m.contains(&c.allowed())) {
                    failures.push(format!("{}: unclear error {m:?}", c.label()));
                }
            }
        }
        let now = get(&e.policy().unwrap(), "fragment").as_string().unwrap();
        if now != before {
            failures.push(format!("{}: policy changed to {now}", c.label()));
        }
    }
    assert!(n >= 3 * CLASSES.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The other methods that take a name, an index or a count.
#[wasm_bindgen_test]
fn engine_methods_refuse_bad_arguments() {
    let mut e = Engine::new(MNIST).unwrap();
    // every class of bad value, plus near misses of the real names
    let mut names: Vec<String> = matrix()
        .into_iter()
        .filter(|c| c.key == "model")
        .map(|c| c.raw)
        .collect();
    names.extend(["W4A4", " w4a4", "ARQ", "arq,haq", "\u{200F}arq"].map(String::from));
    let expect = |r: Result<JsValue, wasm_bindgen::JsError>, want: &[&str]| {
        let m = message(r.expect_err("an error"));
        for w in want {
            assert!(m.contains(w), "{m:?} should contain {w:?}");
        }
    };
    for name in &names {
        expect(
            e.apply_preset(name),
            &[&format!("preset={name}"), "fp32, w8a8, w4a4"],
        );
    }
    for name in &names {
        let spec = js_sys::Object::new();
        js_sys::Reflect::set(&spec, &"kind".into(), &"search".into()).unwrap();
        js_sys::Reflect::set(&spec, &"method".into(), &name.as_str().into()).unwrap();
        expect(e.begin(spec.into()), &["spec=", "'arq' | 'haq' | 'random'"]);
    }
    for spec in [
        r#"{"kind":"bogus"}"#,
        r#"{"kind":"quantEval"}"#,
        r#"{"kind":"quantEval","fresh":"yes"}"#,
        r#""train""#,
        "null",
        "42",
    ] {
        expect(e.begin(js(spec)), &["spec=", "{kind: 'train'"]);
    }
    for kind in [r#""bogus""#, r#""Train""#, "null", r#"{"kind":"train"}"#] {
        expect(e.step(js(kind), 1), &["kind=", "one of train, certify"]);
        assert!(e.cancel(js(kind)).is_err(), "cancel({kind})");
    }
    for (split, start, count) in [
        ("bogus", 0, 1),
        ("", 0, 1),
        ("test", 2000, 1),
        ("test", 0, 0),
        ("test", 0, 1001),
        ("test", 1999, 2),
        ("test", u32::MAX, 1),
        ("train", 0, u32::MAX),
        ("train", u32::MAX, u32::MAX),
    ] {
        let r = e.samples(split, start, count);
        let want = if split == "test" || split == "train" {
            "start/count="
        } else {
            "split="
        };
        expect(r, &[want, "allowed"]);
    }
    for j in [5, 6, 1000, u32::MAX] {
        expect(e.layer_histogram(j), &[&format!("layer={j}"), "0..5"]);
    }
    for (index, sigmas, k) in [
        (2000u32, vec![0.25f32], 4u32),
        (u32::MAX, vec![0.25], 4),
        (0, vec![], 4),
        (0, vec![f32::NAN], 4),
        (0, vec![f32::INFINITY], 4),
        (0, vec![-0.5], 4),
        (0, vec![3.0], 4),
        (0, vec![0.25; 9], 4),
        (0, vec![0.25], 0),
        (0, vec![0.25], 65),
        (0, vec![0.25], u32::MAX),
    ] {
        assert!(
            e.noise_samples(index, &sigmas, k, None).is_err(),
            "noiseSamples({index}, {sigmas:?}, {k})"
        );
    }
    expect(
        e.noise_samples(0, &[0.25], 4, Some(true)),
        &["no quantized model"],
    );
    for (len, batch) in [
        (0usize, 0u32),
        (784, 0),
        (783, 1),
        (785, 1),
        (784, 2),
        (784, u32::MAX),
    ] {
        let x = vec![0.5f32; len];
        let m = message(e.logits(&x, batch, None).expect_err("an error"));
        assert!(m.contains("x=") && m.contains("784"), "{m}");
    }
    assert!(e.logits(&[0.5; 784], 1, Some(true)).is_err());
    for (count, n, alpha, sigma) in [
        (5u32, 4u32, 0.001, 0.25),
        (0, 0, 0.001, 0.25),
        (5, 10, f64::NAN, 0.25),
        (5, 10, 0.0, 0.25),
        (5, 10, 1.0, 0.25),
        (5, 10, 0.001, f64::INFINITY),
        (5, 10, 0.001, -1.0),
        (5, 10, 0.001, f64::NAN),
    ] {
        assert!(
            arq::wasm::certificate(count, n, alpha, sigma).is_err(),
            "certificate({count}, {n}, {alpha}, {sigma})"
        );
    }
    for kind in [
        "train",
        "certify",
        "quantEval",
        "search",
        "compare",
        "sensitivity",
        "irsPart",
    ] {
        expect(step(&mut e, kind, 0), &["budget=0", "1..=4294967295"]);
    }
    // the engine is still usable
    assert!(e.samples("test", 0, 48).is_ok());
    assert!(e.layer_histogram(4).is_ok());
}

/// Steps without their begin (or after a cancel) are errors that say so, not panics.
#[wasm_bindgen_test]
fn steps_before_their_begin_are_errors() {
    let mut e = Engine::new(MNIST).unwrap();
    for kind in [
        "train",
        "certify",
        "quantEval",
        "search",
        "compare",
        "sensitivity",
        "irsPart",
    ] {
        let m = message(step(&mut e, kind, 1).err().unwrap());
        assert!(
            m.contains(&format!("{kind} step without a running {kind} job")),
            "{m:?} should name the missing {kind} job"
        );
    }
    // after a finished job, the next step without a new begin is an error again
    e.set_config("#v=1&train=64&epochs=1&batch=64").unwrap();
    begin(&mut e, "train").unwrap();
    while !get(&step(&mut e, "train", 10).unwrap(), "done")
        .as_bool()
        .unwrap()
    {}
    assert!(step(&mut e, "train", 1).is_err());
    // and after a cancel
    e.set_config("#v=1&points=2&n=100&np=100").unwrap();
    let first = begin(&mut e, "certify").unwrap();
    assert_eq!(get(&first, "kind").as_string().unwrap(), "certify");
    assert_eq!(
        get(&get(&first, "event"), "kind").as_string().unwrap(),
        "certify"
    );
    step(&mut e, "certify", 50).unwrap();
    e.cancel(JsValue::from_str("certify")).unwrap();
    assert!(step(&mut e, "certify", 1).is_err());
}

/// loadCheckpoint: empty, truncated, corrupted and foreign bytes are refused with a message
/// naming the checkpoint, and the engine keeps its model and config.
#[wasm_bindgen_test]
fn load_checkpoint_refuses_damaged_bytes() {
    let mut e = Engine::new(MNIST).unwrap();
    e.set_config("#v=1&seed=3").unwrap();
    let good = e.save_checkpoint().to_vec();
    let n = good.len();
    let mut cases: Vec<(String, Vec<u8>)> = vec![("empty".into(), vec![])];
    for cut in [1, 4, 8, 12, 16, 64, n / 2, n - 33, n - 1] {
        cases.push((format!("truncated-{cut}"), good[..cut].to_vec()));
    }
    for at in [0, 5, 9, 20, 100, n / 2, n - 1] {
        let mut b = good.clone();
        b[at] ^= 0x55;
        cases.push((format!("flipped-{at}"), b));
    }
    let mut longer = good.clone();
    longer.extend_from_slice(b"junk");
    cases.push(("appended".into(), longer));
    cases.push(("dataset".into(), MNIST[..4096].to_vec()));
    cases.push(("json".into(), br#"{"model":"lenet","sigma":0.25}"#.to_vec()));
    cases.push(("text".into(), "\u{e9}\u{1F600}".repeat(50).into_bytes()));
    let info = |e: &Engine| {
        js_sys::JSON::stringify(&e.model_info().unwrap())
            .unwrap()
            .as_string()
            .unwrap()
    };
    let before = info(&e);
    let mut failures = vec![];
    for (name, bytes) in &cases {
        match e.load_checkpoint(bytes, None) {
            Ok(_) => failures.push(format!("{name}: accepted")),
            Err(err) => {
                let m = message(err);
                if !m.contains("checkpoint") {
                    failures.push(format!("{name}: message does not name the checkpoint: {m}"));
                }
            }
        }
        if info(&e) != before {
            failures.push(format!("{name}: the model changed"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(
        get(&e.config().unwrap(), "seed").as_f64(),
        Some(3.0),
        "the config is kept"
    );
    assert!(
        e.load_checkpoint(&good, None).is_ok(),
        "the good bytes still load"
    );
}

/// new Engine(dataset): empty, truncated, corrupted and foreign bytes are refused clearly.
#[wasm_bindgen_test]
fn engine_refuses_damaged_datasets() {
    let n = MNIST.len();
    let mut flipped = MNIST.to_vec();
    flipped[n / 2] ^= 1;
    let mut e = Engine::new(MNIST).unwrap();
    e.set_config("#v=1&seed=2").unwrap();
    let checkpoint = e.save_checkpoint().to_vec();
    for (name, bytes) in [
        ("empty", vec![]),
        ("magic only", MNIST[..4].to_vec()),
        ("truncated header", MNIST[..11].to_vec()),
        ("truncated", MNIST[..4096].to_vec()),
        ("last byte missing", MNIST[..n - 1].to_vec()),
        ("flipped pixel", flipped),
        ("a checkpoint", checkpoint),
        ("text", "\u{e9}\u{1F600}".repeat(20).into_bytes()),
    ] {
        let Err(err) = Engine::new(&bytes) else {
            panic!("{name}: accepted");
        };
        let m = message(err);
        assert!(m.to_lowercase().contains("mnist"), "{name}: {m}");
    }
}

/// The presets the engine offers are exactly the ones `applyPreset` accepts, and every
/// policy change answers with the config's canonical fragment.
#[wasm_bindgen_test]
fn presets_are_the_cores_and_policy_changes_return_the_config() {
    let list = presets().unwrap();
    let names: Vec<String> = js_sys::Array::from(&list)
        .iter()
        .map(|p| get(&p, "name").as_string().unwrap())
        .collect();
    let core: Vec<&str> = arq::quant::Preset::ALL.iter().map(|p| p.name()).collect();
    assert_eq!(names, core);
    let mut e = Engine::new(MNIST).unwrap();
    for name in &names {
        let u = e.apply_preset(name).unwrap();
        let parsed = get(&u, "parsed");
        let frag = get(&parsed, "fragment").as_string().unwrap();
        let cfg = get(&e.config().unwrap(), "wb");
        assert_eq!(
            get(&get(&parsed, "config"), "wb").as_string(),
            cfg.as_string()
        );
        let again = get(&parse_fragment(&frag).unwrap(), "fragment").as_string();
        assert_eq!(again.as_deref(), Some(frag.as_str()), "{name}: canonical");
        let pf = get(&get(&u, "policy"), "fragment").as_string().unwrap();
        for part in pf.split('&').filter(|p| !p.ends_with('=')) {
            if frag.contains("wb=") {
                assert!(frag.contains(part), "{name}: {part} not in {frag}");
            }
        }
    }
    assert!(e.enforce_budget().is_ok());
    let u = e.set_policy("4", "8", "").unwrap();
    let frag = get(&get(&u, "parsed"), "fragment").as_string().unwrap();
    assert!(frag.contains("wb=4") && frag.contains("ab=8"), "{frag}");
}

/// A noise result's per-row certificate is `certificate(count, k, alpha, sigma)` of the
/// row's top vote, and a row at sigma 0 has none.
#[wasm_bindgen_test]
fn noise_rows_carry_the_certificate_of_their_votes() {
    let mut e = Engine::new(MNIST).unwrap();
    let (sigmas, k) = ([0.0f32, 0.25, 0.5], 32u32);
    let r = e.noise_samples(3, &sigmas, k, None).unwrap();
    let votes = js_sys::Uint32Array::from(get(&r, "votes")).to_vec();
    let alpha = get(&r, "alpha").as_f64().unwrap();
    let certs = js_sys::Array::from(&get(&r, "certificates"));
    assert_eq!(certs.length(), 3);
    assert!(certs.get(0).is_null());
    for (row, &sigma) in sigmas.iter().enumerate().skip(1) {
        let v = &votes[row * 10..row * 10 + 10];
        let count = *v.iter().max().unwrap();
        let top = v.iter().position(|&c| c == count).unwrap();
        let c = certs.get(row as u32);
        assert_eq!(get(&c, "top").as_f64(), Some(top as f64));
        assert_eq!(get(&c, "count").as_f64(), Some(count as f64));
        assert_eq!(get(&c, "n").as_f64(), Some(k as f64));
        let want = certificate(count, k, alpha, sigma as f64).unwrap();
        assert_eq!(get(&c, "pLower").as_f64(), get(&want, "pLower").as_f64());
        assert_eq!(get(&c, "radius").as_f64(), get(&want, "radius").as_f64());
        assert_eq!(get(&c, "radius").is_null(), get(&want, "radius").is_null());
    }
}

/// The worker's checkpoint lookup is the CLI's (src/zoo_index.rs), and a checkpoint whose
/// hash is not its entry's is refused with the field named.
#[wasm_bindgen_test]
fn shipped_checkpoint_lookup_is_the_clis() {
    let index = include_str!("../models/index.json");
    let mut e = Engine::new(MNIST).unwrap();
    for sigma in ["0.12", "0.25", "0.5", "0.3"] {
        for model in ["cnn3", "lenet", "resnet"] {
            e.set_config(&format!("#v=1&model={model}&sigma={sigma}"))
                .unwrap();
            let got = e.shipped_checkpoint(index).unwrap();
            let want = arq::zoo_index::find(index, model, sigma.parse().unwrap()).unwrap();
            match want {
                None => assert!(got.is_null(), "{model} {sigma}"),
                Some(w) => assert_eq!(get(&got, "file").as_string(), Some(w.file)),
            }
        }
    }
    let bad = r#"[{"model": "lenet", "sigma": 0.3, "file": "../x.arqc"}, {"model": 1}]"#;
    assert!(e.shipped_checkpoint(bad).unwrap().is_null());
    let m = message(e.shipped_checkpoint("{}").unwrap_err());
    assert!(m.contains("models/index.json"), "{m}");
    let bytes = e.save_checkpoint().to_vec();
    let entry = js_sys::JSON::parse(
        r#"{"model": "lenet", "sigma": 0.3, "file": "x.arqc", "hash": "00ff", "testAccuracy": null}"#,
    )
    .unwrap();
    let m = message(e.load_checkpoint(&bytes, Some(entry)).unwrap_err());
    assert!(m.contains("hash=") && m.contains("00ff"), "{m}");
    assert!(e.load_checkpoint(&bytes, None).is_ok());
}

/// The per-layer sensitivity table is bit-identical to the native build's
/// (tests/sensitivity.rs checks the same digest).
#[wasm_bindgen_test]
fn sensitivity_rows_match_native() {
    assert_eq!(
        common::sensitivity::rows_digest(),
        common::sensitivity::ROWS_DIGEST
    );
}

/// `begin({kind: 'sensitivity'})` through the Engine: bad bits and sides are errors naming
/// the field; a step streams a JobStep of kind sensitivity; a cancel empties the slot.
#[wasm_bindgen_test]
fn sensitivity_job_through_the_engine() {
    let mut e = Engine::new(MNIST).unwrap();
    let m = message(step(&mut e, "sensitivity", 1).err().unwrap());
    assert!(
        m.contains("sensitivity step without a running sensitivity job"),
        "{m}"
    );
    e.set_config(&format!("#{}", common::sensitivity::FRAG))
        .unwrap();
    for (spec, want) in [
        (r#"{"kind":"sensitivity","bits":9}"#, "bits=9"),
        (r#"{"kind":"sensitivity","bits":32}"#, "2..=8"),
        (r#"{"kind":"sensitivity","bits":4,"side":"x"}"#, "spec="),
        (r#"{"kind":"sensitivity"}"#, "bits"),
    ] {
        let m = message(e.begin(js(spec)).err().unwrap());
        assert!(m.contains(want), "{spec}: {m}");
    }
    let first = e
        .begin(js(r#"{"kind":"sensitivity","bits":4,"side":"w"}"#))
        .unwrap();
    assert_eq!(get(&first, "kind").as_string().unwrap(), "sensitivity");
    let ev = get(&first, "event");
    assert_eq!(get(&ev, "rowsTotal").as_f64(), Some(5.0));
    assert_eq!(get(&ev, "side").as_string().unwrap(), "w");
    step(&mut e, "sensitivity", 100).unwrap();
    e.cancel(JsValue::from_str("sensitivity")).unwrap();
    assert!(step(&mut e, "sensitivity", 1).is_err());
}

/// Steps `kind` until its phase is `phase` or it is done; the last step.
fn step_until(e: &mut Engine, kind: &str, phase: &str) -> JsValue {
    loop {
        let st = step(e, kind, 200).unwrap();
        if get(&st, "done").as_bool().unwrap()
            || get(&get(&st, "work"), "phase").as_string().unwrap() == phase
        {
            return st;
        }
    }
}

/// The read-out's IRS split over two Engines (`splitIrs`, `beginIrsPart`, `exportIrsPart`,
/// `mergeIrs`) gives the unsplit read-out's radii and statistics; bad kinds, tasks, parts and
/// points are refused by name.
#[wasm_bindgen_test]
fn split_irs_through_two_engines() {
    const FRAG: &str = "#v=1&points=6&n=100&n0=10&np=50&qft=1&calib=32&wb=4&ab=4";
    let fresh = || {
        let mut e = Engine::new(MNIST).unwrap();
        e.set_config(FRAG).unwrap();
        e
    };
    let readout = |e: &mut Engine, split: Option<&mut Engine>| {
        begin(e, "certify").unwrap();
        step_until(e, "certify", "");
        assert!(e.has_reference(JsValue::from_str("report")).unwrap());
        e.begin(js(r#"{"kind":"quantEval","fresh":false}"#))
            .unwrap();
        let mut st = step_until(e, "quantEval", "irs");
        if let Some(h) = split {
            let tasks = e.split_irs(JsValue::from_str("quantEval"), 2).unwrap();
            assert_eq!(tasks.length(), 1);
            let task: js_sys::Uint8Array = tasks.get(0).into();
            h.begin_irs_part(&task.to_vec()).unwrap();
            step_until(h, "irsPart", "");
            let part = h.export_irs_part().unwrap();
            let m = message(
                e.merge_irs(JsValue::from_str("quantEval"), vec![])
                    .err()
                    .unwrap(),
            );
            assert!(m.contains("parts"), "{m}");
            e.merge_irs(JsValue::from_str("quantEval"), vec![part])
                .unwrap();
        }
        while !get(&st, "done").as_bool().unwrap() {
            st = step(e, "quantEval", 200).unwrap();
        }
        let r = get(&get(&st, "event"), "result");
        let json = |k: &str| js_sys::JSON::stringify(&get(&r, k)).unwrap().as_string();
        (json("radii"), json("irs"), json("summary"))
    };
    let (mut a, mut b, mut h) = (fresh(), fresh(), fresh());
    let whole = readout(&mut a, None);
    assert_eq!(readout(&mut b, Some(&mut h)), whole);
    let m = message(h.split_irs(JsValue::from_str("train"), 2).err().unwrap());
    assert!(m.contains("kind"), "{m}");
    let m = message(
        h.split_irs(JsValue::from_str("quantEval"), 2)
            .err()
            .unwrap(),
    );
    assert!(
        m.contains("quantEval step without a running quantEval job"),
        "{m}"
    );
    let m = message(h.begin_irs_part(b"junk").err().unwrap());
    assert!(m.contains("task"), "{m}");
    let m = message(h.has_reference(JsValue::from_str("x")).err().unwrap());
    assert!(m.contains("points"), "{m}");
    let m = message(
        h.begin(js(r#"{"kind":"certify","points":"final"}"#))
            .err()
            .unwrap(),
    );
    assert!(m.contains("spec.points"), "{m}");
}
