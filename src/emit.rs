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

use crate::analysis::Analysis;
use crate::error::{Error, Result};
use crate::model::TierName;
use crate::plan::{Group, Plan};
use crate::scan::{FileKind, ModuleKind};
use crate::usage::{Usage, UsageTable};
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The runtime importer and the Lambda entry module, shipped in the zip.
pub const IMPORTER: &str = include_str!("runtime/caios_importer.py");
pub const ENTRY: &str = include_str!("runtime/caios_entry.py");
/// Lazy bindings' placeholders (lazy_bindings.rs), shipped in the zip.
pub const LAZY: &str = include_str!("runtime/caios_lazy.py");
/// The runtime's modules at the zip's root, each with its pyc.
const RUNTIME_FILES: [(&str, &str); 3] = [
    ("caios_importer.py", IMPORTER),
    ("caios_entry.py", ENTRY),
    ("caios_lazy.py", LAZY),
];
/// Compiles the pycs, lazy bindings included; run by the packer, not shipped.
const COMPILER: &str = include_str!("runtime/caios_compile.py");

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

/// A compiled pyc: its path in the package and the compiled file.
type CompiledPyc = (String, PathBuf);

/// A file's place inside its tier: its path relative to its root.
struct Placed<'a> {
    rel: Cow<'a, str>,
    /// Where its bytes are: a file of the unit, or a `.pyc` compiled for it
    /// in the packer's temporary folder.
    source: Cow<'a, Path>,
    tier: TierName,
    group: usize,
    executable: bool,
}

/// An S3 bundle, compressed in memory and named by its SHA-256.
struct Bundle {
    group: usize,
    sha: String,
    zip: Vec<u8>,
    unpacked: u64,
}

/// The EFS tree: files by path, and the manifest lines they hash to.
struct EfsTree {
    digest: String,
    /// Where the function sees the tree: `<mount>/<digest16>`.
    mount: String,
    manifest_lines: Vec<String>,
    files: Vec<(String, Vec<u8>, bool)>,
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
    let catalogue = catalogue(
        a,
        usage,
        groups,
        plan,
        &placed,
        &bundle_of_group,
        &efs.mount,
        options,
    );
    let catalogue_text = serde_json::to_string_pretty(&catalogue).unwrap_or_default();
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
    let efs_root = efs_dir.join(&efs.digest[..16]);
    for (rel, bytes, executable) in &efs.files {
        let path = efs_root.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        std::fs::write(&path, bytes).map_err(|e| Error::io(&path, e))?;
        set_mode(&path, *executable)?;
    }
    write_efs_manifest(out, &efs.mount, &efs.digest, &efs.manifest_lines)?;
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

/// One content-addressed zip per S3 group, compressed in parallel.
fn build_bundles(placed: &[Placed], groups: &[Group], plan: &Plan) -> Result<Vec<Bundle>> {
    use rayon::prelude::*;
    (0..groups.len())
        .filter(|&g| plan.tiers[g] == TierName::S3)
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|group| {
            let members: Vec<(&str, Vec<u8>, bool)> = placed
                .iter()
                .filter(|p| p.group == group)
                .map(|p| Ok((p.rel.as_ref(), read(&p.source)?, p.executable)))
                .collect::<Result<_>>()?;
            let unpacked = members.iter().map(|(_, b, _)| b.len() as u64).sum();
            let zip = zip_bytes(
                members
                    .iter()
                    .map(|(r, b, x)| (r.to_string(), b.as_slice(), *x)),
            )?;
            let sha = hex(&Sha256::digest(&zip));
            Ok(Bundle {
                group,
                sha,
                zip,
                unpacked,
            })
        })
        .collect()
}

/// The EFS files with their manifest; the digest hashes the sorted manifest.
fn efs_tree(placed: &[Placed], mount: &str) -> Result<EfsTree> {
    let mut manifest_lines = Vec::new();
    let mut files = Vec::new();
    for p in placed.iter().filter(|p| p.tier == TierName::Efs) {
        let bytes = read(&p.source)?;
        manifest_lines.push(format!(
            "{} {} {}",
            hex(&Sha256::digest(&bytes)),
            bytes.len(),
            p.rel
        ));
        files.push((p.rel.to_string(), bytes, p.executable));
    }
    manifest_lines.sort();
    let digest = hex(&Sha256::digest(manifest_lines.join("\n").as_bytes()));
    let mount = format!("{}/{}", mount.trim_end_matches('/'), &digest[..16]);
    Ok(EfsTree {
        digest,
        mount,
        manifest_lines,
        files,
    })
}

/// Every file with its tier; caches of `.py` files are left out (every tier
/// gets fresh unchecked-hash pycs), and a path two roots both hold keeps the
/// file of the first root, as `sys.path` would.
fn place_files<'a>(a: &'a Analysis, groups: &[Group], plan: &Plan) -> Vec<Placed<'a>> {
    let mut group_of: Vec<usize> = vec![usize::MAX; a.inventory.files.len()];
    for (g, group) in groups.iter().enumerate() {
        for &f in &group.files {
            group_of[f] = g;
        }
    }
    let shipped = shipped_files(a);
    let mut placed = Vec::new();
    for (id, file) in a.inventory.files.iter().enumerate() {
        if !shipped[id] || group_of[id] == usize::MAX {
            continue;
        }
        placed.push(Placed {
            rel: Cow::Borrowed(&file.rel),
            source: Cow::Borrowed(&file.path),
            tier: plan.tiers[group_of[id]],
            group: group_of[id],
            executable: matches!(file.kind, FileKind::Extension | FileKind::SharedLib),
        });
    }
    placed.sort_by(|x, y| x.rel.cmp(&y.rel));
    placed
}

/// Which files of the unit are shipped: caches of `.py` files are not (every
/// tier gets fresh unchecked-hash pycs), nor a path an earlier root also
/// holds (`sys.path` would never reach it).
pub fn shipped_files(a: &Analysis) -> Vec<bool> {
    let mut seen = std::collections::HashSet::new();
    a.inventory
        .files
        .iter()
        .map(|file| {
            let stale_cache = file.kind == FileKind::Bytecode && file.rel.contains("__pycache__/");
            !stale_cache && seen.insert(file.rel.as_str())
        })
        .collect()
}

/// Compiles every placed `.py` file, on whatever tier, and the runtime's
/// own modules with the target interpreter into unchecked-hash pycs (PEP 552)
/// under `work`: a pyc the stdlib would have to validate is recompiled on
/// every cold start, since neither `/var/task`, EFS (shared, and writing there
/// costs latency) nor a bundle's `/tmp` copy keeps what Python writes. Each
/// module's pyc joins its source's tier and group; the runtime's pycs are
/// returned (`__pycache__/…` path in the zip, compiled file), with the
/// statements compiled as lazy bindings (`path:line`). A file that does not
/// compile ships as source only.
fn add_compiled_pycs(
    placed: &mut Vec<Placed>,
    work: &Path,
    python: &str,
    lazy_lines: &BTreeMap<PathBuf, Vec<u32>>,
) -> Result<(Vec<CompiledPyc>, Vec<String>)> {
    let mut sources: Vec<(PathBuf, String)> = Vec::new();
    for (rel, text) in RUNTIME_FILES {
        let path = work.join(rel);
        std::fs::write(&path, text).map_err(|e| Error::io(&path, e))?;
        sources.push((path, rel.to_string()));
    }
    let runtime_count = sources.len();
    let modules: Vec<usize> = (0..placed.len())
        .filter(|&i| placed[i].rel.ends_with(".py"))
        .collect();
    sources.extend(
        modules
            .iter()
            .map(|&i| (placed[i].source.to_path_buf(), placed[i].rel.to_string())),
    );
    let (compiled, lazy_bindings) = compile_pycs(&sources, work, python, lazy_lines)?;
    let mut runtime = Vec::new();
    let mut module_pycs = Vec::new();
    for (i, pyc) in compiled.into_iter().enumerate() {
        let Some((rel, path)) = pyc else { continue };
        match i.checked_sub(runtime_count).map(|m| &placed[modules[m]]) {
            None => runtime.push((rel, path)),
            Some(source) => module_pycs.push(Placed {
                rel: Cow::Owned(rel),
                source: Cow::Owned(path),
                tier: source.tier,
                group: source.group,
                executable: false,
            }),
        }
    }
    placed.extend(module_pycs);
    placed.sort_by(|x, y| x.rel.cmp(&y.rel));
    Ok((runtime, lazy_bindings))
}

/// Runs the target interpreter once over `sources` (file, path in the
/// package) with caios_compile.py; per source, the pyc's path in the package
/// and the compiled file, or None when it did not compile; and the
/// statements compiled as lazy bindings, as `path:line`.
fn compile_pycs(
    sources: &[(PathBuf, String)],
    work: &Path,
    python: &str,
    lazy_lines: &BTreeMap<PathBuf, Vec<u32>>,
) -> Result<(Vec<Option<CompiledPyc>>, Vec<String>)> {
    let list = work.join("sources.txt");
    let mut text = String::new();
    for (i, (source, rel)) in sources.iter().enumerate() {
        let lines: Vec<String> = lazy_lines
            .get(source)
            .into_iter()
            .flatten()
            .map(u32::to_string)
            .collect();
        text.push_str(&format!(
            "{}\t{}\t{}\t{}\n",
            source.display(),
            work.join(format!("{i}.pyc")).display(),
            rel,
            lines.join(",")
        ));
    }
    std::fs::write(&list, text).map_err(|e| Error::io(&list, e))?;
    let script = work.join("caios_compile.py");
    std::fs::write(&script, COMPILER).map_err(|e| Error::io(&script, e))?;
    let output = std::process::Command::new(python)
        .args(["-I", "-S", "-B"])
        .arg(&script)
        .arg(&list)
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| {
            Error::input(format!(
                "cannot run `{python}` to compile .pyc files: {e}; pass --python"
            ))
        })?;
    if !output.status.success() {
        return Err(Error::Failed(format!(
            "`{python}` failed while compiling .pyc files ({})",
            output.status
        )));
    }
    let lazy_bindings = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("lazy\t"))
        .map(|l| l.replacen('\t', ":", 1))
        .collect();
    let tag = cache_tag(python)?;
    let compiled = sources
        .iter()
        .enumerate()
        .map(|(i, (_, rel))| {
            let compiled = work.join(format!("{i}.pyc"));
            compiled.is_file().then(|| (pyc_rel(rel, &tag), compiled))
        })
        .collect();
    Ok((compiled, lazy_bindings))
}

/// `pkg/mod.py` → `pkg/__pycache__/mod.<tag>.pyc`, where the stdlib looks.
fn pyc_rel(rel: &str, tag: &str) -> String {
    let (dir, file) = rel.rsplit_once('/').unwrap_or(("", rel));
    let stem = file.trim_end_matches(".py");
    if dir.is_empty() {
        format!("__pycache__/{stem}.{tag}.pyc")
    } else {
        format!("{dir}/__pycache__/{stem}.{tag}.pyc")
    }
}

fn cache_tag(python: &str) -> Result<String> {
    let output = std::process::Command::new(python)
        .args([
            "-I",
            "-S",
            "-c",
            "import sys; print(sys.implementation.cache_tag)",
        ])
        .output()
        .map_err(|e| Error::input(format!("cannot run `{python}`: {e}")))?;
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// A deterministic zip of every file under `dir` (paths relative to it),
/// written the way `deployment.zip` is; what benches/zip_writer.rs times.
pub fn zip_folder(dir: &Path) -> Result<Vec<u8>> {
    use std::os::unix::fs::PermissionsExt;
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(dir) {
        let entry = entry.map_err(|e| Error::input(format!("{}: {e}", dir.display())))?;
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = entry
            .path()
            .strip_prefix(dir)
            .unwrap_or(entry.path())
            .to_string_lossy()
            .into_owned();
        let executable = entry
            .metadata()
            .map(|m| m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false);
        files.push((rel, read(entry.path())?, executable));
    }
    zip_bytes(files.iter().map(|(r, b, x)| (r.clone(), b.as_slice(), *x)))
}

/// Input bytes per chunk that one thread compresses into its own in-memory
/// zip; chunks are then merged, in order, without recompression.
const ZIP_CHUNK_BYTES: u64 = 2_000_000;

/// A deterministic zip: sorted entries, fixed time, fixed permissions.
/// Entries are deflated in parallel (contiguous chunks, one in-memory zip
/// each) and merged raw, so the result does not depend on the thread count.
fn zip_bytes<'a>(entries: impl Iterator<Item = (String, &'a [u8], bool)>) -> Result<Vec<u8>> {
    zip_bytes_in_chunks(entries, ZIP_CHUNK_BYTES)
}

fn zip_bytes_in_chunks<'a>(
    entries: impl Iterator<Item = (String, &'a [u8], bool)>,
    chunk_bytes: u64,
) -> Result<Vec<u8>> {
    use rayon::prelude::*;
    let mut entries: Vec<(String, &[u8], bool)> = entries.collect();
    entries.sort_by(|x, y| x.0.cmp(&y.0));
    for (name, _, _) in &entries {
        assert_safe_member(name)?;
    }
    let chunks = chunk_by_bytes(&entries, chunk_bytes);
    let parts: Vec<Vec<u8>> = chunks
        .par_iter()
        .map(|range| zip_sequential(&entries[range.clone()]))
        .collect::<Result<_>>()?;
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for part in parts {
        let archive = zip::ZipArchive::new(std::io::Cursor::new(part))
            .map_err(|e| Error::Failed(format!("re-reading a zip chunk: {e}")))?;
        writer
            .merge_archive(archive)
            .map_err(|e| Error::Failed(format!("merging zip chunks: {e}")))?;
    }
    let cursor = writer
        .finish()
        .map_err(|e| Error::Failed(format!("finishing zip: {e}")))?;
    Ok(cursor.into_inner())
}

/// Contiguous index ranges holding about `target` input bytes each.
fn chunk_by_bytes(entries: &[(String, &[u8], bool)], target: u64) -> Vec<std::ops::Range<usize>> {
    let mut chunks = Vec::new();
    let (mut start, mut bytes) = (0, 0u64);
    for (i, (_, data, _)) in entries.iter().enumerate() {
        bytes += data.len() as u64;
        if bytes >= target {
            chunks.push(start..i + 1);
            (start, bytes) = (i + 1, 0);
        }
    }
    if start < entries.len() {
        chunks.push(start..entries.len());
    }
    chunks
}

fn zip_sequential(entries: &[(String, &[u8], bool)]) -> Result<Vec<u8>> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let fixed = zip::DateTime::default(); // 1980-01-01 00:00:00
    for (name, bytes, executable) in entries {
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .compression_level(Some(6))
            .last_modified_time(fixed)
            .unix_permissions(if *executable { 0o755 } else { 0o644 });
        writer
            .start_file(name.as_str(), options)
            .and_then(|_| writer.write_all(bytes).map_err(Into::into))
            .map_err(|e| Error::Failed(format!("writing zip entry {name}: {e}")))?;
    }
    let cursor = writer
        .finish()
        .map_err(|e| Error::Failed(format!("finishing zip: {e}")))?;
    Ok(cursor.into_inner())
}

/// The packer never writes a member that could escape its folder.
fn assert_safe_member(name: &str) -> Result<()> {
    let bad = name.starts_with('/') || name.split('/').any(|part| part == ".." || part.is_empty());
    if bad {
        return Err(Error::Failed(format!(
            "refusing to write zip member `{name}`: it could escape its folder"
        )));
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn catalogue(
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

fn iam_policy(options: &EmitOptions) -> serde_json::Value {
    let bucket = options.bucket.as_deref().unwrap_or("YOUR-BUCKET");
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "CaiosPackBundles",
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": [format!("arn:aws:s3:::{bucket}/{}*", options.prefix)],
        }],
    })
}

fn write_efs_manifest(out: &Path, mount: &str, digest: &str, lines: &[String]) -> Result<()> {
    let mut text = format!("# caios-pack EFS manifest: every file with its SHA-256 and size.\nroot: {mount:?}\ndigest: \"{digest}\"\nfiles:\n");
    for line in lines {
        let mut parts = line.splitn(3, ' ');
        let (sha, size, rel) = (
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
        );
        text.push_str(&format!(
            "  - {{path: {rel:?}, size: {size}, sha256: {sha}}}\n"
        ));
    }
    let path = out.join("efs-manifest.yaml");
    std::fs::write(&path, text).map_err(|e| Error::io(&path, e))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_packer_refuses_members_that_could_escape() {
        for name in ["../x.py", "/etc/x.py", "a/../../x.py", "a//x.py", "a/", ""] {
            let err = zip_bytes([(name.to_string(), &b"x"[..], false)].into_iter()).unwrap_err();
            assert!(err.to_string().contains("could escape"), "{name}: {err}");
        }
    }

    #[test]
    fn zip_is_sorted_deterministic_and_the_same_at_any_chunk_size() {
        let data: Vec<(String, Vec<u8>, bool)> = (0..50)
            .map(|i| {
                let name = format!("pkg/m{:02}.so", 49 - i);
                (name, vec![b'a' + (i % 26) as u8; 10_000 * i], i % 3 == 0)
            })
            .collect();
        let entries = || data.iter().map(|(n, b, x)| (n.clone(), b.as_slice(), *x));
        let mut sorted: Vec<(String, &[u8], bool)> = entries().collect();
        sorted.sort_by(|x, y| x.0.cmp(&y.0));
        let sequential = zip_sequential(&sorted).unwrap();
        // One chunk per entry, a few chunks, one chunk: byte-identical.
        for chunk in [1, 100_000, 2_000_000, u64::MAX] {
            let zip = zip_bytes_in_chunks(entries(), chunk).unwrap();
            assert!(zip == sequential, "chunk size {chunk} changes the bytes");
        }
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(sequential)).unwrap();
        let mut names = Vec::new();
        for i in 0..archive.len() {
            let file = archive.by_index(i).unwrap();
            let executable = data.iter().find(|d| d.0 == file.name()).unwrap().2;
            let mode = if executable { 0o755 } else { 0o644 };
            assert_eq!(
                file.unix_mode().map(|m| m & 0o777),
                Some(mode),
                "{}",
                file.name()
            );
            names.push(file.name().to_string());
        }
        assert!(names.windows(2).all(|w| w[0] < w[1]));
    }
}
