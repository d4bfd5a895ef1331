//! Running the caios-pack binary the tests build, and reading its output.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output};

/// The caios-pack binary cargo built for these tests.
pub fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_caios-pack"))
}

/// A command for the binary, for a test that sets its environment or folder.
pub fn command() -> Command {
    Command::new(binary())
}

/// Runs caios-pack with `args`; returns its output whatever its exit code.
pub fn caios<S: AsRef<OsStr>>(args: impl IntoIterator<Item = S>) -> Output {
    command()
        .args(args)
        .output()
        .expect("the caios-pack binary runs")
}

/// Runs caios-pack; fails the test with its stderr unless it exits 0.
pub fn caios_ok<S: AsRef<OsStr>>(args: impl IntoIterator<Item = S>) -> Output {
    let out = caios(args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    out
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Both streams, labelled, for an assertion message.
pub fn both(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        stdout(out),
        stderr(out)
    )
}
