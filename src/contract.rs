//! contract: what the packer writes and what reads it back, in one place.
//!
//! Input: nothing (types and constants). Output: the typed documents `emit`
//! writes and `upload`, `efs-sync` and the runtime importer read — the
//! [`Catalogue`] (`catalogue.json`, shipped as `caios_catalogue.json`) and
//! the [`EfsManifest`] (`efs-manifest.yaml`) — and the rules both sides
//! share: the S3 client's packages, the fetch defaults, the EFS tree's name
//! and which zip members are safe. `src/runtime/caios_importer.py` keeps its
//! own copies (its bytes ship as they are); `tests/contract.rs` checks that
//! they equal these.
//!
//! The serialized forms are byte-identical to what emit wrote before these
//! types existed: struct fields are declared in alphabetical order because
//! the catalogue was a `serde_json::Value`, whose maps sort their keys.

use crate::config::TierName;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The catalogue's `format` and `version` (the importer's
/// `CATALOGUE_FORMAT` and `CATALOGUE_VERSION`).
pub const CATALOGUE_FORMAT: &str = "caios-pack-catalogue";
pub const CATALOGUE_VERSION: u32 = 1;

/// The S3 client's own packages: the importer never loads them from the s3
/// tier (its `MACHINERY`), since fetching would need the client while it is
/// being imported.
pub const S3_CLIENT_MACHINERY: [&str; 7] = [
    "boto3",
    "botocore",
    "s3transfer",
    "urllib3",
    "jmespath",
    "dateutil",
    "six",
];

/// What the S3 client imports besides its own packages, when importable:
/// botocore takes `certifi`'s CA bundle, `awscrt`, urllib3's pyOpenSSL
/// injection; urllib3 takes `brotli`/`brotlicffi`, `zstandard`, `h2`.
pub const S3_CLIENT_EXTRAS: [&str; 7] = [
    "certifi",
    "awscrt",
    "OpenSSL",
    "brotli",
    "brotlicffi",
    "zstandard",
    "h2",
];

/// Where the S3 client's import closure starts: its packages
/// ([`S3_CLIENT_MACHINERY`], first), then [`S3_CLIENT_EXTRAS`]. On Lambda
/// boto3 itself comes from the runtime, outside the unit, so these names
/// are where the unit's own copies join the client's imports.
pub fn s3_client_seeds() -> impl Iterator<Item = &'static str> {
    S3_CLIENT_MACHINERY.into_iter().chain(S3_CLIENT_EXTRAS)
}

/// Whether a top-level name is one of [`s3_client_seeds`].
pub fn is_s3_client_seed(top: &str) -> bool {
    s3_client_seeds().any(|seed| seed == top)
}

/// Fetch defaults written into every catalogue (the importer's
/// `DEFAULT_TIMEOUT_S`, `DEFAULT_RETRIES` and `DEFAULT_BACKOFF_S`).
/// botocore's connect and read timeout, per attempt.
pub const FETCH_TIMEOUT_S: f64 = 2.0;
/// Attempts after the first one.
pub const FETCH_RETRIES: u32 = 3;
/// Sleep before retry n: `backoff_s * 2**(n-1)`.
pub const FETCH_BACKOFF_S: f64 = 0.2;

/// Hex digits of the EFS digest that name the tree's folder, under `efs/`
/// in the output and under the mount point.
pub const EFS_TREE_NAME_LEN: usize = 16;

/// The folder an EFS tree lives in: the first [`EFS_TREE_NAME_LEN`] hex
/// digits of its digest.
pub fn efs_tree_name(digest: &str) -> &str {
    &digest[..EFS_TREE_NAME_LEN]
}

/// Whether a zip member stays inside the folder it is extracted to: not
/// absolute, no empty or `..` part. Backslashes, NULs and drive letters are
/// refused too, since the importer's `_safe_member` refuses them when it
/// extracts a bundle.
pub fn is_safe_member(name: &str) -> bool {
    let escapes =
        name.starts_with('/') || name.split('/').any(|part| part == ".." || part.is_empty());
    let unreadable_by_importer = name.contains('\0')
        || name.starts_with('\\')
        || name.chars().nth(1) == Some(':')
        || name.split(['/', '\\']).any(|part| part == "..");
    !escapes && !unreadable_by_importer
}

/// `catalogue.json`: where every module, asset and bundle of a package is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Catalogue {
    /// Bundles by SHA-256.
    pub bundles: BTreeMap<String, CatalogueBundle>,
    /// Where the function sees the EFS tree: `<mount>/<tree name>`.
    pub efs_root: String,
    pub fetch: FetchSettings,
    /// Assets by path.
    pub files: BTreeMap<String, CatalogueFile>,
    pub format: String,
    /// `module.function`.
    pub handler: String,
    /// Modules by dotted name.
    pub modules: BTreeMap<String, CatalogueModule>,
    /// SHA-256s of the bundles fetched in the background at init.
    pub prefetch: Vec<String>,
    pub s3: S3Location,
    /// Top-level names of the S3 client's import closure: imports they make
    /// never fetch from S3.
    pub s3_client_packages: Vec<String>,
    pub version: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogueBundle {
    /// The object's key: `<prefix><sha256>.zip`.
    pub key: String,
    pub prefetch: bool,
    /// Bytes of the zip.
    pub size: u64,
    pub unpacked_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogueFile {
    pub bundle: Option<String>,
    pub path: String,
    pub tier: TierName,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogueModule {
    /// The S3 bundle holding it, when on S3.
    pub bundle: Option<String>,
    /// The scanner's module kind, kebab-case (`source`, `extension`, ...).
    pub kind: String,
    pub lazy: bool,
    pub package: bool,
    /// Its file (or namespace folder) relative to its root.
    pub path: String,
    pub tier: TierName,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct S3Location {
    pub bucket: Option<String>,
    pub prefix: String,
    /// Always null today: the function's own region is used.
    pub region: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FetchSettings {
    pub backoff_s: f64,
    /// The model assumes this many parallel prefetch downloads.
    pub prefetch_connections: u32,
    pub retries: u32,
    pub timeout_s: f64,
}

impl FetchSettings {
    /// The defaults, with the unit's prefetch connections.
    pub fn with_connections(prefetch_connections: u32) -> Self {
        FetchSettings {
            backoff_s: FETCH_BACKOFF_S,
            prefetch_connections,
            retries: FETCH_RETRIES,
            timeout_s: FETCH_TIMEOUT_S,
        }
    }
}

impl Catalogue {
    /// The text of `catalogue.json` (pretty JSON, as shipped).
    pub fn to_text(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The EFS tree's folder name: the last part of `efs_root`, which is
    /// also its folder under a package output's `efs/`.
    pub fn efs_tree_name(&self) -> &str {
        let root = self.efs_root.trim_end_matches('/');
        root.rsplit('/').next().unwrap_or(root)
    }

    /// Whether any module or file is placed on EFS.
    pub fn uses_efs(&self) -> bool {
        let on_efs = |tier: &TierName| *tier == TierName::Efs;
        self.modules.values().any(|m| on_efs(&m.tier))
            || self.files.values().any(|f| on_efs(&f.tier))
    }
}

/// `efs-manifest.yaml`: every file of the EFS tree with its SHA-256 and size.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct EfsManifest {
    /// Where the function sees the tree (the catalogue's `efs_root`).
    pub root: String,
    /// SHA-256 of the sorted manifest lines (`sha size path`).
    pub digest: String,
    pub files: Vec<EfsManifestFile>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct EfsManifestFile {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

impl EfsManifest {
    /// The manifest's YAML, one flow mapping per file. Written by hand, not
    /// by serde_yaml, so the text stays the one packages have always had.
    pub fn to_text(&self) -> String {
        let (root, digest) = (&self.root, &self.digest);
        let root = yaml_quoted(root);
        let mut text = format!("# caios-pack EFS manifest: every file with its SHA-256 and size.\nroot: {root}\ndigest: \"{digest}\"\nfiles:\n");
        for file in &self.files {
            let (rel, size, sha) = (yaml_quoted(&file.path), file.size, &file.sha256);
            text.push_str(&format!(
                "  - {{path: {rel}, size: {size}, sha256: {sha}}}\n"
            ));
        }
        text
    }

    pub fn from_text(text: &str) -> Result<Self, serde_yaml::Error> {
        serde_yaml::from_str(text)
    }
}

/// A YAML double-quoted scalar. Printable characters stand as they are (so
/// ordinary paths read as Rust's `{:?}` wrote them before), and control
/// characters get YAML's escapes — Rust's `\u{1b}` is not one.
fn yaml_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_paths_read_back_whatever_their_characters() {
        let paths = [
            "plain/a.py",
            "é/\"q\"/b\\c",
            "tab\there",
            "esc\u{1b}[0m",
            "bell\u{7}",
            "nul\0x",
        ];
        let manifest = EfsManifest {
            root: "/mnt/caios/0123456789abcdef".into(),
            digest: "ab".repeat(32),
            files: paths
                .iter()
                .map(|p| EfsManifestFile {
                    path: p.to_string(),
                    size: 1,
                    sha256: "cd".repeat(32),
                })
                .collect(),
        };
        let back = EfsManifest::from_text(&manifest.to_text()).unwrap();
        assert_eq!(back, manifest);
        // What packages always wrote for ordinary paths.
        assert_eq!(yaml_quoted("é/\"q\"/b\\c"), format!("{:?}", "é/\"q\"/b\\c"));
    }

    #[test]
    fn the_seeds_start_with_the_machinery() {
        let seeds: Vec<&str> = s3_client_seeds().collect();
        assert_eq!(seeds[..7], S3_CLIENT_MACHINERY);
        assert!(is_s3_client_seed("certifi") && !is_s3_client_seed("numpy"));
        // The runtime provides the client: every one of its packages is a
        // runtime package (the graph treats them as provided).
        for package in S3_CLIENT_MACHINERY {
            assert!(
                crate::config::LAMBDA_RUNTIME_PACKAGES.contains(&package),
                "{package}"
            );
        }
    }

    #[test]
    fn safe_members_are_those_that_stay_inside() {
        for (name, safe) in [
            ("pkg/mod.py", true),
            ("a b/é 日本.bin", true),
            ("pkg/__pycache__/mod.cpython-311.pyc", true),
            ("../x.py", false),
            ("/etc/x.py", false),
            ("a/../../x.py", false),
            ("a//x.py", false),
            ("a/", false),
            ("", false),
            ("a\\..\\x.py", false),
            ("\\x.py", false),
            ("C:x.py", false),
            ("a\0b", false),
        ] {
            assert_eq!(is_safe_member(name), safe, "{name:?}");
        }
    }

    #[test]
    fn the_efs_manifest_reads_back_what_it_writes() {
        let manifest = EfsManifest {
            root: "/mnt/caios/0123456789abcdef".into(),
            digest: "0123456789abcdef".repeat(4),
            files: vec![EfsManifestFile {
                path: "data/é \"日本\".bin".into(),
                size: 5,
                sha256: "ab".repeat(32),
            }],
        };
        let text = manifest.to_text();
        assert!(text.starts_with("# caios-pack EFS manifest"));
        assert_eq!(EfsManifest::from_text(&text).unwrap(), manifest);
        assert_eq!(efs_tree_name(&manifest.digest), "0123456789abcdef");
    }
}
