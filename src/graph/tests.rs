//! Table-driven tests of resolution: `(importer, is_package, site) → targets`.

use super::*;
use crate::imports::Scope;
use std::collections::{HashMap, HashSet};

struct Names {
    modules: HashSet<&'static str>,
    all: HashMap<&'static str, Vec<String>>,
}

impl ModuleNamespace for Names {
    fn exists(&self, name: &str) -> bool {
        self.modules.contains(name)
    }
    fn all_of(&self, name: &str) -> Option<&[String]> {
        self.all.get(name).map(|v| v.as_slice())
    }
}

fn names() -> Names {
    Names {
        modules: [
            "pkg",
            "pkg.sub",
            "pkg.sub.deep",
            "pkg.sub.deep.leaf",
            "pkg.util",
            "pkg.star",
            "pkg.star.one",
            "pkg.star.two",
            "os",
            "a",
            "a.b",
        ]
        .into_iter()
        .collect(),
        all: HashMap::from([("pkg.star", vec!["one".to_string(), "helper".to_string()])]),
    }
}

/// An import edge at line 1 under no guard, test or class.
fn import_edge(kind: SiteKind, init: bool) -> Edge {
    Edge {
        kind: EdgeKind::Import(kind),
        init,
        type_checking: false,
        guarded: false,
        conditional: false,
        line: 1,
        blocked: false,
        method_of: None,
    }
}

fn site(kind: SiteKind, target: &str, level: u32, names: &[&str]) -> Site {
    let names = names.iter().map(|n| n.to_string()).collect();
    Site::plain(target.to_string(), level, names, 1, kind, Scope::Module)
}

/// (importer, importer is a package, site, targets, missing)
type ResolutionCase = (
    &'static str,
    bool,
    Site,
    &'static [&'static str],
    &'static [&'static str],
);

#[test]
fn resolution_table() {
    use SiteKind::*;
    // (importer, importer is a package, site, targets, missing)
    let cases: &[ResolutionCase] = &[
        ("m", false, site(Import, "a.b", 0, &[]), &["a.b"], &[]),
        (
            "m",
            false,
            site(Import, "a.b.c", 0, &[]),
            &["a.b"],
            &["a.b.c"],
        ),
        ("m", false, site(Import, "nope", 0, &[]), &[], &["nope"]),
        (
            "m",
            false,
            site(From, "pkg", 0, &["sub", "attr"]),
            &["pkg", "pkg.sub"],
            &[],
        ),
        (
            "m",
            false,
            site(From, "pkg.star", 0, &["*"]),
            &["pkg.star", "pkg.star.one"],
            &[],
        ),
        (
            "m",
            false,
            site(From, "pkg.sub", 0, &["*"]),
            &["pkg.sub"],
            &[],
        ),
        // relative imports of every level, from a module and from a package
        (
            "pkg.sub.deep.leaf",
            false,
            site(From, "", 1, &["leaf"]),
            &["pkg.sub.deep", "pkg.sub.deep.leaf"],
            &[],
        ),
        (
            "pkg.sub.deep.leaf",
            false,
            site(From, "", 2, &["deep"]),
            &["pkg.sub", "pkg.sub.deep"],
            &[],
        ),
        (
            "pkg.sub.deep.leaf",
            false,
            site(From, "util", 3, &["x"]),
            &["pkg.util"],
            &[],
        ),
        (
            "pkg.sub.deep",
            true,
            site(From, "", 1, &["leaf"]),
            &["pkg.sub.deep", "pkg.sub.deep.leaf"],
            &[],
        ),
        (
            "pkg.sub.deep",
            true,
            site(From, "", 3, &["util"]),
            &["pkg", "pkg.util"],
            &[],
        ),
        ("pkg.sub", true, site(From, "", 4, &["x"]), &[], &["...."]),
        (
            "pkg",
            true,
            site(Dynamic, "util", 1, &[]),
            &["pkg.util"],
            &[],
        ),
        // lazy idioms name submodules of the importing package
        (
            "pkg",
            true,
            site(LazyAttach, "", 1, &["sub", "util", "gone"]),
            &["pkg.sub", "pkg.util"],
            &["pkg.gone"],
        ),
        (
            "pkg",
            true,
            site(LazyGetattr, "pkg.sub", 0, &[]),
            &["pkg.sub"],
            &[],
        ),
        ("m", false, site(Native, "os", 0, &[]), &["os"], &[]),
    ];
    let ns = names();
    for (importer, is_package, site, targets, missing) in cases {
        let got = resolve_site(&ns, importer, *is_package, site);
        let want = Resolution {
            targets: targets.iter().map(|t| t.to_string()).collect(),
            missing: missing.iter().map(|t| t.to_string()).collect(),
        };
        assert_eq!(got, want, "{importer} {site:?}");
    }
}

#[test]
fn absolute_names() {
    let cases = [
        (("a.b.c", false, 1, "x"), Some("a.b.x")),
        (("a.b.c", true, 1, "x"), Some("a.b.c.x")),
        (("a.b.c", false, 2, ""), Some("a")),
        (("a", false, 1, "x"), None),
        (("a", true, 1, ""), Some("a")),
    ];
    for ((importer, is_package, level, target), want) in cases {
        assert_eq!(
            absolute_name(importer, is_package, level, target).as_deref(),
            want
        );
    }
}

/// A small graph: handler → a (init) → b (function-level) → c (init);
/// handler → t (TYPE_CHECKING only); d unreachable.
#[test]
fn cold_deferred_unreachable_split() {
    let mut g: DiGraph<Node, Edge> = DiGraph::new();
    let n: Vec<NodeIndex> = (0..6).map(|i| g.add_node(Node::Module(i))).collect();
    let edge = |init: bool, type_checking: bool| Edge {
        type_checking,
        ..import_edge(SiteKind::Import, init)
    };
    g.add_edge(n[0], n[1], edge(true, false));
    g.add_edge(n[1], n[2], edge(false, false));
    g.add_edge(n[2], n[3], edge(true, false));
    g.add_edge(n[0], n[4], edge(true, true));
    let tops: Vec<Option<&str>> = vec![
        Some("handler"),
        Some("a"),
        Some("b"),
        Some("c"),
        Some("t"),
        Some("d"),
    ];
    let (reach, _, called) = split(&g, n[0], &tops, Vec::new(), &[]);
    use Reach::*;
    assert_eq!(
        reach,
        [Cold, Cold, Deferred, Deferred, Unreachable, Unreachable]
    );
    assert!(called.is_empty());
    // When init calls into `a`, a's function-level import of b runs at init,
    // and b's code (called by a) makes its imports cold as well.
    let (reach, _, called) = split(&g, n[0], &tops, vec!["a".to_string()], &[]);
    assert_eq!(reach, [Cold, Cold, Cold, Cold, Unreachable, Unreachable]);
    assert_eq!(called, ["a", "b", "c"]);
}

/// `(importer, site) → (module, attribute)` reads that a module-level
/// `__getattr__` of that module would answer.
#[test]
fn attribute_reads_table() {
    use SiteKind::*;
    type Case = (&'static str, Site, &'static [(&'static str, &'static str)]);
    let cases: &[Case] = &[
        // a chain reads the first name past the deepest module it names
        (
            "m",
            site(Attribute, "pkg.sub.X.y", 0, &["pkg"]),
            &[("pkg.sub", "X")],
        ),
        (
            "m",
            site(Attribute, "pkg.gone.y", 0, &["pkg"]),
            &[("pkg", "gone")],
        ),
        ("m", site(Attribute, "pkg.sub.deep", 0, &["pkg"]), &[]),
        (
            "pkg.util",
            site(Attribute, "sub.Z", 1, &["sub"]),
            &[("pkg.sub", "Z")],
        ),
        // `from pkg import a, sub`: hasattr(pkg, name) for every name
        (
            "m",
            site(From, "pkg", 0, &["a", "sub"]),
            &[("pkg", "a"), ("pkg", "sub")],
        ),
        (
            "m",
            site(From, "pkg.star", 0, &["*"]),
            &[("pkg.star", "one"), ("pkg.star", "helper")],
        ),
        ("m", site(From, "nope", 0, &["a"]), &[]),
        // `import a.b` goes through the finders, never `__getattr__`
        ("m", site(Import, "pkg.sub", 0, &[]), &[]),
        ("m", site(Dynamic, "pkg.sub", 0, &[]), &[]),
    ];
    let ns = names();
    for (importer, site, want) in cases {
        let got = attribute_reads(&ns, importer, false, site);
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(m, a)| (m.to_string(), a.to_string()))
            .collect();
        assert_eq!(got, want, "{importer} {site:?}");
    }
}

/// When init runs a package's code, its function-level imports count as
/// init, but not those of its module `__getattr__`: only a read of the
/// attribute runs them, and a read has an edge of its own.
#[test]
fn getattr_imports_need_a_read_even_in_running_packages() {
    let mut g: DiGraph<Node, Edge> = DiGraph::new();
    let n: Vec<NodeIndex> = (0..5).map(|i| g.add_node(Node::Module(i))).collect();
    let edge = import_edge;
    // handler → pkg (init); pkg → pkg.lazy, pkg.read (its __getattr__);
    // pkg → pkg.f (in a function); pkg.f reads `pkg.read` in a function.
    g.add_edge(n[0], n[1], edge(SiteKind::Import, true));
    g.add_edge(n[1], n[2], edge(SiteKind::LazyGetattr, false));
    g.add_edge(n[1], n[3], edge(SiteKind::LazyGetattr, false));
    g.add_edge(n[1], n[4], edge(SiteKind::From, false));
    g.add_edge(n[4], n[3], edge(SiteKind::Attribute, false));
    let tops = vec![
        Some("handler"),
        Some("pkg"),
        Some("pkg"),
        Some("pkg"),
        Some("pkg"),
    ];
    use Reach::*;
    let (reach, _, _) = split(&g, n[0], &tops, Vec::new(), &[]);
    assert_eq!(reach, [Cold, Cold, Deferred, Deferred, Deferred]);
    let (reach, _, _) = split(&g, n[0], &tops, vec!["pkg".to_string()], &[]);
    assert_eq!(reach, [Cold, Cold, Deferred, Cold, Cold]);
}

/// An import after one of a module nothing provides never runs: the first
/// raises. `preceding` entries are (top-level name, entry before it).
#[test]
fn imports_after_a_failing_import() {
    let provided = |top: &str| ["os", "numpy", "pkg"].contains(&top);
    type Case = (&'static [(&'static str, Option<u32>)], &'static [bool]);
    let cases: &[Case] = &[
        (&[("os", None), ("numpy", Some(0))], &[false, false]),
        // import pytest; import numpy: numpy's site follows a failure
        (&[("pytest", None), ("numpy", Some(0))], &[true, true]),
        // two paths: `if x: import ibis` then, on another path, numpy
        (&[("ibis", None), ("numpy", None)], &[true, false]),
        (
            &[
                ("os", None),
                ("ibis", Some(0)),
                ("pkg", Some(1)),
                ("numpy", Some(0)),
            ],
            &[false, true, true, false],
        ),
    ];
    for (preceding, want) in cases {
        let preceding: Vec<(String, Option<u32>)> =
            preceding.iter().map(|(t, b)| (t.to_string(), *b)).collect();
        assert_eq!(
            preceding_fails(&preceding, &provided),
            *want,
            "{preceding:?}"
        );
    }
}

/// A method's function-level import counts at init only once cold code
/// mentions its class.
#[test]
fn method_imports_need_their_class_mentioned() {
    let mut g: DiGraph<Node, Edge> = DiGraph::new();
    let n: Vec<NodeIndex> = (0..4).map(|i| g.add_node(Node::Module(i))).collect();
    let edge = |init: bool, method_of: Option<&str>| Edge {
        method_of: method_of.map(String::from),
        ..import_edge(SiteKind::From, init)
    };
    // handler → pkg.a (init); pkg.a → pkg.b in a method of `Binner`;
    // handler → pkg.c in a plain function of the handler's package.
    g.add_edge(n[0], n[1], edge(true, None));
    g.add_edge(n[1], n[2], edge(false, Some("Binner")));
    g.add_edge(n[1], n[3], edge(false, None));
    let tops = vec![Some("handler"), Some("pkg"), Some("pkg"), Some("pkg")];
    let seeds = || vec!["pkg".to_string()];
    let nobody = ["fit".to_string()];
    let mentions = ["Binner".to_string()];
    use Reach::*;
    let cases: &[(&[&[String]], [Reach; 4])] = &[
        // nothing cold names `Binner`: its methods do not run
        (&[&nobody, &[], &[], &[]], [Cold, Cold, Deferred, Cold]),
        // the handler names it
        (&[&mentions, &[], &[], &[]], [Cold, Cold, Cold, Cold]),
        // a module that only becomes cold through a function names it
        (&[&nobody, &[], &[], &mentions], [Cold, Cold, Cold, Cold]),
        // no references at all: every class counts
        (&[], [Cold, Cold, Cold, Cold]),
    ];
    for (references, want) in cases {
        let (reach, _, _) = split(&g, n[0], &tops, seeds(), references);
        assert_eq!(reach, want, "{references:?}");
    }
}
