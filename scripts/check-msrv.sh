#!/usr/bin/env bash
# Fails when the workspace's stated `rust-version` is lower than the highest `rust_version`
# of a package in the locked dependency tree (normal and build dependencies, all platforms,
# features as the workspace enables them) of the published crates `reem` and `reem-derive`.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo metadata --format-version 1 --locked | python3 -c '
import json, re, sys
m = json.load(sys.stdin)
pkgs = {p["id"]: p for p in m["packages"]}
deps = {n["id"]: [d["pkg"] for d in n["deps"] if any(k["kind"] in (None, "build") for k in d["dep_kinds"])]
        for n in m["resolve"]["nodes"]}
todo = [i for i, p in pkgs.items() if p["name"] in ("reem", "reem-derive") and p["source"] is None]
seen = set()
while todo:
    i = todo.pop()
    if i not in seen:
        seen.add(i)
        todo += deps[i]
v = lambda s: tuple(int(x) for x in ((s or "0") + ".0.0").split(".")[:3])
name, version, needs = max(((pkgs[i]["name"], pkgs[i]["version"], pkgs[i]["rust_version"]) for i in seen),
                           key=lambda p: v(p[2]))
stated = re.search(r"^rust-version\s*=\s*\"([0-9.]+)\"", open("Cargo.toml").read(), re.M).group(1)
if v(stated) < v(needs):
    sys.exit(f"error: Cargo.toml says rust-version = {stated}, but {name} {version} needs {needs}")
print(f"rust-version {stated} covers the locked tree of reem and reem-derive (highest: {name} {version}, {needs})")
'
