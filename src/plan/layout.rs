//! Plan-time layout check: the dynamic loader simulated in the layout the
//! plan creates at run time.
//!
//! Input: the analysis, the placement groups and the tier of each group.
//! Output: every native load that would fail or open a copy on another tier
//! than the one analysed, described. At run time the local tier is the task
//! root, the EFS tier the mount, and each S3 group a bundle extracted into a
//! folder of its own; a library that an object finds through an
//! `$ORIGIN`-relative RPATH/RUNPATH folder is at that path only when both are
//! in the same one of those trees. Groups merge what links together, so an
//! empty answer is the rule; a non-empty one means the plan must be refused,
//! never emitted.

use super::Group;
use crate::analysis::Analysis;
use crate::config::TierName;
use crate::scan::ld;

/// Where a group's files are at run time: its tier, and for S3 its bundle.
#[derive(Debug, PartialEq, Eq)]
struct Tree {
    tier: TierName,
    bundle: Option<usize>,
}

fn tree(tiers: &[TierName], group: usize) -> Tree {
    let tier = tiers[group];
    Tree {
        tier,
        bundle: (tier == TierName::S3).then_some(group),
    }
}

/// The loads that would break in this placement (empty when none would).
pub fn broken_loads(a: &Analysis, groups: &[Group], tiers: &[TierName]) -> Vec<String> {
    let inv = &a.inventory;
    let mut group_of_file = vec![None; inv.files.len()];
    for (g, group) in groups.iter().enumerate() {
        for &f in &group.files {
            group_of_file[f] = Some(g);
        }
    }
    let mut broken = Vec::new();
    for link in ld::resolve_links(inv) {
        let Some(via) = link.found_via else {
            continue; // matched an object already loaded: wherever it is
        };
        let (Some(gv), Some(gt)) = (group_of_file[via], group_of_file[link.to]) else {
            continue;
        };
        let (from_tree, to_tree) = (tree(tiers, gv), tree(tiers, gt));
        if from_tree != to_tree {
            broken.push(format!(
                "{} loads {} through a search folder of {}, but the plan puts them in different places ({} in group {} on {}, {} in group {} on {})",
                inv.files[link.from].rel,
                inv.files[link.to].rel,
                inv.files[via].rel,
                inv.files[via].rel,
                groups[gv].name,
                from_tree.tier.label(),
                inv.files[link.to].rel,
                groups[gt].name,
                to_tree.tier.label(),
            ));
        }
    }
    broken
}
