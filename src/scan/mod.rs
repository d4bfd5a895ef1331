//! scan: the computation unit's files, modules, distributions and native libraries.
//!
//! Input: a validated [`Unit`]. Output: an [`Inventory`] — every file with its
//! size and kind, every importable module resolved the way Python's path
//! finder would resolve it (first `sys.path` entry wins, packages before
//! modules, extensions before source before bytecode, namespace packages
//! merged across entries), the distributions from `*.dist-info`, the `.pth`
//! files, and ELF facts for every shared object. Unreadable entries and
//! symlink loops are [`Problem`]s, not failures.

mod cython_strings;
mod dist;
pub mod elf;
pub mod ld;
mod walk;

/// Moved to [`crate::names`]: re-exported only while branches written
/// before the move still call `scan::is_identifier`; remove after merging.
pub use crate::names::is_identifier;
pub use dist::{Distribution, PthFile};
pub use elf::ElfInfo;

use crate::config::Unit;
use rayon::prelude::*;
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub type FileId = usize;
pub type ModuleId = usize;
pub type DistId = usize;
pub type RootId = usize;

/// Where a root comes from; roots are searched in `Inventory::roots` order,
/// like `sys.path`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RootKind {
    Source,
    SitePackages,
    /// A folder added by a `.pth` file.
    Pth,
    /// Asset files matched by the unit's globs outside the other roots.
    Assets,
}

#[derive(Debug, Clone, Serialize)]
pub struct Root {
    pub path: PathBuf,
    pub kind: RootKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileKind {
    Python,
    Bytecode,
    Extension,
    SharedLib,
    Data,
    Metadata,
}

impl FileKind {
    pub const ALL: [FileKind; 6] = [
        FileKind::Python,
        FileKind::Bytecode,
        FileKind::Extension,
        FileKind::SharedLib,
        FileKind::Data,
        FileKind::Metadata,
    ];
    pub fn label(self) -> &'static str {
        match self {
            FileKind::Python => "py",
            FileKind::Bytecode => "pyc",
            FileKind::Extension => "extension",
            FileKind::SharedLib => "shared-lib",
            FileKind::Data => "data",
            FileKind::Metadata => "metadata",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct FileEntry {
    pub root: RootId,
    /// Path relative to the root, `/`-separated.
    pub rel: String,
    #[serde(skip)]
    pub path: PathBuf,
    pub size: u64,
    pub kind: FileKind,
    pub dist: Option<DistId>,
    /// The module the file belongs to: its own module, or the package whose
    /// folder holds it (data files, `__pycache__`).
    pub owner: Option<ModuleId>,
    /// Matched one of the unit's `assets` globs.
    pub asset: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModuleKind {
    Source,
    Package,
    Namespace,
    Extension,
    Bytecode,
}

#[derive(Debug, Clone, Serialize)]
pub struct Module {
    pub name: String,
    pub kind: ModuleKind,
    /// The file Python executes (`__init__.py` for a package); none for a
    /// namespace package.
    pub file: Option<FileId>,
    pub is_package: bool,
    /// For packages: the folders of its `__path__` as `(root, rel)`.
    pub portions: Vec<(RootId, String)>,
}

/// A warning about the unit that did not stop the scan.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    pub path: PathBuf,
    pub line: Option<u32>,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.path.display(), line, self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

#[derive(Debug, Default, Serialize)]
pub struct Inventory {
    pub roots: Vec<Root>,
    pub files: Vec<FileEntry>,
    pub modules: Vec<Module>,
    pub dists: Vec<Distribution>,
    pub pth: Vec<PthFile>,
    /// ELF facts for every shared object (extension modules included).
    #[serde(skip)]
    pub elf: HashMap<FileId, ElfInfo>,
    pub problems: Vec<Problem>,
    #[serde(skip)]
    pub module_index: HashMap<String, ModuleId>,
    /// Shared objects (libraries and extension modules) by path.
    #[serde(skip)]
    pub file_index: HashMap<PathBuf, FileId>,
}

impl Inventory {
    pub fn module(&self, name: &str) -> Option<ModuleId> {
        self.module_index.get(name).copied()
    }

    pub fn module_file(&self, module: ModuleId) -> Option<&FileEntry> {
        self.modules[module].file.map(|f| &self.files[f])
    }

    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

/// Scans the unit. `progress` is told how many files were found and ticked
/// as shared objects are read.
pub fn scan(unit: &Unit, progress: &crate::progress::Progress) -> Inventory {
    let mut inv = Inventory::default();
    progress.set_message("walking files");
    inv.roots = collect_roots(unit, &mut inv.pth, &mut inv.problems);
    let walked = walk::walk_roots(&inv.roots, unit, &mut inv.problems);
    inv.files = walked.files;
    inv.problems.extend(walked.problems);
    progress.set_message("reading shared objects");
    read_shared_objects(&mut inv, unit.python, progress);
    progress.set_message("resolving modules");
    find_modules(&mut inv, &walked.dirs, unit.python);
    read_distributions(&mut inv);
    assign_owners(&mut inv);
    // Only shared objects can be a DT_NEEDED target: no need to index the
    // other ten thousand paths.
    inv.file_index = inv
        .files
        .iter()
        .enumerate()
        .filter(|(_, f)| matches!(f.kind, FileKind::SharedLib | FileKind::Extension))
        .map(|(id, f)| (f.path.clone(), id))
        .collect();
    inv
}

/// Source first, then site-packages in order, then folders `.pth` files add
/// (as `site` appends them after their site dir), then the unit root for
/// asset globs.
fn collect_roots(unit: &Unit, pths: &mut Vec<PthFile>, problems: &mut Vec<Problem>) -> Vec<Root> {
    let mut roots = vec![Root {
        path: unit.source.clone(),
        kind: RootKind::Source,
    }];
    let mut added = Vec::new();
    for site in &unit.site_packages {
        roots.push(Root {
            path: site.clone(),
            kind: RootKind::SitePackages,
        });
        let Ok(entries) = std::fs::read_dir(site) else {
            continue;
        };
        let mut pth_paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "pth"))
            .collect();
        pth_paths.sort(); // site processes them in sorted order
        for path in pth_paths {
            match read_text(&path) {
                Ok(text) => {
                    let pth = dist::parse_pth(&text, &path, site);
                    added.extend(pth.added_paths.iter().cloned());
                    pths.push(pth);
                }
                Err(message) => problems.push(Problem {
                    path,
                    line: None,
                    message,
                }),
            }
        }
    }
    for path in added {
        if !roots.iter().any(|r| r.path == path) {
            roots.push(Root {
                path,
                kind: RootKind::Pth,
            });
        }
    }
    if !unit.assets.is_empty() && !roots.iter().any(|r| r.path == unit.root) {
        roots.push(Root {
            path: unit.root.clone(),
            kind: RootKind::Assets,
        });
    }
    roots
}

/// The kind a file's name suggests; extension modules are told apart from
/// plain shared libraries later, by their `PyInit_` export.
fn kind_from_name(rel: &str) -> FileKind {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    let in_metadata = rel
        .split('/')
        .any(|part| part.ends_with(".dist-info") || part.ends_with(".egg-info"));
    if in_metadata {
        FileKind::Metadata
    } else if name.ends_with(".py") {
        FileKind::Python
    } else if name.ends_with(".pyc") {
        FileKind::Bytecode
    } else if is_shared_object_name(name) {
        FileKind::SharedLib
    } else {
        FileKind::Data
    }
}

fn is_shared_object_name(name: &str) -> bool {
    name.ends_with(".so") || name.contains(".so.")
}

/// How a file name makes a module: `(stem, kind, priority)`; a lower
/// priority wins, following `importlib.machinery` suffix order.
fn module_file_name(name: &str, python: Option<(u32, u32)>) -> Option<(&str, ModuleKind, u8)> {
    let (stem, kind, priority) = if let Some(stem) = name.strip_suffix(".py") {
        (stem, ModuleKind::Source, 3)
    } else if let Some(stem) = name.strip_suffix(".pyc") {
        (stem, ModuleKind::Bytecode, 4)
    } else if let Some(rest) = name.strip_suffix(".so") {
        match rest.split_once('.') {
            None => (rest, ModuleKind::Extension, 2),
            Some((stem, "abi3")) => (stem, ModuleKind::Extension, 1),
            Some((stem, tag)) if cpython_tag_matches(tag, python) => {
                (stem, ModuleKind::Extension, 0)
            }
            Some(_) => return None,
        }
    } else {
        return None;
    };
    is_identifier(stem).then_some((stem, kind, priority))
}

/// `cpython-311-x86_64-linux-gnu` matches 3.11 (or any version when the unit
/// does not pin one).
fn cpython_tag_matches(tag: &str, python: Option<(u32, u32)>) -> bool {
    let Some(version) = tag
        .strip_prefix("cpython-")
        .and_then(|t| t.split('-').next())
    else {
        return false;
    };
    match python {
        None => version.starts_with('3'),
        Some((major, minor)) => version == format!("{major}{minor}"),
    }
}

/// Reads every shared object's ELF facts in parallel and marks the ones that
/// export `PyInit_<stem>` as extension modules.
fn read_shared_objects(
    inv: &mut Inventory,
    python: Option<(u32, u32)>,
    progress: &crate::progress::Progress,
) {
    let top_level: HashSet<String> = inv
        .files
        .iter()
        .filter_map(|f| {
            let first = f.rel.split('/').next()?;
            let first = first.split('.').next()?;
            is_identifier(first).then(|| first.to_string())
        })
        .collect();
    let candidates: Vec<FileId> = (0..inv.files.len())
        .filter(|&id| inv.files[id].kind == FileKind::SharedLib)
        .collect();
    progress.set_length(candidates.len() as u64);
    let results: Vec<(FileId, Result<ElfInfo, String>)> = candidates
        .par_iter()
        .map(|&id| {
            let file = &inv.files[id];
            let name = file.rel.rsplit('/').next().unwrap_or(&file.rel);
            let may_be_module = module_file_name(name, python).is_some();
            let collect = may_be_module.then_some(&top_level);
            let result =
                map_file(&file.path).and_then(|bytes| elf::read_elf(&bytes, &file.path, collect));
            progress.inc(1);
            (id, result)
        })
        .collect();
    for (id, result) in results {
        match result {
            Ok(info) => {
                let file = &mut inv.files[id];
                let name = file.rel.rsplit('/').next().unwrap_or(&file.rel);
                let stem = name.split('.').next().unwrap_or(name);
                if info.py_init.iter().any(|m| m == stem) {
                    file.kind = FileKind::Extension;
                }
                inv.elf.insert(id, info);
            }
            Err(message) => inv.problems.push(Problem {
                path: inv.files[id].path.clone(),
                line: None,
                message: format!("{message}; kept as an opaque shared library"),
            }),
        }
    }
}

/// Maps a file read-only. Only the pages goblin touches (headers, dynamic
/// section, data sections) are read, which matters for 60 MB libraries.
fn map_file(path: &Path) -> Result<memmap2::Mmap, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    // SAFETY: the map is read-only and private to this process; a concurrent
    // writer could change what we read, which at worst gives wrong facts.
    unsafe { memmap2::Mmap::map(&file) }.map_err(|e| format!("cannot map: {e}"))
}

/// One way a root can provide a module name.
#[derive(Clone)]
enum Candidate {
    Regular {
        kind: ModuleKind,
        file: FileId,
        is_package: bool,
        dir: Option<String>,
        priority: u8,
    },
    Portion {
        dir: String,
    },
}

fn find_modules(inv: &mut Inventory, dirs: &[HashSet<String>], python: Option<(u32, u32)>) {
    // name -> (root -> best candidate in that root)
    let mut candidates: HashMap<String, BTreeMap<RootId, Candidate>> = HashMap::default();
    let mut offer = |name: String, root: RootId, cand: Candidate| {
        let per_root = candidates.entry(name).or_default();
        let replace = match (per_root.get(&root), &cand) {
            (None, _) => true,
            // A package folder beats a module file beats a namespace portion.
            (Some(Candidate::Portion { .. }), Candidate::Regular { .. }) => true,
            (
                Some(Candidate::Regular {
                    is_package: false,
                    priority: old,
                    ..
                }),
                Candidate::Regular {
                    is_package,
                    priority,
                    ..
                },
            ) => *is_package || priority < old,
            (
                Some(Candidate::Regular {
                    is_package: true,
                    priority: old,
                    ..
                }),
                Candidate::Regular {
                    is_package: true,
                    priority,
                    ..
                },
            ) => priority < old,
            _ => false,
        };
        if replace {
            per_root.insert(root, cand);
        }
    };
    for (root, root_dirs) in dirs.iter().enumerate() {
        if inv.roots[root].kind == RootKind::Assets {
            continue;
        }
        for dir in root_dirs {
            if let Some(name) = dotted_dir_name(dir) {
                offer(name, root, Candidate::Portion { dir: dir.clone() });
            }
        }
    }
    for (id, file) in inv.files.iter().enumerate() {
        if inv.roots[file.root].kind == RootKind::Assets || file.kind == FileKind::SharedLib {
            continue;
        }
        let (dir, name) = file.rel.rsplit_once('/').unwrap_or(("", &file.rel));
        let Some((stem, kind, priority)) = module_file_name(name, python) else {
            continue;
        };
        if kind == ModuleKind::Extension && file.kind != FileKind::Extension {
            continue; // a `.so` without `PyInit_<stem>` is a library, not a module
        }
        if stem == "__init__" {
            if let Some(package) = dotted_dir_name(dir) {
                let cand = Candidate::Regular {
                    kind: ModuleKind::Package,
                    file: id,
                    is_package: true,
                    dir: Some(dir.to_string()),
                    priority,
                };
                offer(package, file.root, cand);
            }
            continue;
        }
        let name = match (dir, dotted_dir_name(dir)) {
            ("", _) => stem.to_string(),
            (_, Some(package)) => format!("{package}.{stem}"),
            (_, None) => continue,
        };
        let cand = Candidate::Regular {
            kind,
            file: id,
            is_package: false,
            dir: None,
            priority,
        };
        offer(name, file.root, cand);
    }
    resolve_candidates(inv, candidates);
}

/// Picks, for every name, the module Python would import: parents first, and
/// only from the folders of the parent's `__path__`.
fn resolve_candidates(
    inv: &mut Inventory,
    candidates: HashMap<String, BTreeMap<RootId, Candidate>>,
) {
    let mut names: Vec<&String> = candidates.keys().collect();
    names.sort_by_key(|n| (n.matches('.').count(), n.as_str()));
    for name in names {
        let per_root = &candidates[name];
        let allowed: Option<Vec<(RootId, String)>> = match name.rsplit_once('.') {
            None => None,
            Some((parent, _)) => match inv.module(parent) {
                Some(p) if inv.modules[p].is_package => Some(inv.modules[p].portions.clone()),
                _ => continue, // parent is not a package: unreachable name
            },
        };
        let parent_dir_ok = |root: RootId, cand: &Candidate| -> bool {
            let Some(allowed) = &allowed else { return true };
            let own_dir = match cand {
                Candidate::Regular { file, dir, .. } => match dir {
                    Some(d) => parent_dir(d).to_string(),
                    None => parent_dir(&inv.files[*file].rel).to_string(),
                },
                Candidate::Portion { dir } => parent_dir(dir).to_string(),
            };
            allowed.iter().any(|(r, d)| *r == root && *d == own_dir)
        };
        let valid: Vec<(RootId, &Candidate)> = per_root
            .iter()
            .filter(|(root, cand)| parent_dir_ok(**root, cand))
            .map(|(root, cand)| (*root, cand))
            .collect();
        let regular = valid
            .iter()
            .find(|(_, c)| matches!(c, Candidate::Regular { .. }));
        let module = match regular {
            Some((
                root,
                Candidate::Regular {
                    kind,
                    file,
                    is_package,
                    dir,
                    ..
                },
            )) => Module {
                name: name.clone(),
                kind: *kind,
                file: Some(*file),
                is_package: *is_package,
                portions: dir.iter().map(|d| (*root, d.clone())).collect(),
            },
            _ => {
                let portions: Vec<(RootId, String)> = valid
                    .iter()
                    .filter_map(|(root, c)| match c {
                        Candidate::Portion { dir } => Some((*root, dir.clone())),
                        Candidate::Regular { .. } => None,
                    })
                    .collect();
                if portions.is_empty() {
                    continue;
                }
                Module {
                    name: name.clone(),
                    kind: ModuleKind::Namespace,
                    file: None,
                    is_package: true,
                    portions,
                }
            }
        };
        inv.module_index.insert(name.clone(), inv.modules.len());
        inv.modules.push(module);
    }
}

fn parent_dir(rel: &str) -> &str {
    rel.rsplit_once('/').map(|(d, _)| d).unwrap_or("")
}

/// `a/b` → `a.b` when every part is an identifier (and not `__pycache__`).
fn dotted_dir_name(dir: &str) -> Option<String> {
    if dir.is_empty() {
        return None;
    }
    let ok = dir
        .split('/')
        .all(|p| is_identifier(p) && p != "__pycache__");
    ok.then(|| dir.replace('/', "."))
}

fn read_distributions(inv: &mut Inventory) {
    let mut dist_dirs: Vec<(RootId, String)> = Vec::new();
    for file in &inv.files {
        if let Some((dir, "METADATA")) = file.rel.rsplit_once('/') {
            if dir.ends_with(".dist-info") && !dir.contains('/') {
                dist_dirs.push((file.root, dir.to_string()));
            }
        }
    }
    for (root, dir) in dist_dirs {
        let base = inv.roots[root].path.join(&dir);
        let text = |name: &str| read_text(&base.join(name));
        let (name, version) = match text("METADATA") {
            Ok(t) => dist::parse_metadata(&t),
            Err(_) => (None, None),
        };
        let fallback = dir.trim_end_matches(".dist-info").to_string();
        let (fallback_name, fallback_version) = fallback.split_once('-').unwrap_or((&fallback, ""));
        if name.is_none() || version.is_none() {
            inv.problems.push(Problem {
                path: base.join("METADATA"),
                line: None,
                message: "no Name/Version headers; using the folder name".into(),
            });
        }
        let record = match text("RECORD") {
            Ok(t) => {
                let (paths, bad) = dist::parse_record(&t);
                for line in bad.into_iter().take(5) {
                    inv.problems.push(Problem {
                        path: base.join("RECORD"),
                        line: Some(line as u32),
                        message: "malformed RECORD line; skipped".into(),
                    });
                }
                paths
            }
            Err(message) => {
                inv.problems.push(Problem {
                    path: base.join("RECORD"),
                    line: None,
                    message,
                });
                Vec::new()
            }
        };
        let top_level = text("top_level.txt")
            .map(|t| {
                t.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        inv.dists.push(Distribution {
            name: name.unwrap_or_else(|| fallback_name.to_string()),
            version: version.unwrap_or_else(|| fallback_version.to_string()),
            dist_info: dir,
            root,
            top_level,
            record,
        });
    }
}

/// Gives every file its owning module and distribution.
fn assign_owners(inv: &mut Inventory) {
    let mut folder_owner: HashMap<(RootId, &str), ModuleId> = HashMap::default();
    for (id, module) in inv.modules.iter().enumerate() {
        for (root, dir) in &module.portions {
            folder_owner.insert((*root, dir.as_str()), id);
        }
    }
    let mut own_file: HashMap<FileId, ModuleId> = HashMap::default();
    for (id, module) in inv.modules.iter().enumerate() {
        if let Some(file) = module.file {
            own_file.insert(file, id);
        }
    }
    // Distribution per listed path, and per top-level name for files that
    // RECORD does not list (caches written after installation).
    let mut by_path: HashMap<(RootId, &str), DistId> = HashMap::default();
    let mut by_top: HashMap<(RootId, &str), DistId> = HashMap::default();
    for (id, dist) in inv.dists.iter().enumerate() {
        for path in &dist.record {
            by_path.insert((dist.root, path.as_str()), id);
            if let Some(top) = path
                .split('/')
                .next()
                .filter(|t| *t != ".." && path.contains('/'))
            {
                by_top.entry((dist.root, top)).or_insert(id);
            }
        }
        by_top.insert((dist.root, dist.dist_info.as_str()), id);
    }
    let owners: Vec<(Option<ModuleId>, Option<DistId>)> = inv
        .files
        .iter()
        .enumerate()
        .map(|(id, file)| {
            let owner = own_file.get(&id).copied().or_else(|| {
                cache_owner(inv, file).or_else(|| {
                    let mut dir = parent_dir(&file.rel);
                    loop {
                        if let Some(m) = folder_owner.get(&(file.root, dir)) {
                            return Some(*m);
                        }
                        if dir.is_empty() {
                            return None;
                        }
                        dir = parent_dir(dir);
                    }
                })
            });
            let top = file.rel.split('/').next().unwrap_or("");
            let dist = by_path
                .get(&(file.root, file.rel.as_str()))
                .or_else(|| by_top.get(&(file.root, top)))
                .copied();
            (owner, dist)
        })
        .collect();
    for (file, (owner, dist)) in inv.files.iter_mut().zip(owners) {
        file.owner = owner;
        file.dist = dist;
    }
}

/// `pkg/__pycache__/mod.cpython-311.pyc` belongs to `pkg.mod` when it exists.
fn cache_owner(inv: &Inventory, file: &FileEntry) -> Option<ModuleId> {
    let (dir, name) = file.rel.rsplit_once('/')?;
    let package_dir = dir.strip_suffix("__pycache__")?.trim_end_matches('/');
    let stem = name.split('.').next()?;
    let module = match (dotted_dir_name(package_dir), stem) {
        (Some(pkg), "__init__") => pkg,
        (Some(pkg), stem) => format!("{pkg}.{stem}"),
        (None, stem) if package_dir.is_empty() => stem.to_string(),
        (None, _) => return None,
    };
    let id = inv.module(&module)?;
    let owned_here = inv.modules[id]
        .file
        .is_some_and(|f| inv.files[f].root == file.root);
    owned_here.then_some(id)
}

/// Reads a small text file, with lossy UTF-8 so that odd bytes never fail.
pub fn read_text(path: &Path) -> Result<String, String> {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .map_err(|e| format!("cannot read: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_file_names() {
        type Case = (
            &'static str,
            Option<(u32, u32)>,
            Option<(&'static str, ModuleKind, u8)>,
        );
        let cases: &[Case] = &[
            ("a.py", None, Some(("a", ModuleKind::Source, 3))),
            ("a.pyc", None, Some(("a", ModuleKind::Bytecode, 4))),
            (
                "m.cpython-311-x86_64-linux-gnu.so",
                Some((3, 11)),
                Some(("m", ModuleKind::Extension, 0)),
            ),
            ("m.cpython-312-x86_64-linux-gnu.so", Some((3, 11)), None),
            (
                "m.cpython-312-x86_64-linux-gnu.so",
                None,
                Some(("m", ModuleKind::Extension, 0)),
            ),
            (
                "m.abi3.so",
                Some((3, 11)),
                Some(("m", ModuleKind::Extension, 1)),
            ),
            ("m.so", None, Some(("m", ModuleKind::Extension, 2))),
            ("libfoo.so.1", None, None),
            ("lib-foo.so", None, None),
            ("1a.py", None, None),
            ("a.txt", None, None),
        ];
        for (name, python, expected) in cases {
            assert_eq!(module_file_name(name, *python), *expected, "{name}");
        }
    }

    #[test]
    fn file_kinds_from_names() {
        let cases = [
            ("a/b.py", FileKind::Python),
            ("a/__pycache__/b.cpython-311.pyc", FileKind::Bytecode),
            ("numpy.libs/libopenblas-x.so", FileKind::SharedLib),
            ("pyarrow/libarrow.so.2000", FileKind::SharedLib),
            ("six-1.16.0.dist-info/RECORD", FileKind::Metadata),
            ("a/data.csv", FileKind::Data),
        ];
        for (rel, kind) in cases {
            assert_eq!(kind_from_name(rel), kind, "{rel}");
        }
    }
}
