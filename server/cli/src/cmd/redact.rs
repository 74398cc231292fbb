//! `heapsight redact IN OUT`: a copy of one snapshot, or of a whole capture folder, with the
//! text of every JavaScript string replaced (`heapsight-redact`), for sharing a capture
//! without the tokens and user data its heaps held. In a folder, every `.heapsnapshot` (the
//! parts' too) is redacted, the other files are copied, and each `manifest.json` says
//! `"redacted": true` with the new file sizes.

use std::collections::HashMap;
use std::fs;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context};
use heapsight_redact::RedactStats;
use serde_json::Value;

use crate::cmd::format::{bytes, count};

/// Arguments of `heapsight redact`.
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
      heapsight redact C.heapsnapshot C.redacted.heapsnapshot\n  \
      heapsight redact .heapsight/captures/2026-12-07T11-30-00Z shared-capture\n\n\
      Kept: numbers (sizes, ids, edges, positions), class, function, property and variable\n\
      names, script URLs. A store keyed by secrets (session ids as an object's keys) keeps\n\
      them: they are property names. Replaced: every other string's text, by as many `x`s.\n\
      A manifest's command line and recorded script sources are copied as they are.")]
pub struct Args {
    /// A .heapsnapshot file, or a capture folder.
    input: PathBuf,
    /// The redacted file (or, for a folder, a new folder; a file into an existing folder
    /// keeps its name).
    output: PathBuf,
}

/// File name of the manifest in a capture folder.
const MANIFEST: &str = "manifest.json";
const SNAPSHOT_EXT: &str = "heapsnapshot";

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let meta = fs::metadata(&args.input)
        .with_context(|| format!("cannot read {}", args.input.display()))?;
    if meta.is_dir() {
        redact_folder(&args.input, &args.output)?;
    } else {
        let output = if args.output.is_dir() {
            let name = args
                .input
                .file_name()
                .context("the input has no file name")?;
            args.output.join(name)
        } else {
            args.output.clone()
        };
        if output.exists() {
            bail!("{} exists; give a new file name", output.display());
        }
        redact_file(&args.input, &output)?;
        println!("{}", output.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Redacts `input` into `output` (through `output.partial`), reporting the figures on
/// stderr.
fn redact_file(input: &Path, output: &Path) -> anyhow::Result<RedactStats> {
    let start = Instant::now();
    let partial = PathBuf::from(format!("{}.partial", output.display()));
    let result = (|| {
        let from =
            fs::File::open(input).with_context(|| format!("cannot read {}", input.display()))?;
        let to = fs::File::create(&partial)
            .with_context(|| format!("cannot write {}", partial.display()))?;
        let mut writer = BufWriter::with_capacity(1 << 20, to);
        let stats = heapsight_redact::redact(BufReader::with_capacity(1 << 20, from), &mut writer)
            .with_context(|| format!("cannot redact {}", input.display()))?;
        writer
            .into_inner()
            .map_err(|e| e.into_error())
            .and_then(|f| f.sync_all())
            .with_context(|| format!("cannot write {}", partial.display()))?;
        fs::rename(&partial, output)
            .with_context(|| format!("cannot write {}", output.display()))?;
        anyhow::Ok(stats)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&partial);
    }
    let stats = result?;
    let seconds = start.elapsed().as_secs_f64();
    eprintln!(
        "{}: {} of {} strings replaced; {} in {:.2} s ({:.0} MB/s)",
        input.display(),
        count(stats.redacted),
        count(stats.strings),
        bytes(stats.bytes_in),
        seconds,
        stats.bytes_in as f64 / 1e6 / seconds.max(1e-9),
    );
    Ok(stats)
}

/// Redacts a capture folder into the new folder `output`; removes `output` again on error.
fn redact_folder(input: &Path, output: &Path) -> anyhow::Result<()> {
    if output.exists() && fs::read_dir(output).map_or(true, |mut d| d.next().is_some()) {
        bail!(
            "{} exists and is not empty; give a new folder",
            output.display()
        );
    }
    fs::create_dir_all(output).with_context(|| format!("cannot create {}", output.display()))?;
    let mut redacted = 0;
    let mut links = HashMap::new();
    let result = copy_folder(input, output, &mut redacted, &mut links);
    if result.is_err() {
        let _ = fs::remove_dir_all(output);
    }
    result?;
    if redacted == 0 {
        let _ = fs::remove_dir_all(output);
        bail!("{} holds no .heapsnapshot file", input.display());
    }
    println!("{}", output.display());
    Ok(())
}

/// A file's identity, so that hard links (a capture's last round is also its `B`) are
/// redacted once and linked again.
type FileId = (u64, u64);

fn file_id(meta: &fs::Metadata) -> Option<FileId> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some((meta.dev(), meta.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        None
    }
}

/// Copies one folder level, redacting snapshots; the manifest last, with the new sizes.
fn copy_folder(
    from: &Path,
    to: &Path,
    redacted: &mut usize,
    links: &mut HashMap<FileId, PathBuf>,
) -> anyhow::Result<()> {
    let mut entries: Vec<_> = fs::read_dir(from)
        .with_context(|| format!("cannot read {}", from.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("cannot read {}", from.display()))?;
    entries.sort_by_key(|e| e.file_name());
    let mut sizes = HashMap::new();
    let mut manifest = None;
    for entry in entries {
        let name = entry.file_name();
        let (source, target) = (entry.path(), to.join(&name));
        // Not followed: a link out of the capture folder is not part of it.
        let meta = fs::symlink_metadata(&source)
            .with_context(|| format!("cannot read {}", source.display()))?;
        if meta.is_dir() {
            fs::create_dir(&target)
                .with_context(|| format!("cannot create {}", target.display()))?;
            copy_folder(&source, &target, redacted, links)?;
        } else if !meta.is_file() || name.to_string_lossy().ends_with(".partial") {
            continue;
        } else if name == MANIFEST {
            manifest = Some((source, target));
        } else if source.extension().is_some_and(|e| e == SNAPSHOT_EXT) {
            let id = file_id(&meta);
            if let Some(first) = id.and_then(|id| links.get(&id)) {
                fs::hard_link(first, &target)
                    .with_context(|| format!("cannot write {}", target.display()))?;
            } else {
                redact_file(&source, &target)?;
                if let Some(id) = id {
                    links.insert(id, target.clone());
                }
            }
            let size = fs::metadata(&target)
                .with_context(|| format!("cannot read {}", target.display()))?
                .len();
            sizes.insert(name.to_string_lossy().into_owned(), size);
            *redacted += 1;
        } else {
            fs::copy(&source, &target)
                .with_context(|| format!("cannot write {}", target.display()))?;
        }
    }
    if let Some((source, target)) = manifest {
        write_manifest(&source, &target, &sizes)?;
    }
    Ok(())
}

/// The manifest, marked `"redacted": true`, each snapshot's `bytes` its redacted size.
fn write_manifest(
    source: &Path,
    target: &Path,
    sizes: &HashMap<String, u64>,
) -> anyhow::Result<()> {
    let text = fs::read(source).with_context(|| format!("cannot read {}", source.display()))?;
    let mut manifest: Value = serde_json::from_slice(&text)
        .with_context(|| format!("{} is not JSON", source.display()))?;
    let Some(fields) = manifest.as_object_mut() else {
        bail!("{} is not a capture manifest", source.display());
    };
    fields.insert("redacted".into(), Value::Bool(true));
    for list in ["files", "rounds"] {
        let Some(Value::Array(files)) = fields.get_mut(list) else {
            continue;
        };
        for file in files.iter_mut().filter_map(Value::as_object_mut) {
            let size = file
                .get("file")
                .and_then(Value::as_str)
                .and_then(|f| sizes.get(f));
            if let Some(&size) = size {
                file.insert("bytes".into(), size.into());
            }
        }
    }
    let mut out = serde_json::to_vec_pretty(&manifest)?;
    out.push(b'\n');
    fs::File::create(target)
        .and_then(|mut f| f.write_all(&out))
        .with_context(|| format!("cannot write {}", target.display()))?;
    Ok(())
}
