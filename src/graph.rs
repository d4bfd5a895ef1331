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

mod reach;
mod resolve;
mod why;

pub use reach::{packages_called_at_init, runs_at_init, split};
pub use resolve::{
    absolute_name, attribute_reads, binding_base, resolve_site, InventoryNamespace,
    ModuleNamespace, Resolution,
};
pub use why::{why, Step};

use crate::error::{Error, Result};
use crate::imports::{ImportTable, Site, SiteKind};
use crate::scan::{FileId, FileKind, Inventory, ModuleId};
use petgraph::graph::{DiGraph, NodeIndex};
use rustc_hash::FxHashMap as HashMap;
use serde::Serialize;

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

/// Whether a top-level module can be imported at run time: the unit has
/// it, or the stdlib or the Lambda runtime does.
pub fn provided(inv: &Inventory, top: &str) -> bool {
    inv.module(top).is_some()
        || crate::stdlib::is_stdlib(top)
        || crate::config::LAMBDA_RUNTIME_PACKAGES.contains(&top)
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

#[cfg(test)]
mod tests;
