//! A small per-layer sensitivity run on the procedural dataset, shared by tests/sensitivity.rs
//! (native) and tests/wasm.rs (wasm32): both check the rows' digest against [`ROWS_DIGEST`],
//! so the table is bit-identical in both builds.
#![allow(dead_code)] // each test binary uses part of this module

use arq::config::ExperimentConfig;
use arq::data::hex;
use arq::experiment::{JobEvent, JobKind, JobSpec, JobStep, SensitivityStep, Session};
use arq::pipeline::sensitivity::Side;
use sha2::{Digest, Sha256};

/// Tiny but complete: one epoch of training, then a 4-point search split.
pub const FRAG: &str = "v=1&ds=synth&epochs=3&train=1024&batch=32&points=6&stride=3&n0=10&n=100&np=40&calib=32&cbatch=50&spoints=8&sft=2";

/// SHA-256 (first 16 hex digits) of the JSON rows of [`rows_digest`]'s run.
pub const ROWS_DIGEST: &str = "dcbcae7f342f7966";

/// A session of [`FRAG`] with one epoch of training behind its weights.
pub fn trained_session() -> Session {
    let mut s = Session::new(ExperimentConfig::from_fragment(FRAG).unwrap(), None).unwrap();
    s.begin(JobSpec::Train).unwrap();
    while !s.step(JobKind::Train, 1 << 20, &mut || 0).unwrap().done {}
    s
}

/// The sensitivity step of a job step.
pub fn payload(st: &JobStep) -> &SensitivityStep {
    match &st.event {
        JobEvent::Sensitivity(s) => s,
        other => panic!("a sensitivity step answered with {other:?}"),
    }
}

/// Run a sensitivity job to its end with steps of `budget`; every step's payload in order.
pub fn drive(s: &mut Session, bits: u32, side: Side, budget: u64) -> Vec<SensitivityStep> {
    let first = s.begin(JobSpec::Sensitivity { bits, side }).unwrap();
    assert_eq!(first.kind, JobKind::Sensitivity);
    let mut out = vec![payload(&first).clone()];
    loop {
        let st = s.step(JobKind::Sensitivity, budget, &mut || 0).unwrap();
        assert!(
            st.work.done <= st.work.total || st.work.total == 0,
            "{st:?}"
        );
        out.push(payload(&st).clone());
        if st.done {
            return out;
        }
    }
}

/// Digest of the rows (as JSON) of a W4A4 single-layer run on the trained [`FRAG`] session.
pub fn rows_digest() -> String {
    let mut s = trained_session();
    let steps = drive(&mut s, 4, Side::Both, 1 << 40);
    let last = steps.last().unwrap();
    let mut h = Sha256::new();
    h.update(serde_json::to_vec(&last.rows).unwrap());
    h.update(serde_json::to_vec(&last.reference).unwrap());
    hex(&h.finalize())[..16].to_string()
}
