//! The session's long tasks through the one job API (`Session::begin`, `step`, `cancel`):
//! the step budget never changes a result, a step without its job is a clear error naming
//! the kind, and a paused search survives a certification run.

use arq::experiment::{JobEvent, JobKind, JobSpec, JobStep, Session};
use arq::pipeline::search::Method;
use arq::{Error, ExperimentConfig};
use serde_json::{json, Value};

/// Tiny but complete: training, certification, read-out, a 3-episode search, comparison.
const FRAG: &str = "v=1&ds=synth&epochs=1&train=256&batch=32&points=6&stride=3&n0=10&n=80&np=40&qft=2&calib=32&wb=4&ab=4&cbatch=32&spoints=4&episodes=3&warmup=1&hidden=8&sft=1&fft=2";

const KINDS: [JobKind; 6] = [
    JobKind::Train,
    JobKind::Certify,
    JobKind::QuantEval,
    JobKind::Search,
    JobKind::Compare,
    JobKind::Sensitivity,
];

fn session() -> Session {
    Session::new(ExperimentConfig::from_fragment(FRAG).unwrap(), None).unwrap()
}

/// What a step hands out that must not depend on the budget (the clock is constant, so
/// times are 0 and part of the comparison too).
fn outputs(st: &JobStep) -> Vec<Value> {
    match &st.event {
        JobEvent::Train(p) => p.epoch_end.iter().map(|e| json!(e)).collect(),
        JobEvent::Certify(c) => c.records.iter().map(|r| json!(r)).collect(),
        JobEvent::QuantEval(q) => q.result.iter().map(|r| json!(r)).collect(),
        JobEvent::Search(s) => s.episode.iter().map(|e| json!(e)).collect(),
        JobEvent::Compare(c) => c.row.iter().map(|r| json!(r)).collect(),
        JobEvent::Sensitivity(s) => s.row.iter().map(|r| json!(r)).collect(),
        JobEvent::IrsPart(p) => vec![json!(p.progress)],
        JobEvent::Digit(d) => [&d.fp32, &d.quantized].iter().map(|c| json!(c)).collect(),
    }
}

/// Run `spec` to its end with steps of `budget`; every output of every step, in order.
fn drive(s: &mut Session, spec: JobSpec, budget: u64) -> Vec<Value> {
    let kind = spec.kind();
    let first = s.begin(spec).unwrap();
    assert_eq!(first.kind, kind);
    assert!(!first.done);
    let mut out = outputs(&first);
    loop {
        let st = s.step(kind, budget, &mut || 0).unwrap();
        assert_eq!(st.kind, kind);
        assert!(
            st.work.done <= st.work.total || st.work.total == 0,
            "{st:?}"
        );
        out.extend(outputs(&st));
        if st.done {
            return out;
        }
    }
}

/// The whole pipeline at one step budget: the outputs of each job.
fn pipeline(budget: u64) -> Vec<Vec<Value>> {
    let mut s = session();
    let search = JobSpec::Search {
        method: Method::Arq,
    };
    let mut runs = vec![drive(&mut s, JobSpec::Train, budget)];
    runs.push(vec![json!(s.save_checkpoint())]);
    for spec in [
        JobSpec::CERTIFY,
        JobSpec::QuantEval { fresh: false },
        JobSpec::QuantEval { fresh: true },
        search,
        JobSpec::COMPARE,
    ] {
        runs.push(drive(&mut s, spec, budget));
    }
    runs
}

#[test]
fn step_budgets_never_change_results() {
    let big = pipeline(1 << 40);
    // epochs, checkpoint, records, read-out, read-out, episodes, rows
    let counts: Vec<usize> = big.iter().map(Vec::len).collect();
    assert_eq!(counts, [1, 1, 6, 1, 1, 3, 3]);
    for budget in [1, 7] {
        assert_eq!(pipeline(budget), big, "budget {budget}");
    }
}

fn state_error(r: arq::Result<JobStep>) -> String {
    match r {
        Err(Error::State(m)) => m,
        other => panic!("expected a state error, got {other:?}"),
    }
}

#[test]
fn steps_without_their_job_are_clear_errors() {
    let mut s = session();
    for kind in KINDS {
        let m = state_error(s.step(kind, 1, &mut || 0));
        assert!(m.contains(kind.name()), "{m:?} should name {kind}");
    }
    // after a cancel, the same error; a finished job leaves its slot empty too
    drive(&mut s, JobSpec::Train, 1 << 40);
    let before = state_error(s.step(JobKind::Train, 1, &mut || 0));
    s.begin(JobSpec::CERTIFY).unwrap();
    s.step(JobKind::Certify, 5, &mut || 0).unwrap();
    s.cancel(JobKind::Certify);
    let m = state_error(s.step(JobKind::Certify, 1, &mut || 0));
    assert!(m.contains("certify"), "{m:?}");
    assert_eq!(before.replace("train", "certify"), m);
    // cancelling an empty slot is harmless
    s.cancel(JobKind::Search);
}

#[test]
fn a_paused_search_survives_a_certification_run() {
    let mut reference = session();
    drive(&mut reference, JobSpec::Train, 1 << 40);
    let search = JobSpec::Search {
        method: Method::Random,
    };
    let want = drive(&mut reference, search.clone(), 1 << 40);

    let mut s = session();
    drive(&mut s, JobSpec::Train, 1 << 40);
    let mut got = outputs(&s.begin(search).unwrap());
    // pause in the middle of the second episode
    let mut extra = 2;
    while got.is_empty() || extra > 0 {
        let st = s.step(JobKind::Search, 50, &mut || 0).unwrap();
        assert!(!st.done);
        extra -= usize::from(!got.is_empty());
        got.extend(outputs(&st));
    }
    assert_eq!(got.len(), 1);
    let records = drive(&mut s, JobSpec::CERTIFY, 100);
    assert_eq!(records.len(), 6);
    loop {
        let st = s.step(JobKind::Search, 1 << 40, &mut || 0).unwrap();
        got.extend(outputs(&st));
        if st.done {
            break;
        }
    }
    assert_eq!(got, want);
    assert_eq!(s.searched_policies().len(), 1);
}

#[test]
fn job_steps_serialise_with_kind_work_and_a_tagged_event() {
    let mut s = session();
    let st = s.begin(JobSpec::Train).unwrap();
    let v = serde_json::to_value(&st).unwrap();
    assert_eq!(v["kind"], "train");
    assert_eq!(v["done"], false);
    assert_eq!(v["work"]["phase"], "train");
    assert_eq!(v["work"]["done"], 0);
    assert_eq!(v["work"]["total"], 8);
    assert_eq!(v["event"]["kind"], "train");
    assert_eq!(v["event"]["totalBatches"], 8);
    let st = s.step(JobKind::Train, 3, &mut || 0).unwrap();
    let v = serde_json::to_value(&st).unwrap();
    assert_eq!(v["work"]["done"], 3);
    assert_eq!(v["event"]["batchesDone"], 3);
    let v = serde_json::to_value(JobSpec::QuantEval { fresh: true }).unwrap();
    assert_eq!(v, json!({"kind": "quantEval", "fresh": true}));
    let v = serde_json::to_value(s.begin(JobSpec::QuantEval { fresh: false }).unwrap()).unwrap();
    assert_eq!(v["kind"], "quantEval");
    assert_eq!(v["event"]["kind"], "quantEval");
    assert_eq!(v["work"]["phase"], "fp32-certify");
}
