//! Files opened by path: which placement groups must stay together so that a
//! path a module builds from its `__file__` (or through a package resource
//! API, or for `ctypes`) finds the file at run time.
//!
//! Input: the inventory and the group key of every file. Output: pairs of
//! keys to merge. A data file (or a library `ctypes` loads) cannot be fetched
//! on demand when it is opened: it must sit in the same tree (tier, and S3
//! bundle) as the module that computes its path. Groups follow package
//! folders, so a package split into subpackage groups could put a module and
//! the data it locates apart. The rule, conservative on purpose (a merge
//! costs latency, a split breaks the function):
//!
//! - a *locating* module is Python source whose text mentions `__file__`,
//!   `__spec__`, a resource API (`importlib.resources`, `importlib_resources`,
//!   `pkgutil`, `pkg_resources`, jinja2's `PackageLoader`) or a native
//!   loader (`CDLL`, `LoadLibrary`, `load_library`, `dlopen`,
//!   `find_library`);
//! - it reaches the non-module files below its own folder; when it climbs
//!   (`..`, `os.pardir`, `.parent.parent`, `parents[`, nested `dirname`) or
//!   uses a resource API (which names a package, maybe its top-level one), it
//!   reaches every non-module file of its top-level package (a resource API
//!   only when it names the top-level package: `PackageLoader("pandas", …)`);
//!   never the data of a `tests` folder below it, which only tests read;
//! - each reached file's group is merged with the module's group; when the
//!   module also lists its own folder (`os.listdir`, `scandir`, `os.walk`,
//!   `iterdir`, `glob`, `pkgutil.iter_modules`), the modules below it are
//!   reached too, since it finds them by listing (opencv's `cv2` imports the
//!   subpackages its folder listing shows). Not for a module that climbs
//!   with `..`/`parents[`/a resource API on its top-level package: walking
//!   a whole package (scikit-learn's `all_estimators`) would make every
//!   package one group, and such walks are tooling, not handler code;
//! - test modules, test-suite helpers and `conftest.py` locate nothing: they
//!   never run in the function.
//!
//! Files nobody opens at run time — typing stubs, C headers and sources,
//! Cython declarations, `__pycache__` — are not data here. Only packages
//! already split into several groups are read, so most units read nothing.

use crate::scan::{FileId, FileKind, Inventory};
use std::collections::{BTreeMap, BTreeSet};

/// Text that makes a module a locator.
const LOCATES: [&[u8]; 14] = [
    b"__file__",
    b"resources.files(",
    b"import resources",
    b"__spec__",
    b"importlib.resources",
    b"importlib_resources",
    b"pkgutil",
    b"pkg_resources",
    b"PackageLoader",
    b"CDLL",
    b"LoadLibrary",
    b"load_library",
    b"dlopen",
    b"find_library",
];

/// Text that climbs out of a module's folder: its reach is then the whole
/// top-level package.
const CLIMBS: [&[u8]; 10] = [
    b"os.pardir",
    b"'..'",
    b"\"..\"",
    b"'../",
    b"\"../",
    b"/..'",
    b"/..\"",
    b".parent.parent",
    b"parents[",
    b"dirname(dirname(",
];

/// Climbing written as two calls apart (`osp.dirname(osp.dirname(…))`,
/// `HERE = Path(__file__).parent` then `HERE.parent`): two or more.
const CLIMB_TWICE: [&[u8]; 2] = [b"dirname(", b".parent"];

/// Resource APIs that name a package: when the name is the top-level
/// package's own (`PackageLoader("pandas", "io/formats/templates")`), the
/// reach is the whole top-level package.
const RESOURCE_APIS: [&[u8]; 6] = [
    b"resources.files(",
    b"importlib.resources",
    b"importlib_resources",
    b"pkgutil",
    b"pkg_resources",
    b"PackageLoader",
];

/// Text that makes it list or probe folders: then the modules below its
/// reach are found by path too (cv2 imports the subpackages it finds with
/// `os.listdir` next to its `__init__`; pendulum checks that a locale's
/// subpackage `files("pendulum.locales").joinpath("de").exists()`; plugin
/// loaders use `iter_modules`).
const LISTS: [&[u8]; 12] = [
    b".exists(",
    b"isdir(",
    b"is_dir(",
    b"isfile(",
    b"is_file(",
    b"listdir",
    b"scandir",
    b"os.walk",
    b"iterdir",
    b"glob(",
    b"iter_modules",
    b"walk_packages",
];

/// Never opened by path at run time.
const NOT_DATA: [&str; 12] = [
    ".pyi", ".pxd", ".pxi", ".pyx", ".h", ".hpp", ".c", ".cc", ".cpp", ".f", ".f90", "py.typed",
];

/// How far a locating module reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Its own folder and below.
    OwnFolder,
    /// Its whole top-level package.
    TopLevel,
}

/// What a module's source says about the files it finds by path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Locator {
    pub reach: Reach,
    /// It lists its own folder (not a package walk): the modules below it
    /// too.
    pub lists: bool,
}

/// What a module's source says about files it opens by path, if anything.
/// `top` is its top-level package's name.
pub fn locator(source: &[u8], top: &str) -> Option<Locator> {
    let has = |needle: &[u8]| memchr::memmem::find(source, needle).is_some();
    if !LOCATES.iter().any(|n| has(n)) {
        return None;
    }
    let names_top = || has(format!("\"{top}\"").as_bytes()) || has(format!("'{top}'").as_bytes());
    let twice = |needle: &[u8]| memchr::memmem::find_iter(source, needle).nth(1).is_some();
    // Explicit climbing or a resource API on the top-level package: what
    // it lists is a package walk, not its own folder.
    let walks_package =
        CLIMBS.iter().any(|n| has(n)) || (RESOURCE_APIS.iter().any(|n| has(n)) && names_top());
    let reach = if walks_package || CLIMB_TWICE.iter().any(|n| twice(n)) {
        Reach::TopLevel
    } else {
        Reach::OwnFolder
    };
    Some(Locator {
        reach,
        lists: !walks_package && LISTS.iter().any(|n| has(n)),
    })
}

fn is_data(inv: &Inventory, id: FileId) -> bool {
    let file = &inv.files[id];
    let own_module = file.owner.is_some_and(|o| inv.modules[o].file == Some(id));
    !own_module
        && !matches!(file.kind, FileKind::Python | FileKind::Bytecode)
        && !file.rel.contains("__pycache__/")
        && !NOT_DATA.iter().any(|s| file.rel.ends_with(s))
}

/// A test module, a test suite's helper or pytest's conftest.
fn is_test_code(rel: &str) -> bool {
    let mut parts = rel.split('/');
    let name = parts.next_back().unwrap_or("");
    name.starts_with("test_")
        || name == "conftest.py"
        || parts.any(|part| matches!(part, "tests" | "test" | "testing"))
}

/// Test suites' data is read by the tests next to it, not by the package:
/// a locator above a `tests`/`test`/`testing` folder does not reach into it.
fn in_tests_folder_below(rel: &str, below: &str) -> bool {
    rel[below.len()..]
        .split('/')
        .rev()
        .skip(1)
        .any(|part| matches!(part, "tests" | "test" | "testing"))
}

fn parent(rel: &str) -> &str {
    rel.rsplit_once('/').map_or("", |(dir, _)| dir)
}

/// Pairs of group keys (indices into the caller's keys) to merge.
pub fn merges(inv: &Inventory, file_key: &[Option<usize>]) -> Vec<(usize, usize)> {
    // Per (root, top-level name): data files with their keys, and every key.
    type Top<'a> = (usize, &'a str);
    // (file, its key, whether it is data) per top-level package.
    let mut files_of: BTreeMap<Top, Vec<(FileId, usize, bool)>> = BTreeMap::new();
    let mut keys: BTreeMap<Top, BTreeSet<usize>> = BTreeMap::new();
    for (id, file) in inv.files.iter().enumerate() {
        let (Some(owner), Some(key)) = (file.owner, file_key[id]) else {
            continue;
        };
        let top = crate::names::top_level(&inv.modules[owner].name);
        keys.entry((file.root, top)).or_default().insert(key);
        files_of
            .entry((file.root, top))
            .or_default()
            .push((id, key, is_data(inv, id)));
    }
    let mut pairs = BTreeSet::new();
    for ((root, top), files) in &files_of {
        if keys[&(*root, *top)].len() < 2 {
            continue; // one group: nothing can end up apart
        }
        let prefix = format!("{top}.");
        for module in inv
            .modules
            .iter()
            .filter(|m| m.name == *top || m.name.starts_with(&prefix))
        {
            let Some(file_id) = module.file else { continue };
            let file = &inv.files[file_id];
            if file.root != *root || file.kind != FileKind::Python {
                continue;
            }
            let Some(module_key) = file_key[file_id] else {
                continue;
            };
            if is_test_code(&file.rel) {
                continue; // a test suite's helpers never run in the function
            }
            let Ok(source) = std::fs::read(&file.path) else {
                continue;
            };
            let Some(found) = locator(&source, top) else {
                continue;
            };
            let reach = match found.reach {
                Reach::OwnFolder => parent(&file.rel),
                Reach::TopLevel => file.rel.split('/').next().unwrap_or(""),
            };
            let below = format!("{reach}/");
            let own = format!("{}/", parent(&file.rel));
            for &(other, other_key, data) in files {
                let other_rel = inv.files[other].rel.as_str();
                if other_key != module_key
                    && (data || (found.lists && other_rel.starts_with(&own)))
                    && other_rel.starts_with(&below)
                    && !in_tests_folder_below(other_rel, &below)
                {
                    pairs.insert((module_key.min(other_key), module_key.max(other_key)));
                }
            }
        }
    }
    pairs.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn locator_reach(source: &[u8]) -> Option<Reach> {
        locator(source, "pkg").map(|l| l.reach)
    }

    #[test]
    fn listing_folders_reaches_modules_too() {
        let cv2 = b"_path = os.path.dirname(os.path.abspath(__file__))\nos.listdir(_path)";
        assert_eq!(
            locator(cv2, "cv2"),
            Some(Locator {
                reach: Reach::OwnFolder,
                lists: true,
            })
        );
        let plain = b"open(os.path.join(os.path.dirname(__file__), 'x.json'))";
        assert_eq!(locator(plain, "pkg").map(|l| l.lists), Some(false));
    }

    #[test]
    fn locator_reach_by_source_text() {
        let cases: [(&str, Option<Reach>); 13] = [
            ("import os\nX = 1\n", None),
            (
                "DATA = os.path.join(os.path.dirname(__file__), 'data')",
                Some(Reach::OwnFolder),
            ),
            (
                "ROOT = os.path.dirname(os.path.dirname(__file__))",
                Some(Reach::TopLevel),
            ),
            (
                "HERE = Path(__file__).parent.parent / 'share'",
                Some(Reach::TopLevel),
            ),
            (
                "p = os.path.join(os.path.dirname(__file__), '..', 'lib')",
                Some(Reach::TopLevel),
            ),
            (
                "from importlib.resources import files\nfiles('pkg') / 'x.json'",
                Some(Reach::TopLevel),
            ),
            (
                "from importlib.resources import files\nfiles('pkg.sub.data') / 'x.json'",
                Some(Reach::OwnFolder),
            ),
            (
                "env = Environment(loader=PackageLoader('pkg', 'templates'))",
                Some(Reach::TopLevel),
            ),
            ("lib = ctypes.CDLL(_path)", Some(Reach::OwnFolder)),
            ("'..' but nothing that locates", None),
            (
                "ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))",
                Some(Reach::TopLevel),
            ),
            (
                "HERE = Path(__file__).parent\nDATA = HERE.parent / 'data'",
                Some(Reach::TopLevel),
            ),
            (
                "p = os.path.join(os.path.dirname(__file__), '../data/x.bin')",
                Some(Reach::TopLevel),
            ),
        ];
        for (source, want) in cases {
            assert_eq!(locator_reach(source.as_bytes()), want, "{source}");
        }
    }
}

#[cfg(test)]
mod folder_tests {
    #[test]
    fn test_code_is_no_locator() {
        assert!(super::is_test_code("pandas/tests/io/test_x.py"));
        assert!(super::is_test_code("numpy/conftest.py"));
        assert!(super::is_test_code("sklearn/utils/tests/helpers.py"));
        assert!(!super::is_test_code("pandas/io/formats/style_render.py"));
    }

    #[test]
    fn tests_folders_below_a_locator_are_not_reached() {
        assert!(super::in_tests_folder_below(
            "pandas/tests/io/data/a.csv",
            "pandas/"
        ));
        assert!(!super::in_tests_folder_below(
            "pandas/io/formats/templates/x.tpl",
            "pandas/"
        ));
        // A locator inside the tests folder reaches its data.
        assert!(!super::in_tests_folder_below(
            "pandas/tests/io/data/a.csv",
            "pandas/tests/io/"
        ));
    }
}
