//! "Your digit" (issue 13): the preprocessing against real MNIST digits, the digit job's
//! certificates (step sizes never change them, the session path the page drives equals the
//! plain run, the radius's illustration has the radius's norm), and `arq certify-digit`
//! printing the same certificate as the session for the same file and fragment.

use arq::config::ExperimentConfig;
use arq::data::{Dataset, Split};
use arq::digit::job::{certify_digit, DigitStep};
use arq::digit::{preprocess, read_image, write_pgm};
use arq::experiment::{JobEvent, JobKind, Session};
use arq::nn::Model;
use std::path::Path;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn mnist() -> Vec<u8> {
    std::fs::read(Path::new(ROOT).join("data/mnist10k.u8")).unwrap()
}

/// A session of `frag` with the shipped lenet at sigma 0.25.
fn session(frag: &str) -> Session {
    let mut s = Session::new(
        ExperimentConfig::from_fragment(frag).unwrap(),
        Some(&mnist()),
    )
    .unwrap();
    let index = std::fs::read_to_string(Path::new(ROOT).join("models/index.json")).unwrap();
    let e = arq::zoo_index::find(&index, "lenet", 0.25)
        .unwrap()
        .unwrap();
    let bytes = std::fs::read(Path::new(ROOT).join("models").join(&e.file)).unwrap();
    s.load_checkpoint(&bytes).unwrap();
    s
}

/// Test digit `i` scaled up 3x (nearest) and drawn dark on light at an offset in a 130 x 110
/// raster: what a scanned or photographed digit looks like to the preprocessing.
fn scanned(data: &Dataset, i: usize, dx: usize, dy: usize) -> Vec<u8> {
    let (w, h) = (130, 110);
    let idx = data.index(Split::Test, i);
    let src = data.image_u8(idx);
    let mut g = vec![235u8; w * h];
    for y in 0..84 {
        for x in 0..84 {
            g[(dy + y) * w + dx + x] = 235 - (src[(y / 3) * 28 + x / 3] as u32 * 200 / 255) as u8;
        }
    }
    g
}

#[test]
fn preprocessed_scans_of_test_digits_are_classified_like_the_originals() {
    let s = session("v=1");
    let data = s.data();
    let model: &Model = s.model();
    let (mut same, total) = (0, 200);
    for i in 0..total {
        let d = preprocess(&scanned(data, i, 5 + i % 40, 3 + i % 20), 130, 110).unwrap();
        assert!(d.inverted, "digit {i}");
        let mut orig = vec![0f32; 784];
        data.image_f32(data.index(Split::Test, i), &mut orig);
        let logits = model.forward(&[d.input(), orig].concat(), 2);
        let p: Vec<usize> = logits.chunks(10).map(argmax).collect();
        same += usize::from(p[0] == p[1]);
    }
    // measured: 200 of 200
    eprintln!("same class: {same} of {total}");
    assert!(same >= 190, "{same} of {total}");
}

fn argmax(v: &[f32]) -> usize {
    (0..v.len()).fold(0, |b, i| if v[i] > v[b] { i } else { b })
}

fn run_session(s: &mut Session, gray: &[u8], w: usize, h: usize, budget: u64) -> DigitStep {
    let mut clock = || 0u64;
    s.begin_digit(gray, w, h).unwrap();
    loop {
        let st = s.step(JobKind::Digit, budget, &mut clock).unwrap();
        let JobEvent::Digit(d) = st.event else {
            panic!("digit step answered with another kind")
        };
        if st.done {
            return d;
        }
    }
}

const FRAG: &str = "v=1&n0=50&n=300&wb=4&ab=4&qft=3&calib=64";

#[test]
fn the_certificate_does_not_depend_on_step_size_or_path_and_the_radius_is_illustrated_exactly() {
    let mut s = session(FRAG);
    let gray = scanned(s.data(), 7, 11, 9);
    let digit = preprocess(&gray, 130, 110).unwrap();
    let cfg = s.cfg().clone();
    let a = certify_digit(&cfg, s.model(), s.data(), digit.clone(), 1_000_000, |_| {}).unwrap();
    let b = certify_digit(&cfg, s.model(), s.data(), digit, 37, |_| {}).unwrap();
    let c = run_session(&mut s, &gray, 130, 110, 500);
    let json = |d: &DigitStep| serde_json::to_string(d).unwrap();
    assert_eq!(json(&a), json(&b));
    assert_eq!(json(&a), json(&c));
    // a step of a finished (or cancelled) digit job is an error naming the kind
    let e = s
        .step(JobKind::Digit, 10, &mut || 0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("digit step without a running digit job"), "{e}");
    let label = s.data().labels[s.data().index(Split::Test, 7)];
    for cert in [a.fp32.as_ref().unwrap(), a.quantized.as_ref().unwrap()] {
        assert_eq!(cert.prediction, Some(label), "{}", cert.model);
        assert_eq!(cert.votes.iter().sum::<u64>(), 300);
        assert_eq!(cert.select_votes.iter().sum::<u64>(), 50);
        assert_eq!(cert.sample_preds.len(), 8);
        let r = cert.radius.unwrap();
        let p = cert.perturbation.as_ref().unwrap();
        assert!((p.norm - r).abs() < 1e-5 * r.max(1.0), "{} vs {r}", p.norm);
        assert_eq!(p.probe_counts.len(), 17);
        assert_eq!(
            p.probe_counts[p.chosen as usize],
            *p.probe_counts.iter().min().unwrap()
        );
        assert_eq!(p.votes.iter().sum::<u64>(), 300);
        assert_eq!(p.image.len(), 784);
    }
    assert_eq!(a.noisy.len(), 8 * 784);
    assert_eq!(a.policy.as_deref(), Some("wb=4,4,4,4,4&ab=4,4,4,4,4"));
    // another digit gets other noise
    let gray8 = scanned(s.data(), 8, 11, 9);
    let other = run_session(&mut s, &gray8, 130, 110, 500);
    assert_ne!(other.digit.key, a.digit.key);
    assert_ne!(other.noisy[..784], a.noisy[..784]);
}

#[test]
fn an_abstaining_digit_and_a_full_precision_policy_say_so() {
    // one estimation draw cannot certify at alpha 0.2 (pA_low = 0.2^(1/1) < 1/2): abstains
    let mut s = session("v=1&n0=1&n=1&np=1&alpha=0.2");
    let mut g = vec![0u8; 40 * 40];
    for y in 8..32 {
        for x in 8..32 {
            g[y * 40 + x] = 255;
        }
    }
    let d = run_session(&mut s, &g, 40, 40, 1000);
    assert!(d.quantized.is_none() && d.policy.is_none());
    assert!(d.quant_note.as_deref().unwrap().contains("full precision"));
    let f = d.fp32.unwrap();
    assert!(f.radius.is_none() && f.prediction.is_none() && f.perturbation.is_none());
    assert!((f.p_lower - 0.2).abs() < 1e-12, "{}", f.p_lower);
    // a blank raster is refused before any work, naming the image
    let e = s.begin_digit(&[0; 64], 8, 8).unwrap_err().to_string();
    assert!(e.contains("image=8x8") && e.contains("blank"), "{e}");
}

#[test]
fn the_cli_prints_the_same_certificate_as_the_session() {
    let mut s = session(FRAG);
    let gray = scanned(s.data(), 3, 20, 4);
    let dir = std::env::temp_dir().join(format!("arq-digit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("digit.pgm");
    std::fs::write(&file, write_pgm(&gray, 130, 110)).unwrap();
    assert_eq!(
        read_image(&std::fs::read(&file).unwrap()).unwrap().gray,
        gray
    );
    let want = run_session(&mut s, &gray, 130, 110, 700);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_arq"))
        .args(["certify-digit", file.to_str().unwrap(), "--quiet", "--json"])
        .args(["--url", &format!("#{FRAG}")])
        .args(["--data", &format!("{ROOT}/data/mnist10k.u8")])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["result"], serde_json::to_value(&want).unwrap());
    // the text form names the same numbers
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_arq"))
        .args(["certify-digit", file.to_str().unwrap(), "--quiet"])
        .args(["--url", &format!("#{FRAG}")])
        .args(["--data", &format!("{ROOT}/data/mnist10k.u8")])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let f = want.fp32.as_ref().unwrap();
    assert!(text.contains(&format!("pA_low {:.6}", f.p_lower)), "{text}");
    assert!(
        text.contains(&format!("radius {:.6}", f.radius.unwrap())),
        "{text}"
    );
    // bad files: named, with what is allowed
    for (bytes, needle) in [
        (&b"\x89PNG\r\n\x1a\n"[..], "a PNG file"),
        (b"P5 1 1 255\n\x00", "image=1x1"),
        (&write_pgm(&[9; 64], 8, 8)[..], "blank"),
    ] {
        std::fs::write(&file, bytes).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_arq"))
            .args(["certify-digit", file.to_str().unwrap(), "--quiet"])
            .args(["--data", &format!("{ROOT}/data/mnist10k.u8")])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains("FILE ") && err.contains(needle),
            "{err}"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}
