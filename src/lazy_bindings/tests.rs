//! Table-driven tests of the source-only rules.

use super::{statements, InitCalls};

/// No other module reads the module's names at init.
fn nobody(_: &str, _: bool) -> Result<(), String> {
    Ok(())
}

/// (source, line of the statement, expected verdict: None = patchable,
/// Some(fragment of the reason)).
const CASES: &[(&str, &str, u32, Option<&str>)] = &[
    (
        "read only inside a function, as an attribute",
        "import numpy as np\ndef f():\n    return np.ones(3)\n",
        1,
        None,
    ),
    (
        "called, subscripted, isinstance, base class in a function",
        "from m import A, B, C, D\ndef f(x):\n    A(1); B[int]\n    isinstance(x, C)\n    class E(D): pass\n",
        1,
        None,
    ),
    (
        "read at module level",
        "import numpy as np\nX = np.pi\n",
        1,
        Some("read at init (line 2)"),
    ),
    (
        "read in a class body",
        "import numpy as np\nclass K:\n    dtype = np.float64\n",
        1,
        Some("read at init"),
    ),
    (
        "read in a method of a module-level class: deferred",
        "import numpy as np\nclass K:\n    def f(self):\n        return np.pi\n",
        1,
        None,
    ),
    (
        "a default value runs at def time",
        "import numpy as np\ndef f(x=np.pi):\n    return x\n",
        1,
        Some("read at init"),
    ),
    (
        "a module-level function's annotation runs at def time",
        "from m import T\ndef f(x: T):\n    return x\n",
        1,
        Some("read at init"),
    ),
    (
        "an annotation is a value (typing.get_type_hints would see it)",
        "from __future__ import annotations\nfrom m import T\ndef f():\n    def g(x: T):\n        return x\n",
        2,
        Some("used as a value"),
    ),
    (
        "a decorator runs at init",
        "import functools as ft\n@ft.lru_cache\ndef f():\n    return 1\n",
        1,
        Some("read at init"),
    ),
    (
        "passed as a value inside a function",
        "import numpy as np\ndef f(g):\n    return g(np)\n",
        1,
        Some("used as a value (line 3)"),
    ),
    (
        "compared by identity",
        "from m import A\ndef f(x):\n    return x is A\n",
        1,
        Some("used as a value"),
    ),
    (
        "a function called at module level runs at init",
        "import numpy as np\ndef f():\n    return np.pi\nY = f()\n",
        1,
        Some("read by `f` (line 3), which may run at init"),
    ),
    (
        "transitively through another function",
        "import numpy as np\ndef g():\n    return np.pi\ndef f():\n    return g()\nY = f()\n",
        1,
        Some("read by `g`"),
    ),
    (
        "a decorated function may be called by its decorator",
        "import numpy as np\nimport reg\n@reg.register\ndef f():\n    return np.pi\n",
        1,
        Some("may run at init"),
    ),
    (
        "bound twice",
        "import numpy as np\nnp = None\ndef f():\n    return np.pi\n",
        1,
        Some("bound more than once"),
    ),
    (
        "declared global",
        "import numpy as np\ndef f():\n    global np\n    np.x = 1\n",
        1,
        Some("global np"),
    ),
    (
        "attribute store is a use of the value",
        "import numpy as np\ndef f():\n    np.x = 1\n",
        1,
        Some("used as a value"),
    ),
    (
        "globals() anywhere",
        "import numpy as np\ndef f():\n    return globals()['np'].pi\n",
        1,
        Some("calls `globals`"),
    ),
    (
        "locals() in a function is the function's",
        "import numpy as np\ndef f(x):\n    d = dict(locals())\n    return np.pi, d\n",
        1,
        None,
    ),
    (
        "locals() at module level is globals()",
        "import numpy as np\nNS = locals()\ndef f():\n    return np.pi\n",
        1,
        Some("calls `locals` (line 2)"),
    ),
    (
        "vars(obj) reads the object's namespace",
        "import numpy as np\ndef f(o):\n    return vars(o), np.pi\n",
        1,
        None,
    ),
    (
        "a local variable named vars",
        "import numpy as np\ndef f(o):\n    vars = o.pop()\n    return [v for v in vars], np.pi\n",
        1,
        None,
    ),
    (
        "the builtin vars passed as a value",
        "import numpy as np\ndef f(o):\n    return list(map(vars, o)), np.pi\n",
        1,
        Some("uses `vars` as a value (line 3)"),
    ),
    (
        "globals passed as a value",
        "import numpy as np\nG = globals\ndef f():\n    return np.pi\n",
        1,
        Some("uses `globals` as a value"),
    ),
    (
        "exec in a namespace of its own",
        "import numpy as np\ndef f(src):\n    ns = {}\n    exec(src, ns)\n    return eval('1', globals=ns), np.pi\n",
        1,
        None,
    ),
    (
        "exec in the caller's globals",
        "import numpy as np\ndef f(src):\n    exec(src)\n    return np.pi\n",
        1,
        Some("calls `exec` (line 3)"),
    ),
    (
        "eval given the module's globals",
        "import numpy as np\ndef f(src):\n    return eval(src, globals()), np.pi\n",
        1,
        Some("calls `globals`"),
    ),
    (
        "module __getattr__",
        "import numpy as np\ndef __getattr__(name):\n    return np.pi\n",
        1,
        Some("module `__getattr__`"),
    ),
    (
        "star import",
        "from m import *\n",
        1,
        Some("star import"),
    ),
    (
        "several modules in one statement",
        "import a, b\ndef f():\n    return a.x, b.y\n",
        1,
        Some("several modules"),
    ),
    (
        "two statements on one line",
        "import a; import b\ndef f():\n    return a.x\n",
        1,
        Some("shares its line"),
    ),
    (
        "a re-export nobody reads at init",
        "from .core import Engine\n",
        1,
        None,
    ),
    (
        "a lone CR ends a line for Python, not for the line index",
        "# a\r# b\nimport json\ndef f():\n    return json.dumps(1)\n",
        2,
        Some("carriage return"),
    ),
    (
        "a lambda at module level may run at init",
        "import numpy as np\nf = lambda: np.pi\n",
        1,
        Some("read at init"),
    ),
    (
        "`import a.b.c` binds a",
        "import os.path\ndef f():\n    return os.path.join('a')\n",
        1,
        None,
    ),
];

#[test]
fn source_rules() {
    for (what, source, line, expected) in CASES {
        let found = statements(source, InitCalls::FromSource, &nobody)
            .unwrap_or_else(|e| panic!("{what}: {e:?}"));
        let s = found
            .iter()
            .find(|s| s.line == *line)
            .unwrap_or_else(|| panic!("{what}: no statement at line {line}: {found:?}"));
        match (expected, &s.verdict) {
            (None, Ok(())) => {}
            (Some(fragment), Err(why)) if why.contains(fragment) => {}
            _ => panic!("{what}: expected {expected:?}, got {:?}", s.verdict),
        }
    }
}

#[test]
fn statements_keep_their_spelling() {
    let found = statements(
        "\"\"\"doc\"\"\"\nfrom __future__ import annotations\nimport a.b.c\nimport a.b as ab\nfrom ..pkg import x as y, z\n",
        InitCalls::FromSource,
        &nobody,
    )
    .unwrap();
    type Spelling<'a> = (u32, &'a str, u32, Vec<&'a str>, Vec<&'a str>);
    let summary: Vec<Spelling> = found
        .iter()
        .map(|s| {
            (
                s.line,
                s.module.as_str(),
                s.level,
                s.from_names.iter().map(String::as_str).collect(),
                s.bound.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (3, "a.b.c", 0, vec![], vec!["a"]),
            (4, "a.b", 0, vec![], vec!["ab"]),
            (5, "pkg", 2, vec!["x", "z"], vec!["y", "z"]),
        ]
    );
}

#[test]
fn a_syntax_error_names_its_line() {
    let err = statements("import a\ndef f(:\n", InitCalls::FromSource, &nobody).unwrap_err();
    assert_eq!(err.0, 2);
}

/// The verdicts of one statement: whole, per name, submodules only.
fn verdicts(source: &str, line: u32, calls: InitCalls) -> super::Statement {
    statements(source, calls, &nobody)
        .unwrap()
        .into_iter()
        .find(|s| s.line == line)
        .unwrap_or_else(|| panic!("no statement at line {line} of {source:?}"))
}

#[test]
fn each_name_has_its_own_verdict() {
    let s = verdicts(
        "from scipy import sparse, stats\nKIND = sparse.csr_matrix\ndef f(x):\n    return stats.norm(x)\n",
        1,
        InitCalls::FromSource,
    );
    assert!(s.verdict.is_err(), "{:?}", s.verdict);
    assert!(s.name_verdicts[0]
        .as_ref()
        .is_err_and(|why| why.contains("read at init (line 2)")));
    assert_eq!(s.name_verdicts[1], Ok(()));
    assert!(
        s.submodule_verdict.is_err(),
        "a `from` statement binds no package"
    );
}

#[test]
fn a_submodule_import_can_stay_bound_when_its_package_is_read_at_init() {
    let s = verdicts(
        "import scipy\nimport scipy.stats\nV = scipy.__version__\ndef mode(a):\n    return scipy.stats.mode(a)\n",
        2,
        InitCalls::FromSource,
    );
    assert!(s.verdict.is_err(), "{:?}", s.verdict);
    assert_eq!(s.submodule_verdict, Ok(()));
    // The shape still rules: not alone on its line.
    let s = verdicts("import a.b; import c\n", 1, InitCalls::FromSource);
    assert!(s.submodule_verdict.is_err());
}

#[test]
fn the_trace_says_which_functions_run_at_init() {
    let source =
        "import numpy as np\n@register\ndef f():\n    return np.pi\n\ndef g():\n    return 1\n";
    // From the source alone, a decorator may call what it decorates.
    let s = verdicts(source, 1, InitCalls::FromSource);
    assert!(s
        .verdict
        .as_ref()
        .is_err_and(|why| why.contains("may run at init")));
    // The trace saw only g run at init (line 6): f's reads wait.
    let s = verdicts(source, 1, InitCalls::Traced(&[6]));
    assert_eq!(s.verdict, Ok(()));
    // It saw f run (a decorated function starts at its decorator's line).
    let s = verdicts(source, 1, InitCalls::Traced(&[2]));
    assert!(s.verdict.as_ref().is_err_and(|why| why.contains("`f`")));
}

#[test]
fn the_trace_says_which_method_runs_at_init() {
    // K.build ran at init; K.plot, which reads plt, did not.
    let source = "import plot as plt\nclass K:\n    def build(self):\n        return 1\n\n    def plot(self):\n        return plt.show()\n";
    let s = verdicts(source, 1, InitCalls::Traced(&[2, 3]));
    assert_eq!(s.verdict, Ok(()));
    let s = verdicts(source, 1, InitCalls::Traced(&[2, 3, 6]));
    assert!(
        s.verdict
            .as_ref()
            .is_err_and(|why| why.contains("read by `plot` (line 7), which ran at init")),
        "{:?}",
        s.verdict
    );
    // A function nested in one that ran is judged by its own line.
    let nested = "import numpy as np\ndef outer():\n    def inner():\n        return np.pi\n    return inner\n";
    assert_eq!(verdicts(nested, 1, InitCalls::Traced(&[2])).verdict, Ok(()));
    assert!(verdicts(nested, 1, InitCalls::Traced(&[2, 3]))
        .verdict
        .is_err());
    // A lambda is part of the function around it.
    let lambda = "import numpy as np\ndef outer():\n    return lambda: np.pi\n";
    assert!(verdicts(lambda, 1, InitCalls::Traced(&[2]))
        .verdict
        .is_err());
}

#[test]
fn a_re_export_is_lazy_unless_another_module_reads_it_at_init() {
    let source = "from .core import Engine, Pool\n";
    let s = statements(source, InitCalls::Traced(&[]), &nobody).unwrap();
    assert_eq!(s[0].verdict, Ok(()));
    let handler = |name: &str, _: bool| match name {
        "Engine" => Err("handler (line 3)".to_string()),
        _ => Ok(()),
    };
    let s = statements(source, InitCalls::Traced(&[]), &handler).unwrap();
    assert_eq!(
        s[0].name_verdicts,
        vec![
            Err("`Engine` is read at init by handler (line 3)".to_string()),
            Ok(())
        ]
    );
}

#[test]
fn a_star_import_reads_public_names_and_those_spelled_out() {
    let source = "from .core import Engine, _helper, _listed\n__all__ = ['Engine', '_listed']\n";
    let star = |_: &str, starred: bool| match starred {
        true => Err("user (line 1)".to_string()),
        false => Ok(()),
    };
    let s = statements(source, InitCalls::Traced(&[]), &star).unwrap();
    let seen: Vec<bool> = s[0].name_verdicts.iter().map(Result::is_err).collect();
    assert_eq!(seen, vec![true, false, true], "{:?}", s[0].name_verdicts);
}
