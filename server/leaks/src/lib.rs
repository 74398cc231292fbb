//! heapsight's leak finder: from three snapshots of one process (A after warm-up, B after
//! the workload, C after idle and a forced GC) to a handful of classified, measured findings.
//!
//! The leaked set is C's JS objects allocated between A and B (`maxA < id <= maxB`): they
//! were made by the workload and survived the idle period. They are grouped by holder (see
//! [`group`]), each group is recognized by the shape around its holder (one module per kind
//! under `kinds/`), measured as one set, and tied to code through function positions.
//!
//! With several rounds of the workload (`B1` … `BN`, the last as the target) a finding also
//! needs items of every round alive in C, and carries its figures per round and, with the
//! workload's size, a growth rate (see [`rounds`]).
//!
//! This crate knows the heap, not the source: a finding carries the script URL and V8's
//! position of the code that made the leaked objects; the `source` layer maps that onto the
//! registering call.

mod churn;
mod comparison;
mod ctx;
mod finding;
mod group;
mod kinds;
mod message;
mod paths;
mod placement;
mod readable;
pub mod rounds;
mod stacks;
mod triple;

use std::path::{Path, PathBuf};

use heapsight_snapshot::{MemoryBudget, MemoryNeed, NodeIndex, Progress, Snapshot, SnapshotError};

pub use comparison::ClassDelta;
pub use finding::{
    AllocationStack, Allocations, Binding, CodeAnchor, Finding, Growth, Holder, LeakKind, PathHop,
    Placement, PlacementCandidate, PlacementEvidence, StackFrame,
};
pub use message::{format_bytes, format_count, format_percent};
pub use readable::{folded_text, readable_lines, through_text, variable_scope_text, ReadableStep};
pub use rounds::{round_lines, GrowthRate, Limit, Projection, RoundFigures, RoundInputs};
pub use stacks::{file_name, fold_frames, frame_origin, FrameRun};
pub use triple::{SnapshotsInfo, TripleProblem};

/// What to report.
#[derive(Debug, Clone)]
pub struct Options {
    /// Findings retaining fewer bytes are not reported.
    pub threshold: u64,
    /// Kinds to report (all when empty).
    pub kinds: Vec<LeakKind>,
    /// The memory left to this process: the final snapshot is refused before it is read
    /// when its analysis would need more (`None`: not checked).
    pub memory: Option<MemoryBudget>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            threshold: 1_000_000,
            kinds: Vec::new(),
            memory: None,
        }
    }
}

/// Bytes a node of the final snapshot takes in the leak analysis beside the snapshot
/// engine's own (see `heapsight_snapshot::MemoryNeed`): the leaked flags, the dominator
/// intervals and the groups' columns, and the baseline scan's id set.
pub const LEAK_BYTES_PER_NODE: u64 = 16;

/// What analyzing the triple whose final snapshot is `c` needs in memory.
pub fn memory_needed(c: &Path) -> Result<MemoryNeed, LeakError> {
    heapsight_snapshot::file_memory_needed(c)
        .map(|need| need.with_per_node(LEAK_BYTES_PER_NODE))
        .map_err(|source| LeakError::Snapshot {
            path: c.to_owned(),
            source,
        })
}

/// Why an analysis could not be done.
#[derive(Debug, thiserror::Error)]
pub enum LeakError {
    /// A snapshot could not be read.
    #[error("{}: {source}", path.display())]
    Snapshot {
        /// Which file.
        path: PathBuf,
        /// The reader's error.
        #[source]
        source: SnapshotError,
    },
    /// The three snapshots do not form a usable triple.
    #[error("{0}")]
    Triple(TripleProblem),
}

/// The result of one analysis.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    /// What was compared.
    pub snapshots: SnapshotsInfo,
    /// Findings by retained size, largest first.
    pub findings: Vec<Finding>,
    /// Per-class changes between A and C (JS objects), largest size change first.
    pub comparison: Vec<ClassDelta>,
}

/// Analyzes the triple at `a`, `b`, `c`.
pub fn analyze_files(
    a: &Path,
    b: &Path,
    c: &Path,
    options: &Options,
    progress: &Progress,
) -> Result<Report, LeakError> {
    analyze_rounds(a, b, c, &RoundInputs::default(), options, progress)
}

/// Analyzes a capture with rounds: `a`, the snapshots after each round (`rounds.earlier`,
/// then `b` for the last), `c`. With no earlier rounds this is [`analyze_files`].
pub fn analyze_rounds(
    a: &Path,
    b: &Path,
    c: &Path,
    rounds: &RoundInputs,
    options: &Options,
    progress: &Progress,
) -> Result<Report, LeakError> {
    fn read(path: &Path) -> impl Fn(SnapshotError) -> LeakError + '_ {
        move |source| LeakError::Snapshot {
            path: path.to_owned(),
            source,
        }
    }
    // A file that cannot be sized is not refused here: the reads below say what is wrong
    // with it, in the order of the files.
    if let (Some(budget), Ok(need)) = (&options.memory, memory_needed(c)) {
        need.check(budget).map_err(read(c))?;
    }
    // The baseline and target scans run beside the final snapshot's parse.
    let panicked = |path: &Path| LeakError::Snapshot {
        path: path.to_owned(),
        source: SnapshotError::Meta("the scan panicked".into()),
    };
    let (base, target, graph) = std::thread::scope(|s| {
        let base = s
            .spawn(|| heapsight_snapshot::scan_file_baseline(a, &Progress::new()).map_err(read(a)));
        // The earlier rounds' scans run one after another beside the target's: each is
        // one pass over its `nodes`.
        let target = s.spawn(|| {
            let mut maxes = Vec::with_capacity(rounds.earlier.len() + 1);
            for round in &rounds.earlier {
                let scan = heapsight_snapshot::scan_file_max_js_id(round, &Progress::new())
                    .map_err(read(round))?;
                maxes.push(scan.max_js_id);
            }
            let scan =
                heapsight_snapshot::scan_file_max_js_id(b, &Progress::new()).map_err(read(b))?;
            maxes.push(scan.max_js_id);
            Ok((scan, maxes))
        });
        let graph = heapsight_snapshot::open_source(c)
            .and_then(|src| heapsight_snapshot::read_graph(&src, progress))
            .map_err(read(c));
        progress.step("baseline and target scans");
        let base = base.join().unwrap_or_else(|_| Err(panicked(a)));
        let target = target.join().unwrap_or_else(|_| Err(panicked(b)));
        (base, target, graph)
    });
    let (base, (target, round_maxes), graph) = (base?, target?, graph?);
    progress.step("triple checks");
    let info = triple::check(a, b, c, &base, &target, &graph).map_err(LeakError::Triple)?;
    let split = rounds::Split::new(base.max_js_id, &round_maxes).ok_or_else(|| {
        LeakError::Triple(TripleProblem::Order(format!(
            "the rounds' newest objects (@{}) do not grow from the baseline's (@{})",
            round_maxes
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", @"),
            base.max_js_id
        )))
    })?;
    let heap_bytes = graph.total_self_size();
    // The comparison reads V8's own sizes: it runs beside the first analysis steps,
    // before sizes are attributed.
    let (snap, comparison) =
        Snapshot::from_graph_with(graph, progress, |g| comparison::compare(g, &base))
            .map_err(read(c))?;
    let growth = churn::ClassGrowth::new(&comparison);
    let plan = RoundPlan {
        split: (split.rounds() > 1).then_some(&split),
        iterations: rounds.iterations,
        limit: rounds.limit.as_ref(),
        heap_bytes,
    };
    let findings = find_with_progress(
        &snap,
        (base.max_js_id, target.max_js_id),
        options,
        Some(&growth),
        &plan,
        progress,
    );
    progress.end_step();
    // Freeing a large snapshot's columns takes tens of milliseconds that the caller need
    // not wait for: the findings are plain data.
    let _ = std::thread::Builder::new()
        .name("heapsight-free".into())
        .spawn(move || drop(snap));
    Ok(Report {
        snapshots: info,
        findings,
        comparison,
    })
}

/// Finds the leaks in an analyzed final snapshot, given the baseline's and target's
/// largest JS object ids.
pub fn find(snap: &Snapshot, max_a: u64, max_b: u64, options: &Options) -> Vec<Finding> {
    let plan = RoundPlan {
        split: None,
        iterations: None,
        limit: None,
        heap_bytes: 0,
    };
    find_with_progress(snap, (max_a, max_b), options, None, &plan, &Progress::new())
}

/// The rounds as the finder uses them: their split (none with one round), the workload's
/// size and the limit, and the final heap's total for the projection.
struct RoundPlan<'a> {
    split: Option<&'a rounds::Split>,
    iterations: Option<u64>,
    limit: Option<&'a rounds::Limit>,
    heap_bytes: u64,
}

/// `growth`: the classes' growth since the baseline, when the baseline was scanned, to tell
/// a churned bounded cache from a growing one.
fn find_with_progress(
    snap: &Snapshot,
    (max_a, max_b): (u64, u64),
    options: &Options,
    growth: Option<&churn::ClassGrowth<'_>>,
    plan: &RoundPlan<'_>,
    progress: &Progress,
) -> Vec<Finding> {
    progress.step("leak index");
    let ctx = ctx::Ctx::new(snap, max_a, max_b);
    progress.step("grouping");
    let groups = group::groups(&ctx, options.threshold);
    progress.step("classifying");
    let mut findings = Vec::new();
    for group in groups {
        let path = paths::path_to(&ctx, group.holder);
        let classified = kinds::classify(&ctx, &group, &path);
        if !options.kinds.is_empty() && !options.kinds.contains(&classified.kind) {
            continue;
        }
        if classified.kind == LeakKind::Collection
            && growth.is_some_and(|g| g.churned(&ctx, &classified.items, classified.count))
        {
            continue;
        }
        // With rounds, a finding needs items of every round still alive.
        let per_round = plan
            .split
            .map(|split| rounds::figures(&ctx, split, &group, &classified.items, classified.count))
            .unwrap_or_default();
        if plan.split.is_some() && !rounds::in_every_round(&per_round) {
            continue;
        }
        let mut finding = build(&ctx, &group, &path, classified);
        finding.rate = plan
            .iterations
            .and_then(|k| rounds::rate(&per_round, k, plan.limit, plan.heap_bytes));
        finding.rounds = per_round;
        findings.push(finding);
    }
    findings.sort_by_key(|f| std::cmp::Reverse(f.retained_bytes));
    findings
}

fn build(
    ctx: &ctx::Ctx<'_>,
    group: &group::Group,
    path: &kinds::Path,
    c: kinds::Classified,
) -> Finding {
    let g = &ctx.snap.graph;
    let owner_path = if path.iter().any(|&(n, _)| n == c.owner) {
        path.to_vec()
    } else {
        paths::path_to(ctx, c.owner)
    };
    let binding = kinds::binding(ctx, &owner_path, c.owner);
    let mut full = if group.holder == NodeIndex::ROOT {
        owner_path.clone()
    } else {
        path.to_vec()
    };
    let joint = full.last().map(|&(n, _)| n).unwrap_or(group.holder);
    if let Some(sample) = c.sample {
        // Extend the path from the holder down to one leaked item.
        let down = paths::path_to(ctx, sample);
        if let Some(at) = down.iter().position(|&(n, _)| n == joint) {
            full.truncate(full.len().saturating_sub(1));
            full.extend_from_slice(&down[at..]);
        }
    }
    // The functions whose captured variables the finding lists.
    let functions: Vec<NodeIndex> = match c.kind {
        LeakKind::Timer => c
            .items
            .iter()
            .filter_map(|&t| ctx.child(t, "_onTimeout"))
            .collect(),
        LeakKind::Listener | LeakKind::Closure | LeakKind::Promise => c.items.clone(),
        _ => Vec::new(),
    };
    let users = match &binding {
        Some(b) if b.kind == "variable" => scope_users(ctx, &owner_path, c.owner),
        _ => Vec::new(),
    };
    let in_user_code = |a: &CodeAnchor| a.url.as_deref().is_some_and(ctx::Ctx::is_user_url);
    // A variable of the user's own code names the owner: it is the user's structure, even
    // when a library object is above it on the path (a `seen` Map captured by a route
    // handler that an express Layer holds).
    // (Unless the object itself is a library's: a winston transport or an rxjs Subject in
    // the user's variable keeps its listeners in the library's own structure.)
    let user_owned = binding.as_ref().is_some_and(|b| b.kind == "variable")
        && users.iter().any(in_user_code)
        && ctx.library_of(c.owner).is_none();
    let library = (!user_owned)
        .then(|| kinds::library_structure(ctx, &owner_path, c.owner))
        .flatten();
    let holder = Holder {
        class: ctx.class(c.owner).to_string(),
        id: g.node_id(c.owner),
        binding,
        library: library.as_ref().map(|l| l.label.clone()),
        distance: {
            let d = ctx.snap.distance(c.owner);
            (d != heapsight_snapshot::UNREACHABLE).then_some(d)
        },
    };
    // The items are the user's own functions (listeners, callbacks, handlers): V8's
    // position of the function finds its registering call.
    let item_functions = match c.anchor.clone() {
        Some(a) if in_user_code(&a) && c.kind != LeakKind::Collection => Some(a),
        _ => kinds::user_anchor(ctx, &c.items),
    };
    // Library and Node code is never the place of a finding. A user's collection is placed
    // in the file that declares it (on its growing call), never on the constructor of what
    // it stores.
    let own_collection = user_owned && c.kind == LeakKind::Collection;
    let anchor = if own_collection {
        users.iter().find(|a| in_user_code(a)).cloned()
    } else {
        match c.anchor {
            Some(a) if in_user_code(&a) => Some(a),
            other => item_functions.clone().or(other),
        }
    };
    let anchor = anchor.or_else(|| users.first().cloned());
    let mut finding = Finding {
        kind: c.kind,
        message: String::new(),
        holder,
        event: c.event,
        count: c.count,
        noun: c.noun,
        growth: c.growth,
        retained_bytes: group.retained,
        retained_is_lower_bound: group.lower_bound,
        retainer_path: paths::hops(ctx, &full),
        readable_path: readable::readable_path(ctx, &full, c.owner),
        anchor,
        users,
        captured: kinds::closure::captured(ctx, &functions),
        objects: group.objects,
        allocations: stacks::allocations(ctx, group, &c.items),
        placement: Placement::default(),
        rounds: Vec::new(),
        rate: None,
    };
    let own_binding = holder_variable(&finding).filter(|_| own_collection);
    let candidates = placement::candidates(
        ctx,
        &placement::Evidence {
            items: &c.items,
            owner: c.owner,
            owner_path: &owner_path,
            own_binding: own_binding.as_deref(),
            own_binding_user: finding.users.iter().find(|a| in_user_code(a)),
            user_function_items: item_functions.as_ref().filter(|_| !own_collection),
            package: library.as_ref().map(|l| l.package.as_str()),
            allocations: finding.allocations.as_ref(),
        },
    );
    finding.placement = Placement { candidates };
    finding.message = message::message(&finding, c.detail);
    finding
}

/// The variable naming the holder, when it is one.
fn holder_variable(finding: &Finding) -> Option<String> {
    let b = finding.holder.binding.as_ref()?;
    (b.kind == "variable").then(|| b.name.clone())
}

/// Functions whose scope holds the variable that names `owner`: the context on the path
/// just above it, and the closures that point to that context.
fn scope_users(ctx: &ctx::Ctx<'_>, path: &kinds::Path, owner: NodeIndex) -> Vec<CodeAnchor> {
    let g = &ctx.snap.graph;
    let Some(at) = path.iter().position(|&(n, _)| n == owner) else {
        return Vec::new();
    };
    let Some(&(context, _)) = at.checked_sub(1).and_then(|i| path.get(i)) else {
        return Vec::new();
    };
    let mut out: Vec<CodeAnchor> = ctx
        .snap
        .retainers(context)
        .iter()
        .map(|&r| NodeIndex(r))
        .filter(|&r| g.node_type(r) == heapsight_snapshot::NodeType::Closure)
        .filter_map(|r| ctx.anchor(r))
        .collect();
    out.sort_by_key(|a| (a.script_id, a.line, a.column));
    out.dedup();
    out.truncate(8);
    out
}
