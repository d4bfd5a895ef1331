//! Test units shared by several test files, built in a temporary folder.

use std::path::Path;

/// The hot/cold unit: the handler uses `hotpkg` at init (its 2 MB
/// table.bin read by `load`), imports `coldpkg` inside the handler (1 MB of
/// weights) and never imports `neverpkg` (1 MB blob). `caios-pack.yaml` is
/// the handler, `source: src`, `site_packages: env` and then `extra_yaml`.
/// The handler returns `{"value": 2 * len(table) + event["x"], "cold_file": …}`.
pub fn hot_cold(extra_yaml: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_hot_cold(dir.path(), extra_yaml);
    dir
}

pub fn write_hot_cold(root: &Path, extra_yaml: &str) {
    let write = |rel: &str, bytes: &[u8]| super::write_file(root, rel, bytes);
    write("src/handler.py", HOT_COLD_HANDLER.as_bytes());
    write(
        "env/hotpkg/__init__.py",
        b"import os\n\ndef load():\n    with open(os.path.join(os.path.dirname(__file__), 'table.bin'), 'rb') as f:\n        return len(f.read())\n",
    );
    write("env/hotpkg/table.bin", &vec![1u8; 2_000_000]);
    write(
        "env/coldpkg/__init__.py",
        b"def run(t):\n    return t * 2\n",
    );
    write("env/coldpkg/weights.bin", &vec![2u8; 1_000_000]);
    write("env/neverpkg/__init__.py", b"X = 1\n");
    write("env/neverpkg/blob.bin", &vec![3u8; 1_000_000]);
    let yaml = format!("handler: handler.handler\nsource: src\nsite_packages: env\n{extra_yaml}");
    write("caios-pack.yaml", yaml.as_bytes());
}

const HOT_COLD_HANDLER: &str = "import hotpkg\nTABLE = hotpkg.load()\n\n\
def handler(event, context):\n    import coldpkg\n    \
return {'value': coldpkg.run(TABLE) + event['x'], 'cold_file': coldpkg.__file__.endswith('coldpkg/__init__.py')}\n";
