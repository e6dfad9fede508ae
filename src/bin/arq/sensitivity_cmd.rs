//! `arq sensitivity`: per-layer sensitivity, each quantizable layer alone at k bits.

use crate::cli::{common_args, emit, progress, trained_session};
use arq::experiment::{JobEvent, JobKind, JobSpec};
use arq::pipeline::sensitivity::{
    markdown, ranks, sensitivity_bits, Side, SENSITIVITY_BITS_ALLOWED,
};
use arq::{Error, Result};
use clap::{Arg, ArgMatches, Command};
use serde_json::json;
use std::time::Instant;

/// Samples (or sample-equivalents) per step between progress updates.
const STEP_WORK: u64 = 5_000;

pub fn sensitivity_command() -> Command {
    common_args(Command::new("sensitivity").about("Per-layer sensitivity: ΔACR and Δ clean accuracy when only one layer goes to k bits (each layer evaluated like a search episode: calibrate, sft fine-tuning batches, IRS on the search split)"))
        .arg(Arg::new("bits").long("bits").allow_hyphen_values(true).value_name("K").default_value("4").help("Bit width of the one quantized layer: 2..8"))
        .arg(Arg::new("side").long("side").allow_hyphen_values(true).value_name("SIDE").default_value("both").help("What goes to k bits: w (weights), a (input activations) or both"))
}

/// `--bits` and `--side`, checked before any work.
fn setting(m: &ArgMatches) -> Result<(u32, Side)> {
    let raw = m.get_one::<String>("bits").expect("default");
    let bits = raw
        .trim()
        .parse::<u32>()
        .map_err(|_| Error::invalid("bits", raw, "not an integer", SENSITIVITY_BITS_ALLOWED))?;
    sensitivity_bits(bits)?;
    let side = Side::parse(m.get_one::<String>("side").expect("default"))?;
    Ok((bits, side))
}

pub fn cmd_sensitivity(m: &ArgMatches) -> Result<()> {
    let (bits, side) = setting(m)?;
    let mut s = trained_session(m)?;
    let t0 = Instant::now();
    let mut clock = move || t0.elapsed().as_micros() as u64;
    let first = s.begin(JobSpec::Sensitivity { bits, side })?;
    let JobEvent::Sensitivity(plan) = first.event else {
        return Err(Error::State(
            "a sensitivity job answered with another kind".into(),
        ));
    };
    let pb = progress(m, plan.rows_total as u64, "sensitivity");
    let last = loop {
        let st = s.step(JobKind::Sensitivity, STEP_WORK, &mut clock)?;
        let JobEvent::Sensitivity(ss) = st.event else {
            return Err(Error::State(
                "a sensitivity job answered with another kind".into(),
            ));
        };
        pb.set_position(ss.rows_done as u64);
        pb.set_message(format!(
            "{} {} {}/{}",
            ss.current.clone().unwrap_or_default(),
            st.work.phase,
            st.work.done,
            st.work.total
        ));
        if let Some(r) = &ss.row {
            if !m.get_flag("quiet") && !m.get_flag("json") {
                pb.suspend(|| {
                    eprintln!(
                        "{} {}: ΔACR {:+.3}, Δ acc {:+.1} pts",
                        r.layer,
                        r.name,
                        r.delta_acr,
                        100.0 * r.delta_accuracy
                    )
                });
            }
        }
        if st.done {
            break ss;
        }
    };
    pb.finish_and_clear();
    let secs = t0.elapsed().as_secs_f64();
    let cfg = s.cfg();
    let reference = last.reference.as_ref();
    let refline = reference.map_or(String::new(), |r| {
        format!(
            "FP32 on the search split ({} points): ACR {:.3} (CERTIFY, n={}, R_max {:.4}), clean accuracy {:.3}; the unquantized model through the same IRS: ACR {:.3} (IRS floor, ΔACR {:+.3}, R_max {:.4})\n",
            r.points,
            r.fp32_acr,
            cfg.n,
            r.fp32_r_max,
            r.fp32_accuracy,
            r.irs_floor_acr,
            r.irs_floor_acr - r.fp32_acr,
            r.irs_r_max
        )
    });
    let text = format!(
        "{}\n{refline}each row: only that layer at {bits} bits ({}), every other layer FP32; calibrate, {} fine-tuning batches (sft), IRS (n_p={}) against the FP32 reference; rank 1 = largest ACR drop\n{} layers in {secs:.1} s\nreproduce: arq sensitivity --bits {bits} --side {} --url '#{}'\n",
        markdown(&last.rows, reference),
        match side {
            Side::W => "weights only",
            Side::A => "input activations only",
            Side::Both => "weights and input activations",
        },
        cfg.sft,
        cfg.n_p,
        last.rows.len(),
        side.name(),
        cfg.to_fragment()
    );
    emit(
        m,
        &json!({"fragment": cfg.to_fragment(), "bits": bits, "side": side, "checkpoint": s.checkpoint().as_ref().map(|c| c.hash.clone()), "reference": reference, "rows": last.rows, "ranks": ranks(&last.rows), "seconds": secs}),
        &text,
    );
    Ok(())
}
