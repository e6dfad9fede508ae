//! A pool of workers splits certification and the final table into fixed parts (item i in
//! part i % count): the parts, each run in its own session with the same weights, merged in
//! order, equal the unsharded run bit for bit (records, the core's summary, the assembled FP32
//! reference with its key and IRS cache, the table's rows), and bad parts are refused.

use arq::experiment::{CertifyStep, CompareRowSpec, JobEvent, JobSpec, Session};
use arq::job::Part;
use arq::pipeline::compare::CompareRow;
use arq::pipeline::search::Method;
use arq::ExperimentConfig;
use serde_json::{json, Value};

/// Small but complete; 7 points, so the parts are unequal.
const FRAG: &str = "v=1&ds=synth&epochs=1&train=256&batch=32&points=7&stride=3&n0=10&n=80&np=40&qft=2&calib=32&cbatch=32&spoints=4&episodes=2&warmup=1&hidden=8&sft=1&fft=2";

fn session() -> Session {
    Session::new(ExperimentConfig::from_fragment(FRAG).unwrap(), None).unwrap()
}

/// Runs `spec` to its end; every step's event.
fn drive(s: &mut Session, spec: JobSpec) -> Vec<JobEvent> {
    let kind = spec.kind();
    let mut out = vec![s.begin(spec).unwrap().event];
    loop {
        let st = s.step(kind, 500, &mut || 0).unwrap();
        out.push(st.event);
        if st.done {
            return out;
        }
    }
}

fn certify(s: &mut Session, part: Part) -> Vec<CertifyStep> {
    drive(s, JobSpec::Certify { part })
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
        },
    );
    assert!(e.contains("part.index"), "{e}");
    let e = err(
        &mut main,
        JobSpec::Certify {
            part: Part { index: 0, count: 0 },
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
