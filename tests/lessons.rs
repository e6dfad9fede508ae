//! The guided lessons' keys (`lesson`, `step`) are presentation only: `arq run --url` accepts
//! and validates them and computes exactly the same numbers with and without them; the CLI
//! lists the lessons the page offers and starts from a lesson's prepared state.

use serde_json::Value;
mod common {
    pub mod cli;
}

/// `arq ARGS`: (success, stdout, stderr).
fn arq(args: &[&str]) -> (bool, String, String) {
    let (code, out, err) = common::cli::arq(args);
    (code == Some(0), out, err)
}

/// A whole small pipeline (two searches, the final table) on the procedural data.
const BASE: &str = "v=1&ds=synth&n=200&points=10&episodes=2&warmup=1&spoints=10&sft=2&fft=5";

/// Drops the wall-clock timings (`calibrateMs`, ...): the only figures that may differ.
fn without_timings(v: &mut Value) {
    match v {
        Value::Object(map) => {
            map.retain(|k, _| !k.ends_with("Ms"));
            map.values_mut().for_each(without_timings);
        }
        Value::Array(items) => items.iter_mut().for_each(without_timings),
        _ => {}
    }
}

fn run(fragment: &str) -> Value {
    let (ok, out, err) = arq(&[
        "run",
        "--url",
        fragment,
        "--methods",
        "arq,haq",
        "--json",
        "--quiet",
    ]);
    assert!(ok, "{fragment}: {err}");
    let mut v = serde_json::from_str(&out).unwrap();
    without_timings(&mut v);
    v
}

#[test]
fn lesson_keys_change_no_number() {
    let mut plain = run(BASE);
    let with = format!("{BASE}&lesson=reward&step=3");
    let mut lesson = run(&with);
    assert_eq!(lesson["fragment"], Value::from(with));
    plain.as_object_mut().unwrap().remove("fragment");
    lesson.as_object_mut().unwrap().remove("fragment");
    assert!(
        plain["rows"].as_array().is_some_and(|r| r.len() == 4),
        "{plain}"
    );
    assert!(
        plain["searches"]["arq"][1]["metrics"]["acr"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    // the searches' every episode, the final table and its statistics, bit for bit
    assert_eq!(
        serde_json::to_string(&plain).unwrap(),
        serde_json::to_string(&lesson).unwrap()
    );
}

#[test]
fn lesson_keys_are_validated() {
    for (bad, says) in [
        ("lesson=nope", "lesson=nope"),
        ("lesson=noise&step=5", "step=5"),
        ("step=2", "step=2"),
        ("lesson=budget&step=0", "step=0"),
    ] {
        let (ok, _, err) = arq(&["run", "--url", &format!("{BASE}&{bad}"), "--quiet"]);
        assert!(!ok && err.contains(says), "{bad}: {err}");
    }
}

#[test]
fn cli_lists_the_lessons_and_starts_from_one() {
    let (ok, out, err) = arq(&["info", "--lessons", "--json"]);
    assert!(ok, "{err}");
    let list: Value = serde_json::from_str(&out).unwrap();
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["noise", "certificate", "budget", "reward"]);
    for l in list.as_array().unwrap() {
        let id = l["id"].as_str().unwrap();
        let (ok, out, err) = arq(&["info", "--lesson", id, "--json"]);
        assert!(ok, "{id}: {err}");
        let info: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(info["fragment"], l["fragment"], "{id}");
    }
    // an explicit --url is the base; --lesson then only sets the key
    let (ok, out, _) = arq(&[
        "info",
        "--url",
        "#v=1&seed=4",
        "--lesson",
        "noise",
        "--json",
    ]);
    assert!(ok);
    let info: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(info["fragment"], "v=1&seed=4&lesson=noise");
}

/// The page moves between lesson steps with `Session::set_presentation`: only the view keys
/// change, a running certification goes on and certifies exactly what it would have.
#[test]
fn set_presentation_changes_only_the_view_keys() {
    use arq::experiment::{JobEvent, JobKind, JobSpec, Session};
    use arq::ExperimentConfig;
    let frag = "v=1&ds=synth&n=100&points=4&stride=3";
    let radii = |switch: bool| {
        let mut s = Session::new(ExperimentConfig::from_fragment(frag).unwrap(), None).unwrap();
        s.begin(JobSpec::CERTIFY).unwrap();
        let mut out = vec![];
        loop {
            let st = s.step(JobKind::Certify, 150, &mut || 0).unwrap();
            if switch && out.is_empty() {
                let notes = s.set_presentation("v=1&seed=9&n=5&lesson=noise&step=3");
                assert!(notes.is_empty(), "{notes:?}");
                let c = s.cfg();
                assert_eq!(c.to_fragment(), format!("{frag}&lesson=noise&step=3"));
                let notes = s.set_presentation("v=1&lesson=noise&step=6");
                assert_eq!(notes.len(), 1, "{notes:?}");
                assert!(notes[0].to_string().contains("step=6"));
                assert_eq!(s.cfg().to_fragment(), format!("{frag}&lesson=noise"));
            }
            if let JobEvent::Certify(c) = st.event {
                out.extend(c.records.iter().map(|r| (r.index, r.count, r.radius)));
            }
            if st.done {
                return out;
            }
        }
    };
    let plain = radii(false);
    assert_eq!(plain.len(), 4);
    assert_eq!(plain, radii(true));
}
