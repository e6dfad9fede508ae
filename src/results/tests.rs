use super::*;
use serde_json::json;

fn cert(i: u64, radius: f64) -> CertRecord {
    serde_json::from_value(json!({"index": 8000 + i * 20, "label": (i % 10) as u8, "prediction": if radius > 0.0 { json!((i % 10) as u8) } else { json!(null) }, "count": 990, "n": 1000, "pLower": 0.98 + i as f64 * 1e-5, "radius": radius, "correct": radius > 0.0, "samples": 1100, "micros": 1234})).unwrap()
}

fn episode(k: usize, reward: f64) -> Episode {
    Episode {
        episode: k,
        is_warmup: k < 3,
        wbits: vec![4, 3, 5, 4, 4],
        abits: vec![4, 4, 6, 2, 8],
        reward,
        cost_ratio: 0.0151,
        metrics: [
            ("acr".to_string(), 0.7 + reward),
            ("accuracy".to_string(), 0.98),
            ("irsMs".to_string(), k as f64 * 3.3),
        ]
        .into(),
    }
}

fn row(name: &str, acr: f64) -> CompareRow {
    serde_json::from_value(json!({
        "name": name, "fragment": "wb=4&ab=4", "bopsRatio": 0.015625, "sizeBytes": 24003, "testAccuracy": 0.983,
        "summary": {"name": name, "sigma": 0.25, "n": 1000, "alpha": 0.001, "irs": null, "points": 100, "grid": [0.0, 0.25, 0.5],
            "certifiedAccuracy": [0.96, 0.95, 0.9], "cleanAccuracy": 0.96, "acr": acr, "abstainRate": 0.01, "rMax": 0.6},
        "radii": [0.5, 0.0, acr], "correct": [true, false, true], "uniform": null
    }))
    .unwrap()
}

fn input() -> ResultInput {
    ResultInput {
        certify: Some(
            (0..100)
                .map(|i| {
                    cert(
                        i,
                        if i % 7 == 0 {
                            0.0
                        } else {
                            0.3 + i as f64 / 1000.0
                        },
                    )
                })
                .collect(),
        ),
        searches: vec![SearchRun {
            method: "arq".into(),
            episodes: (0..30)
                .map(|k| episode(k, -0.01 + k as f64 * 1e-4))
                .collect(),
        }],
        table: Some(vec![
            row("FP32", 0.74),
            row("W4A4", 0.73),
            row("ARQ", 0.735),
        ]),
    }
}

#[test]
fn digests_cover_every_record_and_no_timing() {
    let a = Shared::build(&input(), "v=2", None).unwrap();
    assert_eq!(
        a.digest(),
        Shared::build(&input(), "#v=2", None).unwrap().digest()
    );
    // timings are not part of a record
    let mut t = input();
    t.certify.as_mut().unwrap()[5].micros = Some(99);
    t.searches[0].episodes[4]
        .metrics
        .insert("irsMs".into(), 1e9);
    assert_eq!(Shared::build(&t, "v=2", None).unwrap().digest(), a.digest());
    // one bit of one number is
    let mut t = input();
    let r = &mut t.certify.as_mut().unwrap()[42];
    r.p_lower = f64::from_bits(r.p_lower.to_bits() + 1);
    let b = Shared::build(&t, "v=2", None).unwrap();
    assert_ne!(b.digest(), a.digest());
    assert_eq!(
        b.jobs[0].data, a.jobs[0].data,
        "the rounded numbers hide the change"
    );
    let v = verify(&a, &b, None);
    assert!(!v.identical);
    let d = v.divergence.unwrap();
    assert_eq!(
        (d.job.as_str(), d.first, d.last),
        ("certify", Some(42), Some(42))
    );
    assert!(v.message.contains("reported point 42"), "{}", v.message);
    // the records order does not matter for a certification (a pool finishes points in any order)
    let mut t = input();
    t.certify.as_mut().unwrap().reverse();
    assert_eq!(Shared::build(&t, "v=2", None).unwrap().digest(), a.digest());
}

#[test]
fn a_replay_of_the_same_records_is_identical() {
    let a = Shared::build(&input(), "v=2&seed=2", Some("ab12")).unwrap();
    let v = verify(&a, &a.clone(), None);
    assert!(v.identical, "{}", v.message);
    assert!(v.message.starts_with("replayed, bit-identical"));
    // a divergence in the search is located at its episode, in the table at its row
    let mut t = input();
    t.searches[0].episodes[17].reward += 1e-9;
    let v = verify(
        &a,
        &Shared::build(&t, "v=2&seed=2", Some("ab12")).unwrap(),
        None,
    );
    assert_eq!(v.divergence.unwrap().first, Some(17));
    let mut t = input();
    t.table.as_mut().unwrap()[2].radii[1] = 1e-12;
    let v = verify(
        &a,
        &Shared::build(&t, "v=2&seed=2", Some("ab12")).unwrap(),
        None,
    );
    let d = v.divergence.unwrap();
    assert_eq!((d.job.as_str(), d.first), ("table", Some(2)));
    // other settings are named before any record
    let v = verify(
        &a,
        &Shared::build(&input(), "v=2&seed=3", None).unwrap(),
        None,
    );
    assert_eq!(v.divergence.unwrap().job, "settings");
}

#[test]
fn tampered_numbers_never_verify() {
    let a = Shared::build(&input(), "v=2", None).unwrap();
    let mut fake = a.clone();
    if let JobData::Table(t) = &mut fake.jobs[2].data {
        t.rows[2].acr = 0.9;
    }
    fake.validate().unwrap();
    assert_eq!(fake.digest(), a.digest(), "the digest alone cannot tell");
    let v = verify(&fake, &a, None);
    assert!(!v.identical);
    assert!(v.message.contains("edited"), "{}", v.message);
}

#[test]
fn link_round_trip_and_size() {
    let a = Shared::build(&input(), "v=2&episodes=40", Some("00ff")).unwrap();
    let l = link::with_results(&a);
    assert!(l.len() < 4000, "{} characters", l.len());
    let parts = link::split(&format!("http://127.0.0.1:8000/{l}"));
    assert_eq!(parts.settings, "v=2&episodes=40");
    assert_eq!(parts.engine.as_deref(), Some(crate::VERSION));
    assert_eq!(link::results_of(&parts).unwrap(), Some(a.clone()));
    // the settings part alone parses as the experiment
    assert_eq!(
        ExperimentConfig::from_fragment(&l).unwrap().to_fragment(),
        "v=2&episodes=40"
    );
    for n in [0usize, 1, 2, 3, 4, 5, 200] {
        let bytes: Vec<u8> = (0..n).map(|i| (i * 37 % 256) as u8).collect();
        assert_eq!(link::b64_decode(&link::b64_encode(&bytes)).unwrap(), bytes);
    }
}

/// A link shared before v=2 keeps its `v=1` settings: it reads, validates, belongs to the same
/// experiment spelled either way, and a replay spelled `v=2` verifies against it.
#[test]
fn version_1_links_still_verify() {
    let old = Shared::build(&input(), "v=1&episodes=40", None).unwrap();
    assert_eq!(old.fragment, "v=1&episodes=40");
    old.validate().unwrap();
    let parts = link::split(&link::with_results(&old));
    assert_eq!(link::results_of(&parts).unwrap(), Some(old.clone()));
    let v2 = "v=2&np=100&gamma=0.99&budget=0.015625&episodes=40";
    let replay = Shared::build(&input(), v2, None).unwrap();
    assert_eq!(replay.fragment, v2);
    old.check_link("v=1&episodes=40", None).unwrap();
    old.check_link(v2, None).unwrap();
    assert!(old.check_link("v=2&episodes=40", None).is_err());
    assert!(verify(&old, &replay, None).identical);
    // canonical in its own version only
    let odd = Shared {
        fragment: "v=1&episodes=40&np=100".into(),
        ..replay
    };
    assert!(odd
        .validate()
        .unwrap_err()
        .to_string()
        .contains("not canonical"));
}

fn err(parts: &link::LinkParts) -> String {
    link::results_of(parts).unwrap_err().to_string()
}

#[test]
fn bad_links_are_refused_naming_the_key() {
    let a = Shared::build(&input(), "v=2", None).unwrap();
    let good = link::split(&link::with_results(&a));
    let r = good.results.clone().unwrap();
    let with = |r: &str| link::LinkParts {
        results: Some(r.into()),
        ..good.clone()
    };
    // truncated, corrupted, not base64
    assert!(
        err(&with(&r[..r.len() / 2])).starts_with("r="),
        "{}",
        err(&with(&r[..r.len() / 2]))
    );
    assert!(err(&with(&r[..r.len() - 1])).starts_with("r="));
    assert!(err(&with(&format!("{}!{}", &r[..10], &r[11..]))).contains("base64url"));
    let mut flipped = link::b64_decode(&r).unwrap();
    flipped[20] ^= 0x55;
    assert!(err(&with(&link::b64_encode(&flipped))).starts_with("r"));
    // oversized, before and after inflating
    assert!(err(&with(&"A".repeat(MAX_LINK_CHARS + 1))).contains("too long"));
    let bomb = link::b64_encode(&miniz_oxide::deflate::compress_to_vec(
        &vec![b' '; 4 * MAX_SHARED_BYTES],
        10,
    ));
    assert!(bomb.len() < MAX_LINK_CHARS);
    assert!(
        err(&with(&bomb)).contains("inflates to more than"),
        "{}",
        err(&with(&bomb))
    );
    // valid deflate of something else
    let other = link::b64_encode(&miniz_oxide::deflate::compress_to_vec(br#"{"v":1}"#, 10));
    assert!(err(&with(&other)).contains("not a shared result summary"));
    // a tampered field that breaks the format
    let mut j: serde_json::Value = serde_json::from_slice(&a.to_bytes()).unwrap();
    j["jobs"][0]["tags"] = json!("zz");
    let t = link::b64_encode(&miniz_oxide::deflate::compress_to_vec(
        &serde_json::to_vec(&j).unwrap(),
        10,
    ));
    assert!(
        err(&with(&t)).contains("r.jobs[0].tags"),
        "{}",
        err(&with(&t))
    );
    j["jobs"][0]["tags"] = a.jobs[0].tags.clone().into();
    j["jobs"][0]["data"]["acr"] = json!(f64::MAX);
    let t = link::b64_encode(&miniz_oxide::deflate::compress_to_vec(
        &serde_json::to_vec(&j).unwrap(),
        10,
    ));
    assert!(
        err(&with(&t)).contains("r.jobs[0].data.acr"),
        "{}",
        err(&with(&t))
    );
    // results of other settings, another engine key
    let other = link::LinkParts {
        settings: "v=2&seed=9".into(),
        ..good.clone()
    };
    assert!(err(&other).contains("other settings"));
    let eng = link::LinkParts {
        engine: Some("9.9.9".into()),
        ..good.clone()
    };
    assert!(err(&eng).starts_with("eng=9.9.9"));
}

#[test]
fn bundles_round_trip_and_refuse_edits() {
    let (b, s) = Bundle::build(&input(), "v=2&points=100", Some("abcd")).unwrap();
    let text = b.to_json();
    let (again, shared) = Bundle::read(&text).unwrap();
    assert_eq!(shared, s);
    assert_eq!(again.digest, s.digest());
    assert_eq!(again.results.canonical(), input().canonical());
    // an edited record
    let edited = text.replacen("\"pLower\":0.98", "\"pLower\":0.97", 1);
    assert_ne!(edited, text);
    let e = Bundle::read(&edited).unwrap_err().to_string();
    assert!(e.starts_with("bundle.jobs[0].digest"), "{e}");
    // not a bundle, another version, truncated, unknown field
    assert!(Bundle::read("{\"format\":\"zip\"}")
        .unwrap_err()
        .to_string()
        .starts_with("bundle.format"));
    assert!(Bundle::read(&text.replacen("\"v\":1", "\"v\":7", 1))
        .unwrap_err()
        .to_string()
        .starts_with("bundle.v=7"));
    assert!(Bundle::read(&text[..text.len() / 2])
        .unwrap_err()
        .to_string()
        .contains("not JSON"));
    let extra = text.replacen("{", "{\"extra\": 1,", 1);
    assert!(Bundle::read(&extra)
        .unwrap_err()
        .to_string()
        .contains("unknown field"));
    // exact divergence from the records
    let mut t = input();
    t.certify.as_mut().unwrap()[63].count += 1;
    let (_, s2) = Bundle::build(&t, "v=2&points=100", Some("abcd")).unwrap();
    let v = verify(&s, &s2, Some((&input().canonical(), &t.canonical())));
    assert_eq!(v.divergence.unwrap().first, Some(63));
}

#[test]
fn inputs_are_checked() {
    assert!(Shared::build(&ResultInput::default(), "v=2", None)
        .unwrap_err()
        .to_string()
        .contains("no finished job"));
    let mut t = input();
    t.searches.push(t.searches[0].clone());
    assert!(Shared::build(&t, "v=2", None)
        .unwrap_err()
        .to_string()
        .contains("searches[1].method=arq"));
    t.searches[1].method = "grid".into();
    assert!(Shared::build(&t, "v=2", None)
        .unwrap_err()
        .to_string()
        .contains("unknown search method"));
    assert!(Shared::build(&input(), "v=2&sigma=9", None)
        .unwrap_err()
        .to_string()
        .starts_with("fragment="));
    // the certification must be of the settings' points
    assert!(Shared::build(&input(), "v=2&points=50", None)
        .unwrap_err()
        .to_string()
        .contains("points"));
}
