//! Issue 8: the bad-input matrix through the `arq` binary, run as a subprocess. Every schema
//! field x every class of bad value (tests/common/bad_input.rs), through `--url '#v=1&k=v'`
//! and through the per-field flags (`--k v`), plus bad checkpoint and data files and the
//! subcommands' own arguments. A rejected value must give a nonzero exit (never 101, a panic),
//! and stderr must name the key, show the value and say what is allowed.
//!
//! The CLI reports every invalid setting at once, so one process checks a whole class (every
//! field with that kind of value); a class whose run misses something is re-run case by case
//! to say exactly which.
#![cfg(not(target_arch = "wasm32"))]

mod common {
    pub mod bad_input;
}
use common::bad_input::{matrix, Case, Expect, CLASSES};
use std::path::{Path, PathBuf};
use std::process::Command;

const ARQ: &str = env!("CARGO_BIN_EXE_arq");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

struct Out {
    code: Option<i32>,
    stderr: String,
    args: Vec<String>,
}

fn arq<S: AsRef<str>>(args: &[S]) -> Out {
    let args: Vec<String> = args.iter().map(|a| a.as_ref().to_string()).collect();
    let o = Command::new(ARQ)
        .args(&args)
        .current_dir(ROOT)
        .output()
        .expect("run arq");
    Out {
        code: o.status.code(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        args,
    }
}

impl Out {
    /// A clean refusal: an exit code that is neither 0 nor a panic's 101, no panic message.
    fn refused(&self) -> Result<(), String> {
        let ok =
            matches!(self.code, Some(c) if c != 0 && c != 101) && !self.stderr.contains("panicked");
        if ok {
            Ok(())
        } else {
            Err(format!(
                "arq {:?}: exit {:?} (want a nonzero exit that is not a panic)\nstderr: {}",
                self.args, self.code, self.stderr
            ))
        }
    }

    fn says(&self, what: &str, why: &str) -> Result<(), String> {
        if self.stderr.contains(what) {
            Ok(())
        } else {
            Err(format!(
                "arq {:?}: stderr does not {why} ({what:?})\nstderr: {}",
                self.args, self.stderr
            ))
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Front {
    Url,
    Flag,
}

fn args_for(sub: &str, front: Front, cases: &[&Case]) -> Vec<String> {
    let mut a = vec![sub.to_string(), "--quiet".into()];
    match front {
        Front::Url => {
            let pairs: Vec<String> = cases
                .iter()
                .map(|c| format!("{}={}", c.key, c.raw))
                .collect();
            a.push("--url".into());
            a.push(format!("#v=1&{}", pairs.join("&")));
        }
        Front::Flag => {
            for c in cases {
                a.push(format!("--{}", c.key));
                a.push(c.raw.clone());
            }
        }
    }
    a
}

/// The value as the error must show it: a fragment's value is percent-decoded first.
fn shown(front: Front, c: &Case) -> String {
    match front {
        Front::Url => c.decoded(),
        Front::Flag => c.raw.clone(),
    }
}

fn check_rejected(out: &Out, front: Front, c: &Case) -> Result<(), String> {
    out.refused()?;
    out.says(
        &format!("{}={}", c.key, shown(front, c)),
        "name the key and the value",
    )?;
    out.says(&c.allowed(), "say what is allowed")
}

/// Runs a set of rejected cases in one process; on any miss, each case alone (precise report).
fn run_group(sub: &str, front: Front, cases: &[&Case], failures: &mut Vec<String>) -> usize {
    let out = arq(&args_for(sub, front, cases));
    let misses: Vec<&&Case> = cases
        .iter()
        .filter(|c| check_rejected(&out, front, c).is_err())
        .collect();
    if misses.is_empty() {
        return 1;
    }
    let mut runs = 1;
    for c in misses {
        let solo = arq(&args_for(sub, front, &[c]));
        runs += 1;
        if let Err(e) = check_rejected(&solo, front, c) {
            failures.push(format!("{} via {front:?} ({sub}): {e}", c.label()));
        }
    }
    runs
}

#[test]
fn every_field_times_every_bad_value_is_refused_clearly() {
    let all = matrix();
    let mut failures = vec![];
    let mut processes = 0;
    for front in [Front::Url, Front::Flag] {
        for &class in CLASSES {
            let rejected: Vec<&Case> = all
                .iter()
                .filter(|c| c.class == class && c.expect != Expect::Accept)
                .collect();
            if !rejected.is_empty() {
                processes += run_group("info", front, &rejected, &mut failures);
            }
            // legitimately valid values (an empty bit list = full precision) are accepted
            for c in all
                .iter()
                .filter(|c| c.class == class && c.expect == Expect::Accept)
            {
                let out = arq(&args_for("info", front, &[c]));
                processes += 1;
                if out.code != Some(0) || out.stderr.contains("panicked") {
                    failures.push(format!(
                        "{} via {front:?}: should be accepted, got exit {:?}: {}",
                        c.label(),
                        out.code,
                        out.stderr
                    ));
                }
            }
        }
    }
    eprintln!(
        "CLI matrix: {} cases x 2 front ends (--url, flags) = {} checks in {processes} processes",
        all.len(),
        2 * all.len()
    );
    assert!(failures.is_empty(), "{}\n", failures.join("\n\n"));
}

/// Every subcommand validates its settings first: no work (data, training, search) starts.
#[test]
fn every_subcommand_refuses_bad_settings_before_any_work() {
    let all = matrix();
    let garbage: Vec<&Case> = all.iter().filter(|c| c.class == "garbage").collect();
    let mut failures = vec![];
    for sub in [
        "info",
        "train",
        "eval",
        "certify",
        "quantize",
        "search",
        "run",
        "resolution",
        "sensitivity",
    ] {
        for front in [Front::Url, Front::Flag] {
            run_group(sub, front, &garbage, &mut failures);
        }
    }
    assert!(failures.is_empty(), "{}\n", failures.join("\n\n"));
}

#[test]
fn fragment_syntax_errors_name_the_pair() {
    for (fragment, want) in [
        ("#v=1&bogus=1", "unknown setting 'bogus'"),
        ("#v=3", "v=3"),
        ("#v=x%41", "v=xA"),
        ("#v=1&junk", "junk"),
        ("#v=1&sigma", "sigma"),
        ("#v=1&%73igma=0.5", "unknown setting '%73igma'"),
        ("#v=1&\u{e9}=1", "unknown setting '\u{e9}'"),
        ("#v=1&n=10&np=500", "np=500"),
    ] {
        let out = arq(&["info", "--quiet", "--url", fragment]);
        out.refused().unwrap();
        out.says(want, "name the bad pair").unwrap();
    }
    // v=2's default n_p (300) follows a smaller n, by fragment or flag; a given n_p is checked
    for args in [
        &["info", "--quiet", "--url", "#v=2&n=100"][..],
        &["info", "--quiet", "--n", "100"][..],
    ] {
        assert_eq!(arq(args).code, Some(0), "arq {args:?}");
    }
    for args in [
        &["info", "--quiet", "--url", "#v=2&n=100&np=300"][..],
        &["info", "--quiet", "--n", "100", "--np", "300"][..],
    ] {
        let out = arq(args);
        out.refused().unwrap();
        out.says("np=300", "name n_p").unwrap();
    }
    // an unknown flag is clap's error (exit 2), naming the flag
    let out = arq(&["info", "--bogus", "1"]);
    out.refused().unwrap();
    out.says("--bogus", "name the flag").unwrap();
}

#[test]
fn subcommand_arguments_are_checked_up_front() {
    for (args, want) in [
        (vec!["quantize", "--preset", "bogus"], "preset=bogus"),
        (vec!["quantize", "--preset", ""], "preset="),
        (vec!["quantize", "--preset", "W4A4"], "w4a4"),
        (vec!["search", "--method", "bogus"], "method=bogus"),
        (vec!["search", "--method", "\u{1F600}"], "arq, haq, random"),
        (
            vec!["run", "--methods", "arq,bogus"],
            "unknown search method 'bogus'",
        ),
        (vec!["run", "--methods", ""], "no search method"),
        (vec!["run", "--methods", ", ,"], "no search method"),
        (
            vec!["certify", "--records", "/nonexistent/r.tsv"],
            "--records /nonexistent/r.tsv",
        ),
        (
            vec!["certify", "--records", "tests"],
            "--records tests: is a folder",
        ),
        (
            vec!["train", "--out", "/nonexistent/m.arqc"],
            "--out /nonexistent/m.arqc",
        ),
        (
            vec!["search", "--log", "/nonexistent/e.jsonl"],
            "--log /nonexistent/e.jsonl",
        ),
        (vec!["run", "--log", "tests"], "--log tests: is a folder"),
        (vec!["run", "--experiment", "bogus"], "experiment=bogus"),
        (vec!["info", "--experiment", ""], "why-certify"),
        (vec!["resolution", "--seeds", "1"], "--seeds=1"),
        (vec!["resolution", "--seeds", "1,1"], "two or more distinct"),
        (vec!["resolution", "--seeds", "1,x"], "--seeds=1,x"),
        (vec!["resolution", "--random", "101"], "--random=101"),
        (vec!["resolution", "--random", "-1"], "0..=100"),
        (vec!["resolution", "--method", "random"], "arq, haq"),
        (vec!["resolution", "--method", "bogus"], "method=bogus"),
        (vec!["sensitivity", "--bits", "9"], "bits=9"),
        (vec!["sensitivity", "--bits", "1"], "2..=8"),
        (vec!["sensitivity", "--bits", "32"], "bits=32"),
        (vec!["sensitivity", "--bits", "f"], "bits=f"),
        (vec!["sensitivity", "--side", "W"], "side=W"),
        (vec!["sensitivity", "--side", "weights"], "w, a, both"),
        (
            vec!["certify-digit", "/nonexistent/d.pgm"],
            "FILE /nonexistent/d.pgm",
        ),
        (
            vec!["certify-digit", "Cargo.toml"],
            "is not a gray level 0..=255",
        ),
        (
            vec!["certify-digit", "data/mnist10k.u8"],
            "FILE data/mnist10k.u8",
        ),
        (
            vec!["certify-digit", "Cargo.toml", "--sigma", "-1"],
            "sigma=-1",
        ),
    ] {
        let mut a = args.clone();
        a.push("--quiet");
        let out = arq(&a);
        out.refused().unwrap();
        out.says(want, "name the argument").unwrap();
    }
}

/// The subcommands' own named arguments x every class of bad value (one process each: these
/// are checked before any data is read).
#[test]
fn subcommand_arguments_times_every_bad_value() {
    let values: Vec<String> = matrix()
        .into_iter()
        .filter(|c| c.key == "model")
        .map(|c| c.raw)
        .collect();
    assert_eq!(values.len(), CLASSES.len());
    let mut failures = vec![];
    for v in &values {
        for (sub, flag, key, allowed) in [
            (
                "quantize",
                "--preset",
                "preset",
                "fp32, w8a8, w4a4, w2a2, fl8",
            ),
            ("search", "--method", "method", "arq, haq, random"),
            ("run", "--methods", "methods", "arq, haq, random"),
            ("sensitivity", "--bits", "bits", "2..=8"),
            ("sensitivity", "--side", "side", "w, a, both"),
        ] {
            let out = arq(&[sub, "--quiet", flag, v.as_str()]);
            let r = out
                .refused()
                .and_then(|_| out.says(&format!("{key}={v}"), "name the argument and value"))
                .and_then(|_| out.says(allowed, "say what is allowed"));
            if let Err(e) = r {
                failures.push(e);
            }
        }
    }
    eprintln!("subcommand arguments: {} cases", 5 * values.len());
    assert!(failures.is_empty(), "{}\n", failures.join("\n\n"));
}

fn tmp(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bad_input_cli");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// A shipped checkpoint's bytes (models/index.json's first entry).
fn shipped_checkpoint() -> Vec<u8> {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(Path::new(ROOT).join("models/index.json")).unwrap())
            .unwrap();
    let file = index[0]["file"].as_str().unwrap();
    std::fs::read(Path::new(ROOT).join("models").join(file)).unwrap()
}

/// Damaged versions of a file: empty, truncated at several places, bytes flipped at several
/// places, and junk appended.
fn damaged(good: &[u8]) -> Vec<(String, Vec<u8>)> {
    let n = good.len();
    let mut out = vec![("empty".to_string(), vec![])];
    for cut in [1, 4, 8, 12, 16, 64, n / 2, n - 33, n - 1] {
        out.push((format!("truncated-{cut}"), good[..cut.min(n)].to_vec()));
    }
    for at in [0, 5, 9, 20, 100, n / 2, n - 1] {
        let mut b = good.to_vec();
        b[at.min(n - 1)] ^= 0x55;
        out.push((format!("flipped-{at}"), b));
    }
    let mut longer = good.to_vec();
    longer.extend_from_slice(b"junk");
    out.push(("appended".into(), longer));
    out
}

fn check_file_refused(out: &Out, flag: &str, path: &Path) -> Result<(), String> {
    out.refused()?;
    out.says(flag, "name the flag")?;
    out.says(&path.display().to_string(), "name the file")
}

#[test]
fn bad_checkpoint_files_are_refused_clearly() {
    let good = shipped_checkpoint();
    let mut cases = damaged(&good);
    cases.push((
        "dataset".into(),
        std::fs::read(Path::new(ROOT).join("data/mnist10k.u8")).unwrap()[..4096].to_vec(),
    ));
    cases.push((
        "json".into(),
        std::fs::read(Path::new(ROOT).join("models/index.json")).unwrap(),
    ));
    cases.push(("png".into(), b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec()));
    cases.push(("text".into(), "\u{e9}\u{1F600}\n".repeat(100).into_bytes()));
    let mut failures = vec![];
    for (name, bytes) in &cases {
        let path = tmp(&format!("ckpt-{name}.arqc"));
        std::fs::write(&path, bytes).unwrap();
        let out = arq(&["info", "--quiet", "--checkpoint", path.to_str().unwrap()]);
        if let Err(e) = check_file_refused(&out, "--checkpoint", &path) {
            failures.push(format!("checkpoint {name}: {e}"));
        }
    }
    // a directory and a missing file; and one subcommand that loads a checkpoint for work
    let dir = tmp("ckpt-dir");
    std::fs::create_dir_all(&dir).unwrap();
    for (sub, path) in [
        ("info", dir.clone()),
        ("info", tmp("missing.arqc")),
        ("eval", tmp("ckpt-truncated-64.arqc")),
        ("certify", tmp("ckpt-flipped-100.arqc")),
    ] {
        let out = arq(&[sub, "--quiet", "--checkpoint", path.to_str().unwrap()]);
        if let Err(e) = check_file_refused(&out, "--checkpoint", &path) {
            failures.push(format!("{sub} checkpoint {}: {e}", path.display()));
        }
    }
    eprintln!("checkpoint files: {} cases", cases.len() + 4);
    assert!(failures.is_empty(), "{}\n", failures.join("\n\n"));
}

#[test]
fn bad_data_files_are_refused_clearly() {
    let good = std::fs::read(Path::new(ROOT).join("data/mnist10k.u8")).unwrap();
    let mut cases: Vec<(String, Vec<u8>)> = damaged(&good[..64 * 1024])
        .into_iter()
        .filter(|(n, _)| n != "appended")
        .collect();
    let n = good.len();
    cases.push(("truncated-last-byte".into(), good[..n - 1].to_vec()));
    let mut flipped = good.clone();
    flipped[n / 2] ^= 1;
    cases.push(("flipped-pixel".into(), flipped));
    cases.push(("checkpoint".into(), shipped_checkpoint()));
    let mut failures = vec![];
    for (name, bytes) in &cases {
        let path = tmp(&format!("data-{name}.u8"));
        std::fs::write(&path, bytes).unwrap();
        let out = arq(&["info", "--quiet", "--data", path.to_str().unwrap()]);
        if let Err(e) = check_file_refused(&out, "--data", &path) {
            failures.push(format!("data {name}: {e}"));
        }
    }
    for path in [tmp("ckpt-dir"), tmp("missing.u8")] {
        std::fs::create_dir_all(tmp("ckpt-dir")).unwrap();
        let out = arq(&["info", "--quiet", "--data", path.to_str().unwrap()]);
        if let Err(e) = check_file_refused(&out, "--data", &path) {
            failures.push(format!("data {}: {e}", path.display()));
        }
    }
    // ds=synth needs no data file at all, so a bad --data is not read
    let out = arq(&["info", "--quiet", "--ds", "synth", "--data", "/nonexistent"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(failures.is_empty(), "{}\n", failures.join("\n\n"));
}
