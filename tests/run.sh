#!/usr/bin/env bash
# heapsight's whole test suite, from a fresh clone: set-up, lint, every test.
# This is the README's test command, and exactly what CI (.ci/run) runs.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

step() { printf '\n== %s\n' "$*" >&2; }

step "set-up (node versions, peer tools)"
bash tests/setup.sh

step "format"
cargo fmt --all -- --check

step "lint"
cargo clippy --workspace --all-targets --release -- -D warnings

step "tests"
cargo test --workspace --release
