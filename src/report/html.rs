//! The HTML report: one self-contained page drawn from `plan.json`.
//!
//! Input: the `plan.json` document that `package` writes. Output: an HTML
//! string with the style, the script and the data inlined, so the page opens
//! from disk with no network. The page itself (summary panel, zoomable
//! treemap of every file coloured by tier or usage) lives in `report.html`,
//! `report.css` and `report.js` next to this file; docs/report.md describes it.

use crate::error::Result;

const TEMPLATE: &str = include_str!("report.html");
const CSS: &str = include_str!("report.css");
const JS: &str = include_str!("report.js");

/// Renders the report page for a `plan.json` document.
pub fn render(plan: &serde_json::Value) -> Result<String> {
    let data = inline_json(plan);
    // The data goes in last, and in one pass over the template, so text in
    // the plan (a file called `/*{{JS}}*/`) is never taken for a placeholder.
    let mut page = String::with_capacity(TEMPLATE.len() + CSS.len() + JS.len() + data.len());
    for (piece, fill) in pieces(TEMPLATE) {
        page.push_str(piece);
        page.push_str(match fill {
            Some(Fill::Css) => CSS,
            Some(Fill::Js) => JS,
            Some(Fill::Plan) => &data,
            None => "",
        });
    }
    Ok(page)
}

/// JSON for a `<script type="application/json">` element. Every `<` becomes
/// `\u003c`: that rules out `</script>` ending the element early and also
/// `<!--<script>`, which would switch the HTML parser into a state where the
/// real `</script>` no longer ends it. `<` only occurs inside JSON strings,
/// where `\u003c` means the same character, so `JSON.parse` is unaffected.
fn inline_json(plan: &serde_json::Value) -> String {
    let text = serde_json::to_string(plan).unwrap_or_else(|_| "null".into());
    text.replace('<', "\\u003c")
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Fill {
    Css,
    Js,
    Plan,
}

const PLACEHOLDERS: [(&str, Fill); 3] = [
    ("/*{{CSS}}*/", Fill::Css),
    ("/*{{JS}}*/", Fill::Js),
    ("/*{{PLAN}}*/", Fill::Plan),
];

/// Splits the template at its placeholders: (text before, what goes after it).
fn pieces(template: &str) -> Vec<(&str, Option<Fill>)> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some((at, marker, fill)) = PLACEHOLDERS
        .iter()
        .filter_map(|(marker, fill)| rest.find(marker).map(|at| (at, *marker, *fill)))
        .min_by_key(|(at, _, _)| *at)
    {
        out.push((&rest[..at], Some(fill)));
        rest = &rest[at + marker.len()..];
    }
    out.push((rest, None));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plan_with_path(path: &str) -> serde_json::Value {
        json!({
            "handler": "app.handler",
            "plan": {"cold_start_ms": 12.5, "max_latency_ms": null, "cost": {"total_usd": 0.25}},
            "groups": [{"name": "g", "tier": "local", "reason": "r"}],
            "emitted": {"zip_unzipped_bytes": 1234},
            "files": [{"path": path, "root": "source", "distribution": null, "module": "app",
                       "bytes": 10, "kind": "py", "group": 0, "tier": "local",
                       "usage": "hot", "usage_reason": "the handler module"}],
        })
    }

    /// The text of `<script id="plan" …>…</script>` as the HTML parser would
    /// cut it: up to the first `</script`.
    fn inlined_data(page: &str) -> &str {
        let open = r#"<script id="plan" type="application/json">"#;
        let start = page.find(open).expect("plan script") + open.len();
        let len = page[start..].find("</script").expect("closed");
        &page[start..start + len]
    }

    #[test]
    fn data_round_trips() {
        let plan = plan_with_path("app.py");
        let page = render(&plan).unwrap();
        let back: serde_json::Value = serde_json::from_str(inlined_data(&page)).unwrap();
        assert_eq!(back, plan);
    }

    #[test]
    fn script_end_in_a_path_cannot_break_out() {
        for path in [
            "</script><script>alert(1)</script>.py",
            "<!--<script>x.py",
            "</SCRIPT >y.py",
        ] {
            let plan = plan_with_path(path);
            let page = render(&plan).unwrap();
            let data = inlined_data(&page);
            assert!(!data.contains('<'), "{path}: raw `<` left in {data}");
            let back: serde_json::Value = serde_json::from_str(data).unwrap();
            assert_eq!(back["files"][0]["path"], path);
            // Exactly the page's own two scripts end.
            assert_eq!(page.to_ascii_lowercase().matches("</script").count(), 2);
        }
    }

    #[test]
    fn placeholders_in_the_data_stay_data() {
        let plan = plan_with_path("/*{{JS}}*/ /*{{CSS}}*/.py");
        let page = render(&plan).unwrap();
        assert_eq!(page.matches("squarify(items").count(), 1);
        let back: serde_json::Value = serde_json::from_str(inlined_data(&page)).unwrap();
        assert_eq!(back, plan);
    }

    #[test]
    fn page_is_self_contained() {
        let page = render(&plan_with_path("app.py")).unwrap();
        for marker in ["/*{{CSS}}*/", "/*{{JS}}*/", "/*{{PLAN}}*/"] {
            assert!(!page.contains(marker), "{marker} left in the page");
        }
        for external in ["http://", "https://", "<link", " src=", "@import", "url("] {
            assert!(!page.contains(external), "page refers to {external}");
        }
        assert!(page.contains("window.caiosReport"));
    }
}
