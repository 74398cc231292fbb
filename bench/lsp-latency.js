#!/usr/bin/env node
// Latency of `heapsight lsp` as an editor sees it, over the server's real stdio.
//
//   node bench/lsp-latency.js [--cases listener-leak,medium,typing] [--rounds N] [--no-build]
//   bench/run --suite lsp [same options]
//
// For each case it makes a temporary workspace (target/bench/tmp/lsp-*): the app's sources
// and its real A/B/C snapshots in `<ws>/.heapsight/`, a path mapping from where the app ran
// when it was captured to the workspace. Then:
// - start 1 (no cache yet): spawn, `initialize` (UTF-16), `initialized`, and the time until
//   `heapsight/status` says `ready`: the cold analysis;
// - N rounds on that server, each: `didOpen` -> the `publishDiagnostics` of that version;
//   `codeAction` on the first diagnostic's range, `hover` at its start, `codeLens`, each to
//   its reply; `didChange` (a new version: a comment line inserted at the top) -> the
//   `publishDiagnostics` of that version, checked to have moved down a line; `didClose`;
// - start 2 on the same workspace: the time to `ready` from the analysis cache.
// The `typing` case is a person typing fast in a large file while a capture runs: the
// listener-leak app with ~3,000 lines of plausible code added below the leak (3,103 lines,
// one finding, the leak's line kept), `heapsight.capture` started through
// `workspace/executeCommand` (a real capture of that app under its load, in the background;
// a busy allocating node process when the server cannot start one), then 300 `didChange` at
// 30 a second, each inserting a line at the top so the finding moves, and a `hover` on the
// finding at its moved position every 10 edits (not waiting for the typing). It reports the
// hovers, the time from the last edit to the `publishDiagnostics` of the last version
// (checked to be on the moved line), how long the command took to answer, and whether the
// capture was still running when the burst ended (so every request was sent during it).
// Prints median / p95 / max per operation against the goals of the LSP issues (diagnostics
// after an open with a completed analysis under 50 ms, code actions under 20 ms; while
// typing, hover p95 under 50 ms and the last version's diagnostics under 2 s) and writes
// everything to target/bench/lsp.json. A reply that is empty where the case has a leak is
// an error, not a fast result.
//
// Cases: `listener-leak` (fixtures/listener-leak with target/fixture-snapshots/node20/
// listener-leak/{A,B,C}.heapsnapshot, made by
// `cargo test -p heapsight-tests --release --test fixtures`) and `small`, `medium`, `large`
// (bench/gen/service-sim.js with bench/data/SIZE/{A,B,C}.heapsnapshot, generated as by
// bench/run when missing); `typing` (listener-leak's snapshots, as above). Exit status: 0 when measured, 1 on a failure, 2 when inputs are
// missing.

'use strict';

const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { performance } = require('node:perf_hooks');
const { pathToFileURL } = require('node:url');

const BENCH = __dirname;
const ROOT = path.dirname(BENCH);
const OUT = path.join(ROOT, 'target', 'bench');
const HEAPSIGHT = process.env.HEAPSIGHT_SERVER || path.join(ROOT, 'target', 'release', 'heapsight');
const GOALS_MS = {
  'didOpen -> diagnostics': 50,
  codeAction: 20,
  'hover while typing': 50,
  'last edit -> its diagnostics': 2000,
};
// The typing burst of the responsiveness issue.
const TYPING = { edits: 300, perSecond: 30, hoverEvery: 10, paddingBlocks: 503 };
const CASES = ['listener-leak', 'small', 'medium', 'large', 'typing'];
const GEN_HEAP_MB = { small: 1024, medium: 4096, large: 8192 };
const READY_TIMEOUT_MS = 600_000;
const REPLY_TIMEOUT_MS = 30_000;

function say(line) {
  process.stderr.write(`bench/lsp-latency: ${line}\n`);
}

function usage(message) {
  if (message) say(message);
  process.stderr.write(`usage: node bench/lsp-latency.js [--cases ${CASES.join(',')}] [--rounds N] [--no-build]\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { cases: ['listener-leak', 'medium', 'typing'], rounds: 50, build: true };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, null];
    const value = () => {
      if (inline !== null) return inline;
      if (i + 1 >= argv.length) usage(`${flag} needs a value`);
      return argv[++i];
    };
    if (flag === '--cases') opts.cases = value().split(',').filter(Boolean);
    else if (flag === '--rounds') opts.rounds = Number(value());
    else if (flag === '--no-build') opts.build = false;
    // bench/run's own flags, harmless here.
    else if (flag === '--no-setup') continue;
    else if (flag === '-h' || flag === '--help') usage();
    else usage(`unknown argument ${arg}`);
  }
  for (const c of opts.cases) if (!CASES.includes(c)) usage(`unknown case ${c}`);
  if (!Number.isInteger(opts.rounds) || opts.rounds < 1) usage('--rounds must be a positive integer');
  return opts;
}

// ---------------------------------------------------------------------------------------
// Cases: where the sources and snapshots come from
// ---------------------------------------------------------------------------------------

function fixtureCase(app) {
  const dir = path.join(ROOT, 'target', 'fixture-snapshots', 'node20', app);
  const snapshots = Object.fromEntries(['A', 'B', 'C'].map((k) => [k, path.join(dir, `${k}.heapsnapshot`)]));
  const missing = Object.values(snapshots).filter((f) => !fs.existsSync(f));
  if (missing.length) {
    say(`missing ${missing.map((f) => path.relative(ROOT, f)).join(', ')}`);
    say('make them with: cargo test -p heapsight-tests --release --test fixtures');
    process.exit(2);
  }
  const appDir = path.join(ROOT, 'fixtures', app);
  const leak = JSON.parse(fs.readFileSync(path.join(appDir, 'expected.json'), 'utf8')).leaks[0];
  // The app's own files; expected.json belongs to the tests.
  const sources = fs
    .readdirSync(appDir, { withFileTypes: true })
    .filter((e) => e.isFile() && e.name !== 'expected.json')
    .map((e) => e.name);
  return { name: app, app, capturedAt: fs.realpathSync(appDir), sources, snapshots, file: leak.file, line: leak.line, settings: {} };
}

// listener-leak in a 3,103-line main.js: the code below the leak is added, so the leak's
// line and the path mapping hold. The capture command takes a real capture of that app
// under its load; its 12 s idle before C keeps it running through the 10 s burst.
function typingCase() {
  const c = fixtureCase('listener-leak');
  const load = path.join(ROOT, 'fixtures', c.app, 'load.js');
  const captureCommand = [HEAPSIGHT, 'capture', '--quiet', '--ready-line', 'port=(\\d+)', '--load', `node ${load} {port}`, '--idle', '12s', '--', 'node', c.file];
  return { ...c, name: 'typing', typing: true, settings: { captureCommand } };
}

// Functions of the kind the fixture holds, none of them a leak (6 lines each).
function padding(blocks) {
  let out = '';
  for (let i = 0; i < blocks; i++) {
    out += `\nfunction formatQuote${i}(quote) {\n`;
    out += '  const price = Number(quote.price).toFixed(2);\n';
    out += "  const label = quote.symbol + '@' + price;\n";
    out += `  return { label, at: quote.at + ${i} };\n}\n`;
  }
  return out;
}

function generatedCase(size) {
  const dir = path.join(BENCH, 'data', size);
  say(`snapshots for ${size} in ${path.relative(ROOT, dir)} (the generator skips when they are current)`);
  const res = spawnSync(
    process.execPath,
    ['--expose-gc', `--max-old-space-size=${GEN_HEAP_MB[size]}`, path.join(BENCH, 'gen', 'service-sim.js'), '--size', size, '--out', dir],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  if (res.status !== 0) {
    say(`the generator failed for ${size}`);
    process.exit(2);
  }
  const snapshots = Object.fromEntries(['A', 'B', 'C'].map((k) => [k, path.join(dir, `${k}.heapsnapshot`)]));
  const leak = JSON.parse(fs.readFileSync(path.join(BENCH, 'gen', 'expected.json'), 'utf8')).leaks[0];
  // The generator ran from the repository: its scripts are named there.
  // The threshold of bench/run's analyze suite: the small triple's leaks are under the
  // default 1 MB.
  return { name: size, capturedAt: fs.realpathSync(ROOT), sources: [leak.file], snapshots, file: leak.file, line: leak.line, settings: { minRetainedBytes: 100_000 } };
}

function makeWorkspace(c) {
  const scratch = path.join(OUT, 'tmp');
  fs.mkdirSync(scratch, { recursive: true });
  const ws = fs.realpathSync(fs.mkdtempSync(path.join(scratch, `lsp-${c.name}-`)));
  const from = c.app ? path.join(ROOT, 'fixtures', c.app) : ROOT;
  for (const rel of c.sources) {
    fs.mkdirSync(path.dirname(path.join(ws, rel)), { recursive: true });
    fs.copyFileSync(path.join(from, rel), path.join(ws, rel));
  }
  fs.mkdirSync(path.join(ws, '.heapsight'));
  for (const [label, file] of Object.entries(c.snapshots)) {
    const to = path.join(ws, '.heapsight', `${label}.heapsnapshot`);
    // Same file system: a hard link saves copying up to 3 GB; else a copy.
    try {
      fs.linkSync(file, to);
    } catch {
      fs.copyFileSync(file, to);
    }
  }
  if (c.typing) fs.appendFileSync(path.join(ws, c.file), padding(TYPING.paddingBlocks));
  return ws;
}

// ---------------------------------------------------------------------------------------
// A JSON-RPC client over the server's stdio (Content-Length framing)
// ---------------------------------------------------------------------------------------

class Client {
  constructor(argv, cwd) {
    this.child = spawn(argv[0], argv.slice(1), { cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    this.buffer = Buffer.alloc(0);
    this.nextId = 1;
    this.pending = new Map();
    this.waiters = [];
    // Progress and diagnostics as they arrive (token or uri and version, and the time).
    this.seen = [];
    this.stderr = '';
    this.exited = null;
    this.child.stdout.on('data', (chunk) => this.onData(chunk));
    this.child.stderr.on('data', (chunk) => {
      this.stderr += chunk.toString();
    });
    this.child.on('exit', (code, signal) => {
      this.exited = { code, signal };
      const error = new Error(`the server exited (${code ?? signal}): ${this.stderr.slice(-2000)}`);
      for (const p of this.pending.values()) p.reject(error);
      for (const w of this.waiters) w.reject(error);
      this.pending.clear();
      this.waiters = [];
    });
  }

  onData(chunk) {
    // The time a message arrived: every complete message of a chunk arrived with it.
    const at = performance.now();
    this.buffer = Buffer.concat([this.buffer, chunk]);
    for (;;) {
      const headerEnd = this.buffer.indexOf('\r\n\r\n');
      if (headerEnd < 0) return;
      const header = this.buffer.subarray(0, headerEnd).toString('ascii');
      const m = /Content-Length: *(\d+)/i.exec(header);
      if (!m) throw new Error(`bad header from the server: ${header}`);
      const length = Number(m[1]);
      if (this.buffer.length < headerEnd + 4 + length) return;
      const body = this.buffer.subarray(headerEnd + 4, headerEnd + 4 + length).toString('utf8');
      this.buffer = this.buffer.subarray(headerEnd + 4 + length);
      this.onMessage(JSON.parse(body), at);
    }
  }

  onMessage(msg, at) {
    if (msg.id !== undefined && msg.method === undefined) {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.error) p.reject(new Error(`${p.method}: ${msg.error.message}`));
      else p.resolve({ result: msg.result, at });
      return;
    }
    if (msg.method === '$/progress') this.seen.push({ method: msg.method, token: msg.params.token, kind: msg.params.value && msg.params.value.kind, at });
    if (msg.method === 'textDocument/publishDiagnostics') this.seen.push({ method: msg.method, uri: msg.params.uri, version: msg.params.version, at });
    if (msg.id !== undefined) {
      // A request from the server: this client offers no optional capability, so the
      // only ones expected are harmless; answer them all with null.
      this.write({ jsonrpc: '2.0', id: msg.id, result: null });
      return;
    }
    const index = this.waiters.findIndex((w) => w.match(msg));
    if (index >= 0) {
      const [w] = this.waiters.splice(index, 1);
      clearTimeout(w.timer);
      w.resolve({ params: msg.params, at });
    }
  }

  write(msg) {
    const body = Buffer.from(JSON.stringify(msg), 'utf8');
    this.child.stdin.write(`Content-Length: ${body.length}\r\n\r\n`);
    this.child.stdin.write(body);
  }

  // Sends a request; resolves with the result and the milliseconds to its reply.
  request(method, params) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${method}: no reply in ${REPLY_TIMEOUT_MS} ms`)), REPLY_TIMEOUT_MS);
      const sent = performance.now();
      this.pending.set(id, {
        method,
        resolve: ({ result, at }) => {
          clearTimeout(timer);
          resolve({ result, ms: at - sent });
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.write({ jsonrpc: '2.0', id, method, params });
    });
  }

  notify(method, params) {
    this.write({ jsonrpc: '2.0', method, params });
    return performance.now();
  }

  // Resolves with the first notification (from now on) that `match` accepts.
  waitFor(match, what, timeoutMs = REPLY_TIMEOUT_MS) {
    return new Promise((resolve, reject) => {
      const waiter = { match, resolve, reject };
      waiter.timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`no ${what} in ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  async stop() {
    if (this.exited) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    try {
      await this.request('shutdown', null);
      this.notify('exit', null);
    } catch {
      this.child.kill('SIGKILL');
    }
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

// Starts the server on `ws` and waits for its analysis; returns the client and the times.
async function start(c, ws) {
  const t0 = performance.now();
  const client = new Client([HEAPSIGHT, 'lsp'], ws);
  const init = await client.request('initialize', {
    processId: process.pid,
    rootUri: pathToFileURL(ws).href,
    workspaceFolders: [{ uri: pathToFileURL(ws).href, name: path.basename(ws) }],
    capabilities: {
      general: { positionEncodings: ['utf-16'] },
      textDocument: { publishDiagnostics: { versionSupport: true } },
      // The typing case follows the capture by its progress.
      ...(c.typing ? { window: { workDoneProgress: true } } : {}),
    },
    initializationOptions: { ...c.settings, pathMappings: [{ from: c.capturedAt, to: ws }] },
  });
  if (init.result.capabilities.positionEncoding !== 'utf-16') throw new Error(`position encoding ${init.result.capabilities.positionEncoding}`);
  const ready = client.waitFor(
    (m) => m.method === 'heapsight/status' && (m.params.state === 'ready' || m.params.state === 'error'),
    'ready heapsight/status',
    READY_TIMEOUT_MS,
  );
  const sent = client.notify('initialized', {});
  const status = await ready;
  if (status.params.state !== 'ready') throw new Error(`the analysis failed: ${status.params.message}`);
  return {
    client,
    status: status.params,
    initialize_ms: init.ms,
    ready_after_initialized_ms: status.at - sent,
    ready_after_spawn_ms: status.at - t0,
  };
}

// ---------------------------------------------------------------------------------------
// The rounds
// ---------------------------------------------------------------------------------------

async function rounds(c, ws, client, n) {
  const file = path.join(ws, c.file);
  const uri = pathToFileURL(file).href;
  const original = fs.readFileSync(file, 'utf8');
  const times = { 'didOpen -> diagnostics': [], 'didChange -> diagnostics': [], codeAction: [], hover: [], codeLens: [] };
  const counts = { diagnostics: null, diagnostic_line: null, code_actions: null, lenses: null };
  const publishFor = (version) => (m) =>
    m.method === 'textDocument/publishDiagnostics' && m.params.uri === uri && (version === null ? m.params.version == null : m.params.version === version);
  let version = 0;
  for (let round = 0; round < n; round++) {
    // Open: the diagnostics of that version.
    version++;
    let wait = client.waitFor(publishFor(version), `diagnostics for version ${version}`);
    let sent = client.notify('textDocument/didOpen', { textDocument: { uri, languageId: 'javascript', version, text: original } });
    let published = await wait;
    times['didOpen -> diagnostics'].push(published.at - sent);
    const diagnostics = published.params.diagnostics;
    if (diagnostics.length === 0) throw new Error(`no diagnostics on ${c.file} after didOpen`);
    // The planted leak's diagnostic: the one the quick fixes and hover are asked about.
    const diagnostic = diagnostics.find((d) => d.range.start.line === c.line - 1);
    if (!diagnostic) throw new Error(`no diagnostic on ${c.file}:${c.line} (on lines ${diagnostics.map((d) => d.range.start.line + 1).join(', ')})`);
    counts.diagnostics = diagnostics.length;
    counts.diagnostic_line = diagnostic.range.start.line + 1;

    const actions = await client.request('textDocument/codeAction', {
      textDocument: { uri },
      range: diagnostic.range,
      context: { diagnostics: [diagnostic], only: ['quickfix'] },
    });
    times.codeAction.push(actions.ms);
    if (!Array.isArray(actions.result) || actions.result.length === 0) throw new Error('no code action on the diagnostic');
    counts.code_actions = actions.result.length;

    const hover = await client.request('textDocument/hover', { textDocument: { uri }, position: diagnostic.range.start });
    times.hover.push(hover.ms);
    if (!hover.result) throw new Error('no hover on the diagnostic');

    const lens = await client.request('textDocument/codeLens', { textDocument: { uri } });
    times.codeLens.push(lens.ms);
    if (!Array.isArray(lens.result) || lens.result.length === 0) throw new Error('no code lens');
    counts.lenses = lens.result.length;

    // An edit: a comment line inserted at the top; the finding moves down a line,
    // re-resolved from the changed text.
    version++;
    wait = client.waitFor(publishFor(version), `diagnostics for version ${version}`);
    sent = client.notify('textDocument/didChange', {
      textDocument: { uri, version },
      contentChanges: [{ range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } }, text: `// edit ${round + 1}\n` }],
    });
    published = await wait;
    times['didChange -> diagnostics'].push(published.at - sent);
    const moved = published.params.diagnostics.find((d) => d.message === diagnostic.message);
    if (!moved || moved.range.start.line !== diagnostic.range.start.line + 1) {
      throw new Error(`after the edit of round ${round + 1} the diagnostic is at ${moved ? moved.range.start.line + 1 : 'nothing'}`);
    }

    // Close: the server publishes the file on disk again; wait for it so that the next
    // round starts quiet.
    wait = client.waitFor(publishFor(null), 'diagnostics after didClose');
    client.notify('textDocument/didClose', { textDocument: { uri } });
    await wait;
  }
  return { times, counts };
}

// ---------------------------------------------------------------------------------------
// The typing burst
// ---------------------------------------------------------------------------------------

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

// Starts a capture in the background: `heapsight.capture` when the server returns from it
// at once; else a busy child process (a node allocating and dropping memory) for the burst.
async function startCapture(client, seconds) {
  const t0 = performance.now();
  const reply = client.request('workspace/executeCommand', { command: 'heapsight.capture', arguments: [] });
  const outcome = await Promise.race([reply.then((r) => ({ r }), (e) => ({ e })), sleep(2000).then(() => ({ late: true }))]);
  if (outcome.r && outcome.r.result && outcome.r.result.started) {
    return { how: 'heapsight.capture', token: outcome.r.result.token, reply_ms: outcome.r.ms, stop: () => {} };
  }
  const why = outcome.late ? 'it did not answer within 2 s' : outcome.e ? outcome.e.message : JSON.stringify(outcome.r.result);
  say(`typing: heapsight.capture cannot run in the background (${why}); a busy node process instead`);
  const busy = spawn(process.execPath, ['-e', `const end = Date.now() + ${seconds * 1000}; let keep = []; while (Date.now() < end) { keep.push(new Array(1e4).fill(Math.random())); if (keep.length > 500) keep = []; }`], { stdio: 'ignore' });
  return { how: 'busy node process', token: null, reply_ms: performance.now() - t0, stop: () => busy.kill('SIGKILL') };
}

async function typing(c, ws, client) {
  const file = path.join(ws, c.file);
  const uri = pathToFileURL(file).href;
  const text = fs.readFileSync(file, 'utf8');
  const lines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
  const publishFor = (version) => (m) => m.method === 'textDocument/publishDiagnostics' && m.params.uri === uri && m.params.version === version;
  let wait = client.waitFor(publishFor(1), 'diagnostics for version 1');
  client.notify('textDocument/didOpen', { textDocument: { uri, languageId: 'javascript', version: 1, text } });
  const opened = await wait;
  const diagnostic = opened.params.diagnostics.find((d) => d.range.start.line === c.line - 1);
  if (!diagnostic) throw new Error(`typing: no diagnostic on ${c.file}:${c.line}`);

  const { edits, perSecond, hoverEvery } = TYPING;
  const capture = await startCapture(client, Math.ceil(edits / perSecond) + 5);
  const burstStart = performance.now();
  const hovers = [];
  let lastSent = 0;
  for (let k = 1; k <= edits; k++) {
    // Paced by the clock, not by the previous wait: 30 a second whatever the timers do.
    await sleep(burstStart + (k - 1) * (1000 / perSecond) - performance.now());
    const version = k + 1;
    lastSent = client.notify('textDocument/didChange', {
      textDocument: { uri, version },
      contentChanges: [{ range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } }, text: `// edit ${k}\n` }],
    });
    if (k % hoverEvery === 0) {
      const line = diagnostic.range.start.line + k;
      hovers.push(
        client.request('textDocument/hover', { textDocument: { uri }, position: { line, character: diagnostic.range.start.character } }).then((h) => {
          if (!h.result) throw new Error(`typing: no hover on the finding after edit ${k} (line ${line + 1})`);
          if (h.result.range && h.result.range.start.line !== line) throw new Error(`typing: the hover after edit ${k} is on line ${h.result.range.start.line + 1}, not ${line + 1}`);
          return h.ms;
        }),
      );
    }
  }
  const lastVersion = edits + 1;
  const published = await client.waitFor(publishFor(lastVersion), `diagnostics for version ${lastVersion}`);
  const moved = published.params.diagnostics.find((d) => d.message === diagnostic.message || d.code === diagnostic.code);
  if (!moved || moved.range.start.line !== diagnostic.range.start.line + edits) {
    throw new Error(`typing: the last version's diagnostic is on line ${moved ? moved.range.start.line + 1 : 'nothing'}, not ${diagnostic.range.start.line + edits + 1}`);
  }
  const hoverMs = await Promise.all(hovers);
  const burstEnd = performance.now();
  // The capture's progress: it must have outlasted the burst for the hovers to have been
  // answered while it ran.
  const captureEnd = capture.token ? client.seen.find((m) => m.method === '$/progress' && m.token === capture.token && m.kind === 'end') : null;
  const captureRanThroughBurst = capture.token ? !captureEnd || captureEnd.at > lastSent : true;
  capture.stop();
  // Let the capture finish and its analysis load before the server is stopped.
  if (capture.token && !captureEnd) {
    await client
      .waitFor((m) => m.method === '$/progress' && m.params.token === capture.token && m.params.value.kind === 'end', 'the end of the capture', 60_000)
      .catch((e) => say(`typing: ${e.message}`));
  }
  const versions = client.seen.filter((m) => m.method === 'textDocument/publishDiagnostics' && m.uri === uri && m.at >= burstStart && m.at <= burstEnd).map((m) => m.version);
  return {
    times: { 'hover while typing': hoverMs, 'last edit -> its diagnostics': [published.at - lastSent] },
    counts: {
      lines,
      edits,
      per_second: perSecond,
      burst_ms: lastSent - burstStart,
      hovers: hoverMs.length,
      capture: capture.how,
      capture_reply_ms: capture.reply_ms,
      capture_ran_through_burst: captureRanThroughBurst,
      capture_ended_after_burst_ms: captureEnd ? captureEnd.at - lastSent : null,
      published_versions_during_burst: versions,
      diagnostic_line: moved.range.start.line + 1,
    },
  };
}

// ---------------------------------------------------------------------------------------
// Reporting
// ---------------------------------------------------------------------------------------

function stats(values) {
  const v = [...values].sort((a, b) => a - b);
  const mid = v.length >> 1;
  return {
    n: v.length,
    median_ms: v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2,
    // Nearest rank.
    p95_ms: v[Math.max(0, Math.ceil(0.95 * v.length) - 1)],
    max_ms: v[v.length - 1],
  };
}

function printTable(rows) {
  const header = ['case', 'operation', 'n', 'median ms', 'p95 ms', 'max ms', 'goal ms', 'p95 within goal'];
  const f = (x) => (x === null || x === undefined ? '-' : x.toFixed(2));
  const body = rows.map((r) => [
    r.case, r.operation, String(r.n), f(r.median_ms), f(r.p95_ms), f(r.max_ms),
    r.goal_ms === null ? '-' : String(r.goal_ms), r.goal_ms === null ? '-' : r.p95_ms <= r.goal_ms ? 'yes' : 'NO',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells) => cells.map((c, i) => (i < 2 || i === 7 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  process.stdout.write([line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n') + '\n');
}

async function measureCase(c, opts) {
  const ws = makeWorkspace(c);
  say(`${c.name}: workspace ${path.relative(ROOT, ws)}; start 1 (cold analysis)`);
  const cold = await start(c, ws);
  say(`${c.name}: ready after ${cold.ready_after_initialized_ms.toFixed(0)} ms (${cold.status.message}); ${opts.rounds} rounds`);
  let measured;
  try {
    measured = c.typing ? await typing(c, ws, cold.client) : await rounds(c, ws, cold.client, opts.rounds);
  } finally {
    await cold.client.stop();
  }
  say(`${c.name}: start 2 (from the cache)`);
  const cached = await start(c, ws);
  await cached.client.stop();
  say(`${c.name}: ready after ${cached.ready_after_initialized_ms.toFixed(0)} ms (${cached.status.message})`);
  fs.rmSync(ws, { recursive: true, force: true });
  const summary = ({ client, ...rest }) => rest;
  return { case: c.name, file: c.file, expected_line: c.line, starts: { cold: summary(cold), cached: summary(cached) }, ...measured };
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.build) {
    say('cargo build --release -p heapsight');
    const res = spawnSync('cargo', ['build', '--release', '-p', 'heapsight'], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
    if (res.status !== 0) process.exit(1);
  }
  if (!fs.existsSync(HEAPSIGHT)) {
    say(`${HEAPSIGHT} is missing: cargo build --release -p heapsight`);
    process.exit(2);
  }
  const loadAtStart = Math.round(os.loadavg()[0] * 100) / 100;
  const cases = opts.cases.map((name) => (name === 'listener-leak' ? fixtureCase(name) : name === 'typing' ? typingCase() : generatedCase(name)));
  const results = [];
  const rows = [];
  for (const c of cases) {
    const r = await measureCase(c, opts);
    results.push(r);
    rows.push({ case: c.name, operation: 'ready, cold analysis', n: 1, median_ms: r.starts.cold.ready_after_initialized_ms, p95_ms: null, max_ms: null, goal_ms: null });
    rows.push({ case: c.name, operation: 'ready, from cache', n: 1, median_ms: r.starts.cached.ready_after_initialized_ms, p95_ms: null, max_ms: null, goal_ms: null });
    for (const [operation, values] of Object.entries(r.times)) {
      rows.push({ case: c.name, operation, ...stats(values), goal_ms: GOALS_MS[operation] ?? null });
    }
  }
  printTable(rows);
  for (const r of results) {
    if (r.case === 'typing') {
      const t = r.counts;
      const during = t.capture_ran_through_burst ? 'running all through the burst' : 'ended before the burst did';
      process.stdout.write(
        `typing: ${t.lines} lines, ${t.edits} edits in ${(t.burst_ms / 1000).toFixed(1)} s, ${t.hovers} hovers; the finding's diagnostic of the last version on line ${t.diagnostic_line}; ` +
          `capture by ${t.capture} (answered in ${t.capture_reply_ms.toFixed(1)} ms, ${during}); ` +
          `diagnostics published during the burst for versions [${t.published_versions_during_burst.join(', ')}]
`,
      );
      continue;
    }
    process.stdout.write(
      `${r.case}: ${r.counts.diagnostics} diagnostic(s) on ${r.file}, the planted leak's on line ${r.counts.diagnostic_line} ` +
        `with ${r.counts.code_actions} quick fix(es); ${r.counts.lenses} lens(es); start 1: ${r.starts.cold.status.message}; ` +
        `start 2: ${r.starts.cached.status.message}\n`,
    );
  }
  const loadAtEnd = Math.round(os.loadavg()[0] * 100) / 100;
  // Other work on the machine (a compile) skews millisecond timings: keep the load beside them.
  process.stdout.write(`load average (1 min): ${loadAtStart} at the start, ${loadAtEnd} at the end; ${os.cpus().length} cpus, node ${process.version}\n`);
  const report = {
    suite: 'lsp',
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, cpu: os.cpus()[0] && os.cpus()[0].model, mem_gib: os.totalmem() / 2 ** 30, node: process.version },
    load_avg_1m: { start: loadAtStart, end: loadAtEnd },
    rounds: opts.rounds,
    goals_ms: GOALS_MS,
    method: 'time from writing the message to the server stdin to reading the matching reply or publishDiagnostics (by version) from its stdout',
    table: rows,
    cases: results,
  };
  fs.mkdirSync(OUT, { recursive: true });
  const file = path.join(OUT, 'lsp.json');
  fs.writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
  say(`wrote ${path.relative(ROOT, file)}`);
}

main().catch((e) => {
  say(`failed: ${e.stack || e.message}`);
  process.exit(1);
});
