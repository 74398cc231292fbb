'use strict';
// expectNoLeaks: a leak check inside a test. The workload runs in the test's own process;
// heapsight attaches to that process's inspector, takes A after a warm-up, a snapshot after
// each round of the workload and C after an idle, each after forced GC, analyzes them with
// the rounds rule (only what every round left alive is a leak), and the check rejects with
// each finding as `file:line:column: message`.

const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { binaryPath } = require('./index.js');

const DEFAULTS = {
  iterations: 1000,
  rounds: 3,
  warmup: undefined, // iterations
  threshold: '1MB',
  kinds: undefined,
  idle: 500,
  keep: false,
  root: undefined, // process.cwd()
  timeout: 120000,
};

/** A leak check failed: `findings` holds the report's findings, `report` the whole of it. */
class LeakError extends Error {
  constructor(message, report, folder) {
    super(message);
    // Not enumerable: a test runner prints the message, not the whole report.
    Object.defineProperties(this, {
      name: { value: 'LeakError', enumerable: false },
      report: { value: report, enumerable: false },
      findings: { value: report ? report.findings : [], enumerable: false },
      folder: { value: folder, enumerable: false },
    });
  }
}

function checkOptions(options) {
  const o = { ...DEFAULTS, ...options };
  for (const key of Object.keys(options || {})) {
    if (!(key in DEFAULTS)) throw new TypeError(`expectNoLeaks: unknown option \`${key}\``);
  }
  const positive = (name, v) => {
    if (!Number.isInteger(v) || v < 1) throw new TypeError(`expectNoLeaks: \`${name}\` must be a positive integer, not ${v}`);
  };
  positive('iterations', o.iterations);
  positive('rounds', o.rounds);
  if (o.rounds > 100) throw new TypeError('expectNoLeaks: `rounds` is at most 100');
  if (o.warmup === undefined) o.warmup = o.iterations;
  if (!Number.isInteger(o.warmup) || o.warmup < 0) throw new TypeError(`expectNoLeaks: \`warmup\` must be an integer >= 0, not ${o.warmup}`);
  if (!Number.isFinite(o.idle) || o.idle < 0) throw new TypeError(`expectNoLeaks: \`idle\` is in milliseconds, >= 0, not ${o.idle}`);
  if (typeof o.threshold === 'number') o.threshold = `${o.threshold}B`;
  if (typeof o.threshold !== 'string') throw new TypeError('expectNoLeaks: `threshold` is a size such as "500kB" or a number of bytes');
  if (o.kinds !== undefined && !Array.isArray(o.kinds)) throw new TypeError('expectNoLeaks: `kinds` is an array such as ["listener", "collection"]');
  o.root = path.resolve(o.root || process.cwd());
  return o;
}

/** Runs `bin` with `args`; resolves with its exit code and output. */
function run(bin, args, { timeout }) {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out = [];
    const err = [];
    child.stdout.on('data', (d) => out.push(d));
    child.stderr.on('data', (d) => err.push(d));
    const timer = setTimeout(() => {
      child.kill('SIGINT');
      setTimeout(() => child.kill('SIGKILL'), 5000).unref();
    }, timeout);
    timer.unref();
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${bin}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
  });
}

function shellQuote(s) {
  return `'${String(s).replace(/'/g, `'\\''`)}'`;
}

/**
 * Serves the workload on a loopback port for the length of one check: `heapsight capture`
 * asks for the warm-up and for each round through lib/trigger.js.
 */
function workloadServer(fn, o) {
  const token = crypto.randomBytes(16).toString('hex');
  let next = 0;
  let failure = null;
  let busy = false;
  const server = http.createServer((req, res) => {
    const what = req.url === '/warmup' ? 'warmup' : req.url === '/round' ? 'round' : null;
    if (req.method !== 'POST' || !what || req.headers['x-heapsight-token'] !== token || busy) {
      res.writeHead(what ? 409 : 404).end(busy ? 'a round is already running' : 'not a heapsight check');
      return;
    }
    busy = true;
    const count = what === 'warmup' ? o.warmup : o.iterations;
    (async () => {
      for (let k = 0; k < count; k++) await fn(next++);
    })().then(
      () => {
        busy = false;
        res.writeHead(200).end('done');
      },
      (e) => {
        busy = false;
        failure = failure || e;
        res.writeHead(500).end(String(e && e.stack ? e.stack : e));
      },
    );
  });
  return {
    token,
    failure: () => failure,
    listen: () =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => resolve(server.address().port));
      }),
    close: () =>
      new Promise((resolve) => {
        if (server.closeAllConnections) server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function where(finding, root) {
  if (!finding.file) return '(no file)';
  const file = path.isAbsolute(finding.file) ? path.relative(root, finding.file) || finding.file : finding.file;
  return `${file}:${finding.line ?? 1}:${finding.column ?? 1}`;
}

function size(bytes) {
  const units = ['B', 'kB', 'MB', 'GB'];
  let i = 0;
  while (bytes >= 1000 && i < units.length - 1) {
    bytes /= 1000;
    i++;
  }
  return `${i === 0 ? Math.round(bytes) : bytes.toFixed(1)} ${units[i]}`;
}

/** The finding's growth per call of the workload, as the CLI words it. */
function growth(f) {
  const rate = f.rate;
  if (!rate) return '';
  const items = Math.round(rate.items_per_iteration * 10) / 10;
  return `\n      growth: +${size(rate.bytes_per_iteration)} and ${items} ${f.noun || 'items'} per call`;
}

function describe(report, o, folder) {
  const lines = report.findings.map((f) => `${where(f, o.root)}: ${f.message}${growth(f)}`);
  const head = `expectNoLeaks: ${report.findings.length} leak${report.findings.length === 1 ? '' : 's'} over ${o.rounds} round${o.rounds === 1 ? '' : 's'} of ${o.iterations} iterations`;
  const kept = folder ? `\nsnapshots kept in ${folder} (open the folder in your editor with heapsight)` : '';
  return `${head}:\n${lines.map((l) => `  ${l}`).join('\n')}${kept}`;
}

/**
 * Calls `fn(i)` `iterations` times per round, `rounds` times, after a warm-up, and rejects
 * when objects allocated in every round are still alive after an idle and forced GC.
 * @param {(i: number) => unknown | Promise<unknown>} fn
 * @param {object} [options]
 */
async function expectNoLeaks(fn, options = {}) {
  if (typeof fn !== 'function') throw new TypeError('expectNoLeaks: the first argument is the workload, a function');
  const o = checkOptions(options);
  const { isMainThread } = require('node:worker_threads');
  if (!isMainThread) {
    throw new Error(
      'expectNoLeaks runs on the main thread of the test process: this test runs in a worker thread ' +
        "(Vitest's `pool: 'threads'`, Jest's `workerThreads`): use processes (`pool: 'forks'`, Jest's default)",
    );
  }
  const bin = binaryPath();
  const inspector = require('node:inspector');
  let url = inspector.url();
  let opened = false;
  if (!url) {
    inspector.open(0, '127.0.0.1', false);
    url = inspector.url();
    opened = true;
  }
  const workload = workloadServer(fn, o);
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'heapsight-check-'));
  const folder = o.keep
    ? path.resolve(o.root, typeof o.keep === 'string' ? o.keep : path.join('.heapsight', 'captures', `check-${Date.now()}-${process.pid}`))
    : path.join(scratch, 'capture');
  try {
    const port = await workload.listen();
    const trigger = (what) =>
      [process.execPath, path.join(__dirname, 'lib', 'trigger.js'), port, what, workload.token].map(shellQuote).join(' ');
    const capture = await run(
      bin,
      [
        'capture',
        '--inspect', url,
        ...(o.warmup > 0 ? ['--warmup-cmd', trigger('warmup')] : ['--warmup', '0s']),
        '--load', trigger('round'),
        '--rounds', String(o.rounds),
        '--iterations', String(o.iterations),
        '--idle', `${o.idle}ms`,
        '--workspace', o.root,
        '--out', folder,
        '--quiet',
      ],
      { timeout: o.timeout },
    );
    if (workload.failure()) throw workload.failure();
    if (capture.code !== 0) {
      throw new Error(`expectNoLeaks: heapsight capture failed (exit ${capture.code ?? capture.signal}):\n${capture.stderr.trim()}`);
    }
    const analyze = await run(
      bin,
      [
        'analyze', folder,
        '--format', 'json',
        '--root', o.root,
        '--threshold', o.threshold,
        ...(o.kinds ? ['--kinds', o.kinds.join(',')] : []),
      ],
      { timeout: o.timeout },
    );
    if (analyze.code !== 0) {
      throw new Error(`expectNoLeaks: heapsight analyze failed (exit ${analyze.code ?? analyze.signal}):\n${analyze.stderr.trim()}`);
    }
    let report;
    try {
      report = JSON.parse(analyze.stdout);
    } catch (e) {
      throw new Error(`expectNoLeaks: heapsight analyze printed no report (${e.message})`);
    }
    // A capture that cannot show the code under test is no pass.
    const blind = (report.warnings || []).filter((w) => /not your service|cannot show/.test(String(w)));
    if (blind.length) {
      throw new Error(`expectNoLeaks: ${blind.join('; ')}`);
    }
    if (report.findings.length) {
      throw new LeakError(describe(report, o, o.keep ? folder : null), report, o.keep ? folder : null);
    }
    return report;
  } finally {
    await workload.close();
    if (opened) inspector.close();
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

module.exports = { expectNoLeaks, LeakError };
