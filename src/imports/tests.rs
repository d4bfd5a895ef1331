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
                (
                    "importlib.import_module",
                    0,
                    &["importlib"],
                    5,
                    Attribute,
                    Function,
                    "c",
                ),
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
            ("numpy.linalg.norm", 0, &["numpy"], 5, Attribute, Function, ""),
        ]),
        // Function-level bindings name chains too, every binding a name gets.
        ("def f():\n    import scipy\n    return scipy.signal.welch\ndef g():\n    import cupy as scipy\n    scipy.x", &[
            ("scipy", 0, &[], 2, Import, Function, ""),
            ("scipy.signal.welch", 0, &["scipy"], 3, Attribute, Function, ""),
            ("cupy", 0, &[], 5, Import, Function, ""),
            ("scipy.x", 0, &["scipy"], 6, Attribute, Function, ""),
            ("cupy.x", 0, &["cupy"], 6, Attribute, Function, ""),
        ]),
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import a\n    a.b.c", &[
            ("typing", 0, &["TYPE_CHECKING"], 1, From, Module, ""),
            ("a", 0, &[], 3, Import, Module, "t"),
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

/// Imports inside a module-level `__getattr__` (PEP 562): the attribute
/// names whose reading runs each one. `None`: not in `__getattr__`, or under
/// no test of its argument against literals (an ordinary function import).
#[test]
fn getattr_triggers() {
    let numpy = "def __getattr__(attr):\n    import warnings\n    if attr == 'linalg':\n        import numpy.linalg as linalg\n        return linalg\n    elif attr in ('char', 'chararray') or attr == 'rec':\n        import numpy.char as char\n    elif attr == 'core':\n        if HAVE_CORE:\n            import numpy.core as core\n    else:\n        from . import _deprecated\n";
    let scipy = "_subs = ['signal', 'io']\ndef __getattr__(name):\n    if name in _subs:\n        return importlib.import_module(f'scipy.{name}')\n";
    let reversed_eq = "def __getattr__(name):\n    if 'fft' == name:\n        from . import fft\n        return fft\n";
    let not_getattr = "def helper(attr):\n    if attr == 'x':\n        import x\nclass C:\n    def __getattr__(self, name):\n        if name == 'y':\n            import y\n";
    type Expected = &'static [(&'static str, Option<&'static [&'static str]>)];
    let cases: &[(&str, Expected)] = &[
        (
            numpy,
            &[
                ("warnings", None),
                ("numpy.linalg", Some(&["linalg"])),
                ("numpy.char", Some(&["char", "chararray", "rec"])),
                ("numpy.core", Some(&["core"])),
                ("", None),
            ],
        ),
        (
            scipy,
            &[
                ("scipy.signal", Some(&["signal"])),
                ("scipy.io", Some(&["io"])),
            ],
        ),
        (reversed_eq, &[("", Some(&["fft"]))]),
        (not_getattr, &[("x", None), ("y", None)]),
    ];
    for (source, expected) in cases {
        let imports = parse_source(source, false).unwrap();
        let got: Vec<(String, Option<Vec<String>>)> = imports
            .sites
            .iter()
            .filter(|s| s.kind != SiteKind::Attribute && s.kind != SiteKind::ModuleName)
            .map(|s| (s.target.clone(), s.trigger.clone()))
            .collect();
        let want: Vec<(String, Option<Vec<String>>)> = expected
            .iter()
            .map(|(t, names)| {
                let names = names.map(|n| n.iter().map(|x| x.to_string()).collect());
                (t.to_string(), names)
            })
            .collect();
        assert_eq!(got, want, "\nsource:\n{source}");
    }
}

/// Literal strings handed to calls (`ModuleName` sites, callee in
/// `names[0]`), and the functions that import their argument.
#[test]
fn module_names_and_functions_that_import_them() {
    let source = "import importlib\nfrom ._internal import clone\nfrom .x import helper\n__all__ = clone('numpy', globals())\nimportlib.import_module('a')\nprint('not a name!')\nhelper('pkg.sub', key='kw')\nobj.method.deep('y')\ndef load(name, other):\n    mod = importlib.import_module(name)\n    return dir(mod)\ndef plain(name):\n    return __import__(name)\ndef fixed():\n    return importlib.import_module('b')\n";
    let imports = parse_source(source, false).unwrap();
    let names: Vec<(&str, &[String], SiteKind)> = imports
        .sites
        .iter()
        .filter(|s| s.kind == SiteKind::ModuleName)
        .map(|s| (s.target.as_str(), s.names.as_slice(), s.kind))
        .collect();
    let clone = ["clone".to_string()];
    let helper = ["helper".to_string()];
    assert_eq!(
        names,
        [
            ("numpy", &clone[..], SiteKind::ModuleName),
            ("pkg.sub", &helper[..], SiteKind::ModuleName),
        ]
    );
    assert_eq!(
        imports.imports_argument,
        [("load".to_string(), true), ("plain".to_string(), false)]
    );
}

/// Each site's chain of absolute imports that run before it on every path
/// to it (`Site::after` through `ModuleImports::preceding`), as top-level names.
#[test]
fn imports_that_precede_a_site() {
    type Expected = &'static [(&'static str, &'static [&'static str])];
    let cases: &[(&str, Expected)] = &[
        ("import a, b.c\nfrom d import e\nfrom . import f", &[
            ("a", &[]),
            ("b.c", &["a"]),
            ("d", &["b", "a"]),
            ("", &["d", "b", "a"]),
        ]),
        // a block's imports do not precede what follows the block
        ("if x:\n    import a\n    import b\nimport c\ntry:\n    import d\nexcept ImportError:\n    import e\nimport f", &[
            ("a", &[]),
            ("b", &["a"]),
            ("c", &[]),
            ("d", &["c"]),
            ("e", &["c"]),
            ("f", &["c"]),
        ]),
        // a function body starts afresh; `with` bodies always run
        ("import a\ndef f():\n    import ibis\n    from pkg import sub\nwith x:\n    import b\nimport c", &[
            ("a", &[]),
            ("ibis", &[]),
            ("pkg", &["ibis"]),
            ("b", &["a"]),
            ("c", &["b", "a"]),
        ]),
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import t\n    import u", &[
            ("typing", &[]),
            ("t", &["typing"]),
            ("u", &["typing"]),
        ]),
    ];
    for (source, expected) in cases {
        let imports = parse_source(source, false).unwrap();
        let chain = |mut at: Option<u32>| {
            let mut tops = Vec::new();
            while let Some(i) = at {
                let (top, before) = &imports.preceding[i as usize];
                tops.push(top.clone());
                at = *before;
            }
            tops
        };
        let got: Vec<(String, Vec<String>)> = imports
            .sites
            .iter()
            .filter(|s| matches!(s.kind, SiteKind::Import | SiteKind::From))
            .map(|s| (s.target.clone(), chain(s.after)))
            .collect();
        let want: Vec<(String, Vec<String>)> = expected
            .iter()
            .map(|(t, c)| (t.to_string(), c.iter().map(|x| x.to_string()).collect()))
            .collect();
        assert_eq!(got, want, "\nsource:\n{source}");
    }
}

/// `Site::method_of`: the module-level class whose method holds the import.
#[test]
fn methods_own_their_imports() {
    let source = "class A:\n    import a\n    def m(self):\n        import b\n        def inner():\n            import c\n    class B:\n        def n(self):\n            import d\ndef f():\n    import e\n    class Local:\n        def m(self):\n            import g\n";
    let imports = parse_source(source, false).unwrap();
    let got: Vec<(&str, Option<&str>)> = imports
        .sites
        .iter()
        .map(|s| (s.target.as_str(), s.method_of.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            ("a", None), // the class body runs with the module
            ("b", Some("A")),
            ("c", Some("A")),
            ("d", Some("A")),
            ("e", None),
            ("g", None), // a class made by a call: the function's own
        ]
    );
}

/// `ModuleImports::references`: names the code mentions, which decide
/// whether a class's methods may run.
#[test]
fn names_a_module_mentions() {
    let cases: &[(&str, &[&str])] = &[
        ("x = KMeans(n)", &["KMeans", "n"]),
        (
            "def f():\n    return sk.cluster.KMeans",
            &["KMeans", "cluster", "sk"],
        ),
        (
            "getattr(m, 'KMeans')\nprint('two words')",
            &["KMeans", "getattr", "m", "print"],
        ),
        // `__all__` lists names, it does not use them
        ("__all__ = ['KMeans']\n__all__ += ['DBSCAN']", &[]),
        // a class's own code naming it does not count; decorators do
        (
            "class K:\n    def m(self):\n        return K.__name__",
            &["__name__"],
        ),
        (
            "@register\nclass R:\n    pass\nclass M(Base, metaclass=Meta):\n    pass",
            &["Base", "M", "Meta", "R", "register"],
        ),
        (
            "import numpy as np\nX = np.linalg.norm",
            &["linalg", "norm", "np"],
        ),
    ];
    for (source, want) in cases {
        let imports = parse_source(source, false).unwrap();
        assert_eq!(imports.references, *want, "\nsource:\n{source}");
    }
}

#[test]
fn module_level_calls_with_side_effects() {
    let cases: &[(&str, &[&str])] = &[
        (
            "import atexit\natexit.register(print)",
            &["atexit.register (line 2)"],
        ),
        (
            "DESCRIPTOR = _descriptor_pool.Default().AddSerializedFile(b'x')",
            &["(…).AddSerializedFile (line 1)"],
        ),
        (
            "import warnings\nwarnings.simplefilter('ignore')",
            &["warnings.simplefilter (line 2)"],
        ),
        (
            "_sym_db.RegisterMessage(Order)",
            &["_sym_db.RegisterMessage (line 1)"],
        ),
        // in a function, it happens when called, not at import
        ("def f():\n    atexit.register(print)", &[]),
        ("x = compute().total()\nprint(x)", &[]),
    ];
    for (source, want) in cases {
        let imports = parse_source(source, false).unwrap();
        assert_eq!(imports.side_effects, *want, "\nsource:\n{source}");
    }
}
