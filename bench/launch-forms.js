#!/usr/bin/env node
'use strict';
// Issue #20's table: every launch form of the fixture apps (`fixtures/launch-*`) captured once
// with heapsight, each beside a capture of the same app started by a bare `node`.
//
//   node bench/launch-forms.js [--bin target/release/heapsight] [--forms npm-start,pnpm-start]
//                              [--out target/bench/launch-forms]
//
// --forms takes the forms' slugs (their folder names below: `cluster-every-worker`).
//
// For each form it runs, from the app's folder,
//   heapsight capture --ready-line RE --load 'node load.js {port}' --idle 500ms --out DIR [flags] -- CMD
// then `heapsight analyze --format json --root <app>` on the capture (which covers its parts;
// each part on its own when the report has no `heaps`), and prints one row: the form, the
// process captured (its name and pid, from the manifest's selection), the scripts recorded (the
// workspace's / all),
// where the app's leak (its expected.json) was found, and the capture's wall time against the
// bare `node` capture of the same app (the first row of each app's group). Public tools only: the
// project's binary, node, npm/npx, and the launchers pinned in fixtures/package-lock.json
// (fixtures/node_modules/.bin comes first on PATH; nothing is fetched: npm runs offline).
//
// Output: the table on stdout; every run (command, seconds, exit status, manifest summary,
// findings) in <out>/launch-forms.json; each capture in <out>/<form>/, its log in <out>/<form>.log.

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const FIXTURES = path.join(ROOT, 'fixtures');
const READY = 'ready port=(\\d+)';

// The bare start of each app: one node process, nothing to see through.
const BARE = {
  'launch-js': ['node', 'main.js'],
  'launch-ts': ['node', '--import', 'tsx', 'main.ts'],
  'launch-cluster': ['node', 'main.js'],
  'launch-worker-thread': ['node', 'main.js'],
  'launch-package-only': ['node', '../node_modules/http-server/bin/http-server', 'public', '-a', '127.0.0.1', '-p', '0', '-c-1'],
};

// The forms of tests/tests/launch_forms.rs.
const FORMS = [
  { name: 'npm start', app: 'launch-js', command: ['npm', 'start'] },
  { name: 'npm run dev -- --log-requests, --match', app: 'launch-js', command: ['npm', 'run', 'dev', '--', '--log-requests'], flags: ['--match', 'main\\.js'] },
  { name: 'pnpm start', app: 'launch-js', command: ['pnpm', 'start'] },
  { name: 'yarn start', app: 'launch-js', command: ['yarn', 'start'] },
  { name: 'npx nodemon main.js', app: 'launch-js', command: ['npx', 'nodemon', 'main.js'] },
  { name: 'node --watch main.js', app: 'launch-js', command: ['node', '--watch', 'main.js'] },
  { name: 'npx tsx main.ts', app: 'launch-ts', command: ['npx', 'tsx', 'main.ts'] },
  { name: 'npx ts-node main.ts', app: 'launch-ts', command: ['npx', 'ts-node', 'main.ts'] },
  { name: 'cluster, --worker 1', app: 'launch-cluster', command: ['node', 'main.js'], flags: ['--worker', '1'] },
  { name: 'cluster, every worker', app: 'launch-cluster', command: ['node', 'main.js'] },
  { name: 'worker_threads', app: 'launch-worker-thread', command: ['node', 'main.js'] },
  {
    name: 'npm start running only a package',
    app: 'launch-package-only',
    command: ['npm', 'start'],
    flags: ['--workspace', '.'],
    ready: 'http://127\\.0\\.0\\.1:(\\d+)',
  },
];

// How people call a Node process, as the manifest's process_name does.
const LAUNCHERS = [
  ['/npm/bin/npm-cli.js', 'npm'], ['/npm/bin/npx-cli.js', 'npx'], ['/bin/npm', 'npm'], ['/bin/npx', 'npx'],
  ['/yarn/bin/yarn.js', 'yarn'], ['/bin/yarn', 'yarn'], ['/pnpm/bin/pnpm.cjs', 'pnpm'], ['/bin/pnpm', 'pnpm'],
  ['/tsx/dist/cli.mjs', 'tsx'], ['/.bin/tsx', 'tsx'], ['/nodemon/bin/nodemon.js', 'nodemon'], ['/.bin/nodemon', 'nodemon'],
  ['/ts-node/dist/bin.js', 'ts-node'], ['/.bin/ts-node', 'ts-node'],
];

function processName(command) {
  const script = (command || []).slice(1).find((a) => !a.startsWith('-'));
  if (!script) return path.basename((command || ['node'])[0]);
  const launcher = LAUNCHERS.find(([tail]) => script.endsWith(tail));
  return launcher ? launcher[1] : path.basename(script);
}

function args() {
  const out = { bin: process.env.HEAPSIGHT || path.join(ROOT, 'target/release/heapsight'), forms: null, out: path.join(ROOT, 'target/bench/launch-forms') };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const value = () => {
      if (i + 1 >= argv.length) usage(`${argv[i]} needs a value`);
      return argv[++i];
    };
    if (argv[i] === '--bin') out.bin = path.resolve(value());
    else if (argv[i] === '--forms') out.forms = value().split(',').map((s) => s.trim());
    else if (argv[i] === '--out') out.out = path.resolve(value());
    else if (argv[i] === '-h' || argv[i] === '--help') usage();
    else usage(`unknown argument ${argv[i]}`);
  }
  return out;
}

function usage(problem) {
  if (problem) console.error(`launch-forms: ${problem}`);
  console.error('usage: node bench/launch-forms.js [--bin PATH] [--forms npm-start,cluster-every-worker,...] [--out DIR]');
  process.exit(problem ? 2 : 0);
}

function slug(name) {
  return name.replace(/[^A-Za-z0-9]+/g, '-').replace(/^-|-$/g, '');
}

function env() {
  const bins = path.join(FIXTURES, 'node_modules/.bin');
  const e = { ...process.env, PATH: `${bins}:${process.env.PATH}` };
  Object.assign(e, {
    npm_config_offline: 'true',
    npm_config_yes: 'false',
    npm_config_update_notifier: 'false',
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    NO_UPDATE_NOTIFIER: '1',
  });
  delete e.NODE_OPTIONS;
  delete e.PORT;
  return e;
}

// One capture: returns { ok, seconds, status, dir, log }.
function capture(opts, form, command, dir) {
  const appDir = path.join(FIXTURES, form.app);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  const argv = [
    'capture', '--ready-line', form.ready || READY, '--ready-timeout', '30s',
    '--load', `node ${path.join(appDir, 'load.js')} {port}`, '--idle', '500ms', '--timeout', '60s',
    '--out', dir, ...(form.flags || []), '--', ...command,
  ];
  const started = process.hrtime.bigint();
  const r = spawnSync(opts.bin, argv, { cwd: appDir, env: env(), encoding: 'utf8', timeout: 180_000, maxBuffer: 64 << 20 });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const log = `${r.stdout || ''}${r.stderr || ''}`;
  fs.writeFileSync(`${dir}.log`, `$ heapsight ${argv.join(' ')}\n${log}`);
  return { ok: r.status === 0, status: r.status === null ? `signal ${r.signal}` : r.status, seconds, dir, log, argv };
}

function analyze(opts, form, folder) {
  const r = spawnSync(opts.bin, ['analyze', folder, '--format', 'json', '--root', path.join(FIXTURES, form.app)], { encoding: 'utf8', maxBuffer: 256 << 20 });
  if (r.status !== 0) return { error: (r.stderr || '').trim().split('\n').pop() };
  try {
    return JSON.parse(r.stdout);
  } catch (e) {
    return { error: `bad JSON: ${e.message}` };
  }
}

function readJson(file) {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return null;
  }
}

// Every heap of a capture: the folder itself (when it holds snapshots) and each part.
function heaps(dir, manifest) {
  const out = [];
  if ((manifest.files || []).length) out.push({ title: '', folder: dir });
  for (const part of manifest.parts || []) out.push({ title: part.folder, folder: path.join(dir, part.folder) });
  return out;
}

function row(opts, form, command, label) {
  const dir = path.join(opts.out, label);
  const run = capture(opts, form, command, dir);
  const manifest = run.ok ? readJson(path.join(dir, 'manifest.json')) || {} : {};
  const expected = readJson(path.join(FIXTURES, form.app, 'expected.json'));
  const candidates = (manifest.selection && manifest.selection.candidates) || [];
  const taken = candidates.find((c) => c.pid === manifest.pid);
  const captured = manifest.pid
    ? `${processName(taken ? taken.command : manifest.command)} (pid ${manifest.pid})${taken ? `, ${taken.role}` : ''}`
    : '-';
  const parts = (manifest.parts || []).length;
  const scripts = run.ok ? `${manifest.workspace_scripts ?? '?'}/${(manifest.scripts || []).length}` : '-';
  let leak = run.ok ? 'none' : `capture failed (${run.status}): ${run.log.trim().split('\n').pop()}`;
  const found = [];
  const warnings = [];
  if (run.ok) {
    // `analyze <capture>` covers its parts when it says which heap each finding is in
    // (`heaps`); otherwise each part is analyzed on its own.
    const top = analyze(opts, form, dir);
    const reports = [{ title: '', report: top }];
    if (!top.error && !Array.isArray(top.heaps)) {
      for (const heap of heaps(dir, manifest).filter((h) => h.folder !== dir)) {
        reports.push({ title: heap.title, report: analyze(opts, form, heap.folder) });
      }
    }
    for (const { title, report } of reports) {
      if (report.error) {
        found.push(`${title || 'capture'}: analyze failed: ${report.error}`);
        continue;
      }
      for (const w of report.warnings || []) warnings.push(typeof w === 'string' ? w : w.message || JSON.stringify(w));
      for (const f of report.findings || []) {
        const planted = expected && expected.leaks.some((l) => l.file === f.file && l.line === f.line && l.kind === f.kind);
        const where = title || (Array.isArray(report.heaps) && report.heaps.length > 1 ? f.heap : '');
        if (planted) found.push(`${f.file}:${f.line}${where ? ` in ${where}` : ''} (${(f.retained_bytes / 1e6).toFixed(1)} MB)`);
      }
    }
    if (found.length) leak = found.join('; ');
    else if (expected) leak = `NOT FOUND (expected ${expected.leaks.map((l) => `${l.file}:${l.line}`).join(', ')})`;
    else leak = 'none';
    if (warnings.some((w) => w.includes('not your service'))) leak += '; warned "not your service"';
  }
  return {
    form: form.name,
    app: form.app,
    command: command.join(' '),
    flags: form.flags || [],
    ok: run.ok,
    status: run.status,
    seconds: run.seconds,
    captured,
    parts,
    scripts,
    leak,
    warnings,
    selection: manifest.selection ? manifest.selection.summary : null,
    log: `${dir}.log`,
  };
}

function table(rows) {
  const head = ['form', 'captured process', 'parts', 'scripts (workspace/all)', 'leak found', 'capture s', 'bare node s', 'x bare'];
  const lines = [head, head.map(() => '---')];
  for (const r of rows) {
    lines.push([
      r.form, r.captured, String(r.parts), r.scripts, r.leak,
      r.seconds.toFixed(1), r.bare ? r.bare.seconds.toFixed(1) : '-',
      r.bare && r.bare.ok && r.ok ? (r.seconds / r.bare.seconds).toFixed(2) : '-',
    ]);
  }
  return lines.map((cells) => `| ${cells.join(' | ')} |`).join('\n');
}

function main() {
  const opts = args();
  if (!fs.existsSync(opts.bin)) usage(`${opts.bin} is missing: cargo build --release -p heapsight`);
  for (const tool of ['tsx', 'ts-node', 'nodemon', 'pnpm', 'yarn', 'http-server']) {
    if (!fs.existsSync(path.join(FIXTURES, 'node_modules/.bin', tool))) usage(`fixtures/node_modules/.bin/${tool} is missing: bash tests/setup.sh`);
  }
  const forms = opts.forms ? FORMS.filter((f) => opts.forms.includes(slug(f.name))) : FORMS;
  if (opts.forms && forms.length !== opts.forms.length) usage(`unknown form in ${opts.forms.join(', ')}; forms: ${FORMS.map((f) => slug(f.name)).join(', ')}`);
  fs.mkdirSync(opts.out, { recursive: true });
  const bare = {};
  const rows = [];
  for (const form of forms) {
    // The bare capture of each app first (with the form's own flags, --worker or --workspace).
    const key = `${form.app} ${(form.flags || []).join(' ')}`;
    if (!bare[key]) {
      process.stderr.write(`launch-forms: ${form.app}: bare \`${BARE[form.app].join(' ')}\`\n`);
      bare[key] = row(opts, form, BARE[form.app], `${form.app}-bare-${slug((form.flags || []).join(' ')) || 'plain'}`);
    }
    process.stderr.write(`launch-forms: ${form.name}\n`);
    const r = row(opts, form, form.command, slug(form.name));
    r.bare = { seconds: bare[key].seconds, ok: bare[key].ok, command: bare[key].command, leak: bare[key].leak };
    rows.push(r);
  }
  const load = fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const node = spawnSync('node', ['--version'], { encoding: 'utf8' }).stdout.trim();
  console.log(table(rows));
  console.log(`\nnode ${node}, ${require('node:os').cpus().length} cores, load average ${load}; bare node starts: ${Object.values(bare).map((b) => `${b.app}: \`${b.command}\` ${b.seconds.toFixed(1)} s, leak ${b.leak}`).join('; ')}`);
  fs.writeFileSync(path.join(opts.out, 'launch-forms.json'), `${JSON.stringify({ node, load, bin: opts.bin, bare, rows }, null, 2)}\n`);
  process.exitCode = rows.every((r) => r.ok) ? 0 : 1;
}

main();
