//! A digit the user brings (drawn in the page or uploaded, or a file given to
//! `arq certify-digit`): the one preprocessing that turns any grayscale raster into an
//! MNIST-like 28 x 28 input, the simple file formats the CLI reads, and ([`job`]) the
//! certification of that input under the FP32 and the quantized model.
//!
//! Preprocessing follows how MNIST itself was made: white digit on black (a dark-on-light
//! image is inverted, decided by its border), the background level subtracted, cropped to the
//! ink's bounding box, scaled to fit 20 x 20 keeping the aspect ratio (area averaging), placed
//! in 28 x 28 with its centre of mass at the centre, and rounded to 8-bit levels like the
//! training digits (value / 255). Everything is integer or f64 arithmetic without fused
//! operations, so the page (wasm) and the CLI (native) get the same 784 bytes.

pub mod job;

use crate::error::{Error, Result};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Side of the model's input.
pub const SIDE: usize = 28;
/// The digit's bounding box is scaled to fit this square (as MNIST).
pub const FIT: usize = 20;
/// Smallest accepted raster side.
pub const MIN_SIDE: usize = 8;
/// Largest accepted raster side.
pub const MAX_SIDE: usize = 4096;
/// Smallest contrast (of 255) between the background and the brightest stroke.
pub const MIN_CONTRAST: u8 = 32;

/// The preprocessed digit and what was done to get it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct Digit {
    /// 28 x 28 gray levels, row-major, white digit on black (the input is value / 255).
    pub pixels: Vec<u8>,
    /// The raster was dark on light and got inverted.
    pub inverted: bool,
    /// The background level subtracted (0..=255, after inversion).
    pub background: u8,
    /// The ink's bounding box in the raster: x, y, width, height.
    pub bbox: [u32; 4],
    /// Size of the scaled digit inside the 28 x 28 field: width, height.
    pub scaled: [u32; 2],
    /// Where its top-left corner went in the field: x, y (centre of mass at the centre).
    pub offset: [u32; 2],
    /// The noise key of this input: the first 53 bits of SHA-256 of its pixels (so the
    /// same digit gets the same noise in the page and the CLI, and another digit other noise).
    pub key: u64,
}

impl Digit {
    /// The model's input: pixel / 255 in f32, as the training digits (`Dataset::image_f32`).
    pub fn input(&self) -> Vec<f32> {
        self.pixels
            .iter()
            .map(|&p| p as f32 * (1.0 / 255.0))
            .collect()
    }
}

/// The noise key of 784 digit bytes (53 bits, exact as a JS number).
pub fn digit_key(pixels: &[u8]) -> u64 {
    let mut h = Sha256::new();
    h.update(b"arq-digit-v1\0");
    h.update(pixels);
    let d = h.finalize();
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    u64::from_le_bytes(b) & ((1u64 << 53) - 1)
}

/// The raster's size must be MIN_SIDE..=MAX_SIDE on each side and match the data length.
pub fn check_size(width: usize, height: usize, len: usize, per_pixel: usize) -> Result<()> {
    let allowed = format!(
        "{MIN_SIDE}..={MAX_SIDE} pixels on each side, {}",
        if per_pixel == 1 {
            "one gray byte per pixel"
        } else {
            "four RGBA bytes per pixel"
        }
    );
    if !(MIN_SIDE..=MAX_SIDE).contains(&width) || !(MIN_SIDE..=MAX_SIDE).contains(&height) {
        let why = if width < MIN_SIDE || height < MIN_SIDE {
            "image too small to hold a digit"
        } else {
            "image too large"
        };
        return Err(Error::invalid(
            "image",
            format!("{width}x{height}"),
            why,
            &allowed,
        ));
    }
    if width
        .checked_mul(height)
        .and_then(|p| p.checked_mul(per_pixel))
        != Some(len)
    {
        return Err(Error::invalid(
            "image",
            format!("{len} bytes for {width}x{height}"),
            "data length does not match the size",
            &allowed,
        ));
    }
    Ok(())
}

/// Luminance of an sRGB pixel in 0..=255 (Rec. 601 weights, rounded).
fn luma(r: u8, g: u8, b: u8) -> u32 {
    (299 * r as u32 + 587 * g as u32 + 114 * b as u32 + 500) / 1000
}

/// An RGBA raster (as a canvas hands it out) to one gray byte per pixel. Transparent pixels
/// are composited over the background that contrasts with the opaque strokes: over black when
/// the opaque pixels are light on average, else over white (a digit drawn on a transparent
/// canvas keeps its strokes either way).
pub fn gray_from_rgba(rgba: &[u8], width: usize, height: usize) -> Result<Vec<u8>> {
    check_size(width, height, rgba.len(), 4)?;
    let px = rgba.chunks_exact(4);
    if px.clone().all(|p| p[3] == 255) {
        return Ok(px.map(|p| luma(p[0], p[1], p[2]) as u8).collect());
    }
    // mean luminance of the opaque-ish pixels, weighted by their alpha
    let (mut sum, mut weight) = (0u64, 0u64);
    for p in px.clone() {
        sum += luma(p[0], p[1], p[2]) as u64 * p[3] as u64;
        weight += p[3] as u64;
    }
    let bg: u32 = if weight > 0 && sum > 128 * weight {
        0
    } else {
        255
    };
    Ok(px
        .map(|p| {
            let a = p[3] as u32;
            ((luma(p[0], p[1], p[2]) * a + bg * (255 - a) + 127) / 255) as u8
        })
        .collect())
}

/// Median of a set of bytes (the lower one of the middle two).
fn median(values: impl Iterator<Item = u8>) -> u8 {
    let mut hist = [0u64; 256];
    let mut n = 0u64;
    for v in values {
        hist[v as usize] += 1;
        n += 1;
    }
    let mut seen = 0;
    for (v, &c) in hist.iter().enumerate() {
        seen += c;
        if 2 * seen >= n {
            return v as u8;
        }
    }
    255
}

/// The pixels on the raster's outer border.
fn border(gray: &[u8], w: usize, h: usize) -> impl Iterator<Item = u8> + '_ {
    (0..w * h)
        .filter(move |i| {
            let (x, y) = (i % w, i / w);
            x == 0 || y == 0 || x == w - 1 || y == h - 1
        })
        .map(move |i| gray[i])
}

/// Any gray raster (`width * height` bytes, row-major) to the MNIST-like 28 x 28 digit; a
/// raster without a stroke (no contrast with its border) is an error naming `image`.
pub fn preprocess(gray: &[u8], width: usize, height: usize) -> Result<Digit> {
    check_size(width, height, gray.len(), 1)?;
    let (w, h) = (width, height);
    // polarity from the border: a light border means dark ink on light paper
    let border_sum: u64 = border(gray, w, h).map(|v| v as u64).sum();
    let border_len = (2 * (w + h) - 4) as u64;
    let inverted = 2 * border_sum > 255 * border_len;
    let v = |i: usize| if inverted { 255 - gray[i] } else { gray[i] };
    let bg = median(border(gray, w, h).map(|g| if inverted { 255 - g } else { g }));
    let top = (0..w * h).map(v).max().unwrap_or(0);
    let contrast = top.saturating_sub(bg);
    if contrast < MIN_CONTRAST {
        return Err(Error::invalid(
            "image",
            format!("{w}x{h} with contrast {contrast} of 255"),
            "blank: no strokes stand out from the background",
            format!(
                "a digit whose strokes differ from the background by at least {MIN_CONTRAST} of 255"
            ),
        ));
    }
    let span = contrast as u32;
    // ink in 0..=span; the bounding box covers ink >= 10 % of the strongest stroke
    let ink = |i: usize| (v(i) as u32).saturating_sub(bg as u32);
    let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0, 0);
    for y in 0..h {
        for x in 0..w {
            if 10 * ink(y * w + x) >= span {
                x0 = x0.min(x);
                y0 = y0.min(y);
                x1 = x1.max(x + 1);
                y1 = y1.max(y + 1);
            }
        }
    }
    let (bw, bh) = (x1 - x0, y1 - y0);
    let long = bw.max(bh);
    // scaled size: the long side FIT, the short one in proportion (rounded, at least 1)
    let nw = ((bw * FIT + long / 2) / long).max(1);
    let nh = ((bh * FIT + long / 2) / long).max(1);
    // area averaging: output pixel (ox, oy) covers source [ox*bw/nw, (ox+1)*bw/nw) x ...
    let mut patch = vec![0f64; nw * nh];
    let (sx, sy) = (bw as f64 / nw as f64, bh as f64 / nh as f64);
    for oy in 0..nh {
        let (ya, yb) = (oy as f64 * sy, (oy + 1) as f64 * sy);
        for ox in 0..nw {
            let (xa, xb) = (ox as f64 * sx, (ox + 1) as f64 * sx);
            let mut acc = 0.0;
            for y in (ya.floor() as usize)..(yb.ceil() as usize).min(bh) {
                let cover_y = (yb.min((y + 1) as f64) - ya.max(y as f64)).max(0.0);
                for x in (xa.floor() as usize)..(xb.ceil() as usize).min(bw) {
                    let cover_x = (xb.min((x + 1) as f64) - xa.max(x as f64)).max(0.0);
                    acc += ink((y0 + y) * w + x0 + x) as f64 * (cover_x * cover_y);
                }
            }
            patch[oy * nw + ox] = acc / (sx * sy) / span as f64;
        }
    }
    // centre of mass of the patch, moved to the field's centre (whole pixels, kept inside)
    let (mut m, mut mx, mut my) = (0.0, 0.0, 0.0);
    for (i, &p) in patch.iter().enumerate() {
        m += p;
        mx += p * ((i % nw) as f64 + 0.5);
        my += p * ((i / nw) as f64 + 0.5);
    }
    let place = |com: f64, size: usize| -> usize {
        let at = (SIDE as f64 / 2.0 - com).round();
        at.clamp(0.0, (SIDE - size) as f64) as usize
    };
    let (ox, oy) = (place(mx / m, nw), place(my / m, nh));
    let mut pixels = vec![0u8; SIDE * SIDE];
    for y in 0..nh {
        for x in 0..nw {
            let p = (patch[y * nw + x] * 255.0).round().clamp(0.0, 255.0);
            pixels[(oy + y) * SIDE + ox + x] = p as u8;
        }
    }
    Ok(Digit {
        key: digit_key(&pixels),
        pixels,
        inverted,
        background: bg,
        bbox: [x0 as u32, y0 as u32, bw as u32, bh as u32],
        scaled: [nw as u32, nh as u32],
        offset: [ox as u32, oy as u32],
    })
}

/// A gray raster read from a file: `width * height` bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct Raster {
    /// Pixels per row.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// Gray levels 0..=255, row-major.
    pub gray: Vec<u8>,
}

const FORMATS: &str = "a PGM image (P2 or P5, any maxval up to 65535) or a CSV of gray levels 0..=255 (one image row per line, all rows the same length)";

/// A PGM (P2 plain or P5 binary) or CSV gray image, as the page's "Download this digit" writes
/// (P5) or any tool exports; every malformed file is an error naming `file`.
pub fn read_image(bytes: &[u8]) -> Result<Raster> {
    let bad = |what: &str| Error::invalid("file", what, "not a readable gray image", FORMATS);
    let raster = match bytes.get(..2) {
        Some(b"P5") | Some(b"P2") => read_pgm(bytes)?,
        Some(b"P1") | Some(b"P3") | Some(b"P4") | Some(b"P6") => {
            return Err(bad("a PBM/PPM file (P1, P3, P4 or P6)"))
        }
        _ if bytes.starts_with(b"\x89PNG") => {
            return Err(bad("a PNG file (use the page's upload, or convert to PGM)"))
        }
        _ if bytes.starts_with(b"\xff\xd8") => {
            return Err(bad(
                "a JPEG file (use the page's upload, or convert to PGM)",
            ))
        }
        _ if bytes.starts_with(b"GIF8") => {
            return Err(bad("a GIF file (use the page's upload, or convert to PGM)"))
        }
        _ => read_csv(bytes)?,
    };
    check_size(raster.width, raster.height, raster.gray.len(), 1)?;
    Ok(raster)
}

fn read_pgm(bytes: &[u8]) -> Result<Raster> {
    let bad = |why: String| Error::invalid("file", "a PGM file", &why, FORMATS);
    let binary = bytes[1] == b'5';
    // header: magic, width, height, maxval, separated by whitespace and # comments
    let mut pos = 2;
    let mut header = [0usize; 3];
    for (k, name) in ["width", "height", "maxval"].iter().enumerate() {
        loop {
            match bytes.get(pos) {
                Some(b'#') => {
                    while bytes.get(pos).is_some_and(|&c| c != b'\n') {
                        pos += 1;
                    }
                }
                Some(c) if c.is_ascii_whitespace() => pos += 1,
                _ => break,
            }
        }
        let start = pos;
        while bytes.get(pos).is_some_and(u8::is_ascii_digit) && pos - start < 9 {
            pos += 1;
        }
        let text = std::str::from_utf8(&bytes[start..pos]).unwrap_or("");
        header[k] = text
            .parse()
            .map_err(|_| bad(format!("header {name} is not a number of at most 8 digits")))?;
    }
    let [w, h, maxval] = header;
    if maxval == 0 || maxval > 65535 {
        return Err(bad(format!("maxval {maxval} outside 1..=65535")));
    }
    check_size(w, h, w * h, 1)?;
    let scale = |v: usize| ((v * 255 + maxval / 2) / maxval) as u8;
    let n = w * h;
    let gray = if binary {
        // exactly one whitespace byte after maxval, then the samples
        if !bytes.get(pos).is_some_and(u8::is_ascii_whitespace) {
            return Err(bad("no whitespace after the header".into()));
        }
        let data = &bytes[pos + 1..];
        let per = if maxval > 255 { 2 } else { 1 };
        if data.len() < n * per {
            return Err(bad(format!(
                "{} sample bytes for {w}x{h} (truncated; {} needed)",
                data.len(),
                n * per
            )));
        }
        let sample = |i: usize| match per {
            1 => data[i] as usize,
            _ => (data[2 * i] as usize) << 8 | data[2 * i + 1] as usize,
        };
        let mut g = Vec::with_capacity(n);
        for i in 0..n {
            let s = sample(i);
            if s > maxval {
                return Err(bad(format!("sample {s} above maxval {maxval}")));
            }
            g.push(scale(s));
        }
        g
    } else {
        let text = std::str::from_utf8(&bytes[pos..])
            .map_err(|_| bad("plain (P2) samples that are not text".into()))?;
        let mut g = Vec::with_capacity(n);
        for tok in text
            .lines()
            .map(|l| l.split('#').next().unwrap_or(""))
            .flat_map(str::split_ascii_whitespace)
        {
            let s: usize = tok
                .parse()
                .map_err(|_| bad(format!("sample '{}' is not a number", short(tok))))?;
            if s > maxval {
                return Err(bad(format!("sample {s} above maxval {maxval}")));
            }
            if g.len() == n {
                return Err(bad(format!("more than {n} samples for {w}x{h}")));
            }
            g.push(scale(s));
        }
        if g.len() != n {
            return Err(bad(format!("{} samples for {w}x{h} ({n} needed)", g.len())));
        }
        g
    };
    Ok(Raster {
        width: w,
        height: h,
        gray,
    })
}

fn short(s: &str) -> String {
    s.chars().take(20).collect()
}

fn read_csv(bytes: &[u8]) -> Result<Raster> {
    let bad = |why: String| Error::invalid("file", "a CSV file", &why, FORMATS);
    let text = std::str::from_utf8(bytes)
        .map_err(|_| bad("not a known image format and not text".into()))?;
    let mut gray = Vec::new();
    let (mut width, mut height) = (0, 0);
    for (row, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut count = 0;
        for tok in line.split([',', ';', ' ', '\t']).filter(|t| !t.is_empty()) {
            let v: u8 = tok.parse().map_err(|_| {
                bad(format!(
                    "line {}: '{}' is not a gray level 0..=255",
                    row + 1,
                    short(tok)
                ))
            })?;
            gray.push(v);
            count += 1;
        }
        if height == 0 {
            width = count;
        } else if count != width {
            return Err(bad(format!(
                "line {} has {count} values, the first row {width}",
                row + 1
            )));
        }
        height += 1;
        if height > MAX_SIDE || width > MAX_SIDE {
            return Err(bad(format!("more than {MAX_SIDE} rows or columns")));
        }
    }
    if height == 0 {
        return Err(bad("no rows".into()));
    }
    Ok(Raster {
        width,
        height,
        gray,
    })
}

/// A gray raster as a binary PGM (P5, maxval 255): what the page's download writes.
pub fn write_pgm(gray: &[u8], width: usize, height: usize) -> Vec<u8> {
    let mut out = format!("P5\n{width} {height}\n255\n").into_bytes();
    out.extend_from_slice(gray);
    out
}

#[cfg(test)]
mod tests;
