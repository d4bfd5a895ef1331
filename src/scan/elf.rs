//! ELF facts about one shared object: what it links and what it may import.
//!
//! Input: the bytes of a `.so` file. Output: an [`ElfInfo`] with its `DT_NEEDED`
//! entries, its RPATH/RUNPATH directories with `$ORIGIN` expanded, whether it
//! exports a `PyInit_*` entry point (so it is an extension module, not a plain
//! library), and the dotted-name tokens of its read-only data, from which the
//! imports stage finds imports made by compiled code (Cython, pybind11).

use crate::names::{self, is_dotted_name, normalize_path};
use rustc_hash::FxHashSet as HashSet;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// What caios-pack needs to know about one ELF shared object.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct ElfInfo {
    /// `DT_SONAME`, when it has one.
    pub soname: Option<String>,
    /// `DT_NEEDED` sonames, in link order.
    pub needed: Vec<String>,
    /// `DT_RPATH` folders with `$ORIGIN` expanded; empty when the object has
    /// a `DT_RUNPATH`, since the dynamic loader then ignores its RPATH (for
    /// its own needs and for those of the objects it loads).
    pub rpath: Vec<PathBuf>,
    /// `DT_RUNPATH` folders with `$ORIGIN` expanded (not inherited).
    pub runpath: Vec<PathBuf>,
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
/// `top_level`: the unit's top-level module names, given for files named
/// like extension modules: only those get their `PyInit_` exports and data
/// tokens read.
pub fn read_elf(
    bytes: &[u8],
    path: &Path,
    top_level: Option<&HashSet<String>>,
) -> Result<ElfInfo, String> {
    let elf = Elf::new(bytes)?;
    let sections = elf.sections()?;
    let origin = path.parent().unwrap_or(Path::new("/"));
    let mut info = ElfInfo::default();
    let (mut rpath, mut runpath) = (Vec::new(), Vec::new());
    for section in sections.iter().filter(|s| s.kind == SHT_DYNAMIC) {
        let strtab = sections
            .get(section.link as usize)
            .ok_or("dynamic section without string table")?;
        for (tag, value) in elf.dynamic_entries(section) {
            let text = || elf.string(strtab, value).map(str::to_string);
            match tag {
                DT_NEEDED => info.needed.extend(text()),
                DT_SONAME => info.soname = text(),
                DT_RPATH => rpath.extend(text()),
                DT_RUNPATH => runpath.extend(text()),
                _ => {}
            }
        }
    }
    // The dynamic loader ignores RPATH when RUNPATH is present.
    if runpath.is_empty() {
        info.rpath = expand_search_path(&rpath, origin);
    } else {
        info.runpath = expand_search_path(&runpath, origin);
    }
    // Only a file named like a module can be one: a library such as
    // libarrow.so.2600 has 100,000 dynamic symbols nobody needs to read.
    let may_be_module = top_level.is_some();
    for section in sections
        .iter()
        .filter(|s| may_be_module && s.kind == SHT_DYNSYM)
    {
        let Some(strtab) = sections.get(section.link as usize) else {
            continue;
        };
        info.py_init
            .extend(elf.exported_with_prefix(section, strtab, "PyInit_"));
    }
    if let Some(top_level) = top_level {
        let keep_token = |t: &str| top_level.contains(names::top_level(t));
        let mut tokens = BTreeSet::new();
        let mut runs = BTreeSet::new();
        let names = sections.get(elf.shstrndx).ok_or("no section name table")?;
        for section in &sections {
            let name = elf.string(names, u64::from(section.name)).unwrap_or("");
            if !matches!(name, ".rodata" | ".data" | ".data.rel.ro") || section.kind == SHT_NOBITS {
                continue;
            }
            let Some(data) = elf.section_bytes(section) else {
                continue;
            };
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

/// `a:$ORIGIN/../b.libs` entries as folders, `$ORIGIN` being `origin`.
fn expand_search_path(entries: &[String], origin: &Path) -> Vec<PathBuf> {
    let origin = origin.to_string_lossy();
    entries
        .iter()
        .flat_map(|p| p.split(':'))
        .filter(|e| !e.is_empty())
        .map(|entry| {
            let expanded = entry
                .replace("${ORIGIN}", &origin)
                .replace("$ORIGIN", &origin);
            normalize_path(Path::new(&expanded))
        })
        .collect()
}

const SHT_DYNSYM: u32 = 11;
const SHT_DYNAMIC: u32 = 6;
const SHT_NOBITS: u32 = 8;
const DT_NEEDED: u64 = 1;
const DT_SONAME: u64 = 14;
const DT_RPATH: u64 = 15;
const DT_RUNPATH: u64 = 29;

/// A bounds-checked view of an ELF file, 32- or 64-bit, either byte order.
/// Only what caios-pack needs: section headers, the dynamic section, dynamic
/// symbols and string tables — read in place, nothing parsed eagerly (a
/// 60 MB library has 100,000 symbols nobody needs).
struct Elf<'a> {
    bytes: &'a [u8],
    is64: bool,
    little: bool,
    shstrndx: usize,
}

struct Section {
    name: u32,
    kind: u32,
    offset: u64,
    size: u64,
    link: u32,
}

impl<'a> Elf<'a> {
    fn new(bytes: &'a [u8]) -> Result<Self, String> {
        if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" {
            return Err("not a valid ELF file: bad magic or truncated header".into());
        }
        let is64 = match bytes[4] {
            1 => false,
            2 => true,
            class => return Err(format!("not a valid ELF file: class {class}")),
        };
        let little = match bytes[5] {
            1 => true,
            2 => false,
            data => return Err(format!("not a valid ELF file: data encoding {data}")),
        };
        let mut elf = Elf {
            bytes,
            is64,
            little,
            shstrndx: 0,
        };
        elf.shstrndx = elf
            .u16(if is64 { 0x3e } else { 0x32 })
            .ok_or("truncated header")? as usize;
        Ok(elf)
    }

    fn uint(&self, at: u64, width: usize) -> Option<u64> {
        let start = usize::try_from(at).ok()?;
        let raw = self.bytes.get(start..start.checked_add(width)?)?;
        let mut value = 0u64;
        for i in 0..width {
            let byte = if self.little {
                raw[width - 1 - i]
            } else {
                raw[i]
            };
            value = (value << 8) | u64::from(byte);
        }
        Some(value)
    }
    fn u16(&self, at: u64) -> Option<u64> {
        self.uint(at, 2)
    }
    fn u32(&self, at: u64) -> Option<u64> {
        self.uint(at, 4)
    }
    /// A word: 8 bytes in ELF64, 4 in ELF32.
    fn word(&self, at: u64) -> Option<u64> {
        self.uint(at, if self.is64 { 8 } else { 4 })
    }

    fn sections(&self) -> Result<Vec<Section>, String> {
        let bad = || "not a valid ELF file: section headers out of bounds".to_string();
        let (shoff, entsize, count) = if self.is64 {
            (self.word(0x28), self.u16(0x3a), self.u16(0x3c))
        } else {
            (self.word(0x20), self.u16(0x2e), self.u16(0x30))
        };
        let (shoff, entsize, count) = (
            shoff.ok_or_else(bad)?,
            entsize.ok_or_else(bad)?,
            count.ok_or_else(bad)?,
        );
        let mut out = Vec::with_capacity(count as usize);
        for i in 0..count {
            let at = shoff.checked_add(i * entsize).ok_or_else(bad)?;
            let field = |off64: u64, off32: u64, wide: bool| {
                if self.is64 {
                    if wide {
                        self.word(at + off64)
                    } else {
                        self.u32(at + off64)
                    }
                } else {
                    self.u32(at + off32)
                }
            };
            out.push(Section {
                name: field(0, 0, false).ok_or_else(bad)? as u32,
                kind: field(4, 4, false).ok_or_else(bad)? as u32,
                offset: field(24, 16, true).ok_or_else(bad)?,
                size: field(32, 20, true).ok_or_else(bad)?,
                link: field(40, 24, false).ok_or_else(bad)? as u32,
            });
        }
        Ok(out)
    }

    fn section_bytes(&self, section: &Section) -> Option<&'a [u8]> {
        let start = usize::try_from(section.offset).ok()?;
        let end = start.checked_add(usize::try_from(section.size).ok()?)?;
        self.bytes.get(start..end.min(self.bytes.len()))
    }

    /// The NUL-terminated string at `offset` of a string table section.
    fn string(&self, strtab: &Section, offset: u64) -> Option<&'a str> {
        let table = self.section_bytes(strtab)?;
        let rest = table.get(usize::try_from(offset).ok()?..)?;
        let end = rest.iter().position(|&b| b == 0)?;
        std::str::from_utf8(&rest[..end]).ok()
    }

    /// `(d_tag, d_val)` pairs up to `DT_NULL`.
    fn dynamic_entries(&self, section: &Section) -> Vec<(u64, u64)> {
        let entry = if self.is64 { 16 } else { 8 };
        let half = entry / 2;
        let mut out = Vec::new();
        let mut at = section.offset;
        let end = section.offset.saturating_add(section.size);
        while at + entry <= end {
            let (Some(tag), Some(value)) = (self.word(at), self.word(at + half)) else {
                break;
            };
            if tag == 0 {
                break;
            }
            out.push((tag, value));
            at += entry;
        }
        out
    }

    /// Names after `prefix` of defined symbols in a symbol table.
    fn exported_with_prefix(
        &self,
        symtab: &Section,
        strtab: &Section,
        prefix: &str,
    ) -> Vec<String> {
        let (entry, shndx_at) = if self.is64 { (24u64, 6u64) } else { (16, 14) };
        let Some(names) = self.section_bytes(strtab) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let count = symtab.size / entry;
        for i in 0..count {
            let at = symtab.offset + i * entry;
            let (Some(name), Some(shndx)) = (self.u32(at), self.u16(at + shndx_at)) else {
                break;
            };
            if shndx == 0 {
                continue; // undefined: an import, not an export
            }
            let Some(rest) = usize::try_from(name).ok().and_then(|n| names.get(n..)) else {
                continue;
            };
            if rest.starts_with(prefix.as_bytes()) {
                let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
                if let Ok(text) = std::str::from_utf8(&rest[prefix.len()..end]) {
                    out.push(text.to_string());
                }
            }
        }
        out
    }
}

/// Splits `data` into runs of `[A-Za-z0-9_.]` and keeps those that look like
/// dotted module names and pass `keep`. Strings in `.rodata` are NUL separated
/// (C literals) or packed back to back (Cython's string tables); the split on
/// any other byte handles the first kind, and `keep` (known top-level names)
/// limits false matches from the second.
pub fn collect_name_tokens(data: &[u8], keep: &dyn Fn(&str) -> bool, out: &mut BTreeSet<String>) {
    // A table, not three comparisons per byte: this loop sees every byte of
    // every extension module's data sections.
    static NAME_BYTE: [bool; 256] = {
        let mut table = [false; 256];
        let mut b = 0;
        while b < 256 {
            let c = b as u8;
            table[b] = c.is_ascii_alphanumeric() || c == b'_' || c == b'.';
            b += 1;
        }
        table
    };
    let is_name_byte = |b: u8| NAME_BYTE[b as usize];
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
        // `keep` (a set lookup of the first segment) rejects most runs;
        // check it before the per-character name test.
        if keep(text) && is_dotted_name(text) {
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
    fn reads_a_real_shared_object() {
        // The C math library is on every Debian machine this runs on.
        let path = format!("/lib/{}-linux-gnu/libm.so.6", std::env::consts::ARCH);
        let path = Path::new(&path);
        let bytes = std::fs::read(path).expect("libm.so.6 exists");
        let info = read_elf(&bytes, path, None).unwrap();
        assert!(
            info.needed.iter().any(|n| n.starts_with("libc.so")),
            "{:?}",
            info.needed
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let top: HashSet<String> = ["x".to_string()].into_iter().collect();
        assert!(read_elf(b"\x7fELF\x02\x01garbage", Path::new("x.so"), Some(&top)).is_err());
        assert!(read_elf(b"", Path::new("x.so"), None).is_err());
        // A valid header whose section table points past the end of the file.
        let mut header = vec![0u8; 64];
        header[..6].copy_from_slice(b"\x7fELF\x02\x01");
        header[0x28] = 0xff;
        header[0x3c] = 3;
        assert!(read_elf(&header, Path::new("x.so"), Some(&top)).is_err());
        // Random bytes behind a valid magic never panic.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..2000 {
            let mut bytes = header.clone();
            bytes.resize(256, 0);
            for b in bytes[6..].iter_mut() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *b = state as u8;
            }
            let _ = read_elf(&bytes, Path::new("x.so"), Some(&top));
        }
    }

    #[test]
    fn packed_runs_start_at_top_level_names() {
        let top: HashSet<String> = ["dateutil".to_string(), "numpy".to_string()]
            .into_iter()
            .collect();
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
}
