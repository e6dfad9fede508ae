//! A pool of workers splits certification and the final table into fixed parts (item i in
//! part i % count): the parts, each run in its own session with the same weights, merged in
//! order, equal the unsharded run bit for bit (records, the core's summary, the assembled FP32
//! reference with its key and IRS cache, the table's rows), and bad parts are refused.

mod common {
    pub mod drive;
}
use common::drive::drive;

use arq::experiment::{CertifyStep, CompareRowSpec, JobEvent, JobKind, JobSpec, Session};
use arq::job::Part;
use arq::pipeline::compare::CompareRow;
use arq::pipeline::search::Method;
use arq::pipeline::Points;
use arq::ExperimentConfig;
use serde_json::{json, Value};

/// Small but complete; 7 points, so the parts are unequal.
const FRAG: &str = "v=1&ds=synth&epochs=1&train=256&batch=32&points=7&stride=3&n0=10&n=80&np=40&qft=2&calib=32&cbatch=32&spoints=4&episodes=2&warmup=1&hidden=8&sft=1&fft=2";

fn session() -> Session {
    Session::new(ExperimentConfig::from_fragment(FRAG).unwrap(), None).unwrap()
}

fn certify(s: &mut Session, part: Part) -> Vec<CertifyStep> {
    drive(
        s,
        JobSpec::Certify {
            part,
            points: Points::Report,
        },
    )
    .into_iter()
    .map(|e| match e {
        JobEvent::Certify(c) => c,
        _ => panic!("not a certify step"),
    })
    .collect()
}

/// A trained main session with one finished search, and a helper with its weights (loaded
/// from the main's checkpoint, so its generation counter differs).
fn main_and_checkpoint() -> (Session, Vec<u8>) {
    let mut s = session();
    drive(&mut s, JobSpec::Train);
    drive(
        &mut s,
        JobSpec::Search {
            method: Method::Random,
        },
    );
    let bytes = s.save_checkpoint();
    (s, bytes)
}

fn helper(checkpoint: &[u8]) -> Session {
    let mut h = session();
    h.load_checkpoint(checkpoint).unwrap();
    h
}

#[test]
fn sharded_certification_equals_the_whole_run() {
    let (mut whole, ckpt) = main_and_checkpoint();
    let steps = certify(&mut whole, Part::WHOLE);
    let records: Vec<_> = steps.iter().flat_map(|s| s.records.clone()).collect();
    let summary = steps.last().unwrap().summary.clone();
    let reference = whole.report_ref().cloned().unwrap();
    assert_eq!(records.len(), 7);
    for count in [2u32, 3] {
        let (mut main, _) = main_and_checkpoint();
        let mut all = vec![];
        let mut exported = vec![];
        for index in 0..count {
            let part = Part { index, count };
            let mut s = if index == 0 {
                None
            } else {
                Some(helper(&ckpt))
            };
            let s = s.as_mut().unwrap_or(&mut main);
            let st = certify(s, part);
            let recs: Vec<_> = st.iter().flat_map(|s| s.records.clone()).collect();
            let want: Vec<_> = part.select(records.clone());
            assert_eq!(json!(recs), json!(want), "part {index}/{count}");
            // a part is never taken for the whole reference
            if index > 0 {
                assert!(s.report_ref().is_none());
                exported.push(s.export_certify_part().unwrap());
            }
            all.extend(recs);
        }
        // the core's summary of the merged records (any order) is the whole run's
        assert_eq!(main.certify_summary(&all), summary);
        assert!(main.report_ref().is_none());
        let got = main.import_certify_parts(&exported).unwrap();
        assert_eq!(json!(got.records), json!(records));
        assert_eq!(got.summary, summary);
        let r = main.report_ref().cloned().unwrap();
        assert_eq!(r.key, reference.key);
        assert_eq!(*r.cache, *reference.cache);
        assert_eq!(r.summary, reference.summary);
        assert_eq!(r.base_accuracy, reference.base_accuracy);
    }
}

#[test]
fn a_read_out_after_a_pooled_certification_finds_the_cache() {
    let (mut whole, ckpt) = main_and_checkpoint();
    certify(&mut whole, Part::WHOLE);
    let want = drive(&mut whole, JobSpec::QuantEval { fresh: false });
    let (mut main, _) = main_and_checkpoint();
    certify(&mut main, Part { index: 0, count: 2 });
    let mut h = helper(&ckpt);
    certify(&mut h, Part { index: 1, count: 2 });
    main.import_certify_parts(&[h.export_certify_part().unwrap()])
        .unwrap();
    let got = drive(&mut main, JobSpec::QuantEval { fresh: false });
    // the read-out starts at its IRS phase: no FP32 certification again
    let phase = |e: &JobEvent| match e {
        JobEvent::QuantEval(q) => q.phase,
        _ => panic!(),
    };
    assert_ne!(phase(&got[0]), "fp32-certify");
    let result = |ev: &[JobEvent]| match ev.last().unwrap() {
        JobEvent::QuantEval(q) => {
            let mut v = json!(q.result);
            v["micros"] = Value::Null;
            v
        }
        _ => panic!(),
    };
    assert_eq!(result(&got), result(&want));
}

fn table(s: &mut Session, part: Part, rows: Option<Vec<CompareRowSpec>>) -> Vec<CompareRow> {
    match drive(s, JobSpec::Compare { part, rows }).pop().unwrap() {
        JobEvent::Compare(c) => c.rows,
        _ => panic!("not a compare step"),
    }
}

#[test]
fn sharded_final_table_equals_the_whole_table() {
    let (mut main, ckpt) = main_and_checkpoint();
    let rows = main.compare_rows().unwrap();
    assert_eq!(
        rows.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        ["FP32", "uniform (best within budget)", "random"]
    );
    assert!(rows[1].best_uniform && !rows[0].best_uniform && !rows[2].best_uniform);
    let whole = table(&mut main, Part::WHOLE, None);
    assert_eq!(whole.len(), 3);
    // the uniform row is chosen by whichever worker computes it (part 1 of 2 and 3 below,
    // a helper without the search split's FP32 reference): the same choice and numbers
    assert!(whole[1].name.starts_with("uniform W"), "{}", whole[1].name);
    assert!(whole[1].uniform.is_some());
    for count in [2u32, 3] {
        let parts: Vec<Vec<CompareRow>> = (0..count)
            .map(|index| {
                let mut h = helper(&ckpt);
                table(&mut h, Part { index, count }, Some(rows.clone()))
            })
            .collect();
        let merged = Part::merge(parts).unwrap();
        assert_eq!(json!(merged), json!(whole), "{count} parts");
    }
}

#[test]
fn bad_parts_and_rows_are_refused() {
    let (mut main, ckpt) = main_and_checkpoint();
    let err = |s: &mut Session, spec: JobSpec| s.begin(spec).unwrap_err().to_string();
    let e = err(
        &mut main,
        JobSpec::Certify {
            part: Part { index: 2, count: 2 },
            points: Points::Report,
        },
    );
    assert!(e.contains("part.index"), "{e}");
    let e = err(
        &mut main,
        JobSpec::Certify {
            part: Part { index: 0, count: 0 },
            points: Points::Report,
        },
    );
    assert!(e.contains("part.count"), "{e}");
    let e = err(
        &mut main,
        JobSpec::Compare {
            part: Part { index: 1, count: 1 },
            rows: None,
        },
    );
    assert!(e.contains("part.index"), "{e}");
    let mut rows = main.compare_rows().unwrap();
    rows[1].wb.pop();
    let e = err(
        &mut main,
        JobSpec::Compare {
            part: Part::WHOLE,
            rows: Some(rows),
        },
    );
    assert!(e.contains("rows[1].wb"), "{e}");
    let mut rows = main.compare_rows().unwrap();
    rows[2].ab[0] = 9;
    let e = err(
        &mut main,
        JobSpec::Compare {
            part: Part::WHOLE,
            rows: Some(rows),
        },
    );
    assert!(e.contains("rows[2].ab"), "{e}");
    // the JSON forms: a spec without part is the whole job
    let spec: JobSpec = serde_json::from_value(json!({"kind": "certify"})).unwrap();
    assert_eq!(spec, JobSpec::CERTIFY);
    let spec: JobSpec = serde_json::from_value(json!({"kind": "compare"})).unwrap();
    assert_eq!(spec, JobSpec::COMPARE);
    // nothing to export before a part ran; parts that do not add up, or come from other
    // weights, are refused
    assert!(main.export_certify_part().is_err());
    certify(&mut main, Part { index: 0, count: 3 });
    let mut h = helper(&ckpt);
    certify(&mut h, Part { index: 1, count: 3 });
    let one = h.export_certify_part().unwrap();
    let e = main
        .import_certify_parts(std::slice::from_ref(&one))
        .unwrap_err()
        .to_string();
    assert!(e.contains("parts"), "{e}");
    let e = main
        .import_certify_parts(&[b"junk".to_vec()])
        .unwrap_err()
        .to_string();
    assert!(e.contains("parts[0]"), "{e}");
    let mut fresh = session();
    certify(&mut fresh, Part { index: 1, count: 2 });
    let mut m2 = helper(&ckpt);
    certify(&mut m2, Part { index: 0, count: 2 });
    let e = m2
        .import_certify_parts(&[fresh.export_certify_part().unwrap()])
        .unwrap_err()
        .to_string();
    assert!(e.contains("parts[0].identity"), "{e}");
    assert!(m2.report_ref().is_none());
}

/// Runs another worker's IRS part to its end; the part's output bytes.
fn irs_part(h: &mut Session, task: &[u8]) -> Vec<u8> {
    let first = h.begin_irs_part(task).unwrap();
    assert_eq!(first.kind, JobKind::IrsPart);
    loop {
        if h.step(JobKind::IrsPart, 37, &mut || 0).unwrap().done {
            return h.export_irs_part().unwrap();
        }
    }
}

/// When merged: at once after the split, or after this worker's own part is done.
#[derive(Clone, Copy, PartialEq)]
enum MergeAt {
    Split,
    OwnDone,
}

/// Steps `kind` to its end as worker 0 of a pool of `helpers.len() + 1`: each IRS phase is
/// split when it starts, the helpers run the other parts and the parts are merged at `at`.
/// Every step's event.
fn pooled(s: &mut Session, helpers: &mut [Session], spec: JobSpec, at: MergeAt) -> Vec<JobEvent> {
    let kind = spec.kind();
    let count = helpers.len() as u32 + 1;
    let mut out = vec![s.begin(spec).unwrap().event];
    let mut parts: Option<Vec<Vec<u8>>> = None;
    let mut phase = "";
    loop {
        if matches!(phase, "irs" | "certify") && parts.is_none() && count > 1 {
            let tasks = s.split_irs(kind, count).unwrap();
            assert_eq!(tasks.len(), helpers.len());
            let done: Vec<Vec<u8>> = helpers
                .iter_mut()
                .zip(&tasks)
                .map(|(h, t)| irs_part(h, t))
                .collect();
            if at == MergeAt::Split {
                s.merge_irs(kind, &done).unwrap();
            }
            parts = Some(done);
        }
        if matches!(phase, "irs-pool" | "certify-pool") {
            assert!(at == MergeAt::OwnDone);
            s.merge_irs(kind, parts.as_ref().unwrap()).unwrap();
        }
        let st = s.step(kind, 500, &mut || 0).unwrap();
        if !matches!(
            st.work.phase,
            "irs" | "irs-pool" | "certify" | "certify-pool"
        ) {
            parts = None;
        }
        phase = st.work.phase;
        out.push(st.event);
        if st.done {
            return out;
        }
    }
}

fn episodes(ev: &[JobEvent]) -> Vec<Value> {
    ev.iter()
        .filter_map(|e| match e {
            JobEvent::Search(s) => s.episode.as_ref().map(|e| json!(e)),
            _ => None,
        })
        .collect()
}

fn read_out(ev: &[JobEvent]) -> Value {
    match ev.last().unwrap() {
        JobEvent::QuantEval(q) => json!(q.result),
        _ => panic!("not a read-out"),
    }
}

/// The search's FP32 reference certified in parts (point i in part i % count) and the IRS of
/// every episode split over the pool give the unsharded search's reference, episodes
/// (policies, rewards, ACR), trajectory and best policy bit for bit, for 2 and 3 workers and
/// whether the parts come in before or after worker 0's own part is done.
#[test]
fn pooled_search_equals_the_whole_search() {
    let (_, ckpt) = main_and_checkpoint();
    // sessions loaded from the checkpoint: no search reference yet, the same generation
    let mut whole = helper(&ckpt);
    let arq = JobSpec::Search {
        method: Method::Arq,
    };
    let want = drive(&mut whole, arq.clone());
    let reference = whole.search_ref().cloned().unwrap();
    let want_eps = episodes(&want);
    assert_eq!(want_eps.len(), 2);
    let want_state = json!(whole.search_state());
    for (count, at) in [(2u32, MergeAt::OwnDone), (3, MergeAt::Split)] {
        let mut main = helper(&ckpt);
        let mut helpers: Vec<Session> = (1..count).map(|_| helper(&ckpt)).collect();
        // the FP32 reference of the search split, in parts
        assert!(!main.has_reference(Points::Search));
        let points = Points::Search;
        drive(
            &mut main,
            JobSpec::Certify {
                part: Part { index: 0, count },
                points,
            },
        );
        let exported: Vec<Vec<u8>> = helpers
            .iter_mut()
            .enumerate()
            .map(|(k, h)| {
                let part = Part {
                    index: k as u32 + 1,
                    count,
                };
                drive(h, JobSpec::Certify { part, points });
                h.export_certify_part().unwrap()
            })
            .collect();
        assert!(!main.has_reference(Points::Search));
        main.import_certify_parts(&exported).unwrap();
        assert!(main.has_reference(Points::Search));
        assert!(!main.has_reference(Points::Report));
        let r = main.search_ref().cloned().unwrap();
        assert_eq!(r.key, reference.key);
        assert_eq!(*r.cache, *reference.cache);
        assert_eq!(r.summary, reference.summary);
        assert_eq!(r.base_accuracy, reference.base_accuracy);
        let got = pooled(&mut main, &mut helpers, arq.clone(), at);
        // no FP32 certification again, and worker 0 waited for the parts when they came late
        let phases: Vec<&str> = got
            .iter()
            .filter_map(|e| match e {
                JobEvent::Search(s) => Some(s.progress.phase),
                _ => None,
            })
            .collect();
        assert!(!phases.contains(&"fp32-certify"), "{phases:?}");
        assert_eq!(phases.contains(&"irs-pool"), at == MergeAt::OwnDone);
        assert_eq!(episodes(&got), want_eps, "{count} workers");
        // every helper certified a part
        assert!(helpers.iter().all(|h| h.export_irs_part().is_ok()));
        assert_eq!(json!(main.search_state()), want_state);
        assert_eq!(main.compare_rows(), whole.compare_rows());
    }
}

/// The quick read-out's IRS (and a fresh read-out's CERTIFY) split over 2 and 3 workers gives
/// the unsharded read-out's result bit for bit (the IRS statistics included); a split made
/// whole again (a pool shrunk to one worker) too.
#[test]
fn pooled_read_out_equals_the_whole_read_out() {
    let (mut whole, ckpt) = main_and_checkpoint();
    certify(&mut whole, Part::WHOLE);
    let want = read_out(&drive(&mut whole, JobSpec::QuantEval { fresh: false }));
    assert!(want["irs"]["samples"].as_u64().unwrap() > 0);
    for (count, at) in [(2u32, MergeAt::Split), (3, MergeAt::OwnDone)] {
        let (mut main, _) = main_and_checkpoint();
        certify(&mut main, Part::WHOLE);
        let mut helpers: Vec<Session> = (1..count).map(|_| helper(&ckpt)).collect();
        let got = pooled(
            &mut main,
            &mut helpers,
            JobSpec::QuantEval { fresh: false },
            at,
        );
        assert_eq!(read_out(&got), want, "{count} workers");
    }
    // the fresh read-out (CERTIFY of the integer model from scratch) split the same way
    let (mut whole, _) = main_and_checkpoint();
    let fresh = JobSpec::QuantEval { fresh: true };
    let want_fresh = read_out(&drive(&mut whole, fresh.clone()));
    assert!(want_fresh["irs"].is_null());
    for (count, at) in [(2u32, MergeAt::OwnDone), (3, MergeAt::Split)] {
        let (mut main, _) = main_and_checkpoint();
        let mut helpers: Vec<Session> = (1..count).map(|_| helper(&ckpt)).collect();
        let got = pooled(&mut main, &mut helpers, fresh.clone(), at);
        assert_eq!(read_out(&got), want_fresh, "fresh, {count} workers");
        assert!(helpers.iter().all(|h| h.export_irs_part().is_ok()));
    }
    // split, then whole again before any part came in: the read-out runs as one
    let (mut main, _) = main_and_checkpoint();
    certify(&mut main, Part::WHOLE);
    let kind = JobKind::QuantEval;
    main.begin(JobSpec::QuantEval { fresh: false }).unwrap();
    while main.step(kind, 500, &mut || 0).unwrap().work.phase != "irs" {}
    assert_eq!(main.split_irs(kind, 2).unwrap().len(), 1);
    main.step(kind, 500, &mut || 0).unwrap();
    assert!(main.split_irs(kind, 1).unwrap().is_empty());
    let mut last = main.step(kind, 1 << 40, &mut || 0).unwrap();
    while !last.done {
        last = main.step(kind, 1 << 40, &mut || 0).unwrap();
    }
    assert_eq!(read_out(&[last.event]), want);
}

/// Bad splits, tasks and parts are refused with the field, and a helper with other weights
/// refuses a task.
#[test]
fn bad_irs_splits_and_parts_are_refused() {
    let (mut main, ckpt) = main_and_checkpoint();
    certify(&mut main, Part::WHOLE);
    let kind = JobKind::QuantEval;
    let e = main.split_irs(kind, 2).unwrap_err().to_string();
    assert!(
        e.contains("quantEval step without a running quantEval job"),
        "{e}"
    );
    let e = main.split_irs(JobKind::Train, 2).unwrap_err().to_string();
    assert!(e.contains("kind"), "{e}");
    main.begin(JobSpec::QuantEval { fresh: false }).unwrap();
    let e = main.split_irs(kind, 2).unwrap_err().to_string();
    assert!(e.contains("no IRS phase to split"), "{e}");
    while main.step(kind, 500, &mut || 0).unwrap().work.phase != "irs" {}
    let e = main.split_irs(kind, 0).unwrap_err().to_string();
    assert!(e.contains("part.count"), "{e}");
    let old = main.split_irs(kind, 3).unwrap();
    let tasks = main.split_irs(kind, 3).unwrap();
    let mut h = helper(&ckpt);
    let stale = irs_part(&mut h, &old[0]);
    let fresh: Vec<Vec<u8>> = tasks.iter().map(|t| irs_part(&mut h, t)).collect();
    let err =
        |m: &mut Session, parts: &[Vec<u8>]| m.merge_irs(kind, parts).unwrap_err().to_string();
    let e = err(&mut main, &[stale, fresh[1].clone()]);
    assert!(e.contains("parts[0].split"), "{e}");
    let e = err(&mut main, &fresh[..1]);
    assert!(e.contains("parts"), "{e}");
    let e = err(&mut main, &[fresh[0].clone(), fresh[0].clone()]);
    assert!(e.contains("parts"), "{e}");
    let e = err(&mut main, &[b"junk".to_vec()]);
    assert!(e.contains("parts[0]"), "{e}");
    // tasks: junk, and a helper whose weights differ
    let e = h.begin_irs_part(b"junk").unwrap_err().to_string();
    assert!(e.contains("task"), "{e}");
    let mut other = session();
    let e = other.begin_irs_part(&tasks[0]).unwrap_err().to_string();
    assert!(e.contains("task.identity"), "{e}");
    assert!(other.export_irs_part().is_err());
    let e = other
        .step(JobKind::IrsPart, 1, &mut || 0)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("irsPart step without a running irsPart job"),
        "{e}"
    );
    // the good parts still merge, and the read-out finishes
    main.merge_irs(kind, &fresh).unwrap();
    while !main.step(kind, 500, &mut || 0).unwrap().done {}
    // the final table's points are not certified in parts
    let e = main
        .begin(JobSpec::Certify {
            part: Part::WHOLE,
            points: Points::Final,
        })
        .unwrap_err()
        .to_string();
    assert!(e.contains("spec.points"), "{e}");
}
