#!/usr/bin/env node
'use strict';
// Issue #17's figures for heapsight/test: every fixture app's workload checked with
// expectNoLeaks under node:test, Jest and Vitest, `--runs` times over (default 20), from the
// packed npm tarballs installed into a copy of tests/npm, as tests/tests/npm_package.rs does
// once per CI run with a share of the apps.
//
//   node bench/leak-checks.js [--runs 20] [--runners node-test,jest,vitest] [--cases a,b]
//                             [--bin target/release/heapsight] [--out target/bench/leak-checks]
//
// Prints, per runner: checks run, the time per check (median and slowest, as the runner
// measured the test), and the flakes: checks whose outcome is not the expected one (a leaky
// app passing, a healthy one failing, a leak's file:line missing) or differs between runs.
// Then, for each leaky app checked under node:test, heapsight's growth per iteration against
// the app's retention measured without heapsight: the same workload in a plain `node
// --expose-gc` process, the heap used after gc before and after the rounds, per iteration.
// Every outcome goes to <out>/leak-checks.json. Public tools only: node, npm (offline, from
// the cache tests/setup.sh filled), the runners pinned in tests/npm/package-lock.json.

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const FIXTURES = path.join(ROOT, 'fixtures');
// tests/npm/suites/cases.js (the apps and how to drive them) reads it, here as in the suites.
process.env.HEAPSIGHT_FIXTURES = FIXTURES;

function parseArgs(argv) {
  const a = {
    runs: 20,
    runners: ['node-test', 'jest', 'vitest'],
    cases: null,
    bin: path.join(ROOT, 'target/release/heapsight'),
    out: path.join(ROOT, 'target/bench/leak-checks'),
  };
  for (let i = 0; i < argv.length; i++) {
    const v = () => argv[++i];
    if (argv[i] === '--runs') a.runs = Number(v());
    else if (argv[i] === '--runners') a.runners = v().split(',');
    else if (argv[i] === '--cases') a.cases = v().split(',');
    else if (argv[i] === '--bin') a.bin = path.resolve(v());
    else if (argv[i] === '--out') a.out = path.resolve(v());
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  return a;
}

function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 28, ...opts });
  if (opts.check !== false && r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  }
  return r;
}

/** The user's project: tests/npm's runners and suites, with the packed tarballs installed. */
function project(a) {
  const dir = path.join(a.out, 'project');
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(path.join(dir, 'suites'), { recursive: true });
  const printed = sh('node', [path.join(ROOT, 'npm/build.js'), '--out', path.join(a.out, 'dist'), '--binary', `linux-x64=${a.bin}`]).stdout;
  const tarballs = printed.split('\n').filter((l) => l.endsWith('.tgz'));
  for (const f of ['package.json', 'package-lock.json']) fs.copyFileSync(path.join(ROOT, 'tests/npm', f), path.join(dir, f));
  for (const f of fs.readdirSync(path.join(ROOT, 'tests/npm/suites'))) {
    fs.copyFileSync(path.join(ROOT, 'tests/npm/suites', f), path.join(dir, 'suites', f));
  }
  const npm = ['--offline', '--no-audit', '--no-fund', '--loglevel=error'];
  sh('npm', ['ci', ...npm], { cwd: dir });
  sh('npm', ['install', '--no-save', ...npm, ...tarballs], { cwd: dir });
  return dir;
}

/** The apps with a handler, with their expected leaks (`app/file:line`). */
function apps(a) {
  const { cases } = require(path.join(ROOT, 'tests/npm/suites/cases.js'));
  return cases().filter((c) => !a.cases || a.cases.includes(c.name));
}

function runSuite(runner, dir, names) {
  const report = path.join(dir, `${runner}.json`);
  fs.rmSync(report, { force: true });
  const env = { ...process.env, HEAPSIGHT_FIXTURES: FIXTURES, HEAPSIGHT_CASES: names.join(',') };
  delete env.HEAPSIGHT_BIN;
  delete env.NODE_OPTIONS;
  let r;
  if (runner === 'node-test') {
    r = sh('node', ['--test', '--test-force-exit', '--test-reporter=tap', 'suites/node-test.test.js'], { cwd: dir, env, check: false });
    return tapOutcomes(r.stdout);
  }
  if (runner === 'jest') {
    sh('node', ['--experimental-vm-modules', 'node_modules/jest/bin/jest.js', '--runInBand', '--forceExit', '--json', '--outputFile', report, 'suites/jest\\.test\\.js'], { cwd: dir, env, check: false });
  } else {
    sh('node_modules/.bin/vitest', ['run', 'suites/vitest.test.mjs', '--pool=forks', '--reporter=json', '--outputFile', report], { cwd: dir, env, check: false });
  }
  const json = JSON.parse(fs.readFileSync(report, 'utf8'));
  return json.testResults.flatMap((f) =>
    f.assertionResults.map((t) => ({ name: t.title, passed: t.status === 'passed', ms: t.duration, message: t.failureMessages.join('\n') })),
  );
}

function tapOutcomes(tap) {
  const found = [];
  for (const line of tap.split('\n')) {
    const m = line.match(/^(not ok|ok) \d+ - (.*?)(?: # .*)?$/);
    if (m) {
      found.push({ name: m[2].trim(), passed: m[1] === 'ok', ms: null, message: '' });
      continue;
    }
    const last = found[found.length - 1];
    if (!last || !line.startsWith('  ')) continue;
    last.message += `${line}\n`;
    const d = line.match(/^ {2}duration_ms: ([\d.]+)/);
    if (d) last.ms = Number(d[1]);
  }
  return found;
}

/** Whether an outcome is the expected one; the reason when not. */
function verdict(c, o) {
  if (!o) return 'not run';
  if (c.leaks.length === 0) return o.passed ? null : `healthy but failed: ${o.message.slice(0, 300)}`;
  if (o.passed) return 'leaks but passed';
  const missing = c.leaks.filter((l) => !o.message.includes(`${l}:`));
  return missing.length ? `does not name ${missing.join(', ')}` : null;
}

/** heapsight's growth per iteration, from the check's message (`growth: +4.4 kB ...`). */
function growthOf(o) {
  const m = o && o.message.match(/growth: \+([\d.]+) (B|kB|MB)/);
  if (!m) return null;
  return Number(m[1]) * { B: 1, kB: 1e3, MB: 1e6 }[m[2]];
}

/** The app's retention per iteration without heapsight: heap used after gc, before and after. */
function plainRetention(c) {
  const { OPTIONS, REQUESTS_PER_ITERATION } = require(path.join(ROOT, 'tests/npm/suites/cases.js'));
  const script = `
    const { start } = require(${JSON.stringify(path.join(ROOT, 'tests/npm/suites/cases.js'))});
    const v8 = require('node:v8');
    const used = () => { for (let k = 0; k < 3; k++) global.gc(); return v8.getHeapStatistics().used_heap_size; };
    (async () => {
      const app = await start(${JSON.stringify(c)});
      for (let i = 0; i < ${OPTIONS.warmup}; i++) await app.iteration(i);
      await new Promise((r) => setTimeout(r, 200));
      const before = used();
      const n = ${OPTIONS.iterations * OPTIONS.rounds};
      for (let i = 0; i < n; i++) await app.iteration(i);
      await new Promise((r) => setTimeout(r, ${OPTIONS.idle ?? 500}));
      const after = used();
      console.log(JSON.stringify({ perIteration: (after - before) / n, requestsPerIteration: ${REQUESTS_PER_ITERATION} }));
      process.exit(0);
    })();`;
  const r = sh('node', ['--expose-gc', '-e', script], { env: { ...process.env, HEAPSIGHT_FIXTURES: FIXTURES }, check: false });
  const line = r.stdout.trim().split('\n').pop();
  try {
    return JSON.parse(line).perIteration;
  } catch {
    return null;
  }
}

function median(xs) {
  const s = [...xs].sort((x, y) => x - y);
  return s.length ? s[Math.floor(s.length / 2)] : NaN;
}

function main() {
  const a = parseArgs(process.argv.slice(2));
  fs.mkdirSync(a.out, { recursive: true });
  const dir = project(a);
  const all = apps(a);
  const results = [];
  for (let run = 1; run <= a.runs; run++) {
    for (const runner of a.runners) {
      // Vitest transforms ES modules (see npm/heapsight/README.md): it checks the CommonJS apps.
      const mine = all.filter((c) => runner !== 'vitest' || !c.entry.endsWith('.mjs'));
      // One runner process per app, as the test does: leaks of earlier apps would pile up.
      const got = mine.flatMap((c) => runSuite(runner, dir, [c.name]));
      for (const c of mine) {
        const o = got.find((g) => g.name === c.name);
        results.push({ run, runner, app: c.name, passed: o ? o.passed : null, ms: o ? o.ms : null, wrong: verdict(c, o), growth: growthOf(o), message: o ? o.message : '' });
      }
      process.stderr.write(`run ${run}/${a.runs} ${runner}: ${mine.length} checks\n`);
    }
  }
  fs.writeFileSync(path.join(a.out, 'leak-checks.json'), JSON.stringify(results, null, 1));
  console.log(`runs: ${a.runs}; apps: ${all.length}`);
  console.log('runner      checks  median s  slowest s  flakes');
  for (const runner of a.runners) {
    const mine = results.filter((r) => r.runner === runner);
    const times = mine.map((r) => r.ms).filter((x) => x != null);
    const flaky = mine.filter((r) => r.wrong);
    const outcomes = new Map();
    for (const r of mine) outcomes.set(r.app, (outcomes.get(r.app) || new Set()).add(r.passed));
    const unstable = [...outcomes.values()].filter((s) => s.size > 1).length;
    console.log(`${runner.padEnd(10)} ${String(mine.length).padStart(7)} ${(median(times) / 1000).toFixed(1).padStart(9)} ${(Math.max(...times) / 1000).toFixed(1).padStart(10)}  ${flaky.length} wrong, ${unstable} apps with differing outcomes`);
    for (const r of flaky.slice(0, 10)) console.log(`    run ${r.run} ${r.app}: ${r.wrong}`);
  }
  console.log(`\ngrowth per iteration (${a.runners[0]}, first run) against the heap used without heapsight`);
  console.log('app                              heapsight   plain node   ratio');
  for (const c of all.filter((c) => c.leaks.length)) {
    const r = results.find((x) => x.runner === a.runners[0] && x.app === c.name && x.growth != null);
    if (!r) continue;
    const plain = plainRetention(c);
    const ratio = plain ? r.growth / plain : NaN;
    console.log(`${c.name.padEnd(32)} ${(r.growth / 1000).toFixed(1).padStart(7)} kB ${plain ? (plain / 1000).toFixed(1).padStart(9) + ' kB' : '        ?'}   ${ratio.toFixed(2)}`);
  }
}

main();
