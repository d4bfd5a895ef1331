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
//! keeps `m` and `x` eager and makes `y`, a submodule init does not use,
//! lazy; with every name lazy, `m` is still imported at once), or
//! submodules (`import a.b.c` whose package `a` init uses binds `a` at once
//! and leaves `a.b.c` to load when first read as an attribute of `a`). It
//! is patched only when every part of this holds, so that a patch can cost
//! a late import but never change what the function does:
//! - its module ran at init, is Python source, and the side-effect probe saw
//!   it change nothing outside its namespace but global state no import
//!   depends on (atexit, signal handlers, threads started, …: the probe
//!   compares global state at every import boundary, so such a change is
//!   the module's own; it stays at init and hides no deferred import's
//!   effect; `sys.path`, `os.environ` or warning filters changed after the
//!   statement would apply to the deferred import, so they refuse);
//! - it sits directly in the module body, alone on its line, and is a plain
//!   `import a.b [as c]` or `from m import x [as y]` (no star, no
//!   `__future__`); several `import a.x` / `import a.y` made lazy whole bind
//!   the one name `a` and are patched together or not at all;
//! - it imports a module init does not use (`lazy`, or none of its
//!   functions ran at init other than while it imported itself: those
//!   only invocations call wait for them), whoever loaded it first: a
//!   module stops loading at init only when every import that loads it
//!   there is patched, so all candidates are chosen together and those
//!   that end up stopping nothing are dropped
//!   ([`apply`] decides, by reachability through the unpatched imports);
//! - every module that would then stop loading at init through it — its
//!   targets and what only they loaded, as the trace's import parents tell —
//!   was probed free of effects and has no static side effect (a change it
//!   makes to another module of its package counts only when that module
//!   would still be seen without it: loaded at init, or kept away by
//!   another patch that can bring it back first); an import
//!   cycle among them is accepted only when entered through a public module
//!   (no `_` part), which its library must support importing first at any
//!   time; unless the patch is a submodules one, no other module loaded at
//!   init reaches one of them through an attribute chain, at module level
//!   or in a function (`import a` then `a.b.x`: `submodules` hooks the
//!   module on its package, which such a read triggers, or imports it at
//!   once where it cannot), except its own submodules and chains to a
//!   module its package imports when the attribute is read (a module
//!   `__getattr__`, as scipy's);
//! - (placeholders) each lazy name is bound once at module level, never
//!   declared `global`, never read by module-level code (class bodies,
//!   decorators, defaults and annotations included) nor by a function that
//!   may run at init — one the trace saw run at init (the innermost `def`
//!   around the read), or without that record any top-level definition
//!   module-level code references or decorates — nor by another module at
//!   init (`from m import name`, `m.name`, a star import: a re-export
//!   nobody reads there is deferred), and read only as `name.attr`,
//!   `name(...)`, `name[...]`, the class argument of `isinstance` /
//!   `issubclass` or a base class — forms the runtime's placeholder
//!   forwards exactly; the module never reads its own namespace as a dict
//!   (`globals()`, `locals()` or `vars()` at module level, `exec`/`eval`
//!   without a namespace of their own, any of them passed as a value), and
//!   defines no module `__getattr__`.
//!
//! `verify` on the unit's events must then pass with the patches, or the
//! package is emitted without them (cli::package).

use crate::analysis::Analysis;
use crate::scan::ModuleId;
use crate::stats::Stats;
use crate::usage::{Usage, UsageTable};
use rustc_hash::FxHashMap as HashMap;
use serde::Serialize;

mod candidates;
mod joint;
mod source;

use candidates::{
    candidate_modules, names_read_from_outside, patch_module, reached_by_attribute_chains,
    ReadFromOutside,
};
pub use joint::apply;
use joint::{keep_patches_that_defer, refuse_unsafe_vanishing};
pub use source::{statements, Form, InitCalls, Statement};

/// How a patched statement is compiled (caios_compile.py's entry forms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PatchForm {
    /// Every name it binds becomes a placeholder (`N`).
    Whole,
    /// `from m import …`: the names listed become placeholders, the others
    /// stay an eager import of `m`, which is imported at once even when no
    /// name is left (`N=x+y`).
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
    /// The modules the patched part of the statement imports: their
    /// deferral was checked, and their import edges from this line stop at
    /// init (a whole statement's, every edge of the line).
    #[serde(skip)]
    checked: Vec<ModuleId>,
    /// Whole `import a.b` statements all binding `a`: patched together.
    #[serde(skip)]
    package_group: Option<String>,
    /// A whole `from m import …`: the names form that keeps `m` eager, for
    /// when the whole statement would move something unsafe.
    #[serde(skip)]
    fallback: Option<Box<Patch>>,
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
        self.form == PatchForm::Whole || self.checked.contains(&target)
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
    choose_excluding(a, usage, stats, &[])
}

/// [`choose`], with the statements of the modules named in `excluded`
/// refused (verify failed with them), the others chosen together again.
pub fn choose_excluding(
    a: &Analysis,
    usage: &UsageTable,
    stats: Option<&Stats>,
    excluded: &[String],
) -> LazyBindings {
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
        relied_on: HashMap::default(),
        read_from_outside: HashMap::default(),
    };
    targets.relied_on = reached_by_attribute_chains(&targets);
    targets.read_from_outside = names_read_from_outside(&targets);
    for m in candidate_modules(&targets) {
        let name = &a.inventory.modules[m].name;
        if excluded.contains(name) {
            out.refused.push(Refusal {
                module: name.clone(),
                line: 0,
                why: "verify failed with the lazy bindings of this module".into(),
            });
            continue;
        }
        patch_module(&mut targets, m, &mut out);
    }
    refuse_unsafe_vanishing(&mut targets, &mut out);
    keep_patches_that_defer(a, usage, stats, &mut out);
    out
}

/// A statement to patch: its module and line.
type PatchSite = (ModuleId, u32);

/// What is known about the modules statements import.
struct Targets<'a> {
    a: &'a Analysis,
    usage: &'a UsageTable,
    stats: &'a Stats,
    safety: crate::usage::DeferSafety,
    why_not: HashMap<(ModuleId, PatchSite), Option<String>>,
    /// The modules that stop loading at init once the chosen patches apply,
    /// each with the patched statements that answer for it (`None` while
    /// choosing).
    vanishing: Option<HashMap<ModuleId, Vec<PatchSite>>>,
    relied_on: HashMap<ModuleId, Vec<ModuleId>>,
    /// Names of a module that others read at init (re-exports stay eager).
    read_from_outside: HashMap<ModuleId, ReadFromOutside>,
}

impl Targets<'_> {
    /// Loaded at init, yet unused there: its import is worth deferring.
    fn unused_at_init(&self, t: ModuleId) -> bool {
        match self.usage.of(t).usage {
            Usage::Lazy => true,
            Usage::Hot => {
                let name = &self.a.inventory.modules[t].name;
                self.stats.modules.get(name).is_some_and(|o| {
                    match &o.init_run_under {
                        // None of its functions ran at init but while it
                        // imported itself: those that ran only in
                        // invocations wait for them.
                        Some(under) => under.iter().all(|u| u == name),
                        None => o.functions_ran == Some(false),
                    }
                })
            }
            _ => false,
        }
    }

    /// Why deferring `t`'s import (by the statement `by`) could change what the
    /// function does; `None` when it cannot. `hooked`: the patch leaves `t`
    /// as an attribute hook on its loaded package, so code that reaches it
    /// through an attribute chain imports it there.
    fn why_not(&mut self, t: ModuleId, by: PatchSite, hooked: bool) -> Option<String> {
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
        // A submodule of `t` never runs before `t` is imported: its reads
        // of `t` rely on nothing.
        let inside = |r: ModuleId| {
            let (r, t) = (
                &self.a.inventory.modules[r].name,
                &self.a.inventory.modules[t].name,
            );
            r.strip_prefix(t.as_str())
                .is_some_and(|rest| rest.starts_with('.'))
        };
        let reader = self
            .relied_on
            .get(&t)
            .filter(|_| !hooked && !candidates::loaded_on_read(self.a, t))
            .and_then(|readers| readers.iter().copied().find(|&r| r != by.0 && !inside(r)));
        if let Some(r) = reader {
            return Some(format!(
                "{}, loaded at init, reaches {} through an attribute chain",
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
        // What moves with the deferral: modules that no longer load at init
        // once every patch applies and would load again without `by`'s
        // patch alone (refuse_unsafe_vanishing; before that, only `t`
        // itself is checked). One that another patch also keeps away can
        // come back through that one first, without what `by` loads. Those that load at init
        // still, only later, keep their effects at init (verify runs that
        // order).
        let vanishing = self.vanishing.as_ref();
        let moves = |d: ModuleId| {
            vanishing.is_some_and(|v| v.get(&d).is_some_and(|bys| bys.as_slice() == [by]))
        };
        self.why_not
            .entry((t, by))
            .or_insert_with(|| safety.why_not(a, stats, t, cycles, &moves, &moves))
            .clone()
            .map(|why| format!("{}: {why}", name(t)))
    }
}

#[cfg(test)]
mod tests;
