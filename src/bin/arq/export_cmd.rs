//! Table and record files of `arq certify`, `arq search` and `arq run` (src/export.rs, the
//! same text as the page's download buttons): `--table FILE`, `--episodes-table FILE` in
//! `--format md|latex|csv` (default: the file's extension, else Markdown), and
//! `arq certify --cohen FILE` in the layout of Cohen et al.'s certify.py.

use crate::cli::{check_output, write};
use arq::certify::{CertRecord, Summary};
use arq::export::{self, EpisodeRun, Format, Table};
use arq::pipeline::compare::CompareRow;
use arq::pipeline::significance::TableSignificance;
use arq::results::Episode;
use arq::{Error, Result};
use clap::{Arg, ArgMatches, Command};
use std::path::Path;

/// `--table`, `--format`, and with `episodes` `--episodes-table` (`--episodes` is the setting); with `cohen` `--cohen`.
pub fn table_args(cmd: Command, episodes: bool, cohen: bool) -> Command {
    let what = if cohen {
        "the certification table"
    } else {
        "the final comparison table"
    };
    let mut cmd = cmd
        .arg(Arg::new("table").long("table").value_name("FILE").help(format!("Write {what} to FILE (format: --format, else the extension .md/.tex/.csv, else Markdown)")))
        .arg(Arg::new("format").long("format").value_name("FMT").allow_hyphen_values(true).help("Format of --table/--episodes-table files: md, latex or csv"));
    if episodes {
        cmd = cmd.arg(
            Arg::new("episodes-table")
                .long("episodes-table")
                .value_name("FILE")
                .help("Write every search's episodes as a table to FILE (format as --table)"),
        );
    }
    if cohen {
        cmd = cmd.arg(Arg::new("cohen").long("cohen").value_name("FILE").help("Write per-point records in the layout of Cohen et al.'s certify.py (idx label predict radius correct time, tab-separated; predict -1 = abstain)"));
    }
    cmd
}

/// Every output flag's path is checked (and --format parsed) before the work starts.
pub fn check(m: &ArgMatches) -> Result<()> {
    format_for(m, "")?;
    for flag in ["table", "episodes-table", "cohen"] {
        if let Some(p) = m.try_get_one::<String>(flag).ok().flatten() {
            check_output(&format!("--{flag}"), Path::new(p), false)?;
        }
    }
    Ok(())
}

fn format_for(m: &ArgMatches, path: &str) -> Result<Format> {
    match m.try_get_one::<String>("format").ok().flatten() {
        Some(f) => Format::parse("--format", f),
        None => Ok(Format::of_path(path).unwrap_or(Format::Md)),
    }
}

fn write_table(m: &ArgMatches, flag: &str, table: &Table) -> Result<()> {
    if let Some(p) = m.try_get_one::<String>(flag).ok().flatten() {
        let text = export::render(table, format_for(m, p)?);
        write(Path::new(p), text.as_bytes())?;
    }
    Ok(())
}

/// `arq certify`'s files.
pub fn certify_outputs(
    m: &ArgMatches,
    records: &[CertRecord],
    summary: &Summary,
    test_offset: u64,
) -> Result<()> {
    write_table(
        m,
        "table",
        &export::certify_table(std::slice::from_ref(summary)),
    )?;
    if let Some(p) = m.get_one::<String>("cohen") {
        write(
            Path::new(p),
            export::cohen_tsv(records, test_offset).as_bytes(),
        )?;
    }
    Ok(())
}

/// `arq search` / `arq run`'s files: the final table and the episodes (`searches`: method ->
/// the episode records as JSON, as `--json` prints them).
pub fn run_outputs(
    m: &ArgMatches,
    rows: &[CompareRow],
    sig: &TableSignificance,
    searches: &serde_json::Value,
) -> Result<()> {
    if !rows.is_empty() {
        write_table(m, "table", &export::compare_table(rows, Some(sig)))?;
    } else if m.get_one::<String>("table").is_some() {
        return Err(Error::State(
            "--table: there is no final table to write (--no-compare)".into(),
        ));
    }
    if m.get_one::<String>("episodes-table").is_some() {
        let mut runs = vec![];
        if let Some(map) = searches.as_object() {
            for (method, list) in map {
                let episodes: Vec<Episode> = serde_json::from_value(list.clone())
                    .map_err(|e| Error::State(format!("--episodes-table: internal: {e}")))?;
                runs.push(EpisodeRun {
                    method: method.clone(),
                    episodes,
                });
            }
        }
        write_table(m, "episodes-table", &export::episodes_table(&runs))?;
    }
    Ok(())
}
