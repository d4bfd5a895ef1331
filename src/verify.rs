//! verify: runs the function unpackaged and from its artifacts alone, on the
//! same events, and compares what each run returned, raised and printed.
//!
//! Input: a [`Unit`], the output folder of `caios-pack package`, events (the
//! format of `trace --events`), the interpreter. Output: a [`Verification`]
//! with one [`EventResult`] per event and mode (`cold`: every event in a
//! fresh process; `warm`: all events in one process, in order).
//!
//! The unpackaged run imports the handler from the unit's source folder and
//! site-packages, as `trace` does. The packaged run sees nothing of the unit:
//! `deployment.zip` unzipped into a fresh folder made read-only (first on
//! `sys.path`, `caios_entry.handler` called), the EFS tree from `DIST/efs`
//! (`CAIOS_EFS_ROOT`), the S3 bundles read from `DIST/s3` through the
//! importer's local bundle source (`CAIOS_BUNDLE_DIR`: same SHA-256 check,
//! same extraction, no boto3) into a fresh `CAIOS_TMP` per process. Both run
//! `src/runtime/caios_verify.py` (embedded at build time) in a fresh
//! interpreter isolated as `python -I -S -B` would be, but with
//! `PYTHONHASHSEED=0` (so that a set's order is the same in both runs),
//! with a per-event timeout.
//!
//! Errors: a dist folder that was not built from this unit, a missing dist
//! file, a malformed events file and a missing interpreter are input errors
//! (exit 2); a difference is reported by [`Verification::difference`], which
//! the command turns into exit 1.

use crate::config::Unit;
use crate::error::{Error, Result};
use crate::trace::EventCase;
use serde::Serialize;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

mod dist;
mod runner;
mod text;

use dist::{check_dist, unzip_read_only, ReadOnlyTree};
use runner::Runner;

/// The driver both runs use, shipped inside the binary.
pub const DRIVER: &str = include_str!("runtime/caios_verify.py");

/// Default time one event (or the init before it) may take.
pub const DEFAULT_EVENT_TIMEOUT: Duration = Duration::from_secs(300);

pub struct VerifyOptions {
    /// The output folder of `caios-pack package`.
    pub dist: PathBuf,
    pub python: String,
    /// Per event, and for the init of each process.
    pub event_timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Each event in a fresh process.
    Cold,
    /// All events in one process, in order.
    Warm,
}

impl Mode {
    fn label(self) -> &'static str {
        match self {
            Mode::Cold => "cold",
            Mode::Warm => "warm",
        }
    }
}

/// What one run observed for one event.
#[derive(Debug, Clone, Serialize)]
pub struct Observed {
    /// `{"return": {"json"|"repr": TEXT}}`, `{"raised": {"type", "message"}}`,
    /// `{"init_raised": …}`, `{"timed_out": PHASE}`, `{"crashed": STATUS}`
    /// or `{"not_run": REASON}`. Compared as is.
    pub outcome: Value,
    /// What the process printed on stdout during the event (for the first
    /// event of a process, also during its init), without the importer's
    /// cold-start line. Compared as is.
    pub stdout: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traceback: Option<String>,
    /// Packaged run: modules this event loaded (the first event of a
    /// process: also its init) from the package's tiers or listed in the
    /// catalogue, with where they came from.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub modules: Vec<Value>,
    /// Packaged run: the module an ImportError names and its parents.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub error_modules: Vec<Value>,
    /// The end of stderr when the process crashed or timed out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stderr: Option<String>,
    /// Packaged run: files its process created, changed or removed in the
    /// task root, which is read-only on Lambda (given to the first event of
    /// the process; as root, `chmod a-w` does not stop the writes).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub task_root_writes: Vec<String>,
}

impl Observed {
    fn timed_out(&self) -> bool {
        let o = &self.outcome;
        o.get("timed_out").is_some() || o.get("init").and_then(|i| i.get("timed_out")).is_some()
    }
}

/// Same result and output; a timeout is never identical (nothing was
/// compared), nor a write into the read-only task root.
fn identical(expected: &Observed, got: &Observed) -> bool {
    expected.outcome == got.outcome
        && expected.stdout == got.stdout
        && !expected.timed_out()
        && !got.timed_out()
        && got.task_root_writes.is_empty()
}

#[derive(Debug, Serialize)]
pub struct EventResult {
    pub event: String,
    pub mode: Mode,
    pub identical: bool,
    /// The unpackaged run.
    pub expected: Observed,
    /// The packaged run.
    pub got: Observed,
}

#[derive(Debug, Serialize)]
pub struct Verification {
    pub handler: String,
    pub dist: PathBuf,
    pub python: String,
    pub results: Vec<EventResult>,
}

/// Where the packaged run finds each tier.
struct Packaged {
    /// `deployment.zip` unzipped, read-only.
    task: ReadOnlyTree,
    efs_root: PathBuf,
    bundle_dir: PathBuf,
}

/// Runs the unit and its artifacts on `events`, cold and warm.
pub fn run(unit: &Unit, events: &[EventCase], options: &VerifyOptions) -> Result<Verification> {
    let handler = unit.handler();
    let flags = check_python(&options.python)?;
    let catalogue = check_dist(unit, &options.dist)?;
    let task = unzip_read_only(&options.dist.join("deployment.zip"))?;
    let efs_dir = catalogue.efs_tree_name();
    let packaged = Packaged {
        task,
        efs_root: absolute(&options.dist.join("efs").join(efs_dir)),
        bundle_dir: absolute(&options.dist.join("s3")),
    };
    let work = tempfile::tempdir().map_err(|e| Error::io(Path::new("<tempdir>"), e))?;
    let driver = work.path().join("caios_verify.py");
    std::fs::write(&driver, DRIVER).map_err(|e| Error::io(&driver, e))?;
    let runner = Runner {
        unit,
        options,
        flags,
        driver,
        work: work.path().to_path_buf(),
        packaged: &packaged,
        count: std::sync::atomic::AtomicUsize::new(0),
    };
    let all: Vec<(usize, &EventCase)> = events.iter().enumerate().collect();
    let mut results = Vec::new();
    for mode in [Mode::Cold, Mode::Warm] {
        let (expected, got) = match mode {
            Mode::Cold => {
                let (mut expected, mut got) = (Vec::new(), Vec::new());
                for case in &all {
                    let (e, g) = runner.both(std::slice::from_ref(case))?;
                    expected.extend(e);
                    got.extend(g);
                }
                (expected, got)
            }
            Mode::Warm => runner.both(&all)?,
        };
        for ((case, expected), got) in events.iter().zip(expected).zip(got) {
            let identical = identical(&expected, &got);
            results.push(EventResult {
                event: case.name.clone(),
                mode,
                identical,
                expected,
                got,
            });
        }
    }
    Ok(Verification {
        handler,
        dist: options.dist.clone(),
        python: options.python.clone(),
        results,
    })
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// The interpreter must run (exit 2 when it does not).
/// Returns the flags both runs use: those of `-I` (isolated) that leave the
/// environment on, since `-I` would also ignore `PYTHONHASHSEED` (below).
fn check_python(python: &str) -> Result<Vec<&'static str>> {
    let out = Command::new(python)
        .args([
            "-I",
            "-S",
            "-c",
            "import sys; print(sys.version_info >= (3, 11))",
        ])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::input(format!("cannot run `{python}`: {e}; pass --python PATH")))?;
    if !out.status.success() {
        return Err(Error::input(format!(
            "`{python} -I -S` does not run ({}): {}; pass --python PATH",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    // -I is -E -s (and -P from 3.11 on); -E's part is done by clearing the
    // PYTHON* variables instead. The driver drops its own folder from
    // sys.path on any version.
    let mut flags = vec!["-s", "-S", "-B"];
    if String::from_utf8_lossy(&out.stdout).trim() == "True" {
        flags.push("-P");
    }
    Ok(flags)
}
