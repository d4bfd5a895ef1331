"""Init (import) time of one app: eager all-local import vs the packaged function.

Run by benches/apps.sh for each app; directly:

  python3 benches/apps_init.py --src UNIT/src --env ENV --dist DIST --work DIR
                               [--handler handler.handler] [--rounds 5] [--python PY]
                               [--efs-sim BIN]

Two kinds of process, each a fresh `PY -I -S` (all timed inside it):

  eager     the unpackaged handler module imported with the unit's source
            folder and then ENV first on sys.path (as fixtures/apps/
            run_unpackaged.py and `caios-pack verify` run it), cwd the
            source folder: every module the handler imports at module level
            loads from local disk, eagerly.
  packaged  the function as Lambda runs it, set up as `caios-pack verify`
            does (src/verify.rs): DIST/deployment.zip unzipped once into a
            task root made read-only (first on sys.path, the cwd), the EFS
            tier from DIST/efs/<digest> (CAIOS_EFS_ROOT; with --efs-sim and a
            plan that puts files on EFS, served through a fresh
            examples/efs_sim mount per process with the plan's EFS costs,
            as benches/cold_start.py serves it), the S3 bundles read
            from DIST/s3 (CAIOS_BUNDLE_DIR: same SHA-256 check and
            extraction as a download, without the network) into a fresh,
            empty CAIOS_TMP per process; `import caios_entry` installs the
            runtime importer and imports the handler.

Init = from the driver's first line (interpreter up) to the handler module
imported (`import caios_entry` / `importlib.import_module(handler)`), on
CLOCK_MONOTONIC. The handler is not called. No PYTHON* or CAIOS_* variable
leaks in from the caller.

Each kind runs once untimed first (page cache warmed, the source folder's
.pyc written, both must import), then --rounds rounds, each running both
kinds, the first one alternating from round to round. Prints one JSON
object: the medians in ms, the change of packaged against eager in percent
and every timed run. Exit status: 0 whatever the timings; 2 bad setup;
3 an init failed.
"""

import argparse
import json
import os
import shutil
import stat
import statistics
import subprocess
import sys

# The process under test. argv: mode, config JSON. Prints one line
# "APPS-INIT {json}".
CHILD = r"""
import time
T0 = time.monotonic_ns()
import sys
import json
mode = sys.argv[1]
cfg = json.loads(sys.argv[2])
sys.path[:0] = cfg["paths"]
if mode == "packaged":
    import caios_entry
else:
    import importlib
    importlib.import_module(cfg["handler_module"])
T1 = time.monotonic_ns()
sys.stdout.write("\nAPPS-INIT " + json.dumps({"init_ns": T1 - T0}) + "\n")
sys.stdout.flush()
import os
os._exit(0)
"""


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cold_start import EfsSim, efs_serving, unzip_with_modes  # noqa: E402


def die(msg, code=2):
    sys.stderr.write(f"apps_init: {msg}\n")
    sys.exit(code)


def unzip_read_only(zpath, dest):
    """Unzip as Lambda does (Unix modes from external_attr), then a-w."""
    unzip_with_modes(zpath, dest)
    for root, dirs, files in os.walk(dest):
        for name in dirs + files:
            p = os.path.join(root, name)
            if not os.path.islink(p):
                os.chmod(p, os.stat(p).st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    os.chmod(dest, os.stat(dest).st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def make_writable(path):
    if not os.path.exists(path):
        return
    for root, dirs, _files in os.walk(path):
        os.chmod(root, os.stat(root).st_mode | stat.S_IWUSR)
        for d in dirs:
            p = os.path.join(root, d)
            if not os.path.islink(p):
                os.chmod(p, os.stat(p).st_mode | stat.S_IWUSR)


def rmtree(path):
    make_writable(path)
    shutil.rmtree(path, ignore_errors=True)


def efs_root_of(dist):
    with open(os.path.join(dist, "catalogue.json"), encoding="utf-8") as f:
        catalogue = json.load(f)
    name = str(catalogue.get("efs_root") or "").rstrip("/").rsplit("/", 1)[-1]
    return os.path.abspath(os.path.join(dist, "efs", name))


class Bench:
    def __init__(self, a):
        self.python = a.python
        self.src = os.path.abspath(a.src)
        self.env_dir = os.path.abspath(a.env)
        self.dist = os.path.abspath(a.dist)
        self.work = os.path.abspath(a.work)
        self.handler_module = a.handler.rpartition(".")[0]
        if not self.handler_module:
            die(f"--handler {a.handler!r} is not module.function")
        for p in (self.src, self.env_dir, os.path.join(self.dist, "deployment.zip")):
            if not os.path.exists(p):
                die(f"missing: {p}")
        rmtree(self.work)
        os.makedirs(self.work)
        self.task = os.path.join(self.work, "task")
        unzip_read_only(os.path.join(self.dist, "deployment.zip"), self.task)
        self.efs_root = efs_root_of(self.dist)
        with open(os.path.join(self.dist, "plan.json"), encoding="utf-8") as f:
            plan = json.load(f)
        # (binary, ms per operation, MB/s) when the plan uses EFS and
        # --efs-sim is given; None: the plain folder.
        self.efs_sim = efs_serving(a, self.dist, plan)[1]
        self.bundle_dir = os.path.join(self.dist, "s3")
        self.counter = 0

    def base_env(self):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("PYTHON") and not k.startswith("CAIOS_")}
        env["CAIOS_EMF"] = "0"
        return env

    def run(self, mode):
        self.counter += 1
        rundir = os.path.join(self.work, f"run-{self.counter:03d}-{mode}")
        os.makedirs(rundir)
        env = self.base_env()
        sim = None
        if mode == "packaged":
            paths, cwd = [self.task], self.task
            efs_root = self.efs_root
            if self.efs_sim:
                binary, latency, rate = self.efs_sim
                efs_root = os.path.join(rundir, "efs")
                sim = EfsSim(binary, self.efs_root, efs_root, latency, rate)
            env.update(CAIOS_EFS_ROOT=efs_root, CAIOS_BUNDLE_DIR=self.bundle_dir,
                       CAIOS_TMP=os.path.join(rundir, "caios"))   # fresh, empty
        else:
            paths, cwd = [self.src, self.env_dir], self.src
        cfg = {"paths": paths, "handler_module": self.handler_module}
        cmd = [self.python, "-I", "-S", "-c", CHILD, mode, json.dumps(cfg)]
        try:
            p = subprocess.run(cmd, check=False, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, timeout=600)
        finally:
            if sim is not None:
                sim.stop()
        rec = None
        for line in p.stdout.splitlines():
            if line.startswith("APPS-INIT "):
                rec = json.loads(line[len("APPS-INIT "):])
        rmtree(rundir)
        if p.returncode != 0 or rec is None:
            sys.stderr.write(f"--- stdout\n{p.stdout[-3000:]}\n--- stderr\n{p.stderr[-6000:]}\n")
            die(f"the {mode} init failed with exit status {p.returncode}", 3)
        return rec["init_ns"] / 1e6

    def close(self):
        rmtree(self.work)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--src", required=True, help="the unit's source folder")
    ap.add_argument("--env", required=True, help="the unit's site-packages folder")
    ap.add_argument("--dist", required=True, help="an output folder of `caios-pack package`")
    ap.add_argument("--work", required=True, help="scratch folder (emptied, removed at the end)")
    ap.add_argument("--handler", default="handler.handler")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--python", default="python3")
    ap.add_argument("--efs-sim", help="examples/efs_sim binary: serve the EFS tier with the "
                    "plan's EFS costs (without it, a plan that uses EFS reads the plain folder)")
    a = ap.parse_args()
    a.efs_plain = not a.efs_sim
    if a.rounds < 1:
        die("--rounds must be at least 1")
    b = Bench(a)
    try:
        modes = ["eager", "packaged"]
        for mode in modes:          # untimed: warm the page cache, write the source's .pyc
            b.run(mode)
        times = {m: [] for m in modes}
        for r in range(a.rounds):
            for mode in (modes if r % 2 == 0 else modes[::-1]):
                times[mode].append(b.run(mode))
    finally:
        b.close()
    eager = statistics.median(times["eager"])
    packaged = statistics.median(times["packaged"])
    out = {
        "eager_ms": round(eager, 1),
        "packaged_ms": round(packaged, 1),
        "change_pct": round((packaged - eager) / eager * 100, 1),
        "rounds": a.rounds,
        "eager_runs_ms": [round(t, 1) for t in times["eager"]],
        "packaged_runs_ms": [round(t, 1) for t in times["packaged"]],
    }
    sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
