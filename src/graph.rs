//! graph: import sites resolved to modules, and the cold / deferred /
//! unreachable split seen from the handler.
//!
//! Input: the [`Inventory`] and the [`ImportTable`]. Output: an [`ImportGraph`]
//! — a petgraph graph whose nodes are modules and shared libraries and whose
//! edges are typed (import, parent package, native, shared library, …) — and
//! an [`Reach`] per node. Resolution follows Python: `import a.b.c` runs `a`,
//! `a.b`, `a.b.c`; `from a import b` reaches `a.b` when that is a module;
//! relative imports resolve against the importing package; `from x import *`
//! follows a literal `__all__`.

use crate::error::{Error, Result};
use crate::imports::{ImportTable, Site, SiteKind};
use crate::scan::{FileId, FileKind, Inventory, ModuleId};
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use rustc_hash::FxHashMap as HashMap;
use serde::Serialize;
use std::collections::VecDeque;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "type", content = "id")]
pub enum Node {
    Module(ModuleId),
    /// A shared library (not an extension module), by file.
    Library(FileId),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EdgeKind {
    /// From an import site; its `SiteKind` says how it was spelled.
    Import(SiteKind),
    /// Importing `a.b` first imports `a`.
    Parent,
    /// `DT_NEEDED` of an extension module or library.
    Library,
}

#[derive(Debug, Clone, Serialize)]
pub struct Edge {
    pub kind: EdgeKind,
    /// Runs while the importer is being imported.
    pub init: bool,
    pub type_checking: bool,
    pub guarded: bool,
    pub conditional: bool,
    /// Line of the site in the importer's file (0: none).
    pub line: u32,
    /// The site follows, on every path to it, an import of a module that
    /// neither the unit, the stdlib nor the Lambda runtime provides: that
    /// import raises first, so this one never runs at init.
    pub blocked: bool,
    /// In a method of this class of the importer: runs only when code that
    /// runs at init mentions the class (see [`split`]).
    pub method_of: Option<String>,
}

/// How a node is reached from the handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reach {
    /// Executed during init (the cold start).
    Cold,
    /// Reachable only through imports that run later (in functions, lazily).
    Deferred,
    Unreachable,
}

/// An import whose target is not in the unit (stdlib, the runtime's boto3, or
/// truly missing).
#[derive(Debug, Clone, Serialize)]
pub struct Unresolved {
    pub importer: ModuleId,
    pub target: String,
    pub line: u32,
    pub guarded: bool,
    pub conditional: bool,
    pub init: bool,
}

pub struct ImportGraph {
    pub graph: DiGraph<Node, Edge>,
    /// Top-level packages whose code the handler runs during init (it calls
    /// into them at module level), and those their function-level imports
    /// reach: their function-level imports may run at init too.
    pub init_called: Vec<String>,
    /// Per node: whether it belongs to an `init_called` package.
    pub runs_at_init: Vec<bool>,
    /// Per node: cold through module-level edges alone, the strict reading
    /// of "executed during init" (a subset of `Reach::Cold`).
    pub module_level_cold: Vec<bool>,
    /// Names the cold modules mention: a method's imports count at init
    /// only when its class is among them (see [`split`]).
    pub mentioned: rustc_hash::FxHashSet<String>,
    /// Node of module `i` is `NodeIndex::new(i)`; libraries follow.
    pub library_nodes: HashMap<FileId, NodeIndex>,
    pub handler: NodeIndex,
    pub reach: Vec<Reach>,
    pub unresolved: Vec<Unresolved>,
}

/// What the resolver needs to know about the module namespace; a trait so
/// that resolution can be tested with plain tables.
pub trait ModuleNamespace {
    fn exists(&self, name: &str) -> bool;
    fn all_of(&self, name: &str) -> Option<&[String]>;
}

/// A resolved site: the modules it reaches, and the names it could not find.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Resolution {
    pub targets: Vec<String>,
    pub missing: Vec<String>,
}

/// Resolves one site of module `importer` (a package when `is_package`).
pub fn resolve_site(
    ns: &dyn ModuleNamespace,
    importer: &str,
    is_package: bool,
    site: &Site,
) -> Resolution {
    let mut out = Resolution::default();
    if site.kind == SiteKind::ModuleName {
        // Reaches only what the module's `__getattr__` loads ([`attribute_reads`]).
        return out;
    }
    let base = match absolute_name(importer, is_package, site.level, &site.target) {
        Some(base) => base,
        None => {
            out.missing.push(format!(
                "{}{}",
                ".".repeat(site.level as usize),
                site.target
            ));
            return out;
        }
    };
    // Lazy idioms name submodules of a package (`names`), or, written as a
    // full name (`import_module(f"pkg.{name}")`), the module itself.
    if site.kind == SiteKind::Attribute {
        // Only a submodule deeper than the imported module is news; the rest
        // of the chain is attributes.
        let root = absolute_name(importer, is_package, site.level, &site.names[0]);
        if let (Some(root), Some(found)) = (root, deepest_existing(ns, &base)) {
            if found.len() > root.len() && found.starts_with(&root) {
                out.targets.push(found);
            }
        }
        return out;
    }
    let from_like =
        matches!(site.kind, SiteKind::From) || (site.is_lazy() && !site.names.is_empty());
    if !from_like {
        // `import a.b.c`: the deepest existing prefix (parents follow by
        // parent edges); the rest is missing.
        match deepest_existing(ns, &base) {
            Some(found) => {
                if found != base {
                    out.missing.push(base.clone());
                }
                out.targets.push(found);
            }
            None => out.missing.push(base),
        }
        return out;
    }
    if ns.exists(&base) {
        // A lazy idiom names submodules only; the package itself is the importer.
        if !site.is_lazy() {
            out.targets.push(base.clone());
        }
    } else if !base.is_empty() {
        out.missing.push(base.clone());
        return out;
    }
    for name in &site.names {
        if name == "*" {
            for exported in ns.all_of(&base).unwrap_or(&[]) {
                let sub = format!("{base}.{exported}");
                if ns.exists(&sub) {
                    out.targets.push(sub);
                }
            }
            continue;
        }
        let sub = if base.is_empty() {
            name.clone()
        } else {
            format!("{base}.{name}")
        };
        if ns.exists(&sub) {
            out.targets.push(sub);
        } else if site.is_lazy() {
            out.missing.push(sub);
        }
    }
    out
}

/// The absolute module a site names; `None` when a relative import climbs
/// above the top-level package.
pub fn absolute_name(importer: &str, is_package: bool, level: u32, target: &str) -> Option<String> {
    if level == 0 {
        return Some(target.to_string());
    }
    let mut parts: Vec<&str> = importer.split('.').collect();
    if !is_package {
        parts.pop();
    }
    for _ in 1..level {
        parts.pop()?;
    }
    if parts.is_empty() {
        return None;
    }
    let package = parts.join(".");
    Some(if target.is_empty() {
        package
    } else {
        format!("{package}.{target}")
    })
}

/// The module a binding's import statement names, made absolute
/// (`from ..x import y` in `a.b.c` → `a.x`).
pub fn binding_base(
    importer: &crate::scan::Module,
    binding: &crate::imports::Binding,
) -> Option<String> {
    absolute_name(
        &importer.name,
        importer.is_package,
        binding.level,
        &binding.target,
    )
}

/// The module attributes a site reads, as `(module, attribute)`: what a
/// module-level `__getattr__` (PEP 562) of that module would be asked for.
/// An attribute chain `pkg.name.rest` reads `name` of the deepest module it
/// names; `from pkg import name` reads `name` of `pkg` (CPython's
/// `_handle_fromlist` tries `hasattr` first), `from pkg import *` every
/// name of its `__all__`. `import a.b` reads nothing: the finders load it.
pub fn attribute_reads(
    ns: &dyn ModuleNamespace,
    importer: &str,
    is_package: bool,
    site: &Site,
) -> Vec<(String, String)> {
    if !matches!(site.kind, SiteKind::Attribute | SiteKind::From) {
        return Vec::new();
    }
    let Some(base) = absolute_name(importer, is_package, site.level, &site.target) else {
        return Vec::new();
    };
    match site.kind {
        SiteKind::Attribute => {
            let Some(module) = deepest_existing(ns, &base) else {
                return Vec::new();
            };
            let rest = base[module.len()..].trim_start_matches('.');
            match rest.split('.').next() {
                Some(name) if !name.is_empty() => vec![(module, name.to_string())],
                _ => Vec::new(),
            }
        }
        SiteKind::From if ns.exists(&base) => {
            let mut names: Vec<&String> = Vec::new();
            for name in &site.names {
                if name == "*" {
                    names.extend(ns.all_of(&base).unwrap_or(&[]));
                } else {
                    names.push(name);
                }
            }
            names
                .into_iter()
                .map(|name| (base.clone(), name.clone()))
                .collect()
        }
        _ => Vec::new(),
    }
}

fn deepest_existing(ns: &dyn ModuleNamespace, name: &str) -> Option<String> {
    let mut candidate = name;
    loop {
        if ns.exists(candidate) {
            return Some(candidate.to_string());
        }
        candidate = candidate.rsplit_once('.')?.0;
    }
}

impl ModuleNamespace for InventoryNamespace<'_> {
    fn exists(&self, name: &str) -> bool {
        self.inv.module(name).is_some()
    }
    fn all_of(&self, name: &str) -> Option<&[String]> {
        let id = self.inv.module(name)?;
        self.imports.modules.get(id)?.all.as_deref()
    }
}

/// The handler's module, or an input error that says where it was looked for.
pub fn handler_module(inv: &Inventory, handler_module: &str) -> Result<ModuleId> {
    inv.module(handler_module).ok_or_else(|| {
        Error::input(format!(
            "{}: handler module `{handler_module}` not found (looked for {}.py or {}/__init__.py); \
             fix `handler:` in caios-pack.yaml or --handler",
            inv.roots[0].path.display(),
            handler_module.replace('.', "/"),
            handler_module.replace('.', "/"),
        ))
    })
}

/// Modules that `module` may import at run time (any scope, not under
/// TYPE_CHECKING), plus its parent package: what must be parsed next to
/// know everything the handler can reach. `ns` answers `__all__` lookups
/// with what has been parsed so far.
pub fn runtime_targets<'s>(
    inv: &Inventory,
    ns: &dyn ModuleNamespace,
    module: ModuleId,
    sites: impl Iterator<Item = &'s Site>,
) -> Vec<ModuleId> {
    let m = &inv.modules[module];
    let mut out: Vec<ModuleId> = m
        .name
        .rsplit_once('.')
        .and_then(|(p, _)| inv.module(p))
        .into_iter()
        .collect();
    for site in sites.filter(|s| !s.type_checking) {
        if site.kind == SiteKind::ModuleName {
            // Whether the callee imports it is known once its module is parsed.
            out.extend(inv.module(&site.target));
            continue;
        }
        let resolution = resolve_site(ns, &m.name, m.is_package, site);
        out.extend(resolution.targets.iter().filter_map(|t| inv.module(t)));
    }
    out
}

/// The module namespace of a unit, with `__all__` from a parse table.
pub struct InventoryNamespace<'a> {
    pub inv: &'a Inventory,
    pub imports: &'a ImportTable,
}

/// Builds the graph and splits it from the handler module.
pub fn build(inv: &Inventory, imports: &ImportTable, handler_id: ModuleId) -> ImportGraph {
    let mut graph: DiGraph<Node, Edge> =
        DiGraph::with_capacity(inv.modules.len(), inv.modules.len() * 4);
    for id in 0..inv.modules.len() {
        graph.add_node(Node::Module(id));
    }
    let mut library_nodes = HashMap::default();
    for (id, file) in inv.files.iter().enumerate() {
        if file.kind == FileKind::SharedLib {
            library_nodes.insert(id, graph.add_node(Node::Library(id)));
        }
    }
    let ns = InventoryNamespace { inv, imports };
    // What each module's `__getattr__` loads, by the attribute that asks.
    let mut on_attribute: HashMap<(ModuleId, &str), Vec<ModuleId>> = HashMap::default();
    for (id, module) in inv.modules.iter().enumerate() {
        let sites = imports.modules.get(id).map(|m| m.sites.as_slice());
        for site in sites.unwrap_or(&[]) {
            let Some(trigger) = &site.trigger else {
                continue;
            };
            let resolution = resolve_site(&ns, &module.name, module.is_package, site);
            let targets: Vec<ModuleId> = resolution
                .targets
                .iter()
                .filter_map(|t| inv.module(t))
                .collect();
            // `*`: any name, for a caller that may read them all.
            for name in trigger.iter().map(String::as_str).chain(["*"]) {
                on_attribute.entry((id, name)).or_default().extend(&targets);
            }
        }
    }
    // Top-level packages that hold such a module: only reads under them matter.
    let lazy_tops: rustc_hash::FxHashSet<&str> = on_attribute
        .keys()
        .filter_map(|(m, _)| inv.modules[*m].name.split('.').next())
        .collect();
    let mut unresolved = Vec::new();
    for (id, module) in inv.modules.iter().enumerate() {
        if let Some((parent, _)) = module.name.rsplit_once('.') {
            if let Some(parent) = inv.module(parent) {
                graph.add_edge(
                    NodeIndex::new(id),
                    NodeIndex::new(parent),
                    plain_edge(EdgeKind::Parent),
                );
            }
        }
        let pth_sites = if id == handler_id {
            crate::imports::pth_sites(inv)
        } else {
            Vec::new()
        };
        let sites = imports
            .modules
            .get(id)
            .map(|m| m.sites.as_slice())
            .unwrap_or(&[]);
        let fails = imports
            .modules
            .get(id)
            .map(|m| preceding_fails(&m.preceding, &|top| provided(inv, top)))
            .unwrap_or_default();
        for site in sites.iter().chain(pth_sites.iter()) {
            let resolution = resolve_site(&ns, &module.name, module.is_package, site);
            for target in resolution.targets {
                let target =
                    NodeIndex::new(ns.inv.module(&target).expect("resolved targets exist"));
                if target.index() == id {
                    continue;
                }
                graph.add_edge(NodeIndex::new(id), target, site_edge(site, &fails));
            }
            if site.kind == SiteKind::ModuleName {
                let named = inv.module(&site.target);
                let callee = site.names.first().map(String::as_str).unwrap_or("");
                let reflects = named.and_then(|_| imports_its_argument(inv, imports, id, callee));
                if let (Some(named), Some(reflects)) = (named, reflects) {
                    // The callee imports the module; one that reflects may
                    // read any of its attributes: all its `__getattr__`
                    // imports may run.
                    let lazy = on_attribute.get(&(named, "*")).filter(|_| reflects);
                    let lazy = lazy.map(Vec::as_slice);
                    for &target in std::iter::once(&named).chain(lazy.unwrap_or(&[])) {
                        if target != id {
                            let edge = NodeIndex::new(target);
                            graph.add_edge(NodeIndex::new(id), edge, site_edge(site, &fails));
                        }
                    }
                }
                continue;
            }
            // Reading an attribute a module's `__getattr__` answers with an
            // import runs that import, where the reading runs.
            let top = match site.level {
                0 => site.target.split('.').next(),
                _ => module.name.split('.').next(),
            };
            if top.is_some_and(|t| lazy_tops.contains(t)) {
                for (read, name) in attribute_reads(&ns, &module.name, module.is_package, site) {
                    let Some(read) = inv.module(&read) else {
                        continue;
                    };
                    for &target in on_attribute
                        .get(&(read, name.as_str()))
                        .unwrap_or(&Vec::new())
                    {
                        if target != id {
                            let edge = Edge {
                                kind: EdgeKind::Import(site.kind),
                                ..site_edge(site, &fails)
                            };
                            graph.add_edge(NodeIndex::new(id), NodeIndex::new(target), edge);
                        }
                    }
                }
            }
            if site.kind != SiteKind::Native {
                for target in resolution.missing {
                    unresolved.push(Unresolved {
                        importer: id,
                        target,
                        line: site.line,
                        guarded: site.guarded,
                        conditional: site.conditional,
                        init: site.runs_at_init(),
                    });
                }
            }
        }
    }
    add_library_edges(inv, &mut graph, &library_nodes);
    let handler = NodeIndex::new(handler_id);
    let top_level: Vec<Option<&str>> = graph
        .node_weights()
        .map(|n| match n {
            Node::Module(m) => inv.modules[*m].name.split('.').next(),
            Node::Library(_) => None,
        })
        .collect();
    let seeds = packages_called_at_init(inv, imports, handler_id);
    let references = node_references(&graph, imports);
    let (reach, runs_at_init, init_called) = split(&graph, handler, &top_level, seeds, &references);
    // Nothing runs functions here: no class needs to be named.
    let (strict, _, _) = split(&graph, handler, &top_level, Vec::new(), &[]);
    let module_level_cold = strict.iter().map(|r| *r == Reach::Cold).collect();
    let mentioned: rustc_hash::FxHashSet<&str> = (0..graph.node_count())
        .filter(|&n| reach[n] == Reach::Cold)
        .flat_map(|n| references[n].iter().map(String::as_str))
        .collect();
    let mentioned = mentioned.into_iter().map(String::from).collect();
    ImportGraph {
        graph,
        init_called,
        runs_at_init,
        module_level_cold,
        mentioned,
        library_nodes,
        handler,
        reach,
        unresolved,
    }
}

/// Whether `callee`, as written in module `importer` (`f` or `mod.f`), is a
/// function that imports its argument: defined so in the module a binding
/// names, following re-exports (`from ._internal import f`) a few steps.
fn imports_its_argument(
    inv: &Inventory,
    imports: &ImportTable,
    importer: ModuleId,
    callee: &str,
) -> Option<bool> {
    let (mut module, mut name) = match callee.split_once('.') {
        None => (importer, callee.to_string()),
        Some((root, attr)) => {
            let own = &imports.modules[importer];
            let binding = own.bindings.iter().rev().find(|b| b.local == root)?;
            let base = binding_base(&inv.modules[importer], binding)?;
            let target = match &binding.name {
                Some(n) => format!("{base}.{n}"),
                None => binding.target.clone(),
            };
            (inv.module(&target)?, attr.to_string())
        }
    };
    for _ in 0..4 {
        let own = imports.modules.get(module)?;
        if let Some((_, reflects)) = own.imports_argument.iter().find(|(f, _)| *f == name) {
            return Some(*reflects);
        }
        let binding = own.bindings.iter().rev().find(|b| b.local == name)?;
        let base = binding_base(&inv.modules[module], binding)?;
        (module, name) = (inv.module(&base)?, binding.name.clone()?);
    }
    None
}

/// Per node, the names its module's code mentions (for [`split`]).
pub fn node_references<'a>(
    graph: &DiGraph<Node, Edge>,
    imports: &'a ImportTable,
) -> Vec<&'a [String]> {
    graph
        .node_weights()
        .map(|n| match n {
            Node::Module(m) => imports
                .modules
                .get(*m)
                .map_or(&[][..], |i| i.references.as_slice()),
            Node::Library(_) => &[],
        })
        .collect()
}

fn plain_edge(kind: EdgeKind) -> Edge {
    Edge {
        kind,
        init: true,
        type_checking: false,
        guarded: false,
        conditional: false,
        line: 0,
        blocked: false,
        method_of: None,
    }
}

/// Top-level packages the Lambda Python runtime provides outside the unit.
const RUNTIME_PACKAGES: [&str; 8] = [
    "boto3",
    "botocore",
    "s3transfer",
    "jmespath",
    "dateutil",
    "urllib3",
    "six",
    "awslambdaric",
];

/// Whether a top-level module can be imported at run time: the unit has
/// it, or the stdlib or the Lambda runtime does.
pub fn provided(inv: &Inventory, top: &str) -> bool {
    inv.module(top).is_some() || crate::stdlib::is_stdlib(top) || RUNTIME_PACKAGES.contains(&top)
}

/// Per entry of a module's [`crate::imports::ModuleImports::preceding`]:
/// whether that import, or one before it on its path, names a top-level
/// module nothing provides (`import pytest` in a unit without pytest).
/// Importing it raises `ModuleNotFoundError`, so nothing after it runs.
pub fn preceding_fails(
    preceding: &[(String, Option<u32>)],
    provided: &dyn Fn(&str) -> bool,
) -> Vec<bool> {
    let mut fails: Vec<bool> = Vec::with_capacity(preceding.len());
    for (top, before) in preceding {
        let missing = !top.is_empty() && !provided(top);
        fails.push(missing || before.is_some_and(|b| fails[b as usize]));
    }
    fails
}

fn site_edge(site: &Site, fails: &[bool]) -> Edge {
    // An import a module's `__getattr__` runs for given names is lazy,
    // whatever its spelling: reading those names is what runs it.
    let kind = match site.trigger {
        Some(_) => SiteKind::LazyGetattr,
        None => site.kind,
    };
    Edge {
        kind: EdgeKind::Import(kind),
        init: site.runs_at_init(),
        type_checking: site.type_checking,
        guarded: site.guarded,
        conditional: site.conditional,
        line: site.line,
        blocked: site
            .after
            .is_some_and(|a| fails.get(a as usize) == Some(&true)),
        method_of: site.method_of.clone(),
    }
}

/// `DT_NEEDED` edges, resolved as the dynamic loader resolves them
/// ([`crate::scan::ld`]); a name no search folder finds falls back to a
/// unique file name in the unit (libraries a package's `__init__` preloads
/// with `ctypes`, which the loader then matches by soname).
fn add_library_edges(
    inv: &Inventory,
    graph: &mut DiGraph<Node, Edge>,
    library_nodes: &HashMap<FileId, NodeIndex>,
) {
    let mut by_name: HashMap<&str, Vec<FileId>> = HashMap::default();
    for &id in library_nodes.keys() {
        let name = inv.files[id].rel.rsplit('/').next().unwrap_or("");
        by_name.entry(name).or_default().push(id);
    }
    let node_of_file = |file: FileId| -> Option<NodeIndex> {
        library_nodes.get(&file).copied().or_else(|| {
            let owner = inv.files[file].owner?;
            (inv.modules[owner].file == Some(file)).then(|| NodeIndex::new(owner))
        })
    };
    let mut edges: std::collections::BTreeSet<(NodeIndex, NodeIndex)> = Default::default();
    let mut resolved: std::collections::HashSet<(FileId, &str)> = Default::default();
    for link in crate::scan::ld::resolve_links(inv) {
        if let (Some(from), Some(to)) = (node_of_file(link.from), node_of_file(link.to)) {
            edges.insert((from, to));
        }
        if let Some(info) = inv.elf.get(&link.from) {
            let name = inv.files[link.to].rel.rsplit('/').next().unwrap_or("");
            let soname = inv.elf.get(&link.to).and_then(|i| i.soname.as_deref());
            for needed in &info.needed {
                if needed == name || Some(needed.as_str()) == soname {
                    resolved.insert((link.from, needed.as_str()));
                }
            }
        }
    }
    let mut elf: Vec<(&FileId, &crate::scan::ElfInfo)> = inv.elf.iter().collect();
    elf.sort_by_key(|(id, _)| **id);
    for (&file, info) in elf {
        let Some(from) = node_of_file(file) else {
            continue;
        };
        for needed in &info.needed {
            if resolved.contains(&(file, needed.as_str())) {
                continue;
            }
            let unique = match by_name.get(needed.as_str()) {
                Some(ids) if ids.len() == 1 => Some(ids[0]),
                _ => None,
            };
            if let Some(to) = unique.and_then(|f| library_nodes.get(&f).copied()) {
                edges.insert((from, to));
            }
        }
    }
    for (from, to) in edges {
        if from != to {
            graph.add_edge(from, to, plain_edge(EdgeKind::Library));
        }
    }
}

/// Whether `edge` runs at init, given whether its importer's functions may
/// run at init (`runs`). A module `__getattr__` import does not run because
/// the package's code runs: only a read of its attribute runs it, and those
/// reads have their own edges (see [`attribute_reads`]).
pub fn runs_at_init(edge: &Edge, runs: bool) -> bool {
    !edge.type_checking
        && !edge.blocked
        && (edge.init || (runs && edge.kind != EdgeKind::Import(SiteKind::LazyGetattr)))
}

/// Cold: reached from the handler over edges that run at init — module-level
/// imports, plus function-level imports inside packages whose code init runs.
/// Deferred: reached from the cold set over any runtime edge. TYPE_CHECKING
/// edges never count. Returns the reach per node, which nodes' function-level
/// imports count as init, and the packages init runs code of.
///
/// A method's function-level import (`Edge::method_of`) counts only once a
/// cold module mentions its class (`references`, per node; empty: every
/// class counts): a method runs when something holds an instance or the
/// class, and getting either takes its name — code, a decorator or a
/// metaclass keyword that registers it, a `getattr` with a literal.
pub fn split(
    graph: &DiGraph<Node, Edge>,
    handler: NodeIndex,
    top_level: &[Option<&str>],
    seeds: Vec<String>,
    references: &[&[String]],
) -> (Vec<Reach>, Vec<bool>, Vec<String>) {
    let mut called: std::collections::BTreeSet<String> = seeds.into_iter().collect();
    let mut mentioned: rustc_hash::FxHashSet<&str> = Default::default();
    // Nodes whose references are in `mentioned` already.
    let mut counted = vec![false; graph.node_count()];
    let live = |e: &Edge, mentioned: &rustc_hash::FxHashSet<&str>| {
        references.is_empty() || e.method_of.as_deref().is_none_or(|c| mentioned.contains(c))
    };
    // Calling into a package can run any of its code, and that code's
    // function-level imports pull in more packages whose code then runs:
    // grow the set until it is stable (a handful of rounds). The classes
    // cold code mentions grow with it.
    let (cold, runs) = loop {
        let runs: Vec<bool> = top_level
            .iter()
            .map(|t| t.is_some_and(|t| called.contains(t)))
            .collect();
        let cold = bfs(graph, &[handler], |from, e| {
            runs_at_init(e, runs[from.index()]) && (e.init || live(e, &mentioned))
        });
        let before = (called.len(), mentioned.len());
        for node in &cold {
            if !std::mem::replace(&mut counted[node.index()], true) {
                if let Some(names) = references.get(node.index()) {
                    mentioned.extend(names.iter().map(String::as_str));
                }
            }
            if let Some(top) = top_level[node.index()] {
                // Code that runs calls into what it imports, at any level.
                let via_call = graph
                    .edges_directed(*node, petgraph::Direction::Incoming)
                    .any(|e| runs[e.source().index()] && runs_at_init(e.weight(), true));
                if via_call {
                    called.insert(top.to_string());
                }
            }
        }
        if (called.len(), mentioned.len()) == before {
            break (cold, runs);
        }
    };
    let mut reach = vec![Reach::Unreachable; graph.node_count()];
    for node in &cold {
        reach[node.index()] = Reach::Cold;
    }
    for node in bfs(graph, &cold, |_, e| !e.type_checking) {
        if reach[node.index()] == Reach::Unreachable {
            reach[node.index()] = Reach::Deferred;
        }
    }
    (reach, runs, called.into_iter().collect())
}

/// Top-level packages the handler's module body calls into, through the
/// names its imports bind (`pd.DataFrame(...)` → `pandas`). A call to a
/// name the handler defines itself runs the handler's own functions.
pub fn packages_called_at_init(
    inv: &Inventory,
    imports: &ImportTable,
    handler: ModuleId,
) -> Vec<String> {
    let module = &inv.modules[handler];
    let own = &imports.modules[handler];
    let mut out = Vec::new();
    for call in &own.init_calls {
        let Some(binding) = own.bindings.iter().rev().find(|b| &b.local == call) else {
            if !is_builtin(call) {
                out.push(
                    module
                        .name
                        .split('.')
                        .next()
                        .unwrap_or(&module.name)
                        .to_string(),
                );
            }
            continue;
        };
        let Some(base) = binding_base(module, binding) else {
            continue;
        };
        out.push(base.split('.').next().unwrap_or(&base).to_string());
    }
    out.sort();
    out.dedup();
    out
}

fn is_builtin(name: &str) -> bool {
    const BUILTINS: &[&str] = &[
        "abs",
        "all",
        "any",
        "bool",
        "bytes",
        "callable",
        "dict",
        "dir",
        "enumerate",
        "filter",
        "float",
        "format",
        "frozenset",
        "getattr",
        "hasattr",
        "hash",
        "id",
        "int",
        "isinstance",
        "issubclass",
        "iter",
        "len",
        "list",
        "map",
        "max",
        "min",
        "next",
        "object",
        "open",
        "print",
        "range",
        "repr",
        "reversed",
        "round",
        "set",
        "setattr",
        "sorted",
        "str",
        "sum",
        "super",
        "tuple",
        "type",
        "zip",
    ];
    BUILTINS.contains(&name)
}

fn bfs(
    graph: &DiGraph<Node, Edge>,
    starts: &[NodeIndex],
    follow: impl Fn(NodeIndex, &Edge) -> bool,
) -> Vec<NodeIndex> {
    let mut seen = vec![false; graph.node_count()];
    let mut queue: VecDeque<NodeIndex> = starts.iter().copied().collect();
    for s in starts {
        seen[s.index()] = true;
    }
    let mut order = Vec::new();
    while let Some(node) = queue.pop_front() {
        order.push(node);
        for edge in graph.edges(node) {
            if follow(node, edge.weight()) && !seen[edge.target().index()] {
                seen[edge.target().index()] = true;
                queue.push_back(edge.target());
            }
        }
    }
    order
}

/// One step of an import chain: `from` imports `to` at `line` of `from`'s file.
#[derive(Debug, Clone)]
pub struct Step {
    pub from: NodeIndex,
    pub to: NodeIndex,
    pub edge: Edge,
}

/// The shortest chain from the handler to `target`, preferring one made of
/// init edges (which explains why it is cold).
pub fn why(g: &ImportGraph, target: NodeIndex) -> Option<Vec<Step>> {
    shortest_path(g, target, |from, e| {
        let live = e.method_of.as_ref().is_none_or(|c| g.mentioned.contains(c));
        runs_at_init(e, g.runs_at_init[from.index()]) && (e.init || live)
    })
    .or_else(|| shortest_path(g, target, |_, e| !e.type_checking))
}

fn shortest_path(
    g: &ImportGraph,
    target: NodeIndex,
    follow: impl Fn(NodeIndex, &Edge) -> bool,
) -> Option<Vec<Step>> {
    let mut previous: Vec<Option<(NodeIndex, petgraph::graph::EdgeIndex)>> =
        vec![None; g.graph.node_count()];
    let mut seen = vec![false; g.graph.node_count()];
    let mut queue = VecDeque::from([g.handler]);
    seen[g.handler.index()] = true;
    while let Some(node) = queue.pop_front() {
        if node == target {
            let mut steps = Vec::new();
            let mut at = target;
            while let Some((from, edge)) = previous[at.index()] {
                steps.push(Step {
                    from,
                    to: at,
                    edge: g.graph[edge].clone(),
                });
                at = from;
            }
            steps.reverse();
            return Some(steps);
        }
        for edge in g.graph.edges(node) {
            let next = edge.target();
            if follow(node, edge.weight()) && !seen[next.index()] {
                seen[next.index()] = true;
                previous[next.index()] = Some((node, edge.id()));
                queue.push_back(next);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests;
