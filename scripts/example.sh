#!/usr/bin/env bash
# README's run command: installs what building caios-pack needs
# (scripts/deps.sh: cmake, make, g++, libclang-dev with apt-get, sudo when
# not root), then packages the bundled example unit into dist/ with its
# HTML report. Extra arguments go to `caios-pack package`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/deps.sh
exec cargo run --release -- package fixtures/example --out dist --report "$@"
