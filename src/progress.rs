//! Progress reporting on stderr, shown only when stderr is a terminal.
//!
//! Input: stage names and counts from the pipeline. Output: an indicatif bar
//! on a terminal; nothing at all when stderr is piped or redirected (CI logs).
//! With `CAIOS_TIMINGS=1` in the environment, each stage's wall time is also
//! printed on stderr when the next one starts (for profiling a slow unit).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Instant;

pub struct Progress {
    bar: ProgressBar,
    /// The running stage and when it started, when timings are on.
    timings: Option<Mutex<(&'static str, Instant)>>,
}

impl Progress {
    /// A bar on stderr when it is a terminal, hidden otherwise.
    pub fn for_stderr() -> Self {
        let bar = if std::io::stderr().is_terminal() {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template("{spinner} {msg:24} [{bar:30}] {pos}/{len}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
            bar.set_style(style);
            bar
        } else {
            ProgressBar::hidden()
        };
        let on = std::env::var_os("CAIOS_TIMINGS").is_some_and(|v| !v.is_empty() && v != "0");
        Progress {
            bar,
            timings: on.then(|| Mutex::new(("start", Instant::now()))),
        }
    }

    pub fn hidden() -> Self {
        Progress {
            bar: ProgressBar::hidden(),
            timings: None,
        }
    }

    /// Names the stage that starts now.
    pub fn set_message(&self, message: &'static str) {
        self.lap(message);
        self.bar.set_message(message);
    }

    fn lap(&self, next: &'static str) {
        let Some(timings) = &self.timings else {
            return;
        };
        let mut current = timings.lock().unwrap_or_else(|e| e.into_inner());
        let elapsed = current.1.elapsed();
        eprintln!(
            "caios-pack: timing {:<24} {:>8.1} ms",
            current.0,
            elapsed.as_secs_f64() * 1e3
        );
        *current = (next, Instant::now());
    }

    pub fn set_length(&self, len: u64) {
        self.bar.set_position(0);
        self.bar.set_length(len);
    }

    pub fn inc(&self, n: u64) {
        self.bar.inc(n);
    }

    pub fn finish(&self) {
        self.lap("after analysis");
        self.bar.finish_and_clear();
    }
}
