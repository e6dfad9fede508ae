//! Issue 13: the presentation keys (schema group `view`: `view`, `hide`, `lock`, `embed`) ride
//! in the experiment's fragment but change no number. Natively, a session and `arq run --url`
//! give identical results with and without them; every subcommand accepts them and rejects a
//! bad one naming the key, the value and what is allowed; the experiment's canonical fragment
//! (and so the determinism digests' inputs) is unchanged by them.
#![cfg(not(target_arch = "wasm32"))]

mod common {
    pub mod cli;
    pub mod drive;
}
use arq::config::{ExperimentConfig, SCHEMA, VIEW_GROUP};
use arq::experiment::{JobEvent, JobSpec, QuantEvalStep, SearchStep, Session};
use arq::pipeline::search::Method;
use common::cli::arq;
use common::drive::drive;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Every presentation key at a non-default value.
const PRESENTATION: &str = "view=search&hide=settings,advanced,teacher&lock=bits,workers&embed=1";

/// The determinism fingerprints' end-to-end search (tests/common/fingerprints.rs).
const TINY: &str = "v=1&ds=synth&epochs=1&train=256&batch=32&points=4&stride=2&n0=10&n=60&np=30&spoints=4&episodes=3&warmup=2&hidden=16&sft=2&qft=2&fft=2&calib=32&wb=4&ab=4";

/// SHA-256 of the trained weights, the quick read-out and every search episode of `fragment`.
fn session_digest(fragment: &str) -> String {
    let cfg = ExperimentConfig::from_fragment(fragment).unwrap();
    let mut s = Session::new(cfg, None).unwrap();
    let mut h = Sha256::new();
    drive(&mut s, JobSpec::Train);
    for p in s.model().params_flat() {
        h.update(p.to_le_bytes());
    }
    for ev in drive(&mut s, JobSpec::QuantEval { fresh: false }) {
        if let JobEvent::QuantEval(QuantEvalStep {
            result: Some(r), ..
        }) = ev
        {
            h.update(r.summary.acr.to_le_bytes());
            h.update(r.test_accuracy.to_le_bytes());
        }
    }
    let mut episodes = 0;
    for ev in drive(
        &mut s,
        JobSpec::Search {
            method: Method::Arq,
        },
    ) {
        if let JobEvent::Search(SearchStep {
            episode: Some(e), ..
        }) = ev
        {
            episodes += 1;
            h.update(e.reward.to_le_bytes());
            for b in e.wbits.iter().chain(&e.abits) {
                h.update(b.to_le_bytes());
            }
        }
    }
    assert_eq!(episodes, 3);
    arq::data::hex(&h.finalize())
}

#[test]
fn a_session_computes_the_same_with_presentation_keys() {
    let with = format!("{TINY}&{PRESENTATION}");
    let cfg = ExperimentConfig::from_fragment(&with).unwrap();
    let canonical = ExperimentConfig::from_fragment(TINY).unwrap().to_fragment();
    assert_eq!(cfg.experiment_fragment(), canonical);
    assert_eq!(cfg.to_fragment(), format!("{canonical}&{PRESENTATION}"));
    assert_eq!(session_digest(TINY), session_digest(&with));
}

/// The canonical experiment fragment of every named experiment is its own with any
/// presentation keys added, in any order.
#[test]
fn the_canonical_experiment_is_unchanged() {
    for sc in arq::showcase::showcases() {
        let frag = sc.fragment.to_string();
        let base = ExperimentConfig::from_fragment(&frag).unwrap();
        let with =
            ExperimentConfig::from_fragment(&format!("embed=1&{frag}&lock=search&view=bits"))
                .unwrap();
        assert_eq!(with.experiment_fragment(), base.to_fragment());
        assert_eq!(base.experiment_fragment(), base.to_fragment());
    }
    // only the `view` group is presentation
    let keys: Vec<&str> = SCHEMA
        .iter()
        .filter(|f| f.group == VIEW_GROUP)
        .map(|f| f.key)
        .collect();
    assert_eq!(keys, ["view", "hide", "lock", "embed", "lesson", "step"]);
}

/// The JSON without wall-clock measurements (keys ending in `Ms`, `micros`, `seconds`...).
fn without_timings(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|k, _| {
                !(k.ends_with("Ms")
                    || k.ends_with("Micros")
                    || k == "micros"
                    || k == "seconds"
                    || k.ends_with("PerSecond"))
            });
            m.values_mut().for_each(without_timings);
        }
        Value::Array(a) => a.iter_mut().for_each(without_timings),
        _ => {}
    }
}

#[test]
fn arq_run_url_gives_the_same_table_with_presentation_keys() {
    // the shipped lenet checkpoint, a tiny search and final table
    let base = "v=1&n0=20&n=100&points=6&stride=50&np=50&calib=32&qft=2&episodes=3&warmup=2&hidden=16&spoints=6&sft=2&fft=4";
    let run = |frag: &str| {
        let (code, out, err) = arq(&["run", "--url", &format!("#{frag}"), "--json", "-q"]);
        assert_eq!(code, Some(0), "{err}");
        let mut v: Value = serde_json::from_str(&out).unwrap();
        without_timings(&mut v);
        v
    };
    let mut a = run(base);
    let mut b = run(&format!("{base}&{PRESENTATION}"));
    // the printed fragment reproduces the link as given, presentation included
    assert_eq!(a["fragment"], base);
    assert_eq!(b["fragment"], format!("{base}&{PRESENTATION}").as_str());
    a["fragment"] = Value::Null;
    b["fragment"] = Value::Null;
    assert!(a["rows"].as_array().is_some_and(|r| r.len() >= 3), "{a}");
    assert_eq!(a, b);
}

/// Every subcommand takes the presentation keys through `--url` and as flags, and names a bad
/// one with its value and what is allowed.
#[test]
fn every_subcommand_validates_the_presentation_keys() {
    let subcommands = [
        "info",
        "train",
        "eval",
        "certify",
        "quantize",
        "sensitivity",
        "search",
        "run",
        "resolution",
    ];
    for cmd in subcommands {
        let (code, _, err) = arq(&[cmd, "--url", "#v=1&hide=settings,serch&view=search"]);
        assert_eq!(code, Some(2), "{cmd}: {err}");
        assert!(
            err.contains("hide=settings,serch")
                && err.contains("'serch' is not a known word")
                && err.contains(
                    "lessons, share, model, noise, digit, certify, bits, search, history, settings"
                ),
            "{cmd}: {err}"
        );
        let (code, _, err) = arq(&[cmd, "--view", "lessonz", "--embed", "2", "--lock", "x"]);
        assert_eq!(code, Some(2), "{cmd}: {err}");
        assert!(err.contains("3 invalid settings"), "{cmd}: {err}");
        assert!(
            err.contains(
                "view=lessonz: not a known choice; allowed: one of lessons, share, model, noise"
            ),
            "{cmd}: {err}"
        );
        assert!(
            err.contains("embed=2: out of range; allowed: an integer 0..=1"),
            "{cmd}: {err}"
        );
        assert!(
            err.contains("lock=x: 'x' is not a known word"),
            "{cmd}: {err}"
        );
    }
    // accepted: the config shows them, and the experiment is the same
    let (code, out, err) = arq(&[
        "info",
        "--json",
        "--url",
        "#v=1&sigma=0.5&view=certify",
        "--hide",
        "search,settings",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["fragment"],
        "v=1&sigma=0.5&view=certify&hide=search,settings"
    );
    assert_eq!(
        (&v["config"]["view"], &v["config"]["hide"]),
        (&"certify".into(), &"search,settings".into())
    );
    let (_, plain, _) = arq(&["info", "--json", "--url", "#v=1&sigma=0.5"]);
    let p: Value = serde_json::from_str(&plain).unwrap();
    assert_eq!(p["model"], v["model"]);
}
