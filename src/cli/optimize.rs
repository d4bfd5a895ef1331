//! `caios-pack optimize`: places every file on local, EFS or S3 under a
//! latency budget and explains the plan.
//!
//! Input: the unit, its budget and optional statistics. Output: the plan
//! on stdout; exit 1 with the binding limit and the smallest achievable
//! cold start when the constraints cannot be met.

use super::{analyze_reachable, build_groups, write_stdout, Format, Inputs, UnitArgs};
use crate::error::{Error, Result};
use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Args)]
pub struct OptimizeArgs {
    #[command(flatten)]
    pub unit: UnitArgs,
    /// Modelled cold-start budget, e.g. 800ms or 1.5s; overrides budget.max_latency.
    #[arg(long, value_name = "DURATION")]
    pub max_latency: Option<String>,
    /// Observed statistics (see `analyze --stats`).
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pub stats: Vec<PathBuf>,
    /// Wall-clock limit for the solver, in seconds; the best plan found is
    /// reported with its status.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    pub time_limit: f64,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

impl OptimizeArgs {
    /// `--time-limit`, kept between 0.1 s and an hour.
    pub fn time_limit(&self) -> Duration {
        Duration::from_secs_f64(self.time_limit.clamp(0.1, 3600.0))
    }
}

pub fn run(args: &OptimizeArgs) -> Result<()> {
    let Inputs {
        unit,
        settings,
        stats,
    } = Inputs::read(args)?;
    let analysis = analyze_reachable(unit)?;
    let usage = crate::usage::classify(&analysis, stats.as_ref());
    let groups = build_groups(&analysis, &usage);
    let handler = analysis.unit.handler();
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
