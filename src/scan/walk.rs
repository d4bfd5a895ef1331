//! The file walk of scan: every file under the unit's roots, with its size.
//!
//! Input: the roots (source, site-packages, `.pth` folders, the unit root for
//! assets) and the unit's asset globs. Output: [`Walked`] — the files in
//! walkdir's sorted pre-order, every folder of each root, and the entries
//! that could not be read or that loop back through a symlink.
//!
//! The first level of each root is listed on this thread; the folders under
//! it (one per top-level package in site-packages) are walked in parallel and
//! their results joined in sorted order, so the output is the same as one
//! sequential walk's.

use super::{FileEntry, FileKind, Problem, Root, RootId, RootKind};
use crate::config::Unit;
use rayon::prelude::*;
use rustc_hash::FxHashSet as HashSet;
use std::cell::RefCell;
use std::path::{Path, PathBuf};

pub(super) struct Walked {
    pub files: Vec<FileEntry>,
    /// Per root: every folder (relative, `/`-separated; "" is the root).
    pub dirs: Vec<HashSet<String>>,
    pub problems: Vec<Problem>,
}

/// What one root, or one folder under it, contributed.
#[derive(Default)]
struct Part {
    files: Vec<FileEntry>,
    dirs: Vec<String>,
    problems: Vec<Problem>,
}

impl Part {
    fn append(&mut self, mut other: Part) {
        self.files.append(&mut other.files);
        self.dirs.append(&mut other.dirs);
        self.problems.append(&mut other.problems);
    }
}

/// The facts every entry of a walk is judged by.
struct Context<'a> {
    unit: &'a Unit,
    assets: Option<&'a globset::GlobSet>,
    all_roots: &'a HashSet<&'a Path>,
}

pub(super) fn walk_roots(roots: &[Root], unit: &Unit, problems: &mut Vec<Problem>) -> Walked {
    let assets = build_asset_matcher(unit, problems);
    let all_roots: HashSet<&Path> = roots.iter().map(|r| r.path.as_path()).collect();
    let context = Context {
        unit,
        assets: assets.as_ref(),
        all_roots: &all_roots,
    };
    let mut walked = Walked {
        files: Vec::new(),
        dirs: Vec::with_capacity(roots.len()),
        problems: Vec::new(),
    };
    for (root_id, root) in roots.iter().enumerate() {
        let part = walk_root(root_id, root, &context);
        walked.files.extend(part.files);
        walked.dirs.push(part.dirs.into_iter().collect());
        walked.problems.extend(part.problems);
    }
    walked
}

fn walk_root(root_id: RootId, root: &Root, context: &Context) -> Part {
    let walker = walkdir::WalkDir::new(&root.path)
        .follow_links(true)
        .sort_by_file_name()
        .max_depth(1)
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || keep_entry(e, root, context));
    // The first level, in order; each top-level folder is walked on its own
    // and its part goes right after the folder's own entry (pre-order).
    let mut first_level: Vec<(Part, Option<PathBuf>)> = Vec::new();
    for entry in walker {
        let mut part = Part::default();
        let mut subtree = None;
        match entry {
            Ok(entry) => {
                visit_entry(&entry, root_id, root, context, &mut part);
                if entry.depth() == 1 && entry.file_type().is_dir() {
                    subtree = Some(entry.path().to_path_buf());
                }
            }
            Err(err) => part.problems.push(walk_problem(&err, &root.path)),
        }
        first_level.push((part, subtree));
    }
    let root_canonical = std::fs::canonicalize(&root.path).ok();
    let subtrees: Vec<Part> = first_level
        .par_iter()
        .map(|(_, subtree)| match subtree {
            Some(dir) => walk_subtree(dir, root_id, root, root_canonical.as_deref(), context),
            None => Part::default(),
        })
        .collect();
    let mut whole = Part::default();
    for ((entry, _), subtree) in first_level.into_iter().zip(subtrees) {
        whole.append(entry);
        whole.append(subtree);
    }
    whole
}

fn walk_subtree(
    dir: &Path,
    root_id: RootId,
    root: &Root,
    root_canonical: Option<&Path>,
    context: &Context,
) -> Part {
    // walkdir finds loops back to a folder of this subtree; a link back to the
    // root or above it leaves the subtree and must be caught here.
    let outside_loops = RefCell::new(Vec::new());
    let mut part = Part::default();
    let walker = walkdir::WalkDir::new(dir)
        .follow_links(true)
        .sort_by_file_name()
        .min_depth(1)
        .into_iter()
        .filter_entry(|e| {
            if let Some(problem) = loop_out_of_subtree(e, root, root_canonical) {
                outside_loops.borrow_mut().push(problem);
                return false;
            }
            keep_entry(e, root, context)
        });
    for entry in walker {
        // Problems keep the walk's order: a loop found by the filter comes
        // before the entry that follows it.
        part.problems.append(&mut outside_loops.borrow_mut());
        match entry {
            Ok(entry) => visit_entry(&entry, root_id, root, context, &mut part),
            Err(err) => part.problems.push(walk_problem(&err, &root.path)),
        }
    }
    part.problems.append(&mut outside_loops.borrow_mut());
    part
}

/// A symlinked folder that leads back to the root or one of its ancestors.
fn loop_out_of_subtree(
    entry: &walkdir::DirEntry,
    root: &Root,
    root_canonical: Option<&Path>,
) -> Option<Problem> {
    if !(entry.path_is_symlink() && entry.file_type().is_dir()) {
        return None;
    }
    let target = std::fs::canonicalize(entry.path()).ok()?;
    let root_canonical = root_canonical?;
    if !root_canonical.starts_with(&target) {
        return None;
    }
    let ancestor = if target == root_canonical {
        root.path.clone()
    } else {
        target
    };
    Some(Problem {
        path: entry.path().to_path_buf(),
        line: None,
        message: format!("symlink loop back to {}; skipped", ancestor.display()),
    })
}

/// Other roots are walked on their own; hidden folders outside site-packages
/// (`.git`, `.venv`) are not part of the unit.
fn keep_entry(entry: &walkdir::DirEntry, root: &Root, context: &Context) -> bool {
    !(entry.file_type().is_dir()
        && (context.all_roots.contains(entry.path())
            || (root.kind != RootKind::SitePackages && is_hidden(entry.path()))))
}

fn visit_entry(
    entry: &walkdir::DirEntry,
    root_id: RootId,
    root: &Root,
    context: &Context,
    part: &mut Part,
) {
    let rel = relative(entry.path(), &root.path);
    if entry.file_type().is_dir() {
        part.dirs.push(rel);
        return;
    }
    let asset = context.assets.is_some_and(|m| {
        m.is_match(
            entry
                .path()
                .strip_prefix(&context.unit.root)
                .unwrap_or(entry.path()),
        )
    });
    if root.kind == RootKind::Assets && !asset {
        return;
    }
    let meta = match entry.metadata() {
        Ok(meta) => meta,
        Err(err) => {
            part.problems.push(walk_problem(&err, &root.path));
            return;
        }
    };
    // Permission bits, not an open() per file: ten thousand opens cost
    // more than the rest of the walk.
    if std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o444 == 0 {
        part.problems.push(Problem {
            path: entry.path().to_path_buf(),
            line: None,
            message: "unreadable (no read permission); it is counted but cannot be packaged".into(),
        });
    }
    part.files.push(FileEntry {
        root: root_id,
        kind: kind_from_name(&rel),
        rel,
        path: entry.path().to_path_buf(),
        size: meta.len(),
        dist: None,
        owner: None,
        asset,
    });
}

fn build_asset_matcher(unit: &Unit, problems: &mut Vec<Problem>) -> Option<globset::GlobSet> {
    if unit.assets.is_empty() {
        return None;
    }
    let mut builder = globset::GlobSetBuilder::new();
    for pattern in &unit.assets {
        match globset::Glob::new(pattern) {
            Ok(glob) => {
                builder.add(glob);
            }
            Err(err) => problems.push(Problem {
                path: unit.root.join(crate::config::CONFIG_FILE),
                line: None,
                message: format!("assets: bad glob `{pattern}`: {err}"),
            }),
        }
    }
    builder.build().ok()
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.'))
}

fn walk_problem(err: &walkdir::Error, root: &Path) -> Problem {
    let path = err.path().unwrap_or(root).to_path_buf();
    let message = match err.loop_ancestor() {
        Some(ancestor) => format!("symlink loop back to {}; skipped", ancestor.display()),
        None => format!(
            "cannot read: {}; skipped",
            err.io_error()
                .map(|e| e.to_string())
                .unwrap_or_else(|| err.to_string())
        ),
    };
    Problem {
        path,
        line: None,
        message,
    }
}

fn relative(path: &Path, root: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn write(path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"x = 1\n").unwrap();
    }

    /// What one sequential walkdir walk of `root` yields, as relative paths.
    fn sequential(root: &Path) -> Vec<String> {
        walkdir::WalkDir::new(root)
            .follow_links(true)
            .sort_by_file_name()
            .into_iter()
            .filter_map(|e| e.ok())
            .filter(|e| !e.file_type().is_dir())
            .map(|e| relative(e.path(), root))
            .collect()
    }

    #[test]
    fn parallel_walk_keeps_sequential_order_and_reports_links_out_of_a_subtree() {
        let dir = tempfile::tempdir().unwrap();
        let site = dir.path().join("unit/site");
        for rel in [
            "a.py",
            "pkg/__init__.py",
            "pkg/sub/deep/x.py",
            "pkg/sub/y.py",
            "pkg/z.py",
            "pkg-1.0.dist-info/RECORD",
            "zeta/__init__.py",
            "_private.so",
        ] {
            write(&site.join(rel));
        }
        std::fs::write(
            dir.path().join("unit/caios-pack.yaml"),
            "handler: a.handler\n",
        )
        .unwrap();
        // Back to the root, and above it: both leave the subtree they are in.
        symlink("../..", site.join("pkg/sub/to-root")).unwrap();
        symlink("../../..", site.join("zeta/above-root")).unwrap();
        // Inside the subtree: walkdir's own loop check.
        symlink("..", site.join("pkg/sub/deep/to-sub")).unwrap();
        // A link to a sibling package is followed, as Python would.
        symlink("../pkg/sub", site.join("zeta/alias")).unwrap();

        let overrides = crate::config::Overrides {
            handler: None,
            source: Some(site.clone()),
            site_packages: vec![],
        };
        let unit = crate::config::Unit::load(&dir.path().join("unit"), &overrides).unwrap();
        let roots = vec![Root {
            path: site.clone(),
            kind: RootKind::SitePackages,
        }];
        let mut problems = Vec::new();
        let walked = walk_roots(&roots, &unit, &mut problems);
        let files: Vec<&str> = walked.files.iter().map(|f| f.rel.as_str()).collect();
        assert_eq!(
            files,
            [
                "_private.so",
                "a.py",
                "pkg/__init__.py",
                "pkg/sub/deep/x.py",
                "pkg/sub/y.py",
                "pkg/z.py",
                "pkg-1.0.dist-info/RECORD",
                "zeta/__init__.py",
                "zeta/alias/deep/x.py",
                "zeta/alias/y.py",
            ]
        );
        let loops: Vec<String> = walked
            .problems
            .iter()
            .map(|p| relative(&p.path, &site))
            .collect();
        assert_eq!(
            loops,
            [
                "pkg/sub/deep/to-sub",
                "pkg/sub/to-root",
                "zeta/above-root",
                "zeta/alias/deep/to-sub",
                "zeta/alias/to-root",
            ]
        );
        assert!(walked
            .problems
            .iter()
            .all(|p| p.message.contains("symlink loop back to")));
        // Without the links that loop out of their subtree, the files are
        // exactly what one sequential walkdir walk yields, in its order.
        std::fs::remove_file(site.join("pkg/sub/to-root")).unwrap();
        std::fs::remove_file(site.join("zeta/above-root")).unwrap();
        let walked = walk_roots(&roots, &unit, &mut problems);
        let files: Vec<String> = walked.files.iter().map(|f| f.rel.clone()).collect();
        assert_eq!(files, sequential(&site));
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
