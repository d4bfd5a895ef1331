#!/usr/bin/env bash
# Benchmark: ingest a generated ~1 GB log of importer EMF lines.
#
#   benches/ingest_emf.sh [SIZE_MB]      (default 1024)
#
# Generates the log once under target/bench/ (realistic lines: ~1,300 modules
# loaded at init per cold start, some first loaded by the invocation, a few
# malformed lines), then measures, in the same run:
#   - `caios-pack analyze fixtures/zoo --stats LOG` (the zoo unit is tiny, so
#     the time is the ingestion's), wall time and peak RSS;
#   - the same aggregation done the way a user would without caios-pack: a
#     Python script that json.loads each line and counts per module.
# Prints both, the ratio and whether peak RSS stays under 100 MB.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
size_mb=${1:-1024}
out=$repo/target/bench
mkdir -p "$out"
log=$out/emf-${size_mb}mb.log

if [[ ! -s $log ]]; then
  echo "generating $log (${size_mb} MB)…" >&2
  python3 - "$log" "$size_mb" <<'PY'
import json, random, sys
path, size_mb = sys.argv[1], int(sys.argv[2])
random.seed(7)
packages = ["numpy", "pandas", "scipy", "sklearn", "pyarrow", "joblib", "dateutil", "narwhals"]
modules = [f"{p}.sub{i}.mod{j}" for p in packages for i in range(16) for j in range(12)]
limit = size_mb * 1024 * 1024
written = 0
n = 0
with open(path, "w") as f:
    while written < limit:
        n += 1
        init = random.sample(modules, 1300)
        later = random.sample(modules, random.randint(0, 40))
        line = {
            "_aws": {"Timestamp": 1764205200000 + n, "CloudWatchMetrics": [{"Namespace": "caios-pack",
                     "Dimensions": [["function"]], "Metrics": [{"Name": "init_ms", "Unit": "Milliseconds"}]}]},
            "caios": "cold-start", "schema": 1, "function": "credit-scorer",
            "init_ms": round(random.uniform(600, 1200), 1),
            "local_count": 1200, "local_ms": 600.0, "efs_count": 0, "efs_bytes": 0, "efs_ms": 0.0,
            "s3_count": 100, "s3_bytes": 31457280, "s3_ms": 400.0, "s3_fetched": [],
            "modules": [[m, "local", random.randint(50, 5000), random.randint(100, 90000)] for m in init],
            "invocation_modules": [[m, "s3", random.randint(50, 5000), random.randint(100, 9000)] for m in later],
        }
        text = "2026-11-27T01:00:00.000Z\treq-%d\t%s\n" % (n, json.dumps(line, separators=(",", ":")))
        if n % 5000 == 0:
            text = "this line is not JSON\n"
        f.write(text)
        written += len(text)
print(f"{n} lines", file=sys.stderr)
PY
fi
ls -l "$log" >&2

(cd "$repo" && cargo build --release --quiet)
bin=$repo/target/release/caios-pack

python_aggregate=$(mktemp)
cat >"$python_aggregate" <<'PY'
import collections, json, sys
init, later = collections.Counter(), collections.Counter()
cold = bad = 0
with open(sys.argv[1]) as f:
    for line in f:
        i = line.find("{")
        try:
            rec = json.loads(line[i:])
        except ValueError:
            bad += 1
            continue
        cold += 1
        init.update(m[0] for m in rec["modules"])
        later.update(m[0] for m in rec.get("invocation_modules") or [])
print(cold, bad, len(init), file=sys.stderr)
PY

measure() {  # label, command… → prints "label seconds maxrss_kb"
  local label=$1; shift
  local times
  times=$(mktemp)
  /usr/bin/time -o "$times" -f "%e %M" "$@" >/dev/null 2>&1 || { echo "error: $label failed" >&2; exit 3; }
  echo "$label $(tail -1 "$times")"
  rm -f "$times"
}

caios=$(measure caios-pack "$bin" analyze "$repo/fixtures/zoo" --stats "$log")
python=$(measure python-json "python3" "$python_aggregate" "$log")
rm -f "$python_aggregate"
read -r _ c_s c_kb <<<"$caios"
read -r _ p_s p_kb <<<"$python"
printf '%-28s %10s %12s\n' tool "wall (s)" "peak RSS (MB)"
printf '%-28s %10s %12s\n' "caios-pack --stats" "$c_s" "$(awk "BEGIN{printf \"%.1f\", $c_kb/1024}")"
printf '%-28s %10s %12s\n' "python json.loads per line" "$p_s" "$(awk "BEGIN{printf \"%.1f\", $p_kb/1024}")"
echo "speed-up over the Python script: $(awk "BEGIN{printf \"%.2f\", $p_s/$c_s}")x"
if [[ -n $c_kb ]] && (( c_kb < 100 * 1024 )); then echo "peak RSS target (< 100 MB): MET"; else echo "peak RSS target (< 100 MB): NOT MET"; fi
