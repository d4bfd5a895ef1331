//! names: pure helpers on the names caios-pack reads — Python identifiers,
//! dotted module names, and paths taken as text.
//!
//! Input: a name or a path, as text. Output: whether it is valid, or its
//! normal form. Nothing here touches the filesystem or depends on another
//! module of the crate, so every stage (config, scan, imports, …) can use it
//! without a dependency cycle.

use std::path::{Component, Path, PathBuf};

/// `true` when `name` is a valid Python identifier (ASCII subset plus any
/// non-ASCII letter, which Python accepts in module names).
pub fn is_identifier(name: &str) -> bool {
    if name.is_ascii() {
        // The common case, without decoding characters.
        let bytes = name.as_bytes();
        return bytes
            .first()
            .is_some_and(|&b| b == b'_' || b.is_ascii_alphabetic())
            && bytes
                .iter()
                .all(|&b| b == b'_' || b.is_ascii_alphanumeric());
    }
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c == '_' || c.is_alphabetic() => {}
        _ => return false,
    }
    chars.all(|c| c == '_' || c.is_alphanumeric())
}

/// `true` when `name` is a dotted module name (`a`, `a.b.c`): non-empty,
/// every part an identifier.
pub fn is_dotted_name(name: &str) -> bool {
    !name.is_empty() && name.split('.').all(is_identifier)
}

/// The top-level package of a dotted module name (`a` for `a.b.c`).
pub fn top_level(name: &str) -> &str {
    name.split('.').next().unwrap_or(name)
}

/// Lexically normalises `a/b/../c` to `a/c` without touching the filesystem
/// (as the dynamic loader and pip's RECORD see paths; symlinks are not
/// followed). `..` above the root stays at the root; leading `..` of a
/// relative path are kept.
pub fn normalize_path(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::ParentDir => match out.components().next_back() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir) => {}
                _ => out.push(".."),
            },
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_table() {
        // (name, is_identifier, is_dotted_name, top_level)
        let cases: &[(&str, bool, bool, &str)] = &[
            ("a", true, true, "a"),
            ("_x1", true, true, "_x1"),
            ("__init__", true, true, "__init__"),
            ("héllo", true, true, "héllo"),
            ("numpy.libs", false, true, "numpy"),
            ("a.b.c", false, true, "a"),
            ("pandas._libs.tslibs", false, true, "pandas"),
            ("", false, false, ""),
            ("1a", false, false, "1a"),
            ("a-b", false, false, "a-b"),
            ("a..b", false, false, "a"),
            (".a", false, false, ""),
            ("a.", false, false, "a"),
            ("a.1b", false, false, "a"),
            ("a b", false, false, "a b"),
            ("日本.語", false, true, "日本"),
        ];
        for &(name, ident, dotted, top) in cases {
            assert_eq!(is_identifier(name), ident, "is_identifier({name:?})");
            assert_eq!(is_dotted_name(name), dotted, "is_dotted_name({name:?})");
            assert_eq!(top_level(name), top, "top_level({name:?})");
        }
    }

    #[test]
    fn normalize_path_table() {
        let cases = [
            ("/e/numpy/_core/../../numpy.libs", "/e/numpy.libs"),
            ("/a/./b/c", "/a/b/c"),
            ("/a/b/../../..", "/"),
            ("a/../../b", "../b"),
            ("../x/y/..", "../x"),
            ("pkg/sub/../mod.py", "pkg/mod.py"),
            ("", ""),
        ];
        for (input, want) in cases {
            assert_eq!(normalize_path(Path::new(input)), Path::new(want), "{input}");
        }
    }
}
