//! Runs the runtime importer's Python test suite (tests/runtime) against a
//! real S3-compatible server, s3s-fs, on 127.0.0.1 with real boto3. The tools
//! are installed once under target/test-tools (`.ci/run` does it up front;
//! this test does it itself on a machine where they are missing).

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `s3s-fs` 0.14.1 (newer ones need a newer rustc), built with cargo.
fn s3s_fs() -> PathBuf {
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

/// boto3 (and botocore, urllib3, …) installed with pip into a folder.
fn pylibs() -> PathBuf {
    let dir = repo().join("target/test-tools/pylibs");
    if !dir.join("boto3").exists() {
        let status = Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--target",
            ])
            .arg(&dir)
            .arg("boto3")
            .status()
            .expect("pip runs");
        assert!(status.success(), "pip install boto3 failed");
    }
    dir
}

#[test]
fn runtime_importer_suite() {
    let (server, libs) = (s3s_fs(), pylibs());
    let out = Command::new("python3")
        .args(["-m", "unittest", "discover", "-s", "tests/runtime", "-v"])
        .current_dir(repo())
        .env("CAIOS_S3S_FS", &server)
        .env("CAIOS_TEST_PYLIBS", &libs)
        .output()
        .expect("python3 runs");
    let report = String::from_utf8_lossy(&out.stderr);
    println!("{report}");
    assert!(
        out.status.success(),
        "runtime importer tests failed:\n{report}"
    );
    assert!(
        !report.contains("skipped"),
        "no test may be skipped here:\n{report}"
    );
    assert!(Path::new(&server).exists());
}
