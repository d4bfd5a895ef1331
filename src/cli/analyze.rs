//! `caios-pack analyze`: the import graph, sizes, and what runs at cold
//! start, later, or never.
//!
//! Input: the unit and optional statistics. Output: the text or JSON
//! analysis on stdout, `--why MODULE`'s explanation, a Graphviz file.

use super::{load_stats, write_stdout, Format, UnitArgs};
use crate::analysis::{Analysis, Coverage};
use crate::error::{Error, Result};
use crate::progress::Progress;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct AnalyzeArgs {
    #[command(flatten)]
    pub unit: UnitArgs,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Also write a Graphviz file of the cold graph.
    #[arg(long, value_name = "FILE")]
    pub dot: Option<PathBuf>,
    /// Explain how the handler reaches MODULE (or why it does not).
    #[arg(long, value_name = "MODULE")]
    pub why: Option<String>,
    /// Parse every module, including those the handler cannot reach, so
    /// that the JSON graph also holds their imports (slower).
    #[arg(long)]
    pub full: bool,
    /// Observed statistics: `caios-pack trace` output, `python -X
    /// importtime` output, importer EMF log lines or their aggregate CSV
    /// (repeatable; merged).
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pub stats: Vec<PathBuf>,
}

pub fn run(args: &AnalyzeArgs) -> Result<()> {
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
