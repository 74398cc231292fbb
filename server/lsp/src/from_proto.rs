//! LSP values into plain ones: URIs into paths, positions into byte offsets under the
//! negotiated encoding, settings objects into [`Config`].

use std::path::PathBuf;

use heapsight_ide::{Config, LineIndex, TextRange};
use serde_json::Value;
use tower_lsp_server::ls_types::{Position, Range, Uri};

use crate::state::Encoding;

/// The file a `file:` URI names.
pub fn path(uri: &Uri) -> Option<PathBuf> {
    if !uri.as_str().starts_with("file:") {
        return None;
    }
    uri.to_file_path().map(|p| p.into_owned())
}

/// The byte offset of `position` in `text`.
pub fn offset(index: &LineIndex, position: Position, encoding: Encoding) -> usize {
    match encoding {
        Encoding::Utf16 => index.offset_utf16_clamped(position.line, position.character),
        Encoding::Utf8 => index.offset_utf8_clamped(position.line, position.character),
    }
}

/// The byte range of `range` in `text`.
pub fn text_range(index: &LineIndex, range: Range, encoding: Encoding) -> TextRange {
    let start = offset(index, range.start, encoding);
    let end = offset(index, range.end, encoding);
    TextRange::new(start.min(end), end.max(start))
}

/// Settings from `initializationOptions` or a `workspace/configuration` answer; both
/// `{...}` and `{"heapsight": {...}}` are accepted.
pub fn config(value: &Value) -> Result<Option<Config>, String> {
    let value = value.get("heapsight").unwrap_or(value);
    if !value.is_object() {
        return Ok(None);
    }
    serde_json::from_value(without_nulls(value.clone()))
        .map(Some)
        .map_err(|e| format!("heapsight settings: {e}"))
}

/// Editors send unset settings as `null`: those take their defaults.
fn without_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_nulls(v)))
                .collect(),
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_take_defaults_for_nulls_and_accept_a_section() {
        let check = |json: &str| match config(&serde_json::from_str(json).unwrap_or_default()) {
            Ok(Some(c)) => format!(
                "{} {:?} {} {}",
                c.snapshot_dir.display(),
                c.capture_command,
                c.thresholds.error_bytes,
                c.min_retained_bytes
            ),
            Ok(None) => "none".into(),
            Err(e) => e,
        };
        let got = [
            check(
                r#"{"snapshotDir": null, "captureCommand": null, "thresholds": {"errorBytes": null}}"#,
            ),
            check(r#"{"heapsight": {"snapshotDir": "snaps", "minRetainedBytes": 5}}"#),
            check("null"),
            check(r#"{"minRetainedBytes": "big"}"#),
        ];
        assert_eq!(
            got.join("\n"),
            ".heapsight [] 10000000 1000000\nsnaps [] 10000000 5\nnone\nheapsight settings: invalid type: string \"big\", expected u64"
        );
    }
}
