//! Init time outside the unit: the standard library modules a trace saw
//! init load, each charged to the unit module whose import pays for it.
//!
//! Input: an [`Analysis`], the trace's [`Stats`] and a usage table (which
//! modules stay loaded at init). Output: `outside_us` on its modules.

use super::{ModuleUsage, Usage};
use crate::analysis::Analysis;
use crate::scan::ModuleId;
use crate::stats::Stats;
use rustc_hash::FxHashMap as HashMap;

/// Charges the standard library's init time, as a trace saw it, to the
/// unit module that pays it, so the model's cold start is the whole init's.
/// Each such module's self time (weighted by how often init loaded it) is
/// owned by the unit modules that import it at init: those on its chain of
/// first importers (through standard library modules in between) and those
/// whose module-level imports name it. While any owner stays loaded at init
/// it stays too, charged to their nearest common first importer (the
/// handler, failing any); when none does (lazy bindings deferred them all:
/// `lazy_bindings::apply` charges again), it leaves init with one of them.
/// Only a trace records the chain (`-X importtime` lists interpreter
/// start-up modules without one, and the importer's EMF self times already
/// hold their standard library imports), so a module without a unit
/// importer is not charged; neither are imports in threads. Imports made
/// only from other standard library modules are seen on the first chain
/// alone; docs/model.md says so.
pub(crate) fn charge_outside_time(a: &Analysis, stats: &Stats, modules: &mut [ModuleUsage]) {
    for m in modules.iter_mut() {
        m.outside_us = 0;
    }
    let cold_starts = stats.cold_starts.max(1) as f64;
    let importers = unit_importers_at_init(a, stats);
    let loaded = |m: ModuleId| matches!(modules[m].usage, Usage::Hot | Usage::Lazy);
    let mut owners: HashMap<&str, Vec<ModuleId>> = HashMap::default();
    let mut charges: Vec<(ModuleId, u64)> = Vec::new();
    for (name, observed) in &stats.modules {
        if observed.init_loads == 0 || a.inventory.module(name).is_some() {
            continue;
        }
        let Some(us) = observed.self_us else {
            continue;
        };
        let all = outside_owners(a, stats, &importers, name, &mut owners);
        let staying: Vec<ModuleId> = all.iter().copied().filter(|&m| loaded(m)).collect();
        let owner = match (staying.as_slice(), all.first()) {
            ([], Some(&moved)) => moved,
            ([], None) => continue,
            ([one], _) => *one,
            (several, _) => common_first_importer(a, stats, several)
                .filter(|&c| loaded(c))
                .unwrap_or(a.graph.handler.index()),
        };
        let share = (observed.init_loads as f64 / cold_starts).min(1.0);
        charges.push((owner, (us as f64 * share).round() as u64));
    }
    for (owner, us) in charges {
        modules[owner].outside_us = modules[owner].outside_us.saturating_add(us);
    }
}

/// Modules outside the unit, each with the unit modules loaded at init
/// whose module-level imports (that run at init) name it.
fn unit_importers_at_init<'a>(a: &'a Analysis, stats: &Stats) -> HashMap<&'a str, Vec<ModuleId>> {
    let mut out: HashMap<&str, Vec<ModuleId>> = HashMap::default();
    for (m, imports) in a.imports.modules.iter().enumerate() {
        let module = &a.inventory.modules[m];
        if stats
            .modules
            .get(&module.name)
            .is_none_or(|o| o.init_loads == 0)
        {
            continue;
        }
        for site in imports
            .sites
            .iter()
            .filter(|s| s.runs_at_init() && s.level == 0)
        {
            if a.inventory.module(&site.target).is_none() && !site.target.is_empty() {
                out.entry(site.target.as_str()).or_default().push(m);
            }
        }
    }
    out
}

/// The unit modules that import a module outside the unit at init: its
/// first importers in the unit (through modules outside the unit in
/// between, whose own owners count), nearest first, then those whose
/// module-level imports name it; empty when nothing of the unit does.
fn outside_owners<'s>(
    a: &Analysis,
    stats: &'s Stats,
    importers: &HashMap<&str, Vec<ModuleId>>,
    name: &'s str,
    memo: &mut HashMap<&'s str, Vec<ModuleId>>,
) -> Vec<ModuleId> {
    if let Some(known) = memo.get(name) {
        return known.clone();
    }
    memo.insert(name, Vec::new()); // an import cycle ends here
    let mut owners: Vec<ModuleId> = Vec::new();
    for parent in stats
        .modules
        .get(name)
        .into_iter()
        .flat_map(|o| &o.init_parents)
    {
        match a.inventory.module(parent) {
            Some(p) => owners.push(p),
            None => owners.extend(outside_owners(a, stats, importers, parent, memo)),
        }
    }
    owners.extend(importers.get(name).into_iter().flatten().copied());
    let mut seen = std::collections::HashSet::new();
    owners.retain(|m| seen.insert(*m));
    memo.insert(name, owners.clone());
    owners
}

/// The nearest module all of `modules` were first loaded under (each one
/// counting as under itself).
fn common_first_importer(a: &Analysis, stats: &Stats, modules: &[ModuleId]) -> Option<ModuleId> {
    let (first, rest) = modules.split_first()?;
    let above: Vec<Vec<ModuleId>> = rest.iter().map(|&m| unit_ancestors(a, stats, m)).collect();
    unit_ancestors(a, stats, *first)
        .into_iter()
        .find(|c| above.iter().all(|list| list.contains(c)))
}

/// A unit module and the unit modules it was first loaded under, nearest
/// first (through modules outside the unit in between).
fn unit_ancestors(a: &Analysis, stats: &Stats, m: ModuleId) -> Vec<ModuleId> {
    let above = stats.importers_upward(&a.inventory.modules[m].name);
    std::iter::once(m)
        .chain(above.filter_map(|parent| a.inventory.module(parent)))
        .collect()
}

/// The first unit module found walking up `name`'s first importers.
pub(crate) fn nearest_unit_importer(a: &Analysis, stats: &Stats, name: &str) -> Option<ModuleId> {
    let parent = stats.nearest_importer(name, |p| a.inventory.module(p).is_some())?;
    a.inventory.module(parent)
}
