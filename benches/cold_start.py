"""Cold start of the reference unit: packaged by caios-pack vs all-local vs Zappa-style.

Run through benches/cold_start.sh (which builds caios-pack and finds the
reference env, s3s-fs and boto3). Directly:

  python3 benches/cold_start.py --caios-pack BIN --env REF_ENV --s3s-fs BIN --pylibs DIR
                                [--unit fixtures/reference-unit] [--runs 7] [--work DIR]
                                [--dist DIR] [--json-out FILE] [--diagnose N] [--no-warm]
                                [--tmp-base DIR] [--static | --stats FILE] [--max-latency T]
                                [--efs-sim BIN | --efs-plain]

Modes, each run in a fresh `python3 -I -S` process (all timed inside it):

  local     all-local: the unit's src and the whole env on sys.path, no importer
            and no size limit.
  packaged  `caios-pack trace UNIT --events UNIT/events.json`, then
            `caios-pack package UNIT --site-packages ENV --stats TRACE
            --verify UNIT/events.json --max-latency B` (lazy bindings
            applied when verify passes with them), B = 1.02 x the smallest cold start the model can
            promise (from `package --check`), i.e. the fastest placement
            (--static: no trace, --max-latency 3s):
            deployment.zip unzipped into a task root, its S3 bundles in s3s-fs
            behind the shaping proxy (benches/shaping_proxy.py: 30 ms to the
            first byte, then 85 MB/s), a fresh empty CAIOS_TMP per process, the
            EFS tier DIST/efs/<digest> served through a fresh efs_sim mount
            per process (see below); boto3 on sys.path after the task root, as
            the Lambda runtime provides it. Handler caios_entry.handler.
  zappa     Zappa-style: one zip (deflate level 6, built once in setup) of the
            whole env without its __pycache__ folders, as Zappa packs it
            (ZIP_EXCLUDES in zappa/core.py), in the same s3s-fs behind the
            same proxy; the process imports boto3, GETs the archive into
            memory, extracts it into a fresh temp folder, puts it on
            sys.path, imports the handler (compiling every module, writing
            its .pyc into the extracted tree) and calls it.
  zappa-pyc diagnostic, no target: the same with unchecked-hash .pyc files
            added to the archive, as caios-pack ships them: a stronger
            baseline than Zappa itself.
  warm      diagnostic only, no target: `packaged` with every bundle already
            extracted in CAIOS_TMP (a warm sandbox's /tmp), i.e. the importer
            and the local tier without any S3 traffic.

EFS: when the plan puts files on EFS, every packaged and warm process reads
them through examples/efs_sim.rs (--efs-sim BIN), a FUSE passthrough that
holds each lookup, getattr, open, readdir batch and readlink for
tiers.efs.first_byte_ms and paces reads to tiers.efs.throughput_mb_s, the
figures the plan was solved with (DIST/plan.json's model.tiers.efs). Each
process gets a fresh mount, started and stopped outside the timed span, so
that it starts with cold kernel caches as a new Lambda sandbox's EFS mount
does; within it the kernel caches entries, attributes and pages as an NFS
client does. --efs-plain serves the tree from the plain folder instead
(local-disk speed, the benchmark's method before efs_sim).

Each process's /tmp (CAIOS_TMP, the Zappa extraction folder) is a fresh
folder under --tmp-base, by default under --work, on local disk as Lambda's
/tmp is (shared/aws-facts.md). On the development VM (ext4 on virtio-blk)
creating the ~6,000-10,000 small files of a Zappa-style extraction costs
about 1 ms each, ~10 s in all; `--tmp-base /dev/shm` (tmpfs, RAM) takes that
cost away and shows the baseline at its most favourable: run both.

Cold start = from just before the benchmark spawns the process to the
handler returning its result for the first event of events.json (the clock
is CLOCK_MONOTONIC, shared by both processes). Init = from the first line of
the driver (interpreter up) to the handler module imported (`import
caios_entry` / `import handler`; for zappa including download and extract).

Every mode runs once untimed first (output checked, page cache warmed), then
--runs rounds; each round runs every mode once, in an order rotated every
round, so that machine noise hits all modes alike. Medians are reported.
Every run's result for the first event must equal the all-local result, or
the benchmark stops with exit status 3. Afterwards (untimed) a few
instrumented `packaged` runs record a timeline of the importer's S3 work
(client creation, download, extraction, imports blocked on a bundle) to
show whether the prefetch overlaps init.

Exit status: 0 whatever the timings; 2 setup failed; 3 a run failed or gave a
different result.
"""

import argparse
import importlib.util
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "runtime"))
import harness  # noqa: E402  (S3Server, s3_client, credentials)

BUCKET = "caios-bench"
# Zappa's own archive leaves bytecode out (ZIP_EXCLUDES in zappa/core.py has
# "__pycache__/*"), so its start compiles every module; "zappa-pyc" adds
# unchecked-hash .pyc files, a stronger baseline than Zappa itself.
ZAPPA_KEYS = {"zappa": "zappa/env.zip", "zappa-pyc": "zappa/env-pyc.zip"}
ZAPPA_FORMAT = 3                     # bump when the archives' layout changes
MODES = ("local", "packaged", "zappa", "zappa-pyc", "warm")
LABELS = {
    "local": "all-local (a)",
    "packaged": "packaged (p)",
    "zappa": "Zappa-style (b), no .pyc as Zappa",
    "zappa-pyc": "Zappa-style with .pyc (diagnostic)",
    "warm": "packaged, bundles already in /tmp (diagnostic)",
}

# The process under test. argv: mode, config JSON. Prints one line
# "COLD-START {json}" with monotonic timestamps (ns) and the result.
DRIVER = r"""
import time
T0 = time.monotonic_ns()
import sys, json
mode = sys.argv[1]
cfg = json.loads(sys.argv[2])
out = {"mode": mode, "t_start": T0}
if mode in ("packaged", "warm"):
    sys.path[:0] = [cfg["task"], cfg["pylibs"]]
    if cfg.get("instrument"):
        exec(cfg["instrument"], {"T0": T0, "out": out})
    import caios_entry
    call = caios_entry.handler
elif mode == "local":
    sys.path[:0] = [cfg["src"], cfg["env"]]
    import handler
    call = handler.handler
elif mode in ("zappa", "zappa-pyc"):
    sys.path[:0] = [cfg["src"], cfg["pylibs"]]
    import io, tempfile, zipfile
    import boto3
    from botocore.config import Config
    client = boto3.client("s3", endpoint_url=cfg["endpoint"], region_name=cfg["region"],
                          config=Config(s3={"addressing_style": "path"}))
    out["t_client"] = time.monotonic_ns()
    body = client.get_object(Bucket=cfg["bucket"], Key=cfg["key"])["Body"].read()
    out["t_download"] = time.monotonic_ns()
    out["zip_bytes"] = len(body)
    dest = tempfile.mkdtemp(prefix="zappa-", dir=cfg["tmp"])
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        zf.extractall(dest)
    del body
    out["t_extract"] = time.monotonic_ns()
    sys.path.insert(1, dest)
    import handler
    call = handler.handler
else:
    raise SystemExit("unknown mode %r" % mode)
out["t_init"] = time.monotonic_ns()
import types
result = call(cfg["event"], types.SimpleNamespace(**cfg.get("context", {})))
out["t_first"] = time.monotonic_ns()
out["result"] = result
sys.stdout.write("\nCOLD-START " + json.dumps(out) + "\n")
sys.stdout.flush()
import os
os._exit(0)
"""

# Untimed diagnostic runs: wraps the importer's S3 steps to record when they
# ran (ms after the driver's first line) and in which thread.
INSTRUMENT = r"""
import threading, time
import caios_importer as ci
tl = out.setdefault("timeline", [])

def wrap(name, label, argi):
    orig = getattr(ci.Importer, name)
    def w(self, *a, **k):
        t0 = time.monotonic_ns()
        try:
            return orig(self, *a, **k)
        finally:
            t1 = time.monotonic_ns()
            arg = a[argi] if len(a) > argi else None
            tl.append([label, threading.current_thread().name, (t0 - T0) / 1e6, (t1 - T0) / 1e6,
                       str(arg)])
    setattr(ci.Importer, name, w)

wrap("_get_client", "s3 client: import boto3 + create", 0)
wrap("_download", "GET + sha256", 1)
wrap("_extract", "extract", 1)
wrap("_ensure_for_module", "import waits for its bundle", 1)
"""


def die(msg, code=2):
    sys.stderr.write("error: %s\n" % msg)
    sys.exit(code)


def step(msg):
    sys.stderr.write("\n== %s\n" % msg)
    sys.stderr.flush()


def median(xs):
    return statistics.median(xs) if xs else float("nan")


# ---------------------------------------------------------------------------
# Setup


def unzip_with_modes(zpath, dest):
    """Unzip as Lambda does: Unix modes from external_attr kept."""
    with zipfile.ZipFile(zpath) as zf:
        for info in zf.infolist():
            path = zf.extract(info, dest)
            mode = (info.external_attr >> 16) & 0o7777
            if mode and not info.is_dir():
                os.chmod(path, mode)


def env_stamp(env):
    """Cheap identity of the env: file count, total size, newest mtime."""
    n = size = newest = 0
    for root, dirs, files in os.walk(env):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for f in files:
            st = os.lstat(os.path.join(root, f))
            n += 1
            size += st.st_size
            newest = max(newest, int(st.st_mtime))
    return {"format": ZAPPA_FORMAT, "env": os.path.abspath(env), "files": n, "bytes": size,
            "newest_mtime": newest, "python": sys.implementation.cache_tag}


def unchecked_pyc(src_path, source):
    """Bytecode of a .py file as an unchecked-hash .pyc (PEP 552), taken from
    the env's own timestamp .pyc when it matches the source, else compiled."""
    tag = sys.implementation.cache_tag
    folder, name = os.path.split(src_path)
    cached = os.path.join(folder, "__pycache__", name[:-3] + "." + tag + ".pyc")
    magic = importlib.util.MAGIC_NUMBER
    code_bytes = None
    try:
        with open(cached, "rb") as f:
            data = f.read()
        st = os.stat(src_path)
        if (data[:4] == magic and int.from_bytes(data[4:8], "little") == 0
                and int.from_bytes(data[8:12], "little") == (int(st.st_mtime) & 0xFFFFFFFF)
                and int.from_bytes(data[12:16], "little") == (st.st_size & 0xFFFFFFFF)):
            code_bytes = data[16:]
    except OSError:
        pass
    if code_bytes is None:
        import marshal
        try:
            code = compile(source, src_path, "exec", dont_inherit=True)
        except (SyntaxError, ValueError):
            return None
        code_bytes = marshal.dumps(code)
    flags = 0b01                      # hash-based, check_source off: unchecked
    return magic + flags.to_bytes(4, "little") + importlib.util.source_hash(source) + code_bytes


def build_zappa_zip(env, out_path, with_pyc):
    """The whole env in one zip, deflate level 6, without the env's own
    __pycache__ folders (as Zappa packs it); with_pyc: .py files get
    unchecked-hash .pyc files next to them in __pycache__. Unix modes kept."""
    tag = sys.implementation.cache_tag
    tmp = out_path + ".part"
    n_files = n_pyc = 0
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for root, dirs, files in os.walk(env):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            rel_root = os.path.relpath(root, env)
            for f in sorted(files):
                if rel_root == "." and f == ".complete":
                    continue
                path = os.path.join(root, f)
                if os.path.islink(path) or not os.path.isfile(path):
                    continue
                arc = f if rel_root == "." else rel_root.replace(os.sep, "/") + "/" + f
                st = os.stat(path)
                with open(path, "rb") as fh:
                    data = fh.read()
                info = zipfile.ZipInfo(arc, date_time=time.localtime(max(st.st_mtime, 315532800))[:6])
                info.create_system = 3
                info.external_attr = (0o100000 | (st.st_mode & 0o777)) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, data, compresslevel=6)
                n_files += 1
                if with_pyc and f.endswith(".py"):
                    pyc = unchecked_pyc(path, data)
                    if pyc is not None:
                        pdir = arc.rsplit("/", 1)[0] + "/__pycache__/" if "/" in arc \
                            else "__pycache__/"
                        pinfo = zipfile.ZipInfo(pdir + f[:-3] + "." + tag + ".pyc",
                                                date_time=info.date_time)
                        pinfo.create_system = 3
                        pinfo.external_attr = (0o100644) << 16
                        pinfo.compress_type = zipfile.ZIP_DEFLATED
                        zf.writestr(pinfo, pyc, compresslevel=6)
                        n_pyc += 1
    os.replace(tmp, out_path)
    return n_files, n_pyc


def proc_cpu_ms(pid):
    """user + system CPU time of a running process, ms (Linux /proc)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])
        return ticks * 1000.0 / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def loadavg():
    try:
        return os.getloadavg()
    except OSError:
        return (float("nan"),) * 3


EFS_SIM_FSNAME = "caios-efs-sim:"


def detach_stale_mounts(under):
    """`umount -l` every efs_sim mount below `under` (left by a run that was
    killed: its mount point answers "Transport endpoint is not connected")."""
    under = os.path.abspath(under) + os.sep
    try:
        with open("/proc/self/mountinfo") as f:
            lines = f.read().splitlines()
    except OSError:
        return
    for line in lines:
        fields = line.split(" ")
        sep = fields.index("-") if "-" in fields else -1
        if sep < 0 or len(fields) < sep + 3:
            continue
        point = fields[4].replace("\\040", " ")
        if fields[sep + 2].startswith(EFS_SIM_FSNAME) and point.startswith(under):
            sys.stderr.write("detaching a stale efs_sim mount on %s\n" % point)
            subprocess.run(["umount", "-l", point], check=False)


class EfsSim:
    """One efs_sim process serving `source` on `mountpoint` until stop()."""

    def __init__(self, binary, source, mountpoint, latency_ms, throughput_mb_s, extra=()):
        os.makedirs(mountpoint, exist_ok=True)
        self.mountpoint = mountpoint
        self.stats_path = mountpoint.rstrip("/") + ".stats.json"
        self.proc = subprocess.Popen(
            [binary, source, mountpoint, "--latency-ms", repr(latency_ms),
             "--throughput-mb-s", repr(throughput_mb_s), "--watch-stdin",
             "--stats", self.stats_path] + list(extra),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            preexec_fn=harness._die_with_parent)
        line = self.proc.stdout.readline()
        if not line.startswith("mounted "):
            err = self.proc.communicate(timeout=10)[1]
            die("efs_sim could not mount %s on %s: %s (it needs /dev/fuse and root; "
                "--efs-plain serves the plain folder)" % (source, mountpoint, err.strip()))

    def stop(self):
        """Unmounts (efs_sim exits when its stdin closes); returns its counts."""
        self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            subprocess.run(["umount", "-l", self.mountpoint], check=False)
            die("efs_sim did not exit; detached %s" % self.mountpoint)
        if self.proc.returncode != 0:
            die("efs_sim failed (exit %d): %s" % (self.proc.returncode, self.proc.stderr.read()))
        with open(self.stats_path) as f:
            return json.load(f)


# ---------------------------------------------------------------------------
# Running one process


def efs_serving(a, dist, plan):
    """The package's EFS tree, DIST/efs/<digest> ("" when it has none), and
    how to serve it: (efs_sim binary, ms per operation, MB/s) from the plan's
    model.tiers.efs, or None for the plain folder (--efs-plain, or no file
    on EFS)."""
    efs_dir = os.path.join(dist, "efs")
    roots = sorted(os.listdir(efs_dir)) if os.path.isdir(efs_dir) else []
    root = os.path.join(efs_dir, roots[0]) if roots else ""
    uses_efs = bool(root) and any(files for _, _, files in os.walk(root))
    if not uses_efs or a.efs_plain:
        return root, None
    efs = ((plan.get("model") or {}).get("tiers") or {}).get("efs") or {}
    if "first_byte_ms" not in efs or "throughput_mb_s" not in efs:
        die("%s has no model.tiers.efs (written by an older caios-pack): package "
            "again, or pass --efs-plain" % os.path.join(dist, "plan.json"))
    if not a.efs_sim or not os.access(a.efs_sim, os.X_OK):
        die("the plan uses EFS: --efs-sim BIN (cargo build --example efs_sim) or --efs-plain")
    return root, (os.path.abspath(a.efs_sim), float(efs["first_byte_ms"]),
                  float(efs["throughput_mb_s"]))


class Bench:
    def __init__(self, a):
        self.a = a
        self.work = os.path.abspath(a.work)
        self.unit = os.path.abspath(a.unit)
        self.env_dir = os.path.abspath(a.env)
        self.pylibs = os.path.abspath(a.pylibs)
        base = a.tmp_base or os.path.join(self.work, "tmp")
        # Each process's /tmp (CAIOS_TMP, the Zappa extraction folder) lives here.
        self.runs_dir = os.path.join(os.path.abspath(base), "caios-cold-start-%d" % os.getpid())
        self.server = None
        self.proxy = None
        self.proxy_url = None
        self.proxy_log = os.path.join(self.work, "proxy.log")
        self.proxy_log_pos = 0
        self.counter = 0
        self.efs_sim = None       # (binary, latency ms, MB/s) when EFS is simulated
        self.model_efs_ms = None  # the plan's modelled EFS share of a cold start
        self.active_sim = None

    # -- setup -----------------------------------------------------------

    def trace_stats(self):
        """The workflow docs/getting-started.md gives: `caios-pack trace` on the
        unit's events, and its statistics for `package --stats`."""
        a = self.a
        if a.stats:
            return os.path.abspath(a.stats)
        out = os.path.join(self.work, "trace.json")
        cmd = [a.caios_pack, "trace", self.unit, "--site-packages", self.env_dir,
               "--events", os.path.join(self.unit, "events.json"), "--out", out]
        step(" ".join(cmd))
        t = time.monotonic()
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            die("caios-pack trace failed (exit %d):\n%s%s" % (p.returncode, p.stdout, p.stderr))
        sys.stderr.write("traced in %.1f s\n" % (time.monotonic() - t))
        return out

    def tightest_budget(self, stats):
        """The smallest cold start the placement model can promise for this
        unit (what `package --check` reports when a budget is too tight; with
        the lazy bindings that qualify, when `package --verify` will apply
        them), plus 2 %: the fastest placement, which is what this benchmark
        compares."""
        cmd = [self.a.caios_pack, "package", self.unit, "--site-packages", self.env_dir,
               "--max-latency", "1ms", "--check", "--format", "json"] + stats
        p = subprocess.run(cmd, capture_output=True, text=True)
        try:
            doc = json.loads(p.stdout)
            floor = doc["min_latency_ms"]
            if stats and doc.get("min_latency_with_lazy_bindings_ms"):
                floor = doc["min_latency_with_lazy_bindings_ms"]
        except (ValueError, KeyError, TypeError):
            die("`%s` did not report min_latency_ms:\n%s%s" % (" ".join(cmd), p.stdout, p.stderr))
        budget = "%dms" % (int(floor * 1.02) + 1)
        sys.stderr.write("tightest budget the model can meet: %.0f ms; packaging with %s\n"
                         % (floor, budget))
        return budget

    def setup(self):
        a = self.a
        os.makedirs(self.work, exist_ok=True)
        detach_stale_mounts(self.work)
        detach_stale_mounts(os.path.dirname(self.runs_dir))
        events = json.load(open(os.path.join(self.unit, "events.json")))["tests"]
        self.event = events[0]
        src = os.path.join(self.unit, "src")
        self.src = src if os.path.isfile(os.path.join(src, "handler.py")) else self.unit

        # 1. The package.
        if a.dist:
            self.dist = os.path.abspath(a.dist)
            step("reusing the package in %s" % self.dist)
        else:
            self.dist = os.path.join(self.work, "dist")
            shutil.rmtree(self.dist, ignore_errors=True)
            stats = [] if a.static else ["--stats", self.trace_stats()]
            budget = a.max_latency or ("3s" if a.static else self.tightest_budget(stats))
            # --verify: lazy bindings are emitted only when verify passes with them.
            verify = [] if a.static else ["--verify", os.path.join(self.unit, "events.json")]
            cmd = [a.caios_pack, "package", self.unit, "--site-packages", self.env_dir,
                   "--max-latency", budget, "--out", self.dist] + stats + verify
            step(" ".join(cmd))
            t = time.monotonic()
            p = subprocess.run(cmd, capture_output=True, text=True)
            if p.returncode != 0:
                die("caios-pack package failed (exit %d):\n%s%s" % (p.returncode, p.stdout, p.stderr))
            self.package_summary = p.stdout
            sys.stderr.write(p.stdout[:1200] + ("...\n" if len(p.stdout) > 1200 else ""))
            sys.stderr.write("packaged in %.1f s\n" % (time.monotonic() - t))
        self.catalogue = json.load(open(os.path.join(self.dist, "catalogue.json")))
        plan = json.load(open(os.path.join(self.dist, "plan.json")))
        self.lazy_status = (plan.get("lazy_bindings") or {}).get("status", "-")
        step("lazy bindings: %s" % self.lazy_status)
        self.model_efs_ms = sum(t.get("cold_start_ms") or 0 for t in plan["plan"]["per_tier"]
                                if t["tier"] == "efs")
        self.efs_root, self.efs_sim = efs_serving(a, self.dist, plan)
        if self.efs_sim:
            step("EFS tier through efs_sim: %g ms per lookup/getattr/open/readdir, %g MB/s "
                 "(plan.json model.tiers.efs), a fresh mount per process"
                 % self.efs_sim[1:])

        # 2. The task root (deployment.zip unzipped, as Lambda does).
        self.task = os.path.join(self.work, "task")
        shutil.rmtree(self.task, ignore_errors=True)
        step("unzipping deployment.zip into %s" % self.task)
        unzip_with_modes(os.path.join(self.dist, "deployment.zip"), self.task)

        # 3. The Zappa-style archives (reused when the env has not changed).
        zdir = os.path.join(self.work, "zappa")
        os.makedirs(zdir, exist_ok=True)
        self.zappa_zip = {m: os.path.join(zdir, os.path.basename(k)) for m, k in ZAPPA_KEYS.items()}
        stamp_path = os.path.join(zdir, "stamp.json")
        stamp = env_stamp(self.env_dir)
        old = None
        try:
            old = json.load(open(stamp_path))
        except (OSError, ValueError):
            pass
        if old != stamp or not all(os.path.isfile(z) for z in self.zappa_zip.values()):
            for m, path in self.zappa_zip.items():
                step("building the Zappa-style archive %s of %s (zip, level 6; untimed)"
                     % (os.path.basename(path), self.env_dir))
                t = time.monotonic()
                n, npyc = build_zappa_zip(self.env_dir, path, with_pyc=(m == "zappa-pyc"))
                sys.stderr.write("%d files + %d .pyc, %.1f MB, in %.1f s\n"
                                 % (n, npyc, os.path.getsize(path) / 1e6, time.monotonic() - t))
            json.dump(stamp, open(stamp_path, "w"))
        else:
            step("reusing the Zappa-style archives in %s" % zdir)
        self.zappa_members = {}
        self.zappa_unpacked = {}
        for m, path in self.zappa_zip.items():
            with zipfile.ZipFile(path) as zf:
                self.zappa_unpacked[m] = sum(i.file_size for i in zf.infolist())
                self.zappa_members[m] = len(zf.infolist())

        # 4. s3s-fs, the bucket, the objects; the shaping proxy in front.
        store = os.path.join(self.work, "s3", "store")
        shutil.rmtree(os.path.dirname(store), ignore_errors=True)
        os.makedirs(store)
        step("starting s3s-fs (%s) and uploading" % a.s3s_fs)
        self.server = harness.S3Server(a.s3s_fs, store).start()
        client = harness.s3_client([self.pylibs], self.server.url)
        client.create_bucket(Bucket=BUCKET)
        prefix = self.catalogue["s3"].get("prefix") or ""
        s3dir = os.path.join(self.dist, "s3")
        self.s3_objects = 0
        self.s3_bytes = 0
        for name in sorted(os.listdir(s3dir)):
            with open(os.path.join(s3dir, name), "rb") as f:
                data = f.read()
            client.put_object(Bucket=BUCKET, Key=prefix + name, Body=data)
            self.s3_objects += 1
            self.s3_bytes += len(data)
        self.zappa_size = {}
        for m, key in ZAPPA_KEYS.items():
            client.upload_file(self.zappa_zip[m], BUCKET, key)
            self.zappa_size[m] = os.path.getsize(self.zappa_zip[m])
            head = client.head_object(Bucket=BUCKET, Key=key)
            if head["ContentLength"] != self.zappa_size[m]:
                die("the Zappa archive %s in s3s-fs has %d bytes, not %d"
                    % (key, head["ContentLength"], self.zappa_size[m]))
        sys.stderr.write("%d bundles (%.1f MB) under s3://%s/%s, Zappa archives %s\n"
                         % (self.s3_objects, self.s3_bytes / 1e6, BUCKET, prefix,
                            ", ".join("%.1f MB" % (n / 1e6) for n in self.zappa_size.values())))
        open(self.proxy_log, "w").close()
        self.proxy = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "shaping_proxy.py"),
             "--upstream-port", str(self.server.port), "--ttfb-ms", str(a.ttfb_ms),
             "--rate-mb", str(a.rate_mb), "--log", self.proxy_log],
            stdout=subprocess.PIPE, text=True, preexec_fn=harness._die_with_parent)
        line = self.proxy.stdout.readline().split()
        if len(line) != 2 or line[0] != "listening":
            die("the shaping proxy did not start")
        self.proxy_url = "http://127.0.0.1:%s" % line[1]
        step("shaping proxy %s: %.0f ms to the first byte, %.0f MB/s shared"
             % (self.proxy_url, a.ttfb_ms, a.rate_mb))
        os.makedirs(self.runs_dir, exist_ok=True)
        self.warm_tmp = None

    def close(self):
        if self.active_sim is not None:   # a run failed while mounted
            self.active_sim.proc.stdin.close()
            try:
                self.active_sim.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.active_sim.proc.kill()
                subprocess.run(["umount", "-l", self.active_sim.mountpoint], check=False)
        if self.proxy is not None and self.proxy.poll() is None:
            self.proxy.terminate()
            try:
                self.proxy.wait(5)
            except subprocess.TimeoutExpired:
                self.proxy.kill()
        if self.server is not None:
            self.server.stop()
        shutil.rmtree(self.runs_dir, ignore_errors=True)

    # -- one process -------------------------------------------------------

    def base_env(self, rundir):
        return harness.client_env(rundir, self.proxy_url,
                                  AWS_LAMBDA_FUNCTION_NAME="cold-start-bench")

    def run(self, mode, instrument=False, keep_tmp=False):
        self.counter += 1
        rundir = os.path.join(self.runs_dir, "%03d-%s" % (self.counter, mode))
        shutil.rmtree(rundir, ignore_errors=True)
        os.makedirs(rundir)
        env = self.base_env(rundir)
        cfg = {"event": self.event["event"], "context": self.event.get("context") or {}}
        sim = None
        if mode in ("packaged", "warm"):
            cfg.update(task=self.task, pylibs=self.pylibs)
            efs_root = self.efs_root
            if self.efs_sim:
                binary, latency, rate = self.efs_sim
                efs_root = os.path.join(rundir, "efs")
                sim = self.active_sim = EfsSim(binary, self.efs_root, efs_root, latency, rate,
                                               self.a.efs_sim_args.split())
            env.update(CAIOS_BUCKET=BUCKET, CAIOS_EFS_ROOT=efs_root)
            if mode == "packaged":
                env["CAIOS_TMP"] = os.path.join(rundir, "caios")     # fresh, empty
            else:
                env["CAIOS_TMP"] = self.warm_tmp
            if instrument:
                cfg["instrument"] = INSTRUMENT
        elif mode == "local":
            cfg.update(src=self.src, env=self.env_dir)
        elif mode in ZAPPA_KEYS:
            ztmp = os.path.join(rundir, "tmp")
            os.makedirs(ztmp)
            cfg.update(src=self.src, pylibs=self.pylibs, endpoint=self.proxy_url,
                       region=harness.REGION, bucket=BUCKET, key=ZAPPA_KEYS[mode], tmp=ztmp)
        cmd = [sys.executable, "-I", "-S", "-c", DRIVER, mode, json.dumps(cfg)]
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        side0 = (proc_cpu_ms(self.proxy.pid), proc_cpu_ms(self.server.proc.pid))
        t_spawn = time.monotonic_ns()
        p = subprocess.run(cmd, env=env, cwd=rundir, capture_output=True, text=True, timeout=600)
        t_exit = time.monotonic_ns()
        side1 = (proc_cpu_ms(self.proxy.pid), proc_cpu_ms(self.server.proc.pid))
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        efs_stats = None
        if sim is not None:
            sim_cpu_ms = proc_cpu_ms(sim.proc.pid)
            efs_stats = sim.stop()
            efs_stats["cpu_ms"] = sim_cpu_ms
            self.active_sim = None
        rec = None
        emf = None
        for line in p.stdout.splitlines():
            if line.startswith("COLD-START "):
                rec = json.loads(line[len("COLD-START "):])
            elif line.startswith("{") and '"caios"' in line:
                try:
                    emf = harness.parse_emf_line(line)
                except ValueError:
                    pass
        if p.returncode != 0 or rec is None:
            sys.stderr.write("--- stdout\n%s\n--- stderr\n%s\n" % (p.stdout[-3000:], p.stderr[-6000:]))
            die("the %s run (%s) failed with exit status %d" % (mode, rundir, p.returncode), 3)
        ms = lambda t: (t - t_spawn) / 1e6   # noqa: E731
        r = {
            "mode": mode,
            "cold_ms": ms(rec["t_first"]),
            "init_ms": (rec["t_init"] - rec["t_start"]) / 1e6,
            "interp_ms": ms(rec["t_start"]),
            "handler_ms": (rec["t_first"] - rec["t_init"]) / 1e6,
            "process_ms": ms(t_exit),
            "cpu_ms": ((ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)) * 1000,
            "proxy_cpu_ms": side1[0] - side0[0],
            "s3s_cpu_ms": side1[1] - side0[1],
            "result": rec["result"],
            "load": loadavg()[0],
        }
        if mode in ZAPPA_KEYS:
            r["zappa"] = {
                "boto3_client_ms": (rec["t_client"] - rec["t_start"]) / 1e6,
                "download_ms": (rec["t_download"] - rec["t_client"]) / 1e6,
                "extract_ms": (rec["t_extract"] - rec["t_download"]) / 1e6,
                "import_ms": (rec["t_init"] - rec["t_extract"]) / 1e6,
                "zip_bytes": rec["zip_bytes"],
            }
        if emf is not None:
            r["emf"] = {k: emf.get(k) for k in (
                "init_ms", "local_count", "local_ms", "efs_count", "efs_ms", "s3_count",
                "s3_ms", "s3_client_ms", "s3_wait_ms", "s3_bytes", "s3_fetched")}
            r["emf_modules"] = emf.get("modules") or []
            r["emf_invocation_modules"] = emf.get("invocation_modules") or []
        if efs_stats is not None:
            r["efs_sim"] = efs_stats
        if "timeline" in rec:
            r["timeline"] = rec["timeline"]
        r["gets"] = self.read_proxy_log()
        if mode == "packaged" and keep_tmp:
            self.warm_tmp = os.path.join(self.runs_dir, "warm-tmp")
            shutil.rmtree(self.warm_tmp, ignore_errors=True)
            if os.path.isdir(env["CAIOS_TMP"]):
                os.rename(env["CAIOS_TMP"], self.warm_tmp)
            else:  # nothing was fetched from S3 (e.g. EFS took the init set)
                os.makedirs(self.warm_tmp)
        shutil.rmtree(rundir, ignore_errors=True)
        return r

    def read_proxy_log(self):
        with open(self.proxy_log) as f:
            f.seek(self.proxy_log_pos)
            data = f.read()
            self.proxy_log_pos = f.tell()
        return [json.loads(line) for line in data.splitlines() if line.strip()]


# ---------------------------------------------------------------------------
# Report


def fmt(x, nd=0):
    if x is None or x != x:
        return "-"
    return ("%." + str(nd) + "f") % x


def summarize(b, results, diag, warmups):
    a = b.a
    by = {m: [r for r in results if r["mode"] == m] for m in MODES}
    med = {m: {k: median([r[k] for r in rs]) for k in ("cold_ms", "init_ms", "interp_ms",
                                                        "handler_ms", "cpu_ms", "proxy_cpu_ms",
                                                        "s3s_cpu_ms", "process_ms")}
           for m, rs in by.items() if rs}
    lines = []
    w = lines.append
    w("")
    w("cold_start: reference unit %s, first event %r" % (b.unit, b.event.get("name")))
    w("python %s (-I -S), %d CPUs, load average at the end %s; caios-pack %s"
      % (platform.python_version(), os.cpu_count(), " ".join(fmt(x, 2) for x in loadavg()),
         a.caios_pack))
    w("each process's /tmp (CAIOS_TMP, Zappa extraction) under %s" % os.path.dirname(b.runs_dir))
    w("lazy bindings: %s" % b.lazy_status)
    w("network model: %.0f ms to the first byte of every response, then %.0f MB/s shared "
      "(benches/shaping_proxy.py in front of s3s-fs)" % (a.ttfb_ms, a.rate_mb))
    if b.efs_sim:
        w("EFS tier: examples/efs_sim, %g ms per lookup/getattr/open/readdir batch, %g MB/s "
          "(plan.json model.tiers.efs), a fresh FUSE mount per process%s"
          % (b.efs_sim[1:] + ("; efs_sim flags %s" % a.efs_sim_args if a.efs_sim_args else "",)))
    elif b.efs_root:
        w("EFS tier: the plain folder %s (--efs-plain or no EFS files): local-disk speed"
          % b.efs_root)
    w("package: deployment.zip %.1f MB; %d S3 bundles, %.1f MB"
      % (os.path.getsize(os.path.join(b.dist, "deployment.zip")) / 1e6, b.s3_objects,
         b.s3_bytes / 1e6))
    for m in ZAPPA_KEYS:
        w("%s archive: %.1f MB zipped, %.1f MB unpacked, %d members"
          % (LABELS[m], b.zappa_size[m] / 1e6, b.zappa_unpacked[m] / 1e6, b.zappa_members[m]))
    w("")
    hdr = "%-48s %5s %12s %15s %11s %15s" % ("mode", "runs", "cold ms (med)", "cold min/max",
                                             "init ms", "init min/max")
    w(hdr)
    w("-" * len(hdr))
    for m in MODES:
        rs = by[m]
        if not rs:
            continue
        cs = [r["cold_ms"] for r in rs]
        ins = [r["init_ms"] for r in rs]
        w("%-48s %5d %12s %15s %11s %15s" % (
            LABELS[m], len(rs), fmt(median(cs)), "%s / %s" % (fmt(min(cs)), fmt(max(cs))),
            fmt(median(ins)), "%s / %s" % (fmt(min(ins)), fmt(max(ins)))))
    w("")
    w("medians, ms: interpreter start (spawn to first driver line), handler call, child CPU "
      "(user+sys), proxy and s3s-fs CPU during the run")
    for m in MODES:
        if m in med:
            x = med[m]
            w("  %-46s start %5s  handler %5s  cpu %6s  proxy cpu %5s  s3s-fs cpu %5s"
              % (LABELS[m], fmt(x["interp_ms"]), fmt(x["handler_ms"]), fmt(x["cpu_ms"]),
                 fmt(x["proxy_cpu_ms"]), fmt(x["s3s_cpu_ms"])))

    verdict = {}
    if "packaged" in med and "local" in med and "zappa" in med:
        p, l, z = med["packaged"]["cold_ms"], med["local"]["cold_ms"], med["zappa"]["cold_ms"]
        r1 = p / l
        r2 = z / p
        # Issue #13: packaged at most 0.80x the eager all-local import.
        local_target = 0.80
        verdict = {"packaged_over_local": r1, "zappa_over_packaged": r2,
                   "target_local_met": r1 <= local_target, "target_zappa_met": r2 >= 8.0}
        w("")
        w("packaged / all-local  = %.2fx   target <= %.2fx: %s" % (
            r1, local_target, "MET" if r1 <= local_target else
            "NOT MET (packaged is %.0f ms, %.0f%% of all-local)" % (p, r1 * 100)))
        w("Zappa-style / packaged = %.2fx   target >= 8x:  %s" % (
            r2, "MET" if r2 >= 8.0 else "NOT MET (packaged is %.1fx faster than Zappa-style, "
            "not 8x)" % r2))
        w("init medians: packaged / all-local = %.2fx, Zappa-style / packaged = %.2fx"
          % (med["packaged"]["init_ms"] / med["local"]["init_ms"],
             med["zappa"]["init_ms"] / med["packaged"]["init_ms"]))
        if "zappa-pyc" in med:
            r3 = med["zappa-pyc"]["cold_ms"] / p
            verdict["zappa_pyc_over_packaged"] = r3
            w("Zappa-style with .pyc added / packaged = %.2fx (a stronger baseline than Zappa; "
              "no target)" % r3)

    # Where the packaged mode's time goes: the importer's own EMF line.
    for m in ("packaged", "warm"):
        emfs = [r["emf"] for r in by[m] if r.get("emf")]
        if not emfs:
            continue
        w("")
        w("%s: importer EMF line, medians over %d runs" % (LABELS[m], len(emfs)))
        keys = ("init_ms", "local_ms", "efs_ms", "s3_ms", "s3_client_ms", "s3_wait_ms")
        w("  " + "  ".join("%s %s" % (k, fmt(median([e[k] for e in emfs if e.get(k) is not None]), 1))
                           for k in keys))
        w("  modules: local %s, efs %s, s3 %s; S3 bytes fetched %s (%s bundles: %s)" % (
            fmt(median([e["local_count"] for e in emfs])), fmt(median([e["efs_count"] for e in emfs])),
            fmt(median([e["s3_count"] for e in emfs])), fmt(median([e["s3_bytes"] for e in emfs])),
            fmt(median([len(e["s3_fetched"] or []) for e in emfs])),
            ", ".join(sorted(set(n[:12] for e in emfs for n in (e["s3_fetched"] or []))))))
        sims = [r["efs_sim"] for r in by[m] if r.get("efs_sim")]
        if sims:
            med_of = lambda k: median([x[k] for x in sims])  # noqa: E731
            w("  efs_sim per run (medians): %s lookups (%s of missing names), %s getattr, "
              "%s opens, %s readdir batches, %s reads of %.1f MB; replies held %s ms; "
              "efs_sim CPU %s ms; the plan models EFS at %s ms of the cold start"
              % (fmt(med_of("lookup")), fmt(med_of("lookup_missing")), fmt(med_of("getattr")),
                 fmt(med_of("open")), fmt(med_of("readdir")), fmt(med_of("read")),
                 med_of("read_bytes") / 1e6, fmt(med_of("waited_ms")), fmt(med_of("cpu_ms")),
                 fmt(b.model_efs_ms)))
        # Slowest modules by cumulative time (median over runs).
        cum = {}
        for r in by[m]:
            for name, tier, s, c in r.get("emf_modules") or []:
                cum.setdefault((name, tier), []).append((s / 1000.0, c / 1000.0))
        top = sorted(cum.items(), key=lambda kv: -median([c for _, c in kv[1]]))[:8]
        w("  largest cumulative module loads (median ms, self/cum): " + "; ".join(
            "%s [%s] %s/%s" % (n, t, fmt(median([s for s, _ in v]), 1), fmt(median([c for _, c in v]), 1))
            for (n, t), v in top))

    for m in ZAPPA_KEYS:
        zs = [r["zappa"] for r in by[m]]
        if zs:
            w("")
            w("%s phases, medians (ms): import boto3 + client %s, GET %.1f MB %s, "
              "extract %s, import handler %s"
              % (LABELS[m], fmt(median([z["boto3_client_ms"] for z in zs])),
                 zs[0]["zip_bytes"] / 1e6, fmt(median([z["download_ms"] for z in zs])),
                 fmt(median([z["extract_ms"] for z in zs])),
                 fmt(median([z["import_ms"] for z in zs]))))

    # The proxy's view: GETs per run, effective rate of the largest body.
    w("")
    w("S3 GETs through the proxy (median per run): count, MB, largest body's ms to first byte / total")
    for m in ("packaged", "zappa", "zappa-pyc", "warm"):
        rs = by[m]
        if not rs:
            continue
        counts = [len([g for g in r["gets"] if g["method"] == "GET"]) for r in rs]
        mbs = [sum(g["bytes"] for g in r["gets"]) / 1e6 for r in rs]
        bigs = [max(r["gets"], key=lambda g: g["bytes"]) for r in rs if r["gets"]]
        if bigs:
            rate = median([g["bytes"] / 1e6 / max(1e-9, (g["total_ms"] - g["ttfb_ms"]) / 1000)
                           for g in bigs])
            big = "largest %.1f MB: %s / %s ms (%.0f MB/s effective)" % (
                bigs[0]["bytes"] / 1e6, fmt(median([g["ttfb_ms"] for g in bigs]), 1),
                fmt(median([g["total_ms"] for g in bigs])), rate)
        else:
            big = "no GETs"
        w("  %-46s %s GETs, %s MB; %s" % (LABELS[m], fmt(median(counts)), fmt(median(mbs), 1), big))

    # The timeline of the instrumented runs.
    if diag:
        w("")
        w("prefetch vs init (%d instrumented packaged runs, untimed; ms after the driver's first "
          "line, median start-end):" % len(diag))
        rows = {}
        for r in diag:
            seen = {}
            for label, thread, t0, t1, arg in r.get("timeline") or []:
                if label == "import waits for its bundle" and t1 - t0 < 1.0:
                    continue
                key = (label, "main" if thread == "MainThread" else
                       thread.rsplit("-", 1)[0] if thread.startswith("caios-") else thread,
                       arg if label == "import waits for its bundle" else "")
                seen.setdefault(key, []).append((t0, t1))
            for key, spans in seen.items():
                rows.setdefault(key, []).append((spans[0][0], spans[-1][1]))
        for key, spans in sorted(rows.items(), key=lambda kv: median([s for s, _ in kv[1]])):
            label, thread, arg = key
            w("  %-36s %-22s %7s - %7s%s" % (label, "[" + thread + "]", fmt(median([s for s, _ in spans])),
                                            fmt(median([e for _, e in spans])),
                                            "  (" + arg + ")" if arg else ""))
        w("  %-36s %-22s %7s - %7s" % ("handler module imported (init end)", "[main]", "",
                                        fmt(median([r["init_ms"] for r in diag]))))
        w("  %-36s %-22s %7s" % ("cold start (spawn to result)", "", fmt(median([r["cold_ms"] for r in diag]))))
    return "\n".join(lines), med, verdict


# ---------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--caios-pack", required=True)
    ap.add_argument("--env", required=True, help="the reference unit's site-packages")
    ap.add_argument("--unit", default=os.path.join(REPO, "fixtures", "reference-unit"))
    ap.add_argument("--s3s-fs", required=True)
    ap.add_argument("--pylibs", required=True, help="folder holding boto3")
    ap.add_argument("--work", default=os.path.join(REPO, "target", "cold-start"))
    ap.add_argument("--dist", help="reuse this `caios-pack package` output instead of packaging")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--max-latency", help="package's budget (default: 1.02 x the tightest the "
                    "model can meet with statistics, 3s with --static)")
    ap.add_argument("--static", action="store_true",
                    help="package without statistics (static analysis only)")
    ap.add_argument("--stats", help="statistics for `package --stats` instead of tracing the "
                    "unit's events.json first")
    ap.add_argument("--ttfb-ms", type=float, default=30.0)
    ap.add_argument("--rate-mb", type=float, default=85.0)
    ap.add_argument("--diagnose", type=int, default=3, help="instrumented packaged runs (0: none)")
    ap.add_argument("--no-warm", action="store_true", help="skip the diagnostic warm mode")
    ap.add_argument("--tmp-base", help="where each process's /tmp goes (CAIOS_TMP, the Zappa "
                    "extraction); default WORK/tmp, on disk like Lambda's /tmp; /dev/shm "
                    "for tmpfs")
    ap.add_argument("--efs-sim", help="examples/efs_sim binary: serves the EFS tier with the "
                    "plan's EFS latency and throughput (needs /dev/fuse and root)")
    ap.add_argument("--efs-sim-args", default="",
                    help="extra efs_sim flags, after (so overriding) the plan's figures, e.g. "
                    "'--latency-ms 0 --throughput-mb-s 0' to measure the passthrough's own "
                    "cost, '--ttl-s 0' for no kernel caching")
    ap.add_argument("--efs-plain", action="store_true",
                    help="serve the EFS tier from the plain folder (local-disk speed)")
    ap.add_argument("--json-out")
    a = ap.parse_args()
    if a.runs < 1:
        die("--runs must be at least 1")
    for what, path in (("caios-pack", a.caios_pack), ("s3s-fs", a.s3s_fs)):
        if not os.access(path, os.X_OK):
            die("%s not found at %s" % (what, path))
    if not os.path.isdir(os.path.join(a.pylibs, "boto3")):
        die("no boto3 in %s" % a.pylibs)

    b = Bench(a)
    modes = [m for m in MODES if not (m == "warm" and a.no_warm)]
    try:
        b.setup()
        # Untimed first run of every mode: the results every run must give.
        step("untimed check run of every mode")
        warmups = {}
        for m in modes:
            if m == "warm" and b.warm_tmp is None:
                die("no extracted bundles for the warm mode")
            r = b.run(m, keep_tmp=(m == "packaged"))
            warmups[m] = r
            sys.stderr.write("  %-9s cold %7.0f ms  init %7.0f ms  result %s\n"
                             % (m, r["cold_ms"], r["init_ms"], json.dumps(r["result"])))
        expected = warmups["local"]["result"]
        for m, r in warmups.items():
            if r["result"] != expected:
                die("%s gives %s for the first event, all-local gives %s"
                    % (m, json.dumps(r["result"]), json.dumps(expected)), 3)
        if not (warmups["packaged"].get("emf") or {}).get("s3_bytes"):
            sys.stderr.write("warning: the packaged run fetched nothing from S3\n")

        results = []
        step("%d rounds of %s, order rotated every round" % (a.runs, ", ".join(modes)))
        for i in range(a.runs):
            order = modes[i % len(modes):] + modes[:i % len(modes)]
            line = []
            for m in order:
                r = b.run(m)
                if r["result"] != expected:
                    die("round %d: %s gives %s for the first event, all-local gives %s"
                        % (i + 1, m, json.dumps(r["result"]), json.dumps(expected)), 3)
                results.append(r)
                line.append("%s %.0f" % (m, r["cold_ms"]))
            sys.stderr.write("  round %d (load %.2f): %s ms\n" % (i + 1, loadavg()[0], ", ".join(line)))

        diag = []
        if a.diagnose > 0:
            step("%d instrumented packaged runs (untimed)" % a.diagnose)
            for _ in range(a.diagnose):
                r = b.run("packaged", instrument=True)
                if r["result"] != expected:
                    die("instrumented packaged run gives %s" % json.dumps(r["result"]), 3)
                diag.append(r)
    finally:
        b.close()

    text, med, verdict = summarize(b, results, diag, warmups)
    print(text)
    if a.json_out:
        doc = {"config": {k: v for k, v in vars(a).items()}, "python": platform.python_version(),
               "cpus": os.cpu_count(), "medians": med, "verdict": verdict,
               "expected_result": expected, "runs": results, "diagnose": diag,
               "warmups": warmups}
        with open(a.json_out, "w") as f:
            json.dump(doc, f, indent=1)
        sys.stderr.write("raw figures in %s\n" % a.json_out)


if __name__ == "__main__":
    main()
