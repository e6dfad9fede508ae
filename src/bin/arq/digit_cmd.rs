//! `arq certify-digit FILE`: a user's digit (PGM P2/P5 or CSV, any size, e.g. the page's
//! "Download this digit"), preprocessed like the training digits and certified under FP32 and
//! the config's quantized policy: the same session job, so the same numbers as the page's
//! "Your digit" view for the same file and fragment.

use crate::cli::{common_args, emit, progress, read, trained_session, write};
use arq::digit::job::{DigitCertificate, DigitStep, DirectionKind};
use arq::digit::{read_image, write_pgm, SIDE};
use arq::experiment::{JobEvent, JobKind};
use arq::{Error, Result};
use clap::{Arg, ArgMatches, Command};
use serde_json::json;
use std::path::Path;
use std::time::Instant;

/// Samples (or sample-equivalents) per step between progress updates.
const STEP_WORK: u64 = 2_000;

pub fn certify_digit_command() -> Command {
    common_args(Command::new("certify-digit").about("Certify your own digit (a PGM P2/P5 or CSV gray image of any size, e.g. the page's \"Download this digit\") under FP32 and the config's quantized policy (wb/ab), as the page's \"Your digit\" view does"))
        .arg(Arg::new("file").value_name("FILE").required(true).help("The image: PGM (P2 or P5) or CSV of gray levels 0..=255, 8..=4096 pixels a side"))
        .arg(Arg::new("save-input").long("save-input").value_name("FILE").help("Also write the preprocessed 28x28 input as a PGM (P5)"))
}

fn votes_text(v: &[u64]) -> String {
    v.iter()
        .enumerate()
        .filter(|(_, &k)| k > 0)
        .map(|(c, k)| format!("{c}: {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One model's lines of the report.
pub(crate) fn certificate_text(name: &str, c: &DigitCertificate, alpha: f64) -> String {
    let mut t = match c.radius {
        Some(r) => format!(
            "{name}: class {}, {} of {} votes, pA_low {:.6}, certified radius {:.6} (L2, holds with probability >= {})\n",
            c.top, c.count, c.n, c.p_lower, r, 1.0 - alpha
        ),
        None => format!(
            "{name}: ABSTAIN (top class {} with {} of {} votes, pA_low {:.6} < 0.5)\n",
            c.top, c.count, c.n, c.p_lower
        ),
    };
    t.push_str(&format!(
        "  votes of the n0 selection draws: {}\n  votes of the n estimation draws: {}\n",
        votes_text(&c.select_votes),
        votes_text(&c.votes)
    ));
    if let Some(p) = &c.perturbation {
        let dir = match p.kind {
            DirectionKind::MeanDigit => format!("towards class {}'s mean digit", p.towards),
            DirectionKind::Random => format!("random direction {} of 16", p.chosen),
        };
        t.push_str(&format!(
            "  the radius, illustrated: moved {:.6} (L2) {dir}, the direction that lowered class {}'s votes most ({} of {} probe draws); there the smoothed classifier votes {} of {} for class {} ({}), pA_low {:.6}\n",
            p.norm,
            c.top,
            p.probe_counts[p.chosen as usize],
            p.probe_samples,
            p.votes[p.top as usize],
            p.n,
            p.top,
            if p.holds { "still the certified class" } else { "NOT the certified class" },
            p.p_lower
        ));
    }
    t
}

pub fn cmd_certify_digit(m: &ArgMatches) -> Result<()> {
    // settings first (every invalid one at once), then the file, then the data and model
    crate::cli::config_from(m)?;
    let file = Path::new(m.get_one::<String>("file").expect("required"));
    let what = format!("FILE {}", file.display());
    let bytes = read(file).map_err(|e| match e {
        Error::Io { reason, .. } => Error::Io {
            path: what.clone(),
            reason,
        },
        e => e,
    })?;
    let raster = read_image(&bytes).map_err(|e| Error::bad_file(&what, e))?;
    let mut s = trained_session(m)?;
    let t0 = Instant::now();
    let mut clock = move || t0.elapsed().as_micros() as u64;
    let first = s
        .begin_digit(&raster.gray, raster.width, raster.height)
        .map_err(|e| Error::bad_file(&what, e))?;
    if let Some(out) = m.get_one::<String>("save-input") {
        if let JobEvent::Digit(d) = &first.event {
            write(Path::new(out), &write_pgm(&d.digit.pixels, SIDE, SIDE))?;
        }
    }
    let pb = progress(m, first.work.total, "certify-digit");
    let last: DigitStep = loop {
        let st = s.step(JobKind::Digit, STEP_WORK, &mut clock)?;
        pb.set_position(st.work.done);
        pb.set_message(st.work.phase);
        let JobEvent::Digit(d) = st.event else {
            return Err(Error::State(
                "a digit job answered with another kind".into(),
            ));
        };
        if st.done {
            break d;
        }
    };
    pb.finish_and_clear();
    let d = &last.digit;
    let mut text = format!(
        "digit: {}x{} raster{}, background {}, ink box {}x{} at ({}, {}), scaled to {}x{} and placed at ({}, {}) in 28x28; noise key {}\nsmoothing: sigma {}, n0 {}, n {}, alpha {}\n",
        raster.width,
        raster.height,
        if d.inverted { " (dark on light: inverted)" } else { "" },
        d.background,
        d.bbox[2],
        d.bbox[3],
        d.bbox[0],
        d.bbox[1],
        d.scaled[0],
        d.scaled[1],
        d.offset[0],
        d.offset[1],
        d.key,
        last.sigma,
        last.n0,
        last.n,
        last.alpha
    );
    if let Some(c) = &last.fp32 {
        text.push_str(&certificate_text("FP32", c, last.alpha));
    }
    match (&last.quantized, &last.policy, &last.quant_note) {
        (Some(c), Some(p), _) => text.push_str(&certificate_text(
            &format!("quantized ({p})"),
            c,
            last.alpha,
        )),
        (_, _, Some(note)) => text.push_str(&format!("quantized: none, {note}\n")),
        _ => {}
    }
    text.push_str(&format!(
        "reproduce: arq certify-digit {} --url '#{}'\n",
        file.display(),
        last.fragment
    ));
    emit(
        m,
        &json!({"file": file.display().to_string(), "width": raster.width, "height": raster.height, "checkpoint": s.checkpoint().map(|c| c.hash.clone()), "seconds": t0.elapsed().as_secs_f64(), "result": last}),
        &text,
    );
    Ok(())
}
