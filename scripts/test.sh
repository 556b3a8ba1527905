#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs redis-server when it is missing,
# prepares Python (redis + numpy) for the interop tests, then runs the format check,
# clippy with -D warnings, every test (unit, integration, UI, snapshot, doc), the docs
# build and a compile of the benchmarks. Tests start their own private redis-servers.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== redis-server is missing: installing it with apt-get"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; } >/dev/null ||
      { echo "error: redis-server is missing and apt-get could not install it" >&2; exit 1; }
  else
    echo "error: redis-server is missing; install it (apt-get install redis-server) or set REEM_REDIS_SERVER" >&2
    exit 1
  fi
fi

if [ -x scripts/interop-env.sh ]; then
  if REEM_PYTHON=$(scripts/interop-env.sh); then
    export REEM_PYTHON
  else
    echo "!!!!! Python with redis and numpy could not be set up: the interop tests will be SKIPPED !!!!!"
  fi
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --all-features -- -D warnings
echo "== cargo doc (warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --all-features --no-deps --quiet
echo "== cargo test (unit, integration, UI, snapshots, doc tests)"
cargo test --workspace --all-features
echo "== benchmarks compile and run once (no timing is asserted)"
cargo test -p reem-bench --benches
