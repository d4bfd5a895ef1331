//! The storage tiers' cost and latency model, and the pins that force a
//! module or file onto one: the `tiers` and `pins` sections of
//! `caios-pack.yaml`, with AWS defaults.
//!
//! Input: those YAML sections (every field optional). Output: [`Tiers`]
//! with every figure filled in, and the [`Pin`]s. Defaults and their
//! sources are in docs/model.md (from aws-facts: us-east-1 prices, S3 and
//! EFS performance).

use serde::{Deserialize, Serialize};

/// EFS round trips per file init reads (see `Tiers::efs_ops_per_file`).
pub const EFS_OPS_PER_FILE: f64 = 3.0;

/// One storage tier's performance and prices.
#[derive(Debug, Clone, Serialize)]
pub struct Tier {
    /// Time to the first byte of one request (S3 GET, EFS open).
    pub first_byte_ms: f64,
    /// Sustained read throughput of one stream, MB/s (10^6 bytes).
    pub throughput_mb_s: f64,
    pub storage_usd_per_gb_month: f64,
    pub usd_per_1000_requests: f64,
    /// Data read charges, $/GB (EFS Elastic throughput reads).
    pub read_usd_per_gb: f64,
}

/// `tiers:` as written: every field optional, so that a partial tier keeps
/// the defaults of that tier (not of another).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct TiersYaml {
    local: TierYaml,
    efs: TierYaml,
    s3: TierYaml,
    efs_fixed_usd_per_month: Option<f64>,
    s3_prefetch_connections: Option<u32>,
    s3_client_ms: Option<f64>,
    s3_zip_ratio: Option<f64>,
    s3_extract_mb_s: Option<f64>,
    s3_extract_file_ms: Option<f64>,
    efs_ops_per_file: Option<f64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct TierYaml {
    first_byte_ms: Option<f64>,
    throughput_mb_s: Option<f64>,
    storage_usd_per_gb_month: Option<f64>,
    usd_per_1000_requests: Option<f64>,
    read_usd_per_gb: Option<f64>,
}

impl TierYaml {
    fn over(self, default: Tier) -> Tier {
        Tier {
            first_byte_ms: self.first_byte_ms.unwrap_or(default.first_byte_ms),
            throughput_mb_s: self.throughput_mb_s.unwrap_or(default.throughput_mb_s),
            storage_usd_per_gb_month: self
                .storage_usd_per_gb_month
                .unwrap_or(default.storage_usd_per_gb_month),
            usd_per_1000_requests: self
                .usd_per_1000_requests
                .unwrap_or(default.usd_per_1000_requests),
            read_usd_per_gb: self.read_usd_per_gb.unwrap_or(default.read_usd_per_gb),
        }
    }
}

impl From<TiersYaml> for Tiers {
    fn from(yaml: TiersYaml) -> Self {
        let default = Tiers::default();
        Tiers {
            local: yaml.local.over(default.local),
            efs: yaml.efs.over(default.efs),
            s3: yaml.s3.over(default.s3),
            efs_fixed_usd_per_month: yaml
                .efs_fixed_usd_per_month
                .unwrap_or(default.efs_fixed_usd_per_month),
            s3_prefetch_connections: yaml
                .s3_prefetch_connections
                .unwrap_or(default.s3_prefetch_connections),
            s3_client_ms: yaml.s3_client_ms.unwrap_or(default.s3_client_ms),
            s3_zip_ratio: yaml.s3_zip_ratio.unwrap_or(default.s3_zip_ratio),
            s3_extract_mb_s: yaml.s3_extract_mb_s.unwrap_or(default.s3_extract_mb_s),
            s3_extract_file_ms: yaml
                .s3_extract_file_ms
                .unwrap_or(default.s3_extract_file_ms),
            efs_ops_per_file: yaml.efs_ops_per_file.unwrap_or(default.efs_ops_per_file),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(from = "TiersYaml")]
pub struct Tiers {
    pub local: Tier,
    pub efs: Tier,
    pub s3: Tier,
    /// A fixed monthly cost of using EFS at all: the VPC it forces (an S3
    /// gateway endpoint is free, a NAT gateway is not). Default 0.
    pub efs_fixed_usd_per_month: f64,
    /// Parallel connections the importer uses to prefetch S3 bundles.
    pub s3_prefetch_connections: u32,
    /// Importing boto3 and creating the S3 client in the function, paid once
    /// by the first fetch of a sandbox.
    pub s3_client_ms: f64,
    /// Zipped / unpacked bytes of S3 bundles: what crosses the network.
    pub s3_zip_ratio: f64,
    /// Unpacked MB/s at which the importer extracts a bundle into /tmp.
    pub s3_extract_mb_s: f64,
    /// Milliseconds per file the importer's extraction adds besides the
    /// bytes (creating the file, setting its mode and time).
    pub s3_extract_file_ms: f64,
    /// EFS round trips (`efs.first_byte_ms` each) per file init reads:
    /// lookup, open, attributes; each folder on the way adds one lookup.
    pub efs_ops_per_file: f64,
}

/// `pins: [{module: "pyarrow", tier: local}, {glob: "models/*", tier: s3}]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pin {
    pub module: Option<String>,
    pub glob: Option<String>,
    pub tier: TierName,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TierName {
    Local,
    Efs,
    S3,
}

impl TierName {
    pub const ALL: [TierName; 3] = [TierName::Local, TierName::Efs, TierName::S3];
    pub fn label(self) -> &'static str {
        match self {
            TierName::Local => "local",
            TierName::Efs => "efs",
            TierName::S3 => "s3",
        }
    }
}

impl Default for Tiers {
    fn default() -> Self {
        Tiers {
            // The package on the function's own disk: no request, no price.
            local: Tier {
                first_byte_ms: 0.0,
                throughput_mb_s: 0.0, // 0: not modelled (reading is part of import time)
                storage_usd_per_gb_month: 0.0,
                usd_per_1000_requests: 0.0,
                read_usd_per_gb: 0.0,
            },
            efs: Tier {
                // One metadata round trip (lookup, open, getattr) at
                // ~250 µs; a file read costs efs_ops_per_file of them.
                first_byte_ms: 0.25,
                throughput_mb_s: 500.0,
                storage_usd_per_gb_month: 0.30,
                usd_per_1000_requests: 0.0,
                read_usd_per_gb: 0.03,
            },
            s3: Tier {
                first_byte_ms: 30.0,
                throughput_mb_s: 85.0,
                storage_usd_per_gb_month: 0.023,
                usd_per_1000_requests: 0.0004,
                read_usd_per_gb: 0.0,
            },
            efs_fixed_usd_per_month: 0.0,
            s3_prefetch_connections: 4,
            // The importer's `s3_client_ms` measured 222-360 ms here
            // (docs/model.md); Lambda's CPU share at 1 GB is similar.
            s3_client_ms: 250.0,
            // The reference unit's bundles: 65.9 MB zipped of 268 MB (0.25),
            // pyarrow's 53.8 of 160.8 MB (0.33).
            s3_zip_ratio: 0.35,
            // pyarrow's 160.8 MB extracted in ~530 ms (docs/benchmarks.md).
            s3_extract_mb_s: 300.0,
            // The importer creating small files in /tmp on this VM's ext4:
            // 0.65 ms each quiet, 0.9 ms at load 11 (docs/model.md).
            s3_extract_file_ms: 0.65,
            // strace of imports from the EFS tree (docs/model.md).
            efs_ops_per_file: EFS_OPS_PER_FILE,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_partial_tier_keeps_that_tiers_defaults() {
        let tiers: super::Tiers =
            serde_yaml::from_str("efs: {first_byte_ms: 2.0}\ns3: {throughput_mb_s: 90}\n").unwrap();
        let defaults = super::Tiers::default();
        assert_eq!(tiers.efs.first_byte_ms, 2.0);
        assert_eq!(
            tiers.efs.storage_usd_per_gb_month,
            defaults.efs.storage_usd_per_gb_month
        );
        assert_eq!(tiers.efs.read_usd_per_gb, defaults.efs.read_usd_per_gb);
        assert_eq!(tiers.s3.throughput_mb_s, 90.0);
        assert_eq!(tiers.s3.first_byte_ms, defaults.s3.first_byte_ms);
        assert_eq!(tiers.local.first_byte_ms, 0.0);
        assert!(serde_yaml::from_str::<super::Tiers>("efs: {first_byte: 2}\n").is_err());
    }
}
