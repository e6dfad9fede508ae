//! Shared fixtures for the tests/quant_*.rs integration tests: the synthetic dataset, a lenet
//! briefly trained on it with noise augmentation, and noisy input batches.
#![allow(dead_code)]

use arq::data::{Dataset, Split};
use arq::nn::optim::OptKind;
use arq::nn::{Model, TrainConfig, Trainer};
use arq::rng::Stream;

/// 2,000 procedural images: 1,600 train, 400 test.
pub fn synth() -> Dataset {
    Dataset::synthetic(2000, 7)
}

/// lenet trained for `epochs` epochs on the synthetic set with Gaussian noise at `sigma`.
pub fn trained_lenet(data: &Dataset, sigma: f32, epochs: usize) -> Model {
    trained(data, "lenet", sigma, epochs)
}

/// Zoo model `name` trained for `epochs` epochs on the synthetic set with noise at `sigma`.
pub fn trained(data: &Dataset, name: &str, sigma: f32, epochs: usize) -> Model {
    let cfg = TrainConfig {
        epochs,
        batch: 32,
        lr: 3e-3,
        opt: OptKind::Adam { weight_decay: 0.0 },
        sigma,
        train_size: usize::MAX,
        shift: 0,
        seed: 1,
    };
    let mut m = Model::zoo(name, 1).unwrap();
    let mut t = Trainer::new(cfg, &mut m, data);
    while !t.is_done() {
        t.step(&mut m, data, 1000);
    }
    m
}

/// `n` test images (cycling through the split) with N(0, sigma^2) noise from stream `seed`.
pub fn noisy_batch(data: &Dataset, n: usize, sigma: f32, seed: u64) -> Vec<f32> {
    let il = data.image_len();
    let mut rng = Stream::new(seed, "quant-test-batch");
    let mut x = vec![0.0; n * il];
    for i in 0..n {
        let r = data.index(Split::Test, i % data.test_count());
        data.image_f32(r, &mut x[i * il..(i + 1) * il]);
        for v in &mut x[i * il..(i + 1) * il] {
            *v += sigma * rng.normal();
        }
    }
    x
}
