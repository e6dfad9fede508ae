//! CERTIFY, PREDICT, the sampler and the job on a threshold classifier with known answers.

use super::*;
use crate::certify::sampler::{noisy_input, Sampler};
use crate::certify::smooth::{certificate, certify, predict, PURPOSE_ESTIMATE};
use crate::certify::stats;
use crate::rng::NoiseSource;

/// f(x) = 1 if x[0] > t else 0, on inputs of length `len`; records the largest batch.
struct Threshold {
    len: usize,
    t: f32,
    max_batch: usize,
    calls: u64,
}

impl Threshold {
    fn new(len: usize, t: f32) -> Self {
        Threshold {
            len,
            t,
            max_batch: 0,
            calls: 0,
        }
    }
}

impl BaseClassifier for Threshold {
    fn input_len(&self) -> usize {
        self.len
    }
    fn num_classes(&self) -> usize {
        2
    }
    fn classify(&mut self, x: &[f32], batch: usize, out: &mut [u8]) {
        assert_eq!(x.len(), batch * self.len);
        assert_eq!(out.len(), batch);
        self.max_batch = self.max_batch.max(batch);
        self.calls += 1;
        for (o, xi) in out.iter_mut().zip(x.chunks_exact(self.len)) {
            *o = u8::from(xi[0] > self.t);
        }
    }
}

/// The table is printed to 6 (p) and 4 (R/sigma) decimals.
const P_TOL: f64 = 1e-6;
const R_TOL: f64 = 1e-4;

#[test]
fn certificate_matches_known_values() {
    // docs/method.md section 10's CERTIFY table (tests/data/certify_table.tsv).
    for row in crate::certify::stats::tests::certify_table() {
        let (k, n, p, r) = (row.k, row.n, row.doc_p_lower, row.doc_radius);
        let c = certificate(3, k, n, 0.001, 0.5);
        assert!((c.p_lower - p).abs() < P_TOL, "{k}/{n}: {}", c.p_lower);
        assert!((c.radius / 0.5 - r).abs() < R_TOL, "{k}/{n}: {}", c.radius);
        assert_eq!(c.prediction, Prediction::Class(3));
    }
    let c = certificate(3, 400, 1000, 0.001, 0.5);
    assert_eq!(c.prediction, Prediction::Abstain);
    assert!(c.radius.abs() < R_TOL);
}

#[test]
fn prediction_serialises_as_class_or_null() {
    let s = serde_json::to_string(&[Prediction::Class(7), Prediction::Abstain]).unwrap();
    assert_eq!(s, "[7,null]");
    let back: Vec<Prediction> = serde_json::from_str(&s).unwrap();
    assert_eq!(back, vec![Prediction::Class(7), Prediction::Abstain]);
}

#[test]
fn noisy_samples_are_regenerable() {
    let x = [0.5f32, -1.0, 2.0];
    let src = NoiseSource::new(9, PURPOSE_ESTIMATE);
    let mut z = [0f32; 3];
    src.fill(4, 17, &mut z);
    let mut a = [0f32; 3];
    noisy_input(&x, 0.25, &src, 4, 17, &mut a);
    for i in 0..3 {
        assert_eq!(a[i].to_bits(), (x[i] + 0.25 * z[i]).to_bits());
    }
}

#[test]
fn predict_returns_clear_class_and_abstains_on_a_coin_flip() {
    let params = SmoothParams {
        sigma: 0.5,
        n: 1000,
        ..SmoothParams::default()
    };
    let mut f = Threshold::new(4, 0.0);
    // x[0] = 2 = 4 sigma above the threshold: P[class 1] = Phi(4)
    assert_eq!(
        predict(&mut f, &[2.0, 0.0, 0.0, 0.0], 0, &params),
        Prediction::Class(1)
    );
    assert_eq!(
        predict(&mut f, &[-2.0, 0.0, 0.0, 0.0], 0, &params),
        Prediction::Class(0)
    );
    // on the boundary the votes are a fair coin: p-value > 0.001 except with prob. 0.001
    assert_eq!(predict(&mut f, &[0.0; 4], 0, &params), Prediction::Abstain);
}

#[test]
fn certify_matches_the_threshold_closed_form() {
    // P[f(x+e) = 1] = Phi(x0 / sigma): x0 = sigma gives 0.841; radius < x0 = 0.5.
    let params = SmoothParams {
        sigma: 0.5,
        n: 10_000,
        alpha: 0.001,
        ..SmoothParams::default()
    };
    let mut f = Threshold::new(3, 0.0);
    let c = certify(&mut f, &[0.5, 0.0, 0.0], 11, &params);
    assert_eq!(c.prediction, Prediction::Class(1));
    let p_hat = c.count as f64 / c.n as f64;
    // binomial sd at n = 10,000 is 0.0037; 5 sd
    assert!((p_hat - stats::phi(1.0)).abs() < 0.019, "p_hat {p_hat}");
    assert!(c.radius < 0.5 && c.radius > 0.3, "radius {}", c.radius);
}

#[test]
fn million_samples_stay_batch_sized() {
    let params = SmoothParams {
        sigma: 0.5,
        n0: 100,
        n: 1_000_000,
        batch: 1000,
        ..SmoothParams::default()
    };
    let ex = Example {
        index: 0,
        input: vec![3.0, 0.0],
        label: 1,
    };
    let mut job = CertifyJob::new(params, vec![ex]);
    let mut f = Threshold::new(2, 0.0);
    let mut steps = 0;
    while !job.is_done() {
        job.step(&mut f, 300_000);
        steps += 1;
        // buffers are bounded by one batch at all times
        let (noisy, classes) = job.sampler.capacity();
        assert!(noisy <= 1000 * 2);
        assert!(classes <= 1000);
        assert!(job.state.preds.capacity() == 0);
    }
    assert_eq!(steps, 4);
    assert_eq!(f.max_batch, 1000);
    // 1 selection call + 1000 estimation calls, plus at most one split batch per step
    assert!(
        f.calls >= 1001 && f.calls <= 1001 + steps,
        "calls {}",
        f.calls
    );
    let r = &job.records()[0];
    assert_eq!(r.samples, 1_000_100);
    assert_eq!(job.progress().samples_done, 1_000_100);
    assert_eq!(r.prediction, Prediction::Class(1));
    // x0 / sigma = 6 sd: every sample agrees, so pA_low = alpha^(1/n) and R = R_max
    assert_eq!(r.count, 1_000_000);
    let r_max = 0.5 * stats::phi_inv(0.001f64.powf(1e-6));
    assert!((r.radius - r_max).abs() < 1e-9);
}

fn examples(k: u64) -> Vec<Example> {
    (0..k)
        .map(|i| Example {
            index: 100 + i,
            input: vec![0.1 * i as f32 - 0.3, 0.2],
            label: (i % 2) as u8,
        })
        .collect()
}

fn run(params: &SmoothParams, max: u64, keep: u64) -> (Vec<CertRecord>, Option<IrsCache>) {
    let mut job = CertifyJob::new(params.clone(), examples(6)).with_irs_cache(keep);
    let mut f = Threshold::new(2, 0.0);
    let mut streamed = Vec::new();
    while !job.is_done() {
        streamed.extend(job.step(&mut f, max));
    }
    assert_eq!(streamed, job.records());
    (streamed, job.take_cache())
}

#[test]
fn records_do_not_depend_on_step_size() {
    let params = SmoothParams {
        sigma: 0.5,
        n0: 50,
        n: 700,
        batch: 64,
        seed: 5,
        ..SmoothParams::default()
    };
    let (big, cache_big) = run(&params, u64::MAX, 300);
    for max in [1, 37, 64, 751] {
        let (small, cache_small) = run(&params, max, 300);
        assert_eq!(small, big, "step budget {max}");
        assert_eq!(cache_small, cache_big);
    }
    let cache = cache_big.unwrap();
    assert_eq!(cache.entries.len(), 6);
    assert!(cache.entries.iter().all(|e| e.preds.len() == 300));
    // the kept predictions are the estimation samples' classes: recount for one example
    let e = &cache.entries[1];
    let mut f = Threshold::new(2, 0.0);
    let mut s = Sampler::new(300);
    let src = NoiseSource::new(5, PURPOSE_ESTIMATE);
    assert_eq!(
        s.classify_noisy(&mut f, &e.example.input, 0.5, &src, 101, 0, 300),
        &e.preds[..]
    );
}

#[test]
fn seeds_change_records_and_timing_is_injected() {
    let params = SmoothParams {
        sigma: 0.5,
        n0: 50,
        n: 700,
        batch: 64,
        seed: 5,
        ..SmoothParams::default()
    };
    let (a, _) = run(&params, 1000, 0);
    let (b, _) = run(
        &SmoothParams {
            seed: 6,
            ..params.clone()
        },
        1000,
        0,
    );
    assert_ne!(a, b);
    assert!(a.iter().all(|r| r.micros.is_none()));
    let mut job = CertifyJob::new(params, examples(2));
    let mut f = Threshold::new(2, 0.0);
    let mut t = 0u64;
    let mut clock = || {
        t += 10;
        t
    };
    let mut recs = job.step_timed(&mut f, 400, &mut clock);
    recs.extend(job.step_timed(&mut f, u64::MAX, &mut clock));
    // one (t0, t1) pair per advance call: example 0 spans two steps, example 1 one
    assert_eq!(recs[0].micros, Some(20));
    assert_eq!(recs[1].micros, Some(10));
}
