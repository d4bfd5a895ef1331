//! catalogue: what the runtime importer reads to find every module.
//!
//! Input: the analysis, usage, groups, plan, the placed files and the S3
//! bundles. Output: `catalogue.json` (also shipped in `deployment.zip` as
//! `caios_catalogue.json`): each module's tier, path and bundle, the bundles'
//! keys and sizes, the EFS root and the fetch settings.

use super::placement::Placed;
use super::EmitOptions;
use crate::analysis::Analysis;
use crate::contract::{
    Catalogue, CatalogueBundle, CatalogueFile, CatalogueModule, FetchSettings, S3Location,
    CATALOGUE_FORMAT, CATALOGUE_VERSION,
};
use crate::plan::{Group, Plan};
use crate::scan::ModuleKind;
use crate::usage::{Usage, UsageTable};
use std::collections::BTreeMap;

/// What the catalogue is made from.
pub(super) struct CatalogueInput<'a> {
    pub a: &'a Analysis,
    pub usage: &'a UsageTable,
    pub groups: &'a [Group],
    pub plan: &'a Plan,
    pub placed: &'a [Placed<'a>],
    /// S3 bundles by group: SHA-256, zip bytes, unpacked bytes.
    pub bundles: &'a BTreeMap<usize, (String, u64, u64)>,
    /// Where the function sees the EFS tree.
    pub efs_root: &'a str,
    pub options: &'a EmitOptions,
}

pub(super) fn catalogue(input: &CatalogueInput) -> Catalogue {
    let a = input.a;
    let mut group_of_file: Vec<Option<usize>> = vec![None; a.inventory.files.len()];
    for (g, group) in input.groups.iter().enumerate() {
        for &f in &group.files {
            group_of_file[f] = Some(g);
        }
    }
    let prefetch = input
        .bundles
        .iter()
        .filter(|(g, _)| input.plan.prefetch.contains(g))
        .map(|(_, b)| b.0.clone())
        .collect();
    Catalogue {
        format: CATALOGUE_FORMAT.to_string(),
        version: CATALOGUE_VERSION,
        handler: a.unit.handler(),
        efs_root: input.efs_root.to_string(),
        s3: S3Location {
            bucket: input.options.bucket.clone(),
            prefix: input.options.prefix.clone(),
            region: None,
        },
        bundles: bundle_entries(input),
        modules: module_entries(input, &group_of_file),
        files: asset_entries(input, &group_of_file),
        prefetch,
        // Imports made by these packages never fetch from S3 (the client
        // would be needed while it is being imported).
        s3_client_packages: crate::plan::groups::s3_client_packages(a),
        fetch: FetchSettings::with_connections(a.unit.tiers.s3_prefetch_connections),
    }
}

/// Every importable module of the unit with its tier, path and bundle.
fn module_entries(
    input: &CatalogueInput,
    group_of_file: &[Option<usize>],
) -> BTreeMap<String, CatalogueModule> {
    let inv = &input.a.inventory;
    let placed_rel: std::collections::HashSet<&str> =
        input.placed.iter().map(|p| p.rel.as_ref()).collect();
    let mut modules = BTreeMap::new();
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
        let lazy = input.usage.of(m).usage == Usage::Lazy && module.kind != ModuleKind::Extension;
        modules.insert(
            module.name.clone(),
            CatalogueModule {
                tier: input.plan.tiers[g],
                path: rel,
                package: module.is_package,
                bundle: input.bundles.get(&g).map(|(sha, _, _)| sha.clone()),
                lazy,
                kind: kind_label(module.kind),
            },
        );
    }
    modules
}

/// The unit's assets (data files) with their tier and bundle.
fn asset_entries(
    input: &CatalogueInput,
    group_of_file: &[Option<usize>],
) -> BTreeMap<String, CatalogueFile> {
    let inv = &input.a.inventory;
    let mut files = BTreeMap::new();
    for (f, file) in inv.files.iter().enumerate().filter(|(_, f)| f.asset) {
        if let Some(g) = group_of_file[f] {
            files.insert(
                file.rel.clone(),
                CatalogueFile {
                    tier: input.plan.tiers[g],
                    bundle: input.bundles.get(&g).map(|b| b.0.clone()),
                    path: file.rel.clone(),
                },
            );
        }
    }
    files
}

/// Every S3 bundle with its object key and sizes.
fn bundle_entries(input: &CatalogueInput) -> BTreeMap<String, CatalogueBundle> {
    input
        .bundles
        .iter()
        .map(|(g, (sha, size, unpacked))| {
            let entry = CatalogueBundle {
                key: format!("{}{sha}.zip", input.options.prefix),
                size: *size,
                unpacked_bytes: *unpacked,
                prefetch: input.plan.prefetch.contains(g),
            };
            (sha.clone(), entry)
        })
        .collect()
}

/// The scanner's name for a module kind, as its serde form spells it.
fn kind_label(kind: ModuleKind) -> String {
    match serde_json::to_value(kind) {
        Ok(serde_json::Value::String(label)) => label,
        other => unreachable!("ModuleKind serializes to a string, not {other:?}"),
    }
}
