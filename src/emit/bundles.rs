//! bundles: one content-addressed zip per group placed on S3.
//!
//! Input: the placed files and the plan's tiers. Output: per S3 group, its
//! deterministic zip and SHA-256 (the bundle's name in `s3/`).

use super::placement::Placed;
use super::read;
use super::zip_writer::zip_bytes;
use crate::error::Result;
use crate::model::TierName;
use crate::plan::{Group, Plan};
use sha2::{Digest, Sha256};

/// An S3 bundle, compressed in memory and named by its SHA-256.
pub(super) struct Bundle {
    pub(super) group: usize,
    pub(super) sha: String,
    pub(super) zip: Vec<u8>,
    pub(super) unpacked: u64,
}

/// One content-addressed zip per S3 group, compressed in parallel.
pub(super) fn build_bundles(
    placed: &[Placed],
    groups: &[Group],
    plan: &Plan,
) -> Result<Vec<Bundle>> {
    use rayon::prelude::*;
    (0..groups.len())
        .filter(|&g| plan.tiers[g] == TierName::S3)
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|group| {
            let members: Vec<(&str, Vec<u8>, bool)> = placed
                .iter()
                .filter(|p| p.group == group)
                .map(|p| Ok((p.rel.as_ref(), read(&p.source)?, p.executable)))
                .collect::<Result<_>>()?;
            let unpacked = members.iter().map(|(_, b, _)| b.len() as u64).sum();
            let zip = zip_bytes(
                members
                    .iter()
                    .map(|(r, b, x)| (r.to_string(), b.as_slice(), *x)),
            )?;
            let sha = super::hex(&Sha256::digest(&zip));
            Ok(Bundle {
                group,
                sha,
                zip,
                unpacked,
            })
        })
        .collect()
}
