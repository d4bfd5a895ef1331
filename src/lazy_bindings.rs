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
//! A statement is patched only when every part of this holds, so that a
//! patch can cost a late import but never change what the function does:
//! - its module ran at init, is Python source, and the side-effect probe saw
//!   it change nothing outside its namespace;
//! - it sits directly in the module body, alone on its line, and is a plain
//!   `import a.b [as c]` or `from m import x [as y]` (no star, no
//!   `__future__`); several `import a.x` / `import a.y` bind the one name
//!   `a` and are patched together or not at all;
//! - the trace saw at least one module it imports first loaded inside this
//!   module's import and unused at init (`lazy`, or none of its functions
//!   ran); every module it caused to load — those and what they load, as
//!   the trace's import parents tell — was probed free of effects and has
//!   no static side effect; an import cycle among them is accepted only when
//!   entered through a public module (no `_` part), which its library must
//!   support importing first at any time; no other module reaches one of
//!   them through an attribute chain at init (`import a` then `a.b.x`);
//! - each bound name is bound once at module level, never declared
//!   `global`, never read by module-level code (class bodies, decorators,
//!   defaults and annotations included) nor by a function or class that
//!   module-level code references or decorates, and read only as
//!   `name.attr`, `name(...)`, `name[...]`, the class argument of
//!   `isinstance` / `issubclass` or a base class — forms the runtime's
//!   placeholder forwards exactly; the module never calls `globals`, `vars`,
//!   `locals`, `exec` or `eval`, and defines no module `__getattr__`.
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

pub use source::{statements, Form, Statement};

/// One import statement that becomes a lazy binding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Patch {
    pub module: String,
    /// The source file, relative to its root (as it is shipped).
    pub file: String,
    #[serde(skip)]
    pub path: std::path::PathBuf,
    pub line: u32,
    /// The names it binds.
    pub names: Vec<String>,
    /// Modules it no longer loads at init (`lazy` in the usage table).
    pub deferred: Vec<String>,
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
    /// Source file → lines to compile lazily (emit's input).
    pub fn lines(&self) -> std::collections::BTreeMap<std::path::PathBuf, Vec<u32>> {
        let mut out: std::collections::BTreeMap<_, Vec<u32>> = Default::default();
        for p in &self.patches {
            out.entry(p.path.clone()).or_default().push(p.line);
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
        relied_on: reached_by_attribute_chains(a),
    };
    for m in candidate_modules(&targets) {
        patch_module(&mut targets, m, &mut out);
    }
    out
}

/// What is known about the modules statements import.
struct Targets<'a> {
    a: &'a Analysis,
    usage: &'a UsageTable,
    stats: &'a Stats,
    safety: crate::usage::DeferSafety,
    why_not: HashMap<(ModuleId, ModuleId), Option<String>>,
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
    /// function does; `None` when it cannot.
    fn why_not(&mut self, t: ModuleId, by: ModuleId) -> Option<String> {
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
        if let Some(&r) = self.relied_on.get(&t).filter(|&&r| r != by) {
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
        // Modules loaded before `by` ran do not move with the deferral.
        let by_name = &a.inventory.modules[by].name;
        let moves = |d: ModuleId| stats.loaded_under(&a.inventory.modules[d].name, by_name);
        self.why_not
            .entry((t, by))
            .or_insert_with(|| safety.why_not(a, stats, t, cycles, &moves))
            .clone()
            .map(|why| format!("{}: {why}", name(t)))
    }
}

/// The usage table once the patches apply: a module that the trace saw
/// first loaded under patched statements, and that every init-time import
/// edge reaches only from a patched statement, from a module that itself
/// no longer loads at init, or from a module init never loads, becomes
/// `deferred` (fixpoint: what only it loaded follows). Its group can then
/// leave the package; verify still runs on exactly this plan.
pub fn apply(a: &Analysis, usage: &UsageTable, stats: &Stats, lazy: &LazyBindings) -> UsageTable {
    let mut out = usage.clone();
    if lazy.patches.is_empty() {
        return out;
    }
    let patched: HashSet<(ModuleId, u32)> = lazy
        .patches
        .iter()
        .filter_map(|p| Some((a.inventory.module(&p.module)?, p.line)))
        .collect();
    // What the patched statements may stop loading: the modules the trace
    // saw loaded inside a patched module's import (the edges decide).
    let mut patched_modules: Vec<&Patch> = Vec::new();
    for p in &lazy.patches {
        if !patched_modules.iter().any(|q| q.module == p.module) {
            patched_modules.push(p);
        }
    }
    let candidates: Vec<(ModuleId, &Patch)> = (0..a.inventory.modules.len())
        .filter(|&m| matches!(usage.of(m).usage, Usage::Hot | Usage::Lazy))
        .filter_map(|m| {
            let name = &a.inventory.modules[m].name;
            let p = patched_modules
                .iter()
                .find(|p| stats.loaded_under(name, &p.module))?;
            Some((m, *p))
        })
        .collect();
    let loaded_at_init =
        |m: ModuleId, u: &UsageTable| matches!(u.of(m).usage, Usage::Hot | Usage::Lazy);
    let g = &a.graph.graph;
    let mut changed = true;
    while changed {
        changed = false;
        for &(t, patch) in &candidates {
            if !loaded_at_init(t, &out) {
                continue;
            }
            let still_loaded = g
                .edges_directed(
                    petgraph::graph::NodeIndex::new(t),
                    petgraph::Direction::Incoming,
                )
                .any(|e| {
                    use petgraph::visit::EdgeRef;
                    let w = e.weight();
                    let from = e.source().index();
                    from < a.inventory.modules.len()
                        && w.init
                        && !w.type_checking
                        && loaded_at_init(from, &out)
                        && !patched.contains(&(from, w.line))
                });
            if still_loaded {
                continue;
            }
            let u = &mut out.modules[t];
            u.usage = Usage::Deferred;
            u.init_probability = 0.0;
            u.reason = format!(
                "{}; no longer loaded at init: lazy bindings in {} defer it",
                u.reason, patch.file
            );
            changed = true;
        }
    }
    out
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
    let statements = match statements(&text) {
        Ok(s) => s,
        Err((line, reason)) => {
            out.unreadable
                .push(format!("{}:{line}: {reason}", file.path.display()));
            return;
        }
    };
    let mut judged: Vec<(Statement, Vec<ModuleId>, Result<(), String>)> = Vec::new();
    for s in statements {
        let targets = statement_targets(
            a,
            &module.name,
            module.is_package,
            s.level,
            &s.module,
            &s.from_names,
        );
        // A target some other import loaded first is not deferred at all.
        let caused: Vec<ModuleId> = targets
            .into_iter()
            .filter(|&d| {
                t.stats
                    .loaded_under(&a.inventory.modules[d].name, &module.name)
            })
            .collect();
        let deferred: Vec<ModuleId> = caused
            .iter()
            .copied()
            .filter(|&d| t.unused_at_init(d))
            .collect();
        let verdict =
            s.verdict
                .clone()
                .and_then(|()| match caused.iter().find_map(|&d| t.why_not(d, m)) {
                    Some(why) => Err(why),
                    None => Ok(()),
                });
        judged.push((s, deferred, verdict));
    }
    let grouped = merge_package_bindings(&mut judged);
    for (i, (s, deferred, verdict)) in judged.into_iter().enumerate() {
        if deferred.is_empty() && !grouped.contains(&i) {
            continue; // nothing to gain: not a candidate
        }
        match verdict {
            Ok(()) => out.patches.push(Patch {
                module: module.name.clone(),
                file: file.rel.clone(),
                path: file.path.clone(),
                line: s.line,
                names: s.bound.clone(),
                deferred: deferred
                    .into_iter()
                    .map(|d| a.inventory.modules[d].name.clone())
                    .collect(),
            }),
            Err(why) => refuse(out, s.line, why),
        }
    }
}

/// `import a.x` and `import a.y` both bind `a`: they become lazy together
/// (when one of them defers something and none is refused) or not at all,
/// since the last one decides what `a` is bound to. Returns the statements
/// of groups that defer something.
fn merge_package_bindings(
    judged: &mut [(Statement, Vec<ModuleId>, Result<(), String>)],
) -> HashSet<usize> {
    let mut grouped = HashSet::default();
    let mut groups: HashMap<String, Vec<usize>> = HashMap::default();
    for (i, (s, _, _)) in judged.iter().enumerate() {
        if s.binds_package {
            groups.entry(s.bound[0].clone()).or_default().push(i);
        }
    }
    for (name, members) in groups {
        if members.len() < 2 {
            continue;
        }
        let gains = members.iter().any(|&i| !judged[i].1.is_empty());
        if gains {
            grouped.extend(members.iter().copied());
        }
        let refused = members.iter().find_map(|&i| {
            judged[i]
                .2
                .as_ref()
                .err()
                .map(|why| (judged[i].0.line, why.clone()))
        });
        for &i in &members {
            if !gains {
                judged[i].2 = Err(format!("no `import {name}.…` statement defers anything"));
            } else if let Some((line, why)) = &refused {
                if judged[i].2.is_ok() {
                    judged[i].2 = Err(format!(
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
