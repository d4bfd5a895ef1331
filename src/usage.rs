//! usage: what each module is used for, with the reason.
//!
//! Input: an [`Analysis`] (inventory, import sites, graph) and, optionally,
//! observed [`Stats`]. Output: a [`UsageTable`] — every cold module is `hot`
//! or `lazy` (it may be imported through `importlib.util.LazyLoader` because
//! nothing at init uses it beyond binding or re-exporting it and, with
//! statistics, none of its functions ran there); every other
//! module is `deferred` or `unreachable`. Observed statistics override static
//! guesses: a module init never loaded in practice becomes deferred, one it
//! loaded that analysis missed becomes hot. Modules LazyLoader cannot handle
//! are never lazy: extension modules, namespace packages, modules that replace
//! their own `sys.modules` entry or assign `__class__`, and modules with
//! detectable side effects at import (registering codecs, atexit hooks, …).

use crate::analysis::Analysis;
use crate::graph::{binding_base, EdgeKind, Reach};
use crate::imports::SiteKind;
use crate::scan::{ModuleId, ModuleKind};
use crate::stats::Stats;
use petgraph::graph::NodeIndex;
use petgraph::visit::EdgeRef;
use serde::Serialize;

mod outside;
pub(crate) use outside::{charge_outside_time, nearest_unit_importer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Usage {
    /// Loaded during init and used there.
    Hot,
    /// Loaded during init but not used there: can be imported lazily.
    Lazy,
    /// Needed only after init (in an invocation), if at all.
    Deferred,
    Unreachable,
}

impl Usage {
    pub fn label(self) -> &'static str {
        match self {
            Usage::Hot => "hot",
            Usage::Lazy => "lazy",
            Usage::Deferred => "deferred",
            Usage::Unreachable => "unreachable",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ModuleUsage {
    pub usage: Usage,
    pub reason: String,
    /// Probability that init loads the module (observed, else 1 for cold and
    /// 0 otherwise).
    pub init_probability: f64,
    /// Probability that an invocation first loads it (observed, else 0).
    pub invocation_probability: f64,
    /// Median self import time in µs, when observed.
    pub self_us: Option<u64>,
    /// Observed init time (µs) outside the unit's modules that this module's
    /// import pays: the standard library modules first imported under it.
    #[serde(skip_serializing_if = "is_zero")]
    pub outside_us: u64,
}

fn is_zero(us: &u64) -> bool {
    *us == 0
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct UsageTable {
    pub modules: Vec<ModuleUsage>,
    pub observed: bool,
    /// Files a trace saw opened by path or loaded with ctypes during init,
    /// with the probability that init opens them: their groups are hot.
    #[serde(skip)]
    pub files_opened_at_init: std::collections::BTreeMap<crate::scan::FileId, f64>,
}

impl UsageTable {
    pub fn of(&self, module: ModuleId) -> &ModuleUsage {
        &self.modules[module]
    }
}

/// Classifies every module of the analysis.
pub fn classify(a: &Analysis, stats: Option<&Stats>) -> UsageTable {
    let n = a.inventory.modules.len();
    let mut modules: Vec<ModuleUsage> = (0..n).map(|m| static_usage(a, m)).collect();
    if let Some(stats) = stats {
        for (m, usage) in modules.iter_mut().enumerate() {
            apply_observations(a, stats, m, usage);
        }
        charge_outside_time(a, stats, &mut modules);
    }
    match stats {
        Some(stats) => {
            demote_parents_of_hot_children(a, &mut modules);
            keep_lazy_only_where_probed_safe(a, stats, &mut modules);
            demote_parents_of_hot_children(a, &mut modules);
        }
        None => no_lazy_without_probe(&mut modules),
    }
    UsageTable {
        modules,
        observed: stats.is_some(),
        files_opened_at_init: stats.map(|s| opened_at_init(a, s)).unwrap_or_default(),
    }
}

/// The unit's files init opened by path, by the trace's absolute paths.
fn opened_at_init(
    a: &Analysis,
    stats: &Stats,
) -> std::collections::BTreeMap<crate::scan::FileId, f64> {
    if stats.opened_files.is_empty() {
        return Default::default();
    }
    a.inventory
        .files
        .iter()
        .enumerate()
        .filter_map(|(id, file)| {
            let p = stats.file_init_probability(&file.path)?;
            (p > 0.0).then_some((id, p))
        })
        .collect()
}

fn static_usage(a: &Analysis, m: ModuleId) -> ModuleUsage {
    let reach = a.module_reach(m);
    let (usage, reason) = match reach {
        Reach::Unreachable => (Usage::Unreachable, unreachable_reason(a, m)),
        Reach::Deferred => (
            Usage::Deferred,
            "reached only through imports inside functions or lazy-module idioms".into(),
        ),
        Reach::Cold => cold_usage(a, m),
    };
    ModuleUsage {
        usage,
        reason,
        init_probability: if reach == Reach::Cold { 1.0 } else { 0.0 },
        invocation_probability: 0.0,
        self_us: None,
        outside_us: 0,
    }
}

fn unreachable_reason(a: &Analysis, m: ModuleId) -> String {
    let node = NodeIndex::new(m);
    let type_only = a
        .graph
        .graph
        .edges_directed(node, petgraph::Direction::Incoming)
        .any(|e| e.weight().type_checking);
    if type_only {
        "imported only under `if TYPE_CHECKING:`".into()
    } else {
        "no import chain from the handler reaches it".into()
    }
}

/// Hot or lazy for a module that init loads.
fn cold_usage(a: &Analysis, m: ModuleId) -> (Usage, String) {
    if m == a.graph.handler.index() {
        return (Usage::Hot, "the handler module".into());
    }
    if let Some(why) = lazy_loader_cannot(a, m) {
        return (Usage::Hot, why);
    }
    if !a.graph.module_level_cold[m] {
        // Loaded because init runs library code that imports it in a
        // function: that code uses it.
        return (
            Usage::Hot,
            "imported inside a function that init runs".into(),
        );
    }
    match first_use_at_init(a, m) {
        Some(use_) => (Usage::Hot, use_),
        None => (Usage::Lazy, lazy_reason(a, m)),
    }
}

/// Why `importlib.util.LazyLoader` cannot take this module, if it cannot.
fn lazy_loader_cannot(a: &Analysis, m: ModuleId) -> Option<String> {
    let module = &a.inventory.modules[m];
    match module.kind {
        ModuleKind::Extension => {
            return Some("extension module: LazyLoader needs a Python loader".into())
        }
        ModuleKind::Namespace => return Some("namespace package: nothing to defer".into()),
        _ => {}
    }
    let imports = &a.imports.modules[m];
    if imports.replaces_itself {
        return Some(
            "replaces its own sys.modules entry or __class__: LazyLoader cannot handle it".into(),
        );
    }
    if let Some(effect) = imports.side_effects.first() {
        return Some(format!(
            "side effect at import: {effect}; deferring it would change behaviour"
        ));
    }
    None
}

/// The first thing at init that uses `m`, described; `None` when every
/// importer only binds or re-exports it.
fn first_use_at_init(a: &Analysis, m: ModuleId) -> Option<String> {
    let g = &a.graph.graph;
    let target = &a.inventory.modules[m].name;
    for edge in g.edges_directed(NodeIndex::new(m), petgraph::Direction::Incoming) {
        let w = edge.weight();
        let importer = edge.source();
        if a.graph.reach[importer.index()] != Reach::Cold || w.type_checking || !w.init {
            continue;
        }
        let place = a.site_location(importer, w.line);
        let by = a.node_name(importer);
        let used = match w.kind {
            EdgeKind::Parent => None, // a loaded child runs its parent; see demote_parents_of_hot_children
            EdgeKind::Library => Some(format!("shared library needed by {by}")),
            EdgeKind::Import(SiteKind::Native) => {
                Some(format!("imported by compiled code of {by}"))
            }
            EdgeKind::Import(SiteKind::Dynamic) => {
                Some(format!("loaded with importlib at init by {by} ({place})"))
            }
            EdgeKind::Import(SiteKind::Attribute) => {
                Some(format!("attribute of it read at init by {by} ({place})"))
            }
            EdgeKind::Import(SiteKind::Pth) => Some("imported by a .pth file at startup".into()),
            EdgeKind::Import(_) => binding_used(a, importer.index(), target)
                .map(|how| format!("{how} by {by} ({place})")),
        };
        if used.is_some() {
            return used;
        }
    }
    None
}

/// How `importer` uses the module `target` at init through the names its
/// imports bind, if it does.
fn binding_used(a: &Analysis, importer: ModuleId, target: &str) -> Option<String> {
    let module = &a.inventory.modules[importer];
    let imports = &a.imports.modules[importer];
    for binding in &imports.bindings {
        let Some(base) = binding_base(module, binding) else {
            continue;
        };
        let bound_to = match &binding.name {
            None => base.clone(),
            Some(name) => {
                let sub = if base.is_empty() {
                    name.clone()
                } else {
                    format!("{base}.{name}")
                };
                if a.inventory.module(&sub).is_some() {
                    sub
                } else {
                    // `from target import attr` reads an attribute at import
                    // time, which would load a lazy module at once.
                    if base == target {
                        return Some(format!("`from {target} import {name}` reads it at import"));
                    }
                    continue;
                }
            }
        };
        if bound_to == target && imports.init_names.binary_search(&binding.local).is_ok() {
            return Some(format!("`{}` is used at module level", binding.local));
        }
    }
    // An import the visitor saw without a binding (the handler's own or a
    // line-scanned file): assume it is used.
    if imports.bindings.is_empty() && !imports.sites.is_empty() {
        return Some("imported by a module whose bindings are unknown".into());
    }
    None
}

fn lazy_reason(a: &Analysis, m: ModuleId) -> String {
    let importers: Vec<String> = a
        .graph
        .graph
        .edges_directed(NodeIndex::new(m), petgraph::Direction::Incoming)
        .filter(|e| e.weight().init && !matches!(e.weight().kind, EdgeKind::Parent))
        .filter(|e| a.graph.reach[e.source().index()] == Reach::Cold)
        .map(|e| a.site_location(e.source(), e.weight().line))
        .take(3)
        .collect();
    format!(
        "imported at init but only bound or re-exported, never used at module level (imported at {})",
        importers.join(", ")
    )
}

/// Without statistics nothing is lazy: whether a module's body touches
/// anything outside its own namespace (registers a converter, patches a
/// class of another package, replaces its `sys.modules` entry) cannot be
/// proven from its source in general, and deferring such a body changes
/// behaviour. Only the tracer's side-effect probe clears a module.
fn no_lazy_without_probe(modules: &mut [ModuleUsage]) {
    for usage in modules.iter_mut().filter(|u| u.usage == Usage::Lazy) {
        usage.usage = Usage::Hot;
        usage.reason = format!(
            "{}; loaded eagerly: only a trace's side-effect probe can clear a module for lazy loading",
            usage.reason
        );
    }
}

/// With statistics a module stays lazy only when deferring its body cannot
/// change behaviour: the trace probed it and saw no effect outside its own
/// namespace, it is in no import cycle (observed, or among module-level
/// imports), and nothing its body imports at module level that init loaded
/// has such an effect or sits in a cycle either — those run when it runs.
fn keep_lazy_only_where_probed_safe(a: &Analysis, stats: &Stats, modules: &mut [ModuleUsage]) {
    let safety = DeferSafety::new(a);
    for (m, usage) in modules.iter_mut().enumerate() {
        if usage.usage != Usage::Lazy {
            continue;
        }
        // What the module imports loads later with it; a module of its own
        // package it changes may be loaded by others first, so it counts.
        if let Some(why) = safety.why_not(a, stats, m, Cycles::Refuse, &|_| true, &|_| false) {
            usage.usage = Usage::Hot;
            usage.reason = format!("{}; loaded eagerly: {why}", usage.reason);
        }
    }
}

/// Whether an import cycle rules a deferral out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cycles {
    Refuse,
    /// The deferred import is a public module, the cycle's entry, which its
    /// library supports importing first at any time.
    AllowFromPublicEntry,
}

/// Whether a module's import can move later without changing behaviour,
/// as the trace's side-effect probe and the static import cycles tell.
pub(crate) struct DeferSafety {
    in_static_cycle: Vec<bool>,
}

impl DeferSafety {
    pub(crate) fn new(a: &Analysis) -> Self {
        DeferSafety {
            in_static_cycle: static_init_cycles(a),
        }
    }

    /// Why running `m`'s body later (or never) could change behaviour:
    /// no probe, an effect seen while it or a module it loaded at init ran
    /// (of those `moves` says would load later with it), a change to a
    /// module of its own package that does not move with it (`moves_too`),
    /// or an import cycle; `None` when it is safe.
    pub(crate) fn why_not(
        &self,
        a: &Analysis,
        stats: &Stats,
        m: ModuleId,
        cycles: Cycles,
        moves: &dyn Fn(ModuleId) -> bool,
        moves_too: &dyn Fn(ModuleId) -> bool,
    ) -> Option<String> {
        let name = &a.inventory.modules[m].name;
        let refuse_cycles = cycles == Cycles::Refuse;
        if !stats.probed {
            return Some(
                "the statistics carry no side-effect probe (trace again with this caios-pack)"
                    .into(),
            );
        }
        let effect = |name: &str| match observed_effect(stats, name) {
            Some(_) if !refuse_cycles && observed_effects_only_cycle(stats, name) => {
                changed_module_that_stays(a, stats, name, moves_too)
            }
            None => changed_module_that_stays(a, stats, name, moves_too),
            other => other,
        };
        if let Some(why) = effect(name) {
            return Some(why);
        }
        if refuse_cycles && self.in_static_cycle[m] {
            return Some("it is in an import cycle of module-level imports".into());
        }
        init_imports_of(a, m).into_iter().find_map(|d| {
            let dname = &a.inventory.modules[d].name;
            let loaded = stats.init_probability(dname).is_some_and(|p| p > 0.0);
            if !loaded || !moves(d) {
                return None;
            }
            if refuse_cycles && self.in_static_cycle[d] {
                return Some(format!("it imports {dname}, which is in an import cycle"));
            }
            effect(dname).map(|why| format!("it imports {dname}: {why}"))
        })
    }
}

/// A module of its own package that importing `name` changed and that
/// stays loaded at init without it (matplotlib.dates registering its
/// converters in matplotlib.units.registry, which other modules import):
/// deferring `name` would leave that module without the change. A module
/// that moves with the deferral, or is `name`'s own submodule, does not
/// count; nor does a registration keyed by objects of modules that all move
/// with it (only code holding those objects could look it up).
fn changed_module_that_stays(
    a: &Analysis,
    stats: &Stats,
    name: &str,
    moves: &dyn Fn(ModuleId) -> bool,
) -> Option<String> {
    let changed = &stats.modules.get(name)?.package_effects;
    let own = format!("{name}.");
    let goes = |module: &str| {
        module == name || module.starts_with(&own) || a.inventory.module(module).is_some_and(moves)
    };
    changed.iter().find_map(|(target, effects)| {
        if goes(target) {
            return None;
        }
        let kept: Vec<&str> = effects
            .iter()
            .map(String::as_str)
            .filter(|e| !keyed_by(e).is_some_and(|modules| modules.iter().all(|m| goes(m))))
            .collect();
        (!kept.is_empty()).then(|| {
            format!(
                "importing {name} changes {target}, which stays loaded at init without it ({})",
                kept.join("; ")
            )
        })
    })
}

/// The modules whose objects key the entries of a registration the probe
/// reported as `mutated T.x (new keys of A, B)`.
fn keyed_by(effect: &str) -> Option<Vec<&str>> {
    let list = effect.strip_suffix(')')?.split_once(" (new keys of ")?.1;
    Some(list.split(", ").collect())
}

/// The probe saw `name` in an import cycle and nothing else.
fn observed_effects_only_cycle(stats: &Stats, name: &str) -> bool {
    stats
        .modules
        .get(name)
        .is_some_and(|o| o.in_cycle && o.effects.as_ref().is_some_and(|e| e.is_empty()))
}

/// Why the trace says deferring `name`'s body could change behaviour.
pub(crate) fn observed_effect(stats: &Stats, name: &str) -> Option<String> {
    let Some(observed) = stats.modules.get(name) else {
        return Some(format!("{name} was not probed"));
    };
    if observed.in_cycle {
        return Some(format!("{name} took part in an import cycle at init"));
    }
    match &observed.effects {
        None => Some(format!("{name} was not probed")),
        Some(effects) if !effects.is_empty() => Some(format!(
            "importing {name} has effects outside its namespace ({})",
            effects.join("; ")
        )),
        Some(_) => None,
    }
}

/// Modules in a cycle of module-level (init) imports.
fn static_init_cycles(a: &Analysis) -> Vec<bool> {
    let g = &a.graph.graph;
    let init_edges = petgraph::visit::EdgeFiltered::from_fn(g, |e| {
        e.weight().init
            && !e.weight().type_checking
            && matches!(e.weight().kind, EdgeKind::Import(_))
    });
    let mut in_cycle = vec![false; a.inventory.modules.len()];
    for scc in petgraph::algo::tarjan_scc(&init_edges) {
        if scc.len() > 1 {
            for node in scc {
                if let Some(flag) = in_cycle.get_mut(node.index()) {
                    *flag = true;
                }
            }
        }
    }
    in_cycle
}

/// Modules a module's body loads, transitively, through module-level imports.
fn init_imports_of(a: &Analysis, m: ModuleId) -> Vec<ModuleId> {
    let g = &a.graph.graph;
    let n = a.inventory.modules.len();
    let mut seen = vec![false; g.node_count()];
    let mut stack = vec![NodeIndex::new(m)];
    seen[m] = true;
    let mut out = Vec::new();
    while let Some(node) = stack.pop() {
        for e in g.edges(node) {
            let w = e.weight();
            let t = e.target();
            if w.init && !w.type_checking && !seen[t.index()] {
                seen[t.index()] = true;
                if t.index() < n {
                    out.push(t.index());
                }
                stack.push(t);
            }
        }
    }
    out
}

/// Observed statistics override the static guess.
fn apply_observations(a: &Analysis, stats: &Stats, m: ModuleId, usage: &mut ModuleUsage) {
    let name = &a.inventory.modules[m].name;
    let Some(p_init) = stats.init_probability(name) else {
        return;
    };
    let observed = stats.modules.get(name);
    usage.init_probability = p_init;
    usage.invocation_probability = stats.invocation_probability(name).unwrap_or(0.0);
    usage.self_us = observed.and_then(|o| o.self_us);
    let cold_starts = stats.cold_starts;
    let init_loads = observed.map_or(0, |o| o.init_loads);
    if p_init > 0.0 {
        let seen = format!("observed at init in {init_loads}/{cold_starts} cold starts");
        match usage.usage {
            Usage::Deferred | Usage::Unreachable => {
                usage.reason = format!("{seen}; static analysis placed it {}", usage.usage.label());
                usage.usage = Usage::Hot;
            }
            // LazyLoader pays off only for a module nothing touches at init:
            // a statically found use (`from m import X` at module level)
            // loads it at once, and a function of it that ran needed it.
            // Either way the lazy wrapper would only add its own cost.
            Usage::Lazy if observed.and_then(|o| o.functions_ran) == Some(true) => {
                usage.usage = Usage::Hot;
                usage.reason = format!("{seen}, and its functions ran at init");
            }
            Usage::Hot if observed.and_then(|o| o.functions_ran) == Some(false) => {
                usage.reason = format!(
                    "{seen}; none of its functions ran, but it stays eager: {}",
                    usage.reason
                );
            }
            _ => {}
        }
    } else if matches!(usage.usage, Usage::Hot | Usage::Lazy) && m != a.graph.handler.index() {
        usage.usage = Usage::Deferred;
        usage.reason = format!(
            "never loaded during init in {cold_starts} observed cold starts (first loaded by {:.1}% of invocations)",
            100.0 * usage.invocation_probability
        );
    }
}

/// Importing any submodule runs its package's `__init__`, so a package with
/// a hot child is hot too.
fn demote_parents_of_hot_children(a: &Analysis, modules: &mut [ModuleUsage]) {
    let mut by_depth: Vec<ModuleId> = (0..modules.len()).collect();
    by_depth.sort_by_key(|&m| std::cmp::Reverse(a.inventory.modules[m].name.matches('.').count()));
    for m in by_depth {
        if modules[m].usage != Usage::Hot {
            continue;
        }
        let name = &a.inventory.modules[m].name;
        if let Some(parent) = name
            .rsplit_once('.')
            .and_then(|(p, _)| a.inventory.module(p))
        {
            if modules[parent].usage == Usage::Lazy {
                modules[parent].usage = Usage::Hot;
                modules[parent].reason =
                    format!("its submodule {name} is hot, and importing it runs this package");
            }
        }
    }
}

/// Bytes of the files owned by lazy modules, and the biggest lazy modules.
pub fn lazy_summary(a: &Analysis, table: &UsageTable, top: usize) -> (u64, Vec<(ModuleId, u64)>) {
    let bytes = a.module_bytes();
    let mut lazy: Vec<(ModuleId, u64)> = (0..table.modules.len())
        .filter(|&m| table.modules[m].usage == Usage::Lazy)
        .map(|m| (m, bytes[m]))
        .collect();
    let total = lazy.iter().map(|(_, b)| b).sum();
    lazy.sort_by_key(|(m, b)| (std::cmp::Reverse(*b), *m));
    lazy.truncate(top);
    (total, lazy)
}

#[cfg(test)]
mod tests {
    use super::keyed_by;

    #[test]
    fn keyed_registrations_name_the_modules_of_their_keys() {
        let cases: [(&str, Option<Vec<&str>>); 4] = [
            (
                "mutated scipy._lib._array_api.xp_capabilities_table (new keys of scipy.ndimage._filters, scipy.ndimage._morphology)",
                Some(vec!["scipy.ndimage._filters", "scipy.ndimage._morphology"]),
            ),
            ("mutated pkg.units.REGISTRY (new keys of pkg.funcs)", Some(vec!["pkg.funcs"])),
            ("mutated matplotlib.units.registry", None),
            ("added pkg.base.Base.extra", None),
        ];
        for (effect, expected) in cases {
            assert_eq!(keyed_by(effect), expected, "{effect}");
        }
    }
}
