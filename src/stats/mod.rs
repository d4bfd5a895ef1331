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

mod formats;
mod histogram;
mod peekable;
mod tally;

use crate::error::{Error, Result};
use crate::scan::Problem;
use formats::read_file;
use histogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use tally::Tally;

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
    /// The first lines of its functions that call-tracking traces saw run at
    /// init (while it imported or after), sorted, the union over traces;
    /// `None` when no trace tracked its calls at init.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_code_lines: Option<Vec<u32>>,
    /// Its position among the modules a trace saw finish importing at init
    /// (the earliest over traces): which were loaded before which.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_order: Option<u32>,
    /// The modules whose import was innermost on the thread when one of its
    /// functions ran at init ("" outside any import), sorted, the union over
    /// traces; `None` as for `init_code_lines`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_run_under: Option<Vec<String>>,
    /// Side effects a probing trace saw while the module executed, sorted,
    /// the union over all traces: `None` when no trace probed the module,
    /// empty when it was probed and nothing was seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effects: Option<Vec<String>>,
    /// What its import changed in other modules of its own top-level
    /// package, by the module changed (sorted, the union over traces):
    /// harmless when that module stops loading at init with it.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub package_effects: BTreeMap<String, Vec<String>>,
    /// A trace saw it take part in an import cycle while executing.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub in_cycle: bool,
    /// Modules whose import a trace saw this one's first import nested in
    /// at init (the trace's `parent`), sorted: what caused it to load.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub init_parents: Vec<String>,
    /// A trace tracked its calls at init without recording which ran.
    #[serde(skip)]
    init_code_lines_unknown: bool,
    #[serde(skip)]
    self_hist: Histogram,
    #[serde(skip)]
    cumulative_hist: Histogram,
}

/// The probe's labels for a change of global state that cannot change
/// what a later import does (a subset of src/runtime/tracer.py's
/// `_GLABELS`). The probe compares global state at every import boundary,
/// so such an effect is charged exactly to the module whose own code made
/// it, never to an importer for something a nested import did. Left out on
/// purpose: `sys.path`, `sys.meta_path`, `sys.path_hooks` and `builtins`
/// (how a deferred import resolves), `warnings.filters` (an import-time
/// warning turned into an error), `os.environ` (libraries read it at
/// import), the standard streams, the logging root logger and the
/// recursion limit (what an import prints, where, and how deep it may go).
const IMPORT_NEUTRAL_GLOBAL_EFFECTS: &[&str] = &[
    "atexit.register",
    "codecs.register",
    "copyreg.dispatch_table",
    "sys.excepthook",
    "sys.displayhook",
    "asyncio event loop policy",
    "socket default timeout",
    "gc settings",
    "started a thread",
];

/// Whether a probed effect changes global state in a way no later import
/// depends on (see [`IMPORT_NEUTRAL_GLOBAL_EFFECTS`]; also
/// `signal handler SIGTERM` and the like).
pub fn is_import_neutral_global_effect(effect: &str) -> bool {
    IMPORT_NEUTRAL_GLOBAL_EFFECTS.contains(&effect) || effect.starts_with("signal handler ")
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

impl Stats {
    /// Whether a trace saw `module` first loaded, at init, inside the import
    /// of `importer` (directly or through imports nested in it).
    pub fn loaded_under(&self, module: &str, importer: &str) -> bool {
        self.nearest_importer(module, |parent| parent == importer)
            .is_some()
    }

    /// The nearest module that `accept` takes among those whose import a
    /// trace saw `module` first loaded inside (its `init_parents`, theirs,
    /// and so on, breadth first).
    pub fn nearest_importer<'a>(
        &'a self,
        module: &'a str,
        accept: impl Fn(&str) -> bool,
    ) -> Option<&'a str> {
        self.importers_upward(module).find(|parent| accept(parent))
    }

    /// The modules whose import a trace saw `module` first loaded inside:
    /// its `init_parents`, theirs, and so on, breadth first, each once.
    pub fn importers_upward<'a>(&'a self, module: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        let mut seen = std::collections::HashSet::new();
        let mut queue = std::collections::VecDeque::from([module]);
        let mut level: std::vec::IntoIter<&'a str> = Vec::new().into_iter();
        std::iter::from_fn(move || loop {
            if let Some(parent) = level.next() {
                if seen.insert(parent) {
                    queue.push_back(parent);
                    return Some(parent);
                }
                continue;
            }
            let m = queue.pop_front()?;
            let parents: Vec<&'a str> = (self.modules.get(m).into_iter())
                .flat_map(|s| s.init_parents.iter().map(String::as_str))
                .collect();
            level = parents.into_iter();
        })
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
                if module.init_code_lines_unknown {
                    module.init_code_lines = None;
                    module.init_run_under = None;
                }
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

#[cfg(test)]
mod tests;
