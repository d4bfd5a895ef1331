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

/// A file a trace saw opened at init makes its group needed at init, even
/// when no module of that group is imported then.
#[test]
fn a_file_opened_at_init_makes_its_group_hot() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for (rel, text) in [
        ("caios-pack.yaml", "handler: handler.handler\nsource: src\nsite_packages: [env]\n"),
        ("src/handler.py", "import os\nTABLE = open(os.environ['TABLE']).read()\n\ndef handler(event, context):\n    import tables\n    return TABLE\n"),
        ("env/tables/__init__.py", "X = 1\n"),
        ("env/tables/big.txt", "rows\n"),
    ] {
        support::write_file(root, rel, text);
    }
    let opened = std::fs::canonicalize(root.join("env/tables/big.txt")).unwrap();
    let trace = format!(
        r#"{{"format":"caios-pack-stats","version":1,"source":"trace","probe":1,"events":[{{"name":"e"}}],"modules":[{{"name":"handler","phase":"init","self_us":5,"cumulative_us":5,"effects":[]}},{{"name":"tables","phase":"e","self_us":5,"cumulative_us":5,"effects":[]}}],"files":[{{"path":{},"phase":"init","how":"open"}}]}}"#,
        serde_json::to_string(&opened).unwrap()
    );
    let stats_path = root.join("trace.json");
    std::fs::write(&stats_path, trace).unwrap();
    let stats = caios_pack::stats::Stats::load(&[stats_path]).unwrap();
    let a = support::analyze(root, vec![]);
    let without = groups::build(&a, &usage::classify(&a, None), &a.unit.pins);
    let with = groups::build(&a, &usage::classify(&a, Some(&stats)), &a.unit.pins);
    let tables = |gs: &[Group]| gs.iter().find(|g| g.name == "tables").unwrap().clone();
    assert_eq!(tables(&without).init_probability, 0.0);
    assert_eq!(tables(&with).init_probability, 1.0);
}
