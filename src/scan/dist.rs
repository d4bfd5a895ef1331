//! Distribution metadata and `.pth` files found in a site-packages folder.
//!
//! Input: the text of `*.dist-info/{METADATA,RECORD,top_level.txt}` and of
//! `*.pth` files. Output: [`Distribution`]s (name, version, the files RECORD
//! lists) and [`PthFile`]s (folders they add to `sys.path`, lines they
//! execute). Malformed lines become warnings, never failures.

use crate::names::normalize_path;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// An installed distribution (`*.dist-info`).
#[derive(Debug, Clone, Serialize)]
pub struct Distribution {
    pub name: String,
    pub version: String,
    /// The `*.dist-info` folder, relative to its root.
    pub dist_info: String,
    pub root: usize,
    pub top_level: Vec<String>,
    /// RECORD entries, as paths relative to the root (normalised).
    #[serde(skip)]
    pub record: Vec<String>,
}

/// `Name:` and `Version:` from a METADATA file (RFC 822 style headers).
pub fn parse_metadata(text: &str) -> (Option<String>, Option<String>) {
    let (mut name, mut version) = (None, None);
    for line in text.lines() {
        if line.is_empty() {
            break; // the body (long description) starts here
        }
        if let Some(v) = line.strip_prefix("Name:") {
            name.get_or_insert_with(|| v.trim().to_string());
        } else if let Some(v) = line.strip_prefix("Version:") {
            version.get_or_insert_with(|| v.trim().to_string());
        }
    }
    (name, version)
}

/// The paths of a RECORD file (CSV: `path,hash,size`), relative to the
/// site-packages folder. Returns the paths and the 1-based numbers of lines
/// that could not be read.
pub fn parse_record(text: &str) -> (Vec<String>, Vec<usize>) {
    let mut paths = Vec::new();
    let mut bad = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match first_csv_field(line) {
            Some(path) if !path.is_empty() => {
                let normal = normalize_path(Path::new(&path));
                paths.push(normal.to_string_lossy().replace('\\', "/"));
            }
            _ => bad.push(index + 1),
        }
    }
    (paths, bad)
}

/// The first field of a CSV line, honouring `"…"` quoting with `""` escapes.
fn first_csv_field(line: &str) -> Option<String> {
    let Some(rest) = line.strip_prefix('"') else {
        return Some(line.split(',').next().unwrap_or("").to_string());
    };
    let mut out = String::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '"' {
            if chars.peek() == Some(&'"') {
                chars.next();
                out.push('"');
            } else {
                return matches!(chars.peek(), None | Some(',')).then_some(out);
            }
        } else {
            out.push(c);
        }
    }
    None // unterminated quote
}

/// A `.pth` file in a site-packages folder. Python's `site` module processes
/// these at startup: each line is a folder to append to `sys.path`, or, when it
/// starts with `import`, code to execute.
#[derive(Debug, Clone, Serialize)]
pub struct PthFile {
    pub path: PathBuf,
    /// Existing folders the file adds, absolute.
    pub added_paths: Vec<PathBuf>,
    /// `(line number, text)` of lines that `site` executes.
    pub import_lines: Vec<(u32, String)>,
}

pub fn parse_pth(text: &str, path: &Path, site_dir: &Path) -> PthFile {
    let mut pth = PthFile {
        path: path.to_path_buf(),
        added_paths: Vec::new(),
        import_lines: Vec::new(),
    };
    for (index, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if line.starts_with("import ") || line.starts_with("import\t") {
            pth.import_lines.push((index as u32 + 1, line.to_string()));
            continue;
        }
        let dir = site_dir.join(line.trim_end());
        if dir.is_dir() {
            pth.added_paths.push(normalize_path(&dir));
        }
    }
    pth
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_lines() {
        let text = "six.py,sha256=abc,123\n\"we,ird.py\",,\n../../bin/x,,\n\"broken\n\n,sha,1\n";
        let (paths, bad) = parse_record(text);
        assert_eq!(paths, ["six.py", "we,ird.py", "../../bin/x"]);
        assert_eq!(bad, [4, 6]);
    }

    #[test]
    fn metadata_headers_stop_at_body() {
        let text = "Metadata-Version: 2.1\nName: six\nVersion: 1.16.0\n\nName: not-this\n";
        assert_eq!(
            parse_metadata(text),
            (Some("six".into()), Some("1.16.0".into()))
        );
        assert_eq!(parse_metadata("garbage"), (None, None));
    }
}
