//! The verdict in words: each event's outcome as a sentence, the first
//! difference with an excerpt of both sides, and the JSON document.
//!
//! Input: a [`Verification`]. Output: its text, its JSON and the message of
//! its first difference.

use super::runner::tail;
use super::{EventResult, Mode, Verification};
use serde_json::Value;
use std::fmt::Write as _;

/// One line for an outcome: `returned {"a":1}`, `raised ValueError: bad`.
fn outcome_text(outcome: &Value) -> String {
    if let Some(ret) = outcome.get("return") {
        return match (ret.get("json"), ret.get("repr")) {
            (Some(json), _) => format!("returned {}", json.as_str().unwrap_or("")),
            (None, Some(repr)) => format!("returned (not JSON) {}", repr.as_str().unwrap_or("")),
            _ => "returned".into(),
        };
    }
    let error = |e: &Value| {
        format!(
            "{}: {}",
            e["type"].as_str().unwrap_or("?"),
            e["message"].as_str().unwrap_or("")
        )
    };
    if let Some(e) = outcome.get("raised") {
        return format!("raised {}", error(e));
    }
    if let Some(e) = outcome.get("init_raised") {
        return format!("init raised {}", error(e));
    }
    if let Some(init) = outcome.get("init") {
        return format!("init did not finish: {}", outcome_text(init));
    }
    if let Some(t) = outcome.get("timed_out") {
        return format!("timed out {}", t.as_str().unwrap_or(""));
    }
    if let Some(c) = outcome.get("crashed") {
        return format!("the interpreter crashed ({})", c.as_str().unwrap_or(""));
    }
    if let Some(r) = outcome.get("not_run") {
        return format!("not run: {}", r.as_str().unwrap_or(""));
    }
    outcome.to_string()
}

/// The short form for the per-event line.
fn outcome_kind(outcome: &Value) -> String {
    if outcome.get("return").is_some() {
        "returned".into()
    } else if let Some(e) = outcome.get("raised") {
        format!("raised {}", e["type"].as_str().unwrap_or("?"))
    } else if let Some(e) = outcome.get("init_raised") {
        format!("init raised {}", e["type"].as_str().unwrap_or("?"))
    } else {
        outcome_text(outcome)
    }
}

/// The end of an event's line: its outcome, or what differs.
fn summary(r: &EventResult) -> String {
    let (expected, got) = (&r.expected, &r.got);
    if r.identical {
        outcome_kind(&got.outcome)
    } else if expected.outcome != got.outcome {
        format!(
            "expected {}, got {}",
            outcome_kind(&expected.outcome),
            outcome_kind(&got.outcome)
        )
    } else if got.timed_out() {
        format!("both {}", outcome_text(&got.outcome))
    } else if expected.stdout != got.stdout {
        format!("{}, but stdout differs", outcome_kind(&got.outcome))
    } else {
        format!(
            "{}, but wrote into the read-only task root",
            outcome_kind(&got.outcome)
        )
    }
}

/// At most `max` characters of `text` around byte `at`, marked where cut.
fn excerpt(text: &str, at: usize, max: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    let at = text[..at.min(text.len())].chars().count();
    if chars.len() <= max {
        return format!("{text:?}");
    }
    let start = at.saturating_sub(max / 3);
    let end = (start + max).min(chars.len());
    let piece: String = chars[start..end].iter().collect();
    format!(
        "{}{piece:?}{} ({} characters in all)",
        if start > 0 { "…" } else { "" },
        if end < chars.len() { "…" } else { "" },
        chars.len()
    )
}

/// Byte index of the first difference of `a` and `b` (on a char boundary).
fn first_difference(a: &str, b: &str) -> usize {
    a.char_indices()
        .zip(b.chars())
        .find(|((_, x), y)| x != y)
        .map(|((i, _), _)| i)
        .unwrap_or(a.len().min(b.len()))
}

const EXCERPT_CHARS: usize = 300;

impl Verification {
    /// The first differing event and mode.
    pub fn first_difference(&self) -> Option<&EventResult> {
        self.results.iter().find(|r| !r.identical)
    }

    /// One line per event and mode, then a summary line.
    pub fn text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "verify {}: unpackaged unit vs the artifacts in {} ({})",
            self.handler,
            self.dist.display(),
            self.python
        );
        let width = self
            .results
            .iter()
            .map(|r| r.event.chars().count())
            .max()
            .unwrap_or(5)
            .max(5);
        for r in &self.results {
            let _ = writeln!(
                s,
                "  {:<5} {:<width$}  {:<9}  {}",
                r.mode.label(),
                r.event,
                if r.identical { "identical" } else { "DIFFERS" },
                summary(r)
            );
        }
        let events = self.results.len() / 2;
        match self.first_difference() {
            None => {
                let _ = writeln!(
                    s,
                    "identical: {events} event(s), each in a fresh process (cold) and all in one process (warm), give the same result and output from the artifacts alone"
                );
            }
            Some(r) => {
                let _ = writeln!(
                    s,
                    "differs: first at event `{}` ({})",
                    r.event,
                    r.mode.label()
                );
            }
        }
        s
    }

    /// The whole comparison, for `--format json`.
    pub fn json(&self) -> Value {
        let first = self
            .first_difference()
            .map(|r| serde_json::json!({"event": r.event, "mode": r.mode}));
        serde_json::json!({
            "handler": self.handler,
            "dist": self.dist,
            "python": self.python,
            "identical": first.is_none(),
            "first_difference": first,
            "results": self.results,
        })
    }

    /// The message for exit 1: the first differing event and mode, the
    /// difference, and where the packaged run loaded its modules from.
    pub fn difference(&self) -> Option<String> {
        let r = self.first_difference()?;
        let (expected, got) = (&r.expected, &r.got);
        let mut s = String::new();
        let _ = writeln!(
            s,
            "event `{}` ({}) differs between the unpackaged unit and the artifacts in {}:",
            r.event,
            r.mode.label(),
            self.dist.display()
        );
        if expected.outcome != got.outcome {
            let (a, b) = (outcome_text(&expected.outcome), outcome_text(&got.outcome));
            let at = first_difference(&a, &b);
            let _ = writeln!(
                s,
                "  result\n    expected: {}\n    got:      {}",
                excerpt(&a, at, EXCERPT_CHARS),
                excerpt(&b, at, EXCERPT_CHARS)
            );
        }
        if expected.stdout != got.stdout {
            let (a, b) = (&expected.stdout, &got.stdout);
            let line = a.lines().zip(b.lines()).take_while(|(x, y)| x == y).count();
            let pick = |t: &str| t.lines().nth(line).unwrap_or("<no such line>").to_string();
            let (x, y) = (pick(a), pick(b));
            let at = first_difference(&x, &y);
            let _ = writeln!(
                s,
                "  stdout, first difference at line {} ({} vs {} lines)\n    expected: {}\n    got:      {}",
                line + 1,
                a.lines().count(),
                b.lines().count(),
                excerpt(&x, at, EXCERPT_CHARS),
                excerpt(&y, at, EXCERPT_CHARS)
            );
        }
        if expected.outcome == got.outcome && got.timed_out() {
            let _ = writeln!(
                s,
                "  both runs {}: nothing to compare (raise --event-timeout if the event is that slow)",
                outcome_text(&got.outcome)
            );
        }
        if !got.task_root_writes.is_empty() {
            const SHOWN: usize = 10;
            let _ = writeln!(
                s,
                "  the packaged run wrote into its task root, which is read-only on Lambda (/var/task); write under /tmp instead:"
            );
            for path in got.task_root_writes.iter().take(SHOWN) {
                let _ = writeln!(s, "    {path}");
            }
            if got.task_root_writes.len() > SHOWN {
                let _ = writeln!(s, "    … {} more", got.task_root_writes.len() - SHOWN);
            }
        }
        let row = |m: &Value| {
            let name = m["name"].as_str().unwrap_or("?");
            let tier = m["tier"].as_str().unwrap_or("-");
            let mut line = if m["loaded"] == true {
                format!(
                    "    {name}  {tier}  {}",
                    m["file"].as_str().unwrap_or("(no file)")
                )
            } else {
                format!("    {name}  not loaded")
            };
            if let Some(c) = m.get("catalogue") {
                let _ = write!(
                    line,
                    "  [catalogue: {} {}{}; expected at {}]",
                    c["tier"].as_str().unwrap_or("?"),
                    c["path"].as_str().unwrap_or(""),
                    c["bundle"]
                        .as_str()
                        .map(|b| format!(", bundle s3/{b}.zip"))
                        .unwrap_or_default(),
                    m["expected"].as_str().unwrap_or("?")
                );
            } else {
                line.push_str("  [not in the catalogue]");
            }
            line
        };
        if !got.error_modules.is_empty() {
            let _ = writeln!(
                s,
                "  the module the error names, and its parents, in the packaged run:"
            );
            for m in &got.error_modules {
                let _ = writeln!(s, "{}", row(m));
            }
        }
        // The failing process's modules: in warm mode, those its earlier
        // events loaded too.
        let loaded: Vec<&Value> = match r.mode {
            Mode::Cold => got.modules.iter().collect(),
            Mode::Warm => self
                .results
                .iter()
                .filter(|o| o.mode == Mode::Warm)
                .take_while(|o| !std::ptr::eq(*o, r))
                .chain(std::iter::once(r))
                .flat_map(|o| &o.got.modules)
                .collect(),
        };
        if !loaded.is_empty() {
            const SHOWN: usize = 60;
            let _ = writeln!(
                s,
                "  where the packaged run loaded its modules from ({} from the package's tiers or the catalogue):",
                loaded.len()
            );
            for m in loaded.iter().take(SHOWN) {
                let _ = writeln!(s, "{}", row(m));
            }
            if loaded.len() > SHOWN {
                let _ = writeln!(
                    s,
                    "    … {} more (all of them with --format json)",
                    loaded.len() - SHOWN
                );
            }
        }
        for (who, o) in [("unpackaged", expected), ("packaged", got)] {
            if let Some(tb) = &o.traceback {
                let _ = writeln!(
                    s,
                    "  traceback of the {who} run:\n{}",
                    indent(&tail(tb, 25))
                );
            }
            if let Some(err) = &o.stderr {
                let _ = writeln!(s, "  stderr of the {who} run:\n{}", indent(err));
            }
        }
        Some(s.trim_end().to_string())
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_show_where_long_texts_differ() {
        let a = format!("{}X{}", "a".repeat(1000), "b".repeat(1000));
        let b = format!("{}Y{}", "a".repeat(1000), "b".repeat(1000));
        let at = first_difference(&a, &b);
        assert_eq!(at, 1000);
        let shown = excerpt(&a, at, 300);
        assert!(shown.contains('X') && shown.starts_with('…'), "{shown}");
        assert!(shown.contains("2001 characters in all"), "{shown}");
        assert_eq!(excerpt("short", 0, 300), "\"short\"");
        assert_eq!(first_difference("abc", "abcd"), 3);
    }

    #[test]
    fn outcomes_read_as_sentences() {
        let raised = serde_json::json!({"raised": {"type": "ValueError", "message": "bad"}});
        assert_eq!(outcome_text(&raised), "raised ValueError: bad");
        let ret = serde_json::json!({"return": {"json": "{\"a\":1}"}});
        assert_eq!(outcome_text(&ret), "returned {\"a\":1}");
        assert_eq!(outcome_kind(&raised), "raised ValueError");
    }
}
