#!/usr/bin/env node
// Peer for `heapsight stats`: loads one .heapsnapshot with Chrome DevTools' heap snapshot
// engine (the npm package heap-snapshot-toolkit) and prints a short summary.
//
//   node --max-old-space-size=16000 bench/peers/devtools-stats.js FILE [--format json]
//
// `parse()` does what DevTools does when it opens a snapshot: it reads the file, builds
// edge indexes and retainers, computes distances, the dominator tree and retained sizes
// (DevTools' second worker runs here on the same thread) and the statistics. Grouping by
// class with retained sizes per class is the Summary view's work, and `heapsight stats`'s.

'use strict';

const fs = require('node:fs');

function usage() {
  process.stderr.write('usage: devtools-stats.js FILE [--format text|json]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { file: null, format: 'text' };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--format') opts.format = argv[++i];
    else if (argv[i].startsWith('--format=')) opts.format = argv[i].slice('--format='.length);
    else if (!opts.file && !argv[i].startsWith('-')) opts.file = argv[i];
    else usage();
  }
  if (!opts.file || !['text', 'json'].includes(opts.format)) usage();
  return opts;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const { parse } = await import('heap-snapshot-toolkit');
  const t0 = process.hrtime.bigint();
  const snapshot = await parse(fs.createReadStream(opts.file, { encoding: 'utf-8', highWaterMark: 1 << 20 }));
  const parsed = process.hrtime.bigint();
  // Keyed by DevTools' class key; each entry has count, self (bytes) and maxRet, the
  // retained size of the class's objects not dominated by another object of the class.
  const aggregates = snapshot.aggregatesWithFilter({});
  const done = process.hrtime.bigint();

  const classes = Object.values(aggregates)
    .map((a) => ({ name: a.name, count: a.count, self_size: a.self, retained_size: a.maxRet }))
    .sort((x, y) => y.retained_size - x.retained_size || y.self_size - x.self_size);
  const summary = {
    file: opts.file,
    nodes: snapshot.nodeCount,
    edges: snapshot.containmentEdges.length / snapshot.edgeFieldsCount,
    strings: snapshot.strings.length,
    total_size: snapshot.totalSize,
    statistics: snapshot.getStatistics(),
    classes: classes.length,
    top_by_retained_size: classes.slice(0, 10),
    seconds: { load: Number(parsed - t0) / 1e9, aggregates: Number(done - parsed) / 1e9 },
  };

  if (opts.format === 'json') {
    process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
    return;
  }
  const mib = (n) => (n / 1048576).toFixed(1) + ' MiB';
  const lines = [
    `${summary.file}`,
    `nodes ${summary.nodes}, edges ${summary.edges}, strings ${summary.strings}`,
    `total size ${summary.total_size} bytes (${mib(summary.total_size)}), ${summary.classes} classes`,
    `load ${summary.seconds.load.toFixed(2)} s, class aggregates ${summary.seconds.aggregates.toFixed(2)} s`,
    '',
    `${'class'.padEnd(40)} ${'count'.padStart(10)} ${'self'.padStart(14)} ${'retained'.padStart(14)}`,
  ];
  for (const c of summary.top_by_retained_size) {
    const name = c.name.length > 40 ? c.name.slice(0, 37) + '...' : c.name;
    lines.push(`${name.padEnd(40)} ${String(c.count).padStart(10)} ${String(c.self_size).padStart(14)} ${String(c.retained_size).padStart(14)}`);
  }
  process.stdout.write(lines.join('\n') + '\n');
}

main().then(
  // DevTools' engine can leave a message port open; do not wait for it.
  () => process.exit(0),
  (err) => {
    process.stderr.write(`devtools-stats: ${err && err.stack ? err.stack : err}\n`);
    process.exit(1);
  },
);
