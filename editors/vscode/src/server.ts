// Finds the `heapsight` binary: the `heapsight.server.path` setting, then the
// `HEAPSIGHT_SERVER` environment variable, then the binary bundled in the extension
// (`server/heapsight`), then `heapsight` on PATH. Nothing is downloaded.

import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as vscode from "vscode";

export class ServerNotFound extends Error {}

const BINARY = process.platform === "win32" ? "heapsight.exe" : "heapsight";

export function resolveServer(extensionPath: string): string {
  const configured = vscode.workspace.getConfiguration("heapsight").get<string | null>("server.path");
  if (configured) {
    const file = absolute(configured);
    if (!isExecutable(file)) {
      throw new ServerNotFound(`heapsight: heapsight.server.path is ${configured}, which is not an executable file.`);
    }
    return file;
  }
  const fromEnv = process.env.HEAPSIGHT_SERVER;
  if (fromEnv) {
    const file = absolute(fromEnv);
    if (!isExecutable(file)) {
      throw new ServerNotFound(`heapsight: HEAPSIGHT_SERVER is ${fromEnv}, which is not an executable file.`);
    }
    return file;
  }
  const bundled = path.join(extensionPath, "server", BINARY);
  if (isExecutable(bundled)) {
    return bundled;
  }
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (dir && isExecutable(path.join(dir, BINARY))) {
      return path.join(dir, BINARY);
    }
  }
  throw new ServerNotFound(
    "heapsight: no heapsight binary found. Set heapsight.server.path, or HEAPSIGHT_SERVER, or put heapsight on PATH (cargo install --path server/cli).",
  );
}

/** `~/x` from the home folder, a relative path from the first workspace folder. */
function absolute(file: string): string {
  if (file === "~" || file.startsWith("~/")) {
    return path.join(os.homedir(), file.slice(1));
  }
  if (path.isAbsolute(file)) {
    return file;
  }
  const folder = vscode.workspace.workspaceFolders?.[0];
  return folder ? path.join(folder.uri.fsPath, file) : path.resolve(file);
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}
