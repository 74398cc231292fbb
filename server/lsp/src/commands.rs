//! The commands the server executes, by the names editors bind to them.

/// Analyze the newest capture, or the given folder, report or `{a, b, c}` snapshots.
pub const ANALYZE: &str = "heapsight.analyze";
/// Run the configured capture command in the workspace root.
pub const CAPTURE: &str = "heapsight.capture";
/// Drop the findings from the editor.
pub const CLEAR: &str = "heapsight.clear";
/// Write `<snapshotDir>/report.md` and open it.
pub const SHOW_REPORT: &str = "heapsight.showReport";

/// Every command.
pub const ALL: [&str; 4] = [ANALYZE, CAPTURE, CLEAR, SHOW_REPORT];
