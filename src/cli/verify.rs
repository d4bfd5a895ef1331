//! `caios-pack verify`: the unit unpackaged and its package output alone,
//! on the same events, cold and warm.
//!
//! Input: the unit, a package output and an events file. Output: the
//! comparison on stdout; exit 1 naming the first difference.

use super::{write_stdout, Format, UnitArgs};
use crate::error::{Error, Result};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub unit: UnitArgs,
    /// The output folder of `caios-pack package` for this unit.
    #[arg(long, value_name = "DIR")]
    pub dist: PathBuf,
    /// Sample events: {"tests": [{"name", "event", "context"}]} or a JSON list.
    #[arg(long, value_name = "FILE")]
    pub events: PathBuf,
    /// The interpreter to run both with (the Lambda runtime's version).
    #[arg(long, default_value = "python3")]
    pub python: String,
    /// Seconds each event (and each process's init) may take.
    #[arg(long, value_name = "SECONDS", default_value_t = 300.0)]
    pub event_timeout: f64,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

pub fn run(args: &VerifyArgs) -> Result<()> {
    let unit = args.unit.load()?;
    let events = crate::trace::load_events(&args.events)?;
    let verification = crate::verify::run(
        &unit,
        &events,
        &crate::verify::VerifyOptions {
            dist: args.dist.clone(),
            python: args.python.clone(),
            event_timeout: std::time::Duration::from_secs_f64(
                args.event_timeout.clamp(0.1, 86_400.0),
            ),
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
