//! Every query under `grammars/` compiles for every language it serves, and the shipped set is
//! exactly what the crate embeds.
#![allow(clippy::unwrap_used)]

use heapsight_source::{compile_query, Language, QUERY_FILES};
use std::path::{Path, PathBuf};

fn query_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(query_files(&path));
        } else if path.extension().is_some_and(|ext| ext == "scm") {
            found.push(path);
        }
    }
    found.sort();
    found
}

#[test]
fn every_query_file_compiles() {
    let grammars = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../grammars");
    let files = query_files(&grammars);
    let mut report = Vec::new();
    for path in &files {
        let folder = path
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let languages: &[Language] = match folder.as_str() {
            "javascript" => &[Language::JavaScript, Language::TypeScript, Language::Tsx],
            "typescript" => &[Language::TypeScript, Language::Tsx],
            other => panic!("query in unknown folder {other}"),
        };
        let source = std::fs::read_to_string(path).unwrap();
        for language in languages {
            let name = path.file_name().unwrap().to_string_lossy();
            let result = compile_query(*language, &name, &source);
            report.push(format!(
                "{folder}/{name} {language:?}: {}",
                match result {
                    Ok(()) => "ok".to_owned(),
                    Err(error) => error.to_string(),
                }
            ));
        }
    }
    assert!(!files.is_empty());
    let failures: Vec<&String> = report
        .iter()
        .filter(|line| !line.ends_with(": ok"))
        .collect();
    assert!(failures.is_empty(), "{failures:#?}");
    // The embedded copies are the files on disk.
    for (name, embedded) in QUERY_FILES {
        let on_disk = std::fs::read_to_string(grammars.join("javascript").join(name)).unwrap();
        assert_eq!(&on_disk, embedded, "{name}");
    }
}

#[test]
fn a_broken_query_is_a_typed_error() {
    let error = compile_query(Language::JavaScript, "broken.scm", "(call_expression @x")
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("query broken.scm does not compile for JavaScript"),
        "{error}"
    );
}
