"""caios-pack lazy bindings: PEP 810's ``lazy import`` for Python 3.9-3.14.

Shipped in the deployment zip next to ``caios_importer.py``. caios-pack
compiles a patched module's ``.pyc`` with some of its module-level imports
rewritten, on their own line, into

    (np,) = __import__("caios_lazy").bind(globals(), 12, (("as", "numpy", 0, None, "np"),))

(the ``.py`` beside it is the original: tracebacks show its lines). ``bind``
returns one placeholder per bound name. The import runs when a placeholder
is first *used*: attribute access, a call, a subscript, ``isinstance`` /
``issubclass`` against it, or subclassing it. The placeholder then imports
the target exactly as the original statement would have (same ``globals``,
so relative imports resolve the same way), rebinds the module's global to the
real object (later reads never see the placeholder again) and forwards the
operation. An import error surfaces there, as ``ImportError`` naming the
original statement's file and line; the next use tries again.

The module object's class becomes ``LazyBindingsModule`` while it holds a
placeholder: reading a lazy name *through the module* (``mod.np``,
``from mod import np``, ``from mod import *``, ``getattr``) reifies it first,
so no other module ever receives a placeholder. When the last placeholder is
reified the class goes back to ``types.ModuleType``.

caios-pack only patches an import whose names the module reads in these
forwarded forms, never at init, never by identity (``is``), never as plain
values, and never through ``globals()``/``vars()``/``exec`` (docs/runtime.md,
"Lazy bindings", lists the rules). Stdlib only.
"""

import _thread
import sys

_ModuleType = type(sys)
_lock = _thread.RLock()
_pending = {}  # id(module globals) -> placeholders not yet reified
_local = _thread._local()  # .resolving: ids of placeholders this thread is importing


class DeferredSubmodulesModule(_ModuleType):
    """A loaded package with submodules a deferred import would have loaded:
    reading one as an attribute (``pkg.sub``, ``hasattr``, ``from pkg import
    sub``) imports it first, as the eager import would already have done."""

    def __getattr__(self, name):
        # Only reached when the namespace (and the module's own
        # ``__getattr__``) has no such attribute.
        return _import_deferred(self, name)


class LazyBindingsModule(DeferredSubmodulesModule):
    """A module that still holds placeholders: attribute reads reify them."""

    def __reduce__(self):
        # Pickled by name, as cloudpickle and copyreg treat plain modules.
        return (__import__("importlib").import_module, (self.__name__,))

    def __getattribute__(self, name):
        value = _ModuleType.__getattribute__(self, name)
        if type(value) is _Placeholder:
            if id(value) in _resolving():
                # Read while its own import runs (`from pkg import sub` in
                # pkg asks hasattr(pkg, "sub")): eagerly, the name would not
                # be bound yet either.
                raise AttributeError(name)
            value = _reify(value)
        return value


def _resolving():
    ids = getattr(_local, "resolving", None)
    if ids is None:
        ids = _local.resolving = set()
    return ids


def bind(module_globals, line, specs):
    """One placeholder per spec ``(mode, module, level, name, bound)``:
    mode "top" (``import a.b`` binds ``a``; ``a.b,a.c`` for several such
    statements merged into one), "as" (``import a.b as c``) or
    "from" (``from module import name as bound``)."""
    with _lock:
        _adopt(module_globals)
        _pending[id(module_globals)] = _pending.get(id(module_globals), 0) + len(specs)
    for spec in specs:
        # Eagerly, the statement would also have made its modules attributes
        # of their loaded packages: whoever reads them there imports them.
        for target in _spec_modules(module_globals, spec):
            _defer_submodule(target, module_globals, line)
    return tuple(_Placeholder(module_globals, line, spec) for spec in specs)


def submodules(module_globals, line, name):
    """``import a.b.c`` whose package ``a`` is bound at once while ``a.b``
    and ``a.b.c`` load when first read as attributes of their loaded
    package. Falls back to the eager import when a package cannot take that
    (a module class of its own, or a namespace already holding the name)."""
    top = __import__(name.partition(".")[0], module_globals, None, None, 0)
    if not _defer_submodule(name, module_globals, line):
        __import__(name, module_globals, None, None, 0)
    return top


# -- deferred submodules -------------------------------------------------------

_deferred = {}  # id(package) -> (package, {attribute: [(module, file, line)]})


def _spec_modules(module_globals, spec):
    """The absolute module names a spec's import would load."""
    mode, name, level, attr, _ = spec
    if mode == "top":
        return name.split(",")
    if mode == "as":
        return [name]
    if level:
        package = module_globals.get("__package__") or ""
        parts = package.split(".")
        if not package or level - 1 >= len(parts):
            return []
        base = ".".join(parts[:len(parts) - (level - 1)])
        name = base + "." + name if name else base
    # `from m import x` loads m.x too when x is a submodule; only hook that
    # on a loaded m (when m itself is deferred, reading m imports x anyway).
    out = [name]
    if name in sys.modules:
        out.append(name + "." + attr)
    return out


def _defer_submodule(full, module_globals, line):
    """Hooks ``full`` onto its loaded package when it is the only unloaded
    module along its name; True when nothing along it needs importing now.
    (With ``a.b`` unloaded too, a hook on ``a`` would be missed by whoever
    imports ``a.b`` directly, and ``a.b.c`` would never load.)"""
    if full in sys.modules:
        return True
    parent, _, child = full.rpartition(".")
    package = sys.modules.get(parent) if parent else None
    if package is None:
        return False
    where = (module_globals.get("__file__") or module_globals.get("__name__"), line)
    with _lock:
        kind = type(package)
        try:
            namespace = object.__getattribute__(package, "__dict__")
        except (AttributeError, TypeError):
            return False
        if child in namespace:
            return False
        if kind is _ModuleType:
            package.__class__ = DeferredSubmodulesModule
        elif kind not in (DeferredSubmodulesModule, LazyBindingsModule):
            return False
        _, table = _deferred.setdefault(id(package), (package, {}))
        table.setdefault(child, []).append((full,) + where)
    return True


def _settle(package_name):
    """Drops the hooks of names a package now holds (an eager import or a
    reified placeholder loaded them), and its hook class with the last."""
    package = sys.modules.get(package_name)
    with _lock:
        entry = _deferred.get(id(package)) if package is not None else None
        if entry is None:
            return
        namespace = object.__getattribute__(package, "__dict__")
        for attr in [a for a in entry[1] if a in namespace]:
            del entry[1][attr]
        if not entry[1]:
            del _deferred[id(package)]
            if type(package) is DeferredSubmodulesModule:
                package.__class__ = _ModuleType


def _import_deferred(package, attr):
    get = _ModuleType.__getattribute__
    package_name = get(package, "__name__")
    with _lock:
        entry = _deferred.get(id(package))
        targets = list(entry[1].get(attr, ())) if entry else None
    if not targets:
        raise AttributeError("module %r has no attribute %r" % (package_name, attr))
    wanted = package_name + "." + attr
    # The hook stays until the imports are done: another thread reading the
    # name meanwhile imports too (the import system makes it wait for the
    # first), and a failure leaves it for the next read to try again.
    for full, where, line in targets:
        try:
            __import__(full, None, None, None, 0)
        except ImportError as e:
            # A hooked name that is not a module (or a deeper part that
            # is not): eagerly there was nothing to load either.
            if isinstance(e, ModuleNotFoundError) and e.name is not None and (
                    e.name == wanted or e.name.startswith(wanted + ".")):
                continue
            raise ImportError(
                "%s (import of %r on first read of %s.%s: the import at %s, line %d, was "
                "deferred by caios-pack)" % (e, full, package_name, attr, where, line),
                name=e.name, path=e.path) from e
    with _lock:
        entry = _deferred.get(id(package))
        if entry is not None:
            entry[1].pop(attr, None)
            if not entry[1]:
                del _deferred[id(package)]
                if type(package) is DeferredSubmodulesModule:
                    package.__class__ = _ModuleType
    try:
        return get(package, attr)
    except AttributeError:
        value = sys.modules.get(wanted)
        if value is None:
            raise AttributeError("module %r has no attribute %r" % (package_name, attr)) from None
        return value


def _adopt(module_globals):
    module = sys.modules.get(module_globals.get("__name__"))
    if module is None or object.__getattribute__(module, "__dict__") is not module_globals:
        return
    if type(module) in (_ModuleType, DeferredSubmodulesModule):
        module.__class__ = LazyBindingsModule
        return
    # A module caios_importer loads lazily runs its body while its class is
    # still the importer's _LazyModule, which puts loader_state["class"] back
    # when the body ends: make that class this one.
    state = getattr(object.__getattribute__(module, "__spec__"), "loader_state", None)
    # (importlib.util.LazyLoader keeps it under "__class__" on 3.13.)
    if isinstance(state, dict):
        for key in ("class", "__class__"):
            if state.get(key) in (_ModuleType, DeferredSubmodulesModule):
                state[key] = LazyBindingsModule


def _release(module_globals):
    """Called under _lock after a placeholder of that module was reified."""
    key = id(module_globals)
    left = _pending.get(key, 1) - 1
    if left > 0:
        _pending[key] = left
        return
    _pending.pop(key, None)
    module = sys.modules.get(module_globals.get("__name__"))
    if module is not None and type(module) is LazyBindingsModule and module.__dict__ is module_globals:
        module.__class__ = DeferredSubmodulesModule if id(module) in _deferred else _ModuleType


_MISSING = object()


def _load(module_globals, line, spec):
    mode, name, level, attr, bound = spec
    try:
        if mode == "from":
            package = __import__(name, module_globals, None, (attr,), level)
            try:
                return getattr(package, attr)
            except AttributeError:
                pass
            value = sys.modules.get("%s.%s" % (package.__name__, attr), _MISSING)
            if value is _MISSING:
                raise ImportError(
                    "cannot import name %r from %r" % (attr, package.__name__),
                    name=package.__name__, path=getattr(package, "__file__", None))
            return value
        if mode == "top":
            # `import a.x` and `import a.y` merged: "a.x,a.y", binding `a`.
            for each in name.split(","):
                top = __import__(each, module_globals, None, None, 0)
            return top
        top = __import__(name, module_globals, None, None, 0)
        value = top
        parts = name.split(".")
        for i in range(1, len(parts)):
            try:
                value = getattr(value, parts[i])
            except AttributeError:
                value = sys.modules[".".join(parts[: i + 1])]
        return value
    except ImportError as e:
        where = module_globals.get("__file__") or module_globals.get("__name__")
        raise ImportError(
            "%s (lazy binding of %r: the import at %s, line %d, was deferred by caios-pack)"
            % (e, bound, where, line),
            name=e.name, path=e.path) from e


def _reify(placeholder):
    get = object.__getattribute__
    value = get(placeholder, "_caios_value")
    if value is not _MISSING:
        return value
    module_globals = get(placeholder, "_caios_globals")
    line = get(placeholder, "_caios_line")
    spec = get(placeholder, "_caios_spec")
    resolving = _resolving()
    if id(placeholder) in resolving:
        raise ImportError(
            "cannot use %r while its deferred import (%s, line %d) is still running"
            % (spec[4], module_globals.get("__file__") or module_globals.get("__name__"), line),
            name=spec[1])
    resolving.add(id(placeholder))
    try:
        value = _load(module_globals, line, spec)
    finally:
        resolving.discard(id(placeholder))
    for target in _spec_modules(module_globals, spec):
        _settle(target.rpartition(".")[0])
    with _lock:
        if get(placeholder, "_caios_value") is _MISSING:
            object.__setattr__(placeholder, "_caios_value", value)
            bound = spec[4]
            current = module_globals.get(bound)
            # `from .sub import sub` in a package: importing pkg.sub sets the
            # attribute `sub` to the submodule first, then the eager `from`
            # would bind the function over it; do the same.
            submodule = sys.modules.get("%s.%s" % (module_globals.get("__name__"), bound))
            if current is placeholder or (current is submodule and submodule is not None):
                module_globals[bound] = value
            _release(module_globals)
    return value


class _Placeholder:
    """Stands for a lazily imported name until its first use."""

    __slots__ = ("_caios_globals", "_caios_line", "_caios_spec", "_caios_value")

    def __init__(self, module_globals, line, spec):
        object.__setattr__(self, "_caios_globals", module_globals)
        object.__setattr__(self, "_caios_line", line)
        object.__setattr__(self, "_caios_spec", spec)
        object.__setattr__(self, "_caios_value", _MISSING)

    def __getattribute__(self, name):
        if name == "__mro_entries__":
            # PEP 560: `class C(placeholder)` subclasses what the real
            # object would give (its own __mro_entries__, or itself).
            def entries(bases):
                real = _reify(self)
                own = None if isinstance(real, type) else getattr(type(real), "__mro_entries__", None)
                return own(real, bases) if own is not None else (real,)
            return entries
        return getattr(_reify(self), name)

    def __setattr__(self, name, value):
        setattr(_reify(self), name, value)

    def __delattr__(self, name):
        delattr(_reify(self), name)

    def __call__(self, *args, **kwargs):
        return _reify(self)(*args, **kwargs)

    def __getitem__(self, key):
        return _reify(self)[key]

    def __instancecheck__(self, instance):
        return isinstance(instance, _reify(self))

    def __subclasscheck__(self, subclass):
        return issubclass(subclass, _reify(self))

    # Special methods are looked up on the type, not through
    # __getattribute__: forward the common ones, should a placeholder be
    # reached some other way (a module's __dict__ read directly).
    def __repr__(self):
        return repr(_reify(self))

    def __str__(self):
        return str(_reify(self))

    def __bool__(self):
        return bool(_reify(self))

    def __eq__(self, other):
        return _reify(self) == other

    def __ne__(self, other):
        return _reify(self) != other

    def __hash__(self):
        return hash(_reify(self))

    def __iter__(self):
        return iter(_reify(self))

    def __len__(self):
        return len(_reify(self))

    def __contains__(self, item):
        return item in _reify(self)
