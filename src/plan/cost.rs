//! plan cost model: what a group adds on each tier.
//!
//! Input: a [`Group`], a tier and the [`Settings`]. Output: [`Coefficients`]
//! — cold-start, prefetch and first-invocation milliseconds, monthly dollars
//! and bytes, all linear in the placement — and the modelled cold start of a
//! whole placement (docs/model.md has the derivation).

use super::{Group, Settings};
use crate::config::TierName;

pub(super) const GB: f64 = 1e9;

/// A group's figures on one tier, all linear in the decision variables.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Coefficients {
    /// Cold-start milliseconds added directly.
    pub(super) latency_ms: f64,
    /// Milliseconds of prefetch download (S3 at init), before overlap.
    pub(super) download_ms: f64,
    /// Milliseconds of import that overlap a prefetch (local groups).
    pub(super) overlap_ms: f64,
    /// Milliseconds of inflating at init (S3): CPU work that imports do not
    /// hide, but zlib runs without the GIL, so bundles inflate in parallel
    /// where the function has more than one vCPU ([`extraction_ms`]). The
    /// per-file part of extraction (creating files from Python) holds the
    /// GIL: it is in `latency_ms`.
    pub(super) extract_ms: f64,
    /// The least an S3 group needed at init makes init wait: its bundle
    /// comes over one connection and is extracted before its first import,
    /// which may come early in init, so no import time is counted as overlap.
    pub(super) wait_floor_ms: f64,
    /// Of `latency_ms`: EFS round trips and reads at init.
    pub(super) efs_read_ms: f64,
    /// Monthly $ besides billed INIT.
    pub(super) usd: f64,
    pub(super) local_bytes: f64,
    pub(super) tmp_bytes: f64,
    /// Expected milliseconds added to the first invocation that needs it.
    pub(super) first_invocation_ms: f64,
}

pub(super) fn coefficients(s: &Settings, g: &Group, tier: TierName) -> Coefficients {
    let p = g.init_probability;
    let bytes = g.bytes as f64;
    let files = g.files.len() as f64;
    let w = &s.workload;
    // Containers that ever need the group: init, or a later invocation.
    let per_container = (g.invocation_probability * w.invocations_per_month
        / w.cold_starts_per_month.max(1.0))
    .min(1.0);
    let fetch_probability = (p * if w.snapstart { 0.0 } else { 1.0 }).max(per_container);
    // With SnapStart, init (imports and init-time fetches into /tmp) runs
    // once per published version and every cold start restores it.
    let per_cold_start = if w.snapstart { 0.0 } else { 1.0 };
    let p = p * per_cold_start;
    let mut c = Coefficients {
        latency_ms: p * g.import_ms,
        ..Coefficients::default()
    };
    match tier {
        TierName::Local => {
            c.local_bytes = bytes;
            c.overlap_ms = p * g.import_ms;
        }
        TierName::Efs => {
            let t = &s.tiers.efs;
            let ops = s.tiers.efs_ops_per_file;
            let throughput = t.throughput_mb_s.max(1e-9) * 1e3;
            // Init reads only what it loads: the files of its modules, the
            // data it opens and the libraries its extensions link, each a
            // few round trips (lookup, open, attributes) plus a lookup per
            // folder on the way; not every file the group holds.
            c.efs_read_ms = per_cold_start
                * (t.first_byte_ms * (ops * g.init_files + g.init_dirs)
                    + g.init_bytes / throughput);
            c.latency_ms += c.efs_read_ms;
            let read_ms = files * ops * t.first_byte_ms + bytes / throughput;
            c.first_invocation_ms = g.invocation_probability * (read_ms + g.import_ms);
            c.usd = bytes / GB * t.storage_usd_per_gb_month
                + fetch_probability * w.cold_starts_per_month * bytes / GB * t.read_usd_per_gb;
        }
        TierName::S3 => {
            let t = &s.tiers.s3;
            let k = f64::from(s.tiers.s3_prefetch_connections.max(1));
            let zipped = bytes * s.tiers.s3_zip_ratio;
            let transfer_ms = zipped / (t.throughput_mb_s.max(1e-9) * 1e3);
            let inflate_ms = bytes / (s.tiers.s3_extract_mb_s.max(1e-9) * 1e3);
            let create_ms = files * s.tiers.s3_extract_file_ms;
            let fetch_ms = t.first_byte_ms + transfer_ms + inflate_ms + create_ms;
            if p > 0.0 {
                // k connections wait for their first bytes in parallel but
                // share the function's link, so the transfer is not divided
                // by k; that download overlaps the local imports.
                c.download_ms = t.first_byte_ms / k + transfer_ms;
                // Extraction is the prefetch threads' CPU work: it competes
                // with the imports for the CPU, so imports hide none of it.
                // Inflating runs without the GIL, side by side on the vCPUs
                // the function has; creating files from Python holds it.
                c.extract_ms = p * inflate_ms;
                c.latency_ms += p * create_ms;
                // One bundle comes over one connection before its first
                // import, which may come early in init.
                c.wait_floor_ms = t.first_byte_ms + transfer_ms;
            }
            if g.init_probability > 0.0 {
                c.tmp_bytes = bytes; // fetched at init (with SnapStart: into the snapshot)
            }
            c.first_invocation_ms = g.invocation_probability * (fetch_ms + g.import_ms);
            if fetch_probability > 0.0 {
                c.tmp_bytes = bytes;
            }
            let requests = fetch_probability * w.cold_starts_per_month;
            c.usd = bytes / GB * t.storage_usd_per_gb_month
                + requests / 1000.0 * t.usd_per_1000_requests;
        }
    }
    c
}

pub(super) struct ClientCost {
    pub(super) at_init: f64,
    pub(super) first_invocation: f64,
}

pub(super) fn s3_client_ms(
    groups: &[Group],
    tiers: &[TierName],
    s: &Settings,
    fetched_at_init: bool,
) -> ClientCost {
    let ms = s.tiers.s3_client_ms;
    if fetched_at_init {
        return ClientCost {
            at_init: ms,
            first_invocation: 0.0,
        };
    }
    let later = groups
        .iter()
        .zip(tiers)
        .filter(|(_, t)| **t == TierName::S3)
        .map(|(g, _)| g.invocation_probability)
        .fold(0.0, f64::max);
    ClientCost {
        at_init: 0.0,
        first_invocation: ms * later,
    }
}

/// How many bundles extract side by side: one per prefetch connection, as
/// far as the function's vCPUs go (Lambda gives one vCPU per 1,769 MB of
/// memory), at least one.
pub(super) fn extract_parallelism(s: &Settings) -> f64 {
    let vcpus = s.workload.memory_mb / MB_PER_VCPU;
    vcpus
        .min(f64::from(s.tiers.s3_prefetch_connections.max(1)))
        .max(1.0)
}

/// Lambda's memory per vCPU (docs/model.md has the source).
const MB_PER_VCPU: f64 = 1769.0;

/// Wall time of the extractions at init: the work shared over the parallel
/// extractors, but never less than the largest bundle's own extraction.
pub(super) fn extraction_ms(extracts: impl Iterator<Item = f64>, parallelism: f64) -> f64 {
    let (total, largest) = extracts.fold((0.0, 0.0f64), |(t, l), e| (t + e, l.max(e)));
    (total / parallelism).max(largest)
}

/// The modelled cold start of a placement: imports and EFS reads, the S3
/// extraction and the wait imports do not hide, and the S3 client when init
/// fetches.
pub(super) fn cold_start_ms(groups: &[Group], tiers: &[TierName], s: &Settings) -> f64 {
    let (mut latency, mut download, mut overlap, mut floor) = (0.0, 0.0, 0.0, 0.0f64);
    let mut extracts = Vec::new();
    for (group, &tier) in groups.iter().zip(tiers) {
        let c = coefficients(s, group, tier);
        latency += c.latency_ms;
        download += c.download_ms;
        overlap += c.overlap_ms;
        floor = floor.max(c.wait_floor_ms);
        extracts.push(c.extract_ms);
    }
    let fetched_at_init = download > 0.0;
    latency
        + extraction_ms(extracts.into_iter(), extract_parallelism(s))
        + (download - overlap).max(floor).max(0.0)
        + s3_client_ms(groups, tiers, s, fetched_at_init).at_init
}
