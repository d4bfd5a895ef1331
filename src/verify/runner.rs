//! The driver processes: the unpackaged and the packaged run of the same
//! events, side by side.
//!
//! Input: the unit, the checked package output and the events. Output: an
//! [`Observed`] per event and run.

use super::{Observed, Packaged, VerifyOptions};
use crate::config::Unit;
use crate::error::{Error, Result};
use crate::trace::EventCase;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs driver processes.
pub(super) struct Runner<'a> {
    pub(super) unit: &'a Unit,
    pub(super) options: &'a VerifyOptions,
    /// The interpreter's flags (see [`check_python`]).
    pub(super) flags: Vec<&'static str>,
    pub(super) driver: PathBuf,
    pub(super) work: PathBuf,
    pub(super) packaged: &'a Packaged,
    pub(super) count: std::sync::atomic::AtomicUsize,
}

/// The variables of the runtime importer: none leaks in from the caller.
const IMPORTER_VARS: [&str; 9] = [
    "CAIOS_CATALOGUE",
    "CAIOS_EFS_ROOT",
    "CAIOS_TMP",
    "CAIOS_BUNDLE_DIR",
    "CAIOS_BUCKET",
    "CAIOS_PREFIX",
    "CAIOS_EMF",
    "CAIOS_PREFETCH_THREADS",
    "CAIOS_INIT_GC",
];

impl Runner<'_> {
    /// The unpackaged and the packaged process on `cases`, side by side
    /// (they share nothing but the interpreter).
    pub(super) fn both(
        &self,
        cases: &[(usize, &EventCase)],
    ) -> Result<(Vec<Observed>, Vec<Observed>)> {
        std::thread::scope(|scope| {
            let unpackaged = scope.spawn(|| self.process(false, cases));
            let packaged = self.process(true, cases);
            let unpackaged = unpackaged.join().map_err(|_| {
                Error::Failed("verify: the unpackaged run's thread panicked".into())
            })?;
            Ok((unpackaged?, packaged?))
        })
    }

    /// One process running `cases` in order; one [`Observed`] per case.
    fn process(&self, packaged: bool, cases: &[(usize, &EventCase)]) -> Result<Vec<Observed>> {
        let n = self
            .count
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let file = |name: &str| self.work.join(format!("{n}-{name}"));
        let (config, out, stdout, stderr) = (
            file("config.json"),
            file("records.jsonl"),
            file("stdout.txt"),
            file("stderr.txt"),
        );
        let paths: Vec<PathBuf> = if packaged {
            vec![self.packaged.task.path().to_path_buf()]
        } else {
            std::iter::once(&self.unit.source)
                .chain(&self.unit.site_packages)
                .cloned()
                .collect()
        };
        let events: Vec<Value> = cases
            .iter()
            .map(|(i, case)| {
                serde_json::json!({"index": i, "name": case.name, "event": case.event, "context": case.context})
            })
            .collect();
        let doc = serde_json::json!({
            "mode": if packaged { "packaged" } else { "unpackaged" },
            "paths": paths,
            "handler_module": self.unit.handler_module,
            "handler_function": self.unit.handler_function,
            "function_name": self.unit.handler_module.replace('.', "-"),
            "events": events,
        });
        std::fs::write(&config, doc.to_string()).map_err(|e| Error::io(&config, e))?;
        let create = |path: &Path| std::fs::File::create(path).map_err(|e| Error::io(path, e));
        let mut command = Command::new(&self.options.python);
        command
            .args(&self.flags)
            .arg(&self.driver)
            .arg(&config)
            .arg(&out)
            .stdin(Stdio::null())
            .stdout(create(&stdout)?)
            .stderr(create(&stderr)?);
        for var in IMPORTER_VARS {
            command.env_remove(var);
        }
        // Isolated as `-I` would be, except that both runs hash strings
        // with the same seed: a set's order is then the same in both, where
        // a random seed per process would make `list(a_set)` differ.
        for (var, _) in std::env::vars_os() {
            if var.to_string_lossy().starts_with("PYTHON") {
                command.env_remove(var);
            }
        }
        command.env("PYTHONHASHSEED", "0");
        // A fresh /tmp base per process: every cold start extracts its bundles.
        let tmp = file("tmp");
        if packaged {
            command
                .current_dir(self.packaged.task.path())
                .env("CAIOS_EFS_ROOT", &self.packaged.efs_root)
                .env("CAIOS_BUNDLE_DIR", &self.packaged.bundle_dir)
                .env("CAIOS_TMP", tmp.join("caios"));
        } else {
            command.current_dir(&self.unit.source);
        }
        let mut child = command.spawn().map_err(|e| {
            Error::input(format!(
                "cannot run `{}`: {e}; pass --python PATH",
                self.options.python
            ))
        })?;
        // Each record the driver writes (init, then one per event) restarts
        // the clock: every event gets the whole timeout.
        let timeout = self.options.event_timeout;
        let (mut seen_len, mut deadline) = (0u64, Instant::now() + timeout);
        let status = loop {
            if let Some(status) = child.try_wait().map_err(|e| Error::io(&out, e))? {
                break Some(status);
            }
            let len = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
            if len != seen_len {
                seen_len = len;
                deadline = Instant::now() + timeout;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let records: Vec<Value> = std::fs::read_to_string(&out)
            .unwrap_or_default()
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect();
        let stderr_tail = || tail(&std::fs::read_to_string(&stderr).unwrap_or_default(), 40);
        let _ = std::fs::remove_dir_all(&tmp);
        let ended = match status {
            None => serde_json::json!({"timed_out": format!("after {} s", timeout.as_secs_f64())}),
            Some(status) if status.success() => {
                serde_json::json!({"not_run": "the driver stopped early"})
            }
            Some(status) => serde_json::json!({"crashed": describe(&status)}),
        };
        let writes = if packaged {
            self.packaged.task.changes()
        } else {
            Vec::new()
        };
        let mut observed = Self::observed(cases, records, ended, stderr_tail);
        if let Some(first) = observed.first_mut() {
            first.task_root_writes = writes;
        }
        Ok(observed)
    }

    /// One [`Observed`] per case from the driver's records; `ended` is how
    /// the process ended, for the event it ended in.
    fn observed(
        cases: &[(usize, &EventCase)],
        records: Vec<Value>,
        ended: Value,
        stderr_tail: impl Fn() -> String,
    ) -> Vec<Observed> {
        let mut modules: Vec<Value> = Vec::new();
        let mut observed = Vec::new();
        let mut records = records.into_iter();
        let mut init_error: Option<(Option<String>, Vec<Value>)> = None;
        let init_stdout = match records.next() {
            Some(init) if init["kind"] == "init" => {
                modules.extend(init["modules"].as_array().cloned().unwrap_or_default());
                if init["outcome"].get("raised").is_some() {
                    init_error = Some((
                        init["traceback"].as_str().map(str::to_string),
                        init["error_modules"]
                            .as_array()
                            .cloned()
                            .unwrap_or_default(),
                    ));
                }
                init["stdout"].as_str().unwrap_or("").to_string()
            }
            _ => {
                // Init never finished: every event shares its fate.
                let outcome = serde_json::json!({"init": ended});
                return cases
                    .iter()
                    .map(|_| Observed {
                        outcome: outcome.clone(),
                        stdout: String::new(),
                        traceback: None,
                        modules: Vec::new(),
                        error_modules: Vec::new(),
                        stderr: Some(stderr_tail()),
                        task_root_writes: Vec::new(),
                    })
                    .collect();
            }
        };
        let (mut first, mut ended_seen) = (true, false);
        for _ in cases {
            let Some(record) = records.next() else {
                // The event the process ended in, then those it never ran.
                let outcome = if ended_seen {
                    serde_json::json!({"not_run": "the process ended at an earlier event"})
                } else {
                    ended_seen = true;
                    ended.clone()
                };
                observed.push(Observed {
                    outcome,
                    stdout: String::new(),
                    traceback: None,
                    modules: std::mem::take(&mut modules),
                    error_modules: Vec::new(),
                    stderr: Some(stderr_tail()),
                    task_root_writes: Vec::new(),
                });
                continue;
            };
            modules.extend(record["modules"].as_array().cloned().unwrap_or_default());
            let mut stdout = record["stdout"].as_str().unwrap_or("").to_string();
            if first {
                stdout.insert_str(0, &init_stdout);
                first = false;
            }
            // An event of a process whose init raised carries init's error.
            let (traceback, error_modules) = match &init_error {
                Some((traceback, modules)) => (traceback.clone(), modules.clone()),
                None => (
                    record["traceback"].as_str().map(str::to_string),
                    record["error_modules"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default(),
                ),
            };
            observed.push(Observed {
                outcome: record["outcome"].clone(),
                stdout,
                traceback,
                modules: std::mem::take(&mut modules),
                error_modules,
                stderr: None,
                task_root_writes: Vec::new(),
            });
        }
        observed
    }
}

fn describe(status: &std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        _ => "no exit status".into(),
    }
}

/// The last `lines` lines of `text`.
pub(super) fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    let start = all.len().saturating_sub(lines);
    let mut out = all[start..].join("\n");
    if start > 0 {
        out.insert_str(0, &format!("[{start} earlier lines]\n"));
    }
    out
}
