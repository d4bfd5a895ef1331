//! emit: writes the deployment artifacts of a plan, reproducibly.
//!
//! Input: the [`Analysis`], its [`UsageTable`], the placement [`Group`]s and
//! the solved [`Plan`]. Output, under `--out`: `deployment.zip` (the runtime
//! importer, the entry module, the catalogue, the handler's code and the
//! local tier), `efs/<digest>/…` with `efs-manifest.yaml`, `s3/<sha256>.zip`
//! bundles; on every tier each `.py` file comes with a `.pyc` compiled by the
//! target interpreter as an unchecked-hash pyc, so no cold start recompiles,
//! `catalogue.json`, `plan.json` and `iam-policy.json`. Every path of a unit
//! keeps its place relative to its `sys.path` root, on every tier, so that
//! `__file__`, data files and `$ORIGIN` RPATHs keep working. Same inputs give
//! byte-identical outputs: entries are sorted, timestamps and permissions are
//! fixed.

mod bundles;
mod catalogue;
mod efs;
mod iam;
mod placement;
mod pycs;
mod zip_writer;

pub use placement::shipped_files;
pub use zip_writer::zip_folder;

use crate::analysis::Analysis;
use crate::error::{Error, Result};
use crate::model::TierName;
use crate::plan::{Group, Plan};
use crate::usage::UsageTable;
use bundles::{build_bundles, Bundle};
use catalogue::{catalogue, CatalogueInput};
use efs::{efs_tree, write_efs_manifest, EfsTree};
use iam::iam_policy;
use placement::place_files;
use pycs::add_compiled_pycs;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use zip_writer::zip_bytes;

/// The runtime importer and the Lambda entry module, shipped in the zip.
pub const IMPORTER: &str = include_str!("../runtime/caios_importer.py");
pub const ENTRY: &str = include_str!("../runtime/caios_entry.py");
/// Lazy bindings' placeholders (lazy_bindings.rs), shipped in the zip.
pub const LAZY: &str = include_str!("../runtime/caios_lazy.py");
/// The runtime's modules at the zip's root, each with its pyc.
const RUNTIME_FILES: [(&str, &str); 3] = [
    ("caios_importer.py", IMPORTER),
    ("caios_entry.py", ENTRY),
    ("caios_lazy.py", LAZY),
];

pub struct EmitOptions {
    pub out: PathBuf,
    pub bucket: Option<String>,
    pub prefix: String,
    /// Where the EFS access point is mounted in the function.
    pub efs_mount: String,
    /// Interpreter that compiles the `.pyc` files (the Lambda runtime's version).
    pub python: String,
    /// Module-level import statements to compile as lazy bindings: source
    /// file → lines (lazy_bindings.rs).
    pub lazy_lines: BTreeMap<PathBuf, Vec<u32>>,
}

/// What was written, for the summary.
#[derive(Debug, serde::Serialize)]
pub struct Emitted {
    pub zip_bytes: u64,
    pub zip_unzipped_bytes: u64,
    pub bundles: usize,
    pub s3_bytes: u64,
    pub efs_files: usize,
    pub efs_bytes: u64,
    pub efs_digest: String,
    pub pyc_compiled: usize,
    /// Statements compiled as lazy bindings, as `path:line` in the package.
    pub lazy_bindings: Vec<String>,
}

/// Everything `emit` writes, computed in memory first so that a package
/// over Lambda's limit fails before a single file is written.
pub struct Prepared {
    bundles: Vec<Bundle>,
    efs: EfsTree,
    catalogue_text: String,
    deployment_zip: Vec<u8>,
    pyc_compiled: usize,
    lazy_bindings: Vec<String>,
    /// What `deployment.zip` unzips to.
    pub unzipped_bytes: u64,
}

impl Prepared {
    /// Bytes of `deployment.zip` (Lambda takes 50 MB by direct upload).
    pub fn zip_bytes(&self) -> u64 {
        self.deployment_zip.len() as u64
    }
}

/// Builds every artifact in memory and checks the deployment package
/// against Lambda's unzipped limit (exit 1 when over). Writes nothing.
pub fn prepare(
    a: &Analysis,
    usage: &UsageTable,
    groups: &[Group],
    plan: &Plan,
    options: &EmitOptions,
) -> Result<Prepared> {
    let broken = crate::plan::layout::broken_loads(a, groups, &plan.tiers);
    if !broken.is_empty() {
        return Err(Error::Infeasible(format!(
            "the plan would break {} native library load(s) at run time, so nothing is emitted: {}. Pin the groups named to one tier, or report this as a caios-pack bug",
            broken.len(),
            broken.join("; ")
        )));
    }
    // Compiled pycs live here until every artifact is built in memory.
    let work = tempfile::tempdir().map_err(|e| Error::io(Path::new("<tempdir>"), e))?;
    let mut placed = place_files(a, groups, plan);
    let (runtime_pycs, lazy_bindings) = add_compiled_pycs(
        &mut placed,
        work.path(),
        &options.python,
        &options.lazy_lines,
    )?;
    let bundles = build_bundles(&placed, groups, plan)?;
    let efs = efs_tree(&placed, &options.efs_mount)?;
    let bundle_of_group: BTreeMap<usize, (String, u64, u64)> = bundles
        .iter()
        .map(|b| (b.group, (b.sha.clone(), b.zip.len() as u64, b.unpacked)))
        .collect();
    let catalogue_text = catalogue(&CatalogueInput {
        a,
        usage,
        groups,
        plan,
        placed: &placed,
        bundles: &bundle_of_group,
        efs_root: &efs.mount,
        options,
    })
    .to_text();
    let mut zip_entries: Vec<(String, Vec<u8>, bool)> = RUNTIME_FILES
        .iter()
        .map(|(rel, text)| (rel.to_string(), text.as_bytes().to_vec(), false))
        .collect();
    zip_entries.push((
        "caios_catalogue.json".into(),
        catalogue_text.clone().into_bytes(),
        false,
    ));
    for p in placed.iter().filter(|p| p.tier == TierName::Local) {
        zip_entries.push((p.rel.to_string(), read(&p.source)?, p.executable));
    }
    for (rel, path) in runtime_pycs {
        zip_entries.push((rel, read(&path)?, false));
    }
    let unzipped_bytes: u64 = zip_entries.iter().map(|(_, b, _)| b.len() as u64).sum();
    let limit = package_limit(a);
    let is_pyc = |r: &str| r.ends_with(".pyc") && r.contains("__pycache__/");
    if unzipped_bytes > limit {
        return Err(Error::Infeasible(format!(
            "deployment.zip would unzip to {unzipped_bytes} bytes, over the {limit} bytes left of the package limit, {}, after {} bytes of layers (its .pyc files add {} bytes); lower limits.local_bytes",
            a.unit.limits.package_bytes(),
            a.unit.limits.layers_bytes,
            zip_entries
                .iter()
                .filter(|(r, _, _)| is_pyc(r))
                .map(|(_, b, _)| b.len() as u64)
                .sum::<u64>()
        )));
    }
    let pyc_compiled = zip_entries.iter().filter(|(r, _, _)| is_pyc(r)).count();
    // Built here, not when writing: a bad member name fails `--check` too,
    // and nothing is written before every artifact exists.
    let deployment_zip = zip_bytes(
        zip_entries
            .iter()
            .map(|(r, b, x)| (r.clone(), b.as_slice(), *x)),
    )?;
    Ok(Prepared {
        bundles,
        efs,
        catalogue_text,
        deployment_zip,
        pyc_compiled,
        lazy_bindings,
        unzipped_bytes,
    })
}

/// What the deployment package may unzip to: Lambda's limit minus the
/// layers the function also carries.
pub fn package_limit(a: &Analysis) -> u64 {
    a.unit
        .limits
        .package_bytes()
        .saturating_sub(a.unit.limits.layers_bytes)
}

/// Prepares and writes every artifact under `options.out`.
pub fn emit(
    a: &Analysis,
    usage: &UsageTable,
    groups: &[Group],
    plan: &Plan,
    options: &EmitOptions,
) -> Result<Emitted> {
    let prepared = prepare(a, usage, groups, plan, options)?;
    write(prepared, options)
}

fn write(prepared: Prepared, options: &EmitOptions) -> Result<Emitted> {
    let out = &options.out;
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let s3_dir = out.join("s3");
    recreate_dir(&s3_dir)?;
    for bundle in &prepared.bundles {
        let path = s3_dir.join(format!("{}.zip", bundle.sha));
        std::fs::write(&path, &bundle.zip).map_err(|e| Error::io(&path, e))?;
    }
    let efs = &prepared.efs;
    let efs_dir = out.join("efs");
    recreate_dir(&efs_dir)?;
    let efs_root = efs_dir.join(crate::contract::efs_tree_name(&efs.digest));
    for (rel, bytes, executable) in &efs.files {
        let path = efs_root.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        std::fs::write(&path, bytes).map_err(|e| Error::io(&path, e))?;
        set_mode(&path, *executable)?;
    }
    write_efs_manifest(out, efs)?;
    let catalogue_path = out.join("catalogue.json");
    std::fs::write(&catalogue_path, &prepared.catalogue_text)
        .map_err(|e| Error::io(&catalogue_path, e))?;
    let zip = &prepared.deployment_zip;
    let zip_path = out.join("deployment.zip");
    std::fs::write(&zip_path, zip).map_err(|e| Error::io(&zip_path, e))?;
    write_json(&out.join("iam-policy.json"), &iam_policy(options))?;
    Ok(Emitted {
        zip_bytes: zip.len() as u64,
        zip_unzipped_bytes: prepared.unzipped_bytes,
        bundles: prepared.bundles.len(),
        s3_bytes: prepared.bundles.iter().map(|b| b.zip.len() as u64).sum(),
        efs_files: efs.files.len(),
        efs_bytes: efs.files.iter().map(|(_, b, _)| b.len() as u64).sum(),
        efs_digest: efs.digest.clone(),
        pyc_compiled: prepared.pyc_compiled,
        lazy_bindings: prepared.lazy_bindings,
    })
}

fn write_json(path: &Path, value: &serde_json::Value) -> Result<()> {
    std::fs::write(
        path,
        serde_json::to_string_pretty(value).unwrap_or_default(),
    )
    .map_err(|e| Error::io(path, e))
}

fn recreate_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

fn set_mode(path: &Path, executable: bool) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = if executable { 0o755 } else { 0o644 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| Error::io(path, e))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
