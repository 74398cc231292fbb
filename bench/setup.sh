#!/usr/bin/env bash
# Installs what heapsight's benchmark needs; safe to run again (it skips what is there).
#   - GNU time at /usr/bin/time (Debian package `time`), for wall time and peak RSS;
#   - the peers from npm into bench/node_modules, exactly as pinned by bench/package-lock.json:
#     memlab 2.x and heap-snapshot-toolkit (Chrome DevTools' heap snapshot engine).
# Needs node >= 18 and npm on PATH.
set -euo pipefail

bench_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

say() { printf 'bench/setup: %s\n' "$*" >&2; }

if [ ! -x /usr/bin/time ]; then
  say "installing GNU time (apt-get)"
  if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq time >/dev/null
fi

command -v node >/dev/null || { say "node is not on PATH"; exit 1; }
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 18 ]; then
  say "node $(node --version) is too old: the peers need node >= 18"
  exit 1
fi

# Reinstall only when the lock file changed since the last install.
lock_hash="$(sha256sum "$bench_dir/package-lock.json" | cut -d' ' -f1)"
stamp="$bench_dir/node_modules/.heapsight-bench-lock"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$lock_hash" ] \
  && [ -f "$bench_dir/node_modules/memlab/bin/memlab" ] \
  && [ -f "$bench_dir/node_modules/heap-snapshot-toolkit/index.js" ]; then
  say "peers up to date"
  exit 0
fi

say "installing peers from npm (memlab, heap-snapshot-toolkit)"
# PUPPETEER_SKIP_DOWNLOAD: memlab depends on puppeteer, whose install would fetch a browser.
# --ignore-scripts: no package's install script is needed to analyse snapshots (memlab's only
# rewrites its shebang, and bench/run starts memlab with node directly).
(
  cd "$bench_dir"
  PUPPETEER_SKIP_DOWNLOAD=1 npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
)
printf '%s\n' "$lock_hash" >"$stamp"
say "peers installed: memlab $(node -p "require('$bench_dir/node_modules/memlab/package.json').version"), heap-snapshot-toolkit $(node -p "require('$bench_dir/node_modules/heap-snapshot-toolkit/package.json').version")"
