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
//!
//! Artifacts are written as they are produced (files are streamed, never
//! held whole in memory) into a temporary folder next to `--out`, then
//! renamed into place: a failure leaves `--out` as it was. Stages, in order:
//! `placement` → `pycs` → `bundles` and `efs` → `catalogue` →
//! `deployment.zip` (`zip_writer`) → `iam`.

mod bundles;
mod catalogue;
mod efs;
mod iam;
mod placement;
mod pycs;
mod swap;
mod zip_writer;

pub use placement::shipped_files;
pub use zip_writer::zip_folder;

use crate::analysis::Analysis;
use crate::config::TierName;
use crate::error::{Error, Result};
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
use zip_writer::{write_zip, Member, MemberBytes};

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
    /// Module-level import statements to compile lazily: source file →
    /// caios_compile.py's entries (`N`, `N=x+y`, `N:sub`; lazy_bindings.rs).
    pub lazy_lines: BTreeMap<PathBuf, Vec<String>>,
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

/// What the pipeline hands to emit: the analysed unit, its usage, the
/// placement groups and the plan that puts each group on a tier.
#[derive(Clone, Copy)]
pub struct EmitInput<'a> {
    pub analysis: &'a Analysis,
    pub usage: &'a UsageTable,
    pub groups: &'a [Group],
    pub plan: &'a Plan,
}

/// Every artifact `emit` writes, already on disk in a staging folder so
/// that a package over Lambda's limit, or any failure, leaves `--out` as it
/// was; [`emit`] moves them into place.
pub struct Prepared {
    /// `s3/`, `efs/` and `deployment.zip`, plus the zips' scratch chunks.
    stage: tempfile::TempDir,
    bundles: Vec<Bundle>,
    efs: EfsTree,
    catalogue_text: String,
    zip_bytes: u64,
    pyc_compiled: usize,
    lazy_bindings: Vec<String>,
    /// What `deployment.zip` unzips to.
    pub unzipped_bytes: u64,
}

impl Prepared {
    /// Bytes of `deployment.zip` (Lambda takes 50 MB by direct upload).
    pub fn zip_bytes(&self) -> u64 {
        self.zip_bytes
    }
}

/// Builds every artifact in a temporary folder and checks the deployment
/// package against Lambda's unzipped limit (exit 1 when over). Writes
/// nothing under `--out` (what `--check` runs).
pub fn prepare(input: &EmitInput, options: &EmitOptions) -> Result<Prepared> {
    let stage = tempfile::tempdir().map_err(|e| Error::io(&std::env::temp_dir(), e))?;
    prepare_in(stage, input, options)
}

/// [`prepare`] with the artifacts built in `stage`: bundles, the EFS tree
/// and deployment.zip are written there as they are produced, so memory
/// does not grow with the unit's size.
fn prepare_in(
    stage: tempfile::TempDir,
    input: &EmitInput,
    options: &EmitOptions,
) -> Result<Prepared> {
    let EmitInput {
        analysis: a,
        usage,
        groups,
        plan,
    } = *input;
    let broken = crate::plan::layout::broken_loads(a, groups, &plan.tiers);
    if !broken.is_empty() {
        return Err(Error::Infeasible(format!(
            "the plan would break {} native library load(s) at run time, so nothing is emitted: {}. Pin the groups named to one tier, or report this as a caios-pack bug",
            broken.len(),
            broken.join("; ")
        )));
    }
    // Compiled pycs live here until every artifact is built.
    let work = tempfile::tempdir().map_err(|e| Error::io(Path::new("<tempdir>"), e))?;
    let mut placed = place_files(a, groups, plan);
    let (runtime_pycs, lazy_bindings) = add_compiled_pycs(
        &mut placed,
        work.path(),
        &options.python,
        &options.lazy_lines,
    )?;
    let (s3_dir, efs_dir, scratch) = staging_folders(stage.path())?;
    let bundles = build_bundles(&placed, groups, plan, &s3_dir, &scratch)?;
    let efs = efs_tree(&placed, &options.efs_mount, Some(&efs_dir))?;
    let bundle_of_group: BTreeMap<usize, (String, u64, u64)> = bundles
        .iter()
        .map(|b| (b.group, (b.sha.clone(), b.size, b.unpacked)))
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
    let mut members: Vec<Member> = RUNTIME_FILES
        .iter()
        .map(|(rel, text)| Member {
            name: rel.to_string(),
            bytes: MemberBytes::Memory(text.as_bytes()),
            executable: false,
        })
        .collect();
    members.push(Member {
        name: "caios_catalogue.json".into(),
        bytes: MemberBytes::Memory(catalogue_text.as_bytes()),
        executable: false,
    });
    for p in placed.iter().filter(|p| p.tier == TierName::Local) {
        members.push(Member::file(p.rel.to_string(), &p.source, p.executable)?);
    }
    for (rel, path) in runtime_pycs {
        members.push(Member::file(rel, &path, false)?);
    }
    let unzipped_bytes: u64 = members.iter().map(Member::len).sum();
    let limit = package_limit(a);
    let is_pyc = |m: &&Member| m.name.ends_with(".pyc") && m.name.contains("__pycache__/");
    if unzipped_bytes > limit {
        return Err(Error::Infeasible(format!(
            "deployment.zip would unzip to {unzipped_bytes} bytes, over the {limit} bytes left of the package limit, {}, after {} bytes of layers (its .pyc files add {} bytes); lower limits.local_bytes",
            a.unit.limits.package_bytes(),
            a.unit.limits.layers_bytes,
            members.iter().filter(is_pyc).map(Member::len).sum::<u64>()
        )));
    }
    let pyc_compiled = members.iter().filter(is_pyc).count();
    // Built here, not when writing: a bad member name fails `--check` too.
    let zip_path = stage.path().join("deployment.zip");
    let zip_bytes = write_zip(members, &zip_path, &scratch)?;
    Ok(Prepared {
        stage,
        bundles,
        efs,
        catalogue_text,
        zip_bytes,
        pyc_compiled,
        lazy_bindings,
        unzipped_bytes,
    })
}

/// `s3/`, `efs/` and a scratch folder for the zips' chunks, in `stage`.
fn staging_folders(stage: &Path) -> Result<(PathBuf, PathBuf, PathBuf)> {
    let folders = (stage.join("s3"), stage.join("efs"), stage.join("scratch"));
    for dir in [&folders.0, &folders.1, &folders.2] {
        std::fs::create_dir(dir).map_err(|e| Error::io(dir, e))?;
    }
    Ok(folders)
}

/// What the deployment package may unzip to: Lambda's limit minus the
/// layers the function also carries.
pub fn package_limit(a: &Analysis) -> u64 {
    a.unit
        .limits
        .package_bytes()
        .saturating_sub(a.unit.limits.layers_bytes)
}

/// Prepares every artifact in a folder next to `options.out`, then moves
/// them into place: a failure before that leaves `--out` as it was.
pub fn emit(input: &EmitInput, options: &EmitOptions) -> Result<Emitted> {
    let stage = stage_next_to(&options.out)?;
    let prepared = prepare_in(stage, input, options)?;
    write(prepared, options)
}

/// A temporary folder beside `out` (same file system, so artifacts are
/// renamed into place, not copied).
fn stage_next_to(out: &Path) -> Result<tempfile::TempDir> {
    let parent = match out.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    tempfile::Builder::new()
        .prefix(".caios-pack-")
        .tempdir_in(parent)
        .map_err(|e| Error::io(parent, e))
}

/// Writes the small documents into the stage and moves every artifact into
/// `options.out`, replacing its `s3/` and `efs/` (other files stay).
fn write(prepared: Prepared, options: &EmitOptions) -> Result<Emitted> {
    let stage = prepared.stage.path();
    let efs = &prepared.efs;
    write_efs_manifest(stage, efs)?;
    let catalogue_path = stage.join("catalogue.json");
    std::fs::write(&catalogue_path, &prepared.catalogue_text)
        .map_err(|e| Error::io(&catalogue_path, e))?;
    write_json(&stage.join("iam-policy.json"), &iam_policy(options))?;
    let out = &options.out;
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let artifacts = [
        "s3",
        "efs",
        "efs-manifest.yaml",
        "catalogue.json",
        "deployment.zip",
        "iam-policy.json",
    ];
    swap::swap_into_place(stage, out, &artifacts)?;
    Ok(Emitted {
        zip_bytes: prepared.zip_bytes,
        zip_unzipped_bytes: prepared.unzipped_bytes,
        bundles: prepared.bundles.len(),
        s3_bytes: prepared.bundles.iter().map(|b| b.size).sum(),
        efs_files: efs.files.len(),
        efs_bytes: efs.bytes(),
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

fn set_mode(path: &Path, executable: bool) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = if executable { 0o755 } else { 0o644 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| Error::io(path, e))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
