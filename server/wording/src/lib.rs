//! The sentences and names heapsight shows about a capture that both sides of a capture
//! folder print: the capture layer, which writes `manifest.json`, and the analysis layers
//! (`ide`, the CLI, the language server), which read it. One definition each, so
//! `heapsight capture`, `heapsight analyze` and the editor say the same thing.
//!
//! This crate is a leaf: std only, plain data in, strings out. The capture layer may not
//! depend on the analysis crates and the analysis crates may not pull in the capture
//! layer's async runtime and network code, so the wording lives below both.

#![deny(missing_docs)]

/// The title of the heap of a process's main thread, when the capture holds no other
/// process (worker threads of the same process are titled by the capture: `worker 1
/// (render.js)`).
pub const MAIN_THREAD: &str = "main thread";

/// How people call a Node process, from its command line: `npm`, `npx`, `yarn`, `pnpm`,
/// `tsx`, `nodemon`, ... for the usual launchers, else the main script's file name, else
/// the program's.
pub fn process_name(command: &[String]) -> String {
    // A process that set `process.title` (npm does: `npm start`) shows it as one string.
    let program = command
        .first()
        .and_then(|p| p.split_whitespace().next())
        .unwrap_or("node");
    let script = command
        .iter()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .map(String::as_str);
    let Some(script) = script else {
        return base_name(program).to_owned();
    };
    const LAUNCHERS: &[(&str, &str)] = &[
        ("/npm/bin/npm-cli.js", "npm"),
        ("/npm/bin/npx-cli.js", "npx"),
        ("/bin/npm", "npm"),
        ("/bin/npx", "npx"),
        ("/yarn/bin/yarn.js", "yarn"),
        ("/bin/yarn", "yarn"),
        ("/pnpm/bin/pnpm.cjs", "pnpm"),
        ("/bin/pnpm", "pnpm"),
        ("/tsx/dist/cli.mjs", "tsx"),
        ("/.bin/tsx", "tsx"),
        ("/nodemon/bin/nodemon.js", "nodemon"),
        ("/.bin/nodemon", "nodemon"),
        ("/ts-node/dist/bin.js", "ts-node"),
        ("/.bin/ts-node", "ts-node"),
        ("/pm2/bin/pm2", "pm2"),
    ];
    LAUNCHERS
        .iter()
        .find(|(tail, _)| script.ends_with(tail))
        .map_or_else(
            || base_name(script).to_owned(),
            |(_, name)| (*name).to_owned(),
        )
}

fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// What a manifest says about the process it captured, as both manifest readers hold it
/// (the capture layer's `Manifest` and the editor layer's reader build one from their
/// fields).
#[derive(Debug, Clone, Copy)]
pub struct CapturedProcess<'a> {
    /// The manifest's `command`: as given when heapsight started it, else `process.argv`.
    pub command: &'a [String],
    /// The command line of the process the capture took, when it chose among the Node
    /// processes under the command (the taken candidate of `selection`).
    pub taken: Option<&'a [String]>,
    /// Its pid.
    pub pid: Option<i64>,
    /// The user's project as the capture saw it.
    pub workspace: Option<&'a str>,
    /// How many scripts the manifest lists.
    pub scripts: usize,
    /// How many of them are the workspace's own files; `Some(0)`: none.
    pub workspace_scripts: Option<u64>,
}

impl CapturedProcess<'_> {
    /// How people call the process: [`process_name`] of the taken command line.
    pub fn name(&self) -> String {
        process_name(self.taken.unwrap_or(self.command))
    }

    /// The plain warning for a capture whose process ran none of the workspace's code:
    /// `None` when it did, or when that is unknown.
    pub fn not_the_service(&self) -> Option<String> {
        if self.workspace_scripts != Some(0) {
            return None;
        }
        let name = self.name();
        let pid = self.pid.map_or_else(String::new, |p| format!(" (pid {p})"));
        let workspace = self.workspace.unwrap_or("the workspace");
        Some(format!(
            "the captured process is {name}{pid}, not your service: none of its {} is a file \
             of {workspace} outside node_modules, so these snapshots cannot show your \
             service's leaks. Capture the process that runs your code: `heapsight capture \
             -- node app.js`, or through the wrapper with --match <your script>",
            if self.scripts == 1 {
                "1 script".to_owned()
            } else {
                format!("{} scripts", self.scripts)
            }
        ))
    }

    /// The title of this process's main heap in a capture: [`MAIN_THREAD`], or, when the
    /// capture also holds other processes (`process_parts`), the process as people call it
    /// with its pid, so the heaps of two processes are told apart (`server.js (pid 1234)`).
    pub fn main_heap_title(&self, process_parts: bool) -> String {
        if !process_parts {
            return MAIN_THREAD.to_owned();
        }
        match self.pid {
            Some(pid) => format!("{} (pid {pid})", self.name()),
            None => self.name(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| (*w).to_owned()).collect()
    }

    #[test]
    fn process_names() {
        for (command, name) in [
            (
                &[
                    "/usr/bin/node",
                    "/usr/lib/node_modules/npm/bin/npm-cli.js",
                    "start",
                ][..],
                "npm",
            ),
            (
                &["node", "--inspect", "/srv/app/server.js"][..],
                "server.js",
            ),
            (&["/usr/bin/node"][..], "node"),
            (&[][..], "node"),
            (
                &["node", "/srv/app/node_modules/.bin/tsx", "a.ts"][..],
                "tsx",
            ),
            (&["npm start"][..], "npm"),
        ] {
            assert_eq!(process_name(&strings(command)), name, "{command:?}");
        }
    }

    #[test]
    fn the_warning_and_titles() {
        let command = strings(&["npm", "start"]);
        let taken = strings(&["/usr/bin/node", "/usr/lib/node_modules/npm/bin/npm-cli.js"]);
        let mut process = CapturedProcess {
            command: &command,
            taken: Some(&taken),
            pid: Some(7),
            workspace: Some("/srv/app"),
            scripts: 1,
            workspace_scripts: Some(0),
        };
        let warning = process.not_the_service().unwrap_or_default();
        assert!(
            warning.starts_with(
                "the captured process is npm (pid 7), not your service: none of its 1 script is a file of /srv/app"
            ),
            "{warning}"
        );
        assert_eq!(process.main_heap_title(false), "main thread");
        assert_eq!(process.main_heap_title(true), "npm (pid 7)");
        process.workspace_scripts = Some(3);
        assert_eq!(process.not_the_service(), None);
        process.workspace_scripts = None;
        assert_eq!(process.not_the_service(), None);
    }
}
