//! The packer and the runtime importer agree: the copies that
//! `src/runtime/caios_importer.py` keeps of the contract (its bytes ship in
//! deployment.zip, so it cannot import them) equal `caios_pack::contract`;
//! the documents `package` writes read back as the contract's types and
//! serialize to the same bytes; I/O failures exit 3.

mod support;

use caios_pack::contract::{self, Catalogue, EfsManifest};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use support::cli::{caios, command};

fn importer() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/runtime/caios_importer.py");
    std::fs::read_to_string(path).expect("caios_importer.py")
}

/// The right-hand side of the importer's module-level `NAME = ...`, up to
/// the closing parenthesis when it spans lines; the comment is cut off.
fn assignment(source: &str, name: &str) -> String {
    let start = source
        .find(&format!("\n{name} = "))
        .unwrap_or_else(|| panic!("caios_importer.py no longer assigns {name}"));
    let rest = &source[start + name.len() + 4..];
    let end = if rest.starts_with("frozenset(") {
        rest.find("))").expect("frozenset closes") + 2
    } else {
        rest.find('\n').unwrap()
    };
    let text = &rest[..end];
    text.split('#').next().unwrap().trim().to_string()
}

fn quoted_names(text: &str) -> BTreeSet<String> {
    text.split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

#[test]
fn the_importer_keeps_the_s3_client_packages_of_the_contract() {
    let machinery = quoted_names(&assignment(&importer(), "MACHINERY"));
    let expected: BTreeSet<String> = contract::S3_CLIENT_MACHINERY
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(machinery, expected);
}

#[test]
fn the_importer_keeps_the_fetch_defaults_of_the_contract() {
    let source = importer();
    let number = |name: &str| -> f64 { assignment(&source, name).parse().unwrap() };
    assert_eq!(number("DEFAULT_TIMEOUT_S"), contract::FETCH_TIMEOUT_S);
    assert_eq!(number("DEFAULT_RETRIES"), contract::FETCH_RETRIES as f64);
    assert_eq!(number("DEFAULT_BACKOFF_S"), contract::FETCH_BACKOFF_S);
    assert_eq!(
        assignment(&source, "CATALOGUE_FORMAT"),
        format!("\"{}\"", contract::CATALOGUE_FORMAT)
    );
    assert_eq!(
        assignment(&source, "CATALOGUE_VERSION"),
        contract::CATALOGUE_VERSION.to_string()
    );
}

/// Every member name the packer writes, the importer extracts: runs the
/// importer's own `_safe_member` over a table of names.
#[test]
fn the_importer_accepts_every_member_the_packer_writes() {
    let source = importer();
    let start = source.find("def _safe_member(").expect("_safe_member");
    let end = start + source[start..].find("\n\n\n").unwrap();
    let names = [
        "pkg/mod.py",
        "a b/é 日本.bin",
        "pkg/__pycache__/mod.cpython-311.pyc",
        "x",
        "../x.py",
        "/etc/x.py",
        "a/../../x.py",
        "a//x.py",
        "a/",
        "",
        "a\\..\\x.py",
        "\\x.py",
        "C:x.py",
        "é:x",
        "a\0b",
        "..",
        "a/..",
    ];
    let program = format!(
        "{}\nimport json, sys\nfor n in json.load(sys.stdin): print(int(_safe_member(n)))\n",
        &source[start..end]
    );
    let mut child = Command::new("python3")
        .args(["-I", "-S", "-c", &program])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(&names).unwrap().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let verdicts: Vec<bool> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| l == "1")
        .collect();
    assert_eq!(verdicts.len(), names.len());
    for (name, importer_accepts) in names.iter().zip(verdicts) {
        if contract::is_safe_member(name) {
            assert!(importer_accepts, "the importer refuses {name:?}");
        }
    }
}

/// `package` of the asset unit (one asset pinned to S3, so the catalogue
/// has a bundle): its catalogue and EFS manifest read back as the
/// contract's types, and write back to the same bytes.
#[test]
fn package_writes_documents_that_read_back_as_the_contract() {
    let unit = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/asset-unit");
    let out = tempfile::tempdir().unwrap();
    let dist = out.path().join("dist");
    let run = caios([
        "package",
        unit.to_str().unwrap(),
        "--out",
        dist.to_str().unwrap(),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let text = std::fs::read_to_string(dist.join("catalogue.json")).unwrap();
    let catalogue: Catalogue = serde_json::from_str(&text).unwrap();
    assert_eq!(catalogue.to_text(), text);
    assert_eq!(catalogue.format, contract::CATALOGUE_FORMAT);
    let text = std::fs::read_to_string(dist.join("efs-manifest.yaml")).unwrap();
    let manifest = EfsManifest::from_text(&text).unwrap();
    assert_eq!(manifest.to_text(), text);
    assert!(catalogue
        .efs_root
        .ends_with(contract::efs_tree_name(&manifest.digest)));
}

/// An `--out` that cannot be created is an I/O failure: exit 3, and the
/// message names the path.
#[test]
fn an_unwritable_out_exits_3_naming_the_path() {
    let unit = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/zoo");
    let dir = tempfile::tempdir().unwrap();
    // A file where a folder is needed fails even for root.
    let blocker = dir.path().join("not-a-folder");
    std::fs::write(&blocker, "").unwrap();
    let out = blocker.join("dist");
    let run = caios([
        "package",
        unit.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(blocker.to_str().unwrap()),
        "the message names no path: {stderr}"
    );
    assert!(!out.exists());
}

/// An S3 endpoint that refuses connections is an I/O failure: exit 3, and
/// the message names the object.
#[test]
fn an_unreachable_s3_exits_3_naming_the_object() {
    let dist = tempfile::tempdir().unwrap();
    let catalogue = Catalogue {
        bundles: Default::default(),
        efs_root: "/mnt/caios/0123456789abcdef".into(),
        fetch: contract::FetchSettings::with_connections(4),
        files: Default::default(),
        format: contract::CATALOGUE_FORMAT.into(),
        handler: "app.handler".into(),
        modules: Default::default(),
        prefetch: vec![],
        s3: contract::S3Location {
            bucket: Some("b".into()),
            prefix: "p/".into(),
            region: None,
        },
        s3_client_packages: vec![],
        version: contract::CATALOGUE_VERSION,
    };
    std::fs::write(dist.path().join("catalogue.json"), catalogue.to_text()).unwrap();
    std::fs::create_dir(dist.path().join("s3")).unwrap();
    std::fs::write(dist.path().join("s3/abc.zip"), "not really a zip").unwrap();
    let run = command()
        .args(["upload", dist.path().to_str().unwrap()])
        .args([
            "--endpoint-url",
            "http://127.0.0.1:9",
            "--region",
            "us-east-1",
        ])
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_MAX_ATTEMPTS", "1")
        .output()
        .expect("binary runs");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("s3://b/p/abc.zip"), "{stderr}");
}

/// A failure while the artifacts are built leaves `--out` as it was and
/// no staging folder behind.
#[test]
fn a_failed_package_leaves_out_as_it_was() {
    let unit = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/zoo");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("dist");
    std::fs::create_dir_all(out.join("s3")).unwrap();
    std::fs::write(out.join("s3/old.zip"), "old").unwrap();
    let run = caios([
        "package",
        unit.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--python",
        "/nonexistent/python3",
    ]);
    assert_ne!(run.status.code(), Some(0));
    assert_eq!(std::fs::read(out.join("s3/old.zip")).unwrap(), b"old");
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["dist"], "staging left behind");
}
