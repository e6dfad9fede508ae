//! The engine's forward pass against an independent numpy implementation
//! (scripts/gen_golden_forward.py: direct convolution in float64, same closed-form weights).

use arq::nn::Model;

/// f32 accumulation over up to 3,136 terms against float64: relative error well under 1e-4.
const REL_TOL: f64 = 1e-4;
const ABS_TOL: f64 = 1e-5;

#[test]
fn forward_matches_numpy_reference() {
    let golden: serde_json::Value =
        serde_json::from_str(include_str!("data/golden_forward.json")).unwrap();
    for name in ["lenet", "cnn3"] {
        let g = &golden["models"][name];
        let mut m = Model::zoo(name, 0).unwrap();
        let n = m.param_count();
        assert_eq!(g["params"].as_u64(), Some(n as u64));
        let p: Vec<f32> = (0..n)
            .map(|i| (0.1 * libm::sin(0.37 * i as f64)) as f32)
            .collect();
        m.set_params_flat(&p).unwrap();
        let x: Vec<f32> = (0..3)
            .flat_map(|b| (0..784).map(move |j| ((7 * j + 13 * b) % 29) as f32 / 28.0))
            .collect();
        let logits = m.forward(&x, 3);
        for b in 0..3 {
            for c in 0..10 {
                let want = g["logits"][b][c].as_f64().unwrap();
                let got = logits[b * 10 + c] as f64;
                assert!(
                    (got - want).abs() <= ABS_TOL.max(REL_TOL * want.abs()),
                    "{name} input {b} class {c}: {got} vs numpy {want}"
                );
            }
        }
    }
}
