//! heapsight's capture layer: takes the three heap snapshots of the 3-snapshot technique
//! (A after warm-up, B after the workload, C after an idle period and forced garbage
//! collection) from a live Node.js process, and records the scripts that ran.
//!
//! Three ways to reach the process:
//! - start it ([`Source::Spawn`]) with `--inspect=127.0.0.1:0`, read the inspector URL
//!   from its stderr, attach, and stop it at the end;
//! - attach to a running inspector ([`Source::Url`], [`Source::Port`]); only loopback
//!   addresses unless [`Options::allow_remote`], since the inspector runs any code sent to
//!   it;
//! - no restart ([`Source::Pid`]): open the inspector of a running Node process with
//!   `SIGUSR1`, check that the inspector reached is that process's, capture as when
//!   attaching, and close the inspector again;
//! - production mode ([`Source::Signal`]): signal a process started with
//!   `--heapsnapshot-signal=SIGUSR2` and collect the files it writes.
//!
//! Before each snapshot over the inspector of a process whose memory we can read, the
//! [`headroom`] check compares the snapshot's estimated cost with what its cgroup (or the
//! machine) has left, and refuses unless [`Options::force`]; the manifest records the estimate
//! and the peak the process reached ([`SnapshotMemory`]).
//!
//! Over the inspector the client speaks the Chrome DevTools Protocol: a few
//! `HeapProfiler.collectGarbage` rounds, then `HeapProfiler.takeHeapSnapshot` with its
//! chunks streamed to disk as they arrive. Only after C does it enable the debugger
//! (`Debugger.enable` allocates, and must not change the heaps measured) to record every
//! user script's id, URL, SHA-256 and source into `manifest.json` ([`Manifest`]).
//!
//! A capture folder holds `A.heapsnapshot`, `B.heapsnapshot`, `C.heapsnapshot` and
//! `manifest.json`; every file is written under a `.partial` name and renamed when
//! complete, the manifest last, so a folder with a manifest is a complete capture. By
//! default the folder is `.heapsight/captures/<UTC timestamp>/` and the text file
//! `.heapsight/latest` names it (see [`read_latest`]). On failure or cancellation the
//! capture's files are removed and a target we started is stopped.
//!
//! Other heaps are captured beside the main one at the same points, each into a sub-folder
//! that is a capture folder of its own (the top-level manifest lists them in `parts`):
//! every `worker_threads` worker, through the inspector's `NodeWorker` domain, into
//! `threads/<threadId>/` (unless [`Options::threads`] is off), and the other processes the
//! selection took under the command, into `processes/<pid>/`. Worker threads are announced
//! from snapshot A on; the inspector is read through the workload and the idle period, so a
//! worker started then is held at its start, has its A taken, and is let run.
//!
//! With [`Options::track_allocations`] V8 records each object's allocation stack
//! (`HeapProfiler.startTrackingHeapObjects`). A `node` we start is started with
//! `--inspect-brk=127.0.0.1:0` and the [`TRACKING_V8_FLAGS`] its binary lists, and resumed
//! (`Runtime.runIfWaitingForDebugger`) once tracking is on, so its first line is tracked; a
//! wrapper or a process we attach to is tracked from attach time, which the reporter is told.
//! The manifest's [`AllocationTracking`] says which. Tracking ends with the session
//! (`HeapProfiler.disable`), never with `stopTrackingHeapObjects`, which takes a fourth
//! snapshot.
//!
//! When the target runs in a memory cgroup with a limit (a container, a systemd unit), the
//! manifest records it ([`MemoryLimit`], read by [`cgroup::memory_of`]) so that the analysis can
//! project a leak's growth toward it.
//!
//! The library prints nothing: progress goes to a [`Reporter`]. It needs a tokio runtime
//! with I/O and timers enabled, and a Unix system (process groups and signals).

mod cdp;
pub mod cgroup;
mod channel;
mod error;
pub mod headroom;
mod heap;
mod inspector;
mod manifest;
mod options;
mod output;
mod parts;
mod pid;
mod process;
mod report;
mod scripts;
mod session;
mod signal;
mod time;
mod tree;

pub use cdp::{Cdp, Event, Step};
pub use error::{CaptureError, Result};
pub use inspector::{
    check_loopback, connect, discover, is_loopback, list_targets, resolve, TargetInfo, WsEndpoint,
};
pub use manifest::{
    count_workspace_scripts, is_workspace_file, process_name, url_to_path, AllocationTracking,
    Candidate, CandidateRole, Manifest, MemoryLimit, Mode, Part, PartKind, PartOrigin, PhaseRecord,
    RoundRecord, Script, Selection, SnapshotFile, SnapshotMemory, TrackingSince, MANIFEST_FILE,
    MANIFEST_VERSION,
};
pub use options::{Options, Output, Pick, Source, Spill};
pub use output::{default_capture_dir, read_latest, HEAPSIGHT_DIR, LATEST_FILE, PARTIAL_SUFFIX};
pub use pid::DEFAULT_INSPECTOR_PORT;
pub use process::shell_quote;
pub use report::{human_bytes, OutputSource, Phase, Reporter, Silent, SnapshotProgress};
pub use session::{capture, Capture, INSPECT_BRK_FLAG, INSPECT_FLAG, TRACKING_V8_FLAGS};
pub use signal::{parse_signal, snapshot_dir_of};
pub use time::{human as human_duration, parse_duration};
