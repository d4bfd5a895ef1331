//! `caios-pack efs-sync DIST --root MOUNT`: copies a package output's EFS
//! tree onto an EFS mount, verified.
//!
//! Input: the package output and the mount. Output: what was copied, on
//! stdout.

use super::{write_stdout, Format};
use crate::error::Result;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct EfsSyncArgs {
    /// The output folder of `caios-pack package`.
    pub dist: PathBuf,
    /// Where the EFS file system (or access point) is mounted.
    #[arg(long)]
    pub root: PathBuf,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

pub fn run(args: &EfsSyncArgs) -> Result<()> {
    let report = crate::efs_sync::sync(&args.dist, &args.root)?;
    let text = match args.format {
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
