//! Lazy bindings end to end: `trace` with the side-effect probe, then
//! `package --stats --verify`, with real Python running the artifacts.
//! A statement whose target init never uses is compiled lazily and verify
//! passes; a handler that can tell the difference makes verify fail, and the
//! package is emitted without the patches, with a warning naming the module.

mod support;

use std::ffi::OsStr;
use std::path::Path;
use std::process::Output;
use support::caios;

/// `helpers` imports `heavylib.engine` at module level and uses it only in
/// a function that init never calls; `noisy` registers an atexit hook (an
/// effect the probe sees), so its import must stay eager. The handler calls
/// into both at init, so they stay loaded there.
fn write_unit(dir: &Path, handler_tail: &str) {
    let handler = format!(
        "import helpers\nimport noisy_user\n\nREADY = (helpers.ready(), noisy_user.ready())\n\n\ndef handler(event, context):\n{handler_tail}"
    );
    write_files(
        dir,
        &[
        ("caios-pack.yaml", "handler: handler.handler\nsource: src\nsite_packages: env\n"),
        ("src/handler.py", handler.as_str()),
        (
            "env/helpers.py",
            "from heavylib.engine import Engine\n\n\ndef compute(x):\n    return Engine().run(x)\n\n\ndef ready():\n    return True\n",
        ),
        ("env/heavylib/__init__.py", ""),
        (
            "env/heavylib/engine.py",
            "import json\n\n\nclass Engine:\n    def run(self, x):\n        return json.dumps({'doubled': 2 * x})\n",
        ),
        (
            "env/noisy_user.py",
            "import noisy\n\n\ndef f():\n    return noisy.X\n\n\ndef ready():\n    return True\n",
        ),
        (
            "env/noisy.py",
            "import atexit\natexit.register(print, '')\nX = 1\n",
        ),
        (
            "events.json",
            r#"{"tests": [{"name": "one", "event": {"x": 1}, "context": {}},
                          {"name": "two", "event": {"x": 2}, "context": {}}]}"#,
        ),
        ],
    );
}

/// Writes each (path, text) under `dir`.
fn write_files(dir: &Path, files: &[(&str, &str)]) {
    for (rel, text) in files {
        support::write_file(dir, rel, text);
    }
}

fn text(out: &Output) -> String {
    format!(
        "--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// trace + package --verify; returns the package output and plan.json's
/// `lazy_bindings`.
fn trace_and_package(unit: &Path, dist: &Path) -> (Output, serde_json::Value) {
    let stats = unit.join("stats.json");
    let events = unit.join("events.json");
    let traced = caios([
        OsStr::new("trace"),
        unit.as_os_str(),
        OsStr::new("--events"),
        events.as_os_str(),
        OsStr::new("--out"),
        stats.as_os_str(),
    ]);
    assert_eq!(traced.status.code(), Some(0), "{}", text(&traced));
    let out = caios([
        OsStr::new("package"),
        unit.as_os_str(),
        OsStr::new("--stats"),
        stats.as_os_str(),
        OsStr::new("--verify"),
        events.as_os_str(),
        OsStr::new("--out"),
        dist.as_os_str(),
    ]);
    let plan: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dist.join("plan.json")).unwrap_or_default())
            .unwrap_or_default();
    (out, plan["lazy_bindings"].clone())
}

/// trace + package --verify into a fresh folder, which must exit 0; returns
/// the folder, the package output and plan.json's `lazy_bindings`.
fn packaged(unit: &Path) -> (tempfile::TempDir, Output, serde_json::Value) {
    let dist = tempfile::tempdir().unwrap();
    let (out, lazy) = trace_and_package(unit, dist.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    (dist, out, lazy)
}

/// The entry of plan.json's `patches` or `refused` for a module's line.
fn entry<'v>(
    list: &'v serde_json::Value,
    module: &str,
    line: u64,
) -> Option<&'v serde_json::Value> {
    list.as_array()
        .into_iter()
        .flatten()
        .find(|e| e["module"] == module && e["line"] == line)
}

fn patched_modules(lazy: &serde_json::Value) -> Vec<(String, u64)> {
    lazy["patches"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            (
                p["module"].as_str().unwrap_or_default().to_string(),
                p["line"].as_u64().unwrap_or_default(),
            )
        })
        .collect()
}

#[test]
fn an_import_init_never_uses_becomes_lazy_and_verifies() {
    let unit = tempfile::tempdir().unwrap();
    write_unit(unit.path(), "    return helpers.compute(event['x'])\n");
    let (_dist, out, lazy) = packaged(unit.path());
    let patched = patched_modules(&lazy);
    assert!(patched.contains(&("helpers".to_string(), 1)), "{lazy:#}");
    assert!(
        lazy["status"]
            .as_str()
            .unwrap_or_default()
            .starts_with("applied"),
        "{lazy:#}"
    );
    // noisy's atexit hook is an effect: the import that loads it stays.
    assert!(!patched.iter().any(|(m, _)| m == "noisy_user"), "{lazy:#}");
    let refusal = lazy["refused"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["module"] == "noisy_user")
        .unwrap_or_else(|| panic!("noisy_user's import is refused with a reason: {lazy:#}"));
    assert!(
        refusal["why"]
            .as_str()
            .unwrap_or_default()
            .contains("noisy"),
        "{refusal}"
    );
    assert!(
        text(&out).contains("lazy bindings: applied"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_patch_verify_rejects_is_never_emitted() {
    let unit = tempfile::tempdir().unwrap();
    // The handler looks at sys.modules: it can tell a deferred import.
    write_unit(
        unit.path(),
        "    import sys\n    return [helpers.compute(event['x']) if event['x'] > 1 else 0, 'heavylib.engine' in sys.modules]\n",
    );
    let (dist, out, lazy) = packaged(unit.path());
    let status = lazy["status"].as_str().unwrap_or_default();
    assert!(status.starts_with("withdrawn"), "{lazy:#}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("verify failed with lazy bindings") && stderr.contains("helpers"),
        "{}",
        text(&out)
    );
    assert_eq!(
        plan_lazy_count(dist.path()),
        0,
        "the emitted package holds no lazy binding"
    );
}

/// An output file of `package`, parsed.
fn read_json(dist: &Path, name: &str) -> serde_json::Value {
    let path = dist.join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn plan_lazy_count(dist: &Path) -> usize {
    let plan = read_json(dist, "plan.json");
    plan["emitted"]["lazy_bindings"]
        .as_array()
        .map_or(usize::MAX, Vec::len)
}

/// sklearn's shape: `stats` (costly, unused at init) is imported by three
/// modules in three forms, and is deferred only when all three are patched:
/// `import mathlib.stats` in a module that reads `mathlib` at init (the
/// package stays bound, `stats` hooks on it), `from mathlib import sparse,
/// stats` where init uses `sparse` (only `stats` becomes lazy), and
/// `from mathlib.stats import mean` under a decorator that the trace saw
/// never call what it decorates. Another module reaches `mathlib.stats`
/// through the package alone (`import mathlib` then `mathlib.stats.mean`),
/// which the hook serves.
fn write_shared_unit(dir: &Path) {
    write_files(
        dir,
        &[
        ("caios-pack.yaml", "handler: handler.handler\nsource: src\nsite_packages: env\n"),
        (
            "src/handler.py",
            "import fixes\nimport scaler\nimport ranking\nimport reader\n\nKIND = scaler.kind()\nREADY = (fixes.version(), reader.ready(), ranking.ready())\n\n\ndef handler(event, context):\n    xs = event['xs']\n    if event.get('stats'):\n        return [fixes.mode(xs), scaler.spread(xs), ranking.rank(xs), reader.mean(xs)]\n    return [KIND, fixes.VERSION, len(xs)]\n",
        ),
        (
            "env/fixes.py",
            "import mathlib\nimport mathlib.stats\n\nVERSION = mathlib.VERSION\n\n\ndef mode(xs):\n    return mathlib.stats.mode(xs)\n\n\ndef version():\n    return VERSION\n",
        ),
        (
            "env/scaler.py",
            "from mathlib import sparse, stats\n\n\ndef kind():\n    return sparse.KIND\n\n\ndef spread(xs):\n    return stats.spread(xs)\n",
        ),
        (
            "env/ranking.py",
            "from mathlib.stats import mean\n\n\ndef validate(f):\n    return f\n\n\n@validate\ndef rank(xs):\n    return mean(xs)\n\n\ndef ready():\n    return True\n",
        ),
        (
            "env/reader.py",
            "import mathlib\n\n\ndef mean(xs):\n    return mathlib.stats.mean(xs)\n\n\ndef ready():\n    return True\n",
        ),
        ("env/mathlib/__init__.py", "VERSION = '2.0'\n"),
        ("env/mathlib/sparse.py", "KIND = 'csr'\n"),
        (
            "env/mathlib/stats/__init__.py",
            "from mathlib.stats._core import mean, mode, spread\n",
        ),
        (
            "env/mathlib/stats/_core.py",
            "def mean(xs):\n    return sum(xs) / len(xs)\n\n\ndef mode(xs):\n    return max(set(xs), key=xs.count)\n\n\ndef spread(xs):\n    return max(xs) - min(xs)\n",
        ),
        (
            "events.json",
            r#"{"tests": [{"name": "plain", "event": {"xs": [1, 2, 2]}, "context": {}},
                          {"name": "stats", "event": {"xs": [1, 2, 2, 5], "stats": true}, "context": {}}]}"#,
        ),
        ],
    );
}

#[test]
fn a_module_several_imports_load_is_deferred_when_all_are_patched() {
    let unit = tempfile::tempdir().unwrap();
    write_shared_unit(unit.path());
    let (dist, _out, lazy) = packaged(unit.path());
    assert!(
        lazy["status"]
            .as_str()
            .unwrap_or_default()
            .starts_with("applied"),
        "{lazy:#}"
    );
    let forms: Vec<(String, String)> = lazy["patches"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            (
                p["module"].as_str().unwrap_or_default().to_string(),
                p["form"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    for expected in [
        ("fixes", "submodules"),
        ("scaler", "names"),
        ("ranking", "whole"),
    ] {
        assert!(
            forms.contains(&(expected.0.to_string(), expected.1.to_string())),
            "{expected:?} missing: {lazy:#}"
        );
    }
    for p in lazy["patches"].as_array().into_iter().flatten() {
        assert_eq!(p["deferred"][0], "mathlib.stats", "{p:#}");
    }
    // Verify passed (status "applied"); run the artifacts once more and look.
    let task = tempfile::tempdir().unwrap();
    support::unzip(&dist.path().join("deployment.zip"), task.path());
    let probe = "import sys, json\nsys.path.insert(0, '.')\nimport caios_entry\nbefore = 'mathlib.stats' in sys.modules\nr = caios_entry.handler({'xs': [1, 2, 2, 5], 'stats': True}, None)\nprint(json.dumps([before, r, type(sys.modules['mathlib']).__name__]))\n";
    let ran = std::process::Command::new("python3")
        .args(["-I", "-c", probe])
        .current_dir(task.path())
        .env("CAIOS_BUNDLE_DIR", dist.path().join("s3"))
        .env("CAIOS_EMF", "0")
        .output()
        .unwrap();
    assert!(ran.status.success(), "{}", text(&ran));
    let seen: serde_json::Value = serde_json::from_slice(
        String::from_utf8_lossy(&ran.stdout)
            .lines()
            .last()
            .unwrap_or_default()
            .as_bytes(),
    )
    .unwrap();
    assert_eq!(
        seen,
        serde_json::json!([false, [2, 4, 2.5, 2.5], "module"]),
        "mathlib.stats stays unloaded through init, then every path reaches it"
    );
}

/// The `charts` unit: `charts.dates` registers a converter in
/// `charts.units.REGISTRY` and `plots` imports it; the handler reads the
/// registry and, with `draw`, calls into `plots`.
fn write_charts_unit(dir: &Path, draw: bool) {
    let handler = format!(
        "import plots\nfrom charts import units\n\n\ndef handler(event, context):\n    return [sorted(units.REGISTRY){}]\n",
        if draw { ", plots.draw(event['x'])" } else { "" }
    );
    write_files(
        dir,
        &[
        (
            "caios-pack.yaml",
            "handler: handler.handler\nsource: src\nsite_packages: env\n",
        ),
        ("src/handler.py", handler.as_str()),
        (
            "env/plots.py",
            "import charts.dates\n\n\ndef draw(x):\n    return charts.dates.fmt(x)\n",
        ),
        ("env/charts/__init__.py", ""),
        ("env/charts/units.py", "REGISTRY = {}\n"),
        (
            "env/charts/dates.py",
            "from charts import units\n\nunits.REGISTRY['date'] = 'converter'\n\n\ndef fmt(x):\n    return str(x)\n",
        ),
        (
            "events.json",
            r#"{"tests": [{"name": "one", "event": {"x": 1}, "context": {}}]}"#,
        ),
        ],
    );
}

/// `charts.dates` registers a converter in `charts.units.REGISTRY` (its own
/// package, as matplotlib.dates does in matplotlib.units) and `plots`
/// imports it without using it at init. The handler reads the registry:
/// deferring `charts.dates` would leave it without the converter while
/// `charts.units` stays loaded, so the import is refused before verify
/// (which would reject it and withdraw every patch of the unit with it).
#[test]
fn a_registration_into_its_own_package_keeps_the_import_eager() {
    let unit = tempfile::tempdir().unwrap();
    write_charts_unit(unit.path(), true);
    let (_dist, _out, lazy) = packaged(unit.path());
    let status = lazy["status"].as_str().unwrap_or_default();
    assert!(!status.starts_with("withdrawn"), "{lazy:#}");
    assert!(
        !patched_modules(&lazy).contains(&("plots".to_string(), 1)),
        "{lazy:#}"
    );
    let refusal = entry(&lazy["refused"], "plots", 1)
        .unwrap_or_else(|| panic!("`import charts.dates` is refused: {lazy:#}"));
    assert!(
        refusal["why"]
            .as_str()
            .unwrap_or_default()
            .contains("changes charts.units"),
        "{refusal}"
    );
    // The registration is charts.dates' doing, not the handler's, which
    // imported it (it used to be charged there and block every patch of it).
    assert!(
        !lazy["refused"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|r| r["module"] == "handler"
                && r["why"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("itself has effects")),
        "{lazy:#}"
    );
}

/// `engine` loads `runtime_core` at init from a function it calls at module
/// level (as polars' `_plr` loads its 178 MB runtime): no module-level
/// import explains it, but the trace saw it load there. Patching `engine`'s
/// unrelated `import heavyfmt` must not count `runtime_core` as deferred, or
/// the plan would put it off the package as if init never needed it.
#[test]
fn a_module_loaded_at_init_from_a_function_stays_hot() {
    let unit = tempfile::tempdir().unwrap();
    write_files(
        unit.path(),
        &[
        (
            "caios-pack.yaml",
            "handler: handler.handler\nsource: src\nsite_packages: env\n",
        ),
        (
            "src/handler.py",
            "import engine\n\nV = engine.version()\n\n\ndef handler(event, context):\n    return engine.run(event['x'])\n",
        ),
        (
            "env/engine.py",
            "import heavyfmt\n\n\ndef _load():\n    import runtime_core\n    return runtime_core\n\n\nCORE = _load()\n\n\ndef run(x):\n    y = CORE.twice(x)\n    return heavyfmt.fmt(y) if x < 0 else y\n\n\ndef version():\n    return 1\n",
        ),
        ("env/runtime_core.py", "def twice(x):\n    return 2 * x\n"),
        ("env/heavyfmt.py", "def fmt(x):\n    return str(x)\n"),
        (
            "events.json",
            r#"{"tests": [{"name": "one", "event": {"x": 1}, "context": {}}]}"#,
        ),
        ],
    );
    let (dist, _out, lazy) = packaged(unit.path());
    let patch = entry(&lazy["patches"], "engine", 1)
        .unwrap_or_else(|| panic!("`import heavyfmt` is patched: {lazy:#}"));
    assert_eq!(
        patch["deferred"],
        serde_json::json!(["heavyfmt"]),
        "{lazy:#}"
    );
    let plan = read_json(dist.path(), "plan.json");
    let usage_of = |group: &str| {
        plan["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|g| g["name"] == group)
            .map(|g| (g["usage"].clone(), g["init_probability"].clone()))
            .unwrap_or_else(|| panic!("no group {group}: {:#}", plan["groups"]))
    };
    assert_eq!(usage_of("runtime_core"), ("hot".into(), 1.0.into()));
    assert_eq!(usage_of("heavyfmt"), ("deferred".into(), 0.0.into()));
}

/// The same registration when init never calls into `plots`: the module
/// LazyLoader would load on first use must not be `charts.dates` either,
/// since `charts.units` is loaded without it.
#[test]
fn a_registration_into_its_own_package_is_never_lazy() {
    let unit = tempfile::tempdir().unwrap();
    write_charts_unit(unit.path(), false);
    let (dist, _out, _) = packaged(unit.path());
    let catalogue = read_json(dist.path(), "catalogue.json");
    assert_ne!(
        catalogue["modules"]["charts.dates"]["lazy"],
        serde_json::json!(true),
        "{:#}",
        catalogue["modules"]
    );
}

/// `kit/__init__.py` re-exports `Fast` and `Slow` and reads neither. The
/// handler reads `Fast` at init (`from kit import Fast`) and `kit.Slow`
/// only in its function.
fn write_kit_unit(dir: &Path) {
    write_files(
        dir,
        &[
        ("caios-pack.yaml", "handler: handler.handler\nsource: src\nsite_packages: env\n"),
        (
            "src/handler.py",
            "import kit\nfrom kit import Fast\n\nX = Fast().go()\n\n\ndef handler(event, context):\n    return {'slow': kit.Slow().go(event['x']), 'fast': X}\n",
        ),
        ("env/kit/__init__.py", "from .fast import Fast as Fast\nfrom .slow import Slow as Slow\n"),
        ("env/kit/fast.py", "class Fast:\n    def go(self):\n        return 'fast'\n"),
        (
            "env/kit/slow.py",
            "import json\n\n\nclass Slow:\n    def go(self, x):\n        return json.dumps({'x': x})\n",
        ),
        (
            "events.json",
            r#"{"tests": [{"name": "one", "event": {"x": 1}, "context": {}}]}"#,
        ),
        ],
    );
}

#[test]
fn a_re_export_nobody_reads_at_init_becomes_lazy() {
    let unit = tempfile::tempdir().unwrap();
    write_kit_unit(unit.path());
    let (dist, _out, lazy) = packaged(unit.path());
    assert!(
        lazy["status"]
            .as_str()
            .unwrap_or_default()
            .starts_with("applied"),
        "{lazy:#}"
    );
    let slow = entry(&lazy["patches"], "kit", 2)
        .unwrap_or_else(|| panic!("kit's re-export of Slow is lazy: {lazy:#}"));
    assert_eq!(slow["deferred"], serde_json::json!(["kit.slow"]), "{slow}");
    // The handler reads kit.Fast at init: that re-export stays eager.
    let fast = entry(&lazy["refused"], "kit", 1)
        .unwrap_or_else(|| panic!("kit's re-export of Fast is refused: {lazy:#}"));
    assert!(
        fast["why"]
            .as_str()
            .unwrap_or_default()
            .contains("`Fast` is read at init by handler (line 2)"),
        "{fast}"
    );
    let catalogue = read_json(dist.path(), "catalogue.json");
    assert!(
        catalogue.to_string().contains("kit.slow"),
        "the catalogue knows kit.slow"
    );
}

/// The handler imports `engine` and calls it only from its function.
/// `engine` runs a function of its own while it imports (loading its
/// runtime): that is part of its import, not a use at init, so the whole
/// import waits for the first invocation, the runtime with it.
#[test]
fn an_import_only_invocations_use_waits_for_them() {
    let unit = tempfile::tempdir().unwrap();
    write_files(
        unit.path(),
        &[
        ("caios-pack.yaml", "handler: handler.handler\nsource: src\nsite_packages: env\n"),
        (
            "src/handler.py",
            "import engine\n\n\ndef handler(event, context):\n    return engine.run(event['x'])\n",
        ),
        (
            "env/engine.py",
            "def _load():\n    import runtime_core\n    return runtime_core\n\n\nCORE = _load()\n\n\ndef run(x):\n    return CORE.twice(x)\n",
        ),
        ("env/runtime_core.py", "def twice(x):\n    return 2 * x\n"),
        (
            "events.json",
            r#"{"tests": [{"name": "one", "event": {"x": 1}, "context": {}}]}"#,
        ),
        ],
    );
    let (dist, _out, lazy) = packaged(unit.path());
    assert!(
        lazy["status"]
            .as_str()
            .unwrap_or_default()
            .starts_with("applied"),
        "{lazy:#}"
    );
    assert_eq!(patched_modules(&lazy), vec![("handler".to_string(), 1)]);
    let plan = read_json(dist.path(), "plan.json");
    for group in ["engine", "runtime_core"] {
        let g = plan["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|g| g["name"] == group)
            .unwrap_or_else(|| panic!("no group {group}"));
        assert_eq!(g["usage"], "deferred", "{g}");
    }
}

/// The handler registers an exit function at import (global state that the
/// probe charges exactly and no import depends on: its imports may still
/// be patched); a package
/// whose import sets a warning filter stays eager while the submodule taken
/// from it waits; a chain to a submodule in a function of another module
/// keeps that submodule's import eager, unless the package's `__getattr__`
/// imports it on that read.
#[test]
fn effects_of_the_importer_and_of_a_package_keep_only_what_they_must() {
    let unit = tempfile::tempdir().unwrap();
    write_files(
        unit.path(),
        &[
            ("caios-pack.yaml", "handler: handler.handler\nsource: src\nsite_packages: env\n"),
            (
                "src/handler.py",
                "import atexit\n\natexit.register(lambda: None)\n\nfrom stats_kit import tests\nimport lazy_pkg.deep\nimport plain_pkg.deep\nimport chain_reader\n\n\ndef handler(event, context):\n    return [tests.halve(event['x']), chain_reader.read(), lazy_pkg.deep.VALUE, plain_pkg.deep.VALUE]\n",
            ),
            (
                "env/stats_kit/__init__.py",
                "import warnings\n\nwarnings.filterwarnings('ignore', message='legacy layout')\n",
            ),
            ("env/stats_kit/tests.py", "def halve(x):\n    return x / 2\n"),
            (
                "env/lazy_pkg/__init__.py",
                "import importlib\n\n\ndef __getattr__(name):\n    if name == 'deep':\n        return importlib.import_module('lazy_pkg.deep')\n    raise AttributeError(name)\n",
            ),
            ("env/lazy_pkg/deep.py", "VALUE = 7\n"),
            ("env/plain_pkg/__init__.py", ""),
            ("env/plain_pkg/deep.py", "VALUE = 8\n"),
            (
                "env/chain_reader.py",
                "import lazy_pkg\nimport plain_pkg\n\n\ndef read():\n    return lazy_pkg.deep.VALUE + plain_pkg.deep.VALUE\n",
            ),
            (
                "events.json",
                r#"{"tests": [{"name": "one", "event": {"x": 4}, "context": {}}]}"#,
            ),
        ],
    );
    let (_dist, _out, lazy) = packaged(unit.path());
    let status = lazy["status"].as_str().unwrap_or_default();
    assert!(status.starts_with("applied"), "{lazy:#}");
    let tests = entry(&lazy["patches"], "handler", 5).unwrap_or_else(|| panic!("{lazy:#}"));
    assert_eq!(tests["form"], "names", "{tests}");
    assert_eq!(tests["deferred"], serde_json::json!(["stats_kit.tests"]));
    let deep = entry(&lazy["patches"], "handler", 6).unwrap_or_else(|| panic!("{lazy:#}"));
    assert_eq!(deep["deferred"], serde_json::json!(["lazy_pkg.deep"]));
    let plain = entry(&lazy["refused"], "handler", 7).unwrap_or_else(|| panic!("{lazy:#}"));
    let why = plain["why"].as_str().unwrap_or_default();
    assert!(
        why.contains("chain_reader") && why.contains("attribute chain"),
        "{why}"
    );
}

/// A registration the probe cannot see (a list in a dict an object of
/// another module holds) makes the handler's `import plugin` look
/// deferrable (plugin's
/// import cycle keeps its body eager as a lazy module); verify's traceback
/// names the handler, whose patches are withdrawn alone, and the package
/// ships with the others (helpers' import of heavylib).
#[test]
fn a_patch_verify_rejects_is_withdrawn_alone_when_named() {
    let unit = tempfile::tempdir().unwrap();
    write_files(
        unit.path(),
        &[
            ("caios-pack.yaml", "handler: handler.handler\nsource: src\nsite_packages: env\n"),
            (
                "src/handler.py",
                "import registry\nimport plugin\nimport helpers\n\nFIRST = registry.REG.tables['main'][0]\nREADY = helpers.ready()\n\n\ndef handler(event, context):\n    return [FIRST, helpers.compute(event['x'])]\n",
            ),
            (
                "env/registry.py",
                "class _Registry:\n    def __init__(self):\n        self.tables = {'main': []}\n\n\nREG = _Registry()\n",
            ),
            (
                "env/plugin.py",
                "import registry\nimport plugin_helper\n\nregistry.REG.tables['main'].append('plugin')\n",
            ),
            ("env/plugin_helper.py", "import plugin\n\n\ndef helper():\n    return plugin\n"),
            (
                "env/helpers.py",
                "from heavylib.engine import Engine\n\n\ndef compute(x):\n    return Engine().run(x)\n\n\ndef ready():\n    return True\n",
            ),
            ("env/heavylib/__init__.py", ""),
            (
                "env/heavylib/engine.py",
                "class Engine:\n    def run(self, x):\n        return 2 * x\n",
            ),
            (
                "events.json",
                r#"{"tests": [{"name": "one", "event": {"x": 1}, "context": {}}]}"#,
            ),
        ],
    );
    let (dist, out, lazy) = packaged(unit.path());
    let status = lazy["status"].as_str().unwrap_or_default();
    assert!(
        status.starts_with("applied") && status.contains("those of handler withdrawn"),
        "{lazy:#}"
    );
    assert_eq!(
        patched_modules(&lazy),
        vec![("helpers".to_string(), 1), ("plugin".to_string(), 2)]
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("trying again without those of handler"),
        "{}",
        text(&out)
    );
    assert_eq!(plan_lazy_count(dist.path()), 2);
}
