//! lazy_bindings: which module-level imports become lazy bindings — the
//! seed's "patched to lazy import", with PEP 810's semantics: the statement
//! binds its names to placeholders, and the target is imported when a bound
//! name is first used (docs/runtime.md, "Lazy bindings").
//!
//! Input: an [`Analysis`], its [`UsageTable`] and the trace's [`Stats`].
//! Output: [`LazyBindings`] — the statements to patch (module, line, names,
//! the modules they stop loading at init) and, for the report, the
//! statements that were candidates but are refused, each with its reason.
//!
//! A statement is patched in one of three forms ([`PatchForm`]): whole
//! (every name it binds becomes a placeholder), names (`from m import x, y`
//! keeps `x` eager and makes `y`, a submodule init does not use, lazy), or
//! submodules (`import a.b.c` whose package `a` init uses binds `a` at once
//! and leaves `a.b.c` to load when first read as an attribute of `a`). It
//! is patched only when every part of this holds, so that a patch can cost
//! a late import but never change what the function does:
//! - its module ran at init, is Python source, and the side-effect probe saw
//!   it change nothing outside its namespace;
//! - it sits directly in the module body, alone on its line, and is a plain
//!   `import a.b [as c]` or `from m import x [as y]` (no star, no
//!   `__future__`); several `import a.x` / `import a.y` made lazy whole bind
//!   the one name `a` and are patched together or not at all;
//! - it imports a module init does not use (`lazy`, or none of its functions
//!   ran), whoever loaded it first: a module stops loading at init only when
//!   every import that loads it there is patched, so all candidates are
//!   chosen together and those that end up stopping nothing are dropped
//!   ([`apply`] decides, by reachability through the unpatched imports);
//! - every module that would then stop loading at init through it — its
//!   targets and what only they loaded, as the trace's import parents tell —
//!   was probed free of effects and has no static side effect; an import
//!   cycle among them is accepted only when entered through a public module
//!   (no `_` part), which its library must support importing first at any
//!   time; for a whole patch, no other module reaches one of them through an
//!   attribute chain at init (`import a` then `a.b.x`: the other forms leave
//!   the module as an attribute hook on its package, which such a read
//!   triggers);
//! - (placeholders) each lazy name is bound once at module level, never
//!   declared `global`, never read by module-level code (class bodies,
//!   decorators, defaults and annotations included) nor by a function or
//!   class that may run at init — the ones whose functions the trace saw run
//!   at init, or without that record any that module-level code references
//!   or decorates — and read only as `name.attr`, `name(...)`, `name[...]`,
//!   the class argument of `isinstance` / `issubclass` or a base class —
//!   forms the runtime's placeholder forwards exactly; the module never
//!   calls `globals`, `vars`, `locals`, `exec` or `eval`, and defines no
//!   module `__getattr__`.
//!
//! `verify` on the unit's events must then pass with the patches, or the
//! package is emitted without them (cli::package).

use crate::analysis::Analysis;
use crate::imports::SiteKind;
use crate::scan::{FileKind, ModuleId};
use crate::stats::Stats;
use crate::usage::{Usage, UsageTable};
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use serde::Serialize;

mod source;

pub use source::{statements, Form, InitCalls, Statement};

/// How a patched statement is compiled (caios_compile.py's entry forms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PatchForm {
    /// Every name it binds becomes a placeholder (`N`).
    Whole,
    /// `from m import …`: the names listed become placeholders, the others
    /// stay an eager import of the already loaded `m` (`N=x+y`).
    Names,
    /// `import a.b.c`: binds `a` at once; `a.b` and `a.b.c` load when first
    /// read as attributes of their loaded package (`N:sub`).
    Submodules,
}

/// One import statement that becomes a lazy binding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Patch {
    pub module: String,
    /// The source file, relative to its root (as it is shipped).
    pub file: String,
    #[serde(skip)]
    pub path: std::path::PathBuf,
    pub line: u32,
    pub form: PatchForm,
    /// The names it binds lazily (Submodules: the module it imports).
    pub names: Vec<String>,
    /// Modules it no longer loads at init (`lazy` in the usage table).
    pub deferred: Vec<String>,
    /// The names as the statement imports them (`from m import x as y`:
    /// `x`), for the compiler's `N=x+y` entry.
    #[serde(skip)]
    imported: Vec<String>,
    /// The modules whose import edges from this line stop at init; `None`:
    /// every module the statement imports.
    #[serde(skip)]
    targets: Option<Vec<ModuleId>>,
    /// The modules whose deferral was checked (the statement's targets that
    /// move with it).
    #[serde(skip)]
    checked: Vec<ModuleId>,
    /// Whole `import a.b` statements all binding `a`: patched together.
    #[serde(skip)]
    package_group: Option<String>,
}

impl Patch {
    /// The compiler's entry for this statement.
    fn entry(&self) -> String {
        match self.form {
            PatchForm::Whole => self.line.to_string(),
            PatchForm::Names => format!("{}={}", self.line, self.imported.join("+")),
            PatchForm::Submodules => format!("{}:sub", self.line),
        }
    }

    fn stops(&self, target: ModuleId) -> bool {
        self.targets.as_ref().is_none_or(|t| t.contains(&target))
    }

    fn group(&self) -> Option<(String, String)> {
        self.package_group
            .as_ref()
            .map(|g| (self.module.clone(), g.clone()))
    }
}

/// A statement that could have become a lazy binding, and why it did not.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Refusal {
    pub module: String,
    pub line: u32,
    pub why: String,
}

#[derive(Debug, Default, Serialize)]
pub struct LazyBindings {
    /// What became of the patches: applied, withdrawn, or why none.
    pub status: String,
    pub patches: Vec<Patch>,
    pub refused: Vec<Refusal>,
    /// Modules whose source could not be parsed (left unpatched), as
    /// `file:line: reason`.
    pub unreadable: Vec<String>,
}

impl LazyBindings {
    /// Source file → the compiler's entries for it (emit's input).
    pub fn lines(&self) -> std::collections::BTreeMap<std::path::PathBuf, Vec<String>> {
        let mut out: std::collections::BTreeMap<_, Vec<String>> = Default::default();
        for p in &self.patches {
            out.entry(p.path.clone()).or_default().push(p.entry());
        }
        out
    }

    /// The patch that defers `module`'s import, if any.
    pub fn deferring(&self, module: &str) -> Option<&Patch> {
        self.patches
            .iter()
            .find(|p| p.deferred.iter().any(|d| d == module))
    }
}

/// Chooses the statements to patch. Without a probing trace nothing is
/// patched.
pub fn choose(a: &Analysis, usage: &UsageTable, stats: Option<&Stats>) -> LazyBindings {
    let mut out = LazyBindings::default();
    let Some(stats) = stats.filter(|s| s.probed) else {
        out.status = "none: needs statistics from a probing trace (--stats)".into();
        return out;
    };
    let mut targets = Targets {
        a,
        usage,
        stats,
        safety: crate::usage::DeferSafety::new(a),
        why_not: HashMap::default(),
        vanishing: None,
        relied_on: reached_by_attribute_chains(a),
    };
    for m in candidate_modules(&targets) {
        patch_module(&mut targets, m, &mut out);
    }
    refuse_unsafe_vanishing(&mut targets, &mut out);
    keep_patches_that_defer(a, usage, stats, &mut out);
    out
}

/// The first choice checks each statement's own targets; what else stops
/// loading at init depends on every patch together. So: apply them all,
/// check each patch again against the modules that would vanish from init
/// under it, drop the ones that fail (with their `import a.x` siblings),
/// and repeat until none fails. Patches are only ever dropped, so this ends.
fn refuse_unsafe_vanishing(t: &mut Targets, out: &mut LazyBindings) {
    let (a, usage, stats) = (t.a, t.usage, t.stats);
    loop {
        let after = apply(a, usage, stats, out);
        let gone: Vec<ModuleId> = (0..a.inventory.modules.len())
            .filter(|&m| {
                after.of(m).usage == Usage::Deferred && usage.of(m).usage != Usage::Deferred
            })
            .collect();
        t.vanishing = Some(stopped_by(a, stats, out, &gone));
        t.why_not.clear();
        let mut failed: Vec<(usize, String)> = Vec::new();
        for (i, p) in out.patches.iter().enumerate() {
            let Some(m) = a.inventory.module(&p.module) else {
                continue;
            };
            let hooked = p.form != PatchForm::Whole;
            let why = p
                .checked
                .iter()
                .filter(|&&d| stats.loaded_under(&a.inventory.modules[d].name, &p.module))
                .find_map(|&d| t.why_not(d, m, hooked));
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
            match why_by_index.remove(&i) {
                Some(why) => out.refused.push(Refusal {
                    module: p.module,
                    line: p.line,
                    why,
                }),
                None => out.patches.push(p),
            }
        }
    }
}

/// For each module that no longer loads at init, the patched module that
/// stops it: the nearest one up its chain of first importers (the trace's
/// parents) whose patch defers the module just below it on that chain.
fn stopped_by(
    a: &Analysis,
    stats: &Stats,
    out: &LazyBindings,
    gone: &[ModuleId],
) -> HashMap<ModuleId, ModuleId> {
    let mut cuts: HashSet<(ModuleId, ModuleId)> = HashSet::default();
    for p in &out.patches {
        if let Some(m) = a.inventory.module(&p.module) {
            cuts.extend(p.checked.iter().map(|&d| (m, d)));
        }
    }
    let patched: HashSet<ModuleId> = cuts.iter().map(|&(m, _)| m).collect();
    let mut result = HashMap::default();
    for &v in gone {
        let mut below = v;
        let mut seen: HashSet<ModuleId> = HashSet::default();
        // Failing a cut on the chain (the module vanished through the
        // package graph), the nearest patched module above it answers.
        let mut nearest_patched = None;
        while seen.insert(below) {
            let Some(parent) = stats
                .modules
                .get(&a.inventory.modules[below].name)
                .and_then(|o| o.init_parents.first())
                .and_then(|p| a.inventory.module(p))
            else {
                break;
            };
            if cuts.contains(&(parent, below)) {
                nearest_patched = Some(parent);
                break;
            }
            if nearest_patched.is_none() && patched.contains(&parent) {
                nearest_patched = Some(parent);
            }
            below = parent;
        }
        if let Some(by) = nearest_patched {
            result.insert(v, by);
        }
    }
    result
}

/// A module is deferred only when no import at init still loads it, so a
/// statement is chosen when it imports something unused at init, whoever
/// loaded it first. Once all are chosen, those whose modules stay loaded
/// anyway are dropped (a group of `import a.x` statements binding one name
/// goes as a whole), and each kept patch lists what it really defers.
fn keep_patches_that_defer(
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

/// What is known about the modules statements import.
struct Targets<'a> {
    a: &'a Analysis,
    usage: &'a UsageTable,
    stats: &'a Stats,
    safety: crate::usage::DeferSafety,
    why_not: HashMap<(ModuleId, ModuleId), Option<String>>,
    /// The modules that stop loading at init once the chosen patches apply,
    /// each with the patched module that stops it (`None` while choosing).
    vanishing: Option<HashMap<ModuleId, ModuleId>>,
    relied_on: HashMap<ModuleId, ModuleId>,
}

impl Targets<'_> {
    /// Loaded at init, yet unused there: its import is worth deferring.
    fn unused_at_init(&self, t: ModuleId) -> bool {
        match self.usage.of(t).usage {
            Usage::Lazy => true,
            Usage::Hot => self
                .stats
                .modules
                .get(&self.a.inventory.modules[t].name)
                .is_some_and(|o| o.functions_ran == Some(false)),
            _ => false,
        }
    }

    /// Why deferring `t`'s import (from module `by`) could change what the
    /// function does; `None` when it cannot. `hooked`: the patch leaves `t`
    /// as an attribute hook on its loaded package, so code that reaches it
    /// through an attribute chain imports it there.
    fn why_not(&mut self, t: ModuleId, by: ModuleId, hooked: bool) -> Option<String> {
        let name = |m: ModuleId| self.a.inventory.modules[m].name.clone();
        if !matches!(self.usage.of(t).usage, Usage::Hot | Usage::Lazy) {
            return Some(format!("{} is not loaded at init", name(t)));
        }
        if t == self.a.graph.handler.index() {
            return Some("it imports the handler module".into());
        }
        if let Some(effect) = self.a.imports.modules[t].side_effects.first() {
            return Some(format!("{} has a side effect at import: {effect}", name(t)));
        }
        if let Some(&r) = self.relied_on.get(&t).filter(|&&r| r != by && !hooked) {
            return Some(format!(
                "{} reaches {} through an attribute chain at init",
                name(r),
                name(t)
            ));
        }
        let (a, stats, safety) = (self.a, self.stats, &self.safety);
        let cycles = if name(t).split('.').any(|part| part.starts_with('_')) {
            crate::usage::Cycles::Refuse
        } else {
            crate::usage::Cycles::AllowFromPublicEntry
        };
        // What moves with the deferral: modules `by` loaded first that no
        // longer load at init once every patch applies (refuse_unsafe_vanishing;
        // before that, only `t` itself is checked). Those that load at init
        // still, only later, keep their effects at init (verify runs that
        // order).
        let vanishing = self.vanishing.as_ref();
        let moves = |d: ModuleId| vanishing.is_some_and(|v| v.get(&d) == Some(&by));
        self.why_not
            .entry((t, by))
            .or_insert_with(|| safety.why_not(a, stats, t, cycles, &moves))
            .clone()
            .map(|why| format!("{}: {why}", name(t)))
    }
}

/// The usage table once the patches apply. The modules that may stop
/// loading at init are those the trace saw first loaded under a patched
/// module and that init does not use; of them, the ones still reached from
/// what init loads regardless (the handler, every other module loaded at
/// init, every module init uses) through module-level imports that are not
/// patched become `deferred`, with what only they loaded. A package and its
/// submodules import each other, so this is reachability, not a count of
/// importers. An extension module's import edge is followed unless the
/// trace shows its init did not run it ([`native_import_may_run`]). Verify
/// still runs on exactly this plan.
pub fn apply(a: &Analysis, usage: &UsageTable, stats: &Stats, lazy: &LazyBindings) -> UsageTable {
    use petgraph::visit::EdgeRef;
    let mut out = usage.clone();
    if lazy.patches.is_empty() {
        return out;
    }
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
    let g = &a.graph.graph;
    let mut reached = vec![false; n];
    let mut queue: Vec<ModuleId> = (0..n)
        .filter(|&m| loaded(m) && !candidates.contains_key(&m))
        .collect();
    for &m in &queue {
        reached[m] = true;
    }
    while let Some(from) = queue.pop() {
        for e in g.edges_directed(
            petgraph::graph::NodeIndex::new(from),
            petgraph::Direction::Outgoing,
        ) {
            let (w, to) = (e.weight(), e.target().index());
            // Only what init loaded can load at init: an edge to a module the
            // trace never saw at init did not run there.
            if to >= n || reached[to] || !loaded(to) || !w.init || w.type_checking {
                continue;
            }
            if patched.get(&(from, w.line)).is_some_and(|p| p.stops(to)) {
                continue;
            }
            if w.kind == crate::graph::EdgeKind::Import(SiteKind::Native)
                && !native_import_may_run(stats, name(from), name(to))
            {
                continue;
            }
            reached[to] = true;
            queue.push(to);
        }
    }
    for (&t, patch) in &candidates {
        if reached[t] {
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

/// Modules that ran at init and have a module-level import of a module
/// unused at init: the only ones worth reading again.
fn candidate_modules(t: &Targets) -> Vec<ModuleId> {
    let a = t.a;
    (0..a.inventory.modules.len())
        .filter(|&m| matches!(t.usage.of(m).usage, Usage::Hot | Usage::Lazy))
        .filter(|&m| {
            a.inventory
                .module_file(m)
                .is_some_and(|f| f.kind == FileKind::Python)
        })
        .filter(|&m| {
            let module = &a.inventory.modules[m];
            a.imports.modules[m].sites.iter().any(|site| {
                matches!(site.kind, SiteKind::Import | SiteKind::From)
                    && site.runs_at_init()
                    && site.scope == crate::imports::Scope::Module
                    && !site.guarded
                    && !site.conditional
                    && statement_targets(
                        a,
                        &module.name,
                        module.is_package,
                        site.level,
                        &site.target,
                        &site.names,
                    )
                    .into_iter()
                    .any(|d| t.unused_at_init(d))
            })
        })
        .collect()
}

/// Modules some other module reaches through an attribute chain at init
/// (`import a` then `a.b.x`): they rely on having been imported by someone.
fn reached_by_attribute_chains(a: &Analysis) -> HashMap<ModuleId, ModuleId> {
    use petgraph::visit::EdgeRef;
    let g = &a.graph.graph;
    let mut out = HashMap::default();
    for e in g.edge_references() {
        if e.weight().kind != crate::graph::EdgeKind::Import(SiteKind::Attribute) {
            continue;
        }
        if let (crate::graph::Node::Module(from), crate::graph::Node::Module(to)) =
            (g[e.source()], g[e.target()])
        {
            // Only code that runs at init can rely on the import at init
            // (`analyze --why` also parses modules nothing reaches).
            if a.module_reach(from) == crate::graph::Reach::Cold {
                out.entry(to).or_insert(from);
            }
        }
    }
    out
}

/// The modules a statement imports: every package along `a.b.c`, and for
/// `from m import x` the module `m` and `m.x` when that is a module.
fn statement_targets(
    a: &Analysis,
    importer: &str,
    is_package: bool,
    level: u32,
    module: &str,
    from_names: &[String],
) -> Vec<ModuleId> {
    let Some(base) = crate::graph::absolute_name(importer, is_package, level, module) else {
        return Vec::new();
    };
    let mut names: Vec<String> = Vec::new();
    let mut prefix = String::new();
    for part in base.split('.') {
        if !prefix.is_empty() {
            prefix.push('.');
        }
        prefix.push_str(part);
        names.push(prefix.clone());
    }
    for n in from_names {
        names.push(format!("{base}.{n}"));
    }
    names.iter().filter_map(|n| a.inventory.module(n)).collect()
}

fn patch_module(t: &mut Targets, m: ModuleId, out: &mut LazyBindings) {
    let a = t.a;
    let module = &a.inventory.modules[m];
    let Some(file) = a.inventory.module_file(m) else {
        return;
    };
    let refuse = |out: &mut LazyBindings, line: u32, why: String| {
        out.refused.push(Refusal {
            module: module.name.clone(),
            line,
            why,
        })
    };
    // An import cycle through the module itself is no reason: placeholders
    // never leave it (its class reifies them on attribute reads), so a
    // cycle-mate reading it half-initialised sees what it would have seen.
    let effects = t
        .stats
        .modules
        .get(&module.name)
        .and_then(|o| o.effects.as_ref());
    match effects {
        None => {
            refuse(
                out,
                0,
                format!("the module itself: {} was not probed", module.name),
            );
            return;
        }
        Some(e) if !e.is_empty() => {
            refuse(
                out,
                0,
                format!(
                    "the module itself has effects outside its namespace ({})",
                    e.join("; ")
                ),
            );
            return;
        }
        Some(_) => {}
    }
    if a.imports.modules[m].replaces_itself {
        refuse(
            out,
            0,
            "the module replaces its own sys.modules entry".into(),
        );
        return;
    }
    let text = match std::fs::read(&file.path) {
        Ok(bytes) => crate::imports::encoding::decode_source(&bytes)
            .0
            .into_owned(),
        Err(e) => {
            out.unreadable
                .push(format!("{}: cannot read: {e}", file.path.display()));
            return;
        }
    };
    let calls = match t
        .stats
        .modules
        .get(&module.name)
        .and_then(|o| o.init_code_lines.as_deref())
    {
        Some(ran) => InitCalls::Traced(ran),
        None => InitCalls::FromSource,
    };
    let statements = match statements(&text, calls) {
        Ok(s) => s,
        Err((line, reason)) => {
            out.unreadable
                .push(format!("{}:{line}: {reason}", file.path.display()));
            return;
        }
    };
    // `import a.x` statements bind one name `a`: placeholders for all of
    // them, or, when any of them cannot take one, `a` bound at once by each
    // and only the submodules deferred.
    let whole_refused: HashSet<String> = statements
        .iter()
        .filter(|s| s.binds_package && s.verdict.is_err())
        .map(|s| s.bound[0].clone())
        .collect();
    let mut judged: Vec<Judged> = statements
        .into_iter()
        .map(|s| {
            let submodules = s.binds_package && whole_refused.contains(&s.bound[0]);
            judge(t, m, s, submodules)
        })
        .collect();
    let grouped = merge_package_bindings(&mut judged);
    for (i, j) in judged.into_iter().enumerate() {
        if j.deferred.is_empty() && !grouped.contains(&i) {
            continue; // nothing to gain: not a candidate
        }
        let Judged {
            s,
            form,
            lazy,
            targets,
            checked,
            deferred,
            verdict,
        } = j;
        match verdict {
            Ok(()) => out.patches.push(Patch {
                module: module.name.clone(),
                file: file.rel.clone(),
                path: file.path.clone(),
                line: s.line,
                form,
                names: match form {
                    PatchForm::Whole => s.bound.clone(),
                    PatchForm::Names => lazy.iter().map(|&i| s.bound[i].clone()).collect(),
                    PatchForm::Submodules => vec![s.module.clone()],
                },
                imported: lazy.iter().map(|&i| s.from_names[i].clone()).collect(),
                checked,
                package_group: (form == PatchForm::Whole && s.binds_package)
                    .then(|| s.bound[0].clone()),
                targets,
                deferred: deferred
                    .into_iter()
                    .map(|d| a.inventory.modules[d].name.clone())
                    .collect(),
            }),
            Err(why) => refuse(out, s.line, why),
        }
    }
}

/// A statement, the form it would be patched in, and the verdict.
struct Judged {
    s: Statement,
    form: PatchForm,
    /// PatchForm::Names: the indices of the names made lazy.
    lazy: Vec<usize>,
    targets: Option<Vec<ModuleId>>,
    checked: Vec<ModuleId>,
    /// The modules it imports that init does not use (whoever loads them
    /// first: keep_patches_that_defer sorts out which really move).
    deferred: Vec<ModuleId>,
    verdict: Result<(), String>,
}

/// Chooses the form for one statement of module `m`: with `submodules`,
/// `import a.b.c` keeps `a` bound and defers the rest; else the whole
/// statement, or, for `from m import x, y`, only the names whose submodules
/// init does not use.
fn judge(t: &mut Targets, m: ModuleId, s: Statement, submodules: bool) -> Judged {
    let a = t.a;
    let module = &a.inventory.modules[m];
    let targets = statement_targets(
        a,
        &module.name,
        module.is_package,
        s.level,
        &s.module,
        &s.from_names,
    );
    let unused = |t: &Targets, ds: &[ModuleId]| -> Vec<ModuleId> {
        ds.iter()
            .copied()
            .filter(|&d| t.unused_at_init(d))
            .collect()
    };
    // Only targets this module's import loaded move with the patch; one
    // some other import loaded first moves only if that one is patched too.
    let why_not_moving = |t: &mut Targets, ds: &[ModuleId], hooked: bool| -> Result<(), String> {
        let caused: Vec<ModuleId> = ds
            .iter()
            .copied()
            .filter(|&d| {
                t.stats
                    .loaded_under(&a.inventory.modules[d].name, &module.name)
            })
            .collect();
        match caused.iter().find_map(|&d| t.why_not(d, m, hooked)) {
            Some(why) => Err(why),
            None => Ok(()),
        }
    };
    if submodules {
        let subs: Vec<ModuleId> = targets
            .iter()
            .copied()
            .filter(|&d| a.inventory.modules[d].name.contains('.'))
            .collect();
        let verdict = s
            .submodule_verdict
            .clone()
            .and_then(|()| why_not_moving(t, &subs, true));
        return Judged {
            deferred: unused(t, &subs),
            form: PatchForm::Submodules,
            lazy: Vec::new(),
            checked: subs.clone(),
            targets: Some(subs),
            s,
            verdict,
        };
    }
    let whole = s
        .verdict
        .clone()
        .and_then(|()| why_not_moving(t, &targets, false));
    if whole.is_err() && !s.from_names.is_empty() {
        if let Some(partial) = judge_names(t, m, &s) {
            let (lazy, subs) = partial;
            if why_not_moving(t, &subs, true).is_ok() {
                return Judged {
                    deferred: unused(t, &subs),
                    form: PatchForm::Names,
                    lazy,
                    checked: subs.clone(),
                    targets: Some(subs),
                    s,
                    verdict: Ok(()),
                };
            }
        }
    }
    Judged {
        deferred: unused(t, &targets),
        form: PatchForm::Whole,
        lazy: Vec::new(),
        checked: targets.clone(),
        targets: None,
        s,
        verdict: whole,
    }
}

/// `from m import x, y`: the names whose own verdict passes and which are
/// submodules of `m` init does not use, with those submodules, when some
/// other name stays eager (else it is the whole statement).
fn judge_names(t: &Targets, m: ModuleId, s: &Statement) -> Option<(Vec<usize>, Vec<ModuleId>)> {
    let a = t.a;
    let module = &a.inventory.modules[m];
    let base = crate::graph::absolute_name(&module.name, module.is_package, s.level, &s.module)?;
    let mut lazy = Vec::new();
    let mut subs = Vec::new();
    for (i, name) in s.from_names.iter().enumerate() {
        let Some(sub) = a.inventory.module(&format!("{base}.{name}")) else {
            continue;
        };
        if s.name_verdicts.get(i).is_some_and(Result::is_ok) && t.unused_at_init(sub) {
            lazy.push(i);
            subs.push(sub);
        }
    }
    (!lazy.is_empty() && lazy.len() < s.from_names.len()).then_some((lazy, subs))
}

/// `import a.x` and `import a.y` both bind `a`: they become lazy together
/// (when one of them defers something and none is refused) or not at all,
/// since the last one decides what `a` is bound to. Returns the statements
/// of groups that defer something.
fn merge_package_bindings(judged: &mut [Judged]) -> HashSet<usize> {
    let mut grouped = HashSet::default();
    let mut groups: HashMap<String, Vec<usize>> = HashMap::default();
    for (i, j) in judged.iter().enumerate() {
        if j.s.binds_package && j.form == PatchForm::Whole {
            groups.entry(j.s.bound[0].clone()).or_default().push(i);
        }
    }
    for (name, members) in groups {
        if members.len() < 2 {
            continue;
        }
        let gains = members.iter().any(|&i| !judged[i].deferred.is_empty());
        if gains {
            grouped.extend(members.iter().copied());
        }
        let refused = members.iter().find_map(|&i| {
            judged[i]
                .verdict
                .as_ref()
                .err()
                .map(|why| (judged[i].s.line, why.clone()))
        });
        for &i in &members {
            if !gains {
                judged[i].verdict = Err(format!("no `import {name}.…` statement defers anything"));
            } else if let Some((line, why)) = &refused {
                if judged[i].verdict.is_ok() {
                    judged[i].verdict = Err(format!(
                        "`import {name}` at line {line} binds the same name and stays eager: {why}"
                    ));
                }
            }
        }
    }
    grouped
}

#[cfg(test)]
mod tests;
