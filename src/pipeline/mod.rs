//! The ARQ pipeline as resumable jobs over one pretrained FP32 model:
//!
//! - [`eval::EvalJob`]: one policy -> calibrate -> noise-aware fine-tune -> certify the integer
//!   model, either with IRS against the FP32 cache (quick read-out, search episodes) or fresh
//!   (reported results).
//! - [`search::SearchJob`]: the DDPG (ARQ or HAQ reward) or random search, one episode being an
//!   `EvalJob` in IRS mode on the search split.
//! - [`compare::CompareJob`]: the final table: FP32, the best uniform policy within the budget
//!   ([`uniform`]) and each search's best policy, fine-tuned longer and certified fresh on the
//!   reported test points; [`significance`] gives paired bootstrap intervals of its differences.
//! - [`sensitivity::SensitivityJob`]: per-layer sensitivity, one search-episode evaluation
//!   per quantizable layer with only that layer at k bits.
//!
//! Every job advances by a bounded amount of work per `step` (noisy samples; a fine-tuning
//! batch counts [`FT_BATCH_WORK`]) so both the CLI and the page can show progress and cancel.
//! Time is measured by a caller-supplied microsecond clock; the core never reads one.

pub mod compare;
pub mod eval;
pub mod irs_pool;
pub mod resolution;
pub mod search;
pub mod sensitivity;
pub mod significance;
pub mod uniform;

use crate::certify::{
    metrics::GRID_SMALL, CertRecord, CertifyJob, Example, IrsCache, Outcome, Progress, Summary,
    PURPOSE_ESTIMATE, PURPOSE_SELECT,
};
use crate::config::ExperimentConfig;
use crate::data::{Dataset, Split};
use crate::error::{Error, Result};
use crate::job::{Job, Part, Work};
use crate::nn::Model;
use serde::Serialize;
use std::sync::Arc;

/// Work units charged for one fine-tuning batch (about 3 forward passes of 64 images).
pub(crate) const FT_BATCH_WORK: u64 = 192;

/// Which test digits a job certifies, and on which noise streams.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub enum Points {
    /// The reported points: `points` test digits at `stride` (positions 0, s, 2s, ...), on
    /// the standard streams (`arq certify`, the quick read-out).
    #[default]
    Report,
    /// The search split: the first `spoints` odd-numbered test digits that are not reported
    /// points. Disjoint from [`Points::Report`] by construction for every stride (for an
    /// even stride it is simply 1, 3, 5, ...). ARQ choice, ours: a held-out split that never
    /// touches the digits the final table reports.
    Search,
    /// The reported points again, certified on noise streams of their own
    /// ([`FINAL_PURPOSES`]): the final comparison's fresh certificates share no noise draw
    /// with the search or the read-outs, so a policy is never re-certified on the noise
    /// that selected it.
    Final,
}

/// Noise streams (selection, estimation) of the final comparison's fresh certifications.
pub const FINAL_PURPOSES: [&str; 2] = ["noise-final-select", "noise-final-estimate"];

impl Points {
    /// The (selection, estimation) noise streams of this point set's certifications.
    pub fn purposes(self) -> [&'static str; 2] {
        match self {
            Points::Report | Points::Search => [PURPOSE_SELECT, PURPOSE_ESTIMATE],
            Points::Final => FINAL_PURPOSES,
        }
    }
}

/// Test-split positions of the reported points: 0, stride, 2 stride, ... (`points` of them).
pub fn report_positions(cfg: &ExperimentConfig, n_test: usize) -> Result<Vec<usize>> {
    let (p, s) = (cfg.points as usize, cfg.stride as usize);
    if p == 0 || s == 0 || (p - 1).saturating_mul(s) >= n_test {
        return Err(Error::invalid(
            "points",
            p,
            &format!("{p} points at stride {s} run past the {n_test} test digits"),
            format!(
                "points <= {} at stride {s}",
                (n_test.max(1) - 1) / s.max(1) + 1
            ),
        ));
    }
    Ok((0..p).map(|i| i * s).collect())
}

/// Test-split positions of the search split: the first `spoints` odd positions that are
/// not reported points (see [`Points::Search`]).
pub fn search_positions(cfg: &ExperimentConfig, n_test: usize) -> Result<Vec<usize>> {
    let (p, s) = (cfg.points as usize, cfg.stride as usize);
    let reported = |t: usize| s > 0 && t % s == 0 && t / s < p;
    let free = (1..n_test).step_by(2).filter(|&t| !reported(t));
    let positions: Vec<usize> = free.clone().take(cfg.spoints as usize).collect();
    if positions.len() < cfg.spoints as usize {
        let left = free.count();
        return Err(Error::invalid(
            "spoints",
            cfg.spoints,
            &format!(
                "the search split takes odd-numbered test digits that are not reported points; \
                 with points={p} at stride={s} only {left} are left"
            ),
            format!("1..={left}"),
        ));
    }
    Ok(positions)
}

/// The certified points of a set, each keyed by its global record index (the noise key).
pub fn examples(
    cfg: &ExperimentConfig,
    data: &Dataset,
    input_len: usize,
    points: Points,
) -> Result<Vec<Example>> {
    let n_test = data.split_len(Split::Test);
    let positions = match points {
        Points::Report | Points::Final => report_positions(cfg, n_test)?,
        Points::Search => search_positions(cfg, n_test)?,
    };
    Ok(positions
        .into_iter()
        .map(|t| test_example(data, t, input_len))
        .collect())
}

/// Test digit `t` as a certification example, keyed by its global record index.
fn test_example(data: &Dataset, t: usize, input_len: usize) -> Example {
    let idx = data.index(Split::Test, t);
    let mut input = vec![0.0; input_len];
    data.image_f32(idx, &mut input);
    Example {
        index: idx as u64,
        input,
        label: data.labels[idx],
    }
}

/// Identity of an FP32 reference: the model generation plus every setting that changes it.
pub(crate) fn fp32_key(cfg: &ExperimentConfig, generation: u64, points: Points) -> String {
    let pts = match points {
        Points::Report => format!("p{}s{}", cfg.points, cfg.stride),
        Points::Final => format!("final-p{}s{}", cfg.points, cfg.stride),
        // an odd stride's reported points shape the search split
        Points::Search if cfg.stride % 2 == 1 => {
            format!("sp{}p{}s{}", cfg.spoints, cfg.points, cfg.stride)
        }
        Points::Search => format!("sp{}", cfg.spoints),
    };
    format!(
        "g{generation}|{}|{}|{}|{}|{}|{}|{}|{pts}",
        cfg.sigma, cfg.seed, cfg.n0, cfg.n, cfg.alpha, cfg.n_p, cfg.model
    )
}

/// The FP32 model's certification of a point set: what IRS re-uses and rewards compare to.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Fp32Ref {
    /// Identifies what was certified: the model generation, the settings the certificates
    /// depend on (sigma, seed, n0, n, alpha, n_p, model) and the point set.
    pub key: String,
    /// f's IRS cache: per point cA, pA_low and f's class on the first n_p estimation samples.
    #[serde(skip)]
    pub cache: Arc<IrsCache>,
    /// The FP32 certification of the points (CERTIFY at n0, n, alpha).
    pub summary: Summary,
    /// Base classifier's clean accuracy on the points.
    pub base_accuracy: f64,
}

/// The key of one part of an FP32 reference: never equal to a whole reference's key, so a
/// part is never taken for the whole.
pub fn fp32_part_key(whole_key: &str, part: Part) -> String {
    if part.is_whole() {
        whole_key.to_string()
    } else {
        format!("{whole_key}|part{}of{}", part.index, part.count)
    }
}

/// The FP32 summary of certification records (in point order), as an FP32 job reports it.
pub fn fp32_summary(cfg: &ExperimentConfig, records: &[CertRecord]) -> Summary {
    let outcomes: Vec<Outcome> = records.iter().map(Outcome::from).collect();
    Summary::new(
        "FP32",
        cfg.sigma,
        cfg.n as u64,
        cfg.alpha,
        &outcomes,
        &GRID_SMALL,
    )
}

/// Certifies the FP32 model on a point set (or a [`Part`] of it) and keeps its IRS cache.
pub struct Fp32Job {
    key: String,
    part: Part,
    points: Points,
    model: Model,
    job: CertifyJob,
    examples: Vec<Example>,
    cfg: ExperimentConfig,
}

impl Fp32Job {
    /// A job that certifies `model` on the `points` set of `cfg` (keeping an IRS cache of n_p
    /// samples per point); `generation` identifies the model's weights in [`Fp32Ref::key`].
    pub fn new(
        cfg: &ExperimentConfig,
        model: &Model,
        data: &Dataset,
        points: Points,
        generation: u64,
    ) -> Result<Fp32Job> {
        Fp32Job::part(cfg, model, data, points, generation, Part::WHOLE)
    }

    /// Certify only `part` of the points (point i in the set's order belongs to part
    /// i % count); its reference's key is [`fp32_part_key`]. Each point's certificate depends
    /// only on the config, the weights and the point (its noise is keyed by its record index),
    /// so the parts' records merged in point order are the whole run's.
    pub fn part(
        cfg: &ExperimentConfig,
        model: &Model,
        data: &Dataset,
        points: Points,
        generation: u64,
        part: Part,
    ) -> Result<Fp32Job> {
        let part = part.check()?;
        let examples = part.select(examples(cfg, data, model.input_len(), points)?);
        let job = CertifyJob::new(cfg.smooth_params(), examples.clone())
            .with_purposes(points.purposes())
            .with_irs_cache(cfg.n_p as u64);
        Ok(Fp32Job {
            key: fp32_part_key(&fp32_key(cfg, generation, points), part),
            part,
            points,
            model: model.clone(),
            job,
            examples,
            cfg: cfg.clone(),
        })
    }

    /// The share of the points this job certifies.
    pub fn part_of(&self) -> Part {
        self.part
    }

    /// Which point set this job certifies.
    pub fn points(&self) -> Points {
        self.points
    }

    /// Every record finished so far, in point order.
    pub fn records(&self) -> &[CertRecord] {
        self.job.records()
    }

    pub(crate) fn progress(&self) -> Progress {
        self.job.progress()
    }

    /// Summary over every point finished so far.
    /// The summary of the records finished so far.
    pub fn summary(&self) -> Summary {
        fp32_summary(&self.cfg, self.job.records())
    }
}

/// FP32 certification as a [`Job`] (the job holds its own copy of the model): the budget is
/// noisy forward passes (at least one), each point timed with the clock. The reference is
/// handed out by the step that finishes the last point.
impl Job for Fp32Job {
    type Env<'a> = ();
    type Report = Fp32Step;

    fn step(&mut self, (): (), budget: u64, clock: &mut dyn FnMut() -> u64) -> Result<Fp32Step> {
        let records = self.job.step_timed(&mut self.model, budget.max(1), clock);
        let summary = self.summary();
        let finished = if self.job.is_done() {
            self.job.take_cache()
        } else {
            None
        };
        let reference = finished.map(|cache| Fp32Ref {
            key: self.key.clone(),
            cache: Arc::new(cache),
            summary: summary.clone(),
            base_accuracy: points_accuracy(&mut self.model, &self.examples),
        });
        Ok(Fp32Step {
            records,
            progress: self.job.progress(),
            summary,
            reference,
        })
    }

    fn work(&self) -> Work {
        let p = self.job.progress();
        Work {
            phase: "fp32-certify",
            done: p.samples_done,
            total: p.samples_total,
        }
    }

    fn is_done(&self) -> bool {
        self.job.is_done()
    }
}

/// One increment of an FP32 certification.
pub struct Fp32Step {
    /// Points finished in this step.
    pub records: Vec<CertRecord>,
    /// Points and samples done of the whole certification.
    pub progress: Progress,
    /// Over every point finished so far.
    pub summary: Summary,
    /// The finished reference, handed out only by the step that certifies the last point.
    pub reference: Option<Fp32Ref>,
}

/// Clean accuracy of a base classifier on a point set, in f64 (0 for no points); the f32
/// whole-split figure is [`crate::quant::accuracy`].
pub(crate) fn points_accuracy<F: crate::certify::BaseClassifier + ?Sized>(
    f: &mut F,
    examples: &[Example],
) -> f64 {
    if examples.is_empty() {
        return 0.0;
    }
    let correct = crate::certify::count_correct(
        f,
        examples.len(),
        |i, x| x.copy_from_slice(&examples[i].input),
        |i| examples[i].label,
    );
    correct as f64 / examples.len() as f64
}

/// Clean accuracy on the test digits outside the search split (the split that the search,
/// and HAQ's accuracy reward in particular, has already seen).
pub(crate) fn held_out_accuracy<F: crate::certify::BaseClassifier + ?Sized>(
    f: &mut F,
    cfg: &ExperimentConfig,
    data: &Dataset,
) -> Result<f64> {
    let n_test = data.split_len(Split::Test);
    let mut seen = vec![false; n_test];
    for t in search_positions(cfg, n_test)? {
        seen[t] = true;
    }
    let il = f.input_len();
    let examples: Vec<Example> = (0..n_test)
        .filter(|&t| !seen[t])
        .map(|t| test_example(data, t, il))
        .collect();
    Ok(points_accuracy(f, &examples))
}

/// What an FP32 certification depends on, across sessions: every setting of its
/// [`fp32_key`] and a digest of the weights themselves (another session's generation counter
/// says nothing about its weights).
pub fn fp32_identity(cfg: &ExperimentConfig, model: &Model, points: Points) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for layer in &model.layers {
        for p in layer.param_slices() {
            for v in p {
                h.update(v.to_le_bytes());
            }
        }
    }
    let digest = crate::data::hex(&h.finalize()[..16]);
    let key = fp32_key(cfg, 0, points);
    let settings = key.split_once('|').map_or(key.as_str(), |(_, rest)| rest);
    format!("w{digest}|{settings}")
}

/// One part of an FP32 certification, as a worker that certified it hands it to the one
/// that assembles the whole reference ([`assemble_fp32`]); crosses as JSON bytes.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fp32Part {
    /// The certification's [`fp32_identity`]: weights and settings.
    pub identity: String,
    /// Which share of the points it holds.
    pub part: Part,
    /// Which points were certified (the reported ones unless said).
    #[serde(default)]
    pub points: Points,
    /// The part's IRS cache: its points' entries, in point order.
    pub cache: IrsCache,
    /// The part's records, in point order.
    pub records: Vec<CertRecord>,
}

impl Fp32Part {
    /// The part of a finished part job's reference (of the reported points; set `points`
    /// for another set).
    pub fn of(identity: String, part: Part, r: Fp32Ref, records: Vec<CertRecord>) -> Fp32Part {
        Fp32Part {
            identity,
            part,
            points: Points::Report,
            cache: Arc::try_unwrap(r.cache).unwrap_or_else(|c| (*c).clone()),
            records,
        }
    }

    /// The part as bytes ([`crate::wire`]), for [`Fp32Part::from_bytes`] in another worker.
    pub fn to_bytes(&self) -> Vec<u8> {
        crate::wire::encode(FP32_PART_MAGIC, self)
    }

    /// Parse bytes from [`Fp32Part::to_bytes`]; errors name `field`.
    pub fn from_bytes(field: &str, bytes: &[u8]) -> Result<Fp32Part> {
        crate::wire::decode(FP32_PART_MAGIC, bytes).map_err(|e| {
            Error::invalid(
                field,
                format!("{} bytes", bytes.len()),
                &format!("not an exported certification part: {e}"),
                "the bytes of exportCertifyPart()",
            )
        })
    }
}

/// The first bytes of an [`Fp32Part`].
const FP32_PART_MAGIC: &[u8; 8] = b"ARQFP1\n\0";

impl crate::wire::Wire for Fp32Part {
    fn put(&self, w: &mut crate::wire::Writer) {
        w.str(&self.identity);
        self.part.put(w);
        self.points.put(w);
        self.cache.put(w);
        w.list(&self.records);
    }
    fn get(r: &mut crate::wire::Reader) -> crate::wire::WireResult<Self> {
        Ok(Fp32Part {
            identity: r.str()?,
            part: Part::get(r)?,
            points: Points::get(r)?,
            cache: IrsCache::get(r)?,
            records: r.list()?,
        })
    }
}

/// The whole FP32 reference of `points` from every part of one certification (any order):
/// the parts must carry `model`'s and `cfg`'s [`fp32_identity`] and cover the points
/// exactly once; their cache entries and records are merged in point order, the summary is
/// computed over the merged records and the clean accuracy by `model`, so the result equals
/// the unsharded run's reference (same key with `generation`, cache and summary). Also
/// returns the records.
pub fn assemble_fp32(
    cfg: &ExperimentConfig,
    model: &mut Model,
    data: &Dataset,
    points: Points,
    generation: u64,
    mut parts: Vec<Fp32Part>,
) -> Result<(Fp32Ref, Vec<CertRecord>)> {
    let key = fp32_key(cfg, generation, points);
    let identity = fp32_identity(cfg, model, points);
    for (k, p) in parts.iter().enumerate() {
        if p.identity != identity {
            return Err(Error::invalid(
                &format!("parts[{k}].identity"),
                &p.identity,
                "certified with other weights or settings than the current ones",
                &identity,
            ));
        }
    }
    crate::order::sort_by_key(&mut parts, |p| p.part.index);
    let count = parts.len();
    let shown = parts
        .iter()
        .map(|p| format!("{}/{}", p.part.index, p.part.count))
        .collect::<Vec<_>>()
        .join(", ");
    let complete = parts
        .iter()
        .enumerate()
        .all(|(k, p)| p.part.index as usize == k && p.part.count as usize == count);
    if count == 0 || !complete {
        return Err(Error::invalid(
            "parts",
            &shown,
            "not every part of one certification exactly once",
            "index/count for index 0..count, each once",
        ));
    }
    let examples = examples(cfg, data, model.input_len(), points)?;
    let header = |c: &IrsCache| IrsCache {
        entries: vec![],
        ..c.clone()
    };
    let head = header(&parts[0].cache);
    if let Some(k) = parts.iter().position(|p| header(&p.cache) != head) {
        return Err(Error::invalid(
            &format!("parts[{k}].cache"),
            "another IRS cache",
            "its settings differ from part 0's",
            "parts of one certification",
        ));
    }
    let (entries, records): (Vec<_>, Vec<_>) = parts
        .into_iter()
        .map(|p| (p.cache.entries, p.records))
        .unzip();
    let merged = Part::merge(entries).zip(Part::merge(records));
    let (entries, records) = match merged {
        Some((e, r)) if e.len() == examples.len() && r.len() == examples.len() => (e, r),
        _ => {
            return Err(Error::invalid(
                "parts",
                &shown,
                "the parts' points do not add up to the certified points",
                format!("{} points split by index % {count}", examples.len()),
            ))
        }
    };
    let fits = examples
        .iter()
        .zip(&entries)
        .zip(&records)
        .all(|((x, e), r)| e.example == *x && r.index == x.index);
    if !fits {
        return Err(Error::invalid(
            "parts",
            &shown,
            "a part's points are not the current config's points",
            "parts certified with the current data and settings",
        ));
    }
    let summary = fp32_summary(cfg, &records);
    let reference = Fp32Ref {
        key,
        cache: Arc::new(IrsCache { entries, ..head }),
        summary,
        base_accuracy: points_accuracy(model, &examples),
    };
    Ok((reference, records))
}
