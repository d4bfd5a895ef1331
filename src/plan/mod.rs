//! plan: places every group on a tier by solving a mixed-integer program.
//!
//! Input: the [`Group`]s and the unit's [`Settings`] (tiers, limits,
//! workload, budget). Output: a [`Plan`] — a tier per group, the S3 groups to
//! prefetch, the modelled cold start and first-invocation latency, the monthly
//! cost broken down, and the regime (as facts the report puts into words);
//! or, when the budget cannot be met, which limit binds and the smallest
//! achievable latency.
//!
//! Parts: `settings` (the inputs), `cost` (what a group adds on each tier),
//! `milp` (the program and HiGHS; its header states the model), `greedy`
//! (a start and a fallback), `regime` (why the plan is what it is); this
//! file runs them and recomputes the figures of the chosen placement.

mod cost;
mod greedy;
pub mod groups;
pub mod layout;
pub mod located;
mod milp;
pub mod per_tier;
pub mod regime;
mod settings;

#[cfg(test)]
mod tests;

pub use groups::Group;
pub use regime::{Binding, Regime};
pub use settings::Settings;

use crate::config::TierName;
use cost::{coefficients, cold_start_ms, s3_client_ms, GB};
use greedy::greedy;
use milp::{integral_tiers, solve, Objective, SolveError};
use per_tier::PerTier;
use serde::Serialize;

/// The solved placement.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub tiers: Vec<TierName>,
    /// Groups on S3 the importer prefetches at the start of init.
    pub prefetch: Vec<usize>,
    pub cold_start_ms: f64,
    /// Of `cold_start_ms`: EFS round trips and reads (the rest of the EFS
    /// share is its modules' import time).
    pub efs_read_ms: f64,
    /// Expected extra milliseconds on the first invocation of a container.
    pub first_invocation_ms: f64,
    pub cost: Cost,
    pub bytes: TierBytes,
    /// Per tier: what its groups add to the cold start and the monthly bill.
    pub per_tier: Vec<TierShare>,
    /// Why the placement is what it is (serialized as the report's words
    /// for it).
    pub regime: Regime,
    /// `optimal`, `time-limit (gap …)`, or `greedy` when the solver gave
    /// nothing usable in time.
    pub status: String,
    pub local_limit: u64,
    pub tmp_limit: u64,
    pub max_latency_ms: Option<f64>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Cost {
    pub storage_usd: f64,
    pub requests_and_reads_usd: f64,
    pub efs_fixed_usd: f64,
    pub billed_init_usd: f64,
    pub total_usd: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TierShare {
    pub tier: TierName,
    pub groups: usize,
    pub bytes: u64,
    /// Imports, EFS reads, and for S3 the prefetch time imports do not hide.
    pub cold_start_ms: f64,
    /// Storage, requests and reads (billed INIT and EFS fixed are separate).
    pub monthly_usd: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct TierBytes {
    pub local: u64,
    pub efs: u64,
    pub s3: u64,
    /// S3 bytes that may be fetched into /tmp.
    pub tmp: u64,
}

/// Why no plan meets the constraints.
#[derive(Debug, Clone, Serialize)]
pub struct Infeasible {
    /// Serialized as the report's words for it.
    pub binding: Binding,
    /// The smallest cold start any placement within the size limits achieves.
    pub min_latency_ms: Option<f64>,
}

/// Solves the placement.
pub fn optimize(groups: &[Group], s: &Settings) -> std::result::Result<Plan, Infeasible> {
    let billed_per_ms = if s.workload.snapstart {
        0.0
    } else {
        s.workload.cold_starts_per_month * s.workload.memory_mb / 1024.0
            * s.workload.usd_per_gb_second()
            / 1000.0
    };
    let greedy = greedy(groups, s);
    let objective = Objective::Cost { billed_per_ms };
    match solve(
        groups,
        s,
        objective,
        s.max_latency_ms,
        greedy.as_deref(),
        false,
    ) {
        Ok(solved) => match integral_tiers(&solved.values) {
            Some(tiers) => {
                let bound = solve(groups, s, objective, s.max_latency_ms, None, true).ok();
                let gap = bound.map(|b| {
                    (solved.objective - b.objective).max(0.0) / solved.objective.abs().max(1e-12)
                });
                let status = match gap {
                    Some(gap) => format!(
                        "{} (HiGHS); ${:.4}/month; gap to the LP relaxation's bound {:.2}% (an upper bound on the true gap)",
                        solved.status,
                        solved.objective,
                        100.0 * gap
                    ),
                    None => format!("{} (HiGHS); ${:.4}/month", solved.status, solved.objective),
                };
                Ok(evaluate(groups, s, tiers, status))
            }
            None => fallback(groups, s, greedy, "the solver's answer was not integral"),
        },
        Err(SolveError::Timeout(why)) | Err(SolveError::Other(why)) => {
            fallback(groups, s, greedy, &why)
        }
        Err(SolveError::Infeasible) => Err(diagnose(groups, s)),
    }
}

/// The greedy plan when the solver gives nothing usable, else the diagnosis.
fn fallback(
    groups: &[Group],
    s: &Settings,
    greedy: Option<Vec<TierName>>,
    why: &str,
) -> std::result::Result<Plan, Infeasible> {
    match greedy {
        Some(tiers) => Ok(evaluate(
            groups,
            s,
            tiers,
            format!("greedy plan ({why}); not proven optimal"),
        )),
        None => Err(diagnose(groups, s)),
    }
}

/// Recomputes every figure of a placement.
pub fn evaluate(groups: &[Group], s: &Settings, tiers: Vec<TierName>, status: String) -> Plan {
    let mut latency = 0.0;
    let mut efs_read = 0.0;
    let mut first = 0.0;
    let mut bytes = TierBytes::default();
    let mut cost = Cost::default();
    let mut prefetch = Vec::new();
    let mut per_tier = PerTier::from_fn(|tier| TierShare {
        tier,
        groups: 0,
        bytes: 0,
        cold_start_ms: 0.0,
        monthly_usd: 0.0,
    });
    for (g, (group, tier)) in groups.iter().zip(&tiers).enumerate() {
        let c = coefficients(s, group, *tier);
        let share = &mut per_tier[*tier];
        share.groups += 1;
        share.bytes += group.bytes;
        share.cold_start_ms += c.latency_ms;
        share.monthly_usd += c.usd;
        latency += c.latency_ms;
        efs_read += c.efs_read_ms;
        first += c.first_invocation_ms;
        bytes.tmp += c.tmp_bytes as u64;
        match tier {
            TierName::Local => bytes.local += group.bytes,
            TierName::Efs => bytes.efs += group.bytes,
            TierName::S3 => bytes.s3 += group.bytes,
        }
        if *tier == TierName::S3 && c.download_ms > 0.0 {
            prefetch.push(g);
        }
        let storage = match tier {
            TierName::Local => 0.0,
            TierName::Efs => group.bytes as f64 / GB * s.tiers.efs.storage_usd_per_gb_month,
            TierName::S3 => group.bytes as f64 / GB * s.tiers.s3.storage_usd_per_gb_month,
        };
        cost.storage_usd += storage;
        cost.requests_and_reads_usd += c.usd - storage;
    }
    // What imports do not hide of the S3 work goes to the S3 tier's share;
    // the S3 client is paid at init when init fetches, else by the first
    // invocation that does.
    let total = cold_start_ms(groups, &tiers, s);
    let unhidden = total - latency;
    latency = total;
    first += s3_client_ms(groups, &tiers, s, !prefetch.is_empty()).first_invocation;
    per_tier.s3.cold_start_ms += unhidden;
    if bytes.efs > 0 {
        cost.efs_fixed_usd = s.tiers.efs_fixed_usd_per_month;
    }
    if !s.workload.snapstart {
        cost.billed_init_usd =
            s.workload.cold_starts_per_month * latency / 1000.0 * s.workload.memory_mb / 1024.0
                * s.workload.usd_per_gb_second();
    }
    cost.total_usd =
        cost.storage_usd + cost.requests_and_reads_usd + cost.efs_fixed_usd + cost.billed_init_usd;
    let regime = regime::regime(groups, &tiers, &bytes, s, prefetch.len());
    Plan {
        tiers,
        prefetch,
        cold_start_ms: latency,
        efs_read_ms: efs_read,
        first_invocation_ms: first,
        cost,
        bytes,
        per_tier: per_tier.into_vec(),
        regime,
        status,
        local_limit: s.local_limit,
        tmp_limit: s.tmp_limit,
        max_latency_ms: s.max_latency_ms,
    }
}

/// The smallest cold start any placement of these groups achieves.
pub fn smallest_cold_start(groups: &[Group], s: &Settings) -> Option<f64> {
    diagnose(groups, s).min_latency_ms
}

/// Which limit binds, and the smallest achievable cold start.
fn diagnose(groups: &[Group], s: &Settings) -> Infeasible {
    let min_latency = solve(groups, s, Objective::Latency, None, None, false)
        .ok()
        .and_then(|solved| integral_tiers(&solved.values))
        .map(|tiers| evaluate(groups, s, tiers, String::new()).cold_start_ms);
    let binding = regime::binding(groups, s, min_latency);
    Infeasible {
        binding,
        min_latency_ms: min_latency,
    }
}
