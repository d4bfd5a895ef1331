//! The binary on good and bad input: exit codes, one clear message, no panics.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;
use support::caios;

fn zoo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/zoo")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A unit in a temp folder: `caios-pack.yaml` with `yaml`, a handler, and a
/// site-packages folder.
fn temp_unit(yaml: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("caios-pack.yaml"), yaml).unwrap();
    std::fs::create_dir_all(dir.path().join("src")).unwrap();
    std::fs::create_dir_all(dir.path().join("env")).unwrap();
    std::fs::write(
        dir.path().join("src/handler.py"),
        "import dep\n\ndef handler(e, c):\n    return e\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("env/dep.py"), "X = 1\n").unwrap();
    dir
}

const GOOD_YAML: &str = "handler: handler.handler\nsource: src\nsite_packages: env\n";

#[test]
fn bad_input_exits_2_with_one_clear_message() {
    let file_as_site =
        temp_unit("handler: handler.handler\nsource: src\nsite_packages: src/handler.py\n");
    let yaml_syntax = temp_unit("handler: handler.handler\nsource: \"src\n");
    let unknown_key = temp_unit("handler: handler.handler\nsource: src\nsite_pakages: env\n");
    let wrong_type = temp_unit("handler: handler.handler\nsource: src\nassets: 3\n");
    let no_handler_module = temp_unit("handler: nothere.handler\nsource: src\n");
    let config_is_dir = temp_unit(GOOD_YAML);
    let config = config_is_dir.path().join("caios-pack.yaml");
    std::fs::remove_file(&config).unwrap();
    std::fs::create_dir(&config).unwrap();
    let dangling = temp_unit(GOOD_YAML);
    let config = dangling.path().join("caios-pack.yaml");
    std::fs::remove_file(&config).unwrap();
    std::os::unix::fs::symlink("/nonexistent/caios.yaml", &config).unwrap();
    let p = |d: &tempfile::TempDir| d.path().to_str().unwrap().to_string();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["/no/such/unit".into()],
            "/no/such/unit: unit folder cannot be read",
        ),
        (
            vec![p(&file_as_site)],
            "site-packages folder is a file, not a folder",
        ),
        (
            vec![p(&yaml_syntax)],
            "caios-pack.yaml:3:1: found unexpected end of stream",
        ),
        (
            vec![p(&unknown_key)],
            "caios-pack.yaml:3:1: unknown field `site_pakages`",
        ),
        (
            vec![p(&wrong_type)],
            "caios-pack.yaml:3:9: assets: invalid type: integer",
        ),
        (
            vec![p(&no_handler_module)],
            "handler module `nothere` not found",
        ),
        (vec![p(&config_is_dir)], "caios-pack.yaml: cannot read"),
        (vec![p(&dangling)], "caios-pack.yaml: cannot read"),
        (
            vec![
                zoo().to_str().unwrap().into(),
                "--handler".into(),
                "nodot".into(),
            ],
            "handler `nodot` is not `module.function`",
        ),
        (
            vec![
                zoo().to_str().unwrap().into(),
                "--why".into(),
                "no.such.module".into(),
            ],
            "--why no.such.module: no module",
        ),
    ];
    for (args, expected) in cases {
        let mut full = vec!["analyze".to_string()];
        full.extend(args.iter().cloned());
        let argv: Vec<&str> = full.iter().map(String::as_str).collect();
        let out = caios(&argv);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(expected),
            "{args:?}: expected {expected:?} in {err:?}"
        );
        assert_eq!(err.lines().count(), 1, "one line: {err:?}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn malformed_metadata_and_elf_are_warnings() {
    let unit = temp_unit(GOOD_YAML);
    let env = unit.path().join("env");
    std::fs::create_dir_all(env.join("dep-1.0.dist-info")).unwrap();
    std::fs::write(
        env.join("dep-1.0.dist-info/METADATA"),
        [0xff, 0xfe, 0x00, b'x'],
    )
    .unwrap();
    std::fs::write(
        env.join("dep-1.0.dist-info/RECORD"),
        "dep.py,,\n\"unterminated\n",
    )
    .unwrap();
    std::fs::write(
        env.join("fake.cpython-311-x86_64-linux-gnu.so"),
        b"\x7fELF\x02\x01\x01garbage",
    )
    .unwrap();
    std::fs::write(env.join("empty.so"), b"").unwrap();
    std::fs::write(
        unit.path().join("src/handler.py"),
        b"import dep, fake\nx = '\xff'\ndef f(:\n",
    )
    .unwrap();
    let out = caios(["analyze", unit.path().to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for expected in [
        "dep-1.0.dist-info/METADATA: no Name/Version headers",
        "dep-1.0.dist-info/RECORD:2: malformed RECORD line",
        "fake.cpython-311-x86_64-linux-gnu.so: not a valid ELF file",
        "empty.so: not a valid ELF file",
        "handler.py:3: syntax error",
        "handler.py: not valid UTF-8",
    ] {
        assert!(text.contains(expected), "{expected:?} not in:\n{text}");
    }
    // The fallback scan still found the imports of the broken handler.
    let json = caios(["analyze", unit.path().to_str().unwrap(), "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let dep = v["modules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "dep")
        .unwrap();
    assert_eq!(dep["reach"], "cold");
}

#[test]
fn json_dot_and_why() {
    let dir = tempfile::tempdir().unwrap();
    let dot = dir.path().join("cold.dot");
    let out = caios([
        "analyze",
        zoo().to_str().unwrap(),
        "--format",
        "json",
        "--dot",
        dot.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        out.stderr.is_empty(),
        "no progress output when stderr is not a terminal"
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["unit"]["handler"], "app.handler");
    let files = v["files"].as_array().unwrap().len();
    assert_eq!(v["totals"]["files"].as_u64().unwrap() as usize, files);
    let dot = std::fs::read_to_string(dot).unwrap();
    assert!(dot.starts_with("digraph cold {") && dot.contains("label=\"rel.sub.deep.leaf\""));
    assert!(
        !dot.contains("label=\"in_function\""),
        "deferred modules are not in the cold graph"
    );

    let why = caios([
        "analyze",
        zoo().to_str().unwrap(),
        "--why",
        "rel.top_helper",
    ]);
    let text = String::from_utf8_lossy(&why.stdout);
    assert!(text.starts_with("rel.top_helper is cold"), "{text}");
    assert!(text.contains("→ rel.sub.deep.leaf"), "{text}");
    assert!(text.contains("leaf.py:3; from, at init"), "{text}");

    let why = caios(["analyze", zoo().to_str().unwrap(), "--why", "typing_only"]);
    let text = String::from_utf8_lossy(&why.stdout);
    assert!(text.contains("typing_only is unreachable"), "{text}");
    assert!(text.contains("imported only under TYPE_CHECKING"), "{text}");
    assert!(text.contains("app.py:19"), "{text}");
}

/// `efs-sync` never lets a manifest's digest name a folder outside the
/// package output or the mount (`../..`): exit 2, nothing written.
#[test]
fn efs_sync_refuses_a_digest_that_is_not_a_sha256() {
    let dist = tempfile::tempdir().unwrap();
    let mount = tempfile::tempdir().unwrap();
    let digest = format!("../../escape{}", "0".repeat(52));
    std::fs::create_dir_all(dist.path().join("efs")).unwrap();
    std::fs::write(
        dist.path().join("efs-manifest.yaml"),
        format!("digest: \"{digest}\"\nroot: /mnt/caios\nfiles: []\n"),
    )
    .unwrap();
    let out = caios([
        "efs-sync",
        dist.path().to_str().unwrap(),
        "--root",
        mount.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("not a SHA-256"), "{}", stderr(&out));
    assert_eq!(std::fs::read_dir(mount.path()).unwrap().count(), 0);
}
