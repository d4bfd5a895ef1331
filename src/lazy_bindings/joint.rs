//! The joint decision: which modules stop loading at init once every
//! chosen patch applies ([`apply`]), which patches stay safe against that
//! (`refuse_unsafe_vanishing`), and which are worth keeping
//! (`keep_patches_that_defer`).
//!
//! Input: the chosen patches, the usage table and the trace's statistics.
//! Output: the patches kept (with refusals for the rest) and the usage table
//! with what they defer.

use super::{LazyBindings, Patch, PatchForm, PatchSite, Refusal, Targets};
use crate::analysis::Analysis;
use crate::imports::SiteKind;
use crate::scan::ModuleId;
use crate::stats::Stats;
use crate::usage::{Usage, UsageTable};
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

/// The first choice checks each statement's own targets; what else stops
/// loading at init depends on every patch together. So: apply them all,
/// check each patch again against the modules that would vanish from init
/// under it, drop the ones that fail (with their `import a.x` siblings),
/// and repeat until none fails. Patches are only ever dropped, so this ends.
pub(super) fn refuse_unsafe_vanishing(t: &mut Targets, out: &mut LazyBindings) {
    let (a, usage, stats) = (t.a, t.usage, t.stats);
    loop {
        t.vanishing = Some(stopped_by(a, usage, stats, out));
        t.why_not.clear();
        let mut failed: Vec<(usize, String)> = Vec::new();
        for (i, p) in out.patches.iter().enumerate() {
            let Some(m) = a.inventory.module(&p.module) else {
                continue;
            };
            // `submodules` imports at once where it cannot hook; a
            // placeholder's hook is a best effort.
            let hooked = p.form == PatchForm::Submodules;
            let why = p
                .checked
                .iter()
                .filter(|&&d| stats.loaded_under(&a.inventory.modules[d].name, &p.module))
                .find_map(|&d| t.why_not(d, (m, p.line), hooked));
            if let Some(why) = why {
                failed.push((i, why));
            }
        }
        if failed.is_empty() {
            return;
        }
        let failed_groups: HashMap<(String, String), (u32, String)> = failed
            .iter()
            .filter_map(|(i, why)| {
                let p = &out.patches[*i];
                Some((p.group()?, (p.line, why.clone())))
            })
            .collect();
        let mut why_by_index: HashMap<usize, String> = failed.into_iter().collect();
        for (i, p) in out.patches.iter().enumerate() {
            if why_by_index.contains_key(&i) {
                continue;
            }
            if let Some((line, why)) = p.group().and_then(|g| failed_groups.get(&g)) {
                let name = p.package_group.as_deref().unwrap_or_default();
                why_by_index.insert(
                    i,
                    format!(
                        "`import {name}` at line {line} binds the same name and stays eager: {why}"
                    ),
                );
            }
        }
        let patches = std::mem::take(&mut out.patches);
        for (i, p) in patches.into_iter().enumerate() {
            match (why_by_index.remove(&i), p.fallback) {
                // Checked on the next round, with what the others move.
                (Some(_), Some(names)) => out.patches.push(*names),
                (Some(why), None) => out.refused.push(Refusal {
                    module: p.module,
                    line: p.line,
                    why,
                }),
                (None, fallback) => out.patches.push(Patch { fallback, ..p }),
            }
        }
    }
}

/// For each module that no longer loads at init, the patched statements
/// without which it would load there again: each patch is left out in
/// turn. A module only one statement answers for comes back only when that
/// statement's import runs; one that two statements answer for can come
/// back through either, without what the other one loads.
fn stopped_by(
    a: &Analysis,
    usage: &UsageTable,
    stats: &Stats,
    out: &LazyBindings,
) -> HashMap<ModuleId, Vec<PatchSite>> {
    let init = InitImports::new(a, usage, stats, out);
    let mut result: HashMap<ModuleId, Vec<PatchSite>> = HashMap::default();
    for p in &out.patches {
        let Some(m) = a.inventory.module(&p.module) else {
            continue;
        };
        for d in init.brought_back((m, p.line)) {
            result.entry(d).or_default().push((m, p.line));
        }
    }
    result
}

/// A module is deferred only when no import at init still loads it, so a
/// statement is chosen when it imports something unused at init, whoever
/// loaded it first. Once all are chosen, those whose modules stay loaded
/// anyway are dropped (a group of `import a.x` statements binding one name
/// goes as a whole), and each kept patch lists what it really defers.
pub(super) fn keep_patches_that_defer(
    a: &Analysis,
    usage: &UsageTable,
    stats: &Stats,
    out: &mut LazyBindings,
) {
    let after = apply(a, usage, stats, out);
    let newly_deferred = |name: &str| {
        a.inventory.module(name).is_some_and(|m| {
            after.of(m).usage == Usage::Deferred && usage.of(m).usage != Usage::Deferred
        })
    };
    for p in &mut out.patches {
        // A patch in a module that no longer loads at init changes nothing
        // there: its statement runs only when that module loads later.
        if newly_deferred(&p.module) {
            p.deferred.clear();
        }
        p.deferred.retain(|d| newly_deferred(d));
    }
    let useful_groups: HashSet<(String, String)> = out
        .patches
        .iter()
        .filter(|p| !p.deferred.is_empty())
        .filter_map(Patch::group)
        .collect();
    let (kept, dropped): (Vec<Patch>, Vec<Patch>) =
        std::mem::take(&mut out.patches).into_iter().partition(|p| {
            !p.deferred.is_empty() || p.group().is_some_and(|g| useful_groups.contains(&g))
        });
    out.patches = kept;
    for p in dropped {
        let gone = newly_deferred(&p.module);
        out.refused.push(Refusal {
            module: p.module,
            line: p.line,
            why: if gone {
                "its module no longer loads at init".into()
            } else {
                "it would defer nothing: another import at init still loads what it imports".into()
            },
        });
    }
}

/// The usage table once the patches apply. The modules that may stop
/// loading at init are those the trace saw first loaded under a patched
/// module and that init does not use; of them, those no longer reached from
/// what init loads regardless (the handler, every other module loaded at
/// init, every module init uses) become `deferred`. Reached means through
/// module-level imports that are not patched, or through a load the trace
/// saw inside a module's import that no patched statement of it makes (an
/// import in a function it ran at init). A package and its
/// submodules import each other, so this is reachability, not a count of
/// importers. An extension module's import edge is followed unless the
/// trace shows its init did not run it ([`native_import_may_run`]). Verify
/// still runs on exactly this plan.
pub fn apply(a: &Analysis, usage: &UsageTable, stats: &Stats, lazy: &LazyBindings) -> UsageTable {
    let mut out = usage.clone();
    if lazy.patches.is_empty() {
        return out;
    }
    let init = InitImports::new(a, usage, stats, lazy);
    for (&t, patch) in &init.candidates {
        if init.reached[t] {
            continue;
        }
        let u = &mut out.modules[t];
        u.usage = Usage::Deferred;
        u.init_probability = 0.0;
        u.reason = format!(
            "{}; no longer loaded at init: lazy bindings in {} defer it",
            u.reason, patch.file
        );
    }
    // The standard library modules only deferred modules imported leave
    // init with them; those a staying module imports too stay.
    crate::usage::charge_outside_time(a, stats, &mut out.modules);
    out
}

/// The imports at init once the patches apply: what may stop loading, how
/// modules load one another, and what is still reached.
struct InitImports<'a> {
    a: &'a Analysis,
    usage: &'a UsageTable,
    stats: &'a Stats,
    patched: HashMap<(ModuleId, u32), &'a Patch>,
    /// Modules that may stop loading at init, each with a patch above it.
    candidates: HashMap<ModuleId, &'a Patch>,
    /// Import edges (from, to) a patched statement of `from` stops.
    stopped: HashSet<(ModuleId, ModuleId)>,
    loaded_by: Vec<TraceLoads>,
    reached: Vec<bool>,
}

impl<'a> InitImports<'a> {
    fn new(
        a: &'a Analysis,
        usage: &'a UsageTable,
        stats: &'a Stats,
        lazy: &'a LazyBindings,
    ) -> Self {
        use petgraph::visit::EdgeRef;
        let patched: HashMap<(ModuleId, u32), &Patch> = lazy
            .patches
            .iter()
            .filter_map(|p| Some(((a.inventory.module(&p.module)?, p.line), p)))
            .collect();
        let n = a.inventory.modules.len();
        let name = |m: ModuleId| a.inventory.modules[m].name.as_str();
        let loaded = |m: ModuleId| matches!(usage.of(m).usage, Usage::Hot | Usage::Lazy);
        let mut patched_modules: Vec<&Patch> = Vec::new();
        for p in &lazy.patches {
            if !patched_modules.iter().any(|q| q.module == p.module) {
                patched_modules.push(p);
            }
        }
        let deferring_patch = |m: ModuleId| {
            patched_modules
                .iter()
                .find(|p| stats.loaded_under(name(m), &p.module))
                .copied()
        };
        let mut candidates: HashMap<ModuleId, &Patch> = (0..n)
            .filter(|&m| loaded(m))
            .filter_map(|m| Some((m, deferring_patch(m)?)))
            .collect();
        // Used at init by code that does not move with them: stays. (Runs in
        // the import of a module that moves, move with it.)
        loop {
            let staying: Vec<ModuleId> = candidates
                .keys()
                .copied()
                .filter(|&m| {
                    usage.of(m).usage == Usage::Hot
                        && used_at_init(stats, name(m), |importer| {
                            a.inventory
                                .module(importer)
                                .is_none_or(|i| !candidates.contains_key(&i))
                        })
                })
                .collect();
            if staying.is_empty() {
                break;
            }
            for m in staying {
                candidates.remove(&m);
            }
        }
        let mut stopped: HashSet<(ModuleId, ModuleId)> = HashSet::default();
        for e in a.graph.graph.edge_references() {
            let (from, to) = (e.source().index(), e.target().index());
            if patched
                .get(&(from, e.weight().line))
                .is_some_and(|p| p.stops(to))
            {
                stopped.insert((from, to));
            }
        }
        let mut init = InitImports {
            a,
            usage,
            stats,
            patched,
            loaded_by: trace_loads(a, stats, &loaded),
            candidates,
            stopped,
            reached: vec![false; n],
        };
        let roots: Vec<ModuleId> = (0..n)
            .filter(|&m| {
                init.loaded(m) && (!init.candidates.contains_key(&m) || init.loaded_by[m].outside)
            })
            .collect();
        let mut reached = vec![false; n];
        init.reach(roots, &mut reached, |_| true);
        init.reached = reached;
        init
    }

    fn loaded(&self, m: ModuleId) -> bool {
        matches!(self.usage.of(m).usage, Usage::Hot | Usage::Lazy)
    }

    /// Marks in `reached` what `from` reaches, through module-level imports
    /// that are not patched, or through a load the trace saw inside a
    /// module's import that no patched statement of it makes; only into
    /// modules `within` allows.
    fn reach(&self, from: Vec<ModuleId>, reached: &mut [bool], within: impl Fn(ModuleId) -> bool) {
        use petgraph::visit::EdgeRef;
        let n = self.a.inventory.modules.len();
        let name = |m: ModuleId| self.a.inventory.modules[m].name.as_str();
        for &m in &from {
            reached[m] = true;
        }
        let mut queue = from;
        while let Some(from) = queue.pop() {
            for e in self.a.graph.graph.edges_directed(
                petgraph::graph::NodeIndex::new(from),
                petgraph::Direction::Outgoing,
            ) {
                let (w, to) = (e.weight(), e.target().index());
                // Only what init loaded can load at init: an edge to a module
                // the trace never saw at init did not run there.
                if to >= n
                    || reached[to]
                    || !within(to)
                    || !self.loaded(to)
                    || !w.init
                    || w.type_checking
                {
                    continue;
                }
                if self
                    .patched
                    .get(&(from, w.line))
                    .is_some_and(|p| p.stops(to))
                {
                    continue;
                }
                if w.kind == crate::graph::EdgeKind::Import(SiteKind::Native)
                    && !native_import_may_run(self.stats, name(from), name(to))
                {
                    continue;
                }
                reached[to] = true;
                queue.push(to);
            }
            // What the trace saw `from` load that no module-level import of
            // it explains: an import in a function it ran at init (polars'
            // `_plr` loads its runtime so), `importlib.import_module`, a C
            // import.
            for &to in &self.loaded_by[from].children {
                if !reached[to] && within(to) && !self.stopped.contains(&(from, to)) {
                    reached[to] = true;
                    queue.push(to);
                }
            }
        }
    }

    /// The modules that stop loading at init yet would load again without
    /// the patch at `site` alone: what its stopped imports reach among them.
    fn brought_back(&self, site: PatchSite) -> Vec<ModuleId> {
        use petgraph::visit::EdgeRef;
        let (m, line) = site;
        let gone = |d: ModuleId| self.candidates.contains_key(&d) && !self.reached[d];
        if !self.reached[m] {
            return Vec::new(); // its statement does not run at init anyway
        }
        let Some(patch) = self.patched.get(&site) else {
            return Vec::new();
        };
        let starts: Vec<ModuleId> = self
            .a
            .graph
            .graph
            .edges_directed(
                petgraph::graph::NodeIndex::new(m),
                petgraph::Direction::Outgoing,
            )
            .filter(|e| e.weight().line == line && e.weight().init && !e.weight().type_checking)
            .map(|e| e.target().index())
            .filter(|&to| patch.stops(to) && gone(to))
            .collect();
        let mut reached = vec![false; self.reached.len()];
        self.reach(starts, &mut reached, gone);
        (0..reached.len()).filter(|&d| reached[d]).collect()
    }
}

/// Per module loaded at init: the unit modules the trace saw first loaded
/// inside its import (through standard library modules in between: those
/// load with their nearest unit importer), and whether the trace saw it
/// loaded with no unit module above it.
#[derive(Default, Clone)]
struct TraceLoads {
    children: Vec<ModuleId>,
    outside: bool,
}

fn trace_loads(a: &Analysis, stats: &Stats, loaded: &dyn Fn(ModuleId) -> bool) -> Vec<TraceLoads> {
    let n = a.inventory.modules.len();
    let mut out = vec![TraceLoads::default(); n];
    for m in (0..n).filter(|&m| loaded(m)) {
        let Some(observed) = stats.modules.get(&a.inventory.modules[m].name) else {
            continue;
        };
        for parent in &observed.init_parents {
            let unit_parent = a
                .inventory
                .module(parent)
                .or_else(|| crate::usage::nearest_unit_importer(a, stats, parent));
            match unit_parent {
                Some(p) => out[p].children.push(m),
                None => out[m].outside = true,
            }
        }
    }
    out
}

/// Whether an extension module's import edge (a module name among the
/// strings of its binary: an import at its init, or only in a function or
/// a docstring) may run while it loads. The trace tells when the target
/// finished loading after the extension did without loading under it: its
/// init did not import it. When the target was already loaded, that cannot
/// be told (a Cython module's top-level `import` is a no-op then).
fn native_import_may_run(stats: &Stats, extension: &str, target: &str) -> bool {
    let order = |m: &str| stats.modules.get(m).and_then(|o| o.init_order);
    match (order(extension), order(target)) {
        (Some(x), Some(t)) if t > x => stats.loaded_under(target, extension),
        _ => true,
    }
}

/// Whether a function of `module` ran at init in the import of a module
/// `stays` says does not move (or outside any import). Without the trace's
/// `init_run_under`, whether any ran at init at all; an extension module's
/// functions are not seen: it stays loaded only if something imports it.
fn used_at_init(stats: &Stats, module: &str, stays: impl Fn(&str) -> bool) -> bool {
    let Some(observed) = stats.modules.get(module) else {
        return false;
    };
    match &observed.init_run_under {
        Some(importers) => importers.iter().any(|x| x.is_empty() || stays(x)),
        None => observed.functions_ran == Some(true),
    }
}
