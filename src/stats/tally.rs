//! The counts read from part of the input, merged into one table.
//!
//! Input: observations from the format readers. Output: per module loads and
//! time histograms, files opened, and the malformed lines seen.

use super::formats::{EmfLine, ModuleRecord};
use super::{FileStats, ModuleStats};
use rustc_hash::FxHashMap;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Counts from part of the input; parts merge (lines are read in parallel).
#[derive(Default)]
pub(super) struct Tally {
    pub(super) cold_starts: u64,
    pub(super) invocations: u64,
    /// Position of each module in `entries`. FxHash: module names are
    /// short, trusted keys looked up millions of times while reading a log;
    /// the order of `entries` (first seen) never depends on the hash.
    pub(super) index: FxHashMap<String, usize>,
    pub(super) entries: Vec<(String, ModuleStats)>,
    pub(super) bad: Vec<(u64, String)>,
    pub(super) skipped: u64,
    /// Trace documents read, and how many of them had `"probe"`.
    pub(super) traces: u64,
    pub(super) probed_traces: u64,
    /// Cold starts and invocations of the traces that had `"files"`.
    pub(super) file_cold_starts: u64,
    pub(super) file_invocations: u64,
    pub(super) files: BTreeMap<PathBuf, FileStats>,
}

impl Tally {
    pub(super) fn module(&mut self, name: &str) -> &mut ModuleStats {
        let at = match self.index.get(name) {
            Some(&at) => at,
            None => {
                self.index.insert(name.to_string(), self.entries.len());
                self.entries
                    .push((name.to_string(), ModuleStats::default()));
                self.entries.len() - 1
            }
        };
        &mut self.entries[at].1
    }

    pub(super) fn bad(&mut self, line: u64, why: String) {
        self.skipped += 1;
        if self.bad.len() < 5 {
            self.bad.push((line, why));
        }
    }

    pub(super) fn merge(mut self, other: Tally) -> Tally {
        self.cold_starts = self.cold_starts.saturating_add(other.cold_starts);
        self.invocations = self.invocations.saturating_add(other.invocations);
        self.skipped = self.skipped.saturating_add(other.skipped);
        self.traces += other.traces;
        self.probed_traces += other.probed_traces;
        self.file_cold_starts += other.file_cold_starts;
        self.file_invocations += other.file_invocations;
        for (path, theirs) in other.files {
            let mine = self.files.entry(path).or_default();
            mine.init_loads += theirs.init_loads;
            mine.invocation_loads += theirs.invocation_loads;
            mine.how = mine.how.max(theirs.how);
        }
        self.bad.extend(other.bad);
        self.bad.sort();
        self.bad.truncate(5);
        for (name, theirs) in other.entries {
            let mine = self.module(&name);
            mine.init_loads = mine.init_loads.saturating_add(theirs.init_loads);
            mine.invocation_loads = mine
                .invocation_loads
                .saturating_add(theirs.invocation_loads);
            mine.self_hist.merge(&theirs.self_hist);
            mine.cumulative_hist.merge(&theirs.cumulative_hist);
            mine.functions_ran = either(mine.functions_ran, theirs.functions_ran);
            if let Some(lines) = &theirs.init_code_lines {
                mine.init_code_lines = union(mine.init_code_lines.take(), lines);
            }
            if let Some(importers) = &theirs.init_run_under {
                mine.init_run_under = union(mine.init_run_under.take(), importers);
            }
            mine.init_code_lines_unknown |= theirs.init_code_lines_unknown;
            mine.init_order = match (mine.init_order, theirs.init_order) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            mine.in_cycle |= theirs.in_cycle;
            if let Some(effects) = &theirs.effects {
                mine.effects = union(mine.effects.take(), effects);
            }
            union_package_effects(&mut mine.package_effects, &theirs.package_effects);
            for parent in &theirs.init_parents {
                insert_sorted(&mut mine.init_parents, parent);
            }
        }
        self
    }

    pub(super) fn add_emf(&mut self, record: &EmfLine) {
        self.cold_starts += 1;
        for ModuleRecord(name, _, own, cumulative) in &record.modules {
            let module = self.module(name);
            module.init_loads += 1;
            module.self_hist.add(*own);
            module.cumulative_hist.add(*cumulative);
        }
        if let Some(first_invocation) = &record.invocation_modules {
            self.invocations += 1;
            for ModuleRecord(name, _, own, cumulative) in first_invocation {
                let module = self.module(name);
                module.invocation_loads += 1;
                module.self_hist.add(*own);
                module.cumulative_hist.add(*cumulative);
            }
        }
    }
}

pub(super) fn insert_sorted(list: &mut Vec<String>, item: &str) {
    if let Err(at) = list.binary_search_by(|x| x.as_str().cmp(item)) {
        list.insert(at, item.to_string());
    }
}

/// `mine` ∪ `theirs`, sorted and without repeats; `Some` even when empty.
pub(super) fn union<T: Ord + Clone>(mine: Option<Vec<T>>, theirs: &[T]) -> Option<Vec<T>> {
    let mut all = mine.unwrap_or_default();
    all.extend_from_slice(theirs);
    all.sort();
    all.dedup();
    Some(all)
}

/// Merges package effects (module changed -> effects) into `mine`.
pub(super) fn union_package_effects(
    mine: &mut BTreeMap<String, Vec<String>>,
    theirs: &BTreeMap<String, Vec<String>>,
) {
    for (module, effects) in theirs {
        let kept = mine.entry(module.clone()).or_default();
        *kept = union(Some(std::mem::take(kept)), effects).unwrap_or_default();
    }
}

/// "Seen by either": unknown only when neither knows.
fn either(a: Option<bool>, b: Option<bool>) -> Option<bool> {
    match (a, b) {
        (None, x) | (x, None) => x,
        (Some(a), Some(b)) => Some(a || b),
    }
}
