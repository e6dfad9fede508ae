//! The session's quantization half: the config's policy, its cost, the quick IRS read-out,
//! the searches and the final comparison, all step-driven like training and certification.

use super::{JobKind, Session};
use crate::config::{BitsList, Flags};
use crate::error::{Error, Result};
use crate::job::Part;
use crate::job::{Job, Work};
use crate::pipeline::compare::{table_rows, CompareJob, CompareRow, PlannedRow, RowPolicy};
use crate::pipeline::eval::{EvalJob, EvalResult, EvalSpec, Mode};
use crate::pipeline::search::{Method, SearchJob, SearchProgress};
use crate::pipeline::{fp32_key, Points};
use crate::quant::cost::{enforce_budget, Cost};
use crate::quant::quantizer::WeightQuant;
use crate::quant::{quant_layers, Bits, IntModel, Policy, Preset};
use crate::search::EpisodeRecord;
use serde::{Deserialize, Serialize};

/// Quantization state that is only valid for the current FP32 weights.
#[derive(Default)]
pub(super) struct QuantState {
    eval: Option<EvalJob>,
    /// The last finished read-out and its integer model (for the noise view).
    pub(super) last: Option<(EvalResult, IntModel)>,
    search: Option<SearchJob>,
    /// Finished searches, one per method (the latest).
    pub(super) searched: Vec<FinishedSearch>,
    compare: Option<CompareJob>,
}

/// A search's trajectory: the running one or a finished one.
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct SearchState {
    pub(crate) method: Method,
    pub(crate) history: Vec<EpisodeRecord>,
    pub(crate) pareto: Vec<EpisodeRecord>,
    pub(crate) best: Option<EpisodeRecord>,
}

impl SearchState {
    fn of(job: &SearchJob) -> SearchState {
        let d = job.driver();
        SearchState {
            method: job.method,
            history: d.history().to_vec(),
            pareto: d.pareto().to_vec(),
            best: d.best().cloned(),
        }
    }
}

pub(super) struct FinishedSearch {
    policy: Policy,
    state: SearchState,
}

/// The config's policy (`wb`, `ab`, `lk`) on the session's model: its text form and cost.
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct PolicyInfo {
    pub(crate) wb: Vec<u32>,
    pub(crate) ab: Vec<u32>,
    pub(crate) locks: Vec<bool>,
    /// `wb=..&ab=..[&lk=..]`.
    pub fragment: String,
    /// BOPs and size of the policy.
    pub cost: Cost,
    pub(crate) budget: f64,
    pub(crate) within_budget: bool,
}

/// One increment of the policy read-out ([`JobSpec::QuantEval`](super::JobSpec::QuantEval)).
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct QuantEvalStep {
    /// The evaluation's current stage (`fp32-certify`, `calibrate`, `finetune`, `irs` or
    /// `certify`).
    pub phase: &'static str,
    /// Whether the read-out finished in this step.
    pub done: bool,
    /// Work units done in the current stage.
    pub work_done: u64,
    /// Work units of the current stage.
    pub work_total: u64,
    /// The result, in the step that finishes the read-out.
    pub result: Option<EvalResult>,
}

/// One increment of a policy search.
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct SearchStep {
    /// Episodes and work of the run.
    pub progress: SearchProgress,
    /// Set when an episode finished in this step.
    pub episode: Option<EpisodeRecord>,
    /// The best episode so far.
    pub best: Option<EpisodeRecord>,
}

/// One increment of the final comparison.
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct CompareStep {
    pub(crate) done: bool,
    /// Rows finished.
    pub rows_done: usize,
    /// Rows the table will have.
    pub rows_total: usize,
    /// The name of the row in progress, if any.
    pub current: Option<String>,
    pub(crate) work_done: u64,
    pub(crate) work_total: u64,
    /// The row finished in this step, if any.
    pub row: Option<CompareRow>,
    /// Every row finished so far, in table order.
    pub rows: Vec<CompareRow>,
}

/// One row of the final table before it is computed: its name and policy (bits per
/// quantizable layer, 32 = full precision, and the locks), as the page hands the main
/// worker's table to the pool's other workers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CompareRowSpec {
    /// The row's label (e.g. "FP32", "W4A4", "ARQ"), 1..=64 bytes.
    pub name: String,
    /// Weight bits per quantizable layer (32 = full precision).
    pub wb: Vec<u32>,
    /// Activation bits per quantizable layer (32 = full precision).
    pub ab: Vec<u32>,
    /// Locked layers (kept as they are by budget fitting).
    pub locks: Vec<bool>,
    /// The row is the best uniform policy within the budget, chosen when it is computed
    /// (`pipeline::uniform`): only the locked layers' bits are used.
    #[serde(default)]
    pub best_uniform: bool,
}

impl CompareRowSpec {
    fn of(row: PlannedRow) -> CompareRowSpec {
        let (p, best_uniform) = match &row.policy {
            RowPolicy::Fixed(p) => (p, false),
            RowPolicy::BestUniform(p) => (p, true),
        };
        CompareRowSpec {
            wb: p.layers.iter().map(|l| l.w.get()).collect(),
            ab: p.layers.iter().map(|l| l.a.get()).collect(),
            locks: p.layers.iter().map(|l| l.locked).collect(),
            best_uniform,
            name: row.name,
        }
    }

    /// The planned row of this spec (see [`CompareRowSpec::policy`]).
    fn planned(&self, i: usize, layers: usize) -> Result<PlannedRow> {
        let p = self.policy(i, layers)?;
        Ok(PlannedRow {
            name: self.name.clone(),
            policy: if self.best_uniform {
                RowPolicy::BestUniform(p)
            } else {
                RowPolicy::Fixed(p)
            },
        })
    }

    /// The row's policy for a model with `layers` quantizable layers; errors name
    /// `rows[i].<field>`.
    fn policy(&self, i: usize, layers: usize) -> Result<Policy> {
        let field = |f: &str| format!("rows[{i}].{f}");
        if self.name.is_empty() || self.name.len() > 64 {
            return Err(Error::invalid(
                &field("name"),
                &self.name,
                "a row needs a name",
                "1..=64 bytes",
            ));
        }
        let lens = [
            ("wb", self.wb.len()),
            ("ab", self.ab.len()),
            ("locks", self.locks.len()),
        ];
        if let Some((f, len)) = lens.into_iter().find(|&(_, len)| len != layers) {
            return Err(Error::invalid(
                &field(f),
                format!("{len} values"),
                "one value per quantizable layer",
                format!("{layers} values"),
            ));
        }
        let bits = |f: &str, list: &[u32]| -> Result<Vec<Bits>> {
            list.iter()
                .map(|&b| {
                    Bits::new(b).map_err(|_| {
                        Error::invalid(
                            &field(f),
                            b,
                            "not a bit width",
                            crate::quant::policy::BITS_ALLOWED,
                        )
                    })
                })
                .collect()
        };
        let mut p = Policy::from_bits(bits("wb", &self.wb)?, bits("ab", &self.ab)?);
        p.set_locks(&self.locks);
        Ok(p)
    }
}

/// One quantizable layer's weights and their quantization, for the histogram view.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LayerHistogram {
    pub(crate) name: String,
    pub(crate) weights: Vec<f32>,
    /// Clip threshold t per output channel (one value when per-tensor).
    pub(crate) thresholds: Vec<f32>,
    pub(crate) bits: u32,
    /// Quantization levels per side: 2^(b-1) - 1 (0 = full precision).
    pub(crate) levels: u32,
    /// Weights beyond their channel's threshold.
    pub(crate) clipped: usize,
}

impl QuantState {
    /// The evaluation whose IRS a pool may split: the read-out's, or the search's current
    /// episode.
    pub(super) fn irs_eval(&mut self, kind: JobKind) -> Option<&mut EvalJob> {
        match kind {
            JobKind::QuantEval => self.eval.as_mut(),
            JobKind::Search => self.search.as_mut().and_then(|s| s.episode_mut()),
            _ => None,
        }
    }

    /// Drop the job of a quantization kind.
    pub(super) fn cancel(&mut self, kind: JobKind) {
        match kind {
            JobKind::QuantEval => self.eval = None,
            JobKind::Search => self.search = None,
            JobKind::Compare => self.compare = None,
            JobKind::Train
            | JobKind::Certify
            | JobKind::Sensitivity
            | JobKind::IrsPart
            | JobKind::Digit => {}
        }
    }
}

impl QuantEvalStep {
    fn new(w: &Work, done: bool, result: Option<EvalResult>) -> Self {
        QuantEvalStep {
            phase: w.phase,
            done,
            work_done: w.done,
            work_total: w.total,
            result,
        }
    }
}

impl CompareStep {
    /// The comparison's work and state, with the row finished in this step.
    fn of(job: &CompareJob, row: Option<CompareRow>) -> (Work, CompareStep) {
        let (rows_done, rows_total, current) = job.progress();
        let w = job.work();
        let step = CompareStep {
            done: job.is_done(),
            rows_done,
            rows_total,
            current: current.map(|c| match job.detail() {
                Some(d) => format!("{c}: evaluating {d} on the search split"),
                None => c.to_string(),
            }),
            work_done: w.done,
            work_total: w.total,
            row,
            rows: job.rows.clone(),
        };
        (w, step)
    }
}

impl Session {
    fn layers_len(&self) -> usize {
        quant_layers(&self.model).len()
    }

    /// The config's policy (empty `wb`/`ab` = full precision).
    pub(crate) fn policy(&self) -> Result<Policy> {
        self.cfg.policy(self.layers_len())
    }

    /// The config's policy with its cost (fails if `wb` / `ab` / `lk` do not fit the model).
    pub fn policy_info(&self) -> Result<PolicyInfo> {
        let p = self.policy()?;
        let c = self.cfg.policy_cost(&self.model, &p)?;
        Ok(PolicyInfo {
            wb: p.layers.iter().map(|l| l.w.get()).collect(),
            ab: p.layers.iter().map(|l| l.a.get()).collect(),
            locks: p.layers.iter().map(|l| l.locked).collect(),
            fragment: p.to_fragment(),
            within_budget: c.ratio <= self.cfg.budget,
            budget: self.cfg.budget,
            cost: c,
        })
    }

    /// Make `p` the config's policy (canonical `wb`, `ab`, `lk`).
    fn store_policy(&mut self, p: &Policy) -> Result<PolicyInfo> {
        let mut cfg = self.cfg.clone();
        cfg.wb = BitsList::from_bits(p.weight_bits());
        cfg.ab = BitsList::from_bits(p.act_bits());
        cfg.locks = if p.layers.iter().any(|l| l.locked) {
            Flags(p.layers.iter().map(|l| l.locked).collect())
        } else {
            Flags::default()
        };
        if p.layers
            .iter()
            .all(|l| l.w.is_full() && l.a.is_full() && !l.locked)
        {
            cfg.wb = BitsList::default();
            cfg.ab = BitsList::default();
        }
        self.cfg = cfg;
        self.policy_info()
    }

    /// Set the policy from its text form (`wb`, `ab`, `lk` as in the URL).
    pub fn set_policy(&mut self, wb: &str, ab: &str, lk: &str) -> Result<PolicyInfo> {
        let mut cfg = self.cfg.clone();
        cfg.set("wb", wb)?;
        cfg.set("ab", ab)?;
        cfg.set("lk", lk)?;
        let p = cfg.policy(self.layers_len())?;
        self.store_policy(&p)
    }

    /// A named preset (fp32, w8a8, w4a4, w2a2, fl8), keeping the locks.
    pub fn apply_preset(&mut self, name: &str) -> Result<PolicyInfo> {
        let n = self.layers_len();
        let old = self.policy()?;
        let mut p = Preset::parse(name)?.policy(n);
        // presets set bits only; locks stay the user's (a locked layer keeps its bits)
        for (l, o) in p.layers.iter_mut().zip(&old.layers) {
            if o.locked {
                *l = *o;
            } else {
                l.locked = false;
            }
        }
        self.store_policy(&p)
    }

    /// HAQ's budget walk on the config's policy (locked layers untouched).
    pub fn enforce_budget(&mut self) -> Result<PolicyInfo> {
        let mut p = self.policy()?;
        // full-precision layers enter the walk at 8 bits, as in the search
        for l in p.layers.iter_mut().filter(|l| !l.locked) {
            l.w = l.w.min(Bits::MAX);
            l.a = l.a.min(Bits::MAX);
        }
        let macs: Vec<u64> = quant_layers(&self.model).iter().map(|q| q.macs).collect();
        enforce_budget(&macs, &mut p, self.cfg.budget, Bits::MIN)?;
        self.store_policy(&p)
    }

    /// The weights of quantizable layer `j` and their quantization grid under the policy.
    pub fn layer_histogram(&self, j: usize) -> Result<LayerHistogram> {
        let ql = quant_layers(&self.model);
        let q = ql.get(j).ok_or_else(|| {
            Error::invalid(
                "layer",
                j,
                "no such quantizable layer",
                format!("0..{}", ql.len()),
            )
        })?;
        let w = self.model.layers[q.index].param_slices()[0].to_vec();
        let p = self.policy()?;
        let bits = p.layers[j].w;
        let qc = self.cfg.quant_config();
        let (thresholds, levels) = match bits.quantized() {
            Some(_) => {
                let wq = WeightQuant::new(&w, q.cout, bits, qc.per_channel, qc.weight_clip);
                let t = if qc.per_channel {
                    wq.clips.clone()
                } else {
                    vec![wq.clips[0]]
                };
                (t, (1u32 << (bits.get() - 1)) - 1)
            }
            None => (vec![], 0),
        };
        let per = w.len() / q.cout;
        let clipped = if thresholds.is_empty() {
            0
        } else {
            w.iter()
                .enumerate()
                .filter(|(i, v)| {
                    v.abs() > thresholds[if thresholds.len() == 1 { 0 } else { i / per }]
                })
                .count()
        };
        Ok(LayerHistogram {
            name: q.name.clone(),
            weights: w,
            thresholds,
            bits: bits.get(),
            levels,
            clipped,
        })
    }

    /// A reference for `points` if the session holds one for the current weights and config.
    pub(super) fn fp32_ref(
        &self,
        points: Points,
    ) -> Option<std::sync::Arc<crate::pipeline::Fp32Ref>> {
        let key = fp32_key(&self.cfg, self.generation, points);
        let r = match points {
            Points::Report => &self.report_ref,
            Points::Search => &self.search_ref,
            // the final comparison certifies its own FP32 row on its own streams
            Points::Final => return None,
        };
        r.as_ref().filter(|r| r.key == key).cloned()
    }

    pub(super) fn keep_ref(
        &mut self,
        points: Points,
        r: Option<&std::sync::Arc<crate::pipeline::Fp32Ref>>,
    ) {
        if let Some(r) = r {
            match points {
                Points::Report => self.report_ref = Some(r.clone()),
                Points::Search => self.search_ref = Some(r.clone()),
                Points::Final => {}
            }
        }
    }

    /// Start evaluating the config's policy on the reported points: calibration, `qft`
    /// fine-tuning batches, then IRS against the FP32 cache (certifying FP32 first if no
    /// matching cache is held) or, with `fresh`, a full certification from scratch.
    pub(super) fn quant_eval_start(&mut self, fresh: bool) -> Result<(Work, QuantEvalStep)> {
        let policy = self.policy()?;
        let spec = EvalSpec {
            name: policy.to_fragment(),
            policy,
            finetune: self.cfg.qft as usize,
            mode: if fresh { Mode::Fresh } else { Mode::Irs },
            points: Points::Report,
        };
        let job = EvalJob::new(
            spec,
            &self.cfg,
            &self.model,
            &self.data,
            self.fp32_ref(Points::Report),
            self.generation,
        )?;
        let w = job.work();
        let step = QuantEvalStep::new(&w, false, None);
        self.quant.eval = Some(job);
        Ok((w, step))
    }

    /// A finished read-out keeps its FP32 reference, result and integer model.
    pub(super) fn quant_eval_next(
        &mut self,
        max_work: u64,
        clock: &mut dyn FnMut() -> u64,
    ) -> Result<(Work, QuantEvalStep)> {
        let job = self
            .quant
            .eval
            .as_mut()
            .ok_or_else(|| JobKind::QuantEval.not_running())?;
        let out = job.step(&self.data, max_work, clock)?;
        let w = job.work();
        let done = job.is_done();
        let fp32 = job.fp32().cloned();
        let result = match out {
            Some(out) => {
                self.quant.eval = None;
                self.keep_ref(Points::Report, fp32.as_ref());
                self.quant.last = Some((out.result.clone(), out.int));
                Some(out.result)
            }
            None => None,
        };
        let step = QuantEvalStep::new(&w, done, result);
        Ok((w, step))
    }

    pub(super) fn search_start(&mut self, method: Method) -> Result<(Work, SearchStep)> {
        let job = SearchJob::new(
            method,
            &self.cfg,
            &self.model,
            &self.data,
            self.fp32_ref(Points::Search),
            self.generation,
        )?;
        let step = SearchStep {
            progress: job.progress(),
            episode: None,
            best: job.driver().best().cloned(),
        };
        let w = job.work();
        self.quant.search = Some(job);
        Ok((w, step))
    }

    /// The search's FP32 reference is kept as soon as it is certified; a finished search
    /// is recorded with its best policy.
    pub(super) fn search_next(
        &mut self,
        max_work: u64,
        clock: &mut dyn FnMut() -> u64,
    ) -> Result<(Work, SearchStep)> {
        let job = self
            .quant
            .search
            .as_mut()
            .ok_or_else(|| JobKind::Search.not_running())?;
        let episode = job.step(&self.data, max_work, clock)?;
        let w = job.work();
        let step = SearchStep {
            progress: job.progress(),
            episode,
            best: job.driver().best().cloned(),
        };
        let fp32 = job.fp32().cloned();
        self.keep_ref(Points::Search, fp32.as_ref());
        if step.progress.done {
            if let Some(job) = self.quant.search.take() {
                if let Some(policy) = job.best_policy() {
                    self.quant.searched.retain(|f| f.state.method != job.method);
                    self.quant.searched.push(FinishedSearch {
                        policy,
                        state: SearchState::of(&job),
                    });
                }
            }
        }
        Ok((w, step))
    }

    /// History, Pareto set and best of the running (or last finished) search.
    pub fn search_state(&self) -> Option<SearchState> {
        match &self.quant.search {
            Some(j) => Some(SearchState::of(j)),
            None => self.quant.searched.last().map(|f| f.state.clone()),
        }
    }

    /// The final table's rows in table order: FP32, the best uniform policy within the budget
    /// (chosen when computed), then each finished search's best policy (what a `compare` job
    /// without `rows` computes).
    pub fn compare_rows(&self) -> Result<Vec<CompareRowSpec>> {
        let searched = self
            .quant
            .searched
            .iter()
            .map(|f| (f.state.method.label().to_string(), f.policy.clone()))
            .collect();
        Ok(table_rows(&self.cfg, &self.model, searched)?
            .into_iter()
            .map(CompareRowSpec::of)
            .collect())
    }

    /// Start the final comparison of `part` of the table's `rows` (default: this session's).
    pub(super) fn compare_start(
        &mut self,
        part: Part,
        rows: Option<Vec<CompareRowSpec>>,
    ) -> Result<(Work, CompareStep)> {
        let rows = match rows {
            Some(rows) => rows,
            None => self.compare_rows()?,
        };
        if rows.is_empty() || rows.len() > 64 {
            return Err(Error::invalid(
                "rows",
                format!("{} rows", rows.len()),
                "the table needs rows",
                "1..=64 rows",
            ));
        }
        let layers = self.layers_len();
        let rows = rows
            .iter()
            .enumerate()
            .map(|(i, r)| r.planned(i, layers))
            .collect::<Result<Vec<_>>>()?;
        let job = CompareJob::part(&self.cfg, &self.model, rows, self.generation, part)?
            .with_search_ref(self.fp32_ref(Points::Search));
        let step = CompareStep::of(&job, None);
        self.quant.compare = Some(job);
        Ok(step)
    }

    /// A finished comparison stays in its slot: further steps return its table.
    pub(super) fn compare_next(
        &mut self,
        max_work: u64,
        clock: &mut dyn FnMut() -> u64,
    ) -> Result<(Work, CompareStep)> {
        let job = self
            .quant
            .compare
            .as_mut()
            .ok_or_else(|| JobKind::Compare.not_running())?;
        let row = job.step(&self.data, max_work, clock)?;
        let step = CompareStep::of(job, row);
        // the uniform row's choice certified the search split: keep it for the searches
        let search_ref = job.search_ref().cloned();
        self.keep_ref(Points::Search, search_ref.as_ref());
        Ok(step)
    }

    /// The config with the search's best policy applied (for `arq run` and the page).
    pub fn searched_policies(&self) -> Vec<(String, String)> {
        self.quant
            .searched
            .iter()
            .map(|f| (f.state.method.label().to_string(), f.policy.to_fragment()))
            .collect()
    }

    /// Logits of the integer model of the last read-out.
    pub fn quantized_logits(&self, x: &[f32], batch: usize) -> Result<Vec<f32>> {
        let (_, m) = self.quant.last.as_ref().ok_or_else(|| {
            Error::State("no quantized model yet: evaluate a policy first".into())
        })?;
        Ok(m.logits(x, batch))
    }

    pub(super) fn quantized_classifier(&mut self) -> Option<&mut IntModel> {
        self.quant.last.as_mut().map(|(_, m)| m)
    }
}
