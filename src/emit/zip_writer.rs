//! zip_writer: deterministic zips, deflated in parallel.
//!
//! Input: members (path, bytes, executable). Output: zip bytes with sorted
//! entries, a fixed time and fixed permissions, so the same members always
//! give the same bytes; a member that could escape its folder is refused.

use super::read;
use crate::error::{Error, Result};
use std::io::Write;
use std::path::Path;

/// A deterministic zip of every file under `dir` (paths relative to it),
/// written the way `deployment.zip` is; what benches/zip_writer.rs times.
pub fn zip_folder(dir: &Path) -> Result<Vec<u8>> {
    use std::os::unix::fs::PermissionsExt;
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(dir) {
        let entry = entry.map_err(|e| Error::input(format!("{}: {e}", dir.display())))?;
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = entry
            .path()
            .strip_prefix(dir)
            .unwrap_or(entry.path())
            .to_string_lossy()
            .into_owned();
        let executable = entry
            .metadata()
            .map(|m| m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false);
        files.push((rel, read(entry.path())?, executable));
    }
    zip_bytes(files.iter().map(|(r, b, x)| (r.clone(), b.as_slice(), *x)))
}

/// Input bytes per chunk that one thread compresses into its own in-memory
/// zip; chunks are then merged, in order, without recompression.
const ZIP_CHUNK_BYTES: u64 = 2_000_000;

/// A deterministic zip: sorted entries, fixed time, fixed permissions.
/// Entries are deflated in parallel (contiguous chunks, one in-memory zip
/// each) and merged raw, so the result does not depend on the thread count.
pub(super) fn zip_bytes<'a>(
    entries: impl Iterator<Item = (String, &'a [u8], bool)>,
) -> Result<Vec<u8>> {
    zip_bytes_in_chunks(entries, ZIP_CHUNK_BYTES)
}

fn zip_bytes_in_chunks<'a>(
    entries: impl Iterator<Item = (String, &'a [u8], bool)>,
    chunk_bytes: u64,
) -> Result<Vec<u8>> {
    use rayon::prelude::*;
    let mut entries: Vec<(String, &[u8], bool)> = entries.collect();
    entries.sort_by(|x, y| x.0.cmp(&y.0));
    for (name, _, _) in &entries {
        assert_safe_member(name)?;
    }
    let chunks = chunk_by_bytes(&entries, chunk_bytes);
    let parts: Vec<Vec<u8>> = chunks
        .par_iter()
        .map(|range| zip_sequential(&entries[range.clone()]))
        .collect::<Result<_>>()?;
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for part in parts {
        let archive = zip::ZipArchive::new(std::io::Cursor::new(part))
            .map_err(|e| Error::Failed(format!("re-reading a zip chunk: {e}")))?;
        writer
            .merge_archive(archive)
            .map_err(|e| Error::Failed(format!("merging zip chunks: {e}")))?;
    }
    let cursor = writer
        .finish()
        .map_err(|e| Error::Failed(format!("finishing zip: {e}")))?;
    Ok(cursor.into_inner())
}

/// Contiguous index ranges holding about `target` input bytes each.
fn chunk_by_bytes(entries: &[(String, &[u8], bool)], target: u64) -> Vec<std::ops::Range<usize>> {
    let mut chunks = Vec::new();
    let (mut start, mut bytes) = (0, 0u64);
    for (i, (_, data, _)) in entries.iter().enumerate() {
        bytes += data.len() as u64;
        if bytes >= target {
            chunks.push(start..i + 1);
            (start, bytes) = (i + 1, 0);
        }
    }
    if start < entries.len() {
        chunks.push(start..entries.len());
    }
    chunks
}

fn zip_sequential(entries: &[(String, &[u8], bool)]) -> Result<Vec<u8>> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let fixed = zip::DateTime::default(); // 1980-01-01 00:00:00
    for (name, bytes, executable) in entries {
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .compression_level(Some(6))
            .last_modified_time(fixed)
            .unix_permissions(if *executable { 0o755 } else { 0o644 });
        writer
            .start_file(name.as_str(), options)
            .and_then(|_| writer.write_all(bytes).map_err(Into::into))
            .map_err(|e| Error::Failed(format!("writing zip entry {name}: {e}")))?;
    }
    let cursor = writer
        .finish()
        .map_err(|e| Error::Failed(format!("finishing zip: {e}")))?;
    Ok(cursor.into_inner())
}

/// The packer never writes a member that could escape its folder.
fn assert_safe_member(name: &str) -> Result<()> {
    if !crate::contract::is_safe_member(name) {
        return Err(Error::Failed(format!(
            "refusing to write zip member `{name}`: it could escape its folder"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_packer_refuses_members_that_could_escape() {
        for name in ["../x.py", "/etc/x.py", "a/../../x.py", "a//x.py", "a/", ""] {
            let err = zip_bytes([(name.to_string(), &b"x"[..], false)].into_iter()).unwrap_err();
            assert!(err.to_string().contains("could escape"), "{name}: {err}");
        }
    }

    #[test]
    fn zip_is_sorted_deterministic_and_the_same_at_any_chunk_size() {
        let data: Vec<(String, Vec<u8>, bool)> = (0..50)
            .map(|i| {
                let name = format!("pkg/m{:02}.so", 49 - i);
                (name, vec![b'a' + (i % 26) as u8; 10_000 * i], i % 3 == 0)
            })
            .collect();
        let entries = || data.iter().map(|(n, b, x)| (n.clone(), b.as_slice(), *x));
        let mut sorted: Vec<(String, &[u8], bool)> = entries().collect();
        sorted.sort_by(|x, y| x.0.cmp(&y.0));
        let sequential = zip_sequential(&sorted).unwrap();
        // One chunk per entry, a few chunks, one chunk: byte-identical.
        for chunk in [1, 100_000, 2_000_000, u64::MAX] {
            let zip = zip_bytes_in_chunks(entries(), chunk).unwrap();
            assert!(zip == sequential, "chunk size {chunk} changes the bytes");
        }
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(sequential)).unwrap();
        let mut names = Vec::new();
        for i in 0..archive.len() {
            let file = archive.by_index(i).unwrap();
            let executable = data.iter().find(|d| d.0 == file.name()).unwrap().2;
            let mode = if executable { 0o755 } else { 0o644 };
            assert_eq!(
                file.unix_mode().map(|m| m & 0o777),
                Some(mode),
                "{}",
                file.name()
            );
            names.push(file.name().to_string());
        }
        assert!(names.windows(2).all(|w| w[0] < w[1]));
    }
}
