#!/usr/bin/env node
'use strict';
// What allocation tracking gave and cost in one A/B/C triple:
//
//   node --max-old-space-size=8000 bench/tracking/cost.js DIR [--user PATH_PART]
//
// DIR holds A/B/C.heapsnapshot and either driver-info.json (tests/support/take-snapshots.js)
// or gen.json (bench/gen/service-sim.js). Prints one JSON line: the workload's time between A
// and B, the bytes of C, and for the leaked objects (odd ids above A's largest and up to B's,
// still in C): their count and self size, the share of those bytes with an allocation stack
// (trace_node_id != 0), and the share whose stack has a frame in a script whose name contains
// PATH_PART (default: the fixture's folder, or service-sim.js).

const fs = require('node:fs');
const path = require('node:path');

function parseArgs(argv) {
  const opts = { dir: null, user: null };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--user') opts.user = argv[++i];
    else if (!opts.dir) opts.dir = path.resolve(argv[i]);
    else throw new Error(`unexpected argument ${argv[i]}`);
  }
  if (!opts.dir) throw new Error('usage: cost.js DIR [--user PATH_PART]');
  return opts;
}

function load(file) {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

function maxJsId(file) {
  const s = load(file);
  const fields = s.snapshot.meta.node_fields;
  const idAt = fields.indexOf('id');
  let max = 0;
  for (let i = idAt; i < s.nodes.length; i += fields.length) {
    const id = s.nodes[i];
    if (id % 2 === 1 && id > max) max = id;
  }
  return max;
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const dir = opts.dir;
  let loadMs;
  let user = opts.user;
  let tracking = null;
  if (fs.existsSync(path.join(dir, 'driver-info.json'))) {
    const info = load(path.join(dir, 'driver-info.json'));
    loadMs = info.load.ms;
    tracking = info.allocation_tracking || null;
    if (!user) user = `/fixtures/${info.app}/`;
  } else {
    const gen = load(path.join(dir, 'gen.json'));
    loadMs = Math.round(gen.phases.workload * 1000);
    if (!user) user = 'service-sim.js';
  }
  const cFile = path.join(dir, 'C.heapsnapshot');
  const cBytes = fs.statSync(cFile).size;
  const maxA = maxJsId(path.join(dir, 'A.heapsnapshot'));
  const maxB = maxJsId(path.join(dir, 'B.heapsnapshot'));
  const c = load(cFile);
  const meta = c.snapshot.meta;
  const nf = meta.node_fields;
  const [idAt, sizeAt, traceAt] = ['id', 'self_size', 'trace_node_id'].map((f) => nf.indexOf(f));

  // trace node id -> parent trace node id, and -> whether its function is in a user script.
  const infos = c.trace_function_infos || [];
  const ff = meta.trace_function_info_fields || [];
  const scriptAt = ff.indexOf('script_name');
  const userFn = [];
  for (let i = 0; i < infos.length; i += ff.length) {
    userFn.push(String(c.strings[infos[i + scriptAt]] || '').includes(user));
  }
  const parent = new Map();
  const isUser = new Map();
  const tf = meta.trace_node_fields || ['id', 'function_info_index', 'count', 'size', 'children'];
  const stack = [[c.trace_tree || [], 0]];
  while (stack.length) {
    const [list, parentId] = stack.pop();
    for (let i = 0; i < list.length; i += tf.length) {
      const id = list[i];
      parent.set(id, parentId);
      isUser.set(id, userFn[list[i + 1]] === true);
      stack.push([list[i + 4], id]);
    }
  }
  const hasUserFrame = new Map();
  const userOnStack = (id) => {
    const seen = [];
    let found = false;
    for (let t = id; t; t = parent.get(t) || 0) {
      if (hasUserFrame.has(t)) {
        found = hasUserFrame.get(t);
        break;
      }
      seen.push(t);
      if (isUser.get(t)) {
        found = true;
        break;
      }
    }
    for (const t of seen) hasUserFrame.set(t, found);
    return found;
  };

  let leaked = 0;
  let leakedBytes = 0;
  let withStack = 0;
  let withUser = 0;
  for (let i = 0; i < c.nodes.length; i += nf.length) {
    const id = c.nodes[i + idAt];
    if (id % 2 === 0 || id <= maxA || id > maxB) continue;
    const size = c.nodes[i + sizeAt];
    const trace = c.nodes[i + traceAt];
    leaked++;
    leakedBytes += size;
    if (trace) {
      withStack += size;
      if (userOnStack(trace)) withUser += size;
    }
  }
  const pct = (x) => (leakedBytes ? Math.round((1000 * x) / leakedBytes) / 10 : null);
  console.log(
    JSON.stringify({
      dir: path.relative(process.cwd(), dir),
      tracking,
      load_ms: loadMs,
      c_bytes: cBytes,
      trace_function_infos: infos.length / (ff.length || 1),
      leaked_objects: leaked,
      leaked_bytes: leakedBytes,
      leaked_bytes_with_stack_pct: pct(withStack),
      leaked_bytes_with_user_frame_pct: pct(withUser),
    }),
  );
}

main();
