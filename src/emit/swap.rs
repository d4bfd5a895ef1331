//! Moves a package's artifacts from the staging folder into `--out` as one
//! step that either completes or leaves `--out` as it was.
//!
//! Input: the staging folder (holding every artifact), `--out` and the
//! artifact names. Output: `--out` holding the new artifacts, the previous
//! ones moved into the staging folder (deleted with it); on any failure the
//! moves already made are undone and the error names the path.

use crate::error::{Error, Result};
use std::path::Path;

/// The previous artifacts wait here, inside the staging folder, until the
/// new ones are all in place.
const PREVIOUS: &str = "previous";

/// Replaces `out/NAME` by `stage/NAME` for every name; renames only, so
/// `stage` must be on `out`'s file system (it is created beside it).
pub fn swap_into_place(stage: &Path, out: &Path, names: &[&str]) -> Result<()> {
    let previous = stage.join(PREVIOUS);
    std::fs::create_dir_all(&previous).map_err(|e| Error::io(&previous, e))?;
    let mut moved_aside = Vec::new();
    let mut placed = Vec::new();
    for name in names {
        let (new, target, old) = (stage.join(name), out.join(name), previous.join(name));
        let step = (|| {
            if target.symlink_metadata().is_ok() {
                std::fs::rename(&target, &old).map_err(|e| Error::io(&target, e))?;
                moved_aside.push(*name);
            }
            std::fs::rename(&new, &target).map_err(|e| Error::io(&target, e))?;
            placed.push(*name);
            Ok(())
        })();
        if let Err(error) = step {
            undo(stage, out, &placed, &moved_aside);
            return Err(error);
        }
    }
    Ok(())
}

/// Best effort: a failure here leaves the rest of the undo to run, and the
/// first error is the one reported.
fn undo(stage: &Path, out: &Path, placed: &[&str], moved_aside: &[&str]) {
    for name in placed.iter().rev() {
        let _ = std::fs::rename(out.join(name), stage.join(name));
    }
    for name in moved_aside.iter().rev() {
        let _ = std::fs::rename(stage.join(PREVIOUS).join(name), out.join(name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap()
    }

    #[test]
    fn replaces_every_artifact_and_keeps_other_files() {
        let dir = tempfile::tempdir().unwrap();
        let (stage, out) = (dir.path().join("stage"), dir.path().join("out"));
        write(&stage.join("a.json"), "new a");
        write(&stage.join("s3/x.zip"), "new x");
        write(&out.join("a.json"), "old a");
        write(&out.join("s3/stale.zip"), "stale");
        write(&out.join("plan.json"), "kept");
        swap_into_place(&stage, &out, &["s3", "a.json"]).unwrap();
        assert_eq!(read(&out.join("a.json")), "new a");
        assert_eq!(read(&out.join("s3/x.zip")), "new x");
        assert!(!out.join("s3/stale.zip").exists());
        assert_eq!(read(&out.join("plan.json")), "kept");
    }

    #[test]
    fn a_failure_midway_leaves_out_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let (stage, out) = (dir.path().join("stage"), dir.path().join("out"));
        write(&stage.join("s3/x.zip"), "new x");
        write(&stage.join("a.json"), "new a");
        // `b.json` is missing from the stage: its rename fails after `s3`
        // and `a.json` were already swapped.
        write(&out.join("s3/old.zip"), "old x");
        write(&out.join("a.json"), "old a");
        write(&out.join("b.json"), "old b");
        let error = swap_into_place(&stage, &out, &["s3", "a.json", "b.json"]).unwrap_err();
        assert!(error.to_string().contains("b.json"), "{error}");
        assert_eq!(error.exit_code(), 3);
        assert_eq!(read(&out.join("s3/old.zip")), "old x");
        assert!(!out.join("s3/x.zip").exists());
        assert_eq!(read(&out.join("a.json")), "old a");
        assert_eq!(read(&out.join("b.json")), "old b");
    }
}
