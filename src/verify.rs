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
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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
    let handler = format!("{}.{}", unit.handler_module, unit.handler_function);
    let flags = check_python(&options.python)?;
    let catalogue = check_dist(unit, &options.dist)?;
    let task = unzip_read_only(&options.dist.join("deployment.zip"))?;
    let efs_dir = catalogue["efs_root"]
        .as_str()
        .and_then(|r| r.trim_end_matches('/').rsplit('/').next())
        .unwrap_or("");
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

/// The dist folder holds every artifact the run needs and was built from
/// this unit: the catalogue's handler is the unit's, and the handler's
/// module in `deployment.zip` is byte for byte the unit's file. Returns the
/// catalogue (the one inside the zip: the one that runs).
fn check_dist(unit: &Unit, dist: &Path) -> Result<Value> {
    let zip_path = dist.join("deployment.zip");
    let rebuild =
        "pass the output folder of `caios-pack package` for this unit, or package it again";
    let file = std::fs::File::open(&zip_path).map_err(|e| {
        Error::input(format!(
            "{}: cannot read: {e}; {rebuild}",
            zip_path.display()
        ))
    })?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| {
        Error::input(format!(
            "{}: not a zip file ({e}); {rebuild}",
            zip_path.display()
        ))
    })?;
    let member = |archive: &mut zip::ZipArchive<std::fs::File>, name: &str| -> Result<Vec<u8>> {
        let mut entry = archive.by_name(name).map_err(|_| {
            Error::input(format!(
                "{}: has no {name}; it was not written by `caios-pack package` ({rebuild})",
                zip_path.display()
            ))
        })?;
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes).map_err(|e| Error::io(&zip_path, e))?;
        Ok(bytes)
    };
    for runtime in ["caios_entry.py", "caios_importer.py"] {
        member(&mut archive, runtime)?;
    }
    let catalogue: Value = serde_json::from_slice(&member(&mut archive, "caios_catalogue.json")?)
        .map_err(|e| {
        Error::input(format!(
            "{}: caios_catalogue.json:{}:{}: not JSON: {e}",
            zip_path.display(),
            e.line(),
            e.column()
        ))
    })?;
    let handler = format!("{}.{}", unit.handler_module, unit.handler_function);
    let not_this_unit = |why: String| {
        Error::input(format!(
            "{} was not built from the unit {}: {why}; package this unit again (or pass its own dist folder)",
            dist.display(),
            unit.root.display()
        ))
    };
    let built_for = catalogue["handler"].as_str().unwrap_or("");
    if built_for != handler {
        return Err(not_this_unit(format!(
            "its catalogue's handler is `{built_for}`, the unit's is `{handler}`"
        )));
    }
    let entry = &catalogue["modules"][&unit.handler_module];
    let rel = entry["path"].as_str().unwrap_or("");
    if entry["tier"] != "local" || rel.is_empty() {
        return Err(not_this_unit(format!(
            "its catalogue does not place the handler module `{}` in deployment.zip",
            unit.handler_module
        )));
    }
    let packaged = member(&mut archive, rel)
        .map_err(|_| not_this_unit(format!("deployment.zip has no {rel}")))?;
    let roots = std::iter::once(&unit.source).chain(&unit.site_packages);
    let Some(own) = roots.map(|root| root.join(rel)).find(|p| p.is_file()) else {
        return Err(not_this_unit(format!(
            "the handler's file {rel} is not in the unit's source or site-packages"
        )));
    };
    let own_bytes = std::fs::read(&own).map_err(|e| Error::io(&own, e))?;
    if own_bytes != packaged {
        return Err(not_this_unit(format!(
            "{} (sha256 {}) differs from {rel} in deployment.zip (sha256 {})",
            own.display(),
            &hex(&Sha256::digest(&own_bytes))[..16],
            &hex(&Sha256::digest(&packaged))[..16]
        )));
    }
    // Every bundle the catalogue names must be there; a bundle that is
    // there but wrong is the packaged run's failure, not bad input.
    if let Some(bundles) = catalogue["bundles"].as_object() {
        for sha in bundles.keys() {
            let path = dist.join("s3").join(format!("{sha}.zip"));
            if !path.is_file() {
                return Err(Error::input(format!(
                    "{}: missing: the catalogue lists bundle {sha}; {rebuild}",
                    path.display()
                )));
            }
        }
    }
    let on_efs = |section: &str| {
        catalogue[section]
            .as_object()
            .is_some_and(|m| m.values().any(|e| e["tier"] == "efs"))
    };
    if on_efs("modules") || on_efs("files") {
        let name = catalogue["efs_root"]
            .as_str()
            .and_then(|r| r.trim_end_matches('/').rsplit('/').next())
            .unwrap_or("");
        let tree = dist.join("efs").join(name);
        if name.is_empty() || !tree.is_dir() {
            return Err(Error::input(format!(
                "{}: missing: the catalogue places files on EFS (efs_root {}); {rebuild}",
                tree.display(),
                catalogue["efs_root"]
            )));
        }
    }
    Ok(catalogue)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A temporary folder whose files and folders have no write bits; they get
/// them back when it is dropped, so that it can be removed.
struct ReadOnlyTree {
    dir: tempfile::TempDir,
    /// Every entry as unzipped: relative path → (size, modification time).
    snapshot: std::collections::BTreeMap<PathBuf, (u64, Option<std::time::SystemTime>)>,
}

impl ReadOnlyTree {
    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn entries(&self) -> std::collections::BTreeMap<PathBuf, (u64, Option<std::time::SystemTime>)> {
        walkdir::WalkDir::new(self.dir.path())
            .min_depth(1)
            .into_iter()
            .flatten()
            .filter_map(|entry| {
                let meta = entry.path().symlink_metadata().ok()?;
                let rel = entry.path().strip_prefix(self.dir.path()).ok()?;
                // A folder's time changes with its entries, which are listed.
                let time = if meta.is_dir() {
                    None
                } else {
                    meta.modified().ok()
                };
                Some((
                    rel.to_path_buf(),
                    (meta.len() * u64::from(!meta.is_dir()), time),
                ))
            })
            .collect()
    }

    /// Paths created, changed or removed since the tree was unzipped.
    fn changes(&self) -> Vec<String> {
        let now = self.entries();
        let mut changed: Vec<String> = now
            .iter()
            .filter(|(path, facts)| self.snapshot.get(*path) != Some(facts))
            .map(|(path, _)| path.display().to_string())
            .collect();
        changed.extend(
            self.snapshot
                .keys()
                .filter(|path| !now.contains_key(*path))
                .map(|path| format!("{} (removed)", path.display())),
        );
        changed
    }

    fn set_writable(&self, writable: bool) {
        use std::os::unix::fs::PermissionsExt;
        // Folders last when closing them (their files first), first when opening.
        let walk = walkdir::WalkDir::new(self.dir.path()).contents_first(!writable);
        for entry in walk.into_iter().flatten() {
            let Ok(meta) = entry.path().symlink_metadata() else {
                continue;
            };
            if meta.file_type().is_symlink() {
                continue;
            }
            let mode = meta.permissions().mode();
            let mode = if writable {
                mode | 0o200 | if meta.is_dir() { 0o500 } else { 0 }
            } else {
                mode & !0o222
            };
            let _ = std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(mode));
        }
    }
}

impl Drop for ReadOnlyTree {
    fn drop(&mut self) {
        self.set_writable(true);
    }
}

/// `deployment.zip` unzipped into a fresh folder, then `chmod -R a-w`, as
/// Lambda's `/var/task` is read-only.
fn unzip_read_only(zip_path: &Path) -> Result<ReadOnlyTree> {
    let dir = tempfile::Builder::new()
        .prefix("caios-verify-task-")
        .tempdir()
        .map_err(|e| Error::io(Path::new("<tempdir>"), e))?;
    let file = std::fs::File::open(zip_path).map_err(|e| Error::io(zip_path, e))?;
    zip::ZipArchive::new(file)
        .and_then(|mut archive| archive.extract(dir.path()))
        .map_err(|e| {
            Error::input(format!(
                "{}: cannot unzip: {e}; package the unit again",
                zip_path.display()
            ))
        })?;
    let mut tree = ReadOnlyTree {
        dir,
        snapshot: Default::default(),
    };
    tree.set_writable(false);
    tree.snapshot = tree.entries();
    Ok(tree)
}

/// Runs driver processes.
struct Runner<'a> {
    unit: &'a Unit,
    options: &'a VerifyOptions,
    /// The interpreter's flags (see [`check_python`]).
    flags: Vec<&'static str>,
    driver: PathBuf,
    work: PathBuf,
    packaged: &'a Packaged,
    count: std::sync::atomic::AtomicUsize,
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
    fn both(&self, cases: &[(usize, &EventCase)]) -> Result<(Vec<Observed>, Vec<Observed>)> {
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
fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    let start = all.len().saturating_sub(lines);
    let mut out = all[start..].join("\n");
    if start > 0 {
        out.insert_str(0, &format!("[{start} earlier lines]\n"));
    }
    out
}

/// One line for an outcome: `returned {"a":1}`, `raised ValueError: bad`.
fn outcome_text(outcome: &Value) -> String {
    if let Some(ret) = outcome.get("return") {
        return match (ret.get("json"), ret.get("repr")) {
            (Some(json), _) => format!("returned {}", json.as_str().unwrap_or("")),
            (None, Some(repr)) => format!("returned (not JSON) {}", repr.as_str().unwrap_or("")),
            _ => "returned".into(),
        };
    }
    let error = |e: &Value| {
        format!(
            "{}: {}",
            e["type"].as_str().unwrap_or("?"),
            e["message"].as_str().unwrap_or("")
        )
    };
    if let Some(e) = outcome.get("raised") {
        return format!("raised {}", error(e));
    }
    if let Some(e) = outcome.get("init_raised") {
        return format!("init raised {}", error(e));
    }
    if let Some(init) = outcome.get("init") {
        return format!("init did not finish: {}", outcome_text(init));
    }
    if let Some(t) = outcome.get("timed_out") {
        return format!("timed out {}", t.as_str().unwrap_or(""));
    }
    if let Some(c) = outcome.get("crashed") {
        return format!("the interpreter crashed ({})", c.as_str().unwrap_or(""));
    }
    if let Some(r) = outcome.get("not_run") {
        return format!("not run: {}", r.as_str().unwrap_or(""));
    }
    outcome.to_string()
}

/// The short form for the per-event line.
fn outcome_kind(outcome: &Value) -> String {
    if outcome.get("return").is_some() {
        "returned".into()
    } else if let Some(e) = outcome.get("raised") {
        format!("raised {}", e["type"].as_str().unwrap_or("?"))
    } else if let Some(e) = outcome.get("init_raised") {
        format!("init raised {}", e["type"].as_str().unwrap_or("?"))
    } else {
        outcome_text(outcome)
    }
}

/// The end of an event's line: its outcome, or what differs.
fn summary(r: &EventResult) -> String {
    let (expected, got) = (&r.expected, &r.got);
    if r.identical {
        outcome_kind(&got.outcome)
    } else if expected.outcome != got.outcome {
        format!(
            "expected {}, got {}",
            outcome_kind(&expected.outcome),
            outcome_kind(&got.outcome)
        )
    } else if got.timed_out() {
        format!("both {}", outcome_text(&got.outcome))
    } else if expected.stdout != got.stdout {
        format!("{}, but stdout differs", outcome_kind(&got.outcome))
    } else {
        format!(
            "{}, but wrote into the read-only task root",
            outcome_kind(&got.outcome)
        )
    }
}

/// At most `max` characters of `text` around byte `at`, marked where cut.
fn excerpt(text: &str, at: usize, max: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    let at = text[..at.min(text.len())].chars().count();
    if chars.len() <= max {
        return format!("{text:?}");
    }
    let start = at.saturating_sub(max / 3);
    let end = (start + max).min(chars.len());
    let piece: String = chars[start..end].iter().collect();
    format!(
        "{}{piece:?}{} ({} characters in all)",
        if start > 0 { "…" } else { "" },
        if end < chars.len() { "…" } else { "" },
        chars.len()
    )
}

/// Byte index of the first difference of `a` and `b` (on a char boundary).
fn first_difference(a: &str, b: &str) -> usize {
    a.char_indices()
        .zip(b.chars())
        .find(|((_, x), y)| x != y)
        .map(|((i, _), _)| i)
        .unwrap_or(a.len().min(b.len()))
}

const EXCERPT_CHARS: usize = 300;

impl Verification {
    /// The first differing event and mode.
    pub fn first_difference(&self) -> Option<&EventResult> {
        self.results.iter().find(|r| !r.identical)
    }

    /// One line per event and mode, then a summary line.
    pub fn text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "verify {}: unpackaged unit vs the artifacts in {} ({})",
            self.handler,
            self.dist.display(),
            self.python
        );
        let width = self
            .results
            .iter()
            .map(|r| r.event.chars().count())
            .max()
            .unwrap_or(5)
            .max(5);
        for r in &self.results {
            let _ = writeln!(
                s,
                "  {:<5} {:<width$}  {:<9}  {}",
                r.mode.label(),
                r.event,
                if r.identical { "identical" } else { "DIFFERS" },
                summary(r)
            );
        }
        let events = self.results.len() / 2;
        match self.first_difference() {
            None => {
                let _ = writeln!(
                    s,
                    "identical: {events} event(s), each in a fresh process (cold) and all in one process (warm), give the same result and output from the artifacts alone"
                );
            }
            Some(r) => {
                let _ = writeln!(
                    s,
                    "differs: first at event `{}` ({})",
                    r.event,
                    r.mode.label()
                );
            }
        }
        s
    }

    /// The whole comparison, for `--format json`.
    pub fn json(&self) -> Value {
        let first = self
            .first_difference()
            .map(|r| serde_json::json!({"event": r.event, "mode": r.mode}));
        serde_json::json!({
            "handler": self.handler,
            "dist": self.dist,
            "python": self.python,
            "identical": first.is_none(),
            "first_difference": first,
            "results": self.results,
        })
    }

    /// The message for exit 1: the first differing event and mode, the
    /// difference, and where the packaged run loaded its modules from.
    pub fn difference(&self) -> Option<String> {
        let r = self.first_difference()?;
        let (expected, got) = (&r.expected, &r.got);
        let mut s = String::new();
        let _ = writeln!(
            s,
            "event `{}` ({}) differs between the unpackaged unit and the artifacts in {}:",
            r.event,
            r.mode.label(),
            self.dist.display()
        );
        if expected.outcome != got.outcome {
            let (a, b) = (outcome_text(&expected.outcome), outcome_text(&got.outcome));
            let at = first_difference(&a, &b);
            let _ = writeln!(
                s,
                "  result\n    expected: {}\n    got:      {}",
                excerpt(&a, at, EXCERPT_CHARS),
                excerpt(&b, at, EXCERPT_CHARS)
            );
        }
        if expected.stdout != got.stdout {
            let (a, b) = (&expected.stdout, &got.stdout);
            let line = a.lines().zip(b.lines()).take_while(|(x, y)| x == y).count();
            let pick = |t: &str| t.lines().nth(line).unwrap_or("<no such line>").to_string();
            let (x, y) = (pick(a), pick(b));
            let at = first_difference(&x, &y);
            let _ = writeln!(
                s,
                "  stdout, first difference at line {} ({} vs {} lines)\n    expected: {}\n    got:      {}",
                line + 1,
                a.lines().count(),
                b.lines().count(),
                excerpt(&x, at, EXCERPT_CHARS),
                excerpt(&y, at, EXCERPT_CHARS)
            );
        }
        if expected.outcome == got.outcome && got.timed_out() {
            let _ = writeln!(
                s,
                "  both runs {}: nothing to compare (raise --event-timeout if the event is that slow)",
                outcome_text(&got.outcome)
            );
        }
        if !got.task_root_writes.is_empty() {
            const SHOWN: usize = 10;
            let _ = writeln!(
                s,
                "  the packaged run wrote into its task root, which is read-only on Lambda (/var/task); write under /tmp instead:"
            );
            for path in got.task_root_writes.iter().take(SHOWN) {
                let _ = writeln!(s, "    {path}");
            }
            if got.task_root_writes.len() > SHOWN {
                let _ = writeln!(s, "    … {} more", got.task_root_writes.len() - SHOWN);
            }
        }
        let row = |m: &Value| {
            let name = m["name"].as_str().unwrap_or("?");
            let tier = m["tier"].as_str().unwrap_or("-");
            let mut line = if m["loaded"] == true {
                format!(
                    "    {name}  {tier}  {}",
                    m["file"].as_str().unwrap_or("(no file)")
                )
            } else {
                format!("    {name}  not loaded")
            };
            if let Some(c) = m.get("catalogue") {
                let _ = write!(
                    line,
                    "  [catalogue: {} {}{}; expected at {}]",
                    c["tier"].as_str().unwrap_or("?"),
                    c["path"].as_str().unwrap_or(""),
                    c["bundle"]
                        .as_str()
                        .map(|b| format!(", bundle s3/{b}.zip"))
                        .unwrap_or_default(),
                    m["expected"].as_str().unwrap_or("?")
                );
            } else {
                line.push_str("  [not in the catalogue]");
            }
            line
        };
        if !got.error_modules.is_empty() {
            let _ = writeln!(
                s,
                "  the module the error names, and its parents, in the packaged run:"
            );
            for m in &got.error_modules {
                let _ = writeln!(s, "{}", row(m));
            }
        }
        // The failing process's modules: in warm mode, those its earlier
        // events loaded too.
        let loaded: Vec<&Value> = match r.mode {
            Mode::Cold => got.modules.iter().collect(),
            Mode::Warm => self
                .results
                .iter()
                .filter(|o| o.mode == Mode::Warm)
                .take_while(|o| !std::ptr::eq(*o, r))
                .chain(std::iter::once(r))
                .flat_map(|o| &o.got.modules)
                .collect(),
        };
        if !loaded.is_empty() {
            const SHOWN: usize = 60;
            let _ = writeln!(
                s,
                "  where the packaged run loaded its modules from ({} from the package's tiers or the catalogue):",
                loaded.len()
            );
            for m in loaded.iter().take(SHOWN) {
                let _ = writeln!(s, "{}", row(m));
            }
            if loaded.len() > SHOWN {
                let _ = writeln!(
                    s,
                    "    … {} more (all of them with --format json)",
                    loaded.len() - SHOWN
                );
            }
        }
        for (who, o) in [("unpackaged", expected), ("packaged", got)] {
            if let Some(tb) = &o.traceback {
                let _ = writeln!(
                    s,
                    "  traceback of the {who} run:\n{}",
                    indent(&tail(tb, 25))
                );
            }
            if let Some(err) = &o.stderr {
                let _ = writeln!(s, "  stderr of the {who} run:\n{}", indent(err));
            }
        }
        Some(s.trim_end().to_string())
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_show_where_long_texts_differ() {
        let a = format!("{}X{}", "a".repeat(1000), "b".repeat(1000));
        let b = format!("{}Y{}", "a".repeat(1000), "b".repeat(1000));
        let at = first_difference(&a, &b);
        assert_eq!(at, 1000);
        let shown = excerpt(&a, at, 300);
        assert!(shown.contains('X') && shown.starts_with('…'), "{shown}");
        assert!(shown.contains("2001 characters in all"), "{shown}");
        assert_eq!(excerpt("short", 0, 300), "\"short\"");
        assert_eq!(first_difference("abc", "abcd"), 3);
    }

    #[test]
    fn outcomes_read_as_sentences() {
        let raised = serde_json::json!({"raised": {"type": "ValueError", "message": "bad"}});
        assert_eq!(outcome_text(&raised), "raised ValueError: bad");
        let ret = serde_json::json!({"return": {"json": "{\"a\":1}"}});
        assert_eq!(outcome_text(&ret), "returned {\"a\":1}");
        assert_eq!(outcome_kind(&raised), "raised ValueError");
    }
}
