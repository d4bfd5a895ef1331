//! imports: every import site of every module, with the context it runs in.
//!
//! Input: the [`Inventory`]. Output: an [`ImportTable`] — for each module its
//! [`Site`]s (target, relative level, imported names, line, scope, guards),
//! its literal `__all__`, and for extension modules the module names found in
//! their data (imports made by compiled code). Source files are decoded per
//! PEP 263 and parsed in parallel; a file that fails to parse is reported and
//! scanned line by line instead, never dropped.

pub(crate) mod encoding;
mod fallback;
pub(crate) mod visitor;

pub use encoding::decode_source;

use crate::scan::{FileKind, Inventory, ModuleId, Problem};
use rayon::prelude::*;
use serde::Serialize;

/// Where an import statement sits, which decides when it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// Module body: runs when the module is imported.
    Module,
    /// Class body at module level: also runs when the module is imported.
    Class,
    /// Function body: runs when the function is called.
    Function,
}

/// How the import is spelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SiteKind {
    /// `import a.b`
    Import,
    /// `from a import b`
    From,
    /// `importlib.import_module("a")`, `__import__("a")`
    Dynamic,
    /// A literal submodule loaded by a module-level `__getattr__`.
    LazyGetattr,
    /// `lazy_loader.attach(__name__, submodules=…, submod_attrs=…)`
    LazyAttach,
    /// A key of an `_import_structure` dict handed to a `_LazyModule`.
    ImportStructure,
    /// A module name found in an extension module's data.
    Native,
    /// An `import` line of a `.pth` file.
    Pth,
    /// `np.random.x` at init, where `np` is an imported package: touching
    /// a submodule attribute loads it (lazy packages) or needs it loaded.
    /// `names[0]` holds the imported module the chain starts from.
    Attribute,
    /// A literal string handed to a call, `names[0]` the callee as written
    /// (`clone_module("numpy", globals())`). When the callee is a function
    /// that imports its argument, the string names a module it imports and
    /// whose attributes it may read by any name (`dir()` and `getattr`, an
    /// exec'd star import); otherwise it reaches nothing.
    ModuleName,
}

/// One import site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Site {
    /// Dotted module as written, without the leading dots (may be empty for
    /// `from . import x`).
    pub target: String,
    /// Number of leading dots.
    pub level: u32,
    /// Names after `from … import`; `*` for a star import. Submodules for
    /// the lazy idioms.
    pub names: Vec<String>,
    /// 1-based; 0 when the site has no line (native imports).
    pub line: u32,
    pub kind: SiteKind,
    pub scope: Scope,
    /// Inside a `try` whose handlers catch `ImportError` (or a superclass).
    pub guarded: bool,
    /// Under `if TYPE_CHECKING:`: never runs.
    pub type_checking: bool,
    /// Under another `if`, a loop or an `except`/`else` branch.
    pub conditional: bool,
    /// Inside a module-level `__getattr__` (PEP 562), under a test of its
    /// argument against literal names: the attributes of this module whose
    /// reading runs the import. `None` anywhere else, or when the test is
    /// unknown (then the import is an ordinary function-level one).
    pub trigger: Option<Vec<String>>,
    /// The last absolute import that runs before this site on every path
    /// to it in its function (or module) body: an index into
    /// [`ModuleImports::preceding`]. When any import of that chain names a
    /// module nobody provides, it raises first and this site never runs.
    pub after: Option<u32>,
    /// In a method (at any depth) of this module-level class: the import
    /// runs only when code calls into the class, which needs its name.
    pub method_of: Option<String>,
}

impl Site {
    /// A site under no guard, test or `if`: what the idioms found outside
    /// the statement walk (native imports, `_import_structure`, the line
    /// scan of unparsable files) start from.
    pub fn plain(
        target: String,
        level: u32,
        names: Vec<String>,
        line: u32,
        kind: SiteKind,
        scope: Scope,
    ) -> Site {
        Site {
            target,
            level,
            names,
            line,
            kind,
            scope,
            guarded: false,
            type_checking: false,
            conditional: false,
            trigger: None,
            after: None,
            method_of: None,
        }
    }

    /// Whether the import runs while its module is being imported.
    pub fn runs_at_init(&self) -> bool {
        !self.type_checking && !self.is_lazy() && self.scope != Scope::Function
    }

    /// A lazy-module idiom: loaded on first attribute access, not at import.
    pub fn is_lazy(&self) -> bool {
        matches!(
            self.kind,
            SiteKind::LazyGetattr | SiteKind::LazyAttach | SiteKind::ImportStructure
        )
    }
}

/// What one module's source says.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ModuleImports {
    pub sites: Vec<Site>,
    /// A literal `__all__`, for star imports.
    pub all: Option<Vec<String>>,
    /// Names bound by imports at module level (recorded for the handler).
    pub bindings: Vec<Binding>,
    /// First names of calls made while the module is imported (module or
    /// class body), e.g. `pd` for `pd.DataFrame(...)` (recorded for the handler).
    pub init_calls: Vec<String>,
    /// Names read while the module is imported (module and class bodies,
    /// decorators, defaults), sorted: a binding never read here is only
    /// bound or re-exported at init.
    pub init_names: Vec<String>,
    /// The module replaces its own `sys.modules` entry or assigns
    /// `__class__`: `importlib.util.LazyLoader` cannot handle it.
    pub replaces_itself: bool,
    /// Calls at import time that change state elsewhere (`codecs.register`,
    /// `atexit.register`, `copyreg.pickle`, …), as `name (line N)`: deferring
    /// such a module would defer the side effect.
    pub side_effects: Vec<String>,
    /// Module-level functions that import their own argument
    /// (`def clone_module(name, …): importlib.import_module(name)`): a
    /// literal handed to one names a module it imports
    /// ([`SiteKind::ModuleName`]). With `true` when the function also
    /// reflects (`dir`, `vars`, `exec`, `getmembers`): it may then read any
    /// attribute of that module.
    pub imports_argument: Vec<(String, bool)>,
    /// Absolute imports that run unconditionally on their path, as (top-level
    /// name, the one before it on the same path): see [`Site::after`].
    pub preceding: Vec<(String, Option<u32>)>,
    /// Every name the module's code mentions, sorted: names read, attribute
    /// names, strings that are identifiers (`getattr(m, "KMeans")`), but
    /// not the strings of `__all__`; plus its decorated classes and those
    /// with class keywords (a decorator or metaclass may register them).
    pub references: Vec<String>,
}

/// `import numpy as np` binds `np` to `numpy`; `from a import b` binds `b`
/// to `a.b` (a submodule) or to `a` (an attribute of it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Binding {
    pub local: String,
    pub target: String,
    pub level: u32,
    /// The imported name, for `from … import name`.
    pub name: Option<String>,
}

/// The import sites of every module, indexed by [`ModuleId`].
#[derive(Debug, Default, Serialize)]
pub struct ImportTable {
    pub modules: Vec<ModuleImports>,
    /// Whether a module's file was read (modules the handler cannot reach are
    /// not, unless the whole unit is parsed).
    pub parsed: Vec<bool>,
    pub problems: Vec<Problem>,
    /// Number of files that needed the line-based fallback.
    pub fallback_files: usize,
}

impl ImportTable {
    pub fn new(modules: usize) -> Self {
        ImportTable {
            modules: vec![ModuleImports::default(); modules],
            parsed: vec![false; modules],
            ..ImportTable::default()
        }
    }

    pub fn parsed_count(&self) -> usize {
        self.parsed.iter().filter(|p| **p).count()
    }
}

/// Parses the given modules (in parallel) into `table`: source modules by
/// their AST, extension modules by the names in their data. `entry` is the
/// handler's module, whose bindings and init-time calls are recorded too.
pub fn collect(
    inv: &Inventory,
    ids: &[ModuleId],
    entry: Option<ModuleId>,
    table: &mut ImportTable,
    progress: &crate::progress::Progress,
) {
    let results: Vec<(ModuleId, ModuleImports, Vec<Problem>, bool)> = ids
        .par_iter()
        .map(|&id| {
            let (imports, problems, fallback) = module_imports(inv, id, Some(id) == entry);
            progress.inc(1);
            (id, imports, problems, fallback)
        })
        .collect();
    for (id, imports, problems, used_fallback) in results {
        table.fallback_files += usize::from(used_fallback);
        table.modules[id] = imports;
        table.parsed[id] = true;
        table.problems.extend(problems);
    }
}

/// One module's imports: parsed source, or names in an extension's data.
/// Also returns the problems found and whether the line fallback was used.
pub fn module_imports(
    inv: &Inventory,
    id: ModuleId,
    is_entry: bool,
) -> (ModuleImports, Vec<Problem>, bool) {
    let Some(file) = inv.module_file(id) else {
        return (ModuleImports::default(), Vec::new(), false);
    };
    match file.kind {
        FileKind::Python => parse_file(&file.path, is_entry),
        FileKind::Extension => (native_imports(inv, id), Vec::new(), false),
        _ => (ModuleImports::default(), Vec::new(), false),
    }
}

/// Reads, decodes and parses one source file.
/// Reads, decodes and parses one source file; `record_calls` also records
/// bindings and init-time calls.
pub fn parse_file(
    path: &std::path::Path,
    record_calls: bool,
) -> (ModuleImports, Vec<Problem>, bool) {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) => {
            let problem = Problem {
                path: path.to_path_buf(),
                line: None,
                message: format!("cannot read: {err}; its imports are unknown"),
            };
            return (ModuleImports::default(), vec![problem], false);
        }
    };
    let (text, warning) = decode_source(&bytes);
    let mut problems: Vec<Problem> = warning
        .into_iter()
        .map(|message| Problem {
            path: path.to_path_buf(),
            line: None,
            message,
        })
        .collect();
    match parse_source(&text, record_calls) {
        Ok(imports) => (imports, problems, false),
        Err((line, reason)) => {
            problems.push(Problem {
                path: path.to_path_buf(),
                line: Some(line),
                message: format!("syntax error: {reason}; imports read line by line instead"),
            });
            let sites = fallback::scan_lines(&text);
            let imports = ModuleImports {
                sites,
                ..ModuleImports::default()
            };
            (imports, problems, true)
        }
    }
}

/// Parses source text. On a syntax error returns its line and reason.
pub fn parse_source(text: &str, record_calls: bool) -> Result<ModuleImports, (u32, String)> {
    match rustpython_ruff_python_parser::parse_module(text) {
        Ok(parsed) => Ok(visitor::visit_module(parsed.syntax(), text, record_calls)),
        Err(err) => {
            let lines = visitor::LineIndex::new(text);
            Err((
                lines.line(err.location.start().to_usize()),
                err.error.to_string(),
            ))
        }
    }
}

/// Sites for the module names an extension module carries in its data.
fn native_imports(inv: &Inventory, id: ModuleId) -> ModuleImports {
    let own = &inv.modules[id].name;
    let Some(info) = inv.modules[id].file.and_then(|f| inv.elf.get(&f)) else {
        return ModuleImports::default();
    };
    // A packed run names a module by its longest prefix that is one.
    let from_runs = info.packed_runs.iter().filter_map(|run| {
        let boundaries = run
            .char_indices()
            .map(|(i, _)| i)
            .skip(1)
            .chain([run.len()]);
        let prefixes: Vec<&str> = boundaries.map(|end| &run[..end]).collect();
        prefixes.into_iter().rev().find(|p| inv.module(p).is_some())
    });
    let mut names: Vec<&str> = info
        .tokens
        .iter()
        .map(String::as_str)
        .chain(from_runs)
        .collect();
    names.sort_unstable();
    names.dedup();
    let sites = names
        .into_iter()
        // A bare folder (namespace package) such as `bin/` matches common
        // words in binaries; compiled code importing one is rare.
        .filter(|token| {
            token != own
                && inv
                    .module(token)
                    .is_some_and(|m| inv.modules[m].kind != crate::scan::ModuleKind::Namespace)
        })
        .map(|token| {
            let (names, kind) = (Vec::new(), SiteKind::Native);
            Site::plain(token.to_string(), 0, names, 0, kind, Scope::Module)
        })
        .collect();
    ModuleImports {
        sites,
        ..ModuleImports::default()
    }
}

/// Sites for the `import` lines of `.pth` files (run by `site` at startup).
pub fn pth_sites(inv: &Inventory) -> Vec<Site> {
    inv.pth
        .iter()
        .flat_map(|pth| pth.import_lines.iter())
        .flat_map(|(line, text)| {
            fallback::scan_lines(text).into_iter().map(move |mut site| {
                site.kind = SiteKind::Pth;
                site.line = *line;
                site.conditional = false;
                site
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
