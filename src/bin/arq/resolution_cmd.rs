//! `arq resolution`: how well the search's reward tells policies apart.

use crate::cli::{common_args, emit, progress, trained_session};
use arq::pipeline::resolution::{candidate_policies, markdown, measure, ResolutionSpec};
use arq::pipeline::search::Method;
use arq::{Error, Result};
use clap::{Arg, ArgMatches, Command};

pub fn resolution_command() -> Command {
    common_args(Command::new("resolution").about("Measure the search reward's resolution: every uniform policy within the budget and some random ones, each evaluated as a search episode under several seeds; signal (spread across policies) against noise (spread across seeds)"))
        .arg(Arg::new("seeds").long("seeds").allow_hyphen_values(true).value_name("LIST").default_value("1,2,3,4,5").help("Comma-separated seeds (at least two); each changes every noise stream and the fine-tuning order, not the weights"))
        .arg(Arg::new("random").long("random").allow_hyphen_values(true).value_name("K").default_value("8").help("Random policies (drawn like the random search's) besides the uniform ones, 0..=100"))
        .arg(Arg::new("validate").long("validate").action(clap::ArgAction::SetTrue).help("Also measure each policy as the final table does (fft fine-tuning, fresh CERTIFY on the reported points) and rank-correlate it with the mean reward"))
        .arg(Arg::new("method").long("method").allow_hyphen_values(true).value_name("M").default_value("arq").help("Whose reward: arq (the config's `reward`) or haq (clean accuracy)"))
}

fn seeds(s: &str) -> Result<Vec<u64>> {
    let bad = || {
        Error::invalid(
            "--seeds",
            s,
            "need two or more distinct comma-separated integers",
            "e.g. 1,2,3,4,5 (each 0..=9007199254740991)",
        )
    };
    let v: Vec<u64> = s
        .split(',')
        .map(|t| t.trim().parse::<u64>().map_err(|_| bad()))
        .collect::<Result<_>>()?;
    let mut d = v.clone();
    d.sort_unstable();
    d.dedup();
    if d.len() != v.len() || v.len() < 2 || v.iter().any(|&x| x > (1 << 53) - 1) {
        return Err(bad());
    }
    Ok(v)
}

pub fn cmd_resolution(m: &ArgMatches) -> Result<()> {
    let seeds = seeds(m.get_one::<String>("seeds").expect("default"))?;
    let random_s = m.get_one::<String>("random").expect("default");
    let random = random_s
        .parse::<usize>()
        .ok()
        .filter(|&k| k <= 100)
        .ok_or_else(|| Error::invalid("--random", random_s, "not a count", "0..=100"))?;
    let method = match Method::parse(m.get_one::<String>("method").expect("default"))? {
        Method::Random => {
            return Err(Error::invalid(
                "--method",
                "random",
                "random search has no reward of its own",
                "arq, haq",
            ))
        }
        other => other,
    };
    let s = trained_session(m)?;
    let policies = candidate_policies(s.cfg(), s.model(), random)?;
    let total = policies.len() * (seeds.len() + m.get_flag("validate") as usize);
    let pb = progress(m, total as u64, "evaluations");
    let spec = ResolutionSpec {
        policies,
        seeds,
        method,
        validate: m.get_flag("validate"),
    };
    let r = measure(s.cfg(), s.model(), s.data(), &spec, |done, _| {
        pb.set_position(done as u64)
    })?;
    pb.finish_and_clear();
    let text = format!(
        "reward of {:?} at budget {} ({}):\n\n{}",
        method,
        s.cfg().budget,
        s.cfg().to_fragment(),
        markdown(&r)
    );
    emit(
        m,
        &serde_json::json!({"fragment": s.cfg().to_fragment(), "method": method, "resolution": r}),
        &text,
    );
    Ok(())
}
