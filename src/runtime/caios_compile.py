"""caios-pack's pyc compiler, run by `caios-pack package` with the target
interpreter (never shipped):

    python3 -I -S caios_compile.py LIST

Each line of LIST is ``source<TAB>pyc<TAB>path in the package<TAB>lines``.
Every source is compiled into an unchecked-hash pyc (PEP 552), so that no
cold start validates or recompiles it. ``lines`` (comma-separated, may be
empty) names the module-level import statements to compile lazily
(caios_lazy.py); the statement starting on that line is replaced on the same
line, and the source file itself is not changed:

- ``N``: the whole statement becomes a call of ``caios_lazy.bind`` (on
  Python 3.15+, PEP 810, it is marked ``lazy`` instead, when the
  interpreter's ast has that field);
- ``N=x+y``: a ``from m import …`` statement whose imported names ``x`` and
  ``y`` become lazy bindings, the others staying an eager ``from`` import
  (when it has no others, ``m`` is still imported at once, binding
  nothing);
- ``N:sub``: an ``import a.b.c`` statement that binds ``a`` at once and
  leaves ``a.b.c`` to load when read as an attribute
  (``caios_lazy.submodules``), on every Python version.

Prints, per statement compiled lazily, ``lazy<TAB>path<TAB>line``; a source
that does not compile, or a line that holds no such statement, is reported
on stderr and compiled as written (or not at all). Exit 0 unless LIST is
unreadable.
"""

import ast
import importlib.util
import sys
from importlib._bootstrap_external import _code_to_hash_pyc, decode_source

_NATIVE_LAZY = sys.version_info >= (3, 15) and "is_lazy" in ast.Import._fields


def _specs(node):
    if isinstance(node, ast.Import):
        return tuple(
            ("as", a.name, 0, None, a.asname) if a.asname
            else ("top", a.name, 0, None, a.name.split(".")[0].split(",")[0])
            for a in node.names)
    return tuple(("from", node.module or "", node.level, a.name, a.asname or a.name)
                 for a in node.names)


def _runtime_call(function, node, argument, target):
    """``TARGET = __import__("caios_lazy").FUNCTION(globals(), LINE, ARGUMENT)``
    on the statement's own line."""
    callee = ast.Attribute(
        value=ast.Call(func=ast.Name(id="__import__", ctx=ast.Load()),
                       args=[ast.Constant(value="caios_lazy")], keywords=[]),
        attr=function, ctx=ast.Load())
    call = ast.Call(
        func=callee,
        args=[ast.Call(func=ast.Name(id="globals", ctx=ast.Load()), args=[], keywords=[]),
              ast.Constant(value=node.lineno), ast.Constant(value=argument)],
        keywords=[])
    statement = ast.Assign(targets=[target], value=call)
    for n in ast.walk(statement):
        ast.copy_location(n, node)
        n.end_lineno, n.end_col_offset = node.lineno, node.col_offset
    return statement


def _lazy_statement(node):
    """``(a, b) = __import__("caios_lazy").bind(globals(), LINE, SPECS)``."""
    specs = _specs(node)
    target = ast.Tuple(elts=[ast.Name(id=s[4], ctx=ast.Store()) for s in specs], ctx=ast.Store())
    return _runtime_call("bind", node, specs, target)


def _submodules_statement(node):
    """``a = __import__("caios_lazy").submodules(globals(), LINE, "a.b.c")``."""
    name = node.names[0].name
    return _runtime_call("submodules", node, name, ast.Name(id=name.split(".")[0], ctx=ast.Store()))


def _split_from(node, lazy_names):
    """``from m import x, y``: the eager part (if any) and the lazy part."""
    eager = [a for a in node.names if a.name not in lazy_names]
    lazy = [a for a in node.names if a.name in lazy_names]
    out = []
    if eager:
        out.append(ast.copy_location(ast.ImportFrom(module=node.module, names=eager, level=node.level), node))
    else:
        out.append(_import_only(node))
    part = ast.copy_location(ast.ImportFrom(module=node.module, names=lazy, level=node.level), node)
    if _NATIVE_LAZY:
        part.is_lazy = 1
        out.append(part)
    else:
        out.append(_lazy_statement(part))
    return out


def _import_only(node):
    """``__import__("m", globals(), None, (), LEVEL)``: imports the module of
    ``from m import …`` now, as the statement would, and binds nothing (its
    names are all lazy: the package's own import keeps its effects at
    init)."""
    call = ast.Call(
        func=ast.Name(id="__import__", ctx=ast.Load()),
        args=[ast.Constant(value=node.module or ""),
              ast.Call(func=ast.Name(id="globals", ctx=ast.Load()), args=[], keywords=[]),
              ast.Constant(value=None), ast.Tuple(elts=[], ctx=ast.Load()),
              ast.Constant(value=node.level)],
        keywords=[])
    statement = ast.Expr(value=call)
    for n in ast.walk(statement):
        ast.copy_location(n, node)
        n.end_lineno, n.end_col_offset = node.lineno, node.col_offset
    return statement


def _binds_package(node):
    return isinstance(node, ast.Import) and len(node.names) == 1 and node.names[0].asname is None


def _parse_wanted(field):
    """``N``, ``N=x+y`` and ``N:sub`` entries: line -> "all", "sub" or names."""
    wanted = {}
    for entry in field.split(","):
        if not entry:
            continue
        if entry.endswith(":sub"):
            wanted[int(entry[:-4])] = "sub"
        elif "=" in entry:
            line, _, names = entry.partition("=")
            wanted[int(line)] = frozenset(n for n in names.split("+") if n)
        else:
            wanted[int(entry)] = "all"
    return wanted


def _fits(node, how):
    if how == "sub":
        return (isinstance(node, ast.Import) and len(node.names) == 1
                and node.names[0].asname is None and "." in node.names[0].name)
    if isinstance(how, frozenset):
        return (isinstance(node, ast.ImportFrom) and bool(how)
                and how <= {a.name for a in node.names})
    return isinstance(node, (ast.Import, ast.ImportFrom))


def _patch(tree, wanted, rel):
    """Replaces the statements named in `wanted`; returns the lines patched.

    Several ``import a.x`` / ``import a.y`` statements made lazy whole all
    bind ``a``: the last one becomes the lazy binding and imports every one
    of them when reified, the others become ``pass`` (caios-pack patches all
    of them or none)."""
    chosen = {i: node for i, node in enumerate(tree.body)
              if node.lineno in wanted and _fits(node, wanted[node.lineno])}
    packages = {}
    for i, node in chosen.items():
        if wanted[node.lineno] == "all" and _binds_package(node) and not _NATIVE_LAZY:
            packages.setdefault(node.names[0].name.split(".")[0], []).append((i, node))
    body = []
    for i, node in enumerate(tree.body):
        how = wanted.get(node.lineno) if i in chosen else None
        if how is None:
            body.append(node)
        elif how == "sub":
            body.append(_submodules_statement(node))
        elif isinstance(how, frozenset):
            body.extend(_split_from(node, how))
        elif _NATIVE_LAZY:
            node.is_lazy = 1
            body.append(node)
        elif _binds_package(node):
            group = packages[node.names[0].name.split(".")[0]]
            if (i, node) != group[-1]:
                body.append(ast.copy_location(ast.Pass(), node))
                continue
            merged = ast.Import(names=[ast.alias(name=",".join(n.names[0].name for _, n in group))])
            body.append(_lazy_statement(ast.copy_location(merged, node)))
        else:
            body.append(_lazy_statement(node))
    tree.body = body
    done = sorted(node.lineno for node in chosen.values())
    for line in sorted(set(wanted) - set(done)):
        print("caios-pack: warning: %s:%d: no module-level import statement of that form there; "
              "compiled as written" % (rel, line), file=sys.stderr)
    return done


def _compile(src, dst, rel, lines):
    with open(src, "rb") as f:
        data = f.read()
    patched = []
    if lines:
        tree = ast.parse(decode_source(data), rel)
        patched = _patch(tree, lines, rel)
        code = compile(tree, rel, "exec", dont_inherit=True)
    else:
        code = compile(data, rel, "exec", dont_inherit=True)
    pyc = _code_to_hash_pyc(code, importlib.util.source_hash(data), checked=False)
    with open(dst, "wb") as f:
        f.write(pyc)
    return patched


def main(list_path):
    with open(list_path, encoding="utf-8") as f:
        entries = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    for src, dst, rel, lines in entries:
        try:
            wanted = _parse_wanted(lines)
            for line in _compile(src, dst, rel, wanted):
                print("lazy\t%s\t%d" % (rel, line))
        except (SyntaxError, ValueError, UnicodeDecodeError, RecursionError, MemoryError) as e:
            print("caios-pack: not compiled: %s %s" % (rel, str(e).splitlines()[-1] if str(e) else type(e).__name__),
                  file=sys.stderr)
        except OSError as e:
            print("caios-pack: not compiled: %s %s" % (rel, e), file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1])
