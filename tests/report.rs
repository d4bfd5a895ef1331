//! `caios-pack package --report` on a small unit, opened in headless Chromium
//! (tests/support/browser.py drives it over WebDriver).
//!
//! Input: a unit written to a temp dir with files on all three tiers and of
//! every usage. Output: assertions that the page draws one rectangle per file
//! of the unit, shows plan.json's totals, recolours by usage, zooms in and
//! out; plus a screenshot in the test's temp dir. Needs `chromium` and
//! `chromium-driver`: without them the test fails and says to install them.

mod support;

use serde_json::Value;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Handler code, a distribution with a dist-info (hot at init), a package
/// imported inside the handler (lazy, pinned to EFS), one nothing imports
/// (unreachable, pinned to S3) and an asset; sizes differ so the treemap has
/// rectangles to tell apart.
fn unit() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let write = |rel: &str, bytes: &[u8]| support::write_file(dir.path(), rel, bytes);
    write(
        "src/handler.py",
        b"import hotpkg\nimport helper\n\ndef handler(event, context):\n    import coldpkg\n    return coldpkg.run(hotpkg.load())\n",
    );
    write("src/helper.py", b"X = 1\n");
    write(
        "env/hotpkg/__init__.py",
        b"from hotpkg import core\n\ndef load():\n    return core.VALUE\n",
    );
    write("env/hotpkg/core.py", b"VALUE = 2\n");
    write("env/hotpkg/table.bin", &vec![1u8; 300_000]);
    write(
        "env/hotdist-1.0.dist-info/METADATA",
        b"Metadata-Version: 2.1\nName: hotdist\nVersion: 1.0\n",
    );
    write(
        "env/hotdist-1.0.dist-info/RECORD",
        b"hotpkg/__init__.py,,\nhotpkg/core.py,,\nhotpkg/table.bin,,\nhotdist-1.0.dist-info/METADATA,,\nhotdist-1.0.dist-info/RECORD,,\nhotdist-1.0.dist-info/top_level.txt,,\n",
    );
    write("env/hotdist-1.0.dist-info/top_level.txt", b"hotpkg\n");
    write(
        "env/coldpkg/__init__.py",
        b"def run(t):\n    return t * 2\n",
    );
    write("env/coldpkg/weights.bin", &vec![2u8; 200_000]);
    write("env/neverpkg/__init__.py", b"X = 1\n");
    write("env/neverpkg/big.bin", &vec![3u8; 120_000]);
    write("models/tiny.bin", &[4u8; 5_000]);
    let yaml =
        "handler: handler.handler\nsource: src\nsite_packages: env\nassets: [\"models/*.bin\"]\n\
                pins:\n  - {module: coldpkg, tier: efs}\n  - {module: neverpkg, tier: s3}\n";
    write("caios-pack.yaml", yaml.as_bytes());
    dir
}

/// Files of the unit the scan sees: everything but its config.
fn files_on_disk(unit: &Path) -> usize {
    walkdir::WalkDir::new(unit)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file() && e.file_name() != "caios-pack.yaml")
        .count()
}

fn package_with_report(unit: &Path, out: &Path) {
    support::caios_ok([
        OsStr::new("package"),
        unit.as_os_str(),
        OsStr::new("--max-latency"),
        OsStr::new("2s"),
        OsStr::new("--report"),
        OsStr::new("--out"),
        out.as_os_str(),
    ]);
}

/// Runs browser.py on the report; fails (never skips) when Chromium is missing.
fn browse(report: &Path, screenshot: &Path) -> Value {
    let out = Command::new("python3")
        .arg(repo().join("tests/support/browser.py"))
        .arg(report)
        .arg("--screenshot")
        .arg(screenshot)
        .arg("--interact")
        .output()
        .expect("python3 runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(3) {
        panic!("this test needs a browser: install `chromium chromium-driver` (apt-get install chromium chromium-driver); {stderr}");
    }
    assert!(out.status.success(), "browser.py failed: {stderr}");
    serde_json::from_slice(&out.stdout).expect("browser.py prints JSON")
}

/// The first number in a text like "1,234,567 B", "of 2,000 ms budget" or
/// "$2.2e-7".
fn number(text: &Value) -> f64 {
    let text = text.as_str().unwrap_or_default();
    text.split_whitespace()
        .map(|word| word.trim_start_matches('$').replace(',', ""))
        .find_map(|word| word.parse().ok())
        .unwrap_or_else(|| panic!("no number in {text:?}"))
}

/// `300000` → `300,000`, as the page writes exact byte counts.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (k, c) in digits.chars().enumerate() {
        if k > 0 && (digits.len() - k).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn close(shown: f64, expected: f64, what: &str) {
    let tolerance = 0.051 + expected.abs() * 0.001;
    assert!(
        (shown - expected).abs() <= tolerance,
        "{what}: page shows {shown}, plan.json says {expected}"
    );
}

fn close_usd(shown: f64, expected: f64) {
    // Shown with four decimals, or two significant digits below $0.0001.
    let tolerance = 0.00005_f64.min(expected.abs() * 0.05).max(1e-12);
    assert!(
        (shown - expected).abs() <= tolerance,
        "total_usd: page shows {shown}, plan.json says {expected}"
    );
}

#[test]
fn report_draws_every_file_and_the_plan_totals() {
    let unit = unit();
    let dist = tempfile::tempdir().unwrap();
    package_with_report(unit.path(), dist.path());
    let plan: Value =
        serde_json::from_slice(&std::fs::read(dist.path().join("plan.json")).unwrap()).unwrap();
    let files = plan["files"].as_array().unwrap();
    let tiers: std::collections::BTreeSet<_> = files.iter().map(|f| f["tier"].as_str()).collect();
    assert_eq!(tiers.len(), 3, "the unit should use all tiers: {tiers:?}");
    assert_eq!(files.len(), files_on_disk(unit.path()), "{files:#?}");

    let screenshot = dist.path().join("report.png");
    let seen = browse(&dist.path().join("report.html"), &screenshot);
    let initial = &seen["initial"];

    // One element with data-path per file, and the same files.
    assert_eq!(initial["elements"], files.len(), "{initial}");
    assert_eq!(initial["report"]["files"], files.len());
    assert_eq!(initial["report"]["rects"], files.len());
    let mut drawn: Vec<&str> = initial["paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    let mut listed: Vec<&str> = files.iter().map(|f| f["path"].as_str().unwrap()).collect();
    drawn.sort_unstable();
    listed.sort_unstable();
    assert_eq!(drawn, listed);

    // The summary shows plan.json's figures.
    let summary = &initial["summary"];
    assert_eq!(
        number(&summary["zip_unzipped"]),
        plan["emitted"]["zip_unzipped_bytes"].as_f64().unwrap()
    );
    close(
        number(&summary["cold_start"]),
        plan["plan"]["cold_start_ms"].as_f64().unwrap(),
        "cold_start_ms",
    );
    close(
        number(&summary["cold_budget"]),
        plan["plan"]["max_latency_ms"].as_f64().unwrap(),
        "max_latency_ms",
    );
    close_usd(
        number(&summary["total_usd"]),
        plan["plan"]["cost"]["total_usd"].as_f64().unwrap(),
    );
    let totals = &initial["report"]["totals"];
    assert_eq!(
        totals["zip_unzipped_bytes"],
        plan["emitted"]["zip_unzipped_bytes"]
    );
    assert_eq!(totals["lambda_limit_bytes"], 262_144_000);

    // Colouring by usage changes the colours of the same rectangles.
    let usage = &seen["usage"];
    assert_eq!(usage["report"]["colour"], "usage");
    assert_eq!(usage["elements"], files.len());
    assert_ne!(initial["colours"], usage["colours"]);

    let legend = usage["legend"].as_str().unwrap();
    for name in ["hot", "lazy", "deferred", "unreachable"] {
        assert!(legend.contains(name), "legend: {legend}");
    }

    // The tooltip of a file names its module, distribution, path, bytes,
    // usage reason, tier and the reason of its group's tier.
    let tooltip = seen["tooltip"].as_str().unwrap();
    let clicked = files.iter().find(|f| f["path"] == seen["clicked"]).unwrap();
    let group = &plan["groups"][clicked["group"].as_u64().unwrap() as usize];
    let bytes = clicked["bytes"].as_u64().unwrap();
    for expected in [
        clicked["path"].as_str().unwrap(),
        clicked["module"].as_str().unwrap_or("–"),
        clicked["distribution"].as_str().unwrap_or("–"),
        clicked["tier"].as_str().unwrap(),
        clicked["usage_reason"].as_str().unwrap(),
        group["reason"].as_str().unwrap(),
        &thousands(bytes),
    ] {
        assert!(
            tooltip.contains(expected),
            "tooltip lacks {expected:?}: {tooltip}"
        );
    }

    // A click zooms into a subtree: fewer rectangles, all within it; "up"
    // brings every file back.
    let zoomed = &seen["zoomed"];
    let rects = zoomed["elements"].as_u64().unwrap();
    assert!(
        rects >= 1 && rects < files.len() as u64,
        "zoomed to {rects} of {} files",
        files.len()
    );
    assert_eq!(zoomed["report"]["rects"], rects);
    assert!(zoomed["report"]["zoom"].as_array().unwrap().len() > 1);
    assert!(zoomed["paths"]
        .as_array()
        .unwrap()
        .contains(&seen["clicked"]));
    assert_eq!(seen["up"]["elements"], files.len());

    let png = std::fs::read(&screenshot).expect("screenshot saved");
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    eprintln!("screenshot: {}", screenshot.display());
}
