//! What the final table reports must be fresh: the search split and the reported points are
//! disjoint for every stride, the final comparison draws its noise from streams of its own,
//! and the "clean acc." column leaves out the digits the search has seen.

use std::collections::HashSet;

use arq::certify::irs::{PURPOSE_FALLBACK_ESTIMATE, PURPOSE_FALLBACK_SELECT};
use arq::config::ExperimentConfig;
use arq::data::Dataset;
use arq::pipeline::{examples, report_positions, search_positions, Points, FINAL_PURPOSES};
use arq::rng::stream_key;

fn cfg(points: u32, stride: u32, spoints: u32, seed: u64) -> ExperimentConfig {
    ExperimentConfig {
        points,
        stride,
        spoints,
        seed,
        ..ExperimentConfig::default()
    }
}

/// Every (stream key, example id) a search certifies on: FP32's selection and estimation
/// streams (which IRS replays) and the IRS fallback's streams, on the search split.
fn search_draws(c: &ExperimentConfig, data: &Dataset) -> HashSet<([u8; 32], u64)> {
    let mut purposes = Points::Search.purposes().to_vec();
    purposes.extend([PURPOSE_FALLBACK_SELECT, PURPOSE_FALLBACK_ESTIMATE]);
    let ex = examples(c, data, 784, Points::Search).unwrap();
    purposes
        .iter()
        .flat_map(|p| ex.iter().map(|e| (stream_key(c.seed, p), e.index)))
        .collect()
}

/// Every (stream key, example id) the final comparison certifies on.
fn final_draws(c: &ExperimentConfig, data: &Dataset) -> HashSet<([u8; 32], u64)> {
    let ex = examples(c, data, 784, Points::Final).unwrap();
    Points::Final
        .purposes()
        .iter()
        .flat_map(|p| ex.iter().map(|e| (stream_key(c.seed, p), e.index)))
        .collect()
}

#[test]
fn search_split_and_reported_points_are_disjoint_for_every_stride() {
    let n_test = 2000;
    for stride in 1..=7u32 {
        for (points, spoints) in [(100, 50), (500, 200), (20, 900)] {
            let c = cfg(points, stride, spoints, 1);
            let Ok(report) = report_positions(&c, n_test) else {
                continue; // points * stride past the split: rejected on its own
            };
            let search = search_positions(&c, n_test).unwrap();
            assert_eq!(search.len(), spoints as usize);
            assert_eq!(report.len(), points as usize);
            let r: HashSet<_> = report.iter().collect();
            assert!(
                search.iter().all(|t| !r.contains(t)),
                "stride {stride}, points {points}: overlap"
            );
            // even strides keep the plain odd-numbered split (1, 3, 5, ...)
            if stride % 2 == 0 {
                assert!(search.iter().enumerate().all(|(i, &t)| t == 2 * i + 1));
            }
        }
    }
}

#[test]
fn too_large_a_search_split_is_a_clear_error() {
    // stride 1 with 1,500 reported points leaves 250 odd digits for the search
    let c = cfg(1500, 1, 251, 1);
    let e = search_positions(&c, 2000).unwrap_err().to_string();
    assert!(
        e.contains("spoints") && e.contains("251") && e.contains("1..=250"),
        "{e}"
    );
    assert_eq!(
        search_positions(&cfg(1500, 1, 250, 1), 2000).unwrap().len(),
        250
    );
}

#[test]
fn no_noise_draw_is_shared_between_search_and_report() {
    let data = Dataset::synthetic(2500, 3);
    assert_eq!(data.test_count(), 500);
    for seed in [1, 2, 7, 1234] {
        for stride in 1..=7u32 {
            let c = cfg(60, stride, 40, seed);
            let s = search_draws(&c, &data);
            let f = final_draws(&c, &data);
            assert_eq!(f.len(), 2 * 60);
            assert!(
                s.is_disjoint(&f),
                "seed {seed}, stride {stride}: a noise stream is shared"
            );
        }
    }
    // the final streams differ from every other certification stream even on one example
    let others = [
        Points::Report.purposes()[0],
        Points::Report.purposes()[1],
        PURPOSE_FALLBACK_SELECT,
        PURPOSE_FALLBACK_ESTIMATE,
    ];
    assert!(FINAL_PURPOSES.iter().all(|p| !others.contains(p)));
}

#[test]
fn the_final_fp32_row_is_certified_on_its_own_noise() {
    use arq::job::Job;
    use arq::pipeline::compare::CompareJob;
    use arq::pipeline::{Fp32Job, Fp32Ref};
    // the shipped lenet (trained at sigma 0.25) on real digits at sigma 1.0: its votes
    // depend on the noise draws
    let root = env!("CARGO_MANIFEST_DIR");
    let data =
        Dataset::mnist_from_bytes(&std::fs::read(format!("{root}/data/mnist10k.u8")).unwrap())
            .unwrap();
    let ckpt = std::fs::read(format!("{root}/models/lenet-s0.25-784d3204f689.arqc")).unwrap();
    let (model, _) = arq::nn::checkpoint::load(&ckpt).unwrap();
    let c = ExperimentConfig {
        sigma: 1.0,
        n0: 10,
        n: 60,
        n_p: 20,
        points: 8,
        stride: 3,
        spoints: 5,
        cert_batch: 30,
        ..ExperimentConfig::default()
    };
    let mut clock = || 0u64;
    let mut certify = |points| -> Fp32Ref {
        let mut job = Fp32Job::new(&c, &model, &data, points, 0).unwrap();
        loop {
            if let Some(r) = job.step((), 10_000, &mut clock).unwrap().reference {
                return r;
            }
        }
    };
    let (report, fin) = (certify(Points::Report), certify(Points::Final));
    assert_eq!(report.cache.estimate_purpose, "noise-estimate");
    assert_eq!(fin.cache.estimate_purpose, FINAL_PURPOSES[1]);
    let counts = |r: &Fp32Ref| r.cache.entries.iter().map(|e| e.count).collect::<Vec<_>>();
    assert_ne!(counts(&report), counts(&fin), "same votes on other streams");
    // and the final comparison's FP32 row is the one on the final streams
    let mut cmp = CompareJob::new(&c, &model, vec![], 0).unwrap();
    let row = loop {
        if let Some(row) = cmp.step(&data, 10_000, &mut || 0).unwrap() {
            break row;
        }
    };
    assert_eq!(row.name, "FP32");
    assert_eq!(row.summary, fin.summary);
}
