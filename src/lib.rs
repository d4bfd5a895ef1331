//! caios-pack: places a Python serverless function's files on the tiers where
//! they start fastest and cost least. Pipeline (see docs/architecture.md):
//! scan → imports → graph → (usage → plan → emit).

pub mod analysis;
pub mod cli;
pub mod config;
pub mod contract;
pub mod efs_sync;
pub mod emit;
pub mod error;
pub mod graph;
pub mod imports;
pub mod lazy_bindings;
pub mod names;
pub mod plan;
pub mod progress;
pub mod report;
pub mod scan;
pub mod stats;
pub mod stdlib;
pub mod trace;
pub mod upload;
pub mod usage;
pub mod verify;
