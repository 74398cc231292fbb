#!/usr/bin/env node
'use strict';
// Summarizes a .heapsnapshot with Chrome DevTools' own heap snapshot engine (the npm package
// heap-snapshot-toolkit, installed by tests/setup.sh), for cross-checking heapsight's figures.
//
//   node tests/peer/devtools-summary.js <file.heapsnapshot> [--top N] [--raw-names]
//
// Prints one JSON object on stdout:
//   node_count, edge_count       as DevTools counts them (the file's nodes and edges)
//   total_size                   DevTools' "Total" = retained size of the root (+ extra_native_bytes)
//   classes[]                    the Summary view: one row per class key, sorted by retained size
//     { key, name, count, self_size, retained_size, distance }
//     - only nodes with self_size > 0 are counted (DevTools skips the others);
//     - name: DevTools' class name: "(system)" for hidden nodes, "(compiled code)" for code,
//       "Function" for closures, "(<type>)" for strings, numbers, arrays..., the node name for
//       objects and native nodes, and for plain objects an inferred interface name such as
//       "{id, name}" when that shape is common (pass --raw-names to keep "Object");
//     - key: objects made by a constructor with a known location are split per location
//       ("<scriptId>,<line>,<col>,<name>"), other classes are ",<name>";
//     - retained_size: the retained size of the class's instances that no other instance of the
//       same class dominates (the Summary view's "Retained Size" column);
//     - distance: the smallest distance from the roots among the instances.
//   top_retained[]               the N (default 100) nodes with the largest retained size
//     { id, name, class_name, type, retained_size, self_size, distance }   (name = node name as
//     written in the file)
//   timings_ms                   { parse, summarize }
const fs = require('node:fs');
const path = require('node:path');

async function main() {
  const args = process.argv.slice(2);
  let file;
  let top = 100;
  let rawNames = false;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--top') top = Number(args[++i]);
    else if (args[i] === '--raw-names') rawNames = true;
    else if (!file) file = args[i];
    else throw new Error(`unexpected argument ${args[i]}`);
  }
  if (!file || !Number.isInteger(top) || top < 0) {
    throw new Error('usage: node tests/peer/devtools-summary.js <file.heapsnapshot> [--top N] [--raw-names]');
  }
  // heap-snapshot-toolkit is an ES module; resolve it from this folder's node_modules.
  let toolkit;
  try {
    toolkit = await import(require.resolve('heap-snapshot-toolkit', { paths: [__dirname] }));
  } catch (err) {
    throw new Error(`heap-snapshot-toolkit is not installed in ${__dirname}/node_modules: run tests/setup.sh (${err.message})`);
  }

  const t0 = performance.now();
  const snapshot = await toolkit.parse(fs.createReadStream(path.resolve(file), 'utf-8'));
  const t1 = performance.now();
  if (rawNames) snapshot.applyInterfaceDefinitions([]); // JS-private in DevTools' TypeScript, callable here

  const aggregates = snapshot.aggregatesWithFilter({});
  const classes = Object.entries(aggregates).map(([key, a]) => ({
    key,
    name: a.name,
    count: a.count,
    self_size: a.self,
    retained_size: a.maxRet,
    distance: a.distance,
  }));
  classes.sort((x, y) => y.retained_size - x.retained_size || y.self_size - x.self_size || (x.key < y.key ? -1 : 1));

  // Top nodes by retained size: keep the N best in a small sorted array (N is small).
  const retained = snapshot.retainedSizes;
  const best = [];
  for (let ordinal = 0; ordinal < snapshot.nodeCount; ordinal++) {
    const size = retained[ordinal];
    if (best.length === top && size <= best[best.length - 1][1]) continue;
    let at = best.length;
    while (at > 0 && best[at - 1][1] < size) at--;
    best.splice(at, 0, [ordinal, size]);
    if (best.length > top) best.pop();
  }
  const node = snapshot.createNode(0);
  const topRetained = best.map(([ordinal]) => {
    node.nodeIndex = ordinal * snapshot.nodeFieldCount;
    return {
      id: node.id(),
      name: node.rawName(),
      class_name: node.className(),
      type: node.type(),
      retained_size: node.retainedSize(),
      self_size: node.selfSize(),
      distance: node.distance(),
    };
  });
  const t2 = performance.now();

  const out = {
    file: path.resolve(file),
    node_count: snapshot.nodeCount,
    edge_count: snapshot.containmentEdges.length / snapshot.edgeFieldsCount,
    total_size: snapshot.totalSize,
    classes,
    top_retained: topRetained,
    timings_ms: { parse: Math.round(t1 - t0), summarize: Math.round(t2 - t1) },
  };
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().then(
  () => process.exit(0), // DevTools' engine may leave a MessagePort open
  (err) => {
    process.stderr.write(`devtools-summary: ${err && err.stack ? err.stack : err}\n`);
    process.exit(1);
  },
);
