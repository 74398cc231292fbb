//! Apply the preferred quick fix for the call site on a line of a file, in place: the tool used
//! to prove fixes by re-capturing a fixed copy of a fixture app.
//!
//!     cargo run -p heapsight-source --release --example apply_fix -- <file> <line> [<collection>]
//!
//! `<line>` is 1-based. Without `<collection>`, the site is the one registering the last
//! function that starts on the line; with it, the growing call of that binding on the line.

use heapsight_source::{
    apply_edits, call_site_at_function, collection_sites, fixes, CallSite, Language, ParsedFile,
};
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    match run() {
        Ok(message) => {
            println!("{message}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("apply_fix: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<String, String> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: apply_fix <file> <line> [<collection>]";
    let path = PathBuf::from(args.next().ok_or(usage)?);
    let line: u32 = args
        .next()
        .and_then(|text| text.parse().ok())
        .filter(|line| *line > 0)
        .ok_or(usage)?;
    let collection = args.next();
    let text =
        std::fs::read_to_string(&path).map_err(|error| format!("{}: {error}", path.display()))?;
    let language = Language::from_path(&path).ok_or("not a JavaScript or TypeScript file")?;
    let file = ParsedFile::parse(text, language);
    let line = line - 1;
    let site = match &collection {
        Some(binding) => collection_sites(&file, binding)
            .mutations
            .into_iter()
            .find(|site| file.index().position_utf16(site.statement.start).0 == line),
        None => {
            let line_text = file.index().line_text(line).ok_or("no such line")?;
            let column =
                last_function_column(line_text).ok_or("no function starts on that line")?;
            call_site_at_function(&file, line, column)
        }
    }
    .ok_or("no call site found")?;
    let fix = fixes(&file, &site)
        .into_iter()
        .find(|fix| fix.preferred)
        .ok_or_else(|| format!("no fix for {}", describe(&site)))?;
    let fixed = apply_edits(file.text(), &fix.edits).ok_or("the edits do not apply")?;
    std::fs::write(&path, fixed).map_err(|error| format!("{}: {error}", path.display()))?;
    Ok(format!("{}: {}", path.display(), fix.title))
}

fn describe(site: &CallSite) -> String {
    format!(
        "{:?} {}.{}",
        site.kind,
        site.receiver.as_deref().unwrap_or(""),
        site.method
    )
}

/// The V8 position of the last function starting on the line: the `(` before the last `=>`
/// (or the bare parameter), or the `(` after the last `function`.
fn last_function_column(line: &str) -> Option<u32> {
    let start = if let Some(arrow) = line.rfind("=>") {
        let before = line[..arrow].trim_end();
        if before.ends_with(')') {
            let mut depth = 0i32;
            before.char_indices().rev().find_map(|(at, ch)| {
                match ch {
                    ')' => depth += 1,
                    '(' => depth -= 1,
                    _ => {}
                }
                (depth == 0).then_some(at)
            })?
        } else {
            before
                .rfind(|ch: char| !(ch.is_alphanumeric() || ch == '_' || ch == '$'))
                .map_or(0, |at| at + 1)
        }
    } else {
        let keyword = line.rfind("function")?;
        keyword + line[keyword..].find('(')?
    };
    Some(line[..start].encode_utf16().count() as u32)
}
