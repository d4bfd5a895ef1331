#!/usr/bin/env bash
# Peak memory of `caios-pack package` on a unit with one big asset pinned to
# S3 (like fixtures/asset-unit, which pins models/* to s3): the bundle must be
# streamed, not built in memory (goal: < 1 GB peak RSS for a 3 GB asset).
#
# Usage: benches/emit_memory.sh [BIN]     (BIN: target/debug/caios-pack)
#   SIZE_MB   size of the asset (default 3072)
#   BASE_BIN  a caios-pack built at the base commit: run it too, compare the
#             figures and check that both write byte-identical artifacts
#   WORK      where the unit and the outputs go (default: a temp folder
#             next to the repository's target/, deleted at the end); needs
#             about 2.5 × SIZE_MB of free disk, 4 × with BASE_BIN
# Prints, per binary: peak RSS (/usr/bin/time -f %M) and wall time.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-${CARGO_TARGET_DIR:-$repo/target}/debug/caios-pack}
size_mb=${SIZE_MB:-3072}
[[ -x $bin ]] || { echo "no caios-pack binary at $bin (cargo build first)" >&2; exit 2; }
[[ -x /usr/bin/time ]] || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 2; }
work=${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/caios-emit-memory.XXXXXX")}
trap 'rm -rf "$work"' EXIT

unit=$work/unit
mkdir -p "$unit/src" "$unit/models"
cp "$repo/fixtures/asset-unit/src/handler.py" "$unit/src/"
cat >"$unit/caios-pack.yaml" <<'EOF'
handler: handler.handler
source: src
assets: ["models/*.bin"]
pins:
  - {glob: "models/*", tier: s3}
limits:
  tmp_bytes: 10737418240          # EphemeralStorage at its maximum, 10 GiB
EOF
# Pseudo-random but compressible-ish: random bytes over a small alphabet,
# with runs, so deflate works (about 2:1) without being trivial.
python3 - "$unit/models/big.bin" "$size_mb" <<'EOF'
import random, sys
path, size = sys.argv[1], int(sys.argv[2]) << 20
rng = random.Random(12)
block = bytes(rng.choice(b"abcdefgh\0\0\0\0 ") for _ in range(1 << 20))
with open(path, "wb") as f:
    for i in range(size >> 20):
        # A different rotation of the block each MiB: no long-range repeats
        # deflate's 32 KiB window could exploit.
        k = rng.randrange(1 << 20)
        f.write(block[k:] + block[:k])
EOF
echo "unit: one $(du -h "$unit/models/big.bin" | cut -f1) asset pinned to S3, in $unit"

run() { # NAME BIN: package the unit, print peak RSS and wall time
    local name=$1 bin=$2 out=$work/out-$1
    /usr/bin/time -f "%M %e" -o "$work/time-$name" \
        "$bin" package "$unit" --out "$out" >/dev/null 2>"$work/stderr-$name" ||
        { cat "$work/stderr-$name" >&2; exit 1; }
    read -r kb secs <"$work/time-$name"
    printf '%-5s peak RSS %6d MB   wall %6.1f s   s3/ %s\n' "$name" $((kb / 1024)) "$secs" \
        "$(du -sh "$out/s3" | cut -f1)"
}
run new "$bin"
if [[ -n ${BASE_BIN:-} ]]; then
    # Keep only the new output's digest list to leave disk for the base run.
    (cd "$work/out-new" && find . -type f -exec sha256sum {} + | sort -k2) >"$work/sums-new"
    rm -rf "$work/out-new"
    run base "$BASE_BIN"
    (cd "$work/out-base" && find . -type f -exec sha256sum {} + | sort -k2) >"$work/sums-base"
    if diff "$work/sums-base" "$work/sums-new" >/dev/null; then
        echo "artifacts: byte-identical ($(wc -l <"$work/sums-new") files)"
    else
        echo "artifacts: DIFFERENT"; diff "$work/sums-base" "$work/sums-new" | head; exit 1
    fi
fi
