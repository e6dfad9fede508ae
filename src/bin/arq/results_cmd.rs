//! Results that travel with a link (src/results): the digest and link every command that
//! corresponds to a page job prints (`certify`, `search`, `run`), `--bundle FILE` (.arq.json),
//! and `arq verify <link-or-bundle>`, which replays the jobs a link or bundle carries and
//! exits non-zero naming the first divergence.

use crate::cli::{check_output, common_args, emit, progress, trained_session_with, write};
use arq::certify::CertRecord;
use arq::config::ExperimentConfig;
use arq::experiment::{JobEvent, JobKind, JobSpec, Session};
use arq::pipeline::compare::CompareRow;
use arq::results::{link, verify, Bundle, Episode, ResultInput, SearchRun};
use arq::{Error, Result};
use clap::{Arg, ArgMatches, Command};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Instant;

/// Adds `--bundle FILE` to a command whose jobs the page also runs.
pub fn bundle_arg(cmd: Command) -> Command {
    cmd.arg(Arg::new("bundle").long("bundle").value_name("FILE").help("Write the results as an .arq.json bundle (settings, engine version, checkpoint hash, every record, digests): `arq verify FILE` replays it, the page imports it"))
}

/// A `--bundle` path that cannot be written fails before the work.
pub fn check_bundle_arg(m: &ArgMatches) -> Result<()> {
    match m.get_one::<String>("bundle") {
        Some(p) => check_output("--bundle", Path::new(p), false),
        None => Ok(()),
    }
}

/// The results part of a command's output.
pub struct Reported {
    /// Lines for the text output.
    pub text: String,
    /// `{digest, jobs, link}` for `--json`.
    pub json: Value,
}

fn checkpoint_of(s: &Session) -> Option<String> {
    s.checkpoint().map(|c| c.hash.clone())
}

/// Digest, per-job digests and the link with results of `input` (and the bundle, with
/// `--bundle`): what the page shows for the same fragment.
pub fn results_of(m: &ArgMatches, s: &Session, input: ResultInput) -> Result<Reported> {
    let fragment = s.cfg().to_fragment();
    let ck = checkpoint_of(s);
    let (bundle, shared) = Bundle::build(&input, &fragment, ck.as_deref())?;
    let url = link::with_results(&shared);
    if let Some(p) = m.get_one::<String>("bundle") {
        write(Path::new(p), bundle.to_json().as_bytes())?;
    }
    let jobs: Vec<Value> = shared
        .jobs
        .iter()
        .map(|j| json!({"job": j.job, "count": j.count, "digest": j.digest}))
        .collect();
    let text = format!(
        "results digest: {}\n{}link with results ({} characters): {url}\n{}",
        shared.digest(),
        shared
            .jobs
            .iter()
            .map(|j| format!("  {}: {} records, digest {}\n", j.job, j.count, j.digest))
            .collect::<String>(),
        url.len(),
        m.get_one::<String>("bundle")
            .map_or(String::new(), |p| format!("bundle: {p}\n"))
    );
    Ok(Reported {
        text,
        json: json!({"digest": shared.digest(), "jobs": jobs, "link": url, "engine": shared.engine, "checkpoint": shared.checkpoint}),
    })
}

/// The searches' episode records (as `run_search` returns them) and the table as results.
pub fn input_of(searches: &Value, rows: &[CompareRow]) -> Result<ResultInput> {
    let mut out = ResultInput::default();
    if let Some(map) = searches.as_object() {
        for (method, records) in map {
            let episodes: Vec<Episode> = serde_json::from_value(records.clone())
                .map_err(|e| Error::State(format!("internal: episode records of {method}: {e}")))?;
            if !episodes.is_empty() {
                out.searches.push(SearchRun {
                    method: method.clone(),
                    episodes,
                });
            }
        }
    }
    if !rows.is_empty() {
        out.table = Some(rows.to_vec());
    }
    Ok(out)
}

/// The searches of `--url`'s results, if it carries any (`arq run --url LINK` runs them).
pub fn link_methods(m: &ArgMatches) -> Result<Option<Vec<String>>> {
    let Some(u) = m.get_one::<String>("url") else {
        return Ok(None);
    };
    let parts = link::split(u);
    let Some(shared) = link::results_of(&parts)? else {
        return Ok(None);
    };
    let list = shared.replay_order();
    Ok((!list.is_empty()).then_some(list))
}

pub fn verify_command() -> Command {
    bundle_arg(common_args(Command::new("verify").about("Replay the jobs whose results a link (#...&eng=...&r=...) or an .arq.json bundle carries and compare digests: 'replayed, bit-identical', or the first job and record that differ (exit status 1)")))
        .arg(Arg::new("target").value_name("LINK_OR_BUNDLE").required(true).allow_hyphen_values(true).help("A link with results ('#v=1&...&eng=...&r=...', or the whole URL) or an .arq.json file"))
}

fn certify(m: &ArgMatches, s: &mut Session) -> Result<Vec<CertRecord>> {
    let t0 = Instant::now();
    let mut clock = move || t0.elapsed().as_micros() as u64;
    let first = s.begin(JobSpec::CERTIFY)?;
    let pb = progress(m, first.work.total, "certify");
    let mut records = vec![];
    loop {
        let st = s.step(JobKind::Certify, s.cfg().cert_batch as u64 * 4, &mut clock)?;
        pb.set_position(st.work.done);
        if let JobEvent::Certify(c) = st.event {
            records.extend(c.records);
        }
        if st.done {
            pb.finish_and_clear();
            return Ok(records);
        }
    }
}

pub fn cmd_verify(m: &ArgMatches) -> Result<()> {
    check_bundle_arg(m)?;
    if m.get_one::<String>("url").is_some()
        || arq::config::SCHEMA
            .iter()
            .any(|f| m.get_one::<String>(f.key).is_some())
    {
        return Err(Error::invalid(
            "verify",
            "--url / setting flags",
            "the settings come from the link or bundle",
            "only LINK_OR_BUNDLE (and --data, --checkpoint, --bundle, --json, --quiet)",
        ));
    }
    let target = m.get_one::<String>("target").expect("required");
    let is_file = !target.trim_start().starts_with('#')
        && !target.contains("#")
        && Path::new(target).is_file();
    let (shared, records) = if is_file {
        let text = std::fs::read_to_string(target).map_err(|e| Error::Io {
            path: target.clone(),
            reason: e.to_string(),
        })?;
        let (b, shared) = Bundle::read(&text).map_err(|e| Error::bad_file(target, e))?;
        (shared, Some(b.results.canonical()))
    } else {
        let parts = link::split(target);
        match link::results_of(&parts)? {
            Some(s) => (s, None),
            None => return Err(Error::invalid(
                "r",
                "(missing)",
                "the link carries no results",
                "a link the page shared after a job finished (…&eng=…&r=…), or an .arq.json file",
            )),
        }
    };
    let quiet = m.get_flag("quiet") || m.get_flag("json");
    if shared.engine != arq::VERSION && !quiet {
        eprintln!("note: these results were computed by engine {}, this is engine {}: the replay may differ", shared.engine, arq::VERSION);
    }
    let cfg = ExperimentConfig::from_fragment(&shared.fragment)?;
    let mut s = trained_session_with(m, cfg)?;
    let ck = checkpoint_of(&s);
    if shared.checkpoint != ck && !quiet {
        eprintln!(
            "note: the results started from {}, this replay from {}",
            shared.checkpoint.as_deref().map_or(
                "weights trained in the session".into(),
                |c| format!("checkpoint {}", &c[..c.len().min(16)])
            ),
            ck.as_deref()
                .map_or("freshly initialised weights".into(), |c| format!(
                    "checkpoint {}",
                    &c[..c.len().min(16)]
                ))
        );
    }
    let mut input = ResultInput::default();
    let mut searches = serde_json::Map::new();
    if shared.jobs.iter().any(|j| j.job == "certify") {
        input.certify = Some(certify(m, &mut s)?);
    }
    for method in shared.replay_order() {
        let records = crate::pipeline_cmds::run_search(m, &mut s, &method, &mut None)?;
        searches.insert(method, json!(records));
    }
    input.searches = input_of(&Value::Object(searches), &[])?.searches;
    if shared.jobs.iter().any(|j| j.job == "table") {
        input.table = Some(crate::pipeline_cmds::run_compare(m, &mut s)?);
    }
    let (bundle, replay) = Bundle::build(&input, &shared.fragment, ck.as_deref())?;
    if let Some(p) = m.get_one::<String>("bundle") {
        write(Path::new(p), bundle.to_json().as_bytes())?;
    }
    let canon = input.canonical();
    let v = verify(
        &shared,
        &replay,
        records.as_deref().map(|r| (r, canon.as_slice())),
    );
    let text = format!(
        "{}\nshared digest:   {}\nreplayed digest: {}\n{}",
        v.message,
        v.shared_digest,
        v.replay_digest,
        replay
            .jobs
            .iter()
            .map(|j| format!("  {}: {} records, digest {}\n", j.job, j.count, j.digest))
            .collect::<String>()
    );
    emit(
        m,
        &json!({"verdict": v, "fragment": shared.fragment, "engine": {"shared": shared.engine, "replay": arq::VERSION}, "checkpoint": {"shared": shared.checkpoint, "replay": ck}}),
        &text,
    );
    if !v.identical {
        std::process::exit(1);
    }
    Ok(())
}
