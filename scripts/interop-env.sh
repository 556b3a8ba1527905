#!/usr/bin/env bash
# Prepares Python for the interop tests: a venv at target/interop-venv with the real `redis`
# and `numpy` packages (made once, reused), and prints its python's path on stdout; see
# scripts/venv.sh.
exec "$(dirname "$0")/venv.sh" interop 'import numpy, redis' redis numpy
