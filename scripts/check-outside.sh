#!/usr/bin/env bash
# Builds tests/outside/default, a crate outside the workspace that depends on reem with no
# features listed, and checks that the same code with `default-features = false`
# (tests/outside/no-default) fails with an error naming the missing feature.
set -euo pipefail
cd "$(dirname "$0")/.."
target="$PWD/target/outside"
for crate in default no-default; do
  # Start from the workspace's locked versions (nothing new to download).
  cp Cargo.lock "tests/outside/$crate/Cargo.lock"
done
cargo check --quiet --manifest-path tests/outside/default/Cargo.toml --target-dir "$target"
log="$target/no-default.log"
mkdir -p "$target"
if cargo check --manifest-path tests/outside/no-default/Cargo.toml --target-dir "$target" >"$log" 2>&1; then
  echo "error: reem with default-features = false built an ndarray/nalgebra field" >&2
  exit 1
fi
grep -q "need reem's \`ndarray\` / \`nalgebra\` feature" "$log" ||
  { echo "error: the error without the features does not name them (see $log)" >&2; exit 1; }
echo "outside the workspace: the array example builds with default features, and without them the error names the features"
