// heapsight for VS Code: starts `heapsight lsp` through vscode-languageclient, adds the palette
// commands, and shows the server's `heapsight/status` in the status bar. Diagnostics, quick
// fixes, hovers, code lenses and progress come from the language server itself.

import * as vscode from "vscode";
import {
  ExecuteCommandRequest,
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
  TransportKind,
} from "vscode-languageclient/node";

import { resolveServer, ServerNotFound } from "./server";
import { serverSettings } from "./settings";
import { StatusItem, StatusParams } from "./status";

let client: LanguageClient | undefined;
let status: StatusItem | undefined;
let output: vscode.OutputChannel | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  output = vscode.window.createOutputChannel("heapsight");
  status = new StatusItem();
  context.subscriptions.push(output, status);

  const commands: Array<[string, () => Promise<unknown>]> = [
    ["heapsight.captureSnapshots", () => runServerCommand("heapsight.capture", [], "Capturing heap snapshots")],
    ["heapsight.analyzeSnapshots", analyzeSnapshots],
    ["heapsight.showLeakReport", showLeakReport],
    ["heapsight.clearFindings", () => runServerCommand("heapsight.clear", [], "Clearing findings")],
    ["heapsight.restartServer", () => restart(context)],
  ];
  for (const [id, run] of commands) {
    context.subscriptions.push(vscode.commands.registerCommand(id, run));
  }
  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration(async (event) => {
      // The server pulls its settings again on didChangeConfiguration; only a new binary needs
      // a restart.
      if (event.affectsConfiguration("heapsight.server.path")) {
        await restart(context);
      }
    }),
  );
  await start(context);
}

export async function deactivate(): Promise<void> {
  await stop();
}

async function start(context: vscode.ExtensionContext): Promise<void> {
  let command: string;
  try {
    command = resolveServer(context.extensionPath);
  } catch (error) {
    if (error instanceof ServerNotFound) {
      status?.showError(error.message);
      const choice = await vscode.window.showErrorMessage(error.message, "Open Settings");
      if (choice === "Open Settings") {
        await vscode.commands.executeCommand("workbench.action.openSettings", "heapsight.server.path");
      }
      return;
    }
    throw error;
  }
  output?.appendLine(`heapsight: starting ${command} lsp`);

  const run = { command, args: ["lsp"], transport: TransportKind.stdio };
  const serverOptions: ServerOptions = { run, debug: run };
  const clientOptions: LanguageClientOptions = {
    documentSelector: ["javascript", "javascriptreact", "typescript", "typescriptreact"].flatMap(
      (language) => [
        { scheme: "file", language },
        { scheme: "untitled", language },
      ],
    ),
    initializationOptions: serverSettings(),
    outputChannel: output,
    synchronize: {
      configurationSection: "heapsight",
      // New captures land here; the server reloads when told.
      fileEvents: vscode.workspace.createFileSystemWatcher("**/.heapsight/**"),
    },
    middleware: {
      workspace: {
        // Serve the same cleaned-up settings object as initializationOptions (unset values
        // left out, so the server keeps its own defaults) instead of the raw configuration.
        configuration: async (params, token, next) => {
          const answer = await next(params, token);
          if (!Array.isArray(answer)) {
            return answer;
          }
          return params.items.map((item, index) =>
            item.section === "heapsight" ? serverSettings(item.scopeUri) : answer[index],
          );
        },
      },
    },
  };

  client = new LanguageClient("heapsight", "heapsight", serverOptions, clientOptions);
  context.subscriptions.push(
    client.onNotification("heapsight/status", (params: StatusParams) => status?.update(params)),
  );
  try {
    await client.start();
  } catch (error) {
    status?.showError(`heapsight: the server failed to start: ${String(error)}`);
    throw error;
  }
}

async function stop(): Promise<void> {
  const running = client;
  client = undefined;
  if (running) {
    await running.stop();
  }
}

async function restart(context: vscode.ExtensionContext): Promise<void> {
  await stop();
  await start(context);
}

/** Sends `workspace/executeCommand` for one of the server's commands, with progress in the window. */
async function runServerCommand(command: string, args: unknown[], title: string): Promise<unknown> {
  if (!client) {
    void vscode.window.showErrorMessage("heapsight: the language server is not running.");
    return undefined;
  }
  const running = client;
  return vscode.window.withProgress(
    { location: vscode.ProgressLocation.Window, title: `heapsight: ${title}` },
    async () => {
      try {
        return await running.sendRequest(ExecuteCommandRequest.type, { command, arguments: args });
      } catch (error) {
        void vscode.window.showErrorMessage(`heapsight: ${command} failed: ${errorMessage(error)}`);
        return undefined;
      }
    },
  );
}

/** Asks what to analyze: the workspace's latest capture, a capture folder, three snapshots or a JSON report. */
async function analyzeSnapshots(): Promise<unknown> {
  const picks: Array<vscode.QuickPickItem & { id: string }> = [
    { id: "latest", label: "Latest capture", description: "the workspace's snapshot folder" },
    { id: "folder", label: "Capture folder...", description: "a folder with A, B and C .heapsnapshot files" },
    { id: "triple", label: "Three snapshots...", description: "baseline A, target B, final C" },
    { id: "report", label: "JSON report...", description: "from `heapsight analyze --format json`" },
  ];
  const pick = await vscode.window.showQuickPick(picks, { title: "heapsight: Analyze snapshots" });
  if (!pick) {
    return undefined;
  }
  let args: unknown[] = [];
  if (pick.id === "folder") {
    const folder = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, title: "Capture folder" });
    if (!folder) return undefined;
    args = [folder[0].fsPath];
  } else if (pick.id === "triple") {
    const triple: string[] = [];
    for (const label of ["A (baseline)", "B (target)", "C (final)"]) {
      const file = await vscode.window.showOpenDialog({
        canSelectMany: false,
        filters: { "Heap snapshots": ["heapsnapshot"] },
        title: `Snapshot ${label}`,
      });
      if (!file) return undefined;
      triple.push(file[0].fsPath);
    }
    args = [{ a: triple[0], b: triple[1], c: triple[2] }];
  } else if (pick.id === "report") {
    const file = await vscode.window.showOpenDialog({ filters: { "heapsight JSON report": ["json"] }, title: "JSON report" });
    if (!file) return undefined;
    args = [file[0].fsPath];
  }
  return runServerCommand("heapsight.analyze", args, "Analyzing snapshots");
}

/** Opens the server's report: the file it wrote, else its markdown in a new editor. */
async function showLeakReport(): Promise<void> {
  const report = (await runServerCommand("heapsight.showReport", [], "Building the leak report")) as
    | { uri?: string; markdown?: string }
    | undefined;
  if (!report) {
    return;
  }
  if (report.uri) {
    // The server has usually shown it already (window/showDocument); this only focuses it.
    await vscode.window.showTextDocument(vscode.Uri.parse(report.uri));
    return;
  }
  const document = await vscode.workspace.openTextDocument({ language: "markdown", content: report.markdown ?? "" });
  await vscode.window.showTextDocument(document);
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
