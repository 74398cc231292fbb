#!/usr/bin/env node
'use strict';
// Where heapsight places the library fixtures' leaks when allocation tracking starts at the app's
// first line ("start") or at attach time ("attach"): a real `heapsight capture
// --track-allocations` of each app in each mode, then `heapsight analyze --format json`, each
// finding compared with the app's expected.json. Run from the repo root:
//
//   node bench/tracking/placement.js [--heapsight target/release/heapsight] [--apps library-leaks]
//        [--modes start,attach] [--requests-fraction 0.5] [--idle 1s] [--out target/tracking-placement]
//        > target/tracking-placement/placement.jsonl
//   node bench/tracking/placement.js --modes off,start,attach --report FILE.jsonl...   (the table again)
//   node bench/tracking/placement.js --modes off,start,attach --reanalyze FILE.jsonl  (the saved
//        captures under --out analyzed again by the current binary: new JSON lines, then the table)
//
// --apps: `library-leaks` (default: the names ending in -leak in LIBRARY_FIXTURE_APPS of
// tests/src/support.rs), `library`, or a comma-separated list. Modes:
//   start:  heapsight capture --track-allocations ... -- node fixtures/APP/main.js
//           (heapsight starts node paused and tracks from its first line)
//   attach: heapsight capture --track-allocations ... -- sh -c 'exec node fixtures/APP/main.js'
//           (a wrapper: the inspector goes into NODE_OPTIONS, tracking starts at attach)
//   off:    heapsight capture ... -- node fixtures/APP/main.js, without --track-allocations
//           (placement from the heap graph and the source alone, for comparison)
// Both: --ready-line 'heapsight-fixture ready port=(\d+)', a warm-up of 20 requests (as the
// tests' driver does), --load 'node fixtures/APP/load.js {port} N' with N = the fraction of the
// load's default `requests = N`, --idle.
//
// One JSON line per (app, mode) on stdout: whether the capture said where tracking began, each
// finding's kind/file/line/evidence and tracked share, and whether the expected leak was found on
// its line (`line` or any `accept`) with its kind. Then, on stderr, a Markdown table and recall
// and precision per mode. Captures go to OUT/<mode>/<app>/ with the capture's output in
// OUT/<mode>/<app>.log.

const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

function parseArgs(argv) {
  const opts = {
    heapsight: 'target/release/heapsight',
    apps: 'library-leaks',
    modes: ['start', 'attach'],
    fraction: 0.5,
    idle: '1s',
    out: 'target/tracking-placement',
    report: null,
    reanalyze: null,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--heapsight') opts.heapsight = v();
    else if (a === '--apps') opts.apps = v();
    else if (a === '--modes') opts.modes = v().split(',');
    else if (a === '--requests-fraction') opts.fraction = Number(v());
    else if (a === '--idle') opts.idle = v();
    else if (a === '--out') opts.out = v();
    else if (a === '--report') opts.report = argv.slice(i + 1).splice(0);
    else if (a === '--reanalyze') opts.reanalyze = v();
    else throw new Error(`unknown argument ${a}`);
    if (opts.report) break;
  }
  for (const m of opts.modes) if (!['start', 'attach', 'off'].includes(m)) throw new Error(`unknown mode ${m}`);
  if (!(opts.fraction > 0 && opts.fraction <= 1)) throw new Error('--requests-fraction needs a number in (0, 1]');
  return opts;
}

function libraryApps() {
  const src = fs.readFileSync('tests/src/support.rs', 'utf8');
  const m = /pub const LIBRARY_FIXTURE_APPS[^=]*=\s*&\[([\s\S]*?)\];/.exec(src);
  if (!m) throw new Error('LIBRARY_FIXTURE_APPS not found in tests/src/support.rs');
  return [...m[1].matchAll(/"([^"]+)"/g)].map((x) => x[1]);
}

function appsOf(spec) {
  if (spec === 'library') return libraryApps();
  if (spec === 'library-leaks') return libraryApps().filter((a) => a.endsWith('-leak'));
  return spec.split(',');
}

function requestsOf(app, fraction) {
  const src = fs.readFileSync(`fixtures/${app}/load.js`, 'utf8');
  const m = /requests\s*=\s*(\d+)/.exec(src);
  if (!m) throw new Error(`fixtures/${app}/load.js has no \`requests = N\` default`);
  return Math.max(20, Math.round(Number(m[1]) * fraction));
}

function mainOf(app) {
  for (const name of ['main.mjs', 'main.js']) if (fs.existsSync(`fixtures/${app}/${name}`)) return `fixtures/${app}/${name}`;
  throw new Error(`fixtures/${app} has no main.js or main.mjs`);
}

// The capture's own words on where tracking began.
function trackingSaid(log) {
  if (!/--track-allocations/.test(log.split('\n')[0])) return 'off';
  if (/allocations tracked from the first line/.test(log)) return 'start';
  if (/allocations tracked from now on|allocations are tracked from attach time|allocation tracking starts now/i.test(log)) return 'attach';
  return null;
}

function capture(opts, app, mode) {
  const dir = path.join(opts.out, mode, app);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  const main = mainOf(app);
  const requests = requestsOf(app, opts.fraction);
  const target = mode === 'attach' ? ['sh', '-c', `exec node ${main}`] : ['node', main];
  const args = [
    'capture', ...(mode === 'off' ? [] : ['--track-allocations']), '--out', dir,
    '--ready-line', 'heapsight-fixture ready port=(\\d+)',
    '--warmup-cmd', `node fixtures/${app}/load.js {port} 20`,
    '--load', `node fixtures/${app}/load.js {port} ${requests}`,
    '--idle', opts.idle, '-q', '--', ...target,
  ];
  const t0 = Date.now();
  const r = spawnSync(opts.heapsight, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  const log = `$ ${opts.heapsight} ${args.map((a) => (/[\s'{}()\\]/.test(a) ? `'${a}'` : a)).join(' ')}\n${r.stdout}${r.stderr}`;
  fs.writeFileSync(`${dir}.log`, log);
  return { dir, requests, status: r.status, ms: Date.now() - t0, log, manifest: readManifest(dir) };
}

function readManifest(dir) {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
  } catch {
    return null;
  }
}

function analyze(opts, app, dir) {
  const r = spawnSync(opts.heapsight, ['analyze', dir, '--root', `fixtures/${app}`, '--format', 'json'], {
    encoding: 'utf8',
    maxBuffer: 256 << 20,
  });
  if (r.status !== 0 && !r.stdout) return { error: (r.stderr || '').trim().split('\n').slice(-3).join(' ') };
  try {
    return { report: JSON.parse(r.stdout) };
  } catch (e) {
    return { error: `analyze output is not JSON: ${e.message}` };
  }
}

const pct = (x, total) => (total ? Math.round((1000 * x) / total) / 10 : null);

function judge(expected, findings) {
  const lines = (leak) => [{ file: leak.file, line: leak.line }, ...(leak.accept || [])];
  const at = (f, leak) => lines(leak).some((l) => (l.file || leak.file) === f.file && l.line === f.line);
  const rows = findings.map((f) => {
    const leak = expected.leaks.find((l) => at(f, l));
    const alloc = f.allocations || null;
    const tracked = alloc ? alloc.tracked_bytes : 0;
    const untracked = alloc ? alloc.untracked_bytes : 0;
    return {
      kind: f.kind,
      file: f.file,
      line: f.line,
      retained_bytes: f.retained_bytes,
      evidence: f.evidence ?? (f.placement ? f.placement.evidence : null),
      allocations: alloc !== null,
      tracked_bytes_pct: alloc ? pct(tracked, tracked + untracked) : null,
      on_leak_line: Boolean(leak),
      correct: Boolean(leak) && leak.kind === f.kind,
    };
  });
  const leaks = expected.leaks.map((l) => ({
    kind: l.kind,
    file: l.file,
    line: l.line,
    found: rows.some((r) => r.correct && at(r, l)),
    on_line_any_kind: rows.some((r) => at(r, l)),
  }));
  return { rows, leaks };
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.report) {
    // --report FILE...: the table of earlier runs' JSON lines (e.g. one run per mode), apps in
    // the order first seen, modes in the order given by --modes.
    const lines = opts.report.flatMap((f) => fs.readFileSync(f, 'utf8').trim().split('\n').map((l) => JSON.parse(l)));
    const apps = [...new Set(lines.map((r) => r.app))];
    const modes = opts.modes.filter((m) => lines.some((r) => r.mode === m));
    const results = apps.flatMap((a) => modes.map((m) => lines.find((r) => r.app === a && r.mode === m)).filter(Boolean));
    return report(results, { ...opts, modes });
  }
  if (opts.reanalyze) {
    // The captures stay where the earlier run left them (`--out`/MODE/APP); only the
    // analysis is run again, so a change to placement is measured on the same snapshots.
    const lines = fs.readFileSync(opts.reanalyze, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const results = lines.map((res) => {
      if (!res.capture_ok) return res;
      const expected = JSON.parse(fs.readFileSync(`fixtures/${res.app}/expected.json`, 'utf8'));
      const an = analyze(opts, res.app, path.join(opts.out, res.mode, res.app));
      const out = { ...res };
      delete out.error;
      if (an.error) out.error = an.error;
      else Object.assign(out, judge(expected, an.report.findings || []));
      console.log(JSON.stringify(out));
      return out;
    });
    return report(results, opts);
  }
  const results = [];
  for (const app of appsOf(opts.apps)) {
    const expected = JSON.parse(fs.readFileSync(`fixtures/${app}/expected.json`, 'utf8'));
    for (const mode of opts.modes) {
      const cap = capture(opts, app, mode);
      const res = {
        app,
        mode,
        requests: cap.requests,
        capture_ok: cap.status === 0 && cap.manifest !== null,
        capture_s: Math.round(cap.ms / 100) / 10,
        tracking_said: trackingSaid(cap.log),
        manifest_since: cap.manifest && cap.manifest.allocation_tracking ? cap.manifest.allocation_tracking.since : null,
        manifest_flags: cap.manifest && cap.manifest.allocation_tracking ? cap.manifest.allocation_tracking.flags : null,
        load: fs.readFileSync('/proc/loadavg', 'utf8').split(' ')[0],
      };
      if (!res.capture_ok) {
        res.error = cap.log.trim().split('\n').slice(-4).join(' | ');
      } else {
        const an = analyze(opts, app, cap.dir);
        if (an.error) res.error = an.error;
        else Object.assign(res, judge(expected, an.report.findings || []));
      }
      results.push(res);
      console.log(JSON.stringify(res));
    }
  }
  report(results, opts);
}

function report(results, opts) {
  const out = [];
  out.push('| app | mode | tracked from (capture said) | found on the right line | findings | evidence | leaked bytes with a stack | allocations |');
  out.push('| --- | --- | --- | --- | ---: | --- | ---: | --- |');
  for (const r of results) {
    if (!r.rows) {
      out.push(`| ${r.app} | ${r.mode} | ${r.tracking_said || '?'} | failed: ${r.error} | | | | |`);
      continue;
    }
    const best = r.rows.find((x) => x.correct) || r.rows.find((x) => x.on_leak_line) || r.rows[0];
    const found = r.leaks.every((l) => l.found) ? 'y' : 'n';
    const misses = r.leaks.filter((l) => !l.found).map((l) => `${l.file}:${l.line}`);
    const extra = r.rows.filter((x) => !x.correct).map((x) => `${x.kind} ${x.file}:${x.line}`);
    const note = [misses.length ? `missed ${misses.join(', ')}` : '', extra.length ? `also ${extra.join(', ')}` : '']
      .filter(Boolean)
      .join('; ');
    out.push(
      `| ${r.app} | ${r.mode} | ${r.tracking_said || '?'} | ${found}${note ? ` (${note})` : ''} | ${r.rows.length} | ` +
        `${best ? best.evidence : '–'} | ${best && best.tracked_bytes_pct !== null ? `${best.tracked_bytes_pct}%` : '–'} | ` +
        `${best ? (best.allocations ? 'yes' : 'no') : '–'} |`,
    );
  }
  out.push('');
  for (const mode of opts.modes) {
    const rs = results.filter((r) => r.mode === mode && r.rows);
    const leaks = rs.flatMap((r) => r.leaks);
    const rows = rs.flatMap((r) => r.rows);
    const found = leaks.filter((l) => l.found).length;
    const correct = rows.filter((x) => x.correct).length;
    const failed = results.filter((r) => r.mode === mode && !r.rows).length;
    out.push(
      `${mode}: recall ${found}/${leaks.length} (${pct(found, leaks.length)}%), precision ${correct}/${rows.length} ` +
        `(${pct(correct, rows.length)}%)${failed ? `, ${failed} capture(s) failed` : ''}`,
    );
  }
  process.stderr.write(out.join('\n') + '\n');
}

main();
