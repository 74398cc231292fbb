#!/usr/bin/env node
// A synthetic V8 heap snapshot of any size, in V8's exact layout (Node 20's seven node
// fields, its separators and section order), shaped by the distributions that
// bench/gen/measure.js measured on a real snapshot (bench/gen/profile.json: service-sim's
// medium final snapshot under Node 20).
//
//   node bench/gen/synth.js --nodes 100000000 --out FILE [--seed N] [--profile FILE]
//
// The heap is a spanning tree plus cross edges, written in preorder (a node's first child
// is the next node, its other children follow their elder siblings' subtrees, as an
// allocator that allocates an object and then its parts would lay them out):
// - inner nodes draw their number of tree children, leaves and inner nodes their types, and
//   every node its number of cross edges, from the measured histograms; tree edges and
//   cross edges draw their types from the measured shares (weak edges are cross edges);
// - a subtree's size is split among the children at random (uniform shares); a large
//   subtree has at least sqrt(size) children (collections hold most of a real heap), which
//   keeps the depth near the measured one at any size;
// - cross edges are what sharing is: most go to a small set of shared nodes at the start
//   of the heap (maps, internalized strings: a skewed choice, so a few are shared by
//   millions), the rest to a node nearby (distance drawn from the measured near offsets);
// - self sizes by type from the measured log2 buckets; plain objects get property names
//   from a few hundred shapes, so shape names are inferred as on real heaps; objects of
//   user classes and closures get constructor/function locations;
// - ids are odd and grow with the ordinal, as for JS objects.
//
// Memory stays bounded: the preorder needs only the pending siblings of the current path.
// The file is written in two passes that replay the same random stream: nodes, then
// edges and locations; the header's edge count is written last, over a space-padded
// placeholder. Prints a JSON record (counts, bytes, seconds) on stdout.

'use strict';

const fs = require('node:fs');
const path = require('node:path');

const NODE_TYPES = ['hidden', 'array', 'string', 'object', 'code', 'closure', 'regexp', 'number', 'native', 'synthetic',
  'concatenated string', 'sliced string', 'symbol', 'bigint', 'object shape', 'wasm object'];
const EDGE_TYPES = ['context', 'element', 'property', 'internal', 'hidden', 'shortcut', 'weak'];
const T = Object.fromEntries(NODE_TYPES.map((t, i) => [t, i]));
const ET = Object.fromEntries(EDGE_TYPES.map((t, i) => [t, i]));
const FIELDS = 7;

function parseArgs(argv) {
  const opts = { nodes: 0, out: null, seed: 1, profile: path.join(__dirname, 'profile.json') };
  for (let i = 0; i < argv.length; i++) {
    const v = () => argv[++i];
    if (argv[i] === '--nodes') opts.nodes = Number(v());
    else if (argv[i] === '--out') opts.out = v();
    else if (argv[i] === '--seed') opts.seed = Number(v());
    else if (argv[i] === '--profile') opts.profile = v();
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  if (!Number.isSafeInteger(opts.nodes) || opts.nodes < 1000 || !opts.out) {
    throw new Error('usage: synth.js --nodes N (at least 1000) --out FILE [--seed N] [--profile FILE]');
  }
  if (opts.nodes * FIELDS >= 2 ** 32) throw new Error('more nodes than to_node can address in 32 bits');
  return opts;
}

// xorshift128: fast, 32-bit, reproducible.
class Rng {
  constructor(seed) {
    this.a = 123456789 ^ seed;
    this.b = 362436069;
    this.c = 521288629;
    this.d = 88675123 ^ Math.imul(seed, 2654435761);
    for (let i = 0; i < 16; i++) this.u32();
  }
  u32() {
    let t = this.d;
    const s = this.a;
    this.d = this.c;
    this.c = this.b;
    this.b = s;
    t ^= t << 11;
    t ^= t >>> 8;
    this.a = t ^ s ^ (s >>> 19);
    return this.a >>> 0;
  }
  unit() {
    return this.u32() / 4294967296;
  }
  below(n) {
    return Math.floor(this.unit() * n);
  }
}

// A discrete distribution: values with weights, sampled through a 64k-entry table.
class Table {
  constructor(entries) {
    const total = entries.reduce((a, [, w]) => a + w, 0);
    this.values = entries.map(([v]) => v);
    this.lut = new Uint16Array(65536);
    let acc = 0;
    let at = 0;
    entries.forEach(([, w], i) => {
      acc += w / total;
      const end = i === entries.length - 1 ? 65536 : Math.min(65536, Math.round(acc * 65536));
      for (; at < end; at++) this.lut[at] = i;
    });
  }
  sample(rng) {
    return this.values[this.lut[rng.u32() >>> 16]];
  }
}

// A value in log2 bucket b: 0 for b = 0, else uniform in [2^(b-1), 2^b - 1].
function inBucket(rng, b) {
  if (b <= 0) return 0;
  const lo = 2 ** (b - 1);
  return lo + rng.below(lo);
}

function tableOf(obj, key = (k) => k) {
  return new Table(Object.entries(obj).filter(([, w]) => w > 0).map(([k, w]) => [key(k), w]));
}

// Fixed vocabulary of the strings table, then `dynamic` generated string values.
function vocabulary() {
  const words = ['<dummy>', '', '(GC roots)', '(Internalized strings)', '(Strong roots)', '(Handle scope)', '(Global handles)',
    '(Stack roots)', 'C++ roots', 'Node / Environment', 'global', 'Object', 'heap number', 'symbol', 'bigint',
    '(object elements)', '(object properties)', '(internal array)', 'system / Map', 'system / Context',
    'system / NativeContext', 'system / PropertyCell', 'system / FeedbackVector', 'system / DescriptorArray'];
  const at = new Map(words.map((w, i) => [w, i]));
  const pool = (prefix, n) => {
    const start = words.length;
    for (let i = 0; i < n; i++) words.push(`${prefix}${i}`);
    return { start, n };
  };
  const pools = {
    classes: pool('Class', 124), // plus `Object`: 125 object names, as measured
    props: pool('prop_', 2000),
    internal: pool('', 0),
    functions: pool('handler', 2400),
    code: pool('(code) ', 4800),
    hidden: pool('system / Hidden', 40),
    shapes: pool('(object shape) ', 10),
    regexps: pool('/re', 50),
    natives: pool('Native', 21),
    contexts: pool('var_', 300),
  };
  const internalNames = ['map', 'properties', 'elements', 'prototype', 'constructor', 'context', 'shared',
    'feedback_cell', 'code', 'first', 'second', 'table', 'descriptors', 'back_pointer', 'transition'];
  pools.internal = { start: words.length, n: internalNames.length };
  for (const w of internalNames) words.push(w);
  return { words, at, pools };
}

function stringValue(k) {
  // Deterministic strings of 5 to 60 characters (the measured mean is about 33).
  const h = Math.imul(k ^ 0x9e3779b9, 0x85ebca6b) >>> 0;
  const len = 5 + (h % 56);
  const base = `v${k}_`;
  return (base + 'abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz'.slice(0, Math.max(0, len - base.length)));
}

// Buffered writes of latin1 text.
class Out {
  constructor(fd, at) {
    this.fd = fd;
    this.at = at;
    this.buf = '';
  }
  write(s) {
    this.buf += s;
    if (this.buf.length > 1 << 20) this.flush();
  }
  flush() {
    if (this.buf.length === 0) return;
    const b = Buffer.from(this.buf, 'latin1');
    fs.writeSync(this.fd, b, 0, b.length, this.at);
    this.at += b.length;
    this.buf = '';
  }
}

function generate(opts) {
  const profile = JSON.parse(fs.readFileSync(opts.profile, 'utf8'));
  const N = opts.nodes;
  const { words, at, pools } = vocabulary();
  const dynamicStrings = Math.max(1, Math.round(N * Math.max(0.01, profile.strings_per_node - words.length / N)));
  const dynamicStart = words.length;
  const typeKey = (k) => T[k];
  const leafTypes = tableOf(profile.leaf_types, typeKey);
  const innerTypes = tableOf(profile.inner_types, typeKey);
  const treeKids = tableOf(profile.tree_children_log2_of_inner, Number);
  const crossPerNode = tableOf(profile.cross_edges_per_node_log2, Number);
  const treeEdgeTypes = tableOf(profile.tree_edge_types, (k) => ET[k]);
  const crossEdgeTypes = tableOf(profile.cross_edge_types, (k) => ET[k]);
  const sizes = Object.fromEntries(Object.entries(profile.self_size_log2).map(([t, h]) => [T[t], tableOf(h, Number)]));
  // Near cross edges: the measured offsets below 2^16, either sign.
  const near = new Table(Object.entries(profile.cross_offset_log2)
    .map(([k, w]) => [Number(k), w])
    .filter(([k, w]) => w > 0 && Math.abs(k) <= 16 && k !== 0));
  const nearShare = Object.entries(profile.cross_offset_log2)
    .filter(([k]) => Math.abs(Number(k)) <= 16)
    .reduce((a, [, w]) => a + w, 0);
  // Shared nodes: 0.5% of the heap, right after the GC roots.
  const hubs = Math.max(16, Math.round(N * 0.005));
  const hubStart = 3;
  const locatedShare = Math.max(0, profile.locations_per_node - (profile.node_types.closure || 0));
  const objectShare = profile.node_types.object || 1;
  const userClassLocated = Math.min(1, locatedShare / objectShare);

  const fd = fs.openSync(opts.out, 'w');
  const headerAt = 0;
  const headerText = (edgeCount) => {
    const meta = {
      node_fields: ['type', 'name', 'id', 'self_size', 'edge_count', 'trace_node_id', 'detachedness'],
      node_types: [NODE_TYPES, 'string', 'number', 'number', 'number', 'number', 'number'],
      edge_fields: ['type', 'name_or_index', 'to_node'],
      edge_types: [EDGE_TYPES, 'string_or_number', 'node'],
      trace_function_info_fields: ['function_id', 'name', 'script_name', 'script_id', 'line', 'column'],
      trace_node_fields: ['id', 'function_info_index', 'count', 'size', 'children'],
      sample_fields: ['timestamp_us', 'last_assigned_id'],
      location_fields: ['object_index', 'script_id', 'line', 'column'],
    };
    // The edge count is known after the nodes: a placeholder of fixed width first.
    const count = edgeCount === null ? ' '.repeat(20) : String(edgeCount).padEnd(20, ' ');
    return `{"snapshot":{"meta":${JSON.stringify(meta)},"node_count":${N},"edge_count":${count},"trace_function_count":0},\n`;
  };
  const header = headerText(null);
  const out = new Out(fd, headerAt + Buffer.byteLength(header, 'latin1'));

  // Two passes over the same random stream: 0 writes nodes, 1 writes edges and locations.
  let edgeCount = 0;
  let locationText = null;
  const locOut = { parts: [], len: 0 };
  for (let pass = 0; pass < 2; pass++) {
    const rng = new Rng(opts.seed);
    out.write(pass === 0 ? '"nodes":[' : '],\n"edges":[');
    // Pending subtrees of the preorder: budget and kind (0 generic, 1 GC roots, 2 hub
    // holder, 3 hub, 4 global).
    let budgets = new Float64Array(1024);
    let kinds = new Uint8Array(1024);
    let top = 0;
    const push = (b, k) => {
      if (top === budgets.length) {
        const nb = new Float64Array(top * 2);
        nb.set(budgets);
        budgets = nb;
        const nk = new Uint8Array(top * 2);
        nk.set(kinds);
        kinds = nk;
      }
      budgets[top] = b;
      kinds[top] = k;
      top++;
    };
    let childBudgets = new Float64Array(1024);
    let weights = new Float64Array(1024);
    // Edge buffers of the current node.
    let eType = new Uint8Array(1024);
    let eName = new Uint32Array(1024);
    let eTo = new Uint32Array(1024);
    let first = true;
    let locFirst = true;

    for (let i = 0; i < N; i++) {
      let S;
      let kind;
      if (i === 0) {
        S = N;
        kind = 5;
      } else {
        top--;
        S = budgets[top];
        kind = kinds[top];
      }
      let type;
      let name;
      let k; // tree children
      let cross;
      if (kind === 5) {
        type = T.synthetic;
        name = at.get('');
        k = 2;
        cross = 0;
      } else if (kind === 1) {
        type = T.synthetic;
        name = at.get('(GC roots)');
        k = Math.min(S - 1, 8);
        cross = 0;
      } else if (kind === 2) {
        type = T.synthetic;
        name = at.get('(Internalized strings)');
        k = hubs;
        cross = 0;
      } else if (kind === 4) {
        type = T.object;
        name = at.get('global');
        k = Math.min(S - 1, 256);
        cross = 1;
      } else {
        if (kind === 3) {
          const r = rng.unit();
          type = r < 0.4 ? T['object shape'] : r < 0.7 ? T.hidden : T.string;
        } else {
          type = S > 1 ? innerTypes.sample(rng) : leafTypes.sample(rng);
        }
        k = S > 1 ? Math.max(1, Math.min(S - 1, inBucket(rng, treeKids.sample(rng)))) : 0;
        // Large subtrees hang off collections: at least sqrt(size) children, so the depth
        // stays near the measured one (8 to 15 for most nodes) at any size.
        if (S > 256) k = Math.max(k, Math.min(S - 1, Math.floor(Math.sqrt(S))));
        // A cons string has two parts, a sliced string one.
        if (type === T['concatenated string'] || type === T['sliced string']) k = Math.min(k, type === T['sliced string'] ? 1 : 2);
        cross = inBucket(rng, crossPerNode.sample(rng));
        name = 0;
      }
      // Names by type.
      let located = false;
      let cls = 0;
      let shape = -1;
      if (name === 0) {
        switch (type) {
          case T.object: {
            const r = rng.unit();
            if (r < 0.45) {
              name = at.get('Object');
              shape = Math.floor(300 * rng.unit() ** 3);
            } else {
              cls = Math.floor(124 * rng.unit() ** 2);
              name = pools.classes.start + cls;
              located = rng.unit() < userClassLocated / 0.55;
            }
            break;
          }
          case T.closure:
            name = pools.functions.start + Math.floor(pools.functions.n * rng.unit() ** 2);
            located = true;
            cls = name;
            break;
          case T.code:
            name = pools.code.start + rng.below(pools.code.n);
            break;
          case T.hidden:
            name = pools.hidden.start + rng.below(pools.hidden.n);
            break;
          case T['object shape']:
            name = pools.shapes.start + rng.below(pools.shapes.n);
            break;
          case T.array:
            name = at.get(['(object elements)', '(object properties)', '(internal array)', ''][rng.below(4)]);
            break;
          case T.number:
            name = at.get('heap number');
            break;
          case T.symbol:
            name = at.get('symbol');
            break;
          case T.bigint:
            name = at.get('bigint');
            break;
          case T.regexp:
            name = pools.regexps.start + rng.below(pools.regexps.n);
            break;
          case T.native:
            name = pools.natives.start + rng.below(pools.natives.n);
            break;
          case T.synthetic:
            name = at.get('(Strong roots)');
            break;
          default: // strings
            name = dynamicStart + rng.below(dynamicStrings);
        }
      }
      const sizeTable = sizes[type];
      const selfSize = kind === 5 || kind === 1 || kind === 2 || !sizeTable ? 0 : Math.max(type === T.synthetic ? 0 : 4, inBucket(rng, sizeTable.sample(rng)) & ~3);

      // Child budgets: one node each, the rest shared at random.
      if (k > childBudgets.length) {
        childBudgets = new Float64Array(k * 2);
        weights = new Float64Array(k * 2);
      }
      if (kind === 5) {
        childBudgets[0] = Math.max(1, Math.floor((N - 1) * 0.3));
        childBudgets[1] = N - 1 - childBudgets[0];
      } else if (kind === 1) {
        // The shared nodes first, then the rest of the system roots.
        const rest = S - 1 - (hubs + 1);
        childBudgets[0] = hubs + 1;
        for (let j = 1; j < k; j++) childBudgets[j] = 0;
        let kk = Math.min(k - 1, rest);
        split(rng, rest, kk, childBudgets, weights, 1);
        k = kk + 1;
      } else if (kind === 2) {
        for (let j = 0; j < k; j++) childBudgets[j] = 1;
      } else if (k > 0) {
        split(rng, S - 1, k, childBudgets, weights, 0);
      }

      const degree = k + cross;
      if (pass === 0) {
        edgeCount += degree;
        out.write(`${first ? '' : ','}${type},${name},${2 * i + 1},${selfSize},${degree},0,0\n`);
        first = false;
        // Consume the same random numbers as pass 1 does for edges.
        for (let j = 0; j < cross; j++) crossEdge(rng, i, j, type, shape, null);
        if (kind !== 5) for (let j = 0; j < k; j++) treeEdge(rng, cross + j, type, shape, null);
      } else {
        if (degree > eType.length) {
          eType = new Uint8Array(degree * 2);
          eName = new Uint32Array(degree * 2);
          eTo = new Uint32Array(degree * 2);
        }
        const edge = { type: 0, name: 0 };
        let m = 0;
        for (let j = 0; j < cross; j++, m++) {
          eTo[m] = crossEdge(rng, i, m, type, shape, edge);
          eType[m] = edge.type;
          eName[m] = edge.name;
        }
        let child = i + 1;
        for (let j = 0; j < k; j++, m++) {
          if (kind === 5) {
            edge.type = j === 0 ? ET.element : ET.shortcut;
            edge.name = j === 0 ? 1 : at.get('global');
          } else {
            treeEdge(rng, m, type, shape, edge);
          }
          eType[m] = edge.type;
          eName[m] = edge.name;
          eTo[m] = child;
          child += childBudgets[j];
        }
        let s = '';
        for (let j = 0; j < m; j++) {
          s += `${first ? '' : ','}${eType[j]},${eName[j]},${eTo[j] * FIELDS}\n`;
          first = false;
        }
        out.write(s);
        if (located) {
          const script = 80 + (cls % 7);
          locOut.parts.push(`${locFirst ? '' : ','}${i * FIELDS},${script},${(cls * 13) % 2000},${4 + (cls % 40)}\n`);
          locFirst = false;
          if (locOut.parts.length >= 4096) {
            locOut.len += locOut.parts.length;
            flushLocations(locOut, opts.out);
          }
        }
      }
      // Pending children, the first on top.
      for (let j = k - 1; j >= 0; j--) {
        let childKind = 0;
        if (kind === 5) childKind = j === 0 ? 1 : 4;
        else if (kind === 1 && j === 0) childKind = 2;
        else if (kind === 2) childKind = 3;
        push(childBudgets[j], childKind);
      }
    }
    if (top !== 0) throw new Error(`internal: ${top} subtrees left`);
    if (pass === 1) {
      out.write('],\n"trace_function_infos":[],\n"trace_tree":[],\n"samples":[],\n"locations":[');
      out.flush();
      locationText = flushLocations(locOut, opts.out, true);
    }
  }
  // Locations (collected in a side file while edges were written), then the strings.
  const side = opts.out + '.locations';
  if (fs.existsSync(side)) {
    const rd = fs.openSync(side, 'r');
    const chunk = Buffer.alloc(1 << 20);
    let n;
    let pos = 0;
    while ((n = fs.readSync(rd, chunk, 0, chunk.length, pos)) > 0) {
      fs.writeSync(fd, chunk, 0, n, out.at);
      out.at += n;
      pos += n;
    }
    fs.closeSync(rd);
    fs.unlinkSync(side);
  }
  void locationText;
  out.write('],\n"strings":[');
  for (let s = 0; s < words.length; s++) out.write(`${s === 0 ? '' : ',\n'}${JSON.stringify(words[s])}`);
  for (let d = 0; d < dynamicStrings; d++) out.write(`,\n"${stringValue(d)}"`);
  out.write(']}');
  out.flush();
  const h = Buffer.from(headerText(edgeCount), 'latin1');
  if (h.length !== Buffer.byteLength(header, 'latin1')) throw new Error('internal: header size changed');
  fs.writeSync(fd, h, 0, h.length, headerAt);
  fs.closeSync(fd);
  return { nodes: N, edges: edgeCount, strings: words.length + dynamicStrings, bytes: out.at };

  function crossEdge(rng, from, position, type, shape, edge) {
    const t = position === 0 ? ET.internal : crossEdgeTypes.sample(rng);
    let to;
    if (rng.unit() < nearShare) {
      const b = near.sample(rng);
      const off = inBucket(rng, Math.abs(b));
      to = b < 0 ? from - off : from + off;
      if (to < 1 || to >= N) to = hubStart + rng.below(hubs);
    } else {
      // Skewed: the first shared nodes are shared by millions.
      to = hubStart + Math.floor(hubs * rng.unit() ** 4);
    }
    const nm = edgeName(rng, t, position, shape);
    if (edge) {
      edge.type = t;
      edge.name = nm;
    }
    return to;
  }

  function treeEdge(rng, position, type, shape, edge) {
    let t = treeEdgeTypes.sample(rng);
    if (shape >= 0 && t !== ET.element) t = ET.property;
    const nm = edgeName(rng, t, position, shape);
    if (edge) {
      edge.type = t;
      edge.name = nm;
    }
  }

  function edgeName(rng, t, position, shape) {
    switch (t) {
      case ET.element:
      case ET.hidden:
        return position;
      case ET.property:
        if (shape >= 0) return pools.props.start + ((shape * 131 + position * 17) % pools.props.n);
        return pools.props.start + Math.floor(pools.props.n * rng.unit() ** 2);
      case ET.context:
        return pools.contexts.start + rng.below(pools.contexts.n);
      case ET.shortcut:
        return at.get('global');
      default: // internal, weak
        return pools.internal.start + rng.below(pools.internal.n);
    }
  }
}

// Splits `total` among `k` children, each at least one, the rest in uniform random shares.
function split(rng, total, k, out, weights, offset) {
  if (k <= 0) return;
  if (k === 1) {
    out[offset] = total;
    return;
  }
  let sum = 0;
  for (let j = 0; j < k; j++) {
    const w = -Math.log(1 - rng.unit());
    weights[j] = w;
    sum += w;
  }
  const rest = total - k;
  let given = 0;
  let big = 0;
  for (let j = 0; j < k; j++) {
    const b = Math.floor((rest * weights[j]) / sum);
    out[offset + j] = 1 + b;
    given += b;
    if (weights[j] > weights[big]) big = j;
  }
  out[offset + big] += rest - given;
}

function flushLocations(loc, file, last = false) {
  if (loc.parts.length) {
    fs.appendFileSync(file + '.locations', loc.parts.join(''));
    loc.parts = [];
  }
  return last;
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const t0 = process.hrtime.bigint();
  fs.mkdirSync(path.dirname(path.resolve(opts.out)), { recursive: true });
  const tmp = opts.out + '.partial';
  const record = generate({ ...opts, out: tmp });
  fs.renameSync(tmp, opts.out);
  record.seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  record.seed = opts.seed;
  record.profile = path.relative(process.cwd(), opts.profile);
  process.stdout.write(JSON.stringify(record) + '\n');
}

main();
