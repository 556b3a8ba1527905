#!/usr/bin/env bash
# Prepares Python for the MCAP interop test: a venv at target/mcap-venv with the `mcap`
# package from PyPI (made once, reused), and prints its python's path on stdout; see
# scripts/venv.sh.
exec "$(dirname "$0")/venv.sh" mcap 'import mcap.reader' mcap zstandard lz4
