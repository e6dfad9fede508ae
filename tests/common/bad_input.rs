//! The bad-input matrix (issue 8), generated from the config schema so a new field is covered
//! automatically: every schema field x every class of bad value below. Shared by the CLI test
//! (tests/bad_input_cli.rs: `--url` and the per-field flags) and the wasm API test
//! (tests/wasm.rs: parseFragment, Engine.setConfig, setPolicy). tests/web/bad-input.test.mjs
//! builds the same classes in JavaScript from the page's schema.
#![allow(dead_code)]

use arq::config::{Kind, MAX_SEED, SCHEMA};

/// What a front end must do with a case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// An error (CLI, wasm method) or a notice (lenient parse) naming `key=value`, the reason
    /// and what is allowed; the value is dropped.
    Reject,
    /// Legitimately valid: e.g. an empty `wb`/`ab`/`lk` list means full precision / no locks.
    Accept,
    /// Valid syntax, but not for the model: a list whose length is neither one nor the
    /// model's number of quantizable layers (5 for the default lenet). Rejected like the
    /// others, with the layer count as what is allowed.
    RejectForModel,
}

#[derive(Clone, Debug)]
pub struct Case {
    pub key: &'static str,
    pub kind: Kind,
    pub class: &'static str,
    /// The value as typed: a CLI flag's argument, and the text written after `key=` in a
    /// fragment (non-ASCII characters written raw, as a pasted link may have them).
    pub raw: String,
    pub expect: Expect,
}

impl Case {
    /// The value the engine sees after percent-decoding a fragment (what a notice shows).
    pub fn decoded(&self) -> String {
        percent_decode(&self.raw)
    }

    /// What the error must say is allowed (a fragment of the message).
    pub fn allowed(&self) -> String {
        match self.expect {
            Expect::RejectForModel => "comma-separated values".into(),
            _ => self.kind.allowed(),
        }
    }

    pub fn label(&self) -> String {
        format!("{}={:?} ({})", self.key, self.raw, self.class)
    }
}

/// The value classes. Kind-independent ones first, then the kind-aware ones.
pub const CLASSES: &[&str] = &[
    "empty",
    "garbage",
    "nan",
    "inf",
    "-inf",
    "negative",
    "huge-float",
    "huge-int",
    "unknown-word",
    "above-range",
    "below-range",
    "wrong-list-length",
    "unicode-latin",
    "unicode-emoji",
    "unicode-rtl-mark",
    "unicode-rtl-override",
    "unicode-fullwidth-digit",
    "percent-valid",
    "percent-invalid",
    "percent-truncated",
    "percent-multibyte",
    "percent-invalid-utf8",
];

fn value_for(kind: Kind, class: &str) -> String {
    match class {
        "empty" => "".into(),
        "garbage" => "abc".into(),
        "nan" => "NaN".into(),
        "inf" => "inf".into(),
        "-inf" => "-inf".into(),
        "negative" => "-1".into(),
        "huge-float" => "1e300".into(),
        "huge-int" => "99999999999999999999".into(),
        "unknown-word" => "xyzzy".into(),
        "above-range" => match kind {
            Kind::Int { max, .. } => (max + 1).to_string(),
            Kind::Float { max, .. } => (max * 1.5).to_string(),
            Kind::Seed => (MAX_SEED + 1).to_string(),
            Kind::Enum { choices } => choices[0].to_uppercase(),
            Kind::Bits => "9".into(),
            Kind::Flags => "2".into(),
            Kind::Words { choices } => choices[0].to_uppercase(),
        },
        "below-range" => match kind {
            Kind::Int { min, .. } => (min - 1).to_string(),
            Kind::Float { min, .. } if min > 0.0 => (min / 2.0).to_string(),
            Kind::Float { .. } => "-0.001".into(),
            Kind::Seed => "-0.5".into(),
            Kind::Enum { choices } => format!(" {}x", choices[0]),
            Kind::Bits => "1".into(),
            Kind::Flags => "-1".into(),
            Kind::Words { choices } => format!("{},", choices[0]),
        },
        "wrong-list-length" => match kind {
            Kind::Bits => "4,4".into(),
            Kind::Flags => "1,0".into(),
            _ => "1,2".into(),
        },
        "unicode-latin" => "\u{e9}".into(),
        "unicode-emoji" => "\u{1F600}".into(),
        "unicode-rtl-mark" => "\u{200F}1".into(),
        "unicode-rtl-override" => "\u{202E}1".into(),
        "unicode-fullwidth-digit" => "\u{FF11}".into(),
        "percent-valid" => "%41".into(),
        "percent-invalid" => "%zz".into(),
        "percent-truncated" => "%4".into(),
        "percent-multibyte" => "%a\u{e9}".into(),
        "percent-invalid-utf8" => "%FF".into(),
        other => panic!("unknown class {other}"),
    }
}

fn expect_for(kind: Kind, class: &str) -> Expect {
    match (kind, class) {
        (Kind::Bits | Kind::Flags | Kind::Words { .. }, "empty") => Expect::Accept,
        (Kind::Bits | Kind::Flags, "wrong-list-length") => Expect::RejectForModel,
        _ => Expect::Reject,
    }
}

/// Every schema field x every class.
pub fn matrix() -> Vec<Case> {
    let mut out = vec![];
    for f in SCHEMA {
        for &class in CLASSES {
            out.push(Case {
                key: f.key,
                kind: f.kind,
                class,
                raw: value_for(f.kind, class),
                expect: expect_for(f.kind, class),
            });
        }
    }
    out
}

/// The reference decoding of a fragment value: `%` + two hex digits is a byte, anything else
/// stays as it is, invalid UTF-8 becomes U+FFFD.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let hex = |c: u8| (c as char).to_digit(16);
    let mut out = vec![];
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
