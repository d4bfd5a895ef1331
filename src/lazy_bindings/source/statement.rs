//! A module-level import statement as the source spells it, before any
//! rule is applied.
//!
//! Input: one statement of a parsed module body. Output: its [`Statement`]
//! (`None` for anything but an import).

use rustpython_ruff_python_ast::Stmt;

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
    /// `Err(why)` when the module's own source rules out making the whole
    /// statement lazy.
    pub verdict: Result<(), String>,
    /// The same, for each bound name alone (`from m import x, y` can keep
    /// `x` eager and make `y` lazy).
    pub name_verdicts: Vec<Result<(), String>>,
    /// `Err(why)` when the statement cannot even keep its binding eager and
    /// defer only its submodules (`import a.b.c` binding `a` at once): the
    /// shape of the statement alone decides, since no placeholder is made.
    pub submodule_verdict: Result<(), String>,
}

pub(super) fn import_statement(stmt: &Stmt, line: u32) -> Option<Statement> {
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
                    None => crate::names::top_level(&a.name).to_string(),
                })
                .collect(),
            verdict: if s.names.len() == 1 {
                not_yet
            } else {
                Err("it imports several modules".into())
            },
            name_verdicts: Vec::new(),
            submodule_verdict: Ok(()),
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
                name_verdicts: Vec::new(),
                submodule_verdict: Ok(()),
            })
        }
        _ => None,
    }
}
