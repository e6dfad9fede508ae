//! Deep deterministic policy gradient (Lillicrap et al., ICLR 2016) as HAQ (Wang et al.,
//! CVPR 2019) uses it for bit-width search.
//!
//! Actor mu(s): S -> h -> h -> 1, ReLU, sigmoid output. Critic Q(s, a): ReLU(W_s s + W_a a + b)
//! -> h -> 1 (one dense layer on the concatenation [s, a], then ReLU -> h -> 1). Adam (actor
//! lr 1e-4, critic lr 1e-3). One update on a batch of B transitions:
//!   baseline   m <- r_mean (first update), else m <- m + alpha (r_mean - m), alpha = 0.5;
//!              r <- r - m   (HAQ's moving-average reward centring);
//!   critic     y = r + gamma (1 - done) Q'(s', mu'(s')), minimise mean (Q(s, a) - y)^2;
//!   actor      minimise -mean Q(s, mu(s)) (with the just-updated critic);
//!   targets    theta' <- (1 - tau) theta' + tau theta, tau = 0.01.
//! Exploration: a ~ TruncNormal(mu(s), sigma_e, [0, 1]) with
//! sigma_e = sigma_0 * decay^(episode - warmup) (HAQ: 0.5, 0.99).

use super::mlp::{clear, Adam, Grads, Mlp, OutAct};
use super::replay::{Replay, Transition};
use crate::error::{Error, Result};
use crate::rng::Stream;
use serde::{Deserialize, Serialize};

/// The agent's hyper-parameters; defaults are HAQ's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DdpgConfig {
    /// Width of both hidden layers of actor and critic (HAQ: 300).
    pub hidden: usize,
    /// Adam learning rate of the actor (HAQ: 1e-4).
    pub actor_lr: f32,
    /// Adam learning rate of the critic (HAQ: 1e-3).
    pub critic_lr: f32,
    /// Soft target update rate.
    pub tau: f32,
    /// Discount gamma (HAQ: 1, every step carries the episode's reward).
    pub discount: f32,
    /// Transitions per update batch (HAQ: 64).
    pub batch: usize,
    /// Replay capacity in episodes (times the steps per episode).
    pub replay_episodes: usize,
    /// Exploration sigma at the first episode after warm-up.
    pub init_sigma: f32,
    /// Per-episode decay of the exploration sigma.
    pub sigma_decay: f32,
    /// Moving-average factor of the reward baseline.
    pub baseline_alpha: f32,
    /// Half-width of the uniform init of both output layers.
    pub init_w: f32,
}

impl Default for DdpgConfig {
    fn default() -> Self {
        DdpgConfig {
            hidden: 300,
            actor_lr: 1e-4,
            critic_lr: 1e-3,
            tau: 0.01,
            discount: 1.0,
            batch: 64,
            replay_episodes: 128,
            init_sigma: 0.5,
            sigma_decay: 0.99,
            baseline_alpha: 0.5,
            init_w: 3e-3,
        }
    }
}

fn check(field: &str, v: f64, lo: f64, hi: f64, ok: bool) -> Result<()> {
    if ok && v.is_finite() && (lo..=hi).contains(&v) {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            v,
            "out of range",
            format!("{lo}..{hi}"),
        ))
    }
}

impl DdpgConfig {
    pub(crate) fn validate(&self) -> Result<()> {
        check("hidden", self.hidden as f64, 1.0, 4096.0, true)?;
        check(
            "actorLr",
            self.actor_lr as f64,
            0.0,
            1.0,
            self.actor_lr > 0.0,
        )?;
        check(
            "criticLr",
            self.critic_lr as f64,
            0.0,
            1.0,
            self.critic_lr > 0.0,
        )?;
        check("tau", self.tau as f64, 0.0, 1.0, self.tau > 0.0)?;
        check("discount", self.discount as f64, 0.0, 1.0, true)?;
        check("batch", self.batch as f64, 1.0, 4096.0, true)?;
        check(
            "replayEpisodes",
            self.replay_episodes as f64,
            1.0,
            100_000.0,
            true,
        )?;
        check("initSigma", self.init_sigma as f64, 0.0, 10.0, true)?;
        check("sigmaDecay", self.sigma_decay as f64, 0.0, 1.0, true)?;
        check("baselineAlpha", self.baseline_alpha as f64, 0.0, 1.0, true)?;
        check("initW", self.init_w as f64, 0.0, 1.0, true)
    }

    /// Exploration sigma of an episode: init_sigma * sigma_decay^(episode - warmup).
    pub fn sigma_at(&self, episode: usize, warmup: usize) -> f32 {
        let k = episode.saturating_sub(warmup) as f64;
        (self.init_sigma as f64 * libm::pow(self.sigma_decay as f64, k)) as f32
    }
}

/// Rejection attempts before `trunc_normal` falls back to clamping the mean.
const MAX_REJECTIONS: usize = 10_000;

/// A draw from N(mu, sigma^2) truncated to [lo, hi], by rejection from the full normal.
/// With mu inside [lo, hi] at least a third of proposals are accepted for sigma <= hi - lo,
/// so the cap is never reached in the search; sigma <= 0 (or non-finite input) returns mu
/// clamped to the interval.
pub fn trunc_normal(rng: &mut Stream, mu: f32, sigma: f32, lo: f32, hi: f32) -> f32 {
    let clamped = if mu.is_nan() { lo } else { mu.clamp(lo, hi) };
    if sigma.is_nan() || sigma <= 0.0 || !mu.is_finite() || sigma.is_infinite() {
        return clamped;
    }
    for _ in 0..MAX_REJECTIONS {
        let x = mu + sigma * rng.normal();
        if (lo..=hi).contains(&x) {
            return x;
        }
    }
    clamped
}

/// Statistics of one update (averaged by the driver over an episode's updates).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct UpdateStats {
    /// Mean squared TD error of the critic before its step.
    pub critic_loss: f32,
    /// Mean Q(s, mu(s)) over the batch (the negated actor loss).
    pub mean_q: f32,
    /// The reward baseline after this update.
    pub baseline: f32,
}

/// The agent: actor, critic, their targets and optimizers, the replay buffer.
pub(crate) struct Ddpg {
    cfg: DdpgConfig,
    state_dim: usize,
    actor: Mlp,
    actor_target: Mlp,
    critic: Mlp,
    critic_target: Mlp,
    actor_opt: Adam,
    critic_opt: Adam,
    actor_grads: Grads,
    critic_grads: Grads,
    replay: Replay,
    baseline: Option<f32>,
    rng: Stream,
}

impl Ddpg {
    /// Networks from stream `search-init`, batches from `search-replay` of `seed`.
    pub(crate) fn new(
        cfg: &DdpgConfig,
        state_dim: usize,
        steps_per_episode: usize,
        seed: u64,
    ) -> Result<Ddpg> {
        cfg.validate()?;
        let mut init = Stream::new(seed, "search-init");
        let h = cfg.hidden;
        let actor = Mlp::new(
            &[state_dim, h, h, 1],
            OutAct::Sigmoid,
            cfg.init_w,
            &mut init,
        );
        let critic = Mlp::new(
            &[state_dim + 1, h, h, 1],
            OutAct::Identity,
            cfg.init_w,
            &mut init,
        );
        Ok(Ddpg {
            actor_opt: Adam::new(&actor, cfg.actor_lr),
            critic_opt: Adam::new(&critic, cfg.critic_lr),
            actor_grads: actor.zero_grads(),
            critic_grads: critic.zero_grads(),
            actor_target: actor.clone(),
            critic_target: critic.clone(),
            actor,
            critic,
            replay: Replay::new(cfg.replay_episodes * steps_per_episode.max(1)),
            baseline: None,
            rng: Stream::new(seed, "search-replay"),
            cfg: cfg.clone(),
            state_dim,
        })
    }

    /// The deterministic policy mu(s) in (0, 1).
    pub(crate) fn act(&self, state: &[f32]) -> f32 {
        self.actor.forward(state, 1)[0]
    }

    /// An exploratory action: TruncNormal(mu(s), sigma, [0, 1]).
    pub(crate) fn explore(&self, state: &[f32], sigma: f32, rng: &mut Stream) -> f32 {
        trunc_normal(rng, self.act(state), sigma, 0.0, 1.0)
    }

    pub(crate) fn observe(&mut self, t: Transition) {
        debug_assert_eq!(t.state.len(), self.state_dim);
        self.replay.push(t);
    }

    /// One DDPG update from a replay batch. Panics on an empty buffer.
    pub(crate) fn update(&mut self) -> UpdateStats {
        let (d, bsz) = (self.state_dim, self.cfg.batch);
        let idx = self.replay.sample(&mut self.rng, bsz);
        let mut s = Vec::with_capacity(bsz * d);
        let mut s1 = Vec::with_capacity(bsz * d);
        let (mut a, mut r, mut live) = (vec![], vec![], vec![]);
        for &i in &idx {
            let t = self.replay.get(i);
            s.extend_from_slice(&t.state);
            s1.extend_from_slice(&t.next_state);
            a.push(t.action);
            r.push(t.reward);
            live.push(if t.done { 0.0f32 } else { 1.0 });
        }
        // moving-average baseline on the batch mean reward
        let mean_r = r.iter().fold(0.0f32, |acc, &v| acc + v) / bsz as f32;
        let base = match self.baseline {
            None => mean_r,
            Some(m) => m + self.cfg.baseline_alpha * (mean_r - m),
        };
        self.baseline = Some(base);

        // critic: y = (r - m) + gamma * live * Q'(s', mu'(s'))
        let a1 = self.actor_target.forward(&s1, bsz);
        let q1 = self.critic_target.forward(&concat(&s1, &a1, d), bsz);
        let y: Vec<f32> = (0..bsz)
            .map(|k| (r[k] - base) + self.cfg.discount * live[k] * q1[k])
            .collect();
        let cache = self.critic.forward_train(&concat(&s, &a, d), bsz);
        let q = cache.output();
        let inv_b = 1.0 / bsz as f32;
        let mut loss = 0.0f32;
        let mut gq = vec![0.0f32; bsz];
        for k in 0..bsz {
            let e = q[k] - y[k];
            loss += e * e;
            gq[k] = 2.0 * e * inv_b;
        }
        clear(&mut self.critic_grads);
        self.critic
            .backward(&cache, &gq, Some(&mut self.critic_grads));
        self.critic_opt.step(&mut self.critic, &self.critic_grads);

        // actor: maximise Q(s, mu(s)), gradient through the critic's action input
        let acache = self.actor.forward_train(&s, bsz);
        let mu = acache.output().to_vec();
        let ccache = self.critic.forward_train(&concat(&s, &mu, d), bsz);
        let mean_q = ccache.output().iter().fold(0.0f32, |acc, &v| acc + v) * inv_b;
        let gin = self.critic.backward(&ccache, &vec![-inv_b; bsz], None);
        let ga: Vec<f32> = (0..bsz).map(|k| gin[k * (d + 1) + d]).collect();
        clear(&mut self.actor_grads);
        self.actor
            .backward(&acache, &ga, Some(&mut self.actor_grads));
        self.actor_opt.step(&mut self.actor, &self.actor_grads);

        self.actor_target.soft_update(&self.actor, self.cfg.tau);
        self.critic_target.soft_update(&self.critic, self.cfg.tau);
        UpdateStats {
            critic_loss: loss * inv_b,
            mean_q,
            baseline: base,
        }
    }
}

/// Rows [s_k, a_k] of the critic's input.
fn concat(states: &[f32], actions: &[f32], d: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(actions.len() * (d + 1));
    for (k, &a) in actions.iter().enumerate() {
        out.extend_from_slice(&states[k * d..(k + 1) * d]);
        out.push(a);
    }
    out
}
