#!/usr/bin/env bash
# Prepares Python for the MCAP interop test: a venv at target/mcap-venv with the `mcap`
# package from PyPI (made once, reused), and prints its python's path on stdout.
# Exits non-zero with a one-line reason when it cannot (no python3, no venv, pip failed).
# Set REEM_PYTHON_BASE to choose the interpreter the venv is made from (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."

venv="$PWD/target/mcap-venv"
python="$venv/bin/python"
base="${REEM_PYTHON_BASE:-python3}"

ready() { [ -x "$python" ] && "$python" -c 'import mcap.reader' >/dev/null 2>&1; }

mkdir -p target
exec 9>target/mcap-venv.lock
flock 9 2>/dev/null || true  # two test runs may prepare it at once

if ! ready; then
  command -v "$base" >/dev/null 2>&1 || { echo "no $base on PATH" >&2; exit 1; }
  log="target/mcap-venv.log"
  rm -rf "$venv"
  "$base" -m venv "$venv" >"$log" 2>&1 ||
    { echo "$base -m venv failed (see $log; on Debian: apt-get install python3-venv)" >&2; exit 1; }
  "$python" -m pip install --disable-pip-version-check -q mcap zstandard lz4 >>"$log" 2>&1 ||
    { echo "pip could not install mcap (see $log)" >&2; exit 1; }
  ready || { echo "mcap installed but does not import (see $log)" >&2; exit 1; }
fi
echo "$python"
