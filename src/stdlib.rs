//! The standard library's top-level module names, to tell an import of the
//! stdlib (always present at run time) from one the unit is missing.
//!
//! Input: a dotted module name. Output: whether its top level is stdlib.

use std::collections::HashSet;
use std::sync::OnceLock;

static NAMES: &str = include_str!("stdlib.txt");

pub fn is_stdlib(module: &str) -> bool {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    let set = SET.get_or_init(|| {
        NAMES
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .collect()
    });
    set.contains(crate::names::top_level(module))
}

#[cfg(test)]
mod tests {
    #[test]
    fn knows_the_stdlib() {
        assert!(super::is_stdlib("os.path"));
        assert!(super::is_stdlib("importlib"));
        assert!(!super::is_stdlib("numpy"));
    }
}
