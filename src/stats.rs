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
//! functions ran. Line-based formats are streamed: memory grows with the
//! number of distinct modules, not with the size of the log. Malformed lines
//! are counted, the first five reported with their line numbers, and skipped.

use crate::error::{Error, Result};
use crate::scan::Problem;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
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
    #[serde(skip)]
    self_hist: Histogram,
    #[serde(skip)]
    cumulative_hist: Histogram,
}

/// Everything read from the statistics files.
#[derive(Debug, Default, Serialize)]
pub struct Stats {
    pub cold_starts: u64,
    pub invocations: u64,
    pub modules: BTreeMap<String, ModuleStats>,
    pub files: Vec<(PathBuf, StatsFormat)>,
    /// Malformed lines skipped, over all files.
    pub skipped_lines: u64,
    /// The first five malformed lines of each file, and other warnings.
    pub problems: Vec<Problem>,
}

impl Stats {
    /// Reads and merges `paths`. Fails (exit 2) when a file cannot be read or
    /// nothing usable remains in all of them.
    pub fn load(paths: &[PathBuf]) -> Result<Stats> {
        let mut stats = Stats::default();
        for path in paths {
            let file = std::fs::File::open(path).map_err(|e| {
                Error::input(format!("{}: cannot read statistics: {e}", path.display()))
            })?;
            let format = stats.read(BufReader::with_capacity(1 << 20, file), path)?;
            stats.files.push((path.clone(), format));
        }
        if stats.cold_starts == 0 && stats.invocations == 0 {
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
        for module in stats.modules.values_mut() {
            module.self_us = module.self_hist.median();
            module.cumulative_us = module.cumulative_hist.median();
        }
        Ok(stats)
    }

    /// Probability that init loads `module` (`None`: never observed at all).
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

    fn read(&mut self, reader: impl BufRead, path: &Path) -> Result<StatsFormat> {
        let mut reader = Peekable::new(reader);
        let first = reader.first_line().map_err(|e| Error::io(path, e))?;
        let first = first.trim_start();
        let mut sink = LineSink::new(path);
        let format = if first.starts_with("import time:") {
            self.read_importtime(&mut reader, &mut sink)
        } else if first.starts_with("module,") {
            self.read_aggregate_csv(&mut reader, &mut sink)
        } else if looks_like_emf(first) {
            self.read_emf(&mut reader, &mut sink)
        } else if first.starts_with('{') {
            self.read_trace(&mut reader, path)?
        } else {
            return Err(Error::input(format!(
                "{}:1: not a statistics file: expected `caios-pack trace` JSON, `python -X importtime` \
                 output, importer EMF lines or the aggregate CSV (docs/stats.md)",
                path.display()
            )));
        }
        .map_err(|e| Error::io(path, e))?;
        self.skipped_lines += sink.skipped;
        self.problems.extend(sink.problems);
        Ok(format)
    }

    fn module(&mut self, name: &str) -> &mut ModuleStats {
        if !self.modules.contains_key(name) {
            self.modules
                .insert(name.to_string(), ModuleStats::default());
        }
        self.modules.get_mut(name).expect("inserted above")
    }

    /// `import time: self [us] | cumulative | imported package` lines: one
    /// cold start, every listed module loaded during init.
    fn read_importtime(
        &mut self,
        reader: &mut Peekable<impl BufRead>,
        sink: &mut LineSink,
    ) -> std::io::Result<StatsFormat> {
        let mut seen_any = false;
        reader.for_each_line(|number, line| {
            let Some(rest) = line.strip_prefix("import time:") else {
                return; // other stderr output (warnings) is not ours to judge
            };
            let mut parts = rest.splitn(3, '|');
            let (Some(own), Some(cumulative), Some(name)) =
                (parts.next(), parts.next(), parts.next())
            else {
                return sink.bad(number, "expected `self | cumulative | name`");
            };
            if own.trim() == "self [us]" {
                return; // the header line
            }
            let (Ok(own), Ok(cumulative)) =
                (own.trim().parse::<u64>(), cumulative.trim().parse::<u64>())
            else {
                return sink.bad(number, "self and cumulative must be integers (µs)");
            };
            let module = self.module(name.trim());
            module.init_loads += 1;
            module.self_hist.add(own);
            module.cumulative_hist.add(cumulative);
            seen_any = true;
        })?;
        if seen_any {
            self.cold_starts += 1;
        }
        Ok(StatsFormat::ImportTime)
    }

    /// One EMF line per cold start (schema in docs/stats.md).
    fn read_emf(
        &mut self,
        reader: &mut Peekable<impl BufRead>,
        sink: &mut LineSink,
    ) -> std::io::Result<StatsFormat> {
        reader.for_each_line(|number, line| {
            let Some(start) = line.find('{') else {
                if !line.trim().is_empty() {
                    sink.bad(number, "no JSON object on this line");
                }
                return;
            };
            let record: EmfLine = match serde_json::from_str(&line[start..]) {
                Ok(record) => record,
                Err(e) => return sink.bad(number, &format!("not an importer EMF line: {e}")),
            };
            if record.caios.as_deref() != Some("cold-start") {
                return; // another program's EMF line
            }
            self.cold_starts += 1;
            for ModuleRecord(name, _tier, own, cumulative) in &record.modules {
                let module = self.module(name);
                module.init_loads += 1;
                module.self_hist.add(*own);
                module.cumulative_hist.add(*cumulative);
            }
            if let Some(first_invocation) = &record.invocation_modules {
                self.invocations += 1;
                for ModuleRecord(name, _tier, own, cumulative) in first_invocation {
                    let module = self.module(name);
                    module.invocation_loads += 1;
                    module.self_hist.add(*own);
                    module.cumulative_hist.add(*cumulative);
                }
            }
        })?;
        Ok(StatsFormat::Emf)
    }

    /// `module,cold_starts,init_loads,invocations,invocation_loads,median_self_us,median_cumulative_us`
    fn read_aggregate_csv(
        &mut self,
        reader: &mut Peekable<impl BufRead>,
        sink: &mut LineSink,
    ) -> std::io::Result<StatsFormat> {
        let (mut cold_starts, mut invocations) = (0u64, 0u64);
        reader.for_each_line(|number, line| {
            if number == 1 || line.trim().is_empty() {
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
                return sink.bad(
                    number,
                    "expected module,cold_starts,init_loads,invocations,invocation_loads,…",
                );
            };
            cold_starts = cold_starts.max(cs);
            invocations = invocations.max(inv);
            let (own, cumulative) = (int(5), int(6));
            let module = self.module(name);
            module.init_loads += il;
            module.invocation_loads += invl;
            if let Some(own) = own {
                module.self_hist.add_n(own, il + invl);
            }
            if let Some(cumulative) = cumulative {
                module.cumulative_hist.add_n(cumulative, il + invl);
            }
        })?;
        self.cold_starts += cold_starts;
        self.invocations += invocations;
        Ok(StatsFormat::AggregateCsv)
    }

    /// A `caios-pack trace` document: one cold start, one invocation per
    /// event (each run in its own forked process after init).
    fn read_trace(
        &mut self,
        reader: &mut Peekable<impl BufRead>,
        path: &Path,
    ) -> Result<std::io::Result<StatsFormat>> {
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
        let events: Vec<&str> = trace.events.iter().map(|e| e.name.as_str()).collect();
        self.cold_starts += 1;
        self.invocations += events.len() as u64;
        for m in &trace.modules {
            let phase_is_event = events.contains(&m.phase.as_str());
            if m.phase != "init" && !phase_is_event {
                continue; // preloaded by the interpreter or the tracer
            }
            let module = self.module(&m.name);
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
        }
        Ok(Ok(StatsFormat::Trace))
    }
}

fn looks_like_emf(line: &str) -> bool {
    line.contains("\"_aws\"") && line.contains("\"caios\"")
}

/// Collects malformed lines: counts all, keeps the first five.
struct LineSink {
    path: PathBuf,
    skipped: u64,
    problems: Vec<Problem>,
}

impl LineSink {
    fn new(path: &Path) -> Self {
        LineSink {
            path: path.to_path_buf(),
            skipped: 0,
            problems: Vec::new(),
        }
    }

    fn bad(&mut self, line: u64, why: &str) {
        self.skipped += 1;
        if self.problems.len() < 5 {
            self.problems.push(Problem {
                path: self.path.clone(),
                line: Some(line as u32),
                message: format!("skipped: {why}"),
            });
        }
    }
}

/// A reader that can show its first line and then still stream every line.
struct Peekable<R> {
    inner: R,
    first: Option<String>,
}

impl<R: BufRead> Peekable<R> {
    fn new(inner: R) -> Self {
        Peekable { inner, first: None }
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
                let first = line.clone();
                self.first = Some(buffered);
                return Ok(first);
            }
        }
        self.first = Some(buffered);
        Ok(String::new())
    }

    /// Calls `f(line_number, line)` for every line, reusing one buffer.
    fn for_each_line(&mut self, mut f: impl FnMut(u64, &str)) -> std::io::Result<()> {
        let mut number = 0u64;
        if let Some(first) = self.first.take() {
            for line in first.lines() {
                number += 1;
                f(number, line);
            }
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
        if let Some(first) = self.first.as_mut() {
            if !first.is_empty() {
                let n = first.len().min(buf.len());
                buf[..n].copy_from_slice(&first.as_bytes()[..n]);
                first.drain(..n);
                return Ok(n);
            }
            self.first = None;
        }
        self.inner.read(buf)
    }
}

/// A log-scale histogram (5% wide buckets): medians of millions of samples
/// in a few hundred bytes per module.
#[derive(Debug, Clone, Default)]
struct Histogram {
    buckets: HashMap<u16, u64>,
    count: u64,
}

impl Histogram {
    const BASE: f64 = 1.05;

    fn add(&mut self, value: u64) {
        self.add_n(value, 1);
    }

    fn add_n(&mut self, value: u64, n: u64) {
        if n == 0 {
            return;
        }
        let bucket = if value == 0 {
            0
        } else {
            1 + ((value as f64).ln() / Self::BASE.ln()) as u16
        };
        *self.buckets.entry(bucket).or_default() += n;
        self.count += n;
    }

    /// The bucket holding the median, as its geometric midpoint.
    fn median(&self) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let mut keys: Vec<&u16> = self.buckets.keys().collect();
        keys.sort();
        let mut seen = 0;
        for key in keys {
            seen += self.buckets[key];
            if seen * 2 >= self.count {
                if *key == 0 {
                    return Some(0);
                }
                let low = Self::BASE.powi(i32::from(*key) - 1);
                return Some((low * Self::BASE.sqrt()).round() as u64);
            }
        }
        None
    }
}

#[derive(Deserialize)]
struct EmfLine {
    caios: Option<String>,
    #[serde(default)]
    modules: Vec<ModuleRecord>,
    invocation_modules: Option<Vec<ModuleRecord>>,
}

/// `[name, tier, self_us, cumulative_us]`
#[derive(Deserialize)]
struct ModuleRecord(String, String, u64, u64);

#[derive(Deserialize)]
struct TraceFile {
    format: String,
    #[serde(default)]
    events: Vec<TraceEvent>,
    #[serde(default)]
    modules: Vec<TraceModule>,
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
}
