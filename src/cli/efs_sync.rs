//! `caios-pack efs-sync DIST --root MOUNT`: copies a package output's EFS
//! tree onto an EFS mount, verified.
//!
//! Input: the package output and the mount. Output: what was copied, on
//! stdout.

use super::{print_report, Format};
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
    print_report(args.format, &report, |report| {
        format!(
            "EFS tree {}: copied {} files ({}), {} already present ({})\n",
            report.tree,
            report.copied,
            crate::report::human_bytes(report.copied_bytes),
            report.skipped,
            crate::report::human_bytes(report.skipped_bytes)
        )
    })
}
