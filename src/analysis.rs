//! analysis: runs scan → imports → graph for a unit and derives the figures
//! users read: bytes per reach and file kind, per distribution, per module.
//!
//! Input: a [`Unit`]. Output: an [`Analysis`] holding each stage's output and
//! the reach of every file.

use crate::config::Unit;
use crate::error::Result;
use crate::graph::ModuleNamespace;
use crate::graph::{ImportGraph, Node, Reach};
use crate::imports::{ImportTable, ModuleImports};
use crate::progress::Progress;
use crate::scan::{FileKind, Inventory, ModuleId};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

pub struct Analysis {
    pub unit: Unit,
    pub inventory: Inventory,
    pub imports: ImportTable,
    pub graph: ImportGraph,
    /// Reach of every file, by `FileId`.
    pub file_reach: Vec<Reach>,
}

/// Bytes per file kind, for one reach or one distribution.
pub type KindBytes = BTreeMap<FileKind, u64>;

/// Which modules to parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coverage {
    /// Only what the handler can reach (cold and deferred): enough for every
    /// placement decision, and far less to parse in a big environment.
    Reachable,
    /// Every module, so that the graph also holds the imports of
    /// unreachable modules (for `--why` on them, or a complete JSON graph).
    Full,
}

impl Analysis {
    pub fn run(unit: Unit, coverage: Coverage, progress: &Progress) -> Result<Analysis> {
        let inventory = crate::scan::scan(&unit, progress);
        let handler = crate::graph::handler_module(&inventory, &unit.handler_module)?;
        let imports = parse_imports(&inventory, handler, coverage, progress);
        progress.set_message("building the graph");
        let graph = crate::graph::build(&inventory, &imports, handler);
        let file_reach = file_reach(&inventory, &graph);
        progress.finish();
        Ok(Analysis {
            unit,
            inventory,
            imports,
            graph,
            file_reach,
        })
    }

    pub fn module_reach(&self, module: ModuleId) -> Reach {
        self.graph.reach[module]
    }

    /// Bytes per reach, split by file kind.
    pub fn bytes_by_reach(&self) -> BTreeMap<Reach, KindBytes> {
        let mut out: BTreeMap<Reach, KindBytes> = BTreeMap::new();
        for reach in [Reach::Cold, Reach::Deferred, Reach::Unreachable] {
            out.entry(reach).or_default();
        }
        for (file, reach) in self.inventory.files.iter().zip(&self.file_reach) {
            *out.entry(*reach).or_default().entry(file.kind).or_default() += file.size;
        }
        out
    }

    /// Bytes of the files each module owns (its file, caches, data files).
    /// Shared libraries are nodes of their own, so they are not counted in
    /// the package folder that holds them.
    pub fn module_bytes(&self) -> Vec<u64> {
        let mut bytes = vec![0; self.inventory.modules.len()];
        for (id, file) in self.inventory.files.iter().enumerate() {
            if let Some(owner) = file.owner {
                if !self.graph.library_nodes.contains_key(&id) {
                    bytes[owner] += file.size;
                }
            }
        }
        bytes
    }

    /// Per distribution (and `None` for files of no distribution): files and
    /// bytes per reach.
    pub fn by_distribution(&self) -> Vec<DistRow> {
        let mut rows: BTreeMap<Option<usize>, DistRow> = BTreeMap::new();
        for (file, reach) in self.inventory.files.iter().zip(&self.file_reach) {
            let row = rows.entry(file.dist).or_insert_with(|| DistRow {
                dist: file.dist,
                ..DistRow::default()
            });
            row.files += 1;
            row.bytes += file.size;
            match reach {
                Reach::Cold => row.cold += file.size,
                Reach::Deferred => row.deferred += file.size,
                Reach::Unreachable => row.unreachable += file.size,
            }
        }
        let mut rows: Vec<DistRow> = rows.into_values().collect();
        rows.sort_by_key(|row| std::cmp::Reverse(row.bytes));
        rows
    }

    pub fn node_name(&self, node: petgraph::graph::NodeIndex) -> String {
        match self.graph.graph[node] {
            Node::Module(id) => self.inventory.modules[id].name.clone(),
            Node::Library(file) => self.inventory.files[file].rel.clone(),
        }
    }

    /// `path:line` of the file that holds an import site of `node`.
    pub fn site_location(&self, node: petgraph::graph::NodeIndex, line: u32) -> String {
        let path = match self.graph.graph[node] {
            Node::Module(id) => self
                .inventory
                .module_file(id)
                .map(|f| f.path.display().to_string()),
            Node::Library(file) => Some(self.inventory.files[file].path.display().to_string()),
        };
        match (path, line) {
            (Some(path), 0) => path,
            (Some(path), line) => format!("{path}:{line}"),
            (None, _) => "(namespace package)".to_string(),
        }
    }
}

#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct DistRow {
    pub dist: Option<usize>,
    pub files: usize,
    pub bytes: u64,
    pub cold: u64,
    pub deferred: u64,
    pub unreachable: u64,
}

use crate::contract::is_s3_client_seed;

/// Modules of the S3 client's seed packages present in the unit: parsed
/// even when the handler never imports them, for their import closure.
fn s3_client_modules(inv: &Inventory) -> Vec<ModuleId> {
    (0..inv.modules.len())
        .filter(|&m| {
            let top = crate::names::top_level(&inv.modules[m].name);
            is_s3_client_seed(top)
        })
        .collect()
}

/// Parses what the handler can reach: each parsed module's targets are
/// queued as soon as it is parsed (work stealing, no barrier between BFS
/// levels), then a check pass with the complete table catches targets that
/// depended on a `__all__` not parsed yet. `Coverage::Full` parses everything.
fn parse_imports(
    inv: &Inventory,
    handler: ModuleId,
    coverage: Coverage,
    progress: &Progress,
) -> ImportTable {
    let mut table = ImportTable::new(inv.modules.len());
    progress.set_message("parsing imports");
    if coverage == Coverage::Full {
        progress.set_length(inv.modules.len() as u64);
        let all: Vec<ModuleId> = (0..inv.modules.len()).collect();
        crate::imports::collect(inv, &all, Some(handler), &mut table, progress);
        return table;
    }
    let pth_sites = crate::imports::pth_sites(inv);
    let queued: Vec<AtomicBool> = (0..inv.modules.len())
        .map(|_| AtomicBool::new(false))
        .collect();
    let slots: Vec<OnceLock<Parsed>> = (0..inv.modules.len()).map(|_| OnceLock::new()).collect();
    let walk = ParallelWalk {
        inv,
        handler,
        pth_sites: &pth_sites,
        queued: &queued,
        slots: &slots,
        progress,
    };
    let mut roots = vec![handler];
    roots.extend(s3_client_modules(inv).into_iter().filter(|&m| m != handler));
    while !roots.is_empty() {
        for &root in &roots {
            queued[root].store(true, Ordering::Relaxed);
        }
        rayon::scope(|scope| {
            for root in roots.drain(..) {
                scope.spawn(move |scope| walk.visit(scope, root));
            }
        });
        roots = walk.missed_targets();
    }
    for (id, slot) in slots.into_iter().enumerate() {
        if let Some((imports, problems, fallback)) = slot.into_inner() {
            table.modules[id] = imports;
            table.parsed[id] = true;
            table.problems.extend(problems);
            table.fallback_files += usize::from(fallback);
        }
    }
    table
        .problems
        .sort_by(|a, b| (&a.path, a.line).cmp(&(&b.path, b.line)));
    table
}

type Parsed = (ModuleImports, Vec<crate::scan::Problem>, bool);

#[derive(Clone, Copy)]
struct ParallelWalk<'a> {
    inv: &'a Inventory,
    handler: ModuleId,
    pth_sites: &'a [crate::imports::Site],
    queued: &'a [AtomicBool],
    slots: &'a [OnceLock<Parsed>],
    progress: &'a Progress,
}

impl<'a> ParallelWalk<'a> {
    fn visit<'s>(self, scope: &rayon::Scope<'s>, module: ModuleId)
    where
        'a: 's,
    {
        let parsed = crate::imports::module_imports(self.inv, module, module == self.handler);
        let _ = self.slots[module].set(parsed);
        self.progress.inc(1);
        for target in self.targets(module) {
            if !self.queued[target].swap(true, Ordering::Relaxed) {
                self.progress.set_length(self.inv.modules.len() as u64);
                scope.spawn(move |scope| self.visit(scope, target));
            }
        }
    }

    fn targets(&self, module: ModuleId) -> Vec<ModuleId> {
        let Some((imports, _, _)) = self.slots[module].get() else {
            return Vec::new();
        };
        let extra = if module == self.handler {
            self.pth_sites
        } else {
            &[]
        };
        crate::graph::runtime_targets(self.inv, self, module, imports.sites.iter().chain(extra))
    }

    /// Targets of parsed modules that were never queued (possible when a star
    /// import's `__all__` was parsed after its importer).
    fn missed_targets(&self) -> Vec<ModuleId> {
        let mut missed: Vec<ModuleId> = (0..self.slots.len())
            .filter(|&m| self.slots[m].get().is_some())
            .flat_map(|m| self.targets(m))
            .filter(|&t| !self.queued[t].load(Ordering::Relaxed))
            .collect();
        missed.sort_unstable();
        missed.dedup();
        missed
    }
}

impl ModuleNamespace for ParallelWalk<'_> {
    fn exists(&self, name: &str) -> bool {
        self.inv.module(name).is_some()
    }
    fn all_of(&self, name: &str) -> Option<&[String]> {
        let id = self.inv.module(name)?;
        self.slots[id].get()?.0.all.as_deref()
    }
}

/// A file is as reachable as the module that owns it; a library as its node;
/// a declared asset counts as cold;
/// a distribution's metadata as the most reachable module it installed
/// (`importlib.metadata` must find it); anything else is unreachable.
fn file_reach(inv: &Inventory, graph: &ImportGraph) -> Vec<Reach> {
    let mut dist_reach = vec![Reach::Unreachable; inv.dists.len()];
    for file in &inv.files {
        if let (Some(owner), Some(dist)) = (file.owner, file.dist) {
            dist_reach[dist] = dist_reach[dist].min(graph.reach[owner]);
        }
    }
    inv.files
        .iter()
        .enumerate()
        .map(|(id, file)| {
            if let Some(node) = graph.library_nodes.get(&id) {
                return graph.reach[node.index()];
            }
            // Declared assets (models, data) are usually loaded at init; usage
            // statistics refine this later.
            if file.asset {
                return Reach::Cold;
            }
            match (file.owner, file.kind, file.dist) {
                (Some(owner), _, _) => graph.reach[owner],
                (None, FileKind::Metadata, Some(dist)) => dist_reach[dist],
                _ => Reach::Unreachable,
            }
        })
        .collect()
}
