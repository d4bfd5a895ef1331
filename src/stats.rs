//! stats: observed import statistics, read from files in any of four formats
//! and merged into per-module probabilities and median times.
//!
//! Input: paths given with `--stats`. Each file is detected by its content:
//! a `caios-pack trace` output (one JSON document, `"format":
//! "caios-pack-stats"`), the stderr of `python -X importtime`, the runtime
//! importer's CloudWatch EMF lines (one JSON object per line, optionally after
//! a timestamp prefix), or the per-module aggregate CSV produced by the Athena
//! query in docs/stats.md. Output: [`Stats`] — cold starts and invocations
//! seen, and per module the probability of loading during init and during an
//! invocation, median self and cumulative import time, whether any of its
//! functions ran; from traces written with the side-effect probe, also each
//! module's observed side effects and import cycles, and the files opened by
//! path or loaded with ctypes, with their own probabilities. Line-based
//! formats are streamed: memory grows with the number of distinct modules,
//! not with the size of the log. Malformed lines are counted, the first five
//! reported with their line numbers, and skipped.

use crate::error::{Error, Result};
use crate::scan::Problem;
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// The formats `--stats` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StatsFormat {
    Trace,
    ImportTime,
    Emf,
    AggregateCsv,
    /// No content at all (e.g. a log export before the first cold start).
    Empty,
}

/// Merged observations for one module.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ModuleStats {
    /// Cold starts during which the module was loaded by init.
    pub init_loads: u64,
    /// Invocations during which the module was first loaded.
    pub invocation_loads: u64,
    /// Median import self time (µs), when observed.
    pub self_us: Option<u64>,
    pub cumulative_us: Option<u64>,
    /// `Some(true)` when a trace saw one of its functions run.
    pub functions_ran: Option<bool>,
    /// Side effects a probing trace saw while the module executed, sorted,
    /// the union over all traces: `None` when no trace probed the module,
    /// empty when it was probed and nothing was seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effects: Option<Vec<String>>,
    /// A trace saw it take part in an import cycle while executing.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub in_cycle: bool,
    /// Modules whose import a trace saw this one's first import nested in
    /// at init (the trace's `parent`), sorted: what caused it to load.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub init_parents: Vec<String>,
    #[serde(skip)]
    self_hist: Histogram,
    #[serde(skip)]
    cumulative_hist: Histogram,
}

/// How a probing trace saw a file loaded. When traces disagree, `Dlopen`
/// wins: a library loaded with ctypes must be a real file wherever it is.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum FileHow {
    /// Opened by path (`open`, `io.open`, `os.open`, …).
    #[default]
    Open,
    /// Loaded with ctypes (`dlopen`).
    Dlopen,
}

/// Merged observations for one file opened by path or loaded with ctypes,
/// as probing traces (`"files"` in the trace document) saw it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FileStats {
    /// Cold starts during which init opened or loaded the file.
    pub init_loads: u64,
    /// Invocations during which the file was first opened or loaded.
    pub invocation_loads: u64,
    pub how: FileHow,
}

/// Everything read from the statistics files.
#[derive(Debug, Default, Serialize)]
pub struct Stats {
    pub cold_starts: u64,
    pub invocations: u64,
    pub modules: BTreeMap<String, ModuleStats>,
    /// The statistics files read, with their detected format.
    pub files: Vec<(PathBuf, StatsFormat)>,
    /// At least one file was a trace and every trace file was written with
    /// the side-effect probe (`"probe"`): modules' `effects` and `in_cycle`
    /// are then observations, not absences. Other formats carry no probe
    /// and do not count.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub probed: bool,
    /// Files opened by path or loaded with ctypes, from the traces that
    /// recorded `"files"`, keyed by the path as the tracer wrote it: absolute,
    /// or a bare library name (`libm.so.6`) for a dlopen by soname.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub opened_files: BTreeMap<PathBuf, FileStats>,
    /// Cold starts and invocations of the traces that recorded `"files"`:
    /// the denominators of the files' probabilities.
    pub file_cold_starts: u64,
    pub file_invocations: u64,
    /// Malformed lines skipped, over all files.
    pub skipped_lines: u64,
    /// The first five malformed lines of each file, and other warnings.
    pub problems: Vec<Problem>,
}

/// Lines parsed in parallel per batch: big enough to keep two cores busy,
/// small enough that memory stays bounded (importer lines are ~50 kB).
const BATCH_LINES: usize = 64;

impl Stats {
    /// Whether a trace saw `module` first loaded, at init, inside the import
    /// of `importer` (directly or through imports nested in it).
    pub fn loaded_under(&self, module: &str, importer: &str) -> bool {
        let mut seen = std::collections::HashSet::new();
        let mut stack = vec![module];
        while let Some(m) = stack.pop() {
            for parent in self
                .modules
                .get(m)
                .into_iter()
                .flat_map(|s| &s.init_parents)
            {
                if parent == importer {
                    return true;
                }
                if seen.insert(parent.as_str()) {
                    stack.push(parent);
                }
            }
        }
        false
    }

    /// Reads and merges `paths`. Fails (exit 2) when a file cannot be read or
    /// nothing usable remains in all of them.
    pub fn load(paths: &[PathBuf]) -> Result<Stats> {
        let mut stats = Stats::default();
        let mut total = Tally::default();
        for path in paths {
            let file = std::fs::File::open(path).map_err(|e| {
                Error::input(format!("{}: cannot read statistics: {e}", path.display()))
            })?;
            let (format, tally) = read_file(BufReader::with_capacity(1 << 20, file), path)?;
            stats
                .problems
                .extend(tally.bad.iter().map(|(line, why)| Problem {
                    path: path.clone(),
                    line: Some(*line as u32),
                    message: format!("skipped: {why}"),
                }));
            stats.skipped_lines = stats.skipped_lines.saturating_add(tally.skipped);
            total = total.merge(tally);
            stats.files.push((path.clone(), format));
        }
        let clean = stats.problems.is_empty() && stats.skipped_lines == 0;
        if total.cold_starts == 0 && total.invocations == 0 && !clean {
            let detail = stats
                .problems
                .first()
                .map(|p| format!(" (first problem: {p})"))
                .unwrap_or_default();
            return Err(Error::input(format!(
                "{}: no usable statistics in {} file(s){detail}; see docs/stats.md for the formats",
                paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                paths.len()
            )));
        }
        stats.cold_starts = total.cold_starts;
        stats.invocations = total.invocations;
        stats.probed = total.traces > 0 && total.probed_traces == total.traces;
        stats.file_cold_starts = total.file_cold_starts;
        stats.file_invocations = total.file_invocations;
        stats.opened_files = std::mem::take(&mut total.files);
        stats.modules = total
            .entries
            .into_iter()
            .map(|(name, mut module)| {
                module.self_us = module.self_hist.median();
                module.cumulative_us = module.cumulative_hist.median();
                (name, module)
            })
            .collect();
        Ok(stats)
    }

    /// Probability that init loads `module` (`None`: no cold start observed).
    pub fn init_probability(&self, module: &str) -> Option<f64> {
        let m = self.modules.get(module);
        match (m, self.cold_starts) {
            (_, 0) => None,
            (Some(m), n) => Some(m.init_loads as f64 / n as f64),
            (None, _) => Some(0.0),
        }
    }

    /// Probability that an invocation first loads `module`.
    pub fn invocation_probability(&self, module: &str) -> Option<f64> {
        let m = self.modules.get(module);
        match (m, self.invocations) {
            (_, 0) => None,
            (Some(m), n) => Some(m.invocation_loads as f64 / n as f64),
            (None, _) => Some(0.0),
        }
    }

    /// Probability that init opens or loads the file at `path` (`None`: no
    /// trace recorded files). Counted over the traces that recorded files
    /// only, so other formats merged in do not dilute it.
    pub fn file_init_probability(&self, path: &Path) -> Option<f64> {
        let f = self.opened_files.get(path);
        match (f, self.file_cold_starts) {
            (_, 0) => None,
            (Some(f), n) => Some(f.init_loads as f64 / n as f64),
            (None, _) => Some(0.0),
        }
    }

    /// Probability that an invocation first opens or loads the file at `path`.
    pub fn file_invocation_probability(&self, path: &Path) -> Option<f64> {
        let f = self.opened_files.get(path);
        match (f, self.file_invocations) {
            (_, 0) => None,
            (Some(f), n) => Some(f.invocation_loads as f64 / n as f64),
            (None, _) => Some(0.0),
        }
    }
}

/// Detects the file's format from its first line and reads it.
fn read_file(reader: impl BufRead, path: &Path) -> Result<(StatsFormat, Tally)> {
    let mut reader = Peekable::new(reader);
    let first = reader.first_line().map_err(|e| read_error(path, e))?;
    let first = first.trim_start();
    let mut tally = Tally::default();
    let format = if first.trim().is_empty() {
        Ok(StatsFormat::Empty)
    } else if first.starts_with("import time:") {
        read_importtime(&mut reader, &mut tally)
    } else if first.replace('"', "").starts_with("module,") {
        // Athena and other SQL exports quote every field.
        read_aggregate_csv(&mut reader, &mut tally)
    } else if looks_like_emf(first) {
        read_emf(&mut reader, &mut tally)
    } else if first.starts_with('{') {
        return Ok((StatsFormat::Trace, read_trace(&mut reader, path)?));
    } else {
        return Err(Error::input(format!(
            "{}:1: not a statistics file: expected `caios-pack trace` JSON, `python -X importtime` \
             output, importer EMF lines or the aggregate CSV (docs/stats.md)",
            path.display()
        )));
    }
    .map_err(|e| read_error(path, e))?;
    Ok((format, tally))
}

/// Text that is not UTF-8 is the user's input, not an I/O failure.
fn read_error(path: &Path, e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::InvalidData {
        Error::input(format!(
            "{}: not a statistics file: not UTF-8 text ({e})",
            path.display()
        ))
    } else {
        Error::io(path, e)
    }
}

/// `import time: self [us] | cumulative | imported package` lines: one cold
/// start, every listed module loaded during init.
fn read_importtime(
    reader: &mut Peekable<impl BufRead>,
    tally: &mut Tally,
) -> std::io::Result<StatsFormat> {
    let mut seen_any = false;
    reader.for_each_line(|number, line| {
        let Some(rest) = line.strip_prefix("import time:") else {
            return; // other stderr output (warnings) is not ours to judge
        };
        let mut parts = rest.splitn(3, '|');
        let (Some(own), Some(cumulative), Some(name)) = (parts.next(), parts.next(), parts.next())
        else {
            return tally.bad(number, "expected `self | cumulative | name`".into());
        };
        if own.trim() == "self [us]" {
            return; // the header line
        }
        let (Ok(own), Ok(cumulative)) =
            (own.trim().parse::<u64>(), cumulative.trim().parse::<u64>())
        else {
            return tally.bad(number, "self and cumulative must be integers (µs)".into());
        };
        let module = tally.module(name.trim());
        module.init_loads += 1;
        module.self_hist.add(own);
        module.cumulative_hist.add(cumulative);
        seen_any = true;
    })?;
    if seen_any {
        tally.cold_starts += 1;
    }
    Ok(StatsFormat::ImportTime)
}

/// One EMF line per cold start (schema in docs/stats.md). Batches of lines
/// are parsed in parallel (JSON parsing is most of the work) and counted in
/// order, into one table.
fn read_emf(
    reader: &mut Peekable<impl BufRead>,
    tally: &mut Tally,
) -> std::io::Result<StatsFormat> {
    let mut batch: Vec<(u64, String)> = Vec::with_capacity(BATCH_LINES);
    let count = |batch: &mut Vec<(u64, String)>, tally: &mut Tally| {
        let parsed: Vec<(u64, std::result::Result<Option<EmfLine>, String>)> = batch
            .par_iter()
            .map(|(number, line)| (*number, parse_emf_line(line)))
            .collect();
        for (number, record) in parsed {
            match record {
                Ok(Some(record)) => tally.add_emf(&record),
                Ok(None) => {}
                Err(why) => tally.bad(number, why),
            }
        }
        batch.clear();
    };
    reader.for_each_line(|number, line| {
        batch.push((number, line.to_string()));
        if batch.len() == BATCH_LINES {
            count(&mut batch, tally);
        }
    })?;
    count(&mut batch, tally);
    Ok(StatsFormat::Emf)
}

/// `Ok(None)` for blank lines and other programs' EMF lines.
fn parse_emf_line(line: &str) -> std::result::Result<Option<EmfLine<'_>>, String> {
    let Some(start) = line.find('{') else {
        return if line.trim().is_empty() {
            Ok(None)
        } else {
            Err("no JSON object on this line".into())
        };
    };
    let record: EmfLine = serde_json::from_str(&line[start..])
        .map_err(|e| format!("not an importer EMF line: {e}"))?;
    Ok((record.caios.as_deref() == Some("cold-start")).then_some(record))
}

/// `module,cold_starts,init_loads,invocations,invocation_loads,median_self_us,median_cumulative_us`
fn read_aggregate_csv(
    reader: &mut Peekable<impl BufRead>,
    tally: &mut Tally,
) -> std::io::Result<StatsFormat> {
    let (mut cold_starts, mut invocations) = (0u64, 0u64);
    let mut header_seen = false;
    reader.for_each_line(|number, line| {
        if line.trim().is_empty() {
            return;
        }
        if !header_seen {
            header_seen = true; // the first non-blank line: `module,cold_starts,…`
            return;
        }
        let fields: Vec<&str> = line
            .split(',')
            .map(|f| f.trim().trim_matches('"'))
            .collect();
        let int = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
        let (Some(name), Some(cs), Some(il), Some(inv), Some(invl)) =
            (fields.first(), int(1), int(2), int(3), int(4))
        else {
            return tally.bad(
                number,
                "expected module,cold_starts,init_loads,invocations,invocation_loads,…".into(),
            );
        };
        cold_starts = cold_starts.max(cs);
        invocations = invocations.max(inv);
        let (own, cumulative) = (int(5), int(6));
        let module = tally.module(name);
        // Counts are the user's numbers: saturate rather than overflow.
        module.init_loads = module.init_loads.saturating_add(il);
        module.invocation_loads = module.invocation_loads.saturating_add(invl);
        if let Some(own) = own {
            module.self_hist.add_n(own, il.saturating_add(invl));
        }
        if let Some(cumulative) = cumulative {
            module
                .cumulative_hist
                .add_n(cumulative, il.saturating_add(invl));
        }
    })?;
    tally.cold_starts = tally.cold_starts.saturating_add(cold_starts);
    tally.invocations = tally.invocations.saturating_add(invocations);
    Ok(StatsFormat::AggregateCsv)
}

/// A `caios-pack trace` document: one cold start, one invocation per event
/// (each run in its own process forked after init).
fn read_trace(reader: &mut Peekable<impl BufRead>, path: &Path) -> Result<Tally> {
    let trace: TraceFile = serde_json::from_reader(reader).map_err(|e| {
        Error::input(format!(
            "{}:{}:{}: not a caios-pack trace file: {e}",
            path.display(),
            e.line(),
            e.column()
        ))
    })?;
    if trace.format != "caios-pack-stats" {
        return Err(Error::input(format!(
            "{}: `format` is {:?}, expected \"caios-pack-stats\"",
            path.display(),
            trace.format
        )));
    }
    let mut tally = Tally::default();
    let events: Vec<&str> = trace.events.iter().map(|e| e.name.as_str()).collect();
    tally.cold_starts += 1;
    tally.invocations += events.len() as u64;
    tally.traces += 1;
    if trace.probe.is_some() {
        tally.probed_traces += 1;
    }
    if let Some(files) = &trace.files {
        tally.file_cold_starts += 1;
        tally.file_invocations += events.len() as u64;
        // One count per path and phase, even if a row is repeated.
        let mut seen: BTreeSet<(&str, &str)> = BTreeSet::new();
        for f in files {
            let phase_is_event = events.contains(&f.phase.as_str());
            if f.phase != "init" && !phase_is_event {
                continue;
            }
            let file = tally.files.entry(PathBuf::from(&f.path)).or_default();
            file.how = file.how.max(f.how);
            if !seen.insert((&f.path, &f.phase)) {
                continue;
            }
            if phase_is_event {
                file.invocation_loads += 1;
            } else {
                file.init_loads += 1;
            }
        }
    }
    for m in &trace.modules {
        let phase_is_event = events.contains(&m.phase.as_str());
        if m.phase != "init" && !phase_is_event {
            continue; // preloaded by the interpreter or the tracer
        }
        let module = tally.module(&m.name);
        if phase_is_event {
            module.invocation_loads += 1;
        } else {
            module.init_loads += 1;
        }
        module.self_hist.add(m.self_us);
        module.cumulative_hist.add(m.cumulative_us);
        if let Some(ran) = m.functions_ran {
            module.functions_ran = Some(module.functions_ran.unwrap_or(false) || ran);
        }
        module.in_cycle |= m.in_cycle;
        if let Some(effects) = &m.effects {
            module.effects = union(module.effects.take(), effects);
        }
        if let (Some(parent), false) = (&m.parent, phase_is_event) {
            insert_sorted(&mut module.init_parents, parent);
        }
    }
    Ok(tally)
}

fn insert_sorted(list: &mut Vec<String>, item: &str) {
    if let Err(at) = list.binary_search_by(|x| x.as_str().cmp(item)) {
        list.insert(at, item.to_string());
    }
}

/// `mine` ∪ `theirs`, sorted and without repeats; `Some` even when empty.
fn union(mine: Option<Vec<String>>, theirs: &[String]) -> Option<Vec<String>> {
    let mut all = mine.unwrap_or_default();
    all.extend(theirs.iter().cloned());
    all.sort();
    all.dedup();
    Some(all)
}

fn looks_like_emf(line: &str) -> bool {
    line.contains("\"_aws\"") && line.contains("\"caios\"")
}

/// A reader that can show its first line and then still stream every line.
///
/// The peeked text is kept as bytes with a read position: `Read` hands it out
/// in whatever chunks the caller asks for (serde_json asks for one byte at a
/// time), which may end inside a multi-byte character.
struct Peekable<R> {
    inner: R,
    /// Everything read while peeking (blank lines and the first line).
    first: Vec<u8>,
    /// How much of `first` has already been handed out by `read`.
    first_read: usize,
}

impl<R: BufRead> Peekable<R> {
    fn new(inner: R) -> Self {
        Peekable {
            inner,
            first: Vec::new(),
            first_read: 0,
        }
    }

    /// The first non-empty line (kept, and streamed again by `for_each_line`).
    fn first_line(&mut self) -> std::io::Result<String> {
        let mut buffered = String::new();
        loop {
            let mut line = String::new();
            if self.inner.read_line(&mut line)? == 0 {
                break;
            }
            buffered.push_str(&line);
            if !line.trim().is_empty() {
                self.first = buffered.into_bytes();
                return Ok(line);
            }
        }
        self.first = buffered.into_bytes();
        Ok(String::new())
    }

    /// Calls `f(line_number, line)` for every line, reusing one buffer.
    fn for_each_line(&mut self, mut f: impl FnMut(u64, &str)) -> std::io::Result<()> {
        let mut number = 0u64;
        let first = std::mem::take(&mut self.first);
        // Valid UTF-8 (it was read as text) unless `read` took part of it.
        let rest = String::from_utf8_lossy(&first[self.first_read.min(first.len())..]);
        self.first_read = 0;
        for line in rest.lines() {
            number += 1;
            f(number, line);
        }
        let mut line = String::new();
        loop {
            line.clear();
            if self.inner.read_line(&mut line)? == 0 {
                return Ok(());
            }
            number += 1;
            f(number, line.trim_end_matches(['\n', '\r']));
        }
    }
}

impl<R: BufRead> Read for Peekable<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let pending = self.first.get(self.first_read..).unwrap_or_default();
        if !pending.is_empty() {
            let n = pending.len().min(buf.len());
            buf[..n].copy_from_slice(&pending[..n]);
            self.first_read += n;
            return Ok(n);
        }
        self.inner.read(buf)
    }
}

/// A log-scale histogram: exact below 32, then 16 buckets per power of two
/// (4.4 % wide), so medians of millions of samples cost a few kB per module
/// and one add is a couple of integer operations.
#[derive(Debug, Clone, Default)]
struct Histogram {
    counts: Vec<u64>,
    total: u64,
}

impl Histogram {
    fn bucket(value: u64) -> usize {
        if value < 32 {
            return value as usize;
        }
        let exponent = 63 - value.leading_zeros() as usize; // >= 5
        let mantissa = ((value >> (exponent - 4)) & 0xf) as usize;
        32 + (exponent - 5) * 16 + mantissa
    }

    /// The middle of a bucket's range.
    fn value_of(bucket: usize) -> u64 {
        if bucket < 32 {
            return bucket as u64;
        }
        let exponent = (bucket - 32) / 16 + 5;
        let mantissa = ((bucket - 32) % 16) as u64;
        let low = (16 + mantissa) << (exponent - 4);
        low + (1u64 << (exponent - 4)) / 2
    }

    fn add(&mut self, value: u64) {
        self.add_n(value, 1);
    }

    fn add_n(&mut self, value: u64, n: u64) {
        if n == 0 {
            return;
        }
        let bucket = Self::bucket(value);
        if self.counts.len() <= bucket {
            self.counts.resize(bucket + 1, 0);
        }
        self.counts[bucket] = self.counts[bucket].saturating_add(n);
        self.total = self.total.saturating_add(n);
    }

    fn merge(&mut self, other: &Histogram) {
        if self.counts.len() < other.counts.len() {
            self.counts.resize(other.counts.len(), 0);
        }
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine = mine.saturating_add(*theirs);
        }
        self.total = self.total.saturating_add(other.total);
    }

    fn median(&self) -> Option<u64> {
        let mut seen = 0u128;
        for (bucket, &count) in self.counts.iter().enumerate() {
            seen += u128::from(count);
            if seen * 2 >= u128::from(self.total) && count > 0 {
                return Some(Self::value_of(bucket));
            }
        }
        None
    }
}

/// Counts from part of the input; parts merge (lines are read in parallel).
#[derive(Default)]
struct Tally {
    cold_starts: u64,
    invocations: u64,
    /// Position of each module in `entries`. FxHash: module names are
    /// short, trusted keys looked up millions of times while reading a log;
    /// the order of `entries` (first seen) never depends on the hash.
    index: FxHashMap<String, usize>,
    entries: Vec<(String, ModuleStats)>,
    bad: Vec<(u64, String)>,
    skipped: u64,
    /// Trace documents read, and how many of them had `"probe"`.
    traces: u64,
    probed_traces: u64,
    /// Cold starts and invocations of the traces that had `"files"`.
    file_cold_starts: u64,
    file_invocations: u64,
    files: BTreeMap<PathBuf, FileStats>,
}

impl Tally {
    fn module(&mut self, name: &str) -> &mut ModuleStats {
        let at = match self.index.get(name) {
            Some(&at) => at,
            None => {
                self.index.insert(name.to_string(), self.entries.len());
                self.entries
                    .push((name.to_string(), ModuleStats::default()));
                self.entries.len() - 1
            }
        };
        &mut self.entries[at].1
    }

    fn bad(&mut self, line: u64, why: String) {
        self.skipped += 1;
        if self.bad.len() < 5 {
            self.bad.push((line, why));
        }
    }

    fn merge(mut self, other: Tally) -> Tally {
        self.cold_starts = self.cold_starts.saturating_add(other.cold_starts);
        self.invocations = self.invocations.saturating_add(other.invocations);
        self.skipped = self.skipped.saturating_add(other.skipped);
        self.traces += other.traces;
        self.probed_traces += other.probed_traces;
        self.file_cold_starts += other.file_cold_starts;
        self.file_invocations += other.file_invocations;
        for (path, theirs) in other.files {
            let mine = self.files.entry(path).or_default();
            mine.init_loads += theirs.init_loads;
            mine.invocation_loads += theirs.invocation_loads;
            mine.how = mine.how.max(theirs.how);
        }
        self.bad.extend(other.bad);
        self.bad.sort();
        self.bad.truncate(5);
        for (name, theirs) in other.entries {
            let mine = self.module(&name);
            mine.init_loads = mine.init_loads.saturating_add(theirs.init_loads);
            mine.invocation_loads = mine
                .invocation_loads
                .saturating_add(theirs.invocation_loads);
            mine.self_hist.merge(&theirs.self_hist);
            mine.cumulative_hist.merge(&theirs.cumulative_hist);
            mine.functions_ran = match (mine.functions_ran, theirs.functions_ran) {
                (None, x) | (x, None) => x,
                (Some(a), Some(b)) => Some(a || b),
            };
            mine.in_cycle |= theirs.in_cycle;
            if let Some(effects) = &theirs.effects {
                mine.effects = union(mine.effects.take(), effects);
            }
            for parent in &theirs.init_parents {
                insert_sorted(&mut mine.init_parents, parent);
            }
        }
        self
    }

    fn add_emf(&mut self, record: &EmfLine) {
        self.cold_starts += 1;
        for ModuleRecord(name, _, own, cumulative) in &record.modules {
            let module = self.module(name);
            module.init_loads += 1;
            module.self_hist.add(*own);
            module.cumulative_hist.add(*cumulative);
        }
        if let Some(first_invocation) = &record.invocation_modules {
            self.invocations += 1;
            for ModuleRecord(name, _, own, cumulative) in first_invocation {
                let module = self.module(name);
                module.invocation_loads += 1;
                module.self_hist.add(*own);
                module.cumulative_hist.add(*cumulative);
            }
        }
    }
}

#[derive(Deserialize)]
struct EmfLine<'a> {
    #[serde(borrow)]
    caios: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    modules: Vec<ModuleRecord<'a>>,
    #[serde(borrow)]
    invocation_modules: Option<Vec<ModuleRecord<'a>>>,
}

/// `[name, tier, self_us, cumulative_us]`, borrowed from the line.
#[derive(Deserialize)]
struct ModuleRecord<'a>(#[serde(borrow)] Cow<'a, str>, IgnoredAny, u64, u64);

#[derive(Deserialize)]
struct TraceFile {
    format: String,
    #[serde(default)]
    events: Vec<TraceEvent>,
    #[serde(default)]
    modules: Vec<TraceModule>,
    /// Present (`1`) when the tracer probed side effects.
    probe: Option<u64>,
    /// Files opened by path or loaded with ctypes; absent in older traces.
    files: Option<Vec<TraceOpenedFile>>,
}

/// `{"path": "/abs/path", "phase": "init" | EVENT, "how": "open" | "dlopen"}`
#[derive(Deserialize)]
struct TraceOpenedFile {
    path: String,
    phase: String,
    how: FileHow,
}

#[derive(Deserialize)]
struct TraceEvent {
    name: String,
}

#[derive(Deserialize)]
struct TraceModule {
    name: String,
    phase: String,
    #[serde(default)]
    self_us: u64,
    #[serde(default)]
    cumulative_us: u64,
    functions_ran: Option<bool>,
    /// Absent: not probed; empty: probed, no side effect seen.
    effects: Option<Vec<String>>,
    #[serde(default)]
    in_cycle: bool,
    /// The import this one's first import was nested in.
    #[serde(default)]
    parent: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> Result<Stats> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stats");
        std::fs::write(&path, text).unwrap();
        Stats::load(&[path])
    }

    #[test]
    fn histogram_median_is_within_five_percent() {
        let mut h = Histogram::default();
        for v in [10, 1000, 1000, 1000, 50_000] {
            h.add(v);
        }
        let median = h.median().unwrap() as f64;
        assert!((median - 1000.0).abs() / 1000.0 < 0.05, "{median}");
        assert_eq!(Histogram::default().median(), None);
    }

    #[test]
    fn emf_lines_with_and_without_prefix() {
        let text = concat!(
            r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[]},"caios":"cold-start","schema":1,"modules":[["numpy","local",100,900],["pandas","s3",50,500]],"invocation_modules":[["scipy","s3",10,20]]}"#,
            "\n",
            r#"2026-11-27T01:00:00.000Z	req-1	{"_aws":{"Timestamp":2,"CloudWatchMetrics":[]},"caios":"cold-start","schema":1,"modules":[["numpy","local",120,1000]],"invocation_modules":[]}"#,
            "\n",
            "garbage line\n",
            r#"{"_aws":{},"caios":"cold-start","modules":"not a list"}"#,
            "\n"
        );
        let stats = load_text(text).unwrap();
        assert_eq!((stats.cold_starts, stats.invocations), (2, 2));
        assert_eq!(stats.init_probability("numpy"), Some(1.0));
        assert_eq!(stats.init_probability("pandas"), Some(0.5));
        assert_eq!(stats.invocation_probability("scipy"), Some(0.5));
        assert_eq!(stats.init_probability("never-seen"), Some(0.0));
        assert_eq!(stats.skipped_lines, 2);
        let lines: Vec<_> = stats.problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, [Some(3), Some(4)]);
    }

    /// Real stderr of `python3 -X importtime`, captured into fixtures/stats.
    #[test]
    fn real_importtime_output() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/stats");
        let json = Stats::load(&[dir.join("importtime-json.txt")]).unwrap();
        assert_eq!((json.cold_starts, json.invocations), (1, 0));
        assert_eq!(json.init_probability("json"), Some(1.0));
        assert!(
            json.modules["json.decoder"].cumulative_us.unwrap()
                >= json.modules["json.decoder"].self_us.unwrap()
        );
        let reference = Stats::load(&[dir.join("importtime-reference.txt")]).unwrap();
        assert_eq!(reference.skipped_lines, 0);
        assert!(
            reference.modules.len() > 1200,
            "{}",
            reference.modules.len()
        );
        let handler = &reference.modules["handler"];
        // handler's cumulative time is the whole import (1,710,994 µs when
        // captured); the histogram median is within 4.4 % of it.
        let cumulative = handler.cumulative_us.unwrap() as f64;
        assert!(
            (cumulative - 1_710_994.0).abs() / 1_710_994.0 < 0.045,
            "{cumulative}"
        );
        // Both files merged: two cold starts; json was loaded in both.
        let both = Stats::load(&[
            dir.join("importtime-json.txt"),
            dir.join("importtime-reference.txt"),
        ])
        .unwrap();
        assert_eq!(both.cold_starts, 2);
        assert_eq!(both.init_probability("numpy"), Some(0.5));
    }

    #[test]
    fn aggregate_csv() {
        let text = "module,cold_starts,init_loads,invocations,invocation_loads,median_self_us,median_cumulative_us\n\
                    numpy,1000,1000,50000,0,2000,90000\n\
                    pandas.io.formats.style,1000,0,50000,250,8000,12000\n\
                    bad,row\n";
        let stats = load_text(text).unwrap();
        assert_eq!((stats.cold_starts, stats.invocations), (1000, 50000));
        assert_eq!(
            stats.invocation_probability("pandas.io.formats.style"),
            Some(0.005)
        );
        assert_eq!(stats.skipped_lines, 1);
    }

    #[test]
    fn quoted_csv_from_a_sql_export() {
        let text =
            "\"module\",\"cold_starts\",\"init_loads\",\"invocations\",\"invocation_loads\"\n\
                    \"numpy\",\"10\",\"10\",\"40\",\"0\"\n";
        let stats = load_text(text).unwrap();
        assert_eq!((stats.cold_starts, stats.invocations), (10, 40));
        assert_eq!(stats.init_probability("numpy"), Some(1.0));
    }

    #[test]
    fn an_empty_file_has_no_observations() {
        for text in [
            "",
            "\n\n",
            "module,cold_starts,init_loads,invocations,invocation_loads\n",
            "\n\"module\",\"cold_starts\",\"init_loads\",\"invocations\",\"invocation_loads\"\n",
        ] {
            let stats = load_text(text).unwrap();
            assert_eq!((stats.cold_starts, stats.invocations), (0, 0), "{text:?}");
        }
    }

    #[test]
    fn nothing_usable_is_an_input_error() {
        let err = load_text("{\"_aws\": {}, \"caios\": \"x\"}\nnope\n").unwrap_err();
        assert_eq!(err.exit_code(), 2, "{err}");
        let err = load_text("hello\n").unwrap_err();
        assert!(
            err.to_string().contains(":1: not a statistics file"),
            "{err}"
        );
        let err = load_text("{\"format\": \"caios-pack-stats\", \"modules\": [}").unwrap_err();
        assert!(
            err.to_string().contains("not a caios-pack trace file"),
            "{err}"
        );
    }
    /// Hands out one byte per `read`, so a `BufReader` over it may hold any
    /// prefix of a multi-byte character at the end of its buffer.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let Some((&byte, rest)) = self.0.split_first() else {
                return Ok(0);
            };
            if buf.is_empty() {
                return Ok(0);
            }
            buf[0] = byte;
            self.0 = rest;
            Ok(1)
        }
    }

    /// Per module: init loads, invocation loads, median self time.
    type Summary = (StatsFormat, u64, u64, Vec<(String, u64, u64, Option<u64>)>);

    fn read_in_chunks(text: &str, capacity: usize) -> Summary {
        let reader = BufReader::with_capacity(capacity, Trickle(text.as_bytes()));
        let (format, tally) = read_file(reader, Path::new("stats")).unwrap();
        let modules = tally
            .entries
            .iter()
            .map(|(name, m)| {
                let own = m.self_hist.median();
                (name.clone(), m.init_loads, m.invocation_loads, own)
            })
            .collect();
        (format, tally.cold_starts, tally.invocations, modules)
    }

    /// Regression: a trace whose first line held a non-ASCII character
    /// panicked (`is_char_boundary`) when serde_json read the peeked line
    /// back one byte at a time. Every format, every read size, characters of
    /// two, three and four bytes on the first line and after it.
    #[test]
    fn multi_byte_characters_across_read_boundaries() {
        let trace_one_line = r#"{"format":"caios-pack-stats","handler":"hé.h","events":[{"name":"ça"}],"modules":[{"name":"café","phase":"init","self_us":7,"cumulative_us":9},{"name":"日本","phase":"ça","self_us":3,"cumulative_us":4},{"name":"🐍","phase":"preloaded"}]}"#;
        let trace_pretty = "{\n  \"format\": \"caios-pack-stats\",\n  \"handler\": \"日本.h\",\n  \"modules\": [{\"name\": \"🐍é\", \"phase\": \"init\", \"self_us\": 5}]\n}\n";
        let importtime = "import time: self [us] | cumulative | imported package é\n\
                          import time:        12 |         12 | café\n\
                          warning: ünïcode on stderr 🐍\n\
                          import time:         5 |         17 |   日本.🐍\n";
        let emf = concat!(
            r#"2026-11-27T01:00:00Z	réq-ü	{"_aws":{},"caios":"cold-start","function":"café","modules":[["ça","local",3,4]],"invocation_modules":[["日本","s3",5,6]]}"#,
            "\n",
            r#"{"_aws":{},"caios":"cold-start","modules":[["🐍","efs",8,9]]}"#,
            "\n"
        );
        let csv = "module,cold_starts,init_loads,invocations,invocation_loads,median_self_us,median_cumulative_us é\n\
                   café,10,10,40,0,20,30\n\
                   日本.🐍,10,0,40,4,5,6\n";
        let cases = [
            (
                trace_one_line,
                StatsFormat::Trace,
                ["café", "日本"].as_slice(),
            ),
            (trace_pretty, StatsFormat::Trace, ["🐍é"].as_slice()),
            (
                importtime,
                StatsFormat::ImportTime,
                ["café", "日本.🐍"].as_slice(),
            ),
            (emf, StatsFormat::Emf, ["ça", "日本", "🐍"].as_slice()),
            (
                csv,
                StatsFormat::AggregateCsv,
                ["café", "日本.🐍"].as_slice(),
            ),
        ];
        for (text, format, names) in cases {
            let whole = read_in_chunks(text, 1 << 16);
            assert_eq!(whole.0, format, "{text}");
            let seen: Vec<&str> = whole.3.iter().map(|m| m.0.as_str()).collect();
            assert_eq!(seen, names, "{text}");
            for capacity in [1, 2, 3, 5, 7, 11] {
                assert_eq!(read_in_chunks(text, capacity), whole, "{capacity}: {text}");
            }
            // And through the public entry point.
            let stats = load_text(text).unwrap();
            assert!(names.iter().all(|n| stats.modules.contains_key(*n)));
        }
    }

    fn trace(modules: &str, extra: &str) -> String {
        format!(
            r#"{{"format":"caios-pack-stats","version":1,"events":[{{"name":"a"}},{{"name":"b"}}],"modules":[{modules}]{extra}}}"#
        )
    }

    fn load_texts(texts: &[String]) -> Stats {
        let dir = tempfile::tempdir().unwrap();
        let paths: Vec<PathBuf> = texts
            .iter()
            .enumerate()
            .map(|(i, text)| {
                let path = dir.path().join(format!("stats-{i}"));
                std::fs::write(&path, text).unwrap();
                path
            })
            .collect();
        Stats::load(&paths).unwrap()
    }

    #[test]
    fn probe_fields_of_modules() {
        let old = trace(
            r#"{"name":"m","phase":"init","self_us":1,"cumulative_us":2,"functions_ran":true}"#,
            "",
        );
        let probed = |effects: &str, in_cycle: &str| {
            trace(
                &format!(
                    r#"{{"name":"m","phase":"init","self_us":1,"cumulative_us":2{effects}{in_cycle}}}"#
                ),
                r#","probe":1"#,
            )
        };
        let importtime = "import time:         5 |         17 | m\n".to_string();
        // (files, effects of m, in_cycle of m, probed)
        type Case = (Vec<String>, Option<Vec<&'static str>>, bool, bool);
        let cases: Vec<Case> = vec![
            (vec![old.clone()], None, false, false),
            (vec![probed("", "")], None, false, true),
            (
                vec![probed(r#","effects":[]"#, "")],
                Some(vec![]),
                false,
                true,
            ),
            (
                vec![probed(
                    r#","effects":["socket","env"]"#,
                    r#","in_cycle":true"#,
                )],
                Some(vec!["env", "socket"]),
                true,
                true,
            ),
            (
                vec![
                    probed(r#","effects":["thread","env"]"#, r#","in_cycle":false"#),
                    probed(r#","effects":["env","socket"]"#, r#","in_cycle":true"#),
                ],
                Some(vec!["env", "socket", "thread"]),
                true,
                true,
            ),
            // Merged with a file that did not probe: effects still the union
            // of what was probed, but not every trace was probed.
            (
                vec![old.clone(), probed(r#","effects":[]"#, "")],
                Some(vec![]),
                false,
                false,
            ),
            // Other formats carry no probe and do not change `probed`.
            (
                vec![importtime.clone(), probed(r#","effects":["x"]"#, "")],
                Some(vec!["x"]),
                false,
                true,
            ),
            (vec![importtime], None, false, false),
        ];
        for (texts, effects, in_cycle, is_probed) in cases {
            let stats = load_texts(&texts);
            let m = &stats.modules["m"];
            let expected = effects.map(|e| e.into_iter().map(String::from).collect::<Vec<_>>());
            assert_eq!(m.effects, expected, "{texts:?}");
            assert_eq!(m.in_cycle, in_cycle, "{texts:?}");
            assert_eq!(stats.probed, is_probed, "{texts:?}");
        }
    }

    #[test]
    fn probe_files_opened_and_loaded() {
        let with_files = |files: &str| trace("", &format!(r#","probe":1,"files":[{files}]"#));
        let row = |path: &str, phase: &str, how: &str| {
            format!(r#"{{"path":"{path}","phase":"{phase}","how":"{how}"}}"#)
        };
        let old = trace("", "");
        let model = Path::new("/var/task/model.bin");
        let lib = Path::new("/var/task/libx.so");
        // (traces, path, init probability, invocation probability, how)
        type Case = (
            Vec<String>,
            &'static Path,
            Option<f64>,
            Option<f64>,
            Option<FileHow>,
        );
        let cases: Vec<Case> = vec![
            (vec![old.clone()], model, None, None, None),
            (vec![with_files("")], model, Some(0.0), Some(0.0), None),
            (
                vec![with_files(&row("/var/task/model.bin", "init", "open"))],
                model,
                Some(1.0),
                Some(0.0),
                Some(FileHow::Open),
            ),
            // Two events of the same trace each load it: 2 of 2 invocations;
            // a repeated row counts once; a preloaded phase is ignored.
            (
                vec![with_files(
                    &[
                        row("/var/task/libx.so", "a", "dlopen"),
                        row("/var/task/libx.so", "b", "open"),
                        row("/var/task/libx.so", "b", "open"),
                        row("/var/task/libx.so", "preloaded", "open"),
                    ]
                    .join(","),
                )],
                lib,
                Some(0.0),
                Some(1.0),
                Some(FileHow::Dlopen),
            ),
            // Traces without `files` do not dilute the probabilities; a
            // trace with files that did not see the path does.
            (
                vec![
                    old.clone(),
                    with_files(&row("/var/task/model.bin", "init", "open")),
                    with_files(""),
                ],
                model,
                Some(0.5),
                Some(0.0),
                Some(FileHow::Open),
            ),
            (
                vec![
                    with_files(&row("/var/task/libx.so", "init", "open")),
                    with_files(&row("/var/task/libx.so", "init", "dlopen")),
                ],
                lib,
                Some(1.0),
                Some(0.0),
                Some(FileHow::Dlopen),
            ),
        ];
        for (texts, path, init, invocation, how) in cases {
            let stats = load_texts(&texts);
            assert_eq!(stats.file_init_probability(path), init, "{texts:?}");
            assert_eq!(
                stats.file_invocation_probability(path),
                invocation,
                "{texts:?}"
            );
            assert_eq!(
                stats.opened_files.get(path).map(|f| f.how),
                how,
                "{texts:?}"
            );
        }
        let bad_how = with_files(&row("/x", "init", "mmap"));
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("t"), bad_how).unwrap();
        let err = Stats::load(&[dir.path().join("t")]).unwrap_err();
        assert!(err.to_string().contains("unknown variant"), "{err}");
    }

    /// A trace without the probe's fields reads as it always did.
    #[test]
    fn an_old_trace_reads_as_before() {
        let text = trace(
            r#"{"name":"m","phase":"init","self_us":100,"cumulative_us":200,"functions_ran":false},{"name":"n","phase":"b","self_us":3,"cumulative_us":4}"#,
            "",
        );
        let stats = load_texts(&[text]);
        assert_eq!((stats.cold_starts, stats.invocations), (1, 2));
        assert_eq!(stats.init_probability("m"), Some(1.0));
        assert_eq!(stats.invocation_probability("n"), Some(0.5));
        assert_eq!(stats.modules["m"].functions_ran, Some(false));
        assert!(!stats.probed && stats.opened_files.is_empty());
        assert!(stats
            .modules
            .values()
            .all(|m| m.effects.is_none() && !m.in_cycle));
        assert_eq!((stats.file_cold_starts, stats.file_invocations), (0, 0));
        let json = serde_json::to_value(&stats.modules["m"]).unwrap();
        assert!(json.get("effects").is_none() && json.get("in_cycle").is_none());
    }

    #[test]
    fn huge_csv_counts_saturate() {
        let max = u64::MAX;
        let text = format!(
            "module,cold_starts,init_loads,invocations,invocation_loads,median_self_us,median_cumulative_us\n\
             m,{max},{max},{max},{max},{max},{max}\n\
             m,{max},{max},{max},{max},{max},{max}\n"
        );
        let stats = load_texts(&[text.clone(), text]);
        assert_eq!(stats.cold_starts, max);
        assert_eq!(stats.modules["m"].init_loads, max);
        assert!(stats.modules["m"].self_us.is_some());
    }

    #[test]
    fn text_that_is_not_utf8_is_an_input_error() {
        let dir = tempfile::tempdir().unwrap();
        for bytes in [
            &b"import time: 1 | 2 | \xff\n"[..],
            b"\xfe\xff{}",
            b"{\"format\": \"\xff\"}",
        ] {
            let path = dir.path().join("t");
            std::fs::write(&path, bytes).unwrap();
            let err = Stats::load(&[path]).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{err}");
        }
    }
}
