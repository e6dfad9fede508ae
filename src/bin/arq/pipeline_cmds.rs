//! `arq quantize`, `arq search`, `arq run`: the quantization half of the pipeline.

use crate::cli::{common_args, emit, progress, trained_session, write};
use arq::certify::metrics::markdown_table;
use arq::experiment::{JobEvent, JobKind, JobSpec, QuantEvalStep, SearchStep, Session};
use arq::pipeline::compare::markdown;
use arq::pipeline::search::Method;
use arq::Result;
use clap::{Arg, ArgAction, ArgMatches, Command};
use serde_json::json;
use std::path::Path;
use std::time::Instant;

/// Samples (or sample-equivalents) per step between progress updates.
const STEP_WORK: u64 = 5_000;

fn clock() -> impl FnMut() -> u64 {
    let t0 = Instant::now();
    move || t0.elapsed().as_micros() as u64
}

pub fn quantize_command() -> Command {
    common_args(Command::new("quantize").about("Quantize under a policy (--wb/--ab or --preset), fine-tune `qft` batches, report accuracy, BOPs, size and certified robustness"))
        .arg(Arg::new("preset").long("preset").allow_hyphen_values(true).value_name("NAME").help("fp32, w8a8, w4a4, w2a2 or fl8 (first/last 8, rest 4); overrides --wb/--ab"))
        .arg(Arg::new("irs").long("irs").action(ArgAction::SetTrue).help("Certify with IRS against the FP32 cache (certifies FP32 first) instead of from scratch"))
        .arg(Arg::new("fit").long("fit").action(ArgAction::SetTrue).help("Apply HAQ's budget walk to the policy first"))
        .arg(Arg::new("irs-vs-fresh").long("irs-vs-fresh").action(ArgAction::SetTrue).help("Certify the same quantized model both ways and compare samples, time and radii"))
}

pub fn search_command() -> Command {
    crate::results_cmd::bundle_arg(crate::export_cmd::table_args(
    common_args(Command::new("search").about("Search per-layer bits under the budget (DDPG with ARQ's or HAQ's reward, or random), then compare with FP32 and the best uniform policy within the budget"))
        .arg(Arg::new("method").long("method").allow_hyphen_values(true).value_name("M").default_value("arq").help("arq, haq or random"))
        .arg(Arg::new("log").long("log").value_name("FILE").help("Per-episode JSON lines"))
        .arg(Arg::new("no-compare").long("no-compare").action(ArgAction::SetTrue).help("Skip the final fresh comparison")),
        true,
        false,
    ))
}

pub fn run_command() -> Command {
    crate::results_cmd::bundle_arg(crate::export_cmd::table_args(
    common_args(Command::new("run").about("Run a shared experiment end to end: the searches, then the final comparison table (FP32, the best uniform policy within the budget, each search's best, with paired 95 % intervals of the ACR differences)"))
        .arg(Arg::new("methods").long("methods").allow_hyphen_values(true).value_name("LIST").default_value("arq").help("Comma-separated searches to run: arq, haq, random"))
        .arg(Arg::new("experiment").long("experiment").allow_hyphen_values(true).value_name("ID").conflicts_with("url").help("Run a named experiment of the page (its fragment, and its searches unless --methods is given): why-certify"))
        .arg(Arg::new("log").long("log").value_name("FILE").help("Per-episode JSON lines of every search")),
        true,
        false,
    ))
}

fn evaluate(
    m: &ArgMatches,
    s: &mut Session,
    fresh: bool,
) -> Result<arq::pipeline::eval::EvalResult> {
    let mut c = clock();
    let first = s.begin(JobSpec::QuantEval { fresh })?;
    let pb = progress(m, first.work.total, if fresh { "fresh" } else { "irs" });
    loop {
        let st = s.step(JobKind::QuantEval, STEP_WORK, &mut c)?;
        pb.set_position(st.work.done);
        pb.set_message(st.work.phase);
        if let JobEvent::QuantEval(QuantEvalStep {
            result: Some(r), ..
        }) = st.event
        {
            pb.finish_and_clear();
            return Ok(r);
        }
        if st.done {
            return Err(arq::Error::State(
                "the read-out finished without a result".into(),
            ));
        }
    }
}

fn named(s: &arq::certify::Summary, name: &str) -> arq::certify::Summary {
    arq::certify::Summary {
        name: format!("{} ({name})", s.name),
        ..s.clone()
    }
}

/// One line per row: what its certificates guarantee and the largest radius it can give.
fn guarantees(rows: &[arq::certify::Summary]) -> String {
    rows.iter()
        .map(|r| format!("{}: {}; R_max = {:.4}\n", r.name, r.guarantee(), r.r_max))
        .collect()
}

/// IRS against certification from scratch on the same quantized model (issue 3's measurement).
fn irs_vs_fresh(m: &ArgMatches, s: &mut Session) -> Result<()> {
    let irs = evaluate(m, s, false)?;
    let fresh = evaluate(m, s, true)?;
    let st = irs.irs.clone().unwrap_or_default();
    let n = irs.radii.len().max(1) as f64;
    let mean_abs = irs
        .radii
        .iter()
        .zip(&fresh.radii)
        .map(|(a, b)| (a - b).abs())
        .sum::<f64>()
        / n;
    let below = irs
        .radii
        .iter()
        .zip(&fresh.radii)
        .filter(|(a, b)| a <= b)
        .count();
    let text = format!(
        "{}{}\nsamples: IRS {} vs from scratch {} ({:.1}x fewer); certification time: IRS {:.2} s vs {:.2} s ({:.1}x faster)\nbranches: {} incremental, {} fallback (pA_low >= gamma), {} skipped (FP32 wrong)\nradius per point: IRS mean {:.4}, fresh mean {:.4}, mean |difference| {:.4}, IRS <= fresh on {below} of {} points\nreproduce: arq quantize --url '#{}' --irs-vs-fresh\n",
        markdown_table(&[named(&irs.summary, "IRS"), named(&fresh.summary, "from scratch")]),
        guarantees(&[named(&irs.summary, "IRS"), named(&fresh.summary, "from scratch")]),
        st.samples,
        fresh.summary.points as u64 * (s.cfg().n0 + s.cfg().n) as u64,
        (fresh.summary.points as u64 * (s.cfg().n0 + s.cfg().n) as u64) as f64 / st.samples.max(1) as f64,
        irs.micros.certify as f64 / 1e6,
        fresh.micros.certify as f64 / 1e6,
        fresh.micros.certify as f64 / irs.micros.certify.max(1) as f64,
        st.incremental,
        st.fallback,
        st.skipped,
        irs.radii.iter().sum::<f64>() / n,
        fresh.radii.iter().sum::<f64>() / n,
        mean_abs,
        irs.radii.len(),
        s.cfg().to_fragment()
    );
    emit(
        m,
        &json!({"fragment": s.cfg().to_fragment(), "irs": irs, "fresh": fresh}),
        &text,
    );
    Ok(())
}

pub fn cmd_quantize(m: &ArgMatches) -> Result<()> {
    // a bad preset name fails before any work
    if let Some(p) = m.get_one::<String>("preset") {
        arq::quant::Preset::parse(p)?;
    }
    let mut s = trained_session(m)?;
    if let Some(p) = m.get_one::<String>("preset") {
        s.apply_preset(p)?;
    }
    if m.get_flag("fit") {
        s.enforce_budget()?;
    }
    if m.get_flag("irs-vs-fresh") {
        return irs_vs_fresh(m, &mut s);
    }
    let info = s.policy_info()?;
    let r = evaluate(m, &mut s, !m.get_flag("irs"))?;
    let mut rows = vec![];
    if let Some(f) = &r.fp32 {
        rows.push(f.clone());
    }
    rows.push(r.summary.clone());
    let mode = if m.get_flag("irs") {
        "IRS against the FP32 cache"
    } else {
        "certified from scratch"
    };
    let mut text = format!(
        "policy {} ({})\nBOPs {:.3} % of FP32, size {} bytes ({:.1}x smaller), clean test accuracy {:.4} (base classifier, the test digits outside the search split)\n{mode}, {} points, sigma={}, n={}:\n{}{}",
        info.fragment,
        s.model().arch,
        100.0 * info.cost.ratio,
        info.cost.size_bytes,
        info.cost.compression,
        r.test_accuracy,
        r.summary.points,
        s.cfg().sigma,
        s.cfg().n,
        markdown_table(&rows),
        guarantees(&rows)
    );
    if let Some(irs) = &r.irs {
        text.push_str(&format!(
            "IRS: {} samples instead of {} from scratch ({:.1}x fewer); {} incremental, {} fallback, {} skipped\n",
            irs.samples,
            irs.scratch_samples,
            irs.scratch_samples as f64 / irs.samples.max(1) as f64,
            irs.incremental,
            irs.fallback,
            irs.skipped
        ));
    }
    text.push_str(&format!("time: fp32 {:.1} s, fine-tune {:.1} s, certify {:.1} s\nreproduce: arq quantize --url '#{}'{}\n", r.micros.fp32 as f64 / 1e6, r.micros.finetune as f64 / 1e6, r.micros.certify as f64 / 1e6, s.cfg().to_fragment(), if m.get_flag("irs") { " --irs" } else { "" }));
    emit(
        m,
        &json!({"fragment": s.cfg().to_fragment(), "policy": info, "result": r}),
        &text,
    );
    Ok(())
}

/// Run one search to the end, printing a line per episode; returns the episode records.
pub(crate) fn run_search(
    m: &ArgMatches,
    s: &mut Session,
    method: &str,
    log: &mut Option<std::fs::File>,
) -> Result<Vec<serde_json::Value>> {
    use std::io::Write;
    let mut c = clock();
    s.begin(JobSpec::Search {
        method: Method::parse(method)?,
    })?;
    let pb = progress(m, s.cfg().episodes as u64, method);
    let mut records = vec![];
    let start = Instant::now();
    loop {
        let st = s.step(JobKind::Search, STEP_WORK, &mut c)?;
        pb.set_message(format!(
            "{} {}/{}",
            st.work.phase, st.work.done, st.work.total
        ));
        if let JobEvent::Search(SearchStep {
            progress, episode, ..
        }) = &st.event
        {
            pb.set_position(progress.episode as u64);
            if let Some(e) = episode {
                let v = serde_json::to_value(e).expect("json");
                if let Some(f) = log.as_mut() {
                    let mut line = v.clone();
                    line["method"] = json!(method);
                    let _ = writeln!(f, "{}", line);
                }
                if !m.get_flag("quiet") && !m.get_flag("json") {
                    pb.suspend(|| {
                        eprintln!(
                            "{method} ep {:>3}{} wb={:?} ab={:?} BOPs {:.3}% reward {:+.4} ACR {:.3} acc {:.3}",
                            e.episode,
                            if e.is_warmup { "w" } else { " " },
                            e.wbits,
                            e.abits,
                            100.0 * e.cost_ratio,
                            e.reward,
                            e.metrics.get("acr").copied().unwrap_or(0.0),
                            e.metrics.get("accuracy").copied().unwrap_or(0.0)
                        )
                    });
                }
                records.push(v);
            }
        }
        if st.done {
            break;
        }
    }
    pb.finish_and_clear();
    if !m.get_flag("quiet") {
        eprintln!(
            "{method}: {} episodes in {:.1} s",
            records.len(),
            start.elapsed().as_secs_f64()
        );
    }
    Ok(records)
}

pub(crate) fn run_compare(
    m: &ArgMatches,
    s: &mut Session,
) -> Result<Vec<arq::pipeline::compare::CompareRow>> {
    let mut c = clock();
    s.begin(JobSpec::COMPARE)?;
    let pb = progress(m, 0, "compare");
    let mut rows = vec![];
    loop {
        let st = s.step(JobKind::Compare, STEP_WORK, &mut c)?;
        if let JobEvent::Compare(cs) = st.event {
            pb.set_length(cs.rows_total as u64);
            pb.set_position(cs.rows_done as u64);
            pb.set_message(format!(
                "{} {}/{}",
                cs.current.unwrap_or_default(),
                st.work.done,
                st.work.total
            ));
            rows = cs.rows;
        }
        if st.done {
            pb.finish_and_clear();
            return Ok(rows);
        }
    }
}

fn open_log(m: &ArgMatches) -> Result<Option<std::fs::File>> {
    m.get_one::<String>("log")
        .map(|p| {
            crate::cli::check_output("--log", Path::new(p), false)?;
            write(Path::new(p), b"")?;
            std::fs::OpenOptions::new()
                .append(true)
                .open(p)
                .map_err(|e| arq::Error::Io {
                    path: p.clone(),
                    reason: e.to_string(),
                })
        })
        .transpose()
}

fn finish(
    m: &ArgMatches,
    s: &Session,
    searches: serde_json::Value,
    rows: &[arq::pipeline::compare::CompareRow],
    how: &str,
) -> Result<()> {
    let sig = arq::pipeline::significance::table_significance(rows, s.cfg().seed)?;
    crate::export_cmd::run_outputs(m, rows, &sig, &searches)?;
    let results =
        crate::results_cmd::results_of(m, s, crate::results_cmd::input_of(&searches, rows)?)?;
    let text = format!(
        "{}\n{}{}\nfresh certification (CERTIFY, noise streams of its own, none shared with the search) of {} test points at sigma={} (n0={}, n={}, alpha={}, R_max = {:.4}), budget {:.4} % of FP32 BOPs, fine-tune {} batches per row; clean acc. = base classifier on the test digits outside the search split\nsearched: {}\nreproduce: {how} --url '#{}'\n{}",
        markdown(rows, &sig, s.cfg().seed),
        arq::pipeline::compare::certified_markdown(rows, &sig),
        uniform_note(rows, s.cfg().sft),
        s.cfg().points,
        s.cfg().sigma,
        s.cfg().n0,
        s.cfg().n,
        s.cfg().alpha,
        rows.first().map_or(f64::NAN, |r| r.summary.r_max),
        100.0 * s.cfg().budget,
        s.cfg().fft,
        s.searched_policies().iter().map(|(n, f)| format!("{n}: {f}")).collect::<Vec<_>>().join("; "),
        s.cfg().to_fragment(),
        results.text
    );
    emit(
        m,
        &json!({"fragment": s.cfg().to_fragment(), "searches": searches, "rows": rows, "significance": sig, "results": results.json}),
        &text,
    );
    Ok(())
}

/// How the uniform row was chosen: each candidate's reward on the search split.
fn uniform_note(rows: &[arq::pipeline::compare::CompareRow], sft: u32) -> String {
    let Some((row, u)) = rows.iter().find_map(|r| r.uniform.as_ref().map(|u| (r, u))) else {
        return String::new();
    };
    if u.scores.is_empty() {
        return format!(
            "\n{}: the only uniform policy within the budget\n",
            row.name
        );
    }
    let scores: Vec<String> = u
        .scores
        .iter()
        .map(|c| format!("W{}A{} {:+.4}", c.w, c.a, c.reward))
        .collect();
    format!(
        "\n{}: the highest ARQ reward among the uniform policies within the budget, each fine-tuned {sft} batch{} and certified with IRS on the search split (never the reported points): {}\n",
        row.name,
        if sft == 1 { "" } else { "es" },
        scores.join(", ")
    )
}

pub fn cmd_search(m: &ArgMatches) -> Result<()> {
    crate::results_cmd::check_bundle_arg(m)?;
    let method = m.get_one::<String>("method").expect("default").clone();
    Method::parse(&method)?;
    crate::export_cmd::check(m)?;
    let mut s = trained_session(m)?;
    let mut log = open_log(m)?;
    let records = run_search(m, &mut s, &method, &mut log)?;
    let rows = if m.get_flag("no-compare") {
        vec![]
    } else {
        run_compare(m, &mut s)?
    };
    finish(
        m,
        &s,
        json!({ method.clone(): records }),
        &rows,
        &format!("arq search --method {method}"),
    )
}

/// `--methods`: every name is checked before any search runs (not after the first one).
fn methods(m: &ArgMatches) -> Result<Vec<String>> {
    let named = match m.try_get_one::<String>("experiment").ok().flatten() {
        Some(id) if m.value_source("methods") != Some(clap::parser::ValueSource::CommandLine) => {
            Some(arq::showcase::showcase(id)?)
        }
        _ => None,
    };
    // `--url` with results (r=): the searches the link carries, in its order
    let named = named
        .map(|s| {
            s.methods
                .iter()
                .map(|x| x.word().to_string())
                .collect::<Vec<_>>()
        })
        .or(
            if m.value_source("methods") == Some(clap::parser::ValueSource::CommandLine) {
                None
            } else {
                crate::results_cmd::link_methods(m)?
            },
        );
    let joined = named.map(|s| s.join(","));
    let raw = joined
        .as_ref()
        .or(m.get_one::<String>("methods"))
        .expect("default");
    let allowed = "comma-separated search methods: arq, haq, random";
    let list: Vec<String> = raw
        .split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(String::from)
        .collect();
    if list.is_empty() {
        return Err(arq::Error::invalid(
            "methods",
            raw,
            "no search method given",
            allowed,
        ));
    }
    for x in &list {
        if Method::parse(x).is_err() {
            return Err(arq::Error::invalid(
                "methods",
                raw,
                &format!("unknown search method '{x}'"),
                allowed,
            ));
        }
    }
    Ok(list)
}

pub fn cmd_run(m: &ArgMatches) -> Result<()> {
    crate::results_cmd::check_bundle_arg(m)?;
    let list = methods(m)?;
    crate::export_cmd::check(m)?;
    let mut s = trained_session(m)?;
    if let Some(id) = m.get_one::<String>("experiment") {
        let x = arq::showcase::showcase(id)?;
        if !m.get_flag("quiet") {
            eprintln!("{}: {}\n{}\n", x.id, x.title, x.text);
        }
    }
    let mut log = open_log(m)?;
    let mut searches = serde_json::Map::new();
    for method in list.iter().map(String::as_str) {
        let records = run_search(m, &mut s, method, &mut log)?;
        searches.insert(method.to_string(), json!(records));
    }
    let rows = run_compare(m, &mut s)?;
    let how = format!("arq run --methods {}", list.join(","));
    finish(m, &s, serde_json::Value::Object(searches), &rows, &how)
}
