//! The command line: one file per subcommand, each holding its clap
//! arguments beside the code that runs it, plus the pieces they share.
//!
//! Input: the parsed [`Cli`]. Output: the subcommand's text or JSON on
//! stdout, and an [`Error`] whose exit code `main` returns.

mod analyze;
mod efs_sync;
mod optimize;
mod package;
mod report;
mod trace;
mod upload;
mod verify;

use crate::analysis::{Analysis, Coverage};
use crate::config::{Overrides, Unit};
use crate::error::{Error, Result};
use crate::progress::Progress;
use clap::{Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;

pub use analyze::AnalyzeArgs;
pub use efs_sync::EfsSyncArgs;
pub use optimize::OptimizeArgs;
pub use package::PackageArgs;
pub use report::ReportArgs;
pub use trace::TraceArgs;
pub use upload::UploadArgs;
pub use verify::VerifyArgs;

#[derive(Parser)]
#[command(
    name = "caios-pack",
    version,
    about = "Make large Python serverless functions deployable and fast to start"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the handler on sample events and record what each phase imports.
    Trace(TraceArgs),
    /// Place every file on local, EFS or S3 under a latency budget; print the plan.
    Optimize(OptimizeArgs),
    /// Optimize, then write deployment.zip, the EFS tree, S3 bundles and the catalogue.
    Package(PackageArgs),
    /// Run the unit unpackaged and from a package output alone on the same
    /// events, cold and warm; exit 1 naming the first difference.
    Verify(VerifyArgs),
    /// Write the HTML report (treemap of every file by tier and usage) of a package output.
    Report(ReportArgs),
    /// Upload a package output's S3 bundles (skips those already there).
    Upload(UploadArgs),
    /// Copy the EFS tree of a package output onto an EFS mount, verified.
    EfsSync(EfsSyncArgs),
    /// Import graph, sizes, what runs at cold start, later, or never.
    Analyze(AnalyzeArgs),
}

/// Runs one subcommand.
pub fn run(command: &Command) -> Result<()> {
    match command {
        Command::Trace(args) => trace::run(args),
        Command::Optimize(args) => optimize::run(args),
        Command::Package(args) => package::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Report(args) => report::run(args),
        Command::Upload(args) => upload::run(args),
        Command::EfsSync(args) => efs_sync::run(args),
        Command::Analyze(args) => analyze::run(args),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

// Where the unit is and the flags that override its YAML (no doc comment:
// clap would take it for help text).
#[derive(Debug, Clone, clap::Args)]
pub struct UnitArgs {
    /// The unit folder (holds caios-pack.yaml).
    #[arg(default_value = ".")]
    pub unit: PathBuf,
    #[command(flatten)]
    pub overrides: Overrides,
}

impl UnitArgs {
    pub fn load(&self) -> Result<Unit> {
        Unit::load(&self.unit, &self.overrides)
    }
}

/// What `optimize` and `package` read before the analysis, so that a bad
/// flag or statistics file fails before the (slow) scan.
struct Inputs {
    unit: Unit,
    settings: crate::plan::Settings,
    stats: Option<crate::stats::Stats>,
}

impl Inputs {
    fn read(args: &OptimizeArgs) -> Result<Inputs> {
        let unit = args.unit.load()?;
        let settings = crate::plan::Settings::from_unit(
            &unit,
            args.max_latency.as_deref(),
            args.time_limit(),
            crate::config::RESERVED_PACKAGE_BYTES,
        )?;
        let stats = load_stats(&args.stats)?;
        Ok(Inputs {
            unit,
            settings,
            stats,
        })
    }
}

/// scan → imports → graph of what the handler can reach.
fn analyze_reachable(unit: Unit) -> Result<Analysis> {
    Analysis::run(unit, Coverage::Reachable, &Progress::for_stderr())
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

/// Prints a command's report: pretty JSON, or `text` of it.
fn print_report<T: serde::Serialize>(
    format: Format,
    report: &T,
    text: impl FnOnce(&T) -> String,
) -> Result<()> {
    match format {
        Format::Json => write_stdout(&serde_json::to_string_pretty(report).unwrap_or_default()),
        Format::Text => write_stdout(&text(report)),
    }
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
