//! ELF facts about one shared object: what it links and what it may import.
//!
//! Input: the bytes of a `.so` file. Output: an [`ElfInfo`] with its `DT_NEEDED`
//! entries, its RPATH/RUNPATH directories with `$ORIGIN` expanded, whether it
//! exports a `PyInit_*` entry point (so it is an extension module, not a plain
//! library), and the dotted-name tokens of its read-only data, from which the
//! imports stage finds imports made by compiled code (Cython, pybind11).

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

/// What caios-pack needs to know about one ELF shared object.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct ElfInfo {
    /// `DT_NEEDED` sonames, in link order.
    pub needed: Vec<String>,
    /// RUNPATH (or RPATH when there is no RUNPATH) with `$ORIGIN` expanded.
    pub search_dirs: Vec<PathBuf>,
    /// Names after `PyInit_` of exported entry points.
    pub py_init: Vec<String>,
    /// Identifier-like tokens from the data sections (`a`, `a.b.c`) whose
    /// first part is a top-level name of the unit; only collected for
    /// candidate extension modules.
    #[serde(skip)]
    pub tokens: Vec<String>,
    /// Runs of name characters starting at a top-level name inside Cython's
    /// decompressed string tables, where constants sit back to back with no
    /// separator (`dateutil.parserdateutil.tzday…`): the imports stage keeps
    /// the longest prefix that is a module.
    #[serde(skip)]
    pub packed_runs: Vec<String>,
}

/// Parses `bytes` of the file at `path`. Errors are returned as text so the
/// caller can report a malformed ELF as a warning.
/// `top_level`: the unit's top-level module names, when tokens should be
/// collected (candidate extension modules only).
pub fn read_elf(
    bytes: &[u8],
    path: &Path,
    top_level: Option<&HashSet<String>>,
) -> Result<ElfInfo, String> {
    let elf = goblin::elf::Elf::parse(bytes).map_err(|e| format!("not a valid ELF file: {e}"))?;
    let origin = path.parent().unwrap_or(Path::new("/"));
    let mut info = ElfInfo {
        needed: elf.libraries.iter().map(|s| s.to_string()).collect(),
        ..ElfInfo::default()
    };
    // The dynamic loader ignores RPATH when RUNPATH is present.
    let paths = if elf.runpaths.is_empty() {
        &elf.rpaths
    } else {
        &elf.runpaths
    };
    for entry in paths.iter().flat_map(|p| p.split(':')) {
        if entry.is_empty() {
            continue;
        }
        let expanded = entry
            .replace("${ORIGIN}", &origin.to_string_lossy())
            .replace("$ORIGIN", &origin.to_string_lossy());
        info.search_dirs.push(normalize(Path::new(&expanded)));
    }
    for sym in elf.dynsyms.iter() {
        if sym.st_shndx == 0 || sym.st_value == 0 {
            continue; // undefined: an import, not an export
        }
        if let Some(name) = elf.dynstrtab.get_at(sym.st_name) {
            if let Some(module) = name.strip_prefix("PyInit_") {
                info.py_init.push(module.to_string());
            }
        }
    }
    if let Some(top_level) = top_level {
        let keep_token = |t: &str| top_level.contains(t.split('.').next().unwrap_or(t));
        let mut tokens = BTreeSet::new();
        let mut runs = BTreeSet::new();
        for section in &elf.section_headers {
            let name = elf.shdr_strtab.get_at(section.sh_name).unwrap_or("");
            if !matches!(name, ".rodata" | ".data" | ".data.rel.ro") {
                continue;
            }
            let start = section.sh_offset as usize;
            let end = start
                .saturating_add(section.sh_size as usize)
                .min(bytes.len());
            if section.sh_type == goblin::elf::section_header::SHT_NOBITS || start >= end {
                continue;
            }
            let data = &bytes[start..end];
            collect_name_tokens(data, &keep_token, &mut tokens);
            for table in super::cython_strings::decompress_candidates(data) {
                collect_packed_runs(&table, top_level, &mut runs);
            }
        }
        info.tokens = tokens.into_iter().collect();
        info.packed_runs = runs.into_iter().collect();
    }
    Ok(info)
}

/// Splits `data` into runs of `[A-Za-z0-9_.]` and keeps those that look like
/// dotted module names and pass `keep`. Strings in `.rodata` are NUL separated
/// (C literals) or packed back to back (Cython's string tables); the split on
/// any other byte handles the first kind, and `keep` (known top-level names)
/// limits false matches from the second.
pub fn collect_name_tokens(data: &[u8], keep: &dyn Fn(&str) -> bool, out: &mut BTreeSet<String>) {
    let is_name_byte = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'.';
    let mut i = 0;
    while i < data.len() {
        if !is_name_byte(data[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < data.len() && is_name_byte(data[i]) {
            i += 1;
        }
        let run = &data[start..i];
        if run.len() < 2 || run.len() > 200 {
            continue;
        }
        // Only ASCII bytes reach here, so this cannot fail.
        let Ok(text) = std::str::from_utf8(run) else {
            continue;
        };
        let text = text.trim_matches('.');
        if is_dotted_name(text) && keep(text) {
            out.insert(text.to_string());
        }
    }
}

/// Every run of name bytes (capped) that starts where a top-level name
/// occurs in `table`.
fn collect_packed_runs(table: &[u8], top_level: &HashSet<String>, out: &mut BTreeSet<String>) {
    const MAX_RUN: usize = 256;
    let is_name_byte = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'.';
    // Names by first byte, so one pass over the table finds every occurrence.
    let mut by_first: Vec<Vec<&[u8]>> = vec![Vec::new(); 256];
    for name in top_level.iter().filter(|n| n.len() >= 2) {
        by_first[name.as_bytes()[0] as usize].push(name.as_bytes());
    }
    for start in 0..table.len() {
        let candidates = &by_first[table[start] as usize];
        if candidates.is_empty() || !candidates.iter().any(|n| table[start..].starts_with(n)) {
            continue;
        }
        let mut end = start;
        while end < table.len() && end - start < MAX_RUN && is_name_byte(table[end]) {
            end += 1;
        }
        if let Ok(run) = std::str::from_utf8(&table[start..end]) {
            out.insert(run.trim_end_matches('.').to_string());
        }
    }
}

fn is_dotted_name(text: &str) -> bool {
    !text.is_empty() && text.split('.').all(crate::scan::is_identifier)
}

/// Lexically normalises `a/b/../c` to `a/c` without touching the filesystem.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => match out.components().next_back() {
                Some(std::path::Component::Normal(_)) => {
                    out.pop();
                }
                Some(std::path::Component::RootDir) => {}
                _ => out.push(".."),
            },
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_split_on_non_name_bytes() {
        let data = b"\0dateutil.parser\0numpy\0x\0%s.%s\0hello world\0.numpy._core._exceptions.\0";
        let mut out = BTreeSet::new();
        collect_name_tokens(
            data,
            &|t| t.starts_with("numpy") || t.starts_with("dateutil"),
            &mut out,
        );
        let got: Vec<_> = out.into_iter().collect();
        assert_eq!(got, ["dateutil.parser", "numpy", "numpy._core._exceptions"]);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(
            read_elf(b"\x7fELF\x02\x01garbage", Path::new("x.so"), true, &|_| {
                true
            })
            .is_err()
        );
        assert!(read_elf(b"", Path::new("x.so"), true, &|_| true).is_err());
    }

    #[test]
    fn packed_runs_start_at_top_level_names() {
        let top = HashSet::from(["dateutil".to_string(), "numpy".to_string()]);
        let mut out = BTreeSet::new();
        collect_packed_runs(
            b"formatdateutil.parserdateutil.tzday\0xnumpy.",
            &top,
            &mut out,
        );
        let got: Vec<_> = out.into_iter().collect();
        assert_eq!(
            got,
            ["dateutil.parserdateutil.tzday", "dateutil.tzday", "numpy"]
        );
    }

    #[test]
    fn normalizes_origin_paths() {
        assert_eq!(
            normalize(Path::new("/e/numpy/_core/../../numpy.libs")),
            Path::new("/e/numpy.libs")
        );
    }
}
