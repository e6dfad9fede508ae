//! Natively a batch's samples spread over every core (src/par.rs). The numbers must not depend
//! on how many threads there are: the same certification, IRS read-out and integer logits in
//! a one-thread pool and in a four-thread pool, bit for bit.

use arq::certify::{CertifyJob, Example, SmoothParams};
use arq::config::ExperimentConfig;
use arq::experiment::{JobEvent, JobKind, JobSpec, QuantEvalStep, Session};
use arq::nn::Model;

fn in_pool<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a thread pool")
        .install(f)
}

fn certify_records() -> Vec<(u64, Option<u8>, u64, u64)> {
    let model = Model::zoo("lenet", 4).unwrap();
    let examples: Vec<Example> = (0..3)
        .map(|i| Example {
            index: i,
            input: (0..784)
                .map(|j| ((i as usize * 31 + j) % 17) as f32 / 16.0)
                .collect(),
            label: i as u8,
        })
        .collect();
    let params = SmoothParams {
        sigma: 0.5,
        n0: 30,
        n: 500,
        alpha: 0.001,
        batch: 200,
        seed: 9,
    };
    let mut job = CertifyJob::new(params, examples);
    let mut m = model;
    job.step(&mut m, u64::MAX)
        .into_iter()
        .map(|r| (r.index, r.prediction.class(), r.count, r.p_lower.to_bits()))
        .collect()
}

fn readout() -> (String, Vec<u32>) {
    let frag = "v=1&ds=synth&epochs=1&train=256&batch=32&points=6&stride=3&n0=10&n=80&np=40&qft=2&calib=32&wb=4&ab=4&cbatch=200";
    let mut s = Session::new(ExperimentConfig::from_fragment(frag).unwrap(), None).unwrap();
    let mut clock = || 0u64;
    s.begin(JobSpec::Train).unwrap();
    while !s.step(JobKind::Train, 100, &mut clock).unwrap().done {}
    s.begin(JobSpec::QuantEval { fresh: false }).unwrap();
    let r = loop {
        if let JobEvent::QuantEval(QuantEvalStep {
            result: Some(r), ..
        }) = s.step(JobKind::QuantEval, 1000, &mut clock).unwrap().event
        {
            break r;
        }
    };
    let x: Vec<f32> = (0..200 * 784).map(|i| (i % 23) as f32 / 22.0).collect();
    let logits = s.quantized_logits(&x, 200).unwrap();
    (
        serde_json::to_string(&r.summary).unwrap(),
        logits.iter().map(|v| v.to_bits()).collect(),
    )
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    assert_eq!(in_pool(1, certify_records), in_pool(4, certify_records));
    assert_eq!(in_pool(1, readout), in_pool(4, readout));
}
