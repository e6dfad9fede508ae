//! The CLI's exports and self-test: `arq certify --table/--cohen` write the engine's text
//! (src/export.rs), a bad --format is refused before any work naming the flag, and
//! `arq selftest` passes with the golden digest the page checks.
use std::path::PathBuf;
use std::process::Command;

const ARQ: &str = env!("CARGO_BIN_EXE_arq");

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("arq-export-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn certify_writes_the_table_and_cohen_records() {
    let dir = scratch("certify");
    let (table, cohen) = (dir.join("cert.csv"), dir.join("cert.tsv"));
    let o = Command::new(ARQ)
        .args([
            "certify",
            "-q",
            "--url",
            "#v=1&ds=synth&points=4&stride=3&n0=10&n=50&np=10",
        ])
        .arg("--table")
        .arg(&table)
        .arg("--cohen")
        .arg(&cohen)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let csv = std::fs::read_to_string(&table).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("run,r = 0,r = 0.25,r = 0.5,r = 0.75,r = 1,r = 1.25,r = 1.5,ACR,abstain,points,σ,n,α")
    );
    let row: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(row[0], "FP32");
    assert_eq!(&row[10..], ["4", "0.25", "50", "0.001"]);
    let tsv = std::fs::read_to_string(&cohen).unwrap();
    let rows: Vec<Vec<&str>> = tsv.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(
        rows[0],
        ["idx", "label", "predict", "radius", "correct", "time"]
    );
    assert_eq!(rows.len(), 5);
    let idx: Vec<&str> = rows[1..].iter().map(|r| r[0]).collect();
    assert_eq!(idx, ["0", "3", "6", "9"]);
    for r in &rows[1..] {
        if r[2] == "-1" {
            assert_eq!(r[3], "0.000");
        }
        assert_eq!(r[4], if r[1] == r[2] { "1" } else { "0" });
    }
    // the extension picks the format; --format overrides it
    let tex = dir.join("cert.tex");
    let o = Command::new(ARQ)
        .args([
            "certify",
            "-q",
            "--url",
            "#v=1&ds=synth&points=2&n0=10&n=50&np=10",
            "--format",
            "md",
            "--table",
        ])
        .arg(&tex)
        .output()
        .unwrap();
    assert!(o.status.success());
    assert!(std::fs::read_to_string(&tex)
        .unwrap()
        .starts_with("**Certified accuracy"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_format_or_folder_is_refused_before_the_work() {
    let o = Command::new(ARQ)
        .args([
            "certify",
            "-q",
            "--url",
            "#v=1&ds=synth",
            "--format",
            "xlsx",
            "--table",
            "t.x",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("--format=xlsx") && e.contains("md, latex or csv"),
        "{e}"
    );
    let o = Command::new(ARQ)
        .args([
            "run",
            "-q",
            "--url",
            "#v=1&ds=synth",
            "--episodes-table",
            "/nonexistent-dir/e.csv",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("--episodes-table /nonexistent-dir/e.csv")
            && e.contains("folder does not exist"),
        "{e}"
    );
}

#[test]
fn selftest_passes_with_the_golden_digest() {
    let o = Command::new(ARQ)
        .args(["selftest", "--json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["passed"], true);
    assert_eq!(v["digest"], v["golden"]);
    assert_eq!(
        v["parts"].as_array().unwrap().len(),
        arq::selftest::GOLDEN.len()
    );
    assert!(v["ms"].as_f64().unwrap() > 0.0);
}

#[test]
fn run_writes_the_final_table_and_the_episodes() {
    let dir = scratch("run");
    let (table, episodes) = (dir.join("final.tex"), dir.join("episodes.csv"));
    let frag = "#v=1&ds=synth&points=4&stride=2&n0=10&n=60&np=30&spoints=4&episodes=3&warmup=2&hidden=16&sft=1&fft=1&calib=16";
    let o = Command::new(ARQ)
        .args([
            "run",
            "-q",
            "--methods",
            "arq,random",
            "--url",
            frag,
            "--table",
        ])
        .arg(&table)
        .arg("--episodes-table")
        .arg(&episodes)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let tex = std::fs::read_to_string(&table).unwrap();
    assert!(tex.contains("\\begin{tabular}{lllrrrrrrrrrrrrr}"), "{tex}");
    assert!(
        tex.contains("\\toprule\npolicy & W bits & A bits & clean acc. & r = 0 & "),
        "{tex}"
    );
    assert!(tex.contains("\nFP32 & f & f & "), "{tex}");
    assert!(tex.contains("$\\Delta$ACR vs FP32"), "{tex}");
    let csv = std::fs::read_to_string(&episodes).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "search,episode,warm-up,reward,ACR,clean acc.,BOPs % of FP32,size (bytes),W bits,A bits,new best");
    assert_eq!(lines.len(), 1 + 3 + 3, "{csv}");
    assert!(lines[1].starts_with("arq,1,yes,"), "{}", lines[1]);
    assert!(lines[4].starts_with("random,1,"), "{}", lines[4]);
    // bits lists hold commas: quoted
    assert!(lines[1].contains(",\""), "{}", lines[1]);
    let _ = std::fs::remove_dir_all(&dir);
}
