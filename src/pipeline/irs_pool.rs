//! IRS split over a pool of workers: the certification phase of a search episode or of the
//! quick read-out (IRS, or a fresh CERTIFY of the read-out), cut into fixed point parts
//! (point i in part i % count).
//!
//! The worker that runs the evaluation (calibration and the sequential fine-tuning) hands each
//! other worker an [`IrsTask`]: the fine-tuned float weights, the policy and its part of the
//! FP32 reference's IRS cache (without the images, which every worker has; none for a fresh
//! certification). The other worker rebuilds the same integer model (its own calibration of
//! the same pretrained weights, then [`QuantizedModel::new`], exactly what fine-tuning leaves),
//! certifies its points ([`IrsPartJob`]) and hands back an [`IrsPartOut`]. Each point's record
//! depends only on the cache entry (or the point), the integer model and the settings (its
//! noise is keyed by the point's record index), so the parts' records merged in point order are
//! the whole run's bit for bit.

use super::{examples, Points};
use crate::certify::irs::{IrsCache, IrsRecord};
use crate::certify::{CertRecord, CertifyJob, IrsJob, Progress};
use crate::config::ExperimentConfig;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::job::{Job, Part, Work};
use crate::nn::Model;
use crate::quant::calib::Calibration;
use crate::quant::{Bits, IntModel, Policy, QuantizedModel};
use crate::wire::{Reader, Wire, WireResult, Writer};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The first bytes of an [`IrsTask`].
const TASK_MAGIC: &[u8; 8] = b"ARQIRS2\n";
/// The first bytes of an [`IrsPartOut`].
const PART_MAGIC: &[u8; 8] = b"ARQIRSP1";

/// What the helper workers must share with the one that splits: weights, every setting and
/// the point set (the config's fragment covers the quantization, calibration and IRS
/// settings; [`super::fp32_identity`] the weights and the FP32 certificate's settings). The
/// presentation keys (`view`, `hide`, ...) are left out: they never change a result.
pub fn pool_identity(cfg: &ExperimentConfig, model: &Model, points: Points) -> String {
    format!(
        "{}|{}",
        super::fp32_identity(cfg, model, points),
        // in the current format version: the same computation whatever the link's spelling
        cfg.experiment_fragment_of(crate::config::FORMAT_VERSION)
    )
}

/// One part of a split IRS phase, as the splitting worker hands it to another worker.
#[derive(Clone, Debug, PartialEq)]
pub struct IrsTask {
    head: TaskHead,
    /// The fine-tuned float weights ([`Model::params_flat`] order).
    weights: Vec<f32>,
}

#[derive(Clone, Debug, PartialEq)]
struct TaskHead {
    /// [`pool_identity`] of the splitting worker.
    identity: String,
    /// Which split this part belongs to (echoed by the part's output).
    split: u64,
    points: Points,
    part: Part,
    /// The policy's weight and activation bits per quantizable layer (32 = full precision).
    wb: Vec<u32>,
    ab: Vec<u32>,
    /// The part's cache entries, in point order, with empty inputs; None: certify the part's
    /// points from scratch (a fresh read-out).
    cache: Option<IrsCache>,
}

impl IrsTask {
    /// Part `part` of the IRS of `float` (fine-tuned weights) under `policy` against `cache`
    /// (the whole FP32 reference's), or with None of its fresh certification.
    pub(crate) fn new(
        identity: String,
        split: u64,
        points: Points,
        part: Part,
        policy: &Policy,
        float: &Model,
        cache: Option<&IrsCache>,
    ) -> IrsTask {
        let cache = cache.map(|cache| {
            let entries = part
                .select(cache.entries.iter())
                .into_iter()
                .map(|e| {
                    let mut e = e.clone();
                    e.example.input = Vec::new();
                    e
                })
                .collect();
            IrsCache {
                entries,
                ..header(cache)
            }
        });
        IrsTask {
            head: TaskHead {
                identity,
                split,
                points,
                part,
                wb: policy.layers.iter().map(|l| l.w.get()).collect(),
                ab: policy.layers.iter().map(|l| l.a.get()).collect(),
                cache,
            },
            weights: float.params_flat(),
        }
    }

    /// The task as bytes ([`crate::wire`]): magic, header, f32 weights.
    pub fn to_bytes(&self) -> Vec<u8> {
        crate::wire::encode(TASK_MAGIC, self)
    }

    /// Parse bytes from [`IrsTask::to_bytes`]; errors name `task`.
    pub fn from_bytes(bytes: &[u8]) -> Result<IrsTask> {
        crate::wire::decode(TASK_MAGIC, bytes).map_err(|why| {
            Error::invalid(
                "task",
                format!("{} bytes", bytes.len()),
                &format!("not an IRS part task: {why}"),
                "the bytes of splitIrs()",
            )
        })
    }

    /// The part of the points this task certifies.
    pub fn part(&self) -> Part {
        self.head.part
    }
}

impl Wire for IrsTask {
    fn put(&self, w: &mut Writer) {
        let h = &self.head;
        w.str(&h.identity);
        w.u64(h.split);
        h.points.put(w);
        h.part.put(w);
        for bits in [&h.wb, &h.ab] {
            w.len(bits.len());
            bits.iter().for_each(|&b| w.u32(b));
        }
        h.cache.put(w);
        w.f32s(&self.weights);
    }
    fn get(r: &mut Reader) -> WireResult<Self> {
        let (identity, split, points, part) = (r.str()?, r.u64()?, Points::get(r)?, Part::get(r)?);
        let mut bits = || -> WireResult<Vec<u32>> {
            let n = r.len(4)?;
            (0..n).map(|_| r.u32()).collect()
        };
        let (wb, ab) = (bits()?, bits()?);
        let head = TaskHead {
            identity,
            split,
            points,
            part,
            wb,
            ab,
            cache: Option::get(r)?,
        };
        Ok(IrsTask {
            head,
            weights: r.f32s()?,
        })
    }
}

/// The cache's settings without its entries.
fn header(c: &IrsCache) -> IrsCache {
    IrsCache {
        entries: vec![],
        ..c.clone()
    }
}

/// The part `part` of `cache` (its entries, in point order).
pub(crate) fn part_cache(cache: &IrsCache, part: Part) -> IrsCache {
    IrsCache {
        entries: part.select(cache.entries.iter().cloned()),
        ..header(cache)
    }
}

/// The records of a part, or of a whole certification phase, in point order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "records", rename_all = "camelCase")]
pub enum PartRecords {
    /// IRS records.
    Irs(Vec<IrsRecord>),
    /// CERTIFY records (a fresh read-out).
    Fresh(Vec<CertRecord>),
}

impl PartRecords {
    /// The points' record indices, in order.
    fn indices(&self) -> Vec<u64> {
        match self {
            PartRecords::Irs(r) => r.iter().map(|r| r.index).collect(),
            PartRecords::Fresh(r) => r.iter().map(|r| r.index).collect(),
        }
    }

    /// Forward samples spent on the points.
    pub(crate) fn samples(&self) -> u64 {
        match self {
            PartRecords::Irs(r) => r.iter().map(|r| r.samples).sum(),
            PartRecords::Fresh(r) => r.iter().map(|r| r.samples).sum(),
        }
    }
}

/// A finished IRS part, as the worker that ran it hands it back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IrsPartOut {
    /// The split it belongs to ([`IrsTask`]'s).
    pub split: u64,
    /// Which part.
    pub part: Part,
    /// The part's records, in point order.
    pub records: PartRecords,
}

impl IrsPartOut {
    /// The output as bytes ([`crate::wire`]; f64s cross as their bits).
    pub fn to_bytes(&self) -> Vec<u8> {
        crate::wire::encode(PART_MAGIC, self)
    }

    /// Parse bytes from [`IrsPartOut::to_bytes`]; errors name `field`.
    pub fn from_bytes(field: &str, bytes: &[u8]) -> Result<IrsPartOut> {
        crate::wire::decode(PART_MAGIC, bytes).map_err(|e| {
            Error::invalid(
                field,
                format!("{} bytes", bytes.len()),
                &format!("not a finished IRS part: {e}"),
                "the bytes of exportIrsPart()",
            )
        })
    }
}

impl Wire for IrsPartOut {
    fn put(&self, w: &mut Writer) {
        w.u64(self.split);
        self.part.put(w);
        match &self.records {
            PartRecords::Irs(r) => {
                w.u8(0);
                w.list(r);
            }
            PartRecords::Fresh(r) => {
                w.u8(1);
                w.list(r);
            }
        }
    }
    fn get(r: &mut Reader) -> WireResult<Self> {
        let (split, part) = (r.u64()?, Part::get(r)?);
        let records = match r.u8()? {
            0 => PartRecords::Irs(r.list()?),
            1 => PartRecords::Fresh(r.list()?),
            _ => return Err("bad record kind"),
        };
        Ok(IrsPartOut {
            split,
            part,
            records,
        })
    }
}

/// Check the other parts' outputs of split `split` over `count` workers (any order) against
/// the whole point set (`indices`: its record indices in point order), with records of kind
/// `fresh`: each part 1..count exactly once, each holding exactly its points.
pub(crate) fn check_parts(
    split: u64,
    count: u32,
    fresh: bool,
    indices: &[u64],
    others: &[IrsPartOut],
) -> Result<()> {
    for (k, o) in others.iter().enumerate() {
        if o.split != split {
            return Err(Error::invalid(
                &format!("parts[{k}].split"),
                o.split,
                "from another split (an earlier episode or read-out)",
                split,
            ));
        }
        if matches!(o.records, PartRecords::Fresh(_)) != fresh {
            return Err(Error::invalid(
                &format!("parts[{k}].records"),
                if fresh {
                    "IRS records"
                } else {
                    "CERTIFY records"
                },
                "not the split's kind of certification",
                if fresh {
                    "CERTIFY records"
                } else {
                    "IRS records"
                },
            ));
        }
    }
    let mut seen: Vec<u32> = others.iter().map(|o| o.part.index).collect();
    crate::order::sort_by_key(&mut seen, |&i| i);
    let complete =
        seen.iter().copied().eq(1..count) && others.iter().all(|o| o.part.count == count);
    if !complete {
        let shown = others
            .iter()
            .map(|o| format!("{}/{}", o.part.index, o.part.count))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(Error::invalid(
            "parts",
            shown,
            "not every other part of the split exactly once",
            format!("index/{count} for index 1..{count}, each once"),
        ));
    }
    for (k, o) in others.iter().enumerate() {
        if o.records.indices() != o.part.select(indices.iter().copied()) {
            return Err(Error::invalid(
                &format!("parts[{k}].records"),
                format!("{} records", o.records.indices().len()),
                "not the points of that part",
                format!("{} points split by index % {count}", indices.len()),
            ));
        }
    }
    Ok(())
}

/// The whole phase's records: the splitting worker's own (part 0) and the other parts'
/// (checked with [`check_parts`]), merged in point order.
pub(crate) fn merge_parts(own: PartRecords, mut others: Vec<IrsPartOut>) -> Result<PartRecords> {
    crate::order::sort_by_key(&mut others, |o| o.part.index);
    let bad = || Error::State("the parts of a split certification do not fit together".into());
    match own {
        PartRecords::Irs(own) => {
            let mut parts = vec![own];
            for o in others {
                match o.records {
                    PartRecords::Irs(r) => parts.push(r),
                    PartRecords::Fresh(_) => return Err(bad()),
                }
            }
            Part::merge(parts).map(PartRecords::Irs).ok_or_else(bad)
        }
        PartRecords::Fresh(own) => {
            let mut parts = vec![own];
            for o in others {
                match o.records {
                    PartRecords::Fresh(r) => parts.push(r),
                    PartRecords::Irs(_) => return Err(bad()),
                }
            }
            Part::merge(parts).map(PartRecords::Fresh).ok_or_else(bad)
        }
    }
}

/// The IRS of one [`IrsTask`] in a worker that holds the same weights and settings.
pub struct IrsPartJob {
    split: u64,
    part: Part,
    int: IntModel,
    cert: PartCert,
}

/// How a part's points are certified.
enum PartCert {
    Irs(IrsJob),
    Fresh(CertifyJob),
}

impl IrsPartJob {
    /// Rebuild the task's integer model from `pretrained` (whose calibration is `calib`,
    /// computed when None and returned for re-use) and start IRS on the task's points.
    pub(crate) fn new(
        task: IrsTask,
        cfg: &ExperimentConfig,
        pretrained: &Model,
        data: &Dataset,
        calib: &mut Option<(String, Calibration)>,
    ) -> Result<IrsPartJob> {
        let h = task.head;
        let identity = pool_identity(cfg, pretrained, h.points);
        if h.identity != identity {
            return Err(Error::invalid(
                "task.identity",
                &h.identity,
                "split with other weights or settings than this worker holds",
                &identity,
            ));
        }
        let part = h.part.check()?;
        if part.index == 0 {
            return Err(Error::invalid(
                "task.part.index",
                0,
                "part 0 is the splitting worker's own",
                format!("1..{}", part.count),
            ));
        }
        let mut float = pretrained.clone();
        float.set_params_flat(&task.weights).map_err(|_| {
            Error::invalid(
                "task.weights",
                format!("{} values", task.weights.len()),
                "not this model's parameters",
                format!("{} values", pretrained.param_count()),
            )
        })?;
        let layers = crate::quant::quant_layers(pretrained).len();
        let bits = |f: &str, list: &[u32]| -> Result<Vec<Bits>> {
            if list.len() != layers {
                return Err(Error::invalid(
                    &format!("task.{f}"),
                    format!("{} values", list.len()),
                    "one value per quantizable layer",
                    format!("{layers} values"),
                ));
            }
            list.iter()
                .map(|&b| {
                    Bits::new(b).map_err(|_| {
                        Error::invalid(
                            &format!("task.{f}"),
                            b,
                            "not a bit width",
                            crate::quant::policy::BITS_ALLOWED,
                        )
                    })
                })
                .collect()
        };
        let policy = Policy::from_bits(bits("wb", &h.wb)?, bits("ab", &h.ab)?);
        // the whole point set, to give the cache entries their images back
        let all = examples(cfg, data, pretrained.input_len(), h.points)?;
        let mine = part.select(all);
        let cert = match h.cache {
            Some(mut cache) => {
                let fits = cache.entries.len() == mine.len()
                    && cache
                        .entries
                        .iter()
                        .zip(&mine)
                        .all(|(e, x)| e.example.index == x.index && e.example.label == x.label);
                if !fits || cache.n_keep < cfg.n_p as u64 {
                    return Err(Error::invalid(
                        "task.cache",
                        format!("{} entries", cache.entries.len()),
                        "not this part's points under the current settings",
                        format!("{} entries", mine.len()),
                    ));
                }
                for (e, x) in cache.entries.iter_mut().zip(mine) {
                    e.example = x;
                }
                PartCert::Irs(IrsJob::new(Arc::new(cache), cfg.irs_params()))
            }
            None => PartCert::Fresh(
                CertifyJob::new(cfg.smooth_params(), mine).with_purposes(h.points.purposes()),
            ),
        };
        let calib = match calib {
            Some((key, c)) if *key == identity => c.clone(),
            _ => {
                let c = crate::quant::calib::calibrate(pretrained, data, &cfg.calib_config());
                *calib = Some((identity, c.clone()));
                c
            }
        };
        let q = QuantizedModel::new(&float, &policy, &calib, &cfg.quant_config())?;
        let int = IntModel::new(&q)?;
        Ok(IrsPartJob {
            split: h.split,
            part,
            int,
            cert,
        })
    }

    /// Points and samples done of the part.
    pub fn progress(&self) -> Progress {
        match &self.cert {
            PartCert::Irs(j) => j.progress(),
            PartCert::Fresh(j) => j.progress(),
        }
    }

    /// The finished part's output (None until done).
    pub fn output(&self) -> Option<IrsPartOut> {
        let records = match &self.cert {
            PartCert::Irs(j) => j.is_done().then(|| PartRecords::Irs(j.records().to_vec())),
            PartCert::Fresh(j) => j
                .is_done()
                .then(|| PartRecords::Fresh(j.records().to_vec())),
        };
        records.map(|records| IrsPartOut {
            split: self.split,
            part: self.part,
            records,
        })
    }
}

/// An IRS part as a [`Job`]: the budget is forward samples of the integer model (untimed,
/// like the evaluation's own certification).
impl Job for IrsPartJob {
    type Env<'a> = ();
    type Report = ();

    fn step(&mut self, (): (), budget: u64, _clock: &mut dyn FnMut() -> u64) -> Result<()> {
        match &mut self.cert {
            PartCert::Irs(j) => drop(j.step(&mut self.int, budget.max(1))),
            PartCert::Fresh(j) => drop(j.step(&mut self.int, budget.max(1))),
        }
        Ok(())
    }

    fn work(&self) -> Work {
        let p = self.progress();
        Work {
            phase: "irs-part",
            done: p.samples_done,
            total: p.samples_total,
        }
    }

    fn is_done(&self) -> bool {
        match &self.cert {
            PartCert::Irs(j) => j.is_done(),
            PartCert::Fresh(j) => j.is_done(),
        }
    }
}
