//! catalogue: what the runtime importer reads to find every module.
//!
//! Input: the analysis, usage, groups, plan, the placed files and the S3
//! bundles. Output: `catalogue.json` (also shipped in `deployment.zip` as
//! `caios_catalogue.json`): each module's tier, path and bundle, the bundles'
//! keys and sizes, the EFS root and the fetch settings.

use super::placement::Placed;
use super::EmitOptions;
use crate::analysis::Analysis;
use crate::plan::{Group, Plan};
use crate::scan::ModuleKind;
use crate::usage::{Usage, UsageTable};
use std::collections::BTreeMap;

#[allow(clippy::too_many_arguments)]
pub(super) fn catalogue(
    a: &Analysis,
    usage: &UsageTable,
    groups: &[Group],
    plan: &Plan,
    placed: &[Placed],
    bundles: &BTreeMap<usize, (String, u64, u64)>,
    efs_root: &str,
    options: &EmitOptions,
) -> serde_json::Value {
    let inv = &a.inventory;
    let mut group_of_file: Vec<Option<usize>> = vec![None; inv.files.len()];
    for (g, group) in groups.iter().enumerate() {
        for &f in &group.files {
            group_of_file[f] = Some(g);
        }
    }
    let placed_rel: std::collections::HashSet<&str> =
        placed.iter().map(|p| p.rel.as_ref()).collect();
    let mut modules = serde_json::Map::new();
    for (m, module) in inv.modules.iter().enumerate() {
        let (rel, group) = match module.file {
            Some(f) => (inv.files[f].rel.clone(), group_of_file[f]),
            None => {
                let Some((root, dir)) = module.portions.first() else {
                    continue;
                };
                let group = inv.files.iter().position(|file| {
                    file.root == *root && file.rel.starts_with(&format!("{dir}/"))
                });
                (dir.clone(), group.and_then(|f| group_of_file[f]))
            }
        };
        if module.file.is_some() && !placed_rel.contains(rel.as_str()) {
            continue; // shadowed by an earlier root
        }
        let Some(g) = group else { continue };
        let tier = plan.tiers[g];
        let lazy = usage.of(m).usage == Usage::Lazy && module.kind != ModuleKind::Extension;
        modules.insert(
            module.name.clone(),
            serde_json::json!({
                "tier": tier.label(),
                "path": rel,
                "package": module.is_package,
                "bundle": bundles.get(&g).map(|(sha, _, _)| sha.clone()),
                "lazy": lazy,
                "kind": module.kind,
            }),
        );
    }
    let mut files = serde_json::Map::new();
    for (f, file) in inv.files.iter().enumerate().filter(|(_, f)| f.asset) {
        if let Some(g) = group_of_file[f] {
            files.insert(
                file.rel.clone(),
                serde_json::json!({"tier": plan.tiers[g].label(), "bundle": bundles.get(&g).map(|b| b.0.clone()), "path": file.rel}),
            );
        }
    }
    let bundle_entries: serde_json::Map<String, serde_json::Value> = bundles
        .iter()
        .map(|(g, (sha, size, unpacked))| {
            (
                sha.clone(),
                serde_json::json!({
                    "key": format!("{}{sha}.zip", options.prefix),
                    "size": size,
                    "unpacked_bytes": unpacked,
                    "prefetch": plan.prefetch.contains(g),
                }),
            )
        })
        .collect();
    let prefetch: Vec<&String> = bundles
        .iter()
        .filter(|(g, _)| plan.prefetch.contains(g))
        .map(|(_, b)| &b.0)
        .collect();
    serde_json::json!({
        "format": "caios-pack-catalogue",
        "version": 1,
        "handler": format!("{}.{}", a.unit.handler_module, a.unit.handler_function),
        "efs_root": efs_root,
        "s3": {"bucket": options.bucket, "prefix": options.prefix, "region": null},
        "bundles": bundle_entries,
        "modules": modules,
        "files": files,
        "prefetch": prefetch,
        // Imports made by these packages never fetch from S3 (the client
        // would be needed while it is being imported).
        "s3_client_packages": crate::plan::groups::s3_client_packages(a),
        // The model assumes this many parallel prefetch downloads.
        "fetch": {"timeout_s": 2.0, "retries": 3, "backoff_s": 0.2,
                  "prefetch_connections": a.unit.tiers.s3_prefetch_connections},
    })
}
