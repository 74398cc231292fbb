/** Options of {@link expectNoLeaks}. */
export interface LeakCheckOptions {
  /** Calls of the workload per round (default 1000). Growth rates are per call. */
  iterations?: number;
  /** Rounds of the workload, each followed by forced GC and a snapshot (default 3). */
  rounds?: number;
  /** Calls before the baseline snapshot, to fill caches and pools (default: `iterations`). */
  warmup?: number;
  /** Report findings retaining at least this much: "500kB", "1MB", or bytes (default "1MB"). */
  threshold?: string | number;
  /** Only these kinds: "listener", "collection", "timer", "closure", "promise", "other". */
  kinds?: string[];
  /** Milliseconds to wait after the last round, before the final snapshot (default 500). */
  idle?: number;
  /** Keep the snapshots: true for `.heapsight/captures/check-…` under `root`, or a folder. */
  keep?: boolean | string;
  /** The project: findings are placed in its files, paths printed relative to it (default cwd). */
  root?: string;
  /** Longest time the capture or the analysis may take, in milliseconds (default 120000). */
  timeout?: number;
}

/** The heapsight report (`heapsight analyze --format json`): format "heapsight-report". */
export interface Report {
  format: 'heapsight-report';
  version: number;
  warnings: string[];
  findings: Finding[];
  [key: string]: unknown;
}

export interface Finding {
  kind: string;
  message: string;
  file?: string;
  line?: number;
  column?: number;
  retained_bytes: number;
  count: number;
  [key: string]: unknown;
}

/** A check found leaks: its message lists each as `file:line:column: message`. */
export class LeakError extends Error {
  readonly report: Report;
  readonly findings: Finding[];
  /** Where the snapshots were kept (with `keep`), else null. */
  readonly folder: string | null;
}

/**
 * Calls `fn(i)` `iterations` times per round, `rounds` times, after a warm-up, inside this
 * process; rejects with a {@link LeakError} when objects allocated in every round are still
 * alive after an idle and forced GC. Resolves with the report otherwise.
 */
export function expectNoLeaks(
  fn: (i: number) => unknown | Promise<unknown>,
  options?: LeakCheckOptions,
): Promise<Report>;
