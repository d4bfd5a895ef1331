//! graph reach: the cold / deferred / unreachable split seen from the
//! handler.
//!
//! Input: the import graph's nodes and typed edges, the handler's node and
//! the names cold modules mention. Output: a [`Reach`] per node, which
//! packages' function-level imports run at init, and the packages the
//! handler's module body calls into.

use super::{binding_base, Edge, EdgeKind, Node, Reach};
use crate::imports::{ImportTable, SiteKind};
use crate::scan::{Inventory, ModuleId};
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use std::collections::VecDeque;

/// Whether `edge` runs at init, given whether its importer's functions may
/// run at init (`runs`). A module `__getattr__` import does not run because
/// the package's code runs: only a read of its attribute runs it, and those
/// reads have their own edges (see [`super::attribute_reads`]).
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
        out.push(crate::names::top_level(&base).to_string());
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
