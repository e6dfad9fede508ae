//! The integer path against the fake-quant reference (src/quant/intmodel.rs documents the
//! bound): over random policies, quantizer options, noise levels and inputs, every logit
//! difference stays within its bound B_c, and predictions differ only where the fake-quant
//! top-2 gap is below 2 max_c B_c. Plus the integer kernels against their scalar references.

mod quant_common;

use arq::certify::BaseClassifier;
use arq::data::Dataset;
use arq::nn::kernels::ConvGeom;
use arq::nn::Model;
use arq::quant::calib::{calibrate, ActClip, CalibConfig, Calibration};
use arq::quant::int_kernels::{
    conv2d_i16, conv2d_i16_ref, gemm_nt_i16, gemm_nt_i16_ref, pad_rows, padded, IntConv,
};
use arq::quant::{
    agreement, Bits, IntModel, LayerBits, Policy, QuantConfig, QuantizedModel, WeightClip,
};
use proptest::prelude::*;
use quant_common::{noisy_batch, synth, trained_lenet};
use std::sync::OnceLock;

struct Fixture {
    data: Dataset,
    lenet: Model,
    lenet_cal: Calibration,
    cnn3: Model,
    cnn3_cal: Calibration,
    resnet: Model,
    resnet_cal: Calibration,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let data = synth();
        let lenet = trained_lenet(&data, 0.25, 2);
        let cnn3 = Model::zoo("cnn3", 2).unwrap();
        let resnet = shipped_resnet();
        let cc = CalibConfig::new(128, 0.25, 3);
        Fixture {
            lenet_cal: calibrate(&lenet, &data, &cc),
            cnn3_cal: calibrate(&cnn3, &data, &cc),
            resnet_cal: calibrate(&resnet, &data, &cc),
            resnet,
            data,
            lenet,
            cnn3,
        }
    })
}

/// The shipped resnet checkpoint at sigma 0.25 (models/index.json): trained weights, so the
/// residual branches are live and the low-bit policies still classify (a resnet needs several
/// MNIST epochs to leave chance, too long for a test fixture).
fn shipped_resnet() -> Model {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/models");
    let index = std::fs::read_to_string(format!("{dir}/index.json")).unwrap();
    let entry = arq::zoo_index::find(&index, "resnet", 0.25)
        .unwrap()
        .expect("models/index.json lists resnet at sigma 0.25");
    let bytes = std::fs::read(format!("{dir}/{}", entry.file)).unwrap();
    arq::nn::checkpoint::load(&bytes).unwrap().0
}

fn bits() -> impl Strategy<Value = Bits> {
    prop_oneof![
        6 => (2u32..=8).prop_map(|b| Bits::new(b).unwrap()),
        1 => Just(Bits::FULL),
    ]
}

fn policy(wb: &[Bits], ab: &[Bits]) -> Policy {
    Policy {
        layers: wb
            .iter()
            .zip(ab)
            .map(|(&w, &a)| LayerBits {
                w,
                a,
                locked: false,
            })
            .collect(),
    }
}

fn quant_config(per_channel: bool, clip: usize) -> QuantConfig {
    QuantConfig {
        per_channel,
        weight_clip: if clip == 0 {
            WeightClip::Max
        } else {
            WeightClip::Mse
        },
        act_clip: [ActClip::Max, ActClip::Percentile(99.9), ActClip::Mse][clip],
    }
}

fn check(
    model: &Model,
    cal: &Calibration,
    p: &Policy,
    qc: &QuantConfig,
    sigma: f32,
    seed: u64,
) -> Result<(), TestCaseError> {
    let f = fixture();
    let q = QuantizedModel::new(model, p, cal, qc).unwrap();
    let int = IntModel::new(&q).unwrap();
    let x = noisy_batch(&f.data, 24, sigma, seed);
    let a = agreement(&q, &int, &x, 24);
    prop_assert_eq!(a.bound_violations, 0, "{:?} {}", a, p);
    prop_assert_eq!(a.unexplained, 0, "{:?} {}", a, p);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn lenet_integer_path_agrees(
        wb in prop::collection::vec(bits(), 5),
        ab in prop::collection::vec(bits(), 5),
        per_channel in any::<bool>(),
        clip in 0usize..3,
        sigma in prop_oneof![Just(0.0f32), Just(0.25), Just(0.5)],
        seed in any::<u64>(),
    ) {
        let f = fixture();
        check(&f.lenet, &f.lenet_cal, &policy(&wb, &ab), &quant_config(per_channel, clip), sigma, seed)?;
    }

    #[test]
    fn cnn3_integer_path_agrees(
        wb in prop::collection::vec(bits(), 4),
        ab in prop::collection::vec(bits(), 4),
        per_channel in any::<bool>(),
        clip in 0usize..3,
        seed in any::<u64>(),
    ) {
        let f = fixture();
        check(&f.cnn3, &f.cnn3_cal, &policy(&wb, &ab), &quant_config(per_channel, clip), 0.25, seed)?;
    }

    #[test]
    fn resnet_integer_path_agrees(
        wb in prop::collection::vec(bits(), 16),
        ab in prop::collection::vec(bits(), 16),
        per_channel in any::<bool>(),
        clip in 0usize..3,
        sigma in prop_oneof![Just(0.0f32), Just(0.25), Just(0.5)],
        seed in any::<u64>(),
    ) {
        let f = fixture();
        check(&f.resnet, &f.resnet_cal, &policy(&wb, &ab), &quant_config(per_channel, clip), sigma, seed)?;
    }

    #[test]
    fn int_gemm_matches_reference(m in 1usize..9, n in 1usize..40, k in 1usize..300, seed in any::<u64>()) {
        let mut r = arq::rng::Stream::new(seed, "gemm");
        let a: Vec<i16> = (0..m * k).map(|_| r.below(255) as i16 - 127).collect();
        let b: Vec<i16> = (0..n * k).map(|_| r.below(256) as i16).collect();
        let (mut c1, mut c2) = (vec![0; m * n], vec![0; m * n]);
        gemm_nt_i16(m, n, k, &a, &b, &mut c1);
        gemm_nt_i16_ref(m, n, k, &a, &b, &mut c2);
        prop_assert_eq!(c1, c2);
    }

    #[test]
    fn int_conv_matches_reference(c in 1usize..5, h in 3usize..12, k in 1usize..4, stride in 1usize..3, pad in 0usize..2, cout in 1usize..5, seed in any::<u64>()) {
        let g = ConvGeom { c, h, w: h, k: k.min(h), stride, pad };
        let mut r = arq::rng::Stream::new(seed, "conv");
        let img: Vec<i16> = (0..c * h * h).map(|_| r.below(255) as i16 - 127).collect();
        let w: Vec<i16> = (0..cout * g.patch()).map(|_| r.below(255) as i16 - 127).collect();
        let (mut o1, mut o2) = (vec![0; cout * g.out_hw()], vec![0; cout * g.out_hw()]);
        let wp = pad_rows(&w, cout, g.patch(), padded(g.patch()));
        conv2d_i16(&g, cout, &wp, &img, &mut Vec::new(), &mut o1);
        conv2d_i16_ref(&g, cout, &w, &img, &mut o2);
        prop_assert_eq!(&o1, &o2);
        // the direct kernel (lanes across output channels), two images in one call
        let img2: Vec<i16> = img.iter().chain(&img).copied().collect();
        let mut o3 = vec![7; 2 * o1.len()];
        IntConv::new(&g, cout, &wp, padded(g.patch())).run_batch(2, &img2, &mut Vec::new(), &mut o3);
        prop_assert_eq!(&o3[..o1.len()], &o2[..]);
        prop_assert_eq!(&o3[o1.len()..], &o2[..]);
    }
}

/// The presets on 400 noisy test inputs: report, and require near-total agreement.
#[test]
fn presets_agree_on_noisy_inputs() {
    let f = fixture();
    for (model, cal, name) in ["w8a8", "w4a4", "w2a2", "fl8"]
        .into_iter()
        .flat_map(|p| [(&f.lenet, &f.lenet_cal, p), (&f.resnet, &f.resnet_cal, p)])
    {
        let p = arq::quant::Preset::parse(name)
            .unwrap()
            .policy(arq::quant::quant_layers(model).len());
        let q = QuantizedModel::new(model, &p, cal, &QuantConfig::default()).unwrap();
        let int = IntModel::new(&q).unwrap();
        let x = noisy_batch(&f.data, 400, 0.25, 11);
        let a = agreement(&q, &int, &x, 400);
        let name = format!("{} {name}", model.arch);
        println!("{name}: {a:?}");
        assert_eq!((a.bound_violations, a.unexplained), (0, 0), "{name}: {a:?}");
        // Flips need a value within f32 rounding of a rounding boundary: rare.
        assert!(a.differing_values * 1000 <= a.values, "{name}: {a:?}");
        assert!(a.same_prediction * 100 >= a.inputs * 99, "{name}: {a:?}");
    }
}

/// Mixed policies on the resnet that put 2 bits on the residual sums' quantizers and on the
/// projections, next to 8-bit and full-precision neighbours (every kind of sum: integer
/// terms from both branches, an identity skip recoded to the sum's scale, a full-precision
/// block input, an f32 sum).
#[test]
fn resnet_mixed_policies_agree() {
    let f = fixture();
    let n = 16;
    let b = |v: u32| Bits::new(v).unwrap();
    let mk = |w: &dyn Fn(usize) -> Bits, a: &dyn Fn(usize) -> Bits| {
        policy(
            &(0..n).map(w).collect::<Vec<_>>(),
            &(0..n).map(a).collect::<Vec<_>>(),
        )
    };
    let policies = [
        mk(&|_| b(2), &|_| b(2)),
        mk(&|j| if j % 2 == 0 { b(2) } else { b(8) }, &|j| {
            if j % 3 == 0 {
                b(2)
            } else {
                b(4)
            }
        }),
        mk(&|_| b(4), &|j| {
            if [3, 5, 9, 14].contains(&j) {
                Bits::FULL
            } else {
                b(2)
            }
        }),
        mk(
            &|j| if j == 7 || j == 12 { Bits::FULL } else { b(3) },
            &|_| b(2),
        ),
    ];
    for p in &policies {
        let q = QuantizedModel::new(&f.resnet, p, &f.resnet_cal, &QuantConfig::default()).unwrap();
        let mut int = IntModel::new(&q).unwrap();
        let x = noisy_batch(&f.data, 200, 0.25, 5);
        let a = agreement(&q, &int, &x, 200);
        // a live network: its predictions are not one class
        let mut pred = vec![0u8; 200];
        int.classify(&x, 200, &mut pred);
        pred.sort_unstable();
        pred.dedup();
        println!("{p}: {} classes predicted, {a:?}", pred.len());
        assert!(pred.len() >= 2, "{p}: {pred:?}");
        assert_eq!((a.bound_violations, a.unexplained), (0, 0), "{p}: {a:?}");
        // codes may flip where a value is within f32 rounding of a rounding boundary (rare);
        // full-precision inputs differ in their last bits wherever they follow an integer layer
        if p.layers.iter().all(|l| l.a != Bits::FULL) {
            assert!(a.differing_values * 1000 <= a.values, "{p}: {a:?}");
        }
        assert!(a.same_prediction * 100 >= a.inputs * 99, "{p}: {a:?}");
    }
}
