//! Tables and records for papers and analysis scripts: one implementation for both front
//! ends (the page's download buttons call it through the wasm binding `exportTable`, the CLI
//! through `--table FILE` / `--episodes-table FILE` / `--format`, and `arq certify --cohen FILE`).
//!
//! A [`Table`] holds typed cells; [`render`] writes it as
//! - Markdown (GitHub pipe table; `|` escaped, notes as paragraphs below),
//! - LaTeX (a booktabs `table` with `tabular`, every special character escaped, Greek letters
//!   in math mode, notes as a footnote-size paragraph),
//! - CSV (RFC 4180 quoting; numbers unrounded, fractions rather than percentages, each
//!   interval column split into value, low, high and significance columns; no notes).
//!
//! [`cohen_tsv`] writes certification records in the layout of Cohen et al.'s `certify.py`
//! (`idx label predict radius correct time`, predict -1 and radius 0 for an abstention).

use crate::certify::{CertRecord, Summary};
use crate::error::{Error, Result};
use crate::pipeline::compare::CompareRow;
use crate::pipeline::significance::{Interval, TableSignificance};
use crate::results::Episode;
use serde::{Deserialize, Serialize};

/// An output format of [`render`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// GitHub-flavoured Markdown.
    Md,
    /// LaTeX (booktabs).
    Latex,
    /// Comma-separated values.
    Csv,
}

impl Format {
    /// `md`/`markdown`, `latex`/`tex`, `csv`; an error names `field`.
    pub fn parse(field: &str, s: &str) -> Result<Format> {
        match s.to_ascii_lowercase().as_str() {
            "md" | "markdown" => Ok(Format::Md),
            "latex" | "tex" => Ok(Format::Latex),
            "csv" => Ok(Format::Csv),
            _ => Err(Error::invalid(
                field,
                s,
                "unknown table format",
                "md, latex or csv",
            )),
        }
    }

    /// The format a file name's extension implies (.md, .tex, .csv), if any.
    pub fn of_path(path: &str) -> Option<Format> {
        let ext = path.rsplit_once('.')?.1.to_ascii_lowercase();
        match ext.as_str() {
            "md" | "markdown" => Some(Format::Md),
            "tex" | "latex" => Some(Format::Latex),
            "csv" => Some(Format::Csv),
            _ => None,
        }
    }

    /// The usual file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Md => "md",
            Format::Latex => "tex",
            Format::Csv => "csv",
        }
    }
}

/// One cell.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    /// Text as is.
    Text(String),
    /// A number shown with `digits` decimals (CSV: unrounded).
    Num(f64, usize),
    /// A fraction shown as a percentage with `digits` decimals (CSV: the unrounded fraction).
    Pct(f64, usize),
    /// An integer.
    Int(u64),
    /// A difference with its interval, or none (an interval column, split in CSV).
    Interval(Option<Interval>),
    /// Nothing (a missing value).
    Empty,
}

/// A column: its header and whether it holds numbers (right-aligned) or intervals.
#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    /// Header text.
    pub name: String,
    /// Right-aligned.
    pub numeric: bool,
}

/// A table of typed cells.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    /// One line saying what the table shows (Markdown: a heading line; LaTeX: `\caption`).
    pub caption: String,
    /// The columns.
    pub columns: Vec<Column>,
    /// Rows of cells, one per column.
    pub rows: Vec<Vec<Cell>>,
    /// Footnotes (Markdown and LaTeX only).
    pub notes: Vec<String>,
}

fn text(c: &Cell, fmt: Format) -> String {
    let none = if fmt == Format::Latex { "--" } else { "—" };
    match c {
        Cell::Text(s) => s.clone(),
        Cell::Num(v, _) | Cell::Pct(v, _) if !v.is_finite() => none.to_string(),
        Cell::Num(v, d) => format!("{v:.d$}", d = *d),
        Cell::Pct(v, d) => format!("{:.d$} %", 100.0 * v, d = *d),
        Cell::Int(v) => v.to_string(),
        Cell::Interval(None) | Cell::Empty => none.to_string(),
        Cell::Interval(Some(iv)) => format!(
            "{:+.3} [{:+.3}, {:+.3}]{}",
            iv.diff,
            iv.low,
            iv.high,
            if iv.significant { " *" } else { " n.s." }
        ),
    }
}

/// Markdown cell text: pipes escaped, line breaks as spaces.
fn md_escape(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// LaTeX text: the ten special characters escaped, the Greek and math symbols the tables use
/// in math mode, line breaks as spaces.
pub fn latex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\textbackslash{}"),
            '&' | '%' | '$' | '#' | '_' | '{' | '}' => {
                out.push('\\');
                out.push(ch);
            }
            '~' => out.push_str("\\textasciitilde{}"),
            '^' => out.push_str("\\textasciicircum{}"),
            '<' => out.push_str("\\textless{}"),
            '>' => out.push_str("\\textgreater{}"),
            '\n' | '\r' => out.push(' '),
            'σ' => out.push_str("$\\sigma$"),
            'α' => out.push_str("$\\alpha$"),
            'γ' => out.push_str("$\\gamma$"),
            'Δ' => out.push_str("$\\Delta$"),
            '±' => out.push_str("$\\pm$"),
            '≤' => out.push_str("$\\leq$"),
            '≥' => out.push_str("$\\geq$"),
            '×' => out.push_str("$\\times$"),
            '—' => out.push_str("---"),
            '–' => out.push_str("--"),
            '…' => out.push_str("\\ldots{}"),
            _ => out.push(ch),
        }
    }
    out
}

/// A CSV field: quoted when it holds a comma, a quote or a line break (quotes doubled).
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// A number as CSV writes it: Rust's shortest round-trip form, empty when not finite.
fn csv_num(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else {
        String::new()
    }
}

fn is_interval_column(t: &Table, j: usize) -> bool {
    t.rows
        .iter()
        .any(|r| matches!(r.get(j), Some(Cell::Interval(_))))
}

/// The table in `fmt`.
pub fn render(t: &Table, fmt: Format) -> String {
    match fmt {
        Format::Md => markdown(t),
        Format::Latex => latex(t),
        Format::Csv => csv(t),
    }
}

fn markdown(t: &Table) -> String {
    let mut s = String::new();
    if !t.caption.is_empty() {
        s.push_str(&format!("**{}**\n\n", md_escape(&t.caption)));
    }
    let line = |cells: Vec<String>| format!("| {} |\n", cells.join(" | "));
    s.push_str(&line(
        t.columns.iter().map(|c| md_escape(&c.name)).collect(),
    ));
    s.push_str(&line(
        t.columns
            .iter()
            .map(|c| if c.numeric { "---:" } else { "---" }.to_string())
            .collect(),
    ));
    for r in &t.rows {
        s.push_str(&line(
            r.iter().map(|c| md_escape(&text(c, Format::Md))).collect(),
        ));
    }
    for n in &t.notes {
        s.push('\n');
        s.push_str(&md_escape(n));
        s.push('\n');
    }
    s
}

fn latex(t: &Table) -> String {
    let spec: String = t
        .columns
        .iter()
        .map(|c| if c.numeric { 'r' } else { 'l' })
        .collect();
    let row = |cells: Vec<String>| format!("{} \\\\\n", cells.join(" & "));
    let mut s = String::from("% needs \\usepackage{booktabs}\n\\begin{table}[t]\n\\centering\n");
    if !t.caption.is_empty() {
        s.push_str(&format!("\\caption{{{}}}\n", latex_escape(&t.caption)));
    }
    s.push_str(&format!("\\begin{{tabular}}{{{spec}}}\n\\toprule\n"));
    s.push_str(&row(t
        .columns
        .iter()
        .map(|c| latex_escape(&c.name))
        .collect()));
    s.push_str("\\midrule\n");
    for r in &t.rows {
        s.push_str(&row(r
            .iter()
            .map(|c| latex_escape(&text(c, Format::Latex)))
            .collect()));
    }
    s.push_str("\\bottomrule\n\\end{tabular}\n");
    for n in &t.notes {
        s.push_str(&format!(
            "\\par\\smallskip{{\\footnotesize {}}}\n",
            latex_escape(n)
        ));
    }
    s.push_str("\\end{table}\n");
    s
}

fn csv(t: &Table) -> String {
    let intervals: Vec<bool> = (0..t.columns.len())
        .map(|j| is_interval_column(t, j))
        .collect();
    let mut head = vec![];
    for (c, &iv) in t.columns.iter().zip(&intervals) {
        head.push(c.name.clone());
        if iv {
            for suffix in ["low", "high", "significant"] {
                head.push(format!("{} {suffix}", c.name));
            }
        }
    }
    let mut s = head
        .iter()
        .map(|h| csv_field(h))
        .collect::<Vec<_>>()
        .join(",");
    s.push('\n');
    for r in &t.rows {
        let mut cells = vec![];
        for (j, c) in r.iter().enumerate() {
            match c {
                Cell::Text(x) => cells.push(csv_field(x)),
                Cell::Num(v, _) | Cell::Pct(v, _) => cells.push(csv_num(*v)),
                Cell::Int(v) => cells.push(v.to_string()),
                Cell::Interval(Some(iv)) => cells.extend([
                    csv_num(iv.diff),
                    csv_num(iv.low),
                    csv_num(iv.high),
                    u8::from(iv.significant).to_string(),
                ]),
                Cell::Interval(None) | Cell::Empty => {
                    let n = if intervals.get(j) == Some(&true) {
                        4
                    } else {
                        1
                    };
                    cells.extend(std::iter::repeat_n(String::new(), n));
                }
            }
        }
        s.push_str(&cells.join(","));
        s.push('\n');
    }
    s
}

/// A radius as a column header: `r = 0.25`.
fn radius_header(r: f64) -> String {
    format!("r = {r}")
}

fn col(name: impl Into<String>, numeric: bool) -> Column {
    Column {
        name: name.into(),
        numeric,
    }
}

/// The certification table in Cohen et al.'s layout: one row per run (its summary's `name`),
/// certified accuracy at each radius of the first row's grid, ACR and abstain rate, plus what
/// each certificate guarantees (sigma, n, alpha).
pub fn certify_table(runs: &[Summary]) -> Table {
    let grid: Vec<f64> = runs.first().map(|r| r.grid.clone()).unwrap_or_default();
    let mut columns = vec![col("run", false)];
    columns.extend(grid.iter().map(|&r| col(radius_header(r), true)));
    columns.extend([
        col("ACR", true),
        col("abstain", true),
        col("points", true),
        col("σ", true),
        col("n", true),
        col("α", true),
    ]);
    let rows = runs
        .iter()
        .map(|s| {
            let mut row = vec![Cell::Text(s.name.clone())];
            row.extend(
                grid.iter()
                    .map(|&r| s.at(r).map_or(Cell::Empty, |v| Cell::Pct(v, 1))),
            );
            row.extend([
                Cell::Num(s.acr, 3),
                Cell::Pct(s.abstain_rate, 1),
                Cell::Int(s.points as u64),
                Cell::Num(s.sigma, 2),
                Cell::Int(s.n),
                Cell::Text(format!("{}", s.alpha)),
            ]);
            row
        })
        .collect();
    let mut notes = vec![];
    if runs.iter().any(|s| s.irs.is_some()) {
        notes.push("IRS rows: α is the failure probability of both bounds (CERTIFY's plus the disagreement bound's).".to_string());
    }
    Table {
        caption:
            "Certified accuracy at each L2 radius, average certified radius (ACR) and abstain rate"
                .into(),
        columns,
        rows,
        notes,
    }
}

/// `8,4,4,f` from bit widths (32 = full precision).
pub fn bits_text(bits: &[u8]) -> String {
    bits.iter()
        .map(|&b| {
            if b >= 32 {
                "f".to_string()
            } else {
                b.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// `wb=8,4&ab=8,4` -> (`8,4`, `8,4`): the policy columns of a final-table row.
fn policy_bits(fragment: &str) -> (String, String) {
    let get = |key: &str| {
        fragment
            .split('&')
            .find_map(|kv| kv.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
            .unwrap_or("f")
            .to_string()
    };
    (get("wb"), get("ab"))
}

/// The final comparison table: each row's policy, held-out clean accuracy, certified accuracy
/// at each radius, ACR, the ACR differences with FP32 and ARQ and their paired bootstrap
/// intervals (`sig`, when computed for these rows), BOPs % of FP32 and size.
pub fn compare_table(rows: &[CompareRow], sig: Option<&TableSignificance>) -> Table {
    let grid: Vec<f64> = rows
        .first()
        .map(|r| r.summary.grid.clone())
        .unwrap_or_default();
    let mut columns = vec![
        col("policy", false),
        col("W bits", false),
        col("A bits", false),
        col("clean acc.", true),
    ];
    columns.extend(grid.iter().map(|&r| col(radius_header(r), true)));
    columns.extend([
        col("ACR", true),
        col("ΔACR vs FP32", true),
        col("ΔACR vs ARQ", true),
        col("BOPs % of FP32", true),
        col("size (bytes)", true),
    ]);
    let out = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let (w, a) = policy_bits(&r.fragment);
            let mut row = vec![
                Cell::Text(r.name.clone()),
                Cell::Text(w),
                Cell::Text(a),
                Cell::Pct(r.test_accuracy, 1),
            ];
            row.extend(
                grid.iter()
                    .map(|&g| r.summary.at(g).map_or(Cell::Empty, |v| Cell::Pct(v, 1))),
            );
            let rs = sig.and_then(|s| s.rows.get(i)).filter(|s| s.name == r.name);
            row.extend([
                Cell::Num(r.summary.acr, 3),
                Cell::Interval(rs.and_then(|s| s.vs_fp32.as_ref()).map(|d| d.acr)),
                Cell::Interval(rs.and_then(|s| s.vs_arq.as_ref()).map(|d| d.acr)),
                Cell::Num(100.0 * r.bops_ratio, 3),
                Cell::Int(r.size_bytes),
            ]);
            row
        })
        .collect();
    let mut notes = vec!["Certified accuracy and ACR: fresh CERTIFY on the reported points; clean accuracy: the quantized base classifier on the held-out test digits.".to_string()];
    if let Some(s) = sig {
        notes.push(format!(
            "ΔACR: the row's ACR minus FP32's / ARQ's on the same {} points, with a paired bootstrap {:.0} % interval ({} resamples); * = the interval excludes 0, n.s. = it does not.",
            s.points,
            100.0 * s.level,
            s.resamples
        ));
    }
    Table {
        caption: "Final comparison: FP32, the best uniform policy within the budget and each search's best".into(),
        columns,
        rows: out,
        notes,
    }
}

/// One search's episodes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
pub struct EpisodeRun {
    /// The search's label (`arq`, `haq`, `random`, or the page's run label).
    pub method: String,
    /// Its episodes in order, from its first (the "new best" column is derived from them).
    pub episodes: Vec<Episode>,
}

/// Searches' episodes, one row each: the search, the episode number (1-based), warm-up,
/// reward, ACR, clean accuracy on the search split, BOPs %, size, the bits per layer and
/// whether it was a new best (a reward above every earlier one of its search, as the search
/// driver marks `EpisodeRecord::is_best`).
pub fn episodes_table(runs: &[EpisodeRun]) -> Table {
    let columns = vec![
        col("search", false),
        col("episode", true),
        col("warm-up", false),
        col("reward", true),
        col("ACR", true),
        col("clean acc.", true),
        col("BOPs % of FP32", true),
        col("size (bytes)", true),
        col("W bits", false),
        col("A bits", false),
        col("new best", false),
    ];
    let metric = |e: &Episode, k: &str, pct: bool| match e.metrics.get(k) {
        Some(&v) if pct => Cell::Pct(v, 1),
        Some(&v) => Cell::Num(v, 4),
        None => Cell::Empty,
    };
    let yes = |b: bool| Cell::Text(if b { "yes" } else { "no" }.into());
    let rows = runs
        .iter()
        .flat_map(|run| {
            let mut best: Option<f64> = None;
            run.episodes.iter().map(move |e| {
                let is_best = best.is_none_or(|b| e.reward > b);
                if is_best {
                    best = Some(e.reward);
                }
                (run, e, is_best)
            })
        })
        .map(|(run, e, is_best)| {
            vec![
                Cell::Text(run.method.clone()),
                Cell::Int(e.episode as u64 + 1),
                yes(e.is_warmup),
                Cell::Num(e.reward, 4),
                metric(e, "acr", false),
                metric(e, "accuracy", true),
                Cell::Num(100.0 * e.cost_ratio, 3),
                match e.metrics.get("sizeBytes") {
                    Some(&v) if v >= 0.0 && v.is_finite() => Cell::Int(v as u64),
                    _ => Cell::Empty,
                },
                Cell::Text(bits_text(&e.wbits)),
                Cell::Text(bits_text(&e.abits)),
                yes(is_best),
            ]
        })
        .collect();
    Table {
        caption: "Search episodes: reward, ACR and clean accuracy on the search split, cost and bits per layer".into(),
        columns,
        rows,
        notes: vec![],
    }
}

/// A table to export, with its data (the wasm binding `exportTable`'s argument).
#[derive(Clone, Debug, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum TableSpec {
    /// [`certify_table`] of these runs (each summary's `name` is its row label).
    Certify {
        /// One summary per run.
        runs: Vec<Summary>,
    },
    /// [`compare_table`] of a final table's rows and, when computed, their significance.
    Compare {
        /// The rows in table order.
        rows: Vec<CompareRow>,
        /// `compareSignificance(rows)`, or null.
        significance: Option<TableSignificance>,
    },
    /// [`episodes_table`] of searches.
    Episodes {
        /// One entry per search.
        runs: Vec<EpisodeRun>,
    },
}

impl TableSpec {
    /// The table.
    pub fn table(&self) -> Table {
        match self {
            TableSpec::Certify { runs } => certify_table(runs),
            TableSpec::Compare { rows, significance } => compare_table(rows, significance.as_ref()),
            TableSpec::Episodes { runs } => episodes_table(runs),
        }
    }
}

/// Python's `str(datetime.timedelta(microseconds=us))` for a duration under a day:
/// `0:00:01.234567`, or `0:00:01` on a whole second.
fn timedelta(us: u64) -> String {
    let (s, frac) = (us / 1_000_000, us % 1_000_000);
    let base = format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
    if frac == 0 {
        base
    } else {
        format!("{base}.{frac:06}")
    }
}

/// Certification records in the layout of Cohen et al.'s `certify.py`: a tab-separated
/// header `idx label predict radius correct time`, then one line per record: the test-split
/// index (the record's index minus `test_offset`, the train split's size), the label, the
/// prediction (-1 = abstain), the radius to 3 decimals (0 when abstaining), 1/0 correct, and
/// the time as Python prints a `timedelta`.
pub fn cohen_tsv(records: &[CertRecord], test_offset: u64) -> String {
    let mut s = String::from("idx\tlabel\tpredict\tradius\tcorrect\ttime\n");
    for r in records {
        let (predict, radius) = match r.prediction.class() {
            Some(c) => (i64::from(c), r.radius),
            None => (-1, 0.0),
        };
        s.push_str(&format!(
            "{}\t{}\t{}\t{:.3}\t{}\t{}\n",
            r.index.saturating_sub(test_offset),
            r.label,
            predict,
            radius,
            u8::from(r.correct),
            timedelta(r.micros.unwrap_or(0))
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certify::Prediction;

    fn small() -> Table {
        Table {
            caption: "Two runs".into(),
            columns: vec![col("run", false), col("r = 0.5", true), col("ACR", true)],
            rows: vec![
                vec![
                    Cell::Text("FP32 σ=0.25".into()),
                    Cell::Pct(0.8125, 1),
                    Cell::Num(0.73456, 3),
                ],
                vec![
                    Cell::Text("W4A4, \"fl8\" | 50% & more_".into()),
                    Cell::Empty,
                    Cell::Num(0.5, 3),
                ],
            ],
            notes: vec!["A note.".into()],
        }
    }

    #[test]
    fn markdown_exact() {
        assert_eq!(
            render(&small(), Format::Md),
            "**Two runs**\n\n| run | r = 0.5 | ACR |\n| --- | ---: | ---: |\n| FP32 σ=0.25 | 81.2 % | 0.735 |\n| W4A4, \"fl8\" \\| 50% & more_ | — | 0.500 |\n\nA note.\n"
        );
    }

    #[test]
    fn latex_exact_and_escaped() {
        assert_eq!(
            render(&small(), Format::Latex),
            "% needs \\usepackage{booktabs}\n\\begin{table}[t]\n\\centering\n\\caption{Two runs}\n\\begin{tabular}{lrr}\n\\toprule\nrun & r = 0.5 & ACR \\\\\n\\midrule\nFP32 $\\sigma$=0.25 & 81.2 \\% & 0.735 \\\\\nW4A4, \"fl8\" | 50\\% \\& more\\_ & -- & 0.500 \\\\\n\\bottomrule\n\\end{tabular}\n\\par\\smallskip{\\footnotesize A note.}\n\\end{table}\n"
        );
        assert_eq!(
            latex_escape(r"a\b{c}#$~^<>Δ"),
            r"a\textbackslash{}b\{c\}\#\$\textasciitilde{}\textasciicircum{}\textless{}\textgreater{}$\Delta$"
        );
    }

    #[test]
    fn csv_exact_and_quoted() {
        assert_eq!(
            render(&small(), Format::Csv),
            "run,r = 0.5,ACR\nFP32 σ=0.25,0.8125,0.73456\n\"W4A4, \"\"fl8\"\" | 50% & more_\",,0.5\n"
        );
        assert_eq!(csv_field("a\nb"), "\"a\nb\"");
        assert_eq!(csv_field("plain"), "plain");
    }

    #[test]
    fn interval_columns_split_in_csv() {
        let iv = Interval {
            diff: -0.0125,
            low: -0.03,
            high: 0.004,
            significant: false,
        };
        let t = Table {
            caption: String::new(),
            columns: vec![col("row", false), col("ΔACR", true)],
            rows: vec![
                vec![Cell::Text("a".into()), Cell::Interval(Some(iv))],
                vec![Cell::Text("FP32".into()), Cell::Interval(None)],
            ],
            notes: vec![],
        };
        assert_eq!(
            render(&t, Format::Csv),
            "row,ΔACR,ΔACR low,ΔACR high,ΔACR significant\na,-0.0125,-0.03,0.004,0\nFP32,,,,\n"
        );
        assert_eq!(
            render(&t, Format::Md),
            "| row | ΔACR |\n| --- | ---: |\n| a | -0.013 [-0.030, +0.004] n.s. |\n| FP32 | — |\n"
        );
    }

    #[test]
    fn formats_parse_and_name_the_field() {
        assert_eq!(Format::parse("--format", "TeX").unwrap(), Format::Latex);
        let e = Format::parse("--format", "xlsx").unwrap_err().to_string();
        assert!(
            e.contains("--format") && e.contains("xlsx") && e.contains("md, latex or csv"),
            "{e}"
        );
        assert_eq!(Format::of_path("out/table.CSV"), Some(Format::Csv));
        assert_eq!(Format::of_path("table"), None);
    }

    fn rec(
        index: u64,
        label: u8,
        pred: Option<u8>,
        radius: f64,
        micros: Option<u64>,
    ) -> CertRecord {
        CertRecord {
            index,
            label,
            prediction: pred.map_or(Prediction::Abstain, Prediction::Class),
            count: 990,
            n: 1000,
            p_lower: 0.98,
            radius,
            correct: pred == Some(label),
            samples: 1100,
            micros,
        }
    }

    #[test]
    fn cohen_layout_exact() {
        let recs = [
            rec(8000, 7, Some(7), 0.51234, Some(1_234_567)),
            rec(8020, 2, None, 0.0, Some(3_600_000_000 + 61_000_000)),
            rec(8040, 1, Some(4), 0.2, None),
        ];
        assert_eq!(
            cohen_tsv(&recs, 8000),
            "idx\tlabel\tpredict\tradius\tcorrect\ttime\n0\t7\t7\t0.512\t1\t0:00:01.234567\n20\t2\t-1\t0.000\t0\t1:01:01\n40\t1\t4\t0.200\t0\t0:00:00\n"
        );
    }

    #[test]
    fn policy_columns_from_fragment() {
        assert_eq!(policy_bits("wb=8,4&ab=f,4"), ("8,4".into(), "f,4".into()));
        assert_eq!(policy_bits(""), ("f".into(), "f".into()));
        assert_eq!(bits_text(&[8, 32, 2]), "8,f,2");
    }
}
