//! placement: which file of the unit goes where.
//!
//! Input: the analysis, the groups and the plan's tiers. Output: every
//! shipped file with its path relative to its root, its tier and its group.

use crate::analysis::Analysis;
use crate::config::TierName;
use crate::plan::{Group, Plan};
use crate::scan::FileKind;
use std::borrow::Cow;
use std::path::Path;

/// A file's place inside its tier: its path relative to its root.
pub(super) struct Placed<'a> {
    pub(super) rel: Cow<'a, str>,
    /// Where its bytes are: a file of the unit, or a `.pyc` compiled for it
    /// in the packer's temporary folder.
    pub(super) source: Cow<'a, Path>,
    pub(super) tier: TierName,
    pub(super) group: usize,
    pub(super) executable: bool,
}

/// Every file with its tier; caches of `.py` files are left out (every tier
/// gets fresh unchecked-hash pycs), and a path two roots both hold keeps the
/// file of the first root, as `sys.path` would.
pub(super) fn place_files<'a>(a: &'a Analysis, groups: &[Group], plan: &Plan) -> Vec<Placed<'a>> {
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
