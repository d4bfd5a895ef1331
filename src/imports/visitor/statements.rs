//! visitor statements: the compound statements that give imports their
//! context — function and class bodies, `try`/`except ImportError`, `if`
//! (TYPE_CHECKING and other conditions) — and a module's `__getattr__`.
//!
//! Input: a statement the [`ImportVisitor`] meets. Output: sites, bindings
//! and contexts recorded on the visitor.

use super::{
    catches_import_error, is_type_checking, string_collection, string_literal, Context,
    ImportVisitor,
};
use crate::imports::{Scope, SiteKind};
use rustpython_ruff_python_ast::visitor::Visitor;
use rustpython_ruff_python_ast::{self as ast, CmpOp, ExceptHandler, Expr};

impl<'a> ImportVisitor<'a> {
    pub(super) fn visit_function(&mut self, def: &'a ast::StmtFunctionDef) {
        for decorator in &def.decorator_list {
            self.visit_decorator(decorator);
        }
        self.visit_parameters(&def.parameters);
        let is_module_getattr =
            self.context.scope == Scope::Module && def.name.as_str() == "__getattr__";
        let context = Context {
            scope: Scope::Function,
            in_module_getattr: is_module_getattr,
            trigger: None,
            ..self.context
        };
        let saved_param = self.getattr_param;
        let saved_function = self.function.take();
        if self.context.scope == Scope::Module {
            let params = def.parameters.iter_non_variadic_params();
            let params = params.map(|p| p.parameter.name.as_str()).collect();
            self.function = Some((def.name.as_str(), params));
        }
        if is_module_getattr {
            self.getattr_param = def
                .parameters
                .iter_non_variadic_params()
                .next()
                .map(|p| p.parameter.name.as_str());
        }
        // A function body starts its own paths.
        let after = self.after.take();
        let saved_class = self.class;
        if self.context.scope == Scope::Module {
            self.class = None;
        }
        self.with_context(context, &def.body);
        self.class = saved_class;
        self.after = after;
        self.getattr_param = saved_param;
        self.function = saved_function;
        if is_module_getattr {
            let saved = std::mem::replace(&mut self.context, context);
            self.emit_getattr_sites();
            self.context = saved;
        }
    }

    /// `if name in SUBMODULES: return importlib.import_module(f"pkg.{name}")`
    /// becomes one lazy site per literal name.
    pub(super) fn emit_getattr_sites(&mut self) {
        let names = std::mem::take(&mut self.getattr_names);
        for (prefix, line) in std::mem::take(&mut self.getattr_prefixes) {
            let level = prefix.chars().take_while(|&c| c == '.').count() as u32;
            let base = prefix
                .trim_start_matches('.')
                .trim_end_matches('.')
                .to_string();
            for name in &names {
                let (target, names) = if level > 0 {
                    (base.clone(), vec![name.clone()])
                } else {
                    (format!("{base}.{name}"), Vec::new())
                };
                // Reading the attribute `name` runs this import.
                self.triggers.push(vec![name.clone()]);
                self.context.trigger = Some(self.triggers.len() - 1);
                self.push(target, level, names, line, SiteKind::LazyGetattr);
                self.context.trigger = None;
            }
        }
    }

    pub(super) fn visit_class(&mut self, class: &'a ast::StmtClassDef) {
        for decorator in &class.decorator_list {
            self.visit_decorator(decorator);
        }
        if let Some(arguments) = &class.arguments {
            self.visit_arguments(arguments);
        }
        let keywords = class
            .arguments
            .as_ref()
            .is_some_and(|a| !a.keywords.is_empty());
        if !class.decorator_list.is_empty() || keywords {
            self.references.insert(class.name.as_str());
        }
        let saved_class = self.class;
        if self.context.scope == Scope::Module {
            self.class = Some(class.name.as_str());
        }
        // A class body runs when the class statement runs.
        let scope = match self.context.scope {
            Scope::Module | Scope::Class => Scope::Class,
            Scope::Function => Scope::Function,
        };
        let context = Context {
            scope,
            ..self.context
        };
        self.with_context(context, &class.body);
        self.class = saved_class;
    }

    pub(super) fn visit_try(&mut self, stmt: &'a ast::StmtTry) {
        let guarded = stmt.handlers.iter().any(catches_import_error);
        let body_context = Context {
            guarded: self.context.guarded || guarded,
            ..self.context
        };
        self.with_context(body_context, &stmt.body);
        let branch_context = Context {
            conditional: true,
            ..self.context
        };
        for handler in &stmt.handlers {
            let ExceptHandler::ExceptHandler(h) = handler;
            if let Some(type_) = &h.type_ {
                self.visit_expr(type_);
            }
            self.with_context(branch_context, &h.body);
        }
        self.with_context(branch_context, &stmt.orelse);
        self.visit_body(&stmt.finalbody);
    }

    pub(super) fn visit_if(&mut self, stmt: &'a ast::StmtIf) {
        self.visit_expr(&stmt.test);
        let type_checking = is_type_checking(&stmt.test);
        let body_context = Context {
            type_checking: self.context.type_checking || type_checking,
            conditional: self.context.conditional || !type_checking,
            trigger: self.trigger_of(&stmt.test),
            ..self.context
        };
        self.with_context(body_context, &stmt.body);
        for clause in &stmt.elif_else_clauses {
            // An `else` is reached by any other name: the outer trigger.
            let trigger = match &clause.test {
                Some(test) => {
                    self.visit_expr(test);
                    self.trigger_of(test)
                }
                None => self.context.trigger,
            };
            let branch_context = Context {
                conditional: true,
                trigger,
                ..self.context
            };
            self.with_context(branch_context, &clause.body);
        }
    }

    /// Inside `__getattr__(name)`, a test that holds only for literal names
    /// (`name == "x"`, `name in ("x", "y")`, `name in NAMES`, joined by
    /// `or`) makes those names the branch's trigger; any other test keeps
    /// the enclosing one.
    pub(super) fn trigger_of(&mut self, test: &Expr) -> Option<usize> {
        let outer = self.context.trigger;
        let Some(param) = self
            .getattr_param
            .filter(|_| self.context.in_module_getattr)
        else {
            return outer;
        };
        match self.tested_names(param, test) {
            Some(names) => {
                self.triggers.push(names);
                Some(self.triggers.len() - 1)
            }
            None => outer,
        }
    }

    pub(super) fn tested_names(&self, param: &str, test: &Expr) -> Option<Vec<String>> {
        let is_param = |e: &Expr| matches!(e, Expr::Name(n) if n.id.as_str() == param);
        match test {
            Expr::BoolOp(b) if b.op == ast::BoolOp::Or => {
                let mut names = Vec::new();
                for value in &b.values {
                    names.extend(self.tested_names(param, value)?);
                }
                Some(names)
            }
            Expr::Compare(cmp) if cmp.ops.len() == 1 => {
                let (left, right) = (&*cmp.left, &cmp.comparators[0]);
                match cmp.ops[0] {
                    CmpOp::Eq if is_param(left) => string_literal(right).map(|s| vec![s.into()]),
                    CmpOp::Eq if is_param(right) => string_literal(left).map(|s| vec![s.into()]),
                    CmpOp::In if is_param(left) => {
                        string_collection(right).or_else(|| match right {
                            Expr::Name(n) => self.string_lists.get(n.id.as_str()).cloned(),
                            _ => None,
                        })
                    }
                    _ => None,
                }
            }
            _ => None,
        }
    }
}
