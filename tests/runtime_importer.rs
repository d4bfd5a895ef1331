//! Runs the runtime importer's Python test suite (tests/runtime) against a
//! real S3-compatible server, s3s-fs, on 127.0.0.1 with real boto3. The tools
//! are installed once under target/test-tools (`.ci/run` does it up front;
//! this test does it itself on a machine where they are missing).

mod support;

use std::path::Path;
use std::process::Command;

#[test]
fn runtime_importer_suite() {
    let (server, libs) = (support::s3s_fs(), support::pylibs());
    let out = Command::new("python3")
        .args(["-m", "unittest", "discover", "-s", "tests/runtime", "-v"])
        .current_dir(support::repo())
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
