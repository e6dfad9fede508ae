//! Fingerprints of computations that must be bit-identical natively and in wasm32:
//! SHA-256 over the exact bytes of noise, logits, parameters after training steps and
//! certification records. `tests/determinism.rs` (native) and `tests/wasm.rs` (wasm32) both
//! compare against tests/data/determinism.json; regenerate it natively with
//! `ARQ_BLESS=1 cargo test --test determinism` after an intended numeric change.

use arq::certify::{CertifyJob, Example, SmoothParams};
use arq::config::ExperimentConfig;
use arq::data::{hex, Dataset, Split};
use arq::experiment::{JobEvent, JobKind, JobSpec, QuantEvalStep, SearchStep, Session};
use arq::nn::Model;
use arq::pipeline::search::Method;
use arq::rng::NoiseSource;
use sha2::{Digest, Sha256};

fn digest_f32(xs: &[f32]) -> String {
    let mut h = Sha256::new();
    for x in xs {
        h.update(x.to_le_bytes());
    }
    hex(&h.finalize())[..16].to_string()
}

fn synth_batch(n: usize) -> Vec<f32> {
    let d = Dataset::synthetic(64, 0);
    let mut x = vec![0.0; n * 784];
    for i in 0..n {
        d.image_f32(
            d.index(Split::Test, i % d.test_count()),
            &mut x[i * 784..(i + 1) * 784],
        );
    }
    let noise = NoiseSource::new(3, "fingerprint");
    let mut z = vec![0.0; 784];
    for i in 0..n {
        noise.fill(i as u64, 0, &mut z);
        for (v, zv) in x[i * 784..(i + 1) * 784].iter_mut().zip(&z) {
            *v += 0.25 * zv;
        }
    }
    x
}

/// (name, digest) pairs in a fixed order.
pub fn fingerprints() -> Vec<(String, String)> {
    let mut out = vec![];
    let mut z = vec![0.0; 784];
    NoiseSource::new(7, "noise-estimate").fill(3, 5, &mut z);
    out.push(("noise".to_string(), digest_f32(&z)));

    let x = synth_batch(8);
    for name in ["lenet", "cnn3", "resnet"] {
        let m = Model::zoo(name, 1).unwrap();
        out.push((format!("forward-{name}"), digest_f32(&m.forward(&x, 8))));
    }

    for name in ["lenet", "cnn3", "resnet"] {
        let cfg = ExperimentConfig::from_fragment(&format!(
            "v=1&ds=synth&model={name}&batch=16&train=64&epochs=1&shift=1"
        ))
        .unwrap();
        let mut s = Session::new(cfg, None).unwrap();
        s.begin(JobSpec::Train).unwrap();
        s.step(JobKind::Train, 3, &mut || 0).unwrap();
        out.push((
            format!("train-3-steps-{name}"),
            digest_f32(&s.model().params_flat()),
        ));
    }

    let mut m = Model::zoo("lenet", 2).unwrap();
    let examples: Vec<Example> = (0..2)
        .map(|i| Example {
            index: i,
            input: x[i as usize * 784..(i as usize + 1) * 784].to_vec(),
            label: 0,
        })
        .collect();
    let params = SmoothParams {
        sigma: 0.25,
        n0: 20,
        n: 200,
        alpha: 0.001,
        batch: 64,
        seed: 5,
    };
    let mut job = CertifyJob::new(params, examples);
    let recs = job.step(&mut m, u64::MAX);
    let flat: Vec<f32> = recs
        .iter()
        .flat_map(|r| [r.count as f32, r.p_lower as f32, r.radius as f32])
        .collect();
    out.push(("certify".to_string(), digest_f32(&flat)));

    // a tiny end-to-end search: quick read-out, DDPG episodes with IRS, and the final table
    let frag = "v=1&ds=synth&epochs=1&train=256&batch=32&points=4&stride=2&n0=10&n=60&np=30&spoints=4&episodes=3&warmup=2&hidden=16&sft=2&qft=2&fft=2&calib=32&wb=4&ab=4";
    let mut s = Session::new(ExperimentConfig::from_fragment(frag).unwrap(), None).unwrap();
    let mut clock = || 0u64;
    s.begin(JobSpec::Train).unwrap();
    while !s.step(JobKind::Train, 100, &mut clock).unwrap().done {}
    s.begin(JobSpec::QuantEval { fresh: false }).unwrap();
    let readout = loop {
        if let JobEvent::QuantEval(QuantEvalStep {
            result: Some(r), ..
        }) = s.step(JobKind::QuantEval, 1000, &mut clock).unwrap().event
        {
            break r;
        }
    };
    s.begin(JobSpec::Search {
        method: Method::Arq,
    })
    .unwrap();
    let mut rewards = vec![readout.summary.acr as f32, readout.test_accuracy as f32];
    loop {
        let st = s.step(JobKind::Search, 1000, &mut clock).unwrap();
        if let JobEvent::Search(SearchStep {
            episode: Some(e), ..
        }) = &st.event
        {
            rewards.push(e.reward as f32);
            rewards.extend(e.wbits.iter().chain(&e.abits).map(|&b| b as f32));
        }
        if st.done {
            break;
        }
    }
    s.begin(JobSpec::COMPARE).unwrap();
    let mut rows = vec![];
    loop {
        let st = s.step(JobKind::Compare, 1000, &mut clock).unwrap();
        if let JobEvent::Compare(c) = st.event {
            rows = c.rows;
        }
        if st.done {
            break;
        }
    }
    for r in &rows {
        rewards.push(r.summary.acr as f32);
        rewards.push(r.test_accuracy as f32);
    }
    out.push(("pipeline".to_string(), digest_f32(&rewards)));
    out
}
