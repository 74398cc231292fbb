// The settings object the server reads, both as `initializationOptions` and as the answer to
// `workspace/configuration` for section `heapsight`: the user's `heapsight.*` settings with
// unset values left out, so that the server applies its own defaults for them.

import * as vscode from "vscode";

export interface PathMapping {
  from: string;
  to: string;
}

export interface ServerSettings {
  snapshotDir?: string;
  captureCommand?: string[];
  thresholds?: { warningBytes?: number; errorBytes?: number };
  minRetainedBytes?: number;
  pathMappings?: PathMapping[];
  kinds?: string[];
  limit?: string;
}

export function serverSettings(scopeUri?: string): ServerSettings {
  const scope = scopeUri ? vscode.Uri.parse(scopeUri) : undefined;
  const config = vscode.workspace.getConfiguration("heapsight", scope);
  const folder = scope ? vscode.workspace.getWorkspaceFolder(scope) : vscode.workspace.workspaceFolders?.[0];
  const expand = (text: string): string =>
    folder ? text.replace(/\$\{workspaceFolder\}/g, folder.uri.fsPath) : text;

  const settings: ServerSettings = {};
  const snapshotDir = config.get<string | null>("snapshotDir");
  if (snapshotDir) {
    settings.snapshotDir = expand(snapshotDir);
  }
  const captureCommand = config.get<string[] | null>("captureCommand");
  if (Array.isArray(captureCommand) && captureCommand.length > 0) {
    settings.captureCommand = captureCommand.map(expand);
  }
  const warningBytes = numberOrUndefined(config.get("thresholds.warningBytes"));
  const errorBytes = numberOrUndefined(config.get("thresholds.errorBytes"));
  if (warningBytes !== undefined || errorBytes !== undefined) {
    settings.thresholds = {};
    if (warningBytes !== undefined) settings.thresholds.warningBytes = warningBytes;
    if (errorBytes !== undefined) settings.thresholds.errorBytes = errorBytes;
  }
  const minRetainedBytes = numberOrUndefined(config.get("minRetainedBytes"));
  if (minRetainedBytes !== undefined) {
    settings.minRetainedBytes = minRetainedBytes;
  }
  const pathMappings = config.get<PathMapping[] | null>("pathMappings");
  if (Array.isArray(pathMappings) && pathMappings.length > 0) {
    settings.pathMappings = pathMappings
      .filter((m) => m && typeof m.from === "string" && typeof m.to === "string")
      .map((m) => ({ from: expand(m.from), to: expand(m.to) }));
  }
  const limit = config.get<string | null>("limit");
  if (typeof limit === "string" && limit.trim() !== "") {
    settings.limit = limit.trim();
  }
  const kinds = config.get<string[] | null>("kinds");
  if (Array.isArray(kinds)) {
    settings.kinds = kinds;
  }
  return settings;
}

function numberOrUndefined(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}
