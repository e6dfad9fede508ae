//! The fuzzers' smoke test on stable Rust: every input of fuzz/corpus/<target>/ (the
//! minimised corpora) and fuzz/regressions/<target>/ (inputs that once crashed a parser)
//! goes through the same checks as the libFuzzer targets (fuzz/checks.rs), plus a few
//! thousand seeded mutations of them. `make fuzz` is the real thing; see README, "Fuzzing".

#[path = "../fuzz/checks.rs"]
mod checks;

use std::path::{Path, PathBuf};

/// A fuzz target's check: arbitrary bytes in, a panic when a promise is broken.
type Check = fn(&[u8]);

const TARGETS: [(&str, Check); 4] = [
    ("fragment", checks::fragment),
    ("policy", checks::policy),
    ("checkpoint", checks::checkpoint),
    ("dataset", checks::dataset),
];

fn inputs(dir: &str, target: &str) -> Vec<PathBuf> {
    let d = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(dir)
        .join(target);
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&d) {
        Ok(rd) => rd
            .map(|e| e.expect("directory entry").path())
            .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != ".gitkeep"))
            .collect(),
        Err(_) => vec![],
    };
    files.sort();
    files
}

fn replay(dir: &str, target: &str, check: fn(&[u8])) -> usize {
    let files = inputs(dir, target);
    for f in &files {
        let bytes = std::fs::read(f).expect("readable input");
        let r = std::panic::catch_unwind(|| check(&bytes));
        assert!(r.is_ok(), "{target}: {} fails its check", f.display());
    }
    files.len()
}

#[test]
fn corpora_pass_their_checks() {
    for (target, check) in TARGETS {
        let n = replay("corpus", target, check);
        assert!(n >= 1, "fuzz/corpus/{target}/ is empty");
    }
}

#[test]
fn regression_inputs_pass_their_checks() {
    for (target, check) in TARGETS {
        replay("regressions", target, check);
    }
}

/// A tiny deterministic mutator (xorshift): byte flips, inserts, deletes, truncation and
/// splices of interesting values, so the stable suite also runs near-valid inputs.
fn mutate(seed: u64, input: &[u8]) -> Vec<u8> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let mut b = input.to_vec();
    for _ in 0..1 + next() % 4 {
        let pos = if b.is_empty() {
            0
        } else {
            (next() % b.len() as u64) as usize
        };
        match next() % 6 {
            0 if !b.is_empty() => b[pos] ^= 1 << (next() % 8),
            1 => b.insert(pos, next() as u8),
            2 if !b.is_empty() => {
                b.remove(pos);
            }
            3 => b.truncate(pos),
            4 => {
                let v: &[u8] = [
                    &b"%"[..],
                    "\u{e9}".as_bytes(),
                    b"\xff\xff\xff\xff",
                    b"&",
                    b",",
                    b"=",
                    b"-0",
                    b"1e308",
                ][(next() % 8) as usize];
                b.splice(pos..pos, v.iter().copied());
            }
            _ if pos + 4 <= b.len() => b[pos..pos + 4].copy_from_slice(&u32::MAX.to_le_bytes()),
            _ => {}
        }
    }
    b
}

#[test]
fn seeded_mutations_of_the_corpora_pass_their_checks() {
    for (target, check) in TARGETS {
        let files = inputs("corpus", target);
        // about 50,000 mutations per target, a few seconds in all
        let per_file = (50_000 / files.len().max(1)).max(1) as u64;
        for f in &files {
            let bytes = std::fs::read(f).expect("readable input");
            for seed in 0..per_file {
                let m = mutate(seed, &bytes);
                let r = std::panic::catch_unwind(|| check(&m));
                assert!(
                    r.is_ok(),
                    "{target}: mutation {seed} of {} ({} bytes) fails its check",
                    f.display(),
                    m.len()
                );
            }
        }
    }
}
