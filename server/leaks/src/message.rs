//! Messages in the product's voice.

use crate::finding::{Finding, LeakKind};

/// Bytes in decimal units: `40.2 MB`.
pub fn format_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < UNITS.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// `part` as a share of `total`, whole percent (`<1%` for a sliver, `0%` of nothing).
pub fn format_percent(part: u64, total: u64) -> String {
    if total == 0 {
        return "0%".into();
    }
    let p = part as f64 * 100.0 / total as f64;
    if p > 0.0 && p < 1.0 {
        "<1%".into()
    } else {
        format!("{p:.0}%")
    }
}

/// A count with thousands separators.
pub fn format_count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub(crate) fn noun(n: u64, plural: &str) -> String {
    let singular = plural
        .strip_suffix("ies")
        .map(|s| format!("{s}y"))
        .or_else(|| plural.strip_suffix('s').map(str::to_string));
    if n == 1 {
        singular.unwrap_or_else(|| plural.to_string())
    } else {
        plural.to_string()
    }
}

/// The one-line message of a finding.
pub fn message(f: &Finding, detail: Option<&str>) -> String {
    let size = if f.retained_is_lower_bound {
        format!("at least {}", format_bytes(f.retained_bytes))
    } else {
        format_bytes(f.retained_bytes)
    };
    let count = format_count(f.count);
    let name = f
        .holder
        .binding
        .as_ref()
        .map(|b| format!("`{}`", b.describe()))
        .unwrap_or_else(|| format!("a {}", f.holder.class));
    match f.kind {
        LeakKind::Listener if f.event.is_none() => format!(
            "{count} {} on long-lived {name}{} added during the load are still subscribed after idle and retain {size}",
            noun(f.count, f.noun),
            library_note(f),
        ),

        LeakKind::Listener => format!(
            "listener on long-lived {} {name} ('{}') retains {size}: {count} {} added during the load are still alive after idle",
            if detail == Some("EventTarget") { "EventTarget" } else { "emitter" },
            f.event.as_deref().unwrap_or("?"),
            noun(f.count, "listeners"),
        ),
        LeakKind::Timer => format!(
            "{count} {} started during the load {} never cleared and retain {size}",
            noun(f.count, if detail == Some("setTimeout") { "timeouts" } else { "intervals" }),
            if f.count == 1 { "was" } else { "were" },
        ),
        LeakKind::Collection => format!(
            "{name} ({}) grew by {count} {} during the load and retains {size} after idle",
            f.holder.library.clone().unwrap_or_else(|| f.holder.class.clone()),
            noun(f.count, f.noun),
        ),
        LeakKind::Closure => format!(
            "{name} ({}) holds {count} {} added during the load, retaining {size} after idle",
            f.holder.library.clone().unwrap_or_else(|| f.holder.class.clone()),
            noun(f.count, "callbacks"),
        ),
        LeakKind::Promise => format!(
            "a promise that never settles holds {count} {} added during the load, retaining {size}",
            noun(f.count, "reactions"),
        ),
        LeakKind::Other => format!(
            "{name} ({}) retains {size}: {count} {} allocated during the load are still alive after idle",
            f.holder.class,
            noun(f.count, "objects"),
        ),
    }
}

/// ` (rxjs Subject)`: the library structure, else the holder's class.
fn library_note(f: &Finding) -> String {
    format!(
        " ({})",
        f.holder.library.as_deref().unwrap_or(&f.holder.class)
    )
}
