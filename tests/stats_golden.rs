//! Golden test: `arq::certify::stats` against an independent scipy implementation.
//!
//! `tests/data/stats_table.tsv` is written by `scripts/gen_stats_table.py` (regenerate with
//! `pip install scipy && python3 scripts/gen_stats_table.py`). Every value must agree to
//! `REL` relative; values that scipy gives as 0 or subnormal (deep-tail p-values that underflow)
//! must agree to `ABS` absolute. All failing rows are reported, each with its line number.

use arq::certify::stats::*;

const TABLE: &str = include_str!("data/stats_table.tsv");
/// Relative tolerance for every golden value.
const REL: f64 = 1e-9;
/// Absolute tolerance where the expected value is 0 or subnormal (relative error is meaningless).
const ABS: f64 = 1e-15;

fn close(actual: f64, expected: f64) -> bool {
    let err = (actual - expected).abs();
    if expected.abs() >= f64::MIN_POSITIVE {
        err <= REL * expected.abs()
    } else {
        err <= ABS
    }
}

fn check(failures: &mut Vec<String>, line_no: usize, row: &str, what: &str, got: f64, want: f64) {
    if !close(got, want) {
        let rel = (got - want).abs() / want.abs();
        failures.push(format!(
            "line {line_no} [{row}]: {what} = {got:?}, expected {want:?} (rel err {rel:e})"
        ));
    }
}

#[derive(PartialEq)]
enum Section {
    None,
    Cp,
    PhiInv,
}

#[test]
fn stats_match_scipy_golden_table() {
    let mut section = Section::None;
    let mut failures = Vec::new();
    let (mut cp_rows, mut phi_rows) = (0usize, 0usize);
    for (i, line) in TABLE.lines().enumerate() {
        let line_no = i + 1;
        let line = line.trim_end();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        match f[0] {
            "k" => {
                section = Section::Cp;
                continue;
            }
            "p" => {
                section = Section::PhiInv;
                continue;
            }
            _ => {}
        }
        let row = f.join(" ");
        let num = |j: usize| -> f64 {
            f[j].parse()
                .unwrap_or_else(|e| panic!("line {line_no}: bad float {:?}: {e}", f[j]))
        };
        match section {
            Section::Cp => {
                assert_eq!(f.len(), 6, "line {line_no}: expected 6 fields");
                let k: u64 = f[0].parse().expect("k");
                let n: u64 = f[1].parse().expect("n");
                let alpha = num(2);
                check(
                    &mut failures,
                    line_no,
                    &row,
                    "cp_lower",
                    cp_lower(k, n, alpha),
                    num(3),
                );
                check(
                    &mut failures,
                    line_no,
                    &row,
                    "cp_upper",
                    cp_upper(k, n, alpha),
                    num(4),
                );
                check(
                    &mut failures,
                    line_no,
                    &row,
                    "binom_test_half",
                    binom_test_half(k, n),
                    num(5),
                );
                cp_rows += 1;
            }
            Section::PhiInv => {
                assert_eq!(f.len(), 2, "line {line_no}: expected 2 fields");
                let p = num(0);
                check(&mut failures, line_no, &row, "phi_inv", phi_inv(p), num(1));
                phi_rows += 1;
            }
            Section::None => panic!("line {line_no}: data before any header row"),
        }
    }
    // Guard against a truncated or empty table passing vacuously.
    assert!(cp_rows >= 200, "only {cp_rows} cp/binom rows in the table");
    assert!(phi_rows >= 50, "only {phi_rows} phi_inv rows in the table");
    assert!(
        failures.is_empty(),
        "{} of {} golden values differ:\n{}",
        failures.len(),
        3 * cp_rows + phi_rows,
        failures.join("\n")
    );
}
