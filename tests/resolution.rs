//! `arq resolution`'s measurement on a tiny synthetic setup: the candidates respect the
//! budget, the numbers are reproducible, and the same policy under the same seed gets the
//! reward a search episode would give it (the reward is only a function of the evaluation).

use arq::experiment::{JobKind, JobSpec, Session};
use arq::pipeline::resolution::{candidate_policies, measure, ResolutionSpec};
use arq::pipeline::search::Method;
use arq::quant::cost::cost;
use arq::ExperimentConfig;

const FRAG: &str = "v=1&ds=synth&epochs=1&train=256&batch=32&points=6&stride=3&n0=10&n=80&np=40&calib=32&cbatch=32&spoints=4&sft=1&fft=2&budget=0.03";

fn trained() -> Session {
    let mut s = Session::new(ExperimentConfig::from_fragment(FRAG).unwrap(), None).unwrap();
    s.begin(JobSpec::Train).unwrap();
    while !s.step(JobKind::Train, 1 << 20, &mut || 0).unwrap().done {}
    s
}

#[test]
fn candidates_fit_the_budget_and_are_distinct() {
    let s = trained();
    let p = candidate_policies(s.cfg(), s.model(), 5).unwrap();
    let uniform = p.iter().filter(|(n, _)| n.starts_with("uniform")).count();
    assert!(uniform >= 2, "{p:?}");
    assert!(p.iter().any(|(n, _)| n == "uniform W2A2"));
    assert!(!p.iter().any(|(n, _)| n == "uniform W8A8"), "over budget");
    for (name, pol) in &p {
        let c = cost(s.model(), pol).unwrap();
        assert!(c.ratio <= s.cfg().budget, "{name}: {}", c.ratio);
    }
    let mut f: Vec<String> = p.iter().map(|(_, q)| q.to_fragment()).collect();
    f.sort();
    f.dedup();
    assert_eq!(f.len(), p.len());
}

#[test]
fn measurement_is_reproducible_and_consistent() {
    let s = trained();
    let mut policies = candidate_policies(s.cfg(), s.model(), 0).unwrap();
    policies.truncate(3);
    let spec = ResolutionSpec {
        policies,
        seeds: vec![3, 7],
        method: Method::Arq,
        validate: true,
    };
    let mut calls = 0;
    let a = measure(s.cfg(), s.model(), s.data(), &spec, |_, _| calls += 1).unwrap();
    assert_eq!(calls, 3 * 3, "2 seeds + validation per policy");
    let b = measure(s.cfg(), s.model(), s.data(), &spec, |_, _| ()).unwrap();
    assert_eq!(
        serde_json::to_string(&a).unwrap(),
        serde_json::to_string(&b).unwrap()
    );
    for r in &a.rows {
        assert_eq!(r.rewards.len(), 2);
        // ARQ's reward is 0.1 (ACR_q - ACR_fp): two seeds, two FP32 references, but the
        // difference between two policies under one seed is 0.1 x their ACR difference
        let d = (r.rewards[0] - a.rows[0].rewards[0]) - 0.1 * (r.acr[0] - a.rows[0].acr[0]);
        assert!(d.abs() < 1e-12, "{d}");
        assert!(r.final_acr.is_some());
        assert!(r.sd >= 0.0 && r.mean.is_finite());
    }
    assert!(a.validity.is_some());
    assert!((-1.0..=1.0).contains(&a.rank_agreement));
    // HAQ's reward on the same evaluations: accuracy, not radius
    let haq = measure(
        s.cfg(),
        s.model(),
        s.data(),
        &ResolutionSpec {
            method: Method::Haq,
            validate: false,
            ..spec
        },
        |_, _| (),
    )
    .unwrap();
    assert!(haq.validity.is_none());
    assert_eq!(haq.rows[0].acr, a.rows[0].acr);
}
