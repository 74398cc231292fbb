#!/usr/bin/env node
'use strict';
// `heapsight` from npm: runs the platform binary with the same arguments, stdio and exit code.

const { spawnSync } = require('node:child_process');
const { binaryPath } = require('../index.js');

let bin;
try {
  bin = binaryPath();
} catch (e) {
  process.stderr.write(`heapsight: ${e.message}\n`);
  process.exit(127);
}
const run = spawnSync(bin, process.argv.slice(2), { stdio: 'inherit' });
if (run.error) {
  process.stderr.write(`heapsight: cannot run ${bin}: ${run.error.message}\n`);
  process.exit(127);
}
if (run.signal) process.kill(process.pid, run.signal);
process.exit(run.status ?? 1);
