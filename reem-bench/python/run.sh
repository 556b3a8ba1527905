#!/usr/bin/env bash
# The Python benchmark: reem (this package) vs redis-py + numpy vs the seed's Python REEM,
# W1–W6, measured twice. Makes target/python-venv (scripts/python-env.sh) and
# target/seed-venv (PyPI `reem` 0.1.2 with redis-py 3.5.3, rejson, six, numpy).
# Arguments are passed to `bench.py report` (--quick for a smoke run).
set -euo pipefail
cd "$(dirname "$0")/../.."
REEM_PY=$(scripts/python-env.sh)
seed="$PWD/target/seed-venv"
if ! "$seed/bin/python" -c 'import reem, rejson, numpy' >/dev/null 2>&1; then
  rm -rf "$seed"
  python3 -m venv "$seed" && "$seed/bin/python" -m pip install --disable-pip-version-check -q \
    "reem==0.1.2" rejson "redis==3.5.3" six numpy >target/seed-venv.log 2>&1 ||
    { echo "pip could not install the seed (reem 0.1.2) into $seed (see target/seed-venv.log)" >&2; exit 1; }
fi
for run in 1 2; do
  echo "== run $run"
  REEM_PY="$REEM_PY" SEED_PY="$seed/bin/python" "$REEM_PY" reem-bench/python/bench.py report "$@"
done
