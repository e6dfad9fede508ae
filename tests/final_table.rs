//! The final table at scarce budgets (issue 11): FP32, the best uniform policy within the
//! budget (chosen on the search split with the ARQ search's evaluation), then each search's
//! best; uniform W4A4 only when it fits; the paired bootstrap intervals of the differences and
//! the Markdown columns that show them.

mod common {
    pub mod drive;
}
use common::drive::drive;

use arq::experiment::{JobEvent, JobKind, JobSpec, Session};
use arq::pipeline::compare::{certified_markdown, markdown, CompareRow};
use arq::pipeline::search::Method;
use arq::pipeline::significance::table_significance;
use arq::ExperimentConfig;

/// Small but complete (synthetic digits, a 2-episode search, short fine-tuning).
const FRAG: &str = "v=1&ds=synth&epochs=1&train=256&batch=32&points=6&stride=3&n0=10&n=80&np=40&qft=2&calib=32&cbatch=32&spoints=4&episodes=2&warmup=1&hidden=8&sft=1&fft=2";

/// A trained session at `budget` with a finished ARQ search.
fn searched(budget: &str) -> Session {
    let cfg = ExperimentConfig::from_fragment(&format!("{FRAG}&budget={budget}")).unwrap();
    let mut s = Session::new(cfg, None).unwrap();
    drive(&mut s, JobSpec::Train);
    drive(
        &mut s,
        JobSpec::Search {
            method: Method::Arq,
        },
    );
    s
}

/// The finished table, and the row names the comparison reported while it ran.
fn table(s: &mut Session) -> (Vec<CompareRow>, Vec<String>) {
    let mut current = vec![];
    let mut rows = vec![];
    for e in drive(s, JobSpec::COMPARE) {
        if let JobEvent::Compare(c) = e {
            current.extend(c.current);
            rows = c.rows;
        }
    }
    (rows, current)
}

#[test]
fn at_a_quarter_of_w4a4s_cost_w2a2_is_the_only_uniform_row() {
    // 1/256 of FP32 BOPs: only W2A2 fits; W4A4 (1/64) must not appear
    let mut s = searched("0.00390625");
    let (rows, current) = table(&mut s);
    let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        ["FP32", "uniform W2A2 (best within budget)", "ARQ"],
        "{names:?}"
    );
    let u = rows[1].uniform.as_ref().unwrap();
    assert_eq!((u.w, u.a), (2, 2));
    assert!(u.scores.is_empty(), "a single candidate is not evaluated");
    assert!(rows
        .iter()
        .all(|r| r.bops_ratio <= 1.0 / 256.0 || r.name == "FP32"));
    assert!(!current.iter().any(|c| c.contains("evaluating")));
    // every row keeps its per-point results, consistent with its summary
    for r in &rows {
        assert_eq!(r.radii.len(), 6);
        assert_eq!(r.correct.len(), 6);
        let acr = r.radii.iter().sum::<f64>() / 6.0;
        assert!((acr - r.summary.acr).abs() < 1e-12, "{}", r.name);
        let at0 = r.correct.iter().filter(|&&c| c).count() as f64 / 6.0;
        assert_eq!(at0, r.summary.certified_accuracy[0], "{}", r.name);
    }
}

#[test]
fn at_the_default_budget_the_best_of_every_fitting_uniform_pair() {
    let mut s = searched("0.015625");
    let (rows, current) = table(&mut s);
    assert_eq!(rows.len(), 3);
    let u = rows[1].uniform.clone().unwrap();
    // every (w, a) with w * a <= 16, each scored with the ARQ reward on the search split
    assert_eq!(u.scores.len(), 19);
    assert!(u
        .scores
        .iter()
        .all(|c| c.w * c.a <= 16 && c.bops_ratio <= 1.0 / 64.0));
    let best = u
        .scores
        .iter()
        .map(|c| c.reward)
        .fold(f64::NEG_INFINITY, f64::max);
    let first_best = u.scores.iter().find(|c| c.reward == best).unwrap();
    assert_eq!((u.w, u.a), (first_best.w, first_best.a));
    assert_eq!(
        rows[1].name,
        format!("uniform W{}A{} (best within budget)", u.w, u.a)
    );
    let (w, a) = (u.w.to_string(), u.a.to_string());
    let want = format!(
        "wb={}&ab={}",
        [w.as_str(); 5].join(","),
        [a.as_str(); 5].join(",")
    );
    assert_eq!(rows[1].fragment, want);
    // the choice streamed its candidates while it ran
    assert!(
        current
            .iter()
            .any(|c| c.contains("evaluating W2A2 (1 of 19)")),
        "{current:?}"
    );

    let sig = table_significance(&rows, s.cfg().seed).unwrap();
    assert_eq!(sig.rows.len(), 3);
    assert!(sig.rows[0].vs_fp32.is_none() && sig.rows[2].vs_arq.is_none());
    for (r, rs) in rows.iter().zip(&sig.rows) {
        for d in [&rs.vs_fp32, &rs.vs_arq].into_iter().flatten() {
            let reference = rows.iter().find(|x| x.name == d.against).unwrap();
            assert!((d.acr.diff - (r.summary.acr - reference.summary.acr)).abs() < 1e-12);
            assert!(d.acr.low <= d.acr.diff && d.acr.diff <= d.acr.high);
            assert_eq!(d.acr.significant, d.acr.low > 0.0 || d.acr.high < 0.0);
            assert_eq!(d.certified_accuracy.len(), r.summary.grid.len());
        }
    }
    let md = markdown(&rows, &sig, s.cfg().seed);
    let lines: Vec<&str> = md.lines().collect();
    assert!(lines[0].contains("| ACR | ΔACR vs FP32 [95% CI] | vs ARQ | BOPs % |"));
    assert_eq!(lines[1].matches('|').count(), lines[0].matches('|').count());
    assert!(
        lines[2].starts_with("| FP32 |") && lines[2].contains("| — |"),
        "{}",
        lines[2]
    );
    assert!(lines[4].starts_with("| ARQ |"));
    assert!(md.contains("paired bootstrap, 2000 resamples") && md.contains("51st smallest"));
    // certified accuracy: a line per comparison, a column per radius some row certifies at
    let cert = certified_markdown(&rows, &sig);
    let lines: Vec<&str> = cert.lines().collect();
    let shown = (0..rows[0].summary.grid.len())
        .filter(|&k| rows.iter().any(|r| r.summary.certified_accuracy[k] > 0.0))
        .count();
    assert!(shown > 0);
    assert_eq!(lines[0].matches(" r = ").count(), shown);
    // FP32 vs ARQ, uniform vs FP32 and ARQ, ARQ vs FP32
    assert_eq!(lines.len(), 2 + 4);
    assert!(lines[2].starts_with("| FP32 | ARQ |"), "{}", lines[2]);
    let cell = |iv: &arq::pipeline::significance::Interval| {
        format!(
            "{:+.3} [{:+.3}, {:+.3}]{}",
            iv.diff,
            iv.low,
            iv.high,
            if iv.significant { " *" } else { " n.s." }
        )
    };
    let d = sig.rows[1].vs_fp32.as_ref().unwrap();
    assert!(
        lines[3].starts_with(&format!(
            "| {} | FP32 | {} |",
            rows[1].name,
            cell(&d.certified_accuracy[0])
        )),
        "{}",
        lines[3]
    );
}

#[test]
fn locked_layers_that_eat_the_budget_leave_no_uniform_row() {
    // conv1 locked at W8A8 costs more than 1/64 of FP32 by itself: no uniform policy fits
    // (and no search could run), so the table is FP32 alone
    let cfg =
        ExperimentConfig::from_fragment(&format!("{FRAG}&wb=8,4,4,4,4&ab=8,4,4,4,4&lk=1,0,0,0,0"))
            .unwrap();
    let s = Session::new(cfg, None).unwrap();
    let rows = s.compare_rows().unwrap();
    assert_eq!(
        rows.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        ["FP32"]
    );
    // with room for it, the locked layer keeps its bits in the uniform row's spec
    let cfg = ExperimentConfig::from_fragment(&format!(
        "{FRAG}&wb=8,4,4,4,4&ab=8,4,4,4,4&lk=1,0,0,0,0&budget=0.0625"
    ))
    .unwrap();
    let mut s = Session::new(cfg, None).unwrap();
    let rows = s.compare_rows().unwrap();
    assert!(rows[1].best_uniform);
    assert_eq!(
        (rows[1].wb[0], rows[1].ab[0], rows[1].locks[0]),
        (8, 8, true)
    );
    // a uniform row handed over under a budget it cannot meet is an error, not an endless job
    let mut cfg = s.cfg().clone();
    cfg.budget = 1.0 / 64.0;
    s.set_config(cfg).unwrap();
    s.begin(JobSpec::Compare {
        part: arq::job::Part::WHOLE,
        rows: Some(rows),
    })
    .unwrap();
    let e = loop {
        match s.step(JobKind::Compare, 100_000, &mut || 0) {
            Ok(st) => assert!(!st.done, "the table finished without its uniform row"),
            Err(e) => break e.to_string(),
        }
    };
    assert!(
        e.contains("budget=") && e.contains("no uniform policy fits"),
        "{e}"
    );
}
