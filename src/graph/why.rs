//! graph why: the import chain that explains why a node is reached.
//!
//! Input: an [`ImportGraph`] and a target node. Output: the shortest chain
//! of [`Step`]s from the handler, preferring init edges.

use super::{runs_at_init, Edge, ImportGraph};
use petgraph::graph::NodeIndex;
use petgraph::visit::EdgeRef;
use std::collections::VecDeque;

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
