//! Significance of the final table's differences (docs/method.md, "The final comparison"):
//! a paired bootstrap over the reported points.
//!
//! Every row of the final table is certified on the same reported points, each row on noise
//! streams of its own, so two rows give one pair of results per point. The difference of two
//! rows' ACR is the mean of the per-point differences d_i = R_i(row) - R_i(reference) (a
//! radius counts 0 when the point is wrong or abstained); the difference of certified
//! accuracy at r is the mean of d_i = [row certifies point i at r] - [reference does].
//! Resampling the point indices with replacement ([`RESAMPLES`] times) and taking each
//! resample's mean difference gives the bootstrap distribution; its percentile interval is
//! the [`TAIL`] + 1-th smallest to the [`TAIL`] + 1-th largest of the sorted means (95 %).
//! A difference is significant when its interval excludes 0.
//!
//! The resampled indices come from the project's own generator, stream [`PURPOSE`] of the
//! config's seed, and every comparison uses the same resamples (common random numbers), so a
//! comparison depends only on its two rows and the seed, and native and wasm builds give the
//! same numbers bit for bit.

use super::compare::CompareRow;
use crate::error::{Error, Result};
use crate::rng::Stream;
use serde::{Deserialize, Serialize};

/// Bootstrap resamples per comparison.
pub const RESAMPLES: usize = 2000;
/// Resampled means left out on each side of the 95 % percentile interval: 2.5 % of
/// [`RESAMPLES`].
pub const TAIL: usize = RESAMPLES / 40;
/// The random stream (of the config's seed) that draws the resampled point indices.
pub const PURPOSE: &str = "final-bootstrap";
/// Name of the FP32 row, the first reference of every comparison.
pub const FP32_ROW: &str = "FP32";
/// Name of ARQ's row (the Arq search's best policy), the second reference.
pub const ARQ_ROW: &str = "ARQ";

/// A paired difference (row minus reference) with its bootstrap interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct Interval {
    /// The observed difference: the mean of the per-point differences.
    pub diff: f64,
    /// Lower end of the 95 % percentile interval.
    pub low: f64,
    /// Upper end of the 95 % percentile interval.
    pub high: f64,
    /// The interval excludes 0 (low > 0 or high < 0).
    pub significant: bool,
}

/// One row compared with one reference row on the same points.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct PairedDiff {
    /// The reference row's name (`FP32` or `ARQ`).
    pub against: String,
    /// ACR of the row minus ACR of the reference.
    pub acr: Interval,
    /// Certified accuracy of the row minus the reference's, at each radius of the grid.
    pub certified_accuracy: Vec<Interval>,
}

/// A row's comparisons with FP32 and with ARQ (none with itself or a missing reference).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct RowSignificance {
    /// The row's name.
    pub name: String,
    /// Row minus FP32, when the table has an FP32 row and this is not it.
    pub vs_fp32: Option<PairedDiff>,
    /// Row minus ARQ, when the table has an ARQ row and this is not it.
    pub vs_arq: Option<PairedDiff>,
}

/// The significance of a final table: every row against FP32 and ARQ.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct TableSignificance {
    /// Bootstrap resamples per comparison ([`RESAMPLES`]).
    pub resamples: usize,
    /// Coverage of the intervals (0.95).
    pub level: f64,
    /// Points per row (the reported points).
    pub points: usize,
    /// The radii of the certified-accuracy intervals.
    pub grid: Vec<f64>,
    /// One entry per row of the table, in table order.
    pub rows: Vec<RowSignificance>,
}

/// The resampled means of per-point differences, [`RESAMPLES`] resamples drawn from stream
/// [`PURPOSE`] of `seed`: every call with the same seed and point count draws the same
/// indices. `diffs[k]` is the k-th metric's per-point differences (all of one length n >= 1);
/// returns each metric's interval.
pub fn bootstrap(seed: u64, diffs: &[Vec<f64>]) -> Vec<Interval> {
    let n = diffs.first().map_or(0, Vec::len);
    if n == 0 {
        return diffs.iter().map(|_| interval(0.0, vec![0.0])).collect();
    }
    debug_assert!(diffs.iter().all(|d| d.len() == n));
    let mut rng = Stream::new(seed, PURPOSE);
    let mut means: Vec<Vec<f64>> = diffs
        .iter()
        .map(|_| Vec::with_capacity(RESAMPLES))
        .collect();
    let mut sums = vec![0.0f64; diffs.len()];
    for _ in 0..RESAMPLES {
        sums.fill(0.0);
        for _ in 0..n {
            let i = rng.below(n as u32) as usize;
            for (s, d) in sums.iter_mut().zip(diffs) {
                *s += d[i];
            }
        }
        for (m, s) in means.iter_mut().zip(&sums) {
            m.push(s / n as f64);
        }
    }
    diffs
        .iter()
        .zip(means)
        .map(|(d, m)| interval(mean(d), m))
        .collect()
}

fn mean(d: &[f64]) -> f64 {
    d.iter().fold(0.0, |s, x| s + x) / d.len() as f64
}

/// The percentile interval of resampled means around the observed difference `diff`.
fn interval(diff: f64, mut means: Vec<f64>) -> Interval {
    means.sort_by(f64::total_cmp);
    let tail = TAIL.min((means.len() - 1) / 2);
    let (low, high) = (means[tail], means[means.len() - 1 - tail]);
    Interval {
        diff,
        low,
        high,
        significant: low > 0.0 || high < 0.0,
    }
}

/// Whether row `o` certifies each point at radius r (correct, not abstained, radius >= r).
fn certified(o: &CompareRow, r: f64) -> impl Iterator<Item = f64> + '_ {
    o.radii
        .iter()
        .zip(&o.correct)
        .map(move |(&rad, &c)| f64::from(u8::from(c && rad >= r)))
}

/// `row` minus `reference` on the same points, at each radius of `grid`.
pub fn paired(seed: u64, row: &CompareRow, reference: &CompareRow, grid: &[f64]) -> PairedDiff {
    let mut diffs = vec![row
        .radii
        .iter()
        .zip(&reference.radii)
        .map(|(a, b)| a - b)
        .collect::<Vec<f64>>()];
    for &r in grid {
        diffs.push(
            certified(row, r)
                .zip(certified(reference, r))
                .map(|(a, b)| a - b)
                .collect(),
        );
    }
    let mut iv = bootstrap(seed, &diffs).into_iter();
    PairedDiff {
        against: reference.name.clone(),
        acr: iv.next().expect("the ACR interval"),
        certified_accuracy: iv.collect(),
    }
}

/// Checks that every row holds one radius and one correctness flag per point, the same
/// points for every row; errors name `rows[i].radii` or `rows[i].correct`.
fn check(rows: &[CompareRow]) -> Result<usize> {
    let n = rows.first().map_or(0, |r| r.radii.len());
    for (i, r) in rows.iter().enumerate() {
        if r.radii.len() != n {
            return Err(Error::invalid(
                &format!("rows[{i}].radii"),
                format!("{} values", r.radii.len()),
                "every row of a table is certified on the same points",
                format!("{n} values, as rows[0]"),
            ));
        }
        if r.correct.len() != n {
            return Err(Error::invalid(
                &format!("rows[{i}].correct"),
                format!("{} values", r.correct.len()),
                "one flag per point",
                format!("{n} values, as rows[{i}].radii"),
            ));
        }
        if let Some(j) = r.radii.iter().position(|x| !(x.is_finite() && *x >= 0.0)) {
            return Err(Error::invalid(
                &format!("rows[{i}].radii[{j}]"),
                r.radii[j],
                "not a certified radius",
                "a finite number >= 0",
            ));
        }
    }
    if n > u32::MAX as usize {
        return Err(Error::invalid(
            "rows[0].radii",
            format!("{n} values"),
            "too many points",
            "at most 2^32 - 1",
        ));
    }
    Ok(n)
}

/// Every row of a final table against the FP32 row and ARQ's row (by name: [`FP32_ROW`],
/// [`ARQ_ROW`]), on the grid of the first row's summary; `seed` is the config's.
pub fn table_significance(rows: &[CompareRow], seed: u64) -> Result<TableSignificance> {
    let points = check(rows)?;
    let grid = rows
        .first()
        .map(|r| r.summary.grid.clone())
        .unwrap_or_default();
    let find = |name: &str| rows.iter().find(|r| r.name == name);
    let (fp32, arq) = (find(FP32_ROW), find(ARQ_ROW));
    let versus = |row: &CompareRow, reference: Option<&CompareRow>| {
        reference
            .filter(|r| r.name != row.name)
            .map(|r| paired(seed, row, r, &grid))
    };
    Ok(TableSignificance {
        resamples: RESAMPLES,
        level: 0.95,
        points,
        rows: rows
            .iter()
            .map(|r| RowSignificance {
                name: r.name.clone(),
                vs_fp32: versus(r, fp32),
                vs_arq: versus(r, arq),
            })
            .collect(),
        grid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certify::{metrics::GRID_SMALL, Outcome, Summary};

    /// A row with the given per-point radii (0 = wrong) and correctness.
    fn row(name: &str, radii: &[f64], correct: &[bool]) -> CompareRow {
        let outcomes: Vec<Outcome> = radii
            .iter()
            .zip(correct)
            .map(|(&radius, &correct)| Outcome {
                correct,
                abstain: false,
                radius,
            })
            .collect();
        CompareRow {
            name: name.into(),
            fragment: String::new(),
            bops_ratio: 1.0,
            size_bytes: 0,
            test_accuracy: 0.0,
            summary: Summary::new(name, 0.25, 100, 0.001, &outcomes, &GRID_SMALL),
            radii: radii.to_vec(),
            correct: correct.to_vec(),
            uniform: None,
        }
    }

    #[test]
    fn identical_rows_differ_by_exactly_zero() {
        let radii = [0.3, 0.0, 0.71, 0.5, 0.12];
        let ok = [true, false, true, true, true];
        let d = paired(
            1,
            &row("a", &radii, &ok),
            &row("b", &radii, &ok),
            &GRID_SMALL,
        );
        let zero = Interval {
            diff: 0.0,
            low: 0.0,
            high: 0.0,
            significant: false,
        };
        assert_eq!(d.acr, zero);
        assert_eq!(d.certified_accuracy, vec![zero; GRID_SMALL.len()]);
        assert_eq!(d.against, "b");
    }

    #[test]
    fn a_constant_shift_is_the_shift() {
        // every point's radius 0.25 larger: each resample's mean difference is 0.25 exactly
        let base = [0.25, 0.5, 0.0, 0.75];
        let shifted: Vec<f64> = base.iter().map(|r| r + 0.25).collect();
        let ok = [true; 4];
        let d = paired(7, &row("q", &shifted, &ok), &row("FP32", &base, &ok), &[]);
        assert_eq!(
            d.acr,
            Interval {
                diff: 0.25,
                low: 0.25,
                high: 0.25,
                significant: true
            }
        );
        let d = paired(7, &row("FP32", &base, &ok), &row("q", &shifted, &ok), &[]);
        assert_eq!(
            (d.acr.low, d.acr.high, d.acr.significant),
            (-0.25, -0.25, true)
        );
    }

    #[test]
    fn two_points_span_their_resample_means() {
        // d = (0, 1): a resample's mean is 0, 1/2 or 1 with probability 1/4, 1/2, 1/4, so the
        // 51st smallest of 2000 is 0 and the 51st largest is 1 (about 500 of each end)
        let d = bootstrap(3, &[vec![0.0, 1.0], vec![1.0, 2.0], vec![1.0, -1.0]]);
        assert_eq!((d[0].diff, d[0].low, d[0].high), (0.5, 0.0, 1.0));
        assert!(!d[0].significant);
        // d = (1, 2): every resample mean is in [1, 2]: significant
        assert_eq!((d[1].diff, d[1].low, d[1].high), (1.5, 1.0, 2.0));
        assert!(d[1].significant);
        assert_eq!((d[2].diff, d[2].low, d[2].high), (0.0, -1.0, 1.0));
        assert!(!d[2].significant);
    }

    #[test]
    fn the_resamples_are_the_seeds_own() {
        // the interval from the definition: 2000 means of 5 indices drawn from the seed's
        // stream, sorted, the 51st smallest and the 51st largest
        let d: Vec<f64> = (0..5).map(|i| (i * i) as f64).collect();
        let means = |seed| {
            let mut rng = Stream::new(seed, PURPOSE);
            let mut m: Vec<f64> = (0..RESAMPLES)
                .map(|_| (0..5).map(|_| d[rng.below(5) as usize]).sum::<f64>() / 5.0)
                .collect();
            m.sort_by(f64::total_cmp);
            m
        };
        let m = means(11);
        let iv = bootstrap(11, std::slice::from_ref(&d));
        assert_eq!(iv[0].diff, 6.0);
        assert_eq!((iv[0].low, iv[0].high), (m[50], m[1949]));
        assert_ne!(means(12), m);
    }

    #[test]
    fn certified_accuracy_differences_count_points() {
        // r = 0: a certifies 3 of 4, b 2 of 4 -> +0.25; r = 0.5: a 1 (0.6), b 2 (0.5, 0.9) -> -0.25
        let a = row("a", &[0.6, 0.2, 0.3, 0.0], &[true, true, true, false]);
        let b = row("b", &[0.5, 0.0, 0.9, 0.0], &[true, false, true, false]);
        let d = paired(2, &a, &b, &[0.0, 0.5]);
        assert_eq!(d.certified_accuracy[0].diff, 0.25);
        assert_eq!(d.certified_accuracy[1].diff, -0.25);
        assert!((d.acr.diff - (1.1 - 1.4) / 4.0).abs() < 1e-15);
        for iv in &d.certified_accuracy {
            assert!(iv.low <= iv.diff && iv.diff <= iv.high);
        }
    }

    #[test]
    fn the_table_compares_with_fp32_and_arq() {
        let ok = [true; 3];
        let rows = vec![
            row("FP32", &[0.5, 0.5, 0.5], &ok),
            row("uniform W4A4 (best within budget)", &[0.25, 0.5, 0.5], &ok),
            row("ARQ", &[0.5, 0.5, 0.25], &ok),
        ];
        let t = table_significance(&rows, 1).unwrap();
        assert_eq!((t.points, t.resamples, t.grid.len()), (3, 2000, 7));
        assert!(t.rows[0].vs_fp32.is_none() && t.rows[2].vs_arq.is_none());
        assert_eq!(t.rows[0].vs_arq.as_ref().unwrap().against, "ARQ");
        assert_eq!(t.rows[1].vs_fp32.as_ref().unwrap().acr.diff, -0.25 / 3.0);
        assert_eq!(t.rows[1].vs_arq.as_ref().unwrap().acr.diff, 0.0);
        // without an ARQ row there is nothing to compare with
        let t = table_significance(&rows[..2], 1).unwrap();
        assert!(t.rows.iter().all(|r| r.vs_arq.is_none()));
    }

    #[test]
    fn rows_of_other_points_are_refused() {
        let mut rows = vec![
            row("FP32", &[0.5, 0.5], &[true; 2]),
            row("ARQ", &[0.5], &[true]),
        ];
        let e = table_significance(&rows, 1).unwrap_err().to_string();
        assert!(e.contains("rows[1].radii"), "{e}");
        rows[1] = row("ARQ", &[0.5, f64::NAN], &[true; 2]);
        let e = table_significance(&rows, 1).unwrap_err().to_string();
        assert!(e.contains("rows[1].radii[1]"), "{e}");
        rows[1].radii[1] = 0.1;
        rows[1].correct.pop();
        let e = table_significance(&rows, 1).unwrap_err().to_string();
        assert!(e.contains("rows[1].correct"), "{e}");
        assert!(table_significance(&[], 1).unwrap().rows.is_empty());
    }
}
