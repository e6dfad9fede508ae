//! Results that travel with a link (issue 12, "The link is the result").
//!
//! One set of finished jobs (a certification, searches, the final table) becomes
//! - **canonical records**: one text line per record (a certified point, a search episode, a
//!   row of the final table) holding every number that depends only on the experiment, each
//!   f64 as its 16 hex bit digits, and nothing that depends on the machine (no timings);
//! - **digests**: SHA-256 of each job's records and, over those, of the whole set; the same
//!   fragment gives the same digests in the page and in `arq`, bit for bit;
//! - a **shared summary** ([`Shared`]): what the page shows of a shared link before anything
//!   is replayed (curves, ACR, the table's rows and policies, each search's best policy and
//!   reward curve, rounded), the job digests and short per-record tags that locate the first
//!   divergence of a replay. Its JSON is deflated and base64url-encoded into the fragment's
//!   `r=` key (the page with CompressionStream, the CLI with miniz_oxide, [`link`]);
//! - a **bundle** ([`Bundle`], `.arq.json`): the settings, engine version, checkpoint hash,
//!   every record and the digests, written and read by both front ends.
//!
//! A shared summary or bundle is only ever *claimed* results: [`verify`] compares a replay's
//! own summary (digests and rounded numbers alike) with it, so a tampered payload can show
//! but never verifies.

#[cfg(not(target_arch = "wasm32"))]
pub mod link;

use crate::certify::CertRecord;
use crate::config::{ExperimentConfig, FORMAT_VERSION};
use crate::error::{Error, Result};
use crate::pipeline::compare::CompareRow;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Version of the shared summary and of the bundle.
pub const FORMAT: u32 = 1;
/// The bundle's `format` tag.
pub const BUNDLE_FORMAT: &str = "arq-bundle";
/// Largest shared summary (inflated JSON), in bytes.
pub const MAX_SHARED_BYTES: usize = 64 * 1024;
/// Largest `r=` value (base64url text), in characters.
pub const MAX_LINK_CHARS: usize = 16 * 1024;
/// Largest bundle, in bytes.
pub const MAX_BUNDLE_BYTES: usize = 32 * 1024 * 1024;
/// Tags per job at most: records are grouped so that a job never carries more.
pub const MAX_TAGS: usize = 256;
/// Search-curve points at most in a shared summary (longer searches are reduced).
pub const MAX_CURVE: usize = 200;

const MAX_RECORDS: usize = 2000;
const MAX_ROWS: usize = 16;
const METHODS: [&str; 3] = ["arq", "haq", "random"];

/// One search episode, as much of `EpisodeRecord` as the results keep (the page sends the
/// engine's records; extra fields are ignored).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct Episode {
    /// Episode number, from 0.
    pub episode: usize,
    /// A warm-up episode.
    pub is_warmup: bool,
    /// Evaluated weight bits per layer.
    pub wbits: Vec<u8>,
    /// Evaluated activation bits per layer.
    pub abits: Vec<u8>,
    /// The reward.
    pub reward: f64,
    /// BOPs / FP32 BOPs.
    pub cost_ratio: f64,
    /// The evaluator's figures; `acr` and `accuracy` are part of the record, the rest
    /// (timings) is not.
    pub metrics: BTreeMap<String, f64>,
}

/// One finished search.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct SearchRun {
    /// `arq`, `haq` or `random`.
    pub method: String,
    /// Its episodes.
    pub episodes: Vec<Episode>,
}

/// The finished jobs of one experiment, as the front ends hold them.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct ResultInput {
    /// A finished certification of the FP32 model (its records).
    #[serde(default)]
    pub certify: Option<Vec<CertRecord>>,
    /// Finished searches, in the order they ran.
    #[serde(default)]
    pub searches: Vec<SearchRun>,
    /// A finished final table, rows in table order.
    #[serde(default)]
    pub table: Option<Vec<CompareRow>>,
}

/// Bits of an f64, the canonical spelling of every number in a record.
fn b(x: f64) -> String {
    format!("{:016x}", x.to_bits())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|x| format!("{x:02x}")).collect()
}

fn list(v: &[u8]) -> String {
    v.iter().map(u8::to_string).collect::<Vec<_>>().join(",")
}

/// One job's canonical records.
#[derive(Clone, Debug, PartialEq)]
pub struct CanonicalJob {
    /// `certify`, `search:<method>` or `table`.
    pub job: String,
    /// One line per record.
    pub lines: Vec<String>,
}

impl CanonicalJob {
    /// SHA-256 (hex) of the job's records.
    pub fn digest(&self) -> String {
        let mut h = Sha256::new();
        h.update(format!("arq-results/{FORMAT}\njob {}\n", self.job).as_bytes());
        for l in &self.lines {
            h.update(l.as_bytes());
            h.update(b"\n");
        }
        hex(&h.finalize())
    }

    /// Records per tag.
    pub fn group(&self) -> usize {
        group_size(self.lines.len())
    }

    /// Two bytes (4 hex digits) of SHA-256 per group of records: where a replay diverged.
    pub fn tags(&self) -> String {
        self.lines
            .chunks(self.group())
            .map(|c| {
                let mut h = Sha256::new();
                for l in c {
                    h.update(l.as_bytes());
                    h.update(b"\n");
                }
                hex(&h.finalize()[..2])
            })
            .collect()
    }
}

/// Records per tag for a job of `count` records.
pub fn group_size(count: usize) -> usize {
    count.div_ceil(MAX_TAGS).max(1)
}

/// The digest of a whole result set from its jobs' digests.
pub fn set_digest<'a>(jobs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut h = Sha256::new();
    h.update(format!("arq-results/{FORMAT}\n").as_bytes());
    for (job, d) in jobs {
        h.update(format!("{job} {d}\n").as_bytes());
    }
    hex(&h.finalize())
}

impl ResultInput {
    /// True when there is no finished job.
    pub fn is_empty(&self) -> bool {
        self.certify.is_none() && self.searches.is_empty() && self.table.is_none()
    }

    /// Checks the shape (methods known and unique, sizes bounded); `what` names the input.
    pub fn check(&self, what: &str) -> Result<()> {
        if self.is_empty() {
            return Err(Error::invalid(
                what,
                "{}",
                "no finished job",
                "a certification, searches or a final table",
            ));
        }
        if let Some(c) = &self.certify {
            if c.is_empty() || c.len() > MAX_RECORDS {
                return Err(Error::invalid(
                    &format!("{what}.certify"),
                    format!("{} records", c.len()),
                    "wrong size",
                    format!("1..={MAX_RECORDS} records"),
                ));
            }
        }
        if self.searches.len() > METHODS.len() {
            return Err(Error::invalid(
                &format!("{what}.searches"),
                format!("{} searches", self.searches.len()),
                "too many",
                "at most one search per method",
            ));
        }
        for (i, s) in self.searches.iter().enumerate() {
            let field = format!("{what}.searches[{i}]");
            if !METHODS.contains(&s.method.as_str()) {
                return Err(Error::invalid(
                    &format!("{field}.method"),
                    &s.method,
                    "unknown search method",
                    "arq, haq, random",
                ));
            }
            if self.searches[..i].iter().any(|t| t.method == s.method) {
                return Err(Error::invalid(
                    &format!("{field}.method"),
                    &s.method,
                    "repeated",
                    "each method at most once",
                ));
            }
            if s.episodes.is_empty() || s.episodes.len() > MAX_RECORDS {
                return Err(Error::invalid(
                    &format!("{field}.episodes"),
                    format!("{} episodes", s.episodes.len()),
                    "wrong size",
                    format!("1..={MAX_RECORDS} episodes"),
                ));
            }
        }
        if let Some(t) = &self.table {
            if t.is_empty() || t.len() > MAX_ROWS {
                return Err(Error::invalid(
                    &format!("{what}.table"),
                    format!("{} rows", t.len()),
                    "wrong size",
                    format!("1..={MAX_ROWS} rows"),
                ));
            }
        }
        Ok(())
    }

    /// The canonical records, job by job: certification, searches in order, the table.
    pub fn canonical(&self) -> Vec<CanonicalJob> {
        let mut jobs = vec![];
        if let Some(c) = &self.certify {
            let mut recs = c.clone();
            recs.sort_by_key(|r| r.index);
            let lines = recs
                .iter()
                .map(|r| {
                    format!(
                        "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                        r.index,
                        r.label,
                        r.prediction
                            .class()
                            .map_or("-".to_string(), |c| c.to_string()),
                        r.count,
                        r.n,
                        b(r.p_lower),
                        b(r.radius),
                        u8::from(r.correct)
                    )
                })
                .collect();
            jobs.push(CanonicalJob {
                job: "certify".into(),
                lines,
            });
        }
        // searches by method name: the digest does not depend on the order they ran in (the
        // table's rows, which do, carry it)
        let mut searches: Vec<&SearchRun> = self.searches.iter().collect();
        searches.sort_by(|a, b| a.method.cmp(&b.method));
        for s in searches {
            let mut eps = s.episodes.clone();
            eps.sort_by_key(|e| e.episode);
            let m = |e: &Episode, k: &str| e.metrics.get(k).copied().map_or("-".to_string(), b);
            let lines = eps
                .iter()
                .map(|e| {
                    format!(
                        "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                        e.episode,
                        if e.is_warmup { "w" } else { "." },
                        list(&e.wbits),
                        list(&e.abits),
                        b(e.reward),
                        b(e.cost_ratio),
                        m(e, "acr"),
                        m(e, "accuracy")
                    )
                })
                .collect();
            jobs.push(CanonicalJob {
                job: format!("search:{}", s.method),
                lines,
            });
        }
        if let Some(t) = &self.table {
            let lines = t
                .iter()
                .map(|r| {
                    format!(
                        "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                        r.name.replace(['\t', '\n'], " "),
                        r.fragment.replace(['\t', '\n'], " "),
                        b(r.bops_ratio),
                        r.size_bytes,
                        b(r.test_accuracy),
                        r.uniform
                            .as_ref()
                            .map_or("-".to_string(), |u| format!("W{}A{}", u.w, u.a)),
                        r.radii.iter().map(|x| b(*x)).collect::<Vec<_>>().join(","),
                        r.correct
                            .iter()
                            .map(|c| if *c { '1' } else { '0' })
                            .collect::<String>()
                    )
                })
                .collect();
            jobs.push(CanonicalJob {
                job: "table".into(),
                lines,
            });
        }
        jobs
    }
}

/// Rounded for display (4 decimals); the same in the page and the CLI (IEEE arithmetic).
fn r4(x: f64) -> f64 {
    if x.is_finite() {
        (x * 1e4).round() / 1e4 + 0.0
    } else {
        0.0
    }
}

fn r6(x: f64) -> f64 {
    if x.is_finite() {
        (x * 1e6).round() / 1e6 + 0.0
    } else {
        0.0
    }
}

/// A certification's curve and summary, rounded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CertifyData {
    /// Test points certified.
    pub points: usize,
    /// Radii of the curve.
    pub grid: Vec<f64>,
    /// Certified accuracy at each radius.
    pub certified_accuracy: Vec<f64>,
    /// Average certified radius.
    pub acr: f64,
    /// Certified accuracy at r = 0.
    pub clean_accuracy: f64,
    /// Fraction of abstentions.
    pub abstain_rate: f64,
    /// The certifier's radius cap.
    pub r_max: f64,
}

/// A search's best episode, rounded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BestEpisode {
    /// Its episode number.
    pub episode: usize,
    /// Weight bits per layer.
    pub wbits: Vec<u8>,
    /// Activation bits per layer.
    pub abits: Vec<u8>,
    /// Reward.
    pub reward: f64,
    /// BOPs / FP32 BOPs.
    pub cost_ratio: f64,
    /// Its ACR on the search split.
    pub acr: f64,
    /// Its accuracy on the search split.
    pub accuracy: f64,
}

/// A search's best policy and reward curve (the best reward of each stretch of
/// `curveStep` episodes; every episode up to 200).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SearchData {
    /// Episodes.
    pub episodes: usize,
    /// Warm-up episodes among them.
    pub warmup: usize,
    /// The best episode (the first of equal rewards).
    pub best: BestEpisode,
    /// Episodes per curve point.
    pub curve_step: usize,
    /// Reward per curve point.
    pub rewards: Vec<f64>,
}

/// One row of the final table, rounded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TableRowData {
    /// Row label.
    pub name: String,
    /// `wb=..&ab=..` of its policy.
    pub policy: String,
    /// Clean test accuracy of the base classifier.
    pub test_accuracy: f64,
    /// Certified accuracy at each radius of the table's grid.
    pub certified_accuracy: Vec<f64>,
    /// ACR.
    pub acr: f64,
    /// BOPs / FP32 BOPs.
    pub bops_ratio: f64,
    /// Bytes.
    pub size_bytes: u64,
}

/// The final table, rounded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TableData {
    /// Radii of the certified-accuracy columns.
    pub grid: Vec<f64>,
    /// Rows in table order.
    pub rows: Vec<TableRowData>,
}

/// A job's numbers as shown from a link.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum JobData {
    /// A certification.
    Certify(CertifyData),
    /// A search.
    Search(SearchData),
    /// The final table.
    Table(TableData),
}

/// One job of a shared summary.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SharedJob {
    /// `certify`, `search:<method>` or `table`.
    pub job: String,
    /// Records.
    pub count: usize,
    /// SHA-256 (hex) of its canonical records.
    pub digest: String,
    /// Records per tag.
    pub group: usize,
    /// 4 hex digits per group of records.
    pub tags: String,
    /// What the page shows.
    pub data: JobData,
}

/// The compact summary a link carries (`r=`), versioned.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Shared {
    /// [`FORMAT`].
    pub v: u32,
    /// Engine version that computed it.
    pub engine: String,
    /// The canonical settings fragment (without '#').
    pub fragment: String,
    /// SHA-256 of the checkpoint the jobs started from (null: weights trained in the session).
    pub checkpoint: Option<String>,
    /// The jobs, in order.
    pub jobs: Vec<SharedJob>,
}

impl Shared {
    /// Builds the summary of `input` computed with `fragment` from `checkpoint`.
    pub fn build(input: &ResultInput, fragment: &str, checkpoint: Option<&str>) -> Result<Shared> {
        input.check("results")?;
        let cfg = settings(fragment, "fragment")?;
        let canon = input.canonical();
        let mut jobs = vec![];
        for c in &canon {
            let data = if c.job == "certify" {
                let recs = input.certify.as_deref().unwrap_or_default();
                let mut sorted = recs.to_vec();
                sorted.sort_by_key(|r| r.index);
                let s = crate::pipeline::fp32_summary(&cfg, &sorted);
                JobData::Certify(CertifyData {
                    points: s.points,
                    grid: s.grid.iter().map(|x| r4(*x)).collect(),
                    certified_accuracy: s.certified_accuracy.iter().map(|x| r4(*x)).collect(),
                    acr: r4(s.acr),
                    clean_accuracy: r4(s.clean_accuracy),
                    abstain_rate: r4(s.abstain_rate),
                    r_max: r4(s.r_max),
                })
            } else if let Some(method) = c.job.strip_prefix("search:") {
                let run = input
                    .searches
                    .iter()
                    .find(|s| s.method == method)
                    .expect("canonical job of a search");
                JobData::Search(search_data(run))
            } else {
                let rows = input.table.as_deref().unwrap_or_default();
                let grid = rows
                    .first()
                    .map(|r| r.summary.grid.clone())
                    .unwrap_or_default();
                JobData::Table(TableData {
                    grid: grid.iter().map(|x| r4(*x)).collect(),
                    rows: rows
                        .iter()
                        .map(|r| TableRowData {
                            name: r.name.clone(),
                            policy: r.fragment.clone(),
                            test_accuracy: r4(r.test_accuracy),
                            certified_accuracy: r
                                .summary
                                .certified_accuracy
                                .iter()
                                .map(|x| r4(*x))
                                .collect(),
                            acr: r4(r.summary.acr),
                            bops_ratio: r6(r.bops_ratio),
                            size_bytes: r.size_bytes,
                        })
                        .collect(),
                })
            };
            jobs.push(SharedJob {
                job: c.job.clone(),
                count: c.lines.len(),
                digest: c.digest(),
                group: c.group(),
                tags: c.tags(),
                data,
            });
        }
        let s = Shared {
            v: FORMAT,
            engine: crate::VERSION.into(),
            // without the presentation keys (view, lesson, ...): no number depends on them
            fragment: cfg.experiment_fragment(),
            checkpoint: checkpoint.map(str::to_string),
            jobs,
        };
        s.validate()?;
        Ok(s)
    }

    /// The searches to replay, in the order they ran: as their best policies' rows stand in
    /// the table (the table's row order depends on it), by method name without a table.
    pub fn replay_order(&self) -> Vec<String> {
        let rows: Vec<&str> = self
            .jobs
            .iter()
            .find_map(|j| match &j.data {
                JobData::Table(t) => Some(t.rows.iter().map(|r| r.name.as_str()).collect()),
                _ => None,
            })
            .unwrap_or_default();
        let mut methods: Vec<String> = self
            .jobs
            .iter()
            .filter_map(|j| j.job.strip_prefix("search:").map(str::to_string))
            .collect();
        methods.sort_by_key(|m| {
            let label = crate::pipeline::search::Method::parse(m)
                .map(|x| x.label())
                .unwrap_or_default();
            rows.iter().position(|r| *r == label).unwrap_or(usize::MAX)
        });
        methods
    }

    /// Checks that these results belong to a link's settings part and `eng=` key.
    pub fn check_link(&self, settings: &str, engine: Option<&str>) -> Result<()> {
        if let Some(e) = engine {
            if e != self.engine {
                return Err(Error::invalid(
                    "eng",
                    shorten(e),
                    "does not match the results' engine version",
                    &self.engine,
                ));
            }
        }
        if !same_experiment(settings, &self.fragment) {
            let (cfg, _) = ExperimentConfig::from_fragment_lenient(settings);
            return Err(Error::invalid(
                "r",
                format!("results of '#{}'", self.fragment),
                "computed with other settings than the link's",
                format!("results of '#{}'", cfg.experiment_fragment()),
            ));
        }
        Ok(())
    }

    /// SHA-256 (hex) of the whole result set.
    pub fn digest(&self) -> String {
        set_digest(
            self.jobs
                .iter()
                .map(|j| (j.job.as_str(), j.digest.as_str())),
        )
    }

    /// The JSON bytes the link deflates.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a shared summary serialises")
    }

    /// Reads and validates inflated link bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Shared> {
        let what = "r";
        if bytes.len() > MAX_SHARED_BYTES {
            return Err(Error::invalid(
                what,
                format!("{} bytes", bytes.len()),
                "the shared results are too large",
                format!("at most {MAX_SHARED_BYTES} bytes inflated"),
            ));
        }
        // from_str, like every other JSON the engine reads: one deserializer per type keeps
        // the wasm module small
        let text = std::str::from_utf8(bytes).map_err(|_| {
            Error::invalid(
                what,
                "(the decoded payload)",
                "not UTF-8 text",
                "the results summary the page or arq writes",
            )
        })?;
        let s: Shared = serde_json::from_str(text).map_err(|e| {
            Error::invalid(
                what,
                "(the decoded payload)",
                &format!("not a shared result summary: {e}"),
                format!("the results summary of format {FORMAT} that the page or arq writes"),
            )
        })?;
        s.validate()?;
        Ok(s)
    }

    /// Checks every field: versions, settings, job names and order, digests, tags, numbers.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, value: &dyn std::fmt::Display, reason: &str, allowed: &str| {
            Err(Error::invalid(
                &format!("r.{field}"),
                shorten(&value.to_string()),
                reason,
                allowed,
            ))
        };
        if self.v != FORMAT {
            return bad(
                "v",
                &self.v,
                "unsupported results format",
                &FORMAT.to_string(),
            );
        }
        if self.engine.is_empty()
            || self.engine.len() > 32
            || !self
                .engine
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".+-_".contains(c))
        {
            return bad(
                "engine",
                &self.engine,
                "not an engine version",
                "a version such as 0.1.0",
            );
        }
        let cfg = settings(&self.fragment, "r.fragment")?;
        if cfg.experiment_fragment() != self.fragment {
            return bad(
                "fragment",
                &self.fragment,
                "not canonical",
                "the canonical settings fragment, without presentation keys (view, lesson, ...)",
            );
        }
        if let Some(c) = &self.checkpoint {
            if c.is_empty() || c.len() > 64 || !is_hex(c) {
                return bad(
                    "checkpoint",
                    c,
                    "not a checkpoint hash",
                    "hex digits of SHA-256, or null",
                );
            }
        }
        if self.jobs.is_empty() || self.jobs.len() > 2 + METHODS.len() {
            return bad(
                "jobs",
                &format!("{} jobs", self.jobs.len()),
                "wrong number of jobs",
                "1..=5",
            );
        }
        for (i, j) in self.jobs.iter().enumerate() {
            let f = |k: &str| format!("jobs[{i}].{k}");
            let order = job_order(&j.job);
            if order.is_none() {
                return bad(
                    &f("job"),
                    &j.job,
                    "unknown job",
                    "certify, search:arq, search:haq, search:random, table",
                );
            }
            if i > 0
                && (
                    job_order(&self.jobs[i - 1].job),
                    self.jobs[i - 1].job.as_str(),
                ) >= (order, j.job.as_str())
            {
                return bad(
                    &f("job"),
                    &j.job,
                    "out of order",
                    "certify first, then the searches by method name, then the table",
                );
            }
            if self.jobs[..i].iter().any(|k| k.job == j.job) {
                return bad(&f("job"), &j.job, "repeated", "each job once");
            }
            if j.digest.len() != 64 || !is_hex(&j.digest) {
                return bad(
                    &f("digest"),
                    &j.digest,
                    "not a SHA-256 digest",
                    "64 lowercase hex digits",
                );
            }
            let max = if j.job == "table" {
                MAX_ROWS
            } else {
                MAX_RECORDS
            };
            if j.count == 0 || j.count > max {
                return bad(
                    &f("count"),
                    &j.count,
                    "wrong number of records",
                    &format!("1..={max}"),
                );
            }
            if j.group != group_size(j.count) {
                return bad(
                    &f("group"),
                    &j.group,
                    "does not fit the record count",
                    &group_size(j.count).to_string(),
                );
            }
            let tags = j.count.div_ceil(j.group);
            if j.tags.len() != 4 * tags || !is_hex(&j.tags) {
                return bad(
                    &f("tags"),
                    &j.tags,
                    "wrong tags",
                    &format!("{} lowercase hex digits", 4 * tags),
                );
            }
            self.check_data(i, j, &cfg)?;
        }
        Ok(())
    }

    fn check_data(&self, i: usize, j: &SharedJob, cfg: &ExperimentConfig) -> Result<()> {
        let field = format!("r.jobs[{i}].data");
        let bad = |k: &str, v: &dyn std::fmt::Display, reason: &str, allowed: &str| {
            Err(Error::invalid(
                &format!("{field}.{k}"),
                shorten(&v.to_string()),
                reason,
                allowed,
            ))
        };
        let unit = |k: &str, xs: &[f64]| -> Result<()> {
            match xs
                .iter()
                .find(|x| !(x.is_finite() && (0.0..=1.0).contains(*x)))
            {
                Some(x) => bad(k, x, "not a fraction", "a number in 0..=1"),
                None => Ok(()),
            }
        };
        let radii = |k: &str, xs: &[f64]| -> Result<()> {
            match xs
                .iter()
                .find(|x| !(x.is_finite() && (0.0..=100.0).contains(*x)))
            {
                Some(x) => bad(k, x, "not a radius", "a number in 0..=100"),
                None => Ok(()),
            }
        };
        let bits = |k: &str, xs: &[u8]| -> Result<()> {
            if xs.is_empty() || xs.len() > 64 || xs.iter().any(|x| !(2..=32).contains(x)) {
                return bad(
                    k,
                    &format!("{xs:?}"),
                    "not a bit-width list",
                    "1..=64 widths in 2..=32",
                );
            }
            Ok(())
        };
        match (&j.data, j.job.as_str()) {
            (JobData::Certify(c), "certify") => {
                if c.points != j.count || c.points != cfg.points as usize {
                    return bad(
                        "points",
                        &c.points,
                        "does not match the records or the settings",
                        &cfg.points.to_string(),
                    );
                }
                if c.grid.len() > 32 || c.grid.len() != c.certified_accuracy.len() {
                    return bad(
                        "grid",
                        &c.grid.len(),
                        "wrong curve length",
                        "at most 32 radii, one accuracy each",
                    );
                }
                radii("grid", &c.grid)?;
                radii("acr", &[c.acr, c.r_max])?;
                unit("certifiedAccuracy", &c.certified_accuracy)?;
                unit("cleanAccuracy", &[c.clean_accuracy, c.abstain_rate])
            }
            (JobData::Search(s), job) if job.starts_with("search:") => {
                if s.episodes != j.count || s.warmup > s.episodes {
                    return bad(
                        "episodes",
                        &s.episodes,
                        "does not match the records",
                        &j.count.to_string(),
                    );
                }
                if s.curve_step != s.episodes.div_ceil(MAX_CURVE).max(1)
                    || s.rewards.len() != s.episodes.div_ceil(s.curve_step)
                {
                    return bad(
                        "rewards",
                        &s.rewards.len(),
                        "wrong curve length",
                        &s.episodes
                            .div_ceil(s.episodes.div_ceil(MAX_CURVE).max(1))
                            .to_string(),
                    );
                }
                if let Some(x) = s
                    .rewards
                    .iter()
                    .chain([&s.best.reward])
                    .find(|x| !(x.is_finite() && x.abs() <= 1e6))
                {
                    return bad("rewards", x, "not a reward", "a finite number");
                }
                if s.best.episode >= s.episodes {
                    return bad(
                        "best.episode",
                        &s.best.episode,
                        "not an episode of the search",
                        &format!("0..{}", s.episodes),
                    );
                }
                bits("best.wbits", &s.best.wbits)?;
                bits("best.abits", &s.best.abits)?;
                unit("best.costRatio", &[s.best.cost_ratio, s.best.accuracy])?;
                radii("best.acr", &[s.best.acr])
            }
            (JobData::Table(t), "table") => {
                if t.rows.len() != j.count || t.grid.len() > 32 {
                    return bad(
                        "rows",
                        &t.rows.len(),
                        "does not match the records",
                        &j.count.to_string(),
                    );
                }
                radii("grid", &t.grid)?;
                for (k, r) in t.rows.iter().enumerate() {
                    let rf = |x: &str| format!("rows[{k}].{x}");
                    if r.name.is_empty()
                        || r.name.len() > 40
                        || r.name.chars().any(char::is_control)
                    {
                        return bad(
                            &rf("name"),
                            &r.name,
                            "not a row name",
                            "1..=40 printable characters",
                        );
                    }
                    if r.policy.len() > 400
                        || !r
                            .policy
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "=,&".contains(c))
                    {
                        return bad(&rf("policy"), &r.policy, "not a policy", "wb=..&ab=..");
                    }
                    if r.certified_accuracy.len() != t.grid.len() {
                        return bad(
                            &rf("certifiedAccuracy"),
                            &r.certified_accuracy.len(),
                            "wrong length",
                            &t.grid.len().to_string(),
                        );
                    }
                    unit(&rf("certifiedAccuracy"), &r.certified_accuracy)?;
                    unit(&rf("testAccuracy"), &[r.test_accuracy, r.bops_ratio])?;
                    radii(&rf("acr"), &[r.acr])?;
                }
                Ok(())
            }
            _ => bad(
                "kind",
                &j.job,
                "does not match the job",
                "certify, search or table data for its job",
            ),
        }
    }
}

fn search_data(run: &SearchRun) -> SearchData {
    let mut eps = run.episodes.clone();
    eps.sort_by_key(|e| e.episode);
    let best = eps.iter().fold(None::<&Episode>, |acc, e| match acc {
        Some(a) if a.reward >= e.reward => Some(a),
        _ => Some(e),
    });
    let best = best.expect("a search has episodes");
    let step = eps.len().div_ceil(MAX_CURVE).max(1);
    let rewards = eps
        .chunks(step)
        .map(|c| r4(c.iter().map(|e| e.reward).fold(f64::NEG_INFINITY, f64::max)))
        .collect();
    let metric = |k: &str| best.metrics.get(k).copied().unwrap_or(0.0);
    SearchData {
        episodes: eps.len(),
        warmup: eps.iter().filter(|e| e.is_warmup).count(),
        best: BestEpisode {
            episode: best.episode,
            wbits: best.wbits.clone(),
            abits: best.abits.clone(),
            reward: r6(best.reward),
            cost_ratio: r6(best.cost_ratio),
            acr: r4(metric("acr")),
            accuracy: r4(metric("accuracy")),
        },
        curve_step: step,
        rewards,
    }
}

fn job_order(job: &str) -> Option<u8> {
    match job {
        "certify" => Some(0),
        "table" => Some(2),
        j => j
            .strip_prefix("search:")
            .filter(|m| METHODS.contains(m))
            .map(|_| 1),
    }
}

fn is_hex(s: &str) -> bool {
    s.bytes()
        .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
}

fn shorten(s: &str) -> String {
    if s.chars().count() > 80 {
        format!("{}…", s.chars().take(80).collect::<String>())
    } else {
        s.to_string()
    }
}

/// Whether two settings fragments describe the same computation (presentation keys aside),
/// whatever format version each is written in.
fn same_experiment(a: &str, b: &str) -> bool {
    let canonical = |f: &str| {
        ExperimentConfig::from_fragment_lenient(f)
            .0
            .experiment_fragment_of(FORMAT_VERSION)
    };
    canonical(a) == canonical(b)
}

/// A settings fragment, strictly (a link's results belong to exactly these settings).
fn settings(fragment: &str, field: &str) -> Result<ExperimentConfig> {
    if fragment.len() > 4000 {
        return Err(Error::invalid(
            field,
            shorten(fragment),
            "too long",
            "a settings fragment of at most 4000 characters",
        ));
    }
    let mut cfg = ExperimentConfig::from_fragment(fragment).map_err(|e| {
        Error::invalid(
            field,
            shorten(fragment),
            &format!("not valid settings ({e})"),
            "the fragment the results were computed with",
        )
    })?;
    let unfit = crate::experiment::drop_unfit_policy(&mut cfg);
    if let Some(e) = unfit.into_iter().next() {
        return Err(Error::invalid(
            field,
            shorten(fragment),
            &format!("not valid settings ({e})"),
            "the fragment the results were computed with",
        ));
    }
    Ok(cfg)
}

/// Where a replay first differs from the shared results.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct Divergence {
    /// The job (`certify`, `search:arq`, `table`), or `settings` / `engine` / `checkpoint`.
    pub job: String,
    /// The first record that differs (0-based), when known.
    pub first: Option<usize>,
    /// The last record of the group it was located in (same as `first` when exact).
    pub last: Option<usize>,
    /// In words.
    pub message: String,
}

/// The outcome of comparing a replay with shared results.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    /// The replay gave the same records and the same shown numbers.
    pub identical: bool,
    /// The shared results' digest.
    pub shared_digest: String,
    /// The replay's digest.
    pub replay_digest: String,
    /// The first difference, if any.
    pub divergence: Option<Divergence>,
    /// In words: "replayed, bit-identical" or where it first diverged.
    pub message: String,
}

fn what_record(job: &str, k: usize) -> String {
    if job == "certify" {
        format!("reported point {k}")
    } else if job == "table" {
        format!("row {k}")
    } else {
        format!("episode {k}")
    }
}

/// Compares a replay's summary (and, from a bundle, both sides' canonical records) with the
/// shared one. Identical only if every digest and every shown number agree.
pub fn verify(
    shared: &Shared,
    replay: &Shared,
    records: Option<(&[CanonicalJob], &[CanonicalJob])>,
) -> Verdict {
    let verdict = |d: Option<Divergence>| Verdict {
        identical: d.is_none(),
        shared_digest: shared.digest(),
        replay_digest: replay.digest(),
        message: match &d {
            None => format!(
                "replayed, bit-identical (digest {})",
                &replay.digest()[..16]
            ),
            Some(d) => format!("replayed, differs: {}", d.message),
        },
        divergence: d,
    };
    let div = |job: &str, first: Option<usize>, last: Option<usize>, message: String| {
        Some(Divergence {
            job: job.into(),
            first,
            last,
            message,
        })
    };
    if !same_experiment(&shared.fragment, &replay.fragment) {
        return verdict(div(
            "settings",
            None,
            None,
            format!(
                "the replay ran '#{}', the results are of '#{}'",
                replay.fragment, shared.fragment
            ),
        ));
    }
    for (k, sj) in shared.jobs.iter().enumerate() {
        let Some(rj) = replay.jobs.iter().find(|r| r.job == sj.job) else {
            return verdict(div(
                &sj.job,
                None,
                None,
                format!("the replay has no {} job", sj.job),
            ));
        };
        if sj.digest != rj.digest || sj.count != rj.count {
            if let Some((a, bb)) = records {
                if let (Some(a), Some(bb)) = (
                    a.iter().find(|c| c.job == sj.job),
                    bb.iter().find(|c| c.job == sj.job),
                ) {
                    let at = a
                        .lines
                        .iter()
                        .zip(&bb.lines)
                        .position(|(x, y)| x != y)
                        .unwrap_or(a.lines.len().min(bb.lines.len()));
                    return verdict(div(
                        &sj.job,
                        Some(at),
                        Some(at),
                        format!(
                            "{} first differs at {} (record {at} of {} shared, {} replayed)",
                            sj.job,
                            what_record(&sj.job, at),
                            a.lines.len(),
                            bb.lines.len()
                        ),
                    ));
                }
            }
            if sj.count != rj.count {
                return verdict(div(
                    &sj.job,
                    None,
                    None,
                    format!(
                        "{} has {} records shared, {} replayed",
                        sj.job, sj.count, rj.count
                    ),
                ));
            }
            let g = (0..sj.tags.len() / 4)
                .find(|g| sj.tags.get(4 * g..4 * g + 4) != rj.tags.get(4 * g..4 * g + 4));
            return verdict(match g {
                Some(g) => {
                    let (first, last) = (g * sj.group, ((g + 1) * sj.group).min(sj.count) - 1);
                    let at = if first == last {
                        what_record(&sj.job, first)
                    } else {
                        format!("{} to {last}", what_record(&sj.job, first))
                    };
                    div(
                        &sj.job,
                        Some(first),
                        Some(last),
                        format!("{} first differs at {at}", sj.job),
                    )
                }
                None => div(
                    &sj.job,
                    None,
                    None,
                    format!(
                        "{}: its records differ (digest {} shared, {} replayed)",
                        sj.job,
                        &sj.digest[..16],
                        &rj.digest[..16]
                    ),
                ),
            });
        }
        if sj.data != rj.data || sj.tags != rj.tags {
            return verdict(div(&sj.job, None, None, format!("{}: the same records, but the shared numbers are not theirs (job {k} of the link was edited)", sj.job)));
        }
    }
    if shared.jobs.len() != replay.jobs.len() {
        return verdict(div(
            "jobs",
            None,
            None,
            "the replay ran other jobs than the link carries".into(),
        ));
    }
    verdict(None)
}

/// An exported run (`.arq.json`): everything to show, replay and verify it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Bundle {
    /// "arq-bundle".
    pub format: String,
    /// [`FORMAT`].
    pub v: u32,
    /// Engine version that computed it.
    pub engine: String,
    /// The canonical settings fragment (without '#').
    pub fragment: String,
    /// SHA-256 of the checkpoint the jobs started from.
    pub checkpoint: Option<String>,
    /// The whole set's digest.
    pub digest: String,
    /// Each job's digest, in order.
    pub jobs: Vec<BundleJob>,
    /// Every record.
    pub results: ResultInput,
}

/// A bundle's format tag and version, as raw JSON text (any other field is skipped).
#[derive(Deserialize)]
struct BundleHead {
    #[serde(default)]
    format: Option<Box<serde_json::value::RawValue>>,
    #[serde(default)]
    v: Option<Box<serde_json::value::RawValue>>,
}

/// A job of a bundle and its digest.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BundleJob {
    /// `certify`, `search:<method>` or `table`.
    pub job: String,
    /// Records.
    pub count: usize,
    /// SHA-256 (hex) of its canonical records.
    pub digest: String,
}

impl Bundle {
    /// A bundle of `input`.
    pub fn build(
        input: &ResultInput,
        fragment: &str,
        checkpoint: Option<&str>,
    ) -> Result<(Bundle, Shared)> {
        let shared = Shared::build(input, fragment, checkpoint)?;
        let bundle = Bundle {
            format: BUNDLE_FORMAT.into(),
            v: FORMAT,
            engine: shared.engine.clone(),
            fragment: shared.fragment.clone(),
            checkpoint: shared.checkpoint.clone(),
            digest: shared.digest(),
            jobs: shared
                .jobs
                .iter()
                .map(|j| BundleJob {
                    job: j.job.clone(),
                    count: j.count,
                    digest: j.digest.clone(),
                })
                .collect(),
            results: input.clone(),
        };
        Ok((bundle, shared))
    }

    /// The `.arq.json` text.
    pub fn to_json(&self) -> String {
        // compact: a pretty printer would be one more serializer of every type in the wasm module
        serde_json::to_string(self).expect("a bundle serialises")
    }

    /// Reads and checks a bundle: format, version, settings, and every digest against the
    /// records it holds (an edited record is refused). Returns it with its shared summary.
    pub fn read(text: &str) -> Result<(Bundle, Shared)> {
        if text.len() > MAX_BUNDLE_BYTES {
            return Err(Error::invalid(
                "bundle",
                format!("{} bytes", text.len()),
                "too large",
                format!("at most {MAX_BUNDLE_BYTES} bytes"),
            ));
        }
        // format and version first, read as raw JSON text: a file that is not a bundle (or a
        // later version) is named as such before its fields are; serde_json::Value's own
        // deserializer and printer are not needed in the wasm module for this
        let head: BundleHead = serde_json::from_str(text).map_err(|e| {
            Error::invalid(
                "bundle",
                "(the file)",
                &format!("not JSON: {e}"),
                "an .arq.json bundle written by the page or arq",
            )
        })?;
        let raw = |r: &Option<Box<serde_json::value::RawValue>>| {
            shorten(r.as_ref().map_or("(missing)", |r| r.get()))
        };
        let format = head.format.as_ref();
        if format.and_then(|f| serde_json::from_str::<String>(f.get()).ok())
            != Some(BUNDLE_FORMAT.into())
        {
            return Err(Error::invalid(
                "bundle.format",
                raw(&head.format),
                "not an ARQ bundle",
                BUNDLE_FORMAT,
            ));
        }
        let v = head.v.as_ref();
        if v.and_then(|f| serde_json::from_str::<u32>(f.get()).ok()) != Some(FORMAT) {
            return Err(Error::invalid(
                "bundle.v",
                raw(&head.v),
                "unsupported bundle version",
                FORMAT,
            ));
        }
        let b: Bundle = serde_json::from_str(text).map_err(|e| {
            Error::invalid(
                "bundle",
                "(the file)",
                &format!("malformed: {e}"),
                "an .arq.json bundle written by the page or arq",
            )
        })?;
        b.results.check("bundle.results")?;
        let (again, shared) = Bundle::build(&b.results, &b.fragment, b.checkpoint.as_deref())
            .map_err(|e| {
                Error::invalid(
                    "bundle",
                    "(the file)",
                    &e.to_string(),
                    "a consistent bundle",
                )
            })?;
        if again.fragment != b.fragment {
            return Err(Error::invalid(
                "bundle.fragment",
                shorten(&b.fragment),
                "not canonical",
                again.fragment,
            ));
        }
        let shared = Shared {
            engine: b.engine.clone(),
            ..shared
        };
        shared.validate().map_err(|e| {
            Error::invalid(
                "bundle.engine",
                shorten(&b.engine),
                &e.to_string(),
                "an engine version",
            )
        })?;
        if again.jobs.len() != b.jobs.len() {
            return Err(Error::invalid(
                "bundle.jobs",
                format!("{} jobs", b.jobs.len()),
                "do not match the records",
                format!("{} jobs", again.jobs.len()),
            ));
        }
        for (i, (x, y)) in b.jobs.iter().zip(&again.jobs).enumerate() {
            if x.job != y.job || x.count != y.count || x.digest != y.digest {
                return Err(Error::invalid(
                    &format!("bundle.jobs[{i}].digest"),
                    shorten(&format!("{} {}", x.job, x.digest)),
                    "does not match its records (the bundle was edited or corrupted)",
                    format!("{} {}", y.job, y.digest),
                ));
            }
        }
        if b.digest != again.digest {
            return Err(Error::invalid(
                "bundle.digest",
                shorten(&b.digest),
                "does not match the job digests (the bundle was edited or corrupted)",
                again.digest,
            ));
        }
        Ok((b, shared))
    }
}

#[cfg(test)]
mod tests;
