#!/usr/bin/env bash
# usage: scripts/venv.sh NAME 'IMPORTS' PACKAGE...
# Prepares a Python venv at target/NAME-venv with PACKAGEs from PyPI (made once, reused:
# ready while `python -c IMPORTS` succeeds) and prints its python's path on stdout.
# Exits non-zero with a one-line reason when it cannot (no python3, no venv, pip failed).
# Set REEM_PYTHON_BASE to choose the interpreter the venv is made from (default python3).
# scripts/interop-env.sh, scripts/mcap-env.sh and scripts/python-env.sh call it.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 3 ] || { echo "usage: $0 NAME 'IMPORTS' PACKAGE..." >&2; exit 2; }
name=$1 imports=$2
shift 2

venv="$PWD/target/$name-venv"
python="$venv/bin/python"
base="${REEM_PYTHON_BASE:-python3}"

ready() { [ -x "$python" ] && "$python" -c "$imports" >/dev/null 2>&1; }

mkdir -p target
exec 9>"target/$name-venv.lock"
flock 9 2>/dev/null || true  # two test runs may prepare it at once

if ! ready; then
  command -v "$base" >/dev/null 2>&1 || { echo "no $base on PATH" >&2; exit 1; }
  log="target/$name-venv.log"
  rm -rf "$venv"
  "$base" -m venv "$venv" >"$log" 2>&1 ||
    { echo "$base -m venv failed (see $log; on Debian: apt-get install python3-venv)" >&2; exit 1; }
  "$python" -m pip install --disable-pip-version-check -q "$@" >>"$log" 2>&1 ||
    { echo "pip could not install $* (see $log)" >&2; exit 1; }
  ready || { echo "$* installed but \`$imports\` fails (see $log)" >&2; exit 1; }
fi
echo "$python"
