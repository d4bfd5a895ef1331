//! Running a packaged function from `caios-pack package`'s artifacts: the
//! deployment package unzipped as Lambda does, and the end-to-end scripts of
//! tests/support that serve its S3 bundles and EFS tree.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;

/// Extracts `zip` into `into`.
pub fn unzip(zip: &Path, into: &Path) {
    let file = std::fs::File::open(zip).unwrap_or_else(|e| panic!("{}: {e}", zip.display()));
    zip::ZipArchive::new(file)
        .and_then(|mut archive| archive.extract(into))
        .unwrap_or_else(|e| panic!("unzip {}: {e}", zip.display()));
}

/// `DIST/deployment.zip` unzipped into a fresh task root, as Lambda does.
pub fn unzipped_package(dist: &Path) -> tempfile::TempDir {
    let task = tempfile::tempdir().unwrap();
    unzip(&dist.join("deployment.zip"), task.path());
    task
}

/// Runs a tests/support script with python3 and `env`; returns its JSON
/// stdout, failing the test with its stderr when it fails.
pub fn support_script(script: &str, args: &[&OsStr], env: &[(&str, &OsStr)]) -> serde_json::Value {
    let out = Command::new("python3")
        .arg(super::repo().join("tests/support").join(script))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// tests/support/s3_e2e.py on a package output: its bundles on a fresh
/// s3s-fs, the unzipped package (TASK) and the plain handler (SRC + ENV) run
/// on EVENTS (else two small events); returns its JSON report. Asserts that
/// nothing of the package was compiled at import.
pub fn s3_e2e(
    dist: &Path,
    task: &Path,
    src: &Path,
    env: &Path,
    events: Option<&Path>,
    vars: &[(&str, &OsStr)],
) -> serde_json::Value {
    let (s3s, pylibs) = (super::s3s_fs(), super::pylibs());
    let mut args = vec![
        dist.as_os_str(),
        task.as_os_str(),
        pylibs.as_os_str(),
        s3s.as_os_str(),
        src.as_os_str(),
        env.as_os_str(),
    ];
    args.extend(events.map(Path::as_os_str));
    let result = support_script("s3_e2e.py", &args, vars);
    // Every tier ships unchecked-hash pycs: nothing of the package (task
    // root, EFS, extracted bundles) is compiled at import.
    assert_eq!(
        result["compiled_in_package"],
        serde_json::json!([]),
        "{}",
        result["compiled_in_package"]
    );
    result
}
