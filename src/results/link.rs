//! A link with results, natively (`arq`): `#<settings>&eng=<version>&r=<payload>`, the
//! payload being the shared summary's JSON, raw-deflated (RFC 1951, as the page's
//! CompressionStream('deflate-raw')) and base64url-encoded without padding. The page does
//! the same in www/js/share.js; both validate the inflated JSON with [`Shared::from_bytes`].

use super::{Shared, MAX_LINK_CHARS, MAX_SHARED_BYTES};
use crate::error::{Error, Result};

/// A link taken apart: the settings part and the optional results keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkParts {
    /// The fragment without `eng=` and `r=` (what the experiment computes from).
    pub settings: String,
    /// `eng=`: the engine version that computed the results.
    pub engine: Option<String>,
    /// `r=`: the encoded results.
    pub results: Option<String>,
}

/// Splits `#...` (or a whole URL ending in one) into its settings and results keys.
pub fn split(link: &str) -> LinkParts {
    let frag = link.trim();
    let frag = match frag.find('#') {
        Some(i) => &frag[i + 1..],
        None => frag,
    };
    let mut settings = vec![];
    let (mut engine, mut results) = (None, None);
    for pair in frag.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("eng", v)) => engine = Some(v.to_string()),
            Some(("r", v)) => results = Some(v.to_string()),
            _ => settings.push(pair),
        }
    }
    LinkParts {
        settings: settings.join("&"),
        engine,
        results,
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// base64url without padding.
pub fn b64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for c in bytes.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for k in 0..=c.len() {
            out.push(B64[(n >> (18 - 6 * k) & 63) as usize] as char);
        }
    }
    out
}

/// base64url without padding, strictly (a bad character or length names `r`).
pub fn b64_decode(text: &str) -> Result<Vec<u8>> {
    let bad = |reason: &str| {
        Error::invalid(
            "r",
            shorten(text),
            reason,
            "base64url text (A-Z a-z 0-9 - _) as the page writes it",
        )
    };
    if text.len() % 4 == 1 {
        return Err(bad("truncated"));
    }
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    for c in text.as_bytes().chunks(4) {
        let mut n = 0u32;
        for (k, ch) in c.iter().enumerate() {
            let v = B64
                .iter()
                .position(|x| x == ch)
                .ok_or_else(|| bad(&format!("'{}' is not a base64url character", *ch as char)))?;
            n |= (v as u32) << (18 - 6 * k);
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..c.len() - 1]);
    }
    Ok(out)
}

fn shorten(s: &str) -> String {
    if s.len() > 40 {
        format!("{}… ({} characters)", &s[..40.min(s.len())], s.len())
    } else {
        s.to_string()
    }
}

/// The `r=` value of a shared summary.
pub fn encode(shared: &Shared) -> String {
    b64_encode(&miniz_oxide::deflate::compress_to_vec(
        &shared.to_bytes(),
        10,
    ))
}

/// The shared summary of an `r=` value: sizes capped before and after inflating, then
/// validated field by field.
pub fn decode(value: &str) -> Result<Shared> {
    if value.len() > MAX_LINK_CHARS {
        return Err(Error::invalid(
            "r",
            shorten(value),
            "the results part is too long",
            format!("at most {MAX_LINK_CHARS} characters"),
        ));
    }
    let raw = b64_decode(value)?;
    let json = miniz_oxide::inflate::decompress_to_vec_with_limit(&raw, MAX_SHARED_BYTES).map_err(
        |e| {
            let reason = match e.status {
                miniz_oxide::inflate::TINFLStatus::HasMoreOutput => {
                    format!("inflates to more than {MAX_SHARED_BYTES} bytes")
                }
                _ => "not deflated data (truncated or corrupted)".into(),
            };
            Error::invalid(
                "r",
                shorten(value),
                &reason,
                "the deflated results summary the page or arq writes",
            )
        },
    )?;
    Shared::from_bytes(&json)
}

/// The link fragment (with '#') of settings plus results.
pub fn with_results(shared: &Shared) -> String {
    format!(
        "#{}&eng={}&r={}",
        shared.fragment,
        shared.engine,
        encode(shared)
    )
}

/// Reads the results of a link: None without `r=`; a bad `r=` or an `eng=` that does not
/// match its payload is an error naming the key; so is results of other settings.
pub fn results_of(parts: &LinkParts) -> Result<Option<Shared>> {
    let Some(r) = &parts.results else {
        return Ok(None);
    };
    let shared = decode(r)?;
    shared.check_link(&parts.settings, parts.engine.as_deref())?;
    Ok(Some(shared))
}
