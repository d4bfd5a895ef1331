//! fixtures/example, the unit README's run command packages: its plan puts
//! files on all three tiers, and the packaged function, run from its
//! artifacts (EFS tree through examples/efs_sim.rs at the plan's EFS
//! figures, S3 bundles on a real s3s-fs), returns what the unpackaged
//! handler returns on the example's events.

mod support;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use support::efs_sim::EfsMount;

fn example() -> PathBuf {
    support::repo().join("fixtures/example")
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The catalogue's modules and asset files, by the tier they were put on.
fn files_per_tier(catalogue: &serde_json::Value) -> BTreeMap<String, Vec<String>> {
    let mut tiers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for section in ["modules", "files"] {
        for (name, entry) in catalogue[section].as_object().unwrap() {
            let tier = entry["tier"].as_str().unwrap_or("?").to_string();
            tiers.entry(tier).or_default().push(name.clone());
        }
    }
    tiers
}

#[test]
fn example_uses_every_tier_and_runs_from_its_artifacts() {
    let dist = tempfile::tempdir().unwrap();
    let out = support::caios_ok([
        OsStr::new("package"),
        example().as_os_str(),
        OsStr::new("--out"),
        dist.path().as_os_str(),
        OsStr::new("--report"),
    ]);
    let printed = support::cli::stdout(&out);

    // The plan: each tier holds something, as README says.
    let catalogue = read_json(&dist.path().join("catalogue.json"));
    let tiers = files_per_tier(&catalogue);
    assert!(tiers["local"].contains(&"textkit".to_string()), "{tiers:?}");
    assert!(tiers["efs"].contains(&"lexicon".to_string()), "{tiers:?}");
    assert!(tiers["s3"].contains(&"digest".to_string()), "{tiers:?}");
    assert!(
        tiers["s3"].contains(&"legacy_codes".to_string()),
        "{tiers:?}"
    );
    let s3_bundles = std::fs::read_dir(dist.path().join("s3")).unwrap().count();
    assert!(s3_bundles > 0, "no S3 bundle\n{printed}");
    let efs_root = catalogue["efs_root"].as_str().unwrap();
    let efs_tree = dist
        .path()
        .join("efs")
        .join(efs_root.rsplit('/').next().unwrap());
    assert!(
        efs_tree.join("lexicon/words.tsv").is_file(),
        "no EFS file\n{printed}"
    );
    let task = support::unzipped_package(dist.path());
    assert!(task.path().join("handler.py").is_file());
    assert!(
        !task.path().join("lexicon").exists(),
        "lexicon is in the zip"
    );
    // The report shows the three tiers.
    let report = std::fs::read_to_string(dist.path().join("report.html")).unwrap();
    for tier in ["local", "efs", "s3"] {
        assert!(
            report.contains(&format!("\"tier\":\"{tier}\"")),
            "report.html has no {tier} file"
        );
    }

    // The packaged function, from its artifacts, against the plain handler.
    let sim = EfsMount::for_plan(&efs_tree, dist.path());
    let unit = example();
    let result = support::s3_e2e(
        dist.path(),
        task.path(),
        &unit.join("src"),
        &unit.join("site-packages"),
        Some(&unit.join("events.json")),
        &[("CAIOS_E2E_EFS_ROOT", sim.path().as_os_str())],
    );
    let efs_ops = sim.stop();
    assert!(
        efs_ops["open"].as_u64().unwrap() > 0,
        "the EFS tier was not read through efs_sim: {efs_ops}"
    );
    assert_eq!(result["packaged"], result["plain"], "{result}");
    let outputs = result["packaged"].as_array().unwrap();
    assert_eq!(outputs.len(), 2, "{result}");
    assert!(
        outputs[1]["digest"].as_str().unwrap().contains("<tr"),
        "{result}"
    );
    // Only the digest request needed S3: one bundle fetched, digest's.
    let digest_bundle = &catalogue["modules"]["digest"]["bundle"];
    assert_eq!(
        result["extracted_bundles"],
        serde_json::json!([digest_bundle]),
        "{result}"
    );
}
