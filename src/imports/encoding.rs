//! Source decoding per PEP 263: a BOM, or a `coding` declaration on one of the
//! first two lines, selects the encoding; UTF-8 otherwise.
//!
//! Input: a file's bytes (borrowed: UTF-8 text is not copied). Output: its text, and a warning when the bytes do
//! not match the declared encoding (the text is then decoded lossily).

use std::borrow::Cow;

/// Decodes `bytes`; the second value is a warning to report, if any.
pub fn decode_source(bytes: &[u8]) -> (Cow<'_, str>, Option<String>) {
    if let Some(rest) = bytes.strip_prefix(b"\xef\xbb\xbf") {
        return decode_utf8(rest);
    }
    let Some(label) = declared_encoding(bytes) else {
        return decode_utf8(bytes);
    };
    let normalized = label.to_ascii_lowercase().replace('_', "-");
    if matches!(normalized.as_str(), "utf-8" | "utf8") || normalized.starts_with("utf-8-") {
        return decode_utf8(bytes);
    }
    // encoding_rs follows the WHATWG labels, where latin-1 names windows-1252:
    // a superset for printable text, which is all an import scan needs.
    match whatwg_encoding(&normalized) {
        Some(encoding) => {
            let (text, _, had_errors) = encoding.decode(bytes);
            let warning =
                had_errors.then(|| format!("bytes invalid in declared encoding `{label}`"));
            (text, warning)
        }
        None => {
            let (text, _) = decode_utf8(bytes);
            (
                text,
                Some(format!("unknown source encoding `{label}`; read as UTF-8")),
            )
        }
    }
}

/// Python's codec names (`latin-1`, `iso8859_15`, `cp1252`) mapped onto the
/// WHATWG labels encoding_rs knows.
fn whatwg_encoding(python_name: &str) -> Option<&'static encoding_rs::Encoding> {
    let compact = python_name.replace('-', "");
    let candidates = [
        python_name.to_string(),
        compact.clone(),
        compact.replace("iso8859", "iso-8859-"),
        compact.replace("cp", "windows-"),
    ];
    let alias = match compact.as_str() {
        "latin1" | "l1" | "iso88591" | "8859" | "cp819" => Some("iso-8859-1"),
        _ => None,
    };
    alias
        .into_iter()
        .map(String::from)
        .chain(candidates)
        .find_map(|label| encoding_rs::Encoding::for_label(label.as_bytes()))
}

fn decode_utf8(bytes: &[u8]) -> (Cow<'_, str>, Option<String>) {
    match std::str::from_utf8(bytes) {
        Ok(text) => (Cow::Borrowed(text), None),
        Err(err) => (
            String::from_utf8_lossy(bytes),
            Some(format!(
                "not valid UTF-8 ({err}) and no coding declaration; read lossily"
            )),
        ),
    }
}

/// The label of a `# -*- coding: NAME -*-` line among the first two lines.
fn declared_encoding(bytes: &[u8]) -> Option<String> {
    for line in bytes.split(|&b| b == b'\n').take(2) {
        let line = String::from_utf8_lossy(line);
        let trimmed = line.trim_start_matches([' ', '\t', '\x0c']);
        if !trimmed.starts_with('#') {
            continue;
        }
        let Some(at) = trimmed.find("coding") else {
            continue;
        };
        let rest = &trimmed[at + "coding".len()..];
        let Some(rest) = rest.strip_prefix([':', '=']) else {
            continue;
        };
        let rest = rest.trim_start_matches([' ', '\t']);
        let label: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            .collect();
        if !label.is_empty() {
            return Some(label);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_by_declaration() {
        let cases: &[(&[u8], &str, bool)] = &[
            (b"import os\n", "import os\n", false),
            (b"\xef\xbb\xbfimport os\n", "import os\n", false),
            (
                b"# -*- coding: latin-1 -*-\nx = '\xe9'\n",
                "# -*- coding: latin-1 -*-\nx = '\u{e9}'\n",
                false,
            ),
            (
                b"#!/usr/bin/python\n# vim: set fileencoding=iso-8859-15 :\ns='\xa4'\n",
                "#!/usr/bin/python\n# vim: set fileencoding=iso-8859-15 :\ns='\u{20ac}'\n",
                false,
            ),
            (b"x = '\xe9'\n", "x = '\u{fffd}'\n", true),
            (
                b"# coding: klingon\nimport os\n",
                "# coding: klingon\nimport os\n",
                true,
            ),
        ];
        for (bytes, text, warns) in cases {
            let (got, warning) = decode_source(bytes);
            assert_eq!(&got, text);
            assert_eq!(warning.is_some(), *warns, "{warning:?}");
        }
    }
}
