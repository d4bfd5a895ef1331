//! The AST visitor: one pass over a module that records import sites with the
//! context they sit in (scope, `try`/`except ImportError`, `TYPE_CHECKING`,
//! other conditions), literal dynamic imports and the lazy-module idioms.
//!
//! Input: a parsed module and its text (for line numbers). Output: [`ModuleImports`].
//!
//! Here: the visitor's state, the statement and expression walk, and the
//! literal helpers; `statements` handles the compound statements that give
//! imports their context, `calls` the calls that import.

mod calls;
mod statements;

use super::{Binding, ModuleImports, Scope, Site, SiteKind};
use rustc_hash::FxHashMap as HashMap;
use rustpython_ruff_python_ast::visitor::{self, Visitor};
use rustpython_ruff_python_ast::{self as ast, CmpOp, ExceptHandler, Expr, ModModule, Stmt};

/// Byte offset → 1-based line.
pub struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub fn new(text: &str) -> Self {
        // memchr's SIMD iterator: `match_indices` pays a call per line.
        let mut starts = Vec::with_capacity(text.len() / 32 + 1);
        starts.push(0);
        starts.extend(memchr::memchr_iter(b'\n', text.as_bytes()).map(|i| i + 1));
        LineIndex { starts }
    }

    pub fn line(&self, offset: usize) -> u32 {
        self.starts.partition_point(|&s| s <= offset) as u32
    }
}

#[derive(Clone, Copy)]
struct Context {
    scope: Scope,
    guarded: bool,
    type_checking: bool,
    conditional: bool,
    /// Inside a module-level `def __getattr__`.
    in_module_getattr: bool,
    /// Inside `__getattr__`, under `if name == "x"` / `if name in (…)`: the
    /// index of those names in `triggers`.
    trigger: Option<usize>,
}

struct ImportVisitor<'a> {
    lines: LineIndex,
    context: Context,
    sites: Vec<Site>,
    all: Option<Vec<String>>,
    /// Module-level names bound to literal collections of strings.
    string_lists: HashMap<&'a str, Vec<String>>,
    /// Keys of `_import_structure`, and whether it reached a `*LazyModule` call.
    import_structure: Vec<(String, u32)>,
    import_structure_used: bool,
    /// Inside module `__getattr__`: names tested with `in`, and import calls
    /// whose target is built from a prefix and the attribute name.
    getattr_names: Vec<String>,
    getattr_prefixes: Vec<(String, u32)>,
    /// Whether expressions can hold an import at all; most files have no
    /// dynamic import, and skipping their expression trees halves the walk.
    scan_expressions: bool,
    /// Record bindings and init-time calls (for the handler module).
    record_calls: bool,
    bindings: Vec<Binding>,
    init_calls: Vec<String>,
    /// Import bindings by local name, for attribute chains: module-level
    /// ones and those of function bodies (flow-insensitive, every binding a
    /// name ever gets, so that no chain is lost).
    bound: HashMap<String, Vec<Binding>>,
    /// Attribute chains already recorded, and whether at init.
    chains: rustc_hash::FxHashSet<(String, bool)>,
    /// Attribute names tested in `__getattr__` branches (see `Context::trigger`).
    triggers: Vec<Vec<String>>,
    /// `ModuleName` sites already recorded: callee, string, whether at init.
    module_names: rustc_hash::FxHashSet<(String, &'a str, bool)>,
    /// The module-level function being visited and its parameters.
    function: Option<(&'a str, Vec<&'a str>)>,
    imports_argument: Vec<String>,
    /// The module-level class being visited (its methods included).
    class: Option<&'a str>,
    /// See [`ModuleImports::references`]; not while in `__all__ = …`.
    references: rustc_hash::FxHashSet<&'a str>,
    in_all: bool,
    /// See [`ModuleImports::preceding`]; `after` is the current path's last.
    preceding: Vec<(String, Option<u32>)>,
    after: Option<u32>,
    /// Module-level functions that call `dir`, `vars`, `exec` or `getmembers`.
    reflecting: rustc_hash::FxHashSet<&'a str>,
    /// The parameter of the module-level `__getattr__` being visited.
    getattr_param: Option<&'a str>,
    /// `for name in ("a", "b"):` loop variables and their literal values.
    loop_strings: HashMap<&'a str, Vec<String>>,
    init_names: rustc_hash::FxHashSet<&'a str>,
    replaces_itself: bool,
    side_effects: Vec<String>,
}

pub fn visit_module(module: &ModModule, text: &str, record_calls: bool) -> ModuleImports {
    let mut visitor = ImportVisitor {
        lines: LineIndex::new(text),
        context: Context {
            scope: Scope::Module,
            guarded: false,
            type_checking: false,
            conditional: false,
            in_module_getattr: false,
            trigger: None,
        },
        sites: Vec::new(),
        all: None,
        string_lists: HashMap::default(),
        import_structure: Vec::new(),
        import_structure_used: false,
        getattr_names: Vec::new(),
        getattr_prefixes: Vec::new(),
        scan_expressions: record_calls
            || ["import_module", "__import__", "attach", "LazyModule"]
                .iter()
                .any(|needle| text.contains(needle)),
        record_calls,
        bindings: Vec::new(),
        init_calls: Vec::new(),
        bound: HashMap::default(),
        chains: std::collections::HashSet::default(),
        triggers: Vec::new(),
        getattr_param: None,
        module_names: std::collections::HashSet::default(),
        function: None,
        imports_argument: Vec::new(),
        preceding: Vec::new(),
        after: None,
        class: None,
        references: std::collections::HashSet::default(),
        in_all: false,
        reflecting: std::collections::HashSet::default(),
        loop_strings: HashMap::default(),
        init_names: std::collections::HashSet::default(),
        replaces_itself: false,
        side_effects: Vec::new(),
    };
    visitor.collect_string_lists(&module.body);
    visitor.visit_body(&module.body);
    visitor.finish()
}

impl<'a> ImportVisitor<'a> {
    fn line_of(&self, range: rustpython_ruff_text_size::TextRange) -> u32 {
        self.lines.line(range.start().to_usize())
    }

    fn push(&mut self, target: String, level: u32, names: Vec<String>, line: u32, kind: SiteKind) {
        let c = self.context;
        let trigger = c.trigger.map(|i| self.triggers[i].clone());
        self.sites.push(Site {
            target,
            level,
            names,
            line,
            kind,
            scope: c.scope,
            guarded: c.guarded,
            type_checking: c.type_checking,
            conditional: c.conditional,
            trigger,
            after: self.after,
            method_of: match c.scope {
                Scope::Function => self.class.map(String::from),
                _ => None,
            },
        });
    }

    /// An absolute import statement just ran on this path: later sites of
    /// the same block (and blocks nested in it) follow it.
    fn ran_import(&mut self, module: &str) {
        if !self.context.type_checking {
            let top = crate::names::top_level(module).to_string();
            self.preceding.push((top, self.after));
            self.after = Some(self.preceding.len() as u32 - 1);
        }
    }

    /// Whether a binding or call here happens while the module is imported.
    fn records_at_init(&self) -> bool {
        self.context.scope != Scope::Function && !self.context.type_checking
    }

    /// Records an import binding: for attribute chains wherever it is, and
    /// among the module's init bindings when it runs at init.
    fn bind(&mut self, binding: Binding) {
        let chained = self.bound.entry(binding.local.clone()).or_default();
        if !chained.contains(&binding) {
            chained.push(binding.clone());
        }
        if self.records_at_init() {
            self.bindings.push(binding);
        }
    }

    /// Records names read at init and calls with side effects elsewhere.
    fn note_init_use(&mut self, expr: &'a Expr) {
        match expr {
            Expr::Name(n) if n.ctx == ast::ExprContext::Load => {
                self.init_names.insert(n.id.as_str());
            }
            Expr::Attribute(a) => {
                // The root of a chain (`np` in `np.random.x`) is read.
                let mut root = &*a.value;
                while let Expr::Attribute(inner) = root {
                    root = &inner.value;
                }
                if let Expr::Name(n) = root {
                    self.init_names.insert(n.id.as_str());
                }
            }
            Expr::Call(call) => {
                // `pool.Default().AddSerializedFile(…)`: a method of a
                // call's result is named by its last part.
                let callee = match (dotted(&call.func), &*call.func) {
                    (Some(callee), _) => callee,
                    (None, Expr::Attribute(a)) => format!("(…).{}", a.attr.as_str()),
                    _ => return,
                };
                let last = callee.rsplit('.').next().unwrap_or(&callee);
                // Generated protobuf modules add their files to the
                // process-wide descriptor pool (C state the probe cannot
                // see), which other code's schemas then depend on:
                // `AddSerializedFile`, older code's `FileDescriptor(…,
                // serialized_pb=…)` and `RegisterMessage`.
                let side_effect = last.to_ascii_lowercase().contains("register")
                    || matches!(last, "AddSerializedFile" | "FileDescriptor")
                    || matches!(
                        callee.as_str(),
                        "copyreg.pickle"
                            | "setattr"
                            | "sys.setrecursionlimit"
                            | "signal.signal"
                            | "warnings.filterwarnings"
                            | "warnings.simplefilter"
                            | "mimetypes.add_type"
                            | "logging.basicConfig"
                            | "sys.settrace"
                            | "sys.setprofile"
                    );
                if side_effect && self.side_effects.len() < 3 {
                    let line = self.line_of(call.range);
                    self.side_effects.push(format!("{callee} (line {line})"));
                }
            }
            _ => {}
        }
    }

    /// `sys.modules[__name__] = …` or `… .__class__ = …` at module level.
    fn note_self_replacement(&mut self, assign: &'a ast::StmtAssign) {
        for target in &assign.targets {
            let replaces = match target {
                Expr::Subscript(s) => dotted(&s.value).is_some_and(|d| d == "sys.modules"),
                Expr::Attribute(a) => a.attr.as_str() == "__class__",
                _ => false,
            };
            self.replaces_itself |= replaces && self.context.scope == Scope::Module;
        }
    }

    /// `np.random.RandomState`, with `np` bound by an import: at init, or in
    /// a function body (it runs when the function does).
    fn attribute_chain(&mut self, expr: &'a Expr) -> bool {
        let Some(chain) = dotted(expr) else {
            return false;
        };
        let Some((root, rest)) = chain.split_once('.') else {
            return false;
        };
        let Some(bindings) = self.bound.get(root) else {
            return false;
        };
        if !self.chains.insert((chain.clone(), self.records_at_init())) {
            return true;
        }
        let line = self.line_of(rustpython_ruff_text_size::Ranged::range(expr));
        let mut sites = Vec::new();
        for binding in bindings {
            let base = match &binding.name {
                Some(name) if binding.target.is_empty() => name.clone(),
                Some(name) => format!("{}.{name}", binding.target),
                None => binding.target.clone(),
            };
            let target = format!("{base}.{rest}");
            sites.push((target, binding.level, vec![base]));
        }
        for (target, level, names) in sites {
            self.push(target, level, names, line, SiteKind::Attribute);
        }
        true
    }

    /// Visits a nested block: what its imports run does not precede the
    /// statements after it (the block may not run, or not to its end).
    fn with_context(&mut self, context: Context, body: &'a [Stmt]) {
        let saved = std::mem::replace(&mut self.context, context);
        let after = self.after;
        self.visit_body(body);
        self.after = after;
        self.context = saved;
    }

    /// Pre-pass: `NAME = [..strings..]` and `__all__ = [...]` at module level,
    /// so that `__getattr__` and star imports can use them.
    fn collect_string_lists(&mut self, body: &'a [Stmt]) {
        for stmt in body {
            let (targets, value): (Vec<&'a Expr>, &'a Expr) = match stmt {
                Stmt::Assign(a) => (a.targets.iter().collect(), &a.value),
                Stmt::AnnAssign(a) => match &a.value {
                    Some(v) => (vec![&*a.target], v),
                    None => continue,
                },
                Stmt::AugAssign(a) => (vec![&*a.target], &a.value),
                _ => continue,
            };
            let Some(strings) = string_collection(value) else {
                continue;
            };
            for target in targets {
                if let Expr::Name(name) = target {
                    let entry = self.string_lists.entry(name.id.as_str()).or_default();
                    if !matches!(stmt, Stmt::AugAssign(_)) {
                        entry.clear();
                    }
                    entry.extend(strings.iter().cloned());
                }
            }
        }
        self.all = self.string_lists.get("__all__").cloned();
    }

    fn finish(mut self) -> ModuleImports {
        if self.import_structure_used {
            for (key, line) in std::mem::take(&mut self.import_structure) {
                let c = self.context;
                let kind = SiteKind::ImportStructure;
                let site = Site::plain(String::new(), 1, vec![key], line, kind, c.scope);
                self.sites.push(site);
            }
        }
        let mut init_names: Vec<String> = self.init_names.iter().map(|n| n.to_string()).collect();
        init_names.sort_unstable();
        ModuleImports {
            sites: self.sites,
            all: self.all,
            bindings: self.bindings,
            init_calls: self.init_calls,
            init_names,
            replaces_itself: self.replaces_itself,
            side_effects: self.side_effects,
            imports_argument: std::mem::take(&mut self.imports_argument)
                .into_iter()
                .map(|f| {
                    let reflects = self.reflecting.contains(f.as_str());
                    (f, reflects)
                })
                .collect(),
            preceding: self.preceding,
            references: {
                let mut names: Vec<String> =
                    self.references.iter().map(|n| n.to_string()).collect();
                names.sort_unstable();
                names
            },
        }
    }
}

impl<'a> Visitor<'a> for ImportVisitor<'a> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::Import(import) => {
                let line = self.line_of(import.range);
                for alias in &import.names {
                    let full = alias.name.to_string();
                    self.push(full.clone(), 0, Vec::new(), line, SiteKind::Import);
                    self.ran_import(&full);
                    if !self.context.type_checking {
                        // `import a.b` binds `a`; `import a.b as c` binds `c` to `a.b`.
                        let (local, target) = match &alias.asname {
                            Some(asname) => (asname.to_string(), full),
                            None => {
                                let first = crate::names::top_level(&full).to_string();
                                (first.clone(), first)
                            }
                        };
                        self.bind(Binding {
                            local,
                            target,
                            level: 0,
                            name: None,
                        });
                    }
                }
            }
            Stmt::ImportFrom(import) => {
                let line = self.line_of(import.range);
                let target = import
                    .module
                    .as_ref()
                    .map(|m| m.to_string())
                    .unwrap_or_default();
                let names = import.names.iter().map(|a| a.name.to_string()).collect();
                if !self.context.type_checking {
                    for alias in &import.names {
                        self.bind(Binding {
                            local: alias.asname.as_ref().unwrap_or(&alias.name).to_string(),
                            target: target.clone(),
                            level: import.level,
                            name: Some(alias.name.to_string()),
                        });
                    }
                }
                let absolute = (import.level == 0).then(|| target.clone());
                self.push(target, import.level, names, line, SiteKind::From);
                if let Some(absolute) = absolute {
                    self.ran_import(&absolute);
                }
            }
            Stmt::FunctionDef(def) => self.visit_function(def),
            Stmt::ClassDef(class) => self.visit_class(class),
            Stmt::Try(t) => self.visit_try(t),
            Stmt::If(i) => self.visit_if(i),
            Stmt::For(for_) if self.loop_values(&for_.iter).is_some() => {
                let values = self.loop_values(&for_.iter).unwrap_or_default();
                let Expr::Name(var) = &*for_.target else {
                    return visitor::walk_stmt(self, stmt);
                };
                self.loop_strings.insert(var.id.as_str(), values);
                let context = Context {
                    conditional: true,
                    ..self.context
                };
                self.with_context(context, &for_.body);
                self.loop_strings.remove(var.id.as_str());
                self.visit_body(&for_.orelse);
            }
            Stmt::For(_) | Stmt::While(_) | Stmt::Match(_) => {
                let context = Context {
                    conditional: true,
                    ..self.context
                };
                let saved = std::mem::replace(&mut self.context, context);
                let after = self.after;
                visitor::walk_stmt(self, stmt);
                self.after = after;
                self.context = saved;
            }
            Stmt::Assign(assign) => {
                self.import_structure_keys(assign);
                self.note_self_replacement(assign);
                self.in_all = assign.targets.iter().any(is_all);
                visitor::walk_stmt(self, stmt);
                self.in_all = false;
            }
            Stmt::AugAssign(assign) if is_all(&assign.target) => {
                self.in_all = true;
                visitor::walk_stmt(self, stmt);
                self.in_all = false;
            }
            _ => visitor::walk_stmt(self, stmt),
        }
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        // Every expression is walked: the names it mentions decide which
        // classes init may call into (`ModuleImports::references`).
        let at_init = self.records_at_init();
        match expr {
            // A class's own code naming it cannot be what first calls it.
            Expr::Name(n)
                if n.ctx == ast::ExprContext::Load && self.class != Some(n.id.as_str()) =>
            {
                self.references.insert(n.id.as_str());
            }
            Expr::Attribute(a) => {
                self.references.insert(a.attr.as_str());
            }
            Expr::StringLiteral(s) if !self.in_all => {
                let text = s.value.to_str();
                if crate::names::is_identifier(text) {
                    self.references.insert(text);
                }
            }
            _ => {}
        }
        if at_init {
            self.note_init_use(expr);
        }
        if let (Expr::Call(call), Some((function, _))) = (expr, &self.function) {
            let reflects = dotted(&call.func).is_some_and(|callee| {
                let last = callee.rsplit('.').next().unwrap_or(&callee);
                matches!(last, "dir" | "vars" | "exec" | "getmembers")
            });
            if reflects {
                self.reflecting.insert(function);
            }
        }
        match expr {
            Expr::Attribute(_) if !self.context.type_checking && self.attribute_chain(expr) => {
                // The chain's inner names are not walked: mention them here.
                let mut inner = expr;
                while let Expr::Attribute(a) = inner {
                    self.references.insert(a.attr.as_str());
                    inner = &a.value;
                }
                if let Expr::Name(n) = inner {
                    self.references.insert(n.id.as_str());
                }
                return;
            }
            Expr::Call(call) if self.scan_expressions => self.visit_call(call),
            Expr::Call(call) => {
                let line = self.line_of(call.range);
                self.module_name_arguments(call, line);
            }
            Expr::Compare(cmp) if self.context.in_module_getattr => {
                for (op, right) in cmp.ops.iter().zip(cmp.comparators.iter()) {
                    if matches!(op, CmpOp::In) {
                        let names = string_collection(right).or_else(|| match right {
                            Expr::Name(n) => self.string_lists.get(n.id.as_str()).cloned(),
                            _ => None,
                        });
                        self.getattr_names.extend(names.unwrap_or_default());
                    }
                }
            }
            _ => {}
        }
        visitor::walk_expr(self, expr);
    }
}

/// `except ImportError`, `except (ModuleNotFoundError, X)`, `except Exception`,
/// a bare `except:` — anything that would swallow a failed import.
fn catches_import_error(handler: &ExceptHandler) -> bool {
    let ExceptHandler::ExceptHandler(h) = handler;
    let Some(type_) = &h.type_ else { return true };
    let catches = |e: &Expr| {
        dotted(e).is_some_and(|name| {
            let last = name.rsplit('.').next().unwrap_or(&name);
            matches!(
                last,
                "ImportError" | "ModuleNotFoundError" | "Exception" | "BaseException"
            )
        })
    };
    match &**type_ {
        Expr::Tuple(t) => t.elts.iter().any(catches),
        other => catches(other),
    }
}

/// `TYPE_CHECKING`, `typing.TYPE_CHECKING`, `t.TYPE_CHECKING`, and the same
/// combined with `and`.
fn is_type_checking(test: &Expr) -> bool {
    match test {
        Expr::BoolOp(b) if b.op == ast::BoolOp::And => b.values.iter().any(is_type_checking),
        other => {
            dotted(other).is_some_and(|n| n == "TYPE_CHECKING" || n.ends_with(".TYPE_CHECKING"))
        }
    }
}

fn is_all(target: &Expr) -> bool {
    matches!(target, Expr::Name(n) if n.id.as_str() == "__all__")
}

/// `a.b.c` for a name or attribute chain.
fn dotted(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Name(n) => Some(n.id.to_string()),
        Expr::Attribute(a) => Some(format!("{}.{}", dotted(&a.value)?, a.attr.as_str())),
        _ => None,
    }
}

fn string_literal(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::StringLiteral(s) => Some(s.value.to_str()),
        _ => None,
    }
}

/// A list, tuple or set literal of strings (non-string elements ignored).
fn string_collection(expr: &Expr) -> Option<Vec<String>> {
    let elts = match expr {
        Expr::List(l) => &l.elts,
        Expr::Tuple(t) => &t.elts,
        Expr::Set(s) => &s.elts,
        _ => return None,
    };
    Some(
        elts.iter()
            .filter_map(string_literal)
            .map(String::from)
            .collect(),
    )
}
