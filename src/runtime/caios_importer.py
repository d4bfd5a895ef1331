"""caios-pack runtime importer.

Shipped inside the deployment zip next to ``caios_entry.py`` and
``caios_catalogue.json`` (docs/runtime.md). It puts one ``MetaPathFinder``
first on ``sys.meta_path``; the finder answers, from the catalogue, for every
module the plan placed somewhere (O(1) dict lookup) and lets every other name
fall through to the normal finders:

* ``local``: the module loads from the task root (``/var/task``);
* ``efs``:   from the EFS mount (``efs_root``, env ``CAIOS_EFS_ROOT``);
* ``s3``:    from ``/tmp/caios/<sha256>/`` (env ``CAIOS_TMP`` for the base):
  the bundle holding it is downloaded from S3 when the module is *loaded*
  (not when it is merely probed with ``importlib.util.find_spec``), its
  SHA-256 is checked against the bundle id, and it is extracted into a
  private folder that is then renamed into place.

``lazy`` modules get ``_LazyLoader`` (their S3 bundle, too, is fetched only
when the module body really runs): importlib.util.LazyLoader's semantics, but a
module that replaces its own ``sys.modules`` entry keeps working (the lazy
object forwards to the replacement) and a body that raises when it finally
runs is run once more, with a warning on stderr, before the error surfaces. ``asset_path(name)`` returns a
real path for an asset on any tier. ``start_prefetch()`` fetches the plan's
prefetch bundles in a few background threads; an import that needs a bundle
being prefetched waits for it. ``emf_line()`` is the one CloudWatch EMF line
per cold start (docs/stats.md, section 3).

Stdlib only at import time; boto3 is imported on the first S3 fetch.
Python 3.9 to 3.13.

For tests and ``caios-pack verify`` only, env ``CAIOS_BUNDLE_DIR`` names a
local folder (a package output's ``s3/``) that holds the bundles as
``<sha256>.zip``: they are read from there instead of S3, with the same
SHA-256 and size check and the same extraction into ``CAIOS_TMP``; boto3 is
not imported then. Never set it on Lambda.
"""

import _imp
import _thread
import marshal
import os
import sys
import time
from importlib.machinery import (
    EXTENSION_SUFFIXES,
    ExtensionFileLoader,
    ModuleSpec,
    PathFinder,
    SourceFileLoader,
    SourcelessFileLoader,
)
# What importlib.util re-exports, without the modules it imports
# (contextlib, importlib._abc: ~0.7 ms of every cold start); threading is
# imported only to start threads (S3 fetches), _thread gives the locks.
from importlib._bootstrap_external import MAGIC_NUMBER, spec_from_file_location

__all__ = [
    "install", "uninstall", "installed", "asset_path", "start_prefetch", "wait_prefetch",
    "CaiosError", "BundleError", "UnknownAssetError", "AssetUnavailableError",
]

CATALOGUE_FORMAT = "caios-pack-catalogue"
CATALOGUE_VERSION = 1
TIERS = ("local", "efs", "s3")
DEFAULT_TMP = "/tmp/caios"

# Fetch defaults (the catalogue's "fetch" object overrides them).
DEFAULT_TIMEOUT_S = 2.0       # botocore connect and read timeout, per attempt
DEFAULT_RETRIES = 3           # attempts after the first one
DEFAULT_BACKOFF_S = 0.2       # sleep before retry n: backoff_s * 2**(n-1)
DEFAULT_TOTAL_S = 8.0         # whole fetch of one bundle (+ size / 25 MB/s), see _budget
MIN_RATE = 25e6               # bytes/s a big bundle is granted on top of DEFAULT_TOTAL_S
MEMORY_SINK_MAX = 8 << 20     # bundles up to this size are downloaded into memory
CHUNK = 256 << 10
FAILURE_TTL_S = 10.0          # a transient fetch failure is re-raised, not retried, this long
CLIENT_WAIT_S = 30.0           # last resort against a wait cycle around the S3 client
EXTRACT_MARGIN_S = 60.0       # a waiting thread gives the fetching one this much beyond its budget
EMF_MAX_CHARS = 240000        # CloudWatch Logs events are at most 256 KB

# The S3 client's packages. None of them is ever loaded from the s3 tier, and
# nothing they import is (optional dependencies such as awscrt or certifi):
# that would need the S3 client while it is being imported, a deadlock. Such
# imports fall through to the normal finders (on Lambda: /var/runtime). The
# catalogue's "s3_client_packages" (the client's import closure over the
# unit, computed by caios-pack, optional imports included) extends the set.
MACHINERY = frozenset(("boto3", "botocore", "s3transfer", "urllib3", "jmespath", "dateutil",
                       "six"))

_perf = time.perf_counter_ns
_mono = time.monotonic
_DEBUG = os.environ.get("CAIOS_DEBUG", "") not in ("", "0")


def _debug(msg):
    if _DEBUG:
        try:
            sys.stderr.write("caios: %s\n" % msg)
        except Exception:
            pass


_warned = set()


def _warn_once(key, msg):
    if key in _warned:
        return
    _warned.add(key)
    try:
        sys.stderr.write("caios: warning: %s\n" % msg)
    except Exception:
        pass


class CaiosError(Exception):
    """Base class of the importer's own errors (bad catalogue, not installed)."""


class BundleError(CaiosError):
    """An S3 bundle could not be made available. ``reason`` says why;
    ``permanent`` errors (missing key, hash mismatch, unsafe zip, no space)
    are not retried for the rest of the process."""

    def __init__(self, reason, permanent=True):
        CaiosError.__init__(self, reason)
        self.reason = reason
        self.permanent = permanent


class UnknownAssetError(KeyError):
    """``asset_path`` was asked for a name the catalogue does not list."""

    def __str__(self):
        return str(self.args[0]) if self.args else ""


class AssetUnavailableError(OSError):
    """A catalogued asset could not be made available (S3 fetch failed, EFS file missing)."""


class _Transient(Exception):
    """One S3 attempt failed in a way worth retrying."""


# ---------------------------------------------------------------------------
# Statistics


class _Stats:
    """Per-module rows and per-tier totals for the cold-start EMF line.

    Timing brackets the loader's exec_module (and create_module for
    extensions) of every module the finder placed: cumulative = wall time of
    the load, including nested imports and waiting for S3; self = cumulative
    minus nested catalogue modules' loads and minus time spent waiting for S3
    bundles. Imports the finder does not answer for (the stdlib) count in
    their importer's self time."""

    def __init__(self):
        self.phase = "init"           # "init", "invocation", or None (stopped)
        self.rows = {}                # name -> [tier, self_ns, cum_ns, phase]
        self.order = []
        self.count = dict.fromkeys(TIERS, 0)
        self.nbytes = dict.fromkeys(TIERS, 0)
        self.self_ns = dict.fromkeys(TIERS, 0)
        self.s3_fetch_ns = 0          # sum of bundle fetch durations (download, verify, extract)
        self.s3_wait_ns = 0           # time imports / asset_path calls were blocked on S3
        self.s3_client_ns = 0         # importing boto3 and creating the client (once)
        self.s3_bytes = 0
        self.fetched = []             # object names of bundles fetched
        self.assets = {}              # asset name -> tier
        self.lazy_pending = set()
        self.lock = _thread.allocate_lock()
        self.tls = _thread._local()

    def _stack(self):
        try:
            return self.tls.stack
        except AttributeError:
            st = self.tls.stack = []
            return st

    def begin(self):
        fr = [0, 0]                   # [nested load time, own S3 wait]
        self._stack().append(fr)
        return fr

    def end(self, fr, t0):
        """Close a frame; returns (self_ns, cum_ns)."""
        cum = _perf() - t0
        st = self._stack()
        if st and st[-1] is fr:
            st.pop()
        if st:
            st[-1][0] += cum
        return max(0, cum - fr[0] - fr[1]), cum

    def add_wait(self, ns):
        st = self._stack()
        if st:
            st[-1][1] += ns
        with self.lock:
            self.s3_wait_ns += ns

    def record(self, name, tier, self_ns, cum_ns):
        phase = self.phase
        if phase is None:
            return
        with self.lock:
            row = self.rows.get(name)
            if row is None:
                self.rows[name] = [tier, self_ns, cum_ns, phase]
                self.order.append(name)
                self.count[tier] += 1
            else:                     # e.g. importlib.reload: add the time
                row[1] += self_ns
                row[2] += cum_ns
            self.self_ns[tier] += self_ns
            self.lazy_pending.discard(name)

    def add_bytes(self, tier, n):
        if self.phase is not None:
            self.nbytes[tier] += n

    def add_fetch(self, name, size, ns):
        with self.lock:
            if self.phase is not None:
                self.s3_fetch_ns += ns
                self.s3_bytes += size
                self.fetched.append(name)


def _us(ns):
    return int(ns // 1000)


def _ms(ns):
    return round(ns / 1e6, 1)


# ---------------------------------------------------------------------------
# Loaders: the stdlib file loaders plus timing, byte counting and, for S3,
# fetching the bundle right before the module body runs.


def _timed_load(loader, step, arg):
    """step(arg) for the loader's module, timed for the EMF statistics: its S3
    bundle is fetched first (if any), and its own file missing becomes an
    ImportError that names the tier. Returns (step's result, (self_ns, cum_ns))."""
    imp, tier, sha = loader._caios
    stats = imp.stats
    fr = stats.begin()
    t0 = _perf()
    try:
        if sha is not None:
            imp._ensure_for_module(sha, loader.name)
        try:
            result = step(arg)
        except FileNotFoundError as e:
            if e.filename != loader.path:
                raise
            raise ImportError(imp._missing_file_message(loader.name, tier, loader.path),
                              name=loader.name, path=loader.path) from e
    finally:
        span = stats.end(fr, t0)
    return result, span


class _TimedLoaderMixin:
    _caios = None                     # (importer, tier, bundle sha or None)

    def exec_module(self, module):
        _, span = _timed_load(self, super().exec_module, module)
        imp, tier, _ = self._caios
        imp.stats.record(self.name, tier, *span)

    def get_data(self, path):
        data = super().get_data(path)
        imp, tier, _ = self._caios
        imp.stats.add_bytes(tier, len(data))
        return data

    def set_data(self, path, data, *, _mode=0o666):
        # No __pycache__ writes: /var/task is read-only, EFS writes cost
        # latency on every cold start and /tmp is used once. Ship .pyc files.
        return None


# The .pyc caios-pack ships next to a local module's source: unchecked-hash
# (PEP 552), compiled by the target interpreter. Read as-is, it needs neither
# the stat of the source nor the path arithmetic of the stdlib's SourceLoader.
_PYC_TAG = sys.implementation.cache_tag
_MAGIC = MAGIC_NUMBER
_UNCHECKED_HASH = b"\x01\x00\x00\x00"


def _pyc_path(source_path):
    """Where the stdlib would look for source_path's .pyc, or None when the
    interpreter is configured to look elsewhere (-O, PYTHONPYCACHEPREFIX)."""
    if (_PYC_TAG is None or sys.flags.optimize or sys.pycache_prefix
            or not source_path.endswith(".py")):
        return None
    head, _, tail = source_path.rpartition("/")
    return head + "/__pycache__/" + tail[:-3] + "." + _PYC_TAG + ".pyc"


class _SourceLoader(_TimedLoaderMixin, SourceFileLoader):
    _pyc = None                       # set by the finder when it may read a shipped .pyc

    def get_code(self, fullname):
        pyc = self._pyc
        if pyc is not None and _imp.check_hash_based_pycs != "always":
            try:
                with open(pyc, "rb") as f:
                    data = f.read()
            except OSError:
                data = b""
            # Anything but an unchecked-hash pyc for this interpreter goes the
            # stdlib's way (which checks timestamps and hashes).
            if data[:4] == _MAGIC and data[4:8] == _UNCHECKED_HASH:
                self._caios[0].stats.add_bytes(self._caios[1], len(data))
                code = marshal.loads(memoryview(data)[16:])
                _imp._fix_co_filename(code, self.path)
                return code
        return super().get_code(fullname)


class _BytecodeLoader(_TimedLoaderMixin, SourcelessFileLoader):
    pass


class _ExtensionLoader(ExtensionFileLoader):
    _caios = None
    _created = (0, 0)

    def create_module(self, spec):
        module, self._created = _timed_load(self, self._create_counted, spec)
        return module

    def _create_counted(self, spec):
        size = os.stat(self.path).st_size
        module = super().create_module(spec)
        imp, tier, _ = self._caios
        imp.stats.add_bytes(tier, size)
        return module

    def exec_module(self, module):
        # The bundle is in place since create_module: ensuring it again is a
        # dict lookup.
        _, (s, c) = _timed_load(self, super().exec_module, module)
        cs, cc = self._created
        imp, tier, _ = self._caios
        imp.stats.record(self.name, tier, s + cs, c + cc)


# ---------------------------------------------------------------------------
# Lazy modules: importlib.util.LazyLoader's idea (the module object is created
# at import, its body runs on first attribute access), with two differences
# that keep a wrong guess from breaking the function: a module that replaces
# its own sys.modules entry while it runs (a deprecation wrapper, apipkg) is
# reached through the lazy object, which then forwards to the replacement; a
# body that raises is retried once from a clean namespace before the error
# surfaces. The plan never marks lazy what the tracer saw touch anything
# outside its own namespace; this is the second line of defence.

_ModuleType = type(sys)
_forward = {}                 # id(lazy module) -> (lazy module, its replacement)


class _LazyLoader:
    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        module.__spec__.loader = self.loader
        module.__loader__ = self.loader
        module.__spec__.loader_state = {
            "dict": module.__dict__.copy(), "class": module.__class__,
            "lock": _thread.RLock(), "running": False}
        module.__class__ = _LazyModule


def _run_lazy_body(module, spec, state):
    """Runs a lazy module's body in place (caller holds state["lock"])."""
    name = spec.name
    before = state["dict"]
    d = object.__getattribute__(module, "__dict__")
    # Attributes set on the lazy object before it ran (submodules bound by
    # the import system) survive the body, as with LazyLoader.
    updated = {k: v for k, v in d.items() if k not in before or v is not before[k]}
    try:
        spec.loader.exec_module(module)
    except Exception as first:
        sys.stderr.write("caios: lazy module %r raised %s: %s when it ran; running it once more "
                         "from a clean namespace\n" % (name, type(first).__name__, first))
        d.clear()
        d.update(before)
        try:
            spec.loader.exec_module(module)
        except Exception:
            # As an eager import would leave it: not run again at every
            # attribute access.
            if object.__getattribute__(module, "__class__") is _LazyModule:
                module.__class__ = state["class"]
            raise first from None
    d.update(updated)
    if object.__getattribute__(module, "__class__") is _LazyModule:
        module.__class__ = state["class"]
    current = sys.modules.get(name)
    if current is not None and current is not module:
        _forward[id(module)] = (module, current)
        module.__class__ = _ForwardingModule


def _load_lazy(module):
    spec = object.__getattribute__(module, "__spec__")
    state = spec.loader_state
    with state["lock"]:
        if object.__getattribute__(module, "__class__") is not _LazyModule or state["running"]:
            return False
        state["running"] = True
        try:
            _run_lazy_body(module, spec, state)
        finally:
            state["running"] = False
    return True


class _LazyModule(_ModuleType):
    """A module whose body has not run yet."""

    def __getattribute__(self, attr):
        _load_lazy(self)
        if object.__getattribute__(self, "__class__") is _LazyModule:
            # Its own body is running (it reads itself through sys.modules).
            return _ModuleType.__getattribute__(self, attr)
        return getattr(self, attr)

    def __delattr__(self, attr):
        _load_lazy(self)
        delattr(self, attr)


class _ForwardingModule(_ModuleType):
    """A lazy module whose body replaced its sys.modules entry: everything but
    its own type and namespace is read from (and written to) the replacement,
    which is what `import` would have bound had the module run eagerly. A
    replacement that wraps this very object (zope.deferredimport's
    ModuleProxy, cryptography's deprecation wrapper) reads back through it:
    such a read, re-entering on the same thread, gets the module's own
    namespace instead of going round forever."""

    def __getattribute__(self, attr):
        if attr in ("__class__", "__dict__"):
            return object.__getattribute__(self, attr)
        return _forwarded(self, getattr, attr)

    def __setattr__(self, attr, value):
        _forwarded(self, setattr, attr, value)

    def __delattr__(self, attr):
        _forwarded(self, delattr, attr)

    def __dir__(self):
        return _forwarded(self, lambda target: dir(target))

    def __repr__(self):
        return _forwarded(self, repr)


_forwarding = _thread._local()


def _forwarded(module, op, *args):
    """op(replacement, *args), or op on the module itself when this thread is
    already forwarding for it (the replacement reads back through it)."""
    active = getattr(_forwarding, "ids", None)
    if active is None:
        active = _forwarding.ids = set()
    key = id(module)
    if key in active:
        if op is getattr:
            return _ModuleType.__getattribute__(module, *args)
        if op is setattr:
            return _ModuleType.__setattr__(module, *args)
        if op is delattr:
            return _ModuleType.__delattr__(module, *args)
        return op(_ModuleType.__getattribute__(module, "__dict__"), *args)
    active.add(key)
    try:
        return op(_forward[key][1], *args)
    finally:
        active.discard(key)


_FILE_SUFFIXES = tuple([".py", ".pyc"] + list(EXTENSION_SUFFIXES))


def _loader_class(path, kind):
    if path.endswith(".py"):
        return _SourceLoader
    if path.endswith(".pyc"):
        return _BytecodeLoader
    for suffix in EXTENSION_SUFFIXES:
        if path.endswith(suffix):
            return _ExtensionLoader
    return {"source": _SourceLoader, "bytecode": _BytecodeLoader,
            "extension": _ExtensionLoader}.get(kind, _SourceLoader)


# ---------------------------------------------------------------------------
# The finder


class CaiosFinder:
    """First entry of sys.meta_path. Answers for catalogued modules only."""

    def __init__(self, importer):
        self._imp = importer
        self._modules = importer.modules

    def __repr__(self):
        return "<caios_importer.CaiosFinder %d modules>" % len(self._modules)

    def find_spec(self, fullname, path=None, target=None):
        entry = self._modules.get(fullname)
        if entry is None:
            return None
        if self._imp._shadowed(fullname, entry, path):
            return None
        return self._imp._spec_for(fullname, entry)

    def invalidate_caches(self):
        pass

    def find_distributions(self, context=None):
        return self._imp._find_distributions(context)


# ---------------------------------------------------------------------------
# The importer


class _BundleState:
    __slots__ = ("lock", "path", "error", "error_at")

    def __init__(self):
        self.lock = _thread.allocate_lock()
        self.path = None
        self.error = None
        self.error_at = 0.0


def _as_dict(value, what):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CaiosError("caios: catalogue field %r must be an object, not %s"
                         % (what, type(value).__name__))
    return value


def _is_sha256(s):
    if not isinstance(s, str) or len(s) != 64:
        return False
    try:
        int(s, 16)
    except ValueError:
        return False
    return s == s.lower()


def _safe_member(name):
    """A zip member name that stays inside the extraction folder."""
    if not name or "\x00" in name or name.startswith(("/", "\\")):
        return False
    if len(name) > 1 and name[1] == ":":          # C:... (a Windows drive)
        return False
    for part in name.replace("\\", "/").split("/"):
        if part == "..":
            return False
    return True


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


class Importer:
    """State of the runtime importer: the catalogue, tier roots, bundles and stats."""

    def __init__(self, catalogue, task_root, catalogue_path=None):
        if not isinstance(catalogue, dict):
            raise CaiosError("caios: %s: the catalogue must be a JSON object" % catalogue_path)
        fmt, ver = catalogue.get("format"), catalogue.get("version")
        if fmt != CATALOGUE_FORMAT or ver != CATALOGUE_VERSION:
            raise CaiosError(
                "caios: %s: format %r version %r is not a caios-pack catalogue this importer "
                "reads (%r version %d); package the function again with the same caios-pack"
                % (catalogue_path, fmt, ver, CATALOGUE_FORMAT, CATALOGUE_VERSION))
        env = os.environ
        self.catalogue_path = catalogue_path
        self.handler = catalogue.get("handler") or "handler.handler"
        self.task_root = os.path.abspath(task_root)
        self.modules = _as_dict(catalogue.get("modules"), "modules")
        self.files = _as_dict(catalogue.get("files"), "files")
        self.bundles = _as_dict(catalogue.get("bundles"), "bundles")
        self.distributions = _as_dict(catalogue.get("distributions"), "distributions")
        client = catalogue.get("s3_client_packages") or ()
        self.machinery = MACHINERY | frozenset(n for n in client if isinstance(n, str))
        efs_root = env.get("CAIOS_EFS_ROOT") or catalogue.get("efs_root")
        self.efs_root = os.path.abspath(efs_root) if efs_root else None
        self._efs_ok = False
        s3 = _as_dict(catalogue.get("s3"), "s3")
        self.bucket = env.get("CAIOS_BUCKET") or s3.get("bucket")
        self.catalogue_prefix = s3.get("prefix") or ""
        self.prefix = env.get("CAIOS_PREFIX", self.catalogue_prefix)
        self.region = s3.get("region") or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
        self.endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or None
        self.tmp_base = os.path.abspath(env.get("CAIOS_TMP") or DEFAULT_TMP)
        fetch = _as_dict(catalogue.get("fetch"), "fetch")
        self.timeout_s = float(fetch.get("timeout_s", DEFAULT_TIMEOUT_S))
        self.retries = max(0, int(fetch.get("retries", DEFAULT_RETRIES)))
        self.backoff_s = max(0.0, float(fetch.get("backoff_s", DEFAULT_BACKOFF_S)))
        self.prefetch_connections = max(1, int(fetch.get("prefetch_connections", 3)))
        total = fetch.get("total_s")
        self.total_s = float(total) if total is not None else None
        prefetch = catalogue.get("prefetch") or []
        seen = set()
        self.prefetch = []
        for sha in list(prefetch) + sorted(k for k, b in self.bundles.items()
                                           if isinstance(b, dict) and b.get("prefetch")):
            if sha in self.bundles and sha not in seen:
                seen.add(sha)
                self.prefetch.append(sha)
        self.stats = _Stats()
        self.finder = CaiosFinder(self)
        self._states = {}
        self._states_lock = _thread.allocate_lock()
        self._client = None
        self._client_lock = _thread.allocate_lock()
        self._tls = _thread._local()
        self._base_ready = False
        self._space_lock = _thread.allocate_lock()
        self._reserved = 0             # /tmp bytes claimed by fetches in progress
        self._prefetch_threads = []
        self._init_ns = None
        self._emitted = False

    # -- tier roots -------------------------------------------------------

    def _efs(self, who):
        root = self.efs_root
        if self._efs_ok:
            return root
        if not root:
            raise ImportError("caios: %s is on the efs tier but the catalogue has no efs_root and "
                              "CAIOS_EFS_ROOT is not set" % who)
        if not os.path.isdir(root):
            raise ImportError(
                "caios: %s is on the efs tier but %s does not exist: mount the function's EFS "
                "access point there (FileSystemConfigs LocalMountPath) and populate it with "
                "`caios-pack efs-sync`, or set CAIOS_EFS_ROOT to where the tree is" % (who, root))
        self._efs_ok = True
        return root

    def bundle_dir(self, sha):
        return self.tmp_base + "/" + sha

    def bundle_key(self, sha):
        meta = self.bundles.get(sha) or {}
        key = meta.get("key") if isinstance(meta, dict) else None
        if not key:
            return self.prefix + sha + ".zip"
        old = self.catalogue_prefix
        if self.prefix != old and old and key.startswith(old):
            return self.prefix + key[len(old):]
        return key

    def _s3_url(self, sha):
        local = os.environ.get("CAIOS_BUNDLE_DIR")
        if local:                      # the local bundle source of tests and `verify`
            return os.path.join(local, sha + ".zip")
        return "s3://%s/%s" % (self.bucket, self.bundle_key(sha))

    def _missing_file_message(self, name, tier, path):
        hint = {"local": "the deployment zip is incomplete; package the function again",
                "efs": "run `caios-pack efs-sync` for this build",
                "s3": "the bundle does not contain it; package and upload again"}.get(tier, "")
        return "caios: module %r (%s tier) should be at %s but that file does not exist: %s" % (
            name, tier, path, hint)

    # -- finder support -----------------------------------------------------

    def _spec_for(self, fullname, entry):
        tier = entry.get("tier")
        sha = None
        if tier == "local":
            root = self.task_root
        elif tier == "efs":
            root = self._efs("module %r" % fullname)
        elif tier == "s3":
            sha = entry.get("bundle")
            if sha not in self.bundles:
                raise ImportError("caios: catalogue error: module %r is on the s3 tier in bundle "
                                  "%r, which is not in the catalogue's bundles" % (fullname, sha),
                                  name=fullname)
            root = self.bundle_dir(sha)
            st = self._states.get(sha)
            if st is not None and st.path is not None:
                sha = None            # already extracted: a plain file load
            elif self._for_machinery(fullname):
                _debug("%s: not from S3 while the S3 client imports" % fullname)
                return None
        else:
            raise ImportError("caios: catalogue error: module %r has unknown tier %r"
                              % (fullname, tier), name=fullname)
        rel = entry.get("path") or ""
        full = root + "/" + rel if rel else root
        kind = entry.get("kind")
        if kind == "namespace" or (entry.get("package") and not full.endswith(_FILE_SUFFIXES)):
            spec = ModuleSpec(fullname, None, is_package=True)
            spec.submodule_search_locations = [full]
            if fullname not in self.stats.rows:
                self.stats.record(fullname, tier, 0, 0)
            _debug("%s -> namespace %s (%s)" % (fullname, full, tier))
            return spec
        cls = _loader_class(full, kind)
        loader = cls(fullname, full)
        loader._caios = (self, tier, sha)
        if entry.get("package"):
            search = [os.path.dirname(full)]
        else:
            search = None
        spec = spec_from_file_location(
            fullname, full, loader=loader, submodule_search_locations=search)
        if cls is _SourceLoader:
            pyc = _pyc_path(full)
            if pyc is not None:
                loader._pyc = pyc
                spec.cached = pyc     # or the stdlib computes it again for __cached__
        if entry.get("lazy") and cls is not _ExtensionLoader:
            spec.loader = _LazyLoader(loader)
            if self.stats.phase is not None:
                self.stats.lazy_pending.add(fullname)
        _debug("%s -> %s (%s%s)" % (fullname, full, tier, ", lazy" if entry.get("lazy") else ""))
        return spec

    def _shadowed(self, fullname, entry, path):
        """Would the path-based search find ``fullname`` somewhere else first?

        The catalogue stands for the folder the module was installed in: the
        task root for a top-level name, its package's folder for a submodule
        (on any tier: those folders are *virtual* entries). A search-path
        entry ahead of them that holds the name wins over the catalogue, as
        it would without caios-pack; so does a folder inside one of the
        importer's own trees found after them — a package that puts its
        binary folder on sys.path and imports its own name again (opencv's
        cv2 inserts it at index 1, after the task root, when the package is
        not in the task root itself). The finder then steps aside and the
        normal finders load what that entry holds."""
        search = sys.path if path is None else path
        rel = entry.get("path") or ""
        folder = rel.rpartition("/")[0]
        if entry.get("package") and rel.endswith(_FILE_SUFFIXES):
            folder = folder.rpartition("/")[0]
        try:
            entries = list(search)
        except TypeError:
            return False
        real = self._real_folder(entry, folder)
        past_virtual = False
        for p in entries:
            if not isinstance(p, str):
                continue
            if not p:
                try:
                    p = os.getcwd()       # '' is the current folder, not /
                except OSError:
                    continue
            p = p.rstrip("/") or "/"
            if p == real:
                return False
            if self._is_virtual_folder(p, folder):
                past_virtual = True
                continue
            if past_virtual and not self._in_own_package(p, entry, fullname):
                continue
            try:
                found = PathFinder.find_spec(fullname, [p])
            except (ImportError, OSError, ValueError):
                found = None
            # A plain folder of that name only makes a namespace portion,
            # which never beats a regular module found later on the path.
            if found is not None and found.loader is not None:
                _debug("%s: found in %s, ahead of the catalogue" % (fullname, p))
                return True
        return False

    def _real_folder(self, entry, folder):
        """The folder that holds a catalogued module at run time, or None."""
        tier = entry.get("tier")
        if tier == "local":
            root = self.task_root
        elif tier == "efs":
            root = self.efs_root
        elif tier == "s3" and entry.get("bundle") in self.bundles:
            root = self.bundle_dir(entry.get("bundle"))
        else:
            return None
        if not root:
            return None
        return root + "/" + folder if folder else root

    def _is_virtual_folder(self, p, folder):
        """Is search-path entry ``p`` the folder ``folder`` (relative to a tier
        root) on one of this importer's tiers?"""
        roots = [self.task_root]
        if self.efs_root:
            roots.append(self.efs_root)
        for root in roots:
            if p == (root + "/" + folder if folder else root):
                return True
        base = self.tmp_base + "/"
        if p.startswith(base):
            sha, _, rest = p[len(base):].partition("/")
            return sha in self.bundles and rest == folder
        return False

    def _in_own_package(self, p, entry, fullname):
        """Is ``p`` a folder inside the package's own folder (cv2's binary
        folder, ``<root>/cv2/python-3.11``) on the tier that holds it?"""
        real = self._real_folder(entry, "")
        if not real:
            return False
        top = fullname.partition(".")[0]
        return p.startswith(real + "/" + top + "/") or p == real + "/" + top

    def _for_machinery(self, fullname):
        """Is this import the S3 client's own (fetching would need the client)?"""
        machinery = self.machinery
        if fullname.partition(".")[0] in machinery or getattr(self._tls, "machinery", False):
            return True
        try:
            f = sys._getframe(2)
        except (AttributeError, ValueError):
            return False
        while f is not None:
            name = f.f_globals.get("__name__")
            # Frames: only the client's own packages (the catalogue's wider
            # closure may hold general packages that call user code).
            if isinstance(name, str) and name.partition(".")[0] in MACHINERY:
                return True
            f = f.f_back
        return False

    def _ensure_for_module(self, sha, fullname):
        try:
            return self.ensure_bundle(sha)
        except BundleError as e:
            raise ImportError("caios: cannot load module %r: S3 bundle %s (%s): %s"
                              % (fullname, sha, self._s3_url(sha), e.reason),
                              name=fullname) from None

    def _find_distributions(self, context):
        try:
            from importlib.metadata import DistributionFinder, MetadataPathFinder
        except ImportError:
            return iter(())
        if context is None:
            context = DistributionFinder.Context()
        if "path" in vars(context):
            return iter(())           # the caller chose the folders: the stdlib handles them
        name = context.name
        if name is not None and self.distributions:
            entry = self.distributions.get(_normalize(name))
            if isinstance(entry, dict):
                try:
                    path = self._tier_path(entry, "the metadata of distribution %r" % name)
                except (ImportError, AssetUnavailableError) as e:
                    # Not fatal here (callers expect PackageNotFoundError), but never silent.
                    _warn_once("dist:" + name, str(e))
                    path = None
                if path and os.path.isdir(path):
                    import importlib.metadata as md
                    import pathlib
                    return iter([md.PathDistribution(pathlib.Path(path))])
        roots = []
        if self.efs_root and os.path.isdir(self.efs_root):
            roots.append(self.efs_root)
        for st in list(self._states.values()):
            if st.path:
                roots.append(st.path)
        if not roots:
            return iter(())
        return MetadataPathFinder.find_distributions(
            DistributionFinder.Context(name=name, path=roots))

    def _tier_path(self, entry, who):
        tier = entry.get("tier")
        rel = entry.get("path") or ""
        if tier == "local":
            root = self.task_root
        elif tier == "efs":
            root = self._efs(who)
        elif tier == "s3":
            sha = entry.get("bundle")
            if sha not in self.bundles:
                raise AssetUnavailableError("caios: catalogue error: %s is in bundle %r, which "
                                            "is not in the catalogue's bundles" % (who, sha))
            try:
                root = self.ensure_bundle(sha)
            except BundleError as e:
                raise AssetUnavailableError("caios: cannot fetch %s: S3 bundle %s (%s): %s"
                                            % (who, sha, self._s3_url(sha), e.reason)) from None
        else:
            raise AssetUnavailableError("caios: catalogue error: %s has unknown tier %r" % (who, tier))
        return root + "/" + rel if rel else root

    # -- assets -----------------------------------------------------------------

    def asset_path(self, name):
        entry = self.files.get(name)
        if not isinstance(entry, dict):
            known = len(self.files)
            raise UnknownAssetError(
                "caios: no asset named %r in the catalogue (%d assets are listed; names are "
                "paths relative to the unit, e.g. 'models/x.onnx')" % (name, known))
        who = "asset %r" % name
        try:
            path = self._tier_path(entry, who)
        except ImportError as e:
            raise AssetUnavailableError(str(e)) from None
        tier = entry.get("tier")
        if tier != "s3" and not os.path.exists(path):
            raise AssetUnavailableError(
                "caios: asset %r (%s tier) should be at %s but it does not exist: %s"
                % (name, tier, path, "run `caios-pack efs-sync` for this build" if tier == "efs"
                   else "the deployment zip is incomplete; package the function again"))
        if tier == "s3" and not os.path.lexists(path):
            raise AssetUnavailableError(
                "caios: asset %r is not in its S3 bundle %s (%s); package and upload again"
                % (name, entry.get("bundle"), self._s3_url(entry.get("bundle"))))
        if self.stats.phase is not None and name not in self.stats.assets:
            self.stats.assets[name] = tier
        return path

    # -- bundles ----------------------------------------------------------------

    def _state(self, sha):
        st = self._states.get(sha)
        if st is None:
            with self._states_lock:
                st = self._states.get(sha)
                if st is None:
                    st = self._states[sha] = _BundleState()
        return st

    def _budget(self, sha):
        if self.total_s is not None:
            return self.total_s
        size = (self.bundles.get(sha) or {}).get("size") or 0
        return DEFAULT_TOTAL_S + float(size) / MIN_RATE

    def ensure_bundle(self, sha, background=False):
        """Folder holding the extracted bundle; fetches, verifies and extracts it
        if needed (or waits for the thread doing so). Raises BundleError.
        ``background`` (prefetch) calls do not count as waiting."""
        st = self._state(sha)
        path = st.path
        if path is not None:
            return path
        t0 = _perf()
        try:
            if not st.lock.acquire(True, self._budget(sha) + EXTRACT_MARGIN_S):
                raise BundleError("timed out waiting for another thread that is fetching it",
                                  permanent=False)
            try:
                if st.path is not None:
                    return st.path
                err = st.error
                if err is not None and (err.permanent or _mono() - st.error_at < FAILURE_TTL_S):
                    raise BundleError(err.reason, err.permanent)
                try:
                    st.path = self._fetch(sha)
                    st.error = None
                    return st.path
                except BundleError as e:
                    st.error, st.error_at = e, _mono()
                    raise
            finally:
                st.lock.release()
        finally:
            if not background:
                self.stats.add_wait(_perf() - t0)

    def _ensure_base(self):
        if self._base_ready:
            return
        base = self.tmp_base
        try:
            os.makedirs(base, exist_ok=True)
        except OSError as e:
            raise BundleError("cannot create %s: %s" % (base, e))
        # Leftovers of an earlier init of this sandbox that died mid-fetch.
        try:
            for entry in os.listdir(base):
                if entry.startswith(".part-"):
                    try:
                        pid = int(entry.split("-")[1])
                    except (IndexError, ValueError):
                        continue
                    if pid != os.getpid() and not _pid_alive(pid):
                        _remove(os.path.join(base, entry))
        except OSError:
            pass
        self._base_ready = True

    def _free_bytes(self):
        try:
            v = os.statvfs(self.tmp_base)
        except (OSError, AttributeError):
            return None
        return v.f_bavail * v.f_frsize

    def _check_space(self, sha, need, what):
        free = self._free_bytes()
        if free is not None and need > free:
            raise BundleError(
                "not enough space in %s to %s: needs %d bytes, %d free; raise the function's "
                "ephemeral storage (EphemeralStorage, up to 10240 MB) or place less on the s3 tier"
                % (self.tmp_base, what, need, free))

    def _fetch(self, sha):
        dest = self.bundle_dir(sha)
        if os.path.isdir(dest):        # extracted by an earlier init of this sandbox
            _debug("bundle %s already extracted" % sha)
            return dest
        meta = self.bundles.get(sha)
        if not isinstance(meta, dict):
            raise BundleError("bundle %s is not in the catalogue" % sha)
        if not _is_sha256(sha):
            raise BundleError("catalogue error: bundle id %r is not a lowercase SHA-256 hex digest" % sha)
        local = os.environ.get("CAIOS_BUNDLE_DIR") or None
        if not self.bucket and not local:
            raise BundleError("no bucket: the catalogue's s3.bucket is empty and CAIOS_BUCKET is not set")
        size = int(meta.get("size") or 0)
        unpacked = int(meta.get("unpacked_bytes") or 0)
        self._ensure_base()
        in_memory = 0 < size <= MEMORY_SINK_MAX
        need = unpacked + (0 if in_memory else size)
        with self._space_lock:         # parallel fetches must fit together
            self._check_space(sha, need + self._reserved,
                              "download and extract bundle %s (%d bytes zipped, %d unpacked%s)"
                              % (sha, size, unpacked, ", besides %d bytes of other fetches "
                                 "in progress" % self._reserved if self._reserved else ""))
            self._reserved += need
        try:
            if local:                      # tests and `caios-pack verify`: no S3, no boto3
                t0 = _perf()
                sink = self._read_local(local, sha, size, in_memory)
            else:
                client = self._get_client()    # set up once; its cost is reported as s3_client_ms
                t0 = _perf()
                sink = self._download(client, sha, size, in_memory)
            try:
                self._extract(sink.fileobj(), sha, dest, unpacked)
            finally:
                sink.discard()
            ns = _perf() - t0
        finally:
            with self._space_lock:
                self._reserved -= need
        self.stats.add_fetch(self.bundle_key(sha).rsplit("/", 1)[-1], size, ns)
        _debug("bundle %s fetched in %.1f ms" % (sha, ns / 1e6))
        return dest

    def _get_client(self):
        client = self._client
        if client is not None:
            return client
        if not self._client_lock.acquire(True, CLIENT_WAIT_S):
            raise BundleError("timed out after %.0f s waiting for another thread to create the "
                              "S3 client" % CLIENT_WAIT_S, permanent=False)
        try:
            if self._client is not None:
                return self._client
            machinery = getattr(self._tls, "machinery", False)
            self._tls.machinery = True
            t0 = _perf()
            try:
                try:
                    import boto3
                    import botocore.config
                    import botocore.exceptions
                except ImportError as e:
                    raise BundleError("boto3 is not importable (%s); the Lambda Python runtimes "
                                      "provide it, elsewhere install boto3" % e)
                self._botoexc = botocore.exceptions
                config = botocore.config.Config(
                    connect_timeout=self.timeout_s, read_timeout=self.timeout_s,
                    retries={"total_max_attempts": 1, "mode": "standard"},
                    max_pool_connections=max(10, len(self.prefetch) + 4))
                kwargs = {"config": config}
                if self.endpoint:
                    kwargs["endpoint_url"] = self.endpoint
                if self.region:
                    kwargs["region_name"] = self.region
                try:
                    self._client = boto3.session.Session().client("s3", **kwargs)
                except Exception as e:
                    raise BundleError("cannot create the S3 client: %s: %s"
                                      % (type(e).__name__, e), permanent=False)
            finally:
                self._tls.machinery = machinery
                self.stats.s3_client_ns = _perf() - t0
            return self._client
        finally:
            self._client_lock.release()

    def _download(self, client, sha, size, in_memory):
        budget = self._budget(sha)
        start = _mono()
        deadline = start + budget
        attempts = self.retries + 1
        last = None
        tried = 0
        for i in range(attempts):
            if i:
                delay = self.backoff_s * (2 ** (i - 1))
                if _mono() + delay >= deadline:
                    break
                time.sleep(delay)
            if _mono() >= deadline:
                break
            tried += 1
            try:
                return self._attempt(client, sha, size, in_memory, deadline)
            except _Transient as e:
                last = e
                _debug("bundle %s attempt %d failed: %s" % (sha, tried, e))
        raise BundleError("S3 GET failed after %d attempt(s) in %.1f s (limit %.1f s: fetch "
                          "timeout_s %.1f, retries %d): %s"
                          % (tried, _mono() - start, budget, self.timeout_s, self.retries, last),
                          permanent=False)

    def _attempt(self, client, sha, size, in_memory, deadline):
        """One GET in a helper thread, so that the caller's wait is bounded by
        the deadline even when the server trickles bytes."""
        import threading
        box = {}
        box_lock = _thread.allocate_lock()
        cancel = threading.Event()
        key = self.bundle_key(sha)

        def run():
            self._tls.machinery = True
            try:
                sink = self._get_once(client, key, sha, size, in_memory, cancel)
            except BaseException as e:   # handed to the caller
                box["err"] = e
                return
            with box_lock:
                if cancel.is_set():
                    sink.discard()
                else:
                    box["ok"] = sink

        t = threading.Thread(target=run, name="caios-get-" + sha[:12], daemon=True)
        t.start()
        t.join(max(0.0, deadline - _mono()))
        with box_lock:
            cancel.set()
            sink = box.get("ok")
        if sink is not None:
            return sink
        err = box.get("err")
        if err is None:
            raise _Transient("no complete response before the fetch time limit (the server "
                             "stalled or is too slow)")
        raise err

    def _get_once(self, client, key, sha, size, in_memory, cancel):
        exc = self._botoexc
        try:
            resp = client.get_object(Bucket=self.bucket, Key=key)
        except exc.ClientError as e:
            r = getattr(e, "response", None) or {}
            code = str((r.get("Error") or {}).get("Code") or "")
            status = (r.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0
            if code in ("NoSuchKey", "NotFound", "404") or status == 404 and code != "NoSuchBucket":
                raise BundleError("s3://%s/%s does not exist (%s): upload the bundles with "
                                  "`caios-pack upload`" % (self.bucket, key, code or status))
            if code == "NoSuchBucket":
                raise BundleError("bucket %r does not exist (NoSuchBucket)" % self.bucket)
            if code in ("AccessDenied", "403", "Forbidden") or status == 403:
                raise BundleError("access denied to s3://%s/%s (%s): the function's role needs "
                                  "s3:GetObject on it" % (self.bucket, key, code or status))
            if status >= 500 or status in (408, 429) or code in (
                    "SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout",
                    "Throttling", "ThrottlingException", "RequestTimeTooSkewed"):
                raise _Transient("HTTP %s %s" % (status, code))
            raise BundleError("S3 GET s3://%s/%s failed: HTTP %s %s" % (self.bucket, key, status, code))
        except exc.NoCredentialsError as e:
            raise BundleError("no AWS credentials for S3 (%s)" % e)
        except (exc.ConnectTimeoutError, exc.ReadTimeoutError) as e:
            raise _Transient("timed out after %.1f s (fetch timeout_s): %s" % (self.timeout_s, e))
        except exc.BotoCoreError as e:
            raise _Transient("%s: %s" % (type(e).__name__, e))
        except Exception as e:
            raise _Transient("%s: %s" % (type(e).__name__, e))
        import hashlib
        body = resp["Body"]
        sink = _Sink(self.tmp_base, in_memory)
        ok = False
        try:
            h = hashlib.sha256()
            n = 0
            write = sink.write
            try:
                while True:
                    if cancel.is_set():
                        raise _Transient("cancelled at the fetch time limit")
                    chunk = body.read(CHUNK)
                    if not chunk:
                        break
                    n += len(chunk)
                    if size and n > size:
                        break          # longer than the catalogue says: no need to read on
                    h.update(chunk)
                    write(chunk)
            except _Transient:
                raise
            except (exc.ConnectTimeoutError, exc.ReadTimeoutError) as e:
                raise _Transient("timed out reading the body after %.1f s (fetch timeout_s): %s"
                                 % (self.timeout_s, e))
            except Exception as e:
                raise _Transient("reading the body: %s: %s" % (type(e).__name__, e))
            _check_digest(f"s3://{self.bucket}/{key}", h.hexdigest(), n, sha, size,
                          "upload this build's bundles again with `caios-pack upload`")
            ok = True
            return sink
        finally:
            try:
                body.close()
            except Exception:
                pass
            if not ok:
                sink.discard()

    def _read_local(self, folder, sha, size, in_memory):
        """The bundle from CAIOS_BUNDLE_DIR/<sha>.zip instead of S3 (tests and
        `caios-pack verify`), checked exactly as a download is."""
        import hashlib
        path = os.path.join(folder, sha + ".zip")
        sink = _Sink(self.tmp_base, in_memory)
        ok = False
        try:
            with open(path, "rb") as src:
                h = hashlib.sha256()
                n = 0
                while True:
                    chunk = src.read(CHUNK)
                    if not chunk:
                        break
                    n += len(chunk)
                    if size and n > size:
                        break          # longer than the catalogue says
                    h.update(chunk)
                    sink.write(chunk)
            _check_digest(path, h.hexdigest(), n, sha, size, "package the function again")
            ok = True
            return sink
        except FileNotFoundError:
            raise BundleError(f"{path} does not exist (CAIOS_BUNDLE_DIR is set, so bundles are "
                              f"read from that folder instead of S3)") from None
        except OSError as e:
            raise BundleError(f"reading {path} (CAIOS_BUNDLE_DIR) failed: {e}") from None
        finally:
            if not ok:
                sink.discard()

    def _extract(self, fileobj, sha, dest, unpacked):
        import stat
        import zipfile
        try:
            zf = zipfile.ZipFile(fileobj)
        except (zipfile.BadZipFile, OSError) as e:
            raise BundleError("bundle %s is not a valid zip file: %s" % (sha, e))
        with zf:
            infos = zf.infolist()
            total = 0
            for info in infos:
                if not _safe_member(info.filename):
                    raise BundleError(
                        "refused: zip member %r of bundle %s has an absolute path or a '..' "
                        "component (zip-slip); nothing was extracted" % (info.filename, sha))
                total += info.file_size
            if total > unpacked:
                self._check_space(sha, total, "extract bundle %s (%d bytes unpacked)" % (sha, total))
            tmp = _unique_path(self.tmp_base, ".part-%d-%s" % (os.getpid(), sha[:16]), mkdir=True)
            try:
                dirs = []
                for info in infos:
                    self._extract_member(zf, info, tmp, dirs, stat)
                for path, mode in reversed(dirs):
                    os.chmod(path, mode)
                try:
                    os.rename(tmp, dest)
                except OSError:
                    if not os.path.isdir(dest):
                        raise
                    _debug("bundle %s: another extraction won the race" % sha)
                    _remove(tmp)
            except BundleError:
                _remove(tmp)
                raise
            except Exception as e:
                _remove(tmp)
                raise BundleError("extracting bundle %s into %s failed: %s: %s"
                                  % (sha, self.tmp_base, type(e).__name__, e))

    @staticmethod
    def _extract_member(zf, info, root, dirs, stat):
        name = info.filename.replace("\\", "/").strip("/")
        unix = info.create_system == 3
        mode = (info.external_attr >> 16) if unix else 0
        parts = [p for p in name.split("/") if p not in ("", ".")]
        if not parts:
            return
        path = os.path.join(root, *parts)
        parent = os.path.dirname(path)
        if parent != root:
            os.makedirs(parent, exist_ok=True)
        if info.filename.endswith("/") or stat.S_ISDIR(mode):
            os.makedirs(path, exist_ok=True)
            dirs.append((path, ((mode & 0o777) or 0o755) | 0o700))
            return
        if stat.S_ISLNK(mode):
            target = zf.read(info).decode("utf-8")
            resolved = os.path.normpath(os.path.join(os.path.dirname(path), target))
            if target.startswith("/") or not (resolved + "/").startswith(root + "/"):
                raise BundleError("refused: symlink %r -> %r leaves the bundle; nothing was "
                                  "extracted" % (info.filename, target))
            os.symlink(target, path)
            return
        perm = ((mode & 0o777) or 0o644) | 0o400
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out, zf.open(info) as src:
            while True:
                chunk = src.read(CHUNK)
                if not chunk:
                    break
                out.write(chunk)
        os.chmod(path, perm)
        try:
            t = time.mktime(info.date_time + (0, 0, -1))
            os.utime(path, (t, t))
        except (OverflowError, ValueError, OSError):
            pass

    # -- prefetch -----------------------------------------------------------------

    def start_prefetch(self, threads=None):
        """Fetch the catalogue's prefetch bundles in background threads."""
        if self._prefetch_threads or not self.prefetch:
            return
        try:
            n = int(threads or os.environ.get("CAIOS_PREFETCH_THREADS") or self.prefetch_connections)
        except ValueError:
            n = self.prefetch_connections
        todo = list(self.prefetch)
        todo.reverse()
        lock = _thread.allocate_lock()

        def worker():
            while True:
                with lock:
                    if not todo:
                        return
                    sha = todo.pop()
                try:
                    self.ensure_bundle(sha, background=True)
                except BundleError as e:
                    _debug("prefetch of %s failed: %s" % (sha, e.reason))
                except Exception as e:   # never kill init from a background thread
                    _debug("prefetch of %s crashed: %s: %s" % (sha, type(e).__name__, e))

        import threading
        for i in range(max(1, min(n, len(todo)))):
            t = threading.Thread(target=worker, name="caios-prefetch-%d" % i, daemon=True)
            self._prefetch_threads.append(t)
            t.start()

    def wait_prefetch(self, timeout=None):
        """Wait for the prefetch threads; True when all have finished."""
        end = None if timeout is None else _mono() + timeout
        for t in self._prefetch_threads:
            t.join(None if end is None else max(0.0, end - _mono()))
        return not any(t.is_alive() for t in self._prefetch_threads)

    # -- phases and the EMF line ------------------------------------------------

    def end_init(self, start_ns=None):
        """Init is over (the handler module is imported)."""
        if self._init_ns is None:
            self._init_ns = _perf() - (start_ns if start_ns is not None else _perf())

    def begin_invocation(self):
        if self.stats.phase == "init":
            self.stats.phase = "invocation"

    def cold_start_record(self, include_invocation=True):
        st = self.stats
        with st.lock:
            init_rows, inv_rows = [], []
            for name in st.order:
                tier, s, c, phase = st.rows[name]
                (init_rows if phase == "init" else inv_rows).append([name, tier, _us(s), _us(c)])
            fetched = list(st.fetched)
        rec = {
            "_aws": {
                "Timestamp": int(time.time() * 1000),
                "CloudWatchMetrics": [{
                    "Namespace": "caios-pack",
                    "Dimensions": [["function"]],
                    "Metrics": [{"Name": "init_ms", "Unit": "Milliseconds"},
                                {"Name": "s3_ms", "Unit": "Milliseconds"},
                                {"Name": "s3_bytes", "Unit": "Bytes"}],
                }],
            },
            "caios": "cold-start",
            "schema": 1,
            "function": os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or "unknown",
            "init_ms": _ms(self._init_ns or 0),
            "local_count": st.count["local"], "local_bytes": st.nbytes["local"],
            "local_ms": _ms(st.self_ns["local"]),
            "efs_count": st.count["efs"], "efs_bytes": st.nbytes["efs"],
            "efs_ms": _ms(st.self_ns["efs"]),
            "s3_count": st.count["s3"], "s3_bytes": st.s3_bytes,
            "s3_ms": _ms(st.s3_fetch_ns + st.s3_client_ns),
            "s3_client_ms": _ms(st.s3_client_ns),
            "s3_wait_ms": _ms(st.s3_wait_ns),
            "s3_fetched": fetched,
            "modules": init_rows,
        }
        if include_invocation:
            rec["invocation_modules"] = inv_rows
        if st.assets:
            rec["assets"] = [[k, v] for k, v in st.assets.items()]
        if st.lazy_pending:
            rec["lazy_pending"] = sorted(st.lazy_pending)
        return rec

    def emf_line(self, include_invocation=True):
        import json
        rec = self.cold_start_record(include_invocation)
        line = json.dumps(rec, separators=(",", ":"))
        if len(line) > EMF_MAX_CHARS:
            line = _shrink(rec, json)
        return line

    def emit_cold_start(self, stream=None):
        """Print the EMF line once and stop recording."""
        if self._emitted:
            return False
        self._emitted = True
        try:
            line = self.emf_line(self.stats.phase == "invocation")
            out = stream or sys.stdout
            out.write(line + "\n")
            out.flush()
        except Exception as e:
            _debug("could not write the cold-start line: %s: %s" % (type(e).__name__, e))
        finally:
            self.stats.phase = None
        return True


def _shrink(rec, json):
    """Drop the cheapest module rows until the line fits one CloudWatch event."""
    rows = [(r[3], "modules", r) for r in rec["modules"]]
    rows += [(r[3], "invocation_modules", r) for r in rec.get("invocation_modules") or ()]
    rows.sort(key=lambda x: x[0])
    size = len(json.dumps(rec, separators=(",", ":")))
    drop = set()
    for cum, field, row in rows:
        if size <= EMF_MAX_CHARS - 40:
            break
        drop.add(id(row))
        size -= len(json.dumps(row, separators=(",", ":"))) + 1
    for field in ("modules", "invocation_modules"):
        if field in rec:
            rec[field] = [r for r in rec[field] if id(r) not in drop]
    rec["truncated_modules"] = len(drop)
    return json.dumps(rec, separators=(",", ":"))


def _check_digest(where, digest, n, sha, size, fix):
    """A downloaded (or locally read) bundle must be exactly the catalogue's."""
    if digest != sha or (size and n != size):
        longer = size and n > size
        raise BundleError(
            f"sha256 mismatch: {where} holds {'more than ' if longer else ''}{n} bytes with "
            f"sha256 {'(not computed)' if longer else digest}, the catalogue expects {size} "
            f"bytes with sha256 {sha}; nothing from it was extracted or run ({fix})")


class _Sink:
    """Where a download goes: memory for small bundles, a file under the /tmp base otherwise."""

    def __init__(self, base, in_memory):
        self.path = None
        if in_memory:
            import io
            self.f = io.BytesIO()
        else:
            self.path = _unique_path(base, ".part-%d-dl" % os.getpid())
            self.f = open(self.path, "w+b")
        self.write = self.f.write

    def fileobj(self):
        self.f.seek(0)
        return self.f

    def discard(self):
        try:
            self.f.close()
        except Exception:
            pass
        if self.path:
            try:
                os.unlink(self.path)
            except OSError:
                pass
            self.path = None


_unique_lock = _thread.allocate_lock()
_unique_counter = [0]


def _unique_path(base, stem, mkdir=False):
    while True:
        with _unique_lock:
            _unique_counter[0] += 1
            n = _unique_counter[0]
        path = "%s/%s-%d-%d" % (base, stem, _thread.get_ident(), n)
        if mkdir:
            try:
                os.mkdir(path, 0o700)
                return path
            except FileExistsError:
                continue
        elif not os.path.lexists(path):
            return path


def _remove(path):
    import shutil
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            os.unlink(path)
        except OSError:
            pass


def _normalize(name):
    import re
    return re.sub(r"[-_.]+", "-", name).lower()


# ---------------------------------------------------------------------------
# Module-level API

_installed = [None]


def install(catalogue_path=None, task_root=None):
    """Read the catalogue, put the finder first on sys.meta_path and return the
    Importer. Idempotent: a second call returns the installed importer."""
    imp = _installed[0]
    if imp is not None:
        return imp
    if catalogue_path is None:
        catalogue_path = os.environ.get("CAIOS_CATALOGUE") or os.path.join(
            os.path.dirname(os.path.abspath(__file__)), "caios_catalogue.json")
    import json
    try:
        with open(catalogue_path, "rb") as f:
            catalogue = json.loads(f.read())
    except OSError as e:
        raise CaiosError("caios: cannot read the catalogue %s: %s (it is written by `caios-pack "
                         "package` next to caios_entry.py)" % (catalogue_path, e)) from None
    except ValueError as e:
        raise CaiosError("caios: %s is not valid JSON: %s" % (catalogue_path, e)) from None
    if task_root is None:
        task_root = os.path.dirname(os.path.abspath(catalogue_path))
    imp = Importer(catalogue, task_root, catalogue_path)
    sys.meta_path.insert(0, imp.finder)
    _installed[0] = imp
    return imp


def uninstall():
    """Remove the finder (tests)."""
    imp = _installed[0]
    if imp is not None:
        try:
            sys.meta_path.remove(imp.finder)
        except ValueError:
            pass
        _installed[0] = None


def installed():
    """The installed Importer, or None."""
    return _installed[0]


def _need():
    imp = _installed[0]
    if imp is None:
        raise CaiosError("caios: the runtime importer is not installed (the function must use "
                         "caios_entry.handler as its Lambda handler)")
    return imp


def asset_path(name):
    """A real filesystem path for the asset ``name`` (as listed in the
    catalogue's "files"), fetching and verifying its S3 bundle if needed."""
    return _need().asset_path(name)


def start_prefetch(threads=None):
    return _need().start_prefetch(threads)


def wait_prefetch(timeout=None):
    return _need().wait_prefetch(timeout)
