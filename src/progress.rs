//! Progress reporting on stderr, shown only when stderr is a terminal.
//!
//! Input: stage names and counts from the pipeline. Output: an indicatif bar
//! on a terminal; nothing at all when stderr is piped or redirected (CI logs).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A bar on stderr when it is a terminal, hidden otherwise.
    pub fn for_stderr() -> Self {
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template("{spinner} {msg:24} [{bar:30}] {pos}/{len}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
            bar.set_style(style);
            Progress { bar }
        } else {
            Self::hidden()
        }
    }

    pub fn hidden() -> Self {
        Progress {
            bar: ProgressBar::hidden(),
        }
    }

    pub fn set_message(&self, message: &'static str) {
        self.bar.set_message(message);
    }

    pub fn set_length(&self, len: u64) {
        self.bar.set_position(0);
        self.bar.set_length(len);
    }

    pub fn inc(&self, n: u64) {
        self.bar.inc(n);
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
