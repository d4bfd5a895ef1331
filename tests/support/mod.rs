//! Shared helpers for integration tests that run real Python on real packages.

// Each test binary uses a part of these helpers.
#![allow(dead_code, unused_imports)]

pub mod cli;
pub mod efs_sim;
pub mod lambda;
pub mod packaged;
pub mod s3;
pub mod units;

pub use cli::{caios, caios_ok};
pub use packaged::{s3_e2e, support_script, unzip, unzipped_package};

use caios_pack::analysis::{Analysis, Coverage};
use caios_pack::config::{Overrides, Unit};
use caios_pack::graph::Reach;
use caios_pack::progress::Progress;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Writes `bytes` at `root/rel`, creating its folders.
pub fn write_file(root: &Path, rel: &str, bytes: impl AsRef<[u8]>) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Installs `requirements` with pip into a folder that persists between test
/// runs (`target/test-envs/NAME`), as `pip install --target` does for a
/// Lambda package. Reuses it when its marker says the same requirements.
pub fn pip_env(name: &str, requirements: &[&str]) -> PathBuf {
    let dir = repo().join("target/test-envs").join(name);
    let marker = dir.join(".caios-test-complete");
    let wanted = requirements.join("\n");
    if std::fs::read_to_string(&marker).ok().as_deref() == Some(wanted.as_str()) {
        return dir;
    }
    let _ = std::fs::remove_dir_all(&dir);
    pip_install_target(&dir, requirements);
    std::fs::write(&marker, wanted).unwrap();
    dir
}

/// `pip install --target DIR REQUIREMENTS…`; fails the test when pip does.
fn pip_install_target(dir: &Path, requirements: &[&str]) {
    let status = Command::new("python3")
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-warn-script-location",
            "--target",
        ])
        .arg(dir)
        .args(requirements)
        .status()
        .expect("python3 -m pip runs");
    assert!(status.success(), "pip install {requirements:?} failed");
}

/// The reference unit's env, built by its own build-env.sh (or taken from
/// `CAIOS_REF_ENV` when set, e.g. a copy built once on this machine).
pub fn reference_env() -> PathBuf {
    if let Ok(dir) = std::env::var("CAIOS_REF_ENV") {
        // Relative to the repository, as the benches take it: the tests
        // pass it on to units in other folders.
        return repo().join(dir);
    }
    let dir = repo().join("target/test-envs/reference");
    let status = Command::new("bash")
        .arg(repo().join("fixtures/reference-unit/build-env.sh"))
        .arg(&dir)
        .status()
        .expect("bash runs build-env.sh");
    assert!(status.success(), "build-env.sh failed");
    dir
}

/// Modules real CPython loads from `roots` when it imports `handler` with
/// only those roots on `sys.path` (`python3 -I -S`): name → real file path.
pub fn loaded_modules(handler: &str, roots: &[&Path]) -> BTreeMap<String, PathBuf> {
    let out = Command::new("python3")
        .args(["-I", "-S"])
        .arg(repo().join("tests/support/loaded_modules.py"))
        .arg(handler)
        .args(roots)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "python3 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("loaded_modules.py prints JSON")
}

pub fn analyze(unit_dir: &Path, site_packages: Vec<PathBuf>) -> Analysis {
    let overrides = Overrides {
        site_packages,
        ..Overrides::default()
    };
    let unit = Unit::load(unit_dir, &overrides).expect("unit loads");
    Analysis::run(unit, Coverage::Reachable, &Progress::hidden()).expect("analysis runs")
}

/// Compares the static cold set with what Python loaded. A loaded module
/// counts as found when its name is cold or its file is the file of a cold
/// module (extension modules also register aliases and pybind11
/// submodules in `sys.modules`). Returns (missed, extras), sorted.
pub fn compare(a: &Analysis, loaded: &BTreeMap<String, PathBuf>) -> (Vec<String>, Vec<String>) {
    let inv = &a.inventory;
    let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or(p.to_path_buf());
    let cold: Vec<usize> = (0..inv.modules.len())
        .filter(|&m| a.module_reach(m) == Reach::Cold)
        .collect();
    let cold_names: HashSet<&str> = cold.iter().map(|&m| inv.modules[m].name.as_str()).collect();
    let cold_files: HashSet<PathBuf> = cold
        .iter()
        .filter_map(|&m| inv.module_file(m).map(|f| canonical(&f.path)))
        .collect();
    let missed: Vec<String> = loaded
        .iter()
        .filter(|(name, path)| !cold_names.contains(name.as_str()) && !cold_files.contains(*path))
        .map(|(name, path)| {
            let reach = inv.module(name).map(|m| format!("{:?}", a.module_reach(m)));
            format!(
                "{name} ({}; static: {})",
                path.display(),
                reach.unwrap_or_else(|| "not a module".into())
            )
        })
        .collect();
    let loaded_files: HashSet<&PathBuf> = loaded.values().collect();
    let mut extras: Vec<String> = cold
        .iter()
        .filter(|&&m| {
            let name = &inv.modules[m].name;
            let file_loaded = inv
                .module_file(m)
                .is_some_and(|f| loaded_files.contains(&canonical(&f.path)));
            !loaded.contains_key(name) && !file_loaded
        })
        .map(|&m| inv.modules[m].name.clone())
        .collect();
    extras.sort();
    (missed, extras)
}

/// `s3s-fs` 0.14.1 (newer ones need a newer rustc), built with cargo under
/// target/test-tools (`.ci/run` installs it up front).
pub fn s3s_fs() -> PathBuf {
    let root = repo().join("target/test-tools");
    let binary = root.join("bin/s3s-fs");
    if !binary.exists() {
        let status = Command::new("cargo")
            .args([
                "install",
                "s3s-fs@0.14.1",
                "--features",
                "binary",
                "--locked",
                "--root",
            ])
            .arg(&root)
            .env("CARGO_TARGET_DIR", root.join("build"))
            .status()
            .expect("cargo runs");
        assert!(status.success(), "cargo install s3s-fs failed");
    }
    binary
}

/// boto3 (and botocore, urllib3, …) installed with pip into a folder, as the
/// Lambda Python runtime provides them.
pub fn pylibs() -> PathBuf {
    let dir = repo().join("target/test-tools/pylibs");
    if !dir.join("boto3").exists() {
        pip_install_target(&dir, &["boto3"]);
    }
    dir
}
