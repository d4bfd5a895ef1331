#!/usr/bin/env python3
"""Helper for benches/analyze_vs_grimp.sh. Standard library only (plus grimp in `child`).

Subcommands:
  packages ENV            print the top-level *packages* in a site-packages folder
                          (directories with __init__.py), one a line; notes on stderr
                          about what grimp cannot take (single-file modules).
  child PKG...            the benchmarked grimp process: import grimp, build the
                          graph of PKG... with the cache disabled, print one JSON
                          line with the in-process timings and the graph's size.
  measure ...             run a command once uncounted, then N times as fresh
                          processes: wall time, user+sys CPU (wait4(2)) and peak
                          RSS (/usr/bin/time %M; wait4 as a flagged fallback).
  report ...              print the comparison table from measure's JSON files.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


# ---------------------------------------------------------------- packages
def cmd_packages(args):
    env = args.env
    pkgs, modules, namespaces = [], [], []
    for name in sorted(os.listdir(env)):
        path = os.path.join(env, name)
        if os.path.isdir(path):
            if not IDENT.match(name) or name in ("bin", "__pycache__"):
                continue
            if os.path.isfile(os.path.join(path, "__init__.py")):
                pkgs.append(name)
            elif any(f.endswith(".py") for f in os.listdir(path)):
                namespaces.append(name)
        elif name.endswith(".py") and IDENT.match(name[:-3]):
            modules.append(name[:-3])
    if modules:
        print(
            "note: top-level single-file modules not given to grimp "
            "(build_graph raises NotATopLevelModule for them): " + ", ".join(modules),
            file=sys.stderr,
        )
    if namespaces:
        print(
            "note: namespace-package directories (no __init__.py) not given to grimp: "
            + ", ".join(namespaces),
            file=sys.stderr,
        )
    if not pkgs:
        print(f"error: no top-level packages found in {env}", file=sys.stderr)
        return 2
    for p in pkgs:
        print(p)
    return 0


# ---------------------------------------------------------------- child
def cmd_child(args):
    t0 = time.perf_counter()
    import grimp  # noqa: E402  (timed on purpose)

    t1 = time.perf_counter()
    graph = grimp.build_graph(
        *args.packages, include_external_packages=False, cache_dir=None
    )
    t2 = time.perf_counter()
    out = {
        "import_grimp_s": t1 - t0,
        "build_graph_s": t2 - t1,
        "modules": len(graph.modules),
    }
    if args.count_imports:
        out["imports"] = graph.count_imports()
    print(json.dumps(out))
    return 0


# ---------------------------------------------------------------- measure
# Peak RSS: a process forked from this (Python) runner starts with the runner's
# own high-water RSS, and Linux keeps it across exec, so wait4(2) on a direct
# child never reports less than the runner's RSS. /usr/bin/time is a small C
# program: the tool is its child, and its %M is the tool's own peak RSS. So every
# run goes through `/usr/bin/time -f %M` when it exists (about 1 ms of wall time,
# the same for both tools); otherwise wait4's figure is kept and flagged.
TIME_BIN = "/usr/bin/time"


def run_once(argv, env, cwd, stdout_path, use_time):
    """Run argv as a fresh process; return wall seconds, CPU, peak RSS, exit code."""
    rss_file = None
    if use_time:
        rss_file = os.path.join(cwd, ".maxrss")
        argv = [TIME_BIN, "-f", "%M", "-o", rss_file] + argv
    out = open(stdout_path, "wb") if stdout_path else subprocess.DEVNULL
    err = tempfile.TemporaryFile()
    try:
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                             env=env, cwd=cwd)
        _, status, ru = os.wait4(p.pid, 0)
        t1 = time.perf_counter()
        p.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    finally:
        err.close()
        if stdout_path:
            out.close()
    maxrss, rss_source = ru.ru_maxrss, "wait4"  # Linux: kilobytes
    if rss_file:
        try:
            with open(rss_file) as f:
                lines = [x for x in f.read().split() if x.isdigit()]
            maxrss, rss_source = int(lines[-1]), "time"
        except (OSError, IndexError, ValueError):
            pass
    return {
        "wall_s": t1 - t0,
        "cpu_s": ru.ru_utime + ru.ru_stime,
        "maxrss_kib": maxrss,
        "rss_source": rss_source,
        "rc": p.returncode,
        "stderr": stderr,
    }


def fail(label, what, r, stdout_path=None):
    print(f"\nerror: {label}: {what}", file=sys.stderr)
    print(f"  exit code: {r['rc']}", file=sys.stderr)
    if stdout_path and os.path.exists(stdout_path):
        with open(stdout_path, "rb") as f:
            head = f.read(400).decode("utf-8", "replace")
        print(f"  stdout (first 400 chars): {head!r}", file=sys.stderr)
    tail = r["stderr"].strip().splitlines()[-15:]
    if tail:
        print("  stderr (last lines):", file=sys.stderr)
        for line in tail:
            print("    " + line, file=sys.stderr)
    return 3


def cmd_measure(args):
    argv = args.cmd
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        print("error: measure needs a command after --", file=sys.stderr)
        return 2
    env = dict(os.environ)
    for kv in args.setenv:
        k, _, v = kv.partition("=")
        env[k] = v
    scratch = tempfile.mkdtemp(prefix="bench-", dir=args.workdir)
    use_time = os.access(TIME_BIN, os.X_OK) and not args.no_time

    def prepare():
        """Fresh unit copy and fresh cache home for this run, made outside the timing."""
        run_dir = tempfile.mkdtemp(prefix="run-", dir=scratch)
        run_env = dict(env)
        run_argv = list(argv)
        if args.fresh_unit:
            unit = os.path.join(run_dir, "unit")
            shutil.copytree(args.fresh_unit, unit)
            run_argv = [a.replace("{unit}", unit) for a in run_argv]
            run_env["XDG_CACHE_HOME"] = os.path.join(run_dir, "xdg-cache")
        return run_dir, run_env, run_argv

    import resource

    result = {"label": args.label, "cmd": argv, "runs": []}
    try:
        # Warm-up (not counted): warms the page cache and bytecode, validates the output.
        run_dir, run_env, run_argv = prepare()
        stdout_path = os.path.join(run_dir, "stdout")
        r = run_once(run_argv, run_env, run_dir, stdout_path, use_time)
        if r["rc"] != 0:
            return fail(args.label, "the warm-up run failed", r, stdout_path)
        if args.expect_json:
            with open(stdout_path, "rb") as f:
                data = f.read()
            try:
                if not data.strip():
                    raise ValueError("empty output")
                json.loads(data)
            except ValueError as e:
                return fail(args.label, f"stdout is not a JSON document ({e})", r, stdout_path)
            result["validated_json_bytes"] = len(data)
        shutil.rmtree(run_dir, ignore_errors=True)

        for i in range(args.runs):
            run_dir, run_env, run_argv = prepare()
            stdout_path = os.path.join(run_dir, "stdout") if args.child_json else None
            r = run_once(run_argv, run_env, run_dir, stdout_path, use_time)
            if r["rc"] != 0:
                return fail(args.label, f"timed run {i + 1} failed", r, stdout_path)
            rec = {k: r[k] for k in ("wall_s", "cpu_s", "maxrss_kib", "rss_source")}
            if args.child_json:
                with open(stdout_path) as f:
                    rec["child"] = json.loads(f.read().strip().splitlines()[-1])
            result["runs"].append(rec)
            shutil.rmtree(run_dir, ignore_errors=True)
            print(f"  {args.label} run {i + 1}/{args.runs}: {rec['wall_s']:.3f} s, "
                  f"{rec['maxrss_kib'] / 1024:.1f} MiB", file=sys.stderr)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    result["runner_maxrss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    return 0


# ---------------------------------------------------------------- report
def summarize(res):
    walls = [r["wall_s"] for r in res["runs"]]
    best = min(res["runs"], key=lambda r: r["wall_s"])
    return {
        "best_wall_s": best["wall_s"],
        "median_wall_s": statistics.median(walls),
        "walls": walls,
        "cpu_s_of_best": best["cpu_s"],
        "peak_rss_mib": max(r["maxrss_kib"] for r in res["runs"]) / 1024,
        "rss_source": res["runs"][0]["rss_source"],
        "runner_rss_mib": res["runner_maxrss_kib"] / 1024,
    }


def cmd_report(args):
    with open(args.grimp) as f:
        g = json.load(f)
    c = None
    if args.caios:
        with open(args.caios) as f:
            c = json.load(f)
    gs = summarize(g)
    child = [r["child"] for r in g["runs"]]
    gs["best_build_graph_s"] = min(x["build_graph_s"] for x in child)
    gs["best_import_grimp_s"] = min(x["import_grimp_s"] for x in child)
    gs["modules"] = child[0]["modules"]
    gs["imports"] = child[0].get("imports")
    env_info = json.loads(args.env_json) if args.env_json else {}
    if gs["imports"] is None:
        gs["imports"] = env_info.get("graph", {}).get("imports")

    rows = [("grimp (whole process)", gs)]
    cs = None
    if c:
        cs = summarize(c)
        rows.append(("caios-pack analyze (whole process)", cs))

    def fmt_rss(s):
        return f"{s['peak_rss_mib']:.1f}" + ("" if s["rss_source"] == "time" else " *")

    print()
    print(f"Best of {len(g['runs'])} fresh processes each (after 1 uncounted warm-up run).")
    hdr = ("tool", "best wall (s)", "median (s)", "CPU u+s (s)", "peak RSS (MiB)")
    w0 = max(len(hdr[0]), max(len(r[0]) for r in rows), len("grimp build_graph only (in-process)"))
    line = f"{{:<{w0}}}  {{:>13}}  {{:>10}}  {{:>11}}  {{:>15}}"
    print(line.format(*hdr))
    print(line.format("-" * w0, "-" * 13, "-" * 10, "-" * 11, "-" * 15))
    for name, s in rows:
        print(line.format(name, f"{s['best_wall_s']:.3f}", f"{s['median_wall_s']:.3f}",
                          f"{s['cpu_s_of_best']:.3f}", fmt_rss(s)))
    print(line.format("grimp build_graph only (in-process)", f"{gs['best_build_graph_s']:.3f}",
                      "", "", ""))
    print()
    print(f"grimp: {gs['modules']} modules"
          + (f", {gs['imports']} imports" if gs["imports"] is not None else "")
          + f"; `import grimp` {gs['best_import_grimp_s'] * 1000:.0f} ms (best)")
    print("all grimp runs (s): " + ", ".join(f"{x:.3f}" for x in gs["walls"]))
    if cs:
        print("all caios-pack runs (s): " + ", ".join(f"{x:.3f}" for x in cs["walls"]))
    if all(s["rss_source"] == "time" for _, s in rows):
        print("peak RSS: the highest of the timed runs, from /usr/bin/time's %M")
    else:
        print(f"* peak RSS from wait4(2) without /usr/bin/time: never below the runner's own "
              f"{gs['runner_rss_mib']:.1f} MiB (install the `time` package for exact figures)")

    summary = {"grimp": gs, "caios_pack": cs, "target_ratio": args.target}
    if cs:
        r_proc = gs["best_wall_s"] / cs["best_wall_s"]
        r_inproc = gs["best_build_graph_s"] / cs["best_wall_s"]
        ok_proc = r_proc >= args.target
        ok_inproc = r_inproc >= args.target
        summary.update(ratio_process=r_proc, ratio_build_graph_only=r_inproc,
                       target_met=ok_proc, target_met_strict=ok_inproc)
        print()
        print(f"ratio grimp / caios-pack, whole process vs whole process: {r_proc:.2f}x "
              f"-> target >= {args.target}x {'MET' if ok_proc else 'NOT MET'}")
        print(f"ratio grimp build_graph alone / caios-pack whole process (stricter): "
              f"{r_inproc:.2f}x -> {'MET' if ok_inproc else 'NOT MET'}")
        print(f"RSS: grimp {gs['peak_rss_mib']:.1f} MiB, caios-pack {cs['peak_rss_mib']:.1f} MiB")
        print()
        print(f"TARGET (caios-pack >= {args.target}x faster than grimp): "
              + ("MET" if ok_proc else "NOT MET"))
    if args.json_out:
        summary["env"] = env_info
        with open(args.json_out, "w") as f:
            json.dump(summary, f, indent=1)
        print(f"results written to {args.json_out}")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="sub", required=True)

    p = sub.add_parser("packages")
    p.add_argument("env")
    p.set_defaults(fn=cmd_packages)

    p = sub.add_parser("child")
    p.add_argument("--count-imports", action="store_true")
    p.add_argument("packages", nargs="+")
    p.set_defaults(fn=cmd_child)

    p = sub.add_parser("measure")
    p.add_argument("--label", required=True)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--out", required=True)
    p.add_argument("--workdir", default=None)
    p.add_argument("--setenv", action="append", default=[], metavar="K=V")
    p.add_argument("--fresh-unit", metavar="TEMPLATE_DIR",
                   help="copy this dir per run (untimed) and substitute {unit} in the command")
    p.add_argument("--expect-json", action="store_true",
                   help="the warm-up run's stdout must be a JSON document")
    p.add_argument("--child-json", action="store_true",
                   help="keep each timed run's stdout and parse its last line as JSON")
    p.add_argument("--no-time", action="store_true",
                   help="do not use /usr/bin/time for peak RSS")
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    p.set_defaults(fn=cmd_measure)

    p = sub.add_parser("report")
    p.add_argument("--grimp", required=True)
    p.add_argument("--caios")
    p.add_argument("--target", type=float, default=2.5)
    p.add_argument("--json-out")
    p.add_argument("--env-json")
    p.set_defaults(fn=cmd_report)

    args = ap.parse_args()
    sys.exit(args.fn(args))


if __name__ == "__main__":
    main()
