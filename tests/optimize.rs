//! `caios-pack optimize` on small fixture units whose package limit is
//! shrunk (instead of shipping huge files): the three regimes of the design,
//! SnapStart, and an infeasible budget.

mod support;

use std::ffi::OsStr;
use std::path::Path;
use std::process::Output;

/// support's hot/cold unit: `hotpkg` at init (2 MB of data), `coldpkg`
/// inside the handler (1 MB), `neverpkg` never imported (1 MB).
fn unit(extra_yaml: &str) -> tempfile::TempDir {
    support::units::hot_cold(extra_yaml)
}

fn optimize(dir: &Path, args: &[&str]) -> (Output, serde_json::Value) {
    let mut words = vec![OsStr::new("optimize"), dir.as_os_str()];
    words.extend(["--format", "json"].iter().chain(args).map(OsStr::new));
    let out = support::caios(words);
    let json = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out, json)
}

fn tier_of<'a>(plan: &'a serde_json::Value, group: &str) -> &'a str {
    plan["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == group)
        .unwrap_or_else(|| panic!("no group {group} in {plan}"))["tier"]
        .as_str()
        .unwrap()
}

fn bytes(plan: &serde_json::Value, tier: &str) -> u64 {
    plan["plan"]["bytes"][tier].as_u64().unwrap()
}

#[test]
fn regime_a_everything_fits_locally() {
    let dir = unit("");
    let (out, plan) = optimize(dir.path(), &["--max-latency", "800ms"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!((bytes(&plan, "s3"), bytes(&plan, "efs")), (0, 0));
    assert!(
        plan["plan"]["regime"]
            .as_str()
            .unwrap()
            .starts_with("fits locally"),
        "{plan}"
    );
}

#[test]
fn regime_b_cold_groups_local_rest_on_s3() {
    let dir = unit("limits:\n  local_bytes: 2500000\n");
    let (out, plan) = optimize(dir.path(), &["--max-latency", "10s"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(tier_of(&plan, "hotpkg"), "local");
    assert_eq!(tier_of(&plan, "(handler)"), "local");
    assert_eq!(tier_of(&plan, "coldpkg"), "s3");
    assert_eq!(tier_of(&plan, "neverpkg"), "s3");
    assert_eq!(bytes(&plan, "efs"), 0);
    assert!(
        plan["plan"]["regime"]
            .as_str()
            .unwrap()
            .contains("hot set local"),
        "{plan}"
    );
}

#[test]
fn regime_c_efs_takes_what_s3_cannot_deliver_in_time() {
    // hotpkg (2 MB) does not fit; from S3 it would add ~290 ms to init
    // (first byte, transfer, extraction, creating the S3 client), from EFS
    // ~6 ms: a 10 ms budget needs EFS.
    let dir = unit("limits:\n  local_bytes: 1000000\n");
    let (out, plan) = optimize(dir.path(), &["--max-latency", "10ms"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(tier_of(&plan, "hotpkg"), "efs", "{plan}");
    assert_eq!(tier_of(&plan, "neverpkg"), "s3");
    let regime = plan["plan"]["regime"].as_str().unwrap();
    assert!(regime.contains("EFS needed because"), "{regime}");
    assert!(plan["plan"]["cold_start_ms"].as_f64().unwrap() <= 10.0);
    // With a looser budget, and EFS costing a NAT gateway, the same unit
    // needs no EFS.
    let nat = unit("limits:\n  local_bytes: 1000000\ntiers:\n  efs_fixed_usd_per_month: 33\n");
    let (_, loose) = optimize(nat.path(), &["--max-latency", "1s"]);
    assert_eq!(tier_of(&loose, "hotpkg"), "s3", "{loose}");
    assert_eq!(bytes(&loose, "efs"), 0);
    let cold = loose["plan"]["cold_start_ms"].as_f64().unwrap();
    assert!(
        (250.0..1000.0).contains(&cold),
        "the S3 client and fetch: {cold} ms"
    );
}

#[test]
fn snapstart_never_uses_efs_and_moves_more_to_s3() {
    let without = unit("limits:\n  local_bytes: 1000000\n");
    let with = unit(
        "limits:\n  local_bytes: 1000000\n  tmp_bytes: 2000000000\nworkload:\n  snapstart: true\n",
    );
    let (_, plain) = optimize(without.path(), &["--max-latency", "10ms"]);
    let (out, snap) = optimize(with.path(), &["--max-latency", "10ms"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(bytes(&snap, "efs"), 0);
    assert!(snap["plan"]["tmp_limit"].as_u64().unwrap() <= 512 * 1024 * 1024);
    assert!(bytes(&snap, "tmp") <= 512 * 1024 * 1024);
    assert!(
        bytes(&snap, "s3") > bytes(&plain, "s3"),
        "snapstart {snap}\nplain {plain}"
    );
}

#[test]
fn an_infeasible_budget_exits_1_with_the_smallest_latency() {
    let dir = unit("limits:\n  local_bytes: 1000000\n");
    let (out, json) = optimize(dir.path(), &["--max-latency", "1ms"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(json["feasible"], false);
    let min = json["min_latency_ms"].as_f64().unwrap();
    assert!(min > 1.0, "{json}");
    assert!(
        stderr.contains("the latency budget") && stderr.contains("smallest achievable cold start"),
        "{stderr}"
    );
    // The reported minimum is achievable.
    let (ok, _) = optimize(dir.path(), &["--max-latency", &format!("{}ms", min.ceil())]);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
}

#[test]
fn bad_budget_is_an_input_error() {
    let dir = unit("");
    let (out, _) = optimize(dir.path(), &["--max-latency", "soon"]);
    assert_eq!(out.status.code(), Some(2));
    let dir = unit("workload:\n  memory: 10\n");
    let (out, _) = optimize(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown field `memory`"));
}

/// The runtime importer fetches from S3 with boto3, botocore, urllib3, …:
/// a copy of them in the unit never goes to S3, even when it is never
/// imported and S3 would be the cheapest place.
#[test]
fn the_s3_client_packages_never_go_to_s3() {
    let dir = unit("limits:\n  local_bytes: 2100000\n");
    for package in ["botocore", "urllib3"] {
        let path = dir.path().join(format!("env/{package}/__init__.py"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "X = 1\n".repeat(20_000)).unwrap();
    }
    let (out, plan) = optimize(dir.path(), &["--max-latency", "2s"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(tier_of(&plan, "neverpkg"), "s3", "{plan}");
    for package in ["botocore", "urllib3"] {
        assert_ne!(tier_of(&plan, package), "s3", "{plan}");
    }
}

/// What the client's packages import when it is importable — botocore's
/// `certifi`, urllib3's optional codecs, and what those import in turn —
/// stays off S3 too: the importer once deadlocked for 60 s when botocore
/// imported `certifi` from S3 while the main thread held its import lock.
#[test]
fn the_s3_client_import_closure_never_goes_to_s3() {
    let dir = unit("limits:\n  local_bytes: 2100000\n");
    let big = "X = 1\n".repeat(20_000);
    let files = [
        ("env/botocore/__init__.py", String::new()),
        (
            "env/botocore/httpsession.py",
            "try:\n    from certifi import where\nexcept ImportError:\n    where = None\n".into(),
        ),
        (
            "env/certifi/__init__.py",
            "from certifi.core import where\n".into(),
        ),
        (
            "env/certifi/core.py",
            "import cacertlib\ndef where():\n    return ''\n".into(),
        ),
        ("env/cacertlib/__init__.py", big.clone()),
        (
            "env/urllib3/__init__.py",
            "def decode():\n    import fancycodec\n".into(),
        ),
        ("env/fancycodec/__init__.py", big),
    ];
    for (rel, text) in files {
        support::write_file(dir.path(), rel, text);
    }
    let (out, plan) = optimize(dir.path(), &["--max-latency", "2s"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(tier_of(&plan, "neverpkg"), "s3", "{plan}");
    for package in ["certifi", "cacertlib", "fancycodec"] {
        assert_ne!(tier_of(&plan, package), "s3", "{package}: {plan}");
    }
}

/// When only pins keep groups off a package they would fit, the regime says so.
#[test]
fn the_regime_names_pins_that_move_groups_off_a_package_they_fit() {
    let dir = unit("pins:\n  - {module: hotpkg, tier: s3}\n");
    let (out, plan) = optimize(dir.path(), &["--max-latency", "5s"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let regime = plan["plan"]["regime"].as_str().unwrap();
    assert!(
        regime.contains("would fit the package") && regime.contains("pins place 1 group(s)"),
        "{regime}"
    );
}

/// A pin names a module; it pins the group holding that module's files even
/// when the group carries another name (here: the unsplit package).
#[test]
fn a_module_pin_reaches_the_group_that_holds_the_module() {
    let dir = unit("pins:\n  - {module: coldpkg.sub, tier: efs}\n");
    std::fs::write(dir.path().join("env/coldpkg/sub.py"), "Y = 2\n").unwrap();
    let (out, plan) = optimize(dir.path(), &["--max-latency", "5s"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(tier_of(&plan, "coldpkg"), "efs", "{plan}");
    assert!(!stderr.contains("warning"), "{stderr}");
}

/// Pins that cannot do what they say are reported: a typo, an invalid glob,
/// and S3 for the S3 client the importer fetches with (kept off S3).
#[test]
fn pins_that_cannot_apply_are_reported() {
    let dir = unit(
        "pins:\n  - {module: coldpgk, tier: efs}\n  - {glob: \"env/[\", tier: s3}\n  - {module: botocore, tier: s3}\n",
    );
    let path = dir.path().join("env/botocore/__init__.py");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, "X = 1\n").unwrap();
    let (out, plan) = optimize(dir.path(), &["--max-latency", "5s"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("module `coldpgk` matches no module"),
        "{stderr}"
    );
    assert!(
        stderr.contains("glob `env/[` is not a valid glob"),
        "{stderr}"
    );
    assert!(stderr.contains("would put botocore on S3"), "{stderr}");
    assert_ne!(tier_of(&plan, "botocore"), "s3", "{plan}");
}
