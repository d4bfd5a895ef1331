//! `caios-pack upload DIST [--bucket B] [--prefix P]`: uploads a package
//! output's S3 bundles, skipping those already there.
//!
//! Input: the package output and where to upload. Output: what was
//! uploaded, on stdout.

use super::{print_report, Format};
use crate::error::Result;
use crate::progress::Progress;
use crate::upload::UploadOptions;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct UploadArgs {
    /// The output folder of `caios-pack package`.
    pub dist: PathBuf,
    /// Bucket (default: the one given to `package`).
    #[arg(long)]
    pub bucket: Option<String>,
    /// Key prefix (default: the catalogue's).
    #[arg(long)]
    pub prefix: Option<String>,
    #[arg(long)]
    pub region: Option<String>,
    /// S3-compatible endpoint, e.g. http://127.0.0.1:9000 (also AWS_ENDPOINT_URL_S3).
    #[arg(long)]
    pub endpoint_url: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

pub fn run(args: &UploadArgs) -> Result<()> {
    let options = UploadOptions {
        dist: args.dist.clone(),
        bucket: args.bucket.clone(),
        prefix: args.prefix.clone(),
        region: args.region.clone(),
        endpoint_url: args.endpoint_url.clone(),
    };
    let report = crate::upload::upload(&options, &Progress::for_stderr())?;
    print_report(args.format, &report, |report| {
        format!(
            "s3://{}/{}: uploaded {} bundles ({}), skipped {} already there ({})\n",
            report.bucket,
            report.prefix,
            report.uploaded,
            crate::report::human_bytes(report.uploaded_bytes),
            report.skipped,
            crate::report::human_bytes(report.skipped_bytes)
        )
    })
}
