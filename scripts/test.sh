#!/usr/bin/env bash
# README's test command: installs the system packages the build and the
# tests need (scripts/deps.sh --test, apt-get, sudo when not root), then
# runs `cargo test --locked` with any extra arguments (e.g. `--test cli`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/deps.sh --test
# The EFS end-to-end tests serve the tier through examples/efs_sim.rs, which
# mounts FUSE itself: it needs /dev/fuse and root.
[[ -c /dev/fuse ]] || modprobe fuse 2>/dev/null || true
[[ -c /dev/fuse ]] || echo "warning: no /dev/fuse: the FUSE (EFS simulation) tests will fail" >&2
exec cargo test --locked "$@"
