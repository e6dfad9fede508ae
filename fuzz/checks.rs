//! What the fuzz targets check, one function per target. Shared by the libFuzzer targets
//! (fuzz/fuzz_targets/*.rs, nightly) and the stable corpus replay (tests/fuzz_corpus.rs), which
//! both include this file by path. Each function takes arbitrary bytes and panics only when a
//! parser panics or breaks one of its promises (an accepted input must round-trip, an error
//! must say something).

use arq::config::ExperimentConfig;
use arq::data::{hex, Dataset, CLASSES};
use arq::nn::checkpoint;
use arq::quant::policy::{Bits, Policy};
use sha2::{Digest, Sha256};

/// The URL fragment / config parser: strict and lenient, `set`, and the policy the config
/// describes. Every accepted config's canonical fragment must parse strictly to itself.
pub fn fragment(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let strict = ExperimentConfig::from_fragment(&text);
    let (lenient, notices) = ExperimentConfig::from_fragment_lenient(&text);
    for n in &notices {
        assert!(!n.to_string().is_empty(), "empty notice for {text:?}");
    }
    // the lenient result is always usable: valid, and canonical
    config_round_trip(&lenient);
    match &strict {
        Ok(c) => {
            assert!(notices.is_empty(), "strict ok, lenient {notices:?}");
            assert_eq!(c, &lenient, "strict and lenient disagree on {text:?}");
        }
        // the strict error is the lenient parser's first notice
        Err(e) => assert_eq!(Some(e), notices.first(), "for {text:?}"),
    }
    // one raw key=value through `set`
    if let Some((k, v)) = text.split_once('=') {
        let mut c = ExperimentConfig::default();
        match c.set(k, v) {
            Ok(()) => {
                assert!(c.get(k).is_some());
                if c.check().is_ok() {
                    config_round_trip(&c);
                }
            }
            Err(e) => assert!(e.to_string().contains(k), "{e} does not name {k:?}"),
        }
    }
    config_policy(&lenient);
}

fn config_round_trip(c: &ExperimentConfig) {
    c.check().expect("an accepted config passes its own checks");
    let f = c.to_fragment();
    let again = ExperimentConfig::from_fragment(&f)
        .unwrap_or_else(|e| panic!("canonical fragment {f:?} does not parse: {e}"));
    assert_eq!(&again, c, "round trip through {f:?}");
    assert_eq!(again.to_fragment(), f, "canonical form is not stable");
    assert_eq!(
        ExperimentConfig::from_fragment(&format!("#{f}")).as_ref(),
        Ok(c)
    );
    if *c == ExperimentConfig::default() {
        assert_eq!(f, "v=2", "a default config must print as v=2");
    }
}

/// Whatever `wb`/`ab`/`lk` the config accepts is a policy for a model whose layer count
/// matches the lists, and a clear error (no panic) for any other count.
fn config_policy(c: &ExperimentConfig) {
    let lists = [c.wb.to_string(), c.ab.to_string(), c.locks.to_string()];
    let counts: Vec<usize> = [c.wb.bits().len(), c.ab.bits().len(), c.locks.0.len()]
        .into_iter()
        .filter(|&k| k > 0)
        .collect();
    let n = counts.iter().copied().max().unwrap_or(5);
    for layers in [1, 3, 5, n] {
        let r = c.policy(layers);
        let fits = counts.iter().all(|&k| k == 1 || k == layers);
        match r {
            Ok(p) => {
                assert!(fits, "{layers} layers accepted {lists:?}");
                assert_eq!(p.len(), layers);
            }
            Err(e) => {
                assert!(
                    !fits,
                    "config lists {lists:?} rejected for {layers} layers: {e}"
                );
            }
        }
    }
}

/// The policy text: the first byte picks the layer count (0..=16), the rest is the text.
/// Accepted policies have that many layers and round-trip through their canonical form.
pub fn policy(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let layers = (first % 17) as usize;
    let text = String::from_utf8_lossy(rest);
    if let Ok(p) = Policy::parse_fragment(&text, layers) {
        policy_round_trip(&p, layers);
    }
    // the lists on their own: wb|ab|lk
    let mut parts = text.splitn(3, '|');
    let wb = parts.next().unwrap_or("");
    let ab = parts.next().unwrap_or(wb);
    match Policy::parse(wb, ab, layers) {
        Ok(mut p) => {
            policy_round_trip(&p, layers);
            if let Some(lk) = parts.next() {
                match p.parse_locks(lk) {
                    Ok(()) => policy_round_trip(&p, layers),
                    Err(e) => assert!(e.to_string().contains("lk="), "{e}"),
                }
            }
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
    // single values: the policy parser and the config schema agree on what a bit width is
    for item in text.split([',', '&', '|', ';']) {
        let bits = Bits::parse("wb", item);
        let mut c = ExperimentConfig::default();
        let schema = c.set("wb", item);
        if item.trim().is_empty() {
            assert!(schema.is_ok() && bits.is_err(), "{item:?}");
            continue;
        }
        assert_eq!(
            bits.is_ok(),
            schema.is_ok(),
            "{item:?}: {bits:?} vs {schema:?}"
        );
        if let Ok(b) = bits {
            assert!(matches!(b.get(), 2..=8 | 32), "{b:?}");
            assert_eq!(Bits::parse("wb", &b.to_string()), Ok(b));
            let mut d = b;
            while let Some(next) = d.dec(Bits::MIN) {
                assert!(next < d);
                d = next;
            }
            assert_eq!(d, Bits::MIN);
        }
    }
}

fn policy_round_trip(p: &Policy, layers: usize) {
    assert!(layers >= 1, "a policy for 0 layers");
    assert_eq!(p.len(), layers);
    let f = p.to_fragment();
    let q = Policy::parse_fragment(&f, layers)
        .unwrap_or_else(|e| panic!("canonical policy {f:?} does not parse: {e}"));
    assert_eq!(&q, p, "round trip through {f:?}");
    assert_eq!(q.to_fragment(), f);
}

/// The checkpoint loader on the bytes as they are, and on the bytes with a valid trailing
/// SHA-256 appended, so that the fuzzer reaches the header and parameter parsing behind the
/// checksum. A loaded checkpoint is consistent and survives save + load unchanged.
pub fn checkpoint(data: &[u8]) {
    let _ = checkpoint::short_hash(data);
    checkpoint_bytes(data);
    let mut sealed = data.to_vec();
    sealed.extend_from_slice(&Sha256::digest(data));
    checkpoint_bytes(&sealed);
}

fn checkpoint_bytes(bytes: &[u8]) {
    let (model, info) = match checkpoint::load(bytes) {
        Ok(ok) => ok,
        Err(e) => {
            assert!(e.to_string().starts_with("checkpoint: "), "{e}");
            return;
        }
    };
    assert_eq!(info.hash, hex(&Sha256::digest(&bytes[..bytes.len() - 32])));
    assert_eq!(model.param_count(), info.meta.params);
    let params = model.params_flat();
    assert!(params.iter().all(|p| p.is_finite()));
    let mut c = ExperimentConfig::default();
    c.set("model", &info.meta.model)
        .expect("a loaded model is a schema model");
    c.set("sigma", &info.meta.sigma.to_string())
        .expect("a loaded sigma is a schema sigma");
    let again = checkpoint::save(&model, &info.meta);
    let (model2, info2) = checkpoint::load(&again).expect("a re-saved checkpoint loads");
    assert_eq!(info2.meta, info.meta);
    assert_eq!(model2.params_flat(), params);
}

/// The MNU8 dataset loader: the verified loader (the fuzzer cannot match its checksum, but
/// it must not panic) and the structural parse behind it, whose result must be consistent.
pub fn dataset(data: &[u8]) {
    if let Err(e) = Dataset::mnist_from_bytes(data) {
        assert!(e.to_string().starts_with("MNIST data file: "), "{e}");
    }
    let d = match Dataset::parse_mnu8(data) {
        Ok(d) => d,
        Err(e) => {
            assert!(e.to_string().starts_with("MNIST data file: "), "{e}");
            return;
        }
    };
    assert!(!d.is_empty());
    assert_eq!(d.pixels.len(), d.len() * d.image_len());
    assert_eq!(data.len(), 12 + d.len() * (1 + d.image_len()));
    assert!(d.labels.iter().all(|&l| (l as usize) < CLASSES));
    assert!(d.train_count <= d.len());
    assert_eq!(
        d.split_len(arq::data::Split::Train) + d.test_count(),
        d.len()
    );
    let mut img = vec![0f32; d.image_len()];
    for i in [0, d.len() - 1] {
        assert_eq!(d.image_u8(i).len(), d.image_len());
        d.image_f32(i, &mut img);
        assert!(img.iter().all(|p| (0.0..=1.0).contains(p)));
    }
}
