//! Issue 12 through the `arq` binary: `run` prints the results digest and the link with
//! results and writes a bundle; `verify` replays a link or bundle (exit 0, "bit-identical"),
//! names the first divergence of a bundle whose records differ from the replay (exit 1), and
//! refuses bad links and bundles naming the key (exit 2, never a panic).
#![cfg(not(target_arch = "wasm32"))]

mod common {
    pub mod cli;
}
use arq::results::{link, Bundle};
use common::cli::arq;
use serde_json::Value;

/// Tiny: 8 reported points at n = 200, a 2-episode random search, 2 fine-tuning batches per row.
const FRAGMENT: &str =
    "#v=1&n0=20&n=200&points=8&calib=64&episodes=2&warmup=1&hidden=32&spoints=6&sft=1&fft=2&seed=4";

#[test]
fn run_verify_and_divergence() {
    let dir = std::env::temp_dir().join(format!("arq-results-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bundle = dir.join("run.arq.json");
    let b = bundle.to_str().unwrap();
    let (code, out, err) = arq(&[
        "run",
        "--methods",
        "random",
        "--url",
        FRAGMENT,
        "--quiet",
        "--json",
        "--bundle",
        b,
    ]);
    assert_eq!(code, Some(0), "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let digest = v["results"]["digest"].as_str().unwrap().to_string();
    let url = v["results"]["link"].as_str().unwrap().to_string();
    assert_eq!(digest.len(), 64);
    // the link's own summary says the same digest
    let shared = link::results_of(&link::split(&url)).unwrap().unwrap();
    assert_eq!(shared.digest(), digest);
    assert_eq!(
        shared
            .jobs
            .iter()
            .map(|j| j.job.as_str())
            .collect::<Vec<_>>(),
        ["search:random", "table"]
    );

    // the same run again gives the same digest (the bundle holds the same records)
    let (text, _) = Bundle::read(&std::fs::read_to_string(&bundle).unwrap()).unwrap();
    assert_eq!(text.digest, digest);

    // verify the link and the bundle
    for target in [url.as_str(), b] {
        let (code, out, err) = arq(&["verify", target, "--quiet"]);
        assert_eq!(code, Some(0), "{out}{err}");
        assert!(out.starts_with("replayed, bit-identical"), "{out}");
        assert!(out.contains(&digest), "{out}");
    }

    // a bundle consistent in itself whose records are not what this experiment computes:
    // verify names the job and the record, and fails
    let (mut bad, _) = Bundle::read(&std::fs::read_to_string(&bundle).unwrap()).unwrap();
    bad.results.searches[0].episodes[1].reward += 1e-3;
    let (rebuilt, _) =
        Bundle::build(&bad.results, &bad.fragment, bad.checkpoint.as_deref()).unwrap();
    let other = dir.join("other.arq.json");
    std::fs::write(&other, rebuilt.to_json()).unwrap();
    let (code, out, err) = arq(&["verify", other.to_str().unwrap(), "--quiet"]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(
        out.contains("search:random first differs at episode 1"),
        "{out}"
    );

    // an edited bundle: refused before any replay
    let edited = std::fs::read_to_string(&bundle).unwrap().replacen(
        "\"costRatio\":",
        "\"costRatio\":0.5e-9+",
        1,
    );
    let ed = dir.join("edited.arq.json");
    std::fs::write(&ed, edited).unwrap();
    let (code, _, err) = arq(&["verify", ed.to_str().unwrap(), "--quiet"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("edited.arq.json") && err.contains("bundle"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_links_are_refused() {
    let cases: [(&str, &str); 4] = [
        ("#v=1&points=8", "r=(missing): the link carries no results"),
        (
            "#v=1&points=8&eng=0.1.0&r=AAAA",
            "r=AAAA: not deflated data",
        ),
        ("#v=1&points=8&eng=0.1.0&r=@@", "not a base64url character"),
        ("#v=1&points=8&eng=0.1.0&r=A", "r=A: truncated"),
    ];
    for (target, want) in cases {
        let (code, _, err) = arq(&["verify", target, "--quiet"]);
        assert_eq!(code, Some(2), "{target}: {err}");
        assert!(err.contains(want), "{target}: {err}");
    }
    // settings flags do not mix with a link's settings
    let (code, _, err) = arq(&["verify", "#v=1", "--sigma", "0.5"]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("the settings come from the link or bundle"),
        "{err}"
    );
}
