"""caios-pack's pyc compiler, run by `caios-pack package` with the target
interpreter (never shipped):

    python3 -I -S caios_compile.py LIST

Each line of LIST is ``source<TAB>pyc<TAB>path in the package<TAB>lines``.
Every source is compiled into an unchecked-hash pyc (PEP 552), so that no
cold start validates or recompiles it. ``lines`` (comma-separated, may be
empty) names the module-level import statements to compile as lazy bindings
(caios_lazy.py): the statement starting on that line is replaced, on the
same line, by a call of ``caios_lazy.bind``; the source file itself is not
changed. On Python 3.15+ (PEP 810) the statement is marked ``lazy`` instead,
when the interpreter's ast has that field.

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


def _lazy_statement(node):
    """``(a, b) = __import__("caios_lazy").bind(globals(), LINE, SPECS)``."""
    specs = _specs(node)
    bind = ast.Attribute(
        value=ast.Call(func=ast.Name(id="__import__", ctx=ast.Load()),
                       args=[ast.Constant(value="caios_lazy")], keywords=[]),
        attr="bind", ctx=ast.Load())
    call = ast.Call(
        func=bind,
        args=[ast.Call(func=ast.Name(id="globals", ctx=ast.Load()), args=[], keywords=[]),
              ast.Constant(value=node.lineno), ast.Constant(value=specs)],
        keywords=[])
    target = ast.Tuple(elts=[ast.Name(id=s[4], ctx=ast.Store()) for s in specs], ctx=ast.Store())
    statement = ast.Assign(targets=[target], value=call)
    for n in ast.walk(statement):
        ast.copy_location(n, node)
        n.end_lineno, n.end_col_offset = node.lineno, node.col_offset
    return statement


def _binds_package(node):
    return isinstance(node, ast.Import) and len(node.names) == 1 and node.names[0].asname is None


def _patch(tree, lines, rel):
    """Replaces the statements on `lines`; returns the lines patched.

    Several ``import a.x`` / ``import a.y`` statements all bind ``a``: the
    last one becomes the lazy binding and imports every one of them when
    reified, the others become ``pass`` (caios-pack patches all of them or
    none)."""
    chosen = [(i, node) for i, node in enumerate(tree.body)
              if node.lineno in lines and isinstance(node, (ast.Import, ast.ImportFrom))]
    packages = {}
    for i, node in chosen:
        if _binds_package(node) and not _NATIVE_LAZY:
            packages.setdefault(node.names[0].name.split(".")[0], []).append((i, node))
    for i, node in chosen:
        if _NATIVE_LAZY:
            node.is_lazy = 1
        elif _binds_package(node):
            group = packages[node.names[0].name.split(".")[0]]
            if (i, node) != group[-1]:
                tree.body[i] = ast.copy_location(ast.Pass(), node)
                continue
            merged = ast.Import(names=[ast.alias(name=",".join(n.names[0].name for _, n in group))])
            tree.body[i] = _lazy_statement(ast.copy_location(merged, node))
        else:
            tree.body[i] = _lazy_statement(node)
    done = [node.lineno for _, node in chosen]
    for line in sorted(set(lines) - set(done)):
        print("caios-pack: warning: %s:%d: no module-level import statement there; compiled as written"
              % (rel, line), file=sys.stderr)
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
        wanted = [int(n) for n in lines.split(",") if n]
        try:
            for line in _compile(src, dst, rel, wanted):
                print("lazy\t%s\t%d" % (rel, line))
        except (SyntaxError, ValueError, UnicodeDecodeError, RecursionError, MemoryError) as e:
            print("caios-pack: not compiled: %s %s" % (rel, str(e).splitlines()[-1] if str(e) else type(e).__name__),
                  file=sys.stderr)
        except OSError as e:
            print("caios-pack: not compiled: %s %s" % (rel, e), file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1])
