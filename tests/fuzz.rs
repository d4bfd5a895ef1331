//! Fuzzing on stable Rust with proptest: no input file may make a reader
//! panic. Every reader of a user-supplied file gets arbitrary bytes,
//! arbitrary UTF-8 and mutated valid documents (the samples in
//! fixtures/stats/ and the examples in docs/, with bytes flipped, inserted,
//! deleted, duplicated and the text truncated), and must return Ok or an
//! error:
//!
//! - statistics: `Stats::load` (trace JSON, `-X importtime`, EMF, CSV),
//!   one file and several merged;
//! - configuration: `Unit::load` on a unit folder whose `caios-pack.yaml` is
//!   the fuzzed text, and the model's sections (`tiers`, `limits`,
//!   `workload`, `budget`, `pins`) deserialized on their own;
//! - package outputs read back: `catalogue.json` by `upload` (which must fail
//!   before contacting S3: the dist folder has no `s3/`), and
//!   `efs-manifest.yaml` by `efs_sync::sync` into a temporary mount.
//!
//! Case counts are set per test so the file runs in well under a minute in
//! a debug build. Each run draws new inputs; a failure is shrunk, printed,
//! and its seed saved to proptest-regressions/fuzz.txt, which is committed
//! and replayed first on every later run.

use caios_pack::config::{
    parse_duration_ms, Budget, Limits, Overrides, Pin, Tiers, Unit, Workload, CONFIG_FILE,
};
use caios_pack::efs_sync;
use caios_pack::progress::Progress;
use caios_pack::stats::Stats;
use caios_pack::upload::{upload, UploadOptions};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

/// `CAIOS_FUZZ_SCALE=N` multiplies every case count, for a longer search
/// than the default run (`CAIOS_FUZZ_SCALE=50 cargo test --test fuzz`).
fn fuzz_config(cases: u32) -> ProptestConfig {
    let scale = std::env::var("CAIOS_FUZZ_SCALE")
        .ok()
        .and_then(|s| s.parse::<u32>().ok())
        .unwrap_or(1)
        .max(1);
    ProptestConfig {
        cases: cases.saturating_mul(scale),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/fuzz.txt",
        ))),
        ..ProptestConfig::default()
    }
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The fenced code blocks of a Markdown file (indented fences included).
fn code_blocks(doc: &str) -> Vec<Vec<u8>> {
    let text = std::fs::read_to_string(root().join(doc)).unwrap();
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            match current.take() {
                Some(block) => blocks.push(block.into_bytes()),
                None => current = Some(String::new()),
            }
        } else if let Some(block) = current.as_mut() {
            block.push_str(line);
            block.push('\n');
        }
    }
    blocks
}

/// A trace document with every field the tracer writes, the probe's too.
const PROBE_TRACE: &str = r#"{"format": "caios-pack-stats", "version": 1, "source": "trace",
 "python": "3.11.7", "handler": "handler.handler", "tracking": "setprofile", "probe": 1,
 "init_ms": 812.5,
 "events": [{"name": "summary", "ok": true, "ms": 41.0, "result": {}, "error": null,
             "traceback": null, "crashed": false}, {"name": "détail", "ok": true}],
 "modules": [{"name": "numpy", "file": "/var/task/numpy/__init__.py", "phase": "init",
              "self_us": 1234, "cumulative_us": 56789, "functions_ran": true,
              "effects": ["thread", "env"], "in_cycle": true},
             {"name": "café", "phase": "détail", "self_us": 3, "cumulative_us": 4,
              "effects": []},
             {"name": "sys", "phase": "preloaded"}],
 "files": [{"path": "/var/task/model.bin", "phase": "init", "how": "open"},
           {"path": "/var/task/libgomp.so.1", "phase": "summary", "how": "dlopen"}]}
"#;

static STATS_SAMPLES: LazyLock<Vec<Vec<u8>>> = LazyLock::new(|| {
    let dir = root().join("fixtures/stats");
    let mut samples = vec![
        std::fs::read(dir.join("importtime-json.txt")).unwrap(),
        std::fs::read(dir.join("importtime-reference.txt")).unwrap(),
        PROBE_TRACE.as_bytes().to_vec(),
        PROBE_TRACE.replace('\n', "").into_bytes(),
    ];
    let blocks = code_blocks("docs/stats.md");
    // The EMF example is pretty-printed in the doc; the importer writes one
    // line per cold start, after an optional CloudWatch prefix.
    for block in &blocks {
        if let Ok(value) = serde_json::from_slice::<serde_json::Value>(block) {
            let line = serde_json::to_string(&value).unwrap();
            samples.push(format!("{line}\n2026-11-27T01:00:00.000Z\treq-1\t{line}\n").into_bytes());
        }
    }
    samples.extend(blocks);
    samples
});

static CONFIG_SAMPLES: LazyLock<Vec<Vec<u8>>> = LazyLock::new(|| {
    let mut samples = code_blocks("docs/config.md");
    samples.extend(code_blocks("docs/model.md"));
    let mut units = vec![root().join("fixtures/zoo")];
    for entry in std::fs::read_dir(root().join("fixtures/apps")).unwrap() {
        units.push(entry.unwrap().path());
    }
    units.sort();
    for unit in units {
        if let Ok(text) = std::fs::read(unit.join(CONFIG_FILE)) {
            samples.push(text);
        }
    }
    samples
});

static CATALOGUE_SAMPLES: LazyLock<Vec<Vec<u8>>> = LazyLock::new(|| {
    let mut samples: Vec<Vec<u8>> = code_blocks("docs/runtime.md")
        .into_iter()
        .filter(|b| b.starts_with(b"{\"format\": \"caios-pack-catalogue\""))
        .collect();
    assert!(
        !samples.is_empty(),
        "docs/runtime.md lost its catalogue example"
    );
    samples.push(
        br#"{"format":"caios-pack-catalogue","version":1,"s3":{"bucket":"b","prefix":"p/","region":"eu-west-1"}}"#
            .to_vec(),
    );
    samples
});

/// The files of the EFS tree the manifest samples describe.
const EFS_FILES: [(&str, &str); 3] = [
    ("pkg/__init__.py", "x = 1\n"),
    (
        "pkg/_native.cpython-311-x86_64-linux-gnu.so",
        "\x7fELF not really\n",
    ),
    ("data/é 日本.bin", "\u{1F40D}\n"),
];

fn efs_digest() -> String {
    hex(&Sha256::digest(b"fuzz tree"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

static MANIFEST_SAMPLES: LazyLock<Vec<Vec<u8>>> = LazyLock::new(|| {
    // As emit writes it.
    let digest = efs_digest();
    let mut text = format!(
        "# caios-pack EFS manifest: every file with its SHA-256 and size.\nroot: \"/mnt/caios/{}\"\ndigest: \"{digest}\"\nfiles:\n",
        &digest[..16]
    );
    for (path, content) in EFS_FILES {
        text.push_str(&format!(
            "  - {{path: {path:?}, size: {}, sha256: {}}}\n",
            content.len(),
            hex(&Sha256::digest(content.as_bytes()))
        ));
    }
    let empty = format!("root: \"/mnt/caios/x\"\ndigest: \"{digest}\"\nfiles: []\n");
    vec![text.into_bytes(), empty.into_bytes()]
});

/// One change to a document.
#[derive(Debug, Clone)]
enum Edit {
    /// Flip one bit of the byte at (position modulo the length).
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Truncate(usize),
    /// Copy a slice of the document (start, length) to another place.
    Duplicate(usize, usize, usize),
}

/// Pieces that matter to the parsers: structure, numbers at the edges of
/// their types, multi-byte and invalid UTF-8, YAML and CSV syntax.
const TOKENS: &[&str] = &[
    "\"",
    "'",
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\n",
    "\r\n",
    "\t",
    " ",
    "\\",
    "\\u",
    "|",
    "-",
    "#",
    "&a",
    "*a",
    "<<: *a",
    "!!binary",
    "!tag",
    "? ",
    "---\n",
    "...\n",
    "%YAML 1.2\n",
    "~",
    "null",
    "true",
    "[]",
    "{}",
    "0",
    "-1",
    "1e999",
    "NaN",
    ".inf",
    "-.inf",
    "18446744073709551615",
    "18446744073709551616",
    "-9223372036854775809",
    "4294967296",
    "0x10",
    "1.5s",
    "800ms",
    "é",
    "日本",
    "🐍",
    "…",
    "\u{0}",
    "\u{feff}",
    "\u{fffd}",
    "import time:",
    "module,",
    "\"_aws\"",
    "\"caios\"",
    "\"cold-start\"",
    "caios-pack-stats",
    "\"phase\": \"init\"",
    "\"effects\"",
    "\"in_cycle\"",
    "\"files\"",
    "\"how\": \"dlopen\"",
    "../",
    "/",
    "..",
];

/// Invalid UTF-8: a stray byte, characters cut short, a surrogate.
const BROKEN_UTF8: &[&[u8]] = &[
    b"\xff",
    b"\xc3",
    b"\xe6\x97",
    b"\xf0\x9f\x90",
    b"\xed\xa0\x80",
];

fn token() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => prop::sample::select(TOKENS).prop_map(|t| t.as_bytes().to_vec()),
        1 => any::<u8>().prop_map(|b| vec![b]),
        1 => prop::collection::vec(any::<u8>(), 0..8),
        1 => prop::sample::select(BROKEN_UTF8).prop_map(|b| b.to_vec()),
    ]
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Edit::Flip(at, bit)),
        (any::<usize>(), token()).prop_map(|(at, t)| Edit::Insert(at, t)),
        (any::<usize>(), 1usize..32).prop_map(|(at, n)| Edit::Delete(at, n)),
        any::<usize>().prop_map(Edit::Truncate),
        (any::<usize>(), any::<usize>(), 1usize..64)
            .prop_map(|(from, to, n)| Edit::Duplicate(from, to, n)),
    ]
}

fn apply(doc: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut doc = doc.to_vec();
    for e in edits {
        let at = |p: usize, len: usize| p % (len + 1);
        match e {
            Edit::Flip(p, bit) if !doc.is_empty() => {
                let i = p % doc.len();
                doc[i] ^= 1 << bit;
            }
            Edit::Flip(..) => {}
            Edit::Insert(p, bytes) => {
                let i = at(*p, doc.len());
                doc.splice(i..i, bytes.iter().copied());
            }
            Edit::Delete(p, n) => {
                let i = at(*p, doc.len());
                let end = (i + n).min(doc.len());
                doc.drain(i..end);
            }
            Edit::Truncate(p) => {
                let i = at(*p, doc.len());
                doc.truncate(i);
            }
            Edit::Duplicate(from, to, n) => {
                let i = at(*from, doc.len());
                let end = (i + n).min(doc.len());
                let piece = doc[i..end].to_vec();
                let j = at(*to, doc.len());
                doc.splice(j..j, piece);
            }
        }
    }
    doc
}

/// A sample from `samples`, mutated by one to six edits.
fn mutated(samples: &'static LazyLock<Vec<Vec<u8>>>) -> impl Strategy<Value = Vec<u8>> {
    let count = samples.len();
    (0..count, prop::collection::vec(edit(), 1..7))
        .prop_map(move |(i, edits)| apply(&samples[i], &edits))
}

/// Arbitrary text behind a prefix that selects one of the statistics
/// formats, so that each reader, not only format detection, sees it.
fn stats_prefixed() -> impl Strategy<Value = Vec<u8>> {
    let prefixes: &[&str] = &[
        "{",
        "{\"format\": \"caios-pack-stats\", ",
        "{\"format\": \"caios-pack-stats\", \"modules\": [{\"name\": ",
        "import time:",
        "import time:       389 |        389 |",
        "module,",
        "module,cold_starts,init_loads,invocations,invocation_loads\n",
        "{\"_aws\": {}, \"caios\": ",
        "{\"_aws\": {}, \"caios\": \"cold-start\", \"modules\": [[",
    ];
    (
        prop::sample::select(prefixes),
        prop_oneof![
            any::<String>().prop_map(String::into_bytes),
            prop::collection::vec(any::<u8>(), 0..256),
            prop::collection::vec(token(), 0..24).prop_map(|t| t.concat()),
        ],
    )
        .prop_map(|(prefix, rest)| [prefix.as_bytes(), &rest].concat())
}

/// Writes each document to a file and loads them all as `--stats`; uses
/// whatever comes back so that every derived figure is computed.
fn load_stats(docs: &[Vec<u8>]) {
    let dir = tempfile::tempdir().unwrap();
    let paths: Vec<PathBuf> = docs
        .iter()
        .enumerate()
        .map(|(i, doc)| {
            let path = dir.path().join(format!("stats-{i}"));
            std::fs::write(&path, doc).unwrap();
            path
        })
        .collect();
    if let Ok(stats) = Stats::load(&paths) {
        for (name, m) in &stats.modules {
            let _ = (
                stats.init_probability(name),
                stats.invocation_probability(name),
            );
            let _ = (m.self_us, m.cumulative_us, &m.effects);
        }
        for path in stats.opened_files.keys() {
            let _ = stats.file_init_probability(path);
            let _ = stats.file_invocation_probability(path);
        }
        let _ = serde_json::to_string(&stats).unwrap();
    }
}

/// A unit folder with the folders the samples name, and `text` as its
/// `caios-pack.yaml`; loaded with and without a `--handler` override.
fn load_unit(text: &[u8]) {
    let unit = tempfile::tempdir().unwrap();
    for dir in ["src", "site", "site2", "env", "python"] {
        std::fs::create_dir(unit.path().join(dir)).unwrap();
    }
    std::fs::write(unit.path().join(CONFIG_FILE), text).unwrap();
    let _ = Unit::load(unit.path(), &Overrides::default());
    let overrides = Overrides {
        handler: Some("handler.handler".into()),
        ..Overrides::default()
    };
    if let Ok(unit) = Unit::load(unit.path(), &overrides) {
        let _ = unit.workload.usd_per_gb_second();
        if let Some(latency) = &unit.budget.max_latency {
            let _ = parse_duration_ms(latency);
        }
    }
}

/// The model's sections on their own, from the text and from each section
/// of the text when it is a YAML mapping.
fn load_model_sections(text: &[u8]) {
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let _ = serde_yaml::from_str::<Tiers>(text);
    let _ = serde_yaml::from_str::<Limits>(text);
    let _ = serde_yaml::from_str::<Workload>(text);
    let _ = serde_yaml::from_str::<Budget>(text);
    let _ = serde_yaml::from_str::<Vec<Pin>>(text);
    let _ = parse_duration_ms(text);
    if let Ok(serde_yaml::Value::Mapping(map)) = serde_yaml::from_str::<serde_yaml::Value>(text) {
        let section = |key: &str| map.get(key).cloned().unwrap_or_default();
        let _ = serde_yaml::from_value::<Tiers>(section("tiers"));
        let _ = serde_yaml::from_value::<Limits>(section("limits"));
        let _ = serde_yaml::from_value::<Workload>(section("workload"));
        if let Ok(budget) = serde_yaml::from_value::<Budget>(section("budget")) {
            let _ = budget.max_latency.as_deref().map(parse_duration_ms);
        }
        let _ = serde_yaml::from_value::<Vec<Pin>>(section("pins"));
    }
}

/// `upload` on a dist folder holding only `catalogue.json`: it must give an
/// error (no bucket, or no `s3/` folder) before any network access.
fn upload_catalogue(text: &[u8]) {
    let dist = tempfile::tempdir().unwrap();
    std::fs::write(dist.path().join("catalogue.json"), text).unwrap();
    let options = UploadOptions {
        dist: dist.path().to_path_buf(),
        bucket: None,
        prefix: None,
        region: Some("us-east-1".into()),
        endpoint_url: Some("http://127.0.0.1:9".into()),
    };
    let result = upload(&options, &Progress::hidden());
    assert!(result.is_err(), "upload went past reading: {result:?}");
}

/// `efs_sync::sync` from a dist folder with a real EFS tree and `text` as
/// its manifest, into an empty temporary mount.
fn sync_manifest(text: &[u8]) {
    let dist = tempfile::tempdir().unwrap();
    let tree = dist.path().join("efs").join(&efs_digest()[..16]);
    for (path, content) in EFS_FILES {
        let file = tree.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, content).unwrap();
    }
    std::fs::write(dist.path().join("efs-manifest.yaml"), text).unwrap();
    let mount = tempfile::tempdir().unwrap();
    let _ = efs_sync::sync(dist.path(), mount.path());
}

/// The samples themselves must be what the readers accept, or the mutated
/// documents would test little beyond the first error.
#[test]
fn the_unmutated_samples_are_valid() {
    let dir = tempfile::tempdir().unwrap();
    let valid_stats = [0usize, 1, 2, 3];
    for i in valid_stats {
        let path = dir.path().join(format!("s{i}"));
        std::fs::write(&path, &STATS_SAMPLES[i]).unwrap();
        Stats::load(&[path]).unwrap();
    }
    // The docs' trace, importtime, compact EMF and CSV examples load too.
    let loaded = STATS_SAMPLES[4..]
        .iter()
        .enumerate()
        .filter(|(i, sample)| {
            let path = dir.path().join(format!("doc{i}"));
            std::fs::write(&path, sample).unwrap();
            Stats::load(&[path]).is_ok_and(|s| s.cold_starts > 0)
        })
        .count();
    assert!(loaded >= 4, "{loaded} of the docs/stats.md examples load");
    let probe = dir.path().join("probe");
    std::fs::write(&probe, PROBE_TRACE).unwrap();
    let stats = Stats::load(&[probe]).unwrap();
    assert!(stats.probed && stats.opened_files.len() == 2);
    let mount = tempfile::tempdir().unwrap();
    let dist = tempfile::tempdir().unwrap();
    let tree = dist.path().join("efs").join(&efs_digest()[..16]);
    for (path, content) in EFS_FILES {
        let file = tree.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, content).unwrap();
    }
    std::fs::write(dist.path().join("efs-manifest.yaml"), &MANIFEST_SAMPLES[0]).unwrap();
    let report = efs_sync::sync(dist.path(), mount.path()).unwrap();
    assert_eq!(report.copied, EFS_FILES.len());
    for sample in CATALOGUE_SAMPLES.iter() {
        serde_json::from_slice::<serde_json::Value>(sample).unwrap();
    }
    let parsed = CONFIG_SAMPLES
        .iter()
        .filter(|s| serde_yaml::from_slice::<serde_yaml::Value>(s).is_ok())
        .count();
    assert!(parsed > 10, "{parsed} of {}", CONFIG_SAMPLES.len());
}

/// Nesting far deeper than any parser's recursion limit (128 in serde_json
/// and serde_yaml), in every reader: an error, not a stack overflow.
#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let json = |depth: usize| ["[".repeat(depth), "{\"a\":".repeat(depth)];
    for doc in [
        format!(
            "{{\"format\": \"caios-pack-stats\", \"modules\": {}",
            "[".repeat(100_000)
        ),
        format!(
            "{{\"_aws\": {{}}, \"caios\": \"cold-start\", \"modules\": {}\n",
            "[".repeat(100_000)
        ),
    ] {
        load_stats(&[doc.into_bytes()]);
    }
    for doc in json(100_000) {
        load_stats(&[doc.clone().into_bytes()]);
        upload_catalogue(doc.as_bytes());
    }
    // libyaml's scanner is quadratic in the flow depth: 1,000 keeps it fast.
    let depth = 1_000;
    let flow = format!("handler: h.h\nassets: {}", "[".repeat(depth));
    let block: String = (0..depth)
        .map(|i| format!("{}- \n", " ".repeat(i * 2)))
        .collect();
    let [list, object] = json(depth);
    for doc in [flow, block, list, object] {
        load_unit(doc.as_bytes());
        load_model_sections(doc.as_bytes());
        sync_manifest(doc.as_bytes());
    }
}

proptest! {
    #![proptest_config(fuzz_config(256))]

    #[test]
    fn stats_arbitrary_bytes(doc in prop::collection::vec(any::<u8>(), 0..512)) {
        load_stats(&[doc]);
    }

    #[test]
    fn stats_arbitrary_text(doc in any::<String>()) {
        load_stats(&[doc.into_bytes()]);
    }

    #[test]
    fn stats_each_format_arbitrary_content(doc in stats_prefixed()) {
        load_stats(&[doc]);
    }

    #[test]
    fn config_arbitrary_bytes(doc in prop::collection::vec(any::<u8>(), 0..512)) {
        load_unit(&doc);
        load_model_sections(&doc);
    }

    #[test]
    fn config_arbitrary_text(doc in any::<String>()) {
        load_unit(doc.as_bytes());
        load_model_sections(doc.as_bytes());
    }

    #[test]
    fn catalogue_and_manifest_arbitrary(doc in prop::collection::vec(any::<u8>(), 0..512)) {
        upload_catalogue(&doc);
        sync_manifest(&doc);
    }
}

proptest! {
    #![proptest_config(fuzz_config(768))]

    #[test]
    fn stats_mutated_samples(doc in mutated(&STATS_SAMPLES)) {
        load_stats(&[doc]);
    }

    #[test]
    fn config_mutated_samples(doc in mutated(&CONFIG_SAMPLES)) {
        load_unit(&doc);
        load_model_sections(&doc);
    }

    #[test]
    fn catalogue_mutated_samples(doc in mutated(&CATALOGUE_SAMPLES)) {
        upload_catalogue(&doc);
    }

    #[test]
    fn manifest_mutated_samples(doc in mutated(&MANIFEST_SAMPLES)) {
        sync_manifest(&doc);
    }
}

proptest! {
    #![proptest_config(fuzz_config(128))]

    /// Several files merged: counts and histograms from different formats.
    #[test]
    fn stats_several_mutated_files(
        docs in prop::collection::vec(mutated(&STATS_SAMPLES), 2..4)
    ) {
        load_stats(&docs);
    }
}
