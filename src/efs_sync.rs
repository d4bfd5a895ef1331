//! efs-sync: populates an EFS mount from `caios-pack package`'s EFS tree.
//!
//! Input: the output folder of `package` (its `efs-manifest.yaml` and
//! `efs/<digest>/` tree) and the mount point. Output: every file of the
//! manifest under `ROOT/<digest>/`, written to a temporary name, verified
//! against its SHA-256 and renamed into place; files already present with the
//! right hash are skipped; nothing is ever deleted (an older tree that a
//! running function may still use stays where it is).

use crate::contract::{efs_tree_name, EfsManifest};
use crate::error::{Error, Result};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::{Component, Path};

#[derive(Debug, Default, Serialize)]
pub struct SyncReport {
    pub copied: usize,
    pub copied_bytes: u64,
    pub skipped: usize,
    pub skipped_bytes: u64,
    /// The folder under the mount that the catalogue's `efs_root` names.
    pub tree: String,
}

pub fn sync(dist: &Path, mount: &Path) -> Result<SyncReport> {
    let manifest_path = dist.join("efs-manifest.yaml");
    let text = std::fs::read_to_string(&manifest_path).map_err(|e| {
        Error::input(format!(
            "{}: cannot read ({e}); run `caios-pack package` first",
            manifest_path.display()
        ))
    })?;
    let manifest = EfsManifest::from_text(&text).map_err(|e| {
        Error::input(format!(
            "{}: not an EFS manifest: {e}",
            manifest_path.display()
        ))
    })?;
    // The digest names folders on both sides: only a SHA-256 in lowercase
    // hex may, never text that could climb out of them (`../..`).
    let is_sha256 = manifest.digest.len() == 64
        && manifest
            .digest
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !is_sha256 {
        return Err(Error::input(format!(
            "{}: digest `{}` is not a SHA-256 in lowercase hex; package the function again",
            manifest_path.display(),
            manifest.digest.chars().take(80).collect::<String>()
        )));
    }
    let short = efs_tree_name(&manifest.digest);
    let source = dist.join("efs").join(short);
    let target = mount.join(short);
    let mut report = SyncReport {
        tree: manifest.root.clone(),
        ..SyncReport::default()
    };
    for file in &manifest.files {
        if Path::new(&file.path)
            .components()
            .any(|c| !matches!(c, Component::Normal(_)))
        {
            return Err(Error::input(format!(
                "efs-manifest.yaml: refusing path `{}` that leaves the tree",
                file.path
            )));
        }
        let dest = target.join(&file.path);
        if sha256_of(&dest).is_some_and(|sha| sha == file.sha256) {
            report.skipped += 1;
            report.skipped_bytes += file.size;
            continue;
        }
        let from = source.join(&file.path);
        let bytes = std::fs::read(&from).map_err(|e| Error::io(&from, e))?;
        let sha = hex(&Sha256::digest(&bytes));
        if sha != file.sha256 || bytes.len() as u64 != file.size {
            return Err(Error::input(format!(
                "{}: does not match efs-manifest.yaml (sha256 {sha}, expected {}); re-run `caios-pack package`",
                from.display(),
                file.sha256
            )));
        }
        write_atomically(&dest, &bytes, &file.sha256)?;
        report.copied += 1;
        report.copied_bytes += file.size;
    }
    Ok(report)
}

/// Temporary file in the same folder, verified, then renamed into place.
fn write_atomically(dest: &Path, bytes: &[u8], sha: &str) -> Result<()> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let temp = dir.join(format!(".caios-{}-{}.tmp", std::process::id(), &sha[..12]));
    std::fs::write(&temp, bytes).map_err(|e| Error::io(&temp, e))?;
    if sha256_of(&temp).as_deref() != Some(sha) {
        let _ = std::fs::remove_file(&temp);
        // Reading back other bytes than were written is the mount's I/O
        // failing, not the user's input: exit 3.
        let source = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "written bytes do not verify; the mount may be failing",
        );
        return Err(Error::io(dest, source));
    }
    let mode =
        if dest.extension().is_some_and(|e| e == "so") || dest.to_string_lossy().contains(".so.") {
            0o755
        } else {
            0o644
        };
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&temp, std::fs::Permissions::from_mode(mode))
        .map_err(|e| Error::io(&temp, e))?;
    std::fs::rename(&temp, dest).map_err(|e| Error::io(dest, e))
}

fn sha256_of(path: &Path) -> Option<String> {
    std::fs::read(path)
        .ok()
        .map(|bytes| hex(&Sha256::digest(&bytes)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
