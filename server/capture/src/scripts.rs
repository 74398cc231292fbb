//! The scripts a heap ran, read after its last snapshot: `Debugger.enable` replays
//! `Debugger.scriptParsed` for every script loaded; the user's are kept with their source
//! and SHA-256 (`Debugger.getScriptSource`), Node's own are only counted. Enabling the
//! debugger allocates, which is why this runs only after C. Works over any [`Channel`], so a
//! worker thread's scripts are read inside its own session.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::channel::Channel;
use crate::error::Result;
use crate::manifest::{self, Script};

/// The scripts of one heap.
#[derive(Debug, Default)]
pub(crate) struct Recorded {
    /// The user's scripts (and dependencies'), in the order V8 announced them.
    pub scripts: Vec<Script>,
    /// Node's own scripts and those without a URL, left out.
    pub skipped: u64,
}

/// Reads every user script of the heap behind `ch`; keeps their sources when
/// `keep_sources`.
pub(crate) async fn record(ch: &mut impl Channel, keep_sources: bool) -> Result<Recorded> {
    const PARSED: &str = "Debugger.scriptParsed";
    ch.keep_events(PARSED);
    ch.call("Debugger.enable", json!({})).await?;
    // A `debugger;` statement must not stop the heap while we read.
    ch.call("Debugger.setSkipAllPauses", json!({ "skip": true }))
        .await?;
    let mut recorded = Recorded::default();
    for ev in ch.take_events_named(PARSED) {
        let p = &ev.params;
        let str_of = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or_default();
        let url = str_of("url").to_owned();
        if !manifest::is_user_script(&url) {
            recorded.skipped += 1;
            continue;
        }
        let id = str_of("scriptId").to_owned();
        let source = ch
            .call("Debugger.getScriptSource", json!({ "scriptId": id }))
            .await?
            .get("scriptSource")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let sha256 = hex(&Sha256::digest(source.as_bytes()));
        recorded.scripts.push(Script {
            path: manifest::url_to_path(&url),
            id,
            url,
            sha256,
            v8_hash: str_of("hash").to_owned(),
            is_module: p.get("isModule").and_then(Value::as_bool).unwrap_or(false),
            source: keep_sources.then_some(source),
        });
    }
    ch.call("Debugger.disable", json!({})).await?;
    Ok(recorded)
}

/// Lowercase hexadecimal.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_digest() {
        assert_eq!(
            hex(&Sha256::digest(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
