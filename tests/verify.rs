//! `caios-pack verify` and `package --verify` end to end, with real Python on
//! real packages: a unit split across the three tiers (its S3 bundle read
//! through the importer's local bundle source, no S3 server, no boto3)
//! verifies; the same artifacts broken on EFS or in S3 do not, and the
//! message names the module; bad input exits 2; warm mode really runs all
//! events in one process.

mod support;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Output;
use support::caios;

/// hotpkg stays local, coldpkg is pinned to EFS and s3pkg to S3; the
/// handler counts its invocations in a module global.
const HANDLER: &str = r#"import hotpkg
import s3pkg

COUNT = 0
print("init of handler")


def handler(event, context):
    global COUNT
    COUNT += 1
    import coldpkg
    if event.get("fail"):
        raise ValueError("refused: %s" % event["fail"])
    print("event", sorted(event))
    return {"count": COUNT, "doubled": coldpkg.double(event.get("x", 0)),
            "s3": s3pkg.VALUE, "hot": hotpkg.X, "request": context.aws_request_id}
"#;

fn write_unit(dir: &Path, handler: &str) {
    let yaml = "handler: handler.handler\nsource: src\nsite_packages: env\nlimits:\n  local_bytes: 1000000\n\
                pins:\n  - {module: coldpkg, tier: efs}\n  - {module: s3pkg, tier: s3}\n";
    for (rel, text) in [
        ("caios-pack.yaml", yaml),
        ("src/handler.py", handler),
        ("env/hotpkg/__init__.py", "X = 'hot'\n"),
        (
            "env/coldpkg/__init__.py",
            "def double(x):\n    return 2 * x\n",
        ),
        (
            "env/s3pkg/__init__.py",
            "from s3pkg.sub import data\nVALUE = data.VALUE\n",
        ),
        ("env/s3pkg/sub/__init__.py", ""),
        ("env/s3pkg/sub/data.py", "VALUE = 'from the bundle'\n"),
    ] {
        support::write_file(dir, rel, text);
    }
}

fn unit() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_unit(dir.path(), HANDLER);
    dir
}

fn write_events(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("events.json");
    std::fs::write(&path, text).unwrap();
    path
}

const EVENTS: &str = r#"{"tests": [
  {"name": "first", "event": {"x": 1}, "context": {}},
  {"name": "second", "event": {"x": 2}, "context": {}}
]}"#;

fn text(out: &Output) -> String {
    format!(
        "--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `caios-pack package UNIT --out DIST`, which must succeed.
fn package(unit: &Path, dist: &Path) {
    let out = caios([
        OsStr::new("package"),
        unit.as_os_str(),
        OsStr::new("--out"),
        dist.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

/// A packaged copy of `unit()` in a fresh folder: (unit, dist holder).
fn packaged() -> (tempfile::TempDir, tempfile::TempDir) {
    let unit = unit();
    let dist = tempfile::tempdir().unwrap();
    package(unit.path(), dist.path());
    (unit, dist)
}

fn verify(unit: &Path, dist: &Path, events: &Path, extra: &[&str]) -> Output {
    let mut args: Vec<&OsStr> = vec![
        OsStr::new("verify"),
        unit.as_os_str(),
        OsStr::new("--dist"),
        dist.as_os_str(),
        OsStr::new("--events"),
        events.as_os_str(),
    ];
    args.extend(extra.iter().map(OsStr::new));
    caios(args)
}

fn verify_json(unit: &Path, dist: &Path, events: &Path) -> (Output, serde_json::Value) {
    let out = verify(unit, dist, events, &["--format", "json"]);
    let doc = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(&out)));
    (out, doc)
}

/// The only bundle of a package output.
fn bundle(dist: &Path) -> PathBuf {
    let mut bundles: Vec<PathBuf> = std::fs::read_dir(dist.join("s3"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(bundles.len(), 1, "{bundles:?}");
    bundles.pop().unwrap()
}

/// The EFS tree of a package output (`DIST/efs/<digest>`).
fn efs_tree(dist: &Path) -> PathBuf {
    let trees: Vec<PathBuf> = std::fs::read_dir(dist.join("efs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(trees.len(), 1, "{trees:?}");
    trees[0].clone()
}

#[test]
fn a_unit_split_across_the_tiers_verifies() {
    let (unit, dist) = packaged();
    let events = write_events(unit.path(), EVENTS);
    let (out, doc) = verify_json(unit.path(), dist.path(), &events);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(doc["identical"], true);
    let results = doc["results"].as_array().unwrap();
    assert_eq!(results.len(), 4, "2 events x cold and warm");
    // The packaged run took each package from its own tier, and nothing
    // from the unit's folders.
    let unit_dir = std::fs::canonicalize(unit.path()).unwrap();
    let mut tiers = std::collections::BTreeMap::new();
    for result in results {
        // Each process's first event carries its init's modules too.
        for m in result["got"]["modules"].as_array().into_iter().flatten() {
            let file = m["file"].as_str().unwrap_or("");
            assert!(
                !Path::new(file).starts_with(&unit_dir)
                    && !file.starts_with(unit.path().to_str().unwrap()),
                "the packaged run loaded {file} from the unit"
            );
            tiers.insert(m["name"].as_str().unwrap().to_string(), m["tier"].clone());
        }
        // The handler printed at init and per event; the cold-start line
        // of the importer is not part of the output.
        let stdout = result["got"]["stdout"].as_str().unwrap();
        assert!(stdout.contains("event ['x']"), "{stdout}");
        assert!(!stdout.contains("cold-start"), "{stdout}");
    }
    assert_eq!(tiers["hotpkg"], "local", "{tiers:?}");
    assert_eq!(tiers["coldpkg"], "efs", "{tiers:?}");
    assert_eq!(tiers["s3pkg.sub.data"], "s3", "{tiers:?}");
    // The text form: one line per event and mode, then the summary.
    let out = verify(unit.path(), dist.path(), &events, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.matches("identical  returned").count(), 4, "{stdout}");
    assert!(stdout.contains("\nidentical: 2 event(s)"), "{stdout}");
}

#[test]
fn warm_mode_runs_every_event_in_one_process() {
    let (unit, dist) = packaged();
    let events = write_events(unit.path(), EVENTS);
    let (out, doc) = verify_json(unit.path(), dist.path(), &events);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let counts = |mode: &str, run: &str| -> Vec<i64> {
        doc["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["mode"] == mode)
            .map(|r| {
                let json = r[run]["outcome"]["return"]["json"].as_str().unwrap();
                serde_json::from_str::<serde_json::Value>(json).unwrap()["count"]
                    .as_i64()
                    .unwrap()
            })
            .collect()
    };
    for run in ["expected", "got"] {
        assert_eq!(counts("cold", run), [1, 1], "{run}: {doc:#}");
        assert_eq!(counts("warm", run), [1, 2], "{run}: {doc:#}");
    }
}

#[test]
fn the_same_error_in_both_runs_is_identical() {
    let (unit, dist) = packaged();
    let events = write_events(unit.path(), r#"[{"x": 1}, {"fail": "always"}, {"x": 3}]"#);
    let (out, doc) = verify_json(unit.path(), dist.path(), &events);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let failed = doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["event"] == "event-1")
        .unwrap();
    assert_eq!(
        failed["got"]["outcome"],
        serde_json::json!({"raised": {"type": "ValueError", "message": "refused: always"}})
    );
    assert_eq!(failed["expected"]["outcome"], failed["got"]["outcome"]);
}

#[test]
fn a_module_missing_from_efs_is_named() {
    let (unit, dist) = packaged();
    let events = write_events(unit.path(), EVENTS);
    // The module's source and its compiled .pyc.
    std::fs::remove_dir_all(efs_tree(dist.path()).join("coldpkg")).unwrap();
    let out = verify(unit.path(), dist.path(), &events, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("event `first` (cold) differs"),
        "{}",
        text(&out)
    );
    assert!(
        stderr.contains("module 'coldpkg' (efs tier) should be at"),
        "{}",
        text(&out)
    );
    // Where the module should have come from: its tier and path.
    assert!(
        stderr.contains("coldpkg  not loaded  [catalogue: efs coldpkg/__init__.py"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_truncated_bundle_is_refused_and_its_module_named() {
    let (unit, dist) = packaged();
    let events = write_events(unit.path(), EVENTS);
    let bundle = bundle(dist.path());
    let bytes = std::fs::read(&bundle).unwrap();
    std::fs::write(&bundle, &bytes[..bytes.len() / 2]).unwrap();
    let out = verify(unit.path(), dist.path(), &events, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot load module 's3pkg'") && stderr.contains("sha256 mismatch"),
        "{}",
        text(&out)
    );
    assert!(
        stderr.contains("[catalogue: s3 s3pkg/__init__.py, bundle s3/"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_dist_of_another_unit_is_bad_input() {
    let (_unit, dist) = packaged();
    let other = tempfile::tempdir().unwrap();
    write_unit(other.path(), &HANDLER.replace("COUNT = 0", "COUNT = 100"));
    let events = write_events(other.path(), EVENTS);
    let out = verify(other.path(), dist.path(), &events, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("was not built from the unit") && stderr.contains("handler.py"),
        "{}",
        text(&out)
    );
    // Another handler name, too.
    let out = verify(
        other.path(),
        dist.path(),
        &events,
        &["--handler", "handler.other"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("its catalogue's handler is `handler.handler`"),
        "{}",
        text(&out)
    );
}

#[test]
fn bad_input_exits_2() {
    let (unit, dist) = packaged();
    let bad = write_events(unit.path(), "{\"tests\": [\n  {\"name\": }");
    let out = verify(unit.path(), dist.path(), &bad, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("events.json:2:12:"),
        "{}",
        text(&out)
    );
    let events = write_events(unit.path(), EVENTS);
    let out = verify(
        unit.path(),
        dist.path(),
        &events,
        &["--python", "/nonexistent/python3"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot run `/nonexistent/python3`"),
        "{}",
        text(&out)
    );
    std::fs::remove_file(bundle(dist.path())).unwrap();
    let out = verify(unit.path(), dist.path(), &events, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("missing: the catalogue lists bundle"),
        "{}",
        text(&out)
    );
}

#[test]
fn package_verify_passes_and_fails_with_the_difference() {
    let unit = unit();
    let events = write_events(unit.path(), EVENTS);
    let dist = tempfile::tempdir().unwrap();
    let out = caios([
        OsStr::new("package"),
        unit.path().as_os_str(),
        OsStr::new("--out"),
        dist.path().as_os_str(),
        OsStr::new("--verify"),
        events.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("\nidentical: 2 event(s)"),
        "{}",
        text(&out)
    );
    // A handler that tells where its file is: the task root is not the
    // unit's source folder, so the packaged function differs.
    let moved = tempfile::tempdir().unwrap();
    write_unit(
        moved.path(),
        "import os\n\ndef handler(event, context):\n    return os.path.basename(os.path.dirname(__file__))\n",
    );
    let events = write_events(moved.path(), EVENTS);
    let out = caios([
        OsStr::new("package"),
        moved.path().as_os_str(),
        OsStr::new("--out"),
        dist.path().as_os_str(),
        OsStr::new("--verify"),
        events.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("event `first` (cold) differs") && stderr.contains("returned \\\"src\\\""),
        "{}",
        text(&out)
    );
    assert!(stderr.contains("the artifacts stay in"), "{}", text(&out));
    assert!(dist.path().join("deployment.zip").is_file());
}

#[test]
fn an_event_over_the_timeout_is_killed_and_never_identical() {
    let unit = tempfile::tempdir().unwrap();
    write_unit(
        unit.path(),
        "import time\n\ndef handler(event, context):\n    time.sleep(event['sleep'])\n    return event['sleep']\n",
    );
    let dist = tempfile::tempdir().unwrap();
    package(unit.path(), dist.path());
    let events = write_events(unit.path(), r#"[{"sleep": 0}, {"sleep": 60}]"#);
    let started = std::time::Instant::now();
    let out = verify(unit.path(), dist.path(), &events, &["--event-timeout", "1"]);
    // Four processes run the slow event (cold and warm, both runs), each
    // killed after a second, not after a minute.
    assert!(started.elapsed().as_secs() < 40, "{:?}", started.elapsed());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("cold  event-0  identical  returned"),
        "{}",
        text(&out)
    );
    assert!(
        stdout.contains("both timed out after 1 s"),
        "{}",
        text(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("event `event-1` (cold) differs"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_write_into_the_task_root_is_a_difference() {
    let unit = tempfile::tempdir().unwrap();
    write_unit(
        unit.path(),
        "import os\n\ndef handler(event, context):\n    with open(os.path.join(os.path.dirname(__file__), 'cache.txt'), 'w') as f:\n        f.write('x')\n    return 1\n",
    );
    let dist = tempfile::tempdir().unwrap();
    package(unit.path(), dist.path());
    let events = write_events(unit.path(), r#"[{}]"#);
    let out = verify(unit.path(), dist.path(), &events, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    // As root the write succeeds and is caught afterwards; otherwise the
    // read-only task root refuses it.
    assert!(
        stderr.contains("wrote into its task root, which is read-only on Lambda")
            && stderr.contains("    cache.txt")
            || stderr.contains("PermissionError"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_set_has_the_same_order_in_both_runs() {
    // With a random hash seed per process, `list(a_set)` of strings comes
    // out in another order in each run; verify runs both with one seed.
    let unit = tempfile::tempdir().unwrap();
    write_unit(
        unit.path(),
        "WORDS = {'w%d' % i for i in range(40)}\n\ndef handler(event, context):\n    return list(WORDS)\n",
    );
    let dist = tempfile::tempdir().unwrap();
    package(unit.path(), dist.path());
    let events = write_events(unit.path(), r#"[{}, {}]"#);
    let out = verify(unit.path(), dist.path(), &events, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}
