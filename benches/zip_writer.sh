#!/usr/bin/env bash
# Benchmark: caios-pack's deployment.zip writer vs `zip -r -6` on the files of
# the reference unit's deployment package (benches/zip_writer.rs).
#
#   benches/zip_writer.sh [RUNS]
#
# Environment: CAIOS_REF_ENV (reference site-packages, built by
# fixtures/reference-unit/build-env.sh when missing; default
# ~/.cache/caios-pack/ref-env).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ref_env=${CAIOS_REF_ENV:-$HOME/.cache/caios-pack/ref-env}
command -v zip >/dev/null || { echo "error: needs Info-ZIP's zip (apt-get install zip)" >&2; exit 2; }
[[ -d $ref_env ]] || "$repo/fixtures/reference-unit/build-env.sh" "$ref_env"
cd "$repo"
cargo build --release --quiet
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
target/release/caios-pack package fixtures/reference-unit --site-packages "$ref_env" \
  --max-latency 3s --out "$work/dist" >/dev/null
python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' \
  "$work/dist/deployment.zip" "$work/files"
cargo bench --quiet --bench zip_writer -- "$work/files" "${1:-5}"
