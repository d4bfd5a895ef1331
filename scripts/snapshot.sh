#!/usr/bin/env bash
# Writes the outputs a restructuring must leave unchanged into OUT, so two
# commits can be compared with `diff -r` / `cmp`:
#   analyze --format json of the reference unit, the zoo and the asset unit;
#   package artifacts (deployment.zip, efs/, s3/, plan.json, catalogue, ...)
#   of the reference unit and the zoo.
# Usage: scripts/snapshot.sh OUT [BIN]   (BIN defaults to target/debug/caios-pack)
# CAIOS_REF_ENV: the reference unit's site-packages (default target/test-envs/reference).
set -euo pipefail
out=${1:?usage: scripts/snapshot.sh OUT [BIN]}
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=${2:-$repo/target/debug/caios-pack}
ref_env=${CAIOS_REF_ENV:-$repo/target/test-envs/reference}
[[ -x $bin ]] || { echo "no caios-pack binary at $bin (cargo build first)" >&2; exit 2; }
[[ -d $ref_env ]] || { echo "no reference env at $ref_env (fixtures/reference-unit/build-env.sh DIR)" >&2; exit 2; }
rm -rf "$out" && mkdir -p "$out"
# Outputs name the unit's absolute path: copy the units to one fixed place
# so snapshots taken from different checkouts compare equal.
units=/tmp/caios-snapshot-units
rm -rf "$units" && mkdir -p "$units"
cp -r "$repo/fixtures/reference-unit" "$repo/fixtures/zoo" "$repo/fixtures/asset-unit" "$units/"
"$bin" analyze "$units/reference-unit" --site-packages "$ref_env" --format json >"$out/analyze-reference.json"
"$bin" analyze "$units/zoo" --format json >"$out/analyze-zoo.json"
"$bin" analyze "$units/asset-unit" --format json >"$out/analyze-asset.json"
"$bin" package "$units/reference-unit" --site-packages "$ref_env" --out "$out/package-reference" >/dev/null
"$bin" package "$units/zoo" --out "$out/package-zoo" >/dev/null
echo "snapshot in $out"
