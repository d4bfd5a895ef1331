//! The source layout's two rules (issue #12), checked on the tree itself:
//! no Rust file under src/ reaches 700 lines, and the top-level modules of
//! the crate depend on each other without a cycle (`crate::x` paths, `use
//! crate::{x, ..}` lists and doc links all count: a doc link is a
//! dependency a reader follows).

mod support;

use petgraph::algo::tarjan_scc;
use petgraph::graphmap::DiGraphMap;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 700;

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry.unwrap();
        if entry.path().extension().is_some_and(|e| e == "rs") {
            out.push(entry.into_path());
        }
    }
    out
}

/// `src/plan/milp.rs` → `plan`; `src/config.rs` → `config`.
fn top_module(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

/// Every top-level module a source text names through `crate::`.
fn named_modules(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (at, _) in text.match_indices("crate::") {
        let rest = &text[at + "crate::".len()..];
        if let Some(list) = rest.strip_prefix('{') {
            let list = &list[..list.find('}').unwrap_or(list.len())];
            for item in list.split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                out.push(name);
            }
        } else {
            out.push(
                rest.chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect(),
            );
        }
    }
    out.retain(|name| !name.is_empty() && name != "self");
    out
}

#[test]
fn no_source_file_reaches_700_lines() {
    let src = support::repo().join("src");
    let long: Vec<String> = rust_files(&src)
        .iter()
        .filter_map(|file| {
            let lines = std::fs::read_to_string(file).unwrap().lines().count();
            (lines >= MAX_LINES).then(|| format!("{} ({lines} lines)", file.display()))
        })
        .collect();
    assert!(long.is_empty(), "split these files: {long:?}");
}

#[test]
fn top_level_modules_have_no_cycle() {
    let src = support::repo().join("src");
    let mut edges: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for file in rust_files(&src) {
        let from = top_module(&src, &file);
        if from == "main" || from == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for to in named_modules(&text) {
            if to != from {
                edges.entry(from.clone()).or_default().push(to);
            }
        }
    }
    assert!(edges.len() > 10, "too few modules found: {edges:?}");
    let mut graph = DiGraphMap::<&str, ()>::new();
    for (from, tos) in &edges {
        for to in tos {
            graph.add_edge(from.as_str(), to.as_str(), ());
        }
    }
    let cycles: Vec<Vec<&str>> = tarjan_scc(&graph)
        .into_iter()
        .filter(|component| component.len() > 1)
        .collect();
    assert!(
        cycles.is_empty(),
        "modules that depend on each other: {cycles:?}"
    );
}

#[test]
fn the_scanner_finds_crate_paths() {
    let text = "use crate::{config::Unit, scan};\nfn f() { crate::plan::solve(); }";
    assert_eq!(named_modules(text), ["config", "scan", "plan"]);
}
