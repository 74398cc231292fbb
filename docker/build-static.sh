#!/usr/bin/env bash
# Builds a fully static heapsight for x86_64 Linux against glibc (no musl target needed):
# no program interpreter, no shared libraries, so it runs in a `FROM scratch` image and from a
# debug container whatever its base image.
#
#   docker/build-static.sh [TARGET_DIR [CARGO_BUILD_ARGS...]]   # default target/static
#
# Prints the path of the binary on its last line. The release profile is used as it is (thin
# LTO); set CARGO_PROFILE_RELEASE_LTO=false for a quicker build of a test binary.
#
# The explicit --target keeps build scripts and proc-macros dynamic (RUSTFLAGS then applies to
# the target only), which +crt-static needs: a proc-macro cannot be a static executable.
# glibc's static libraries come from libc6-dev (libc.a, libm.a, libpthread.a).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET_DIR="${1:-$ROOT/target/static}"
shift || true
TRIPLE=x86_64-unknown-linux-gnu

libc_a="$(gcc -print-file-name=libc.a 2>/dev/null || true)"
if [ -z "$libc_a" ] || [ ! -f "$libc_a" ]; then
    echo "build-static.sh: glibc's static library (libc.a) was not found: install libc6-dev" >&2
    exit 1
fi

cd "$ROOT"
# getrandom (tungstenite's rand, for WebSocket masks) finds glibc's getrandom() with dlsym,
# which a static binary cannot do, and then falls back to /dev/urandom: an empty root (a
# `FROM scratch` image run without /dev) failed with "could not initialize ThreadRng: No such
# file or directory". The linux_getrandom backend calls getrandom() directly (glibc 2.25+,
# Linux 3.17+).
RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static --cfg getrandom_backend=\"linux_getrandom\"" \
    cargo build --release --target "$TRIPLE" -p heapsight --target-dir "$TARGET_DIR" "$@" >&2

bin="$TARGET_DIR/$TRIPLE/release/heapsight"
# The check the image relies on: no program interpreter (PT_INTERP) and no shared library
# (NEEDED). The binary is static-pie (rustc's default with +crt-static on this target): it
# keeps a dynamic section for its own relocations, applied by glibc's start-up code, so
# the executable is still loaded at a random address.
if command -v readelf >/dev/null; then
    if readelf -lW "$bin" | grep -q 'INTERP' || readelf -dW "$bin" | grep -q '(NEEDED)'; then
        echo "build-static.sh: $bin is not static:" >&2
        readelf -lW "$bin" | grep 'INTERP' >&2 || true
        readelf -dW "$bin" | grep '(NEEDED)' >&2 || true
        exit 1
    fi
fi
echo "$bin"
