//! efs: the tree of files placed on EFS and its manifest.
//!
//! Input: the placed files and the mount point. Output: the EFS files, the
//! digest of their sorted manifest (which names the tree's folder) and
//! `efs-manifest.yaml`.

use super::placement::Placed;
use super::{hex, read};
use crate::contract::{efs_tree_name, EfsManifest, EfsManifestFile};
use crate::error::{Error, Result};
use crate::model::TierName;
use sha2::{Digest, Sha256};
use std::path::Path;

/// The EFS tree: files by path, and the manifest lines they hash to.
pub(super) struct EfsTree {
    pub(super) digest: String,
    /// Where the function sees the tree: `<mount>/<digest16>`.
    pub(super) mount: String,
    pub(super) manifest_lines: Vec<String>,
    pub(super) files: Vec<(String, Vec<u8>, bool)>,
}

/// The EFS files with their manifest; the digest hashes the sorted manifest.
pub(super) fn efs_tree(placed: &[Placed], mount: &str) -> Result<EfsTree> {
    let mut manifest_lines = Vec::new();
    let mut files = Vec::new();
    for p in placed.iter().filter(|p| p.tier == TierName::Efs) {
        let bytes = read(&p.source)?;
        manifest_lines.push(format!(
            "{} {} {}",
            hex(&Sha256::digest(&bytes)),
            bytes.len(),
            p.rel
        ));
        files.push((p.rel.to_string(), bytes, p.executable));
    }
    manifest_lines.sort();
    let digest = hex(&Sha256::digest(manifest_lines.join("\n").as_bytes()));
    let mount = format!("{}/{}", mount.trim_end_matches('/'), efs_tree_name(&digest));
    Ok(EfsTree {
        digest,
        mount,
        manifest_lines,
        files,
    })
}

/// `efs-manifest.yaml` of `efs`.
pub(super) fn write_efs_manifest(out: &Path, efs: &EfsTree) -> Result<()> {
    let path = out.join("efs-manifest.yaml");
    std::fs::write(&path, efs.manifest().to_text()).map_err(|e| Error::io(&path, e))
}

impl EfsTree {
    /// The manifest: its files in the order of the sorted lines the digest
    /// hashes (`sha size path`).
    pub(super) fn manifest(&self) -> EfsManifest {
        let files = self
            .manifest_lines
            .iter()
            .map(|line| {
                let mut parts = line.splitn(3, ' ');
                let (sha, size, rel) = (
                    parts.next().unwrap_or(""),
                    parts.next().unwrap_or(""),
                    parts.next().unwrap_or(""),
                );
                EfsManifestFile {
                    path: rel.to_string(),
                    size: size.parse().unwrap_or(0),
                    sha256: sha.to_string(),
                }
            })
            .collect();
        EfsManifest {
            root: self.mount.clone(),
            digest: self.digest.clone(),
            files,
        }
    }
}
