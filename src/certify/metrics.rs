//! Metrics of certified robustness.
//!
//! - Certified accuracy at radius r (Cohen, Rosenfeld, Kolter, ICML 2019, section 4):
//!   the fraction of test points whose CERTIFY class equals the label AND radius >= r;
//!   abstain counts as wrong. At r = 0 it is the smoothed classifier's clean accuracy.
//! - ACR, average certified radius (Zhai et al., "MACER", ICLR 2020): the mean over test points
//!   of R, counting 0 for wrong or abstained points.
//! - R_max = sigma * PhiInv(alpha^(1/n)): the largest radius CERTIFY can return with n
//!   estimation samples (pA_low = alpha^(1/n) when all n agree). IRS rows carry their own
//!   cap ([`irs_r_max`]) and guarantee (alpha + alpha_zeta).

use serde::{Deserialize, Serialize};

use super::irs::{irs_radius, zeta_up, IrsParams, IrsRecord};
use super::job::CertRecord;
use super::smooth::noise_sigma;
use super::stats;

/// Conventional radius grid for small images: 0, 0.25, ..., 1.5.
pub(crate) const GRID_SMALL: [f64; 7] = [0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5];

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
pub(crate) fn certified_accuracy(outcomes: &[Outcome], r: f64) -> f64 {
    fraction(outcomes, |o| o.correct && !o.abstain && o.radius >= r)
}

/// [`certified_accuracy`] at each radius of `grid`.
pub(crate) fn certified_accuracy_curve(outcomes: &[Outcome], grid: &[f64]) -> Vec<f64> {
    grid.iter()
        .map(|&r| certified_accuracy(outcomes, r))
        .collect()
}

/// ACR = (1/N) sum_i [correct_i] R_i (0 for an empty set).
pub(crate) fn acr(outcomes: &[Outcome]) -> f64 {
    if outcomes.is_empty() {
        return 0.0;
    }
    // fold from +0.0: `sum` of no floats is -0.0, which would print as "-0.000"
    let sum = outcomes
        .iter()
        .filter(|o| o.correct && !o.abstain)
        .fold(0.0, |s, o| s + o.radius);
    sum / outcomes.len() as f64
}

/// Fraction of abstentions (0 for an empty set).
pub(crate) fn abstain_rate(outcomes: &[Outcome]) -> f64 {
    fraction(outcomes, |o| o.abstain)
}

/// R_max = sigma * PhiInv(alpha^(1/n)): no CERTIFY radius with n estimation samples exceeds it
/// (2.46, 3.20, 3.81 sigma at n = 1e3, 1e4, 1e5 and alpha = 0.001). sigma is taken as the
/// noise used it ([`noise_sigma`]).
pub fn r_max(sigma: f64, n: u64, alpha: f64) -> f64 {
    debug_assert!(n > 0 && alpha > 0.0 && alpha < 1.0);
    noise_sigma(sigma) * stats::phi_inv(libm::pow(alpha, 1.0 / n as f64))
}

/// The largest radius IRS can return for a cache certified with n samples at `alpha`:
/// the larger of the gamma fallback's cap R_max(n_p, alpha + alpha_zeta) (it certifies from
/// scratch with n_p samples) and the incremental branch's
/// sigma * PhiInv(min(gamma, alpha^(1/n)) - zeta_up(0 of n_p)) (taken only when
/// pA_low < gamma, and no disagreement at all still costs zeta_up(0)).
pub(crate) fn irs_r_max(sigma: f64, n: u64, alpha: f64, irs: &IrsGuarantee) -> f64 {
    let fallback = r_max(sigma, irs.n_p, alpha + irs.alpha_zeta);
    let top = irs.gamma.min(libm::pow(alpha, 1.0 / n as f64));
    let incremental = irs_radius(sigma, top, zeta_up(0, irs.n_p, irs.alpha_zeta)).unwrap_or(0.0);
    fallback.max(incremental)
}

/// What an IRS certificate rests on, for its label: the part of [`IrsParams`] that the
/// guarantee depends on (not the batch size).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct IrsGuarantee {
    /// Replayed (incremental) or fresh (fallback) samples of the modified model per point.
    pub n_p: u64,
    /// Failure probability of the disagreement bound zeta_up.
    pub alpha_zeta: f64,
    /// Fallback threshold on f's pA_low.
    pub gamma: f64,
}

impl From<&IrsParams> for IrsGuarantee {
    fn from(p: &IrsParams) -> Self {
        IrsGuarantee {
            n_p: p.n_p,
            alpha_zeta: p.alpha_zeta,
            gamma: p.gamma,
        }
    }
}

/// One configuration's certification results, as one row of Cohen's table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Row label, e.g. "FP32" or "sigma = 0.25".
    pub name: String,
    /// The noise level sigma, in pixel units.
    pub sigma: f64,
    /// Estimation samples per point of the certification (for IRS: of f's certification,
    /// whose first n_p samples are replayed).
    pub n: u64,
    /// Every certificate of the row holds with probability at least 1 - alpha: CERTIFY's
    /// alpha, or alpha + alpha_zeta for IRS (f's bound and the disagreement bound).
    pub alpha: f64,
    /// Set when the row was certified with IRS: n_p, alpha_zeta and gamma.
    pub irs: Option<IrsGuarantee>,
    /// Test points.
    pub points: usize,
    /// The radii (L2, pixel units) at which certified accuracy is reported.
    pub grid: Vec<f64>,
    /// Certified accuracy at each radius of `grid`.
    pub certified_accuracy: Vec<f64>,
    /// Certified accuracy at r = 0.
    pub clean_accuracy: f64,
    /// Average certified radius: the mean radius, counting 0 for wrong or abstained points.
    pub acr: f64,
    /// Fraction of points where the certifier abstained.
    pub abstain_rate: f64,
    /// The largest radius the certifier can return: sigma * PhiInv(alpha^(1/n)) for
    /// CERTIFY, [`irs_r_max`] for IRS.
    pub r_max: f64,
}

impl Summary {
    /// Summarise `outcomes` of a certification at (sigma, n, alpha) on the radius `grid`.
    pub(crate) fn new(
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
            irs: None,
            r_max: r_max(sigma, n, alpha),
        }
    }

    /// Summarise IRS `outcomes` against f's certification at (sigma, n, alpha): labelled
    /// with the guarantee alpha + alpha_zeta and the IRS cap ([`irs_r_max`]).
    pub(crate) fn irs(
        name: impl Into<String>,
        sigma: f64,
        n: u64,
        alpha: f64,
        irs: IrsGuarantee,
        outcomes: &[Outcome],
        grid: &[f64],
    ) -> Self {
        Summary {
            alpha: alpha + irs.alpha_zeta,
            irs: Some(irs),
            r_max: irs_r_max(sigma, n, alpha, &irs),
            ..Summary::new(name, sigma, n, alpha, outcomes, grid)
        }
    }

    /// What the row's certificates guarantee, in words: "CERTIFY, n = 1000, alpha = 0.001"
    /// or "IRS, n_p = 100 of n = 1000, alpha + alpha_zeta = 0.002, gamma = 0.99".
    pub fn guarantee(&self) -> String {
        match &self.irs {
            None => format!("CERTIFY, n = {}, alpha = {}", self.n, self.alpha),
            Some(g) => format!(
                "IRS, n_p = {} of n = {}, alpha + alpha_zeta = {}, gamma = {}",
                g.n_p,
                self.n,
                round_sum(self.alpha),
                g.gamma
            ),
        }
    }

    /// Certified accuracy at radius r, if r is on this row's grid.
    pub(crate) fn at(&self, r: f64) -> Option<f64> {
        const GRID_TOL: f64 = 1e-9;
        let i = self.grid.iter().position(|&g| (g - r).abs() < GRID_TOL)?;
        self.certified_accuracy.get(i).copied()
    }
}

/// A sum such as 0.001 + 0.001 printed without its binary residue (0.002, not
/// 0.0020000000000000000416).
fn round_sum(x: f64) -> f64 {
    let scale = libm::pow(10.0, 12.0 - libm::floor(libm::log10(x.abs().max(1e-300))));
    libm::round(x * scale) / scale
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

#[cfg(test)]
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

#[cfg(test)]
/// The table as tab-separated values (header row, full-precision numbers).
pub(crate) fn tsv_table(rows: &[Summary]) -> String {
    delimited(rows, '\t')
}

#[cfg(test)]
/// The table as comma-separated values (RFC 4180 quoting of names).
pub(crate) fn csv_table(rows: &[Summary]) -> String {
    delimited(rows, ',')
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOL: f64 = 1e-12;
    /// docs/method.md section 10 prints R_max / sigma to 2 decimals.
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
    fn irs_rows_carry_their_own_guarantee_and_cap() {
        // R_max(n_p, alpha + alpha_zeta) = sigma PhiInv(0.002^(1/n_p)), from Python's
        // statistics.NormalDist: 0.561498 (n_p = 500), 0.388160 (n_p = 100) at sigma 0.25.
        const CAP_TOL: f64 = 1e-6;
        let g = |n_p| IrsGuarantee {
            n_p,
            alpha_zeta: 0.001,
            gamma: 0.99,
        };
        for (n, n_p, want) in [(10_000, 500, 0.561_497_7), (1_000, 100, 0.388_160_4)] {
            let s = Summary::irs("W4A4", 0.25, n, 0.001, g(n_p), &five(), &GRID_SMALL);
            assert!((s.r_max - want).abs() < CAP_TOL, "n_p = {n_p}: {}", s.r_max);
            assert!(s.r_max < r_max(0.25, n, 0.001));
            assert!((s.alpha - 0.002).abs() < TOL);
            assert_eq!(s.irs, Some(g(n_p)));
            assert_eq!(s.n, n);
        }
        let s = Summary::irs("q", 0.25, 1000, 0.001, g(100), &five(), &GRID_SMALL);
        assert_eq!(
            s.guarantee(),
            "IRS, n_p = 100 of n = 1000, alpha + alpha_zeta = 0.002, gamma = 0.99"
        );
        let f = Summary::new("FP32", 0.25, 1000, 0.001, &five(), &GRID_SMALL);
        assert_eq!(f.guarantee(), "CERTIFY, n = 1000, alpha = 0.001");
        // the incremental branch sets the cap when gamma is close to 1 and n_p is large
        let wide = IrsGuarantee {
            n_p: 5000,
            alpha_zeta: 0.001,
            gamma: 0.9999,
        };
        let inc = irs_radius(0.25, 0.001f64.powf(1e-4), zeta_up(0, 5000, 0.001)).unwrap();
        assert!(
            (irs_r_max(0.25, 10_000, 0.001, &wide) - inc.max(r_max(0.25, 5000, 0.002))).abs() < TOL
        );
    }

    #[test]
    fn radii_use_the_f32_sigma_of_the_noise() {
        // 0.12 is not exact in f32: the noise really has sigma 0.11999999731779099
        assert_eq!(noise_sigma(0.12), 0.119_999_997_317_790_99);
        assert!(r_max(0.12, 1000, 0.001) < 0.12 * stats::phi_inv(0.001f64.powf(1e-3)));
        assert_eq!(noise_sigma(0.25), 0.25);
    }

    #[test]
    fn acr_of_no_certified_point_is_plus_zero() {
        let wrong = [Outcome {
            correct: false,
            abstain: true,
            radius: 0.0,
        }];
        assert_eq!(format!("{:.3}", acr(&wrong)), "0.000");
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
