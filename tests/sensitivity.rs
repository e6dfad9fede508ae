//! Per-layer sensitivity (`JobSpec::Sensitivity`, `arq sensitivity`): one row per quantizable
//! layer in network order, each the layer alone at k bits evaluated like a search episode;
//! rows that do not depend on the step budget, a digest shared with the wasm build, bad
//! settings that name the field, and a cancel that leaves the session usable.

mod common {
    pub mod sensitivity;
}
use arq::experiment::{JobKind, JobSpec};
use arq::pipeline::search::Method;
use arq::pipeline::sensitivity::{ranks, single_layer_policy, Side};
use arq::quant::{quant_layers, Bits};
use common::sensitivity::{drive, payload, rows_digest, trained_session, ROWS_DIGEST};

#[test]
fn one_row_per_quantizable_layer_in_network_order() {
    let mut s = trained_session();
    let layers = quant_layers(s.model());
    let steps = drive(&mut s, 3, Side::Both, 1 << 40);
    let last = steps.last().unwrap();
    assert!(last.done);
    assert_eq!(last.rows.len(), layers.len());
    assert_eq!(last.rows_total, layers.len());
    let reference = last.reference.as_ref().expect("the reference is reported");
    assert_eq!(reference.points, s.cfg().spoints as usize);
    // the rows stream one at a time, in layer order
    let streamed: Vec<_> = steps.iter().filter_map(|st| st.row.clone()).collect();
    assert_eq!(streamed.len(), layers.len());
    for (j, (r, q)) in last.rows.iter().zip(&layers).enumerate() {
        assert_eq!(r.layer, j);
        assert_eq!(r.name, q.name);
        assert_eq!(r.kind, q.kind);
        assert_eq!((r.bits, r.side), (3, Side::Both));
        assert_eq!(streamed[j].fragment, r.fragment);
        let want = single_layer_policy(layers.len(), j, Bits::new(3).unwrap(), Side::Both);
        assert_eq!(r.fragment, want.to_fragment());
        assert!((r.delta_acr - (r.acr - reference.fp32_acr)).abs() < 1e-12);
        assert!((r.delta_accuracy - (r.accuracy - reference.fp32_accuracy)).abs() < 1e-12);
        assert!(r.bops_ratio > 0.0 && r.bops_ratio < 1.0, "{}", r.bops_ratio);
        let irs = r.irs.as_ref().expect("IRS statistics");
        assert_eq!(
            irs.incremental + irs.fallback + irs.skipped,
            s.cfg().spoints as usize
        );
    }
    // one layer at 3 bits in both sides: BOPs (3*3 on that layer's MACs) are below FP32's
    let total: u64 = layers.iter().map(|q| q.macs).sum();
    for (r, q) in last.rows.iter().zip(&layers) {
        let want =
            (total - q.macs) as f64 / total as f64 + q.macs as f64 * 9.0 / (1024.0 * total as f64);
        assert!(
            (r.bops_ratio - want).abs() < 1e-9,
            "{}: {} vs {want}",
            r.name,
            r.bops_ratio
        );
    }
    // the finished job left its slot
    let e = s.step(JobKind::Sensitivity, 10, &mut || 0).unwrap_err();
    assert!(e.to_string().contains("sensitivity"), "{e}");
}

#[test]
fn the_step_budget_never_changes_a_row() {
    let mut a = trained_session();
    let mut b = trained_session();
    let small = drive(&mut a, 2, Side::W, 1);
    let big = drive(&mut b, 2, Side::W, 1 << 40);
    let rows = |steps: &[arq::experiment::SensitivityStep]| {
        serde_json::to_string(&steps.last().unwrap().rows).unwrap()
    };
    assert_eq!(rows(&small), rows(&big));
    let reference = |steps: &[arq::experiment::SensitivityStep]| {
        serde_json::to_string(&steps.last().unwrap().reference).unwrap()
    };
    assert_eq!(reference(&small), reference(&big));
    assert!(small.len() > big.len(), "budget 1 takes more steps");
}

#[test]
fn sides_quantize_only_their_half_of_the_layer() {
    let mut s = trained_session();
    let n = quant_layers(s.model()).len();
    for (side, wb, ab) in [(Side::W, "5", "f"), (Side::A, "f", "5")] {
        let steps = drive(&mut s, 5, side, 1 << 40);
        let rows = &steps.last().unwrap().rows;
        assert_eq!(rows.len(), n);
        for (j, r) in rows.iter().enumerate() {
            let list = |v: &str| {
                (0..n)
                    .map(|i| if i == j { v } else { "f" })
                    .collect::<Vec<_>>()
                    .join(",")
            };
            assert_eq!(r.fragment, format!("wb={}&ab={}", list(wb), list(ab)));
            assert_eq!(r.side, side);
        }
    }
}

#[test]
fn rows_digest_is_the_wasm_builds() {
    let got = rows_digest();
    if std::env::var_os("ARQ_BLESS").is_some() {
        eprintln!("ROWS_DIGEST = {got}");
        return;
    }
    assert_eq!(
        got, ROWS_DIGEST,
        "set tests/common/sensitivity.rs ROWS_DIGEST after an intended change"
    );
}

#[test]
fn the_search_and_the_sensitivity_share_one_fp32_reference() {
    let mut s = trained_session();
    drive(&mut s, 4, Side::Both, 1 << 40);
    let search = s
        .begin(JobSpec::Search {
            method: Method::Random,
        })
        .unwrap();
    assert_ne!(search.work.phase, "fp32-certify", "{search:?}");
    s.cancel(JobKind::Search);
    // and the other way round: a fresh session's search certifies it, the sensitivity reuses it
    let mut t = trained_session();
    t.begin(JobSpec::Search {
        method: Method::Random,
    })
    .unwrap();
    while t
        .step(JobKind::Search, 1 << 20, &mut || 0)
        .unwrap()
        .work
        .phase
        == "fp32-certify"
    {}
    t.cancel(JobKind::Search);
    let first = t
        .begin(JobSpec::Sensitivity {
            bits: 4,
            side: Side::Both,
        })
        .unwrap();
    assert_eq!(first.work.phase, "irs-floor", "{first:?}");
}

#[test]
fn bad_settings_name_the_field_and_what_is_allowed() {
    let mut s = trained_session();
    for bits in [0, 1, 9, 16, 32] {
        let e = s
            .begin(JobSpec::Sensitivity {
                bits,
                side: Side::Both,
            })
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("bits") && e.contains(&bits.to_string()) && e.contains("2..=8"),
            "{e}"
        );
    }
    let e = Side::parse("weights").unwrap_err().to_string();
    assert!(
        e.contains("side") && e.contains("weights") && e.contains("w, a, both"),
        "{e}"
    );
    let spec: Result<JobSpec, _> =
        serde_json::from_str(r#"{"kind":"sensitivity","bits":4,"side":"x"}"#);
    assert!(spec.is_err());
    let spec: JobSpec = serde_json::from_str(r#"{"kind":"sensitivity","bits":4}"#).unwrap();
    assert_eq!(
        spec,
        JobSpec::Sensitivity {
            bits: 4,
            side: Side::Both
        }
    );
}

#[test]
fn cancel_keeps_the_session_usable_and_finished_rows_stay_the_same() {
    let mut s = trained_session();
    let first = s
        .begin(JobSpec::Sensitivity {
            bits: 4,
            side: Side::Both,
        })
        .unwrap();
    assert!(!first.done);
    let mut seen = vec![];
    while seen.is_empty() {
        let st = s.step(JobKind::Sensitivity, 50, &mut || 0).unwrap();
        seen.extend(payload(&st).row.clone());
    }
    s.cancel(JobKind::Sensitivity);
    let e = s
        .step(JobKind::Sensitivity, 10, &mut || 0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("sensitivity") && e.contains("begin"), "{e}");
    // a new run gives the same first row
    let again = drive(&mut s, 4, Side::Both, 1 << 40);
    let rows = &again.last().unwrap().rows;
    assert_eq!(
        serde_json::to_string(&rows[0]).unwrap(),
        serde_json::to_string(&seen[0]).unwrap()
    );
}

#[test]
fn new_weights_drop_a_running_table() {
    let mut s = trained_session();
    s.begin(JobSpec::Sensitivity {
        bits: 4,
        side: Side::Both,
    })
    .unwrap();
    let bytes = s.save_checkpoint();
    s.load_checkpoint(&bytes).unwrap();
    assert!(s.step(JobKind::Sensitivity, 10, &mut || 0).is_err());
}

#[test]
fn ranks_put_the_largest_acr_drop_first() {
    let mut s = trained_session();
    let mut rows = drive(&mut s, 2, Side::Both, 1 << 40).pop().unwrap().rows;
    for (r, d) in rows.iter_mut().zip([-0.1, -0.3, 0.0, -0.3, -0.2]) {
        r.delta_acr = d;
        r.delta_accuracy = 0.0;
    }
    rows[3].delta_accuracy = -0.01;
    assert_eq!(ranks(&rows), vec![4, 2, 5, 1, 3]);
}
