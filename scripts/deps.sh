#!/usr/bin/env bash
# Installs, with apt-get, the system packages caios-pack needs and a fresh
# Debian/Ubuntu machine with only Rust and Python 3 lacks. Installs only
# what is missing; uses sudo when not run as root.
#
#   scripts/deps.sh          what building and running caios-pack needs
#   scripts/deps.sh --test   that, plus what the test suite needs
#
# Build: good_lp's MILP solver, HiGHS, is C++ built from source by the
# highs-sys crate: cmake and make drive the build, g++ compiles it, and
# libclang-dev lets bindgen read HiGHS's C header. Run: python3 compiles the
# deployment package's .pyc files.
# Tests: python3-pip installs real packages from PyPI (recall, apps, trace
# tests) and boto3; chromium and chromium-driver drive the HTML report in
# a headless browser (tests/report.rs).
set -euo pipefail

want_tests=false
case "${1:-}" in
  --test) want_tests=true ;;
  "") ;;
  *) echo "usage: scripts/deps.sh [--test]" >&2; exit 2 ;;
esac

need=()
# Debian package that provides what is missing, when it is missing.
missing_package() { dpkg -s "$1" >/dev/null 2>&1 || need+=("$1"); }
missing_command() { command -v "$1" >/dev/null 2>&1 || need+=("$2"); }

missing_package cmake
missing_package libclang-dev
missing_command make make
missing_command c++ g++
missing_command python3 python3
if $want_tests; then
  python3 -m pip --version >/dev/null 2>&1 || need+=(python3-pip)
  # Debian names them chromium and chromium-driver; Ubuntu,
  # chromium-browser and chromium-chromedriver.
  if dpkg -s chromium-browser >/dev/null 2>&1 ||
    { ! apt-cache show chromium >/dev/null 2>&1 && apt-cache show chromium-browser >/dev/null 2>&1; }; then
    missing_package chromium-browser
    missing_package chromium-chromedriver
  else
    missing_package chromium
    missing_package chromium-driver
  fi
fi

if ((${#need[@]} == 0)); then
  echo "deps.sh: nothing to install (cmake, libclang-dev, make, c++, python3$($want_tests && echo ', pip, chromium, chromium-driver') present)"
  exit 0
fi

if [[ $(id -u) -eq 0 ]]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  echo "deps.sh: not root and no sudo; install these as root, then run again: apt-get install ${need[*]}" >&2
  exit 1
fi
echo "deps.sh: installing with apt-get: ${need[*]}"
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}"
