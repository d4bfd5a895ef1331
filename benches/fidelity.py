"""Model fidelity: the cold start the placement model predicts vs the one measured.

Run through benches/cold_start.sh (which finds the binaries, the reference env,
s3s-fs and boto3), or directly:

  python3 benches/fidelity.py --caios-pack BIN --ref-env DIR --s3s-fs BIN --pylibs DIR
                              [--ref-unit fixtures/reference-unit] [--apps A,B,...]
                              [--apps-envs target/apps-envs] [--runs 5] [--work DIR]
                              [--only MIX,...] [--reuse-traces] [--json-out FILE]

A *mix* is a unit packaged with settings that put its init set on a chosen
blend of tiers. For each unit the driver traces once (`caios-pack trace UNIT
--events UNIT/events.json`), then for each of its mixes writes a copy of the
unit whose caios-pack.yaml has the mix's settings appended, packages it with
`package --stats TRACE`, reads the modelled cold start from DIST/plan.json
(`plan.cold_start_ms`) and measures the packaged unit the way
benches/cold_start.py's `packaged` mode does (its Bench.run, imported): a
fresh `python3 -I -S` per run, deployment.zip unzipped into a task root, S3
bundles in s3s-fs behind benches/shaping_proxy.py (the plan's own
tiers.s3.first_byte_ms and throughput_mb_s), a fresh empty CAIOS_TMP per
process, the EFS tree from serve_efs() (through examples/efs_sim, the
FUSE passthrough with EFS's per-operation latency and throughput, unless
--efs-plain). One untimed run of each mix first
(page cache, output check), then --runs rounds, each running every mix of
the unit once in an order rotated every round, so that the machine's load
moves them alike; the measured figure is the median *init*
(from the driver's first line to `import caios_entry` done), which is what
the model's cold start covers: imports, EFS reads, S3 fetches and the S3
client; not the interpreter's start nor the handler's first call.

Mixes of the reference unit (fixtures/reference-unit):

  all-local  limits.package_bytes and local_bytes above the env size: a
             what-if, since it exceeds Lambda's limit.
  s3-heavy   local_bytes 60 MB and tiers.efs_fixed_usd_per_month 10000 (EFS
             priced out, as a function without a VPC): most of init comes
             from S3 bundles.
  efs-heavy  local_bytes 60 MB and S3 requests and storage priced out
             (tiers.s3.usd_per_1000_requests 1000, storage 1000 $/GB-month):
             the bulk of init comes from EFS.

Mixes of the apps (fixtures/apps/NAME, env target/apps-envs/NAME as
benches/apps.sh builds it): `spread`, benches/apps.sh's settings
(limits.local_bytes = a third of the env without __pycache__, no budget), so
the cost-optimal plan spreads the app over local, EFS and S3.

Prints one line per mix:

  model fidelity <mix>: modelled <M> ms, measured <N> ms, error <±E>%

E = (M - N) / N x 100, signed, rounded. Exit 0 whatever the errors; 2 when
setup fails; 3 when a run fails.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import cold_start as cs  # noqa: E402  (Bench.run, DRIVER, harness, unzip_with_modes)
from cold_start import die, harness, median, step  # noqa: E402

MB = 1_000_000

REFERENCE_MIXES = {
    "all-local": {"limits": {"package_bytes": 10**12, "local_bytes": 10**12}},
    "s3-heavy": {"limits": {"local_bytes": 60 * MB}, "tiers": {"efs_fixed_usd_per_month": 10000}},
    "efs-heavy": {"limits": {"local_bytes": 60 * MB},
                  "tiers": {"s3": {"usd_per_1000_requests": 1000,
                                   "storage_usd_per_gb_month": 1000}}},
}
DEFAULT_APPS = ("sympy-solver", "tz-babel", "chart-render", "scipy-stack", "df-janitor",
                "parquet-etl")


def env_bytes(env):
    total = 0
    for root, dirs, files in os.walk(env):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        total += sum(os.lstat(os.path.join(root, f)).st_size for f in files)
    return total


def mix_yaml(settings, calibration):
    """The mix's settings (plus the machine's calibration under `tiers`) as
    YAML lines to append: one top-level key each, its value in JSON (flow
    YAML)."""
    settings = json.loads(json.dumps(settings))
    if calibration:
        settings.setdefault("tiers", {}).update(calibration)
        # The function this machine is: Lambda gives one vCPU per 1,769 MB,
        # and the model extracts bundles side by side on the vCPUs.
        settings.setdefault("workload", {})["memory_mb"] = machine_memory_mb()
    return "".join("%s: %s\n" % (k, json.dumps(v)) for k, v in settings.items())


def machine_memory_mb():
    """The Lambda memory setting with as many vCPUs as this machine has cores."""
    return 1769 * (os.cpu_count() or 1)


def copy_unit(src, dest, extra_yaml):
    """A copy of the unit (without __pycache__) with `extra_yaml` appended to
    its caios-pack.yaml; the mix's top-level keys must be new to the file."""
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("__pycache__"))
    path = os.path.join(dest, "caios-pack.yaml")
    text = open(path).read()
    for line in extra_yaml.splitlines():
        if line and not line[0].isspace():
            key = line.split(":")[0]
            if any(l.startswith(key + ":") for l in text.splitlines()):
                die("%s already sets `%s`; the mix cannot append it" % (path, key))
    with open(path, "w") as f:
        f.write(text.rstrip("\n") + "\n" + extra_yaml)
    return dest


CLIENT = r"""
import sys, time
sys.path[:0] = [sys.argv[4], sys.argv[1]]
import caios_importer  # what the importer has loaded before it creates its client
t0 = time.perf_counter()
import boto3
from botocore.config import Config
boto3.client("s3", endpoint_url=sys.argv[2], region_name=sys.argv[3],
             config=Config(s3={"addressing_style": "path"}))
print((time.perf_counter() - t0) * 1000)
"""


def calibrate(a, samples_env):
    """The machine's own figures for the model's CPU-bound S3 constants,
    measured here, apart from any mix, the way docs/model.md tells a user to
    read them from the importer's EMF lines: tiers.s3_client_ms (import
    boto3 + create a client, in a fresh `python3 -I -S` that has imported
    the runtime importer, as the EMF field times it; median of 5),
    tiers.s3_extract_mb_s and tiers.s3_extract_file_ms (the importer's own
    extraction code, caios_importer.Importer._extract, into --tmp-base, on
    deflated bundles of the env's own files: its 4 largest shared libraries
    up to 20 MB, and 2,000 of its .py files cut to 2 kB; median of 5)."""
    import io
    import zipfile
    step("calibrating the S3 client and extraction figures on this machine")
    home = os.path.join(a.work, "calibrate")
    shutil.rmtree(home, ignore_errors=True)
    os.makedirs(home)
    env = harness.client_env(home, "http://127.0.0.1:9")
    client = []
    for _ in range(5):
        p = subprocess.run([sys.executable, "-I", "-S", "-c", CLIENT, a.pylibs,
                            "http://127.0.0.1:9", harness.REGION,
                            os.path.join(REPO, "src", "runtime")],
                           env=env, capture_output=True, text=True)
        if p.returncode != 0:
            die("calibration: creating a boto3 client failed:\n%s" % p.stderr[-2000:])
        client.append(float(p.stdout.split()[-1]))
    libs, sources = [], []
    for root, dirs, files in os.walk(samples_env):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for f in files:
            path = os.path.join(root, f)
            if ".so" in f:
                size = os.lstat(path).st_size
                if size <= 20 * MB:
                    libs.append((size, path))
            elif f.endswith(".py") and len(sources) < 2000:
                sources.append(path)
    libs = [p for _, p in sorted(libs)[-4:]]

    def bundle(paths, cut=None):
        buf = io.BytesIO()
        unpacked = 0
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
            for i, path in enumerate(paths):
                data = open(path, "rb").read()[:cut]
                unpacked += len(data)
                zf.writestr("pkg/d%d/f%d" % (i % 50, i), data)
        return buf.getvalue(), unpacked

    sys.path.insert(0, os.path.join(REPO, "src", "runtime"))
    import caios_importer as ci
    shim = type("Shim", (), {"tmp_base": a.tmp_base, "_check_space": lambda *x: None,
                             "_extract_member": staticmethod(ci.Importer._extract_member)})()
    os.makedirs(a.tmp_base, exist_ok=True)

    def extract_ms(blob):
        times = []
        for k in range(5):
            dest = os.path.join(a.tmp_base, "calibrate-%d" % k)
            shutil.rmtree(dest, ignore_errors=True)
            t0 = time.perf_counter()
            ci.Importer._extract(shim, io.BytesIO(blob), "0" * 64, dest, 1 << 40)
            times.append((time.perf_counter() - t0) * 1000)
            shutil.rmtree(dest, ignore_errors=True)
        return median(times)

    big, big_bytes = bundle(libs)
    small, small_bytes = bundle(sources, 2000)
    big_ms, small_ms = extract_ms(big), extract_ms(small)
    mb_s = big_bytes / 1e3 / big_ms
    file_ms = max(0.0, small_ms - small_bytes / 1e3 / mb_s) / len(sources)
    shutil.rmtree(home, ignore_errors=True)
    cal = {"s3_client_ms": round(median(client), 1), "s3_extract_mb_s": round(mb_s, 1),
           "s3_extract_file_ms": round(file_ms, 3)}
    sys.stderr.write("calibration: %s (load %.2f)\n" % (json.dumps(cal), cs.loadavg()[0]))
    return cal


def serve_efs(bench, dist):
    """Where the packaged process finds the EFS tier, DIST/efs/<digest>: by
    default through examples/efs_sim (cold_start.py's EfsSim: a fresh FUSE
    mount per process, each lookup, getattr, open and readdir batch held for
    the plan's tiers.efs.first_byte_ms, reads paced to its throughput_mb_s);
    with --efs-plain, or without a plan that uses EFS, the plain folder.
    Returns how it is served, for the report."""
    plan = json.load(open(os.path.join(dist, "plan.json")))
    bench.efs_root, bench.efs_sim = cs.efs_serving(bench.a, dist, plan)
    if bench.efs_sim:
        return "efs_sim"
    return "plain folder" if bench.efs_root and bench.a.efs_plain else "none"


class MixBench(cs.Bench):
    """cold_start.Bench for one packaged mix: only the `packaged` mode."""

    def __init__(self, a, unit, env, dist, work, ttfb_ms, rate_mb):
        ns = argparse.Namespace(work=work, unit=unit, env=env, pylibs=a.pylibs,
                                tmp_base=a.tmp_base, s3s_fs=a.s3s_fs, ttfb_ms=ttfb_ms,
                                rate_mb=rate_mb, efs_sim=a.efs_sim, efs_plain=a.efs_plain,
                                efs_sim_args="")
        super().__init__(ns)
        self.dist = dist

    def setup(self):
        os.makedirs(self.work, exist_ok=True)
        events = json.load(open(os.path.join(self.unit, "events.json")))["tests"]
        self.event = events[0]
        self.catalogue = json.load(open(os.path.join(self.dist, "catalogue.json")))
        self.efs_how = serve_efs(self, self.dist)
        self.task = os.path.join(self.work, "task")
        shutil.rmtree(self.task, ignore_errors=True)
        cs.unzip_with_modes(os.path.join(self.dist, "deployment.zip"), self.task)
        store = os.path.join(self.work, "s3", "store")
        shutil.rmtree(os.path.dirname(store), ignore_errors=True)
        os.makedirs(store)
        self.server = harness.S3Server(self.a.s3s_fs, store).start()
        client = harness.s3_client([self.pylibs], self.server.url)
        client.create_bucket(Bucket=cs.BUCKET)
        prefix = self.catalogue["s3"].get("prefix") or ""
        s3dir = os.path.join(self.dist, "s3")
        for name in sorted(os.listdir(s3dir)) if os.path.isdir(s3dir) else []:
            with open(os.path.join(s3dir, name), "rb") as f:
                client.put_object(Bucket=cs.BUCKET, Key=prefix + name, Body=f.read())
        open(self.proxy_log, "w").close()
        self.proxy = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "shaping_proxy.py"),
             "--upstream-port", str(self.server.port), "--ttfb-ms", str(self.a.ttfb_ms),
             "--rate-mb", str(self.a.rate_mb), "--log", self.proxy_log],
            stdout=subprocess.PIPE, text=True, preexec_fn=harness._die_with_parent)
        line = self.proxy.stdout.readline().split()
        if len(line) != 2 or line[0] != "listening":
            die("the shaping proxy did not start")
        self.proxy_url = "http://127.0.0.1:%s" % line[1]
        os.makedirs(self.runs_dir, exist_ok=True)
        self.warm_tmp = None


def run_cmd(cmd, what):
    step(" ".join(cmd))
    t = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        die("%s failed (exit %d):\n%s%s" % (what, p.returncode, p.stdout[-3000:], p.stderr[-3000:]))
    sys.stderr.write("%s in %.1f s\n" % (what, time.monotonic() - t))
    return p


def trace(a, name, unit, env, work):
    out = os.path.join(work, "trace.json")
    if a.reuse_traces and os.path.isfile(out):
        step("reusing the trace %s" % out)
        return out
    run_cmd([a.caios_pack, "trace", unit, "--site-packages", env, "--python", a.python,
             "--events", os.path.join(unit, "events.json"), "--out", out], "trace of " + name)
    return out


class Mix:
    """One mix of a unit: packaged and served by prepare(), measured a run at
    a time (the driver interleaves the mixes of a unit, round after round,
    so that the machine's load moves them alike), reported by finish()."""

    def __init__(self, a, label, src_unit, env, stats, extra_yaml, work):
        self.a, self.label, self.work = a, label, work
        self.unit = copy_unit(src_unit, os.path.join(work, "unit"), extra_yaml)
        self.env, self.stats = env, stats
        self.dist = os.path.join(work, "dist")
        self.runs = []
        self.b = None
        self.timeline = None
        self.closed = False

    def prepare(self):
        a = self.a
        shutil.rmtree(self.dist, ignore_errors=True)
        run_cmd([a.caios_pack, "package", self.unit, "--site-packages", self.env, "--python",
                 a.python, "--stats", self.stats, "--out", self.dist], "package " + self.label)
        plan_doc = json.load(open(os.path.join(self.dist, "plan.json")))
        self.plan = plan_doc["plan"]
        s3 = ((plan_doc.get("model") or {}).get("tiers") or {}).get("s3") or {}
        self.ttfb = float(s3.get("first_byte_ms", 30.0))
        self.rate = float(s3.get("throughput_mb_s", 85.0))
        self.b = MixBench(a, self.unit, self.env, self.dist, os.path.join(self.work, "run"),
                          self.ttfb, self.rate)
        self.b.runs_dir = os.path.join(os.path.dirname(self.b.runs_dir), "%s-%s" % (
            os.path.basename(self.b.runs_dir), self.label.replace(" ", "-")))
        self.b.setup()
        first = self.b.run("packaged")          # untimed: page cache, output
        sys.stderr.write("  %s untimed run: init %.0f ms, result %s\n"
                         % (self.label, first["init_ms"], json.dumps(first["result"])[:100]))

    def run_one(self):
        r = self.b.run("packaged")
        self.runs.append(r)
        return r

    def finish(self):
        """Untimed: where the importer's S3 work falls in init (cold_start.py's
        instrumentation), for the JSON output; then the record."""
        a = self.a
        try:
            if a.diagnose and self.b is not None and self.b.server is not None:
                self.timeline = self.b.run("packaged", instrument=True).get("timeline")
        finally:
            self.close()
        runs, plan = self.runs, self.plan
        emfs = [r["emf"] for r in runs if r.get("emf")]
        emf = {k: median([e[k] for e in emfs if e.get(k) is not None])
               for k in ("init_ms", "local_ms", "efs_ms", "s3_ms", "s3_client_ms", "s3_wait_ms",
                         "local_count", "efs_count", "s3_count", "s3_bytes")}
        per_tier = {t["tier"]: {"bytes": t["bytes"], "cold_start_ms": t["cold_start_ms"]}
                    for t in plan["per_tier"]}
        # EFS served from a plain folder pays no round trips: compare with the
        # model's figure without them (plan.json gives them apart), and say so.
        efs_read = plan.get("efs_read_ms") or 0.0
        unpaid = efs_read if self.b.efs_how == "plain folder" else 0.0
        modelled = plan["cold_start_ms"] - unpaid
        measured = median([r["init_ms"] for r in runs])
        return {
            "mix": self.label, "modelled_ms": modelled, "measured_ms": measured,
            "plan_cold_start_ms": plan["cold_start_ms"], "efs_read_ms": efs_read,
            "efs_read_not_paid_ms": unpaid,
            "error_pct": (modelled - measured) / measured * 100.0,
            "measured_cold_ms": median([r["cold_ms"] for r in runs]),
            "init_runs": [r["init_ms"] for r in runs], "loads": [r["load"] for r in runs],
            "emf": emf, "per_tier": per_tier, "bytes": plan["bytes"],
            "prefetch": len(plan["prefetch"]), "efs": self.b.efs_how,
            "s3_model": {"first_byte_ms": self.ttfb, "throughput_mb_s": self.rate},
            "dist": self.dist, "timeline": self.timeline,
            "emf_modules": runs[len(runs) // 2].get("emf_modules") if runs else [],
        }

    def close(self):
        if self.closed:
            return
        self.closed = True
        if self.b is not None:
            self.b.close()
        if not self.a.keep_dist:  # the package's bulk; plan.json and catalogue.json stay
            for bulky in ("deployment.zip", "efs", "s3"):
                path = os.path.join(self.dist, bulky)
                if os.path.isdir(path):
                    shutil.rmtree(path, ignore_errors=True)
                elif os.path.exists(path):
                    os.remove(path)
            shutil.rmtree(os.path.join(self.work, "run"), ignore_errors=True)


def measure_unit(a, name, mixes):
    """Prepares every mix of one unit, then runs them round-robin, the order
    rotated every round; returns their records."""
    try:
        for m in mixes:
            m.prepare()
        step("%s: %d rounds of %s, order rotated every round"
             % (name, a.runs, ", ".join(m.label for m in mixes)))
        for i in range(a.runs):
            k = i % len(mixes)
            done = []
            for m in mixes[k:] + mixes[:k]:
                r = m.run_one()
                done.append("%s %.0f" % (m.label.split(" ", 1)[1], r["init_ms"]))
            sys.stderr.write("  round %d (load %.2f): init %s ms\n"
                             % (i + 1, cs.loadavg()[0], ", ".join(done)))
        return [m.finish() for m in mixes]
    finally:
        for m in mixes:
            m.close()


def line(rec):
    text = "model fidelity %s: modelled %.0f ms, measured %.0f ms, error %+.0f%%" % (
        rec["mix"], rec["modelled_ms"], rec["measured_ms"], rec["error_pct"])
    return text


def note(rec):
    """What the modelled figure leaves out, if anything (a line of its own)."""
    if rec.get("efs_read_not_paid_ms"):
        return ("  %s: modelled = plan.json's %.0f ms less its %.0f ms of EFS round trips and "
                "reads, which the plain folder does not pay" % (
                    rec["mix"], rec["plan_cold_start_ms"], rec["efs_read_not_paid_ms"]))
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--caios-pack", required=True)
    ap.add_argument("--ref-env", required=True, help="the reference unit's site-packages")
    ap.add_argument("--ref-unit", default=os.path.join(REPO, "fixtures", "reference-unit"))
    ap.add_argument("--apps", default=",".join(DEFAULT_APPS),
                    help="apps of fixtures/apps (comma-separated; '' for none)")
    ap.add_argument("--apps-envs", default=os.path.join(REPO, "target", "apps-envs"))
    ap.add_argument("--s3s-fs", required=True)
    ap.add_argument("--pylibs", required=True, help="folder holding boto3")
    ap.add_argument("--efs-sim", help="examples/efs_sim binary (cargo build --example "
                    "efs_sim): serves each plan's EFS tree at the plan's EFS costs")
    ap.add_argument("--efs-plain", action="store_true",
                    help="serve the EFS tree from the plain folder instead (the model's EFS "
                    "round trips are then left out of the modelled figure)")
    ap.add_argument("--python", default="python3", help="interpreter for trace and package")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--work", default=os.path.join(REPO, "target", "fidelity"))
    ap.add_argument("--tmp-base", help="where each process's CAIOS_TMP goes (default WORK/tmp)")
    ap.add_argument("--only", help="comma-separated mix labels to run (e.g. 'reference "
                    "s3-heavy,tz-babel spread')")
    ap.add_argument("--reuse-traces", action="store_true",
                    help="reuse WORK/<unit>/trace.json when present")
    ap.add_argument("--no-diagnose", dest="diagnose", action="store_false",
                    help="skip the instrumented run that records the S3 timeline")
    ap.add_argument("--keep-dist", action="store_true",
                    help="keep each mix's deployment.zip, EFS tree and bundles")
    ap.add_argument("--no-calibrate", dest="calibrate", action="store_false",
                    help="package with the model's default S3 client and extraction figures "
                    "instead of this machine's (see calibrate())")
    ap.add_argument("--json-out")
    a = ap.parse_args()
    if a.runs < 1:
        die("--runs must be at least 1")
    a.work = os.path.abspath(a.work)
    a.tmp_base = a.tmp_base or os.path.join(a.work, "tmp")
    only = set(x.strip() for x in a.only.split(",")) if a.only else None

    units = [("reference", os.path.abspath(a.ref_unit), os.path.abspath(a.ref_env),
              [(m, y) for m, y in REFERENCE_MIXES.items()])]
    for app in [x for x in a.apps.split(",") if x]:
        unit = os.path.join(REPO, "fixtures", "apps", app)
        env = os.path.join(a.apps_envs, app)
        if not os.path.isfile(os.path.join(env, ".apps-complete")):
            sys.stderr.write("skipping %s: no env at %s (`benches/apps.sh %s` builds it)\n"
                             % (app, env, app))
            continue
        local = env_bytes(env) // 3
        units.append((app, unit, env, [("spread", {"limits": {"local_bytes": local}})]))
    calibration = calibrate(a, os.path.abspath(a.ref_env)) if a.calibrate else None

    records = []
    for name, unit, env, mixes in units:
        mixes = [(m, y) for m, y in mixes if only is None or "%s %s" % (name, m) in only]
        if not mixes:
            continue
        work = os.path.join(a.work, name)
        os.makedirs(work, exist_ok=True)
        stats = trace(a, name, unit, env, work)
        for rec in measure_unit(a, name, [
                Mix(a, "%s %s" % (name, mix), unit, env, stats, mix_yaml(extra, calibration),
                    os.path.join(work, mix)) for mix, extra in mixes]):
            records.append(rec)
            sys.stderr.write(line(rec) + "\n")

    load = cs.loadavg()
    print("")
    print("model fidelity: measured = median init of %d fresh processes per mix (python3 -I -S, "
          "S3 through s3s-fs + shaping proxy at the plan's first byte and MB/s, EFS served by: "
          "%s); calibration %s; load average at the end %.2f %.2f %.2f" % (
              a.runs, ", ".join(sorted(set(r["mix"] + " " + r["efs"] for r in records
                                           if r["efs"] != "none"))) or "no mix uses EFS",
              json.dumps(calibration) if calibration else "none (model defaults)", *load))
    for rec in records:
        print(line(rec))
    for rec in records:
        if note(rec):
            print(note(rec))
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump({"runs": a.runs, "load_end": load, "calibration": calibration,
                       "records": records}, f, indent=1)
        sys.stderr.write("raw figures in %s\n" % a.json_out)


if __name__ == "__main__":
    main()
