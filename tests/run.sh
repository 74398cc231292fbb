#!/usr/bin/env bash
# heapsight's whole test suite, from a fresh clone: set-up, lint, every test.
# This is the README's test command, and exactly what CI (.ci/run) runs.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

step() { printf '\n== %s\n' "$*" >&2; }

# The tests build some 45 test binaries in the release profile: with its thin LTO each one
# takes 15-20 s to link here (`cargo test --release -p heapsight-leaks --test stacks --no-run`
# after touching the test: 16.7 s on 2 cores). Tests measure no speed (benchmarks do, with the
# real release profile), so they build without LTO.
export CARGO_PROFILE_RELEASE_LTO=false

step "set-up (node versions, peer tools)"
bash tests/setup.sh

step "format"
cargo fmt --all -- --check

step "lint"
cargo clippy --workspace --all-targets --release -- -D warnings

step "tests"
cargo test --workspace --release
