//! Accuracy of the quantized paths and quantization-aware fine-tuning on the synthetic set:
//! W8A8 within 1 % of FP32, QAT recovering a W2A2 model, the straight-through estimator,
//! and step-driven, resumable fine-tuning.

mod quant_common;

use arq::certify::BaseClassifier;
use arq::data::{Dataset, Split};
use arq::nn::model::softmax_xent;
use arq::nn::Model;
use arq::quant::{
    accuracy, calibrate, CalibConfig, Calibration, IntModel, Policy, Preset, QatConfig, QatTrainer,
    QuantConfig, QuantizedModel,
};
use quant_common::{noisy_batch, synth, trained_lenet};
use std::sync::OnceLock;

/// W8A8 may cost at most one percentage point of accuracy.
const W8A8_DROP: f32 = 0.01;

struct Fixture {
    data: Dataset,
    model: Model,
    cal: Calibration,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let data = synth();
        let model = trained_lenet(&data, 0.25, 3);
        let cal = calibrate(&model, &data, &CalibConfig::new(256, 0.25, 3));
        Fixture { data, model, cal }
    })
}

fn noisy_accuracy<F: BaseClassifier>(f: &mut F, d: &Dataset, n: usize, sigma: f32) -> f32 {
    let x = noisy_batch(d, n, sigma, 21);
    let mut p = vec![0u8; n];
    f.classify(&x, n, &mut p);
    let ok = (0..n)
        .filter(|&i| p[i] == d.labels[d.index(Split::Test, i % d.test_count())])
        .count();
    ok as f32 / n as f32
}

#[test]
fn w8a8_within_one_percent_of_fp32() {
    let f = fixture();
    let mut fp = f.model.clone();
    let p = Preset::W8a8.policy(5);
    let mut q = QuantizedModel::new(&f.model, &p, &f.cal, &QuantConfig::default()).unwrap();
    let mut int = IntModel::new(&q).unwrap();
    let clean = accuracy(&mut fp, &f.data, Split::Test);
    assert!(clean > 0.9, "the fixture should be trained: {clean}");
    for (name, acc) in [
        ("fake-quant", accuracy(&mut q, &f.data, Split::Test)),
        ("integer", accuracy(&mut int, &f.data, Split::Test)),
    ] {
        assert!(clean - acc <= W8A8_DROP, "{name}: {acc} vs FP32 {clean}");
    }
    let noisy_fp = noisy_accuracy(&mut fp, &f.data, 800, 0.25);
    let noisy_int = noisy_accuracy(&mut int, &f.data, 800, 0.25);
    assert!(
        noisy_fp - noisy_int <= W8A8_DROP,
        "{noisy_int} vs {noisy_fp}"
    );
}

fn qat(policy: &Policy, epochs: usize, lr: f32, chunk: usize) -> (Model, QuantizedModel) {
    let f = fixture();
    let mut m = f.model.clone();
    let mut cfg = QatConfig::new(0.25, 5);
    (cfg.epochs, cfg.lr) = (epochs, lr);
    let mut t = QatTrainer::new(cfg, policy, &f.cal, &mut m, &f.data).unwrap();
    let mut last = 0;
    loop {
        let p = t.step(&mut m, &f.data, chunk);
        assert!(p.batches_done > last && p.loss.is_finite());
        last = p.batches_done;
        if p.done {
            assert_eq!(t.history().len(), epochs);
            break;
        }
    }
    (m, t.into_quantized())
}

#[test]
fn qat_recovers_a_w2a2_model() {
    let f = fixture();
    let p = Preset::W2a2.policy(5);
    let mut ptq = QuantizedModel::new(&f.model, &p, &f.cal, &QuantConfig::default()).unwrap();
    let before = accuracy(&mut ptq, &f.data, Split::Test);
    let (_, mut q) = qat(&p, 2, 3e-3, 10);
    let after = accuracy(&mut q, &f.data, Split::Test);
    let after_int = accuracy(&mut IntModel::new(&q).unwrap(), &f.data, Split::Test);
    println!(
        "W2A2 clean accuracy: post-training {before}, after QAT {after} (integer {after_int})"
    );
    // Measured: 0.58 -> 0.93 (integer path identical).
    assert!(
        after >= before + 0.15 && after >= 0.85,
        "{before} -> {after}"
    );
    assert!((after - after_int).abs() <= 0.005, "{after} vs {after_int}");
}

#[test]
fn qat_is_step_driven_and_resumable() {
    let p = Policy::parse("4,3,3,3,4", "4,3,3,3,4", 5).unwrap();
    let (m1, q1) = qat(&p, 1, 1e-3, 1);
    let (m2, q2) = qat(&p, 1, 1e-3, 7);
    let bits = |v: Vec<f32>| v.into_iter().map(f32::to_bits).collect::<Vec<_>>();
    assert_eq!(bits(m1.params_flat()), bits(m2.params_flat()));
    assert!(q1.weights.iter().zip(&q2.weights).all(|(a, b)| a == b));
    assert_ne!(bits(m1.params_flat()), bits(fixture().model.params_flat()));
}

#[test]
fn straight_through_estimator() {
    let f = fixture();
    let x = noisy_batch(&f.data, 8, 0.25, 3);
    let y: Vec<u8> = (0..8)
        .map(|i| f.data.labels[f.data.index(Split::Test, i)])
        .collect();
    // Full precision: the fake-quant backward is the float backward.
    let mut q =
        QuantizedModel::new(&f.model, &Policy::fp32(5), &f.cal, &QuantConfig::default()).unwrap();
    let grads = |q: &mut QuantizedModel| -> Vec<Vec<f32>> {
        q.model.zero_grad();
        let t = q.forward_train(&x, 8);
        let (_, g, _) = softmax_xent(t.logits(), &y, 10);
        q.backward(&t, g, 8);
        q.model.grad_tensors()
    };
    let mut m = f.model.clone();
    m.zero_grad();
    let acts = m.forward_train(&x, 8);
    let (_, g, _) = softmax_xent(acts.last().unwrap(), &y, 10);
    m.backward(&acts, g, 8);
    let want = m.grad_tensors();
    let bits = |v: &Vec<Vec<f32>>| v.iter().flatten().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&grads(&mut q)), bits(&want));
    // Clip every conv2 input (range ~ 0): no gradient reaches conv1 (weights and bias).
    let mut q = QuantizedModel::new(
        &f.model,
        &Preset::W8a8.policy(5),
        &f.cal,
        &QuantConfig::default(),
    )
    .unwrap();
    let g = grads(&mut q);
    assert!(g[0].iter().any(|&v| v != 0.0));
    q.acts[1] = Some(arq::quant::ActQuant::new(8, false, 1e-30));
    let g = grads(&mut q);
    assert!(g[0].iter().chain(&g[1]).all(|&v| v == 0.0));
    assert!(g[2].iter().any(|&v| v != 0.0));
}
