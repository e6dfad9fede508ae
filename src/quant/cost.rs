//! Cost model (docs/method.md section 5; HAQ, Wang et al., CVPR 2019).
//!
//! MACs(conv) = C_out H_out W_out C_in K_h K_w, MACs(fc) = in * out;
//! BOPs(layer) = MACs * b_w * b_a (b_a = bits of the layer's input; full precision = 32);
//! ratio = sum BOPs / sum (MACs * 32 * 32), so uniform W4A4 = 16 / 1024 = 1.5625 %.
//! Size in bytes per layer: ceil(weights * b_w / 8) + 4 per bias + 4 per weight scale
//! (per output channel, or one per tensor) when weights are quantized + 4 for the activation
//! range when the input is quantized. FP32 size: 4 bytes per weight and bias.
//!
//! [`enforce_budget`] is HAQ's action wall: walk the layers from last to first, decrementing
//! the activation bits and then the weight bits by one (never below b_min, skipping locked
//! layers; full precision steps down to 8), checking the budget after every decrement, and
//! repeat the walk until BOPs <= budget * FP32 BOPs.

use super::policy::{Bits, Policy};
use super::{quant_layers, QLayer};
use crate::error::{Error, Result};
use crate::nn::Model;
use serde::Serialize;

/// One quantizable layer's row of a [`Cost`].
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct LayerCost {
    /// The layer's name (`conv1`, ..., `fc5`).
    pub name: String,
    /// Multiply-accumulates per image.
    pub macs: u64,
    /// Weight bits (32 = full precision).
    pub w_bits: u32,
    /// Input activation bits (32 = full precision).
    pub a_bits: u32,
    /// Bit operations per image: MACs * w_bits * a_bits.
    pub bops: u64,
    /// This layer's share of the FP32 BOPs (for bar widths).
    pub fp32_share: f64,
    /// Bytes of weights, biases, scales and activation range (module docs).
    pub size_bytes: u64,
}

/// The cost of a policy on a model (docs/method.md section 5): BOPs, size and their FP32 ratios.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct Cost {
    /// Per quantizable layer, in network order.
    pub layers: Vec<LayerCost>,
    /// Total multiply-accumulates per image.
    pub macs: u64,
    /// Total bit operations per image under the policy.
    pub bops: u64,
    /// Bit operations of the FP32 model: MACs * 32 * 32.
    pub fp32_bops: u64,
    /// bops / fp32_bops.
    pub ratio: f64,
    /// Model size under the policy, in bytes.
    pub size_bytes: u64,
    /// FP32 model size: 4 bytes per weight and bias.
    pub fp32_size_bytes: u64,
    /// fp32_size_bytes / size_bytes.
    pub compression: f64,
}

/// BOPs of one layer: MACs * b_w * b_a.
pub(crate) fn layer_bops(macs: u64, w: Bits, a: Bits) -> u64 {
    macs * w.get() as u64 * a.get() as u64
}

/// Total BOPs of a policy over layers with the given MACs.
pub fn total_bops(macs: &[u64], policy: &Policy) -> u64 {
    macs.iter()
        .zip(&policy.layers)
        .map(|(&m, l)| layer_bops(m, l.w, l.a))
        .sum()
}

fn layer_size(q: &QLayer, w: Bits, a: Bits, per_channel: bool) -> u64 {
    let weights = (q.weights as u64 * w.get() as u64).div_ceil(8);
    let scales = if w.is_full() {
        0
    } else if per_channel {
        q.cout as u64
    } else {
        1
    };
    let range = u64::from(!a.is_full());
    weights + 4 * (q.biases as u64 + scales + range)
}

fn check_len(layers: &[QLayer], policy: &Policy) -> Result<()> {
    if layers.len() == policy.len() {
        return Ok(());
    }
    Err(Error::invalid(
        "wb",
        policy.wb(),
        &format!("{} layers in the policy", policy.len()),
        format!("{} quantizable layers", layers.len()),
    ))
}

/// Cost of `policy` on `model` (per-channel weight scales).
pub fn cost(model: &Model, policy: &Policy) -> Result<Cost> {
    cost_of(&quant_layers(model), policy, true)
}

/// Cost of `policy` on the given quantizable layers.
pub(crate) fn cost_of(layers: &[QLayer], policy: &Policy, per_channel: bool) -> Result<Cost> {
    check_len(layers, policy)?;
    let fp32_bops: u64 = layers.iter().map(|q| q.macs * 1024).sum();
    let lc: Vec<LayerCost> = layers
        .iter()
        .zip(&policy.layers)
        .map(|(q, l)| LayerCost {
            name: q.name.clone(),
            macs: q.macs,
            w_bits: l.w.get(),
            a_bits: l.a.get(),
            bops: layer_bops(q.macs, l.w, l.a),
            fp32_share: (q.macs * 1024) as f64 / fp32_bops.max(1) as f64,
            size_bytes: layer_size(q, l.w, l.a, per_channel),
        })
        .collect();
    let bops: u64 = lc.iter().map(|l| l.bops).sum();
    let size_bytes: u64 = lc.iter().map(|l| l.size_bytes).sum();
    let fp32_size_bytes: u64 = layers
        .iter()
        .map(|q| 4 * (q.weights + q.biases) as u64)
        .sum();
    Ok(Cost {
        macs: layers.iter().map(|q| q.macs).sum(),
        bops,
        fp32_bops,
        ratio: bops as f64 / fp32_bops.max(1) as f64,
        size_bytes,
        fp32_size_bytes,
        compression: fp32_size_bytes as f64 / size_bytes.max(1) as f64,
        layers: lc,
    })
}

/// HAQ's budget enforcement (module doc): lower `policy` until its BOPs are at most
/// `budget` (a fraction of the FP32 BOPs, in (0, 1]). Returns whether anything changed; an
/// error names the smallest reachable budget when this one cannot be met.
pub fn enforce_budget(macs: &[u64], policy: &mut Policy, budget: f64, b_min: Bits) -> Result<bool> {
    if !(budget > 0.0 && budget <= 1.0) {
        return Err(Error::invalid(
            "budget",
            budget,
            "out of range",
            "a fraction of FP32 BOPs in (0, 1]",
        ));
    }
    if b_min.is_full() {
        return Err(Error::invalid(
            "b_min",
            b_min,
            "must be a quantized width",
            "2..8",
        ));
    }
    let fp32: u64 = macs.iter().map(|m| m * 1024).sum();
    let fits = |p: &Policy| total_bops(macs, p) as f64 <= budget * fp32 as f64;
    if fits(policy) {
        return Ok(false);
    }
    let mut floor = policy.clone();
    for l in floor.layers.iter_mut().filter(|l| !l.locked) {
        (l.w, l.a) = (l.w.min(b_min), l.a.min(b_min));
    }
    if !fits(&floor) {
        let min = total_bops(macs, &floor) as f64 / fp32.max(1) as f64;
        return Err(Error::invalid(
            "budget",
            budget,
            &format!(
                "unreachable: locked layers and b_min = {b_min} cost at least {min:.6} of FP32"
            ),
            format!("a budget >= {min:.6}, fewer locked layers, or a lower b_min"),
        ));
    }
    loop {
        for i in (0..policy.len()).rev() {
            if policy.layers[i].locked {
                continue;
            }
            if let Some(a) = policy.layers[i].a.dec(b_min) {
                policy.layers[i].a = a;
            }
            if fits(policy) {
                return Ok(true);
            }
            if let Some(w) = policy.layers[i].w.dec(b_min) {
                policy.layers[i].w = w;
            }
            if fits(policy) {
                return Ok(true);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(wb: &str, ab: &str) -> Policy {
        Policy::parse(wb, ab, 3).unwrap()
    }

    #[test]
    fn walks_last_to_first_activation_first() {
        let macs = [100u64, 100, 100];
        // FP32 = 307,200 BOPs; W8A8 = 19,200 = 6.25 %; budget 6 % needs 12,288 or less.
        let mut q = p("8", "8");
        assert!(enforce_budget(&macs, &mut q, 0.06, Bits::MIN).unwrap());
        // a3: 8 -> 7 gives 18,400 <= 0.06 * 307,200 = 18,432.
        assert_eq!(q.to_fragment(), "wb=8,8,8&ab=8,8,7");
        let mut q = p("8", "8");
        enforce_budget(&macs, &mut q, 0.04, Bits::MIN).unwrap();
        // 0.04 * 307,200 = 12,288. First walk: a3 w3 a2 w2 a1 w1 -> 7 (14,700); second walk:
        // a3 = 6 (14,000), w3 = 6 (13,400), a2 = 6 (12,700), w2 = 6 (12,100): fits.
        assert_eq!(q.to_fragment(), "wb=7,6,6&ab=7,6,6");
        assert!(!enforce_budget(&macs, &mut q, 0.5, Bits::MIN).unwrap());
    }

    #[test]
    fn locks_and_unreachable_budgets() {
        let macs = [100u64, 100, 100];
        let mut q = p("8,4,8", "8,4,8");
        q.layers[0].locked = true;
        enforce_budget(&macs, &mut q, 0.03, Bits::MIN).unwrap();
        assert_eq!(q.layers[0].w.get() * q.layers[0].a.get(), 64);
        assert!(total_bops(&macs, &q) as f64 <= 0.03 * 307_200.0);
        let e = enforce_budget(&macs, &mut q, 0.02, Bits::MIN)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("budget=0.02") && e.contains("unreachable"),
            "{e}"
        );
        assert!(enforce_budget(&macs, &mut q, 0.0, Bits::MIN).is_err());
    }
}
