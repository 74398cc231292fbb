//! What the CLI draws on a terminal: a progress bar on stderr that follows a
//! [`heapsight_snapshot::Progress`], and whether text output is coloured.
//!
//! The bar stays hidden for work that finishes within a second, and when stderr is not a
//! terminal, so piped and CI output stays clean; it has no colours. Text is coloured on a
//! terminal unless `NO_COLOR` is set (no-color.org), or anywhere with `CLICOLOR_FORCE`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use heapsight_snapshot::{Phase, Progress};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Draws the bar from a background thread until dropped.
pub struct ProgressDisplay {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ProgressDisplay {
    /// Starts following `progress`; `label` names the file or job.
    pub fn start(progress: Arc<Progress>, label: String) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            let mut bar: Option<ProgressBar> = None;
            while !stop2.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
                if bar.is_none() && started.elapsed() >= Duration::from_secs(1) {
                    let b = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
                    let style = ProgressStyle::with_template(
                        "{prefix} {msg:24} [{bar:30}] {bytes}/{total_bytes} {elapsed}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> ");
                    b.set_style(style);
                    b.set_prefix(label.clone());
                    bar = Some(b);
                }
                if let Some(b) = &bar {
                    let phase = progress.phase();
                    let (done, total) = progress.fraction();
                    b.set_message(phase.label());
                    if phase == Phase::Parsing || phase == Phase::Header {
                        b.set_length(total.max(1));
                        b.set_position(done.min(total));
                    } else {
                        b.set_length(1);
                        b.set_position(1);
                    }
                }
            }
            if let Some(b) = bar {
                b.finish_and_clear();
            }
        });
        ProgressDisplay {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for ProgressDisplay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Whether text written to a stream (a terminal or not: `is_terminal`) gets ANSI colours.
/// `NO_COLOR` set to anything but the empty string turns them off, whatever else is set
/// (<https://no-color.org>); `CLICOLOR_FORCE` set and not `0` turns them on when the
/// stream is not a terminal (a pager, a CI log that renders them).
pub fn color(is_terminal: bool) -> bool {
    let set = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if set("NO_COLOR").is_some() {
        return false;
    }
    is_terminal || set("CLICOLOR_FORCE").is_some_and(|v| v != "0")
}

/// The finished steps of `progress` as `name 1.234s, ...`, for `--timings`.
pub fn steps(progress: &Progress) -> String {
    progress
        .timings()
        .iter()
        .map(|(name, d)| format!("{name} {:.3}s", d.as_secs_f64()))
        .collect::<Vec<_>>()
        .join(", ")
}
