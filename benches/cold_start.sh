#!/usr/bin/env bash
# Cold start of the reference unit: packaged by caios-pack (deployment.zip +
# S3 bundles fetched on demand through a shaping proxy) vs all-local vs a
# Zappa-style single archive fetched from S3 at start (benches/cold_start.py).
#
#   benches/cold_start.sh [--runs N] [--no-build] [--json-out FILE] [--work DIR] [--dist DIR]
#                         [--diagnose N] [--no-warm] [--tmp-base DIR]
#                         [--static | --stats FILE] [--max-latency T]
#                         [--efs-plain | --efs-sim-args 'FLAGS']
#                         [--no-fidelity] [--fidelity-apps A,B,...]
#
# The package is built the way docs/getting-started.md says: `caios-pack trace`
# on the unit's events.json, then `package --stats` with the tightest budget
# the model can meet (+2 %);
# --static packages from static analysis alone (--max-latency 3s); --stats
# reuses a trace; --dist reuses a whole package.
#
# Afterwards benches/fidelity.py compares the model's cold start with the
# measured one on 3 tier mixes of the reference unit and on apps of
# fixtures/apps (envs under target/apps-envs, built by benches/apps.sh; an
# app without one is skipped) and prints one `model fidelity` line per mix;
# --no-fidelity skips it, --fidelity-apps picks the apps ('' for none).
#
# --tmp-base: where each process's /tmp goes (default target/cold-start/tmp, on
# disk as Lambda's /tmp is; /dev/shm puts it on tmpfs, the Zappa-style
# baseline's most favourable case: its extraction creates thousands of files).
#
# When the plan puts files on EFS, each packaged process reads them through
# examples/efs_sim.rs, a FUSE passthrough with the plan's EFS latency and
# throughput (a fresh mount per process; needs /dev/fuse and root);
# --efs-plain serves the EFS tree from the plain folder instead; --efs-sim-args
# appends efs_sim flags that override the plan's figures (e.g. '--latency-ms 0
# --throughput-mb-s 0': the passthrough's own cost; '--ttl-s 0': no caching).
#
# Environment:
#   CAIOS_REF_ENV     reference site-packages folder, built by build-env.sh if missing
#                     (default ~/.cache/caios-pack/ref-env)
#   CAIOS_REF_UNIT    the reference unit folder (default fixtures/reference-unit)
#   CAIOS_PACK_BIN    caios-pack binary (default target/release/caios-pack, built with
#                     `cargo build --release`; setting it skips the build)
#   CAIOS_S3S_FS      s3s-fs binary (default target/test-tools/bin/s3s-fs, installed
#                     with cargo as .ci/run does if missing)
#   CAIOS_TEST_PYLIBS folder holding boto3 (default target/test-tools/pylibs, installed
#                     with pip as .ci/run does if missing)
#   CAIOS_EFS_SIM     efs_sim binary (default $CARGO_TARGET_DIR or target, then
#                     debug/examples/efs_sim, built with
#                     `cargo build --example efs_sim`; with --no-build only if missing)
#
# Every mode runs in fresh `python3 -I -S` processes, round-robin, N rounds
# (default 7); medians, ratios and the targets (packaged <= 1.0x all-local,
# >= 8x faster than Zappa-style) are printed. Exit 0 whatever the timings;
# 2: setup failed; 3: a run failed or a mode's result differs from all-local.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
build=1
fidelity=1
fidelity_args=()
py_args=()

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; }
die() { echo "error: $*" >&2; exit 2; }

while [[ $# -gt 0 ]]; do
  case $1 in
    --runs|--json-out|--work|--dist|--diagnose|--tmp-base|--stats|--max-latency|--efs-sim-args)
      [[ $# -ge 2 ]] || die "$1 needs a value"
      py_args+=("$1" "$2"); shift 2 ;;
    --no-warm|--static) py_args+=("$1"); shift ;;
    --efs-plain) py_args+=("$1"); fidelity_args+=("$1"); shift ;;
    --no-fidelity) fidelity=0; shift ;;
    --fidelity-apps)
      [[ $# -ge 2 ]] || die "$1 needs a value"
      fidelity_args+=(--apps "$2"); shift 2 ;;
    --no-build) build=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done

PY_HOST=${PYTHON:-python3}
command -v "$PY_HOST" >/dev/null || die "$PY_HOST not found"
step() { printf '\n== %s\n' "$*" >&2; }

# 1. The reference unit and its env (idempotent).
ref_unit=${CAIOS_REF_UNIT:-$repo/fixtures/reference-unit}
[[ -f $ref_unit/build-env.sh && -f $ref_unit/events.json && -f $ref_unit/caios-pack.yaml ]] \
  || die "reference unit not found at $ref_unit (set CAIOS_REF_UNIT)"
ref_unit=$(cd "$ref_unit" && pwd)
REF_ENV=${CAIOS_REF_ENV:-$HOME/.cache/caios-pack/ref-env}
step "reference env: $REF_ENV"
mkdir -p "$(dirname "$REF_ENV")"
bash "$ref_unit/build-env.sh" "$REF_ENV" "$PY_HOST" >&2 || die "build-env.sh failed"
REF_ENV=$(cd "$REF_ENV" && pwd)

# 2. s3s-fs and boto3, where .ci/run puts them.
S3S=${CAIOS_S3S_FS:-$repo/target/test-tools/bin/s3s-fs}
if [[ ! -x $S3S ]]; then
  [[ -z ${CAIOS_S3S_FS:-} ]] || die "CAIOS_S3S_FS=$S3S is not executable"
  step "installing s3s-fs into target/test-tools"
  (cd "$repo" && CARGO_TARGET_DIR=target/test-tools/build cargo install s3s-fs@0.14.1 \
     --features binary --locked --root target/test-tools >&2) || die "cargo install s3s-fs failed"
fi
PYLIBS=${CAIOS_TEST_PYLIBS:-$repo/target/test-tools/pylibs}
if [[ ! -d $PYLIBS/boto3 ]]; then
  [[ -z ${CAIOS_TEST_PYLIBS:-} ]] || die "no boto3 in CAIOS_TEST_PYLIBS=$PYLIBS"
  step "installing boto3 into $PYLIBS"
  "$PY_HOST" -m pip install --quiet --disable-pip-version-check --target "$PYLIBS" boto3 >&2 \
    || die "pip install boto3 failed"
fi

# 3. caios-pack release build.
bin=${CAIOS_PACK_BIN:-$repo/target/release/caios-pack}
if [[ -z ${CAIOS_PACK_BIN:-} && $build == 1 ]]; then
  step "cargo build --release"
  (cd "$repo" && cargo build --release >&2) || die "cargo build --release failed"
fi
[[ -x $bin ]] || die "caios-pack binary not found at $bin"

# 4. efs_sim, the EFS tier's FUSE passthrough (a debug build: it mostly sleeps).
EFS_SIM=${CAIOS_EFS_SIM:-${CARGO_TARGET_DIR:-$repo/target}/debug/examples/efs_sim}
if [[ -z ${CAIOS_EFS_SIM:-} ]] && [[ $build == 1 || ! -x $EFS_SIM ]]; then
  step "cargo build --example efs_sim"
  (cd "$repo" && cargo build --example efs_sim >&2) \
    || die "cargo build --example efs_sim failed"
fi

# 5. The benchmark.
commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo none)
dirty=$([[ -n $(git -C "$repo" status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null) ]] && echo yes || echo no)
step "cold_start.py (caios-pack at commit $commit, src changed: $dirty; $(nproc) CPUs; load $(cut -d' ' -f1-3 /proc/loadavg))"
rc=0
"$PY_HOST" "$here/cold_start.py" --caios-pack "$bin" --env "$REF_ENV" --unit "$ref_unit" \
  --s3s-fs "$S3S" --pylibs "$PYLIBS" --efs-sim "$EFS_SIM" "${py_args[@]}" || rc=$?
[[ $rc == 0 ]] || exit $rc

# 6. Model fidelity.
if [[ $fidelity == 1 ]]; then
  step "fidelity.py: modelled vs measured cold start per tier mix"
  "$PY_HOST" "$here/fidelity.py" --caios-pack "$bin" --ref-env "$REF_ENV" --ref-unit "$ref_unit" \
    --s3s-fs "$S3S" --pylibs "$PYLIBS" --python "$PY_HOST" --efs-sim "$EFS_SIM" \
    "${fidelity_args[@]}" || exit $?
fi
