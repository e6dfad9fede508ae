//! Metrics of certified robustness.
//!
//! - Certified accuracy at radius r (Cohen, Rosenfeld, Kolter, ICML 2019, section 4):
//!   the fraction of test points whose CERTIFY class equals the label AND radius >= r;
//!   abstain counts as wrong. At r = 0 it is the smoothed classifier's clean accuracy.
//! - ACR, average certified radius (Zhai et al., "MACER", ICLR 2020): the mean over test points
//!   of R, counting 0 for wrong or abstained points.
//! - R_max = sigma * PhiInv(alpha^(1/n)): the largest radius CERTIFY can return with n
//!   estimation samples (pA_low = alpha^(1/n) when all n agree).

use serde::{Deserialize, Serialize};

use super::irs::IrsRecord;
use super::smooth::CertRecord;
use super::stats;

/// Conventional radius grid for small images: 0, 0.25, ..., 1.5.
pub const GRID_SMALL: [f64; 7] = [0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5];
/// Conventional radius grid for large images: 0, 0.5, ..., 3.
pub const GRID_LARGE: [f64; 7] = [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0];

/// What the metrics need from one certified point.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    /// The smoothed prediction equals the label (false when abstaining).
    pub correct: bool,
    /// The smoothed classifier abstained.
    pub abstain: bool,
    /// Certified radius (0 when abstaining).
    pub radius: f64,
}

impl From<&CertRecord> for Outcome {
    fn from(r: &CertRecord) -> Self {
        Outcome {
            correct: r.correct,
            abstain: r.prediction.is_abstain(),
            radius: r.radius,
        }
    }
}

impl From<&IrsRecord> for Outcome {
    fn from(r: &IrsRecord) -> Self {
        Outcome {
            correct: r.correct,
            abstain: r.prediction.is_abstain(),
            radius: r.radius,
        }
    }
}

fn fraction(outcomes: &[Outcome], pred: impl Fn(&Outcome) -> bool) -> f64 {
    if outcomes.is_empty() {
        return 0.0;
    }
    outcomes.iter().filter(|o| pred(o)).count() as f64 / outcomes.len() as f64
}

/// Fraction of points with correct && radius >= r (0 for an empty set).
pub fn certified_accuracy(outcomes: &[Outcome], r: f64) -> f64 {
    fraction(outcomes, |o| o.correct && !o.abstain && o.radius >= r)
}

/// [`certified_accuracy`] at each radius of `grid`.
pub fn certified_accuracy_curve(outcomes: &[Outcome], grid: &[f64]) -> Vec<f64> {
    grid.iter()
        .map(|&r| certified_accuracy(outcomes, r))
        .collect()
}

/// ACR = (1/N) sum_i [correct_i] R_i (0 for an empty set).
pub fn acr(outcomes: &[Outcome]) -> f64 {
    if outcomes.is_empty() {
        return 0.0;
    }
    let sum: f64 = outcomes
        .iter()
        .filter(|o| o.correct && !o.abstain)
        .map(|o| o.radius)
        .sum();
    sum / outcomes.len() as f64
}

/// Fraction of abstentions (0 for an empty set).
pub fn abstain_rate(outcomes: &[Outcome]) -> f64 {
    fraction(outcomes, |o| o.abstain)
}

/// R_max = sigma * PhiInv(alpha^(1/n)): no CERTIFY radius with n estimation samples exceeds it
/// (2.46, 3.20, 3.81 sigma at n = 1e3, 1e4, 1e5 and alpha = 0.001).
pub fn r_max(sigma: f64, n: u64, alpha: f64) -> f64 {
    debug_assert!(n > 0 && alpha > 0.0 && alpha < 1.0);
    sigma * stats::phi_inv(libm::pow(alpha, 1.0 / n as f64))
}

/// One configuration's certification results, as one row of Cohen's table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Row label, e.g. "FP32" or "sigma = 0.25".
    pub name: String,
    pub sigma: f64,
    /// Estimation samples per point.
    pub n: u64,
    pub alpha: f64,
    /// Test points.
    pub points: usize,
    pub grid: Vec<f64>,
    /// Certified accuracy at each radius of `grid`.
    pub certified_accuracy: Vec<f64>,
    /// Certified accuracy at r = 0.
    pub clean_accuracy: f64,
    pub acr: f64,
    pub abstain_rate: f64,
    /// sigma * PhiInv(alpha^(1/n)).
    pub r_max: f64,
}

impl Summary {
    /// Summarise `outcomes` of a certification at (sigma, n, alpha) on the radius `grid`.
    pub fn new(
        name: impl Into<String>,
        sigma: f64,
        n: u64,
        alpha: f64,
        outcomes: &[Outcome],
        grid: &[f64],
    ) -> Self {
        Summary {
            name: name.into(),
            sigma,
            n,
            alpha,
            points: outcomes.len(),
            grid: grid.to_vec(),
            certified_accuracy: certified_accuracy_curve(outcomes, grid),
            clean_accuracy: certified_accuracy(outcomes, 0.0),
            acr: acr(outcomes),
            abstain_rate: abstain_rate(outcomes),
            r_max: r_max(sigma, n, alpha),
        }
    }

    /// Certified accuracy at radius r, if r is on this row's grid.
    pub fn at(&self, r: f64) -> Option<f64> {
        const GRID_TOL: f64 = 1e-9;
        let i = self.grid.iter().position(|&g| (g - r).abs() < GRID_TOL)?;
        self.certified_accuracy.get(i).copied()
    }
}

fn radius_label(r: f64) -> String {
    if r.fract() == 0.0 {
        format!("{r:.1}")
    } else {
        format!("{r}")
    }
}

/// Cohen et al.'s certified-accuracy table in Markdown: one row per summary, one column per
/// radius of the first row's grid ("r = 0.25"), then ACR and abstain rate; the best value of
/// each column is bold when there are several rows. Radii missing from a row print "-".
pub fn markdown_table(rows: &[Summary]) -> String {
    let grid: &[f64] = rows.first().map_or(&[], |r| &r.grid);
    let mut s = String::from("| |");
    for &r in grid {
        s += &format!(" r = {} |", radius_label(r));
    }
    s += " ACR | abstain |\n| --- |";
    s += &" ---: |".repeat(grid.len() + 2);
    s.push('\n');
    let columns: Vec<Vec<Option<f64>>> = grid
        .iter()
        .map(|&r| rows.iter().map(|row| row.at(r)).collect())
        .chain([rows.iter().map(|row| Some(row.acr)).collect()])
        .collect();
    let best: Vec<Option<f64>> = columns
        .iter()
        .map(|c| c.iter().flatten().copied().reduce(f64::max))
        .collect();
    for (i, row) in rows.iter().enumerate() {
        s += &format!("| {} |", row.name.replace('|', "\\|"));
        for (col, b) in columns.iter().zip(&best) {
            s += &match col[i] {
                Some(v) if rows.len() > 1 && Some(v) == *b => format!(" **{v:.3}** |"),
                Some(v) => format!(" {v:.3} |"),
                None => " - |".to_string(),
            };
        }
        s += &format!(" {:.3} |\n", row.abstain_rate);
    }
    s
}

fn delimited(rows: &[Summary], sep: char) -> String {
    let field = |v: &str| {
        if sep == ',' && v.contains([',', '"', '\n']) {
            format!("\"{}\"", v.replace('"', "\"\""))
        } else if sep == '\t' {
            v.replace(['\t', '\n'], " ")
        } else {
            v.to_string()
        }
    };
    let grid: &[f64] = rows.first().map_or(&[], |r| &r.grid);
    let mut head = vec![
        "name".to_string(),
        "sigma".into(),
        "n".into(),
        "alpha".into(),
        "points".into(),
    ];
    head.extend(grid.iter().map(|&r| format!("r={}", radius_label(r))));
    head.extend(["acr".into(), "abstain".into(), "rMax".into()]);
    let sep_s = sep.to_string();
    let mut s = head.join(&sep_s);
    s.push('\n');
    for row in rows {
        let mut cells = vec![
            field(&row.name),
            row.sigma.to_string(),
            row.n.to_string(),
            row.alpha.to_string(),
        ];
        cells.push(row.points.to_string());
        cells.extend(
            grid.iter()
                .map(|&r| row.at(r).map_or(String::new(), |v| v.to_string())),
        );
        cells.extend([
            row.acr.to_string(),
            row.abstain_rate.to_string(),
            row.r_max.to_string(),
        ]);
        s += &cells.join(&sep_s);
        s.push('\n');
    }
    s
}

/// The table as tab-separated values (header row, full-precision numbers).
pub fn tsv_table(rows: &[Summary]) -> String {
    delimited(rows, '\t')
}

/// The table as comma-separated values (RFC 4180 quoting of names).
pub fn csv_table(rows: &[Summary]) -> String {
    delimited(rows, ',')
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOL: f64 = 1e-12;
    /// arq-method.md prints R_max / sigma to 2 decimals.
    const RMAX_TOL: f64 = 0.005;

    fn o(correct: bool, abstain: bool, radius: f64) -> Outcome {
        Outcome {
            correct,
            abstain,
            radius,
        }
    }

    /// Five points: correct r = 0.3, correct r = 1.0, wrong r = 2.0, abstain, correct r = 0.
    fn five() -> Vec<Outcome> {
        vec![
            o(true, false, 0.3),
            o(true, false, 1.0),
            o(false, false, 2.0),
            o(false, true, 0.0),
            o(true, false, 0.0),
        ]
    }

    #[test]
    fn hand_computed_metrics() {
        let v = five();
        // r = 0: three correct of five; r = 0.25: 0.3 and 1.0; r = 0.5 and 1.0: only 1.0; r = 1.25: none
        let want = [0.6, 0.4, 0.2, 0.2, 0.2, 0.0, 0.0];
        for (got, want) in certified_accuracy_curve(&v, &GRID_SMALL).iter().zip(want) {
            assert!((got - want).abs() < TOL, "{got} vs {want}");
        }
        // ACR = (0.3 + 1.0 + 0 + 0 + 0) / 5 = 0.26: the wrong point's 2.0 does not count
        assert!((acr(&v) - 0.26).abs() < TOL);
        assert!((abstain_rate(&v) - 0.2).abs() < TOL);
        assert!(acr(&[]).abs() < TOL && certified_accuracy(&[], 0.0).abs() < TOL);
    }

    #[test]
    fn r_max_known_values() {
        for (n, want) in [(1_000, 2.46), (10_000, 3.20), (100_000, 3.81)] {
            let got = r_max(1.0, n, 0.001);
            assert!((got - want).abs() < RMAX_TOL, "n = {n}: {got}");
            assert!((r_max(0.25, n, 0.001) - 0.25 * got).abs() < TOL);
        }
    }

    #[test]
    fn summary_round_trips_and_renders() {
        let a = Summary::new("FP32", 0.25, 1000, 0.001, &five(), &GRID_SMALL);
        let b = Summary::new(
            "W4A4 | uniform",
            0.25,
            1000,
            0.001,
            &five()[..2],
            &GRID_SMALL,
        );
        let json = serde_json::to_string(&a).unwrap_or_default();
        assert!(json.contains("\"certifiedAccuracy\"") && json.contains("\"rMax\""));
        let back: Summary = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, a);

        let md = markdown_table(&[a.clone(), b.clone()]);
        let lines: Vec<&str> = md.lines().collect();
        assert_eq!(lines[0], "| | r = 0.0 | r = 0.25 | r = 0.5 | r = 0.75 | r = 1.0 | r = 1.25 | r = 1.5 | ACR | abstain |");
        assert_eq!(
            lines[1],
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        );
        // b = {0.3, 1.0} both correct: 1.0, 1.0, 0.5, 0.5, 0.5, 0, 0; ACR 0.65
        assert_eq!(lines[2], "| FP32 | 0.600 | 0.400 | 0.200 | 0.200 | 0.200 | **0.000** | **0.000** | 0.260 | 0.200 |");
        assert_eq!(
            lines[3],
            "| W4A4 \\| uniform | **1.000** | **1.000** | **0.500** | **0.500** | **0.500** | **0.000** | **0.000** | **0.650** | 0.000 |"
        );

        let csv = csv_table(&[a, b]);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], "name,sigma,n,alpha,points,r=0.0,r=0.25,r=0.5,r=0.75,r=1.0,r=1.25,r=1.5,acr,abstain,rMax");
        assert!(lines[1].starts_with("FP32,0.25,1000,0.001,5,0.6,0.4,0.2,0.2,0.2,0,0,0.26,0.2,"));
        let tsv = tsv_table(&[Summary::new("a,b", 0.5, 10, 0.01, &five(), &[0.0])]);
        assert!(tsv.starts_with("name\tsigma\tn\talpha\tpoints\tr=0.0\tacr\tabstain\trMax\na,b\t0.5\t10\t0.01\t5\t0.6\t0.26\t0.2\t"));
    }
}
