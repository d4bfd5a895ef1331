//! The source-only rules of lazy bindings: a module's top-level import
//! statements, and every read, binding and `global` declaration of the
//! names they bind, with the form of each read.
//!
//! Input: a module's source text. Output: its [`Statement`]s, each with the
//! reason it cannot be patched (when the source alone says so).

use crate::imports::visitor::LineIndex;
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use rustpython_ruff_python_ast::visitor::{self, Visitor};
use rustpython_ruff_python_ast::{Decorator, Expr, ExprCall, ExprContext, Stmt};

mod statement;
use statement::import_statement;
pub use statement::Statement;

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
    /// The innermost `def` the read sits in.
    function: Option<Function<'a>>,
}

/// A `def` statement, as a trace names the functions that ran: by the
/// first line of their code (the first decorator's line, or the `def`'s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Function<'a> {
    name: &'a str,
    first_line: u32,
    def_line: u32,
}

impl Function<'_> {
    /// `ran` sorted. Both lines are tried: which one `co_firstlineno`
    /// holds for a decorated function has changed between Pythons.
    fn ran_in(&self, ran: &[u32]) -> bool {
        ran.binary_search(&self.first_line).is_ok() || ran.binary_search(&self.def_line).is_ok()
    }
}

/// Which reads inside functions count as reads at init.
enum RunsAtInit<'a, 't> {
    /// Reads in these top-level definitions (what the source alone can say).
    Owners(HashSet<&'a str>),
    /// Reads in the functions that ran at init, by their first lines.
    Functions(&'t [u32]),
}

/// Which of the module's own functions may run at init.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitCalls<'t> {
    /// Only the source can tell: any function module-level code references
    /// or decorates may run, and what those reference.
    FromSource,
    /// The first lines of the functions a call-tracking trace saw run at
    /// init (while the module imported or after), sorted: a read inside a
    /// function counts at init when that function (the innermost `def`
    /// around it) is one of them. Module-level code and class bodies read
    /// names at init in any case.
    Traced(&'t [u32]),
}

/// Whether other modules read one of the module's names at init (as an
/// attribute of the module, or with `from module import name`):
/// `Err(who)` when one does, or may. The flag: whether a star import of
/// the module binds the name (public, or a string the module spells out,
/// as `__all__` would).
pub type ReadOutside<'f> = dyn Fn(&str, bool) -> Result<(), String> + 'f;

/// The module-level import statements of one source file, each with the
/// verdict of the source-only rules. `Err((line, reason))` on a syntax error.
pub fn statements(
    text: &str,
    calls: InitCalls,
    read_outside: &ReadOutside,
) -> Result<Vec<Statement>, (u32, String)> {
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
    reads.settle_namespace_reads();
    let runs_at_init = match calls {
        InitCalls::FromSource => RunsAtInit::Owners(reads.owners_run_at_init()),
        InitCalls::Traced(ran) => RunsAtInit::Functions(ran),
    };
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
        if statement.module == "__future__" {
            continue;
        }
        let shape = if statement.verdict.is_err() {
            statement.verdict.clone()
        } else if per_line[&line] > 1 {
            Err("it shares its line with another statement".into())
        } else {
            Ok(())
        };
        let placeholders = shape
            .clone()
            .and_then(|()| match &reads.module_wide_refusal {
                Some(why) => Err(why.clone()),
                None => Ok(()),
            });
        statement.name_verdicts = statement
            .bound
            .iter()
            .map(|name| {
                placeholders
                    .clone()
                    .and_then(|()| reads.name_verdict(name, &runs_at_init, read_outside))
            })
            .collect();
        statement.verdict = placeholders.and_then(|()| {
            statement
                .name_verdicts
                .iter()
                .find_map(|v| v.clone().err())
                .map_or(Ok(()), Err)
        });
        statement.submodule_verdict = shape.and_then(|()| {
            if statement.binds_package && statement.module.contains('.') {
                Ok(())
            } else {
                Err("not an `import a.b` statement".into())
            }
        });
        out.push(statement);
    }
    Ok(out)
}

fn ruff_range(stmt: &Stmt) -> (usize, usize) {
    use rustpython_ruff_text_size::Ranged;
    let r = stmt.range();
    (r.start().to_usize(), r.end().to_usize())
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
    /// The innermost `def` being visited, and its number (0: none).
    function: Option<Function<'a>>,
    function_id: usize,
    functions_seen: usize,
    /// Names each function binds locally, by function number: a local
    /// `vars` is not the builtin.
    function_locals: HashSet<(usize, &'a str)>,
    /// `globals`/`locals`/`vars`/`exec`/`eval` read other than as the
    /// callee of a call: (name, line, function number), settled once the
    /// local names are all known.
    namespace_reads: Vec<(&'a str, u32, usize)>,
    /// Every string literal of the module (what `__all__` may list).
    strings: HashSet<&'a str>,
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
            function: None,
            function_id: 0,
            functions_seen: 0,
            function_locals: HashSet::default(),
            namespace_reads: Vec::new(),
            strings: HashSet::default(),
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

    /// The line a definition's code starts on for Python: its first
    /// decorator's, or its own.
    fn first_line(&self, stmt: &'a Stmt, decorators: &'a [Decorator]) -> u32 {
        let start = ruff_range(stmt).0;
        let first = decorators
            .iter()
            .map(|d| d.range.start().to_usize())
            .chain(std::iter::once(start))
            .min()
            .unwrap_or(start);
        self.line_of(first)
    }

    /// A module whose code reads its own namespace as a dict would see the
    /// placeholders: `globals()` anywhere, `locals()`/`vars()` at module
    /// level, `exec`/`eval` without a namespace of their own. Inside a
    /// function, `locals()` and `vars()` are the function's, and `vars(x)`
    /// is `x.__dict__`. Called once the whole module is visited.
    fn settle_namespace_reads(&mut self) {
        let reads = std::mem::take(&mut self.namespace_reads);
        for (name, line, function) in reads {
            let shadowed = if function == 0 {
                self.bindings.contains_key(name)
            } else {
                self.function_locals.contains(&(function, name))
            };
            if !shadowed {
                self.refuse_module(line, &format!("uses `{name}` as a value"));
            }
        }
    }

    /// `globals`, `locals`, `vars`, `exec` or `eval` read other than as a
    /// callee (`g = globals`): settled at the end, unless it is a local.
    fn note_namespace_builtin(&mut self, name: &'a str, line: u32) {
        if matches!(name, "globals" | "locals" | "vars" | "exec" | "eval") {
            self.namespace_reads.push((name, line, self.function_id));
        }
    }

    /// A call of one of the builtins that can reach the caller's globals.
    fn check_namespace_call(&mut self, func: &'a str, call: &'a ExprCall, line: u32) {
        let args = &call.arguments;
        let reaches_globals = match func {
            "globals" => true,
            "locals" | "vars" => args.is_empty() && !self.in_function,
            "exec" | "eval" => {
                args.args.len() < 2
                    && !args
                        .keywords
                        .iter()
                        .any(|k| k.arg.as_ref().is_some_and(|a| a.as_str() == "globals"))
            }
            _ => false,
        };
        if reaches_globals {
            self.refuse_module(line, &format!("calls `{func}`"));
        }
    }

    fn name_verdict(
        &self,
        name: &str,
        runs_at_init: &RunsAtInit,
        read_outside: &ReadOutside,
    ) -> Result<(), String> {
        let bindings = self.bindings.get(name).copied().unwrap_or(0);
        let as_package = self.package_bindings.get(name).copied().unwrap_or(0);
        if bindings > 1 && bindings != as_package {
            return Err(format!("`{name}` is bound more than once at module level"));
        }
        if self.declared_global.contains(name) {
            return Err(format!("a function declares `global {name}`"));
        }
        let reads = self.reads.get(name).map_or(&[][..], Vec::as_slice);
        // Other modules read it as an attribute of this one (a re-export,
        // above all), which reifies it: one that does so at init would load
        // the target there anyway, and the plan would count it as deferred.
        // (A name imported only for its import's effect is the probe's to
        // judge.)
        let starred = !name.starts_with('_') || self.strings.contains(name);
        if let Err(reader) = read_outside(name, starred) {
            return Err(format!("`{name}` is read at init by {reader}"));
        }
        for read in reads {
            if read.at_init {
                return Err(format!("`{name}` is read at init (line {})", read.line));
            }
            match runs_at_init {
                RunsAtInit::Owners(owners) => {
                    if let Some(owner) = read.owner.filter(|o| owners.contains(o)) {
                        return Err(format!(
                            "`{name}` is read by `{owner}` (line {}), which may run at init",
                            read.line
                        ));
                    }
                }
                RunsAtInit::Functions(ran) => {
                    if let Some(f) = read.function.filter(|f| f.ran_in(ran)) {
                        return Err(format!(
                            "`{name}` is read by `{}` (line {}), which ran at init",
                            f.name, read.line
                        ));
                    }
                }
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
            function: self.function,
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
                if self.in_function {
                    self.function_locals
                        .insert((self.function_id, f.name.as_str()));
                }
                self.visit_definition_header(stmt);
                let outer = (
                    self.owner,
                    self.in_function,
                    self.function,
                    self.function_id,
                );
                self.owner = outer.0.or(Some(f.name.as_str()));
                self.in_function = true;
                self.function = Some(Function {
                    name: f.name.as_str(),
                    first_line: self.first_line(stmt, &f.decorator_list),
                    def_line: self.line_of(ruff_range(stmt).0),
                });
                self.functions_seen += 1;
                self.function_id = self.functions_seen;
                for p in f.parameters.iter() {
                    self.function_locals
                        .insert((self.function_id, p.name().as_str()));
                }
                self.visit_body(&f.body);
                (
                    self.owner,
                    self.in_function,
                    self.function,
                    self.function_id,
                ) = outer;
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
                                let package = crate::names::top_level(&a.name);
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
                        let form = form.unwrap_or(Form::Value);
                        self.record_read(n.id.as_str(), line, form);
                        // A call is judged with its arguments (the Call arm).
                        if form != Form::Call {
                            self.note_namespace_builtin(n.id.as_str(), line);
                        }
                    }
                    ExprContext::Store | ExprContext::Del => {
                        if self.at_module_scope() {
                            self.bind(n.id.as_str());
                        } else if self.in_function {
                            self.function_locals
                                .insert((self.function_id, n.id.as_str()));
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
                if let Expr::Name(f) = &*call.func {
                    let line = self.line_of(f.range.start().to_usize());
                    self.check_namespace_call(f.id.as_str(), call, line);
                }
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
            Expr::StringLiteral(s) => {
                for part in s.value.iter() {
                    self.strings.insert(part.as_str());
                }
            }
            _ => visitor::walk_expr(self, expr),
        }
    }
}
