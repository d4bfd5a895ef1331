"""caios-pack tracer: runs a Lambda handler on sample events and records, per
module, when it was loaded, how long its import took and whether any of its
functions ran.

Embedded in the caios-pack binary and run as

    python3 -I -S -B tracer.py --config CONFIG.json --out STATS.json

CONFIG.json: {"paths": [...], "handler_module": "handler",
"handler_function": "handler", "events": [{"name", "event", "context"}, ...],
"fork": true, "track_calls": true, "probe": true, "event_timeout_s": 600}.
STATS.json: docs/stats.md, section 1, plus, for people reading it: "fork",
"fork_reason", "threads_after_init", "event_timeout_s", "imports_timed",
"failed_imports" ([{name, phase, self_us, cumulative_us, parent, error}]:
imports that raised, e.g. optional dependencies), "tracer_errors" (if any);
per module "via" ("import", "sys.modules" for names that appeared without an
import, e.g. os.path, or "preloaded"), "parent" (the import it was nested in)
and "ran_in" (phases in which its functions were first seen running), and
for init rows "init_lines" (the first lines of its functions that ran at
init, while it imported or after; class and module bodies not counted) and
"init_run_under" (the innermost module being imported on the thread each time
one of them ran at init; "" outside any import); per
event "new_modules", "result_error", "exit_status", "signal", "timed_out" and
"init_ms" (events run in a fresh process). functions_ran is null when
tracking is off and for modules without Python code (extensions, built-ins,
namespace packages): functions in compiled code are not seen.

Events run in a child forked after init, so that each event's imports are
observed separately. When init left more than one thread running (counted
in /proc/self/task, so native ones too: an OpenMP or BLAS pool, a database
engine), a forked child could deadlock on a lock another thread held, or
wait for a pool that does not exist in it: then each event runs in a fresh
interpreter that repeats init (this script with the internal option
--event-index N, which writes a document of its own); its rows for the
event's phase are merged, and init's come from the first process ("fork":
false, "fork_reason"). A child that runs longer than event_timeout_s (a fresh
process: plus twice init's time, at least 5 s) is killed with SIGKILL and
the event recorded as failed ("timed_out": true, error type "Timeout"); with
"fork": false the tracer's own process gets SIGALRM instead (best effort:
only a handler running Python code in the main thread is interrupted).

"files": an audit hook (sys.addaudithook) records each file that the unit
opens by path ("open" events: open(), io.open_code, os.open) or loads with
ctypes ("ctypes.dlopen") under one of "paths", with the first phase that did
so; .py, .pyc and __pycache__ paths (the import system's own reads) are
skipped, and so are paths that no longer exist when the document is written
(failed opens). A dlopen name without a "/" is recorded as given (the
loader's search path decides where it comes from).

"effects", "package_effects" and "in_cycle" (with "probe": 1): the
side-effect probe, described above its code below (what is compared, when, and what it cannot see).

Exit status: 0 init and every event succeeded; 1 an event raised, timed out
or its child crashed; 2 bad arguments or configuration; 3 importing the
handler module raised; 4 the handler module has no such function. STATS.json
is written in cases 0, 1, 3 and 4.

Import timing follows `python -X importtime`: the interpreter calls
`importlib._bootstrap._find_and_load` for every module that is not yet in
sys.modules (import statements, __import__, importlib.import_module and C
code all go through it), so that function is wrapped. cumulative = time
inside that call, self = cumulative minus the cumulative time of the imports
nested in it (successful or not). Two differences: importtime does not see
importlib.import_module() (its time lands in the caller's self time; here it
gets its own row), and prints a module twice when `import pkg.mod` loads pkg
whose __init__ imports pkg.mod (here: one row, with both calls' own time).

Only modules that the interpreter loads before this script runs are used
(sys, posix, _thread, time, _frozen_importlib, _signal, io, ...): JSON,
tracebacks and the context object are implemented here, so that the tracer
itself preloads nothing the handler may need (json would preload re, enum,
functools, ...). The probe reads atexit, copyreg, warnings, os, logging,
socket, gc and asyncio.events only when they are already in sys.modules.
Stdlib only; Python 3.9 to 3.13.
"""

import sys
import posix
import _thread
import time
import _frozen_importlib

_bootstrap = _frozen_importlib
_ModuleType = type(sys)
_Namespace = type(sys.implementation)  # types.SimpleNamespace
_real_perf = time.perf_counter_ns
_perf = _real_perf  # the probe rebinds it to _vclock (see _probe_setup)
_modules = sys.modules
_signal_mod = _modules.get("_signal")  # preloaded by the interpreter (3.9 to 3.13)

_SELF_FILE = globals().get("__file__") or ""
_FORMAT = "caios-pack-stats"
_RESERVED_PHASES = ("init", "preloaded")

# ---------------------------------------------------------------------------
# State shared by the import wrapper and the call trackers.

_phase = [None]     # current phase: "init", an event's name, or None (not recording)
_records = []       # [name, phase, self_ns, cum_ns, parent, file, keys, via]
_recorded = {}      # name -> (its row in _records, the row's index)
_failed = []        # {"name", "phase", "self_ns", "cum_ns", "parent", "error"}
_finished = set()   # source file names of modules whose import has completed
_hits = {}          # co_filename -> phase in which a function of that file first ran
_tracer_errors = []
_counters = {"imports": 0}
_files = {}         # (path, how) -> phase in which it was first opened / dlopen'ed
_files_order = []   # the keys of _files in the order they were first seen

def _tracer_error(where, exc):
    """Internal bookkeeping failed: never silent, never fatal to the handler."""
    msg = "%s: %s: %s" % (where, type(exc).__name__, exc)
    _tracer_errors.append(msg)
    if len(_tracer_errors) <= 5:
        try:
            sys.stderr.write("caios-pack tracer: internal error in %s\n" % msg)
        except Exception:
            pass


def _module_file(mod):
    """__file__ of a module, without running module-level __getattr__."""
    if mod is None:
        return None
    try:
        if isinstance(mod, _ModuleType):
            f = mod.__dict__.get("__file__")
        else:
            f = getattr(mod, "__file__", None)
    except Exception:
        return None
    return f if isinstance(f, str) else None


def _module_location(mod, file):
    """Where a module came from: its file, or for a namespace package (no
    __file__) the first folder of its __path__."""
    if file is not None or mod is None:
        return file
    try:
        d = mod.__dict__ if isinstance(mod, _ModuleType) else {}
        path = d.get("__path__")
        first = next(iter(path), None) if path is not None else None
    except Exception:
        return None
    return first if isinstance(first, str) else None


def _module_keys(name, mod, file):
    """The co_filename values that a module's code objects may carry."""
    keys = []
    if file and file == _SELF_FILE:
        return ()  # __mp_main__ and the like: aliases of this script, not the unit's code
    if file:
        keys.append(file)
        if file.endswith(".pyc"):
            cut = max(file.rfind("/"), file.rfind("\\"))
            folder, base = file[:cut], file[cut + 1:]
            if folder.endswith("__pycache__"):
                # pkg/__pycache__/mod.cpython-311.pyc -> pkg/mod.py
                keys.append(folder[: -len("__pycache__")] + base.split(".", 1)[0] + ".py")
            else:
                keys.append(file[:-1])
    try:
        d = mod.__dict__ if isinstance(mod, _ModuleType) else {}
        spec = d.get("__spec__")
        origin = getattr(spec, "origin", None) if spec is not None else None
        if isinstance(origin, str) and origin not in keys and origin not in ("built-in", "frozen"):
            keys.append(origin)
    except Exception as exc:
        origin = None
        _tracer_error("module_keys(%s)" % name, exc)
    # Frozen modules (3.11+: os, stat, codecs, ... ) name their code "<frozen os>".
    if origin == "frozen" or name in _FROZEN:
        keys.append("<frozen %s>" % name)
    return tuple(keys)


try:
    import _imp
    _FROZEN = frozenset(n for n in getattr(_imp, "_frozen_module_names", lambda: ())() or ())
except Exception:  # pragma: no cover - _imp is always there on CPython
    _FROZEN = frozenset()


# ---------------------------------------------------------------------------
# Import timing: wrap importlib._bootstrap._find_and_load.
#
# While imports run, the wrapper only appends to a per-thread log (name,
# phase, start; end, outcome); rows are built from the log between phases
# (_drain_logs). Bookkeeping inline (dicts, file names, frame walks) changed
# what it measured: with the reference unit it made the scipy.stats imports
# 2-4x slower (same work, slower execution: CPython caches keyed by object
# addresses are that sensitive to what else is allocated during an import).

_orig_find_and_load = _bootstrap._find_and_load
_tls = _thread._local()
_logs = []              # [log, parse position, parse stack] per thread
_importing_lists = []   # per thread: [[name, keys or None], ...] in progress (tracking only)


def _new_log():
    log = []
    importing = []
    _logs.append([log, 0, []])
    _importing_lists.append(importing)
    _tls.log = log
    _tls.importing = importing
    return log


def _timed_find_and_load(name, *args, **kwargs):
    phase = _phase[0]
    if phase is None or name in _modules:
        # Already loaded (importlib.import_module always comes here) or not
        # recording: the interpreter's importtime would not time this either.
        return _orig_find_and_load(name, *args, **kwargs)
    try:
        log = _tls.log
    except AttributeError:
        log = _new_log()
    log.append(name)
    log.append(phase)
    log.append(_perf())
    try:
        mod = _orig_find_and_load(name, *args, **kwargs)
    except BaseException as exc:
        log.append(_perf())
        log.append(type(exc))
        raise
    log.append(_perf())
    log.append(True)
    return mod


def _tracked_find_and_load(name, *args, **kwargs):
    """_timed_find_and_load, plus what function-run tracking needs to know
    (which modules are importing, which have finished) at once."""
    phase = _phase[0]
    if phase is None or name in _modules:
        return _orig_find_and_load(name, *args, **kwargs)
    try:
        log = _tls.log
    except AttributeError:
        log = _new_log()
    importing = _tls.importing
    importing.append([name, None])
    log.append(name)
    log.append(phase)
    log.append(_perf())
    try:
        mod = _orig_find_and_load(name, *args, **kwargs)
    except BaseException as exc:
        log.append(_perf())
        log.append(type(exc))
        importing.pop()
        raise
    log.append(_perf())
    log.append(True)
    importing.pop()
    try:
        loaded = _modules.get(name, mod)
        _finished.update(_module_keys(name, loaded, _module_file(loaded)))
        if name == "threading" and _tracking[0] == "setprofile":
            loaded.setprofile(_profile_cb)
    except Exception as err:
        _tracer_error("tracking %s" % name, err)
    return mod


def _drain_logs():
    """Turns the import logs into rows of _records and _failed (in the order
    the imports finished, like -X importtime). Safe to call repeatedly; an
    import still running in another thread stays in its log for later."""
    for state in list(_logs):
        log, pos, stack = state
        end = len(log)
        while pos < end:
            item = log[pos]
            if isinstance(item, str):  # start: name, phase, t0
                if pos + 3 > end:
                    break
                stack.append([item, log[pos + 1], log[pos + 2], 0, len(_records)])
                pos += 3
                continue
            if pos + 2 > end:  # end: t1, True or the exception's type
                break
            t1, outcome = item, log[pos + 1]
            pos += 2
            if not stack:
                _tracer_error("import log", RuntimeError("an import ended that never started"))
                continue
            name, phase, t0, nested, first_row = stack.pop()
            cum = t1 - t0
            if stack:
                stack[-1][3] += cum
            parent = _cause(name, stack)
            # Never below zero: nested time is summed from other rows, and
            # an import that overlaps its parent's end (seen with thread
            # pools at init: apps corpus, image-thumbs) would make it so.
            try:
                _add_row(name, phase, max(0, cum - nested), cum, parent, outcome, first_row)
            except Exception as err:
                _tracer_error("recording %s" % name, err)
        state[1] = pos


def _cause(name, stack):
    """The import `name` was first loaded inside. `import pkg.sub` with pkg
    not loaded yet imports pkg first, nested in the import of pkg.sub that
    is still pending: that one only asked for pkg as its parent package, and
    what asked for pkg.sub is the import below it (else pkg and pkg.sub,
    which pkg's __init__ may import, would name each other)."""
    prefix = name + "."
    for entry in reversed(stack):
        if not entry[0].startswith(prefix):
            return entry[0]
    return None


def _add_row(name, phase, self_ns, cum_ns, parent, outcome, first_row):
    if outcome is not True:
        _failed.append({"name": name, "phase": phase, "self_ns": self_ns, "cum_ns": cum_ns,
                        "parent": parent, "error": getattr(outcome, "__name__", str(outcome))})
        return
    _counters["imports"] += 1
    seen = _recorded.get(name)
    if seen is not None and seen[1] >= first_row:
        # `import pkg.mod` with pkg not loaded yet, and pkg/__init__ imports
        # pkg.mod: a nested call loaded it, and this outer call only found it
        # in sys.modules afterwards (importtime prints both lines). One row;
        # it absorbs the outer call's own time, so that self times still add
        # up to the handler's cumulative time.
        seen[0][2] += self_ns
        seen[0][3] += self_ns
        return
    mod = _modules.get(name)
    file = _module_file(mod)
    keys = _module_keys(name, mod, file)
    _finished.update(keys)
    row = [name, phase, self_ns, cum_ns, parent, _module_location(mod, file), keys, "import",
           _effects.get(name), name in _in_cycle]
    _recorded[name] = (row, len(_records))
    _records.append(row)


def _diff_sys_modules(before, phase):
    """Modules that appeared without going through _find_and_load."""
    for name in list(_modules):
        if name in before or name in _recorded or not isinstance(name, str):
            continue
        mod = _modules.get(name)
        file = _module_file(mod)
        if file and file == _SELF_FILE:
            continue  # __mp_main__ and the like: aliases of this script
        keys = _module_keys(name, mod, file)
        _finished.update(keys)
        row = [name, phase, 0, 0, None, _module_location(mod, file), keys, "sys.modules", None, False]
        _recorded[name] = (row, len(_records))
        _records.append(row)


# ---------------------------------------------------------------------------
# Files opened by path: an audit hook (sys.addaudithook) records the "open"
# and "ctypes.dlopen" events for files under the unit's roots, first phase per
# (path, how). It runs for every audited event of the process, so it only
# does string tests; the import system's own opens (.py, .pyc, __pycache__)
# are skipped.

_roots = [()]       # ("/root/", ...): the unit's paths, each ending in "/"
_AUDIT_HOW = {"open": "open", "ctypes.dlopen": "dlopen"}
_SKIP_SUFFIXES = (".py", ".pyc")
_FS_ENCODING = sys.getfilesystemencoding()


def _normpath(path):
    """posixpath.normpath for an absolute path (os.path is not preloaded)."""
    parts = []
    for part in path.split("/"):
        if part == "..":
            if parts:
                parts.pop()
        elif part and part != ".":
            parts.append(part)
    return "/" + "/".join(parts)


def _audit_hook(event, args):
    how = _AUDIT_HOW.get(event)
    if how is None:
        return
    phase = _phase[0]
    if phase is None or not args:
        return
    try:
        path = args[0]
        if not isinstance(path, str):
            if not isinstance(path, bytes):
                return  # a file descriptor, None (dlopen of the process), a path-like
            path = path.decode(_FS_ENCODING, "surrogateescape")
        if how == "dlopen" and "/" not in path:
            key = (path, how)  # a bare soname: the loader's search decides, record it as given
        else:
            if path.endswith(_SKIP_SUFFIXES) or "__pycache__" in path:
                return
            if not path.startswith("/"):
                path = posix.getcwd() + "/" + path
            if "/." in path or "//" in path:
                path = _normpath(path)
            if not path.startswith(_roots[0]):
                return
            key = (path, how)
        if key not in _files:
            _files[key] = phase
            _files_order.append(key)
    except Exception as exc:  # an audit hook that raises would fail the open
        _tracer_error("audit hook", exc)


def _file_rows():
    rows = []
    for key in _files_order:
        path, how = key
        if path.startswith("/"):
            try:
                if posix.stat(path).st_mode & 0o170000 != 0o100000:
                    continue  # a folder, a device
            except OSError:
                continue  # a failed open: the file is not needed
        rows.append({"path": path, "phase": _files[key], "how": how})
    return rows


# ---------------------------------------------------------------------------
# Side-effect probe (config "probe"). For every module whose import the
# wrapper times, "effects" lists what its execution changed outside its own
# namespace (so that caios-pack never defers it), and "in_cycle" says whether
# it took part in a circular import.
#
# Attribution: the probe compares state at every import boundary (the start
# and the end of each timed import) and charges what changed since the
# previous boundary to the module on top of this thread's import stack, so a
# nested import's effects go to the nested module, not to its importer.
#
# Global state, compared at every boundary: atexit._ncallbacks(), calls of
# codecs.register / _codecs.register (wrapped), len(copyreg.dispatch_table),
# warnings.filters (identity and entries; filters added only for warning
# categories the module charged defines are not an effect: nothing can
# raise one before that module runs), signal.getsignal() for
# SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGCHLD, SIGPIPE,
# SIGALRM, sys.path, sys.meta_path, sys.path_hooks, sys.excepthook /
# displayhook / stdin / stdout / stderr, the recursion limit, os.environ, the
# asyncio event loop policy, the logging root logger's handlers and level,
# socket's default timeout, gc.isenabled() and thresholds, threads started,
# and the builtins namespace. A module that is not loaded yet has nothing to
# compare: its first value is not an effect (atexit's count becomes 0 when
# atexit is imported; registering then is one).
#
# sys.modules, compared at the end of each import (a full comparison costs
# ~50 us with 1,500 modules loaded): an entry that existed and now maps to
# another object, or is gone; the module's own entry replaced by another
# object (a deprecation wrapper; the module object the loader created is
# caught in module_from_spec); its own module's __class__ changed.
#
# Other modules and classes, compared at the end of module X's import: a
# baseline of each module's namespace (keys, the id of each value, the length
# of each dict / list / set value) is taken when its own import ends
# (preloaded modules: when the probe starts), with one per class it defines
# (mutable heap types whose __module__ is the module) and one per instance
# of a Python class it holds (the instance's attribute dict: a registry
# object's list, a web application's routes). X's globals reference
# modules as module objects and through functions (compared in full: every
# value's identity, every container's length), through classes, instances
# and containers (dict / list / set values of a module: only the namespace's
# size and its containers' lengths, then in full if either changed); classes
# and instances referenced directly are compared in full, the classes that
# the referenced modules define and the instances they hold by the size of
# their namespace (and their containers' lengths, for instances). Differences are X's effects
# and become the new baselines. Changes to other modules and classes of X's
# own top-level package, its C part included (_top: "_csv" and "csv" are
# one; numpy filling its dispatch tables, matplotlib.dates registering its
# converters in matplotlib.units.registry) are kept apart, by the module
# changed ("package_effects"): deferring X is safe only when that module
# does not stay loaded without it, which the packager decides. Not effects:
# entries a dict gained that are all keyed by objects the module (or its
# submodules) defines (_new_key_origins: scipy's capability table), attributes
# the import system binds
# on a package for its submodules, attributes added to a module whose values
# come from that module's own package (lazy __getattr__ caches), attributes
# added to a class whose metaclass is a C type with its own attribute lookup
# (_caches_lookups: protobuf's message classes), names
# containing "cache", a private global replacing None (set on first use),
# __all__, __annotations__, __builtins__, __slotnames__, __warningregistry__,
# what global state already covers (warnings.filters, copyreg's
# dispatch_table and its aliases), typing.overload's registry, and sys,
# builtins and the import system's own modules (global state, or changing on
# every import).
#
# Blind spots: a change to a module or class that X's globals do not lead to
# is not seen at X's end and is charged to the next module whose globals do;
# changes that X's importer made before importing X, to a module both reference,
# is charged to X; a class attribute replaced (not added or removed) on a
# class X does not reference directly; an instance's attribute replaced on
# an instance X does not reference directly; mutations deeper inside objects
# (a container held by an instance's container, a logger manager's
# children, C-level state such as ABC registrations); changes made by other threads while an import runs (charged
# to whichever import has a boundary next); a module changed while it is still
# initialising (no baseline yet: in_cycle marks those).
#
# in_cycle: a module being imported while it is still initialising on this
# thread's import stack (seen in the _find_and_load wrapper, and in
# _lock_unlock_module, which the interpreter calls for `import m` when
# m.__spec__._initializing is true) marks every module on the stack from it
# to the importer.
#
# Cost: the probe's own time is measured and subtracted from every timestamp
# (_vclock), so import times and init_ms exclude it; its work between imports
# still slows them (~10 % with the reference unit, CPU caches), which is why
# caios-pack takes import times from a pass without the probe.

_probe_ns = [0]        # ns spent in the probe so far (all threads)
_effects = {}          # module name -> [effect strings]
_pkg_effects = {}      # module name -> {module of its own package -> [effect strings]}
_in_cycle = set()      # names of modules that took part in a circular import
_mod_base = {}         # id(module) -> [module, name, keys, ids, containers, lens, [class ids]]
_cls_base = {}         # id(class) -> [class, label, keys, ids, containers, lens, module name]
_obj_base = {}         # id(instance) -> [its __dict__, label, keys, ids, containers, lens, module name, it]
_dict_tail = {}        # id(dict container) -> id of its last key at the baseline (None: empty)
_set_ids = {}          # id(set container) -> ids of its elements at the baseline
_cont_owner = {}       # id(dict / list / set value of a module) -> that module's _mod_base entry
_gstate = [None]       # global state at the last boundary
_sysmods = [None]      # copy of sys.modules at the last boundary
_codec_regs = [0]      # calls of codecs.register
_inner_find_and_load = None  # _timed_find_and_load or _tracked_find_and_load
_probing = [False]
_MAX_EFFECTS = 16
_MISSING = object()
_FunctionType = type(_normpath)
_BuiltinType = type(len)
_HEAPTYPE = 1 << 9
_IMMUTABLETYPE = 1 << 8
_type_dict = type.__dict__["__dict__"].__get__   # cls.__dict__ without metaclass hooks
_CONTAINERS = (dict, list, set)
# Not compared as other modules: sys and builtins are global state (above);
# the import system's own modules change on every import.
_UNPROBED = frozenset(("sys", "builtins", "__main__", "_frozen_importlib", "_frozen_importlib_external",
                       "importlib._bootstrap", "importlib._bootstrap_external"))
_qualname = type.__dict__["__qualname__"].__get__
_type_module = type.__dict__["__module__"].__get__
# _value2member_map_: enum.Flag caches the pseudo-members that `A | B`
# creates there, a cache whose name does not say so.
_SKIP_KEYS = frozenset(("__warningregistry__", "__slotnames__", "__annotations__", "__builtins__", "__all__",
                        "_value2member_map_"))
# Compared as global state, or bookkeeping without behaviour (typing.overload;
# numpy.iinfo's memo of each integer type's bounds, filled by the first
# np.iinfo(t).min / .max: a cache without "cache" in its name).
_SKIP_LABELS = frozenset(("warnings.filters", "_warnings.filters", "copyreg.dispatch_table",
                          "pickle.dispatch_table", "_pickle.dispatch_table", "copy.dispatch_table",
                          "typing._overload_registry", "typing._cleanups",
                          "numpy.iinfo._min_vals", "numpy.iinfo._max_vals",
                          # instances' attributes that global state covers
                          "os.environ._data", "os.environb._data",
                          "logging.root.handlers", "logging.root.level"))
_NONE_ID = id(None)
_SIG_NAMES = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGCHLD",
              "SIGPIPE", "SIGALRM")
_SIGNALS = tuple((n, getattr(_signal_mod, n)) for n in _SIG_NAMES
                 if _signal_mod is not None and hasattr(_signal_mod, n))
_GLABELS = (("atexit.register", "codecs.register", "copyreg.dispatch_table", "warnings.filters",
             "sys.path", "sys.meta_path", "sys.path_hooks", "sys.excepthook", "sys.displayhook",
             "sys.stdin", "sys.stdout", "sys.stderr", "sys.setrecursionlimit", "os.environ",
             "asyncio event loop policy", "logging root logger", "socket default timeout",
             "gc settings", "started a thread", "builtins")
            + tuple("signal handler %s" % n for n, _ in _SIGNALS))


def _vclock():
    return _real_perf() - _probe_ns[0]


def _global_state():
    get = _modules.get
    a, cr, w, o = get("atexit"), get("copyreg"), get("warnings"), get("os")
    aio, lg, sk, gc = get("asyncio.events"), get("logging"), get("socket"), get("gc")
    filters = _warning_filters(w)
    env = getattr(getattr(o, "environ", None), "_data", None) if o is not None else None
    root = getattr(lg, "root", None) if lg is not None else None
    bd = _modules["builtins"].__dict__
    # getattr with defaults: any of these modules may be partially initialised.
    ncallbacks = getattr(a, "_ncallbacks", None)
    timeout = getattr(sk, "getdefaulttimeout", None)
    gc_enabled, gc_threshold = getattr(gc, "isenabled", None), getattr(gc, "get_threshold", None)
    table = getattr(cr, "dispatch_table", None)
    state = [
        ncallbacks() if ncallbacks is not None else None,
        _codec_regs[0],
        len(table) if table is not None else None,
        (id(filters), tuple(map(id, filters))),
        tuple(sys.path),
        tuple(map(id, sys.meta_path)),
        tuple(map(id, sys.path_hooks)),
        id(sys.excepthook), id(sys.displayhook), id(sys.stdin), id(sys.stdout), id(sys.stderr),
        sys.getrecursionlimit(),
        dict(env) if isinstance(env, dict) else None,
        id(getattr(aio, "_event_loop_policy", None)) if aio is not None else None,
        (len(getattr(root, "handlers", ())), getattr(root, "level", None)) if root is not None else None,
        timeout() if timeout is not None else None,
        (gc_enabled(), gc_threshold()) if gc_threshold is not None else None,
        _thread._count(),
        (tuple(bd), tuple(map(id, bd.values()))),
    ]
    if _SIGNALS:
        getsignal = _signal_mod.getsignal
        state.extend(id(getsignal(num)) for _, num in _SIGNALS)
    return state


def _warning_filters(w):
    return getattr(w, "filters", None) or getattr(_modules.get("_warnings"), "filters", None) or []


def _own_warning_filters(old, own):
    """The filters changed only by adding some for warning categories that
    the module `own` defines: not an effect, since nothing can raise such a
    warning before that module has run (scipy.special._sf_error's
    SpecialFunctionWarning)."""
    filters = _warning_filters(_modules.get("warnings"))
    before = set(old[1])
    if id(filters) != old[0] or not before <= set(map(id, filters)):
        return False  # the list replaced, or filters removed
    for f in filters:
        if id(f) in before:
            continue
        category = f[2] if type(f) is tuple and len(f) == 5 else None
        if not isinstance(category, type) or _type_module(category) != own:
            return False
    return True


def _probe_reset():
    """A new phase: what happened before it is nobody's effect."""
    _gstate[0] = _global_state()
    _sysmods[0] = dict(_modules)


def _boundary(out, own, check_modules):
    """Appends to `out` what changed since the last boundary; `own` is the
    name of the module charged (its own sys.modules entry is not an effect).
    sys.modules is compared only when check_modules (at the end of an import:
    a full comparison costs ~50 us with 1,500 modules loaded)."""
    g = _global_state()
    old = _gstate[0]
    if old is not None and g != old:
        for i in range(len(g)):
            if g[i] != old[i] and old[i] is not None:  # None: its module was not loaded
                label = _GLABELS[i]
                if label == "started a thread" and g[i] < old[i]:
                    continue  # a thread ended
                if label == "warnings.filters" and _own_warning_filters(old[i], own):
                    continue
                out.append(label)
    _gstate[0] = g
    if not check_modules:
        return
    snap = _sysmods[0]
    if snap is None or not snap.items() <= _modules.items():
        for k, v in (snap or {}).items():
            w = _modules.get(k, _MISSING)
            if k == own or w is v:
                continue
            out.append("%s sys.modules[%r]" % ("removed" if w is _MISSING else "replaced", k))
        _sysmods[0] = dict(_modules)
        return
    # Nothing replaced: add the new entries, which are near the end (a dict
    # keeps insertion order; the import system re-inserts each module it
    # finishes), instead of copying 1,500 entries.
    delta = len(_modules) - len(snap)
    try:
        if delta > 0:
            for k in reversed(_modules):
                if k not in snap:
                    snap[k] = _modules[k]
                    delta -= 1
                    if not delta:
                        break
    except RuntimeError:  # another thread imported meanwhile
        _sysmods[0] = dict(_modules)


def _fingerprint(d):
    conts, lens = [], []
    for k, v in d.items():
        # type(v), not isinstance: a proxy's __class__ may run user code.
        if issubclass(type(v), _CONTAINERS) and type(k) is str and k not in _SKIP_KEYS \
                and "cache" not in k.lower():
            conts.append(k)
            lens.append(len(v))
            if type(v) is dict:
                _dict_tail[id(v)] = id(next(reversed(v))) if v else None
            elif type(v) is set:
                _set_ids[id(v)] = frozenset(map(id, v))
    return tuple(d), list(map(id, d.values())), conts, lens


def _containers_unchanged(base, d):
    if len(d) != len(base[2]):
        return False
    for k, n in zip(base[4], base[5]):
        v = d.get(k)
        # Replaced by something that is no container: changed (no len()).
        if not issubclass(type(v), _CONTAINERS) or len(v) != n:
            return False
    return True


def _unchanged(base, d):
    # Same size, same containers' sizes, same value objects in the same order
    # (a key replaced by another at the same place with the same value is
    # the one change this misses).
    return _containers_unchanged(base, d) and list(map(id, d.values())) == base[3]


def _rebaseline(rec, d):
    rec[2], rec[3], rec[4], rec[5] = _fingerprint(d)
    for k in rec[4]:
        _cont_owner[id(d[k])] = rec


def _defined_in(v):
    """Name of the module that defines v (module, class, function, or an
    instance's class), read without running user code; None if unknown."""
    t = type(v)
    if issubclass(t, _ModuleType):
        name = v.__dict__.get("__name__")
    elif issubclass(t, type):
        name = _type_module(v)  # type's own getter: no metaclass code runs
    elif t is _FunctionType or t is _BuiltinType:
        name = v.__module__
    elif t.__flags__ & _HEAPTYPE:
        name = (_type_dict(t) or {}).get("__module__")
    else:
        # A C type's instance that carries a function's `__module__` in
        # its own dict (numpy's array-function dispatchers); its getters
        # are C code.
        try:
            d = object.__getattribute__(v, "__dict__")
        except Exception:
            return None
        name = d.get("__module__") if type(d) is dict else None
    return name if type(name) is str else None


def _skip_key(label, k):
    return type(k) is not str or "cache" in k.lower() or (label + "." + k) in _SKIP_LABELS


def _top(name):
    """A module's top-level package, `_csv` and `csv` alike: what a package
    does to its own modules (or to its C part) is not an effect."""
    return name.partition(".")[0].lstrip("_")


def _new_key_origins(v, n):
    """The modules defining the keys a dict gained beyond its first n (a dict
    keeps insertion order), or the elements a set gained since its baseline,
    or None when that cannot be told (not a dict or a set, not grown, an
    entry removed, a key no module defines). A registration keyed by a
    module's objects (scipy's capability table, keyed by its functions;
    numpy's ARRAY_FUNCTIONS, a set of them) can only be looked up by code
    that holds those objects, which loaded that module first; only iterating
    the container can tell it came later."""
    if type(v) is set:
        return _new_element_origins(v, n)
    if type(v) is not dict or len(v) <= n:
        return None
    try:
        keys = list(v)
    except RuntimeError:  # changed size while copied (another thread)
        return None
    # The baseline's last key still n-th: nothing before it was removed
    # (a deletion plus additions would also make the dict grow).
    if n and (len(keys) < n or id(keys[n - 1]) != _dict_tail.get(id(v), 0)):
        return None
    origins = set()
    for k in keys[n:]:
        origin = _defined_in(k)
        if origin is None:
            return None
        origins.add(origin)
    return origins


def _new_element_origins(v, n):
    before = _set_ids.get(id(v))
    if before is None or len(v) <= n or len(before) != n:
        return None
    try:
        new = [e for e in v if id(e) not in before]
    except RuntimeError:  # changed size while iterated (another thread)
        return None
    if len(v) - len(new) != n:
        return None  # an element removed
    origins = set()
    for e in new:
        origin = _defined_in(e)
        if origin is None:
            return None
        origins.add(origin)
    return origins


def _caches_lookups(cls):
    """A class whose metaclass is a C type with its own attribute lookup
    (protobuf's upb MessageMeta): what appears in the class dict is that
    lookup's cache of what it answers anyway (enum values materialised on
    first read), not a change made by the module that read them."""
    meta = type(cls)
    if meta is type:
        return False
    md = _type_dict(meta)
    lookup = md.get("__getattribute__", md.get("__getattr__"))
    # A slot wrapper: C code (a Python metaclass's lookup is a function).
    return lookup is not None and type(lookup) is _SlotWrapperType


_SlotWrapperType = type(type.__dict__["__getattribute__"])


def _diff(label, base, d, modname, out, own):
    """Effects between a baseline and a namespace. modname: the module's name
    when d is a module namespace (for the import system's own bindings);
    own: the module charged."""
    ids = dict(zip(base[2], base[3]))
    old = dict(ids)
    pkg = modname + "." if modname else None
    for k, v in d.items():
        i = old.pop(k, None)
        if i == id(v) or k in _SKIP_KEYS or _skip_key(label, k):
            continue
        if i == _NONE_ID and type(k) is str and k.startswith("_"):
            continue  # a private global set on first use (`_config = None` ... `_config = load()`)
        if i is None and modname is None and isinstance(base[0], type) and _caches_lookups(base[0]):
            continue
        if modname is not None and type(k) is str:
            if _modules.get(pkg + k) is v:
                continue  # the import system binds a submodule on its package
            if i is None:
                origin = _defined_in(v)
                if origin is not None and (origin == modname or origin.startswith(pkg)):
                    continue  # a lazy __getattr__ caching its own package's attribute
        out.append("%s %s.%s" % ("added" if i is None else "replaced", label, k))
    for k in old:
        if k not in _SKIP_KEYS and not _skip_key(label, k):
            out.append("removed %s.%s" % (label, k))
    for k, n in zip(base[4], base[5]):
        v = d.get(k)
        changed = v is not None and id(v) == ids.get(k) and len(v) != n
        if not changed or _skip_key(label, k):
            continue
        origins = _new_key_origins(v, n)
        if origins is None:
            out.append("mutated %s.%s" % (label, k))
        elif any(o != own and not o.startswith(own + ".") for o in origins):
            # Harmless when those modules do not stay loaded without `own`:
            # the packager decides.
            out.append("mutated %s.%s (new keys of %s)" % (label, k, ", ".join(sorted(origins))))


def _baseline_class(cls, label, module):
    fp = _fingerprint(_type_dict(cls))
    _cls_base[id(cls)] = [cls, label, fp[0], fp[1], fp[2], fp[3], module]


def _instance_dict(v):
    """The attribute dict of an instance of a Python class (a registry
    object, an application), or None. Read through the type's own
    `__dict__` slot, so that no user code runs (a class may define a
    `__dict__` property)."""
    t = type(v)
    if not t.__flags__ & _HEAPTYPE or issubclass(t, (type, _ModuleType)) or t is _FunctionType:
        return None
    for c in _type_mro(t):
        slot = (_type_dict(c) or {}).get("__dict__")
        if slot is None:
            continue
        if type(slot) is not _GetSetType:
            return None
        try:
            d = slot.__get__(v, t)
        except Exception:
            return None
        return d if type(d) is dict else None
    return None


_type_mro = type.__dict__["__mro__"].__get__
_GetSetType = type(type.__dict__["__dict__"])


def _baseline_module(mod, name):
    d = mod.__dict__
    fp = _fingerprint(d)
    classes = []
    objects = []
    for k, v in list(d.items()):
        t = type(v)
        if issubclass(t, type) and v.__flags__ & _HEAPTYPE and not v.__flags__ & _IMMUTABLETYPE:
            cd = _type_dict(v)
            if cd is not None and cd.get("__module__") == name:
                classes.append(id(v))
                _baseline_class(v, "%s.%s" % (name, _qualname(v)), name)
        elif id(v) not in _obj_base and type(k) is str and not k.startswith("__"):
            # (not __spec__ / __loader__: the import system's own state)
            vd = _instance_dict(v)
            if vd is not None:
                objects.append(id(v))
                ofp = _fingerprint(vd)
                # The instance itself is kept (last) so that its id is
                # not reused by another object while the probe runs.
                _obj_base[id(v)] = [vd, "%s.%s" % (name, k), ofp[0], ofp[1], ofp[2], ofp[3], name, v]
    rec = _mod_base[id(mod)] = [mod, name, fp[0], fp[1], fp[2], fp[3], classes, objects]
    for k in fp[2]:
        _cont_owner[id(d[k])] = rec


def _check_class(rec, sink, own):
    cls = rec[0]
    d = _type_dict(cls)
    if _unchanged(rec, d):
        return
    _diff(rec[1], rec, d, None, sink(rec[6]), own)
    rec[2], rec[3], rec[4], rec[5] = _fingerprint(d)


def _check_object(rec, sink, own):
    d = rec[0]
    if _unchanged(rec, d):
        return
    _diff(rec[1], rec, d, None, sink(rec[6]), own)
    rec[2], rec[3], rec[4], rec[5] = _fingerprint(d)


def _check_references(name, d, out, pkg):
    """Compares what the namespace d of module `name` references with the
    baselines (see the section comment). Changes to modules of other
    top-level packages go to `out`; to other modules of its own package, to
    `pkg` by the module changed."""
    own_top = _top(name)

    def sink(target):
        if _top(target) != own_top:
            return out
        return pkg.setdefault(target, [])

    full = {}       # modules referenced as modules or through their functions
    light = {}      # modules referenced through classes, instances, containers
    classes = {}    # classes referenced by d: compared in full
    defined = {}    # classes defined by the modules referenced: their size only
    objects = {}    # instances referenced by d: compared in full
    held = {}       # instances the modules referenced hold: their sizes only
    for v in list(d.values()):
        t = type(v)
        if issubclass(t, _ModuleType):
            full[id(v)] = v
            continue
        if t is _FunctionType or t is _BuiltinType:
            m = _modules.get(v.__module__) if type(v.__module__) is str else None
            if m is not None:
                full[id(m)] = m
            continue
        if t is dict or t is list or t is set:
            rec = _cont_owner.get(id(v))
            if rec is not None and any(rec[0].__dict__.get(k) is v for k in rec[4]):
                light[id(rec[0])] = rec[0]
            continue
        if issubclass(t, type) and id(v) in _cls_base:
            classes[id(v)] = _cls_base[id(v)]
        elif id(v) in _obj_base:
            objects[id(v)] = _obj_base[id(v)]
        origin = _defined_in(v)
        m = _modules.get(origin) if origin is not None else None
        if m is not None:
            light[id(m)] = m
    for m in light.values():
        if id(m) not in full:
            rec = _mod_base.get(id(m))
            if rec is not None and rec[1] != name and not _containers_unchanged(rec, m.__dict__):
                full[id(m)] = m  # something changed: find what
    for m in full.values():
        rec = _mod_base.get(id(m))
        if rec is None:
            if issubclass(type(m), _ModuleType):
                mname = m.__dict__.get("__name__")
                if type(mname) is str and mname not in _UNPROBED:
                    _baseline_module(m, mname)  # seen for the first time: from now on
            continue
        mname = rec[1]
        if mname == name:
            continue
        md = m.__dict__
        if not _unchanged(rec, md):
            _diff(mname, rec, md, mname, sink(mname), name)
            _rebaseline(rec, md)
    for m in list(full.values()) + list(light.values()):
        rec = _mod_base.get(id(m))
        if rec is None or rec[1] == name:
            continue
        for cid in rec[6]:
            if cid not in classes:
                crec = _cls_base.get(cid)
                if crec is not None:
                    defined[cid] = crec
        for oid in rec[7]:
            if oid not in objects:
                orec = _obj_base.get(oid)
                if orec is not None:
                    held[oid] = orec
    for crec in classes.values():
        if crec[6] != name:
            _check_class(crec, sink, name)
    for crec in defined.values():
        if len(_type_dict(crec[0])) != len(crec[2]):
            _check_class(crec, sink, name)
    for orec in objects.values():
        if orec[6] != name:
            _check_object(orec, sink, name)
    for orec in held.values():
        if orec[6] != name and not _containers_unchanged(orec, orec[0]):
            _check_object(orec, sink, name)
    for target in [t for t, changes in pkg.items() if not changes]:
        del pkg[target]


def _check_cycle(stack, name):
    """`name` is being imported while already in sys.modules: when it is on
    this thread's stack of imports in progress, it is still initialising, and
    every module from it to the importer is part of a cycle."""
    i = len(stack) - 1
    while i >= 0:
        if stack[i][0] == name:
            for frame in stack[i:]:
                _in_cycle.add(frame[0])
            return
        i -= 1


def _pstack():
    try:
        return _tls.pstack
    except AttributeError:
        stack = _tls.pstack = []
        return stack


def _probed_find_and_load(name, *args, **kwargs):
    if _phase[0] is None:
        return _inner_find_and_load(name, *args, **kwargs)
    a = _real_perf()
    stack = _pstack()
    if name in _modules:
        if stack:
            _check_cycle(stack, name)
        _probe_ns[0] += _real_perf() - a
        return _inner_find_and_load(name, *args, **kwargs)
    frame = [name, [], None, {}]   # name, effects, the module object the loader created, package effects
    try:
        _boundary(stack[-1][1] if stack else [], stack[-1][0] if stack else None, False)
    except Exception as exc:
        _tracer_error("probe before %s" % name, exc)
    stack.append(frame)
    _probe_ns[0] += _real_perf() - a
    ok = False
    try:
        mod = _inner_find_and_load(name, *args, **kwargs)
        ok = True
        return mod
    finally:
        a = _real_perf()
        try:
            _probe_end(frame, ok)
        except Exception as exc:
            _tracer_error("probe after %s" % name, exc)
        if stack and stack[-1] is frame:
            stack.pop()
        elif frame in stack:
            stack.remove(frame)
        _probe_ns[0] += _real_perf() - a


def _probe_end(frame, ok):
    name, out, created, pkg = frame
    _boundary(out, name, True)
    if not ok:
        return  # a failed import: its effects are dropped, and nobody else is charged
    now = _modules.get(name)
    if created is not None:
        if now is not created and now is not None:
            out.append("replaced its own sys.modules entry (%s)" % type(now).__name__)
        if type(created) is not _ModuleType:
            out.append("set its module __class__ (%s)" % type(created).__name__)
    target = created if created is not None else now
    if issubclass(type(target), _ModuleType) and name not in _UNPROBED:
        _check_references(name, target.__dict__, out, pkg)
        _baseline_module(target, name)
    seen = _effects.get(name)
    effects = [] if seen is None else seen
    for e in out:
        if e not in effects:
            if len(effects) >= _MAX_EFFECTS:
                effects.append("...")
                break
            effects.append(e)
    _effects[name] = effects
    if pkg:
        mine = _pkg_effects.setdefault(name, {})
        for target, changes in pkg.items():
            kept = mine.setdefault(target, [])
            for e in changes:
                if e not in kept and len(kept) < _MAX_EFFECTS:
                    kept.append(e)


_orig_lock_unlock_module = _bootstrap._lock_unlock_module
_orig_module_from_spec = _bootstrap.module_from_spec


def _probe_lock_unlock_module(name):
    # The interpreter calls this for `import name` when sys.modules[name] is
    # still initialising (its __spec__._initializing is true).
    if _phase[0] is not None:
        stack = _pstack()
        if stack:
            _check_cycle(stack, name)
    return _orig_lock_unlock_module(name)


def _probe_module_from_spec(spec):
    module = _orig_module_from_spec(spec)
    try:
        stack = _tls.pstack
        if stack and stack[-1][2] is None and stack[-1][0] == spec.name:
            stack[-1][2] = module
    except AttributeError:
        pass
    return module


def _probe_setup(inner):
    """Installs the probe around `inner` (the timing wrapper)."""
    global _perf, _inner_find_and_load
    _inner_find_and_load = inner
    _probing[0] = True
    for mod in (_modules.get("codecs"), _modules.get("_codecs")):
        register = getattr(mod, "register", None) if mod is not None else None
        if register is not None:
            def wrapped(fn, _register=register):
                _codec_regs[0] += 1
                return _register(fn)
            mod.register = wrapped
    _perf = _vclock
    _bootstrap._lock_unlock_module = _probe_lock_unlock_module
    _bootstrap.module_from_spec = _probe_module_from_spec
    _bootstrap._find_and_load = _probed_find_and_load
    for name in list(_modules):
        mod = _modules.get(name)
        if type(name) is str and name not in _UNPROBED and issubclass(type(mod), _ModuleType):
            try:
                _baseline_module(mod, name)
            except Exception as exc:
                _tracer_error("probe baseline of %s" % name, exc)


def _probe_teardown():
    _bootstrap._lock_unlock_module = _orig_lock_unlock_module
    _bootstrap.module_from_spec = _orig_module_from_spec


# ---------------------------------------------------------------------------
# Function-run tracking.

_tracking = ["off"]
_DISABLE = None
_tool_id = [None]


def _is_importing(fn):
    """True when fn is the file of a module whose import is in progress."""
    for importing in _importing_lists:
        for entry in importing:
            keys = entry[1]
            if keys is None:
                mod = _modules.get(entry[0])
                if mod is None:
                    continue
                keys = entry[1] = _module_keys(entry[0], mod, _module_file(mod))
            if fn in keys:
                return True
    return False


_init_code = set()  # (co_filename, co_firstlineno) of functions that ran at init
_init_runs = set()  # (co_filename, innermost module importing on that thread when they ran)
_CO_NEWLOCALS = 0x2


def _note_init_code(code):
    """A function ran at init (its module importing or not), inside the
    import of some module: if that import moves later, so does the run.
    Module and class bodies (no CO_NEWLOCALS) run where the module's code
    runs: the packager reads those from the source."""
    if code.co_flags & _CO_NEWLOCALS:
        fn = code.co_filename
        _init_code.add((fn, code.co_firstlineno))
        importing = getattr(_tls, "importing", None)
        _init_runs.add((fn, importing[-1][0] if importing else ""))


def _monitor_cb(code, instruction_offset):
    phase = _phase[0]
    if phase is None:
        return None
    if phase == "init":
        _note_init_code(code)
    fn = code.co_filename
    if fn not in _hits:
        if fn not in _finished and _is_importing(fn):
            return None  # runs while its own module is still importing: not a use
        _hits[fn] = phase
    # At init every run counts (under which import it ran), not only the first.
    return None if phase == "init" else _DISABLE


def _profile_cb(frame, event, arg):
    if event == "call":
        code = frame.f_code
        if _phase[0] == "init":
            _note_init_code(code)
        fn = code.co_filename
        if fn not in _hits:
            phase = _phase[0]
            if phase is not None and (fn in _finished or not _is_importing(fn)):
                _hits[fn] = phase


def _start_tracking():
    global _DISABLE
    mon = getattr(sys, "monitoring", None)
    if mon is not None:
        for tool in (getattr(mon, "PROFILER_ID", 2), 3, 4, 5):
            if mon.get_tool(tool) is None:
                mon.use_tool_id(tool, "caios-pack")
                _DISABLE = mon.DISABLE
                mon.register_callback(tool, mon.events.PY_START, _monitor_cb)
                mon.set_events(tool, mon.events.PY_START)
                _tool_id[0] = tool
                _tracking[0] = "sys.monitoring"
                return
        sys.stderr.write("caios-pack tracer: no free sys.monitoring tool id; using sys.setprofile\n")
    _tracking[0] = "setprofile"
    sys.setprofile(_profile_cb)
    threading = _modules.get("threading")
    if threading is not None:
        threading.setprofile(_profile_cb)


def _stop_tracking():
    if _tracking[0] == "sys.monitoring":
        mon = sys.monitoring
        mon.set_events(_tool_id[0], 0)
        mon.register_callback(_tool_id[0], mon.events.PY_START, None)
        mon.free_tool_id(_tool_id[0])
    elif _tracking[0] == "setprofile":
        sys.setprofile(None)
        threading = _modules.get("threading")
        if threading is not None:
            threading.setprofile(None)


# ---------------------------------------------------------------------------
# JSON without the json module (it would preload re, enum, functools, ...).

class _JSONError(ValueError):
    pass


_JSON_ESC = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_HEX = frozenset("0123456789abcdefABCDEF")
_NUMBER_CHARS = frozenset("+-0123456789.eE")


def _json_loads(s):
    n = len(s)

    def fail(i, what):
        line = s.count("\n", 0, i) + 1
        raise _JSONError("%s at line %d column %d" % (what, line, i - (s.rfind("\n", 0, i) + 1) + 1))

    def skip(i):
        while i < n and s[i] in " \t\n\r":
            i += 1
        return i

    def hex4(i):
        h = s[i:i + 4]
        if len(h) != 4 or not all(c in _HEX for c in h):
            fail(i, "invalid \\u escape")
        return int(h, 16)

    def string(i):  # i: just after the opening quote
        parts = []
        while True:
            j = s.find('"', i)
            if j < 0:
                fail(i, "unterminated string")
            k = s.find("\\", i, j)
            if k < 0:
                parts.append(s[i:j])
                return "".join(parts), j + 1
            parts.append(s[i:k])
            esc = s[k + 1:k + 2]
            if esc == "u":
                cp = hex4(k + 2)
                i = k + 6
                if 0xD800 <= cp < 0xDC00 and s[i:i + 2] == "\\u":
                    lo = hex4(i + 2)
                    if 0xDC00 <= lo < 0xE000:
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00)
                        i += 6
                parts.append(chr(cp))
            elif esc in _JSON_ESC:
                parts.append(_JSON_ESC[esc])
                i = k + 2
            else:
                fail(k, "invalid escape")

    def value(i):
        i = skip(i)
        if i >= n:
            fail(i, "unexpected end of data")
        c = s[i]
        if c == '"':
            return string(i + 1)
        if c == "{":
            obj = {}
            i = skip(i + 1)
            if s[i:i + 1] == "}":
                return obj, i + 1
            while True:
                i = skip(i)
                if s[i:i + 1] != '"':
                    fail(i, "expected a string key")
                key, i = string(i + 1)
                i = skip(i)
                if s[i:i + 1] != ":":
                    fail(i, "expected ':'")
                obj[key], i = value(i + 1)
                i = skip(i)
                c = s[i:i + 1]
                if c == ",":
                    i += 1
                elif c == "}":
                    return obj, i + 1
                else:
                    fail(i, "expected ',' or '}'")
        if c == "[":
            arr = []
            i = skip(i + 1)
            if s[i:i + 1] == "]":
                return arr, i + 1
            while True:
                v, i = value(i)
                arr.append(v)
                i = skip(i)
                c = s[i:i + 1]
                if c == ",":
                    i += 1
                elif c == "]":
                    return arr, i + 1
                else:
                    fail(i, "expected ',' or ']'")
        for word, v in (("true", True), ("false", False), ("null", None),
                        ("NaN", float("nan")), ("Infinity", float("inf")),
                        ("-Infinity", float("-inf"))):
            if s.startswith(word, i):
                return v, i + len(word)
        j = i
        while j < n and s[j] in _NUMBER_CHARS:
            j += 1
        text = s[i:j]
        if not text:
            fail(i, "unexpected character %r" % c)
        try:
            if "." in text or "e" in text or "E" in text:
                return float(text), j
            return int(text), j
        except ValueError:
            fail(i, "invalid number %r" % text)

    v, i = value(0)
    if skip(i) != n:
        fail(skip(i), "extra data")
    return v


_ESCAPE_TABLE = {i: "\\u%04x" % i for i in range(0x20)}
_ESCAPE_TABLE.update({ord('"'): '\\"', ord("\\"): "\\\\", ord("\n"): "\\n", ord("\r"): "\\r",
                      ord("\t"): "\\t", ord("\b"): "\\b", ord("\f"): "\\f"})


def _json_float(o):
    if o != o:
        return '"NaN"'  # not JSON; a string keeps the information readable by serde_json
    if o in (float("inf"), float("-inf")):
        return '"Infinity"' if o > 0 else '"-Infinity"'
    return float.__repr__(o)


def _json_dumps(obj):
    """Like json.dumps(obj, default=str), except that NaN and infinities become
    strings and lone surrogates are replaced, so that the output is strict JSON."""
    out = []
    append = out.append
    active = set()

    def enc(o):
        if o is None:
            append("null")
        elif o is True:
            append("true")
        elif o is False:
            append("false")
        elif isinstance(o, str):
            append('"' + o.translate(_ESCAPE_TABLE) + '"')
        elif isinstance(o, int):
            append(int.__repr__(o))
        elif isinstance(o, float):
            append(_json_float(o))
        elif isinstance(o, (list, tuple)):
            if id(o) in active:
                raise ValueError("Circular reference detected")
            active.add(id(o))
            append("[")
            first = True
            for item in o:
                if not first:
                    append(",")
                first = False
                enc(item)
            append("]")
            active.discard(id(o))
        elif isinstance(o, dict):
            if id(o) in active:
                raise ValueError("Circular reference detected")
            active.add(id(o))
            append("{")
            first = True
            for k, v in o.items():
                if isinstance(k, str):
                    pass
                elif k is True:
                    k = "true"
                elif k is False:
                    k = "false"
                elif k is None:
                    k = "null"
                elif isinstance(k, int):
                    k = int.__repr__(k)
                elif isinstance(k, float):
                    k = _json_float(k).strip('"')
                else:
                    k = str(k)
                if not first:
                    append(",")
                first = False
                append('"' + k.translate(_ESCAPE_TABLE) + '":')
                enc(v)
            append("}")
            active.discard(id(o))
        else:
            enc(str(o))  # default=str

    enc(obj)
    return "".join(out)


def _encode(obj):
    return _json_dumps(obj).encode("utf-8", "replace")


# ---------------------------------------------------------------------------
# Tracebacks without the traceback module (it would preload linecache,
# tokenize, re, ...).

_source_cache = {}


def _source_line(filename, lineno):
    if not filename or filename.startswith("<") or not isinstance(lineno, int):
        return None
    lines = _source_cache.get(filename)
    if lines is None:
        try:
            with open(filename, "rb") as fh:
                lines = fh.read().decode("utf-8", "replace").splitlines()
        except Exception:
            lines = []
        _source_cache[filename] = lines
    if 1 <= lineno <= len(lines):
        return lines[lineno - 1].strip()
    return None


def _exc_type_name(exc):
    t = type(exc)
    name = getattr(t, "__qualname__", t.__name__)
    mod = getattr(t, "__module__", None)
    if isinstance(mod, str) and mod not in ("builtins", "__main__"):
        name = mod + "." + name
    return name


def _exc_message(exc):
    try:
        return str(exc)
    except BaseException:
        return "<exception str() failed>"


def _format_exception(exc):
    """Text like traceback.format_exception(exc), minus the tracer's and
    importlib's own frames."""
    out = []
    seen = set()

    def fmt(e):
        seen.add(id(e))
        cause = getattr(e, "__cause__", None)
        context = getattr(e, "__context__", None)
        if cause is not None and id(cause) not in seen:
            fmt(cause)
            out.append("\nThe above exception was the direct cause of the following exception:\n\n")
        elif (context is not None and id(context) not in seen
              and not getattr(e, "__suppress_context__", False)):
            fmt(context)
            out.append("\nDuring handling of the above exception, another exception occurred:\n\n")
        frames = []
        tb = getattr(e, "__traceback__", None)
        while tb is not None:
            code = tb.tb_frame.f_code
            fn = code.co_filename
            if fn != _SELF_FILE and not fn.startswith("<frozen importlib._bootstrap"):
                frames.append((fn, tb.tb_lineno, code.co_name))
            tb = tb.tb_next
        if frames:
            out.append("Traceback (most recent call last):\n")
            for fn, lineno, func in frames:
                out.append('  File "%s", line %s, in %s\n' % (fn, "?" if lineno is None else lineno, func))
                src = _source_line(fn, lineno)
                if src:
                    out.append("    %s\n" % src)
        msg = _exc_message(e)
        if isinstance(e, SyntaxError):
            out.append('  File "%s", line %s\n' % (e.filename or "<string>", e.lineno))
            if e.text:
                text = e.text.rstrip("\n")
                stripped = text.lstrip()
                out.append("    %s\n" % stripped)
                if isinstance(e.offset, int) and e.offset >= 1:
                    col = e.offset - 1 - (len(text) - len(stripped))
                    out.append("    %s^\n" % (" " * max(col, 0)))
            msg = e.msg or ""
        name = _exc_type_name(e)
        out.append("%s: %s\n" % (name, msg) if msg else "%s\n" % name)
        notes = getattr(e, "__notes__", None)
        if isinstance(notes, (list, tuple)):
            for note in notes:
                out.append("%s\n" % (note,))
        group = getattr(e, "exceptions", None)
        if isinstance(group, tuple) and isinstance(e, BaseException) and type(e).__name__.endswith("ExceptionGroup"):
            for i, sub in enumerate(group, 1):
                if isinstance(sub, BaseException) and id(sub) not in seen:
                    out.append("+---------------- %d ----------------\n" % i)
                    fmt(sub)

    fmt(exc)
    return "".join(out)


def _error_record(exc):
    return {"type": _exc_type_name(exc), "message": _exc_message(exc)}


# ---------------------------------------------------------------------------
# Events.

def _make_context(values, function_name):
    values = dict(values) if isinstance(values, dict) else {}
    budget = values.pop("timeout_ms", None)
    if budget is None:
        budget = values.pop("remaining_time_in_millis", None)
    if not isinstance(budget, (int, float)) or isinstance(budget, bool):
        budget = 900000
    deadline = _perf() + int(budget * 1000000)
    request_id = posix.urandom(16).hex()
    request_id = "%s-%s-%s-%s-%s" % (request_id[:8], request_id[8:12], request_id[12:16],
                                     request_id[16:20], request_id[20:])
    name = values.get("function_name") or function_name
    ctx = _Namespace(
        function_name=name,
        function_version="$LATEST",
        invoked_function_arn="arn:aws:lambda:us-east-1:000000000000:function:%s" % name,
        memory_limit_in_mb="128",
        aws_request_id=request_id,
        log_group_name="/aws/lambda/%s" % name,
        log_stream_name="caios-pack/trace/[$LATEST]%s" % request_id.replace("-", ""),
        identity=None,
        client_context=None,
        tenant_id=None,
    )
    for k, v in values.items():
        setattr(ctx, str(k), v)
    if not callable(getattr(ctx, "get_remaining_time_in_millis", None)):
        ctx.get_remaining_time_in_millis = lambda: max(0, (deadline - _perf()) // 1000000)
    return ctx


class _EventTimeout(BaseException):
    """Raised by SIGALRM in an event run in the tracer's own process."""


def _timeout_message(name, timeout_s):
    return ("event `%s` timed out after %s s (--event-timeout); its process was killed"
            % (name, _fmt_seconds(timeout_s)))


def _fmt_seconds(x):
    return ("%d" % x) if x == int(x) else ("%g" % x)


def _timeout_record(name, timeout_s, ms, in_process=False):
    msg = _timeout_message(name, timeout_s)
    if in_process:
        msg = msg.replace("its process was killed", "interrupted by SIGALRM")
    return {"name": name, "ok": False, "ms": ms, "result": None,
            "error": {"type": "Timeout", "message": msg},
            "traceback": None, "crashed": False, "timed_out": True}


def _raise_timeout(signum, frame):
    raise _EventTimeout()


def _run_event(fn, ev, function_name, in_child, timeout_s=None):
    """Runs one event in this process; returns its record. timeout_s: when
    set (events run without fork), SIGALRM interrupts the handler (only when
    the signal reaches the main thread, i.e. best effort)."""
    name = ev["name"]
    ctx = _make_context(ev.get("context"), function_name)
    before = set(_modules)
    rec = {"name": name, "ok": True, "ms": None, "result": None, "error": None,
           "traceback": None, "crashed": False}
    alarm = None
    if timeout_s and _signal_mod is not None and hasattr(_signal_mod, "setitimer"):
        try:
            alarm = _signal_mod.signal(_signal_mod.SIGALRM, _raise_timeout)
        except (ValueError, OSError):
            alarm = None  # not the main thread
    if _probing[0]:
        _probe_reset()
    _phase[0] = name
    t0 = _perf()
    try:
        if alarm is not None:
            _signal_mod.setitimer(_signal_mod.ITIMER_REAL, timeout_s)
        try:
            result = fn(ev.get("event"), ctx)
        finally:
            if alarm is not None:
                _signal_mod.setitimer(_signal_mod.ITIMER_REAL, 0)
                _signal_mod.signal(_signal_mod.SIGALRM, alarm)
    except BaseException as exc:
        rec["ms"] = (_perf() - t0) / 1e6
        if isinstance(exc, KeyboardInterrupt) and not in_child:
            _phase[0] = None
            raise
        if isinstance(exc, _EventTimeout):
            rec = _timeout_record(name, timeout_s, rec["ms"], in_process=True)
        else:
            rec["ok"] = False
            rec["error"] = _error_record(exc)
            rec["traceback"] = _format_exception(exc)
    else:
        rec["ms"] = (_perf() - t0) / 1e6
        try:
            # What the runtime would send back; str() of odd objects may import.
            rec["result"] = _json_loads(_json_dumps(result))
        except Exception as exc:
            rec["result_error"] = "%s: %s" % (_exc_type_name(exc), _exc_message(exc))
    _drain_logs()
    _diff_sys_modules(before, name)
    _phase[0] = None
    rec["new_modules"] = sum(1 for r in _records if r[1] == name)
    return rec


# Forking from a frame whose module is not __main__: Python 3.12+ warns
# (DeprecationWarning) when forking a process with threads, and the default
# filters show that warning for __main__ only.
_fork_ns = {"__name__": "caios_pack_tracer_fork", "posix": posix}
exec("def fork():\n    return posix.fork()\n", _fork_ns)
_fork = _fork_ns["fork"]


def _thread_count():
    """Threads of this process, native ones included (an OpenMP pool, a
    database engine's workers), where /proc says; else Python's own."""
    try:
        return len(posix.listdir("/proc/self/task"))
    except Exception:
        return _thread._count() + 1


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        n = posix.write(fd, view)
        view = view[n:]


def _message_complete(data):
    head, sep, body = data.partition(b"\n")
    return bool(sep and head.isdigit() and len(body) >= int(head))


def _flush_stdio():
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except Exception:
            pass


def _wait_child(pid, rfd, timeout_s):
    """Collects a child's message (`LENGTH\\nBODY` on rfd, or nothing when rfd
    is None) and its exit status, polling, so that a child that outlives
    timeout_s seconds is killed (SIGKILL). Stops reading at the end of the
    body, so that a grandchild still holding the pipe open cannot block us.
    Returns (data, status, timed_out)."""
    deadline = _real_perf() + int(timeout_s * 1e9)
    data = b""
    eof = rfd is None
    if rfd is not None:
        posix.set_blocking(rfd, False)
    status = None
    delay = 0.0005
    while True:
        while not eof:
            try:
                chunk = posix.read(rfd, 1 << 16)
            except BlockingIOError:
                break
            if not chunk:
                eof = True
                break
            data += chunk
            if _message_complete(data):
                eof = True
        got, st = posix.waitpid(pid, posix.WNOHANG)
        if got == pid:
            status = st
            while not eof:  # everything it wrote is in the pipe by now
                try:
                    chunk = posix.read(rfd, 1 << 16)
                except BlockingIOError:
                    break
                if not chunk:
                    break
                data += chunk
            return data, status, False
        if _real_perf() >= deadline:
            try:
                posix.kill(pid, 9)
            except OSError:
                pass
            _, status = posix.waitpid(pid, 0)
            return data, status, not (rfd is not None and _message_complete(data))
        time.sleep(delay)
        delay = min(delay * 2, 0.02)


def _exit_info(status):
    signal = None
    if posix.WIFSIGNALED(status):
        signal = posix.WTERMSIG(status)
        exit_status = -signal
    elif posix.WIFEXITED(status):
        exit_status = posix.WEXITSTATUS(status)
    else:
        exit_status = status
    return exit_status, signal


def _crashed_record(name, exit_status, signal, elapsed_ms, what="the event's process"):
    how = ("killed by signal %d" % signal) if signal is not None else ("exited with status %d" % exit_status)
    # ms: the child's whole life, as seen from here (a number: readers expect one).
    return {"name": name, "ok": False, "ms": elapsed_ms, "result": None,
            "error": {"type": "Crashed", "message": "%s %s before reporting" % (what, how)},
            "traceback": None, "crashed": True, "exit_status": exit_status, "signal": signal}


def _run_event_forked(fn, ev, function_name, timeout_s):
    """Runs one event in a child forked from the initialised process; returns
    (record, module rows, failed imports, hits, files) as sent back by the child."""
    _flush_stdio()
    rfd, wfd = posix.pipe()
    started = _real_perf()
    pid = _fork()
    if pid == 0:  # child
        code = 0
        try:
            posix.close(rfd)
            n_records, n_failed, n_hits = len(_records), len(_failed), len(_hits)
            n_errors, n_files = len(_tracer_errors), len(_files_order)
            rec = _run_event(fn, ev, function_name, True)
            _stop_tracking()
            payload = {"event": rec,
                       "records": _records[n_records:],
                       "failed": _failed[n_failed:],
                       "hits": list(_hits.items())[n_hits:],
                       "files": [[p, h, _files[(p, h)]] for p, h in _files_order[n_files:]],
                       "tracer_errors": _tracer_errors[n_errors:]}
            try:
                data = _encode(payload)
            except Exception as exc:
                rec["result"] = None
                rec["result_error"] = "%s: %s" % (_exc_type_name(exc), _exc_message(exc))
                data = _encode(payload)
            _write_all(wfd, b"%d\n" % len(data) + data)
        except BaseException as exc:
            code = 70
            try:
                sys.stderr.write("caios-pack tracer: event %r: child failed:\n%s"
                                 % (ev.get("name"), _format_exception(exc)))
            except BaseException:
                pass
        finally:
            _flush_stdio()
            posix._exit(code)
    posix.close(wfd)
    try:
        data, status, timed_out = _wait_child(pid, rfd, timeout_s)
    finally:
        posix.close(rfd)
    elapsed_ms = (_real_perf() - started) / 1e6
    if timed_out:
        return _timeout_record(ev["name"], timeout_s, elapsed_ms), [], [], [], []
    exit_status, signal = _exit_info(status)
    payload = None
    head, sep, body = data.partition(b"\n")
    if sep and head.isdigit() and len(body) == int(head):
        try:
            payload = _json_loads(body.decode("utf-8"))
        except Exception as exc:
            _tracer_error("reading the child's record", exc)
    if payload is None:
        return _crashed_record(ev["name"], exit_status, signal, elapsed_ms), [], [], [], []
    rec = payload["event"]
    if exit_status != 0:
        rec["exit_status"] = exit_status
    _tracer_errors.extend(payload.get("tracer_errors") or [])
    return rec, payload["records"], payload["failed"], payload["hits"], payload.get("files") or []


def _interpreter_args():
    """The flags this interpreter runs with, for a fresh copy of it."""
    args = []
    flags = sys.flags
    for flag, opt in (("isolated", "-I"), ("no_site", "-S"), ("dont_write_bytecode", "-B"),
                      ("ignore_environment", "-E"), ("no_user_site", "-s"), ("safe_path", "-P")):
        if getattr(flags, flag, 0) and not (opt in ("-E", "-s", "-P") and flags.isolated):
            args.append(opt)
    for k, v in getattr(sys, "_xoptions", {}).items():
        args += ["-X", k if v is True else "%s=%s" % (k, v)]
    for w in sys.warnoptions:
        args += ["-W", w]
    return args


def _run_event_fresh(index, ev, cfg_path, out_path, timeout_s, init_ms):
    """Runs one event in a fresh interpreter that repeats init: this script
    with --event-index, which writes a statistics document of its own.
    Returns (record, finished module rows, failed imports as rows, files)."""
    name = ev["name"]
    tmp = "%s.event-%d.json" % (out_path, index)
    exe = sys.executable
    argv = [exe] + _interpreter_args() + [_SELF_FILE, "--config", cfg_path, "--out", tmp,
                                          "--event-index", str(index)]
    # The child repeats init before the event: it gets the event's budget plus
    # twice what init took here (at least 5 s).
    budget = timeout_s + max(5.0, 2 * (init_ms or 0) / 1000.0)
    _flush_stdio()
    started = _real_perf()
    try:
        pid = posix.posix_spawn(exe, argv, posix.environ)
    except Exception as exc:
        rec = {"name": name, "ok": False, "ms": 0.0, "result": None,
               "error": {"type": "SpawnFailed", "message": "cannot start %s: %s" % (exe, _exc_message(exc))},
               "traceback": None, "crashed": True}
        return rec, [], [], []
    _, status, timed_out = _wait_child(pid, None, budget)
    elapsed_ms = (_real_perf() - started) / 1e6
    doc = None
    try:
        with open(tmp, "rb") as fh:
            doc = _json_loads(fh.read().decode("utf-8"))
        posix.unlink(tmp)
    except Exception:
        doc = None
    if timed_out:
        return _timeout_record(name, timeout_s, elapsed_ms), [], [], []
    exit_status, signal = _exit_info(status)
    events = doc.get("events") if isinstance(doc, dict) else None
    if not events:
        what = "the fresh process that repeats init for this event"
        rec = _crashed_record(name, exit_status, signal, elapsed_ms, what)
        if isinstance(doc, dict) and doc.get("init_error"):
            err = doc["init_error"]
            rec["crashed"] = False
            rec["error"] = {"type": err.get("type"), "message": "repeating init for this event failed: %s"
                            % err.get("message")}
            rec["traceback"] = err.get("traceback")
        return rec, [], [], []
    rec = events[0]
    rec["init_ms"] = doc.get("init_ms")
    if exit_status not in (0, 1):
        rec["exit_status"] = exit_status
    _tracer_errors.extend(doc.get("tracer_errors") or [])
    rows = [m for m in doc.get("modules") or () if m.get("phase") == name]
    failed = [f for f in doc.get("failed_imports") or () if f.get("phase") == name]
    files = [[f["path"], f["how"], f["phase"]] for f in doc.get("files") or () if f.get("phase") == name]
    return rec, rows, failed, files


# ---------------------------------------------------------------------------
# Output.

def _us(ns):
    """Nanoseconds to microseconds, rounded up like -X importtime; never
    negative (the statistics format's times are unsigned)."""
    return max(0, -((-int(ns)) // 1000))


def _module_rows(preloaded, records, hits_by_phase):
    all_hits = {}
    for phase, files in hits_by_phase.items():
        for f in files:
            all_hits.setdefault(f, []).append(phase)

    def ran(keys, phase):
        if _tracking[0] == "off":
            return None, None
        if not any(not k.endswith((".so", ".pyd")) for k in keys):
            return None, None  # extension, built-in or namespace package: no Python code to observe
        phases = []
        for k in keys:
            for p in all_hits.get(k, ()):
                if p not in phases:
                    phases.append(p)
        if phase not in ("init", "preloaded"):
            phases = [p for p in phases if p == phase]  # one event's process
        return bool(phases), phases

    init_lines = {}
    for f, line in _init_code:
        init_lines.setdefault(f, set()).add(line)
    init_runs = {}
    for f, importer in _init_runs:
        init_runs.setdefault(f, set()).add(importer)
    rows = []
    for name in preloaded:
        if name == "__main__" or not isinstance(name, str):
            continue
        mod = _modules.get(name)
        file = _module_file(mod)
        keys = _module_keys(name, mod, file)
        functions_ran, ran_in = ran(keys, "preloaded")
        rows.append({"name": name, "file": file, "phase": "preloaded", "self_us": 0, "cumulative_us": 0,
                     "via": "preloaded", "parent": None,
                     "functions_ran": functions_ran, "ran_in": ran_in})
    for name, phase, self_ns, cum_ns, parent, file, keys, via, effects, in_cycle in records:
        functions_ran, ran_in = ran(keys, phase)
        row = {"name": name, "file": file, "phase": phase,
               "self_us": _us(self_ns), "cumulative_us": _us(cum_ns),
               "via": via, "parent": parent,
               "functions_ran": functions_ran, "ran_in": ran_in}
        if phase == "init" and functions_ran is not None:
            row["init_lines"] = sorted(set().union(*(init_lines.get(k, ()) for k in keys)))
            row["init_run_under"] = sorted(set().union(*(init_runs.get(k, ()) for k in keys)))
        if _probing[0]:
            if via == "import":
                row["effects"] = effects if effects is not None else []
                package_effects = _pkg_effects.get(name)
                if package_effects:
                    row["package_effects"] = package_effects
            row["in_cycle"] = bool(in_cycle)
        rows.append(row)
    return rows


def _write_stats(out_path, stats):
    data = _encode(stats) + b"\n"
    tmp = out_path + ".tmp"
    with open(tmp, "wb") as fh:
        fh.write(data)
    posix.replace(tmp, out_path)


def _usage(msg):
    sys.stderr.write("caios-pack tracer: %s\nusage: tracer.py --config CONFIG.json --out STATS.json\n" % msg)
    return 2


def _load_config(path):
    with open(path, "rb") as fh:
        cfg = _json_loads(fh.read().decode("utf-8"))
    if not isinstance(cfg, dict):
        raise ValueError("the configuration is not a JSON object")
    paths = cfg.get("paths", [])
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise ValueError("`paths` must be a list of strings")
    for key in ("handler_module", "handler_function"):
        if not isinstance(cfg.get(key), str) or not cfg[key]:
            raise ValueError("`%s` must be a non-empty string" % key)
    events = cfg.get("events", [])
    if not isinstance(events, list):
        raise ValueError("`events` must be a list")
    for i, ev in enumerate(events):
        if not isinstance(ev, dict) or not isinstance(ev.get("name"), str):
            raise ValueError("events[%d] must be an object with a string `name`" % i)
        if ev["name"] in _RESERVED_PHASES:
            raise ValueError("events[%d]: the name %r is reserved for a phase" % (i, ev["name"]))
        if ev.get("context") is not None and not isinstance(ev["context"], dict):
            raise ValueError("events[%d]: `context` must be an object" % i)
    for key, default in (("fork", True), ("track_calls", False), ("probe", True)):
        if cfg.get(key) is None:
            cfg[key] = default
        elif not isinstance(cfg[key], bool):
            raise ValueError("`%s` must be true or false" % key)
    timeout = cfg.get("event_timeout_s")
    if timeout is None:
        cfg["event_timeout_s"] = 600
    elif isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError("`event_timeout_s` must be a number of seconds greater than 0")
    return cfg


def _absolute(path):
    return path if path.startswith("/") else posix.getcwd() + "/" + path


def main(argv):
    cfg_path = out_path = event_index = None
    args = list(argv[1:])
    while args:
        a = args.pop(0)
        if a in ("--config", "--out", "--event-index") and args:
            if a == "--config":
                cfg_path = args.pop(0)
            elif a == "--out":
                out_path = args.pop(0)
            else:
                event_index = args.pop(0)
        elif a.startswith("--config="):
            cfg_path = a[len("--config="):]
        elif a.startswith("--out="):
            out_path = a[len("--out="):]
        else:
            return _usage("unexpected argument %r" % a)
    if not cfg_path or not out_path:
        return _usage("--config and --out are required")
    cfg_path, out_path = _absolute(cfg_path), _absolute(out_path)  # init may chdir
    try:
        cfg = _load_config(cfg_path)
    except Exception as exc:
        return _usage("%s: %s" % (cfg_path, _exc_message(exc)))
    if event_index is not None:
        # Internal: one event, in this process, after repeating init (the
        # parent's init left threads running, so it could not fork).
        if not event_index.isdigit() or int(event_index) >= len(cfg["events"]):
            return _usage("--event-index %s: no such event" % event_index)
        cfg["events"] = [cfg["events"][int(event_index)]]
        cfg["fork"] = False
    if cfg["fork"] and not hasattr(posix, "fork"):
        return _usage("fork is not available on this platform; set \"fork\": false")

    # sys.path: the unit's paths, then the interpreter's own entries.
    self_dir = _SELF_FILE.rpartition("/")[0] if "/" in _SELF_FILE else ""
    rest = [p for p in sys.path if p not in cfg["paths"] and p != self_dir and p != ""]
    sys.path[:] = list(cfg["paths"]) + rest
    _roots[0] = tuple(p.rstrip("/") + "/" for p in cfg["paths"] if p.startswith("/"))
    sys.addaudithook(_audit_hook)

    module_name, function_name = cfg["handler_module"], cfg["handler_function"]
    timeout_s = cfg["event_timeout_s"]
    stats = {"format": _FORMAT, "version": 1, "source": "trace",
             "python": "%d.%d.%d" % tuple(sys.version_info[:3]),
             "handler": "%s.%s" % (module_name, function_name),
             "tracking": "off", "fork": cfg["fork"], "event_timeout_s": timeout_s, "init_ms": None,
             "events": [], "modules": [], "failed_imports": [], "files": []}

    preloaded = list(_modules)
    before = set(preloaded)
    for name in preloaded:
        if isinstance(name, str):
            mod = _modules.get(name)
            _finished.update(_module_keys(name, mod, _module_file(mod)))
    if cfg["track_calls"]:
        inner = _tracked_find_and_load
        _start_tracking()
    else:
        inner = _timed_find_and_load
    if cfg["probe"]:
        _probe_setup(inner)
        stats["probe"] = 1
    else:
        _bootstrap._find_and_load = inner
    stats["tracking"] = _tracking[0]

    exit_code = 0
    handler = None
    if cfg["probe"]:
        _probe_reset()
    # Init runs with the cyclic collector paused, as caios_entry runs it in
    # the package (docs/runtime.md): collections are not import time the
    # package pays, so they must not inflate the self times the model uses.
    gc = _bootstrap._gcd_import("gc")
    gc_paused = gc.isenabled()
    if gc_paused:
        gc.disable()
    _phase[0] = "init"
    t0 = _perf()
    try:
        try:
            module = _bootstrap._gcd_import(module_name)
        finally:
            if gc_paused and not gc.isenabled():
                gc.freeze()
                gc.enable()
    except BaseException as exc:
        stats["init_ms"] = (_perf() - t0) / 1e6
        _phase[0] = None
        if isinstance(exc, KeyboardInterrupt):
            raise
        text = _format_exception(exc)
        stats["init_error"] = dict(_error_record(exc), traceback=text)
        sys.stderr.write(text)
        exit_code = 3
    else:
        stats["init_ms"] = (_perf() - t0) / 1e6
        _phase[0] = None
        try:
            handler = getattr(module, function_name)
        except AttributeError:
            handler = None
        if not callable(handler):
            what = "no attribute" if handler is None else "attribute (not callable)"
            msg = "module %r has %s %r" % (module_name, what, function_name)
            stats["init_error"] = {"type": "HandlerNotFound", "message": msg, "traceback": None}
            sys.stderr.write("caios-pack tracer: %s\n" % msg)
            handler = None
            exit_code = 4
    _drain_logs()
    _diff_sys_modules(before, "init")

    hits_by_phase = {}
    rows_extra = []
    rows_done = []    # rows built by a fresh process (_run_event_fresh)
    failed_done = []
    fork = cfg["fork"]
    if handler is not None and fork and cfg["events"]:
        threads = _thread_count()
        if threads > 1:
            # A forked child has only the forking thread: any lock another
            # thread held (the import lock, a pool's queue, malloc's) stays
            # held forever, and work handed to a pool never runs.
            fork = False
            stats["fork"] = False
            stats["fork_reason"] = ("init left %d threads running; each event ran in a fresh process "
                                    "that repeated init instead of a forked child" % threads)
            stats["threads_after_init"] = threads
    if handler is not None:
        for index, ev in enumerate(cfg["events"]):
            files = []
            if fork:
                rec, records, failed, hits, files = _run_event_forked(handler, ev, module_name, timeout_s)
                rows_extra.extend(records)
                _failed.extend(failed)
                for f, phase in hits:
                    hits_by_phase.setdefault(phase, set()).add(f)
            elif cfg["fork"]:
                rec, rows, failed, files = _run_event_fresh(index, ev, cfg_path, out_path, timeout_s,
                                                            stats["init_ms"])
                rows_done.extend(rows)
                failed_done.extend(failed)
            else:
                rec = _run_event(handler, ev, module_name, False, timeout_s)
            for path, how, phase in files:
                if (path, how) not in _files:
                    _files[(path, how)] = phase
                    _files_order.append((path, how))
            if not rec.get("ok"):
                exit_code = 1
                if rec.get("timed_out") and event_index is None:  # else the parent says it
                    sys.stderr.write("caios-pack tracer: %s\n" % rec["error"]["message"])
            stats["events"].append(rec)

    _stop_tracking()
    _bootstrap._find_and_load = _orig_find_and_load
    _probe_teardown()
    _drain_logs()  # imports that background threads finished late
    for f, phase in _hits.items():
        if phase is not None:
            hits_by_phase.setdefault(phase, set()).add(f)
    stats["modules"] = _module_rows([n for n in preloaded], _records + rows_extra, hits_by_phase) + rows_done
    stats["failed_imports"] = [
        {"name": f["name"], "phase": f["phase"], "self_us": _us(f["self_ns"]),
         "cumulative_us": _us(f["cum_ns"]), "parent": f["parent"],
         "error": f["error"]}
        for f in _failed] + failed_done
    stats["files"] = _file_rows()
    stats["imports_timed"] = _counters["imports"]
    if _tracer_errors:
        stats["tracer_errors"] = _tracer_errors
    _write_stats(out_path, stats)
    return exit_code


if __name__ == "__main__":
    _flush_stdio()
    _code = main(sys.argv)
    _flush_stdio()
    # Not sys.exit: a non-daemon thread started by the handler would keep the
    # interpreter (and `caios-pack trace`) waiting forever; Lambda never exits
    # a sandbox either, so atexit handlers are not part of what is traced.
    posix._exit(_code)
