//! The `analyze` command's outputs: a text summary, the full JSON inventory
//! and graph (schema in docs/analyze-json.md), a DOT file of the cold graph
//! and `--why` chains.

use super::human_bytes;
use crate::analysis::Analysis;
use crate::config::LAMBDA_UNZIPPED_LIMIT;
use crate::graph::{EdgeKind, Node, Reach};
use crate::imports::SiteKind;
use crate::scan::FileKind;
use crate::usage::{Usage, UsageTable};
use petgraph::visit::EdgeRef;
use serde::Serialize;
use std::fmt::Write;

pub const JSON_SCHEMA_VERSION: u32 = 1;

pub fn text(a: &Analysis, usage: &UsageTable) -> String {
    let mut out = String::new();
    let inv = &a.inventory;
    let total = inv.total_bytes();
    let by_reach = a.bytes_by_reach();
    let sum = |r: Reach| by_reach[&r].values().sum::<u64>();
    let _ = writeln!(
        out,
        "unit {} — handler {}.{}",
        a.unit.root.display(),
        a.unit.handler_module,
        a.unit.handler_function
    );
    let _ = writeln!(
        out,
        "{} files, {} modules, {} distributions: {} ({:.1}% of Lambda's {} unzipped limit{})",
        inv.files.len(),
        inv.modules.len(),
        inv.dists.len(),
        human_bytes(total),
        100.0 * total as f64 / LAMBDA_UNZIPPED_LIMIT as f64,
        human_bytes(LAMBDA_UNZIPPED_LIMIT),
        if total > LAMBDA_UNZIPPED_LIMIT {
            ": does NOT fit"
        } else {
            ": fits"
        }
    );
    let _ = writeln!(out);
    let _ = write!(out, "{:<12}{:>10}", "reach", "total");
    for kind in FileKind::ALL {
        let _ = write!(out, "{:>12}", kind.label());
    }
    let _ = writeln!(out);
    for reach in [Reach::Cold, Reach::Deferred, Reach::Unreachable] {
        let _ = write!(
            out,
            "{:<12}{:>10}",
            reach_label(reach),
            human_bytes(sum(reach))
        );
        for kind in FileKind::ALL {
            let bytes = by_reach[&reach].get(&kind).copied().unwrap_or(0);
            let _ = write!(out, "{:>12}", human_bytes(bytes));
        }
        let _ = writeln!(out);
    }
    let modules_in = |r: Reach| {
        (0..inv.modules.len())
            .filter(|&m| a.module_reach(m) == r)
            .count()
    };
    let by_calls = (0..inv.modules.len())
        .filter(|&m| a.module_reach(m) == Reach::Cold && !a.graph.module_level_cold[m])
        .count();
    let _ = writeln!(
        out,
        "modules: {} cold ({} through module-level imports, {} because init calls into {}), {} deferred, {} unreachable",
        modules_in(Reach::Cold),
        modules_in(Reach::Cold) - by_calls,
        by_calls,
        if a.graph.init_called.is_empty() { "nothing".to_string() } else { a.graph.init_called.join(", ") },
        modules_in(Reach::Deferred),
        modules_in(Reach::Unreachable)
    );
    let _ = writeln!(
        out,
        "parsed {} of {} modules ({} read line by line after a syntax error)",
        a.imports.parsed_count(),
        inv.modules.len(),
        a.imports.fallback_files
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<32}{:>7}{:>11}{:>11}{:>11}{:>13}",
        "distribution", "files", "bytes", "cold", "deferred", "unreachable"
    );
    for row in a.by_distribution() {
        let name = match row.dist {
            Some(d) => format!("{} {}", inv.dists[d].name, inv.dists[d].version),
            None => "(no distribution)".to_string(),
        };
        let _ = writeln!(
            out,
            "{:<32}{:>7}{:>11}{:>11}{:>11}{:>13}",
            truncate(&name, 31),
            row.files,
            human_bytes(row.bytes),
            human_bytes(row.cold),
            human_bytes(row.deferred),
            human_bytes(row.unreachable)
        );
    }
    usage_section(a, usage, &mut out);
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "20 biggest cold modules (own file, caches and data files):"
    );
    let bytes = a.module_bytes();
    let mut cold: Vec<usize> = (0..inv.modules.len())
        .filter(|&m| a.module_reach(m) == Reach::Cold)
        .collect();
    cold.sort_by(|x, y| bytes[*y].cmp(&bytes[*x]).then(x.cmp(y)));
    for &m in cold.iter().take(20) {
        let _ = writeln!(
            out,
            "  {:>10}  {}",
            human_bytes(bytes[m]),
            inv.modules[m].name
        );
    }
    let missing: Vec<_> = a
        .graph
        .unresolved
        .iter()
        .filter(|u| {
            u.init
                && !u.guarded
                && !u.conditional
                && a.module_reach(u.importer) == Reach::Cold
                && !crate::stdlib::is_stdlib(&u.target)
        })
        .collect();
    if !missing.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "imports at init that are neither in the unit nor in the standard library ({}):",
            missing.len()
        );
        for u in missing.iter().take(20) {
            let node = petgraph::graph::NodeIndex::new(u.importer);
            let _ = writeln!(out, "  {}  ({})", u.target, a.site_location(node, u.line));
        }
    }
    let problems: Vec<_> = inv
        .problems
        .iter()
        .chain(a.imports.problems.iter())
        .collect();
    if !problems.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "problems ({}):", problems.len());
        for p in problems.iter().take(50) {
            let _ = writeln!(out, "  {p}");
        }
        if problems.len() > 50 {
            let _ = writeln!(
                out,
                "  … and {} more (see --format json)",
                problems.len() - 50
            );
        }
    }
    out
}

/// Usage counts and bytes, and the biggest lazy candidates.
fn usage_section(a: &Analysis, usage: &UsageTable, out: &mut String) {
    let bytes = a.module_bytes();
    let _ = writeln!(out);
    let source = if usage.observed {
        "observed statistics over static analysis"
    } else {
        "static analysis"
    };
    let _ = writeln!(out, "usage ({source}):");
    for kind in [Usage::Hot, Usage::Lazy, Usage::Deferred, Usage::Unreachable] {
        let members: Vec<usize> = (0..usage.modules.len())
            .filter(|&m| usage.of(m).usage == kind)
            .collect();
        let total: u64 = members.iter().map(|&m| bytes[m]).sum();
        let _ = writeln!(
            out,
            "  {:<12}{:>6} modules {:>11}",
            kind.label(),
            members.len(),
            human_bytes(total)
        );
    }
    let (lazy_bytes, top) = crate::usage::lazy_summary(a, usage, 10);
    if !top.is_empty() {
        let _ = writeln!(
            out,
            "  {} of the cold set can be imported lazily; 10 biggest lazy candidates:",
            human_bytes(lazy_bytes)
        );
        for (m, b) in top {
            let _ = writeln!(
                out,
                "    {:>10}  {}  ({})",
                human_bytes(b),
                a.inventory.modules[m].name,
                usage.of(m).reason
            );
        }
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).chain(std::iter::once('…')).collect()
    }
}

pub fn reach_label(reach: Reach) -> &'static str {
    match reach {
        Reach::Cold => "cold",
        Reach::Deferred => "deferred",
        Reach::Unreachable => "unreachable",
    }
}

#[derive(Serialize)]
struct JsonReport<'a> {
    schema_version: u32,
    unit: JsonUnit<'a>,
    limit_bytes: u64,
    totals: JsonTotals,
    roots: &'a [crate::scan::Root],
    files: Vec<JsonFile<'a>>,
    modules: Vec<JsonModule<'a>>,
    distributions: Vec<JsonDist<'a>>,
    pth_files: &'a [crate::scan::PthFile],
    nodes: Vec<JsonNode>,
    edges: Vec<JsonEdge>,
    unresolved: Vec<JsonUnresolved<'a>>,
    problems: Vec<&'a crate::scan::Problem>,
}

#[derive(Serialize)]
struct JsonUnit<'a> {
    root: &'a std::path::Path,
    handler: String,
    source: &'a std::path::Path,
    site_packages: &'a [std::path::PathBuf],
}

#[derive(Serialize)]
struct JsonTotals {
    files: usize,
    bytes: u64,
    modules: usize,
    by_reach:
        std::collections::BTreeMap<&'static str, std::collections::BTreeMap<&'static str, u64>>,
}

#[derive(Serialize)]
struct JsonFile<'a> {
    root: usize,
    path: &'a str,
    size: u64,
    kind: FileKind,
    dist: Option<usize>,
    owner: Option<usize>,
    reach: Reach,
    asset: bool,
}

#[derive(Serialize)]
struct JsonModule<'a> {
    name: &'a str,
    kind: crate::scan::ModuleKind,
    file: Option<usize>,
    is_package: bool,
    reach: Reach,
    /// Cold through module-level imports alone (not only because init calls
    /// into a package whose function-level imports then run).
    module_level: bool,
    usage: crate::usage::Usage,
    reason: &'a str,
    init_probability: f64,
    invocation_probability: f64,
    bytes: u64,
}

#[derive(Serialize)]
struct JsonDist<'a> {
    name: &'a str,
    version: &'a str,
    dist_info: &'a str,
    root: usize,
    top_level: &'a [String],
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
enum JsonNode {
    Module(usize),
    Library(usize),
}

#[derive(Serialize)]
struct JsonEdge {
    from: usize,
    to: usize,
    kind: &'static str,
    init: bool,
    guarded: bool,
    conditional: bool,
    type_checking: bool,
    line: u32,
}

#[derive(Serialize)]
struct JsonUnresolved<'a> {
    importer: &'a str,
    target: &'a str,
    line: u32,
    guarded: bool,
    init: bool,
    stdlib: bool,
}

pub fn edge_label(kind: EdgeKind) -> &'static str {
    match kind {
        EdgeKind::Parent => "parent",
        EdgeKind::Library => "library",
        EdgeKind::Import(site) => match site {
            SiteKind::Import => "import",
            SiteKind::From => "from",
            SiteKind::Dynamic => "dynamic",
            SiteKind::LazyGetattr => "lazy-getattr",
            SiteKind::LazyAttach => "lazy-attach",
            SiteKind::ImportStructure => "import-structure",
            SiteKind::Native => "native",
            SiteKind::Pth => "pth",
            SiteKind::Attribute => "attribute",
            SiteKind::ModuleName => "module-name",
        },
    }
}

pub fn json(a: &Analysis, usage: &UsageTable) -> String {
    let inv = &a.inventory;
    let module_bytes = a.module_bytes();
    let by_reach = a
        .bytes_by_reach()
        .into_iter()
        .map(|(reach, kinds)| {
            let mut row: std::collections::BTreeMap<&'static str, u64> =
                kinds.into_iter().map(|(k, b)| (k.label(), b)).collect();
            row.insert("total", row.values().sum());
            (reach_label(reach), row)
        })
        .collect();
    let g = &a.graph.graph;
    let report = JsonReport {
        schema_version: JSON_SCHEMA_VERSION,
        unit: JsonUnit {
            root: &a.unit.root,
            handler: a.unit.handler(),
            source: &a.unit.source,
            site_packages: &a.unit.site_packages,
        },
        limit_bytes: LAMBDA_UNZIPPED_LIMIT,
        totals: JsonTotals {
            files: inv.files.len(),
            bytes: inv.total_bytes(),
            modules: inv.modules.len(),
            by_reach,
        },
        roots: &inv.roots,
        files: inv
            .files
            .iter()
            .zip(&a.file_reach)
            .map(|(f, reach)| JsonFile {
                root: f.root,
                path: &f.rel,
                size: f.size,
                kind: f.kind,
                dist: f.dist,
                owner: f.owner,
                reach: *reach,
                asset: f.asset,
            })
            .collect(),
        modules: inv
            .modules
            .iter()
            .enumerate()
            .map(|(id, m)| JsonModule {
                name: &m.name,
                kind: m.kind,
                file: m.file,
                is_package: m.is_package,
                reach: a.module_reach(id),
                module_level: a.graph.module_level_cold[id],
                usage: usage.of(id).usage,
                reason: &usage.of(id).reason,
                init_probability: usage.of(id).init_probability,
                invocation_probability: usage.of(id).invocation_probability,
                bytes: module_bytes[id],
            })
            .collect(),
        distributions: inv
            .dists
            .iter()
            .map(|d| JsonDist {
                name: &d.name,
                version: &d.version,
                dist_info: &d.dist_info,
                root: d.root,
                top_level: &d.top_level,
            })
            .collect(),
        pth_files: &inv.pth,
        nodes: g
            .node_weights()
            .map(|n| match n {
                Node::Module(m) => JsonNode::Module(*m),
                Node::Library(f) => JsonNode::Library(*f),
            })
            .collect(),
        edges: g
            .edge_references()
            .map(|e| {
                let w = e.weight();
                JsonEdge {
                    from: e.source().index(),
                    to: e.target().index(),
                    kind: edge_label(w.kind),
                    init: w.init,
                    guarded: w.guarded,
                    conditional: w.conditional,
                    type_checking: w.type_checking,
                    line: w.line,
                }
            })
            .collect(),
        unresolved: a
            .graph
            .unresolved
            .iter()
            .map(|u| JsonUnresolved {
                importer: &inv.modules[u.importer].name,
                target: &u.target,
                line: u.line,
                guarded: u.guarded,
                init: u.init,
                stdlib: crate::stdlib::is_stdlib(&u.target),
            })
            .collect(),
        problems: inv
            .problems
            .iter()
            .chain(a.imports.problems.iter())
            .collect(),
    };
    serde_json::to_string_pretty(&report).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// Graphviz of the cold graph: cold nodes and the init edges between them.
pub fn dot(a: &Analysis) -> String {
    let g = &a.graph.graph;
    let mut out = String::from("digraph cold {\n  rankdir=LR;\n  node [shape=box, fontsize=10];\n");
    for node in g.node_indices() {
        if a.graph.reach[node.index()] != Reach::Cold {
            continue;
        }
        let shape = match g[node] {
            Node::Library(_) => ", shape=ellipse",
            Node::Module(_) => "",
        };
        let _ = writeln!(
            out,
            "  n{} [label=\"{}\"{}];",
            node.index(),
            a.node_name(node),
            shape
        );
    }
    for e in g.edge_references() {
        let cold = |n: petgraph::graph::NodeIndex| a.graph.reach[n.index()] == Reach::Cold;
        let w = e.weight();
        if cold(e.source()) && cold(e.target()) && w.init && !w.type_checking {
            let style = match w.kind {
                EdgeKind::Parent => " [style=dotted]",
                EdgeKind::Library => " [style=dashed]",
                EdgeKind::Import(SiteKind::Native) => " [color=blue]",
                EdgeKind::Import(_) => "",
            };
            let _ = writeln!(
                out,
                "  n{} -> n{}{};",
                e.source().index(),
                e.target().index(),
                style
            );
        }
    }
    out.push_str("}\n");
    out
}

/// `--why MODULE`: the import chain from the handler, or why there is none.
/// What lazy bindings would do for and in module `name` (docs/architecture.md,
/// "Lazy bindings"): applied by `package --stats --verify` when verify passes.
fn write_lazy_bindings(out: &mut String, lazy: &crate::lazy_bindings::LazyBindings, name: &str) {
    for p in lazy
        .patches
        .iter()
        .filter(|p| p.deferred.iter().any(|d| d == name))
    {
        let _ = writeln!(
            out,
            "  lazy binding: {}:{} (`{}`) would defer its import to the first use of those names (package --stats --verify applies it when verify passes)",
            p.file,
            p.line,
            p.names.join("`, `")
        );
    }
    for p in lazy.patches.iter().filter(|p| p.module == name) {
        let _ = writeln!(
            out,
            "  its import at line {} (`{}`) would become a lazy binding, deferring {}",
            p.line,
            p.names.join("`, `"),
            p.deferred.join(", ")
        );
    }
    for r in lazy.refused.iter().filter(|r| r.module == name) {
        let _ = writeln!(
            out,
            "  its import at line {} stays eager: {}",
            r.line, r.why
        );
    }
}

pub fn why(
    a: &Analysis,
    usage: &UsageTable,
    lazy: &crate::lazy_bindings::LazyBindings,
    name: &str,
) -> Result<String, crate::error::Error> {
    let inv = &a.inventory;
    let node = match inv.module(name) {
        Some(id) => petgraph::graph::NodeIndex::new(id),
        None => {
            let lib = inv
                .files
                .iter()
                .position(|f| f.rel == name || f.rel.ends_with(&format!("/{name}")));
            match lib.and_then(|f| a.graph.library_nodes.get(&f)) {
                Some(node) => *node,
                None => {
                    return Err(crate::error::Error::input(format!(
                        "--why {name}: no module or shared library of that name in the unit"
                    )))
                }
            }
        }
    };
    let mut out = String::new();
    let reach = a.graph.reach[node.index()];
    let _ = writeln!(out, "{} is {}", name, reach_label(reach));
    if let Some(module) = inv.module(name) {
        let u = usage.of(module);
        let _ = writeln!(out, "  usage: {} — {}", u.usage.label(), u.reason);
        write_lazy_bindings(&mut out, lazy, name);
    }
    match crate::graph::why(&a.graph, node) {
        Some(steps) if steps.is_empty() => {
            let _ = writeln!(out, "  it is the handler module");
        }
        Some(steps) => {
            let _ = writeln!(out, "  {}", a.node_name(a.graph.handler));
            for step in steps {
                let runs = a.graph.runs_at_init[step.from.index()];
                let unnamed = step
                    .edge
                    .method_of
                    .as_ref()
                    .filter(|c| !a.graph.mentioned.contains(*c));
                let lazy = step.edge.kind == EdgeKind::Import(SiteKind::LazyGetattr);
                let when = match (step.edge.init, runs) {
                    (true, _) if step.edge.blocked => {
                        "after an import of a module nothing provides: never runs".to_string()
                    }
                    (true, _) => "at init".to_string(),
                    (false, true) if step.edge.blocked => {
                        "after an import of a module nothing provides: never runs".to_string()
                    }
                    (false, true) if lazy => {
                        "in a module __getattr__; runs when the attribute is read".to_string()
                    }
                    (false, true) if unnamed.is_some() => format!(
                        "in a method of `{}`, which nothing cold names; later",
                        unnamed.map_or("", |c| c.as_str())
                    ),
                    (false, true) => {
                        let from = a.node_name(step.from);
                        let top = crate::names::top_level(&from);
                        format!("in a function; runs at init because init calls into `{top}`")
                    }
                    (false, false) => "later".to_string(),
                };
                let mut notes = vec![edge_label(step.edge.kind).to_string(), when];
                if step.edge.guarded {
                    notes.push("guarded by try/except ImportError".into());
                }
                if step.edge.conditional {
                    notes.push("conditional".into());
                }
                let _ = writeln!(
                    out,
                    "  → {}   ({}; {})",
                    a.node_name(step.to),
                    a.site_location(step.from, step.edge.line),
                    notes.join(", ")
                );
            }
        }
        None => {
            let _ = writeln!(out, "  no import chain from the handler reaches it");
            let importers: Vec<_> = a
                .graph
                .graph
                .edges_directed(node, petgraph::Direction::Incoming)
                .filter(|e| !matches!(e.weight().kind, EdgeKind::Parent))
                .collect();
            if importers.is_empty() {
                let _ = writeln!(out, "  nothing in the unit imports it");
            }
            for e in importers.iter().take(20) {
                let w = e.weight();
                let reason = if w.type_checking {
                    "only under TYPE_CHECKING".to_string()
                } else {
                    format!(
                        "by {} which is {}",
                        a.node_name(e.source()),
                        reach_label(a.graph.reach[e.source().index()])
                    )
                };
                let _ = writeln!(
                    out,
                    "  imported {} ({})",
                    reason,
                    a.site_location(e.source(), w.line)
                );
            }
        }
    }
    Ok(out)
}
