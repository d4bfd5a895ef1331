//! The commands behind the CLI: each takes plain arguments, runs the pipeline
//! stages it needs and writes its output to stdout.

use crate::analysis::{Analysis, Coverage};
use crate::config::{Overrides, Unit};
use crate::error::{Error, Result};
use crate::progress::Progress;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// Where the unit is and the flags that override its YAML.
#[derive(Debug, Clone)]
pub struct UnitArgs {
    pub dir: PathBuf,
    pub handler: Option<String>,
    pub source: Option<PathBuf>,
    pub site_packages: Vec<PathBuf>,
}

impl UnitArgs {
    pub fn load(&self) -> Result<Unit> {
        Unit::load(
            &self.dir,
            &Overrides {
                handler: self.handler.clone(),
                source: self.source.clone(),
                site_packages: self.site_packages.clone(),
            },
        )
    }
}

pub struct AnalyzeArgs {
    pub unit: UnitArgs,
    pub format: Format,
    pub dot: Option<PathBuf>,
    pub why: Option<String>,
    /// Parse every module, not only those the handler reaches.
    pub full: bool,
    /// Observed statistics files (`--stats`).
    pub stats: Vec<PathBuf>,
}

pub fn analyze(args: &AnalyzeArgs) -> Result<()> {
    let unit = args.unit.load()?;
    // Explaining an unreachable module needs the imports of unreachable
    // modules too; so does a complete graph.
    let coverage = if args.full || args.why.is_some() {
        Coverage::Full
    } else {
        Coverage::Reachable
    };
    // Statistics are read first: a bad file should fail before the scan.
    let stats = load_stats(&args.stats)?;
    let analysis = Analysis::run(unit, coverage, &Progress::for_stderr())?;
    let usage = crate::usage::classify(&analysis, stats.as_ref());
    if let Some(path) = &args.dot {
        std::fs::write(path, crate::report::analyze::dot(&analysis))
            .map_err(|e| Error::io(path, e))?;
    }
    let output = match (&args.why, args.format) {
        (Some(module), _) => {
            let lazy = crate::lazy_bindings::choose(&analysis, &usage, stats.as_ref());
            crate::report::analyze::why(&analysis, &usage, &lazy, module)?
        }
        (None, Format::Text) => crate::report::analyze::text(&analysis, &usage),
        (None, Format::Json) => crate::report::analyze::json(&analysis, &usage),
    };
    // The process ends here: handing the analysis' ~100 MB of small
    // allocations back one by one would only delay the exit.
    std::mem::forget(analysis);
    std::mem::forget(usage);
    write_stdout(&output)
}

fn write_stdout(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|_| stdout.flush())
    {
        // A closed pipe (`| head`) is not an error worth reporting.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.map_err(|e| Error::io(std::path::Path::new("<stdout>"), e)),
    }
}

pub struct TraceArgs {
    pub unit: UnitArgs,
    pub events: PathBuf,
    pub out: PathBuf,
    pub python: String,
    pub fork: bool,
    pub track_calls: bool,
    pub event_timeout_s: f64,
    pub format: Format,
}

/// `caios-pack trace`: writes the statistics file, prints a summary (or the
/// statistics document with `--format json`), and fails with exit 1 and the
/// tracebacks when an event raised.
pub fn trace(args: &TraceArgs) -> Result<()> {
    let unit = args.unit.load()?;
    let events = crate::trace::load_events(&args.events)?;
    let options = crate::trace::TraceOptions {
        python: args.python.clone(),
        fork: args.fork,
        track_calls: args.track_calls,
        event_timeout_s: args.event_timeout_s,
    };
    let run = crate::trace::run(&unit, &events, &options)?;
    std::fs::write(&args.out, &run.document).map_err(|e| Error::io(&args.out, e))?;
    let output = match args.format {
        Format::Text => crate::trace::summary(&run, &unit, &args.out),
        Format::Json => run.document.clone(),
    };
    write_stdout(&output)?;
    match crate::trace::failures(&run) {
        Some(failures) => Err(Error::Failed(format!(
            "the handler failed on some events (statistics were still written to {}):\n{failures}",
            args.out.display()
        ))),
        None => Ok(()),
    }
}

pub struct VerifyArgs {
    pub unit: UnitArgs,
    /// The output folder of `caios-pack package`.
    pub dist: PathBuf,
    pub events: PathBuf,
    pub python: String,
    pub event_timeout: std::time::Duration,
    pub format: Format,
}

/// `caios-pack verify`: the unit unpackaged and its artifacts alone, on the
/// same events, cold and warm; exit 1 naming the first difference.
pub fn verify(args: &VerifyArgs) -> Result<()> {
    let unit = args.unit.load()?;
    let events = crate::trace::load_events(&args.events)?;
    let verification = crate::verify::run(
        &unit,
        &events,
        &crate::verify::VerifyOptions {
            dist: args.dist.clone(),
            python: args.python.clone(),
            event_timeout: args.event_timeout,
        },
    )?;
    let output = match args.format {
        Format::Text => verification.text(),
        Format::Json => format!("{:#}\n", verification.json()),
    };
    write_stdout(&output)?;
    match verification.difference() {
        Some(message) => Err(Error::Failed(message)),
        None => Ok(()),
    }
}

pub struct OptimizeArgs {
    pub unit: UnitArgs,
    pub max_latency: Option<String>,
    pub stats: Vec<PathBuf>,
    pub time_limit: std::time::Duration,
    pub format: Format,
}

/// Bytes the package needs besides the unit's own files: the runtime
/// importer, the entry module and the catalogue.
pub const RESERVED_PACKAGE_BYTES: u64 = 2_000_000;

/// `caios-pack optimize`: solve the placement and explain it; exit 1 with
/// the binding limit and the smallest achievable cold start when the
/// constraints cannot be met.
pub fn optimize(args: &OptimizeArgs) -> Result<()> {
    let unit = args.unit.load()?;
    let settings = crate::plan::Settings::from_unit(
        &unit,
        args.max_latency.as_deref(),
        args.time_limit,
        RESERVED_PACKAGE_BYTES,
    )?;
    let stats = load_stats(&args.stats)?;
    let analysis = Analysis::run(unit, Coverage::Reachable, &Progress::for_stderr())?;
    let usage = crate::usage::classify(&analysis, stats.as_ref());
    let groups = build_groups(&analysis, &usage);
    let handler = format!(
        "{}.{}",
        analysis.unit.handler_module, analysis.unit.handler_function
    );
    match crate::plan::optimize(&groups, &settings) {
        Ok(plan) => {
            let output = match args.format {
                Format::Text => crate::report::optimize::text(&plan, &groups, &handler),
                Format::Json => crate::report::optimize::json(&plan, &groups),
            };
            write_stdout(&output)
        }
        Err(infeasible) => {
            if args.format == Format::Json {
                write_stdout(&crate::report::optimize::infeasible_json(&infeasible))?;
            }
            Err(Error::Infeasible(
                crate::report::optimize::infeasible_message(&infeasible),
            ))
        }
    }
}

/// The placement groups, warning about pins that do not do what they say.
fn build_groups(analysis: &Analysis, usage: &crate::usage::UsageTable) -> Vec<crate::plan::Group> {
    let pins = &analysis.unit.pins;
    let groups = crate::plan::groups::build(analysis, usage, pins);
    for warning in crate::plan::groups::pin_warnings(analysis, &groups, pins) {
        eprintln!("caios-pack: warning: caios-pack.yaml: {warning}");
    }
    groups
}

/// Reads `--stats` files, warning about skipped lines on stderr.
fn load_stats(paths: &[PathBuf]) -> Result<Option<crate::stats::Stats>> {
    if paths.is_empty() {
        return Ok(None);
    }
    let stats = crate::stats::Stats::load(paths)?;
    if stats.cold_starts == 0 && stats.invocations == 0 {
        // E.g. the log export of a function that has not started yet.
        eprintln!(
            "caios-pack: warning: no observations in the statistics given; placing by the static analysis alone"
        );
        return Ok(None);
    }
    for problem in &stats.problems {
        eprintln!("caios-pack: warning: {problem}");
    }
    if stats.skipped_lines > stats.problems.len() as u64 {
        eprintln!(
            "caios-pack: warning: {} malformed statistics lines skipped in all",
            stats.skipped_lines
        );
    }
    Ok(Some(stats))
}

pub struct PackageArgs {
    pub optimize: OptimizeArgs,
    pub out: PathBuf,
    pub bucket: Option<String>,
    pub prefix: String,
    pub efs_mount: String,
    pub python: String,
    /// Also write `OUT/report.html`.
    pub report: bool,
    /// CI mode: check that the unit fits and meets the budget; write nothing.
    pub check: bool,
    /// Events to run `verify` with once the artifacts are written.
    pub verify: Option<PathBuf>,
}

/// The patched modules a verify failure names, else all of them.
fn suspects(lazy: &crate::lazy_bindings::LazyBindings, difference: &str) -> String {
    let mut named: Vec<&str> = lazy
        .patches
        .iter()
        .map(|p| p.module.as_str())
        .filter(|m| difference.contains(m))
        .collect();
    if named.is_empty() {
        named = lazy.patches.iter().map(|p| p.module.as_str()).collect();
    }
    named.sort_unstable();
    named.dedup();
    let more = named.len().saturating_sub(5);
    let mut text = named[..named.len().min(5)].join(", ");
    if more > 0 {
        text.push_str(&format!(" and {more} more"));
    }
    format!("patched modules: {text}")
}

/// `caios-pack package`: analyze + optimize + emit. Needs no AWS account:
/// bundles stay in `OUT/s3/` until `upload`.
pub fn package(args: &PackageArgs) -> Result<()> {
    let o = &args.optimize;
    let unit = o.unit.load()?;
    let settings = crate::plan::Settings::from_unit(
        &unit,
        o.max_latency.as_deref(),
        o.time_limit,
        RESERVED_PACKAGE_BYTES,
    )?;
    let stats = load_stats(&o.stats)?;
    // A bad events file fails before the analysis, as a bad --stats does.
    let verify_events = match &args.verify {
        Some(path) if !args.check => Some(crate::trace::load_events(path)?),
        _ => None,
    };
    let analysis = Analysis::run(unit, Coverage::Reachable, &Progress::for_stderr())?;
    let unpatched_usage = crate::usage::classify(&analysis, stats.as_ref());
    let mut lazy = crate::lazy_bindings::choose(&analysis, &unpatched_usage, stats.as_ref());
    for file in &lazy.unreadable {
        eprintln!("caios-pack: warning: {file}: not parsed, so left without lazy bindings");
    }
    if verify_events.is_none() && !lazy.patches.is_empty() {
        lazy.status = format!(
            "not applied: {} statements qualify, but lazy bindings are emitted only when `verify` passes with them (pass --verify EVENTS)",
            lazy.patches.len()
        );
    }
    // With patches, the plan places what they defer as deferred; should
    // verify reject them, the unpatched plan is made and emitted instead.
    let patching = verify_events.is_some() && !lazy.patches.is_empty();
    let mut usage = match (patching, stats.as_ref()) {
        (true, Some(stats)) => {
            crate::lazy_bindings::apply(&analysis, &unpatched_usage, stats, &lazy)
        }
        _ => unpatched_usage.clone(),
    };
    let mut groups = build_groups(&analysis, &usage);
    let mut options = crate::emit::EmitOptions {
        out: args.out.clone(),
        bucket: args.bucket.clone(),
        prefix: args.prefix.clone(),
        efs_mount: args.efs_mount.clone(),
        python: args.python.clone(),
        lazy_lines: if patching {
            lazy.lines()
        } else {
            Default::default()
        },
    };
    if args.check {
        return check(&analysis, &usage, &groups, &settings, &options, o.format);
    }
    let optimize = |groups: &[crate::plan::Group]| {
        crate::plan::optimize(groups, &settings)
            .map_err(|i| Error::Infeasible(crate::report::optimize::infeasible_message(&i)))
    };
    let mut plan = optimize(&groups)?;
    let handler = format!(
        "{}.{}",
        analysis.unit.handler_module, analysis.unit.handler_function
    );
    let verify = |events: &[crate::trace::EventCase]| {
        crate::verify::run(
            &analysis.unit,
            events,
            &crate::verify::VerifyOptions {
                dist: args.out.clone(),
                python: args.python.clone(),
                event_timeout: crate::verify::DEFAULT_EVENT_TIMEOUT,
            },
        )
    };
    let mut emitted = crate::emit::emit(&analysis, &usage, &groups, &plan, &options)?;
    let mut verification = verify_events.as_deref().map(verify).transpose()?;
    if !emitted.lazy_bindings.is_empty() {
        let failed = verification.as_ref().and_then(|v| v.difference());
        match failed {
            None => {
                lazy.status = format!(
                    "applied: {} statements, and verify passed with them",
                    emitted.lazy_bindings.len()
                )
            }
            Some(difference) => {
                // Never ship a patch verify rejects: plan and emit unpatched.
                let suspects = suspects(&lazy, &difference);
                eprintln!(
                    "caios-pack: warning: verify failed with lazy bindings ({suspects}); emitting the package without them:\n{difference}"
                );
                lazy.status = format!("withdrawn: verify failed with them ({suspects})");
                options.lazy_lines.clear();
                usage = unpatched_usage;
                groups = build_groups(&analysis, &usage);
                plan = optimize(&groups)?;
                emitted = crate::emit::emit(&analysis, &usage, &groups, &plan, &options)?;
                verification = verify_events.as_deref().map(verify).transpose()?;
            }
        }
    } else if patching {
        lazy.status = "none applied: the compiler found none of the statements".into();
    } else if lazy.status.is_empty() {
        lazy.status = "none: no module-level import qualifies".into();
    }
    let plan_path = args.out.join("plan.json");
    std::fs::write(
        &plan_path,
        crate::report::optimize::package_json(&plan, &groups, &analysis, &usage, &emitted, &lazy),
    )
    .map_err(|e| Error::io(&plan_path, e))?;
    let report = if args.report {
        Some(write_report(&args.out, None)?)
    } else {
        None
    };
    let mut summary = match o.format {
        Format::Json => {
            let mut doc =
                serde_json::json!({"plan": &plan, "emitted": &emitted, "lazy_bindings": &lazy});
            if let Some(v) = &verification {
                doc["verify"] = v.json();
            }
            serde_json::to_string_pretty(&doc).unwrap_or_default()
        }
        Format::Text => format!(
            "{}\nlazy bindings: {}\nwrote {}:\n  deployment.zip  {} zipped, {} unzipped (Lambda handler: caios_entry.handler; {} .pyc compiled){}\n  s3/            {} bundles, {}\n  efs/           {} files, {} (digest {})\n  catalogue.json, plan.json, iam-policy.json, efs-manifest.yaml\n",
            crate::report::optimize::text(&plan, &groups, &handler),
            lazy.status,
            args.out.display(),
            crate::report::human_bytes(emitted.zip_bytes),
            crate::report::human_bytes(emitted.zip_unzipped_bytes),
            emitted.pyc_compiled,
            if emitted.zip_bytes > 50_000_000 { " — over the 50 MB direct-upload limit: upload it through S3" } else { "" },
            emitted.bundles,
            crate::report::human_bytes(emitted.s3_bytes),
            emitted.efs_files,
            crate::report::human_bytes(emitted.efs_bytes),
            crate::contract::efs_tree_name(&emitted.efs_digest),
        ),
    };
    if let (Some(path), Format::Text) = (report, o.format) {
        summary.push_str(&format!("  report.html    {}\n", path.display()));
    }
    if let (Some(v), Format::Text) = (&verification, o.format) {
        summary.push_str(&v.text());
    }
    write_stdout(&summary)?;
    match verification.as_ref().and_then(|v| v.difference()) {
        Some(message) => Err(Error::Failed(format!(
            "{message}\nthe artifacts stay in {} for inspection",
            args.out.display()
        ))),
        None => Ok(()),
    }
}

/// `package --check`: everything `package` computes, nothing written. Exit 0
/// when the unit fits and meets the budget, 1 with a one-line reason when
/// not; `--format json` prints a summary either way.
fn check(
    analysis: &Analysis,
    usage: &crate::usage::UsageTable,
    groups: &[crate::plan::Group],
    settings: &crate::plan::Settings,
    options: &crate::emit::EmitOptions,
    format: Format,
) -> Result<()> {
    let limit = crate::emit::package_limit(analysis);
    let fail = |reason: String, extra: serde_json::Value| -> Result<()> {
        if format == Format::Json {
            let mut doc =
                serde_json::json!({"fits": false, "reason": reason, "limit_bytes": limit});
            if let (Some(doc), Some(extra)) = (doc.as_object_mut(), extra.as_object()) {
                doc.extend(extra.clone());
            }
            write_stdout(&format!("{doc:#}\n"))?;
        }
        Err(Error::Infeasible(reason))
    };
    let plan = match crate::plan::optimize(groups, settings) {
        Ok(plan) => plan,
        Err(i) => {
            return fail(
                crate::report::optimize::infeasible_message(&i),
                serde_json::json!({"binding": i.binding, "min_latency_ms": i.min_latency_ms}),
            )
        }
    };
    let prepared = match crate::emit::prepare(analysis, usage, groups, &plan, options) {
        Ok(prepared) => prepared,
        Err(Error::Infeasible(reason)) => {
            return fail(
                reason,
                serde_json::json!({"binding": "deployment package size"}),
            )
        }
        Err(other) => return Err(other),
    };
    let unzipped = prepared.unzipped_bytes;
    let budget = plan
        .max_latency_ms
        .map_or("no budget".to_string(), |m| format!("budget {m:.0} ms"));
    let output = match format {
        Format::Json => format!(
            "{:#}\n",
            serde_json::json!({
                "fits": true,
                "unzipped_bytes": unzipped,
                "limit_bytes": limit,
                "zip_bytes": prepared.zip_bytes(),
                "cold_start_ms": plan.cold_start_ms,
                "max_latency_ms": plan.max_latency_ms,
                "monthly_usd": plan.cost.total_usd,
                "bytes": plan.bytes,
                "regime": plan.regime,
                "solver": plan.status,
            })
        ),
        Format::Text => format!(
            "ok: deployment.zip would unzip to {} of {} ({:.1}%), {} zipped{}; modelled cold start {:.0} ms ({budget}); ${:.2}/month\n",
            crate::report::human_bytes(unzipped),
            crate::report::human_bytes(limit),
            unzipped as f64 * 100.0 / limit.max(1) as f64,
            crate::report::human_bytes(prepared.zip_bytes()),
            if prepared.zip_bytes() > 50_000_000 { " (over 50 MB: deploy it through S3)" } else { "" },
            plan.cold_start_ms,
            plan.cost.total_usd
        ),
    };
    write_stdout(&output)
}

/// `caios-pack report DIST [--out FILE]`: the HTML report of a package
/// output, from its `plan.json`; returns where it was written.
pub fn report(dist: &Path, out: Option<&Path>) -> Result<()> {
    let path = write_report(dist, out)?;
    write_stdout(&format!("wrote {}\n", path.display()))
}

fn write_report(dist: &Path, out: Option<&Path>) -> Result<PathBuf> {
    let plan_path = dist.join("plan.json");
    let text = std::fs::read_to_string(&plan_path).map_err(|e| {
        Error::input(format!(
            "{}: cannot read: {e}; pass the output folder of `caios-pack package`",
            plan_path.display()
        ))
    })?;
    let plan: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        Error::input(format!(
            "{}:{}:{}: not a plan: {e}",
            plan_path.display(),
            e.line(),
            e.column()
        ))
    })?;
    if plan.get("files").is_none() {
        return Err(Error::input(format!(
            "{}: has no `files` list; it was not written by `caios-pack package` (rerun package)",
            plan_path.display()
        )));
    }
    let html = crate::report::html::render(&plan)?;
    let path = out.map_or_else(|| dist.join("report.html"), Path::to_path_buf);
    std::fs::write(&path, html).map_err(|e| Error::io(&path, e))?;
    Ok(path)
}

/// `caios-pack efs-sync DIST --root MOUNT`.
pub fn efs_sync(dist: &Path, root: &Path, format: Format) -> Result<()> {
    let report = crate::efs_sync::sync(dist, root)?;
    let text = match format {
        Format::Json => serde_json::to_string_pretty(&report).unwrap_or_default(),
        Format::Text => format!(
            "EFS tree {}: copied {} files ({}), {} already present ({})\n",
            report.tree,
            report.copied,
            crate::report::human_bytes(report.copied_bytes),
            report.skipped,
            crate::report::human_bytes(report.skipped_bytes)
        ),
    };
    write_stdout(&text)
}

/// `caios-pack upload DIST --bucket B [--prefix P]`.
pub fn upload(options: &crate::upload::UploadOptions, format: Format) -> Result<()> {
    let report = crate::upload::upload(options, &Progress::for_stderr())?;
    let text = match format {
        Format::Json => serde_json::to_string_pretty(&report).unwrap_or_default(),
        Format::Text => format!(
            "s3://{}/{}: uploaded {} bundles ({}), skipped {} already there ({})\n",
            report.bucket,
            report.prefix,
            report.uploaded,
            crate::report::human_bytes(report.uploaded_bytes),
            report.skipped,
            crate::report::human_bytes(report.skipped_bytes)
        ),
    };
    write_stdout(&text)
}
