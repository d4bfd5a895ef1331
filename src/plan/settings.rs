//! plan settings: the optimiser's inputs besides the groups.
//!
//! Input: the unit's YAML ([`Unit`]) and `--max-latency`. Output: [`Settings`]
//! — the package and /tmp limits, the budgets, the tier figures and the
//! workload — and which tiers a group may go to.

use super::Group;
use crate::config::TierName;
use crate::config::Unit;
use crate::error::{Error, Result};
use std::time::Duration;

/// Everything the optimiser needs besides the groups.
#[derive(Debug, Clone)]
pub struct Settings {
    pub local_limit: u64,
    pub tmp_limit: u64,
    pub max_latency_ms: Option<f64>,
    pub max_monthly_usd: Option<f64>,
    pub tiers: crate::config::Tiers,
    pub workload: crate::config::Workload,
    pub time_limit: Duration,
}

impl Settings {
    /// From the unit's YAML, with `--max-latency` taking precedence.
    pub fn from_unit(
        unit: &Unit,
        max_latency: Option<&str>,
        time_limit: Duration,
        reserved: u64,
    ) -> Result<Settings> {
        let latency_text = max_latency
            .map(String::from)
            .or(unit.budget.max_latency.clone());
        let max_latency_ms = match latency_text {
            Some(text) => Some(crate::config::parse_duration_ms(&text).ok_or_else(|| {
                Error::input(format!(
                    "max latency `{text}` is not a duration such as 800ms or 1.5s"
                ))
            })?),
            None => None,
        };
        if unit.limits.package_bytes() > crate::config::LAMBDA_UNZIPPED_LIMIT {
            eprintln!(
                "caios-pack: warning: limits.package_bytes ({}) is above Lambda's {} bytes: a what-if; such a deployment.zip does not deploy",
                unit.limits.package_bytes(),
                crate::config::LAMBDA_UNZIPPED_LIMIT
            );
        }
        let available = unit
            .limits
            .package_bytes()
            .saturating_sub(unit.limits.layers_bytes)
            .saturating_sub(reserved);
        let local_limit = unit.limits.local_bytes.unwrap_or(available).min(available);
        let mut tmp_limit = unit.limits.tmp_bytes;
        if unit.workload.snapstart {
            tmp_limit = tmp_limit.min(crate::config::DEFAULT_TMP_BYTES);
        }
        Ok(Settings {
            local_limit,
            tmp_limit,
            max_latency_ms,
            max_monthly_usd: unit.budget.max_monthly_usd,
            tiers: unit.tiers.clone(),
            workload: unit.workload.clone(),
            time_limit,
        })
    }

    pub(super) fn tier_allowed(&self, group: &Group, tier: TierName) -> bool {
        if tier == TierName::S3 && group.not_on_s3.is_some() {
            return false;
        }
        if let Some(pinned) = group.pinned {
            return pinned == tier;
        }
        !(self.workload.snapstart && tier == TierName::Efs)
    }
}
