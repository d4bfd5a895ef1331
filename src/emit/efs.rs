//! efs: the tree of files placed on EFS and its manifest.
//!
//! Input: the placed files, the mount point and, when writing, the `efs/`
//! folder. Output: each EFS file copied to `efs/<tree name>/` as it is
//! hashed (never held in memory), the digest of the sorted manifest (which
//! names the tree's folder) and `efs-manifest.yaml`.

use super::placement::Placed;
use super::{hex, set_mode};
use crate::config::TierName;
use crate::contract::{efs_tree_name, EfsManifest, EfsManifestFile};
use crate::error::{Error, Result};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::Path;

/// The EFS tree: its files' manifest entries and the digest they hash to.
pub(super) struct EfsTree {
    pub(super) digest: String,
    /// Where the function sees the tree: `<mount>/<digest16>`.
    pub(super) mount: String,
    /// Sorted as the manifest lines (`sha size path`) the digest hashes.
    pub(super) files: Vec<EfsManifestFile>,
}

impl EfsTree {
    pub(super) fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    pub(super) fn manifest(&self) -> EfsManifest {
        EfsManifest {
            root: self.mount.clone(),
            digest: self.digest.clone(),
            files: self.files.clone(),
        }
    }
}

/// The EFS files with their manifest; the digest hashes the sorted
/// manifest. With `dir`, each file is copied under `dir/<tree name>/` as it
/// is hashed; without, the files are only read.
pub(super) fn efs_tree(placed: &[Placed], mount: &str, dir: Option<&Path>) -> Result<EfsTree> {
    // The tree's name is known once every file is hashed.
    let unnamed = dir.map(|d| d.join(".tree"));
    let mut entries = Vec::new();
    for p in placed.iter().filter(|p| p.tier == TierName::Efs) {
        let dest = unnamed.as_ref().map(|t| t.join(p.rel.as_ref()));
        let (sha256, size) = hash_and_copy(&p.source, dest.as_deref())?;
        if let Some(dest) = &dest {
            set_mode(dest, p.executable)?;
        }
        let line = format!("{sha256} {size} {}", p.rel);
        let file = EfsManifestFile {
            path: p.rel.to_string(),
            size,
            sha256,
        };
        entries.push((line, file));
    }
    entries.sort_by(|x, y| x.0.cmp(&y.0));
    let lines: Vec<&str> = entries.iter().map(|(line, _)| line.as_str()).collect();
    let digest = hex(&Sha256::digest(lines.join("\n").as_bytes()));
    let mount = format!("{}/{}", mount.trim_end_matches('/'), efs_tree_name(&digest));
    if let (Some(dir), Some(unnamed)) = (dir, &unnamed) {
        if unnamed.exists() {
            let named = dir.join(efs_tree_name(&digest));
            std::fs::rename(unnamed, &named).map_err(|e| Error::io(&named, e))?;
        }
    }
    let files = entries.into_iter().map(|(_, file)| file).collect();
    Ok(EfsTree {
        digest,
        mount,
        files,
    })
}

/// SHA-256 and size of `source`, copied to `dest` on the way when given.
fn hash_and_copy(source: &Path, dest: Option<&Path>) -> Result<(String, u64)> {
    let mut input = std::fs::File::open(source).map_err(|e| Error::io(source, e))?;
    let mut output = match dest {
        Some(dest) => {
            if let Some(parent) = dest.parent() {
                std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
            }
            Some(std::fs::File::create(dest).map_err(|e| Error::io(dest, e))?)
        }
        None => None,
    };
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = input.read(&mut buffer).map_err(|e| Error::io(source, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        size += n as u64;
        if let (Some(out), Some(dest)) = (output.as_mut(), dest) {
            out.write_all(&buffer[..n])
                .map_err(|e| Error::io(dest, e))?;
        }
    }
    Ok((hex(&hasher.finalize()), size))
}

/// `efs-manifest.yaml` of `efs`.
pub(super) fn write_efs_manifest(out: &Path, efs: &EfsTree) -> Result<()> {
    let path = out.join("efs-manifest.yaml");
    std::fs::write(&path, efs.manifest().to_text()).map_err(|e| Error::io(&path, e))
}
