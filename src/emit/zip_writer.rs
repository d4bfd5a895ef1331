//! zip_writer: deterministic zips, deflated in parallel, streamed to disk.
//!
//! Input: [`Member`]s (path in the zip, bytes in memory or a file to read,
//! executable bit) and a destination (a file, or memory for small zips).
//! Output: the zip with sorted entries, a fixed time and fixed permissions,
//! so the same members always give the same bytes; a member that could
//! escape its folder is refused before anything is compressed. Members are
//! read from disk as they are compressed and chunks are compressed into
//! scratch files, so memory does not grow with the size of the members.

use crate::error::{Error, Result};
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// Where a member's bytes are.
pub(super) enum MemberBytes<'a> {
    Memory(&'a [u8]),
    /// A file of `len` bytes, read while it is compressed.
    File {
        path: PathBuf,
        len: u64,
    },
}

/// One entry of a zip.
pub(super) struct Member<'a> {
    pub name: String,
    pub bytes: MemberBytes<'a>,
    pub executable: bool,
}

impl Member<'_> {
    /// A file of the unit (or a compiled pyc), read when it is compressed.
    pub fn file(name: String, path: &Path, executable: bool) -> Result<Member<'static>> {
        let len = std::fs::metadata(path)
            .map_err(|e| Error::io(path, e))?
            .len();
        let path = path.to_path_buf();
        Ok(Member {
            name,
            bytes: MemberBytes::File { path, len },
            executable,
        })
    }

    pub fn len(&self) -> u64 {
        match &self.bytes {
            MemberBytes::Memory(bytes) => bytes.len() as u64,
            MemberBytes::File { len, .. } => *len,
        }
    }
}

/// A deterministic zip of every file under `dir` (paths relative to it),
/// written the way `deployment.zip` is; what benches/zip_writer.rs times.
pub fn zip_folder(dir: &Path) -> Result<Vec<u8>> {
    use std::os::unix::fs::PermissionsExt;
    let mut members = Vec::new();
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
        members.push(Member::file(rel, entry.path(), executable)?);
    }
    let scratch = tempfile::tempdir().map_err(|e| Error::io(&std::env::temp_dir(), e))?;
    let sink = std::io::Cursor::new(Vec::new());
    Ok(zip_into(members, sink, ZIP_CHUNK_BYTES, scratch.path(), dir)?.into_inner())
}

/// Input bytes per chunk that one thread compresses into its own zip;
/// chunks are then merged, in order, without recompression.
const ZIP_CHUNK_BYTES: u64 = 2_000_000;

/// Writes the deterministic zip of `members` to `dest`; returns its size.
/// Entries are deflated in parallel (contiguous chunks, one scratch zip
/// each, under `scratch`) and merged raw, so the result does not depend on
/// the thread count.
pub(super) fn write_zip(members: Vec<Member>, dest: &Path, scratch: &Path) -> Result<u64> {
    let file = File::create(dest).map_err(|e| Error::io(dest, e))?;
    let file = zip_into(members, file, ZIP_CHUNK_BYTES, scratch, dest)?;
    let len = file.metadata().map_err(|e| Error::io(dest, e))?.len();
    Ok(len)
}

/// Checks every name before anything is compressed: a bad member fails
/// `--check` too, and fails before a large bundle is written.
pub(super) fn check_members(members: &[Member]) -> Result<()> {
    members.iter().try_for_each(|m| assert_safe_member(&m.name))
}

/// The zip of `members` written to `sink`; `label` names the zip in errors.
fn zip_into<W: Write + Seek>(
    mut members: Vec<Member>,
    sink: W,
    chunk_bytes: u64,
    scratch: &Path,
    label: &Path,
) -> Result<W> {
    use rayon::prelude::*;
    members.sort_by(|x, y| x.name.cmp(&y.name));
    check_members(&members)?;
    let chunks = chunk_by_bytes(&members, chunk_bytes);
    if chunks.len() <= 1 {
        // Merging one chunk gives the same bytes; skip the copy.
        return zip_sequential(&members, sink, label);
    }
    let parts: Vec<File> = chunks
        .par_iter()
        .map(|range| {
            let part = tempfile::tempfile_in(scratch).map_err(|e| Error::io(scratch, e))?;
            zip_sequential(&members[range.clone()], part, label)
        })
        .collect::<Result<_>>()?;
    let failed = |what: &str, e: zip::result::ZipError| zip_failure(label, what, e);
    let mut writer = zip::ZipWriter::new(sink);
    for mut part in parts {
        part.rewind().map_err(|e| Error::io(label, e))?;
        let archive =
            zip::ZipArchive::new(part).map_err(|e| failed("re-reading a zip chunk", e))?;
        writer
            .merge_archive(archive)
            .map_err(|e| failed("merging zip chunks", e))?;
    }
    writer.finish().map_err(|e| failed("finishing zip", e))
}

/// Contiguous index ranges holding about `target` input bytes each.
fn chunk_by_bytes(members: &[Member], target: u64) -> Vec<std::ops::Range<usize>> {
    let mut chunks = Vec::new();
    let (mut start, mut bytes) = (0, 0u64);
    for (i, member) in members.iter().enumerate() {
        bytes += member.len();
        if bytes >= target {
            chunks.push(start..i + 1);
            (start, bytes) = (i + 1, 0);
        }
    }
    if start < members.len() {
        chunks.push(start..members.len());
    }
    chunks
}

fn zip_sequential<W: Write + Seek>(members: &[Member], sink: W, label: &Path) -> Result<W> {
    let mut writer = zip::ZipWriter::new(sink);
    let fixed = zip::DateTime::default(); // 1980-01-01 00:00:00
    for member in members {
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .compression_level(Some(6))
            .last_modified_time(fixed)
            .unix_permissions(if member.executable { 0o755 } else { 0o644 });
        let name = member.name.as_str();
        writer
            .start_file(name, options)
            .map_err(|e| zip_failure(label, &format!("writing zip entry {name}"), e))?;
        match &member.bytes {
            MemberBytes::Memory(bytes) => writer
                .write_all(bytes)
                .map_err(|e| zip_failure(label, &format!("writing zip entry {name}"), e.into()))?,
            MemberBytes::File { path, .. } => copy_file(path, &mut writer, label)?,
        }
    }
    writer
        .finish()
        .map_err(|e| zip_failure(label, "finishing zip", e))
}

/// How far ahead of the compressor a file is read. The deflater's output
/// (zlib-rs) depends on how its input is split when it runs out of input
/// mid-file; the zips must stay byte-identical to those written from a
/// whole file in memory, so it must never run out before the file's end.
/// One deflate call consumes at most what fills flate2's 32 KiB output
/// buffer, 32 KiB × 1032 (deflate's largest ratio) ≈ 33.8 MB: 64 MiB ahead
/// is always enough (zip_writer's tests check it on zeros).
const READ_AHEAD: usize = 64 << 20;

/// Files longer than [`READ_AHEAD`] hold a buffer of up to twice that
/// while they stream; at most this many stream at once, whatever the
/// number of cores, so peak memory does not grow with the machine.
const BIG_FILES_AT_ONCE: usize = 3;

/// A counting semaphore for [`BIG_FILES_AT_ONCE`].
struct BigFileSlots {
    in_use: std::sync::Mutex<usize>,
    freed: std::sync::Condvar,
}

static BIG_FILE_SLOTS: BigFileSlots = BigFileSlots {
    in_use: std::sync::Mutex::new(0),
    freed: std::sync::Condvar::new(),
};

/// A slot held while a big file streams; released on drop.
struct BigFileSlot;

impl BigFileSlot {
    fn take() -> BigFileSlot {
        let slots = &BIG_FILE_SLOTS;
        let mut in_use = slots.in_use.lock().unwrap_or_else(|e| e.into_inner());
        while *in_use >= BIG_FILES_AT_ONCE {
            in_use = slots.freed.wait(in_use).unwrap_or_else(|e| e.into_inner());
        }
        *in_use += 1;
        BigFileSlot
    }
}

impl Drop for BigFileSlot {
    fn drop(&mut self) {
        let slots = &BIG_FILE_SLOTS;
        *slots.in_use.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
        slots.freed.notify_one();
    }
}

/// Streams `path` into the zip entry being written, keeping at least
/// [`READ_AHEAD`] bytes (or the rest of the file) in front of the deflater.
fn copy_file(path: &Path, writer: &mut impl Write, label: &Path) -> Result<()> {
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let size = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let _slot = (size > READ_AHEAD as u64).then(BigFileSlot::take);
    let mut buffer: Vec<u8> = Vec::new();
    let (mut start, mut at_end) = (0, false);
    loop {
        if !at_end && buffer.len() - start < READ_AHEAD {
            buffer.drain(..start);
            start = 0;
            let wanted = (2 * READ_AHEAD - buffer.len()) as u64;
            let read = (&mut file)
                .take(wanted)
                .read_to_end(&mut buffer)
                .map_err(|e| Error::io(path, e))?;
            at_end = (read as u64) < wanted;
        }
        if start == buffer.len() {
            return Ok(());
        }
        let taken = writer
            .write(&buffer[start..])
            .map_err(|e| Error::io(label, e))?;
        if taken == 0 {
            let e = std::io::Error::from(std::io::ErrorKind::WriteZero);
            return Err(Error::io(label, e));
        }
        start += taken;
    }
}

/// A failure of the zip writer: the disk under `label` failed (or the zip
/// crate did), an I/O failure either way (exit 3).
fn zip_failure(label: &Path, what: &str, e: zip::result::ZipError) -> Error {
    let source = match e {
        zip::result::ZipError::Io(io) => std::io::Error::new(io.kind(), format!("{what}: {io}")),
        other => std::io::Error::other(format!("{what}: {other}")),
    };
    Error::io(label, source)
}

/// The packer never writes a member that could escape its folder.
fn assert_safe_member(name: &str) -> Result<()> {
    if !crate::contract::is_safe_member(name) {
        // The name comes from a file of the unit: the user's input (exit 2).
        return Err(Error::input(format!(
            "refusing to write zip member `{name}`: it could escape its folder when extracted; rename that file of the unit"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_more_big_files_stream_at_once_than_the_slots() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let (now, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
        std::thread::scope(|scope| {
            for _ in 0..4 * BIG_FILES_AT_ONCE {
                scope.spawn(|| {
                    let _slot = BigFileSlot::take();
                    let current = now.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(current, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(5));
                    now.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        let most = most.into_inner();
        assert!((1..=BIG_FILES_AT_ONCE).contains(&most), "{most}");
    }

    fn in_memory(members: Vec<Member>, chunk_bytes: u64) -> Result<Vec<u8>> {
        let scratch = tempfile::tempdir().unwrap();
        let sink = std::io::Cursor::new(Vec::new());
        let label = Path::new("test.zip");
        Ok(zip_into(members, sink, chunk_bytes, scratch.path(), label)?.into_inner())
    }

    #[test]
    fn the_packer_refuses_members_that_could_escape() {
        for name in ["../x.py", "/etc/x.py", "a/../../x.py", "a//x.py", "a/", ""] {
            let member = Member {
                name: name.to_string(),
                bytes: MemberBytes::Memory(b"x"),
                executable: false,
            };
            let err = in_memory(vec![member], ZIP_CHUNK_BYTES).unwrap_err();
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
        // Half the members in memory, half read from files: same bytes.
        let files = tempfile::tempdir().unwrap();
        let members = || -> Vec<Member> {
            data.iter()
                .enumerate()
                .map(|(i, (n, b, x))| {
                    if i % 2 == 0 {
                        let path = files.path().join(i.to_string());
                        std::fs::write(&path, b).unwrap();
                        Member::file(n.clone(), &path, *x).unwrap()
                    } else {
                        Member {
                            name: n.clone(),
                            bytes: MemberBytes::Memory(b),
                            executable: *x,
                        }
                    }
                })
                .collect()
        };
        let mut sorted = members();
        sorted.sort_by(|x, y| x.name.cmp(&y.name));
        let label = Path::new("test.zip");
        let sequential = zip_sequential(&sorted, std::io::Cursor::new(Vec::new()), label)
            .unwrap()
            .into_inner();
        // One chunk per entry, a few chunks, one chunk: byte-identical.
        for chunk in [1, 100_000, 2_000_000, u64::MAX] {
            let zip = in_memory(members(), chunk).unwrap();
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

    /// Zeros compress the most, so the deflater consumes the most per call:
    /// a file read ahead in blocks still zips like the whole file.
    #[test]
    fn a_file_streamed_in_blocks_zips_like_the_whole_file() {
        let zeros = vec![0u8; 3 * READ_AHEAD + 12345];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("zeros.bin");
        std::fs::write(&path, &zeros).unwrap();
        let label = Path::new("test.zip");
        let whole = Member {
            name: "zeros.bin".into(),
            bytes: MemberBytes::Memory(&zeros),
            executable: false,
        };
        let streamed = Member::file("zeros.bin".into(), &path, false).unwrap();
        let zip = |m| {
            zip_sequential(&[m], std::io::Cursor::new(Vec::new()), label)
                .unwrap()
                .into_inner()
        };
        assert!(zip(whole) == zip(streamed));
    }
}
