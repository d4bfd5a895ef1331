//! Line-based import scan for files the parser rejects.
//!
//! Input: source text. Output: the `import …` and `from … import …` statements
//! found line by line. It cannot see scopes, so an indented import is marked
//! conditional module-level: that may cost latency, never a missed module.

use super::{Scope, Site, SiteKind};
use crate::names::{is_dotted_name, is_identifier};

pub fn scan_lines(text: &str) -> Vec<Site> {
    let mut sites = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index as u32 + 1;
        let indented = raw.starts_with([' ', '\t']);
        let code = raw.split('#').next().unwrap_or("").trim();
        // `import a; import b` and `x = 1; import y`
        for statement in code.split(';').map(str::trim) {
            let new = parse_statement(statement);
            sites.extend(new.into_iter().map(|(target, level, names, kind)| Site {
                conditional: indented,
                ..Site::plain(target, level, names, line, kind, Scope::Module)
            }));
        }
    }
    sites
}

type Parsed = (String, u32, Vec<String>, SiteKind);

fn parse_statement(statement: &str) -> Vec<Parsed> {
    if let Some(rest) = statement.strip_prefix("import ") {
        return rest
            .split(',')
            .filter_map(|part| {
                let name = part.split_whitespace().next()?;
                is_dotted_name(name).then(|| (name.to_string(), 0, Vec::new(), SiteKind::Import))
            })
            .collect();
    }
    let Some(rest) = statement.strip_prefix("from ") else {
        return Vec::new();
    };
    let Some((module, names)) = rest.split_once(" import ") else {
        return Vec::new();
    };
    let module = module.trim();
    let level = module.chars().take_while(|&c| c == '.').count() as u32;
    let target = module.trim_start_matches('.').trim();
    if !(is_dotted_name(target) || (target.is_empty() && level > 0)) {
        return Vec::new();
    }
    let names = names
        .trim_matches(|c: char| c == '(' || c == ')' || c == '\\' || c.is_whitespace())
        .split(',')
        .filter_map(|n| n.split_whitespace().next())
        .filter(|n| *n == "*" || is_identifier(n))
        .map(String::from)
        .collect();
    vec![(target.to_string(), level, names, SiteKind::From)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_imports_line_by_line() {
        let text = "import os, a.b as c\nfrom . import (x,\nfrom ..p.q import r, s as t  # c\n    import lazy\nx = 1; import y\nprint('import no')\ndef f(:\n";
        let got: Vec<(String, u32, Vec<String>, u32, bool)> = scan_lines(text)
            .into_iter()
            .map(|s| (s.target, s.level, s.names, s.line, s.conditional))
            .collect();
        let expected = vec![
            ("os".to_string(), 0, vec![], 1, false),
            ("a.b".to_string(), 0, vec![], 1, false),
            ("".to_string(), 1, vec!["x".to_string()], 2, false),
            (
                "p.q".to_string(),
                2,
                vec!["r".to_string(), "s".to_string()],
                3,
                false,
            ),
            ("lazy".to_string(), 0, vec![], 4, true),
            ("y".to_string(), 0, vec![], 5, false),
        ];
        assert_eq!(got, expected);
    }
}
