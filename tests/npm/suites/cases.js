'use strict';
// The fixture apps every runner's suite checks with expectNoLeaks, and how to drive each one
// in-process: its app is started from `main.js`/`main.mjs` (it exports `ready`, the port, and
// `close`), and one iteration of the workload is one call of its own load.js with a few
// requests. The expectations come from each fixture's expected.json: a leaky fixture's check
// must fail naming the file and line of each leak, a healthy one's must pass.
//
// HEAPSIGHT_FIXTURES is the fixtures folder (the test that runs the suites sets it).

const fs = require('node:fs');
const path = require('node:path');
const { pathToFileURL } = require('node:url');

const FIXTURES = process.env.HEAPSIGHT_FIXTURES;
if (!FIXTURES) throw new Error('set HEAPSIGHT_FIXTURES to the fixtures folder');

// Not fixtures of a handler: the launch forms (a process tree, a cluster, a worker thread)
// and the TypeScript one (its sources need a TypeScript runner).
const NOT_IN_PROCESS = /^(launch-|ts-presence-)/;

/** Requests per iteration, and iterations per round: 10 × 40 × 3 rounds, after 400. */
const REQUESTS_PER_ITERATION = 10;
const OPTIONS = {
  iterations: 40,
  rounds: 3,
  warmup: 40,
  threshold: '500kB',
  root: FIXTURES,
  ...(process.env.HEAPSIGHT_KEEP ? { keep: process.env.HEAPSIGHT_KEEP } : {}),
};

function cases() {
  const only = process.env.HEAPSIGHT_CASES ? new Set(process.env.HEAPSIGHT_CASES.split(',')) : null;
  return fs
    .readdirSync(FIXTURES, { withFileTypes: true })
    .filter((d) => d.isDirectory() && !d.name.startsWith('_') && d.name !== 'node_modules')
    .filter((d) => !NOT_IN_PROCESS.test(d.name))
    .filter((d) => !only || only.has(d.name))
    .map((d) => {
      const dir = path.join(FIXTURES, d.name);
      const expected = JSON.parse(fs.readFileSync(path.join(dir, 'expected.json'), 'utf8'));
      const entry = ['main.js', 'main.mjs'].find((f) => fs.existsSync(path.join(dir, f)));
      return {
        name: d.name,
        dir,
        entry: entry && path.join(dir, entry),
        leaks: (expected.leaks || []).map((l) => `${d.name}/${l.file}:${l.line}`),
      };
    })
    .filter((c) => c.entry)
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** Starts the fixture's app in this process; resolves with the workload and a stop. */
async function start(c, { importer = (url) => import(url) } = {}) {
  // Each call of the load sends new requests (new keys, new ids), as a real service gets.
  require(path.join(FIXTURES, '_support', 'load-runner.js')).numberAcrossCalls();
  const app = c.entry.endsWith('.mjs') ? await importer(pathToFileURL(c.entry).href) : require(c.entry);
  const port = await app.ready;
  const load = require(path.join(c.dir, 'load.js'));
  return {
    iteration: () => load.run(port, { requests: REQUESTS_PER_ITERATION, concurrency: 4 }),
    stop: () => app.close(),
  };
}

module.exports = { cases, start, OPTIONS, REQUESTS_PER_ITERATION };
