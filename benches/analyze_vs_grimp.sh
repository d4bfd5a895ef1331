#!/usr/bin/env bash
# Acceptance benchmark: `caios-pack analyze` against grimp's `build_graph` on the
# reference unit's dependencies (shared/reference-unit), measured in the same run.
#
#   benches/analyze_vs_grimp.sh [--runs N] [--grimp-only] [--no-build] [--json-out FILE]
#
# Environment:
#   CAIOS_REF_ENV     reference site-packages folder, built by build-env.sh if missing
#                     (default ~/.cache/caios-pack/ref-env)
#   CAIOS_BENCH_VENV  virtualenv holding grimp (default ~/.cache/caios-pack/bench-venv)
#   CAIOS_REF_UNIT    folder with (src/)handler.py and build-env.sh
#                     (default fixtures/reference-unit)
#   CAIOS_PACK_BIN    caios-pack binary to time (default target/release/caios-pack,
#                     built with `cargo build --release`; setting it skips the build)
#   GRIMP_VERSION     pip requirement for grimp, e.g. grimp==3.20 (default: whatever is
#                     in the venv already, else the newest)
#
# Each tool runs once uncounted (warm page cache, output validated), then N times
# (default 5) as fresh processes; the best wall time counts. grimp runs with its
# cache disabled (cache_dir=None); caios-pack gets a fresh unit dir and a fresh
# XDG_CACHE_HOME for every run. Exit 0 whatever the ratio; non-zero only when
# setting up or running a tool fails (2: setup, 3: a tool's run failed).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
runs=5
grimp_only=0
build=1
json_out=
target=2.5

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; }
die() { echo "error: $*" >&2; exit 2; }

while [[ $# -gt 0 ]]; do
  case $1 in
    --runs) runs=${2:?--runs needs a number}; shift 2 ;;
    --grimp-only) grimp_only=1; shift ;;
    --no-build) build=0; shift ;;
    --json-out) json_out=${2:?--json-out needs a file}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "--runs must be a positive integer"

ref_unit=${CAIOS_REF_UNIT:-}
if [[ -z $ref_unit ]]; then
  for d in "$repo/fixtures/reference-unit" "$repo/../shared/reference-unit"; do
    [[ -f $d/build-env.sh ]] && { ref_unit=$(cd "$d" && pwd); break; }
  done
fi
handler_py=$ref_unit/src/handler.py
[[ -f $handler_py ]] || handler_py=$ref_unit/handler.py
[[ -n $ref_unit && -f $ref_unit/build-env.sh && -f $handler_py ]] \
  || die "reference unit not found; set CAIOS_REF_UNIT to the folder with build-env.sh and handler.py"

REF_ENV=${CAIOS_REF_ENV:-$HOME/.cache/caios-pack/ref-env}
VENV=${CAIOS_BENCH_VENV:-$HOME/.cache/caios-pack/bench-venv}
PY_HOST=${PYTHON:-python3}
command -v "$PY_HOST" >/dev/null || die "$PY_HOST not found"

step() { printf '\n== %s\n' "$*" >&2; }

# 1. Reference environment (idempotent) and the unit that points at it.
step "reference env: $REF_ENV"
mkdir -p "$(dirname "$REF_ENV")"
bash "$ref_unit/build-env.sh" "$REF_ENV" "$PY_HOST" >&2 || die "build-env.sh failed"
REF_ENV=$(cd "$REF_ENV" && pwd)

work=$(mktemp -d "${TMPDIR:-/tmp}/caios-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
unit=$work/unit-template
mkdir -p "$unit/src"
cp "$handler_py" "$unit/src/handler.py"
cat >"$unit/caios-pack.yaml" <<EOF
handler: handler.handler
source: src
site_packages: [$REF_ENV]
EOF

# 2. grimp's virtualenv (reused when grimp is already importable in it).
step "grimp venv: $VENV"
if [[ -n ${GRIMP_VERSION:-} ]] || ! "$VENV/bin/python" -c 'import grimp' 2>/dev/null; then
  [[ -x $VENV/bin/python ]] || "$PY_HOST" -m venv "$VENV" \
    || die "python3 -m venv failed (apt-get install python3-venv?)"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    "${GRIMP_VERSION:-grimp}" || die "pip install grimp failed"
fi
PY=$VENV/bin/python
grimp_version=$("$PY" -c 'import importlib.metadata as m; print(m.version("grimp"))')
helper=$here/grimp_build.py

# 3. caios-pack release build.
bin=${CAIOS_PACK_BIN:-$repo/target/release/caios-pack}
if [[ $grimp_only == 0 ]]; then
  if [[ -z ${CAIOS_PACK_BIN:-} && $build == 1 ]]; then
    step "cargo build --release"
    (cd "$repo" && cargo build --release >&2) || die "cargo build --release failed"
  fi
  [[ -x $bin ]] || die "caios-pack binary not found at $bin"
fi

# 4. The packages grimp is given: every top-level package in the env.
mapfile -t pkgs < <("$PY" "$helper" packages "$REF_ENV") || die "no packages found in $REF_ENV"
[[ ${#pkgs[@]} -gt 0 ]] || die "no packages found in $REF_ENV"
step "grimp $grimp_version, ${#pkgs[@]} packages: ${pkgs[*]}"
info=$(cd "$work" && PYTHONPATH=$REF_ENV "$PY" "$helper" child --count-imports "${pkgs[@]}") \
  || die "grimp could not build the graph of ${pkgs[*]}"
echo "graph (untimed check run): $info" >&2

# 5. Timings.
status=0
step "timing grimp (best of $runs)"
"$PY" "$helper" measure --label grimp --runs "$runs" --out "$work/grimp.json" \
  --workdir "$work" --setenv "PYTHONPATH=$REF_ENV" --child-json \
  -- "$PY" "$helper" child "${pkgs[@]}" || exit 3

caios_args=()
if [[ $grimp_only == 0 ]]; then
  step "timing caios-pack analyze (best of $runs)"
  if "$PY" "$helper" measure --label caios-pack --runs "$runs" --out "$work/caios.json" \
      --workdir "$work" --fresh-unit "$unit" --expect-json \
      -- "$bin" analyze '{unit}' --format json; then
    caios_args=(--caios "$work/caios.json")
  else
    echo "error: caios-pack analyze did not run to completion on the reference unit" \
         "(binary: $bin); only grimp's figures follow" >&2
    status=3
  fi
fi

# 6. Report.
commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo none)
dirty=$([[ -n $(git -C "$repo" status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null) ]] && echo yes || echo no)
nfiles=$(find "$REF_ENV" -type f -not -name .complete | wc -l)
nsrc=$(find "$REF_ENV" -type f -not -name .complete -not -path '*/__pycache__/*' | wc -l)
env_json=$("$PY" - "$grimp_version" "$REF_ENV" "$nfiles" "$commit" "$dirty" "$bin" "$info" "${pkgs[@]}" <<'EOF'
import json, os, platform, sys
gv, env, nfiles, commit, dirty, binp, info, *pkgs = sys.argv[1:]
print(json.dumps({"grimp_version": gv, "python": platform.python_version(),
                  "ref_env": env, "ref_env_files": int(nfiles), "packages": pkgs,
                  "graph": json.loads(info), "commit": commit, "src_dirty": dirty,
                  "caios_pack_bin": binp, "cpus": os.cpu_count()}))
EOF
)
echo
echo "analyze_vs_grimp: grimp $grimp_version ($("$PY" -c 'import platform; print(platform.python_version())')," \
     "cache off), caios-pack at commit $commit (src changed: $dirty), $(nproc) CPUs"
echo "reference env: $REF_ENV ($nfiles files, $nsrc outside __pycache__)"
echo "grimp packages (${#pkgs[@]}): ${pkgs[*]}"
"$PY" "$helper" report --grimp "$work/grimp.json" "${caios_args[@]}" --target "$target" \
  --env-json "$env_json" ${json_out:+--json-out "$json_out"}
if [[ $grimp_only == 1 ]]; then
  echo
  echo "(--grimp-only: caios-pack not run; no ratio)"
fi
exit $status
