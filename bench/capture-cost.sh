#!/usr/bin/env bash
# What `heapsight capture --pid` costs the service it captures, and what it costs itself
# (issue #16). Run from anywhere; it works in the repository's root:
#
#   bash bench/capture-cost.sh                      # medium 3x local + 3x S3, large 1x each
#   bash bench/capture-cost.sh --runs 1 --medium small --large small     # a quick check
#
# Per capture: a fresh `node --max-old-space-size=MB bench/gen/service-sim.js --serve
# --size SIZE`; a probe (node) that GETs /health every 50 ms (one request at a time) and
# reads the service's VmRSS every 50 ms; then, under /usr/bin/time -v,
#
#   heapsight capture --pid PID --load 'curl -s -X POST "http://127.0.0.1:PORT/work?n=N"' \
#     --idle 2s --out DIR|s3://bench/run-ID
#
# with N the size's workload (medium 20500, large 100000). S3 is moto's server from
# target/s3-server (bash tests/setup.sh), started fresh for each S3 capture (it keeps
# objects in memory) and stopped after it; its CPU time is reported, since on a small
# machine it competes with heapsight and the service. Local and S3 captures alternate, so
# the machine's other load hits both alike; the load average is recorded per capture.
#
# Tables (medians over runs): per snapshot, the service's heap, the snapshot's size and
# time (the phase's "done in": forced GCs, headroom check, snapshot), the longest time
# between two /health answers overlapping the phase (the pause), the manifest's estimate
# against the measured extra peak RSS; per capture, heapsight's peak RSS, wall time, and
# MB/s per snapshot. Everything per run: OUT/runs/*/ and OUT/results.json. Captures are
# deleted after they are measured (their manifests are kept) unless --keep.
#
# Public tools only: node, curl, /usr/bin/time, and python/moto from target/s3-server.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
HS=${HEAPSIGHT:-$ROOT/target/release/heapsight}
OUT=${OUT:-$ROOT/target/bench/capture-cost}
S3=$ROOT/target/s3-server/bin
RUNS=3
LARGE_RUNS=1
MEDIUM=medium
LARGE=large
KEEP=0
FIRST=local

usage() {
  sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'
  echo "options: --runs N (medium captures per destination, default 3)"
  echo "         --large-runs N (large captures per destination, default 1; 0 skips them)"
  echo "         --medium SIZE, --large SIZE (service-sim sizes, default medium, large)"
  echo "         --first local|s3 (which destination goes first in odd runs, default local)"
  echo "         --keep (keep the capture folders); env HEAPSIGHT (binary), OUT (results)"
}
while [ $# -gt 0 ]; do
  case $1 in
    --runs) RUNS=$2; shift 2 ;;
    --large-runs) LARGE_RUNS=$2; shift 2 ;;
    --medium) MEDIUM=$2; shift 2 ;;
    --large) LARGE=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --first) FIRST=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "capture-cost: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done

say() { echo "capture-cost: $*" >&2; }
die() { say "$*"; exit 1; }

for tool in node curl /usr/bin/time "$HS" "$S3/moto_server" "$S3/python"; do
  command -v "$tool" >/dev/null || die "missing $tool (bash tests/setup.sh installs moto; bench/setup.sh /usr/bin/time; cargo build --release -p heapsight)"
done

requests_of() { case $1 in small) echo 600 ;; medium) echo 20500 ;; large) echo 100000 ;; *) die "unknown size $1" ;; esac; }
heap_of() { case $1 in large) echo 8192 ;; *) echo 4096 ;; esac; }
# Disk a local capture needs: three snapshots of about 10 MB, 210 MB, 1.1 GB.
disk_of() { case $1 in small) echo 100 ;; medium) echo 1500 ;; large) echo 6000 ;; esac; }

mkdir -p "$OUT"
rm -rf "$OUT/runs" "$OUT/captures"
mkdir -p "$OUT/runs" "$OUT/captures"

# ---------------------------------------------------------------------------------------
# Processes this script starts; all stopped on exit.
SVC_PID=
MOTO_PID=
PROBE_PID=
cleanup() {
  for p in $PROBE_PID $SVC_PID $MOTO_PID; do
    kill "$p" 2>/dev/null || true
  done
  for p in $PROBE_PID $SVC_PID $MOTO_PID; do
    wait "$p" 2>/dev/null || true
  done
  if [ "$KEEP" = 0 ]; then rm -rf "$OUT/captures"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The /health probe: one GET at a time, every 50 ms (sooner after a slow answer), keep-alive;
# and the service's VmRSS every 50 ms. Lines: `h SENT_MS ANSWERED_MS STATUS`, `r MS RSS_KB`.
cat >"$OUT/probe.js" <<'EOF'
'use strict';
const http = require('node:http');
const fs = require('node:fs');
const [port, pid, out] = process.argv.slice(2);
const fd = fs.openSync(out, 'w');
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
process.on('SIGTERM', () => process.exit(0));
const rss = () => {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
  } catch {
    return -1;
  }
};
setInterval(() => fs.writeSync(fd, `r ${Date.now()} ${rss()}\n`), 50);
const get = () => new Promise((resolve) => {
  const sent = Date.now();
  const req = http.get({ host: '127.0.0.1', port, path: '/health', agent }, (res) => {
    res.resume();
    res.on('end', () => resolve([sent, Date.now(), res.statusCode]));
  });
  req.on('error', () => resolve([sent, Date.now(), 0]));
});
(async () => {
  for (;;) {
    const [sent, answered, status] = await get();
    fs.writeSync(fd, `h ${sent} ${answered} ${status}\n`);
    const wait = sent + 50 - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
})();
EOF

# One run's figures as JSON, from its folder: meta.json, manifest.json, probe.log, time.txt,
# stderr.txt (and objects.json, moto.json for S3).
cat >"$OUT/run.js" <<'EOF'
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const dir = process.argv[2];
const read = (f) => fs.readFileSync(path.join(dir, f), 'utf8');
const meta = JSON.parse(read('meta.json'));
const manifest = JSON.parse(read('manifest.json'));
const time = read('time.txt');
const stderr = read('stderr.txt');
const field = (re) => { const m = re.exec(time); return m ? m[1] : null; };
const elapsed = field(/Elapsed \(wall clock\).*: ([0-9:.]+)\s*$/m).split(':').reduce((s, x) => s * 60 + Number(x), 0);
const probe = read('probe.log').trim().split('\n').map((l) => l.split(' '));
const answers = probe.filter((p) => p[0] === 'h').map((p) => ({ sent: +p[1], answered: +p[2], ok: p[3] === '200' }));
const rss = probe.filter((p) => p[0] === 'r' && +p[2] > 0).map((p) => ({ t: +p[1], kb: +p[2] }));
const done = {};
for (const m of stderr.matchAll(/^> snapshot (\w+):[\s\S]*?^ {2}done in ([^:\n]+)/gm)) done[m[1]] = m[2].trim();
const snapshots = [];
for (const mem of manifest.snapshot_memory) {
  const phase = manifest.phases.find((p) => p.phase === `snapshot-${mem.label.toLowerCase()}`);
  const start = Date.parse(phase.started_at);
  const end = start + phase.duration_ms;
  // Longest time between consecutive answers whose interval overlaps the phase.
  let gap = 0;
  let latency = 0;
  for (let i = 1; i < answers.length; i++) {
    const a = answers[i - 1].answered;
    const b = answers[i].answered;
    if (b >= start && a <= end) gap = Math.max(gap, b - a);
  }
  for (const a of answers) if (a.answered >= start && a.sent <= end) latency = Math.max(latency, a.answered - a.sent);
  const before = rss.filter((r) => r.t <= start).pop();
  const during = rss.filter((r) => r.t >= start && r.t <= end + 100);
  const sampledPeak = during.length ? Math.max(...during.map((r) => r.kb)) * 1024 : null;
  const file = manifest.files.find((f) => f.label === mem.label);
  snapshots.push({
    label: mem.label,
    heap_used: mem.heap_used_bytes,
    bytes: file ? file.bytes : null,
    seconds: phase.duration_ms / 1000,
    done_in: done[mem.label] || null,
    longest_gap_ms: gap,
    longest_latency_ms: latency,
    probe_answers_in_phase: answers.filter((a) => a.answered >= start && a.answered <= end).length,
    rss_before: mem.rss_bytes,
    estimate: mem.estimate_bytes,
    peak_rss: mem.peak_rss_bytes,
    peak_extra: mem.peak_extra_bytes,
    sampled_peak_extra: sampledPeak && before ? sampledPeak - before.kb * 1024 : null,
  });
}
const uploaded = /^uploaded .*$/m.exec(stderr);
let moto = null;
try { moto = JSON.parse(read('moto.json')); } catch {}
let objects = null;
try { objects = JSON.parse(read('objects.json')); } catch {}
process.stdout.write(JSON.stringify({
  ...meta,
  heapsight_max_rss: Number(field(/Maximum resident set size \(kbytes\): (\d+)/)) * 1024,
  heapsight_cpu_s: Number(field(/User time \(seconds\): (\S+)/)) + Number(field(/System time \(seconds\): (\S+)/)),
  wall_s: elapsed,
  exit_status: Number(field(/Exit status: (\d+)/)),
  snapshots,
  uploaded: uploaded ? uploaded[0] : null,
  objects,
  moto_cpu_s: moto ? moto.cpu_s : null,
  moto_max_rss: moto ? moto.max_rss : null,
}) + '\n');
EOF

# The tables, from results.json (one run per line).
cat >"$OUT/report.js" <<'EOF'
'use strict';
const fs = require('node:fs');
const runs = fs.readFileSync(process.argv[2], 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
const median = (xs) => {
  const v = xs.filter((x) => x !== null && x !== undefined && !Number.isNaN(x)).sort((a, b) => a - b);
  if (!v.length) return null;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};
const MB = (b) => (b === null ? '-' : (b / 1e6).toFixed(1));
const fix = (x, d) => (x === null ? '-' : x.toFixed(d));
const table = (head, rows) => {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (r) => r.map((c, i) => String(c).padStart(w[i])).join('  ');
  console.log(line(head));
  console.log(w.map((n) => '-'.repeat(n)).join('  '));
  for (const r of rows) console.log(line(r));
};
const groups = new Map();
for (const r of runs) {
  const k = `${r.role}:${r.size} ${r.dest}`;
  if (!groups.has(k)) groups.set(k, []);
  groups.get(k).push(r);
}
console.log('\nLoad average (1 min, 5 min, 15 min) at the start of each capture:');
for (const r of runs) console.log(`  ${r.id}: ${r.load_start}  (at the end: ${r.load_end})`);

console.log('\n1. The service during each snapshot (medians over runs; MB = 10^6 bytes)');
const rows1 = [];
for (const [k, rs] of groups) {
  for (const label of rs[0].snapshots.map((s) => s.label)) {
    const s = (f) => median(rs.map((r) => { const x = r.snapshots.find((q) => q.label === label); return x ? f(x) : null; }));
    const est = s((x) => x.estimate);
    const extra = s((x) => x.peak_extra);
    rows1.push([k, label, rs.length, MB(s((x) => x.heap_used)), MB(s((x) => x.bytes)), fix(s((x) => x.seconds), 2),
      fix(s((x) => x.longest_gap_ms / 1000), 2), fix(s((x) => x.longest_latency_ms / 1000), 2), MB(s((x) => x.rss_before)),
      MB(est), MB(extra), MB(s((x) => x.sampled_peak_extra)), fix(s((x) => (x.peak_extra ? x.estimate / x.peak_extra : null)), 2)]);
  }
}
table(['service dest', 'snap', 'runs', 'heap MB', 'file MB', 'snap s', 'gap s', 'max lat s', 'RSS before MB',
  'estimate MB', 'extra peak MB', 'sampled extra MB', 'est/extra'], rows1);

console.log('\n2. heapsight itself (medians over runs)');
const rows2 = [];
for (const [k, rs] of groups) {
  const m = (f) => median(rs.map(f));
  const snapRate = (label) => m((r) => { const x = r.snapshots.find((q) => q.label === label); return x && x.bytes ? x.bytes / 1e6 / x.seconds : null; });
  const total = (r) => r.snapshots.reduce((s, x) => s + (x.bytes || 0), 0);
  rows2.push([k, rs.length, MB(m((r) => r.heapsight_max_rss)), MB(m(total)), MB(m((r) => Math.max(...r.snapshots.map((x) => x.bytes || 0)))),
    fix(m((r) => r.wall_s), 1), fix(m((r) => r.heapsight_cpu_s), 1),
    rs[0].snapshots.map((x) => `${x.label} ${fix(m((r) => r.snapshots.find((q) => q.label === x.label).seconds), 1)}`).join(' '),
    rs[0].snapshots.map((x) => `${x.label} ${fix(snapRate(x.label), 0)}`).join(' '),
    fix(m((r) => total(r) / 1e6 / r.snapshots.reduce((s, x) => s + x.seconds, 0)), 0),
    rs[0].dest === 's3' ? fix(m((r) => r.moto_cpu_s), 1) : '-']);
}
table(['service dest', 'runs', 'heapsight max RSS MB', 'A+B+C MB', 'largest MB', 'capture wall s', 'heapsight CPU s',
  'snapshot s', 'snapshot MB/s', 'A+B+C MB/s', 'moto CPU s'], rows2);
for (const r of runs) if (r.uploaded) console.log(`  ${r.id}: ${r.uploaded}`);
for (const r of runs) if (r.exit_status) console.log(`  ${r.id}: heapsight exited with ${r.exit_status}`);
EOF

# ---------------------------------------------------------------------------------------

free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }

MOTO_PORT=
start_moto() {
  MOTO_PORT=$(free_port)
  "$S3/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" >"$1/moto.log" 2>&1 &
  MOTO_PID=$!
  for _ in $(seq 1 100); do
    curl -s -o /dev/null "http://127.0.0.1:$MOTO_PORT/" && break
    sleep 0.2
  done
  "$S3/python" -c "import boto3; boto3.client('s3', endpoint_url='http://127.0.0.1:$MOTO_PORT', aws_access_key_id='x', aws_secret_access_key='y', region_name='us-east-1').create_bucket(Bucket='bench')"
}
stop_moto() {
  # Its CPU time (utime + stime of the server and its threads) and peak RSS, then stop it.
  local ticks hwm
  ticks=$(awk '{print $14 + $15}' "/proc/$MOTO_PID/stat")
  hwm=$(awk '/VmHWM/ {print $2}' "/proc/$MOTO_PID/status")
  echo "{\"cpu_s\": $(awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" 'BEGIN {print t / hz}'), \"max_rss\": $((hwm * 1024))}" >"$1/moto.json"
  kill "$MOTO_PID"
  wait "$MOTO_PID" 2>/dev/null || true
  MOTO_PID=
}
s3_fetch() {
  "$S3/python" - "$MOTO_PORT" "$2" "$1" <<'EOF'
import boto3, json, sys
port, prefix, d = sys.argv[1:]
s3 = boto3.client('s3', endpoint_url=f'http://127.0.0.1:{port}', aws_access_key_id='x',
                  aws_secret_access_key='y', region_name='us-east-1')
objs = []
for page in s3.get_paginator('list_objects_v2').paginate(Bucket='bench', Prefix=prefix + '/'):
    objs += [{'key': o['Key'], 'bytes': o['Size']} for o in page.get('Contents', [])]
json.dump(objs, open(d + '/objects.json', 'w'))
s3.download_file('bench', prefix + '/manifest.json', d + '/manifest.json')
EOF
}

SVC_PORT=
start_service() {
  local size=$1 d=$2
  # --inspect-port=0 opens nothing; it only makes SIGUSR1 open the inspector on a free port
  # rather than 9229, which another inspector on a shared machine may hold.
  node --inspect-port=0 --max-old-space-size="$(heap_of "$size")" bench/gen/service-sim.js --serve --size "$size" \
    >"$d/service.out" 2>"$d/service.err" &
  SVC_PID=$!
  for _ in $(seq 1 3000); do
    SVC_PORT=$(sed -n 's/^service-sim ready port=\([0-9]*\)$/\1/p' "$d/service.out")
    [ -n "$SVC_PORT" ] && return 0
    kill -0 "$SVC_PID" 2>/dev/null || die "service-sim exited: $(cat "$d/service.err")"
    sleep 0.2
  done
  die "service-sim not ready after 600 s"
}
stop_service() {
  kill "$SVC_PID" 2>/dev/null || true
  wait "$SVC_PID" 2>/dev/null || true
  SVC_PID=
}

# One capture: role (medium|large), size, dest (local|s3), run number.
capture() {
  local role=$1 size=$2 dest=$3 id=$1-$3-$4
  local d=$OUT/runs/$id n out
  mkdir -p "$d"
  n=$(requests_of "$size")
  if [ "$dest" = local ]; then
    local need
    need=$(disk_of "$size")
    [ "$(df -Pm "$OUT" | awk 'NR == 2 {print $4}')" -gt $((need + 2000)) ] || die "less than $((need + 2000)) MB free under $OUT"
  fi
  say "$id: starting service-sim --serve --size $size"
  start_service "$size" "$d"
  local pid=$SVC_PID env=()
  if [ "$dest" = s3 ]; then
    start_moto "$d"
    out=s3://bench/$id
    env=(env AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT" AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=y AWS_REGION=us-east-1)
  else
    out=$OUT/captures/$id
  fi
  node "$OUT/probe.js" "$SVC_PORT" "$SVC_PID" "$d/probe.log" &
  PROBE_PID=$!
  sleep 1
  local load_start load_end cmd
  load_start=$(cut -d' ' -f1-3 /proc/loadavg)
  cmd="curl -s -X POST \"http://127.0.0.1:$SVC_PORT/work?n=$n\""
  say "$id: load $load_start; heapsight capture --pid $SVC_PID --load '$cmd' --idle 2s --out $out"
  /usr/bin/time -v -o "$d/time.txt" "${env[@]}" "$HS" capture --pid "$SVC_PID" --load "$cmd" --idle 2s \
    --out "$out" >"$d/stdout.txt" 2>"$d/stderr.txt" || say "$id: capture failed, see $d/stderr.txt"
  load_end=$(cut -d' ' -f1-3 /proc/loadavg)
  sleep 0.5
  kill "$PROBE_PID"; wait "$PROBE_PID" 2>/dev/null || true; PROBE_PID=
  stop_service
  local ok=1
  if [ "$dest" = s3 ]; then
    s3_fetch "$d" "$id" || ok=0
    stop_moto "$d"
  else
    cp "$out/manifest.json" "$d/manifest.json" || ok=0
    [ "$KEEP" = 1 ] || rm -rf "$out"
  fi
  node -e 'const [id, role, size, dest, ls, le, cmd] = process.argv.slice(1);
    console.log(JSON.stringify({ id, role, size, dest, load_start: ls, load_end: le, command: cmd }))' \
    "$id" "$role" "$size" "$dest" "$load_start" "$load_end" \
    "heapsight capture --pid $pid --load '$cmd' --idle 2s --out $out" >"$d/meta.json"
  if [ "$ok" = 1 ]; then node "$OUT/run.js" "$d" >>"$OUT/results.json"; else say "$id: no manifest, left out of the tables"; fi
  grep -E '^(  done in|capture complete|uploaded)' "$d/stderr.txt" | sed "s/^/  $id: /" >&2 || true
}

: >"$OUT/results.json"
say "node $(node --version), heapsight $("$HS" --version 2>/dev/null || echo '?'), $(nproc) cores, results in $OUT"
# Alternate which destination goes first.
if [ "$FIRST" = s3 ]; then odd="s3 local" even="local s3"; else odd="local s3" even="s3 local"; fi
for i in $(seq 1 "$RUNS"); do
  if [ $((i % 2)) = 1 ]; then order=$odd; else order=$even; fi
  for dest in $order; do capture medium "$MEDIUM" "$dest" "$i"; done
done
for i in $(seq 1 "$LARGE_RUNS"); do
  if [ $((i % 2)) = 1 ]; then order=$odd; else order=$even; fi
  for dest in $order; do capture large "$LARGE" "$dest" "$i"; done
done
node "$OUT/report.js" "$OUT/results.json" | tee "$OUT/report.txt"
