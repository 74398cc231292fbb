//! The commands the server executes, by the names editors bind to them.

/// Analyze the newest capture, or the given folder, report or `{a, b, c}` snapshots.
pub const ANALYZE: &str = "heapsight.analyze";
/// Start the configured capture command in a workspace folder (the one a path or URI
/// argument names, else the first) and return its progress token at once.
pub const CAPTURE: &str = "heapsight.capture";
/// Drop the findings from the editor.
pub const CLEAR: &str = "heapsight.clear";
/// Write `<snapshotDir>/report.md` and open it, at a finding's heading when given its id.
pub const SHOW_REPORT: &str = "heapsight.showReport";

/// Every command.
pub const ALL: [&str; 4] = [ANALYZE, CAPTURE, CLEAR, SHOW_REPORT];
