//! Lazy candidates are safe: the reference handler gives the same outputs on
//! every event when they are imported through `importlib.util.LazyLoader`.

mod support;

use caios_pack::scan::ModuleKind;
use caios_pack::usage::{classify, lazy_summary, Usage};
use std::process::Command;

fn run_with_lazy(lazy: &[String], roots: &[&std::path::Path]) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let lazy_file = dir.path().join("lazy.json");
    std::fs::write(&lazy_file, serde_json::to_string(lazy).unwrap()).unwrap();
    let out = Command::new("python3")
        .args(["-I", "-S"])
        .arg(support::repo().join("tests/support/lazy_run.py"))
        .arg(support::repo().join("fixtures/reference-unit/events.json"))
        .arg(&lazy_file)
        .args(["handler", "handler"])
        .args(roots)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "handler failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn lazy_candidates_of_the_reference_unit_are_safe() {
    let env = support::reference_env();
    let unit = support::repo().join("fixtures/reference-unit");
    let a = support::analyze(&unit, vec![env.clone()]);
    let usage = classify(&a, None);
    let (lazy_bytes, top) = lazy_summary(&a, &usage, 10);
    let cold_bytes: u64 = a.bytes_by_reach()[&caios_pack::graph::Reach::Cold]
        .values()
        .sum();
    println!("lazy candidates: {lazy_bytes} bytes of a {cold_bytes}-byte cold set");
    for (m, bytes) in &top {
        println!(
            "  {bytes:>9}  {}  ({})",
            a.inventory.modules[*m].name,
            usage.of(*m).reason
        );
    }
    let lazy: Vec<String> = (0..a.inventory.modules.len())
        .filter(|&m| usage.of(m).usage == Usage::Lazy)
        .filter(|&m| a.inventory.modules[m].kind != ModuleKind::Extension)
        .map(|m| a.inventory.modules[m].name.clone())
        .collect();
    assert!(!lazy.is_empty(), "the reference unit has lazy candidates");
    let src = unit.join("src");
    let plain = run_with_lazy(&[], &[&src, &env]);
    let with_lazy = run_with_lazy(&lazy, &[&src, &env]);
    assert_eq!(
        plain["outputs"],
        with_lazy["outputs"],
        "same outputs with {} lazy modules",
        lazy.len()
    );
    let unexecuted = with_lazy["lazy_unexecuted_after_init"]
        .as_array()
        .unwrap()
        .len();
    println!(
        "{} modules wrapped with LazyLoader; {unexecuted} of them were still unexecuted after init",
        lazy.len()
    );
}

/// Table of the static rules on a unit written by the test.
#[test]
fn static_usage_rules() {
    let dir = tempfile::tempdir().unwrap();
    let write = |rel: &str, text: &str| support::write_file(dir.path(), rel, text);
    write(
        "caios-pack.yaml",
        "handler: handler.handler\nsite_packages: env\n",
    );
    write(
        "handler.py",
        "import used, plainlazy, selfreplace, codecreg, reexport, infunction\nX = used.VALUE\n\ndef handler(e, c):\n    import deferredmod\n    return plainlazy.f() + infunction.g()\n",
    );
    write("env/used.py", "VALUE = 1\n");
    write("env/plainlazy.py", "def f():\n    return 2\n");
    write(
        "env/selfreplace.py",
        "import sys\nsys.modules[__name__] = object()\n",
    );
    write(
        "env/codecreg.py",
        "import codecs\ncodecs.register(lambda name: None)\n",
    );
    write(
        "env/reexport/__init__.py",
        "from .inner import thing\n__all__ = ['thing']\n",
    );
    write("env/reexport/inner.py", "thing = 1\n");
    write("env/infunction.py", "def g():\n    return 3\n");
    write("env/deferredmod.py", "Y = 1\n");
    write("env/orphan.py", "Z = 1\n");
    let a = support::analyze(dir.path(), vec![]);
    let usage = classify(&a, None);
    let cases = [
        ("used", Usage::Hot, "`used` is used at module level"),
        ("plainlazy", Usage::Lazy, "only bound or re-exported"),
        ("infunction", Usage::Lazy, "only bound or re-exported"),
        (
            "selfreplace",
            Usage::Hot,
            "replaces its own sys.modules entry",
        ),
        (
            "codecreg",
            Usage::Hot,
            "side effect at import: codecs.register",
        ),
        ("reexport", Usage::Lazy, "only bound or re-exported"),
        ("reexport.inner", Usage::Lazy, "only by lazy modules"),
        ("deferredmod", Usage::Deferred, "inside functions"),
        ("orphan", Usage::Unreachable, "no import chain"),
        ("handler", Usage::Hot, "the handler module"),
    ];
    for (name, expected, reason) in cases {
        let m = a.inventory.module(name).unwrap_or_else(|| panic!("{name}"));
        let got = usage.of(m);
        assert_eq!(got.usage, expected, "{name}: {}", got.reason);
        assert!(
            got.reason.contains(reason),
            "{name}: {:?} lacks {reason:?}",
            got.reason
        );
    }
}
