//! Quantizer formulas on hand-computed examples (round half to even), per-channel vs
//! per-tensor weights, the MSE clip, and calibration on a seeded subset.

mod quant_common;

use arq::data::Split;
use arq::nn::Model;
use arq::quant::calib::{calibrate, calibration_indices, ActClip, CalibConfig};
use arq::quant::quantizer::{weight_clip, ActQuant, WeightClip, WeightQuant};
use arq::quant::Bits;
use proptest::prelude::*;
use quant_common::synth;

/// Exact dyadic scales make every expected value below exact in f32.
const EXACT: f32 = 0.0;
/// Scales like 0.35 / 7 carry one f32 rounding.
const ONE_ROUNDING: f32 = 1e-6;

fn close(a: &[f32], b: &[f32], tol: f32) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol)
}

fn b(v: u32) -> Bits {
    Bits::new(v).unwrap()
}

/// Channel 0: t = 0.875, s = 0.875 / 7 = 0.125; 0.0625 = 0.5 s -> 0, 0.1875 = 1.5 s -> 2,
/// 0.3125 = 2.5 s -> 2, -0.1875 -> -2 (ties to even). Channel 1: t = 0.35, s = 0.05.
const W: [f32; 12] = [
    0.875, 0.0625, 0.1875, 0.3125, -0.1875, -0.0625, // channel 0
    0.07, -0.35, 0.0, 0.35, 0.2, 0.1, // channel 1
];

#[test]
fn per_channel_weights_by_hand() {
    let q = WeightQuant::new(&W, 2, b(4), true, WeightClip::Max);
    assert_eq!(q.codes, vec![7, 0, 2, 2, -2, 0, 1, -7, 0, 7, 4, 2]);
    assert!(close(&q.scales, &[0.125, 0.05], ONE_ROUNDING));
    let deq = q.dequant();
    assert!(close(
        &deq[..6],
        &[0.875, 0.0, 0.25, 0.25, -0.25, 0.0],
        EXACT
    ));
    assert!(close(
        &deq[6..],
        &[0.05, -0.35, 0.0, 0.35, 0.2, 0.1],
        ONE_ROUNDING
    ));
}

#[test]
fn per_tensor_weights_by_hand_and_worse_than_per_channel() {
    let q = WeightQuant::new(&W, 2, b(4), false, WeightClip::Max);
    // one scale 0.125: 0.07 -> 0.56 -> 1, -0.35 -> -2.8 -> -3, 0.2 -> 1.6 -> 2, 0.1 -> 0.8 -> 1
    assert_eq!(q.codes, vec![7, 0, 2, 2, -2, 0, 1, -3, 0, 3, 2, 1]);
    assert_eq!(q.scale_count(), 1);
    let sse = |d: Vec<f32>| -> f32 { d.iter().zip(&W).map(|(a, b)| (a - b) * (a - b)).sum() };
    let pc = WeightQuant::new(&W, 2, b(4), true, WeightClip::Max);
    assert!(sse(pc.dequant()) < sse(q.dequant()));
}

#[test]
fn activations_by_hand() {
    // unsigned, 2 bits: r = 0.75, s = 0.25; 0.125 = 0.5 s -> 0, 0.375 -> 2, 0.625 -> 2
    let a = ActQuant::new(2, false, 0.75);
    let x = [-1.0, 0.125, 0.375, 0.625, 0.7, 5.0];
    let codes: Vec<i16> = x.iter().map(|&v| a.code(v)).collect();
    assert_eq!(codes, vec![0, 0, 2, 2, 3, 3]);
    let fake: Vec<f32> = x.iter().map(|&v| a.fake(v)).collect();
    assert!(close(&fake, &[0.0, 0.0, 0.5, 0.5, 0.75, 0.75], EXACT));
    let mask: Vec<bool> = x.iter().map(|&v| a.passes(v)).collect();
    assert_eq!(mask, vec![false, true, true, true, true, false]);
    // signed, 3 bits: r = 1.5, s = 1.5 / 3 = 0.5; -0.75 -> -1.5 -> -2, 0.25 -> 0, 1.25 -> 2
    let s = ActQuant::new(3, true, 1.5);
    let codes: Vec<i16> = [-2.0, -0.75, 0.25, 1.25, 9.0]
        .iter()
        .map(|&v| s.code(v))
        .collect();
    assert_eq!(codes, vec![-3, -2, 0, 2, 3]);
    assert_eq!((s.qmin(), s.qmax(), a.qmax()), (-3, 3, 3));
}

#[test]
fn eight_bit_grid_sizes() {
    let w = [1.0f32, -1.0];
    let q = WeightQuant::new(&w, 1, b(8), true, WeightClip::Max);
    assert_eq!(q.codes, vec![127, -127]);
    assert_eq!(ActQuant::new(8, false, 1.0).code(1.0), 255);
}

proptest! {
    /// The MSE clip searches a grid that contains t = max|w|, so it is never worse than max
    /// (the error is recomputed here independently, with `round_ties_even`).
    #[test]
    fn mse_clip_never_worse_than_max(ws in prop::collection::vec(-2.0f32..2.0, 1..200), bits in 2u32..5) {
        let sse = |t: f32| -> f64 {
            let qm = ((1 << (bits - 1)) - 1) as f32;
            let s = if t > 0.0 { t / qm } else { 1.0 };
            ws.iter().map(|&w| {
                let c = (w.max(-t).min(t) / s).round_ties_even() * s;
                ((c - w) as f64).powi(2)
            }).sum()
        };
        let tmax = weight_clip(&ws, bits, WeightClip::Max);
        let tmse = weight_clip(&ws, bits, WeightClip::Mse);
        prop_assert!(tmse <= tmax);
        prop_assert!(sse(tmse) <= sse(tmax) + 1e-12);
    }
}

#[test]
fn calibration_subset_is_fixed_and_in_the_training_split() {
    let d = synth();
    let a = calibration_indices(&d, 100, 4);
    assert_eq!(a, calibration_indices(&d, 100, 4));
    assert_ne!(a, calibration_indices(&d, 100, 5));
    let mut s = a.clone();
    s.sort();
    s.dedup();
    assert_eq!(s.len(), 100);
    assert!(a.iter().all(|&i| i < d.split_len(Split::Train)));
}

#[test]
fn calibration_ranges() {
    let d = synth();
    let m = Model::zoo("lenet", 4).unwrap();
    let clean = calibrate(&m, &d, &CalibConfig::new(64, 0.0, 1));
    let noisy = calibrate(&m, &d, &CalibConfig::new(64, 0.5, 1));
    // Clean inputs: the brightest synthetic pixel is 255 -> 1.0; noise widens the range.
    assert!(
        (clean.layers[0].max - 1.0).abs() <= ONE_ROUNDING,
        "{}",
        clean.layers[0].max
    );
    assert!(noisy.layers[0].max > 2.0);
    assert!(noisy.layers[0].signed && !noisy.layers[1].signed);
    for st in &noisy.layers {
        let (p99, p9999, mx) = (
            st.range(8, ActClip::Percentile(99.0)),
            st.range(8, ActClip::Percentile(99.99)),
            st.range(8, ActClip::Max),
        );
        assert!(
            p99 <= p9999 && p9999 <= mx && p99 > 0.0,
            "{p99} {p9999} {mx}"
        );
        for bits in [2, 4, 8] {
            let r = st.range(bits, ActClip::Mse);
            assert!(r > 0.0 && r <= mx);
        }
        assert!(st.range(2, ActClip::Mse) <= st.range(8, ActClip::Mse));
        assert_eq!(st.count, 64 * (st.count / 64));
    }
    assert_eq!(calibrate(&m, &d, &CalibConfig::new(64, 0.5, 1)), noisy);
}
