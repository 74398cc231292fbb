#!/usr/bin/env node
'use strict';
// In-process driver that makes a real A/B/C heap snapshot triple of a fixture app.
//
//   node --expose-gc tests/support/take-snapshots.js <app-dir> <out-dir>
//        [--requests N | --requests-fraction F] [--warmup N] [--idle-ms N] [--concurrency N]
//        [--track-allocations]
//
// --requests-fraction F runs F times the load's default request count (the `requests = N`
// default of the app's load.js), for runs that a slower mode (allocation tracking) must keep short.
//
// With --track-allocations, before the app is imported the driver opens an in-process
// `node:inspector` Session and posts HeapProfiler.enable and HeapProfiler.startTrackingHeapObjects
// {trackAllocations: true}: every object the app allocates, from its first line on, gets an
// allocation stack, and v8.writeHeapSnapshot then writes `trace_function_infos`, `trace_tree` and
// non-zero `trace_node_id`s (checked on Node 18 to 26). Tracking is never stopped (stopping it
// takes a fourth snapshot); the process exits. Run node with --no-compact --no-turbo-inlining
// as well, where its V8 has them, for complete stacks (tests/src/support.rs does).
//
// 1. imports the app's main.mjs or main.js (dynamic import: ES module or CommonJS) and awaits its
//    exported `ready` promise (the port it listens on);
// 2. warm-up: a few requests through the app's load.js, so that lazily created state (HTTP parser
//    pools, compiled code, caches that fill on first use) exists before the baseline;
// 3. gc, then A.heapsnapshot (baseline);
// 4. the load: load.js run(port, { requests }), then B.heapsnapshot (target);
// 5. idle for --idle-ms, gc, then C.heapsnapshot (final);
// 6. driver-info.json (node version, pid, timings, sizes), then closes the app and exits.
//
// Each file is written under a temporary name in <out-dir> and renamed, so a reader never sees a
// half-written snapshot. Works under Node 18 and later; without --expose-gc it enables gc itself.
// The app's stdout (its ready line) passes through; the driver reports on stderr only.

const fs = require('node:fs');
const path = require('node:path');
const v8 = require('node:v8');
const vm = require('node:vm');
const { pathToFileURL } = require('node:url');

const USAGE =
  'usage: node --expose-gc tests/support/take-snapshots.js <app-dir> <out-dir> ' +
  '[--requests N | --requests-fraction F] [--warmup N] [--idle-ms N] [--concurrency N] [--track-allocations]';

function usageError(message) {
  const err = new Error(message);
  err.usage = true;
  return err;
}

function parseArgs(argv) {
  const opts = { requests: undefined, warmup: 20, idleMs: 200, concurrency: 16, trackAllocations: false };
  const positional = [];
  const numeric = { '--requests': 'requests', '--warmup': 'warmup', '--idle-ms': 'idleMs', '--concurrency': 'concurrency' };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [flag, inline] = arg.startsWith('--') ? arg.split('=', 2) : [arg, undefined];
    if (arg === '--track-allocations') {
      opts.trackAllocations = true;
    } else if (flag === '--requests-fraction') {
      const raw = inline !== undefined ? inline : argv[++i];
      const f = Number(raw);
      if (raw === undefined || !(f > 0 && f <= 1)) throw usageError(`--requests-fraction needs a number in (0, 1]\n${USAGE}`);
      opts.requestsFraction = f;
    } else if (flag in numeric) {
      const raw = inline !== undefined ? inline : argv[++i];
      const n = Number(raw);
      if (raw === undefined || !Number.isInteger(n) || n < 0) throw usageError(`${flag} needs a whole number\n${USAGE}`);
      opts[numeric[flag]] = n;
    } else if (arg.startsWith('--')) {
      throw usageError(`unknown option ${arg}\n${USAGE}`);
    } else {
      positional.push(arg);
    }
  }
  if (positional.length !== 2) throw usageError(USAGE);
  opts.appDir = path.resolve(positional[0]);
  opts.outDir = path.resolve(positional[1]);
  return opts;
}

// The load's default request count, as its load.js writes it (`{ requests = 2000, ... }`),
// scaled by `fraction`.
function scaledRequests(loadFile, fraction) {
  const found = /requests\s*=\s*(\d+)/.exec(fs.readFileSync(loadFile, 'utf8'));
  if (!found) throw new Error(`${loadFile} has no \`requests = N\` default to scale`);
  return Math.max(20, Math.round(Number(found[1]) * fraction));
}

function findMain(appDir) {
  for (const name of ['main.mjs', 'main.js']) {
    const file = path.join(appDir, name);
    if (fs.existsSync(file)) return file;
  }
  throw new Error(`${appDir} has neither main.mjs nor main.js`);
}

// The namespace of a dynamically imported CommonJS module has the exports as `default` (and as
// named exports when Node can detect them); an ES module has them as named exports.
async function importApi(file) {
  const ns = await import(pathToFileURL(file).href);
  return ns.default && typeof ns.default === 'object' && !('ready' in ns) ? ns.default : ns;
}

function getGc() {
  if (typeof globalThis.gc === 'function') return globalThis.gc;
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc');
}

// Turns on V8's allocation tracking through an in-process inspector session; returns the session
// (kept open: closing it would end tracking).
async function startTracking() {
  const inspector = require('node:inspector');
  const session = new inspector.Session();
  session.connect();
  const post = (method, params) =>
    new Promise((resolve, reject) => session.post(method, params || {}, (err, res) => (err ? reject(err) : resolve(res))));
  await post('HeapProfiler.enable');
  await post('HeapProfiler.startTrackingHeapObjects', { trackAllocations: true });
  return session;
}

// The V8 flags that matter for allocation stacks, as this process was started with them.
const TRACKING_FLAGS = ['--no-compact', '--no-turbo-inlining', '--no-maglev-inlining'];

const tick = () => new Promise((resolve) => setImmediate(resolve));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function collect(gc, rounds) {
  for (let i = 0; i < rounds; i++) {
    gc();
    await tick(); // let weak callbacks and FinalizationRegistry cleanups run between rounds
  }
}

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function writeAtomically(outDir, name, write) {
  const final = path.join(outDir, name);
  const tmp = path.join(outDir, `.${name}.tmp-${process.pid}`);
  write(tmp);
  fs.renameSync(tmp, final);
  return final;
}

function snapshot(outDir, label) {
  const started = process.hrtime.bigint();
  const heapUsed = process.memoryUsage().heapUsed;
  const file = writeAtomically(outDir, `${label}.heapsnapshot`, (tmp) => {
    const written = v8.writeHeapSnapshot(tmp);
    if (written !== tmp) fs.renameSync(written, tmp);
  });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  const bytes = fs.statSync(file).size;
  process.stderr.write(`take-snapshots: ${label} ${(bytes / 1e6).toFixed(1)} MB in ${ms.toFixed(0)} ms\n`);
  return { label, file: path.basename(file), bytes, heap_used: heapUsed, write_ms: Math.round(ms) };
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const gc = getGc();
  const mainFile = findMain(opts.appDir);
  const loadFile = path.join(opts.appDir, 'load.js');
  fs.mkdirSync(opts.outDir, { recursive: true });

  process.env.PORT = '0';
  const tracking = opts.trackAllocations
    ? {
        since: 'start',
        flags: process.execArgv.filter((a) => TRACKING_FLAGS.includes(a)),
        snapshots_via: 'v8.writeHeapSnapshot',
      }
    : null;
  // Before the import, so the app's module-level allocations have a stack.
  const session = tracking ? await startTracking() : null;
  const t0 = Date.now();
  const api = await importApi(mainFile);
  if (!api.ready || typeof api.ready.then !== 'function') {
    throw new Error(`${mainFile} does not export a \`ready\` promise`);
  }
  const port = await withTimeout(Promise.resolve(api.ready), 15000, 'the app start');
  const load = await importApi(loadFile);
  if (typeof load.run !== 'function') throw new Error(`${loadFile} does not export run()`);

  if (opts.warmup > 0) await load.run(port, { requests: opts.warmup, concurrency: Math.min(4, opts.concurrency) });
  await collect(gc, 3);
  const a = snapshot(opts.outDir, 'A');

  const loadOpts = { concurrency: opts.concurrency };
  if (opts.requests !== undefined) loadOpts.requests = opts.requests;
  else if (opts.requestsFraction !== undefined) loadOpts.requests = scaledRequests(loadFile, opts.requestsFraction);
  const loadResult = await load.run(port, loadOpts);
  await collect(gc, 1);
  const b = snapshot(opts.outDir, 'B');

  await sleep(opts.idleMs);
  await collect(gc, 4);
  const c = snapshot(opts.outDir, 'C');

  const info = {
    driver: 'tests/support/take-snapshots.js',
    app: path.basename(opts.appDir),
    main: path.basename(mainFile),
    node_version: process.version,
    v8_version: process.versions.v8,
    pid: process.pid,
    port,
    warmup_requests: opts.warmup,
    load: loadResult,
    idle_ms: opts.idleMs,
    snapshots: [a, b, c],
    total_ms: Date.now() - t0,
    allocation_tracking: tracking,
  };
  if (session) session.disconnect(); // ends tracking; no fourth snapshot
  writeAtomically(opts.outDir, 'driver-info.json', (tmp) => fs.writeFileSync(tmp, JSON.stringify(info, null, 2) + '\n'));

  if (typeof api.close === 'function') {
    await withTimeout(Promise.resolve(api.close()), 2000, 'the app close').catch((err) => {
      process.stderr.write(`take-snapshots: ${err.message}; exiting anyway\n`);
    });
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    if (err && err.usage) {
      process.stderr.write(`take-snapshots: ${err.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`take-snapshots: error: ${err && err.stack ? err.stack : err}\n`);
    process.exit(1);
  },
);
