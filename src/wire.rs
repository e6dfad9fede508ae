//! A compact binary encoding of the data a pool of workers hands around (certification parts,
//! IRS tasks and parts): little-endian fixed-width numbers, f64/f32 as their exact bits,
//! length-prefixed lists and strings. Hand-written instead of derived serde code because the
//! page's wasm module pays for every derived (de)serializer in bytes (issue 10), and because
//! f64s then cross bit for bit with no float printing or parsing at all.
//!
//! Not a file format: both ends are the same engine build, and every message starts with a
//! magic that names its kind and version.

use crate::certify::irs::{Branch, CacheEntry, IrsCache, IrsRecord};
use crate::certify::{CertRecord, Example, Prediction};
use crate::job::Part;
use crate::pipeline::Points;

/// Appends values to a byte buffer.
#[derive(Default)]
pub(crate) struct Writer(pub Vec<u8>);

impl Writer {
    pub fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    pub fn bool(&mut self, v: bool) {
        self.0.push(v as u8);
    }
    pub fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub fn f64(&mut self, v: f64) {
        self.u64(v.to_bits());
    }
    /// A list length (lists and strings of up to 2^32 - 1 items).
    pub fn len(&mut self, n: usize) {
        self.u32(u32::try_from(n).expect("a list of fewer than 2^32 items"));
    }
    pub fn str(&mut self, s: &str) {
        self.len(s.len());
        self.0.extend_from_slice(s.as_bytes());
    }
    pub fn bytes(&mut self, b: &[u8]) {
        self.len(b.len());
        self.0.extend_from_slice(b);
    }
    pub fn f32s(&mut self, v: &[f32]) {
        self.len(v.len());
        for x in v {
            self.0.extend_from_slice(&x.to_le_bytes());
        }
    }
    pub fn opt_u64(&mut self, v: Option<u64>) {
        self.bool(v.is_some());
        if let Some(v) = v {
            self.u64(v);
        }
    }
    pub fn opt_f64(&mut self, v: Option<f64>) {
        self.bool(v.is_some());
        if let Some(v) = v {
            self.f64(v);
        }
    }
    pub fn list<T: Wire>(&mut self, v: &[T]) {
        self.len(v.len());
        for x in v {
            x.put(self);
        }
    }
}

/// Why bytes do not decode (the callers wrap it in an error naming the field).
pub(crate) type WireResult<T> = std::result::Result<T, &'static str>;

/// Reads values back in the order a [`Writer`] wrote them.
pub(crate) struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(b: &'a [u8]) -> Reader<'a> {
        Reader { b }
    }
    fn take(&mut self, n: usize) -> WireResult<&'a [u8]> {
        if n > self.b.len() {
            return Err("truncated");
        }
        let (head, rest) = self.b.split_at(n);
        self.b = rest;
        Ok(head)
    }
    /// Checks that a message starts with `magic`.
    pub fn magic(&mut self, magic: &[u8]) -> WireResult<()> {
        match self.take(magic.len()) {
            Ok(m) if m == magic => Ok(()),
            _ => Err("no header"),
        }
    }
    /// Checks that nothing follows the message.
    pub fn end(&self) -> WireResult<()> {
        if self.b.is_empty() {
            Ok(())
        } else {
            Err("trailing bytes")
        }
    }
    pub fn u8(&mut self) -> WireResult<u8> {
        Ok(self.take(1)?[0])
    }
    pub fn bool(&mut self) -> WireResult<bool> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err("bad flag"),
        }
    }
    pub fn u32(&mut self) -> WireResult<u32> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    pub fn u64(&mut self) -> WireResult<u64> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    pub fn f64(&mut self) -> WireResult<f64> {
        Ok(f64::from_bits(self.u64()?))
    }
    /// A list length, checked against the bytes left at `min` bytes per item.
    pub fn len(&mut self, min: usize) -> WireResult<usize> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min) > self.b.len() {
            return Err("truncated");
        }
        Ok(n)
    }
    pub fn str(&mut self) -> WireResult<String> {
        let n = self.len(1)?;
        let b = self.take(n)?;
        String::from_utf8(b.to_vec()).map_err(|_| "a string is not UTF-8")
    }
    pub fn bytes(&mut self) -> WireResult<Vec<u8>> {
        let n = self.len(1)?;
        Ok(self.take(n)?.to_vec())
    }
    pub fn f32s(&mut self) -> WireResult<Vec<f32>> {
        let n = self.len(4)?;
        Ok(self
            .take(4 * n)?
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect())
    }
    pub fn opt_u64(&mut self) -> WireResult<Option<u64>> {
        Ok(if self.bool()? {
            Some(self.u64()?)
        } else {
            None
        })
    }
    pub fn opt_f64(&mut self) -> WireResult<Option<f64>> {
        Ok(if self.bool()? {
            Some(self.f64()?)
        } else {
            None
        })
    }
    pub fn list<T: Wire>(&mut self) -> WireResult<Vec<T>> {
        let n = self.len(1)?;
        (0..n).map(|_| T::get(self)).collect()
    }
}

/// A value with a binary encoding.
pub(crate) trait Wire: Sized {
    fn put(&self, w: &mut Writer);
    fn get(r: &mut Reader) -> WireResult<Self>;
}

impl Wire for Part {
    fn put(&self, w: &mut Writer) {
        w.u32(self.index);
        w.u32(self.count);
    }
    fn get(r: &mut Reader) -> WireResult<Self> {
        Ok(Part {
            index: r.u32()?,
            count: r.u32()?,
        })
    }
}

impl Wire for Points {
    fn put(&self, w: &mut Writer) {
        w.u8(match self {
            Points::Report => 0,
            Points::Search => 1,
            Points::Final => 2,
        });
    }
    fn get(r: &mut Reader) -> WireResult<Self> {
        match r.u8()? {
            0 => Ok(Points::Report),
            1 => Ok(Points::Search),
            2 => Ok(Points::Final),
            _ => Err("bad point set"),
        }
    }
}

impl Wire for Prediction {
    /// 0 = abstain, 1 + c = class c.
    fn put(&self, w: &mut Writer) {
        match self {
            Prediction::Abstain => w.bool(false),
            Prediction::Class(c) => {
                w.bool(true);
                w.u8(*c);
            }
        }
    }
    fn get(r: &mut Reader) -> WireResult<Self> {
        Ok(if r.bool()? {
            Prediction::Class(r.u8()?)
        } else {
            Prediction::Abstain
        })
    }
}

impl Wire for Branch {
    fn put(&self, w: &mut Writer) {
        w.u8(match self {
            Branch::Incremental => 0,
            Branch::Fallback => 1,
            Branch::Skipped => 2,
        });
    }
    fn get(r: &mut Reader) -> WireResult<Self> {
        match r.u8()? {
            0 => Ok(Branch::Incremental),
            1 => Ok(Branch::Fallback),
            2 => Ok(Branch::Skipped),
            _ => Err("bad IRS branch"),
        }
    }
}

impl Wire for CertRecord {
    fn put(&self, w: &mut Writer) {
        w.u64(self.index);
        w.u8(self.label);
        self.prediction.put(w);
        w.u64(self.count);
        w.u64(self.n);
        w.f64(self.p_lower);
        w.f64(self.radius);
        w.bool(self.correct);
        w.u64(self.samples);
        w.opt_u64(self.micros);
    }
    fn get(r: &mut Reader) -> WireResult<Self> {
        Ok(CertRecord {
            index: r.u64()?,
            label: r.u8()?,
            prediction: Prediction::get(r)?,
            count: r.u64()?,
            n: r.u64()?,
            p_lower: r.f64()?,
            radius: r.f64()?,
            correct: r.bool()?,
            samples: r.u64()?,
            micros: r.opt_u64()?,
        })
    }
}

impl Wire for IrsRecord {
    fn put(&self, w: &mut Writer) {
        w.u64(self.index);
        w.u8(self.label);
        self.prediction.put(w);
        self.branch.put(w);
        w.u64(self.n_p);
        w.opt_u64(self.disagreements);
        w.opt_f64(self.zeta_up);
        w.opt_u64(self.count);
        w.f64(self.p_lower);
        w.f64(self.radius);
        w.bool(self.correct);
        w.u64(self.samples);
        w.opt_u64(self.micros);
    }
    fn get(r: &mut Reader) -> WireResult<Self> {
        Ok(IrsRecord {
            index: r.u64()?,
            label: r.u8()?,
            prediction: Prediction::get(r)?,
            branch: Branch::get(r)?,
            n_p: r.u64()?,
            disagreements: r.opt_u64()?,
            zeta_up: r.opt_f64()?,
            count: r.opt_u64()?,
            p_lower: r.f64()?,
            radius: r.f64()?,
            correct: r.bool()?,
            samples: r.u64()?,
            micros: r.opt_u64()?,
        })
    }
}

impl Wire for Example {
    fn put(&self, w: &mut Writer) {
        w.u64(self.index);
        w.f32s(&self.input);
        w.u8(self.label);
    }
    fn get(r: &mut Reader) -> WireResult<Self> {
        Ok(Example {
            index: r.u64()?,
            input: r.f32s()?,
            label: r.u8()?,
        })
    }
}

impl Wire for CacheEntry {
    fn put(&self, w: &mut Writer) {
        self.example.put(w);
        self.prediction.put(w);
        w.u64(self.count);
        w.f64(self.p_lower);
        w.bytes(&self.preds);
    }
    fn get(r: &mut Reader) -> WireResult<Self> {
        Ok(CacheEntry {
            example: Example::get(r)?,
            prediction: Prediction::get(r)?,
            count: r.u64()?,
            p_lower: r.f64()?,
            preds: r.bytes()?,
        })
    }
}

impl Wire for IrsCache {
    fn put(&self, w: &mut Writer) {
        w.str(&self.estimate_purpose);
        w.f64(self.sigma);
        w.u64(self.seed);
        w.u64(self.n0);
        w.u64(self.n);
        w.f64(self.alpha);
        w.u64(self.n_keep);
        w.list(&self.entries);
    }
    fn get(r: &mut Reader) -> WireResult<Self> {
        Ok(IrsCache {
            estimate_purpose: r.str()?,
            sigma: r.f64()?,
            seed: r.u64()?,
            n0: r.u64()?,
            n: r.u64()?,
            alpha: r.f64()?,
            n_keep: r.u64()?,
            entries: r.list()?,
        })
    }
}

impl<T: Wire> Wire for Option<T> {
    fn put(&self, w: &mut Writer) {
        w.bool(self.is_some());
        if let Some(v) = self {
            v.put(w);
        }
    }
    fn get(r: &mut Reader) -> WireResult<Self> {
        Ok(if r.bool()? { Some(T::get(r)?) } else { None })
    }
}

/// `magic` followed by `v`'s encoding.
pub(crate) fn encode<T: Wire>(magic: &[u8], v: &T) -> Vec<u8> {
    let mut w = Writer(magic.to_vec());
    v.put(&mut w);
    w.0
}

/// The value of bytes from [`encode`] with the same `magic`, with nothing left over.
pub(crate) fn decode<T: Wire>(magic: &[u8], bytes: &[u8]) -> WireResult<T> {
    let mut r = Reader::new(bytes);
    r.magic(magic)?;
    let v = T::get(&mut r)?;
    r.end()?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(i: u64) -> CacheEntry {
        CacheEntry {
            example: Example {
                index: i,
                input: vec![0.1, -0.0, f32::MIN_POSITIVE, 1.0 / 3.0],
                label: 7,
            },
            prediction: if i % 2 == 0 {
                Prediction::Class(3)
            } else {
                Prediction::Abstain
            },
            count: 999,
            p_lower: 0.1 + 0.2,
            preds: vec![0, 9, 255],
        }
    }

    #[test]
    fn round_trips_bit_for_bit() {
        let cache = IrsCache {
            estimate_purpose: "estimate\u{e9}".into(),
            sigma: 0.25,
            seed: u64::MAX,
            n0: 100,
            n: 10_000,
            alpha: 1e-3,
            n_keep: 3,
            entries: (0..3).map(entry).collect(),
        };
        let b = encode(b"TEST", &Some(cache.clone()));
        assert_eq!(decode::<Option<IrsCache>>(b"TEST", &b), Ok(Some(cache)));
        let rec = IrsRecord {
            index: 5,
            label: 1,
            prediction: Prediction::Class(1),
            branch: Branch::Fallback,
            n_p: 7,
            disagreements: None,
            zeta_up: Some(f64::MIN_POSITIVE),
            count: Some(3),
            p_lower: std::f64::consts::PI,
            radius: -0.0,
            correct: true,
            samples: 12,
            micros: None,
        };
        let mut w = Writer::default();
        w.list(std::slice::from_ref(&rec));
        let back: Vec<IrsRecord> = Reader::new(&w.0).list().unwrap();
        assert_eq!(back[0].radius.to_bits(), (-0.0f64).to_bits());
        assert_eq!(back, vec![rec]);
    }

    #[test]
    fn rejects_bad_bytes() {
        let b = encode(b"TEST", &Part { index: 1, count: 2 });
        assert_eq!(decode::<Part>(b"NOPE", &b), Err("no header"));
        assert_eq!(decode::<Part>(b"TEST", &b[..b.len() - 1]), Err("truncated"));
        let mut long = b.clone();
        long.push(0);
        assert_eq!(decode::<Part>(b"TEST", &long), Err("trailing bytes"));
        // a huge list length is refused before anything is allocated
        let mut w = Writer::default();
        w.u32(u32::MAX);
        assert_eq!(Reader::new(&w.0).list::<Part>(), Err("truncated"));
    }
}
