//! The engine self-test: a tiny fixed experiment whose exact numbers are known.
//!
//! Every front end runs it (the page on load, `arq selftest`, `cargo test --lib selftest`
//! natively and `tests/wasm.rs` in wasm32) and compares each part's SHA-256 with the golden
//! digests committed below. A browser whose floating point, wasm engine or SIMD lowering
//! differs from the build that produced them is then detected, and the part that differs is
//! named, instead of silently giving other numbers for the same link.
//!
//! The experiment (the synthetic dataset, lenet from a fixed seed; well under a second):
//! - `noise`: the counter-based Gaussian noise stream (4 draws of 784 values);
//! - `forward`: f32 logits of 8 noisy digits through the freshly initialised lenet;
//! - `train`: the parameters after 3 Adam steps with noise augmentation (then the rest of
//!   3 short epochs, so the certificates below are not abstentions);
//! - `certify`: CERTIFY (f32 path) of 3 test digits, n0 = 16, n = 96;
//! - `integer`: the quick read-out of W4A4 (calibration, one STE fine-tuning batch, the
//!   integer path's noisy forward passes certified by IRS against the `certify` cache).
//!
//! Each part digests the exact little-endian bytes of its numbers; the whole digest is the
//! SHA-256 of the `name=digest` lines. The core never reads a clock: callers time it.

use crate::config::ExperimentConfig;
use crate::data::{hex, Split};
use crate::experiment::{JobEvent, JobKind, JobSpec, QuantEvalStep, Session};
use crate::nn::Model;
use crate::rng::NoiseSource;
use crate::Result;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// The experiment's settings (a fragment like any other: `arq certify --url` runs its
/// certification part).
pub const FRAGMENT: &str = "v=1&ds=synth&epochs=3&train=160&batch=16&points=3&stride=7&n0=16&n=96&cbatch=64&np=32&calib=16&qft=1&wb=4&ab=4";

/// The golden digest of each part (16 hex digits of its SHA-256), in run order.
pub const GOLDEN: [(&str, &str); 5] = [
    ("noise", "e8eaf00c8575aaf7"),
    ("forward", "1a507854b07e8225"),
    ("train", "875cad9f79ca8b6b"),
    ("certify", "56f2e71c2ffeee93"),
    ("integer", "0e83dfe9fc9b3e6b"),
];

/// What each part exercises, for the message that names a differing one.
fn what(part: &str) -> &'static str {
    match part {
        "noise" => "Gaussian noise stream",
        "forward" => "f32 forward pass",
        "train" => "training steps (backward pass, Adam)",
        "certify" => "certification (f32 path, Clopper-Pearson)",
        "integer" => "integer quantized path (calibration, fine-tuning, IRS)",
        _ => "unknown part",
    }
}

/// One part's digest against its golden value.
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
pub struct SelfTestPart {
    /// `noise`, `forward`, `train`, `certify` or `integer`.
    pub name: String,
    /// What the part exercises.
    pub what: String,
    /// 16 hex digits of the SHA-256 of its numbers.
    pub digest: String,
    /// The committed value.
    pub golden: String,
    /// digest == golden.
    pub ok: bool,
}

/// The self-test's outcome.
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
pub struct SelfTest {
    /// Every part matched its golden digest.
    pub passed: bool,
    /// The engine version that ran it.
    pub engine: String,
    /// SHA-256 (64 hex digits) of the parts' `name=digest` lines.
    pub digest: String,
    /// The same over the golden digests.
    pub golden: String,
    /// The parts, in run order.
    pub parts: Vec<SelfTestPart>,
    /// "" when passed, else one line naming what differs.
    pub message: String,
}

struct Digester(Sha256);

impl Digester {
    fn new() -> Self {
        Digester(Sha256::new())
    }
    fn f32s(&mut self, xs: &[f32]) {
        for x in xs {
            self.0.update(x.to_le_bytes());
        }
    }
    fn f64s(&mut self, xs: &[f64]) {
        for x in xs {
            self.0.update(x.to_le_bytes());
        }
    }
    fn u64s(&mut self, xs: &[u64]) {
        for x in xs {
            self.0.update(x.to_le_bytes());
        }
    }
    fn finish(self) -> String {
        hex(&self.0.finalize())[..16].to_string()
    }
}

fn lines_digest(parts: &[(&str, &str)]) -> String {
    let mut h = Sha256::new();
    for (name, d) in parts {
        h.update(format!("{name}={d}\n").as_bytes());
    }
    hex(&h.finalize())
}

/// The parts' digests, in [`GOLDEN`]'s order.
pub fn digests() -> Result<Vec<(&'static str, String)>> {
    let cfg = ExperimentConfig::from_fragment(FRAGMENT)?;
    let mut out = vec![];

    let mut d = Digester::new();
    let noise = NoiseSource::new(cfg.seed, "selftest");
    let mut z = vec![0.0f32; 784];
    for k in 0..4 {
        noise.fill(k, k * 3, &mut z);
        d.f32s(&z);
    }
    out.push(("noise", d.finish()));

    let mut s = Session::new(cfg, None)?;
    let batch = 8;
    let mut x = vec![0.0f32; batch * 784];
    for i in 0..batch {
        let img = &mut x[i * 784..(i + 1) * 784];
        s.data()
            .image_f32(s.data().index(Split::Test, i), &mut z[..]);
        img.copy_from_slice(&z);
        noise.fill(100 + i as u64, 0, &mut z);
        for (v, zv) in img.iter_mut().zip(&z) {
            *v += s.cfg().sigma as f32 * zv;
        }
    }
    let fresh = Model::build(s.cfg().model, s.cfg().seed);
    let mut d = Digester::new();
    d.f32s(&fresh.forward(&x, batch));
    out.push(("forward", d.finish()));

    let mut clock = || 0u64;
    s.begin(JobSpec::Train)?;
    s.step(JobKind::Train, 3, &mut clock)?;
    let mut d = Digester::new();
    d.f32s(&s.model().params_flat());
    out.push(("train", d.finish()));
    // the rest of the (short) training, so the certificates below are not all abstentions
    while !s.step(JobKind::Train, 64, &mut clock)?.done {}

    s.begin(JobSpec::CERTIFY)?;
    let mut d = Digester::new();
    loop {
        let st = s.step(JobKind::Certify, 1 << 20, &mut clock)?;
        if let JobEvent::Certify(c) = &st.event {
            for r in &c.records {
                let pred = r.prediction.class().map_or(u64::MAX, u64::from);
                d.u64s(&[r.index, r.label as u64, pred, r.count, r.n]);
                d.f64s(&[r.p_lower, r.radius]);
            }
            if st.done {
                d.f64s(&[c.summary.acr]);
                d.f64s(&c.summary.certified_accuracy);
            }
        }
        if st.done {
            break;
        }
    }
    out.push(("certify", d.finish()));

    s.begin(JobSpec::QuantEval { fresh: false })?;
    let result = loop {
        let st = s.step(JobKind::QuantEval, 1 << 20, &mut clock)?;
        if let JobEvent::QuantEval(QuantEvalStep {
            result: Some(r), ..
        }) = st.event
        {
            break r;
        }
        if st.done {
            return Err(crate::Error::State(
                "self-test: the quantized read-out ended without a result".into(),
            ));
        }
    };
    let mut d = Digester::new();
    d.f64s(&result.radii);
    d.f64s(&[
        result.summary.acr,
        result.points_accuracy,
        result.test_accuracy,
    ]);
    d.f64s(&result.summary.certified_accuracy);
    out.push(("integer", d.finish()));
    Ok(out)
}

/// Runs the self-test and compares it with [`GOLDEN`].
pub fn run() -> Result<SelfTest> {
    Ok(report(&digests()?))
}

/// The outcome of the digests `got` against [`GOLDEN`].
fn report(got: &[(&'static str, String)]) -> SelfTest {
    let parts: Vec<SelfTestPart> = got
        .iter()
        .zip(GOLDEN.iter())
        .map(|((name, digest), (gname, golden))| SelfTestPart {
            name: name.to_string(),
            what: what(name).to_string(),
            digest: digest.clone(),
            golden: golden.to_string(),
            ok: name == gname && digest == golden,
        })
        .collect();
    let passed = parts.len() == GOLDEN.len() && parts.iter().all(|p| p.ok);
    let bad: Vec<String> = parts
        .iter()
        .filter(|p| !p.ok)
        .map(|p| {
            format!(
                "{} ({}: {} instead of {})",
                p.name, p.what, p.digest, p.golden
            )
        })
        .collect();
    let message = if passed {
        String::new()
    } else {
        format!(
            "engine {} gives other numbers than the reference build in: {}; results here will not match links made elsewhere",
            crate::VERSION,
            bad.join("; ")
        )
    };
    let pairs: Vec<(&str, &str)> = got.iter().map(|(n, d)| (*n, d.as_str())).collect();
    SelfTest {
        passed,
        engine: crate::VERSION.to_string(),
        digest: lines_digest(&pairs),
        golden: lines_digest(&GOLDEN),
        parts,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The golden digests are this build's numbers (the wasm test suite checks the same).
    #[test]
    fn selftest_matches_golden() {
        let t = run().unwrap();
        // after an intended numeric change, paste these lines into GOLDEN
        for p in &t.parts {
            eprintln!("    (\"{}\", \"{}\"),", p.name, p.digest);
        }
        assert!(t.passed, "{}", t.message);
        assert_eq!(t.digest, t.golden);
    }

    /// A part that differs is named in the message, with both digests.
    #[test]
    fn a_differing_part_is_named() {
        let mut got: Vec<(&'static str, String)> =
            GOLDEN.iter().map(|(n, d)| (*n, d.to_string())).collect();
        assert!(report(&got).passed);
        got[4].1 = "0123456789abcdef".into();
        let t = report(&got);
        assert!(!t.passed);
        assert_ne!(t.digest, t.golden);
        assert!(
            t.message.contains("integer (integer quantized path")
                && t.message.contains("0123456789abcdef instead of"),
            "{}",
            t.message
        );
        assert!(!t.message.contains("noise ("), "{}", t.message);
        // a missing part fails too
        got.pop();
        assert!(!report(&got).passed);
    }
}
