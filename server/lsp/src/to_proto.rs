//! Plain values into LSP ones: byte ranges into positions under the negotiated encoding,
//! and the editor layer's diagnostics, hovers, lenses and fixes into protocol types.
//! Nothing else in the server builds an LSP type by hand.

use std::collections::HashMap;
use std::path::Path;

use heapsight_ide::{LineIndex, Severity, TextRange};
use serde_json::{json, Value};
use tower_lsp_server::ls_types::{
    CodeAction, CodeActionKind, CodeActionOrCommand, CodeDescription, CodeLens, Command,
    Diagnostic, DiagnosticRelatedInformation, DiagnosticSeverity, Hover, HoverContents, Location,
    MarkupContent, MarkupKind, NumberOrString, Position, Range, TextEdit, Uri, WorkspaceEdit,
};

use crate::state::Encoding;

/// Source name on every diagnostic.
pub const SOURCE: &str = "heapsight";

/// A text's line index and the encoding positions are counted in.
pub struct Converter {
    /// The text's lines.
    pub index: LineIndex,
    /// Column units.
    pub encoding: Encoding,
}

impl Converter {
    /// A converter over `text`.
    pub fn new(text: &str, encoding: Encoding) -> Converter {
        Converter {
            index: LineIndex::new(text),
            encoding,
        }
    }

    /// The position of byte `offset`.
    pub fn position(&self, offset: usize) -> Position {
        let (line, character) = match self.encoding {
            Encoding::Utf16 => self.index.position_utf16(offset),
            Encoding::Utf8 => self.index.position_utf8(offset),
        };
        Position { line, character }
    }

    /// The range of `range`.
    pub fn range(&self, range: TextRange) -> Range {
        Range {
            start: self.position(range.start),
            end: self.position(range.end),
        }
    }

    /// A diagnostic.
    pub fn diagnostic(&self, d: &heapsight_ide::Diagnostic, uri: &Uri) -> Diagnostic {
        let related: Vec<DiagnosticRelatedInformation> = d
            .related
            .iter()
            .map(|r| DiagnosticRelatedInformation {
                location: Location {
                    uri: uri.clone(),
                    range: self.range(r.range),
                },
                message: r.message.clone(),
            })
            .collect();
        Diagnostic {
            range: self.range(d.range),
            severity: Some(severity(d.severity)),
            code: Some(NumberOrString::String(d.code.to_string())),
            code_description: d
                .code_url
                .parse::<Uri>()
                .ok()
                .map(|href| CodeDescription { href }),
            source: Some(SOURCE.to_string()),
            message: d.message.clone(),
            related_information: (!related.is_empty()).then_some(related),
            tags: None,
            data: Some(json!({ "finding": d.finding })),
        }
    }

    /// A hover.
    pub fn hover(&self, h: &heapsight_ide::Hover) -> Hover {
        Hover {
            contents: HoverContents::Markup(MarkupContent {
                kind: MarkupKind::Markdown,
                value: h.markdown.clone(),
            }),
            range: Some(self.range(h.range)),
        }
    }

    /// A code lens opening the finding in the report.
    pub fn code_lens(&self, lens: &heapsight_ide::CodeLens) -> CodeLens {
        CodeLens {
            range: self.range(lens.range),
            command: Some(Command {
                title: lens.title.clone(),
                command: crate::commands::SHOW_REPORT.to_string(),
                arguments: Some(vec![Value::String(lens.finding.clone())]),
            }),
            data: None,
        }
    }

    /// A quick fix editing the document at `uri`, with the diagnostics it fixes.
    pub fn code_action(
        &self,
        action: &heapsight_ide::CodeAction,
        uri: &Uri,
        fixes: Vec<Diagnostic>,
    ) -> CodeActionOrCommand {
        let edits: Vec<TextEdit> = action
            .edits
            .iter()
            .map(|e| TextEdit {
                range: self.range(e.range),
                new_text: e.new_text.clone(),
            })
            .collect();
        CodeActionOrCommand::CodeAction(CodeAction {
            title: action.title.clone(),
            kind: Some(CodeActionKind::QUICKFIX),
            diagnostics: Some(fixes),
            edit: Some(WorkspaceEdit {
                changes: Some(HashMap::from([(uri.clone(), edits)])),
                ..WorkspaceEdit::default()
            }),
            command: None,
            is_preferred: Some(action.preferred),
            disabled: None,
            data: None,
        })
    }
}

/// The LSP severity.
pub fn severity(s: Severity) -> DiagnosticSeverity {
    match s {
        Severity::Error => DiagnosticSeverity::ERROR,
        Severity::Warning => DiagnosticSeverity::WARNING,
        Severity::Information => DiagnosticSeverity::INFORMATION,
    }
}

/// The `file:` URI of `path`.
pub fn uri(path: &Path) -> Option<Uri> {
    Uri::from_file_path(path)
}
