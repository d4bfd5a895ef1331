//! The owners of scan: the installed distributions and which module and
//! distribution each file belongs to.
//!
//! Input: the inventory's files and modules. Output: its `dists` (from
//! `*.dist-info/{METADATA,RECORD}`) and each file's `owner` module and
//! `dist`.

use super::modules::{dotted_dir_name, parent_dir};
use super::{
    dist, read_text, DistId, Distribution, FileEntry, FileId, Inventory, ModuleId, Problem, RootId,
};
use rustc_hash::FxHashMap as HashMap;

pub(super) fn read_distributions(inv: &mut Inventory) {
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
pub(super) fn assign_owners(inv: &mut Inventory) {
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
