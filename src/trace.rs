//! trace: runs the handler on sample events under a small Python tracer and
//! records what each phase really loads.
//!
//! Input: a [`Unit`], an events file and the interpreter to use. Output: the
//! tracer's statistics document (schema in docs/stats.md), parsed into a
//! [`TraceReport`] for the summary, and written where the user asked. The
//! tracer (`src/runtime/tracer.py`, embedded at build time) runs in a fresh
//! `python3 -I -S` with only the unit's source and site-packages folders on
//! `sys.path`, so nothing from the host leaks in.

use crate::config::Unit;
use crate::error::{Error, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The tracer, shipped inside the binary.
pub const TRACER: &str = include_str!("runtime/tracer.py");

mod events;

pub use events::{load_events, EventCase};

pub struct TraceOptions {
    pub python: String,
    /// Run each event in a process forked after init.
    pub fork: bool,
    /// Record whether each module's functions ran.
    pub track_calls: bool,
    /// Seconds an event may run before its process is killed (the tracer's
    /// `event_timeout_s`).
    pub event_timeout_s: f64,
}

/// What the summary needs from the tracer's output.
#[derive(Debug, Deserialize)]
pub struct TraceReport {
    pub python: String,
    pub tracking: String,
    pub init_ms: f64,
    #[serde(default)]
    pub init_error: Option<TraceError>,
    #[serde(default)]
    pub events: Vec<TraceEvent>,
    #[serde(default)]
    pub modules: Vec<TraceModule>,
    /// Why events did not run in children forked after init (init left
    /// threads running), when they did not.
    #[serde(default)]
    pub fork_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct TraceError {
    #[serde(rename = "type")]
    pub kind: String,
    pub message: String,
    pub traceback: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct TraceEvent {
    pub name: String,
    pub ok: bool,
    #[serde(default)]
    pub ms: f64,
    pub error: Option<serde_json::Value>,
    pub traceback: Option<String>,
    #[serde(default)]
    pub crashed: bool,
    /// Killed after `event_timeout_s`.
    #[serde(default)]
    pub timed_out: bool,
    pub exit_status: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
pub struct TraceModule {
    pub name: String,
    pub phase: String,
    pub file: Option<String>,
    #[serde(default)]
    pub self_us: u64,
    #[serde(default)]
    pub cumulative_us: u64,
    pub functions_ran: Option<bool>,
}

/// A finished trace: the raw document (to write out) and its parsed form.
pub struct TraceRun {
    pub document: String,
    pub report: TraceReport,
    /// What the handler and tracer printed (stdout and stderr).
    pub output: String,
    /// Init time (ms) without and with call tracking, when both ran.
    pub overhead: Option<(f64, f64)>,
}

/// Runs the tracer. Errors: a handler module or function that does not exist
/// (exit 2), a handler that raises or an interpreter that crashes (exit 1,
/// with the traceback or the signal).
/// With call tracking, two passes: import times come from a pass without
/// it (setprofile slows imports 1.7–2.2× on Python < 3.12), `functions_ran`
/// from a second pass with it; the overhead is reported in the document.
/// The side-effect probe (`effects`, `in_cycle`) runs in the second pass
/// too (a second pass of its own with `--no-calls`): though it subtracts its
/// own time, its work between imports still slows them by ~10 %, so import
/// times come from passes with neither, run after the other one: the
/// median of [`TIMING_PASSES`] of them.
pub fn run(unit: &Unit, events: &[EventCase], options: &TraceOptions) -> Result<TraceRun> {
    if !(options.event_timeout_s.is_finite() && options.event_timeout_s > 0.0) {
        return Err(Error::input(format!(
            "--event-timeout {}: expected a number of seconds greater than 0",
            options.event_timeout_s
        )));
    }
    check_handler_module(unit)?;
    // The timing pass runs last: the first pass reads the unit's files
    // into the page cache, and how cold the cache of the machine that
    // traces happens to be is not import time (the tiers' reads are
    // modelled apart).
    let second = run_once(unit, events, options, options.track_calls, true)?;
    let mut timed = Vec::with_capacity(TIMING_PASSES);
    for _ in 0..TIMING_PASSES {
        timed.push(run_once(unit, events, options, false, false)?);
    }
    merge_passes(median_times(timed)?, second, options.track_calls)
}

/// Timing passes per trace. One init is one sample of a machine whose load
/// moves (the development VM's init times of one unit spread by ±30 %
/// between consecutive processes); the model takes every module's median.
const TIMING_PASSES: usize = 3;

/// The first timing pass's document with every module's `self_us` and
/// `cumulative_us`, and `init_ms`, replaced by their medians over the passes
/// (over the passes that loaded the module in the same phase).
fn median_times(mut passes: Vec<TraceRun>) -> Result<TraceRun> {
    if passes.len() == 1 {
        return Ok(passes.remove(0));
    }
    let parse = |doc: &str| -> Result<serde_json::Value> {
        serde_json::from_str(doc)
            .map_err(|e| Error::Failed(format!("the tracer wrote an unreadable report ({e})")))
    };
    let docs: Vec<serde_json::Value> = passes
        .iter()
        .map(|p| parse(&p.document))
        .collect::<Result<_>>()?;
    fn median(mut xs: Vec<f64>) -> Option<f64> {
        xs.sort_by(f64::total_cmp);
        (!xs.is_empty()).then(|| xs[(xs.len() - 1) / 2])
    }
    let key = |m: &serde_json::Value| {
        (
            m["name"].as_str().unwrap_or("").to_string(),
            m["phase"].as_str().unwrap_or("").to_string(),
        )
    };
    let mut samples: std::collections::HashMap<(String, String), [Vec<f64>; 2]> =
        std::collections::HashMap::new();
    for doc in &docs {
        for m in doc["modules"].as_array().into_iter().flatten() {
            let entry = samples.entry(key(m)).or_default();
            for (i, field) in ["self_us", "cumulative_us"].iter().enumerate() {
                if let Some(v) = m[*field].as_f64() {
                    entry[i].push(v);
                }
            }
        }
    }
    let mut doc = docs[0].clone();
    if let Some(modules) = doc["modules"].as_array_mut() {
        for m in modules {
            let Some(entry) = samples.remove(&key(m)) else {
                continue;
            };
            for (i, field) in ["self_us", "cumulative_us"].iter().enumerate() {
                if let Some(v) = median(entry[i].clone()) {
                    m[*field] = serde_json::json!(v.round() as u64);
                }
            }
        }
    }
    let inits: Vec<f64> = docs.iter().filter_map(|d| d["init_ms"].as_f64()).collect();
    if let Some(v) = median(inits) {
        doc["init_ms"] = serde_json::json!(v);
    }
    let document = doc.to_string();
    let report: TraceReport = serde_json::from_str(&document)
        .map_err(|e| Error::Failed(format!("merged trace report is unreadable ({e})")))?;
    let first = passes.remove(0);
    Ok(TraceRun {
        document,
        report,
        output: first.output,
        overhead: first.overhead,
    })
}

/// The timing pass's document, with the probe's `effects`, `in_cycle` and
/// `probe` from the second pass and, when it tracked calls, its
/// `functions_ran` and `tracking`, and `tracking_overhead` (init time with /
/// without tracking).
fn merge_passes(timed: TraceRun, tracked: TraceRun, calls: bool) -> Result<TraceRun> {
    let parse = |doc: &str| -> Result<serde_json::Value> {
        serde_json::from_str(doc)
            .map_err(|e| Error::Failed(format!("the tracer wrote an unreadable report ({e})")))
    };
    let mut doc = parse(&timed.document)?;
    let other = parse(&tracked.document)?;
    let key = |m: &serde_json::Value| {
        (
            m["name"].as_str().unwrap_or("").to_string(),
            m["phase"].as_str().unwrap_or("").to_string(),
        )
    };
    let tracked_modules: std::collections::HashMap<(String, String), &serde_json::Value> = other
        ["modules"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| (key(m), m))
        .collect();
    if let Some(modules) = doc["modules"].as_array_mut() {
        for m in modules {
            let seen = tracked_modules.get(&key(m));
            if calls {
                for field in ["functions_ran", "ran_in", "init_lines", "init_run_under"] {
                    m[field] = seen
                        .map(|t| t[field].clone())
                        .unwrap_or(serde_json::Value::Null);
                }
            }
            // Absent `effects`: not probed (e.g. a module the second pass did not load).
            for field in ["effects", "package_effects", "in_cycle"] {
                match seen.and_then(|t| t.get(field)) {
                    Some(v) => m[field] = v.clone(),
                    None => {
                        if let Some(obj) = m.as_object_mut() {
                            obj.remove(field);
                        }
                    }
                }
            }
        }
    }
    if let Some(probe) = other.get("probe") {
        doc["probe"] = probe.clone();
    }
    if !calls {
        let document = doc.to_string();
        let report: TraceReport = serde_json::from_str(&document)
            .map_err(|e| Error::Failed(format!("merged trace report is unreadable ({e})")))?;
        return Ok(TraceRun {
            document,
            report,
            output: format!("{}{}", timed.output, tracked.output),
            overhead: None,
        });
    }
    doc["tracking"] = other["tracking"].clone();
    doc["tracking_overhead"] = serde_json::json!({
        "init_ms_without": timed.report.init_ms,
        "init_ms_with": tracked.report.init_ms,
        "ratio": tracked.report.init_ms / timed.report.init_ms.max(1e-9),
    });
    let document = doc.to_string();
    let mut report: TraceReport = serde_json::from_str(&document)
        .map_err(|e| Error::Failed(format!("merged trace report is unreadable ({e})")))?;
    report.tracking = other["tracking"].as_str().unwrap_or("off").to_string();
    Ok(TraceRun {
        document,
        report,
        output: format!("{}{}", timed.output, tracked.output),
        overhead: Some((timed.report.init_ms, tracked.report.init_ms)),
    })
}

fn run_once(
    unit: &Unit,
    events: &[EventCase],
    options: &TraceOptions,
    track_calls: bool,
    probe: bool,
) -> Result<TraceRun> {
    let work = tempfile::tempdir().map_err(|e| Error::io(Path::new("<tempdir>"), e))?;
    let tracer = work.path().join("caios_tracer.py");
    let config = work.path().join("config.json");
    let out = work.path().join("stats.json");
    std::fs::write(&tracer, TRACER).map_err(|e| Error::io(&tracer, e))?;
    let mut paths: Vec<&Path> = vec![&unit.source];
    paths.extend(unit.site_packages.iter().map(PathBuf::as_path));
    let config_doc = serde_json::json!({
        "paths": paths,
        "handler_module": unit.handler_module,
        "handler_function": unit.handler_function,
        "events": events,
        "fork": options.fork,
        "track_calls": track_calls,
        "probe": probe,
        "event_timeout_s": options.event_timeout_s,
    });
    std::fs::write(&config, config_doc.to_string()).map_err(|e| Error::io(&config, e))?;
    // -B: a trace must not write __pycache__ into the user's folders.
    let result = Command::new(&options.python)
        .args(["-I", "-S", "-B"])
        .arg(&tracer)
        .arg("--config")
        .arg(&config)
        .arg("--out")
        .arg(&out)
        .current_dir(&unit.source)
        .output()
        .map_err(|e| {
            Error::input(format!(
                "cannot run `{}`: {e}; pass --python PATH",
                options.python
            ))
        })?;
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&result.stdout),
        String::from_utf8_lossy(&result.stderr)
    );
    let document = std::fs::read_to_string(&out).ok();
    let handler = unit.handler();
    match (result.status.code(), document) {
        (Some(4), _) => Err(Error::input(format!(
            "handler `{handler}`: module `{}` has no function `{}`; fix `handler:` in caios-pack.yaml or --handler",
            unit.handler_module, unit.handler_function
        ))),
        (Some(code @ (0 | 1 | 3)), Some(document)) => {
            let report: TraceReport = serde_json::from_str(&document)
                .map_err(|e| Error::Failed(format!("the tracer wrote an unreadable report ({e})\n{output}")))?;
            if code == 3 {
                let err = report.init_error.as_ref();
                return Err(Error::Failed(format!(
                    "importing `{}` raised {}: {}\n{}",
                    unit.handler_module,
                    err.map_or("an exception", |e| e.kind.as_str()),
                    err.map_or("", |e| e.message.as_str()),
                    err.and_then(|e| e.traceback.as_deref()).unwrap_or(&output)
                )));
            }
            Ok(TraceRun {
                document,
                report,
                output,
                overhead: None,
            })
        }
        (code, _) => Err(Error::Failed(format!(
            "{} crashed while tracing `{handler}` ({}); its output:\n{output}",
            options.python,
            match code {
                Some(code) => format!("exit status {code}"),
                None => describe_signal(&result.status),
            }
        ))),
    }
}

fn describe_signal(status: &std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status.signal() {
        Some(signal) => format!("killed by signal {signal}"),
        None => "no exit status".into(),
    }
}

/// The handler's module must exist in one of the unit's folders.
fn check_handler_module(unit: &Unit) -> Result<()> {
    let rel = unit.handler_module.replace('.', "/");
    let roots = std::iter::once(&unit.source).chain(&unit.site_packages);
    for root in roots {
        let base = root.join(&rel);
        if base.with_extension("py").is_file() || base.join("__init__.py").is_file() {
            return Ok(());
        }
        let (dir, stem) = match rel.rsplit_once('/') {
            Some((dir, stem)) => (root.join(dir), stem),
            None => (root.clone(), rel.as_str()),
        };
        let extension = std::fs::read_dir(&dir)
            .ok()
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| {
                let name = e.file_name();
                let name = name.to_string_lossy();
                name.starts_with(&format!("{stem}."))
                    && (name.ends_with(".so") || name.ends_with(".pyc"))
            });
        if extension {
            return Ok(());
        }
    }
    Err(Error::input(format!(
        "{}: handler module `{}` not found (looked for {rel}.py or {rel}/__init__.py); fix `handler:` in caios-pack.yaml or --handler",
        unit.source.display(),
        unit.handler_module
    )))
}

/// The text summary of a trace.
pub fn summary(run: &TraceRun, unit: &Unit, out: &Path) -> String {
    use std::fmt::Write;
    let r = &run.report;
    let mut s = String::new();
    let init: Vec<&TraceModule> = r.modules.iter().filter(|m| m.phase == "init").collect();
    let in_unit = |m: &&TraceModule| {
        m.file.as_deref().is_some_and(|f| {
            std::iter::once(&unit.source)
                .chain(&unit.site_packages)
                .any(|root| Path::new(f).starts_with(root))
        })
    };
    let self_ms: f64 = init.iter().map(|m| m.self_us as f64).sum::<f64>() / 1000.0;
    let _ = writeln!(
        s,
        "traced {}.{} with Python {} (function tracking: {})",
        unit.handler_module, unit.handler_function, r.python, r.tracking
    );
    let _ = writeln!(
        s,
        "init: {:.0} ms, {} modules loaded ({} from the unit), {:.0} ms of import self time",
        r.init_ms,
        init.len(),
        init.iter().filter(|m| in_unit(m)).count(),
        self_ms
    );
    if let Some(reason) = &r.fork_reason {
        let _ = writeln!(s, "events: {reason}");
    }
    if let Some((without, with)) = run.overhead {
        let _ = writeln!(
            s,
            "function tracking overhead: init {with:.0} ms with it, {without:.0} ms without ({:.2}x); times above are from the pass without it",
            with / without.max(1e-9)
        );
    }
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "{:<24}{:>8}{:>10}{:>14}  first new modules",
        "event", "result", "ms", "new modules"
    );
    for event in &r.events {
        let new: Vec<&str> = r
            .modules
            .iter()
            .filter(|m| m.phase == event.name)
            .map(|m| m.name.as_str())
            .collect();
        let result = if event.timed_out {
            "timeout"
        } else if event.crashed {
            "crashed"
        } else if event.ok {
            "ok"
        } else {
            "raised"
        };
        let preview: Vec<&str> = new.iter().take(3).copied().collect();
        let _ = writeln!(
            s,
            "{:<24}{:>8}{:>10.1}{:>14}  {}",
            event.name,
            result,
            event.ms,
            new.len(),
            preview.join(", ")
        );
    }
    let mut slow = init.clone();
    slow.sort_by_key(|m| std::cmp::Reverse(m.self_us));
    let _ = writeln!(s);
    let _ = writeln!(s, "10 slowest imports at init (self time):");
    for m in slow.iter().take(10) {
        let _ = writeln!(s, "  {:>9.1} ms  {}", m.self_us as f64 / 1000.0, m.name);
    }
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "statistics written to {} (pass it to --stats)",
        out.display()
    );
    s
}

/// Failed events with their tracebacks, for the error message.
pub fn failures(run: &TraceRun) -> Option<String> {
    let failed: Vec<String> = run
        .report
        .events
        .iter()
        .filter(|e| !e.ok || e.crashed)
        .map(|e| {
            let message = e.error.as_ref().and_then(|v| v["message"].as_str());
            if e.timed_out {
                // The tracer's message names the event and the timeout.
                message.unwrap_or("timed out").to_string()
            } else if e.crashed {
                format!(
                    "event `{}`: the interpreter crashed ({:?})",
                    e.name, e.exit_status
                )
            } else {
                format!(
                    "event `{}` raised {}\n{}",
                    e.name,
                    e.error.as_ref().map(|v| v.to_string()).unwrap_or_default(),
                    e.traceback.as_deref().unwrap_or("")
                )
            }
        })
        .collect();
    (!failed.is_empty()).then(|| failed.join("\n"))
}
