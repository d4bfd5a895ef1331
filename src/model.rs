//! model: the YAML types and Lambda constants now live in `crate::config`
//! (`config::tiers`, `config::limits`); these re-exports keep the other
//! #12 branches building until they are merged.

// re-export for the #12 merge: remove
pub use crate::config::{
    parse_duration_ms, Architecture, Budget, Limits, Pin, Tier, TierName, Tiers, Workload,
    DEFAULT_TMP_BYTES, EFS_OPS_PER_FILE, LAMBDA_UNZIPPED_LIMIT,
};
