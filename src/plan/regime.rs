//! plan regime: why the placement is what it is, and which limit binds when
//! there is none — as facts, not words.
//!
//! Input: the groups, their tiers and the [`Settings`]. Output: a [`Regime`]
//! (what is off the package and why) or a [`Binding`] (the limit no
//! placement meets). The report module puts both into words: `Display`, and
//! `Serialize` as those words, are implemented there, so plan needs nothing
//! of the report.

use super::cost::cold_start_ms;
use super::{Group, Settings, TierBytes};
use crate::config::TierName;

/// Where the unit went.
#[derive(Debug, Clone, PartialEq)]
pub enum Regime {
    /// Every group in the package.
    FitsLocally { unit_bytes: u64, local_limit: u64 },
    /// Some groups off the package.
    OffPackage {
        unit_bytes: u64,
        local_limit: u64,
        why: OffPackage,
        /// `None` when S3 holds nothing.
        s3: Option<S3Share>,
        /// `None` when EFS holds nothing.
        efs: Option<EfsShare>,
    },
}

/// Why groups are off the package.
#[derive(Debug, Clone, PartialEq)]
pub enum OffPackage {
    /// Init needs groups off a package the whole unit would fit: pins put
    /// them there.
    Pinned { groups: usize, bytes: u64 },
    /// Init needs groups off the package because the unit does not fit.
    TooBig,
    /// Only groups init does not need are off; `bytes` of them.
    NotNeededAtInit { bytes: u64 },
}

#[derive(Debug, Clone, PartialEq)]
pub struct S3Share {
    pub bytes: u64,
    /// Groups the importer prefetches at the start of init.
    pub prefetched: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EfsShare {
    pub bytes: u64,
    /// Some(budget) when fetching the EFS groups from S3 would break the
    /// latency budget; `None` when EFS was chosen for cost.
    pub needed_for_budget_ms: Option<f64>,
}

/// The limit no placement meets.
#[derive(Debug, Clone, PartialEq)]
pub enum Binding {
    /// Groups pinned local need more than the package holds.
    PinnedLocal { need: u64, local_limit: u64 },
    /// No placement fits the package and /tmp limits.
    Size {
        local_limit: u64,
        tmp_limit: u64,
        snapstart: bool,
    },
    /// The latency budget is below the smallest achievable cold start.
    Latency { max_ms: f64, min_ms: f64 },
    /// `max_monthly_usd`.
    MonthlyCost,
}

/// The regime of a placement.
pub(super) fn regime(
    groups: &[Group],
    tiers: &[TierName],
    bytes: &TierBytes,
    s: &Settings,
    prefetched: usize,
) -> Regime {
    let unit_bytes: u64 = groups.iter().map(|g| g.bytes).sum();
    let local_limit = s.local_limit;
    if bytes.efs == 0 && bytes.s3 == 0 {
        return Regime::FitsLocally {
            unit_bytes,
            local_limit,
        };
    }
    let hot_elsewhere = groups
        .iter()
        .zip(tiers)
        .any(|(g, t)| *t != TierName::Local && g.init_probability > 0.0);
    let pinned_off: Vec<&Group> = groups
        .iter()
        .zip(tiers)
        .filter(|(g, t)| **t != TierName::Local && g.pinned == Some(**t))
        .map(|(g, _)| g)
        .collect();
    let why = if hot_elsewhere && unit_bytes <= local_limit && !pinned_off.is_empty() {
        OffPackage::Pinned {
            groups: pinned_off.len(),
            bytes: pinned_off.iter().map(|g| g.bytes).sum(),
        }
    } else if hot_elsewhere {
        OffPackage::TooBig
    } else {
        OffPackage::NotNeededAtInit {
            bytes: bytes.efs + bytes.s3,
        }
    };
    let s3 = (bytes.s3 > 0).then_some(S3Share {
        bytes: bytes.s3,
        prefetched,
    });
    let efs = (bytes.efs > 0).then(|| EfsShare {
        bytes: bytes.efs,
        needed_for_budget_ms: s
            .max_latency_ms
            .filter(|_| efs_needed_for_budget(groups, tiers, s)),
    });
    Regime::OffPackage {
        unit_bytes,
        local_limit,
        why,
        s3,
        efs,
    }
}

/// Whether moving the EFS groups to S3 would break the latency budget.
fn efs_needed_for_budget(groups: &[Group], tiers: &[TierName], s: &Settings) -> bool {
    let Some(max) = s.max_latency_ms else {
        return false;
    };
    // Every EFS group that may go to S3, moved there.
    let without_efs: Vec<TierName> = groups
        .iter()
        .zip(tiers)
        .map(|(g, &t)| match t {
            TierName::Efs if s.tier_allowed(g, TierName::S3) => TierName::S3,
            other => other,
        })
        .collect();
    cold_start_ms(groups, &without_efs, s) > max + 1e-6
}

/// Which limit binds, given the smallest cold start any placement within
/// the size limits achieves (`None`: no placement fits them).
pub(super) fn binding(groups: &[Group], s: &Settings, min_latency_ms: Option<f64>) -> Binding {
    match (min_latency_ms, s.max_latency_ms) {
        (None, _) => {
            let pinned_local: u64 = groups
                .iter()
                .filter(|g| g.pinned == Some(TierName::Local))
                .map(|g| g.bytes)
                .sum();
            if pinned_local > s.local_limit {
                Binding::PinnedLocal {
                    need: pinned_local,
                    local_limit: s.local_limit,
                }
            } else {
                Binding::Size {
                    local_limit: s.local_limit,
                    tmp_limit: s.tmp_limit,
                    snapstart: s.workload.snapstart,
                }
            }
        }
        (Some(min), Some(max)) if min > max => Binding::Latency {
            max_ms: max,
            min_ms: min,
        },
        _ => Binding::MonthlyCost,
    }
}
