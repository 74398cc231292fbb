#!/usr/bin/env node
'use strict';
// Builds the npm packages of heapsight, ready to publish: the main package `heapsight`
// (the CLI wrapper and heapsight/test) and one package per platform carrying the binary
// (`@heapsight/linux-x64`, ...), which the main one lists as optional dependencies so that
// npm installs only the one matching the machine. Nothing is published from here: each
// package is packed with `npm pack` into the output folder.
//
//   node npm/build.js [--out DIR] [--binary PLATFORM-ARCH=PATH]...
//
// Without --binary, packs the binary of this machine from target/release/heapsight
// (build it first: cargo build --release). The version is the workspace's (Cargo.toml).

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
/** The platforms a binary can be shipped for, as npm's `os` and `cpu` name them. */
const PLATFORMS = ['linux-x64', 'linux-arm64', 'darwin-x64', 'darwin-arm64', 'win32-x64'];

function fail(message) {
  process.stderr.write(`npm/build.js: ${message}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const args = { out: path.join(ROOT, 'target', 'npm'), binaries: new Map() };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => argv[++i] ?? fail(`${a} needs a value`);
    if (a === '--out') args.out = path.resolve(value());
    else if (a === '--binary') {
      const [platform, file] = value().split(/=(.*)/s);
      if (!PLATFORMS.includes(platform)) fail(`--binary: unknown platform ${platform} (one of ${PLATFORMS.join(', ')})`);
      args.binaries.set(platform, path.resolve(file));
    } else fail(`unknown argument ${a}`);
  }
  if (args.binaries.size === 0) {
    const here = `${process.platform}-${process.arch}`;
    if (!PLATFORMS.includes(here)) fail(`no --binary given, and ${here} is not a platform we ship`);
    const exe = process.platform === 'win32' ? 'heapsight.exe' : 'heapsight';
    args.binaries.set(here, path.join(ROOT, 'target', 'release', exe));
  }
  for (const [platform, file] of args.binaries) {
    if (!fs.existsSync(file)) fail(`the ${platform} binary ${file} does not exist (cargo build --release)`);
  }
  return args;
}

function workspaceVersion() {
  const cargo = fs.readFileSync(path.join(ROOT, 'Cargo.toml'), 'utf8');
  const section = cargo.split(/^\[workspace\.package\]$/m)[1] || '';
  const m = section.match(/^version\s*=\s*"([^"]+)"/m);
  if (!m) fail('no version under [workspace.package] in Cargo.toml');
  return m[1];
}

function writeJson(file, value) {
  fs.writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
}

function copyTree(from, to) {
  fs.cpSync(from, to, { recursive: true, filter: (src) => !src.includes(`${path.sep}node_modules`) });
}

/** Packs the package in `dir` into `out`; returns the tarball's path. */
function pack(dir, out) {
  const printed = execFileSync('npm', ['pack', '--json', '--pack-destination', out], {
    cwd: dir,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const [{ filename }] = JSON.parse(printed);
  return path.join(out, filename);
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  const version = workspaceVersion();
  const stage = path.join(args.out, 'stage');
  fs.rmSync(stage, { recursive: true, force: true });
  fs.mkdirSync(stage, { recursive: true });
  const tarballs = [];

  for (const [platform, binary] of args.binaries) {
    const [os, cpu] = platform.split('-');
    const dir = path.join(stage, platform);
    fs.mkdirSync(path.join(dir, 'bin'), { recursive: true });
    const exe = os === 'win32' ? 'heapsight.exe' : 'heapsight';
    fs.copyFileSync(binary, path.join(dir, 'bin', exe));
    fs.chmodSync(path.join(dir, 'bin', exe), 0o755);
    writeJson(path.join(dir, 'package.json'), {
      name: `@heapsight/${platform}`,
      version,
      description: `The heapsight binary for ${platform}: installed by the heapsight package`,
      license: 'MIT OR Apache-2.0',
      os: [os],
      cpu: [cpu],
      files: ['bin/'],
      preferUnplugged: true,
    });
    tarballs.push(pack(dir, args.out));
  }

  const main = path.join(stage, 'heapsight');
  copyTree(path.join(__dirname, 'heapsight'), main);
  const manifest = JSON.parse(fs.readFileSync(path.join(main, 'package.json'), 'utf8'));
  manifest.version = version;
  // Every platform, built here or not: npm picks the one that matches the machine.
  manifest.optionalDependencies = Object.fromEntries(PLATFORMS.map((p) => [`@heapsight/${p}`, version]));
  writeJson(path.join(main, 'package.json'), manifest);
  tarballs.unshift(pack(main, args.out));

  fs.rmSync(stage, { recursive: true, force: true });
  for (const t of tarballs) process.stdout.write(`${t}\n`);
}

main();
