//! `caios-pack package` end to end on a small unit, without S3: the function
//! runs from the unzipped deployment package with its EFS tier reached through
//! the catalogue, gives the same outputs as the unpackaged handler, compiles
//! nothing at import, and the artifacts are byte-identical when rebuilt.
//!
//! Where a plan uses EFS, the function reads its EFS tier through
//! examples/efs_sim.rs with the latency and throughput the plan was solved
//! with (plan.json's `model.tiers.efs`), not at local-disk speed.

mod support;

use std::ffi::OsStr;
use std::path::Path;
use std::process::Output;
use support::efs_sim::EfsMount;
use support::{caios_ok, s3_e2e, support_script, unzipped_package};

/// support's hot/cold unit with every group off the package pinned to EFS
/// (this test needs no S3 server).
fn unit() -> tempfile::TempDir {
    support::units::hot_cold(
        "limits:\n  local_bytes: 1000000\n\
         pins:\n  - {module: coldpkg, tier: efs}\n  - {module: neverpkg, tier: efs}\n",
    )
}

/// `caios-pack package UNIT FLAGS… --out DIST`, which must succeed.
fn package_with(unit: &Path, dist: &Path, flags: &[&OsStr]) -> Output {
    let mut args: Vec<&OsStr> = vec![OsStr::new("package"), unit.as_os_str()];
    args.extend_from_slice(flags);
    args.extend([OsStr::new("--out"), dist.as_os_str()]);
    caios_ok(args)
}

fn package(unit: &Path, out: &Path) {
    package_with(unit, out, &flags(&["--max-latency", "10ms"]));
}

fn flags<'a>(words: &'a [&'a str]) -> Vec<&'a OsStr> {
    words.iter().map(OsStr::new).collect()
}

/// Writes `files` (path relative to `root`, content) under `root`.
fn write_files(root: &Path, files: &[(&str, &[u8])]) {
    for (rel, bytes) in files {
        support::write_file(root, rel, bytes);
    }
}

/// Runs the handler on two events through support's Lambda driver, packaged
/// (`caios_entry`) or plain; returns `{"outputs": […], "compiled": […]}`.
fn run(mode: &str, paths: &[&Path], efs_root: Option<&Path>) -> serde_json::Value {
    let handler = (mode == "plain").then_some("handler.handler");
    let events = serde_json::json!([{"x": 1}, {"x": 2}]);
    let mut command = support::lambda::driver(handler, &events, paths);
    command.env("CAIOS_EMF", "0");
    if let Some(efs) = efs_root {
        command.env("CAIOS_EFS_ROOT", efs);
    }
    let outcome = support::lambda::outcome(&command.output().unwrap());
    assert!(outcome.errors.is_empty(), "{mode}: {:?}", outcome.errors);
    serde_json::json!({"outputs": outcome.results, "compiled": outcome.compiled})
}

#[test]
fn packaged_function_gives_the_same_outputs() {
    let unit = unit();
    // A tier figure of caios-pack.yaml over the defaults, as plan.json says.
    let yaml = unit.path().join("caios-pack.yaml");
    let text = std::fs::read_to_string(&yaml).unwrap();
    std::fs::write(&yaml, text + "tiers:\n  efs: {throughput_mb_s: 1000}\n").unwrap();
    let dist = tempfile::tempdir().unwrap();
    package(unit.path(), dist.path());
    let plan: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dist.path().join("plan.json")).unwrap()).unwrap();
    let efs_model = &plan["model"]["tiers"]["efs"];
    assert_eq!(
        (&efs_model["first_byte_ms"], &efs_model["throughput_mb_s"]),
        (
            &serde_json::json!(caios_pack::config::Tiers::default().efs.first_byte_ms),
            &serde_json::json!(1000.0)
        ),
        "{}",
        plan["model"]
    );
    let tier = |name: &str| {
        plan["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["name"] == name)
            .unwrap()["tier"]
            .clone()
    };
    assert_eq!(tier("hotpkg"), "efs", "{plan}");
    assert_eq!(tier("(handler)"), "local");
    let task = unzipped_package(dist.path());
    // Populate a stand-in EFS mount with efs-sync, twice (the second run
    // finds everything in place).
    let mount = tempfile::tempdir().unwrap();
    let sync = |expect: &str| {
        let out = support::caios([
            OsStr::new("efs-sync"),
            dist.path().as_os_str(),
            OsStr::new("--root"),
            mount.path().as_os_str(),
        ]);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains(expect), "{text}");
    };
    sync("copied 9 files");
    sync("copied 0 files (0 B), 9 already present");
    let efs = std::fs::read_dir(mount.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let sim = EfsMount::for_plan(&efs, dist.path());
    let packaged = run("packaged", &[task.path()], Some(sim.path()));
    let sim_path = sim.path().to_str().unwrap().to_string();
    let efs_ops = sim.stop();
    assert!(
        efs_ops["open"].as_u64().unwrap() > 0
            && efs_ops["latency_ms"] == efs_model["first_byte_ms"],
        "the EFS tier was not read through efs_sim: {efs_ops}"
    );
    let plain = run(
        "plain",
        &[&unit.path().join("src"), &unit.path().join("env")],
        None,
    );
    assert_eq!(packaged["outputs"], plain["outputs"]);
    assert_eq!(packaged["outputs"][0]["cold_file"], true);
    // Unchecked-hash pycs on every tier: nothing under the task root or the
    // EFS mount is compiled at import.
    let compiled: Vec<&str> = packaged["compiled"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p.as_str())
        .collect();
    assert!(
        compiled
            .iter()
            .all(|p| !p.starts_with(task.path().to_str().unwrap())
                && !p.starts_with(mount.path().to_str().unwrap())
                && !p.starts_with(&sim_path)),
        "{compiled:?}"
    );
    assert!(
        packaged["outputs"][0]["cold_file"] == true
            && std::fs::read_dir(efs.join("hotpkg/__pycache__")).is_ok(),
        "the EFS tree has no __pycache__"
    );
    // The manifest names every EFS file with its hash.
    let manifest = std::fs::read_to_string(dist.path().join("efs-manifest.yaml")).unwrap();
    assert!(
        manifest.contains("hotpkg/table.bin") && manifest.contains("sha256: "),
        "{manifest}"
    );
    let policy = std::fs::read_to_string(dist.path().join("iam-policy.json")).unwrap();
    assert!(policy.contains("s3:GetObject"));
}

#[test]
fn artifacts_are_reproducible() {
    let unit = unit();
    let (first, second) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    package(unit.path(), first.path());
    package(unit.path(), second.path());
    for file in [
        "deployment.zip",
        "catalogue.json",
        "efs-manifest.yaml",
        "iam-policy.json",
    ] {
        let a = std::fs::read(first.path().join(file)).unwrap();
        let b = std::fs::read(second.path().join(file)).unwrap();
        assert!(a == b, "{file} differs between two runs");
    }
}

/// With the cold group on S3: the bundles uploaded to a real s3s-fs server on
/// loopback, the packaged function fetches, verifies and imports what it
/// needs during the invocation, and gives the unpackaged outputs.
#[test]
fn packaged_function_fetches_from_s3() {
    let unit = unit();
    // Local room for the handler and hotpkg only; no pins: coldpkg and
    // neverpkg go to S3, the cheapest tier.
    let yaml = "handler: handler.handler\nsource: src\nsite_packages: env\nlimits:\n  local_bytes: 2100000\n";
    std::fs::write(unit.path().join("caios-pack.yaml"), yaml).unwrap();
    let dist = tempfile::tempdir().unwrap();
    package_with(unit.path(), dist.path(), &flags(&["--max-latency", "2s"]));
    let task = unzipped_package(dist.path());
    let (src, env) = (unit.path().join("src"), unit.path().join("env"));
    let result = s3_e2e(
        dist.path(),
        task.path(),
        &src,
        &env,
        None,
        &[("CAIOS_PACK_BIN", support::cli::binary().as_os_str())],
    );
    assert_eq!(result["packaged"], result["plain"], "{result}");
    // `caios-pack upload` put every bundle once; the second run skipped them all.
    let bundles = std::fs::read_dir(dist.path().join("s3")).unwrap().count() as u64;
    let (first, second) = (&result["uploads"][0], &result["uploads"][1]);
    assert_eq!(
        (first["uploaded"].as_u64(), first["skipped"].as_u64()),
        (Some(bundles), Some(0)),
        "{result}"
    );
    assert_eq!(
        (second["uploaded"].as_u64(), second["skipped"].as_u64()),
        (Some(0), Some(bundles)),
        "{result}"
    );
    assert_eq!(
        result["extracted_bundles"].as_array().unwrap().len(),
        1,
        "coldpkg's bundle only: {result}"
    );
    let emf = &result["emf"][0];
    assert_eq!(emf["caios"], "cold-start");
    assert!(
        emf["invocation_modules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m[0] == "coldpkg" && m[1] == "s3"),
        "{emf}"
    );
}

/// The reference unit (~425 MB of dependencies) packages within Lambda's
/// limit and gives the same outputs on its events from the artifacts, with
/// its S3 bundles on a real s3s-fs server.
#[test]
fn reference_unit_packages_and_runs() {
    let env = support::reference_env();
    let unit = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/reference-unit");
    let dist = tempfile::tempdir().unwrap();
    let run = package_with(
        &unit,
        dist.path(),
        &[
            OsStr::new("--site-packages"),
            env.as_os_str(),
            OsStr::new("--max-latency"),
            OsStr::new("3s"),
            OsStr::new("--format"),
            OsStr::new("json"),
        ],
    );
    let summary: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    let unzipped = summary["emitted"]["zip_unzipped_bytes"].as_u64().unwrap();
    println!("reference unit: deployment.zip unzips to {unzipped} bytes; {summary:#}");
    assert!(unzipped <= 262_144_000, "{unzipped}");
    let task = unzipped_package(dist.path());
    let (src, events) = (unit.join("src"), unit.join("events.json"));
    let result = s3_e2e(dist.path(), task.path(), &src, &env, Some(&events), &[]);
    assert_eq!(result["packaged"], result["plain"]);
    assert_eq!(result["packaged"].as_array().unwrap().len(), 3);
}

/// Runs `package --check --format json` with extra flags; returns the exit
/// code, the JSON summary and stderr.
fn check(unit: &Path, extra: &[&str]) -> (Option<i32>, serde_json::Value, String) {
    let out_dir = unit.join("never-written");
    let mut args = vec![OsStr::new("package"), unit.as_os_str()];
    args.extend(flags(&["--check", "--format", "json", "--out"]));
    args.push(out_dir.as_os_str());
    args.extend(flags(extra));
    let run = support::caios(args);
    assert!(!out_dir.exists(), "--check wrote {}", out_dir.display());
    let summary = serde_json::from_slice(&run.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&run.stdout));
    });
    (
        run.status.code(),
        summary,
        String::from_utf8_lossy(&run.stderr).into(),
    )
}

#[test]
fn check_passes_a_unit_that_fits() {
    let unit = unit();
    let (code, summary, stderr) = check(unit.path(), &["--max-latency", "10ms"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(summary["fits"], true);
    let unzipped = summary["unzipped_bytes"].as_u64().unwrap();
    assert!(unzipped > 0 && unzipped < 1_000_000, "{summary}");
    assert_eq!(summary["limit_bytes"], 262_144_000);
    // The same numbers as the package that `package` then writes.
    let dist = tempfile::tempdir().unwrap();
    package(unit.path(), dist.path());
    let plan: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dist.path().join("plan.json")).unwrap()).unwrap();
    assert_eq!(plan["emitted"]["zip_unzipped_bytes"], unzipped);
    assert_eq!(plan["emitted"]["zip_bytes"], summary["zip_bytes"]);
    assert_eq!(plan["plan"]["cold_start_ms"], summary["cold_start_ms"]);
}

#[test]
fn check_fails_a_unit_that_does_not_fit() {
    let unit = unit();
    // A 300 MB model pinned to the package (sparse: costs no disk).
    let model = unit.path().join("src/model.bin");
    std::fs::File::create(&model)
        .unwrap()
        .set_len(300_000_000)
        .unwrap();
    let yaml =
        "handler: handler.handler\nsource: src\nsite_packages: env\nassets: [\"src/*.bin\"]\n\
                pins:\n  - {glob: \"model.bin\", tier: local}\n";
    std::fs::write(unit.path().join("caios-pack.yaml"), yaml).unwrap();
    let (code, summary, stderr) = check(unit.path(), &["--max-latency", "2s"]);
    assert_eq!(code, Some(1), "{summary} {stderr}");
    assert_eq!(summary["fits"], false);
    assert!(
        stderr.lines().count() == 1 && stderr.contains("package"),
        "{stderr}"
    );
}

#[test]
fn check_fails_when_compiled_pycs_overflow_the_package() {
    // The plan counts source bytes; the .pyc files compiled for them come
    // after it. A unit whose env ships no __pycache__ and that only just
    // fits: the pycs push the zip over what layers leave of Lambda's limit.
    let dir = tempfile::tempdir().unwrap();
    let module: String = (0..180_000).map(|i| format!("V{i} = {i}\n")).collect();
    let limit = 262_144_000u64;
    let layers = limit - 2_000_000 - module.len() as u64 - 300_000;
    let yaml = format!(
        "handler: handler.handler\nsource: src\nsite_packages: env\nlimits:\n  layers_bytes: {layers}\n"
    );
    write_files(
        dir.path(),
        &[
            (
                "src/handler.py",
                b"import bigmod\n\ndef handler(event, context):\n    return bigmod.V7\n",
            ),
            ("env/bigmod.py", module.as_bytes()),
            ("caios-pack.yaml", yaml.as_bytes()),
        ],
    );
    let (code, summary, stderr) = check(dir.path(), &["--max-latency", "10s"]);
    assert_eq!(code, Some(1), "{summary} {stderr}");
    assert_eq!(summary["fits"], false, "{summary}");
    let reason = summary["reason"].as_str().unwrap();
    assert!(
        reason.contains("its .pyc files add") && reason.contains("lower limits.local_bytes"),
        "{reason}"
    );
    // What the message says to do works.
    let local = module.len() / 2;
    let yaml = format!("{yaml}  local_bytes: {local}\n");
    std::fs::write(dir.path().join("caios-pack.yaml"), yaml).unwrap();
    let (code, summary, stderr) = check(dir.path(), &["--max-latency", "10s"]);
    assert_eq!(code, Some(0), "{summary} {stderr}");
}

#[test]
fn check_fails_a_budget_no_plan_meets() {
    let unit = unit();
    let (code, summary, stderr) = check(unit.path(), &["--max-latency", "1ms"]);
    assert_eq!(code, Some(1), "{summary} {stderr}");
    assert_eq!(summary["fits"], false);
    assert!(
        summary["min_latency_ms"].as_f64().unwrap() > 1.0,
        "{summary}"
    );
    assert!(stderr.contains("latency budget"), "{stderr}");
}

/// A handler over the reference unit's scorer that also imports, by a name
/// it computes, a module static analysis cannot see: the analysis is wrong
/// about `pandas.core.sparse.api` (unreachable), the function must not be.
const WRONG_ANALYSIS_HANDLER: &str = "import importlib\nimport scorer\n\n\
def handler(event, context):\n    out = scorer.handler(event, context)\n    \
name = \"pandas.core.\" + \"sparse.api\"\n    \
out[\"sparse\"] = importlib.import_module(name).SparseArray.__name__\n    return out\n";

/// numpy + pandas + scikit-learn from PyPI with a 100 MB package limit, so
/// the plan uses S3 and EFS: `package`, `upload` to s3s-fs, `efs-sync` to a
/// stand-in mount, then the unzipped package gives the unpackaged outputs on
/// the reference events; once without statistics and once with an empty
/// statistics file. The module the analysis missed is fetched from S3.
#[test]
fn real_packages_on_every_tier_survive_a_wrong_analysis() {
    let env = support::reference_env();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let unit = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(unit.path().join("src")).unwrap();
    std::fs::copy(
        repo.join("fixtures/reference-unit/src/handler.py"),
        unit.path().join("src/scorer.py"),
    )
    .unwrap();
    std::fs::write(unit.path().join("src/handler.py"), WRONG_ANALYSIS_HANDLER).unwrap();
    let yaml = format!(
        "handler: handler.handler\nsource: src\nsite_packages: {}\nlimits:\n  local_bytes: 100000000\n",
        env.display()
    );
    std::fs::write(unit.path().join("caios-pack.yaml"), yaml).unwrap();
    let why = caios_ok([
        OsStr::new("analyze"),
        unit.path().as_os_str(),
        OsStr::new("--why"),
        OsStr::new("pandas.core.sparse.api"),
    ]);
    let why = String::from_utf8_lossy(&why.stdout);
    assert!(why.contains("usage: unreachable"), "{why}");
    let empty_stats = unit.path().join("empty-stats.log");
    std::fs::write(&empty_stats, "").unwrap();
    for stats in [None, Some(&empty_stats)] {
        let dist = tempfile::tempdir().unwrap();
        let mut options = flags(&["--max-latency", "2s"]);
        if let Some(stats) = stats {
            options.extend([OsStr::new("--stats"), stats.as_os_str()]);
        }
        package_with(unit.path(), dist.path(), &options);
        let catalogue: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dist.path().join("catalogue.json")).unwrap())
                .unwrap();
        let tiers: std::collections::BTreeSet<&str> = catalogue["modules"]
            .as_object()
            .unwrap()
            .values()
            .filter_map(|m| m["tier"].as_str())
            .collect();
        assert_eq!(tiers.len(), 3, "modules on {tiers:?}");
        assert_eq!(catalogue["modules"]["pandas.core.sparse.api"]["tier"], "s3");
        let task = unzipped_package(dist.path());
        let mount = tempfile::tempdir().unwrap();
        caios_ok([
            OsStr::new("efs-sync"),
            dist.path().as_os_str(),
            OsStr::new("--root"),
            mount.path().as_os_str(),
        ]);
        let efs_root = catalogue["efs_root"].as_str().unwrap();
        let synced = mount.path().join(efs_root.rsplit('/').next().unwrap());
        let sim = EfsMount::for_plan(&synced, dist.path());
        let (src, events) = (
            unit.path().join("src"),
            repo.join("fixtures/reference-unit/events.json"),
        );
        let result = s3_e2e(
            dist.path(),
            task.path(),
            &src,
            &env,
            Some(&events),
            &[
                ("CAIOS_PACK_BIN", support::cli::binary().as_os_str()),
                ("CAIOS_E2E_EFS_ROOT", sim.path().as_os_str()),
            ],
        );
        let efs_ops = sim.stop();
        assert!(
            efs_ops["open"].as_u64().unwrap() > 0,
            "the EFS tier was not read through efs_sim: {efs_ops}"
        );
        assert_eq!(result["packaged"], result["plain"]);
        assert_eq!(result["packaged"][0]["sparse"], "SparseArray", "{result}");
        let emf = &result["emf"][0];
        let fetched = |module: &str| {
            emf["invocation_modules"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|m| m[0] == module && m[1] == "s3")
        };
        assert!(
            fetched("pandas.core.sparse.api"),
            "{}",
            emf["invocation_modules"]
        );
        assert!(
            emf["efs_count"].as_u64().unwrap_or(0) > 0,
            "nothing read from EFS: efs_count {}",
            emf["efs_count"]
        );
    }
}

/// S3 faults on a whole package: its one bundle (coldpkg, imported during
/// the invocation) behind the harness's fault-injecting proxy.
#[test]
fn packaged_function_under_s3_faults() {
    let (s3s, pylibs) = (support::s3s_fs(), support::pylibs());
    let unit = tempfile::tempdir().unwrap();
    let weights = vec![2u8; 1_000_000];
    write_files(
        unit.path(),
        &[
            (
                "src/handler.py",
                b"def handler(event, context):\n    import coldpkg\n    return coldpkg.run(event['x'])\n",
            ),
            (
                "env/coldpkg/__init__.py",
                b"import os\nopen(os.environ['CAIOS_TEST_MARKER'], 'w').close()\n\ndef run(x):\n    return x * 2\n",
            ),
            ("env/coldpkg/weights.bin", &weights),
            (
                "caios-pack.yaml",
                b"handler: handler.handler\nsource: src\nsite_packages: env\nlimits:\n  local_bytes: 100000\n",
            ),
        ],
    );
    let dist = tempfile::tempdir().unwrap();
    package_with(unit.path(), dist.path(), &flags(&["--max-latency", "2s"]));
    let task = unzipped_package(dist.path());
    let r = support_script(
        "fault_e2e.py",
        &[
            dist.path().as_os_str(),
            task.path().as_os_str(),
            pylibs.as_os_str(),
            s3s.as_os_str(),
            OsStr::new("coldpkg"),
        ],
        &[],
    );
    let (sha, key) = (
        r["bundle"]["sha"].as_str().unwrap(),
        r["bundle"]["key"].as_str().unwrap(),
    );
    let error = |label: &str| -> String {
        r[label]["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{label}: no error: {}", r[label]))
            .to_string()
    };
    assert_eq!(r["clean"]["result"], 2, "{}", r["clean"]);
    // Two 500s are retried; the third GET succeeds.
    assert_eq!(r["500-twice"]["result"], 2, "{}", r["500-twice"]);
    assert_eq!(r["500-twice"]["gets"], 3);
    // A stall ends within the catalogue's bound (2 s per attempt, 4
    // attempts, backoff; the per-bundle deadline is 8 s) with a clear error.
    let stall = error("stall");
    assert!(
        stall.contains("'coldpkg'") && stall.contains(sha) && stall.contains(key),
        "{stall}"
    );
    assert!(
        r["stall"]["elapsed_s"].as_f64().unwrap() < 15.0,
        "{}",
        r["stall"]
    );
    assert_eq!(r["stall"]["executed"], false);
    // One flipped byte: refused by its hash, nothing from it executed.
    let flipped = error("flipped");
    assert!(flipped.contains("sha256 mismatch"), "{flipped}");
    assert_eq!(r["flipped"]["executed"], false);
    // A missing key names module, bundle and key.
    let missing = error("missing");
    for part in ["'coldpkg'", sha, key, "does not exist"] {
        assert!(missing.contains(part), "{part} not in: {missing}");
    }
    // 64 KiB of /tmp for a 1 MB bundle: refused before downloading.
    let full = error("tmp-full");
    assert!(full.contains("not enough space"), "{full}");
    assert_eq!(r["tmp-full"]["gets"], 0, "{}", r["tmp-full"]);
}

/// fixtures/asset-unit: its model, pinned to S3, reaches the handler through
/// `caios_importer.asset_path`, fetched and verified from a real s3s-fs;
/// the outputs equal the unpackaged run's.
#[test]
fn asset_pinned_to_s3_loads_through_asset_path() {
    let unit = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/asset-unit");
    let dist = tempfile::tempdir().unwrap();
    package_with(&unit, dist.path(), &[]);
    let catalogue: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dist.path().join("catalogue.json")).unwrap())
            .unwrap();
    let model = &catalogue["files"]["models/weights.json"];
    assert_eq!(model["tier"], "s3", "{catalogue}");
    let task = unzipped_package(dist.path());
    assert!(
        !task.path().join("models").exists(),
        "the model is in the zip"
    );
    let src = unit.join("src");
    let result = s3_e2e(dist.path(), task.path(), &src, &src, None, &[]);
    assert_eq!(result["packaged"], result["plain"], "{result}");
    assert_eq!(result["packaged"][0]["model"], "fixture-linear-v1");
    assert_eq!(
        result["extracted_bundles"],
        serde_json::json!([model["bundle"]]),
        "{result}"
    );
}

/// A module finds its data file next to `__file__`: when its package is
/// split by usage (the package hot, the module used only by the handler),
/// the module and its folder's data files must land in the same place.
#[test]
fn a_module_keeps_its_data_files_when_its_package_is_split() {
    let unit = tempfile::tempdir().unwrap();
    let css = b"body{color:red}\n".repeat(40_000);
    // `tool.early` runs at init, `tool.late` only in the handler: `tool` is
    // split by usage. Room for the handler and tool.early, not for late.css.
    write_files(
        unit.path(),
        &[
            (
                "src/handler.py",
                b"from tool import early\nBASE = early.base()\n\ndef handler(event, context):\n    from tool import late\n    return {'css': late.style(), 'x': event['x'] + BASE}\n",
            ),
            ("env/tool/__init__.py", b""),
            ("env/tool/early.py", b"def base():\n    return 40\n"),
            (
                "env/tool/late.py",
                b"import pathlib\n\ndef style():\n    return (pathlib.Path(__file__).parent / 'late.css').read_text()[:12]\n",
            ),
            ("env/tool/late.css", &css),
            (
                "caios-pack.yaml",
                b"handler: handler.handler\nsource: src\nsite_packages: env\nlimits:\n  local_bytes: 50000\n",
            ),
        ],
    );
    let dist = tempfile::tempdir().unwrap();
    package_with(unit.path(), dist.path(), &flags(&["--max-latency", "5s"]));
    let task = unzipped_package(dist.path());
    let (src, env) = (unit.path().join("src"), unit.path().join("env"));
    let result = s3_e2e(dist.path(), task.path(), &src, &env, None, &[]);
    assert_eq!(result["packaged"], result["plain"], "{result}");
    assert_eq!(result["packaged"][0]["css"], "body{color:r");
}
