//! The final comparison: FP32, uniform W4A4 and the best policy of each search, every
//! quantized row fine-tuned for `fft` batches and certified FRESH on the reported test points
//! (never with IRS), at the same budget, on noise streams of its own ([`Points::Final`]).

use super::eval::{EvalJob, EvalResult, EvalSpec, Mode};
use super::{Fp32Job, Fp32Ref, Points};
use crate::certify::Summary;
use crate::config::ExperimentConfig;
use crate::data::Dataset;
use crate::error::Result;
use crate::job::{Job, Part, Work};
use crate::nn::Model;
use crate::quant::cost::cost;
use crate::quant::{quant_layers, Policy, Preset};
use serde::Serialize;

/// One row of the table.
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct CompareRow {
    /// Row label: `FP32`, a preset's label, or the search the policy came from.
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
}

impl CompareRow {
    fn from_result(r: &EvalResult) -> CompareRow {
        CompareRow {
            name: r.name.clone(),
            fragment: r.fragment.clone(),
            bops_ratio: r.cost.ratio,
            size_bytes: r.cost.size_bytes,
            test_accuracy: r.test_accuracy,
            summary: r.summary.clone(),
        }
    }
}

enum Item {
    Fp32(Box<Fp32Job>),
    Quant(Box<EvalJob>),
}

/// The final comparison as a resumable [`Job`]: one row at a time, each fine-tuned and
/// certified from scratch.
pub struct CompareJob {
    cfg: ExperimentConfig,
    pretrained: Model,
    generation: u64,
    pending: Vec<(String, Policy)>,
    current: Option<(String, Item)>,
    /// The rows finished so far, in table order.
    pub rows: Vec<CompareRow>,
    total_rows: usize,
}

/// The table's rows in table order: (name, policy) of FP32, uniform W4A4, then `searched`.
pub fn table_rows(pretrained: &Model, searched: Vec<(String, Policy)>) -> Vec<(String, Policy)> {
    let n = quant_layers(pretrained).len();
    let mut rows = vec![
        ("FP32".to_string(), Policy::fp32(n)),
        (Preset::W4a4.label().to_string(), Preset::W4a4.policy(n)),
    ];
    rows.extend(searched);
    rows
}

impl CompareJob {
    /// `searched`: (row name, best policy) of each finished search.
    pub fn new(
        cfg: &ExperimentConfig,
        pretrained: &Model,
        searched: Vec<(String, Policy)>,
        generation: u64,
    ) -> Result<CompareJob> {
        let rows = table_rows(pretrained, searched);
        CompareJob::part(cfg, pretrained, rows, generation, Part::WHOLE)
    }

    /// Only `part` of the table's `rows` (row i belongs to part i % count; see
    /// [`table_rows`]): every row is fine-tuned and certified independently of the others, so
    /// the parts' rows merged in table order are the whole table.
    pub fn part(
        cfg: &ExperimentConfig,
        pretrained: &Model,
        rows: Vec<(String, Policy)>,
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
        })
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
        let Some((name, policy)) = self.pending.pop() else {
            return Ok(None);
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
            let spec = EvalSpec {
                name: name.clone(),
                policy,
                finetune: self.cfg.fft as usize,
                mode: Mode::Fresh,
                points: Points::Final,
            };
            Item::Quant(Box::new(EvalJob::new(
                spec,
                &self.cfg,
                &self.pretrained,
                data,
                None,
                self.generation,
            )?))
        };
        Ok(Some((name, item)))
    }

    /// The FP32 row from its finished certification.
    fn fp32_row(&self, name: &str, r: Fp32Ref, data: &Dataset) -> Result<CompareRow> {
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
                    let name = name.clone();
                    Some(self.fp32_row(&name, r, data)?)
                }
                None => None,
            },
            Item::Quant(job) => job
                .step(data, max_work, clock)?
                .map(|out| CompareRow::from_result(&out.result)),
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
            Some((_, Item::Quant(j))) => j.work(),
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

/// The table in Markdown: accuracy, certified accuracy at each radius, ACR, BOPs %, size.
pub fn markdown(rows: &[CompareRow]) -> String {
    let Some(first) = rows.first() else {
        return String::new();
    };
    let mut s = String::from("| policy | clean acc. (base, held out) |");
    for r in &first.summary.grid {
        s.push_str(&format!(" r = {r} |"));
    }
    s.push_str(" ACR | BOPs % | size (bytes) |\n|---|---:|");
    s.push_str(&"---:|".repeat(first.summary.grid.len() + 3));
    s.push('\n');
    for row in rows {
        s.push_str(&format!("| {} | {:.3} |", row.name, row.test_accuracy));
        for a in &row.summary.certified_accuracy {
            s.push_str(&format!(" {a:.3} |"));
        }
        s.push_str(&format!(
            " {:.3} | {:.3} | {} |\n",
            row.summary.acr,
            100.0 * row.bops_ratio,
            row.size_bytes
        ));
    }
    s
}
