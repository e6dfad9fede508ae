//! The text boundary of the config: one setting from text (`set`), to text (`get`), and the
//! URL fragment (`#v=1&key=value...`) both ways.

use super::{
    BitsList, ExperimentConfig, Flags, Kind, Value, FORMAT_VERSION, FORMAT_VERSIONS, MAX_SEED,
    SCHEMA,
};
use crate::error::{Error, Result};
use crate::quant::Bits;

impl Kind {
    /// Parse and range-check a textual value.
    pub(crate) fn parse(&self, key: &str, raw: &str) -> Result<Value> {
        let bad = |reason: &str| Error::invalid(key, raw, reason, self.allowed());
        match *self {
            Kind::Int { min, max } => {
                let v: i64 = raw.trim().parse().map_err(|_| bad("not an integer"))?;
                if v < min || v > max {
                    return Err(bad("out of range"));
                }
                Ok(Value::Int(v))
            }
            Kind::Float { min, max } => {
                let v: f64 = raw.trim().parse().map_err(|_| bad("not a number"))?;
                if !v.is_finite() || v < min || v > max {
                    return Err(bad("out of range"));
                }
                // -0 is 0: equal configs must have equal canonical fragments
                Ok(Value::Float(v + 0.0))
            }
            Kind::Enum { choices } => choices
                .iter()
                .position(|c| *c == raw.trim())
                .map(Value::Word)
                .ok_or_else(|| crate::choice::unknown(key, raw, choices)),
            Kind::Bits => {
                let v = raw.trim();
                let items: Vec<&str> = v.split(',').map(str::trim).collect();
                let bits = items
                    .iter()
                    .filter(|_| !v.is_empty())
                    .map(|t| Bits::parse(key, t).map_err(|_| bad(&format!("'{t}' is not allowed"))))
                    .collect::<Result<Vec<Bits>>>()?;
                // canonical text: items without surrounding blanks, lower case
                let text = items.join(",").to_ascii_lowercase();
                Ok(Value::Bits(BitsList { bits, text }))
            }
            Kind::Flags => {
                let v = raw.trim();
                let flags = v
                    .split(',')
                    .filter(|_| !v.is_empty())
                    .map(|item| match item.trim() {
                        "0" => Ok(false),
                        "1" => Ok(true),
                        t => Err(bad(&format!("'{t}' is not allowed"))),
                    })
                    .collect::<Result<Vec<bool>>>()?;
                Ok(Value::Flags(Flags(flags)))
            }
            Kind::Words { choices } => {
                let v = raw.trim();
                let mut positions = vec![];
                for item in v.split(',').filter(|_| !v.is_empty()).map(str::trim) {
                    if item.is_empty() {
                        return Err(bad("an empty item between commas"));
                    }
                    match choices.iter().position(|c| *c == item) {
                        Some(i) => positions.push(i),
                        None => return Err(bad(&format!("'{item}' is not a known word"))),
                    }
                }
                Ok(Value::Words(positions))
            }
            Kind::Seed => {
                let v: u64 = raw
                    .trim()
                    .parse()
                    .map_err(|_| bad("not a non-negative integer"))?;
                if v > MAX_SEED {
                    return Err(bad("out of range"));
                }
                Ok(Value::Int(v as i64))
            }
        }
    }
}

/// Keys of a link that carry results (`eng=` engine version, `r=` the shared summary,
/// src/results): not settings, skipped by the parser.
pub const RESULT_KEYS: [&str; 2] = ["eng", "r"];

fn known_keys() -> String {
    let mut k: Vec<&str> = vec!["v"];
    k.extend(SCHEMA.iter().map(|f| f.key));
    k.join(", ")
}

impl ExperimentConfig {
    /// Set one key from text, strictly.
    pub fn set(&mut self, key: &str, raw: &str) -> Result<()> {
        let f = super::field(key).ok_or_else(|| Error::UnknownField {
            field: key.into(),
            known: known_keys(),
        })?;
        let v = f.kind.parse(key, raw)?;
        (f.set)(self, v);
        Ok(())
    }

    /// The canonical text of setting `key` (as the fragment would spell it), or None if `key`
    /// is not a setting.
    pub fn get(&self, key: &str) -> Option<String> {
        super::field(key).map(|f| (f.get)(self))
    }

    /// Canonical fragment without the leading '#': `v=2&key=value...`, the defaults of the
    /// config's own format version omitted (a `v=1` link reads back as `v=1`).
    pub fn to_fragment(&self) -> String {
        self.to_fragment_of(self.format)
    }

    /// The canonical fragment in format `version` (its defaults omitted): how a link of that
    /// version spells this config.
    pub(crate) fn to_fragment_of(&self, version: u32) -> String {
        let d = ExperimentConfig::defaults_of(version);
        let mut parts = vec![format!("v={version}")];
        for f in SCHEMA {
            let v = (f.get)(self);
            if v != (f.get)(&d) {
                parts.push(format!("{}={}", f.key, v));
            }
        }
        parts.join("&")
    }

    /// Strict parse (CLI `--url`, files): the first problem is an error.
    pub fn from_fragment(fragment: &str) -> Result<Self> {
        let (cfg, notices) = Self::from_fragment_lenient(fragment);
        match notices.into_iter().next() {
            Some(e) => Err(e),
            None => {
                cfg.check()?;
                Ok(cfg)
            }
        }
    }

    /// Lenient parse (the page): every bad pair is dropped and reported; the rest applies.
    pub fn from_fragment_lenient(fragment: &str) -> (Self, Vec<Error>) {
        let mut notices = Vec::new();
        let body = fragment.trim().trim_start_matches('#');
        let version = fragment_version(body, &mut notices);
        let mut cfg = ExperimentConfig::defaults_of(version);
        for pair in body.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = match pair.split_once('=') {
                Some(kv) => kv,
                None => {
                    notices.push(Error::invalid(
                        pair,
                        "",
                        "missing '='",
                        "key=value pairs joined by '&'",
                    ));
                    continue;
                }
            };
            // the results a link carries (src/results) never change what it computes
            if RESULT_KEYS.contains(&k) {
                continue;
            }
            // read first, by fragment_version
            if k == "v" {
                continue;
            }
            let v = percent_decode(v);
            if let Err(e) = cfg.set(k, &v) {
                notices.push(e);
            }
        }
        cfg.fit_default_np(fragment_sets(body, "np"));
        if let Err(e) = cfg.check_np() {
            notices.push(e);
            let d = ExperimentConfig::defaults_of(version);
            cfg.n_p = d.n_p.min(cfg.n);
        }
        if let Err(e) = cfg.check_step() {
            notices.push(e);
            cfg.step = 1;
        }
        (cfg, notices)
    }
}

/// Whether a fragment (with or without '#') gives `key` a value, good or bad.
pub fn fragment_sets(fragment: &str, key: &str) -> bool {
    fragment
        .trim()
        .trim_start_matches('#')
        .split('&')
        .any(|p| p.split_once('=').is_some_and(|(k, _)| k == key))
}

/// The format version a fragment declares (`v=`, wherever it stands, since its defaults apply
/// before any other key): [`FORMAT_VERSION`] when absent; an unsupported one is reported and
/// read as the current version.
fn fragment_version(body: &str, notices: &mut Vec<Error>) -> u32 {
    let mut version = FORMAT_VERSION;
    for (k, v) in body.split('&').filter_map(|p| p.split_once('=')) {
        if k != "v" {
            continue;
        }
        let v = percent_decode(v);
        match v.trim().parse::<u32>() {
            Ok(n) if FORMAT_VERSIONS.contains(&n) => version = n,
            _ => notices.push(Error::invalid(
                "v",
                &v,
                "unsupported format version",
                "1 or 2 (1: the first defaults, budget 1/64, np 100, gamma 0.99; 2: the current)",
            )),
        }
    }
    version
}

/// Minimal %XX decoding for values pasted from a browser's address bar. Works on bytes (a
/// `%` may be followed by any UTF-8 text); only `%` plus exactly two ASCII hex digits is an
/// escape, anything else is kept as it is; invalid UTF-8 after decoding becomes U+FFFD.
fn percent_decode(s: &str) -> String {
    fn hex_digit(c: u8) -> Option<u8> {
        (c as char).to_digit(16).map(|d| d as u8)
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if let (Some(hi), Some(lo)) = (
                b.get(i + 1).copied().and_then(hex_digit),
                b.get(i + 2).copied().and_then(hex_digit),
            ) {
                out.push(hi << 4 | lo);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The README's parameter table, generated from the schema (`arq info --schema-md`).
pub fn schema_markdown() -> String {
    let d = ExperimentConfig::default();
    let mut s =
        String::from("| key | group | default | allowed | meaning |\n|---|---|---|---|---|\n");
    for f in SCHEMA {
        s.push_str(&format!(
            "| `{}` | {} | {} | {} | {} |\n",
            f.key,
            f.group,
            (f.get)(&d),
            f.kind.allowed(),
            f.help
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A v=1 link computes what it computed before v=2 changed the defaults: its own defaults
    /// apply (wherever `v` stands), and it reads back as it was written.
    #[test]
    fn version_1_keeps_its_defaults() {
        let old = ExperimentConfig::from_fragment("v=1&seed=3").unwrap();
        assert_eq!((old.n_p, old.gamma, old.budget), (100, 0.99, 1.0 / 64.0));
        // spelled in its own version, and the same computation in the current one
        assert_eq!(old.to_fragment(), "v=1&seed=3");
        assert_eq!(
            old.to_fragment_of(2),
            "v=2&seed=3&np=100&gamma=0.99&budget=0.015625"
        );
        let again = ExperimentConfig::from_fragment(&old.to_fragment_of(2)).unwrap();
        assert_eq!(again.experiment_fragment_of(1), old.experiment_fragment());
        let late = ExperimentConfig::from_fragment("seed=3&np=200&v=1").unwrap();
        assert_eq!((late.n_p, late.gamma), (200, 0.99));
        let new = ExperimentConfig::from_fragment("v=2&seed=3").unwrap();
        assert_eq!((new.n_p, new.gamma, new.budget), (300, 1.0, 1.0 / 192.0));
        assert_eq!(ExperimentConfig::from_fragment("seed=3").unwrap(), new);
        // the default n_p follows a smaller n; a given one is checked
        assert_eq!(
            ExperimentConfig::from_fragment("v=2&n=100").unwrap().n_p,
            100
        );
        assert_eq!(
            ExperimentConfig::from_fragment("v=2&n=100")
                .unwrap()
                .to_fragment(),
            "v=2&n=100&np=100"
        );
        assert!(ExperimentConfig::from_fragment("v=2&n=100&np=300").is_err());
        let e = ExperimentConfig::from_fragment("v=3&seed=3")
            .unwrap_err()
            .to_string();
        assert!(e.contains("v=3") && e.contains("1 or 2"), "{e}");
        // leniently: reported, read as the current version
        let (c, notes) = ExperimentConfig::from_fragment_lenient("v=0&seed=3");
        assert_eq!((c, notes.len()), (new, 1));
    }

    /// The page's fragment for "every default" names the engine's current version.
    #[test]
    fn the_page_knows_the_current_version() {
        let js =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/www/js/protocol.js"))
                .unwrap();
        let want = format!("export const DEFAULT_FRAGMENT = '#v={FORMAT_VERSION}';");
        assert!(js.contains(&want), "www/js/protocol.js lacks {want}");
    }

    #[test]
    fn default_fragment_is_minimal() {
        assert_eq!(ExperimentConfig::default().to_fragment(), "v=2");
    }

    #[test]
    fn round_trip_and_canonical_order() {
        let c = ExperimentConfig::from_fragment("#v=2&seed=7&sigma=0.5&model=cnn3").unwrap();
        assert_eq!(c.to_fragment(), "v=2&model=cnn3&sigma=0.5&seed=7");
        let again = ExperimentConfig::from_fragment(&c.to_fragment()).unwrap();
        assert_eq!(again, c);
    }

    #[test]
    fn errors_name_field_value_and_range() {
        let e = ExperimentConfig::from_fragment("v=2&sigma=9")
            .unwrap_err()
            .to_string();
        assert!(e.contains("sigma=9") && e.contains("0.01..=2"), "{e}");
        let e = ExperimentConfig::from_fragment("v=2&model=vgg")
            .unwrap_err()
            .to_string();
        assert!(e.contains("model=vgg") && e.contains("lenet, cnn3"), "{e}");
        let e = ExperimentConfig::from_fragment("v=2&bogus=1")
            .unwrap_err()
            .to_string();
        assert!(e.contains("bogus"), "{e}");
        let e = ExperimentConfig::from_fragment("v=2&n=100&np=500")
            .unwrap_err()
            .to_string();
        assert!(e.contains("np=500"), "{e}");
    }

    /// Regression (issue 8, the fuzzers' round-trip property): `wd=-0` equals the default
    /// config but printed `wd=-0`, and `wb=4, 4` kept its blank, so equal settings had
    /// different canonical fragments.
    #[test]
    fn canonical_text_of_equal_values_is_equal() {
        let c = ExperimentConfig::from_fragment("v=2&mom=-0&wd=-0.0").unwrap();
        assert_eq!(c.to_fragment(), "v=2&mom=0");
        let c = ExperimentConfig::from_fragment("v=2&wb=4, F ,32&lk= 1 ,0").unwrap();
        assert_eq!(c.to_fragment(), "v=2&wb=4,f,32&lk=1,0");
        assert_eq!(
            ExperimentConfig::from_fragment(&c.to_fragment()).unwrap(),
            c
        );
    }

    #[test]
    fn lenient_parse_keeps_good_pairs() {
        let (c, notes) =
            ExperimentConfig::from_fragment_lenient("#v=2&sigma=abc&seed=9&&junk&epochs=0");
        assert_eq!(c.seed, 9);
        assert_eq!(c.sigma, 0.25);
        assert_eq!(c.epochs, 20);
        assert_eq!(notes.len(), 3, "{notes:?}");
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("0%2E5"), "0.5");
        assert_eq!(percent_decode("0%2e5"), "0.5");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%4"), "%4");
        assert_eq!(percent_decode("%41"), "A");
        // only two hex digits are an escape: from_str_radix would also take "+1"
        assert_eq!(percent_decode("%+1"), "%+1");
        assert_eq!(percent_decode("%C3%A9"), "\u{e9}");
        assert_eq!(percent_decode("%FF"), "\u{fffd}");
    }

    /// Regression (issue 8): a '%' followed by a multi-byte character sliced the string
    /// inside that character and panicked (`arq info --url '#v=2&wb=%aé'`).
    #[test]
    fn percent_decoding_non_ascii_after_percent() {
        assert_eq!(percent_decode("%a\u{e9}"), "%a\u{e9}");
        assert_eq!(percent_decode("%\u{e9}"), "%\u{e9}");
        assert_eq!(percent_decode("\u{e9}%\u{e9}1"), "\u{e9}%\u{e9}1");
        assert_eq!(percent_decode("%\u{1F600}"), "%\u{1F600}");
        let e = ExperimentConfig::from_fragment("#v=2&wb=%a\u{e9}")
            .unwrap_err()
            .to_string();
        assert!(e.contains("wb=%a\u{e9}") && e.contains("bit widths"), "{e}");
        let (c, notes) = ExperimentConfig::from_fragment_lenient("#v=2&wb=%a\u{e9}&seed=3");
        assert_eq!((c.seed, notes.len()), (3, 1), "{notes:?}");
    }
}
