//! plan greedy: a feasible placement without the solver.
//!
//! Input: the groups and the [`Settings`]. Output: a tier per group (hot
//! groups local while they fit, the rest on S3), or `None` when that breaks
//! a limit. It starts the solver and stands in when the solver gives nothing.

use super::{evaluate, Group, Settings};
use crate::config::TierName;

/// A feasible start: hot groups local (most init time per byte first) while
/// they fit, everything else on S3; `None` if even that breaks a limit.
pub(super) fn greedy(groups: &[Group], s: &Settings) -> Option<Vec<TierName>> {
    let mut tiers: Vec<TierName> = groups
        .iter()
        .map(|g| match (g.pinned, &g.not_on_s3) {
            (Some(tier), _) if s.tier_allowed(g, tier) => tier,
            (_, Some(_)) => TierName::Local,
            _ => TierName::S3,
        })
        .collect();
    let mut local: u64 = groups
        .iter()
        .zip(&tiers)
        .filter(|(_, t)| **t == TierName::Local)
        .map(|(g, _)| g.bytes)
        .sum();
    let mut order: Vec<usize> = (0..groups.len())
        .filter(|&g| groups[g].pinned.is_none() && groups[g].not_on_s3.is_none())
        .collect();
    order.sort_by(|&a, &b| {
        let score = |g: &Group| (g.init_probability * (1.0 + g.import_ms)) / (g.bytes as f64 + 1.0);
        score(&groups[b]).total_cmp(&score(&groups[a]))
    });
    for g in order {
        if local + groups[g].bytes <= s.local_limit {
            tiers[g] = TierName::Local;
            local += groups[g].bytes;
        }
    }
    let plan = evaluate(groups, s, tiers.clone(), String::new());
    let fits = plan.bytes.tmp <= s.tmp_limit
        && plan.bytes.local <= s.local_limit
        && s.max_latency_ms
            .is_none_or(|m| plan.cold_start_ms <= m + 1e-6);
    fits.then_some(tiers)
}
