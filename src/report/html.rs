//! The HTML report: one self-contained page drawn from `plan.json`.
//!
//! Input: the `plan.json` document that `package` writes. Output: an HTML
//! string with the data inlined (no network needed to view it).

use crate::error::Result;

/// Renders the report page for a `plan.json` document.
pub fn render(plan: &serde_json::Value) -> Result<String> {
    let data = serde_json::to_string(plan).unwrap_or_default();
    // `</` cannot appear inside the inlined script.
    let data = data.replace("</", "<\\/");
    Ok(format!(
        "<!doctype html><meta charset=utf-8><title>caios-pack report</title><script id=plan type=application/json>{data}</script>"
    ))
}
