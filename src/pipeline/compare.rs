//! The final comparison: FP32, the best uniform policy within the budget (chosen on the
//! search split, [`super::uniform`]) and the best policy of each search, every quantized row
//! fine-tuned for `fft` batches and certified FRESH on the reported test points (never with
//! IRS), at the same budget, on noise streams of its own ([`Points::Final`]). The rows keep
//! their per-point results for the paired intervals of [`super::significance`].

use super::eval::{EvalJob, EvalOutput, EvalSpec};
use super::significance::{TableSignificance, TAIL};
use super::uniform::{candidates, uniform_label, UniformChoice, UniformJob, UNIFORM_ROW};
use super::{Fp32Job, Fp32Ref, Points};
use crate::certify::Summary;
use crate::config::ExperimentConfig;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::job::{Job, Part, Work};
use crate::nn::Model;
use crate::quant::cost::cost;
use crate::quant::{quant_layers, Policy};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// One row of the table.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct CompareRow {
    /// Row label: `FP32`, the uniform row's ([`uniform_label`]), or the search the policy
    /// came from.
    pub name: String,
    /// `wb=..&ab=..` of the row's policy.
    pub fragment: String,
    /// BOPs of the policy / BOPs of FP32.
    pub bops_ratio: f64,
    /// Model size under the policy, in bytes.
    pub size_bytes: u64,
    /// Base classifier's clean accuracy on the test digits outside the search split.
    pub test_accuracy: f64,
    /// Fresh CERTIFY results on the reported points (noise streams of the final comparison).
    pub summary: Summary,
    /// Certified radius per reported point (0 when wrong or abstained), in point order.
    pub radii: Vec<f64>,
    /// Per reported point: the smoothed classifier's class is the label (not abstained).
    pub correct: Vec<bool>,
    /// For the uniform row: how its policy was chosen on the search split.
    pub uniform: Option<UniformChoice>,
}

impl CompareRow {
    fn from_result(out: &EvalOutput, uniform: Option<UniformChoice>) -> CompareRow {
        let r = &out.result;
        CompareRow {
            name: r.name.clone(),
            fragment: r.fragment.clone(),
            bops_ratio: r.cost.ratio,
            size_bytes: r.cost.size_bytes,
            test_accuracy: r.test_accuracy,
            summary: r.summary.clone(),
            radii: r.radii.clone(),
            correct: out.correct.clone(),
            uniform,
        }
    }
}

/// What a row of the table certifies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RowPolicy {
    /// This policy.
    Fixed(Policy),
    /// The best uniform policy within the budget ([`super::uniform`]), chosen when the row is
    /// computed; the policy gives the locked layers (the other layers' bits are ignored).
    BestUniform(Policy),
}

/// A row of the table before it is computed: its name and what it certifies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedRow {
    /// The row's name (the uniform row's changes to [`uniform_label`] once chosen).
    pub name: String,
    /// Its policy, or how to choose it.
    pub policy: RowPolicy,
}

enum Item {
    Fp32(Box<Fp32Job>),
    Uniform(Box<UniformJob>),
    Quant(Box<EvalJob>, Option<UniformChoice>),
}

/// The final comparison as a resumable [`Job`]: one row at a time, each fine-tuned and
/// certified from scratch.
pub struct CompareJob {
    cfg: ExperimentConfig,
    pretrained: Model,
    generation: u64,
    pending: Vec<PlannedRow>,
    current: Option<(String, Item)>,
    /// The rows finished so far, in table order.
    pub rows: Vec<CompareRow>,
    total_rows: usize,
    /// The FP32 reference of the search split (for choosing the uniform row), once at hand.
    search_ref: Option<Arc<Fp32Ref>>,
}

/// The table's rows in table order: FP32, the best uniform policy within the config's budget
/// (honouring its locked layers; left out when not even W2A2 fits), then `searched`
/// (name, best policy).
pub fn table_rows(
    cfg: &ExperimentConfig,
    pretrained: &Model,
    searched: Vec<(String, Policy)>,
) -> Result<Vec<PlannedRow>> {
    let n = quant_layers(pretrained).len();
    let locked = cfg.policy(n)?;
    let mut rows = vec![PlannedRow {
        name: super::significance::FP32_ROW.to_string(),
        policy: RowPolicy::Fixed(Policy::fp32(n)),
    }];
    if !candidates(pretrained, &locked, cfg.budget).is_empty() {
        rows.push(PlannedRow {
            name: UNIFORM_ROW.to_string(),
            policy: RowPolicy::BestUniform(locked),
        });
    }
    rows.extend(searched.into_iter().map(|(name, p)| PlannedRow {
        name,
        policy: RowPolicy::Fixed(p),
    }));
    Ok(rows)
}

impl CompareJob {
    /// `searched`: (row name, best policy) of each finished search.
    pub fn new(
        cfg: &ExperimentConfig,
        pretrained: &Model,
        searched: Vec<(String, Policy)>,
        generation: u64,
    ) -> Result<CompareJob> {
        let rows = table_rows(cfg, pretrained, searched)?;
        CompareJob::part(cfg, pretrained, rows, generation, Part::WHOLE)
    }

    /// Only `part` of the table's `rows` (row i belongs to part i % count; see
    /// [`table_rows`]): every row is fine-tuned and certified independently of the others, so
    /// the parts' rows merged in table order are the whole table.
    pub fn part(
        cfg: &ExperimentConfig,
        pretrained: &Model,
        rows: Vec<PlannedRow>,
        generation: u64,
        part: Part,
    ) -> Result<CompareJob> {
        let mut pending = part.check()?.select(rows);
        pending.reverse();
        Ok(CompareJob {
            cfg: cfg.clone(),
            pretrained: pretrained.clone(),
            generation,
            total_rows: pending.len(),
            pending,
            current: None,
            rows: vec![],
            search_ref: None,
        })
    }

    /// Choose the uniform row against `fp32`, the FP32 reference of the search split (the
    /// session's, when it holds one), instead of certifying the FP32 model there first.
    pub fn with_search_ref(mut self, fp32: Option<Arc<Fp32Ref>>) -> Self {
        self.search_ref = fp32;
        self
    }

    /// The FP32 reference of the search split this job used or certified, if any.
    pub fn search_ref(&self) -> Option<&Arc<Fp32Ref>> {
        self.search_ref.as_ref()
    }

    /// What the row in progress is doing, when more than its name says: the uniform
    /// candidate being evaluated ("W2A8 (1 of 5)").
    pub fn detail(&self) -> Option<String> {
        match &self.current {
            Some((_, Item::Uniform(j))) => j.current(),
            _ => None,
        }
    }

    /// (rows done, rows total, name of the row in progress).
    pub(crate) fn progress(&self) -> (usize, usize, Option<&str>) {
        (
            self.rows.len(),
            self.total_rows,
            self.current.as_ref().map(|(n, _)| n.as_str()),
        )
    }

    /// The job of the next pending row, if any.
    fn next_item(&mut self, data: &Dataset) -> Result<Option<(String, Item)>> {
        let Some(PlannedRow { name, policy }) = self.pending.pop() else {
            return Ok(None);
        };
        let policy = match policy {
            RowPolicy::Fixed(p) => p,
            RowPolicy::BestUniform(locked) => {
                let c = candidates(&self.pretrained, &locked, self.cfg.budget);
                if c.is_empty() {
                    return Err(Error::invalid(
                        "budget",
                        self.cfg.budget,
                        &format!(
                            "row '{name}': no uniform policy fits the budget with these locked \
                             layers ({})",
                            locked.to_fragment()
                        ),
                        "a budget that W2A2 on the unlocked layers fits, or fewer locks",
                    ));
                }
                let job = UniformJob::new(
                    &self.cfg,
                    &self.pretrained,
                    c,
                    self.search_ref.clone(),
                    self.generation,
                );
                return Ok(Some((name, Item::Uniform(Box::new(job)))));
            }
        };
        let item = if policy.layers.iter().all(|l| l.w.is_full() && l.a.is_full()) {
            Item::Fp32(Box::new(Fp32Job::new(
                &self.cfg,
                &self.pretrained,
                data,
                Points::Final,
                self.generation,
            )?))
        } else {
            self.final_eval(&name, policy, None, data)?
        };
        Ok(Some((name, item)))
    }

    /// The fresh certification of a quantized row after `fft` fine-tuning batches.
    fn final_eval(
        &self,
        name: &str,
        policy: Policy,
        uniform: Option<UniformChoice>,
        data: &Dataset,
    ) -> Result<Item> {
        let spec = EvalSpec::final_row(name.to_string(), policy, &self.cfg);
        let job = EvalJob::new(
            spec,
            &self.cfg,
            &self.pretrained,
            data,
            None,
            self.generation,
        )?;
        Ok(Item::Quant(Box::new(job), uniform))
    }

    /// The FP32 row from its finished certification.
    fn fp32_row(
        &self,
        name: &str,
        r: Fp32Ref,
        records: &[crate::certify::CertRecord],
        data: &Dataset,
    ) -> Result<CompareRow> {
        let mut m = self.pretrained.clone();
        let n = quant_layers(&m).len();
        let c = cost(&m, &Policy::fp32(n))?;
        Ok(CompareRow {
            name: name.to_string(),
            fragment: String::new(),
            bops_ratio: c.ratio,
            size_bytes: c.size_bytes,
            test_accuracy: super::held_out_accuracy(&mut m, &self.cfg, data)?,
            summary: Summary {
                name: name.to_string(),
                ..r.summary
            },
            radii: records
                .iter()
                .map(|r| if r.correct { r.radius } else { 0.0 })
                .collect(),
            correct: records.iter().map(|r| r.correct).collect(),
            uniform: None,
        })
    }
}

/// The comparison as a [`Job`]: the budget is noisy samples (see [`EvalJob`]); a step hands
/// out the row it finished, if any. The work is the current row's.
impl Job for CompareJob {
    type Env<'a> = &'a Dataset;
    type Report = Option<CompareRow>;

    fn step(
        &mut self,
        data: &Dataset,
        max_work: u64,
        clock: &mut dyn FnMut() -> u64,
    ) -> Result<Option<CompareRow>> {
        if self.current.is_none() {
            self.current = self.next_item(data)?;
        }
        let Some((name, item)) = &mut self.current else {
            return Ok(None);
        };
        let row = match item {
            Item::Fp32(job) => match Job::step(&mut **job, (), max_work, clock)?.reference {
                Some(r) => {
                    let (name, records) = (name.clone(), job.records().to_vec());
                    Some(self.fp32_row(&name, r, &records, data)?)
                }
                None => None,
            },
            Item::Uniform(job) => {
                let chosen = job.step(data, max_work, clock)?;
                if self.search_ref.is_none() {
                    self.search_ref = job.fp32().cloned();
                }
                if let Some((c, choice)) = chosen {
                    let name = uniform_label(c.w, c.a);
                    let item = self.final_eval(&name, c.policy, Some(choice), data)?;
                    self.current = Some((name, item));
                }
                None
            }
            Item::Quant(job, uniform) => job
                .step(data, max_work, clock)?
                .map(|out| CompareRow::from_result(&out, uniform.take())),
        };
        if let Some(r) = &row {
            self.rows.push(r.clone());
            self.current = None;
        }
        Ok(row)
    }

    fn work(&self) -> Work {
        match &self.current {
            Some((_, Item::Fp32(j))) => j.work(),
            Some((_, Item::Uniform(j))) => j.work(),
            Some((_, Item::Quant(j, _))) => j.work(),
            None => Work {
                phase: if self.is_done() { "done" } else { "compare" },
                done: 0,
                total: 0,
            },
        }
    }

    fn is_done(&self) -> bool {
        self.pending.is_empty() && self.current.is_none()
    }
}

/// A signed difference with its interval, `-0.012 [-0.030, -0.004] *`: `*` when the
/// interval excludes 0, `n.s.` when it does not; `—` without a comparison.
pub fn diff_cell(iv: Option<&super::significance::Interval>) -> String {
    match iv {
        None => "—".to_string(),
        Some(iv) => format!(
            "{:+.3} [{:+.3}, {:+.3}]{}",
            iv.diff,
            iv.low,
            iv.high,
            if iv.significant { " *" } else { " n.s." }
        ),
    }
}

/// 1st, 2nd, 3rd, 4th, ..., 11th, ..., 51st.
fn ordinal(k: usize) -> String {
    let suffix = match (k % 10, k % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{k}{suffix}")
}

/// The footnote of the difference columns: what the interval is and what `*` marks.
pub fn significance_note(sig: &TableSignificance, seed: u64) -> String {
    format!(
        "ΔACR: the row's ACR minus FP32's / ARQ's on the same {} reported points (each row \
         certified on noise of its own). [95% CI]: paired bootstrap, {} resamples of the \
         points with replacement, the {} smallest to the {} largest resampled mean \
         difference (stream `{}` of seed {seed}). * = the interval excludes 0 (significant \
         at 5 %); n.s. = it contains 0 (not significant).",
        sig.points,
        sig.resamples,
        ordinal(TAIL + 1),
        ordinal(TAIL + 1),
        super::significance::PURPOSE,
    )
}

/// The certified-accuracy differences with their intervals in Markdown: one line per row and
/// reference (FP32, ARQ), one column per radius at which some row certifies a point (the
/// others are 0 for every row).
pub fn certified_markdown(rows: &[CompareRow], sig: &TableSignificance) -> String {
    let cols: Vec<usize> = (0..sig.grid.len())
        .filter(|&k| {
            rows.iter().any(|r| {
                r.summary
                    .certified_accuracy
                    .get(k)
                    .is_some_and(|&a| a > 0.0)
            })
        })
        .collect();
    if cols.is_empty()
        || sig
            .rows
            .iter()
            .all(|r| r.vs_fp32.is_none() && r.vs_arq.is_none())
    {
        return String::new();
    }
    let mut s = String::from("| Δ certified accuracy [95% CI] | minus |");
    for &k in &cols {
        s.push_str(&format!(" r = {} |", sig.grid[k]));
    }
    s.push_str("\n|---|---|");
    s.push_str(&"---:|".repeat(cols.len()));
    s.push('\n');
    for r in &sig.rows {
        for d in [&r.vs_fp32, &r.vs_arq].into_iter().flatten() {
            s.push_str(&format!("| {} | {} |", r.name, d.against));
            for &k in &cols {
                s.push_str(&format!(" {} |", diff_cell(d.certified_accuracy.get(k))));
            }
            s.push('\n');
        }
    }
    s
}

/// The table in Markdown: accuracy, certified accuracy at each radius, ACR, the ACR
/// differences with FP32 and ARQ and their intervals (`sig`, of these rows), BOPs %, size,
/// and the footnote of the intervals.
pub fn markdown(rows: &[CompareRow], sig: &TableSignificance, seed: u64) -> String {
    let Some(first) = rows.first() else {
        return String::new();
    };
    let mut s = String::from("| policy | clean acc. (base, held out) |");
    for r in &first.summary.grid {
        s.push_str(&format!(" r = {r} |"));
    }
    s.push_str(" ACR | ΔACR vs FP32 [95% CI] | vs ARQ | BOPs % | size (bytes) |\n|---|---:|");
    s.push_str(&"---:|".repeat(first.summary.grid.len() + 5));
    s.push('\n');
    for (i, row) in rows.iter().enumerate() {
        s.push_str(&format!("| {} | {:.3} |", row.name, row.test_accuracy));
        for a in &row.summary.certified_accuracy {
            s.push_str(&format!(" {a:.3} |"));
        }
        let rs = sig.rows.get(i);
        let vs_fp32 = rs.and_then(|r| r.vs_fp32.as_ref()).map(|d| &d.acr);
        let vs_arq = rs.and_then(|r| r.vs_arq.as_ref()).map(|d| &d.acr);
        s.push_str(&format!(
            " {:.3} | {} | {} | {:.3} | {} |\n",
            row.summary.acr,
            diff_cell(vs_fp32),
            diff_cell(vs_arq),
            100.0 * row.bops_ratio,
            row.size_bytes
        ));
    }
    s.push('\n');
    s.push_str(&significance_note(sig, seed));
    s.push('\n');
    s
}
