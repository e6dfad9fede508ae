//! Baseline policies the paper compares against at equal BOPs budget (docs/method.md
//! section 7): FP32, uniform W8A8 / W4A4 / W2A2, and "first and last layer at 8 bits, the rest
//! at 4" (first/last pinned and locked, a common hand-made mixed-precision rule).

use super::cost::enforce_budget;
use super::policy::{Bits, Policy};
use crate::error::{Error, Result};
use serde::Serialize;

/// A baseline policy of the comparison table (module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// Full precision everywhere (the reference row).
    Fp32,
    /// Uniform 8-bit weights and activations.
    W8a8,
    /// Uniform 4-bit weights and activations (1/64 of FP32's BOPs).
    W4a4,
    /// Uniform 2-bit weights and activations.
    W2a2,
    /// First and last layers W8A8 (locked), the rest W4A4.
    Fl8,
}

impl Preset {
    /// Every preset, in the order the page offers them.
    pub const ALL: [Preset; 5] = [
        Preset::Fp32,
        Preset::W8a8,
        Preset::W4a4,
        Preset::W2a2,
        Preset::Fl8,
    ];

    /// Short name for the CLI and the URL.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Fp32 => "fp32",
            Preset::W8a8 => "w8a8",
            Preset::W4a4 => "w4a4",
            Preset::W2a2 => "w2a2",
            Preset::Fl8 => "fl8",
        }
    }

    /// Human label for tables and the page's preset buttons.
    pub fn label(self) -> &'static str {
        match self {
            Preset::Fp32 => "FP32",
            Preset::W8a8 => "W8A8",
            Preset::W4a4 => "W4A4",
            Preset::W2a2 => "W2A2",
            Preset::Fl8 => "first/last 8, rest 4",
        }
    }

    /// The preset named `s` ([`Preset::name`]'s spelling); an error lists the known names.
    pub fn parse(s: &str) -> Result<Preset> {
        Preset::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Preset::ALL.iter().map(|p| p.name()).collect();
                Error::invalid("preset", s, "unknown preset", names.join(", "))
            })
    }

    /// The preset's policy for a model with `layers` quantizable layers.
    pub fn policy(self, layers: usize) -> Policy {
        let b = |v| Bits::new(v).expect("preset widths are valid");
        match self {
            Preset::Fp32 => Policy::fp32(layers),
            Preset::W8a8 => Policy::uniform(layers, b(8), b(8)),
            Preset::W4a4 => Policy::uniform(layers, b(4), b(4)),
            Preset::W2a2 => Policy::uniform(layers, b(2), b(2)),
            Preset::Fl8 => {
                let mut p = Policy::uniform(layers, b(4), b(4));
                p.pin_first_last(b(8));
                p
            }
        }
    }

    /// The preset lowered by HAQ's budget enforcement until BOPs <= budget * FP32 BOPs
    /// (`macs` per quantizable layer). Errors when the locked layers alone exceed the budget.
    pub fn under_budget(self, macs: &[u64], budget: f64, b_min: Bits) -> Result<Policy> {
        let mut p = self.policy(macs.len());
        enforce_budget(macs, &mut p, budget, b_min)?;
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets() {
        assert_eq!(Preset::parse("fl8").unwrap(), Preset::Fl8);
        assert!(Preset::parse("w3a3")
            .unwrap_err()
            .to_string()
            .contains("w8a8"));
        assert_eq!(
            Preset::Fl8.policy(5).to_fragment(),
            "wb=8,4,4,4,8&ab=8,4,4,4,8&lk=1,0,0,0,1"
        );
        let macs = [100u64; 4];
        let p = Preset::W8a8
            .under_budget(&macs, 1.0 / 64.0, Bits::MIN)
            .unwrap();
        assert!(super::super::cost::total_bops(&macs, &p) * 64 <= 400 * 1024);
        assert_eq!(
            Preset::W4a4
                .under_budget(&macs, 1.0 / 64.0, Bits::MIN)
                .unwrap(),
            Preset::W4a4.policy(4)
        );
    }
}
