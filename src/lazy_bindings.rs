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
use crate::imports::{visitor::LineIndex, SiteKind};
use crate::scan::{FileKind, ModuleId};
use crate::stats::Stats;
use crate::usage::{Usage, UsageTable};
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use rustpython_ruff_python_ast::visitor::{self, Visitor};
use rustpython_ruff_python_ast::{Expr, ExprContext, Stmt};
use serde::Serialize;

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

/// How a name is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Attribute,
    Call,
    Subscript,
    /// Second argument of `isinstance` / `issubclass`.
    TypeCheck,
    /// A base of a class statement.
    Base,
    /// Anything else: the placeholder itself would be seen.
    Value,
}

impl Form {
    fn forwarded(self) -> bool {
        self != Form::Value
    }
}

/// One read of a name.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Read<'a> {
    line: u32,
    form: Form,
    /// Module-level code: runs at init.
    at_init: bool,
    /// The top-level `def`/`class` the read sits in.
    owner: Option<&'a str>,
}

/// A module-level import statement as the source spells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub line: u32,
    /// Absolute or relative module as written (`from . import x`: empty).
    pub module: String,
    pub level: u32,
    /// `from m import …`: the imported names; `import a.b`: empty.
    pub from_names: Vec<String>,
    /// The names bound, in order.
    pub bound: Vec<String>,
    /// `import a.b` (no `as`): binds the package `a`, as every other such
    /// statement for `a` does; the runtime merges them into one binding.
    pub binds_package: bool,
    /// `Err(why)` when the module's own source rules it out.
    pub verdict: Result<(), String>,
}

/// The module-level import statements of one source file, each with the
/// verdict of the source-only rules. `Err((line, reason))` on a syntax error.
pub fn statements(text: &str) -> Result<Vec<Statement>, (u32, String)> {
    let parsed = rustpython_ruff_python_parser::parse_module(text).map_err(|err| {
        let lines = LineIndex::new(text);
        (
            lines.line(err.location.start().to_usize()),
            err.error.to_string(),
        )
    })?;
    let module = parsed.syntax();
    let lines = LineIndex::new(text);
    let mut reads = Reads::new(&lines);
    reads.visit_body(&module.body);
    if let Some(at) = text
        .as_bytes()
        .windows(2)
        .position(|w| w[0] == b'\r' && w[1] != b'\n')
    {
        // Python counts a lone CR as a line break; the line index does not,
        // so the compiler would look for the statement on another line.
        reads.refuse_module(lines.line(at), "has a lone carriage return as a line break");
    }
    let runs_at_init = reads.owners_run_at_init();
    let mut per_line: HashMap<u32, usize> = HashMap::default();
    for stmt in &module.body {
        *per_line.entry(lines.line(ruff_range(stmt).0)).or_default() += 1;
    }
    let mut out = Vec::new();
    for stmt in &module.body {
        let line = lines.line(ruff_range(stmt).0);
        let Some(mut statement) = import_statement(stmt, line) else {
            continue;
        };
        statement.verdict = if statement.verdict.is_err() {
            statement.verdict
        } else if per_line[&line] > 1 {
            Err("it shares its line with another statement".into())
        } else if let Some(why) = &reads.module_wide_refusal {
            Err(why.clone())
        } else {
            statement
                .bound
                .iter()
                .try_for_each(|name| reads.name_verdict(name, &runs_at_init))
        };
        if statement.module == "__future__" {
            continue;
        }
        out.push(statement);
    }
    Ok(out)
}

fn ruff_range(stmt: &Stmt) -> (usize, usize) {
    use rustpython_ruff_text_size::Ranged;
    let r = stmt.range();
    (r.start().to_usize(), r.end().to_usize())
}

fn import_statement(stmt: &Stmt, line: u32) -> Option<Statement> {
    let not_yet = Ok(());
    match stmt {
        Stmt::Import(s) if !s.is_lazy => Some(Statement {
            line,
            binds_package: s.names.len() == 1 && s.names[0].asname.is_none(),
            module: s.names[0].name.to_string(),
            level: 0,
            from_names: Vec::new(),
            bound: s
                .names
                .iter()
                .map(|a| match &a.asname {
                    Some(asname) => asname.to_string(),
                    None => a.name.split('.').next().unwrap_or_default().to_string(),
                })
                .collect(),
            verdict: if s.names.len() == 1 {
                not_yet
            } else {
                Err("it imports several modules".into())
            },
        }),
        Stmt::ImportFrom(s) if !s.is_lazy => {
            let from_names: Vec<String> = s.names.iter().map(|a| a.name.to_string()).collect();
            let star = from_names.iter().any(|n| n == "*");
            Some(Statement {
                line,
                binds_package: false,
                module: s.module.as_ref().map(|m| m.to_string()).unwrap_or_default(),
                level: s.level,
                bound: s
                    .names
                    .iter()
                    .map(|a| a.asname.as_ref().unwrap_or(&a.name).to_string())
                    .collect(),
                from_names,
                verdict: if star {
                    Err("a star import binds names no one can list".into())
                } else {
                    not_yet
                },
            })
        }
        _ => None,
    }
}

/// Every read, binding and `global` declaration of module-level names.
struct Reads<'a, 'l> {
    lines: &'l LineIndex,
    owner: Option<&'a str>,
    in_function: bool,
    in_annotation: bool,
    /// The form of the name expression being visited, set by its parent.
    pending_form: Option<Form>,
    reads: HashMap<&'a str, Vec<Read<'a>>>,
    bindings: HashMap<&'a str, u32>,
    /// Of those, `import a.b` statements binding `a` (they all bind the same
    /// package, so several of them are one binding).
    package_bindings: HashMap<&'a str, u32>,
    declared_global: HashSet<&'a str>,
    /// Top-level definitions, and the names each one's body reads.
    owners: HashMap<&'a str, HashSet<&'a str>>,
    /// Decorated top-level functions and classes: the decorator may call them.
    decorated: HashSet<&'a str>,
    module_wide_refusal: Option<String>,
}

impl<'a, 'l> Reads<'a, 'l> {
    fn new(lines: &'l LineIndex) -> Self {
        Reads {
            lines,
            owner: None,
            in_function: false,
            in_annotation: false,
            pending_form: None,
            reads: HashMap::default(),
            bindings: HashMap::default(),
            package_bindings: HashMap::default(),
            declared_global: HashSet::default(),
            owners: HashMap::default(),
            decorated: HashSet::default(),
            module_wide_refusal: None,
        }
    }

    fn at_module_scope(&self) -> bool {
        self.owner.is_none() && !self.in_function
    }

    fn bind(&mut self, name: &'a str) {
        *self.bindings.entry(name).or_default() += 1;
    }

    fn refuse_module(&mut self, line: u32, why: &str) {
        if self.module_wide_refusal.is_none() {
            self.module_wide_refusal = Some(format!("the module {why} (line {line})"));
        }
    }

    /// Top-level definitions whose bodies may run at init: referenced by
    /// module-level code, decorated, or referenced by one that runs.
    fn owners_run_at_init(&self) -> HashSet<&'a str> {
        let mut run: HashSet<&'a str> = self.decorated.clone();
        for (name, reads) in &self.reads {
            if self.owners.contains_key(name) && reads.iter().any(|r| r.at_init) {
                run.insert(name);
            }
        }
        let mut queue: Vec<&'a str> = run.iter().copied().collect();
        while let Some(owner) = queue.pop() {
            for &used in self.owners.get(owner).into_iter().flatten() {
                if self.owners.contains_key(used) && run.insert(used) {
                    queue.push(used);
                }
            }
        }
        run
    }

    fn name_verdict(&self, name: &str, runs_at_init: &HashSet<&'a str>) -> Result<(), String> {
        let bindings = self.bindings.get(name).copied().unwrap_or(0);
        let as_package = self.package_bindings.get(name).copied().unwrap_or(0);
        if bindings > 1 && bindings != as_package {
            return Err(format!("`{name}` is bound more than once at module level"));
        }
        if self.declared_global.contains(name) {
            return Err(format!("a function declares `global {name}`"));
        }
        let reads = self.reads.get(name).map_or(&[][..], Vec::as_slice);
        if reads.is_empty() {
            // Possibly imported for its side effect (`import app.signals`)
            // or re-exported: deferring it could drop a registration.
            return Err(format!("`{name}` is never read in the module"));
        }
        for read in reads {
            if read.at_init {
                return Err(format!("`{name}` is read at init (line {})", read.line));
            }
            if let Some(owner) = read.owner.filter(|o| runs_at_init.contains(o)) {
                return Err(format!(
                    "`{name}` is read by `{owner}` (line {}), which may run at init",
                    read.line
                ));
            }
            if !read.form.forwarded() {
                return Err(format!(
                    "`{name}` is used as a value (line {}), where a placeholder would be seen",
                    read.line
                ));
            }
        }
        Ok(())
    }

    fn record_read(&mut self, name: &'a str, line: u32, form: Form) {
        let form = if self.in_annotation {
            Form::Value
        } else {
            form
        };
        let read = Read {
            line,
            form,
            at_init: self.at_module_scope_or_class_body(),
            owner: self.owner,
        };
        self.reads.entry(name).or_default().push(read);
        if let Some(owner) = self.owner {
            self.owners.entry(owner).or_default().insert(name);
        }
    }

    /// Code that runs while the module executes: module level and the bodies
    /// of module-level classes (not their methods).
    fn at_module_scope_or_class_body(&self) -> bool {
        !self.in_function
    }

    fn line_of(&self, offset: usize) -> u32 {
        self.lines.line(offset)
    }

    fn visit_definition_header(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::FunctionDef(f) => {
                for d in &f.decorator_list {
                    self.visit_decorator(d);
                }
                if let Some(tp) = &f.type_params {
                    self.visit_type_params(tp);
                }
                self.visit_parameters(&f.parameters);
                if let Some(r) = &f.returns {
                    self.visit_annotation(r);
                }
            }
            Stmt::ClassDef(c) => {
                for d in &c.decorator_list {
                    self.visit_decorator(d);
                }
                if let Some(tp) = &c.type_params {
                    self.visit_type_params(tp);
                }
                if let Some(args) = &c.arguments {
                    for base in args.args.iter() {
                        self.visit_with_form(base, Form::Base);
                    }
                    for kw in args.keywords.iter() {
                        self.visit_expr(&kw.value);
                    }
                }
            }
            _ => {}
        }
    }

    fn visit_with_form(&mut self, expr: &'a Expr, form: Form) {
        if let Expr::Name(_) = expr {
            self.pending_form = Some(form);
        }
        self.visit_expr(expr);
    }
}

impl<'a> Visitor<'a> for Reads<'a, '_> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        let module_scope = self.at_module_scope();
        match stmt {
            Stmt::FunctionDef(f) => {
                if module_scope {
                    self.bind(f.name.as_str());
                    self.owners.entry(f.name.as_str()).or_default();
                    if !f.decorator_list.is_empty() {
                        self.decorated.insert(f.name.as_str());
                    }
                    if f.name.as_str() == "__getattr__" {
                        let line = self.line_of(ruff_range(stmt).0);
                        self.refuse_module(line, "defines a module `__getattr__`");
                    }
                }
                self.visit_definition_header(stmt);
                let (owner, in_function) = (self.owner, self.in_function);
                self.owner = owner.or(Some(f.name.as_str()));
                self.in_function = true;
                self.visit_body(&f.body);
                (self.owner, self.in_function) = (owner, in_function);
            }
            Stmt::ClassDef(c) => {
                if module_scope {
                    self.bind(c.name.as_str());
                    self.owners.entry(c.name.as_str()).or_default();
                    if !c.decorator_list.is_empty() {
                        self.decorated.insert(c.name.as_str());
                    }
                }
                self.visit_definition_header(stmt);
                // A class body runs where the class statement runs; only its
                // methods are deferred (visit_stmt's FunctionDef arm).
                let owner = self.owner;
                self.owner = owner.or(Some(c.name.as_str()));
                self.visit_body(&c.body);
                self.owner = owner;
            }
            Stmt::Import(s) => {
                if module_scope {
                    for a in &s.names {
                        let bound = match &a.asname {
                            Some(asname) => asname.as_str(),
                            None => {
                                let package = a.name.split('.').next().unwrap_or_default();
                                *self.package_bindings.entry(package).or_default() += 1;
                                package
                            }
                        };
                        self.bind(bound);
                    }
                }
            }
            Stmt::ImportFrom(s) => {
                if module_scope {
                    for a in &s.names {
                        self.bind(a.asname.as_ref().unwrap_or(&a.name).as_str());
                    }
                }
            }
            Stmt::Global(g) => {
                for name in &g.names {
                    self.declared_global.insert(name.as_str());
                }
            }
            _ => visitor::walk_stmt(self, stmt),
        }
    }

    fn visit_annotation(&mut self, expr: &'a Expr) {
        let was = self.in_annotation;
        self.in_annotation = true;
        visitor::walk_annotation(self, expr);
        self.in_annotation = was;
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        let form = self.pending_form.take();
        match expr {
            Expr::Name(n) => {
                let line = self.line_of(n.range.start().to_usize());
                match n.ctx {
                    ExprContext::Load => {
                        self.record_read(n.id.as_str(), line, form.unwrap_or(Form::Value));
                        if matches!(
                            n.id.as_str(),
                            "globals" | "vars" | "locals" | "exec" | "eval"
                        ) {
                            self.refuse_module(line, &format!("calls `{}`", n.id));
                        }
                    }
                    ExprContext::Store | ExprContext::Del => {
                        if self.at_module_scope() {
                            self.bind(n.id.as_str());
                        }
                    }
                    ExprContext::Invalid => {}
                }
            }
            Expr::Attribute(a) if a.ctx == ExprContext::Load => {
                self.visit_with_form(&a.value, Form::Attribute);
            }
            Expr::Subscript(s) if s.ctx == ExprContext::Load => {
                self.visit_with_form(&s.value, Form::Subscript);
                self.visit_expr(&s.slice);
            }
            Expr::Call(call) => {
                self.visit_with_form(&call.func, Form::Call);
                let type_check = matches!(&*call.func, Expr::Name(f)
                    if matches!(f.id.as_str(), "isinstance" | "issubclass"));
                for (i, arg) in call.arguments.args.iter().enumerate() {
                    if type_check && i == 1 {
                        self.visit_with_form(arg, Form::TypeCheck);
                    } else {
                        self.visit_expr(arg);
                    }
                }
                for kw in call.arguments.keywords.iter() {
                    self.visit_expr(&kw.value);
                }
            }
            _ => visitor::walk_expr(self, expr),
        }
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
