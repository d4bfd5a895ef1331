//! What the function may use, how it runs and what it may cost: the
//! `limits`, `workload` and `budget` sections of `caios-pack.yaml`, and
//! Lambda's limits.
//!
//! Input: those YAML sections (every field optional). Output: [`Limits`],
//! [`Workload`] and [`Budget`] with AWS defaults (docs/model.md).

use serde::{Deserialize, Serialize};

/// Lambda's limit on the unzipped package, function and layers together.
pub const LAMBDA_UNZIPPED_LIMIT: u64 = 262_144_000;
/// Lambda's limit on a deployment.zip uploaded directly rather than
/// through S3.
pub const LAMBDA_DIRECT_UPLOAD_LIMIT: u64 = 50_000_000;
/// `/tmp` without extra ephemeral storage, and SnapStart's maximum.
pub const DEFAULT_TMP_BYTES: u64 = 512 * 1024 * 1024;
/// Top-level packages the Lambda Python runtime provides outside the unit:
/// the S3 client's own packages (`contract::S3_CLIENT_MACHINERY`) and the
/// runtime interface client.
pub const LAMBDA_RUNTIME_PACKAGES: [&str; 8] = [
    "boto3",
    "botocore",
    "s3transfer",
    "jmespath",
    "dateutil",
    "urllib3",
    "six",
    "awslambdaric",
];
/// Bytes the package needs besides the unit's own files: the runtime
/// importer, the entry module and the catalogue.
pub const RESERVED_PACKAGE_BYTES: u64 = 2_000_000;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Bytes the package may hold for the unit (before the handler and the
    /// importer are added). Default: Lambda's 262,144,000 minus layers.
    pub local_bytes: Option<u64>,
    /// Bytes already used by layers the user attaches.
    pub layers_bytes: u64,
    /// The platform's unzipped limit for function and layers together:
    /// Lambda's 262,144,000 by default. Raising it is a what-if (a package
    /// above Lambda's limit does not deploy as a zip), e.g. to measure
    /// how a unit starts with everything local.
    pub package_bytes: Option<u64>,
    /// `/tmp` size (the function's ephemeral storage setting).
    pub tmp_bytes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Architecture {
    #[serde(rename = "x86_64")]
    X86_64,
    Arm64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Workload {
    pub cold_starts_per_month: f64,
    pub invocations_per_month: f64,
    pub memory_mb: f64,
    pub architecture: Architecture,
    /// SnapStart: init runs once per published version and is restored from
    /// a snapshot, so init-time fetches cost nothing per cold start; EFS and
    /// `/tmp` above 512 MB are not allowed.
    pub snapstart: bool,
    /// $ per GB-second of Lambda compute (INIT is billed since Aug 2025);
    /// default by architecture.
    pub usd_per_gb_second: Option<f64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Budget {
    /// Modelled cold-start time spent importing and fetching, e.g. "800ms".
    pub max_latency: Option<String>,
    pub max_monthly_usd: Option<f64>,
}

impl Limits {
    /// The unzipped bytes function and layers may take: Lambda's limit
    /// unless `package_bytes` says otherwise.
    pub fn package_bytes(&self) -> u64 {
        self.package_bytes.unwrap_or(LAMBDA_UNZIPPED_LIMIT)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            local_bytes: None,
            layers_bytes: 0,
            package_bytes: None,
            tmp_bytes: DEFAULT_TMP_BYTES,
        }
    }
}

impl Default for Workload {
    fn default() -> Self {
        Workload {
            cold_starts_per_month: 10_000.0,
            invocations_per_month: 1_000_000.0,
            memory_mb: 1024.0,
            architecture: Architecture::X86_64,
            snapstart: false,
            usd_per_gb_second: None,
        }
    }
}

impl Workload {
    pub fn usd_per_gb_second(&self) -> f64 {
        self.usd_per_gb_second.unwrap_or(match self.architecture {
            Architecture::X86_64 => 0.000_016_666_7,
            Architecture::Arm64 => 0.000_013_333_4,
        })
    }
}

/// Parses `800ms`, `1.5s`, `800` (milliseconds).
pub fn parse_duration_ms(text: &str) -> Option<f64> {
    let text = text.trim();
    let (number, scale) = if let Some(n) = text.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1000.0)
    } else {
        (text, 1.0)
    };
    let value: f64 = number.trim().parse().ok()?;
    (value.is_finite() && value >= 0.0).then_some(value * scale)
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations() {
        assert_eq!(super::parse_duration_ms("800ms"), Some(800.0));
        assert_eq!(super::parse_duration_ms("1.5s"), Some(1500.0));
        assert_eq!(super::parse_duration_ms("250"), Some(250.0));
        assert_eq!(super::parse_duration_ms("fast"), None);
        assert_eq!(super::parse_duration_ms("-1ms"), None);
    }
}
