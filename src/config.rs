//! The computation unit's configuration: `caios-pack.yaml` merged with CLI flags.
//!
//! Input: the unit folder, its optional `caios-pack.yaml` and the overrides the
//! user passed on the command line. Output: a validated [`Unit`] whose paths are
//! absolute and exist. Unknown keys, wrong types and YAML syntax errors are
//! [`Error::Input`]s that name the file, the key and the line.
//!
//! Every section of `caios-pack.yaml` is typed here: the tiers' cost and
//! latency model and the pins in [`tiers`], the limits, workload and budget
//! (and Lambda's limits) in [`limits`].

mod limits;
mod tiers;

pub use limits::{
    parse_duration_ms, Architecture, Budget, Limits, Workload, DEFAULT_TMP_BYTES,
    LAMBDA_DIRECT_UPLOAD_LIMIT, LAMBDA_RUNTIME_PACKAGES, LAMBDA_UNZIPPED_LIMIT,
    RESERVED_PACKAGE_BYTES,
};
pub use tiers::{Pin, Tier, TierName, Tiers, EFS_OPS_PER_FILE};

use crate::error::{Error, Result};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};

/// The name of the unit's configuration file, looked up at the unit's root.
pub const CONFIG_FILE: &str = "caios-pack.yaml";

/// `caios-pack.yaml` exactly as written (paths still relative to the unit).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// `module.function`, e.g. `handler.handler` or `app.main.lambda_handler`.
    pub handler: Option<String>,
    /// Folder holding the function's own code; default: the unit folder.
    pub source: Option<PathBuf>,
    /// One folder or a list, searched in order after `source` (like `sys.path`).
    #[serde(default, deserialize_with = "one_or_many")]
    pub site_packages: Vec<PathBuf>,
    /// Glob patterns (relative to the unit) for models and data files.
    #[serde(default)]
    pub assets: Vec<String>,
    /// Target Python version, e.g. "3.11": selects which `cpython-3XY` extension
    /// modules are importable. Default: any.
    pub python: Option<String>,
    /// Storage tiers' latency, throughput and prices (docs/model.md).
    #[serde(default)]
    pub tiers: Tiers,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub workload: Workload,
    #[serde(default)]
    pub budget: Budget,
    /// Modules or file globs forced onto a tier.
    #[serde(default)]
    pub pins: Vec<Pin>,
}

// Command-line values that take precedence over the YAML file: the flags
// of every subcommand that reads a unit (`cli::UnitArgs`), so their doc
// comments are the flags' help (and the struct's own would be too).
#[derive(Debug, Default, Clone, clap::Args)]
pub struct Overrides {
    /// Handler as module.function; overrides `handler:`.
    #[arg(long)]
    pub handler: Option<String>,
    /// Source folder; overrides `source:`.
    #[arg(long)]
    pub source: Option<PathBuf>,
    /// Site-packages folder (repeatable); overrides `site_packages:`.
    #[arg(long = "site-packages", value_name = "DIR")]
    pub site_packages: Vec<PathBuf>,
}

/// A validated computation unit.
#[derive(Debug, Clone)]
pub struct Unit {
    pub root: PathBuf,
    /// The dotted module that holds the handler, e.g. `handler`.
    pub handler_module: String,
    pub handler_function: String,
    pub source: PathBuf,
    pub site_packages: Vec<PathBuf>,
    pub assets: Vec<String>,
    /// `(major, minor)` of the target interpreter, when the unit pins one.
    pub python: Option<(u32, u32)>,
    pub tiers: Tiers,
    pub limits: Limits,
    pub workload: Workload,
    pub budget: Budget,
    pub pins: Vec<Pin>,
}

impl Unit {
    /// Loads `UNIT/caios-pack.yaml` (when present) and applies `overrides`.
    pub fn load(unit_dir: &Path, overrides: &Overrides) -> Result<Unit> {
        let root = existing_dir(
            unit_dir,
            "unit folder",
            "pass the folder that holds caios-pack.yaml",
        )?;
        let config_path = root.join(CONFIG_FILE);
        // `symlink_metadata`, so that a dangling link is reported, not ignored.
        let raw = if config_path.symlink_metadata().is_ok() {
            let text = std::fs::read_to_string(&config_path).map_err(|e| {
                Error::input(format!("{}: cannot read: {e}", config_path.display()))
            })?;
            parse_config(&text, &config_path)?
        } else {
            RawConfig::default()
        };
        Self::from_raw(root, raw, overrides, &config_path)
    }

    fn from_raw(
        root: PathBuf,
        raw: RawConfig,
        overrides: &Overrides,
        config_path: &Path,
    ) -> Result<Unit> {
        let handler = overrides.handler.clone().or(raw.handler).ok_or_else(|| {
            Error::input(format!(
                "{}: no handler given: add `handler: module.function` to it or pass --handler",
                config_path.display()
            ))
        })?;
        let (handler_module, handler_function) = split_handler(&handler)?;
        let source_rel = overrides.source.clone().or(raw.source).unwrap_or_default();
        let source = existing_dir(
            &root.join(source_rel),
            "source folder",
            "fix `source:` in caios-pack.yaml or --source",
        )?;
        let site_rel = if overrides.site_packages.is_empty() {
            raw.site_packages
        } else {
            overrides.site_packages.clone()
        };
        let site_packages = site_rel
            .iter()
            .map(|p| {
                existing_dir(
                    &root.join(p),
                    "site-packages folder",
                    "fix `site_packages:` in caios-pack.yaml or --site-packages",
                )
            })
            .collect::<Result<Vec<_>>>()?;
        let python = raw
            .python
            .as_deref()
            .map(|v| parse_python_version(v, config_path))
            .transpose()?;
        Ok(Unit {
            root,
            handler_module,
            handler_function,
            source,
            site_packages,
            assets: raw.assets,
            python,
            tiers: raw.tiers,
            limits: raw.limits,
            workload: raw.workload,
            budget: raw.budget,
            pins: raw.pins,
        })
    }
}

impl Unit {
    /// The handler as `module.function`.
    pub fn handler(&self) -> String {
        format!("{}.{}", self.handler_module, self.handler_function)
    }
}

/// Parses the YAML text; errors carry `path:line:column`.
pub fn parse_config(text: &str, path: &Path) -> Result<RawConfig> {
    if text.trim().is_empty() {
        return Ok(RawConfig::default());
    }
    serde_yaml::from_str(text).map_err(|e| {
        let place = match e.location() {
            Some(loc) => format!("{}:{}:{}", path.display(), loc.line(), loc.column()),
            None => path.display().to_string(),
        };
        // serde_yaml appends " at line N column M"; the prefix already says it.
        let message = e.to_string();
        let message = message
            .rsplit_once(" at line ")
            .map_or(message.as_str(), |(m, _)| m);
        Error::input(format!(
            "{place}: {message} (see docs/config.md for the keys caios-pack.yaml accepts)"
        ))
    })
}

fn split_handler(handler: &str) -> Result<(String, String)> {
    use crate::names::{is_dotted_name, is_identifier};
    match handler.rsplit_once('.') {
        Some((module, function)) if is_dotted_name(module) && is_identifier(function) => {
            Ok((module.to_string(), function.to_string()))
        }
        _ => Err(Error::input(format!(
            "handler `{handler}` is not `module.function` (for example `handler.handler`)"
        ))),
    }
}

fn parse_python_version(version: &str, path: &Path) -> Result<(u32, u32)> {
    let mut parts = version.trim().split('.');
    let major = parts.next().and_then(|p| p.parse().ok());
    let minor = parts.next().and_then(|p| p.parse().ok());
    match (major, minor) {
        (Some(3), Some(minor)) => Ok((3, minor)),
        _ => Err(Error::input(format!(
            "{}: `python: {version}` is not a Python 3 version such as \"3.11\"",
            path.display()
        ))),
    }
}

fn existing_dir(path: &Path, what: &str, hint: &str) -> Result<PathBuf> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => Ok(std::path::absolute(path).unwrap_or(path.to_path_buf())),
        Ok(_) => Err(Error::input(format!(
            "{}: {what} is a file, not a folder; {hint}",
            path.display()
        ))),
        Err(e) => Err(Error::input(format!(
            "{}: {what} cannot be read ({e}); {hint}",
            path.display()
        ))),
    }
}

/// Accepts `key: path` as well as `key: [path, …]`.
fn one_or_many<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<PathBuf>, D::Error> {
    struct OneOrMany;
    impl<'de> Visitor<'de> for OneOrMany {
        type Value = Vec<PathBuf>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a folder path or a list of folder paths")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(vec![PathBuf::from(v)])
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(p) = seq.next_element::<PathBuf>()? {
                out.push(p);
            }
            Ok(out)
        }
    }
    deserializer.deserialize_any(OneOrMany)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        parse_config(text, Path::new("u/caios-pack.yaml"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn accepts_one_or_many_site_packages() {
        let one = parse_config("handler: h.h\nsite_packages: env\n", Path::new("x")).unwrap();
        assert_eq!(one.site_packages, vec![PathBuf::from("env")]);
        let many = parse_config("site_packages: [a, b]\n", Path::new("x")).unwrap();
        assert_eq!(
            many.site_packages,
            vec![PathBuf::from("a"), PathBuf::from("b")]
        );
    }

    #[test]
    fn errors_name_key_and_line() {
        let cases = [
            (
                "handler: h.h\nbogus: 1\n",
                "u/caios-pack.yaml:2:1: unknown field `bogus`",
            ),
            (
                "handler: [1, 2]\n",
                "u/caios-pack.yaml:1:10: handler: invalid type: sequence",
            ),
            (
                "handler: h.h\nassets: 3\n",
                "u/caios-pack.yaml:2:9: assets: invalid type: integer",
            ),
            ("handler: h.h\n  bad: [\n", "u/caios-pack.yaml:2"),
        ];
        for (text, expected) in cases {
            let message = err(text);
            assert!(message.starts_with(expected), "{text:?} gave {message:?}");
        }
    }

    #[test]
    fn handler_must_be_module_dot_function() {
        assert_eq!(
            split_handler("app.main.run").unwrap(),
            ("app.main".into(), "run".into())
        );
        for bad in ["handler", "a..b", ".x", "1a.b", "a.b-c"] {
            assert!(split_handler(bad).is_err(), "{bad}");
        }
    }
}
