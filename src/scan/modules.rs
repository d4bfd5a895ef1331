//! The module finder of scan: which module each file is, resolved the way
//! Python's path finder would.
//!
//! Input: the walked files and folders of every root, and the unit's Python
//! version (to match `cpython-3XY` extension tags). Output: the inventory's
//! `modules` and `by_name`, and each module file's `module`: first
//! `sys.path` entry wins, packages before modules, extensions before source
//! before bytecode, namespace packages merged across entries.

use super::{FileId, FileKind, Inventory, Module, ModuleKind, RootId, RootKind};
use crate::names::is_identifier;
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::collections::BTreeMap;

/// How a file name makes a module: `(stem, kind, priority)`; a lower
/// priority wins, following `importlib.machinery` suffix order.
pub(super) fn module_file_name(
    name: &str,
    python: Option<(u32, u32)>,
) -> Option<(&str, ModuleKind, u8)> {
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

pub(super) fn find_modules(
    inv: &mut Inventory,
    dirs: &[HashSet<String>],
    python: Option<(u32, u32)>,
) {
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

pub(super) fn parent_dir(rel: &str) -> &str {
    rel.rsplit_once('/').map(|(d, _)| d).unwrap_or("")
}

/// `a/b` → `a.b` when every part is an identifier (and not `__pycache__`).
pub(super) fn dotted_dir_name(dir: &str) -> Option<String> {
    if dir.is_empty() {
        return None;
    }
    let ok = dir
        .split('/')
        .all(|p| is_identifier(p) && p != "__pycache__");
    ok.then(|| dir.replace('/', "."))
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
}
