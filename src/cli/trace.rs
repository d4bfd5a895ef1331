//! `caios-pack trace`: runs the handler on sample events and records what
//! each phase imports.
//!
//! Input: the unit and an events file. Output: the statistics file (the
//! input of `--stats`) and a summary, or that document, on stdout.

use super::{write_stdout, Format, UnitArgs};
use crate::error::{Error, Result};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct TraceArgs {
    #[command(flatten)]
    pub unit: UnitArgs,
    /// Sample events: {"tests": [{"name", "event", "context"}]} or a JSON list.
    #[arg(long, value_name = "FILE")]
    pub events: PathBuf,
    /// Where to write the statistics (the input of --stats).
    #[arg(long, value_name = "FILE", default_value = "caios-trace.json")]
    pub out: PathBuf,
    /// The interpreter to run the handler with (the Lambda runtime's version).
    #[arg(long, default_value = "python3")]
    pub python: String,
    /// Run the events one after another in the init process instead of each
    /// in its own process forked after init.
    #[arg(long)]
    pub no_fork: bool,
    /// Do not record which modules' functions ran (lower overhead).
    #[arg(long)]
    pub no_calls: bool,
    /// Seconds each event may run before its process is killed (exit 1).
    #[arg(long, value_name = "SECONDS", default_value_t = 600.0)]
    pub event_timeout: f64,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Writes the statistics file, prints a summary (or the statistics
/// document with `--format json`), and fails with exit 1 and the
/// tracebacks when an event raised.
pub fn run(args: &TraceArgs) -> Result<()> {
    let unit = args.unit.load()?;
    let events = crate::trace::load_events(&args.events)?;
    let options = crate::trace::TraceOptions {
        python: args.python.clone(),
        fork: !args.no_fork,
        track_calls: !args.no_calls,
        event_timeout_s: args.event_timeout,
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
