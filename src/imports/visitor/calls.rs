//! visitor calls: calls that import — `importlib.import_module`,
//! `__import__`, functions that take a module name, `lazy_loader.attach`
//! and `_import_structure` tables.
//!
//! Input: a call or assignment the [`ImportVisitor`] meets. Output: the
//! literal dynamic import sites it makes, recorded on the visitor.

use super::{dotted, string_collection, string_literal, ImportVisitor};
use crate::imports::{Scope, SiteKind};
use rustpython_ruff_python_ast::{self as ast, Expr, InterpolatedStringElement};

impl<'a> ImportVisitor<'a> {
    pub(super) fn visit_call(&mut self, call: &'a ast::ExprCall) {
        let line = self.line_of(call.range);
        let callee = dotted(&call.func);
        if self.record_calls && self.records_at_init() {
            if let Some(root) = callee.as_deref().and_then(|c| c.split('.').next()) {
                self.init_calls.push(root.to_string());
            }
        }
        let args = &call.arguments;
        self.module_name_arguments(call, line);
        match callee.as_deref() {
            Some("importlib.import_module" | "import_module" | "_importlib.import_module") => {
                let package = args
                    .find_keyword("package")
                    .map(|k| &k.value)
                    .or(args.args.get(1));
                self.dynamic_import(args.args.first(), package, line);
            }
            Some("__import__" | "importlib.__import__" | "builtins.__import__") => {
                self.dynamic_import(args.args.first(), None, line);
            }
            Some(name) if name == "attach" || name.ends_with(".attach") => {
                self.lazy_attach(args, line);
            }
            Some(name) if name.ends_with("LazyModule") => {
                let passes = args
                    .args
                    .iter()
                    .chain(args.keywords.iter().map(|k| &k.value))
                    .any(|a| matches!(a, Expr::Name(n) if n.id.as_str() == "_import_structure"));
                self.import_structure_used |= passes;
            }
            _ => {}
        }
    }

    /// `import_module("x")`, `import_module(".x", package=…)` and, inside a
    /// module `__getattr__`, `import_module(f"pkg.{name}")`.
    pub(super) fn dynamic_import(
        &mut self,
        name: Option<&'a Expr>,
        package: Option<&'a Expr>,
        line: u32,
    ) {
        let Some(name) = name else { return };
        if let Some(text) = string_literal(name) {
            let level = text.chars().take_while(|&c| c == '.').count() as u32;
            let target = text.trim_start_matches('.');
            if level == 0 {
                self.push(target.to_string(), 0, Vec::new(), line, SiteKind::Dynamic);
                return;
            }
            match package.map(package_argument) {
                // Relative to the importing module's own package.
                Some(PackageArg::Current) => self.push(
                    target.to_string(),
                    level,
                    Vec::new(),
                    line,
                    SiteKind::Dynamic,
                ),
                Some(PackageArg::Literal(package)) => {
                    let mut parts: Vec<&str> = package.split('.').collect();
                    for _ in 1..level {
                        parts.pop();
                    }
                    let mut absolute = parts.join(".");
                    if !target.is_empty() {
                        absolute = format!("{absolute}.{target}");
                    }
                    self.push(absolute, 0, Vec::new(), line, SiteKind::Dynamic);
                }
                _ => {}
            }
            return;
        }
        if let Expr::Name(var) = name {
            if let Some((function, params)) = &self.function {
                let function = function.to_string();
                if params.contains(&var.id.as_str()) && !self.imports_argument.contains(&function) {
                    self.imports_argument.push(function);
                }
            }
            if let Some(values) = self.loop_strings.get(var.id.as_str()).cloned() {
                for value in values {
                    self.push(value, 0, Vec::new(), line, SiteKind::Dynamic);
                }
                return;
            }
        }
        if let Some(relative) = own_package_plus_literal(name) {
            self.push(relative, 1, Vec::new(), line, SiteKind::Dynamic);
            return;
        }
        if self.context.in_module_getattr {
            if let Some(prefix) = fstring_prefix(name) {
                self.getattr_prefixes.push((prefix, line));
            }
        }
    }

    /// Positional string arguments that could name a module (`"numpy"`,
    /// `"a.b"`) handed to a plain function (`f(…)`, `mod.f(…)`).
    pub(super) fn module_name_arguments(&mut self, call: &'a ast::ExprCall, line: u32) {
        let Some(callee) = dotted(&call.func) else {
            return;
        };
        let last = callee.rsplit('.').next().unwrap_or(&callee);
        if matches!(last, "import_module" | "__import__") {
            return; // a `Dynamic` site
        }
        for value in &call.arguments.args {
            let Some(text) = string_literal(value) else {
                continue;
            };
            let named = crate::names::is_dotted_name(text);
            let key = (callee.clone(), text, self.records_at_init());
            if named && self.bound_callee(&callee) && self.module_names.insert(key) {
                let names = vec![callee.clone()];
                self.push(text.to_string(), 0, names, line, SiteKind::ModuleName);
            }
        }
    }

    /// A callee that may be a function of the unit: a name imported or
    /// defined here, or an attribute of an imported module.
    pub(super) fn bound_callee(&self, callee: &str) -> bool {
        let root = crate::names::top_level(callee);
        callee.matches('.').count() <= 1 && (self.bound.contains_key(root) || !callee.contains('.'))
    }

    /// The literal strings a `for` loop iterates over, if that is what it does.
    pub(super) fn loop_values(&self, iter: &Expr) -> Option<Vec<String>> {
        string_collection(iter).or_else(|| match iter {
            Expr::Name(n) => self.string_lists.get(n.id.as_str()).cloned(),
            _ => None,
        })
    }

    pub(super) fn lazy_attach(&mut self, args: &'a ast::Arguments, line: u32) {
        let submodules = args
            .find_keyword("submodules")
            .map(|k| &k.value)
            .or(args.args.get(1));
        let attrs = args
            .find_keyword("submod_attrs")
            .map(|k| &k.value)
            .or(args.args.get(2));
        let mut names = submodules.and_then(string_collection).unwrap_or_default();
        if let Some(Expr::Dict(dict)) = attrs {
            names.extend(
                dict.iter_keys()
                    .flatten()
                    .filter_map(string_literal)
                    .map(String::from),
            );
        }
        if !names.is_empty() {
            self.push(String::new(), 1, names, line, SiteKind::LazyAttach);
        }
    }

    /// `_import_structure = {...}` and `_import_structure["k"] = ...` at
    /// module level (the transformers idiom).
    pub(super) fn import_structure_keys(&mut self, assign: &'a ast::StmtAssign) {
        if self.context.scope != Scope::Module {
            return;
        }
        let line = self.line_of(assign.range);
        let is_structure =
            |e: &Expr| matches!(e, Expr::Name(n) if n.id.as_str() == "_import_structure");
        for target in &assign.targets {
            match target {
                Expr::Name(_) if is_structure(target) => {
                    if let Expr::Dict(dict) = &*assign.value {
                        let keys = dict.iter_keys().flatten().filter_map(string_literal);
                        self.import_structure
                            .extend(keys.map(|k| (k.to_string(), line)));
                    }
                }
                Expr::Subscript(s) if is_structure(&s.value) => {
                    if let Some(key) = string_literal(&s.slice) {
                        self.import_structure.push((key.to_string(), line));
                    }
                }
                _ => {}
            }
        }
    }
}

enum PackageArg {
    /// `__name__` / `__package__`: the importing module's own package.
    Current,
    Literal(String),
}

fn package_argument(expr: &Expr) -> PackageArg {
    match expr {
        Expr::Name(n) if matches!(n.id.as_str(), "__name__" | "__package__") => PackageArg::Current,
        other => match string_literal(other) {
            Some(s) => PackageArg::Literal(s.to_string()),
            None => PackageArg::Current,
        },
    }
}

/// `__package__ + ".sub"`, `__spec__.parent + ".sub"`, `__name__ + ".sub"` or `f"{__name__}.sub"` (in a
/// package `__init__`): `sub`, relative to the module's own package.
fn own_package_plus_literal(expr: &Expr) -> Option<String> {
    let is_own_name = |e: &Expr| {
        dotted(e).is_some_and(|n| {
            matches!(
                n.as_str(),
                "__name__" | "__package__" | "__spec__.parent" | "__spec__.name"
            )
        })
    };
    let suffix = match expr {
        Expr::BinOp(b) if b.op == ast::Operator::Add && is_own_name(&b.left) => {
            string_literal(&b.right)?.to_string()
        }
        Expr::FString(f) => {
            let mut elements = f.value.elements();
            match (elements.next(), elements.next(), elements.next()) {
                (
                    Some(InterpolatedStringElement::Interpolation(i)),
                    Some(InterpolatedStringElement::Literal(lit)),
                    None,
                ) if is_own_name(&i.expression) => lit.value.to_string(),
                _ => return None,
            }
        }
        _ => return None,
    };
    let sub = suffix.strip_prefix('.')?;
    crate::names::is_dotted_name(sub).then(|| sub.to_string())
}

/// `f"pkg.{name}"` → `pkg.`; `f".{name}"` → `.`; `"." + name` → `.`.
fn fstring_prefix(expr: &Expr) -> Option<String> {
    match expr {
        Expr::FString(f) => {
            let mut elements = f.value.elements();
            match (elements.next(), elements.next(), elements.next()) {
                (
                    Some(InterpolatedStringElement::Literal(lit)),
                    Some(InterpolatedStringElement::Interpolation(_)),
                    None,
                ) => Some(lit.value.to_string()),
                _ => None,
            }
        }
        Expr::BinOp(b) if b.op == ast::Operator::Add => string_literal(&b.left).map(String::from),
        _ => None,
    }
}
