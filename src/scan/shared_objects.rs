//! The shared objects of scan: ELF facts for every `.so` file.
//!
//! Input: the inventory's files of kind `SharedLib`. Output: their
//! [`ElfInfo`] in the inventory's `elf` map, the ones exporting
//! `PyInit_<stem>` re-marked as extension modules, and a [`Problem`] for each
//! that cannot be read as ELF.

use super::modules::module_file_name;
use super::{elf, ElfInfo, FileId, FileKind, Inventory, Problem};
use crate::names::is_identifier;
use rayon::prelude::*;
use rustc_hash::FxHashSet as HashSet;
use std::path::Path;

/// Reads every shared object's ELF facts in parallel and marks the ones that
/// export `PyInit_<stem>` as extension modules.
pub(super) fn read_shared_objects(
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
