#!/usr/bin/env bash
# Prepares Python for the reem package's tests and benchmarks: a venv at target/python-venv
# with maturin, numpy, pytest and redis (made once, reused), the package `reem` (./reem-py)
# built by maturin (release) and installed into it when its sources changed, and prints the
# venv's python on stdout. Exits non-zero with a one-line reason when it cannot.
# Set REEM_PYTHON_BASE to choose the interpreter the venv is made from (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."

# The venv and its tools (scripts/venv.sh); the wheel is built below, under its own lock.
python=$(scripts/venv.sh python 'import maturin, numpy, pytest, redis' "maturin>=1.7,<2" numpy pytest redis)
venv="$PWD/target/python-venv"
log="$PWD/target/python-venv.log"
exec 9>target/python-venv.build.lock
flock 9 2>/dev/null || true  # two runs may build it at once

# Rebuild the package when any of its sources (or the library's) is newer than the wheel.
stamp="$PWD/target/python-venv/.reem-built"
newest=$(find reem-py/src reem-py/python reem-py/Cargo.toml reem-py/pyproject.toml reem/src reem/Cargo.toml Cargo.lock \
  -type f -newer "$stamp" -print -quit 2>/dev/null || echo rebuild)
if [ ! -f "$stamp" ] || [ -n "$newest" ] || ! "$python" -c 'import reem' >/dev/null 2>&1; then
  rm -rf target/wheels-py
  "$venv/bin/maturin" build --release -q -m reem-py/Cargo.toml -i "$python" -o target/wheels-py >>"$log" 2>&1 ||
    { echo "maturin could not build ./reem-py (see $log)" >&2; exit 1; }
  "$python" -m pip install --disable-pip-version-check -q --force-reinstall --no-deps target/wheels-py/*.whl >>"$log" 2>&1 ||
    { echo "pip could not install the reem wheel (see $log)" >&2; exit 1; }
  touch "$stamp"
fi
echo "$python"
