//! `caios-pack report DIST [--out FILE]`: the HTML report of a package
//! output.
//!
//! Input: the package output's `plan.json`. Output: `report.html` (a
//! treemap of every file by tier and usage) and where it was written, on
//! stdout.

use super::write_stdout;
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct ReportArgs {
    /// The output folder of `caios-pack package`.
    pub dist: PathBuf,
    /// Where to write it (default: DIST/report.html).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

pub fn run(args: &ReportArgs) -> Result<()> {
    let path = write_report(&args.dist, args.out.as_deref())?;
    write_stdout(&format!("wrote {}\n", path.display()))
}

/// Renders `DIST/plan.json` into `out` (default `DIST/report.html`);
/// returns where it was written.
pub(super) fn write_report(dist: &Path, out: Option<&Path>) -> Result<PathBuf> {
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
