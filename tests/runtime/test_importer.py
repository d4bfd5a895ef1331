"""Tests of the runtime importer (src/runtime/caios_importer.py, caios_entry.py).

Run from the repository root:  python3 -m unittest discover -s tests/runtime -v

The S3 tests need s3s-fs and boto3 (see harness.py for where they are
looked for); without them only those tests are skipped, with the reason.
Every handler runs in a `python3 -I -S` subprocess, as on Lambda.
"""

import ast
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
import time
import unittest
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import BUCKET, Unit, make_zip, parse_emf_line, sha256  # noqa: E402

sys.path.insert(0, harness.RUNTIME)
import caios_importer  # noqa: E402

S3S_FS = harness.find_s3s_fs()
S3_SKIP = None
PYLIBS = None
if S3S_FS is None:
    S3_SKIP = ("S3 tests skipped: s3s-fs not found; set CAIOS_S3S_FS or install it with "
               "`cargo install s3s-fs@0.14.1 --features binary --locked --root /tmp/s3s`")
else:
    PYLIBS, _why = harness.find_pylibs()
    if PYLIBS is None:
        S3_SKIP = ("S3 tests skipped: no usable boto3 (%s); set CAIOS_TEST_PYLIBS to a folder "
                   "made with `python3 -m pip install --target DIR boto3`" % _why)


def dedent(s):
    return textwrap.dedent(s).lstrip()


def emf_of(test, result):
    """The one cold-start line of a run, parsed by docs/stats.md rules."""
    records = [parse_emf_line(line) for line in result.emf_lines]
    records = [r for r in records if r is not None]
    test.assertEqual(len(records), 1, "expected exactly one cold-start line\n%r" % result)
    rec = records[0]
    test.assertEqual(rec["schema"], 1)
    test.assertEqual(rec["function"], "test-fn")
    aws = rec["_aws"]
    test.assertIsInstance(aws["Timestamp"], int)
    cw = aws["CloudWatchMetrics"][0]
    test.assertEqual(cw["Namespace"], "caios-pack")
    test.assertEqual(cw["Dimensions"], [["function"]])
    for metric in cw["Metrics"]:            # EMF: every metric is a top-level number
        test.assertIsInstance(rec[metric["Name"]], (int, float))
    for field in ("init_ms", "local_ms", "efs_ms", "s3_ms"):
        test.assertIsInstance(rec[field], (int, float))
    for field in ("local_count", "efs_count", "efs_bytes", "s3_count", "s3_bytes"):
        test.assertIsInstance(rec[field], int)
    test.assertIsInstance(rec["s3_fetched"], list)
    rows = rec["modules"] + (rec.get("invocation_modules") or [])
    for name, tier, self_us, cum_us in rows:
        test.assertIn(tier, ("local", "efs", "s3"))
        test.assertLessEqual(self_us, cum_us, name)
    for tier in ("local", "efs", "s3"):
        test.assertEqual(rec[tier + "_count"], sum(1 for r in rows if r[1] == tier))
    test.assertGreater(rec["init_ms"], 0)
    return rec


def tiers(rows):
    return dict((r[0], r[1]) for r in rows)


# ---------------------------------------------------------------------------
# In-process tests of pieces that need no S3


class PureTests(unittest.TestCase):
    def test_module_is_stdlib_only_and_py39_syntax(self):
        for f in ("caios_importer.py", "caios_entry.py"):
            with open(os.path.join(harness.RUNTIME, f)) as fh:
                src = fh.read()
            ast.parse(src, f, feature_version=(3, 9))
        code = ("import sys; before = set(sys.modules); import caios_importer; "
                "new = sorted(set(sys.modules) - before); print(' '.join(new))")
        out = subprocess.run([sys.executable, "-I", "-S", "-c",
                              "import sys; sys.path.insert(0, %r); %s" % (harness.RUNTIME, code)],
                             capture_output=True, text=True, check=True).stdout.split()
        self.assertIn("caios_importer", out)
        for name in out:
            self.assertFalse(name.split(".")[0] in ("boto3", "botocore", "urllib3", "json"),
                             "caios_importer imported %s at import time: %s" % (name, out))

    def test_safe_member_names(self):
        ok = ["a.py", "pkg/__init__.py", "pkg/", "a/./b.py", "pkg.libs/libx.so.1", "a..b/c"]
        bad = ["../x", "/abs", "a/../../x", "pkg/../../etc/passwd", "..", "", "C:/x", "\\x",
               "a\\..\\x", "x\x00y"]
        for name in ok:
            self.assertTrue(caios_importer._safe_member(name), name)
        for name in bad:
            self.assertFalse(caios_importer._safe_member(name), name)

    def _importer(self, tmp, catalogue=None):
        cat = {"format": "caios-pack-catalogue", "version": 1, "modules": {}, "bundles": {}}
        cat.update(catalogue or {})
        os.environ["CAIOS_TMP"] = os.path.join(tmp, "caios")
        try:
            return caios_importer.Importer(cat, tmp, "test")
        finally:
            del os.environ["CAIOS_TMP"]

    def test_extract_modes_symlinks_and_lost_rename_race(self):
        with tempfile.TemporaryDirectory() as tmp:
            imp = self._importer(tmp)
            os.makedirs(imp.tmp_base)
            data = make_zip([("pkg/", None, 0o755), ("pkg/__init__.py", "X = 1\n", 0o644),
                             ("pkg/_x.so", b"\x7fELF", 0o755), ("bin/run", "#!/bin/sh\n", 0o700)])
            import io
            sink = io.BytesIO()
            with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(sink, "w") as dst:
                for info in src.infolist():
                    dst.writestr(info, src.read(info))
                info = zipfile.ZipInfo("pkg/link.so")
                info.create_system = 3
                info.external_attr = (0o120777 << 16)
                dst.writestr(info, "_x.so")
            sha = "a" * 64
            dest = imp.bundle_dir(sha)
            imp._extract(io.BytesIO(sink.getvalue()), sha, dest, 100)
            self.assertEqual(os.stat(os.path.join(dest, "pkg/_x.so")).st_mode & 0o777, 0o755)
            self.assertEqual(os.stat(os.path.join(dest, "bin/run")).st_mode & 0o777, 0o700)
            self.assertEqual(os.stat(os.path.join(dest, "pkg/__init__.py")).st_mode & 0o777, 0o644)
            self.assertEqual(os.readlink(os.path.join(dest, "pkg/link.so")), "_x.so")
            # A second extraction losing the rename race keeps the first copy, leaves nothing behind.
            with open(os.path.join(dest, "pkg/__init__.py"), "a") as f:
                f.write("# first copy\n")
            imp._extract(io.BytesIO(sink.getvalue()), sha, dest, 100)
            with open(os.path.join(dest, "pkg/__init__.py")) as fh:
                self.assertIn("first copy", fh.read())
            self.assertEqual(sorted(os.listdir(imp.tmp_base)), [sha])

    def test_symlink_escaping_the_bundle_is_refused(self):
        import io
        with tempfile.TemporaryDirectory() as tmp:
            imp = self._importer(tmp)
            os.makedirs(imp.tmp_base)
            sink = io.BytesIO()
            with zipfile.ZipFile(sink, "w") as dst:
                dst.writestr("ok.py", "")
                info = zipfile.ZipInfo("evil")
                info.create_system = 3
                info.external_attr = (0o120777 << 16)
                dst.writestr(info, "../../etc/passwd")
            with self.assertRaises(caios_importer.BundleError) as cm:
                imp._extract(io.BytesIO(sink.getvalue()), "b" * 64, imp.bundle_dir("b" * 64), 10)
            self.assertIn("leaves the bundle", cm.exception.reason)
            self.assertEqual(os.listdir(imp.tmp_base), [])

    def test_bad_catalogue_messages(self):
        with tempfile.TemporaryDirectory() as tmp:
            with self.assertRaises(caios_importer.CaiosError) as cm:
                caios_importer.Importer({"format": "x", "version": 9}, tmp, "/t/caios_catalogue.json")
            self.assertIn("caios_catalogue.json", str(cm.exception))
            imp = self._importer(tmp, {"files": {"a.bin": {"tier": "local", "path": "a.bin"}}})
            with self.assertRaises(KeyError) as cm:
                imp.asset_path("models/nope.onnx")
            self.assertIn("no asset named 'models/nope.onnx'", str(cm.exception))
            with self.assertRaises(OSError) as cm:
                imp.asset_path("a.bin")
            self.assertIn("does not exist", str(cm.exception))

    def test_emf_line_stays_under_the_cloudwatch_event_limit(self):
        with tempfile.TemporaryDirectory() as tmp:
            imp = self._importer(tmp)
            for i in range(20000):
                imp.stats.record("some.rather.long.package.name.module_%05d" % i, "local",
                                 i, i * 2)
            line = imp.emf_line()
            self.assertLessEqual(len(line), caios_importer.EMF_MAX_CHARS)
            rec = parse_emf_line(line)
            self.assertGreater(rec["truncated_modules"], 0)
            kept = [r[0] for r in rec["modules"]]
            self.assertIn("some.rather.long.package.name.module_19999", kept)  # the slowest stay


# ---------------------------------------------------------------------------
# Local and EFS tiers (no S3, no boto3 on the path)


class LocalEfsTests(unittest.TestCase):
    def setUp(self):
        self.tmpdir = tempfile.TemporaryDirectory()
        self.unit = Unit(self.tmpdir.name)

    def tearDown(self):
        self.tmpdir.cleanup()

    def test_local_efs_namespace_lazy_and_one_emf_line(self):
        u = self.unit
        u.local_module("registry", "RAN = []\n")
        u.local_module("handler", dedent("""
            import os, sys
            import registry
            import localmod
            import efsmod
            import efspkg.inner
            import nspkg.part
            import lazylocal
            import caios_importer

            def handler(event, context):
                if event["action"] == "first":
                    before = list(registry.RAN)
                    value = lazylocal.VALUE
                    import invlocal
                    return {"files": {n: sys.modules[n].__file__ for n in
                                      ("localmod", "efsmod", "efspkg", "efspkg.inner",
                                       "nspkg.part", "invlocal")},
                            "efspkg_path": list(efspkg.__path__),
                            "nspkg_path": list(nspkg.__path__),
                            "efs_data": efspkg.inner.DATA,
                            "lazy_before": before, "lazy_after": list(registry.RAN),
                            "lazy_value": value,
                            "boto": [m for m in sys.modules if m.split(".")[0] in ("boto3", "botocore")],
                            "asset_local": open(caios_importer.asset_path("data/local.txt")).read(),
                            "asset_efs": open(caios_importer.asset_path("data/efs.txt")).read(),
                            "finder_first": type(sys.meta_path[0]).__name__}
                import latermod
                return {"later": latermod.X}
            """))
        u.local_module("localmod", "X = 1\n")
        u.local_module("invlocal", "X = 2\n")
        u.local_module("latermod", "X = 3\n")
        u.local_module("lazylocal", "import registry\nregistry.RAN.append('lazylocal')\nVALUE = 42\n",
                       lazy=True)
        u.efs_module("efsmod", "X = 'efs'\n")
        u.efs_module("efspkg", "", package=True)
        u.efs_module("efspkg.inner", dedent("""
            import os
            DATA = open(os.path.join(os.path.dirname(__file__), 'data.txt')).read()
            """))
        u.write("efs", "efspkg/data.txt", "efs data")
        os.makedirs(os.path.join(u.root, "nspkg"))
        u.mod("nspkg", "local", "nspkg", kind="namespace")
        u.efs_module("nspkg.part", "X = 'part'\n")
        u.write("local", "data/local.txt", "local asset")
        u.write("efs", "data/efs.txt", "efs asset")
        u.asset("data/local.txt", "local", "data/local.txt")
        u.asset("data/efs.txt", "efs", "data/efs.txt")

        r = u.run([{"action": "first"}, {"action": "second"}])
        self.assertEqual(r.rc, 0, r)
        first, second = r.results
        efs, root = u.efs, u.root
        self.assertEqual(first["files"]["localmod"], os.path.join(root, "localmod.py"))
        self.assertEqual(first["files"]["efsmod"], os.path.join(efs, "efsmod.py"))
        self.assertEqual(first["files"]["efspkg"], os.path.join(efs, "efspkg/__init__.py"))
        self.assertEqual(first["efspkg_path"], [os.path.join(efs, "efspkg")])
        self.assertEqual(first["nspkg_path"], [os.path.join(root, "nspkg")])
        self.assertEqual(first["files"]["nspkg.part"], os.path.join(efs, "nspkg/part.py"))
        self.assertEqual(first["efs_data"], "efs data")
        self.assertEqual(first["lazy_before"], [])
        self.assertEqual(first["lazy_after"], ["lazylocal"])
        self.assertEqual(first["lazy_value"], 42)
        self.assertEqual(first["boto"], [], "boto3 must not be imported without an S3 fetch")
        self.assertEqual(first["asset_local"], "local asset")
        self.assertEqual(first["asset_efs"], "efs asset")
        self.assertEqual(first["finder_first"], "CaiosFinder")
        self.assertEqual(second, {"later": 3})

        rec = emf_of(self, r)
        init = tiers(rec["modules"])
        inv = tiers(rec["invocation_modules"])
        self.assertEqual(init["localmod"], "local")
        self.assertEqual(init["efsmod"], "efs")
        self.assertEqual(init["efspkg.inner"], "efs")
        self.assertEqual(init["nspkg"], "local")
        self.assertEqual(init["nspkg.part"], "efs")
        self.assertEqual(init["handler"], "local")
        self.assertNotIn("lazylocal", init)          # imported lazily: its body ran later
        self.assertEqual(inv, {"lazylocal": "local", "invlocal": "local"})
        self.assertNotIn("latermod", init)
        self.assertGreater(rec["efs_bytes"], 0)
        self.assertEqual(rec["s3_count"], 0)
        self.assertEqual(rec["s3_fetched"], [])
        handler_row = [row for row in rec["modules"] if row[0] == "handler"][0]
        self.assertGreater(handler_row[3], 0)
        self.assertEqual(sorted(dict(rec["assets"])), ["data/efs.txt", "data/local.txt"])

    def test_shipped_unchecked_pyc_is_read_directly_and_other_pycs_are_validated(self):
        import py_compile
        u = self.unit
        u.local_module("handler", dedent("""
            import fast, stamped
            def handler(event, context):
                return {"fast": fast.X, "stamped": stamped.X, "cached": fast.__cached__,
                        "co_filename": fast.f.__code__.co_filename, "file": fast.__file__}
            """))
        tag = sys.implementation.cache_tag

        def compile_into(name, text, mode, mtime=None):
            # The pyc is compiled from other text than the shipped source, so
            # the result says which of the two ran.
            src = os.path.join(u.tmp, "compile-%s.py" % name)
            with open(src, "w") as f:
                f.write(text)
            if mtime is not None:
                os.utime(src, (mtime, mtime))
            pyc = os.path.join(u.root, "__pycache__", "%s.%s.pyc" % (name, tag))
            py_compile.compile(src, cfile=pyc, dfile=name + ".py", doraise=True,
                               invalidation_mode=mode)
            return pyc

        u.local_module("fast", "X = 'source'\ndef f():\n    pass\n")
        fast_pyc = compile_into("fast", "X = 'shipped pyc'\ndef f():\n    pass\n",
                                py_compile.PycInvalidationMode.UNCHECKED_HASH)
        # A timestamp pyc that no longer matches its source: the stdlib's
        # validation must see it and run the source.
        u.local_module("stamped", "X = 'source'\n")
        compile_into("stamped", "X = 'stale pyc'\n", py_compile.PycInvalidationMode.TIMESTAMP,
                     mtime=1_000_000)
        r = u.run([{}])
        self.assertEqual(r.rc, 0, r)
        out = r.results[0]
        self.assertEqual(out["fast"], "shipped pyc")
        self.assertEqual(out["stamped"], "source")
        self.assertEqual(out["cached"], fast_pyc)
        self.assertEqual(out["co_filename"], out["file"])
        self.assertEqual(out["file"], os.path.join(u.root, "fast.py"))
        # The shipped pyc is read without a look at the source (the stdlib
        # stats it first): it even loads with the source gone.
        os.remove(os.path.join(u.root, "fast.py"))
        r = u.run([{}])
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.results[0]["fast"], "shipped pyc")

    def test_gc_is_paused_during_init_then_frozen_and_resumed(self):
        u = self.unit
        u.local_module("handler", dedent("""
            import gc
            DURING_INIT = gc.isenabled()
            def handler(event, context):
                return {"during_init": DURING_INIT, "after": gc.isenabled(),
                        "frozen": gc.get_freeze_count()}
            """))
        r = u.run([{}])
        self.assertEqual(r.rc, 0, r)
        out = r.results[0]
        self.assertFalse(out["during_init"])
        self.assertTrue(out["after"])
        self.assertGreater(out["frozen"], 0)
        r = u.run([{}], env={"CAIOS_INIT_GC": "on"})
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.results[0], {"during_init": True, "after": True, "frozen": 0})

    def test_missing_efs_root_is_a_clear_init_error(self):
        u = self.unit
        u.local_module("handler", "import efsmod\ndef handler(e, c):\n    return 1\n")
        u.efs_module("efsmod", "")
        u.efs_root = os.path.join(u.tmp, "not-mounted")
        r = u.run([{}])
        self.assertEqual(r.rc, 3, r)
        self.assertEqual(r.init_error["type"], "ImportError")
        msg = r.init_error["message"]
        self.assertIn("'efsmod'", msg)
        self.assertIn("not-mounted does not exist", msg)
        self.assertIn("CAIOS_EFS_ROOT", msg)
        # ... and the env override fixes it.
        r = u.run([{}], env={"CAIOS_EFS_ROOT": u.efs})
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.results, [1])

    def test_bad_handler_name(self):
        u = self.unit
        u.local_module("handler", "def other(e, c):\n    return 1\n")
        r = u.run([{}])
        self.assertEqual(r.rc, 3, r)
        self.assertIn("has no function 'handler'", r.init_error["message"])

    def test_emf_line_suppressed_with_env_and_printed_when_first_invocation_raises(self):
        u = self.unit
        u.local_module("handler", "def handler(e, c):\n    raise ValueError('boom')\n")
        r = u.run([{}, {}])
        self.assertEqual([e["message"] for e in r.errors], ["boom", "boom"])
        rec = emf_of(self, r)
        self.assertEqual(rec["invocation_modules"], [])
        r = u.run([{}], env={"CAIOS_EMF": "0"})
        self.assertEqual(r.emf_lines, [])

    def test_lazy_module_that_replaces_its_own_sys_modules_entry(self):
        # apipkg's pattern: a helper function of another module puts a wrapper
        # in sys.modules while the lazy module's body runs. importlib's
        # LazyLoader raises ValueError here; the importer forwards instead.
        u = self.unit
        u.local_module("wrapper", dedent("""
            import sys, types
            def install(name, **api):
                mod = types.ModuleType(name)
                mod.__dict__.update(api)
                mod.WRAPPED = True
                sys.modules[name] = mod
            """))
        u.local_module("selfreplacing", dedent("""
            import wrapper
            wrapper.install(__name__, answer=lambda: 42)
            """), lazy=True)
        u.local_module("handler", dedent("""
            import selfreplacing
            def handler(event, context):
                import sys
                return {"answer": selfreplacing.answer(), "wrapped": selfreplacing.WRAPPED,
                        "same": sys.modules["selfreplacing"].answer is selfreplacing.answer}
            """))
        r = u.run([{}])
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.results, [{"answer": 42, "wrapped": True, "same": True}], r)

    def test_a_lazy_module_with_lazy_bindings_hides_its_placeholders(self):
        # The body of a lazy module runs while its class is still the
        # importer's _LazyModule: the placeholders' module class must still
        # be in place once it ends, or `from lazybound import f` gets one.
        u = self.unit
        u.local_module("heavy2", "def f():\n    return 5\n")
        u.local_module("lazybound", "from heavy2 import f\n\n\ndef g():\n    return f()\n",
                       lazy=True)
        u.local_module("handler", dedent("""
            import lazybound
            def handler(event, context):
                import sys
                before = "heavy2" in sys.modules
                from lazybound import f
                return {"before": before, "real": f is sys.modules["heavy2"].f, "g": lazybound.g()}
            """))
        source = os.path.join(u.root, "lazybound.py")
        pyc = os.path.join(u.root, "__pycache__", "lazybound.%s.pyc" % sys.implementation.cache_tag)
        os.makedirs(os.path.dirname(pyc), exist_ok=True)
        listing = os.path.join(u.root, "..", "lazy-sources.txt")
        with open(listing, "w") as f:
            f.write("%s\t%s\tlazybound.py\t1\n" % (source, pyc))
        out = subprocess.run([sys.executable, "-I", "-S", "-B",
                              os.path.join(harness.RUNTIME, "caios_compile.py"), listing],
                             capture_output=True, text=True, check=True)
        self.assertEqual(out.stdout.split(), ["lazy", "lazybound.py", "1"], out)
        r = u.run([{}])
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.results, [{"before": False, "real": True, "g": 5}], r)

    def test_lazy_module_replaced_by_a_proxy_of_itself(self):
        # zope.deferredimport / cryptography: the replacement wraps the
        # module object and reads its attributes back through it.
        u = self.unit
        u.local_module("proxying", dedent("""
            import sys, types
            class Proxy(types.ModuleType):
                def __init__(self, wrapped):
                    super().__init__(wrapped.__name__)
                    object.__setattr__(self, "_wrapped", wrapped)
                def __getattr__(self, name):
                    return getattr(object.__getattribute__(self, "_wrapped"), name)
            def wrap(name):
                sys.modules[name] = Proxy(sys.modules[name])
            """))
        u.local_module("wrapped", dedent("""
            import proxying
            VALUE = 7
            proxying.wrap(__name__)
            """), lazy=True)
        u.local_module("handler", dedent("""
            import wrapped
            def handler(event, context):
                import sys
                return {"value": wrapped.VALUE,
                        "proxied": type(sys.modules["wrapped"]).__name__}
            """))
        r = u.run([{}])
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.results, [{"value": 7, "proxied": "Proxy"}], r)

    def test_lazy_module_whose_body_raises_is_run_once_more(self):
        u = self.unit
        u.local_module("registry", "RUNS = []\n")
        u.local_module("flaky", dedent("""
            import registry
            registry.RUNS.append(1)
            if len(registry.RUNS) == 1:
                raise RuntimeError("first run fails")
            VALUE = len(registry.RUNS)
            """), lazy=True)
        u.local_module("handler", dedent("""
            import flaky
            def handler(event, context):
                return {"value": flaky.VALUE}
            """))
        r = u.run([{}])
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.results, [{"value": 2}], r)
        self.assertIn("running it once more", r.stderr)

    def test_lazy_module_whose_body_always_raises_raises_its_error(self):
        u = self.unit
        u.local_module("broken", "raise LookupError('always')\n", lazy=True)
        u.local_module("handler", dedent("""
            import broken
            def handler(event, context):
                try:
                    broken.X
                except LookupError as e:
                    return {"error": str(e)}
            """))
        r = u.run([{}])
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.results, [{"error": "always"}], r)

    def _reimporting_package(self, tier):
        # opencv's cv2 bootstrap: the package drops itself from sys.modules,
        # puts its binary folder first on sys.path and imports its own name
        # again, expecting the compiled module found there.
        u = self.unit
        add = u.local_module if tier == "local" else u.efs_module
        add("cvlike", dedent("""
            import importlib, os, sys
            if getattr(sys, "_cvlike_loading", False):
                raise ImportError("recursion is detected during loading of 'cvlike'")
            sys._cvlike_loading = True
            # cv2's rule: first on sys.path only when sys.path[0] is the
            # folder holding the package, else second.
            here = os.path.dirname(os.path.abspath(__file__))
            at = 0 if sys.path[0] == os.path.dirname(here) else 1
            sys.modules.pop("cvlike")
            sys.path.insert(at, os.path.join(here, "bin"))
            importlib.import_module("cvlike")
            del sys.path[at]
            """), package=True)
        u.write(tier, "cvlike/bin/cvlike.py", "NATIVE = 'from bin'\n")
        u.local_module("handler", dedent("""
            import cvlike
            def handler(event, context):
                return {"native": cvlike.NATIVE,
                        "file": cvlike.__file__.rsplit("/", 2)[-2:]}
            """))
        r = u.run([{}])
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.results, [{"native": "from bin", "file": ["bin", "cvlike.py"]}], r)

    def test_package_reimporting_itself_from_a_changed_sys_path_local(self):
        self._reimporting_package("local")

    def test_package_reimporting_itself_from_a_changed_sys_path_efs(self):
        self._reimporting_package("efs")

    def test_a_plain_folder_ahead_of_the_task_root_does_not_shadow(self):
        # A data folder named like an EFS package in an earlier sys.path
        # entry (the working directory, '') is a namespace portion, which
        # never beats a regular package: the catalogue still answers.
        u = self.unit
        u.efs_module("app", "X = 'efs'\n", package=True)
        os.makedirs(os.path.join(u.tmp, "app"), exist_ok=True)   # the run's cwd
        u.local_module("handler", dedent("""
            import os, sys
            sys.path[:0] = [os.getcwd(), ""]
            import app
            def handler(event, context):
                return {"x": app.X}
            """))
        r = u.run([{}])
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.results, [{"x": "efs"}], r)

    def test_another_package_folder_after_the_task_root_does_not_shadow(self):
        # Only the package's own folders found after the task root step in
        # (cv2's binary folder); another package's folder that happens to
        # hold a same-named module does not.
        u = self.unit
        u.efs_module("utils", "WHO = 'unit'\n")
        u.write("local", "somepkg/utils.py", "WHO = 'somepkg'\n")
        u.local_module("handler", dedent("""
            import os, sys
            sys.path.append(os.path.join(os.path.dirname(__file__), "somepkg"))
            import utils
            def handler(event, context):
                return {"who": utils.WHO}
            """))
        r = u.run([{}])
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.results, [{"who": "unit"}], r)

    def test_submodule_found_ahead_of_the_catalogue_in_an_extended_path(self):
        # A package that puts another folder in front of its own __path__:
        # the path-based search finds `shadowpkg.impl` there first.
        u = self.unit
        u.efs_module("shadowpkg", dedent("""
            import os
            __path__.insert(0, os.path.join(os.path.dirname(__file__), "override"))
            """), package=True)
        u.efs_module("shadowpkg.impl", "WHO = 'catalogued'\n")
        u.write("efs", "shadowpkg/override/impl.py", "WHO = 'override'\n")
        u.local_module("handler", dedent("""
            import shadowpkg.impl
            def handler(event, context):
                return {"who": shadowpkg.impl.WHO}
            """))
        r = u.run([{}])
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.results, [{"who": "override"}], r)


# ---------------------------------------------------------------------------
# S3 tier against a real S3-compatible server


@unittest.skipIf(S3_SKIP, S3_SKIP)
class S3Tests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # Class cleanups run even when setUpClass fails half-way.
        cls.tmpdir = tempfile.TemporaryDirectory()
        cls.addClassCleanup(cls.tmpdir.cleanup)
        root = os.path.join(cls.tmpdir.name, "s3root")
        os.makedirs(root)
        cls.server = harness.S3Server(S3S_FS, root)
        cls.addClassCleanup(cls.server.stop)
        cls.server.start()
        cls.proxy = harness.FaultProxy(cls.server.port)
        cls.addClassCleanup(cls.proxy.close)
        cls.s3 = harness.s3_client(PYLIBS, cls.server.url)
        cls.s3.create_bucket(Bucket=BUCKET)

    def setUp(self):
        self.proxy.reset()
        self.tmp = tempfile.TemporaryDirectory()
        self.unit = Unit(self.tmp.name, s3=self.s3, proxy=self.proxy, pylibs=PYLIBS)

    def tearDown(self):
        self.proxy.reset()
        self.tmp.cleanup()

    def gets_for(self, sha):
        return self.proxy.gets(sha)

    def assert_nothing_extracted(self, sha):
        base = self.unit.tmpbase
        self.assertFalse(os.path.exists(os.path.join(base, sha)))
        if os.path.isdir(base):
            self.assertEqual([e for e in os.listdir(base) if e.startswith(".part")], [])

    # -- the main scenario --------------------------------------------------

    def test_tiers_split_package_lazy_prefetch_asset_metadata_and_emf(self):
        u = self.unit
        u.local_module("registry", "RAN = []\n")
        u.local_module("localmod", "X = 1\n")
        u.local_module("splitpkg", "LOCAL = True\n", package=True)
        u.efs_module("efsmod", "X = 'efs'\n")
        # Bundle A (prefetched, and needed at init): a child of the local package
        # `splitpkg` with a data file next to it, and a package with its metadata.
        sha_a = u.bundle({
            "splitpkg/remote.py": "import os\nDATA = open(os.path.join(os.path.dirname(__file__),"
                                  " 'remote_data.txt')).read()\n",
            "splitpkg/remote_data.txt": "remote data",
            "s3pkg/__init__.py": "from importlib.metadata import version\nVERSION = version('s3pkg')\n",
            "s3pkg/sub.py": "from . import VERSION\nX = 's3 ' + VERSION\n",
            "s3pkg-1.2.3.dist-info/METADATA": "Metadata-Version: 2.1\nName: s3pkg\nVersion: 1.2.3\n",
        }, prefetch=True, modules=("splitpkg.remote", "s3pkg", "s3pkg.sub"))
        # Bundle D: prefetched, nothing imports from it.
        sha_d = u.bundle({"unused/__init__.py": "raise RuntimeError('never imported')\n"},
                         prefetch=True, modules=("unused",))
        # Bundle L: a lazy module; its bundle is fetched only when its body runs.
        sha_l = u.bundle({"lazys3.py": "import registry\nregistry.RAN.append('lazys3')\nV = 7\n"},
                         modules=("lazys3",), lazy=("lazys3",))
        # Bundle E: two modules imported at the same time from two threads, and
        # one more imported during the first invocation.
        sha_e = u.bundle({"conc/__init__.py": "", "conc/a.py": "X = 'a'\n", "conc/b.py": "X = 'b'\n",
                          "invmod.py": "X = 'inv'\n"},
                         modules=("conc", "conc.a", "conc.b", "invmod"))
        # Bundle C: an asset.
        sha_c = u.bundle({"models/x.onnx": b"\x00ONNX\xff" * 100})
        u.asset("models/x.onnx", "s3", "models/x.onnx", bundle=sha_c)
        u.prefetch = [sha_a]                          # D comes from its "prefetch": true
        u.local_module("handler", dedent("""
            import os, sys, threading, importlib
            import registry, localmod, splitpkg, efsmod
            import splitpkg.remote
            import s3pkg.sub
            import lazys3
            import caios_importer
            from importlib import metadata
            TMP = os.environ["CAIOS_TMP"]
            INIT_META = metadata.version("s3pkg")

            def handler(event, context):
                if event["action"] != "first":
                    import latermod
                    return {"second": True}
                out = {"remote_data": splitpkg.remote.DATA,
                       "remote_file": splitpkg.remote.__file__,
                       "splitpkg_file": splitpkg.__file__,
                       "sub": s3pkg.sub.X, "meta": INIT_META,
                       "lazy_bundle_before": os.path.isdir(os.path.join(TMP, event["sha_l"])),
                       "lazy_ran_before": list(registry.RAN)}
                out["lazy_value"] = lazys3.V
                out["lazy_ran_after"] = list(registry.RAN)
                out["lazy_file"] = lazys3.__file__
                errors = []
                def imp(name):
                    try:
                        importlib.import_module(name)
                    except BaseException as e:
                        errors.append(repr(e))
                threads = [threading.Thread(target=imp, args=(n,)) for n in ("conc.a", "conc.b")]
                for t in threads: t.start()
                for t in threads: t.join()
                import conc.a, conc.b, invmod
                out["conc"] = [conc.a.X, conc.b.X, invmod.X, errors]
                path = caios_importer.asset_path("models/x.onnx")
                out["asset"] = [path, open(path, "rb").read().hex()]
                try:
                    caios_importer.asset_path("models/nope.onnx")
                except KeyError as e:
                    out["unknown_asset"] = str(e)
                out["prefetch_done"] = caios_importer.wait_prefetch(20)
                return out
            """))
        u.local_module("latermod", "")
        self.proxy.set("delay", match=sha_e, interval=0.3)
        r = u.run([{"action": "first", "sha_l": sha_l}, {"action": "second"}])
        self.assertEqual(r.rc, 0, r)
        first = r.results[0]
        base = u.tmpbase
        self.assertEqual(first["remote_data"], "remote data")
        self.assertEqual(first["remote_file"], os.path.join(base, sha_a, "splitpkg/remote.py"))
        self.assertEqual(first["splitpkg_file"], os.path.join(u.root, "splitpkg/__init__.py"))
        self.assertEqual(first["sub"], "s3 1.2.3")
        self.assertEqual(first["meta"], "1.2.3")
        self.assertFalse(first["lazy_bundle_before"], "a lazy module's bundle is fetched on use")
        self.assertEqual(first["lazy_ran_before"], [])
        self.assertEqual(first["lazy_value"], 7)
        self.assertEqual(first["lazy_ran_after"], ["lazys3"])
        self.assertEqual(first["lazy_file"], os.path.join(base, sha_l, "lazys3.py"))
        self.assertEqual(first["conc"], ["a", "b", "inv", []])
        self.assertEqual(first["asset"], [os.path.join(base, sha_c, "models/x.onnx"),
                                          (b"\x00ONNX\xff" * 100).hex()])
        self.assertIn("no asset named 'models/nope.onnx'", first["unknown_asset"])
        self.assertTrue(first["prefetch_done"])
        # Each bundle was downloaded once: prefetch and imports share the download,
        # and two threads importing from one bundle share it too.
        for sha in (sha_a, sha_d, sha_l, sha_e, sha_c):
            self.assertEqual(len(self.gets_for(sha)), 1, (sha, self.proxy.log))
        self.assertTrue(os.path.isdir(os.path.join(base, sha_d)), "prefetch fetched D")

        rec = emf_of(self, r)
        init, inv = tiers(rec["modules"]), tiers(rec["invocation_modules"])
        self.assertEqual(init["localmod"], "local")
        self.assertEqual(init["splitpkg"], "local")
        self.assertEqual(init["splitpkg.remote"], "s3")
        self.assertEqual(init["s3pkg.sub"], "s3")
        self.assertEqual(init["efsmod"], "efs")
        self.assertNotIn("unused", init)
        for name in ("lazys3", "conc", "conc.a", "conc.b", "invmod"):
            self.assertEqual(inv.get(name), "s3", name)
        self.assertNotIn("latermod", inv)
        fetched = sorted(rec["s3_fetched"])
        self.assertEqual(fetched, sorted(s + ".zip" for s in (sha_a, sha_d, sha_l, sha_e, sha_c)))
        self.assertEqual(rec["s3_bytes"], sum(u.bundles[s]["size"]
                                              for s in (sha_a, sha_d, sha_l, sha_e, sha_c)))
        self.assertGreater(rec["s3_ms"], 0)
        # The delayed bundle E was waited for during the invocation: that wait is
        # not the importing modules' self time.
        rows = dict((row[0], row) for row in rec["invocation_modules"])
        self.assertGreaterEqual(rows["conc"][3], 250000, rows)   # cumulative includes the wait
        self.assertLess(rows["conc"][2], 250000, rows)           # self does not

    def test_retries_500_twice_then_succeeds(self):
        u = self.unit
        sha = u.bundle({"flaky.py": "X = 'ok'\n"}, modules=("flaky",))
        u.local_module("handler", "import flaky\ndef handler(e, c):\n    return flaky.X\n")
        u.fetch = {"timeout_s": 2.0, "retries": 3, "backoff_s": 0.05}
        self.proxy.set("500", count=2, match=sha)
        r = u.run([{}])
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.results, ["ok"])
        self.assertEqual(len(self.gets_for(sha)), 3, self.proxy.log)
        rec = emf_of(self, r)
        self.assertEqual(rec["s3_fetched"], [sha + ".zip"])

    def test_500_more_often_than_retries_names_module_bundle_key(self):
        u = self.unit
        sha = u.bundle({"flaky.py": "X = 'ok'\n"}, modules=("flaky",))
        u.local_module("handler", "import flaky\ndef handler(e, c):\n    return 1\n")
        u.fetch = {"timeout_s": 2.0, "retries": 2, "backoff_s": 0.05}
        self.proxy.set("500", count=100, match=sha)
        r = u.run([{}])
        self.assertEqual(r.rc, 3, r)
        msg = r.init_error["message"]
        for part in ("'flaky'", sha, "caios/%s.zip" % sha, "3 attempt(s)", "500"):
            self.assertIn(part, msg)
        self.assertEqual(len(self.gets_for(sha)), 3)
        self.assert_nothing_extracted(sha)

    def test_stall_fails_within_the_configured_bound(self):
        u = self.unit
        sha = u.bundle({"slow.py": "X = 1\n"}, modules=("slow",))
        u.local_module("handler", "import slow\ndef handler(e, c):\n    return 1\n")
        u.fetch = {"timeout_s": 0.5, "retries": 1, "backoff_s": 0.1}
        self.proxy.set("stall", match=sha)
        r = u.run([{}], timeout=60)
        self.assertEqual(r.rc, 3, r)
        msg = r.init_error["message"]
        for part in ("'slow'", sha, "caios/%s.zip" % sha, "timed out", "2 attempt(s)"):
            self.assertIn(part, msg)
        # 2 attempts x 0.5 s + 0.1 s backoff, plus importing boto3 and Python start-up.
        self.assertLess(r.init_elapsed, 1.1 + 3.0, msg)
        self.assertEqual(len(self.gets_for(sha)), 2)
        self.assert_nothing_extracted(sha)

    def test_trickling_server_is_cut_at_the_total_limit(self):
        u = self.unit
        sha = u.bundle({"drip.py": "X = 1\n" * 50}, modules=("drip",))
        u.local_module("handler", "import drip\ndef handler(e, c):\n    return 1\n")
        # A byte every 0.2 s never trips the 1 s read timeout; total_s bounds it.
        u.fetch = {"timeout_s": 1.0, "retries": 3, "backoff_s": 0.1, "total_s": 1.5}
        self.proxy.set("drip", match=sha, interval=0.2)
        t0 = time.monotonic()
        r = u.run([{}], timeout=60)
        self.assertEqual(r.rc, 3, r)
        msg = r.init_error["message"]
        self.assertIn("fetch time limit", msg)
        self.assertIn(sha, msg)
        self.assertLess(r.init_elapsed, 1.5 + 3.0, msg)
        self.assertLess(time.monotonic() - t0, 30)
        self.assert_nothing_extracted(sha)

    def test_flipped_byte_is_refused_and_nothing_runs(self):
        u = self.unit
        marker = os.path.join(u.tmp, "EXECUTED")
        sha = u.bundle({"evilmod.py": "open(%r, 'w').write('ran')\nX = 1\n" % marker,
                        "filler.txt": "x" * 2000}, modules=("evilmod",), corrupt=True)
        u.local_module("handler", dedent("""
            def handler(e, c):
                try:
                    import evilmod
                except ImportError as err:
                    return {"error": str(err), "name": err.name}
                return {"error": None}
            """))
        r = u.run([{}, {}])
        self.assertEqual(r.rc, 0, r)
        for result in r.results:               # the failure is remembered: no second download
            msg = result["error"]
            self.assertIsNotNone(msg)
            for part in ("sha256 mismatch", "'evilmod'", sha, "caios/%s.zip" % sha):
                self.assertIn(part, msg)
            self.assertEqual(result["name"], "evilmod")
        self.assertFalse(os.path.exists(marker), "a module from a bad bundle ran")
        self.assertEqual(len(self.gets_for(sha)), 1, "a hash mismatch is not retried")
        self.assert_nothing_extracted(sha)

    def test_missing_key_names_module_bundle_and_key(self):
        u = self.unit
        sha = u.bundle({"gone.py": "X = 1\n"}, modules=("gone",), upload=False)
        u.local_module("handler", "import gone\ndef handler(e, c):\n    return 1\n")
        r = u.run([{}])
        self.assertEqual(r.rc, 3, r)
        msg = r.init_error["message"]
        for part in ("'gone'", sha, "s3://%s/caios/%s.zip" % (BUCKET, sha), "does not exist",
                     "NoSuchKey"):
            self.assertIn(part, msg)
        self.assertEqual(len(self.gets_for(sha)), 1, "a missing key is not retried")

    def test_missing_asset_key(self):
        u = self.unit
        sha = u.bundle({"models/y.bin": b"y"}, upload=False)
        u.asset("models/y.bin", "s3", "models/y.bin", bundle=sha)
        u.local_module("handler", dedent("""
            import caios_importer
            def handler(e, c):
                try:
                    caios_importer.asset_path("models/y.bin")
                except OSError as err:
                    return str(err)
            """))
        r = u.run([{}])
        self.assertEqual(r.rc, 0, r)
        for part in ("asset 'models/y.bin'", sha, "caios/%s.zip" % sha, "does not exist"):
            self.assertIn(part, r.results[0])

    def test_too_little_tmp_space_is_a_clear_error_before_downloading(self):
        u = self.unit
        sha = u.bundle({"huge.py": "X = 1\n"}, modules=("huge",), unpacked=10 ** 15)
        u.local_module("handler", "import huge\ndef handler(e, c):\n    return 1\n")
        r = u.run([{}])
        self.assertEqual(r.rc, 3, r)
        msg = r.init_error["message"]
        for part in ("'huge'", sha, "not enough space", u.tmpbase, "ephemeral storage"):
            self.assertIn(part, msg)
        self.assertEqual(self.gets_for(sha), [], "nothing should be downloaded")

    def test_zip_slip_members_are_refused(self):
        u = self.unit
        escape = os.path.join(u.tmp, "lambda-tmp", "x.py")
        sha_rel = u.bundle([("ok1.py", "X = 1\n", None), ("../x.py", "X = 'escaped'\n", None)],
                           modules=("ok1",))
        sha_abs = u.bundle([("ok2.py", "X = 2\n", None), ("/tmp/caios-abs-evil.py", "X = 3\n", None)],
                           modules=("ok2",))
        u.local_module("handler", dedent("""
            def handler(e, c):
                out = []
                for name in ("ok1", "ok2"):
                    try:
                        __import__(name)
                        out.append(None)
                    except ImportError as err:
                        out.append(str(err))
                return out
            """))
        r = u.run([{}])
        self.assertEqual(r.rc, 0, r)
        rel_msg, abs_msg = r.results[0]
        self.assertIn("refused: zip member '../x.py'", rel_msg)
        self.assertIn("zip-slip", rel_msg)
        self.assertIn(sha_rel, rel_msg)
        self.assertIn("refused: zip member '/tmp/caios-abs-evil.py'", abs_msg)
        self.assertIn(sha_abs, abs_msg)
        self.assertFalse(os.path.exists(escape))
        self.assertFalse(os.path.exists("/tmp/caios-abs-evil.py"))
        self.assert_nothing_extracted(sha_rel)
        self.assert_nothing_extracted(sha_abs)

    def test_s3_client_and_its_imports_never_come_from_s3(self):
        u = self.unit
        # A plan that (wrongly) put urllib3 and botocore's optional awscrt on S3, in
        # a bundle that is not even uploaded: fetching it would need the S3 client
        # being imported. Meanwhile the handler imports boto3 at init while the
        # prefetch thread imports it too.
        sha_m = u.bundle({"urllib3/__init__.py": "raise RuntimeError('fake urllib3')\n",
                          "awscrt/__init__.py": "", "awscrt/auth.py": ""},
                         modules=("urllib3", "awscrt", "awscrt.auth"), upload=False)
        u.bundle({"p1.py": "X = 'p1'\n"}, prefetch=True, modules=("p1",))
        u.local_module("handler", dedent("""
            import sys
            import boto3, botocore.compat
            import p1
            def handler(event, context):
                try:
                    import awscrt
                    user_awscrt = "imported"
                except ImportError as e:
                    user_awscrt = str(e)
                return {"urllib3": sys.modules["urllib3"].__file__, "p1": p1.X,
                        "has_crt": botocore.compat.HAS_CRT, "user_awscrt": user_awscrt}
            """))
        for _ in range(3):
            r = u.run([{}], timeout=60)
            self.assertEqual(r.rc, 0, r)
            out = r.results[0]
            self.assertTrue(out["urllib3"].startswith(tuple(PYLIBS)), out)
            self.assertEqual(out["p1"], "p1")
            self.assertFalse(out["has_crt"])
            # The handler's own import of awscrt does go to S3 (and finds no object).
            self.assertIn("'awscrt'", out["user_awscrt"])
            self.assertIn("does not exist", out["user_awscrt"])
            shutil.rmtree(u.tmpbase, ignore_errors=True)
        self.assertEqual(len(self.gets_for(sha_m)), 3, "only the handler's own imports")

    def test_large_bundle_is_downloaded_through_a_file(self):
        u = self.unit
        blob = os.urandom(caios_importer.MEMORY_SINK_MAX + 123457)
        sha = u.bundle({"models/big.bin": blob})
        u.asset("models/big.bin", "s3", "models/big.bin", bundle=sha)
        u.local_module("handler", dedent("""
            import hashlib, caios_importer
            def handler(e, c):
                with open(caios_importer.asset_path("models/big.bin"), "rb") as f:
                    return hashlib.sha256(f.read()).hexdigest()
            """))
        r = u.run([{}])
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.results, [sha256(blob)])
        self.assertGreater(u.bundles[sha]["size"], caios_importer.MEMORY_SINK_MAX)
        self.assertEqual(sorted(os.listdir(u.tmpbase)), [sha], "no download file left behind")
        rec = emf_of(self, r)
        self.assertEqual(rec["s3_bytes"], u.bundles[sha]["size"])

    def test_distribution_metadata_on_s3_and_efs(self):
        u = self.unit
        sha = u.bundle({"distpkg/__init__.py": "",
                        "distpkg-2.0.dist-info/METADATA":
                            "Metadata-Version: 2.1\nName: Dist_Pkg\nVersion: 2.0\n"},
                       modules=("distpkg",))
        u.distributions["dist-pkg"] = {"tier": "s3", "bundle": sha, "path": "distpkg-2.0.dist-info"}
        u.write("efs", "efsdist-1.0.dist-info/METADATA",
                "Metadata-Version: 2.1\nName: efsdist\nVersion: 1.0\n")
        u.local_module("handler", dedent("""
            from importlib import metadata
            # Asked before anything imported distpkg: the catalogue says where it is.
            V = metadata.version("Dist_Pkg")
            def handler(event, context):
                try:
                    metadata.version("not-installed-anywhere")
                    missing = "found?!"
                except metadata.PackageNotFoundError:
                    missing = "not found"
                return [V, metadata.version("efsdist"), missing]
            """))
        r = u.run([{}])
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.results, [["2.0", "1.0", "not found"]])
        self.assertEqual(len(self.gets_for(sha)), 1)

    def test_bucket_and_prefix_overrides(self):
        u = self.unit
        u.s3_conf = {"bucket": "no-such-bucket", "prefix": "old/", "region": "us-east-1"}
        members = {"moved.py": "X = 'moved'\n"}
        data = make_zip([(k, v, None) for k, v in members.items()])
        sha = sha256(data)
        self.s3.put_object(Bucket=BUCKET, Key="new/%s.zip" % sha, Body=data)
        u.bundles[sha] = {"key": "old/%s.zip" % sha, "size": len(data), "unpacked_bytes": 20}
        u.mod("moved", "s3", "moved.py", bundle=sha)
        u.local_module("handler", "import moved\ndef handler(e, c):\n    return moved.X\n")
        r = u.run([{}], env={"CAIOS_BUCKET": BUCKET, "CAIOS_PREFIX": "new/"})
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.results, ["moved"])
        self.assertEqual(self.proxy.gets(), ["/%s/new/%s.zip" % (BUCKET, sha)])

    def test_extension_module_with_origin_libs(self):
        ext = build_extension(self.unit.tmp)
        if ext is None:
            self.skipTest("no C compiler or Python headers to build a test extension")
        so_name, so_data, lib_data = ext
        u = self.unit
        u.local_module("extpkg", "from ._ext import value\n", package=True)
        sha = u.bundle([("extpkg/" + so_name, so_data, 0o755),
                        ("extpkg.libs/libcaiosdep.so", lib_data, 0o755)])
        u.mod("extpkg._ext", "s3", "extpkg/" + so_name, bundle=sha, kind="extension")
        u.local_module("handler", dedent("""
            import os, extpkg, extpkg._ext
            def handler(e, c):
                return [extpkg.value(), extpkg._ext.__file__,
                        oct(os.stat(extpkg._ext.__file__).st_mode & 0o777)]
            """))
        r = u.run([{}])
        self.assertEqual(r.rc, 0, r)
        value, path, mode = r.results[0]
        self.assertEqual(value, 42)
        self.assertEqual(path, os.path.join(u.tmpbase, sha, "extpkg", so_name))
        self.assertEqual(mode, "0o755")
        rec = emf_of(self, r)
        self.assertEqual(tiers(rec["modules"])["extpkg._ext"], "s3")


def build_extension(tmp):
    """A tiny C extension that needs a shared library from ../extpkg.libs via
    RPATH $ORIGIN, like manylinux wheels. None if it cannot be built here."""
    cc = shutil.which("cc") or shutil.which("gcc")
    include = sysconfig.get_paths().get("include")
    if not cc or not include or not os.path.exists(os.path.join(include, "Python.h")):
        return None
    from importlib.machinery import EXTENSION_SUFFIXES
    work = os.path.join(tmp, "cbuild")
    os.makedirs(work)
    with open(os.path.join(work, "dep.c"), "w") as f:
        f.write("int caios_dep_value(void) { return 42; }\n")
    with open(os.path.join(work, "ext.c"), "w") as f:
        f.write(dedent("""
            #define PY_SSIZE_T_CLEAN
            #include <Python.h>
            extern int caios_dep_value(void);
            static PyObject *value(PyObject *self, PyObject *args) {
                return PyLong_FromLong(caios_dep_value());
            }
            static PyMethodDef methods[] = {{"value", value, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL}};
            static struct PyModuleDef mod = {PyModuleDef_HEAD_INIT, "_ext", NULL, -1, methods};
            PyMODINIT_FUNC PyInit__ext(void) { return PyModule_Create(&mod); }
            """))
    so_name = "_ext" + EXTENSION_SUFFIXES[0]
    try:
        subprocess.run([cc, "-shared", "-fPIC", "-o", "libcaiosdep.so", "dep.c"], cwd=work,
                       check=True, capture_output=True)
        subprocess.run([cc, "-shared", "-fPIC", "-I", include, "-o", so_name, "ext.c",
                        "-L.", "-lcaiosdep", "-Wl,-rpath,$ORIGIN/../extpkg.libs"],
                       cwd=work, check=True, capture_output=True)
    except (subprocess.CalledProcessError, OSError):
        return None
    def read(name):
        with open(os.path.join(work, name), "rb") as fh:
            return fh.read()
    return so_name, read(so_name), read("libcaiosdep.so")


if __name__ == "__main__":
    unittest.main()
