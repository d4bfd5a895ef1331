//! The `fixtures/zoo` unit holds one example of every import form the
//! analysis must understand; these tables pin the exact outcome.

use caios_pack::analysis::{Analysis, Coverage};
use caios_pack::config::{Overrides, Unit};
use caios_pack::graph::{EdgeKind, Node, Reach};
use caios_pack::imports::SiteKind;
use caios_pack::progress::Progress;
use caios_pack::scan::{FileKind, ModuleKind};
use petgraph::visit::EdgeRef;
use std::path::Path;

fn zoo(coverage: Coverage) -> Analysis {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/zoo");
    let unit = Unit::load(&dir, &Overrides::default()).expect("zoo loads");
    Analysis::run(unit, coverage, &Progress::hidden()).expect("zoo analyses")
}

fn modules_in(a: &Analysis, reach: Reach) -> Vec<String> {
    let mut names: Vec<String> = (0..a.inventory.modules.len())
        .filter(|&m| a.module_reach(m) == reach)
        .map(|m| a.inventory.modules[m].name.clone())
        .collect();
    names.sort();
    names
}

#[test]
fn cold_deferred_and_unreachable_sets() {
    for coverage in [Coverage::Reachable, Coverage::Full] {
        let a = zoo(coverage);
        let cold = [
            "app",
            "broken",
            "broken_dep",
            "dyn",
            "dyn.target",
            "frompkg",
            "frompkg.submod",
            "in_class",
            "latin",
            "latin_dep",
            "lazy_attach_pkg",
            "lazy_getattr_pkg",
            "lazy_loader",
            "lazy_runs",
            "lazy_runs.classes",
            "lazy_runs.helper",
            "lazy_runs.legacy",
            "lazy_runs.read_in_function",
            "lazy_runs.used_by_method",
            "loopy",
            "nsp",
            "nsp.alpha",
            "nsp.beta",
            "present_opt",
            "pth_hook",
            "reflected",
            "reflected.part",
            "reflector",
            "rel",
            "rel.sub",
            "rel.sub.deep",
            "rel.sub.deep.leaf",
            "rel.sub.deep.sibling",
            "rel.sub.up_one",
            "rel.top_helper",
            "starall",
            "starall.one",
            "starnoall",
        ];
        let deferred = [
            "in_function",
            "lazy_attach_pkg.filters",
            "lazy_attach_pkg.io",
            "lazy_getattr_pkg.heavy",
            "lazy_runs.after_missing",
            "lazy_runs.never_read",
            "lazy_runs.unused_by_method",
        ];
        let unreachable = [
            "extra_mod",
            "frompkg.other",
            "rel.unused",
            "starall.two",
            "starnoall.three",
            "typing_only",
        ];
        assert_eq!(modules_in(&a, Reach::Cold), cold, "{coverage:?}");
        assert_eq!(modules_in(&a, Reach::Deferred), deferred, "{coverage:?}");
        assert_eq!(
            modules_in(&a, Reach::Unreachable),
            unreachable,
            "{coverage:?}"
        );
    }
}

#[test]
fn module_kinds_and_namespace_portions() {
    let a = zoo(Coverage::Reachable);
    let inv = &a.inventory;
    let kind = |name: &str| inv.modules[inv.module(name).unwrap()].kind;
    assert_eq!(kind("nsp"), ModuleKind::Namespace);
    assert_eq!(kind("rel.sub"), ModuleKind::Package);
    assert_eq!(kind("present_opt"), ModuleKind::Source);
    let nsp = &inv.modules[inv.module("nsp").unwrap()];
    assert_eq!(nsp.portions.len(), 2, "one folder in each site-packages");
    // `extra_mod` lives in a folder that `mypth.pth` adds to sys.path.
    let pth = &inv.pth[0];
    assert!(pth.added_paths[0].ends_with("site/extra_dir"));
    assert_eq!(pth.import_lines, [(2, "import pth_hook".to_string())]);
}

/// `(importer, target, kind, init)` for every import edge out of the modules below.
#[test]
fn edges() {
    let a = zoo(Coverage::Full);
    let g = &a.graph.graph;
    let mut got: Vec<(String, String, SiteKind, bool, bool)> = Vec::new();
    for e in g.edge_references() {
        let EdgeKind::Import(kind) = e.weight().kind else {
            continue;
        };
        let from = a.node_name(e.source());
        if [
            "app",
            "rel.sub.deep.leaf",
            "lazy_getattr_pkg",
            "lazy_attach_pkg",
            "lazy_runs",
            "lazy_runs.helper",
        ]
        .contains(&from.as_str())
        {
            let to = a.node_name(e.target());
            got.push((from, to, kind, e.weight().init, e.weight().type_checking));
        }
    }
    got.sort_by(|x, y| (&x.0, &x.1).cmp(&(&y.0, &y.1)));
    use SiteKind::*;
    let s = |x: &str| x.to_string();
    let want = vec![
        (s("app"), s("broken"), Import, true, false),
        (s("app"), s("dyn.target"), Dynamic, true, false),
        (s("app"), s("frompkg"), From, true, false),
        (s("app"), s("frompkg.submod"), From, true, false),
        (s("app"), s("in_class"), Import, true, false),
        (s("app"), s("in_function"), Import, false, false),
        (s("app"), s("latin"), Import, true, false),
        (s("app"), s("lazy_attach_pkg"), Import, true, false),
        (s("app"), s("lazy_getattr_pkg"), Import, true, false),
        (s("app"), s("lazy_runs"), Import, true, false),
        (s("app"), s("loopy"), Import, true, false),
        (s("app"), s("nsp.alpha"), Import, true, false),
        (s("app"), s("nsp.beta"), Import, true, false),
        (s("app"), s("present_opt"), Import, true, false),
        (s("app"), s("pth_hook"), Pth, true, false),
        // `reflector.clone("reflected", …)` imports it and reads every name.
        (s("app"), s("reflected"), ModuleName, true, false),
        (s("app"), s("reflected.part"), ModuleName, true, false),
        (s("app"), s("reflector"), Import, true, false),
        (s("app"), s("rel.sub.deep.leaf"), Import, true, false),
        (s("app"), s("starall"), From, true, false),
        (s("app"), s("starall.one"), From, true, false),
        (s("app"), s("starnoall"), From, true, false),
        (s("app"), s("typing_only"), Import, false, true),
        (
            s("lazy_attach_pkg"),
            s("lazy_attach_pkg.filters"),
            LazyAttach,
            false,
            false,
        ),
        (
            s("lazy_attach_pkg"),
            s("lazy_attach_pkg.io"),
            LazyAttach,
            false,
            false,
        ),
        (s("lazy_attach_pkg"), s("lazy_loader"), Import, true, false),
        (
            s("lazy_getattr_pkg"),
            s("lazy_getattr_pkg.heavy"),
            LazyGetattr,
            false,
            false,
        ),
        // What `__getattr__` loads, and the reads that ask for it: a chain in
        // a function and a `from` of a name that is no submodule.
        (s("lazy_runs"), s("lazy_runs.classes"), From, false, false),
        (s("lazy_runs"), s("lazy_runs.helper"), From, false, false),
        (
            s("lazy_runs"),
            s("lazy_runs.legacy"),
            LazyGetattr,
            false,
            false,
        ),
        (
            s("lazy_runs"),
            s("lazy_runs.never_read"),
            LazyGetattr,
            false,
            false,
        ),
        (
            s("lazy_runs"),
            s("lazy_runs.read_in_function"),
            LazyGetattr,
            false,
            false,
        ),
        (
            s("lazy_runs"),
            s("lazy_runs.read_in_function"),
            Attribute,
            false,
            false,
        ),
        (s("lazy_runs.helper"), s("lazy_runs"), From, false, false),
        (s("lazy_runs.helper"), s("lazy_runs"), From, false, false),
        // after `import not_installed_anywhere`: blocked, below
        (
            s("lazy_runs.helper"),
            s("lazy_runs.after_missing"),
            From,
            false,
            false,
        ),
        (
            s("lazy_runs.helper"),
            s("lazy_runs.legacy"),
            From,
            false,
            false,
        ),
        (s("rel.sub.deep.leaf"), s("rel.sub"), From, true, false),
        (s("rel.sub.deep.leaf"), s("rel.sub.deep"), From, true, false),
        (
            s("rel.sub.deep.leaf"),
            s("rel.sub.deep.sibling"),
            From,
            true,
            false,
        ),
        (
            s("rel.sub.deep.leaf"),
            s("rel.sub.deep.sibling"),
            From,
            true,
            false,
        ),
        (
            s("rel.sub.deep.leaf"),
            s("rel.sub.up_one"),
            From,
            true,
            false,
        ),
        (
            s("rel.sub.deep.leaf"),
            s("rel.top_helper"),
            From,
            true,
            false,
        ),
    ];
    assert_eq!(got, want);
    let blocked: Vec<(String, String)> = g
        .edge_references()
        .filter(|e| e.weight().blocked)
        .map(|e| (a.node_name(e.source()), a.node_name(e.target())))
        .collect();
    // `Unused` is named by nothing cold: its method's import is gated.
    let gated: Vec<(String, String, Option<String>)> = g
        .edge_references()
        .filter(|e| e.weight().method_of.is_some())
        .map(|e| {
            let class = e.weight().method_of.clone();
            (a.node_name(e.source()), a.node_name(e.target()), class)
        })
        .collect();
    let class = |c: &str| Some(c.to_string());
    assert_eq!(
        gated,
        [
            (s("lazy_runs.classes"), s("lazy_runs"), class("Used")),
            (
                s("lazy_runs.classes"),
                s("lazy_runs.used_by_method"),
                class("Used")
            ),
            (s("lazy_runs.classes"), s("lazy_runs"), class("Unused")),
            (
                s("lazy_runs.classes"),
                s("lazy_runs.unused_by_method"),
                class("Unused")
            ),
        ]
    );
    assert_eq!(
        blocked,
        [
            (s("lazy_runs.helper"), s("lazy_runs")),
            (s("lazy_runs.helper"), s("lazy_runs.after_missing"))
        ]
    );
}

#[test]
fn unresolved_guarded_imports_are_recorded_not_fatal() {
    let a = zoo(Coverage::Reachable);
    let missing: Vec<_> = a
        .graph
        .unresolved
        .iter()
        .filter(|u| u.target == "missing_opt")
        .map(|u| (u.guarded, u.line))
        .collect();
    assert_eq!(missing, [(true, 14)]);
}

#[test]
fn problems_name_file_and_line() {
    let a = zoo(Coverage::Reachable);
    let all: Vec<String> = a
        .inventory
        .problems
        .iter()
        .chain(&a.imports.problems)
        .map(|p| p.to_string())
        .collect();
    assert!(
        all.iter()
            .any(|p| p.contains("site/loopy/self: symlink loop")),
        "{all:#?}"
    );
    assert!(
        all.iter()
            .any(|p| p.contains("site/broken.py:3: syntax error")),
        "{all:#?}"
    );
    assert_eq!(all.len(), 2, "latin-1 decodes cleanly: {all:#?}");
    assert_eq!(a.imports.fallback_files, 1);
}

#[test]
fn files_distributions_and_assets() {
    let a = zoo(Coverage::Reachable);
    let inv = &a.inventory;
    let dist = &inv.dists[0];
    assert_eq!(
        (dist.name.as_str(), dist.version.as_str()),
        ("frompkg", "1.0")
    );
    for (file, reach) in inv.files.iter().zip(&a.file_reach) {
        if file.rel.starts_with("frompkg") {
            assert_eq!(file.dist, Some(0), "{}", file.rel);
        }
        if file.rel.ends_with("dist-info/METADATA") {
            assert_eq!((file.kind, *reach), (FileKind::Metadata, Reach::Cold));
        }
        if file.rel == "models/tiny.bin" {
            assert!(file.asset);
            assert_eq!(*reach, Reach::Cold);
        }
    }
    let total: u64 = inv.files.iter().map(|f| f.size).sum();
    let by_reach: u64 = a.bytes_by_reach().values().flat_map(|k| k.values()).sum();
    assert_eq!(total, by_reach, "every byte is in exactly one reach");
    assert!(matches!(a.graph.graph[a.graph.handler], Node::Module(_)));
}
