//! How well a search's reward tells policies apart (docs/method.md, "The reward's
//! resolution").
//!
//! A reward is only useful to a search if the differences it reports between policies are
//! larger than the differences it reports for the same policy measured twice. This module
//! evaluates a fixed set of policies exactly as a search episode does (calibrate, `sft`
//! fine-tuning batches, IRS against the FP32 reference of the search split) under several
//! seeds. A seed changes every noise stream (f's certification, the replay, the fallback) and
//! the fine-tuning order, never the pretrained weights, so the spread across seeds for one
//! policy is the reward's measurement noise, and the spread of the per-policy means is its
//! signal.

use super::eval::{EvalJob, EvalSpec};
use super::search::{layer_features, reward_of, BudgetWall, Method};
use super::{Fp32Job, Fp32Ref, Points};
use crate::config::ExperimentConfig;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::job::Job;
use crate::nn::Model;
use crate::quant::cost::cost;
use crate::quant::Policy;
use crate::rng::Stream;
use crate::search::{action_to_bits, BitRange, Evaluator};
use serde::Serialize;
use std::sync::Arc;

/// Noisy samples per job step (any value gives the same numbers; this only sets how often
/// the clock is read).
const STEP: u64 = 1 << 20;

/// One policy's rewards, one per seed.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolutionRow {
    /// `uniform WxAy` or `random k`.
    pub name: String,
    /// `wb=..&ab=..` of the policy.
    pub fragment: String,
    /// BOPs of the policy / BOPs of FP32.
    pub bops_ratio: f64,
    /// The reward under each seed, in seed order.
    pub rewards: Vec<f64>,
    /// ACR of the quantized model (IRS, search split) under each seed.
    pub acr: Vec<f64>,
    /// Forward samples the evaluation's certification used, under the first seed.
    pub samples: u64,
    /// Mean reward over the seeds.
    pub mean: f64,
    /// Sample standard deviation of the reward over the seeds.
    pub sd: f64,
    /// With validation: the ACR of the final comparison's measurement of this policy
    /// (`fft` fine-tuning batches, fresh CERTIFY on the reported points), first seed.
    pub final_acr: Option<f64>,
}

/// The resolution of a reward over a set of policies and seeds.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Resolution {
    /// The seeds, in column order.
    pub seeds: Vec<u64>,
    /// One row per policy.
    pub rows: Vec<ResolutionRow>,
    /// Noise: the pooled within-policy standard deviation of the reward.
    pub sd_within: f64,
    /// Signal: the standard deviation of the true per-policy rewards, estimated as
    /// sqrt(max(0, var(policy means) - var_within / seeds)).
    pub sd_between: f64,
    /// sd_between / sd_within: how many noise standard deviations apart two policies
    /// typically are, for a single measurement each.
    pub snr: f64,
    /// Intraclass correlation var_between / (var_between + var_within): the share of one
    /// measurement's variance that is due to the policy.
    pub icc: f64,
    /// Mean Spearman rank correlation of the policies' rewards between every two seeds.
    pub rank_agreement: f64,
    /// With validation: Spearman's rho between the mean reward and the final ACR over the
    /// policies: does the reward rank policies as the final table would?
    pub validity: Option<f64>,
}

/// The policies to measure: every uniform (w, a) pair in 2..=8 bits that fits the budget,
/// then `random` policies drawn as the random search draws them (uniform actions, HAQ's
/// budget walk), duplicates dropped.
pub fn candidate_policies(
    cfg: &ExperimentConfig,
    pretrained: &Model,
    random: usize,
) -> Result<Vec<(String, Policy)>> {
    let layers = layer_features(pretrained);
    let n = layers.len();
    let wall = BudgetWall {
        macs: layers.iter().map(|l| l.macs).collect(),
        budget: cfg.budget,
        locked: cfg.policy(n)?,
    };
    let mut out: Vec<(String, Policy)> = Vec::new();
    let mut push = |name: String, p: Policy| {
        let f = p.to_fragment();
        if !out.iter().any(|(_, q)| q.to_fragment() == f) {
            out.push((name, p));
        }
    };
    // the final table's uniform candidates, listed by weight bits, then activation bits
    let mut uniform = super::uniform::candidates(pretrained, &wall.locked, cfg.budget);
    uniform.sort_by_key(|c| (c.w, c.a));
    for c in uniform {
        push(format!("uniform W{}A{}", c.w, c.a), c.policy);
    }
    let mut rng = Stream::new(cfg.seed, "resolution-policies");
    let range = BitRange::default();
    for k in 0..random {
        let mut draw = || action_to_bits(rng.uniform(), range);
        let (w, a): (Vec<u8>, Vec<u8>) = (0..n).map(|_| (draw(), draw())).unzip();
        let (w, a) = wall.enforce_budget(&w, &a);
        push(format!("random {}", k + 1), wall.policy(&w, &a));
    }
    Ok(out)
}

/// The FP32 reference of the search split under `cfg`.
fn reference(cfg: &ExperimentConfig, pretrained: &Model, data: &Dataset) -> Result<Fp32Ref> {
    let mut job = Fp32Job::new(cfg, pretrained, data, Points::Search, 0)?;
    let mut clock = || 0u64;
    loop {
        if let Some(r) = Job::step(&mut job, (), STEP, &mut clock)?.reference {
            return Ok(r);
        }
    }
}

/// What to measure.
#[derive(Clone, Debug)]
pub struct ResolutionSpec {
    /// (name, policy) of each policy (see [`candidate_policies`]).
    pub policies: Vec<(String, Policy)>,
    /// The seeds (at least two).
    pub seeds: Vec<u64>,
    /// Whose reward: [`Method::Arq`] (the config's `reward`) or [`Method::Haq`].
    pub method: Method,
    /// Also measure each policy as the final table does and report the rank correlation.
    pub validate: bool,
}

/// Evaluate every policy under every seed as a search episode of the spec's method does, and
/// summarise the reward's resolution. `progress(done, total)` is called after each
/// evaluation.
pub fn measure(
    cfg: &ExperimentConfig,
    pretrained: &Model,
    data: &Dataset,
    spec: &ResolutionSpec,
    mut progress: impl FnMut(usize, usize),
) -> Result<Resolution> {
    let ResolutionSpec {
        policies,
        seeds,
        method,
        validate,
    } = spec;
    let (method, validate) = (*method, *validate);
    if policies.len() < 2 || seeds.len() < 2 {
        return Err(Error::invalid(
            "seeds",
            format!("{} policies x {} seeds", policies.len(), seeds.len()),
            "the resolution needs at least two policies and two seeds",
            "--seeds with 2 or more values and a budget that admits 2 or more policies",
        ));
    }
    let mut rewards = vec![vec![0.0; seeds.len()]; policies.len()];
    let mut acr = rewards.clone();
    let mut samples = vec![0u64; policies.len()];
    let total = policies.len() * (seeds.len() + validate as usize);
    for (j, &seed) in seeds.iter().enumerate() {
        let mut c = cfg.clone();
        c.seed = seed;
        let fp = Arc::new(reference(&c, pretrained, data)?);
        for (i, (name, policy)) in policies.iter().enumerate() {
            let spec = EvalSpec::episode(name.clone(), policy.clone(), &c);
            let r = evaluate(spec, &c, pretrained, data, Some(fp.clone()))?;
            rewards[i][j] = reward_of(method, c.reward, &fp, r.summary.acr, r.points_accuracy);
            acr[i][j] = r.summary.acr;
            if j == 0 {
                samples[i] = r.irs.as_ref().map_or(0, |s| s.samples);
            }
            progress(j * policies.len() + i + 1, total);
        }
    }
    let mut final_acr = vec![None; policies.len()];
    if validate {
        let mut c = cfg.clone();
        c.seed = seeds[0];
        for (i, (name, policy)) in policies.iter().enumerate() {
            let spec = EvalSpec::final_row(name.clone(), policy.clone(), &c);
            final_acr[i] = Some(evaluate(spec, &c, pretrained, data, None)?.summary.acr);
            progress(total - policies.len() + i + 1, total);
        }
    }
    let rows = policies
        .iter()
        .zip(rewards.iter().zip(acr).zip(samples))
        .zip(final_acr)
        .map(|(((name, p), ((r, a), samples)), final_acr)| {
            let (mean, var) = mean_var(r);
            Ok(ResolutionRow {
                name: name.clone(),
                fragment: p.to_fragment(),
                bops_ratio: cost(pretrained, p)?.ratio,
                rewards: r.clone(),
                acr: a,
                samples,
                mean,
                sd: var.sqrt(),
                final_acr,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(summarise(seeds.to_vec(), rows, &rewards))
}

/// Run one evaluation to its end.
fn evaluate(
    spec: EvalSpec,
    cfg: &ExperimentConfig,
    pretrained: &Model,
    data: &Dataset,
    fp: Option<Arc<Fp32Ref>>,
) -> Result<super::eval::EvalResult> {
    let mut job = EvalJob::new(spec, cfg, pretrained, data, fp, 0)?;
    let mut clock = || 0u64;
    loop {
        if let Some(o) = job.step(data, STEP, &mut clock)? {
            return Ok(o.result);
        }
    }
}

/// Mean and sample variance (n - 1 in the denominator).
fn mean_var(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1.0);
    (mean, var)
}

/// Ranks (1-based, ties averaged).
fn ranks(x: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..x.len()).collect();
    idx.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut r = vec![0.0; x.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && x[idx[j + 1]] == x[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            r[k] = avg;
        }
        i = j + 1;
    }
    r
}

/// Spearman's rho: Pearson's correlation of the ranks (0 when either side is constant).
fn spearman(a: &[f64], b: &[f64]) -> f64 {
    let (ra, rb) = (ranks(a), ranks(b));
    let (ma, va) = mean_var(&ra);
    let (mb, vb) = mean_var(&rb);
    if va == 0.0 || vb == 0.0 {
        return 0.0;
    }
    let cov = ra
        .iter()
        .zip(&rb)
        .map(|(x, y)| (x - ma) * (y - mb))
        .sum::<f64>()
        / (ra.len() as f64 - 1.0);
    cov / (va * vb).sqrt()
}

/// The resolution statistics of a policies x seeds reward matrix (at least 2 x 2).
fn summarise(seeds: Vec<u64>, rows: Vec<ResolutionRow>, r: &[Vec<f64>]) -> Resolution {
    let s = seeds.len();
    let var_within = r.iter().map(|x| mean_var(x).1).sum::<f64>() / r.len() as f64;
    let means: Vec<f64> = r.iter().map(|x| mean_var(x).0).collect();
    let var_between = (mean_var(&means).1 - var_within / s as f64).max(0.0);
    let (sd_within, sd_between) = (var_within.sqrt(), var_between.sqrt());
    let total = var_between + var_within;
    let mut rho = Vec::new();
    for a in 0..s {
        for b in a + 1..s {
            let col = |j: usize| r.iter().map(|x| x[j]).collect::<Vec<f64>>();
            rho.push(spearman(&col(a), &col(b)));
        }
    }
    let finals: Option<Vec<f64>> = rows.iter().map(|r| r.final_acr).collect();
    let validity = finals.map(|f| spearman(&means, &f));
    Resolution {
        validity,
        seeds,
        rows,
        sd_within,
        sd_between,
        snr: if sd_within > 0.0 {
            sd_between / sd_within
        } else {
            f64::INFINITY
        },
        icc: if total > 0.0 {
            var_between / total
        } else {
            0.0
        },
        rank_agreement: rho.iter().sum::<f64>() / rho.len() as f64,
    }
}

/// The measurement as Markdown: one row per policy, then the summary.
pub fn markdown(r: &Resolution) -> String {
    let mut s = String::from("| policy | BOPs % | IRS samples |");
    for seed in &r.seeds {
        s.push_str(&format!(" seed {seed} |"));
    }
    let v = r.validity.is_some();
    s.push_str(if v {
        " mean | sd | final ACR |\n|---|---:|---:|"
    } else {
        " mean | sd |\n|---|---:|---:|"
    });
    s.push_str(&"---:|".repeat(r.seeds.len() + 2 + v as usize));
    s.push('\n');
    for row in &r.rows {
        s.push_str(&format!(
            "| {} | {:.3} | {} |",
            row.name,
            100.0 * row.bops_ratio,
            row.samples
        ));
        for v in &row.rewards {
            s.push_str(&format!(" {v:.4} |"));
        }
        s.push_str(&format!(" {:.4} | {:.4} |", row.mean, row.sd));
        if let Some(a) = row.final_acr {
            s.push_str(&format!(" {a:.3} |"));
        }
        s.push('\n');
    }
    s.push_str(&format!(
        "\nsignal sd_between = {:.4}, noise sd_within = {:.4}, SNR = {:.2}, ICC = {:.2}, \
         mean Spearman rho between seeds = {:.2} ({} policies x {} seeds)\n",
        r.sd_between,
        r.sd_within,
        r.snr,
        r.icc,
        r.rank_agreement,
        r.rows.len(),
        r.seeds.len()
    ));
    if let Some(v) = r.validity {
        s.push_str(&format!(
            "validity: Spearman rho between the mean reward and the final fresh ACR = {v:.2}\n"
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(r: &[f64]) -> ResolutionRow {
        let (mean, var) = mean_var(r);
        ResolutionRow {
            name: String::new(),
            fragment: String::new(),
            bops_ratio: 0.0,
            rewards: r.to_vec(),
            acr: vec![],
            samples: 0,
            mean,
            sd: var.sqrt(),
            final_acr: None,
        }
    }

    fn of(m: &[Vec<f64>]) -> Resolution {
        let rows = m.iter().map(|r| row(r)).collect();
        summarise((0..m[0].len() as u64).collect(), rows, m)
    }

    #[test]
    fn ranks_average_ties() {
        assert_eq!(ranks(&[3.0, 1.0, 3.0, 2.0]), vec![3.5, 1.0, 3.5, 2.0]);
    }

    #[test]
    fn spearman_known_values() {
        assert!((spearman(&[1.0, 2.0, 3.0], &[10.0, 20.0, 30.0]) - 1.0).abs() < 1e-12);
        assert!((spearman(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
        // d = (0, -1, 1): rho = 1 - 6 * 2 / (3 * 8) = 0.5
        assert!((spearman(&[1.0, 2.0, 3.0], &[1.0, 3.0, 2.0]) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn pure_noise_has_no_signal() {
        // every policy measures the same values: no between-policy variance at all
        let r = of(&[
            vec![0.0, 1.0, 2.0],
            vec![0.0, 1.0, 2.0],
            vec![0.0, 1.0, 2.0],
        ]);
        assert_eq!(r.sd_between, 0.0);
        assert!((r.sd_within - 1.0).abs() < 1e-12);
        assert_eq!(r.snr, 0.0);
        assert_eq!(r.icc, 0.0);
    }

    #[test]
    fn known_signal_and_noise() {
        // policy means 0, 10, 20 (var 100); within var 1 per policy with 2 seeds:
        // var_between = 100 - 1 / 2 = 99.5
        let r = of(&[
            vec![-0.5_f64.sqrt(), 0.5_f64.sqrt()],
            vec![10.0 - 0.5_f64.sqrt(), 10.0 + 0.5_f64.sqrt()],
            vec![20.0 - 0.5_f64.sqrt(), 20.0 + 0.5_f64.sqrt()],
        ]);
        assert!((r.sd_within - 1.0).abs() < 1e-12);
        assert!((r.sd_between - 99.5_f64.sqrt()).abs() < 1e-9);
        assert!((r.icc - 99.5 / 100.5).abs() < 1e-12);
        assert!((r.rank_agreement - 1.0).abs() < 1e-12);
    }
}
