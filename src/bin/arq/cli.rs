//! `arq`: the native command line over the same core as the page.
//! Every experiment setting is a flag generated from the config schema, and `--url '#...'`
//! accepts the page's fragment; flags given after it override it.

use arq::config::{schema_markdown, DatasetName, ExperimentConfig, SCHEMA};
use arq::experiment::{JobEvent, JobKind, JobSpec, Session};
use arq::nn::checkpoint::short_hash;
use arq::{Error, Result};
use clap::{Arg, ArgAction, ArgMatches, Command};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Instant;

pub(crate) fn common_args(cmd: Command) -> Command {
    let mut cmd = cmd
        .arg(
            Arg::new("url")
                .long("url")
                .value_name("FRAGMENT")
                .help("The page's URL fragment, e.g. '#v=1&model=lenet&sigma=0.25'"),
        )
        .arg(
            Arg::new("data")
                .long("data")
                .value_name("FILE")
                .help("MNIST data file [default: data/mnist10k.u8]"),
        )
        .arg(
            Arg::new("checkpoint")
                .long("checkpoint")
                .value_name("FILE")
                .help("Start from this checkpoint (.arqc)"),
        )
        .arg(
            Arg::new("json")
                .long("json")
                .action(ArgAction::SetTrue)
                .help("Print machine-readable JSON on stdout"),
        )
        .arg(
            Arg::new("quiet")
                .long("quiet")
                .short('q')
                .action(ArgAction::SetTrue)
                .help("No progress bar"),
        );
    for f in SCHEMA {
        let help = format!("{} [{}]", f.help, f.kind.allowed());
        cmd = cmd.arg(
            Arg::new(f.key)
                .long(f.key)
                .value_name("V")
                // `--sigma -1` is a bad value to report (naming the key and the range), not
                // an unknown flag `-1`
                .allow_hyphen_values(true)
                .help(help)
                .help_heading("Experiment settings (same keys as the URL)"),
        );
    }
    cmd
}

fn cli() -> Command {
    Command::new("arq")
        .version(arq::VERSION)
        .about("ARQ Playground: certified-robust mixed-precision quantization, from the command line")
        .subcommand_required(true)
        .subcommand(common_args(Command::new("info").about("Show the config, dataset and model (layers, params, MACs)")).arg(Arg::new("schema-md").long("schema-md").action(ArgAction::SetTrue).help("Print the settings table as Markdown")).arg(Arg::new("experiment").long("experiment").allow_hyphen_values(true).value_name("ID").conflicts_with("url").help("Show a named experiment's config (see `arq run --experiment`)")).arg(Arg::new("lessons").long("lessons").action(ArgAction::SetTrue).help("List the page's guided lessons: id, title, steps and fragment (`--lesson ID` without --url starts any command from one)")))
        .subcommand(common_args(Command::new("train").about("Train a base classifier with Gaussian noise augmentation")).arg(Arg::new("out").long("out").value_name("PATH").help("Checkpoint file, or a directory for a content-addressed name plus index.json [default: models]")))
        .subcommand(common_args(Command::new("eval").about("Clean test accuracy and confusion matrix of a checkpoint")))
        .subcommand(crate::pipeline_cmds::quantize_command())
        .subcommand(crate::pipeline_cmds::search_command())
        .subcommand(crate::pipeline_cmds::run_command())
        .subcommand(crate::resolution_cmd::resolution_command())
        .subcommand(crate::sensitivity_cmd::sensitivity_command())
        .subcommand(crate::digit_cmd::certify_digit_command())
        .subcommand(crate::selftest_cmd::selftest_command())
        .subcommand(crate::results_cmd::verify_command())
        .subcommand(crate::results_cmd::bundle_arg(crate::export_cmd::table_args(
            common_args(Command::new("certify").about("Certify the smoothed classifier (Cohen et al. CERTIFY) on test points"))
                .arg(Arg::new("records").long("records").value_name("FILE").help("Write per-example records: .jsonl for JSON lines, anything else TSV")),
            false,
            true,
        )))
}

/// The config from `--url` and the per-field flags (flags override the fragment). Every
/// invalid setting is reported at once, each naming its key, value and what is allowed.
pub(crate) fn config_from(m: &ArgMatches) -> Result<ExperimentConfig> {
    let mut errors = vec![];
    // `arq run --experiment ID` starts from the named experiment's fragment
    let named = match m.try_get_one::<String>("experiment").ok().flatten() {
        Some(id) => Some(arq::showcase::showcase(id)?.fragment.to_string()),
        // `--lesson ID` without --url starts from the lesson's prepared state (which sets
        // lesson=ID too; a bad ID is reported below like any bad setting)
        None => m
            .get_one::<String>("lesson")
            .and_then(|id| arq::lesson::lesson(id).ok())
            .map(|l| l.fragment.to_string()),
    };
    let mut cfg = match m.get_one::<String>("url").or(named.as_ref()) {
        Some(u) => {
            let (cfg, notices) = ExperimentConfig::from_fragment_lenient(u);
            errors.extend(notices.iter().map(Error::to_string));
            cfg
        }
        None => ExperimentConfig::default(),
    };
    for f in SCHEMA {
        if let Some(v) = m.get_one::<String>(f.key) {
            if let Err(e) = cfg.set(f.key, v) {
                errors.push(e.to_string());
            }
        }
    }
    let np_given = m.get_one::<String>("np").is_some()
        || m.get_one::<String>("url")
            .or(named.as_ref())
            .is_some_and(|u| arq::config::fragment_sets(u, "np"));
    cfg.fit_default_np(np_given);
    // wb/ab/lk lists that do not fit the model, reported with the rest
    errors.extend(
        arq::experiment::drop_unfit_policy(&mut cfg)
            .iter()
            .map(Error::to_string),
    );
    if errors.is_empty() {
        cfg.check()?;
        return Ok(cfg);
    }
    errors.dedup();
    Err(Error::State(if errors.len() == 1 {
        errors.remove(0)
    } else {
        format!(
            "{} invalid settings:\n  {}",
            errors.len(),
            errors.join("\n  ")
        )
    }))
}

pub(crate) fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

pub(crate) fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|e| Error::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

pub(crate) fn data_path(m: &ArgMatches) -> PathBuf {
    if let Some(p) = m.get_one::<String>("data") {
        return PathBuf::from(p);
    }
    let local = PathBuf::from("data/mnist10k.u8");
    if local.exists() {
        local
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist10k.u8")
    }
}

/// A file given on the command line that is not what it should be: which flag, which file.
fn file_error(flag: &str, path: &Path, e: Error) -> Error {
    let what = format!("{flag} {}", path.display());
    match e {
        Error::Io { reason, .. } => Error::Io { path: what, reason },
        e => Error::bad_file(&what, e),
    }
}

/// Build the session: config, data, and the checkpoint if one was given (its model and sigma
/// win over the config's, as in the page).
pub(crate) fn session(m: &ArgMatches) -> Result<Session> {
    session_with(m, config_from(m)?)
}

/// [`session`] with a config from elsewhere (`arq verify`: the link's or bundle's settings).
pub(crate) fn session_with(m: &ArgMatches, cfg: ExperimentConfig) -> Result<Session> {
    let bytes = match cfg.dataset {
        DatasetName::Mnist => {
            Some(read(&data_path(m)).map_err(|e| file_error("--data", &data_path(m), e))?)
        }
        DatasetName::Synth => None,
    };
    let mut s = Session::new(cfg, bytes.as_deref()).map_err(|e| match e {
        Error::BadFile { .. } => file_error("--data", &data_path(m), e),
        e => e,
    })?;
    if let Some(p) = m.get_one::<String>("checkpoint") {
        let p = Path::new(p);
        let bytes = read(p).map_err(|e| file_error("--checkpoint", p, e))?;
        s.load_checkpoint(&bytes)
            .map_err(|e| file_error("--checkpoint", p, e))?;
    }
    Ok(s)
}

/// Like [`session`], but without --checkpoint the shipped checkpoint for the config's
/// (model, sigma) is loaded from models/index.json, exactly as the page does.
pub(crate) fn trained_session(m: &ArgMatches) -> Result<Session> {
    trained_session_with(m, config_from(m)?)
}

/// [`trained_session`] with a config from elsewhere.
pub(crate) fn trained_session_with(m: &ArgMatches, cfg: ExperimentConfig) -> Result<Session> {
    let mut s = session_with(m, cfg)?;
    if s.checkpoint().is_none() && s.cfg().dataset == DatasetName::Mnist {
        let dir = data_path(m)
            .parent()
            .and_then(Path::parent)
            .map(|p| p.join("models"))
            .unwrap_or_else(|| PathBuf::from("models"));
        let index = String::from_utf8_lossy(&read(&dir.join("index.json"))?).into_owned();
        let entry = arq::zoo_index::find(&index, &s.cfg().model.to_string(), s.cfg().sigma)?.ok_or_else(|| {
            Error::invalid("sigma", s.cfg().sigma, &format!("no shipped {} checkpoint at this sigma; pass --checkpoint FILE or train one with `arq train`", s.cfg().model), "0.12, 0.25, 0.5")
        })?;
        let file = dir.join(&entry.file);
        let hash = s.load_checkpoint(&read(&file)?)?.hash.clone();
        entry.check_hash(&hash)?;
        if !m.get_flag("quiet") {
            eprintln!("using shipped checkpoint {}", file.display());
        }
    }
    Ok(s)
}

pub(crate) fn progress(m: &ArgMatches, total: u64, what: &str) -> ProgressBar {
    if m.get_flag("quiet") {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(total);
    pb.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {per_sec} eta {eta} {msg}")
            .expect("template")
            .progress_chars("=> "),
    );
    pb.set_prefix(what.to_string());
    pb
}

pub(crate) fn emit(m: &ArgMatches, v: &Value, text: &str) {
    if m.get_flag("json") {
        println!("{}", serde_json::to_string_pretty(v).expect("json"));
    } else {
        print!("{text}");
    }
}

fn cmd_info(m: &ArgMatches) -> Result<()> {
    if m.get_flag("schema-md") {
        print!("{}", schema_markdown());
        return Ok(());
    }
    if m.get_flag("lessons") {
        let all = arq::lesson::lessons();
        let mut t = String::new();
        for l in &all {
            t.push_str(&format!(
                "{:<12} {} ({} steps)
             #{}
",
                l.id,
                l.title,
                l.steps.len(),
                l.fragment
            ));
        }
        emit(m, &json!(all), &t);
        return Ok(());
    }
    let s = session(m)?;
    let info = s.model().info();
    let mut t = format!("config   #{}\nengine   {}\ndataset  {} ({} train / {} test, {}x{})\nmodel    {}: {} params, {} MACs per image\n\n", s.cfg().to_fragment(), arq::VERSION, s.data().name, s.data().train_count, s.data().test_count(), s.data().rows, s.data().cols, info.name, info.params, info.macs);
    t.push_str(&format!(
        "{:<12} {:<8} {:<14} {:<14} {:>8} {:>10}\n",
        "layer", "kind", "in", "out", "params", "MACs"
    ));
    for l in &info.layers {
        t.push_str(&format!(
            "{:<12} {:<8} {:<14} {:<14} {:>8} {:>10}\n",
            l.name,
            l.kind,
            format!("{:?}", l.in_shape),
            format!("{:?}", l.out_shape),
            l.params,
            l.macs
        ));
    }
    emit(
        m,
        &json!({"config": s.cfg(), "fragment": s.cfg().to_fragment(), "engine": arq::VERSION, "model": info, "dataset": {"name": s.data().name, "train": s.data().train_count, "test": s.data().test_count()}}),
        &t,
    );
    Ok(())
}

/// An output path that cannot be written fails before the work, not after it: its folder
/// must exist (`dir_ok`: or the path is an existing folder, for `train --out`).
pub(crate) fn check_output(flag: &str, path: &Path, dir_ok: bool) -> Result<()> {
    if dir_ok && path.is_dir() {
        return Ok(());
    }
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    if path.is_dir() || parent.is_some_and(|p| !p.is_dir()) {
        return Err(Error::Io {
            path: format!("{flag} {}", path.display()),
            reason: if path.is_dir() {
                "is a folder; give a file name".into()
            } else {
                "its folder does not exist".into()
            },
        });
    }
    Ok(())
}

fn cmd_train(m: &ArgMatches) -> Result<()> {
    let mut s = session(m)?;
    if let Some(out) = m.get_one::<String>("out") {
        check_output("--out", Path::new(out), true)?;
    }
    let start = Instant::now();
    let first = s.begin(JobSpec::Train)?;
    let pb = progress(m, first.work.total, "train");
    let mut epochs = vec![];
    loop {
        let st = s.step(JobKind::Train, 20, &mut || 0)?;
        pb.set_position(st.work.done);
        if let JobEvent::Train(p) = &st.event {
            pb.set_message(format!(
                "epoch {} loss {:.4} acc {:.4}",
                p.epoch + usize::from(!p.done),
                p.loss,
                p.accuracy
            ));
            if let Some(e) = &p.epoch_end {
                pb.suspend(|| {
                    if !m.get_flag("quiet") {
                        eprintln!(
                            "epoch {:>3}  train loss {:.4}  train acc {:.4}  test acc {:.4}",
                            e.epoch, e.train_loss, e.train_accuracy, e.test_accuracy
                        )
                    }
                });
                epochs.push(e.clone());
            }
        }
        if st.done {
            break;
        }
    }
    pb.finish_and_clear();
    let secs = start.elapsed().as_secs_f64();
    let images =
        (s.cfg().epochs as f64) * (s.cfg().train_size.min(s.data().train_count as u32) as f64);
    let bytes = s.save_checkpoint();
    let out = PathBuf::from(
        m.get_one::<String>("out")
            .cloned()
            .unwrap_or_else(|| "models".into()),
    );
    let file = if out.is_dir() {
        let name = format!(
            "{}-s{}-{}.arqc",
            s.cfg().model,
            s.cfg().sigma,
            short_hash(&bytes)
        );
        let path = out.join(&name);
        write(&path, &bytes)?;
        update_index(&out, &s, &name, &bytes)?;
        path
    } else {
        write(&out, &bytes)?;
        out
    };
    let acc = s.evaluate().accuracy;
    let text = format!("trained {} at sigma={} for {} epochs in {:.1} s ({:.0} images/s)\ntest accuracy (clean, 2,000 digits): {:.4}\ncheckpoint: {}\nreproduce: arq train --url '#{}'\n", s.cfg().model, s.cfg().sigma, s.cfg().epochs, secs, images / secs, acc, file.display(), s.cfg().to_fragment());
    emit(
        m,
        &json!({"fragment": s.cfg().to_fragment(), "epochs": epochs, "testAccuracy": acc, "seconds": secs, "imagesPerSecond": images / secs, "checkpoint": file.display().to_string()}),
        &text,
    );
    Ok(())
}

/// models/index.json: one entry per (model, sigma), newest wins; the page reads it.
fn update_index(dir: &Path, s: &Session, file: &str, bytes: &[u8]) -> Result<()> {
    let path = dir.join("index.json");
    let mut entries: Vec<Value> = match std::fs::read(&path) {
        Ok(b) => serde_json::from_slice(&b).map_err(|e| Error::bad_file("models/index.json", e))?,
        Err(_) => vec![],
    };
    entries.retain(|e| !(e["model"] == json!(s.cfg().model) && e["sigma"] == json!(s.cfg().sigma)));
    let (_, info) = arq::nn::checkpoint::load(bytes)?;
    entries.push(json!({"model": s.cfg().model, "sigma": s.cfg().sigma, "file": file, "hash": info.hash, "testAccuracy": info.meta.test_accuracy, "epochs": info.meta.epochs, "fragment": info.meta.fragment}));
    entries.sort_by(|a, b| {
        (
            a["model"].as_str(),
            a["sigma"].as_f64().map(|x| (x * 1000.0) as i64),
        )
            .cmp(&(
                b["model"].as_str(),
                b["sigma"].as_f64().map(|x| (x * 1000.0) as i64),
            ))
    });
    write(
        &path,
        (serde_json::to_string_pretty(&entries).expect("json") + "\n").as_bytes(),
    )
}

fn cmd_eval(m: &ArgMatches) -> Result<()> {
    let s = trained_session(m)?;
    let e = s.evaluate();
    let mut t =
        format!(
        "{} (sigma={}): clean test accuracy {:.4} on {} digits\nconfusion (rows = true label):\n",
        s.model().arch, s.cfg().sigma, e.accuracy, e.n
    );
    for r in 0..10 {
        t.push_str(
            &(0..10)
                .map(|c| format!("{:>5}", e.confusion[r * 10 + c]))
                .collect::<String>(),
        );
        t.push('\n');
    }
    emit(
        m,
        &json!({"model": s.model().arch, "sigma": s.cfg().sigma, "evaluation": e, "checkpoint": s.checkpoint().as_ref().map(|c| c.hash.clone())}),
        &t,
    );
    Ok(())
}

pub fn cmd_certify(m: &ArgMatches) -> Result<()> {
    if let Some(p) = m.get_one::<String>("records") {
        check_output("--records", Path::new(p), false)?;
    }
    crate::export_cmd::check(m)?;
    crate::results_cmd::check_bundle_arg(m)?;
    let mut s = trained_session(m)?;
    let clock0 = Instant::now();
    let mut clock = move || clock0.elapsed().as_micros() as u64;
    let first = s.begin(JobSpec::CERTIFY)?;
    let pb = progress(m, first.work.total, "certify");
    pb.set_style(
        ProgressStyle::with_template(
            "{prefix} [{bar:30}] {human_pos}/{human_len} samples {per_sec} eta {eta} {msg}",
        )
        .expect("template")
        .progress_chars("=> "),
    );
    let start = Instant::now();
    let mut records = vec![];
    let mut summary = None;
    loop {
        let st = s.step(JobKind::Certify, s.cfg().cert_batch as u64 * 4, &mut clock)?;
        pb.set_position(st.work.done);
        if let JobEvent::Certify(c) = st.event {
            pb.set_message(format!(
                "{}/{} points, ACR so far {:.3}",
                c.progress.examples_done, c.progress.examples_total, c.summary.acr
            ));
            records.extend(c.records);
            summary = Some(c.summary);
        }
        if st.done {
            break;
        }
    }
    pb.finish_and_clear();
    let secs = start.elapsed().as_secs_f64();
    let samples = first.work.total as f64;
    if let Some(path) = m.get_one::<String>("records") {
        let text = if path.ends_with(".jsonl") {
            records
                .iter()
                .map(|r| serde_json::to_string(r).expect("json") + "\n")
                .collect::<String>()
        } else {
            let mut t =
                String::from("idx\tlabel\tpredict\tcount\tpA_low\tradius\tcorrect\ttime_ms\n");
            for r in &records {
                let pred = r
                    .prediction
                    .class()
                    .map_or("abstain".to_string(), |c| c.to_string());
                t.push_str(&format!(
                    "{}\t{}\t{}\t{}\t{:.6}\t{:.6}\t{}\t{:.1}\n",
                    r.index,
                    r.label,
                    pred,
                    r.count,
                    r.p_lower,
                    r.radius,
                    u8::from(r.correct),
                    r.micros.unwrap_or(0) as f64 / 1000.0
                ));
            }
            t
        };
        write(Path::new(path), text.as_bytes())?;
    }
    let Some(sum) = &summary else {
        return Err(Error::State(
            "the certification ended without a summary".into(),
        ));
    };
    crate::export_cmd::certify_outputs(m, &records, sum, s.data().train_count as u64)?;
    let results = crate::results_cmd::results_of(
        m,
        &s,
        arq::results::ResultInput {
            certify: Some(records.clone()),
            ..Default::default()
        },
    )?;
    let text = format!(
        "{}\ncertified {} points of {} at sigma={} (n0={}, n={}, alpha={}) in {:.1} s: {:.0} noisy samples/s\nR_max = {:.4} (no radius can exceed it at this n)\nreproduce: arq certify --url '#{}'\n{}",
        arq::certify::metrics::markdown_table(std::slice::from_ref(sum)),
        sum.points,
        s.model().arch,
        s.cfg().sigma,
        s.cfg().n0,
        s.cfg().n,
        s.cfg().alpha,
        secs,
        samples / secs,
        sum.r_max,
        s.cfg().to_fragment(),
        results.text
    );
    emit(
        m,
        &json!({"fragment": s.cfg().to_fragment(), "checkpoint": s.checkpoint().as_ref().map(|c| c.hash.clone()), "summary": sum, "seconds": secs, "samplesPerSecond": samples / secs, "results": results.json}),
        &text,
    );
    Ok(())
}

pub fn main() {
    let m = cli().get_matches();
    let r = match m.subcommand() {
        Some(("info", sm)) => cmd_info(sm),
        Some(("train", sm)) => cmd_train(sm),
        Some(("eval", sm)) => cmd_eval(sm),
        Some(("certify", sm)) => cmd_certify(sm),
        Some(("quantize", sm)) => crate::pipeline_cmds::cmd_quantize(sm),
        Some(("search", sm)) => crate::pipeline_cmds::cmd_search(sm),
        Some(("run", sm)) => crate::pipeline_cmds::cmd_run(sm),
        Some(("resolution", sm)) => crate::resolution_cmd::cmd_resolution(sm),
        Some(("sensitivity", sm)) => crate::sensitivity_cmd::cmd_sensitivity(sm),
        Some(("certify-digit", sm)) => crate::digit_cmd::cmd_certify_digit(sm),
        Some(("selftest", sm)) => crate::selftest_cmd::cmd_selftest(sm),
        Some(("verify", sm)) => crate::results_cmd::cmd_verify(sm),
        _ => unreachable!("subcommand_required"),
    };
    if let Err(e) = r {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
}
