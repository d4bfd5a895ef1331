//! Table-driven tests of the import parser: `(source, expected sites)`.

use super::*;

/// A compact form of a site for tables:
/// `(target, level, names, line, kind, scope, flags)` where flags is a
/// string of `g` (guarded), `t` (TYPE_CHECKING), `c` (conditional).
type Row = (
    &'static str,
    u32,
    &'static [&'static str],
    u32,
    SiteKind,
    Scope,
    &'static str,
);

fn compact(site: &Site) -> (String, u32, Vec<String>, u32, SiteKind, Scope, String) {
    let mut flags = String::new();
    if site.guarded {
        flags.push('g');
    }
    if site.type_checking {
        flags.push('t');
    }
    if site.conditional {
        flags.push('c');
    }
    (
        site.target.clone(),
        site.level,
        site.names.clone(),
        site.line,
        site.kind,
        site.scope,
        flags,
    )
}

fn check(source: &str, expected: &[Row]) {
    let imports = parse_source(source, false).unwrap_or_else(|e| panic!("{source:?}: {e:?}"));
    let got: Vec<_> = imports.sites.iter().map(compact).collect();
    let want: Vec<_> = expected
        .iter()
        .map(|(t, l, n, line, k, s, f)| {
            (
                t.to_string(),
                *l,
                n.iter().map(|x| x.to_string()).collect::<Vec<_>>(),
                *line,
                *k,
                *s,
                f.to_string(),
            )
        })
        .collect();
    assert_eq!(got, want, "\nsource:\n{source}");
}

use Scope::{Class, Function, Module};
use SiteKind::{Attribute, Dynamic, From, Import, ImportStructure, LazyAttach, LazyGetattr};

#[test]
fn import_statements() {
    let cases: &[(&str, &[Row])] = &[
        ("import os", &[("os", 0, &[], 1, Import, Module, "")]),
        (
            "import a.b.c as d, e",
            &[
                ("a.b.c", 0, &[], 1, Import, Module, ""),
                ("e", 0, &[], 1, Import, Module, ""),
            ],
        ),
        (
            "\n\nfrom a import b, c as d",
            &[("a", 0, &["b", "c"], 3, From, Module, "")],
        ),
        ("from . import x", &[("", 1, &["x"], 1, From, Module, "")]),
        ("from .. import x", &[("", 2, &["x"], 1, From, Module, "")]),
        (
            "from ...p.q import (r,\n s)",
            &[("p.q", 3, &["r", "s"], 1, From, Module, "")],
        ),
        ("from m import *", &[("m", 0, &["*"], 1, From, Module, "")]),
        ("x = 'import os'\n# import sys\n", &[]),
        ("s = '''\nimport os\n'''", &[]),
    ];
    for (source, expected) in cases {
        check(source, expected);
    }
}

#[test]
fn contexts() {
    let cases: &[(&str, &[Row])] = &[
        ("def f():\n    import a", &[("a", 0, &[], 2, Import, Function, "")]),
        ("class C:\n    import a\n    def m(self):\n        import b", &[
            ("a", 0, &[], 2, Import, Class, ""),
            ("b", 0, &[], 4, Import, Function, ""),
        ]),
        ("def f():\n    class C:\n        import a", &[("a", 0, &[], 3, Import, Function, "")]),
        ("try:\n    import a\nexcept ImportError:\n    import b", &[
            ("a", 0, &[], 2, Import, Module, "g"),
            ("b", 0, &[], 4, Import, Module, "c"),
        ]),
        ("try:\n    import a\nexcept (ValueError, ModuleNotFoundError):\n    a = None", &[("a", 0, &[], 2, Import, Module, "g")]),
        ("try:\n    import a\nexcept Exception:\n    pass", &[("a", 0, &[], 2, Import, Module, "g")]),
        ("try:\n    import a\nexcept:\n    pass", &[("a", 0, &[], 2, Import, Module, "g")]),
        ("try:\n    import a\nexcept KeyError:\n    pass\nelse:\n    import b\nfinally:\n    import c", &[
            ("a", 0, &[], 2, Import, Module, ""),
            ("b", 0, &[], 6, Import, Module, "c"),
            ("c", 0, &[], 8, Import, Module, ""),
        ]),
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import a\nelse:\n    import b", &[
            ("typing", 0, &["TYPE_CHECKING"], 1, From, Module, ""),
            ("a", 0, &[], 3, Import, Module, "t"),
            ("b", 0, &[], 5, Import, Module, "c"),
        ]),
        ("import typing\nif typing.TYPE_CHECKING:\n    from x import Y", &[
            ("typing", 0, &[], 1, Import, Module, ""),
            ("typing.TYPE_CHECKING", 0, &["typing"], 2, Attribute, Module, ""),
            ("x", 0, &["Y"], 3, From, Module, "t"),
        ]),
        ("if sys.version_info >= (3, 11):\n    import tomllib\nelif x:\n    import tomli", &[
            ("tomllib", 0, &[], 2, Import, Module, "c"),
            ("tomli", 0, &[], 4, Import, Module, "c"),
        ]),
        ("for x in y:\n    import a\nwith z:\n    import b", &[
            ("a", 0, &[], 2, Import, Module, "c"),
            ("b", 0, &[], 4, Import, Module, ""),
        ]),
    ];
    for (source, expected) in cases {
        check(source, expected);
    }
}

#[test]
fn dynamic_imports() {
    let cases: &[(&str, &[Row])] = &[
        (
            "import importlib\nm = importlib.import_module('a.b')",
            &[
                ("importlib", 0, &[], 1, Import, Module, ""),
                ("a.b", 0, &[], 2, Dynamic, Module, ""),
                (
                    "importlib.import_module",
                    0,
                    &["importlib"],
                    2,
                    Attribute,
                    Module,
                    "",
                ),
            ],
        ),
        (
            "from importlib import import_module\ndef f():\n    import_module('.x', __name__)",
            &[
                ("importlib", 0, &["import_module"], 1, From, Module, ""),
                ("x", 1, &[], 3, Dynamic, Function, ""),
            ],
        ),
        (
            "importlib.import_module('..y', package='p.q.r')",
            &[("p.q.y", 0, &[], 1, Dynamic, Module, "")],
        ),
        ("__import__('z')", &[("z", 0, &[], 1, Dynamic, Module, "")]),
        (
            "__import__(__package__ + '.fft')",
            &[("fft", 1, &[], 1, Dynamic, Module, "")],
        ),
        (
            "__import__(__spec__.parent + '.linalg')",
            &[("linalg", 1, &[], 1, Dynamic, Module, "")],
        ),
        ("importlib.import_module(name)", &[]),
    ];
    for (source, expected) in cases {
        check(source, expected);
    }
}

#[test]
fn lazy_module_idioms() {
    let getattr = "import importlib\n_submodules = ['linalg', 'fft']\ndef __getattr__(name):\n    if name in _submodules:\n        return importlib.import_module(f'scipy.{name}')\n    raise AttributeError(name)\n";
    let attach = "import lazy_loader as lazy\n__getattr__, __dir__, __all__ = lazy.attach(\n    __name__,\n    submodules=['io', 'filters'],\n    submod_attrs={'util': ['img_as_float']},\n)\n";
    let structure = "_import_structure = {'configuration_utils': ['PretrainedConfig']}\n_import_structure['models.bert'] = ['BertModel']\nimport sys\nsys.modules[__name__] = _LazyModule(__name__, globals()['__file__'], _import_structure)\n";
    let cases: &[(&str, &[Row])] = &[
        (
            getattr,
            &[
                ("importlib", 0, &[], 1, Import, Module, ""),
                ("scipy.linalg", 0, &[], 5, LazyGetattr, Function, ""),
                ("scipy.fft", 0, &[], 5, LazyGetattr, Function, ""),
            ],
        ),
        (
            attach,
            &[
                ("lazy_loader", 0, &[], 1, Import, Module, ""),
                ("", 1, &["io", "filters", "util"], 2, LazyAttach, Module, ""),
                (
                    "lazy_loader.attach",
                    0,
                    &["lazy_loader"],
                    2,
                    Attribute,
                    Module,
                    "",
                ),
            ],
        ),
        (
            structure,
            &[
                ("sys", 0, &[], 3, Import, Module, ""),
                ("sys.modules", 0, &["sys"], 4, Attribute, Module, ""),
                (
                    "",
                    1,
                    &["configuration_utils"],
                    1,
                    ImportStructure,
                    Module,
                    "",
                ),
                ("", 1, &["models.bert"], 2, ImportStructure, Module, ""),
            ],
        ),
    ];
    for (source, expected) in cases {
        check(source, expected);
    }
}

#[test]
fn literal_all_and_handler_bindings() {
    let imports = parse_source("__all__ = ['a', 'b']\n__all__ += ['c']\n", false).unwrap();
    assert_eq!(
        imports.all.as_deref(),
        Some(&["a".to_string(), "b".into(), "c".into()][..])
    );
    let source = "import numpy as np\nimport os.path\nfrom .x import y as z\nmodel = np.zeros(3)\nz()\ndef f():\n    os.getcwd()\n";
    let imports = parse_source(source, true).unwrap();
    let bindings: Vec<_> = imports
        .bindings
        .iter()
        .map(|b| (b.local.as_str(), b.target.as_str(), b.level))
        .collect();
    assert_eq!(
        bindings,
        [("np", "numpy", 0), ("os", "os", 0), ("z", "x", 1)]
    );
    assert_eq!(imports.init_calls, ["np", "z"]);
}

#[test]
fn attribute_chains_and_loop_imports() {
    let cases: &[(&str, &[Row])] = &[
        ("import numpy as np\nR = np.random.RandomState\nS = np.random.RandomState\ndef f():\n    np.linalg.norm", &[
            ("numpy", 0, &[], 1, Import, Module, ""),
            ("numpy.random.RandomState", 0, &["numpy"], 2, Attribute, Module, ""),
        ]),
        ("from . import sub\nclass C:\n    x = sub.inner.X", &[
            ("", 1, &["sub"], 1, From, Module, ""),
            ("sub.inner.X", 1, &["sub"], 3, Attribute, Class, ""),
        ]),
        ("for package in ('urllib3', 'idna'):\n    locals()[package] = __import__(package)", &[
            ("urllib3", 0, &[], 2, Dynamic, Module, "c"),
            ("idna", 0, &[], 2, Dynamic, Module, "c"),
        ]),
    ];
    for (source, expected) in cases {
        check(source, expected);
    }
}

#[test]
fn new_syntax_parses() {
    // Python 3.12 f-strings with nested quotes, and `type` statements.
    let source = "import a\nx = f\"{'nested' + f'{1}'}\"\ntype Point = tuple[float, float]\nmatch x:\n    case 1:\n        import b\n";
    check(
        source,
        &[
            ("a", 0, &[], 1, Import, Module, ""),
            ("b", 0, &[], 6, Import, Module, "c"),
        ],
    );
}

#[test]
fn syntax_errors_report_the_line() {
    let err = parse_source("import os\ndef f(:\n    pass\n", false).unwrap_err();
    assert_eq!(err.0, 2);
}
