//! The search driver: one episode per call, deterministic for a seed, for the DDPG agent and
//! the random-search baseline alike (same environment, same budget enforcement, same number of
//! evaluations).
//!
//! An episode is `propose` (roll out the 2L actions, map them to bits, enforce the budget),
//! the caller's evaluation, then `complete` (store the transitions with the final reward, run
//! one agent update per stored step after warm-up, track the best policy and the Pareto set).
//! `step` does all three with an [`Evaluator`]; the split lets a caller run a long evaluation
//! in pieces (progress, cancellation) and time the agent separately. Timing is left to the
//! caller: wasm32 has no clock in `std`.

use super::ddpg::{Ddpg, DdpgConfig, UpdateStats};
use super::env::{BitRange, Env, Rollout, STATE_DIM};
use super::replay::Transition;
use super::{EpisodeOutcome, Evaluator, LayerFeatures};
use crate::error::{Error, Result};
use crate::rng::Stream;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Which policy proposes the bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub enum SearchKind {
    /// HAQ's DDPG agent (uniform random actions during warm-up).
    Ddpg,
    /// Uniform random actions every episode: the random-search baseline.
    Random,
}

/// Settings of one search run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SearchConfig {
    /// Which policy proposes the bits: the DDPG agent or random search.
    pub kind: SearchKind,
    /// Evaluations in the run (HAQ ran 600; small models need far fewer).
    pub episodes: usize,
    /// Episodes of uniform random actions before the agent acts and learns (HAQ: 20).
    pub warmup: usize,
    /// Seed of the search's streams (`search-actions`, `search-init`, `search-replay`).
    pub seed: u64,
    /// The bit widths an action can map to (default 2..=8).
    pub bits: BitRange,
    /// The agent's hyper-parameters (unused by random search).
    pub ddpg: DdpgConfig,
    /// Quality axis of the Pareto set: a metric name from the outcomes, or the reward if None.
    pub pareto_metric: Option<String>,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            kind: SearchKind::Ddpg,
            episodes: 100,
            warmup: 20,
            seed: 1,
            bits: BitRange::default(),
            ddpg: DdpgConfig::default(),
            pareto_metric: None,
        }
    }
}

/// Most episodes a run may ask for.
pub(crate) const MAX_EPISODES: usize = 100_000;

impl SearchConfig {
    pub(crate) fn validate(&self) -> Result<()> {
        if self.episodes == 0 || self.episodes > MAX_EPISODES {
            return Err(Error::invalid(
                "episodes",
                self.episodes,
                "out of range",
                format!("1..{MAX_EPISODES}"),
            ));
        }
        if self.warmup > self.episodes {
            return Err(Error::invalid(
                "warmup",
                self.warmup,
                "more warm-up episodes than episodes",
                format!("0..{}", self.episodes),
            ));
        }
        BitRange::new(self.bits.min(), self.bits.max())?;
        self.ddpg.validate()
    }
}

/// A policy about to be evaluated.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Proposal {
    pub episode: usize,
    pub is_warmup: bool,
    /// Exploration sigma (None for uniform random actions).
    pub sigma: Option<f32>,
    /// The 2L raw actions in [0, 1]: w0, a0, w1, a1, ...
    pub actions: Vec<f32>,
    /// Bits as requested by the actions, before budget enforcement.
    pub requested_wbits: Vec<u8>,
    pub requested_abits: Vec<u8>,
    /// Budget-enforced bits: what gets evaluated.
    pub wbits: Vec<u8>,
    pub abits: Vec<u8>,
}

/// One finished episode, as reported to the CLI log and the page.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct EpisodeRecord {
    /// Episode number, from 0.
    pub episode: usize,
    /// Which policy proposed the bits.
    pub kind: SearchKind,
    /// A warm-up episode (uniform random actions).
    pub is_warmup: bool,
    /// Exploration sigma of the truncated-normal actions (None for uniform random actions).
    pub sigma: Option<f32>,
    /// The 2L raw actions in [0, 1]: w0, a0, w1, a1, ...
    pub actions: Vec<f32>,
    /// Weight bits as requested by the actions, before budget enforcement.
    pub requested_wbits: Vec<u8>,
    /// Activation bits as requested by the actions, before budget enforcement.
    pub requested_abits: Vec<u8>,
    /// Budget-enforced weight bits: what was evaluated.
    pub wbits: Vec<u8>,
    /// Budget-enforced activation bits: what was evaluated.
    pub abits: Vec<u8>,
    /// The evaluator's reward (ARQ: 0.1 * (ACR_q - ACR_fp)).
    pub reward: f64,
    /// BOPs of the evaluated policy / BOPs of FP32.
    pub cost_ratio: f64,
    /// The evaluator's other figures, by name (acr, accuracy, sizeBytes, ...).
    pub metrics: BTreeMap<String, f64>,
    /// This episode set a new best reward.
    pub is_best: bool,
    /// Best reward so far, this episode included.
    pub best_reward: f64,
    /// Agent updates run after this episode.
    pub updates: usize,
    /// Their mean statistics (None when no update ran).
    pub update: Option<UpdateStats>,
}

/// Where a run stands.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchSummary {
    pub kind: SearchKind,
    pub episodes_done: usize,
    pub episodes_planned: usize,
    pub best: Option<EpisodeRecord>,
    /// Non-dominated episodes (lower cost ratio, higher quality), by ascending cost.
    pub pareto: Vec<EpisodeRecord>,
}

struct Pending {
    proposal: Proposal,
    states: Vec<[f32; STATE_DIM]>,
}

/// Runs a search one episode at a time.
pub struct SearchDriver {
    cfg: SearchConfig,
    env: Env,
    agent: Option<Ddpg>,
    rng: Stream,
    episode: usize,
    pending: Option<Pending>,
    best: Option<EpisodeRecord>,
    pareto: Vec<EpisodeRecord>,
    history: Vec<EpisodeRecord>,
}

impl SearchDriver {
    /// A search over the quantizable layers `layers` under `cfg` (checked), before its first episode.
    pub fn new(cfg: SearchConfig, layers: &[LayerFeatures]) -> Result<SearchDriver> {
        cfg.validate()?;
        let env = Env::new(layers, cfg.bits)?;
        let agent = match cfg.kind {
            SearchKind::Ddpg => Some(Ddpg::new(&cfg.ddpg, STATE_DIM, env.steps(), cfg.seed)?),
            SearchKind::Random => None,
        };
        Ok(SearchDriver {
            rng: Stream::new(cfg.seed, "search-actions"),
            cfg,
            env,
            agent,
            episode: 0,
            pending: None,
            best: None,
            pareto: Vec::new(),
            history: Vec::new(),
        })
    }

    /// Episodes completed so far.
    pub fn episode(&self) -> usize {
        self.episode
    }
    /// Whether every planned episode has completed.
    pub fn is_done(&self) -> bool {
        self.episode >= self.cfg.episodes
    }
    /// The episode with the highest reward so far (the first one on ties).
    pub fn best(&self) -> Option<&EpisodeRecord> {
        self.best.as_ref()
    }
    /// The Pareto set so far: episodes that no other has matched or beaten in both cost ratio
    /// (lower) and quality (`pareto_metric`, or the reward), sorted by increasing cost ratio.
    pub fn pareto(&self) -> &[EpisodeRecord] {
        &self.pareto
    }
    /// Every completed episode, in order.
    pub fn history(&self) -> &[EpisodeRecord] {
        &self.history
    }

    /// The run's kind, episode counts, best episode and Pareto set.
    pub fn summary(&self) -> SearchSummary {
        SearchSummary {
            kind: self.cfg.kind,
            episodes_done: self.episode,
            episodes_planned: self.cfg.episodes,
            best: self.best.clone(),
            pareto: self.pareto.clone(),
        }
    }

    /// Roll out the next episode's actions and enforce the budget. Calling it again before
    /// `complete` returns the same pending proposal.
    pub fn propose<E: Evaluator + ?Sized>(&mut self, ev: &E) -> Result<Proposal> {
        if let Some(p) = &self.pending {
            return Ok(p.proposal.clone());
        }
        if self.is_done() {
            return Err(Error::State(format!(
                "search finished: all {} episodes ran",
                self.cfg.episodes
            )));
        }
        let e = self.episode;
        let explore = self.agent.is_some() && e >= self.cfg.warmup;
        let sigma = explore.then(|| self.cfg.ddpg.sigma_at(e, self.cfg.warmup));
        let (agent, rng) = (&self.agent, &mut self.rng);
        let Rollout {
            states,
            actions,
            wbits,
            abits,
        } = self.env.rollout(|_, s| match (agent, sigma) {
            (Some(ag), Some(sg)) => ag.explore(s, sg, rng),
            _ => rng.uniform(),
        });
        let (ew, ea) = ev.enforce_budget(&wbits, &abits);
        let range = self.cfg.bits;
        let n = self.env.layers();
        if ew.len() != n || ea.len() != n || !ew.iter().chain(&ea).all(|&b| range.contains(b)) {
            return Err(Error::State(format!(
                "budget enforcement returned w={ew:?} a={ea:?}; expected {n} layers with bits in {}..{}",
                range.min(),
                range.max()
            )));
        }
        let proposal = Proposal {
            episode: e,
            is_warmup: self.agent.is_some() && !explore,
            sigma,
            actions,
            requested_wbits: wbits,
            requested_abits: abits,
            wbits: ew,
            abits: ea,
        };
        self.pending = Some(Pending {
            proposal: proposal.clone(),
            states,
        });
        Ok(proposal)
    }

    fn quality(&self, rec: &EpisodeRecord) -> f64 {
        match &self.cfg.pareto_metric {
            Some(m) => rec.metrics.get(m).copied().unwrap_or(f64::NAN),
            None => rec.reward,
        }
    }

    fn check_outcome(&self, o: &EpisodeOutcome) -> Result<()> {
        if !o.reward.is_finite() || !o.cost_ratio.is_finite() {
            return Err(Error::State(format!(
                "evaluation gave reward {} and cost ratio {}; both must be finite",
                o.reward, o.cost_ratio
            )));
        }
        if let Some(m) = &self.cfg.pareto_metric {
            if !o.metrics.get(m).is_some_and(|v| v.is_finite()) {
                return Err(Error::State(format!(
                    "evaluation lacks a finite '{m}' metric, the Pareto quality axis"
                )));
            }
        }
        Ok(())
    }

    /// Finish the pending episode with its evaluation.
    pub fn complete(&mut self, outcome: EpisodeOutcome) -> Result<EpisodeRecord> {
        if self.pending.is_none() {
            return Err(Error::State("search: complete() without a proposal".into()));
        }
        self.check_outcome(&outcome)?;
        let Pending {
            proposal: p,
            states,
        } = self.pending.take().expect("checked above");
        let (updates, update) = self.learn(&p, &states, outcome.reward as f32);
        let best_before = self.best.as_ref().map(|b| b.reward);
        let is_best = best_before.is_none_or(|b| outcome.reward > b);
        let rec = EpisodeRecord {
            episode: p.episode,
            kind: self.cfg.kind,
            is_warmup: p.is_warmup,
            sigma: p.sigma,
            actions: p.actions,
            requested_wbits: p.requested_wbits,
            requested_abits: p.requested_abits,
            wbits: p.wbits,
            abits: p.abits,
            reward: outcome.reward,
            cost_ratio: outcome.cost_ratio,
            metrics: outcome.metrics,
            is_best,
            best_reward: if is_best {
                outcome.reward
            } else {
                best_before.expect("a best exists")
            },
            updates,
            update,
        };
        if is_best {
            self.best = Some(rec.clone());
        }
        self.add_to_pareto(&rec);
        self.history.push(rec.clone());
        self.episode += 1;
        Ok(rec)
    }

    /// Store the episode's transitions (final reward on every step) and, after warm-up, run
    /// one update per stored step. Returns the update count and mean statistics.
    fn learn(
        &mut self,
        p: &Proposal,
        states: &[[f32; STATE_DIM]],
        reward: f32,
    ) -> (usize, Option<UpdateStats>) {
        let Some(agent) = self.agent.as_mut() else {
            return (0, None);
        };
        let steps = p.actions.len();
        for t in 0..steps {
            agent.observe(Transition {
                state: states[t].to_vec(),
                action: p.actions[t],
                reward,
                next_state: states[t + 1].to_vec(),
                done: t + 1 == steps,
            });
        }
        if p.is_warmup {
            return (0, None);
        }
        let mut sum = UpdateStats::default();
        for _ in 0..steps {
            let u = agent.update();
            sum.critic_loss += u.critic_loss;
            sum.mean_q += u.mean_q;
            sum.baseline = u.baseline;
        }
        let k = steps as f32;
        sum.critic_loss /= k;
        sum.mean_q /= k;
        (steps, Some(sum))
    }

    fn add_to_pareto(&mut self, rec: &EpisodeRecord) {
        let q = self.quality(rec);
        let dominated = self
            .pareto
            .iter()
            .any(|o| o.cost_ratio <= rec.cost_ratio && self.quality(o) >= q);
        if dominated {
            return;
        }
        let keep: Vec<bool> = self
            .pareto
            .iter()
            .map(|o| !(rec.cost_ratio <= o.cost_ratio && q >= self.quality(o)))
            .collect();
        let mut it = keep.into_iter();
        self.pareto
            .retain(|_| it.next().expect("one flag per point"));
        let at = self
            .pareto
            .partition_point(|o| o.cost_ratio < rec.cost_ratio);
        self.pareto.insert(at, rec.clone());
    }

    /// One whole episode: propose, evaluate, complete.
    pub fn step<E: Evaluator + ?Sized>(&mut self, ev: &mut E) -> Result<EpisodeRecord> {
        let p = self.propose(&*ev)?;
        let outcome = ev.evaluate(&p.wbits, &p.abits)?;
        self.complete(outcome)
    }
}
