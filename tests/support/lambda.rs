//! The one Lambda driver of the tests, tests/support/lambda_driver.py, run
//! from Rust: a handler (packaged through `caios_entry`, or plain) in a
//! fresh `python3 -I -S -B` on a list of events, as the Lambda runtime runs it.

use std::path::Path;
use std::process::{Command, Output};

/// `python3 -I -S -B lambda_driver.py [--handler H] EVENTS PATHS…`; the
/// caller adds its environment. `handler` None runs the packaged function.
pub fn driver(handler: Option<&str>, events: &serde_json::Value, paths: &[&Path]) -> Command {
    let mut command = Command::new("python3");
    command
        .args(["-I", "-S", "-B"])
        .arg(super::repo().join("tests/support/lambda_driver.py"));
    if let Some(handler) = handler {
        command.args(["--handler", handler]);
    }
    command.arg(events.to_string()).args(paths);
    command
}

/// What the driver printed: one result or error per event, the source files
/// compiled at import, and the whole stdout (the importer's EMF line is in it).
pub struct Outcome {
    pub results: Vec<serde_json::Value>,
    pub errors: Vec<serde_json::Value>,
    pub compiled: Vec<String>,
    pub stdout: String,
}

/// Reads the driver's `CAIOS-TEST` lines; fails the test when the driver
/// failed (an init error included).
pub fn outcome(out: &Output) -> Outcome {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "the Lambda driver failed: exit {:?}\n{stdout}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut outcome = Outcome {
        results: Vec::new(),
        errors: Vec::new(),
        compiled: Vec::new(),
        stdout: stdout.clone(),
    };
    for line in stdout.lines() {
        let Some((tag, doc)) = line
            .strip_prefix("CAIOS-TEST ")
            .and_then(|rest| rest.split_once(' '))
        else {
            continue;
        };
        let doc: serde_json::Value = serde_json::from_str(doc).unwrap();
        match tag {
            "RESULT" => outcome.results.push(doc),
            "ERROR" => outcome.errors.push(doc),
            "COMPILED" => {
                outcome.compiled = serde_json::from_value(doc).unwrap();
            }
            _ => panic!("{line}"),
        }
    }
    outcome
}
