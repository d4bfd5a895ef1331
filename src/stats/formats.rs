//! The four `--stats` formats, read into a [`Tally`].
//!
//! Input: a statistics file as a `BufRead`. Output: its detected
//! [`StatsFormat`] and the counts it holds; malformed lines are counted in
//! the tally, unusable files are input errors.

use super::peekable::Peekable;
use super::tally::{insert_sorted, union, union_package_effects, Tally};
use super::{FileHow, StatsFormat};
use crate::error::{Error, Result};
use rayon::prelude::*;
use serde::de::IgnoredAny;
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;
use std::path::{Path, PathBuf};

/// Lines parsed in parallel per batch: big enough to keep two cores busy,
/// small enough that memory stays bounded (importer lines are ~50 kB).
const BATCH_LINES: usize = 64;

/// Detects the file's format from its first line and reads it.
pub(super) fn read_file(reader: impl BufRead, path: &Path) -> Result<(StatsFormat, Tally)> {
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
    let mut finished_at_init = 0u32;
    for m in &trace.modules {
        let phase_is_event = events.contains(&m.phase.as_str());
        if m.phase != "init" && !phase_is_event {
            continue; // preloaded by the interpreter or the tracer
        }
        let module = tally.module(&m.name);
        if !phase_is_event {
            // The tracer writes a module's row when its import finishes.
            module.init_order = Some(
                module
                    .init_order
                    .map_or(finished_at_init, |o| o.min(finished_at_init)),
            );
            finished_at_init += 1;
        }
        if phase_is_event {
            module.invocation_loads += 1;
        } else {
            module.init_loads += 1;
        }
        module.self_hist.add(m.self_us);
        module.cumulative_hist.add(m.cumulative_us);
        if let Some(ran) = m.functions_ran {
            module.functions_ran = Some(module.functions_ran.unwrap_or(false) || ran);
            if !phase_is_event {
                match (&m.init_lines, &m.init_run_under) {
                    (Some(lines), Some(importers)) => {
                        module.init_code_lines = union(module.init_code_lines.take(), lines);
                        module.init_run_under = union(module.init_run_under.take(), importers);
                    }
                    // A trace from before these fields cannot tell which ran.
                    _ => module.init_code_lines_unknown = true,
                }
            }
        }
        module.in_cycle |= m.in_cycle;
        if let Some(effects) = &m.effects {
            module.effects = union(module.effects.take(), effects);
        }
        union_package_effects(&mut module.package_effects, &m.package_effects);
        if let (Some(parent), false) = (&m.parent, phase_is_event) {
            insert_sorted(&mut module.init_parents, parent);
        }
    }
    Ok(tally)
}

fn looks_like_emf(line: &str) -> bool {
    line.contains("\"_aws\"") && line.contains("\"caios\"")
}

#[derive(Deserialize)]
pub(super) struct EmfLine<'a> {
    #[serde(borrow)]
    caios: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(super) modules: Vec<ModuleRecord<'a>>,
    #[serde(borrow)]
    pub(super) invocation_modules: Option<Vec<ModuleRecord<'a>>>,
}

/// `[name, tier, self_us, cumulative_us]`, borrowed from the line.
#[derive(Deserialize)]
pub(super) struct ModuleRecord<'a>(
    #[serde(borrow)] pub(super) Cow<'a, str>,
    pub(super) IgnoredAny,
    pub(super) u64,
    pub(super) u64,
);

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
    /// Init rows: the first lines of its functions that ran at init.
    #[serde(default)]
    init_lines: Option<Vec<u32>>,
    /// Init rows: the innermost imports its functions ran in at init.
    #[serde(default)]
    init_run_under: Option<Vec<String>>,
    /// Absent: not probed; empty: probed, no side effect seen.
    effects: Option<Vec<String>>,
    /// Changes to other modules of its own package, by module changed.
    #[serde(default)]
    package_effects: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    in_cycle: bool,
    /// The import this one's first import was nested in.
    #[serde(default)]
    parent: Option<String>,
}
