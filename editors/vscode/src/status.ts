// The status bar item fed by the server's `heapsight/status` notification: the number of leaks
// and the bytes they retain, a spinner while analyzing; a click opens the leak report.

import * as vscode from "vscode";

export interface StatusParams {
  state: "idle" | "analyzing" | "ready" | "error";
  findings?: number;
  retainedBytes?: number;
  message?: string;
}

export class StatusItem implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;

  constructor() {
    this.item = vscode.window.createStatusBarItem("heapsight.status", vscode.StatusBarAlignment.Left, 10);
    this.item.name = "heapsight";
    this.item.command = "heapsight.showLeakReport";
    this.item.text = "$(pulse) heapsight";
    this.item.tooltip = "heapsight: no analysis yet";
    this.item.show();
  }

  update(params: StatusParams): void {
    this.item.backgroundColor = undefined;
    switch (params.state) {
      case "analyzing":
        this.item.text = "$(sync~spin) heapsight: analyzing";
        break;
      case "ready": {
        const count = params.findings ?? 0;
        const leaks = count === 1 ? "1 leak" : `${count} leaks`;
        this.item.text =
          count > 0 ? `$(warning) heapsight: ${leaks}, ${formatBytes(params.retainedBytes ?? 0)}` : "$(check) heapsight: no leaks";
        break;
      }
      case "error":
        this.item.text = "$(error) heapsight";
        this.item.backgroundColor = new vscode.ThemeColor("statusBarItem.errorBackground");
        break;
      default:
        this.item.text = "$(pulse) heapsight";
    }
    this.item.tooltip = params.message || `heapsight: ${params.state}`;
  }

  showError(message: string): void {
    this.update({ state: "error", message });
  }

  dispose(): void {
    this.item.dispose();
  }
}

/** Decimal units, as the server's messages write them (7.8 MB). */
export function formatBytes(bytes: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}
