#!/usr/bin/env node
// Checks `heapsight stats` against Chrome DevTools' engine on one snapshot: node and edge
// counts, the total size and every Summary row (count, self size, retained size,
// distance) must be equal.
//
//   node bench/gen/crosscheck.js FILE
//
// Needs tests/peer (bash tests/setup.sh) and target/release/heapsight. Exits 1 on the
// first difference, printing it.

'use strict';

const { spawnSync } = require('node:child_process');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');

function run(argv) {
  const r = spawnSync(argv[0], argv.slice(1), { maxBuffer: 1 << 30, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout);
}

function main() {
  const file = process.argv[2];
  if (!file) throw new Error('usage: crosscheck.js FILE');
  const ours = run([path.join(ROOT, 'target/release/heapsight'), 'stats', '--format', 'json', file]);
  const theirs = run([process.execPath, '--max-old-space-size=16000', path.join(ROOT, 'tests/peer/devtools-summary.js'), file, '--top', '1']);
  const problems = [];
  const same = (what, a, b) => {
    if (a !== b) problems.push(`${what}: heapsight ${a}, devtools ${b}`);
  };
  same('nodes', ours.node_count, theirs.node_count);
  same('edges', ours.edge_count, theirs.edge_count);
  same('total size', ours.total_size + (ours.extra_native_bytes || 0), theirs.total_size);
  const rows = new Map(ours.classes.map((c) => [c.location ? `${c.location.join(',')},${c.name}` : `,${c.name}`, c]));
  same('summary rows', rows.size, theirs.classes.length);
  for (const t of theirs.classes) {
    const m = rows.get(t.key);
    if (!m) {
      problems.push(`no row for ${t.key}`);
      continue;
    }
    const mine = [m.count, m.self_size, m.retained_size, m.distance === null ? -5 : m.distance].join(' ');
    same(`class ${t.key} (count self retained distance)`, mine, [t.count, t.self_size, t.retained_size, t.distance].join(' '));
  }
  if (problems.length) {
    process.stdout.write(`DISAGREE on ${file}:\n  ${problems.slice(0, 20).join('\n  ')}\n`);
    process.exit(1);
  }
  process.stdout.write(`agree: ${file}: ${ours.node_count} nodes, ${ours.edge_count} edges, ${rows.size} summary rows, total ${ours.total_size}\n`);
}

main();
