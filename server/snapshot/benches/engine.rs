//! Micro-benchmarks of the snapshot engine's phases, each on its own: the two-thread parse
//! into the compact graph, the id-only scan that A and B cost, and the analysis of a parsed
//! graph (retaining edges, retainers, distances, the dominator tree, retained sizes).
//!
//! `cargo bench -p heapsight-snapshot` reads the snapshot named by `HEAPSIGHT_BENCH_SNAPSHOT`,
//! else the listener-leak fixture's final snapshot that the tests make (run
//! `cargo test -p heapsight-tests --release --test fixtures` once). For the 1 GB figures use
//! `HEAPSIGHT_BENCH_SNAPSHOT=bench/data/large/C.heapsnapshot` (made by `bench/run`); the
//! whole-process comparison with the peers is `bench/run`.

use std::path::PathBuf;
use std::sync::OnceLock;

use divan::Bencher;
use heapsight_snapshot::{read_graph, scan_max_js_id, FileSource, Progress, Snapshot};

fn main() {
    divan::main();
}

fn snapshot_path() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let path = std::env::var_os("HEAPSIGHT_BENCH_SNAPSHOT")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                root.join("target/fixture-snapshots/node20/listener-leak/C.heapsnapshot")
            });
        if !path.is_file() {
            eprintln!(
                "no snapshot at {}: set HEAPSIGHT_BENCH_SNAPSHOT, or run \
                 `cargo test -p heapsight-tests --release --test fixtures` to make the fixture's",
                path.display()
            );
            std::process::exit(2);
        }
        path
    })
    .clone()
}

fn open() -> FileSource {
    let path = snapshot_path();
    match std::fs::File::open(&path).and_then(FileSource::new) {
        Ok(source) => source,
        Err(err) => {
            eprintln!("opening {}: {err}", path.display());
            std::process::exit(2);
        }
    }
}

/// The whole parse: header, nodes and strings on one thread, edges on the other.
#[divan::bench(sample_count = 10)]
fn parse(bencher: Bencher) {
    let source = open();
    bencher.bench_local(|| read_graph(&source, &Progress::new()).map(|g| g.node_count()));
}

/// The largest JS object id, without a graph: what the baseline and target cost.
#[divan::bench(sample_count = 10)]
fn id_scan(bencher: Bencher) {
    let source = open();
    bencher.bench_local(|| scan_max_js_id(&source, &Progress::new()).map(|s| s.max_js_id));
}

/// Retaining edges, retainers, distances, dominators and retained sizes of a parsed graph.
#[divan::bench(sample_count = 10)]
fn analysis(bencher: Bencher) {
    let source = open();
    bencher
        .with_inputs(|| read_graph(&source, &Progress::new()))
        .bench_local_values(|graph| {
            graph.and_then(|g| {
                Snapshot::from_graph(g, &Progress::new()).map(|s| s.graph.node_count())
            })
        });
}
