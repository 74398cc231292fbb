'use strict';
// The heapsight binary, found the way the CLI wrapper and the test helper both need it:
// HEAPSIGHT_BIN, then the platform package installed beside this one, then PATH.

const fs = require('node:fs');
const path = require('node:path');

/** The npm package that carries the binary for this machine, as the build script names it. */
function platformPackage(platform = process.platform, arch = process.arch) {
  return `@heapsight/${platform}-${arch}`;
}

function isExecutable(file) {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

function fromPath(name) {
  const exe = process.platform === 'win32' ? `${name}.exe` : name;
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, exe);
    if (isExecutable(candidate)) return candidate;
  }
  return null;
}

/**
 * The path of the heapsight binary. Throws, saying where it looked, when there is none.
 * @returns {string}
 */
function binaryPath() {
  const tried = [];
  const fromEnv = process.env.HEAPSIGHT_BIN;
  if (fromEnv) {
    if (isExecutable(fromEnv)) return fromEnv;
    throw new Error(`HEAPSIGHT_BIN is ${fromEnv}, which is not an executable file`);
  }
  tried.push('HEAPSIGHT_BIN (unset)');
  const pkg = platformPackage();
  try {
    const manifest = require.resolve(`${pkg}/package.json`);
    const exe = process.platform === 'win32' ? 'heapsight.exe' : 'heapsight';
    const candidate = path.join(path.dirname(manifest), 'bin', exe);
    if (isExecutable(candidate)) return candidate;
    tried.push(`${candidate} (not executable)`);
  } catch {
    tried.push(`the package ${pkg} (not installed: npm skips it on other platforms, or with --no-optional)`);
  }
  const onPath = fromPath('heapsight');
  // Not this package's own bin/heapsight.js, which npm may have put on PATH.
  if (onPath && !isScriptShim(onPath)) return onPath;
  tried.push('heapsight on PATH (none)');
  throw new Error(`cannot find the heapsight binary: looked at ${tried.join('; ')}`);
}

function isScriptShim(file) {
  try {
    const real = fs.realpathSync(file);
    return real === fs.realpathSync(path.join(__dirname, 'bin', 'heapsight.js'));
  } catch {
    return false;
  }
}

module.exports = { binaryPath, platformPackage };
