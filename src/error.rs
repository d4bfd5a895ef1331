//! Errors that reach the user, and the exit code each one maps to.
//!
//! Input: failures from any stage. Output: one message that names the file (and
//! line, where there is one) and says what to do, plus the process exit code:
//! 2 for bad input (usage, config, unreadable unit), 1 when constraints cannot
//! be met or the user's code fails when run, 3 for I/O and internal failures.

use std::path::{Path, PathBuf};

/// A failure that stops a command. Warnings that do not stop it are the
/// scan's `Problem`s instead (named, not linked: errors depend on no stage).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The user's input is wrong: config, paths, handler name, flags.
    #[error("{0}")]
    Input(String),
    /// The input is fine but the requested constraints cannot be satisfied.
    #[error("{0}")]
    Infeasible(String),
    /// The user's code failed when run (a handler that raised, an
    /// interpreter that crashed).
    #[error("{0}")]
    Failed(String),
    /// Reading or writing failed for a reason outside the user's input.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub fn input(message: impl Into<String>) -> Self {
        Error::Input(message.into())
    }

    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// The process exit code for this error (see DESIGN.md, "Commands users run").
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Input(_) => 2,
            Error::Infeasible(_) | Error::Failed(_) => 1,
            Error::Io { .. } => 3,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
