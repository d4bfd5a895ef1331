//! The candidates, statement by statement: which modules hold an import
//! worth deferring, and for each statement its form ([`PatchForm`]) and the
//! verdict of the source rules and the probe on what it would move.
//!
//! Input: an [`Analysis`], the usage table and the trace, through
//! `Targets`. Output: patches and refusals pushed into [`LazyBindings`].

use super::{statements, InitCalls, LazyBindings, Patch, PatchForm, Refusal, Statement, Targets};
use crate::analysis::Analysis;
use crate::imports::{Site, SiteKind};
use crate::scan::{FileKind, ModuleId};
use crate::usage::Usage;
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

/// Modules that ran at init and have a module-level import of a module
/// unused at init: the only ones worth reading again.
pub(super) fn candidate_modules(t: &Targets) -> Vec<ModuleId> {
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

/// Modules some other module loaded at init reaches through an attribute
/// chain (`import a` then `a.b.x`), each with those readers: they rely on
/// the module having been imported by someone, whenever the chain runs
/// (in a function, it may be an invocation, before anything reifies a
/// placeholder that would import it).
pub(super) fn reached_by_attribute_chains(t: &Targets) -> HashMap<ModuleId, Vec<ModuleId>> {
    use crate::graph::{EdgeKind, Node};
    use petgraph::visit::EdgeRef;
    let g = &t.a.graph.graph;
    let mut out: HashMap<ModuleId, Vec<ModuleId>> = HashMap::default();
    for e in g.edge_references() {
        let edge = e.weight();
        if edge.kind != EdgeKind::Import(SiteKind::Attribute) || edge.type_checking {
            continue;
        }
        if let (Node::Module(from), Node::Module(to)) = (g[e.source()], g[e.target()]) {
            if matches!(t.usage.of(from).usage, Usage::Hot | Usage::Lazy) {
                let readers = out.entry(to).or_default();
                if !readers.contains(&from) {
                    readers.push(from);
                }
            }
        }
    }
    out
}

/// The package of `m` imports it when it is read as a missing attribute
/// (a module `__getattr__`, lazy_loader, an `_import_structure`): an
/// attribute chain to `m` needs no one to have imported it.
pub(super) fn loaded_on_read(a: &Analysis, m: ModuleId) -> bool {
    use petgraph::graph::NodeIndex;
    let name = &a.inventory.modules[m].name;
    let Some(package) = name
        .rsplit_once('.')
        .and_then(|(p, _)| a.inventory.module(p))
    else {
        return false;
    };
    a.graph
        .graph
        .edges_connecting(NodeIndex::new(package), NodeIndex::new(m))
        .any(|e| {
            matches!(
                e.weight().kind,
                crate::graph::EdgeKind::Import(
                    SiteKind::LazyGetattr | SiteKind::LazyAttach | SiteKind::ImportStructure
                )
            )
        })
}

/// The import sites that may run at init, each with its module: those of
/// modules loaded at init, outside `TYPE_CHECKING`, and in a function only
/// when the trace saw code of that module run at init (or did not track it).
fn sites_run_at_init<'t>(t: &'t Targets) -> impl Iterator<Item = (ModuleId, &'t Site)> + 't {
    let a = t.a;
    a.imports
        .modules
        .iter()
        .enumerate()
        .filter(|&(x, _)| matches!(t.usage.of(x).usage, Usage::Hot | Usage::Lazy))
        .flat_map(move |(x, imports)| {
            let code_ran = t
                .stats
                .modules
                .get(&a.inventory.modules[x].name)
                .and_then(|o| o.init_code_lines.as_deref())
                .is_none_or(|ran| !ran.is_empty());
            imports
                .sites
                .iter()
                .filter(move |site| {
                    !site.type_checking
                        && (site.scope != crate::imports::Scope::Function || code_ran)
                })
                .map(move |site| (x, site))
        })
}

/// What modules loaded at init read of other modules' namespaces there:
/// `from m import x` (`x` of `m`), `from m import *` (all of `m`) and
/// attribute chains `m.x…` of an imported `m`, at module level, or in a
/// function when the trace saw any function of that module run at init
/// (or did not track it). Keyed by the module read; each name with one
/// reader's name.
pub(super) fn names_read_from_outside(t: &Targets) -> HashMap<ModuleId, ReadFromOutside> {
    let a = t.a;
    let mut out: HashMap<ModuleId, ReadFromOutside> = HashMap::default();
    for (x, site) in sites_run_at_init(t) {
        let reader = &a.inventory.modules[x];
        let Some(base) =
            crate::graph::absolute_name(&reader.name, reader.is_package, site.level, &site.target)
        else {
            continue;
        };
        let mut note = |m: ModuleId, name: &str| {
            let entry = out.entry(m).or_default();
            let who = || format!("{} (line {})", reader.name, site.line);
            if name == "*" {
                entry.star.get_or_insert_with(who);
            } else {
                entry.names.entry(name.to_string()).or_insert_with(who);
            }
        };
        match site.kind {
            SiteKind::From => {
                if let Some(m) = a.inventory.module(&base) {
                    for name in &site.names {
                        note(m, name);
                    }
                }
            }
            SiteKind::ModuleName => {
                if let Some(m) = a.inventory.module(&base) {
                    note(m, "*");
                }
            }
            SiteKind::Attribute => {
                // `a.b.x`: `b` of `a`, `x` of `a.b` (whichever are modules).
                let parts: Vec<&str> = base.split('.').collect();
                for i in 1..parts.len() {
                    if let Some(m) = a.inventory.module(&parts[..i].join(".")) {
                        note(m, parts[i]);
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// One module's names that others read at init.
#[derive(Debug, Default)]
pub(super) struct ReadFromOutside {
    /// A star import (or a by-name reader) of the whole namespace.
    star: Option<String>,
    names: HashMap<String, String>,
}

impl ReadFromOutside {
    /// Who reads `name` at init; `starred`: a star import binds it.
    pub(super) fn reader(&self, name: &str, starred: bool) -> Option<&str> {
        let star = self.star.as_deref().filter(|_| starred);
        star.or_else(|| self.names.get(name).map(String::as_str))
    }
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

pub(super) fn patch_module(t: &mut Targets, m: ModuleId, out: &mut LazyBindings) {
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
    // The module runs at init whatever is patched, so its own effects stay
    // there. What they can hide is a deferred import's effect charged to it
    // (a change the nested module's globals do not lead to is found at the
    // importer's next boundary). Global state is compared at every
    // boundary, so its changes are charged exactly and hide nothing; those
    // a deferred import could see differently (sys.path, os.environ,
    // warning filters: made after the statement, they apply to it only
    // once it is deferred) still refuse.
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
        Some(e) => {
            let kept: Vec<&str> = e
                .iter()
                .map(String::as_str)
                .filter(|e| !crate::stats::is_import_neutral_global_effect(e))
                .collect();
            if !kept.is_empty() {
                refuse(
                    out,
                    0,
                    format!(
                        "the module itself has effects outside its namespace ({})",
                        kept.join("; ")
                    ),
                );
                return;
            }
        }
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
    let outside = t.read_from_outside.get(&m);
    let read_outside =
        |name: &str, starred: bool| match outside.and_then(|o| o.reader(name, starred)) {
            Some(reader) => Err(reader.to_string()),
            None => Ok(()),
        };
    let statements = match statements(&text, calls, &read_outside) {
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
            checked,
            deferred,
            verdict,
            fallback,
        } = j;
        if let Err(why) = verdict {
            refuse(out, s.line, why);
            continue;
        }
        let build = |form: PatchForm, lazy: Vec<usize>, checked, deferred: Vec<ModuleId>| Patch {
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
            deferred: deferred
                .into_iter()
                .map(|d| a.inventory.modules[d].name.clone())
                .collect(),
            fallback: None,
        };
        let mut patch = build(form, lazy, checked, deferred);
        patch.fallback = fallback
            .filter(|f| !f.deferred.is_empty())
            .map(|f| Box::new(build(PatchForm::Names, f.lazy, f.checked, f.deferred)));
        out.patches.push(patch);
    }
}

/// A statement, the form it would be patched in, and the verdict.
struct Judged {
    s: Statement,
    form: PatchForm,
    /// PatchForm::Names: the indices of the names made lazy.
    lazy: Vec<usize>,
    checked: Vec<ModuleId>,
    /// The modules it imports that init does not use (whoever loads them
    /// first: keep_patches_that_defer sorts out which really move).
    deferred: Vec<ModuleId>,
    verdict: Result<(), String>,
    /// A whole `from m import …`: the names form to fall back on.
    fallback: Option<NamesForm>,
}

/// The names form of a `from m import …` statement.
struct NamesForm {
    /// The indices of the names made lazy.
    lazy: Vec<usize>,
    checked: Vec<ModuleId>,
    deferred: Vec<ModuleId>,
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
        match caused
            .iter()
            .find_map(|&d| t.why_not(d, (m, s.line), hooked))
        {
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
            checked: subs,
            s,
            verdict,
            fallback: None,
        };
    }
    let whole = s
        .verdict
        .clone()
        .and_then(|()| why_not_moving(t, &targets, false));
    // `from m import x`: deferring only the names' submodules, `m` kept
    // eager. The form when the whole statement is refused here, and its
    // fallback when the whole is refused once every patch is known
    // (joint::refuse_unsafe_vanishing: what `m` would take along).
    let names = if s.from_names.is_empty() {
        None
    } else {
        // Its hook on the package is a best effort (see the runtime):
        // attribute chains count as for a whole statement.
        judge_names(t, m, &s).filter(|(_, subs)| why_not_moving(t, subs, false).is_ok())
    };
    match (whole, names) {
        (Err(_), Some((lazy, subs))) => Judged {
            deferred: unused(t, &subs),
            form: PatchForm::Names,
            lazy,
            checked: subs,
            s,
            verdict: Ok(()),
            fallback: None,
        },
        (whole, names) => Judged {
            deferred: unused(t, &targets),
            form: PatchForm::Whole,
            lazy: Vec::new(),
            checked: targets,
            fallback: names.map(|(lazy, subs)| NamesForm {
                deferred: unused(t, &subs),
                lazy,
                checked: subs,
            }),
            s,
            verdict: whole,
        },
    }
}

/// `from m import x, y`: the names whose own verdict passes and which are
/// submodules of `m` init does not use, with those submodules. Asked when
/// the whole statement cannot be lazy: `m` stays an eager import (with the
/// other names, or binding nothing when every name is lazy), so what its
/// own import does stays at init (`from scipy import stats` defers
/// scipy.stats while scipy, whose import sets warning filters, loads).
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
    (!lazy.is_empty()).then_some((lazy, subs))
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
