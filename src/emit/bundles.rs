//! bundles: one content-addressed zip per group placed on S3.
//!
//! Input: the placed files, the plan's tiers and the folder to write to.
//! Output: per S3 group, `<dir>/<sha256>.zip` written as it is compressed
//! (never held in memory), with its SHA-256, size and unpacked size.

use super::hex;
use super::placement::Placed;
use super::zip_writer::{write_zip, Member};
use crate::config::TierName;
use crate::error::{Error, Result};
use crate::plan::{Group, Plan};
use sha2::{Digest, Sha256};
use std::path::Path;

/// An S3 bundle written under its SHA-256.
pub(super) struct Bundle {
    pub(super) group: usize,
    pub(super) sha: String,
    /// Bytes of the zip.
    pub(super) size: u64,
    pub(super) unpacked: u64,
}

/// One content-addressed zip per S3 group, written to `dir` and compressed
/// in parallel; `scratch` holds the zips' chunks while they are merged.
pub(super) fn build_bundles(
    placed: &[Placed],
    groups: &[Group],
    plan: &Plan,
    dir: &Path,
    scratch: &Path,
) -> Result<Vec<Bundle>> {
    use rayon::prelude::*;
    (0..groups.len())
        .filter(|&g| plan.tiers[g] == TierName::S3)
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|group| {
            let members: Vec<Member> = placed
                .iter()
                .filter(|p| p.group == group)
                .map(|p| Member::file(p.rel.to_string(), &p.source, p.executable))
                .collect::<Result<_>>()?;
            let unpacked = members.iter().map(Member::len).sum();
            // Named by its group until its hash is known.
            let unnamed = dir.join(format!(".group-{group}.zip"));
            let size = write_zip(members, &unnamed, scratch)?;
            let sha = sha256_of_file(&unnamed)?;
            let named = dir.join(format!("{sha}.zip"));
            std::fs::rename(&unnamed, &named).map_err(|e| Error::io(&named, e))?;
            Ok(Bundle {
                group,
                sha,
                size,
                unpacked,
            })
        })
        .collect()
}

/// The SHA-256 of a file, read in blocks.
pub(super) fn sha256_of_file(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(|e| Error::io(path, e))?;
    Ok(hex(&hasher.finalize()))
}
