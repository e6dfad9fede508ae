//! The search environment: action-to-bits mapping, the state embedding, rollouts, and the
//! truncated-normal exploration draw.

use arq::rng::Stream;
mod common {
    pub mod toy;
}
use arq::search::{action_to_bits, trunc_normal, BitRange, DdpgConfig, Env, LayerFeatures};
use common::toy::lenet_features;

/// Embedding values are ratios of small integers computed once in f64 and rounded to f32.
const EMB_TOL: f32 = 1e-6;

#[test]
fn action_to_bits_boundaries() {
    let r = BitRange::default(); // 2..8, 7 levels of width 1/7
    assert_eq!(action_to_bits(0.0, r), 2);
    assert_eq!(action_to_bits(1.0, r), 8);
    assert_eq!(action_to_bits(0.5, r), 5);
    // out of [0, 1] and NaN clamp
    assert_eq!(action_to_bits(-3.0, r), 2);
    assert_eq!(action_to_bits(7.0, r), 8);
    assert_eq!(action_to_bits(f32::NAN, r), 2);
    // each level owns [k/7, (k+1)/7): just inside either edge of every level
    for k in 0..7u8 {
        let lo = k as f32 / 7.0;
        let hi = (k + 1) as f32 / 7.0;
        let inner_lo = lo + 1e-4;
        let inner_hi = hi - 1e-4;
        assert_eq!(action_to_bits(inner_lo, r), 2 + k, "a={inner_lo}");
        assert_eq!(action_to_bits(inner_hi, r), 2 + k, "a={inner_hi}");
    }
    // exact level boundaries round half to even (numpy's round, as in HAQ): with 8 levels
    // (2..9) the boundaries k/8 are exact, 8 * a + 1.5 = k + 1.5
    let r8 = BitRange::new(2, 9).unwrap();
    let at = |a: f32| action_to_bits(a, r8);
    assert_eq!(
        [at(0.125), at(0.25), at(0.375), at(0.5), at(0.875)],
        [2, 4, 4, 6, 8]
    );
    assert_eq!([at(0.124), at(0.126), at(0.249), at(0.251)], [2, 3, 3, 4]);
    // a monotone staircase covering every bit width
    let mut prev = 0;
    let mut seen = [false; 9];
    for i in 0..=1000 {
        let b = action_to_bits(i as f32 / 1000.0, r);
        assert!(b >= prev);
        prev = b;
        seen[b as usize] = true;
    }
    assert!(seen[2..=8].iter().all(|&s| s));
    // another range
    let r = BitRange::new(4, 4).unwrap();
    assert_eq!(action_to_bits(0.0, r), 4);
    assert_eq!(action_to_bits(1.0, r), 4);
    let r = BitRange::new(1, 16).unwrap();
    assert_eq!(action_to_bits(0.0, r), 1);
    assert_eq!(action_to_bits(0.999, r), 16);
}

#[test]
fn bit_range_is_checked() {
    assert!(BitRange::new(0, 8).is_err());
    assert!(BitRange::new(5, 4).is_err());
    assert!(BitRange::new(2, 17).is_err());
    let r = BitRange::new(2, 8).unwrap();
    assert!(r.contains(2) && r.contains(8) && !r.contains(1) && !r.contains(9));
}

#[test]
fn state_embedding_is_min_max_normalised() {
    let layers = lenet_features();
    let env = Env::new(&layers, BitRange::default()).unwrap();
    assert_eq!(env.steps(), 10);
    let states: Vec<_> = (0..env.steps()).map(|t| env.state(t, 0.25)).collect();
    // every static column spans [0, 1] exactly or is constant 0
    for c in 0..8 {
        let col: Vec<f32> = states.iter().map(|s| s[c]).collect();
        let lo = col.iter().cloned().fold(f32::INFINITY, f32::min);
        let hi = col.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        if [3, 7].contains(&c) {
            // stride and depthwise are constant in lenet
            assert!(lo == 0.0 && hi == 0.0, "column {c}");
        } else {
            assert!(lo == 0.0 && hi == 1.0, "column {c}: {lo}..{hi}");
        }
    }
    // specific values: layer index k/4; C_in (6 - 1)/(256 - 1) for conv2; #weights
    // (2400 - 150)/(30720 - 150); input size (144 - 1)/(784 - 1)
    let conv2 = env.state(2, 0.0);
    assert!((conv2[0] - 0.25).abs() <= EMB_TOL);
    assert!((conv2[1] - 5.0 / 255.0).abs() <= EMB_TOL);
    assert!((conv2[2] - 10.0 / 114.0).abs() <= EMB_TOL);
    assert!((conv2[4] - 1.0).abs() <= EMB_TOL);
    assert!((conv2[5] - 2250.0 / 30570.0).abs() <= EMB_TOL);
    assert!((conv2[6] - 143.0 / 783.0).abs() <= EMB_TOL);
    // weight and activation steps of a layer share the features, differ in the flag
    for l in 0..5 {
        let (w, a) = (env.state(2 * l, 0.3), env.state(2 * l + 1, 0.3));
        assert_eq!(w[..8], a[..8]);
        assert_eq!((w[9], a[9]), (1.0, 0.0));
        assert_eq!(w[8], 0.3);
    }
}

#[test]
fn depthwise_and_stride_columns_normalise_when_they_vary() {
    let mut layers = lenet_features();
    layers[1].depthwise = true;
    layers[1].stride = 2;
    let env = Env::new(&layers, BitRange::default()).unwrap();
    assert_eq!(env.state(2, 0.0)[3], 1.0);
    assert_eq!(env.state(2, 0.0)[7], 1.0);
    assert_eq!(env.state(0, 0.0)[7], 0.0);
    // a single layer: every static column is constant, hence 0
    let one: Vec<LayerFeatures> = layers[..1].to_vec();
    let env = Env::new(&one, BitRange::default()).unwrap();
    assert!(env.state(0, 0.0)[..8].iter().all(|&v| v == 0.0));
    assert!(Env::new(&[], BitRange::default()).is_err());
}

#[test]
fn rollout_feeds_the_previous_action_and_maps_bits() {
    let env = Env::new(&lenet_features(), BitRange::default()).unwrap();
    let acts = [0.0f32, 1.0, 0.5, 0.2, 0.9, -1.0, 2.0, 0.6, 0.3, 0.1];
    let ro = env.rollout(|t, _| acts[t]);
    assert_eq!(ro.states.len(), 11);
    assert_eq!(ro.actions.len(), 10);
    assert_eq!(ro.states[0][8], 0.0);
    for t in 1..10 {
        assert_eq!(ro.states[t][8], ro.actions[t - 1], "step {t}");
    }
    assert_eq!(ro.actions[5], 0.0); // clamped
    assert_eq!(ro.actions[6], 1.0);
    let want_w: Vec<u8> = [0, 2, 4, 6, 8]
        .iter()
        .map(|&t| action_to_bits(acts[t].clamp(0.0, 1.0), env.range()))
        .collect();
    let want_a: Vec<u8> = [1, 3, 5, 7, 9]
        .iter()
        .map(|&t| action_to_bits(acts[t].clamp(0.0, 1.0), env.range()))
        .collect();
    assert_eq!(ro.wbits, want_w);
    assert_eq!(ro.abits, want_a);
    assert_eq!(ro.wbits, vec![2, 5, 8, 8, 4]);
    assert_eq!(ro.abits, vec![8, 3, 2, 6, 2]);
}

/// Mean of N(mu, s^2) truncated to [0, 1]: mu + s (phi(al) - phi(be)) / (Phi(be) - Phi(al)),
/// al = -mu / s, be = (1 - mu) / s.
fn trunc_mean(mu: f64, s: f64) -> f64 {
    let phi = |x: f64| libm::exp(-0.5 * x * x) / (2.0 * std::f64::consts::PI).sqrt();
    let cdf = |x: f64| 0.5 * libm::erfc(-x / std::f64::consts::SQRT_2);
    let (al, be) = (-mu / s, (1.0 - mu) / s);
    mu + s * (phi(al) - phi(be)) / (cdf(be) - cdf(al))
}

#[test]
fn truncated_normal_stays_in_range_with_the_right_mean() {
    let cfg = DdpgConfig::default();
    let mut rng = Stream::new(11, "search-actions");
    let n = 20_000;
    let mu = 0.2f32;
    let mut means = vec![];
    for episode in [20usize, 70, 170, 400] {
        let sigma = cfg.sigma_at(episode, 20);
        let (mut sum, mut sq) = (0f64, 0f64);
        for _ in 0..n {
            let x = trunc_normal(&mut rng, mu, sigma, 0.0, 1.0);
            assert!((0.0..=1.0).contains(&x), "{x}");
            sum += x as f64;
            sq += (x as f64) * (x as f64);
        }
        let mean = sum / n as f64;
        let sd = (sq / n as f64 - mean * mean).sqrt();
        let want = trunc_mean(mu as f64, sigma as f64);
        // 5 standard errors of the sample mean
        let tol = 5.0 * sd / (n as f64).sqrt();
        assert!(
            (mean - want).abs() <= tol,
            "episode {episode} sigma {sigma}: {mean} vs {want} (tol {tol})"
        );
        means.push(mean);
    }
    // sigma decays 0.5 -> 0.3 -> 0.11 -> 0.01: the mean falls toward mu from above
    assert!(means.windows(2).all(|w| w[0] > w[1]), "{means:?}");
    assert!((means[3] - 0.2).abs() < 0.002);
    assert!((cfg.sigma_at(20, 20) - 0.5).abs() <= EMB_TOL);
    assert!((cfg.sigma_at(120, 20) - 0.5 * 0.99f32.powi(100)).abs() <= EMB_TOL);
    // degenerate sigma returns the clamped mean
    assert_eq!(trunc_normal(&mut rng, 1.3, 0.0, 0.0, 1.0), 1.0);
    assert_eq!(trunc_normal(&mut rng, 0.4, f32::NAN, 0.0, 1.0), 0.4);
}
