#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs redis-server and redis-cli when missing,
# prepares Python (redis + numpy) for the interop tests, then runs the format check,
# clippy with -D warnings, every test (unit, integration, UI, snapshot, doc), the docs
# build, the Python package's pytest suite (scripts/python-env.sh builds it) and a compile
# of the benchmarks. Tests start their own private redis-servers.
set -euo pipefail
cd "$(dirname "$0")/.."

# redis-server for every test, redis-cli (Debian: redis-tools) for the Redis Cluster tests.
server=${REEM_REDIS_SERVER:-redis-server}
cli=${REEM_REDIS_CLI:-redis-cli}
have() { command -v "$1" >/dev/null 2>&1; }
if ! have "$server" || ! have "$cli"; then
  if [ "$(id -u)" = 0 ] && have apt-get; then
    echo "== $server or $cli is missing: installing redis-server and redis-tools with apt-get"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools; } >/dev/null ||
      { echo "error: $server or $cli is missing and apt-get could not install redis-server redis-tools" >&2; exit 1; }
  fi
  have "$server" || { echo "error: $server is missing; install it (apt-get install redis-server) or set REEM_REDIS_SERVER" >&2; exit 1; }
  have "$cli" || { echo "error: $cli is missing; install it (apt-get install redis-tools) or set REEM_REDIS_CLI" >&2; exit 1; }
fi

if [ -x scripts/interop-env.sh ]; then
  if REEM_PYTHON=$(scripts/interop-env.sh); then
    export REEM_PYTHON
  else
    echo "!!!!! Python with redis and numpy could not be set up: the interop tests will be SKIPPED !!!!!"
  fi
fi

# Python's `mcap` package (PyPI) for the recording interop test (reem-cli/tests/record.rs,
# which fails with the reason if it cannot be set up).
if ! scripts/mcap-env.sh >/dev/null; then
  echo "!!!!! Python with the mcap package could not be set up: python_mcap_reads_the_recording will FAIL !!!!!"
fi

echo "== the stated rust-version covers the locked dependency tree"
scripts/check-msrv.sh
echo "== a crate outside the workspace: reem's default features build the README's array example"
scripts/check-outside.sh
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --all-features -- -D warnings
echo "== cargo doc (warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --all-features --no-deps --quiet
echo "== cargo test (unit, integration, UI, snapshots, doc tests)"
cargo test --workspace --all-features
echo "== the Python package (reem-py): built with maturin, tested with pytest on a private redis-server"
REEM_PY=$(scripts/python-env.sh) || { echo "error: the Python package could not be built or its test tools installed (see target/python-venv.log)" >&2; exit 1; }
# The Rust side of the cross-language tests, as `cargo test` just built it.
if [ -x target/debug/examples/python_interop ]; then export REEM_PY_INTEROP_BIN="$PWD/target/debug/examples/python_interop"; fi
(cd reem-py && "$REEM_PY" -m pytest -q -p no:cacheprovider tests)
echo "== benchmarks compile and run once (no timing is asserted)"
cargo test -p reem-bench --benches
