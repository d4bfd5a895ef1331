//! The sample events `trace`, `verify` and `package --verify` run the
//! handler on.
//!
//! Input: an events file, `{"tests": [{"name", "event", "context"}]}` or a
//! plain JSON list. Output: the [`EventCase`]s, or an input error (exit 2)
//! with the position.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// One sample event: `{"name", "event", "context"}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventCase {
    pub name: String,
    pub event: serde_json::Value,
    #[serde(default)]
    pub context: serde_json::Value,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum EventsFile {
    Tests { tests: Vec<EventCase> },
    List(Vec<serde_json::Value>),
}

/// Reads `{"tests": [{"name", "event", "context"}]}` or a plain JSON list of
/// events (named `event-0`, `event-1`, …). Not JSON → exit 2 with the position.
pub fn load_events(path: &Path) -> Result<Vec<EventCase>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::input(format!("{}: cannot read events: {e}", path.display())))?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        Error::input(format!(
            "{}:{}:{}: events file is not JSON: {e}",
            path.display(),
            e.line(),
            e.column()
        ))
    })?;
    let events = match serde_json::from_value::<EventsFile>(value) {
        Ok(EventsFile::Tests { tests }) => tests,
        Ok(EventsFile::List(list)) => list
            .into_iter()
            .enumerate()
            .map(|(i, event)| EventCase {
                name: format!("event-{i}"),
                event,
                context: serde_json::Value::Null,
            })
            .collect(),
        Err(_) => {
            return Err(Error::input(format!(
                "{}: expected {{\"tests\": [{{\"name\", \"event\", \"context\"}}]}} or a JSON list of events",
                path.display()
            )))
        }
    };
    if events.is_empty() {
        return Err(Error::input(format!(
            "{}: no events to run",
            path.display()
        )));
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(text: &str) -> Result<Vec<EventCase>> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.json");
        std::fs::write(&path, text).unwrap();
        load_events(&path)
    }

    #[test]
    fn events_files() {
        let named =
            events(r#"{"tests": [{"name": "a", "event": {"x": 1}, "context": {}}]}"#).unwrap();
        assert_eq!(named[0].name, "a");
        let list = events(r#"[{"x": 1}, {"x": 2}]"#).unwrap();
        assert_eq!(
            list.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(),
            ["event-0", "event-1"]
        );
        let err = events("{\"tests\": [\n  {\"name\": }").unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("events.json:2:"), "{err}");
        assert_eq!(events("[]").unwrap_err().exit_code(), 2);
        assert_eq!(events(r#"{"other": 1}"#).unwrap_err().exit_code(), 2);
    }
}
