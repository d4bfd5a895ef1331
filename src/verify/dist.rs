//! The package output `verify` runs from: checked to be this unit's, and
//! `deployment.zip` unzipped into a read-only folder.
//!
//! Input: the unit and the output folder of `caios-pack package`. Output:
//! the catalogue inside the zip and a [`ReadOnlyTree`] that reports writes.

use crate::config::TierName;
use crate::config::Unit;
use crate::contract::Catalogue;
use crate::error::{Error, Result};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The dist folder holds every artifact the run needs and was built from
/// this unit: the catalogue's handler is the unit's, and the handler's
/// module in `deployment.zip` is byte for byte the unit's file. Returns the
/// catalogue (the one inside the zip: the one that runs).
pub(super) fn check_dist(unit: &Unit, dist: &Path) -> Result<Catalogue> {
    let zip_path = dist.join("deployment.zip");
    let rebuild =
        "pass the output folder of `caios-pack package` for this unit, or package it again";
    let file = std::fs::File::open(&zip_path).map_err(|e| {
        Error::input(format!(
            "{}: cannot read: {e}; {rebuild}",
            zip_path.display()
        ))
    })?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| {
        Error::input(format!(
            "{}: not a zip file ({e}); {rebuild}",
            zip_path.display()
        ))
    })?;
    let member = |archive: &mut zip::ZipArchive<std::fs::File>, name: &str| -> Result<Vec<u8>> {
        let mut entry = archive.by_name(name).map_err(|_| {
            Error::input(format!(
                "{}: has no {name}; it was not written by `caios-pack package` ({rebuild})",
                zip_path.display()
            ))
        })?;
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes).map_err(|e| Error::io(&zip_path, e))?;
        Ok(bytes)
    };
    for runtime in ["caios_entry.py", "caios_importer.py"] {
        member(&mut archive, runtime)?;
    }
    let catalogue: Catalogue =
        serde_json::from_slice(&member(&mut archive, "caios_catalogue.json")?).map_err(|e| {
            Error::input(format!(
                "{}: caios_catalogue.json:{}:{}: not a caios-pack catalogue: {e}",
                zip_path.display(),
                e.line(),
                e.column()
            ))
        })?;
    let handler = unit.handler();
    let not_this_unit = |why: String| {
        Error::input(format!(
            "{} was not built from the unit {}: {why}; package this unit again (or pass its own dist folder)",
            dist.display(),
            unit.root.display()
        ))
    };
    let built_for = &catalogue.handler;
    if *built_for != handler {
        return Err(not_this_unit(format!(
            "its catalogue's handler is `{built_for}`, the unit's is `{handler}`"
        )));
    }
    let entry = catalogue.modules.get(&unit.handler_module);
    let rel = entry.map_or("", |e| e.path.as_str());
    if entry.is_none_or(|e| e.tier != TierName::Local) || rel.is_empty() {
        return Err(not_this_unit(format!(
            "its catalogue does not place the handler module `{}` in deployment.zip",
            unit.handler_module
        )));
    }
    let packaged = member(&mut archive, rel)
        .map_err(|_| not_this_unit(format!("deployment.zip has no {rel}")))?;
    let roots = std::iter::once(&unit.source).chain(&unit.site_packages);
    let Some(own) = roots.map(|root| root.join(rel)).find(|p| p.is_file()) else {
        return Err(not_this_unit(format!(
            "the handler's file {rel} is not in the unit's source or site-packages"
        )));
    };
    let own_bytes = std::fs::read(&own).map_err(|e| Error::io(&own, e))?;
    if own_bytes != packaged {
        return Err(not_this_unit(format!(
            "{} (sha256 {}) differs from {rel} in deployment.zip (sha256 {})",
            own.display(),
            &hex(&Sha256::digest(&own_bytes))[..16],
            &hex(&Sha256::digest(&packaged))[..16]
        )));
    }
    // Every bundle the catalogue names must be there; a bundle that is
    // there but wrong is the packaged run's failure, not bad input.
    for sha in catalogue.bundles.keys() {
        let path = dist.join("s3").join(format!("{sha}.zip"));
        if !path.is_file() {
            return Err(Error::input(format!(
                "{}: missing: the catalogue lists bundle {sha}; {rebuild}",
                path.display()
            )));
        }
    }
    if catalogue.uses_efs() {
        let name = catalogue.efs_tree_name();
        let tree = dist.join("efs").join(name);
        if name.is_empty() || !tree.is_dir() {
            return Err(Error::input(format!(
                "{}: missing: the catalogue places files on EFS (efs_root {:?}); {rebuild}",
                tree.display(),
                catalogue.efs_root
            )));
        }
    }
    Ok(catalogue)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A temporary folder whose files and folders have no write bits; they get
/// them back when it is dropped, so that it can be removed.
pub(super) struct ReadOnlyTree {
    dir: tempfile::TempDir,
    /// Every entry as unzipped: relative path → (size, modification time).
    snapshot: std::collections::BTreeMap<PathBuf, (u64, Option<std::time::SystemTime>)>,
}

impl ReadOnlyTree {
    pub(super) fn path(&self) -> &Path {
        self.dir.path()
    }

    fn entries(&self) -> std::collections::BTreeMap<PathBuf, (u64, Option<std::time::SystemTime>)> {
        walkdir::WalkDir::new(self.dir.path())
            .min_depth(1)
            .into_iter()
            .flatten()
            .filter_map(|entry| {
                let meta = entry.path().symlink_metadata().ok()?;
                let rel = entry.path().strip_prefix(self.dir.path()).ok()?;
                // A folder's time changes with its entries, which are listed.
                let time = if meta.is_dir() {
                    None
                } else {
                    meta.modified().ok()
                };
                Some((
                    rel.to_path_buf(),
                    (meta.len() * u64::from(!meta.is_dir()), time),
                ))
            })
            .collect()
    }

    /// Paths created, changed or removed since the tree was unzipped.
    pub(super) fn changes(&self) -> Vec<String> {
        let now = self.entries();
        let mut changed: Vec<String> = now
            .iter()
            .filter(|(path, facts)| self.snapshot.get(*path) != Some(facts))
            .map(|(path, _)| path.display().to_string())
            .collect();
        changed.extend(
            self.snapshot
                .keys()
                .filter(|path| !now.contains_key(*path))
                .map(|path| format!("{} (removed)", path.display())),
        );
        changed
    }

    fn set_writable(&self, writable: bool) {
        use std::os::unix::fs::PermissionsExt;
        // Folders last when closing them (their files first), first when opening.
        let walk = walkdir::WalkDir::new(self.dir.path()).contents_first(!writable);
        for entry in walk.into_iter().flatten() {
            let Ok(meta) = entry.path().symlink_metadata() else {
                continue;
            };
            if meta.file_type().is_symlink() {
                continue;
            }
            let mode = meta.permissions().mode();
            let mode = if writable {
                mode | 0o200 | if meta.is_dir() { 0o500 } else { 0 }
            } else {
                mode & !0o222
            };
            let _ = std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(mode));
        }
    }
}

impl Drop for ReadOnlyTree {
    fn drop(&mut self) {
        self.set_writable(true);
    }
}

/// `deployment.zip` unzipped into a fresh folder, then `chmod -R a-w`, as
/// Lambda's `/var/task` is read-only.
pub(super) fn unzip_read_only(zip_path: &Path) -> Result<ReadOnlyTree> {
    let dir = tempfile::Builder::new()
        .prefix("caios-verify-task-")
        .tempdir()
        .map_err(|e| Error::io(Path::new("<tempdir>"), e))?;
    let file = std::fs::File::open(zip_path).map_err(|e| Error::io(zip_path, e))?;
    zip::ZipArchive::new(file)
        .and_then(|mut archive| archive.extract(dir.path()))
        .map_err(|e| {
            Error::input(format!(
                "{}: cannot unzip: {e}; package the unit again",
                zip_path.display()
            ))
        })?;
    let mut tree = ReadOnlyTree {
        dir,
        snapshot: Default::default(),
    };
    tree.set_writable(false);
    tree.snapshot = tree.entries();
    Ok(tree)
}
