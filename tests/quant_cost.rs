//! Cost model on the zoo (docs/method.md section 5): MACs per layer, BOPs ratios, model size,
//! HAQ's budget enforcement and the baseline presets under the default 1/64 budget.

use arq::nn::Model;
use arq::quant::cost::{cost, enforce_budget, total_bops};
use arq::quant::{quant_layers, Bits, Policy, Preset};

/// BOPs ratios are ratios of integers below 2^53: only the final division rounds.
const RATIO_TOL: f64 = 1e-12;

fn macs(name: &str) -> Vec<u64> {
    quant_layers(&Model::zoo(name, 0).unwrap())
        .iter()
        .map(|q| q.macs)
        .collect()
}

#[test]
fn zoo_macs_per_layer() {
    // lenet: 6*24*24*25, 16*8*8*150, 256*120, 120*84, 84*10
    assert_eq!(macs("lenet"), vec![86_400, 153_600, 30_720, 10_080, 840]);
    assert_eq!(macs("lenet").iter().sum::<u64>(), 281_640);
    // cnn3: 16*28*28*9, 32*14*14*144, 64*7*7*288, 3136*10
    assert_eq!(macs("cnn3"), vec![112_896, 903_168, 903_168, 31_360]);
    assert_eq!(macs("cnn3").iter().sum::<u64>(), 1_950_592);
    // resnet: stem 8*28*28*9; stage 1: 8*28*28*72 (x4); stage 2: 16*14*14*72, 16*14*14*144,
    // projection 16*14*14*8, 16*14*14*144 (x2); stage 3 likewise at 32*7*7; fc 32*10
    assert_eq!(
        macs("resnet"),
        vec![
            56_448, 451_584, 451_584, 451_584, 451_584, 225_792, 451_584, 25_088, 451_584, 451_584,
            225_792, 451_584, 25_088, 451_584, 451_584, 320
        ]
    );
    assert_eq!(macs("resnet").iter().sum::<u64>(), 5_074_368);
}

#[test]
fn uniform_ratios() {
    for name in ["lenet", "cnn3", "resnet"] {
        let m = Model::zoo(name, 0).unwrap();
        let n = quant_layers(&m).len();
        for (p, want) in [
            (Preset::Fp32, 1.0),
            (Preset::W8a8, 64.0 / 1024.0),
            (Preset::W4a4, 0.015625),
            (Preset::W2a2, 4.0 / 1024.0),
        ] {
            let c = cost(&m, &p.policy(n)).unwrap();
            assert!(
                (c.ratio - want).abs() < RATIO_TOL,
                "{name} {p:?}: {}",
                c.ratio
            );
            assert_eq!(c.fp32_bops, c.macs * 1024);
        }
    }
}

#[test]
fn mixed_policy_bops_and_size_by_hand() {
    let m = Model::zoo("lenet", 0).unwrap();
    let c = cost(&m, &Preset::Fl8.policy(5)).unwrap();
    // (86400 * 64 + (153600 + 30720 + 10080) * 16 + 840 * 64) / (281640 * 1024)
    let want = (86_400.0 * 64.0 + 194_400.0 * 16.0 + 840.0 * 64.0) / (281_640.0 * 1024.0);
    assert!((c.ratio - want).abs() < RATIO_TOL);
    assert_eq!(c.bops, 8_693_760);
    // FP32: (44,190 weights + 236 biases) * 4 bytes
    assert_eq!(c.fp32_size_bytes, 177_704);
    // W4A4: 44,190 * 4 / 8 (rounded up per layer: 75 + 1200 + 15360 + 5040 + 420) + 4 * (236
    // biases + 236 per-channel scales + 5 activation ranges)
    let w4 = cost(&m, &Preset::W4a4.policy(5)).unwrap();
    assert_eq!(w4.size_bytes, 22_095 + 4 * (236 + 236 + 5));
    assert!((w4.compression - 177_704.0 / 24_003.0).abs() < RATIO_TOL);
    let fp = cost(&m, &Preset::Fp32.policy(5)).unwrap();
    assert_eq!(fp.size_bytes, fp.fp32_size_bytes);
    let shares: f64 = c.layers.iter().map(|l| l.fp32_share).sum();
    assert!((shares - 1.0).abs() < RATIO_TOL);
    assert!(cost(&m, &Policy::fp32(4)).is_err());
}

#[test]
fn budget_enforcement_on_lenet() {
    let mac = macs("lenet");
    // W8A8 -> 1/64: four walks, each lowering every layer's a then w by one; the budget is met
    // exactly when conv1 (first layer, last in the walk) reaches W4A4 in the fourth walk.
    let p = Preset::W8a8
        .under_budget(&mac, 1.0 / 64.0, Bits::MIN)
        .unwrap();
    assert_eq!(p, Preset::W4a4.policy(5));
    // W4A4 already fits: unchanged.
    let mut q = Preset::W4a4.policy(5);
    assert!(!enforce_budget(&mac, &mut q, 1.0 / 64.0, Bits::MIN).unwrap());
    // Full precision steps down through 8.
    let mut f = Policy::fp32(5);
    assert!(enforce_budget(&mac, &mut f, 0.05, Bits::MIN).unwrap());
    assert!(f.layers.iter().all(|l| l.w.get() <= 8 && l.a.get() <= 8));
    assert!(total_bops(&mac, &f) as f64 <= 0.05 * 281_640.0 * 1024.0);
    // b_min is respected.
    let mut g = Preset::W8a8.policy(5);
    // b_min = 4 cannot go below uniform W4A4 = 1/64 of FP32.
    enforce_budget(&mac, &mut g, 0.015, Bits::new(4).unwrap()).unwrap_err();
    let mut g = Preset::W8a8.policy(5);
    enforce_budget(&mac, &mut g, 0.03, Bits::new(4).unwrap()).unwrap();
    assert!(g.layers.iter().all(|l| l.w.get() >= 4 && l.a.get() >= 4));
}

#[test]
fn first_last_8_cannot_meet_the_default_budget_on_lenet() {
    // Locked conv1 and fc5 at W8A8 alone cost (86400 + 840) * 64 BOPs; with the rest at W2A2
    // the total is 6,360,960 = 2.21 % of FP32 > 1/64.
    let e = Preset::Fl8
        .under_budget(&macs("lenet"), 1.0 / 64.0, Bits::MIN)
        .unwrap_err()
        .to_string();
    assert!(e.contains("unreachable") && e.contains("0.022056"), "{e}");
    let ok = Preset::Fl8
        .under_budget(&macs("lenet"), 0.025, Bits::MIN)
        .unwrap();
    assert!(ok.layers[0].locked && ok.layers[0].w.get() == 8 && ok.layers[4].a.get() == 8);
}
