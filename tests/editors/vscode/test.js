#!/usr/bin/env node
// End-to-end test of the heapsight VS Code extension in real VS Code: code-server (from
// tests/editors/node_modules) with the extension installed from its .vsix, shown in Debian's
// headless Chromium driven by playwright-core. Opens a file of a workspace holding a real
// capture in .heapsight/, waits for the warning squiggle, hovers it, opens the quick fixes
// (F8 then Ctrl+.), applies the expected one, saves, and writes what it saw to a JSON file
// that tests/tests/editors.rs compares with the expectations. Screenshots of the hover and of
// the quick-fix menu go to the screenshot folder.
//
//   node tests/editors/vscode/test.js CONFIG.json
//
// CONFIG.json: { workspace, file, line, fixTitle, vsix, server, mapFrom, chromium, result,
//                screenshots, name, timeoutMs }
// Exits non-zero (and writes `error` into the result) when a step cannot be done.

'use strict';

const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const EDITORS = path.resolve(__dirname, '..');
const CODE_SERVER = path.join(EDITORS, 'node_modules', 'code-server', 'out', 'node', 'entry.js');
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const timeout = config.timeoutMs || 90000;
const result = { editor: 'code-server', steps: [] };
let codeServer;
let context;
let page;

function step(name) {
  result.steps.push(name);
  process.stderr.write(`vscode test: ${name}\n`);
}

function writeResult() {
  fs.writeFileSync(config.result, JSON.stringify(result, null, 2));
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function codeServerArgs(dirs) {
  return [
    CODE_SERVER,
    '--user-data-dir', dirs.userData,
    '--extensions-dir', dirs.extensions,
    '--config', path.join(dirs.root, 'config.yaml'),
    '--auth', 'none',
    '--disable-telemetry',
    '--disable-update-check',
    '--disable-workspace-trust',
    '--disable-getting-started-override',
  ];
}

function installExtension(dirs) {
  step(`installing ${config.vsix}`);
  const out = spawnSync(process.execPath, [...codeServerArgs(dirs), '--install-extension', config.vsix], {
    encoding: 'utf8',
    timeout: 120000,
  });
  result.install = (out.stdout + out.stderr).trim();
  if (out.status !== 0 || !/was successfully installed/.test(out.stdout + out.stderr)) {
    throw new Error(`code-server --install-extension failed (${out.status}): ${result.install}`);
  }
}

async function startCodeServer(dirs, port) {
  step(`starting code-server on port ${port}`);
  const log = fs.openSync(path.join(dirs.root, 'code-server.log'), 'w');
  codeServer = spawn(process.execPath, [...codeServerArgs(dirs), '--bind-addr', `127.0.0.1:${port}`, config.workspace], {
    env: { ...process.env, HEAPSIGHT_SERVER: config.server },
    stdio: ['ignore', log, log],
  });
  const deadline = Date.now() + timeout;
  while (Date.now() < deadline) {
    if (codeServer.exitCode !== null) {
      throw new Error(`code-server exited (${codeServer.exitCode}): ${fs.readFileSync(path.join(dirs.root, 'code-server.log'), 'utf8')}`);
    }
    const ok = await new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.end();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('code-server did not listen in time');
}

function writeUserSettings(dirs) {
  const settings = {
    'workbench.startupEditor': 'none',
    'workbench.tips.enabled': false,
    'workbench.enableExperiments': false,
    'security.workspace.trust.enabled': false,
    'telemetry.telemetryLevel': 'off',
    'update.mode': 'none',
    'extensions.autoUpdate': false,
    'extensions.autoCheckUpdates': false,
    'files.autoSave': 'off',
    'editor.hover.delay': 200,
    'editor.minimap.enabled': false,
    'chat.commandCenter.enabled': false,
    'workbench.colorTheme': 'Default Dark Modern',
    // The client's log of the LSP traffic, kept with the result to explain a failure.
    'heapsight.trace.server': 'verbose',
  };
  if (config.mapFrom) {
    settings['heapsight.pathMappings'] = [{ from: config.mapFrom, to: '${workspaceFolder}' }];
  }
  fs.mkdirSync(path.join(dirs.userData, 'User'), { recursive: true });
  fs.writeFileSync(path.join(dirs.userData, 'User', 'settings.json'), JSON.stringify(settings, null, 2));
}

async function screenshot(page, what) {
  fs.mkdirSync(config.screenshots, { recursive: true });
  const file = path.join(config.screenshots, `${config.name}-${what}.png`);
  await page.screenshot({ path: file });
  result.screenshots = result.screenshots || [];
  result.screenshots.push(file);
  return file;
}

/** The 1-based line of the cursor, from the status bar's "Ln 40, Col 18". */
async function cursorPosition(page) {
  const item = page.locator('#status\\.editor\\.selection');
  await item.waitFor({ timeout });
  const text = (await item.innerText()).trim();
  const match = /Ln (\d+), Col (\d+)/.exec(text);
  return match ? { line: Number(match[1]), column: Number(match[2]) } : { text };
}

async function run() {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'heapsight-vscode-'));
  result.root = root;
  const dirs = {
    root,
    userData: path.join(root, 'user-data'),
    extensions: path.join(root, 'extensions'),
    browser: path.join(root, 'chromium'),
  };
  writeUserSettings(dirs);
  installExtension(dirs);
  const port = await freePort();
  await startCodeServer(dirs, port);

  const { chromium } = require(path.join(EDITORS, 'node_modules', 'playwright-core'));
  step('starting chromium');
  context = await chromium.launchPersistentContext(dirs.browser, {
    executablePath: config.chromium,
    headless: true,
    args: CHROMIUM_FLAGS,
    viewport: { width: 1400, height: 900 },
  });
  page = context.pages()[0] || (await context.newPage());
  page.setDefaultTimeout(timeout);
  const url = `http://127.0.0.1:${port}/?folder=${encodeURIComponent(config.workspace)}`;
  step(`opening ${url}`);
  await page.goto(url);
  await page.locator('.monaco-workbench').waitFor();
  // The explorer shows the folder once the workbench has loaded it.
  await page.locator('.explorer-folders-view .monaco-list-row').first().waitFor();

  step(`opening ${config.file} with Ctrl+P`);
  await page.locator('.monaco-workbench').click({ position: { x: 700, y: 400 } }).catch(() => {});
  await page.keyboard.press('Control+P');
  const quickInput = page.locator('.quick-input-widget input');
  await quickInput.waitFor();
  await quickInput.fill(config.file);
  await page.locator('.quick-input-list .monaco-list-row').first().waitFor();
  await page.keyboard.press('Enter');
  await page.locator(`.tab.active[data-resource-name="${path.basename(config.file)}"]`).waitFor();
  const editor = page.locator('.editor-instance .monaco-editor').first();
  await editor.waitFor();

  step('waiting for the warning squiggle');
  const squiggle = page.locator('.monaco-editor .squiggly-warning, .monaco-editor .squiggly-error, .monaco-editor .squiggly-info');
  await squiggle.first().waitFor({ timeout });
  result.squiggles = await page.evaluate(() =>
    Array.from(document.querySelectorAll('.monaco-editor [class*="squiggly-"]')).map((e) =>
      Array.from(e.classList).find((c) => c.startsWith('squiggly-')),
    ),
  );

  // The status bar item of the extension, fed by heapsight/status: it settles on the count
  // once the analysis is ready (the squiggle can come first).
  const status = page.locator('.statusbar-item', { hasText: /heapsight: (\d+ leaks?|no leaks)/ }).first();
  await status.waitFor({ timeout }).catch(() => {});
  result.statusBar = (
    await page
      .locator('.statusbar-item', { hasText: 'heapsight' })
      .first()
      .innerText()
      .catch(() => '')
  ).trim();

  // Bring the line to the middle of the editor, so that the hover and menus fit in the shots.
  await editor.click({ position: { x: 300, y: 10 } });
  await page.keyboard.press('Control+G');
  await page.keyboard.type(String(config.line));
  await page.keyboard.press('Enter');
  await page.evaluate(() => new Promise((r) => setTimeout(r, 200)));
  for (let i = 0; i < 12; i++) await page.keyboard.press('Control+ArrowDown');

  step('hovering the squiggle');
  const box = await squiggle.first().boundingBox();
  if (!box) throw new Error('the squiggle has no box');
  await page.mouse.move(box.x + Math.min(box.width / 2, 40), box.y + box.height / 2);
  const hover = page.locator('.monaco-hover:not(.hidden)').first();
  await hover.waitFor({ state: 'visible', timeout });
  await page.locator('.monaco-hover:not(.hidden) .hover-row').first().waitFor();
  // Let the hover fill in (the diagnostic part and the server's own hover come separately).
  await page.waitForTimeout(800);
  result.hover = (await hover.innerText()).trim();
  await screenshot(page, 'hover');
  await page.mouse.move(5, 5);
  await page.keyboard.press('Escape');

  step('F8: go to the problem');
  await editor.click({ position: { x: 300, y: 10 } });
  await page.keyboard.press('Control+Home');
  await page.keyboard.press('F8');
  const marker = page.locator('.marker-widget').first();
  await marker.waitFor({ state: 'visible' });
  result.marker = (await marker.innerText()).trim();
  // The widget's description: each line of the message, then `source` and the code link.
  Object.assign(
    result,
    await marker.evaluate((widget) => {
      const lines = Array.from(widget.querySelectorAll('.descriptioncontainer .message > div'));
      const message = lines
        .map((line) =>
          Array.from(line.childNodes)
            .filter((node) => !(node.classList && node.classList.contains('details')))
            .map((node) => node.textContent)
            .join(''),
        )
        .join('\n')
        .trim();
      const text = (selector) => {
        const element = widget.querySelector(selector);
        return element ? element.textContent.trim() : '';
      };
      return {
        markerMessage: message,
        markerSource: text('.descriptioncontainer .details .source'),
        markerCode: text('.descriptioncontainer .details .code-link') || text('.descriptioncontainer .details .code'),
      };
    }),
  );
  result.position = await cursorPosition(page);

  step('Ctrl+. for the quick fixes');
  // The light bulb shows once the editor has the code actions at the cursor.
  await page.locator('.lightBulbWidget .codicon').first().waitFor({ timeout: 15000 }).catch(() => {});
  const menu = page.locator('.action-widget').first();
  // Now and then VS Code answers "No code actions available" to a Ctrl+. pressed while the
  // TypeScript server is still loading the project (heapsight's server had answered with the
  // fix: see the LSP trace); a person presses again, and so does the test, at most 3 times.
  result.quickFixAttempts = 0;
  for (;;) {
    result.quickFixAttempts++;
    await page.keyboard.press('Control+.');
    const shown = await menu
      .waitFor({ state: 'visible', timeout: 10000 })
      .then(() => true)
      .catch(() => false);
    if (shown) break;
    if (result.quickFixAttempts === 3) throw new Error('Ctrl+. opened no quick-fix menu, 3 times');
    await page.keyboard.press('Escape');
    await page.waitForTimeout(1000);
  }
  await page.locator('.action-widget .monaco-list-row.action').first().waitFor();
  await page.waitForTimeout(300);
  // The menu lists every code action at the cursor under group headers (Quick Fix, Extract,
  // More Actions...); the quick fixes are the rows under "Quick Fix".
  result.menu = await page.evaluate(() => {
    let group = '';
    const rows = [];
    for (const row of document.querySelectorAll('.action-widget .monaco-list-row')) {
      if (row.classList.contains('group-header')) {
        group = row.textContent.trim();
      } else if (row.classList.contains('action')) {
        rows.push({ group, title: row.getAttribute('aria-label') || row.textContent.trim() });
      }
    }
    return rows;
  });
  result.actions = result.menu.filter((row) => row.group === 'Quick Fix').map((row) => row.title);
  await screenshot(page, 'quickfix');
  const wanted = config.fixTitle ? result.actions.find((t) => t === config.fixTitle) : result.actions[0];
  if (!wanted) throw new Error(`the quick fix ${JSON.stringify(config.fixTitle)} is not offered: ${JSON.stringify(result.actions)}`);

  step(`applying "${wanted}"`);
  const before = fs.readFileSync(path.join(config.workspace, config.file), 'utf8');
  // The keyboard, as a person would: the first action row has the focus.
  const rows = result.menu.map((row) => row.title);
  for (let i = 0; i < rows.indexOf(wanted); i++) await page.keyboard.press('ArrowDown');
  await page.keyboard.press('Enter');
  await menu.waitFor({ state: 'hidden' }).catch(() => {});
  // Wait for the edit to reach the editor (the tab shows it dirty), then save.
  await page.locator('.tab.active.dirty').waitFor({ timeout }).catch(() => {});
  await page.keyboard.press('Control+S');
  const file = path.join(config.workspace, config.file);
  const deadline = Date.now() + timeout;
  while (Date.now() < deadline && fs.readFileSync(file, 'utf8') === before) {
    await new Promise((r) => setTimeout(r, 100));
  }
  result.text = fs.readFileSync(file, 'utf8');
  if (result.text === before) throw new Error('the file did not change after applying the quick fix and saving');
  result.applied = wanted;
  await screenshot(page, 'fixed');

  step('palette: heapsight: Show leak report');
  await page.keyboard.press('Escape');
  await page.keyboard.press('Control+Shift+P');
  await quickInput.waitFor();
  await quickInput.fill('>heapsight: Show leak report');
  await page.locator('.quick-input-list .monaco-list-row', { hasText: 'Show leak report' }).first().waitFor();
  await page.keyboard.press('Enter');
  // The server writes .heapsight/report.md and asks VS Code to show it; the extension opens
  // its preview.
  await page.locator('.tab', { hasText: 'report.md' }).first().waitFor({ timeout });
  await page.waitForTimeout(1000);
  result.tabs = await page.evaluate(() =>
    Array.from(document.querySelectorAll('.tab')).map((tab) => tab.getAttribute('aria-label') || tab.textContent.trim()),
  );
  await screenshot(page, 'report');
  step('done');
}

/** The extension's output channel (LSP trace included), from code-server's log folder. */
function serverLog() {
  const found = [];
  const walk = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(file);
      else if (/heapsight/i.test(entry.name) && entry.name.endsWith('.log')) found.push(file);
    }
  };
  try {
    walk(path.join(result.root, 'user-data', 'logs'));
  } catch {}
  return found.map((file) => fs.readFileSync(file, 'utf8')).join('\n');
}

async function cleanUp() {
  if (context) await context.close().catch(() => {});
  if (codeServer && codeServer.exitCode === null) {
    codeServer.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    if (codeServer.exitCode === null) codeServer.kill('SIGKILL');
  }
}

run()
  .then(async () => {
    result.serverLog = serverLog().slice(-200000);
    writeResult();
    await cleanUp();
    // Editor state of a passing run is of no further use (a failing one stays to look at).
    fs.rmSync(result.root, { recursive: true, force: true });
    process.exit(0);
  })
  .catch(async (error) => {
    result.error = String((error && error.stack) || error);
    if (page) await screenshot(page, 'failure').catch(() => {});
    result.serverLog = serverLog().slice(-200000);
    writeResult();
    await cleanUp();
    process.stderr.write(`vscode test failed: ${result.error}\n`);
    if (result.root) {
      try {
        process.stderr.write(fs.readFileSync(path.join(result.root, 'code-server.log'), 'utf8').slice(-4000));
      } catch {}
    }
    process.exit(1);
  });
