//! `arq selftest`: the engine self-test the page runs on load (src/selftest.rs), natively.

use arq::{Error, Result};
use clap::{Arg, ArgAction, ArgMatches, Command};
use serde_json::json;
use std::time::Instant;

pub fn selftest_command() -> Command {
    Command::new("selftest")
        .about("Run the engine self-test (a tiny fixed experiment) and compare its digests with the golden values the page also checks")
        .arg(Arg::new("json").long("json").action(ArgAction::SetTrue).help("Print machine-readable JSON on stdout"))
}

pub fn cmd_selftest(m: &ArgMatches) -> Result<()> {
    let start = Instant::now();
    let t = arq::selftest::run()?;
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    if m.get_flag("json") {
        let mut v = serde_json::to_value(&t).expect("json");
        v["ms"] = json!(ms);
        println!("{}", serde_json::to_string_pretty(&v).expect("json"));
    } else {
        let mut text = format!(
            "engine {} self-test ({})\n",
            t.engine,
            arq::selftest::FRAGMENT
        );
        for p in &t.parts {
            let mark = if p.ok { "ok  " } else { "DIFF" };
            text.push_str(&format!(
                "  {mark} {:<8} {}  {}\n",
                p.name, p.digest, p.what
            ));
        }
        text.push_str(&format!("digest {}\n", t.digest));
        if t.passed {
            text.push_str(&format!("passed in {ms:.0} ms\n"));
        }
        print!("{text}");
    }
    if !t.passed {
        return Err(Error::State(t.message));
    }
    Ok(())
}
