//! Usage rules: without statistics every module init loads is eager; with
//! a trace's side-effect probe, a module is lazy only when deferring its
//! body (and what that body imports) cannot change behaviour.

mod support;

use caios_pack::stats::Stats;
use caios_pack::usage::{classify, Usage};

/// A unit folder (handler `handler.handler`, site-packages `env`) and a
/// writer of its files.
fn unit_dir() -> (tempfile::TempDir, impl Fn(&str, &str)) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let write = move |rel: &str, text: &str| support::write_file(&root, rel, text);
    write(
        "caios-pack.yaml",
        "handler: handler.handler\nsite_packages: env\n",
    );
    (dir, write)
}

/// Table of the static rules on a unit written by the test.
#[test]
fn static_usage_rules() {
    let (dir, write) = unit_dir();
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
    // Static reasons are kept; nothing is lazy without a probe.
    let cases = [
        ("used", Usage::Hot, "`used` is used at module level"),
        ("plainlazy", Usage::Hot, "only bound or re-exported"),
        ("infunction", Usage::Hot, "only bound or re-exported"),
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
        ("reexport", Usage::Hot, "only a trace's side-effect probe"),
        ("deferredmod", Usage::Deferred, "inside functions"),
        ("orphan", Usage::Unreachable, "no import chain"),
        ("handler", Usage::Hot, "the handler module"),
    ];
    check(&a, &usage, &cases);
}

fn check(
    a: &caios_pack::analysis::Analysis,
    usage: &caios_pack::usage::UsageTable,
    cases: &[(&str, Usage, &str)],
) {
    for &(name, expected, reason) in cases {
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

/// A trace row of a module loaded at init, with the probe's fields.
fn row(name: &str, effects: &str, in_cycle: bool) -> String {
    format!(
        r#"{{"name":"{name}","phase":"init","self_us":10,"cumulative_us":10,"functions_ran":false,"effects":{effects},"in_cycle":{in_cycle}}}"#
    )
}

/// With a probed trace: clean modules stay lazy; a module with an effect,
/// one in a cycle, and one that imports either, load eagerly.
#[test]
fn probed_usage_rules() {
    let (dir, write) = unit_dir();
    write(
        "handler.py",
        "import clean, registers, importsregisters, cyca, observedcycle\n\ndef handler(e, c):\n    return clean.f()\n",
    );
    write("env/clean.py", "def f():\n    return 2\n");
    write(
        "env/registers.py",
        "import target\ntarget.REGISTRY['x'] = 1\n",
    );
    write("env/target.py", "REGISTRY = {}\n");
    write("env/importsregisters.py", "import plugin\n");
    write("env/plugin.py", "import target\ntarget.REGISTRY['y'] = 2\n");
    write("env/cyca.py", "import cycb\nA = 1\n");
    write("env/cycb.py", "import cyca\nB = 2\n");
    write("env/observedcycle.py", "X = 1\n");
    let rows = [
        row("handler", "[]", false),
        row("clean", "[]", false),
        row("registers", r#"["sets target.REGISTRY['x']"]"#, false),
        row("target", "[]", false),
        row("importsregisters", "[]", false),
        row("plugin", r#"["sets target.REGISTRY['y']"]"#, false),
        row("cyca", "[]", false),
        row("cycb", "[]", false),
        row("observedcycle", "[]", true),
    ];
    let trace = format!(
        r#"{{"format":"caios-pack-stats","version":1,"source":"trace","probe":1,"events":[{{"name":"e"}}],"modules":[{}]}}"#,
        rows.join(",")
    );
    let stats_path = dir.path().join("trace.json");
    std::fs::write(&stats_path, trace).unwrap();
    let stats = Stats::load(std::slice::from_ref(&stats_path)).unwrap();
    let a = support::analyze(dir.path(), vec![]);
    let usage = classify(&a, Some(&stats));
    let cases = [
        ("clean", Usage::Lazy, "only bound or re-exported"),
        ("registers", Usage::Hot, "effects outside its namespace"),
        ("importsregisters", Usage::Hot, "it imports plugin"),
        ("cyca", Usage::Hot, "import cycle"),
        ("cycb", Usage::Hot, "import cycle"),
        ("observedcycle", Usage::Hot, "import cycle at init"),
    ];
    check(&a, &usage, &cases);
    // The same trace without the probe marker clears nothing.
    let unprobed = std::fs::read_to_string(&stats_path)
        .unwrap()
        .replace(r#""probe":1,"#, "");
    std::fs::write(&stats_path, unprobed).unwrap();
    let stats = Stats::load(&[stats_path]).unwrap();
    let usage = classify(&a, Some(&stats));
    check(&a, &usage, &[("clean", Usage::Hot, "no side-effect probe")]);
}

/// Init time outside the unit goes to the unit module that paid it: a
/// standard library module's self time to the nearest unit module among its
/// first importers, weighted by how often init loaded it; a module with no
/// unit importer (a start-up module, an import in a thread) to nobody.
#[test]
fn time_outside_the_unit_is_charged_to_who_pays_it() {
    let (dir, write) = unit_dir();
    write(
        "handler.py",
        "import json\nimport mathy\n\ndef handler(e, c):\n    return mathy.f()\n",
    );
    write(
        "env/mathy/__init__.py",
        "from mathy import core\n\ndef f():\n    return core.g()\n",
    );
    write(
        "env/mathy/core.py",
        "import decimal\n\ndef g():\n    return 1\n",
    );
    let row = |name: &str, parent: &str, self_us: u64| {
        format!(
            r#"{{"name":"{name}","phase":"init","self_us":{self_us},"cumulative_us":{self_us},"parent":{parent}}}"#
        )
    };
    let trace = |rows: &[String]| {
        format!(
            r#"{{"format":"caios-pack-stats","version":1,"source":"trace","events":[{{"name":"e"}}],"init_ms":2.5,"modules":[{}]}}"#,
            rows.join(",")
        )
    };
    let common = [
        row("json.decoder", r#""json""#, 300),
        row("json", r#""handler""#, 200),
        row("numbers", r#""decimal""#, 50),
        row("_decimal", r#""decimal""#, 1000),
        row("decimal", r#""mathy.core""#, 20),
        row("mathy.core", r#""mathy""#, 400),
        row("mathy", r#""handler""#, 100),
        row("_orphan", "null", 7),
        row("handler", "null", 30),
    ];
    // The second trace also loads `csv` under mathy: once in two cold starts.
    let mut second = common.to_vec();
    second.push(row("csv", r#""mathy""#, 800));
    let paths: Vec<std::path::PathBuf> = [trace(&common), trace(&second)]
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let path = dir.path().join(format!("trace-{i}.json"));
            std::fs::write(&path, text).unwrap();
            path
        })
        .collect();
    let stats = Stats::load(&paths).unwrap();
    let a = support::analyze(dir.path(), vec![]);
    let usage = classify(&a, Some(&stats));
    let outside = |name: &str| usage.of(a.inventory.module(name).unwrap()).outside_us;
    // The histogram's medians are within 4.4 % of the value.
    let near = |got: u64, want: u64| got.abs_diff(want) * 100 <= want * 5;
    let (handler, core, mathy) = (outside("handler"), outside("mathy.core"), outside("mathy"));
    assert!(near(core, 1070), "mathy.core: {core}");
    assert!(near(mathy, 400), "mathy: {mathy}");
    assert!(near(handler, 500), "handler: {handler}");
}

/// A standard library module two unit modules import at init leaves init
/// only when both do: its time (and that of what loaded under it) stays
/// with the handler instead of the first importer, so deferring that one
/// does not promise it.
#[test]
fn time_outside_the_unit_two_modules_import_stays_with_the_handler() {
    let (dir, write) = unit_dir();
    write(
        "handler.py",
        "import alpha\nimport beta\n\ndef handler(e, c):\n    return alpha.f() + beta.g()\n",
    );
    write(
        "env/alpha.py",
        "import decimal\nimport csv\n\ndef f():\n    return 1\n",
    );
    write("env/beta.py", "import decimal\n\ndef g():\n    return 2\n");
    let rows = [
        (r#""_decimal""#, r#""decimal""#, 1000),
        (r#""decimal""#, r#""alpha""#, 20),
        (r#""csv""#, r#""alpha""#, 300),
        (r#""alpha""#, r#""handler""#, 100),
        (r#""beta""#, r#""handler""#, 100),
        (r#""handler""#, "null", 30),
    ]
    .map(|(name, parent, us)| {
        format!(
            r#"{{"name":{name},"phase":"init","self_us":{us},"cumulative_us":{us},"parent":{parent}}}"#
        )
    });
    let path = dir.path().join("trace.json");
    std::fs::write(
        &path,
        format!(
            r#"{{"format":"caios-pack-stats","version":1,"source":"trace","events":[{{"name":"e"}}],"init_ms":2,"modules":[{}]}}"#,
            rows.join(",")
        ),
    )
    .unwrap();
    let stats = Stats::load(&[path]).unwrap();
    let a = support::analyze(dir.path(), vec![]);
    let usage = classify(&a, Some(&stats));
    let outside = |name: &str| usage.of(a.inventory.module(name).unwrap()).outside_us;
    let near = |got: u64, want: u64| got.abs_diff(want) * 100 <= want * 5;
    // csv is alpha's alone; decimal and _decimal (loaded under it) are shared.
    assert!(near(outside("alpha"), 300), "alpha: {}", outside("alpha"));
    assert!(
        near(outside("handler"), 1020),
        "handler: {}",
        outside("handler")
    );
    assert_eq!(outside("beta"), 0);
}
