//! Mixed-precision policies: per quantizable layer (convs and linears in network order) a
//! weight bit width, an activation bit width and a lock flag.
//!
//! Convention (HAQ, Wang et al., CVPR 2019; ARQ, arXiv 2410.24214): the activation bits of layer
//! i quantize that layer's INPUT, so BOPs(layer i) = MACs_i * b_w(i) * b_a(i) (docs/method.md
//! section 5). For the first layer the input is the (noisy) image.
//!
//! Compact text form, used by the URL fragment and the CLI: `wb=8,4,4,4,8&ab=8,4,4,4,8`
//! (`f` or `32` = full precision; a single value applies to every layer), plus an optional lock
//! list `lk=1,0,0,0,1`. [`Policy::to_fragment`] prints the canonical form: one value per layer,
//! full precision as `f`, `lk` only when some layer is locked.

use crate::error::{Error, Result};
use serde::{Serialize, Serializer};
use std::fmt;

/// A bit width with a checked range: 2..=8 (quantized) or 32 (full-precision float).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Bits(u8);

/// What a bit-width field accepts, for error messages.
pub(crate) const BITS_ALLOWED: &str = "2..8, or f / 32 for full precision";

impl Bits {
    /// The narrowest quantized width, 2 bits.
    pub const MIN: Bits = Bits(2);
    /// The widest quantized width, 8 bits.
    pub const MAX: Bits = Bits(8);
    /// Full precision (f32), written `f` or 32.
    pub const FULL: Bits = Bits(32);

    /// Checked constructor: 2..=8 or 32.
    pub fn new(b: u32) -> Result<Bits> {
        match b {
            2..=8 | 32 => Ok(Bits(b as u8)),
            _ => Err(Error::invalid(
                "bits",
                b,
                "not a supported bit width",
                BITS_ALLOWED,
            )),
        }
    }

    /// Parse one field value (`"4"`, `"f"`, `"32"`); errors name `field`.
    pub fn parse(field: &str, s: &str) -> Result<Bits> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("f") {
            return Ok(Bits::FULL);
        }
        t.parse::<u32>()
            .ok()
            .and_then(|b| Bits::new(b).ok())
            .ok_or_else(|| Error::invalid(field, s, "not a bit width", BITS_ALLOWED))
    }

    /// The width in bits (32 for full precision).
    pub fn get(self) -> u32 {
        self.0 as u32
    }

    pub(crate) fn is_full(self) -> bool {
        self.0 == 32
    }

    /// Some(b) for a quantized width, None for full precision.
    pub(crate) fn quantized(self) -> Option<u32> {
        (!self.is_full()).then_some(self.0 as u32)
    }

    /// One step down for budget enforcement: full precision -> 8 -> 7 ... ; None below `min`.
    pub fn dec(self, min: Bits) -> Option<Bits> {
        let next = if self.is_full() {
            Bits::MAX
        } else {
            Bits(self.0 - 1)
        };
        (self > min && next >= min).then_some(next)
    }
}

impl fmt::Display for Bits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_full() {
            write!(f, "f")
        } else {
            write!(f, "{}", self.0)
        }
    }
}

impl Serialize for Bits {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_u32(self.get())
    }
}

/// One quantizable layer's setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct LayerBits {
    /// Weight bits.
    pub w: Bits,
    /// Bits of this layer's input activations.
    pub a: Bits,
    /// Locked layers are left alone by budget enforcement and the search.
    pub locked: bool,
}

/// A mixed-precision policy: one [`LayerBits`] per quantizable layer, in network order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Policy {
    /// The per-layer settings.
    pub layers: Vec<LayerBits>,
}

impl Policy {
    /// The same weight and activation bits for all `n` layers, nothing locked.
    pub fn uniform(n: usize, w: Bits, a: Bits) -> Policy {
        let l = LayerBits {
            w,
            a,
            locked: false,
        };
        Policy { layers: vec![l; n] }
    }

    /// Full precision for all `n` layers, nothing locked.
    pub fn fp32(n: usize) -> Policy {
        Policy::uniform(n, Bits::FULL, Bits::FULL)
    }

    /// Number of layers.
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// True for a policy of no layers.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn weight_bits(&self) -> Vec<Bits> {
        self.layers.iter().map(|l| l.w).collect()
    }

    pub(crate) fn act_bits(&self) -> Vec<Bits> {
        self.layers.iter().map(|l| l.a).collect()
    }

    /// Pin the first and last layers' weight and activation bits to `bits` and lock them.
    pub(crate) fn pin_first_last(&mut self, bits: Bits) {
        let n = self.layers.len();
        for i in [0, n.saturating_sub(1)] {
            if let Some(l) = self.layers.get_mut(i) {
                *l = LayerBits {
                    w: bits,
                    a: bits,
                    locked: true,
                };
            }
        }
    }

    /// A policy needs at least one layer: with none there is nothing to set, and `wb=&ab=`
    /// (the canonical form of no layers) would not parse.
    pub(crate) fn check_layers(layers: usize) -> Result<()> {
        if layers == 0 {
            return Err(Error::invalid(
                "layers",
                layers,
                "a policy needs a model with quantizable layers",
                "1 or more quantizable layers",
            ));
        }
        Ok(())
    }

    /// Build from the `wb` and `ab` lists for a model with `layers` quantizable layers.
    pub fn parse(wb: &str, ab: &str, layers: usize) -> Result<Policy> {
        Policy::check_layers(layers)?;
        let w = parse_list("wb", wb, layers, Bits::parse)?;
        let a = parse_list("ab", ab, layers, Bits::parse)?;
        Ok(Policy::from_bits(w, a))
    }

    /// Per-layer weight and activation bits (equal lengths), nothing locked.
    pub(crate) fn from_bits(w: Vec<Bits>, a: Vec<Bits>) -> Policy {
        debug_assert_eq!(w.len(), a.len());
        let layers = w
            .into_iter()
            .zip(a)
            .map(|(w, a)| LayerBits {
                w,
                a,
                locked: false,
            })
            .collect();
        Policy { layers }
    }

    /// Set the lock flags from an `lk` list of 0/1 values (one per layer, or one for all).
    pub fn parse_locks(&mut self, lk: &str) -> Result<()> {
        let locks = parse_list("lk", lk, self.layers.len(), |f, s| match s.trim() {
            "0" => Ok(false),
            "1" => Ok(true),
            _ => Err(Error::invalid(f, s, "not a lock flag", "0 or 1")),
        })?;
        self.set_locks(&locks);
        Ok(())
    }

    /// Set the lock flags, one per layer.
    pub(crate) fn set_locks(&mut self, locks: &[bool]) {
        debug_assert_eq!(locks.len(), self.layers.len());
        for (l, &k) in self.layers.iter_mut().zip(locks) {
            l.locked = k;
        }
    }

    /// Parse `wb=...&ab=...[&lk=...]` (pairs separated by `&`, `;` or whitespace).
    pub fn parse_fragment(s: &str, layers: usize) -> Result<Policy> {
        let (mut wb, mut ab, mut lk) = (None, None, None);
        for pair in s
            .split(['&', ';', ' ', '\n'])
            .filter(|p| !p.trim().is_empty())
        {
            let (k, v) = pair.split_once('=').ok_or_else(|| {
                Error::invalid(
                    "policy",
                    pair,
                    "expected key=value",
                    "wb=..., ab=..., lk=...",
                )
            })?;
            match k.trim() {
                "wb" => wb = Some(v),
                "ab" => ab = Some(v),
                "lk" => lk = Some(v),
                other => {
                    return Err(Error::UnknownField {
                        field: other.into(),
                        known: "wb, ab, lk".into(),
                    })
                }
            }
        }
        let missing = |f: &str| Error::invalid(f, "", "missing", "a comma-separated bit list");
        let mut p = Policy::parse(
            wb.ok_or_else(|| missing("wb"))?,
            ab.ok_or_else(|| missing("ab"))?,
            layers,
        )?;
        if let Some(lk) = lk {
            p.parse_locks(lk)?;
        }
        Ok(p)
    }

    /// `8,4,4,4,8`
    pub(crate) fn wb(&self) -> String {
        join(self.layers.iter().map(|l| l.w.to_string()))
    }

    pub(crate) fn ab(&self) -> String {
        join(self.layers.iter().map(|l| l.a.to_string()))
    }

    pub(crate) fn lk(&self) -> String {
        join(self.layers.iter().map(|l| u8::from(l.locked).to_string()))
    }

    /// Canonical compact form: `wb=...&ab=...`, plus `&lk=...` when a layer is locked.
    pub fn to_fragment(&self) -> String {
        let mut s = format!("wb={}&ab={}", self.wb(), self.ab());
        if self.layers.iter().any(|l| l.locked) {
            s += &format!("&lk={}", self.lk());
        }
        s
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_fragment())
    }
}

fn join(it: impl Iterator<Item = String>) -> String {
    it.collect::<Vec<_>>().join(",")
}

/// Split a comma list into exactly `n` values (a single value is repeated n times).
fn parse_list<T: Clone>(
    field: &str,
    s: &str,
    n: usize,
    one: impl Fn(&str, &str) -> Result<T>,
) -> Result<Vec<T>> {
    let parts: Vec<&str> = s.split(',').collect();
    check_len(field, s, parts.len(), n)?;
    let vals = parts
        .iter()
        .map(|p| one(field, p))
        .collect::<Result<Vec<T>>>()?;
    Ok(repeat(vals, n))
}

/// Exactly `n` values from an already parsed list of one value (repeated n times) or of
/// `n` values; `text` is the list as written, which the error quotes.
pub(crate) fn fit_list<T: Clone>(field: &str, text: &str, vals: &[T], n: usize) -> Result<Vec<T>> {
    check_len(field, text, vals.len(), n)?;
    Ok(repeat(vals.to_vec(), n))
}

/// A list of `len` values fits `n` layers when it has one value or `n`.
fn check_len(field: &str, text: &str, len: usize, n: usize) -> Result<()> {
    if len != n && len != 1 {
        return Err(Error::invalid(
            field,
            text,
            &format!("{len} values for {n} quantizable layers"),
            format!("{n} comma-separated values (or one for all layers)"),
        ));
    }
    Ok(())
}

/// `vals` (one value or `n`) as `n` values.
fn repeat<T: Clone>(vals: Vec<T>, n: usize) -> Vec<T> {
    if vals.len() == n {
        vals
    } else {
        vec![vals[0].clone(); n]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(v: u32) -> Bits {
        Bits::new(v).unwrap()
    }

    #[test]
    fn bits_are_checked() {
        assert!(Bits::new(1).is_err() && Bits::new(9).is_err() && Bits::new(16).is_err());
        assert_eq!(b(32), Bits::FULL);
        assert_eq!(Bits::parse("wb", "F").unwrap(), Bits::FULL);
        assert_eq!(b(3).dec(Bits::MIN), Some(b(2)));
        assert_eq!(b(2).dec(Bits::MIN), None);
        assert_eq!(Bits::FULL.dec(Bits::MIN), Some(b(8)));
        assert_eq!(b(4).dec(b(4)), None);
    }

    #[test]
    fn round_trip() {
        let p = Policy::parse("8,4,f,4,32", "8,3,4,2,8", 5).unwrap();
        assert_eq!(p.to_fragment(), "wb=8,4,f,4,f&ab=8,3,4,2,8");
        assert_eq!(Policy::parse_fragment(&p.to_fragment(), 5).unwrap(), p);
        let mut q = Policy::parse("4", "4", 5).unwrap();
        q.pin_first_last(b(8));
        assert_eq!(q.to_fragment(), "wb=8,4,4,4,8&ab=8,4,4,4,8&lk=1,0,0,0,1");
        assert_eq!(Policy::parse_fragment(&q.to_fragment(), 5).unwrap(), q);
    }

    #[test]
    fn errors_name_field_value_and_allowed() {
        let e = Policy::parse("8,4,9,4,8", "4", 5).unwrap_err().to_string();
        assert!(e.contains("wb=9") && e.contains("2..8"), "{e}");
        let e = Policy::parse("8,4", "4", 5).unwrap_err().to_string();
        assert!(
            e.contains("wb=8,4") && e.contains("5 comma-separated"),
            "{e}"
        );
        let e = Policy::parse("4", "x", 5).unwrap_err().to_string();
        assert!(e.contains("ab=x"), "{e}");
        let e = Policy::parse_fragment("wb=4&zz=3", 5)
            .unwrap_err()
            .to_string();
        assert!(e.contains("zz"), "{e}");
        let e = Policy::parse_fragment("wb=4", 5).unwrap_err().to_string();
        assert!(e.contains("ab="), "{e}");
        let mut p = Policy::uniform(2, b(4), b(4));
        assert!(p
            .parse_locks("0,2")
            .unwrap_err()
            .to_string()
            .contains("lk=2"));
    }

    /// Regression (issue 8, the fuzzers' round-trip property): with no quantizable layers
    /// `Policy::parse("4", "4", 0)` gave an empty policy whose canonical form `wb=&ab=` did
    /// not parse back.
    #[test]
    fn zero_layers_is_an_error() {
        let e = Policy::parse("4", "4", 0).unwrap_err().to_string();
        assert!(e.contains("layers=0"), "{e}");
        assert!(Policy::parse_fragment("wb=&ab=", 0).is_err());
    }

    /// Inputs the policy fuzzer starts from: odd separators, blanks, case, one-for-all.
    #[test]
    fn odd_but_valid_text_round_trips() {
        for (s, n) in [
            ("wb=\t8\t,F,32;ab=2\t;lk=1", 3),
            ("ab=+4\nwb=04&lk=0", 1),
            ("  wb=8,4,4,4,8 ab=8 lk=1,0,0,0,1  ", 5),
        ] {
            let p = Policy::parse_fragment(s, n).unwrap();
            assert_eq!(p.len(), n);
            assert_eq!(
                Policy::parse_fragment(&p.to_fragment(), n).unwrap(),
                p,
                "{s}"
            );
        }
    }
}
