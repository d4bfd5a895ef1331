//! The dynamic loader's view of the unit: which file each `DT_NEEDED` opens.
//!
//! Input: the inventory's ELF facts ([`ElfInfo`] per shared object) and its
//! index of shared objects by path. Output: [`Link`]s, one per `DT_NEEDED`
//! that resolves to a file of the unit, found as glibc's `ld.so` finds it
//! when that object (an extension module, or a library loaded by path with
//! `ctypes`) is the first one `dlopen`ed:
//!
//! 1. a library already loaded in this load (breadth-first, in `DT_NEEDED`
//!    order) whose `DT_SONAME` — or the name it was loaded by — equals the
//!    needed name is used as is;
//! 2. else, when the object has no `DT_RUNPATH`, the `DT_RPATH` of the object
//!    itself, then of the object that loaded it, and so on up to the first
//!    object (RPATH is inherited; RUNPATH is not);
//! 3. else the object's own `DT_RUNPATH`;
//! 4. else the system's folders: not part of the unit, no link.
//!
//! `$ORIGIN` was expanded per object when its ELF was read. Never matched by
//! file name across packages: two packages may vendor the same soname in
//! different folders (`numpy.libs/libquadmath-….so` and
//! `scipy.libs/libquadmath-….so`) and each extension opens its own copy.
//! The search folder that supplied a link matters for placement: a library
//! found through an `$ORIGIN`-relative folder of object X sits where X's
//! path says only if X and the library are extracted together.

use super::{ElfInfo, FileId, Inventory};
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::collections::VecDeque;

/// One `DT_NEEDED` of `from`, resolved to the unit's file `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Link {
    pub from: FileId,
    pub to: FileId,
    /// The object whose RPATH/RUNPATH folder held `to`: `to` must sit at the
    /// same place relative to it at run time. `None` when `to` was already
    /// loaded (matched by soname) in the load that found this link.
    pub found_via: Option<FileId>,
}

/// Every link of the unit: the union over loads that start at each shared
/// object, sorted, without duplicates.
pub fn resolve_links(inv: &Inventory) -> Vec<Link> {
    let mut roots: Vec<FileId> = inv.elf.keys().copied().collect();
    roots.sort_unstable();
    let mut links: HashSet<Link> = HashSet::default();
    for root in roots {
        load_from(inv, root, &mut links);
    }
    let mut links: Vec<Link> = links.into_iter().collect();
    links.sort_unstable();
    links
}

/// The unit's files that `dlopen(root)` maps, `root` excluded, sorted: what
/// `ldd` lists for it within the unit.
pub fn load_closure(inv: &Inventory, root: FileId) -> Vec<FileId> {
    let mut links = HashSet::default();
    load_from(inv, root, &mut links);
    let mut files: Vec<FileId> = links
        .into_iter()
        .map(|l| l.to)
        .filter(|&f| f != root)
        .collect();
    files.sort_unstable();
    files.dedup();
    files
}

/// Simulates `dlopen(root)`: breadth-first over `DT_NEEDED`, as ld.so maps
/// dependencies, recording each resolved link.
fn load_from(inv: &Inventory, root: FileId, links: &mut HashSet<Link>) {
    // Names an already loaded object answers to: its soname and the names it
    // was loaded by.
    let mut loaded: HashMap<&str, FileId> = HashMap::default();
    let mut chain_of: HashMap<FileId, Vec<FileId>> = HashMap::default();
    if let Some(info) = inv.elf.get(&root) {
        if let Some(soname) = &info.soname {
            loaded.insert(soname, root);
        }
    }
    chain_of.insert(root, vec![root]);
    let mut queue = VecDeque::from([root]);
    while let Some(object) = queue.pop_front() {
        let Some(info) = inv.elf.get(&object) else {
            continue;
        };
        let chain = chain_of[&object].clone();
        for needed in &info.needed {
            if let Some(&to) = loaded.get(needed.as_str()) {
                if to != object {
                    links.insert(Link {
                        from: object,
                        to,
                        found_via: None,
                    });
                }
                continue;
            }
            if needed.contains('/') {
                continue; // a path, not a name: never searched
            }
            let Some((to, via)) = search(inv, info, &chain, needed) else {
                continue; // a system library (or missing): not the unit's
            };
            links.insert(Link {
                from: object,
                to,
                found_via: Some(via),
            });
            loaded.insert(needed, to);
            if let Some(soname) = inv.elf.get(&to).and_then(|i| i.soname.as_deref()) {
                loaded.entry(soname).or_insert(to);
            }
            if let std::collections::hash_map::Entry::Vacant(slot) = chain_of.entry(to) {
                let mut longer = chain.clone();
                longer.push(to);
                slot.insert(longer);
                queue.push_back(to);
            }
        }
    }
}

/// Steps 2 and 3: RPATH up the chain of loaders (when the object has no
/// RUNPATH), then the object's RUNPATH. Returns the file and the object
/// whose folder held it.
fn search(
    inv: &Inventory,
    info: &ElfInfo,
    chain: &[FileId],
    needed: &str,
) -> Option<(FileId, FileId)> {
    let object = *chain.last()?;
    if info.runpath.is_empty() {
        for &loader in chain.iter().rev() {
            let Some(loader_info) = inv.elf.get(&loader) else {
                continue;
            };
            for dir in &loader_info.rpath {
                if let Some(&to) = inv.file_index.get(&dir.join(needed)) {
                    return Some((to, loader));
                }
            }
        }
    }
    info.runpath
        .iter()
        .find_map(|dir| inv.file_index.get(&dir.join(needed)).copied())
        .map(|to| (to, object))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::{FileEntry, FileKind};
    use std::path::PathBuf;

    /// A shared object for the table: path, soname, needed, rpath, runpath
    /// (folders relative to the object's own folder, i.e. `$ORIGIN/…`).
    struct So {
        path: &'static str,
        soname: Option<&'static str>,
        needed: &'static [&'static str],
        rpath: &'static [&'static str],
        runpath: &'static [&'static str],
    }

    const fn so(path: &'static str, needed: &'static [&'static str]) -> So {
        So {
            path,
            soname: None,
            needed,
            rpath: &[],
            runpath: &[],
        }
    }

    fn inventory(objects: &[So]) -> Inventory {
        let mut inv = Inventory::default();
        for (id, o) in objects.iter().enumerate() {
            let path = PathBuf::from("/sp").join(o.path);
            let origin = path.parent().unwrap().to_path_buf();
            let dirs = |ds: &[&str]| -> Vec<PathBuf> {
                ds.iter()
                    .map(|d| crate::names::normalize_path(&origin.join(d)))
                    .collect()
            };
            inv.files.push(FileEntry {
                root: 0,
                rel: o.path.to_string(),
                path: path.clone(),
                size: 0,
                kind: FileKind::SharedLib,
                dist: None,
                owner: None,
                asset: false,
            });
            inv.file_index.insert(path, id);
            inv.elf.insert(
                id,
                ElfInfo {
                    soname: o.soname.map(str::to_string),
                    needed: o.needed.iter().map(|s| s.to_string()).collect(),
                    rpath: dirs(o.rpath),
                    runpath: dirs(o.runpath),
                    ..ElfInfo::default()
                },
            );
        }
        inv
    }

    /// (from, to) by path, sorted, once each.
    fn named(inv: &Inventory, links: &[Link]) -> Vec<(String, String)> {
        let set: std::collections::BTreeSet<(String, String)> = links
            .iter()
            .map(|l| (inv.files[l.from].rel.clone(), inv.files[l.to].rel.clone()))
            .collect();
        set.into_iter().collect()
    }

    const QUAD: &str = "libquadmath-96973f99.so.0.0.0";
    const GFORTRAN: &str = "libgfortran-040039e1.so.5.0.0";

    #[test]
    fn resolves_as_the_dynamic_loader_does() {
        // (case, objects, links expected as (from, to))
        type Case = (&'static str, Vec<So>, Vec<(&'static str, &'static str)>);
        let cases: Vec<Case> = vec![
            (
                // The issue's layout: two packages vendor the same soname. The
                // RPATH-less libgfortran of a.libs finds libquadmath through
                // the RPATH of the extension that loaded it: a.libs' copy.
                "inherited rpath picks the loader's package copy",
                vec![
                    So {
                        rpath: &["../a.libs"],
                        ..so("a/_ext.so", &[GFORTRAN])
                    },
                    so("a.libs/libgfortran-040039e1.so.5.0.0", &[QUAD]),
                    so("a.libs/libquadmath-96973f99.so.0.0.0", &[]),
                    So {
                        rpath: &["lib"],
                        ..so("b/_ext.so", &[QUAD])
                    },
                    so("b/lib/libquadmath-96973f99.so.0.0.0", &[]),
                ],
                vec![
                    (
                        "a.libs/libgfortran-040039e1.so.5.0.0",
                        "a.libs/libquadmath-96973f99.so.0.0.0",
                    ),
                    ("a/_ext.so", "a.libs/libgfortran-040039e1.so.5.0.0"),
                    ("b/_ext.so", "b/lib/libquadmath-96973f99.so.0.0.0"),
                ],
            ),
            (
                // RUNPATH is not inherited: the dependency of a dependency is
                // not searched in the extension's RUNPATH folder.
                "runpath is not inherited",
                vec![
                    So {
                        runpath: &["../x.libs"],
                        ..so("x/_ext.so", &["libfoo.so"])
                    },
                    so("x.libs/libfoo.so", &["libbar.so"]),
                    so("x.libs/libbar.so", &[]),
                ],
                vec![("x/_ext.so", "x.libs/libfoo.so")],
            ),
            (
                // An object with RUNPATH ignores its own RPATH and the chain's.
                "runpath hides rpath",
                vec![
                    So {
                        rpath: &["r"],
                        runpath: &["u"],
                        ..so("p/_ext.so", &["libz9.so"])
                    },
                    so("p/r/libz9.so", &[]),
                    so("p/u/libz9.so", &[]),
                ],
                vec![("p/_ext.so", "p/u/libz9.so")],
            ),
            (
                // A library already loaded answers by its soname, whatever
                // its file name.
                "already loaded matches by soname",
                vec![
                    So {
                        rpath: &["../q.libs"],
                        ..so("q/_ext.so", &["libone.so", "libtwo.so"])
                    },
                    So {
                        soname: Some("libtwo.so"),
                        ..so("q.libs/libone.so", &[])
                    },
                    so("q.libs/libtwo.so", &[]),
                ],
                vec![("q/_ext.so", "q.libs/libone.so")],
            ),
            (
                // Without any search folder nothing of the unit is opened:
                // a system library, never a same-named file elsewhere.
                "no search folder, no link",
                vec![
                    so("m/_ext.so", &["libquadmath.so.0"]),
                    so("n.libs/libquadmath.so.0", &[]),
                ],
                vec![],
            ),
        ];
        for (case, objects, expected) in cases {
            let inv = inventory(&objects);
            let got = named(&inv, &resolve_links(&inv));
            let mut want: Vec<(String, String)> = expected
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect();
            want.sort();
            assert_eq!(got, want, "{case}");
        }
    }

    #[test]
    fn a_link_found_through_an_inherited_rpath_names_the_loader() {
        let inv = inventory(&[
            So {
                rpath: &["../a.libs"],
                ..so("a/_ext.so", &[GFORTRAN])
            },
            so("a.libs/libgfortran-040039e1.so.5.0.0", &[QUAD]),
            so("a.libs/libquadmath-96973f99.so.0.0.0", &[]),
        ]);
        let links = resolve_links(&inv);
        let quad = links.iter().find(|l| l.to == 2).unwrap();
        assert_eq!(quad.from, 1);
        assert_eq!(quad.found_via, Some(0), "the extension's RPATH found it");
    }
}
