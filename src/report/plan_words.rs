//! report plan words: the plan's regime and binding limit in English.
//!
//! Input: a [`Regime`] or a [`Binding`] (facts from the plan). Output: the
//! sentence for people (`Display`); `Serialize` writes the same sentence,
//! which is what `plan.json`, `optimize --format json` and `package --check`
//! show under `regime` and `binding`.

use super::human_bytes;
use crate::plan::regime::{Binding, EfsShare, OffPackage, Regime, S3Share};
use serde::{Serialize, Serializer};
use std::fmt;

impl fmt::Display for Regime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&regime(self))
    }
}

impl fmt::Display for Binding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&binding(self))
    }
}

impl Serialize for Regime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl Serialize for Binding {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

fn regime(regime: &Regime) -> String {
    let (unit_bytes, local_limit, why, s3, efs) = match regime {
        Regime::FitsLocally {
            unit_bytes,
            local_limit,
        } => {
            return format!(
                "fits locally: all {} in the package (limit {})",
                human_bytes(*unit_bytes),
                human_bytes(*local_limit)
            )
        }
        Regime::OffPackage {
            unit_bytes,
            local_limit,
            why,
            s3,
            efs,
        } => (*unit_bytes, *local_limit, why, s3, efs),
    };
    let mut words = match why {
        OffPackage::Pinned { groups, bytes } => format!(
            "the unit ({}) would fit the package ({}), but pins place {} group(s) ({}) off it",
            human_bytes(unit_bytes),
            human_bytes(local_limit),
            groups,
            human_bytes(*bytes)
        ),
        OffPackage::TooBig => format!(
            "the unit ({}) does not fit the package ({}): part of the cold set is off the package",
            human_bytes(unit_bytes),
            human_bytes(local_limit)
        ),
        OffPackage::NotNeededAtInit { bytes } => format!(
            "hot set local, the rest ({}) off the package",
            human_bytes(*bytes)
        ),
    };
    if let Some(S3Share { bytes, prefetched }) = s3 {
        words.push_str(&format!(
            "; S3 holds {} ({prefetched} groups prefetched at init)",
            human_bytes(*bytes)
        ));
    }
    if let Some(EfsShare {
        bytes,
        needed_for_budget_ms,
    }) = efs
    {
        let why = match needed_for_budget_ms {
            Some(m) => format!(
                "EFS needed because fetching its groups from S3 at init would break the {m:.0} ms budget"
            ),
            None => "EFS chosen for cost: its reads cost less than S3 requests plus the billed INIT time S3 would add".to_string(),
        };
        words.push_str(&format!("; {why}: EFS holds {}", human_bytes(*bytes)));
    }
    words
}

fn binding(binding: &Binding) -> String {
    match *binding {
        Binding::PinnedLocal { need, local_limit } => format!(
            "groups pinned local need {} but the package limit is {}",
            human_bytes(need),
            human_bytes(local_limit)
        ),
        Binding::Size {
            local_limit,
            tmp_limit,
            snapstart,
        } => format!(
            "no placement fits the package ({}) and /tmp ({}) limits{}",
            human_bytes(local_limit),
            human_bytes(tmp_limit),
            if snapstart {
                " with SnapStart (no EFS, /tmp ≤ 512 MiB)"
            } else {
                ""
            }
        ),
        Binding::Latency { max_ms, min_ms } => format!(
            "the latency budget: {max_ms:.0} ms is below the smallest achievable cold start, {min_ms:.0} ms"
        ),
        Binding::MonthlyCost => "the monthly cost budget (max_monthly_usd)".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regimes_in_words() {
        let off = |why, s3, efs| Regime::OffPackage {
            unit_bytes: 300_000_000,
            local_limit: 250_000_000,
            why,
            s3,
            efs,
        };
        let cases = [
            (
                Regime::FitsLocally {
                    unit_bytes: 1_000,
                    local_limit: 250_000_000,
                },
                "fits locally: all 1.0 kB in the package (limit 250.0 MB)",
            ),
            (
                off(
                    OffPackage::NotNeededAtInit { bytes: 50_000_000 },
                    Some(S3Share {
                        bytes: 50_000_000,
                        prefetched: 0,
                    }),
                    None,
                ),
                "hot set local, the rest (50.0 MB) off the package; S3 holds 50.0 MB (0 groups prefetched at init)",
            ),
            (
                off(
                    OffPackage::TooBig,
                    None,
                    Some(EfsShare {
                        bytes: 60_000_000,
                        needed_for_budget_ms: Some(800.0),
                    }),
                ),
                "the unit (300.0 MB) does not fit the package (250.0 MB): part of the cold set is off the package; EFS needed because fetching its groups from S3 at init would break the 800 ms budget: EFS holds 60.0 MB",
            ),
            (
                off(
                    OffPackage::Pinned {
                        groups: 2,
                        bytes: 3_000,
                    },
                    None,
                    Some(EfsShare {
                        bytes: 3_000,
                        needed_for_budget_ms: None,
                    }),
                ),
                "the unit (300.0 MB) would fit the package (250.0 MB), but pins place 2 group(s) (3.0 kB) off it; EFS chosen for cost: its reads cost less than S3 requests plus the billed INIT time S3 would add: EFS holds 3.0 kB",
            ),
        ];
        for (regime, words) in cases {
            assert_eq!(regime.to_string(), words);
            assert_eq!(serde_json::to_value(&regime).unwrap(), words);
        }
    }

    #[test]
    fn bindings_in_words() {
        let cases = [
            (
                Binding::PinnedLocal {
                    need: 2_000,
                    local_limit: 1_000,
                },
                "groups pinned local need 2.0 kB but the package limit is 1.0 kB",
            ),
            (
                Binding::Size {
                    local_limit: 1_000,
                    tmp_limit: 2_000,
                    snapstart: true,
                },
                "no placement fits the package (1.0 kB) and /tmp (2.0 kB) limits with SnapStart (no EFS, /tmp ≤ 512 MiB)",
            ),
            (
                Binding::Latency {
                    max_ms: 100.0,
                    min_ms: 129.6,
                },
                "the latency budget: 100 ms is below the smallest achievable cold start, 130 ms",
            ),
            (
                Binding::MonthlyCost,
                "the monthly cost budget (max_monthly_usd)",
            ),
        ];
        for (binding, words) in cases {
            assert_eq!(binding.to_string(), words);
            assert_eq!(serde_json::to_value(&binding).unwrap(), words);
        }
    }
}
