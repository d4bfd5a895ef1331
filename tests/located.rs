//! Files opened by path stay in the placement group of the module that
//! locates them (docs/architecture.md, "Files opened by path"): data next to
//! `__file__` in a subpackage another group holds, a library `ctypes` loads
//! from the package's folder, a `.libs` library no object links.

mod support;

use caios_pack::plan::groups::{self, Group};
use caios_pack::usage;
use std::path::Path;

fn groups_of(unit: &Path) -> (caios_pack::analysis::Analysis, Vec<Group>) {
    let a = support::analyze(unit, vec![]);
    let table = usage::classify(&a, None);
    let groups = groups::build(&a, &table, &a.unit.pins);
    (a, groups)
}

fn group_holding<'g>(
    a: &caios_pack::analysis::Analysis,
    groups: &'g [Group],
    rel: &str,
) -> &'g str {
    groups
        .iter()
        .find(|g| g.files.iter().any(|&f| a.inventory.files[f].rel == rel))
        .unwrap_or_else(|| panic!("no group holds {rel}"))
        .name
        .as_str()
}

/// `datapkg` is split (its `tools` subpackage is never imported, its
/// `reader` subpackage is), and its `__init__` opens a file in `tools/db/`.
fn write_unit(root: &Path) {
    let files: [(&str, &str); 12] = [
        ("caios-pack.yaml", "handler: handler.handler\nsource: src\nsite_packages: [env]\n"),
        ("src/handler.py", "import datapkg\nimport ctpkg\n\ndef handler(event, context):\n    import datapkg.reader\n    return datapkg.KEYS\n"),
        ("env/datapkg/__init__.py", "import json, os\nKEYS = json.load(open(os.path.join(os.path.dirname(__file__), 'tools', 'db', 'keys.json')))\n"),
        ("env/datapkg/reader/__init__.py", "X = 1\n"),
        ("env/datapkg/tools/__init__.py", "Y = 2\n"),
        ("env/datapkg/tools/db/keys.json", "[1, 2]\n"),
        ("env/datapkg/tools/stubs.pyi", "Y: int\n"),
        ("env/ctpkg/__init__.py", "from ctpkg import core\n"),
        ("env/ctpkg/core.py", "import ctypes, os\nLIB = os.path.join(os.path.dirname(__file__), 'lib', 'libx.so')\ndef load():\n    return ctypes.CDLL(LIB)\n"),
        ("env/ctpkg/lib/libx.so", "not really ELF"),
        ("env/ctpkg/unused/__init__.py", "Z = 3\n"),
        ("env/ctpkg/unused/other.py", "W = 4\n"),
    ];
    for (rel, text) in files {
        support::write_file(root, rel, text);
    }
}

#[test]
fn data_located_by_file_travels_with_the_locating_module() {
    let dir = tempfile::tempdir().unwrap();
    write_unit(dir.path());
    let (a, groups) = groups_of(dir.path());
    let init = group_holding(&a, &groups, "datapkg/__init__.py");
    assert_eq!(
        group_holding(&a, &groups, "datapkg/tools/db/keys.json"),
        init
    );
    // Typing stubs are never opened: they do not pull `tools` in.
    assert_eq!(
        group_holding(&a, &groups, "datapkg/tools/stubs.pyi"),
        group_holding(&a, &groups, "datapkg/tools/__init__.py")
    );
    // The package stays split where nothing is located across groups.
    assert_ne!(
        group_holding(&a, &groups, "datapkg/reader/__init__.py"),
        init
    );
}

#[test]
fn a_library_in_a_package_folder_travels_with_its_package() {
    let dir = tempfile::tempdir().unwrap();
    write_unit(dir.path());
    let (a, groups) = groups_of(dir.path());
    assert_eq!(
        group_holding(&a, &groups, "ctpkg/lib/libx.so"),
        group_holding(&a, &groups, "ctpkg/core.py")
    );
}
