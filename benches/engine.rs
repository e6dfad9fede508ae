//! Native throughput benchmarks (divan): `cargo bench --bench engine` (make bench).
//! Items are images (forward, training) or noisy samples (certification), so divan prints
//! items/s directly comparable with the README's performance tables.

use arq::certify::{CertifyJob, Example, SmoothParams};
use arq::config::ExperimentConfig;
use arq::data::{Dataset, Split};
use arq::experiment::{JobKind, JobSpec, Session};
use arq::nn::Model;
use arq::rng::NoiseSource;
use divan::counter::ItemsCount;
use divan::{black_box, Bencher};

fn main() {
    divan::main();
}

fn mnist() -> Vec<u8> {
    std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/data/mnist10k.u8"))
        .expect("data/mnist10k.u8")
}

fn test_batch(n: usize) -> Vec<f32> {
    let d = Dataset::mnist_from_bytes(&mnist()).unwrap();
    let mut x = vec![0.0; n * 784];
    for i in 0..n {
        d.image_f32(
            d.index(Split::Test, i % d.test_count()),
            &mut x[i * 784..(i + 1) * 784],
        );
    }
    x
}

#[divan::bench(args = ["lenet", "cnn3", "resnet"], consts = [1, 1000], sample_count = 10)]
fn forward<const B: usize>(bencher: Bencher, model: &str) {
    let m = Model::zoo(model, 1).unwrap();
    let x = test_batch(B);
    bencher
        .counter(ItemsCount::new(B))
        .bench(|| black_box(m.forward(black_box(&x), B)));
}

/// Gaussian noise for 1,000 images plus their forward pass: what certification spends time on.
#[divan::bench(args = ["lenet", "cnn3", "resnet"], sample_count = 10)]
fn noise_forward_1000(bencher: Bencher, model: &str) {
    let m = Model::zoo(model, 1).unwrap();
    let clean = test_batch(1);
    let src = NoiseSource::new(1, "bench");
    let mut x = vec![0.0; 1000 * 784];
    let mut z = vec![0.0; 784];
    bencher.counter(ItemsCount::new(1000usize)).bench_local(|| {
        for j in 0..1000 {
            src.fill(0, j as u64, &mut z);
            for ((o, &c), &zv) in x[j * 784..(j + 1) * 784].iter_mut().zip(&clean).zip(&z) {
                *o = c + 0.25 * zv;
            }
        }
        black_box(m.forward(&x, 1000))
    });
}

/// Noise generation alone (counter-based ChaCha8 + Box-Muller), 1,000 images of 784 draws.
#[divan::bench(sample_count = 10)]
fn noise_only_1000(bencher: Bencher) {
    let src = NoiseSource::new(1, "bench");
    let mut z = vec![0.0; 784];
    bencher.counter(ItemsCount::new(1000usize)).bench_local(|| {
        for j in 0..1000 {
            src.fill(0, j, &mut z);
        }
        black_box(z[0])
    });
}

/// Noise-augmented training: 20 batches of 64 images (the 21st batch, whose epoch end would
/// add a test evaluation, is not run).
#[divan::bench(args = ["lenet", "cnn3"], sample_count = 5)]
fn train_1280_images(bencher: Bencher, model: &str) {
    let bytes = mnist();
    bencher.counter(ItemsCount::new(1280usize)).bench_local(|| {
        let cfg = ExperimentConfig::from_fragment(&format!(
            "v=1&model={model}&batch=64&train=1344&epochs=1"
        ))
        .unwrap();
        let mut s = Session::new(cfg, Some(&bytes)).unwrap();
        s.begin(JobSpec::Train).unwrap();
        black_box(s.step(JobKind::Train, 20, &mut || 0).unwrap())
    });
}

/// Cohen-style CERTIFY of one image, n0 = 100, n = 10,000, batch 1,000 (the README's
/// PyTorch reference: lenet 0.40 s, cnn3 0.99 s).
#[divan::bench(args = ["lenet", "cnn3"], sample_count = 3)]
fn certify_one_image_n10000(bencher: Bencher, model: &str) {
    let mut m = Model::zoo(model, 1).unwrap();
    let x = test_batch(1);
    bencher
        .counter(ItemsCount::new(10_100usize))
        .bench_local(|| {
            let params = SmoothParams {
                sigma: 0.25,
                n0: 100,
                n: 10_000,
                alpha: 0.001,
                batch: 1000,
                seed: 1,
            };
            let mut job = CertifyJob::new(
                params,
                vec![Example {
                    index: 0,
                    input: x.clone(),
                    label: 0,
                }],
            );
            black_box(job.step(&mut m, u64::MAX))
        });
}

/// The integer path (i16 codes, i32 accumulation) against the f32 forward, batch 1,000,
/// per uniform bit width ("f32" = the float model).
#[divan::bench(args = ["f32", "w8a8", "w4a4", "w2a2"], sample_count = 5)]
fn int_forward_lenet_1000(bencher: Bencher, preset: &str) {
    use arq::certify::BaseClassifier;
    use arq::quant::{calibrate, CalibConfig, IntModel, Preset, QuantConfig, QuantizedModel};
    let d = Dataset::mnist_from_bytes(&mnist()).unwrap();
    let m = Model::zoo("lenet", 1).unwrap();
    let x = test_batch(1000);
    let mut out = vec![0u8; 1000];
    if preset == "f32" {
        let mut f = m.clone();
        bencher
            .counter(ItemsCount::new(1000usize))
            .bench_local(|| f.classify(black_box(&x), 1000, &mut out));
        return;
    }
    let calib = calibrate(&m, &d, &CalibConfig::new(256, 0.25, 1));
    let policy = Preset::parse(preset).unwrap().policy(5);
    let q = QuantizedModel::new(&m, &policy, &calib, &QuantConfig::default()).unwrap();
    let mut int = IntModel::new(&q).unwrap();
    bencher
        .counter(ItemsCount::new(1000usize))
        .bench_local(|| int.classify(black_box(&x), 1000, &mut out));
}
