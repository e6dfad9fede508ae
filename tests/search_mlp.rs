//! The search's MLP: backward against central finite differences (parameters and input, both
//! output activations), Adam's first step, soft target updates.

use arq::rng::Stream;
use arq::search::mlp::{sigmoid, Adam, Mlp, OutAct};

/// f32 central differences with step 1e-3 carry ~1e-4 rounding noise in the loss slope.
const FD_STEP: f32 = 1e-3;
const ABS_TOL: f64 = 1e-3;
const REL_TOL: f64 = 1e-2;
/// Exact-arithmetic identities computed in f32 (one or two roundings).
const F32_TOL: f32 = 1e-6;

/// L = sum_k c_k * out_k, accumulated in f64.
fn loss(net: &Mlp, x: &[f32], batch: usize, c: &[f32]) -> f64 {
    let y = net.forward(x, batch);
    y.iter().zip(c).map(|(&a, &b)| a as f64 * b as f64).sum()
}

fn close(num: f64, ana: f64) -> bool {
    (num - ana).abs() <= ABS_TOL + REL_TOL * ana.abs()
}

fn gradcheck(out_act: OutAct, seed: u64) {
    let mut r = Stream::new(seed, "gradcheck-search");
    // a large output-layer init so the last layer's gradients are not tiny
    let net = Mlp::new(&[6, 9, 7, 2], out_act, 0.5, &mut r);
    let batch = 3;
    let x: Vec<f32> = (0..batch * 6).map(|_| 2.0 * r.uniform() - 1.0).collect();
    let c: Vec<f32> = (0..batch * 2).map(|_| r.normal()).collect();
    let cache = net.forward_train(&x, batch);
    let mut grads = net.zero_grads();
    let gx = net.backward(&cache, &c, Some(&mut grads));

    let mut checked = 0;
    for l in 0..net.layers.len() {
        for (is_w, n) in [
            (true, net.layers[l].wt.len()),
            (false, net.layers[l].b.len()),
        ] {
            for i in 0..n {
                let bump = |d: f32| {
                    let mut m = net.clone();
                    if is_w {
                        m.layers[l].wt[i] += d;
                    } else {
                        m.layers[l].b[i] += d;
                    }
                    loss(&m, &x, batch, &c)
                };
                let num = (bump(FD_STEP) - bump(-FD_STEP)) / (2.0 * FD_STEP as f64);
                let ana = if is_w { grads.w[l][i] } else { grads.b[l][i] } as f64;
                assert!(
                    close(num, ana),
                    "{out_act:?} layer {l} w={is_w} [{i}]: fd {num} vs {ana}"
                );
                checked += 1;
            }
        }
    }
    for i in 0..x.len() {
        let bump = |d: f32| {
            let mut xx = x.clone();
            xx[i] += d;
            loss(&net, &xx, batch, &c)
        };
        let num = (bump(FD_STEP) - bump(-FD_STEP)) / (2.0 * FD_STEP as f64);
        assert!(
            close(num, gx[i] as f64),
            "{out_act:?} input [{i}]: fd {num} vs {}",
            gx[i]
        );
        checked += 1;
    }
    assert_eq!(checked, net.len() + x.len());
    // the check is not vacuous: gradients are not all zero
    assert!(grads.w.iter().flatten().any(|g| g.abs() > 1e-2));
    assert!(gx.iter().any(|g| g.abs() > 1e-2));
}

#[test]
fn backward_matches_finite_differences_sigmoid() {
    gradcheck(OutAct::Sigmoid, 1);
    gradcheck(OutAct::Sigmoid, 2);
}

#[test]
fn backward_matches_finite_differences_identity() {
    gradcheck(OutAct::Identity, 3);
    gradcheck(OutAct::Identity, 4);
}

#[test]
fn backward_accumulates_into_grads() {
    let mut r = Stream::new(5, "acc");
    let net = Mlp::new(&[3, 4, 1], OutAct::Identity, 0.3, &mut r);
    let x = [0.3f32, -0.2, 0.9];
    let cache = net.forward_train(&x, 1);
    let mut g1 = net.zero_grads();
    net.backward(&cache, &[1.0], Some(&mut g1));
    let mut g2 = g1.clone();
    net.backward(&cache, &[1.0], Some(&mut g2));
    for (a, b) in g1.w.iter().flatten().zip(g2.w.iter().flatten()) {
        assert!((2.0 * a - b).abs() <= F32_TOL * (1.0 + a.abs()));
    }
}

#[test]
fn sigmoid_is_stable_and_symmetric() {
    for &z in &[-100.0f32, -3.0, -0.5, 0.0, 0.5, 3.0, 100.0] {
        let s = sigmoid(z);
        assert!((0.0..=1.0).contains(&s) && s.is_finite());
        assert!((s + sigmoid(-z) - 1.0).abs() <= F32_TOL);
    }
    assert_eq!(sigmoid(0.0), 0.5);
}

#[test]
fn adam_first_step_moves_each_parameter_by_lr_against_its_gradient_sign() {
    let mut r = Stream::new(6, "adam");
    let mut net = Mlp::new(&[3, 4, 2], OutAct::Identity, 0.3, &mut r);
    let before = net.clone();
    let mut g = net.zero_grads();
    for (k, v) in g.w.iter_mut().flatten().enumerate() {
        *v = if k % 3 == 0 {
            0.0
        } else if k % 2 == 0 {
            0.7
        } else {
            -2.0
        };
    }
    let lr = 1e-3;
    let mut opt = Adam::new(&net, lr);
    opt.step(&mut net, &g);
    for l in 0..net.layers.len() {
        for (k, (&p, &p0)) in net.layers[l]
            .wt
            .iter()
            .zip(&before.layers[l].wt)
            .enumerate()
        {
            let gk = g.w[l][k];
            // bias-corrected first step: m_hat / sqrt(v_hat) = sign(g)
            let want = p0 - lr * gk.signum() * (gk != 0.0) as u8 as f32;
            assert!((p - want).abs() <= 1e-6, "layer {l} [{k}]: {p} vs {want}");
        }
        assert_eq!(
            net.layers[l].b, before.layers[l].b,
            "zero gradient leaves biases"
        );
    }
}

#[test]
fn soft_update_is_polyak_averaging() {
    let mut r = Stream::new(7, "soft");
    let src = Mlp::new(&[3, 5, 1], OutAct::Sigmoid, 0.3, &mut r);
    let mut tgt = Mlp::new(&[3, 5, 1], OutAct::Sigmoid, 0.3, &mut r);
    let t0 = tgt.clone();
    tgt.soft_update(&src, 0.01);
    for l in 0..2 {
        for ((&t, &t_old), &s) in tgt.layers[l]
            .wt
            .iter()
            .zip(&t0.layers[l].wt)
            .zip(&src.layers[l].wt)
        {
            assert!((t - (0.99 * t_old + 0.01 * s)).abs() <= F32_TOL);
        }
    }
    // tau = 1 copies
    tgt.soft_update(&src, 1.0);
    assert_eq!(tgt, src);
}

#[test]
fn init_is_seeded() {
    let a = Mlp::new(
        &[4, 6, 1],
        OutAct::Sigmoid,
        3e-3,
        &mut Stream::new(1, "search-init"),
    );
    let b = Mlp::new(
        &[4, 6, 1],
        OutAct::Sigmoid,
        3e-3,
        &mut Stream::new(1, "search-init"),
    );
    let c = Mlp::new(
        &[4, 6, 1],
        OutAct::Sigmoid,
        3e-3,
        &mut Stream::new(2, "search-init"),
    );
    assert_eq!(a, b);
    assert_ne!(a, c);
    // output layer within +-init_w, hidden within 1/sqrt(fan_in)
    assert!(a.layers[1].wt.iter().all(|w| w.abs() <= 3e-3));
    assert!(a.layers[0].wt.iter().all(|w| w.abs() <= 0.5));
    // initial actor output is near 0.5
    let y = a.forward(&[0.2, 0.4, 0.6, 0.8], 1)[0];
    assert!((y - 0.5).abs() < 0.01, "{y}");
}
