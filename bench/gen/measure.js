#!/usr/bin/env node
// Measures the shape of a .heapsnapshot: what bench/gen/synth.js reproduces at any size.
//
//   node --max-old-space-size=8000 bench/gen/measure.js FILE [--json]
//
// Reads the whole file with JSON.parse (so a few hundred MiB at most) and prints, as JSON:
// node and edge counts, node types, out-degrees, a breadth-first tree from the root over
// edges that are not weak (the first edge that reaches a node is its tree edge, every other
// edge is a cross edge): tree children per node, node types of leaves and inner nodes,
// edge types of tree and cross edges, cross edges per node, in-degrees (sharing), how far
// an edge's target lies from its owner (log2 of the ordinal distance, by sign), self sizes
// by type (log2 buckets), depths, and the strings table's size per node.

'use strict';

const fs = require('node:fs');

function log2Bucket(x) {
  return x <= 0 ? 0 : 32 - Math.clz32(x);
}

function histogram(map, key) {
  map.set(key, (map.get(key) || 0) + 1);
}

function toObject(map, total) {
  const keys = [...map.keys()].sort((a, b) => (typeof a === 'number' && typeof b === 'number' ? a - b : String(a).localeCompare(String(b))));
  const out = {};
  for (const k of keys) out[k] = total ? +(map.get(k) / total).toFixed(6) : map.get(k);
  return out;
}

function main() {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: measure.js FILE\n');
    process.exit(2);
  }
  const snap = JSON.parse(fs.readFileSync(file, 'utf8'));
  const meta = snap.snapshot.meta;
  const nf = meta.node_fields.length;
  const ef = meta.edge_fields.length;
  const nodeTypes = meta.node_types[0];
  const edgeTypes = meta.edge_types[0];
  const at = (fields, name) => fields.indexOf(name);
  const [nType, nName, nId, nSize, nEdges] = ['type', 'name', 'id', 'self_size', 'edge_count'].map((f) => at(meta.node_fields, f));
  const [eType, eName, eTo] = ['type', 'name_or_index', 'to_node'].map((f) => at(meta.edge_fields, f));
  const nodes = snap.nodes;
  const edges = snap.edges;
  const N = nodes.length / nf;
  const E = edges.length / ef;
  const weak = edgeTypes.indexOf('weak');

  const firstEdge = new Uint32Array(N + 1);
  for (let i = 0; i < N; i++) firstEdge[i + 1] = firstEdge[i] + nodes[i * nf + nEdges];

  // Breadth-first tree over edges that are not weak.
  const parentEdge = new Int32Array(N).fill(-1);
  const depth = new Int32Array(N).fill(-1);
  const queue = new Uint32Array(N);
  let head = 0;
  let tail = 0;
  depth[0] = 0;
  queue[tail++] = 0;
  while (head < tail) {
    const u = queue[head++];
    for (let e = firstEdge[u]; e < firstEdge[u + 1]; e++) {
      if (edges[e * ef + eType] === weak) continue;
      const v = edges[e * ef + eTo] / nf;
      if (depth[v] === -1) {
        depth[v] = depth[u] + 1;
        parentEdge[v] = e;
        queue[tail++] = v;
      }
    }
  }
  const isTree = new Uint8Array(E);
  const treeChildren = new Uint32Array(N);
  const owner = new Uint32Array(E);
  for (let i = 0; i < N; i++) for (let e = firstEdge[i]; e < firstEdge[i + 1]; e++) owner[e] = i;
  for (let v = 0; v < N; v++) {
    if (parentEdge[v] >= 0) {
      isTree[parentEdge[v]] = 1;
      treeChildren[owner[parentEdge[v]]]++;
    }
  }

  const types = new Map();
  const outDegree = new Map();
  const treeKids = new Map();
  const crossPerNode = new Map();
  const leafTypes = new Map();
  const innerTypes = new Map();
  const sizes = {};
  const names = {};
  const depths = new Map();
  let leaves = 0;
  let unreached = 0;
  for (let i = 0; i < N; i++) {
    const t = nodeTypes[nodes[i * nf + nType]];
    const d = nodes[i * nf + nEdges];
    histogram(types, t);
    histogram(outDegree, log2Bucket(d));
    const k = treeChildren[i];
    if (k === 0) {
      leaves++;
      histogram(leafTypes, t);
    } else {
      histogram(innerTypes, t);
      histogram(treeKids, log2Bucket(k));
    }
    histogram(crossPerNode, log2Bucket(d - k));
    (sizes[t] = sizes[t] || new Map());
    histogram(sizes[t], log2Bucket(nodes[i * nf + nSize]));
    (names[t] = names[t] || new Set()).add(nodes[i * nf + nName]);
    if (depth[i] < 0) unreached++;
    else histogram(depths, log2Bucket(depth[i]));
  }

  const inDegree = new Uint32Array(N);
  const treeEdgeTypes = new Map();
  const crossEdgeTypes = new Map();
  const treeOffset = new Map();
  const crossOffset = new Map();
  for (let e = 0; e < E; e++) {
    const t = edgeTypes[edges[e * ef + eType]];
    const to = edges[e * ef + eTo] / nf;
    const off = to - owner[e];
    const key = (off < 0 ? '-' : '+') + String(log2Bucket(Math.abs(off))).padStart(2, '0');
    inDegree[to]++;
    if (isTree[e]) {
      histogram(treeEdgeTypes, t);
      histogram(treeOffset, key);
    } else {
      histogram(crossEdgeTypes, t);
      histogram(crossOffset, key);
    }
  }
  const inDeg = new Map();
  for (let i = 0; i < N; i++) histogram(inDeg, inDegree[i] <= 8 ? inDegree[i] : 'b' + log2Bucket(inDegree[i]));

  const rootEdges = [];
  for (let e = firstEdge[0]; e < firstEdge[1]; e++) {
    const to = edges[e * ef + eTo] / nf;
    rootEdges.push(`${edgeTypes[edges[e * ef + eType]]} -> ${nodeTypes[nodes[to * nf + nType]]} ${JSON.stringify(snap.strings[nodes[to * nf + nName]])}`);
  }

  const treeEdges = N - 1 - unreached;
  const out = {
    file,
    nodes: N,
    edges: E,
    strings: snap.strings.length,
    bytes: fs.statSync(file).size,
    edges_per_node: +(E / N).toFixed(4),
    strings_per_node: +(snap.strings.length / N).toFixed(4),
    locations_per_node: +(snap.locations.length / meta.location_fields.length / N).toFixed(4),
    mean_string_length: +(snap.strings.reduce((a, s) => a + s.length, 0) / snap.strings.length).toFixed(1),
    bytes_per_node: +(fs.statSync(file).size / N).toFixed(2),
    leaf_share: +(leaves / N).toFixed(4),
    tree_edge_share: +(treeEdges / E).toFixed(4),
    unreached_without_weak: unreached,
    node_types: toObject(types, N),
    out_degree_log2: toObject(outDegree, N),
    tree_children_log2_of_inner: toObject(treeKids, N - leaves),
    cross_edges_per_node_log2: toObject(crossPerNode, N),
    leaf_types: toObject(leafTypes, leaves),
    inner_types: toObject(innerTypes, N - leaves),
    tree_edge_types: toObject(treeEdgeTypes, treeEdges),
    cross_edge_types: toObject(crossEdgeTypes, E - treeEdges),
    in_degree: toObject(inDeg, N),
    tree_offset_log2: toObject(treeOffset, treeEdges),
    cross_offset_log2: toObject(crossOffset, E - treeEdges),
    depth_log2: toObject(depths, N - unreached),
    self_size_log2: Object.fromEntries(Object.entries(sizes).map(([t, m]) => [t, toObject(m, types.get(t))])),
    distinct_names: Object.fromEntries(Object.entries(names).map(([t, s]) => [t, s.size])),
    root_edges: rootEdges.slice(0, 40),
    root_edge_count: rootEdges.length,
  };
  process.stdout.write(JSON.stringify(out, null, 1) + '\n');
}

main();
