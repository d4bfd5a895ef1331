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
# Bytecode caches that running Python left in a checkout's fixtures (git
# ignores them) would change the inventory, so they are not copied. One
# snapshot at a time: the place is shared.
units=/tmp/caios-snapshot-units
exec 9>/tmp/caios-snapshot.lock
flock 9
rm -rf "$units" && mkdir -p "$units"
for unit in reference-unit zoo asset-unit; do
  (cd "$repo/fixtures" && tar --exclude=__pycache__ -cf - "$unit") | (cd "$units" && tar -xf -)
done
"$bin" analyze "$units/reference-unit" --site-packages "$ref_env" --format json >"$out/analyze-reference.json"
"$bin" analyze "$units/zoo" --format json >"$out/analyze-zoo.json"
"$bin" analyze "$units/asset-unit" --format json >"$out/analyze-asset.json"
"$bin" package "$units/reference-unit" --site-packages "$ref_env" --out "$out/package-reference" >/dev/null
"$bin" package "$units/zoo" --out "$out/package-zoo" >/dev/null
echo "snapshot in $out"
