//! pycs: unchecked-hash `.pyc` files compiled by the target interpreter.
//!
//! Input: the placed files, the interpreter and the lazy-binding lines.
//! Output: a placed `.pyc` beside every `.py` that compiles (same tier and
//! group), the runtime modules' pycs, and the statements compiled as lazy
//! bindings. The compiler itself is `src/runtime/caios_compile.py`.

use super::placement::Placed;
use super::RUNTIME_FILES;
use crate::error::{Error, Result};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Compiles the pycs, lazy bindings included; run by the packer, not shipped.
const COMPILER: &str = include_str!("../runtime/caios_compile.py");

/// A compiled pyc: its path in the package and the compiled file.
pub(super) type CompiledPyc = (String, PathBuf);

/// Compiles every placed `.py` file, on whatever tier, and the runtime's
/// own modules with the target interpreter into unchecked-hash pycs (PEP 552)
/// under `work`: a pyc the stdlib would have to validate is recompiled on
/// every cold start, since neither `/var/task`, EFS (shared, and writing there
/// costs latency) nor a bundle's `/tmp` copy keeps what Python writes. Each
/// module's pyc joins its source's tier and group; the runtime's pycs are
/// returned (`__pycache__/…` path in the zip, compiled file), with the
/// statements compiled as lazy bindings (`path:line`). A file that does not
/// compile ships as source only.
pub(super) fn add_compiled_pycs(
    placed: &mut Vec<Placed>,
    work: &Path,
    python: &str,
    lazy_lines: &BTreeMap<PathBuf, Vec<String>>,
) -> Result<(Vec<CompiledPyc>, Vec<String>)> {
    let mut sources: Vec<(PathBuf, String)> = Vec::new();
    for (rel, text) in RUNTIME_FILES {
        let path = work.join(rel);
        std::fs::write(&path, text).map_err(|e| Error::io(&path, e))?;
        sources.push((path, rel.to_string()));
    }
    let runtime_count = sources.len();
    let modules: Vec<usize> = (0..placed.len())
        .filter(|&i| placed[i].rel.ends_with(".py"))
        .collect();
    sources.extend(
        modules
            .iter()
            .map(|&i| (placed[i].source.to_path_buf(), placed[i].rel.to_string())),
    );
    let (compiled, lazy_bindings) = compile_pycs(&sources, work, python, lazy_lines)?;
    let mut runtime = Vec::new();
    let mut module_pycs = Vec::new();
    for (i, pyc) in compiled.into_iter().enumerate() {
        let Some((rel, path)) = pyc else { continue };
        match i.checked_sub(runtime_count).map(|m| &placed[modules[m]]) {
            None => runtime.push((rel, path)),
            Some(source) => module_pycs.push(Placed {
                rel: Cow::Owned(rel),
                source: Cow::Owned(path),
                tier: source.tier,
                group: source.group,
                executable: false,
            }),
        }
    }
    placed.extend(module_pycs);
    placed.sort_by(|x, y| x.rel.cmp(&y.rel));
    Ok((runtime, lazy_bindings))
}

/// Runs the target interpreter once over `sources` (file, path in the
/// package) with caios_compile.py; per source, the pyc's path in the package
/// and the compiled file, or None when it did not compile; and the
/// statements compiled as lazy bindings, as `path:line`.
fn compile_pycs(
    sources: &[(PathBuf, String)],
    work: &Path,
    python: &str,
    lazy_lines: &BTreeMap<PathBuf, Vec<String>>,
) -> Result<(Vec<Option<CompiledPyc>>, Vec<String>)> {
    let list = work.join("sources.txt");
    let mut text = String::new();
    for (i, (source, rel)) in sources.iter().enumerate() {
        let lines: Vec<&str> = lazy_lines
            .get(source)
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        text.push_str(&format!(
            "{}\t{}\t{}\t{}\n",
            source.display(),
            work.join(format!("{i}.pyc")).display(),
            rel,
            lines.join(",")
        ));
    }
    std::fs::write(&list, text).map_err(|e| Error::io(&list, e))?;
    let script = work.join("caios_compile.py");
    std::fs::write(&script, COMPILER).map_err(|e| Error::io(&script, e))?;
    let output = std::process::Command::new(python)
        .args(["-I", "-S", "-B"])
        .arg(&script)
        .arg(&list)
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| {
            Error::input(format!(
                "cannot run `{python}` to compile .pyc files: {e}; pass --python"
            ))
        })?;
    if !output.status.success() {
        return Err(Error::Failed(format!(
            "`{python}` failed while compiling .pyc files ({})",
            output.status
        )));
    }
    let lazy_bindings = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("lazy\t"))
        .map(|l| l.replacen('\t', ":", 1))
        .collect();
    let tag = cache_tag(python)?;
    let compiled = sources
        .iter()
        .enumerate()
        .map(|(i, (_, rel))| {
            let compiled = work.join(format!("{i}.pyc"));
            compiled.is_file().then(|| (pyc_rel(rel, &tag), compiled))
        })
        .collect();
    Ok((compiled, lazy_bindings))
}

/// `pkg/mod.py` → `pkg/__pycache__/mod.<tag>.pyc`, where the stdlib looks.
fn pyc_rel(rel: &str, tag: &str) -> String {
    let (dir, file) = rel.rsplit_once('/').unwrap_or(("", rel));
    let stem = file.trim_end_matches(".py");
    if dir.is_empty() {
        format!("__pycache__/{stem}.{tag}.pyc")
    } else {
        format!("{dir}/__pycache__/{stem}.{tag}.pyc")
    }
}

fn cache_tag(python: &str) -> Result<String> {
    let output = std::process::Command::new(python)
        .args([
            "-I",
            "-S",
            "-c",
            "import sys; print(sys.implementation.cache_tag)",
        ])
        .output()
        .map_err(|e| Error::input(format!("cannot run `{python}`: {e}")))?;
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}
