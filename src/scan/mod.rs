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
mod modules;
mod owners;
mod shared_objects;
mod walk;

pub use dist::{Distribution, PthFile};
pub use elf::ElfInfo;

use crate::config::Unit;
use modules::find_modules;
use owners::{assign_owners, read_distributions};
use rustc_hash::FxHashMap as HashMap;
use serde::Serialize;
use shared_objects::read_shared_objects;
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

/// Reads a small text file, with lossy UTF-8 so that odd bytes never fail.
pub fn read_text(path: &Path) -> Result<String, String> {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .map_err(|e| format!("cannot read: {e}"))
}
