//! Quick fixes as before/after pairs: the site is found from a needle (the function's `(` or a
//! collection's growing call), the fix of the named kind is applied, and the whole result is
//! compared. Every result must also parse without errors.
#![allow(clippy::unwrap_used)]

use heapsight_source::{
    apply_edits, binding_calls, call_site_at_function, collection_sites, fixes, CallSite, FixKind,
    Language, ParsedFile,
};
use std::path::Path;

/// How a case finds its call site.
enum Site {
    /// The function whose V8 position is the start of this needle.
    Function(&'static str),
    /// The growing call of `binding` that starts with the needle.
    Collection(&'static str, &'static str),
}

fn site_of(file: &ParsedFile, site: &Site) -> CallSite {
    match site {
        Site::Function(needle) => {
            let offset = file.text().find(needle).unwrap();
            let (line, column) = file.index().position_utf16(offset);
            call_site_at_function(file, line, column).unwrap()
        }
        Site::Collection(binding, needle) => collection_sites(file, binding)
            .mutations
            .into_iter()
            .find(|site| file.text()[site.call.start..].starts_with(needle))
            .unwrap(),
    }
}

/// The titles and kinds offered for the site, then the text after applying the fix of `kind`.
fn check(language: Language, site: Site, kind: FixKind, before: &str, expected: &str) {
    let file = ParsedFile::parse(before.to_owned(), language);
    let site = site_of(&file, &site);
    let offered = fixes(&file, &site);
    let mut out = String::new();
    for fix in &offered {
        let star = if fix.preferred { "*" } else { " " };
        out.push_str(&format!("{star} {:?}: {}\n", fix.kind, fix.title));
    }
    let chosen = offered.iter().find(|fix| fix.kind == kind);
    let after = chosen.map_or_else(
        || "(not offered)".to_owned(),
        |fix| apply_edits(file.text(), &fix.edits).unwrap(),
    );
    if chosen.is_some() {
        let reparsed = ParsedFile::parse(after.clone(), language);
        assert_eq!(
            reparsed.error_count(),
            0,
            "fix result does not parse:\n{after}"
        );
    }
    out.push_str("---\n");
    out.push_str(&after);
    assert_eq!(out, expected, "\n=== got ===\n{out}");
}

#[test]
fn listener_removed_when_the_response_closes() {
    check(
        Language::JavaScript,
        Site::Function("(quote) =>"),
        FixKind::RemoveListener,
        r#"const bus = new EventEmitter();
function handleQuotes(req, res) {
  const session = open(req);
  bus.on('data', (quote) => {
    session.last = quote;
  });
  send(res, session);
}
"#,
        r#"* RemoveListener: Remove the `data` listener when `res` closes
  Once: Listen to `data` only once
---
const bus = new EventEmitter();
function handleQuotes(req, res) {
  const session = open(req);
  const onData = (quote) => {
    session.last = quote;
  };
  bus.on('data', onData);
  res.on('close', () => bus.removeListener('data', onData));
  send(res, session);
}
"#,
    );
}

#[test]
fn listener_removed_in_finally_keeps_double_quotes_four_spaces_and_no_semicolons() {
    check(
        Language::JavaScript,
        Site::Function("(chunk) =>"),
        FixKind::RemoveListener,
        r#"import { feed } from "./feed.js"

export async function stream(job) {
    try {
        feed.on("chunk", (chunk) => {
            job.write(chunk)
        })
        await job.done
    } finally {
        job.close()
    }
}
"#,
        r#"* RemoveListener: Remove the `chunk` listener in `finally`
  Once: Listen to `chunk` only once
---
import { feed } from "./feed.js"

export async function stream(job) {
    const onChunk = (chunk) => {
        job.write(chunk)
    }
    try {
        feed.on("chunk", onChunk)
        await job.done
    } finally {
        job.close()
        feed.removeListener("chunk", onChunk)
    }
}
"#,
    );
}

#[test]
fn listener_removed_in_an_existing_finish_handler() {
    check(
        Language::JavaScript,
        Site::Function("(tick) =>"),
        FixKind::RemoveListener,
        r#"const clock = new EventEmitter();
function watch(req, res) {
  res.on('finish', () => {
    log('done');
  });
  clock.prependListener('tick', (tick) => res.write(String(tick)));
}
"#,
        r#"* RemoveListener: Remove the `tick` listener when `res` emits `finish`
  Once: Listen to `tick` only once
---
const clock = new EventEmitter();
function watch(req, res) {
  res.on('finish', () => {
    log('done');
    clock.removeListener('tick', onTick);
  });
  const onTick = (tick) => res.write(String(tick));
  clock.prependListener('tick', onTick);
}
"#,
    );
}

#[test]
fn listener_removed_in_a_returned_cleanup() {
    check(
        Language::JavaScript,
        Site::Function("(state) =>"),
        FixKind::RemoveListener,
        r#"const store = new EventEmitter();
export function subscribe(view) {
  store.on(`change`, (state) => view.render(state));
  return () => {
    view.detach();
  };
}
"#,
        r#"* RemoveListener: Remove the `change` listener in the returned cleanup
  Once: Listen to `change` only once
---
const store = new EventEmitter();
export function subscribe(view) {
  const onChange = (state) => view.render(state);
  store.on(`change`, onChange);
  return () => {
    view.detach();
    store.removeListener(`change`, onChange);
  };
}
"#,
    );
}

#[test]
fn without_a_cleanup_point_a_disposer_is_returned() {
    check(
        Language::JavaScript,
        Site::Function("(user) =>"),
        FixKind::ReturnDisposer,
        r#"const events = new EventEmitter();
function follow(panel) {
  events.on('login', (user) => {
    panel.show(user);
  });
  panel.ready = true;
}
"#,
        r#"* ReturnDisposer: Return a disposer that removes the `login` listener
  Once: Listen to `login` only once
---
const events = new EventEmitter();
function follow(panel) {
  const onLogin = (user) => {
    panel.show(user);
  };
  events.on('login', onLogin);
  panel.ready = true;
  return () => events.removeListener('login', onLogin);
}
"#,
    );
}

#[test]
fn once_instead_of_on() {
    check(
        Language::JavaScript,
        Site::Function("(user) =>"),
        FixKind::Once,
        r#"const events = new EventEmitter();
function follow(panel) {
  events.on('login', (user) => {
    panel.show(user);
  });
  return panel;
}
"#,
        r#"  Once: Listen to `login` only once
---
const events = new EventEmitter();
function follow(panel) {
  events.once('login', (user) => {
    panel.show(user);
  });
  return panel;
}
"#,
    );
}

#[test]
fn event_target_listener_gets_an_abort_signal() {
    check(
        Language::JavaScript,
        Site::Function("() =>"),
        FixKind::AbortSignal,
        r#"const shutdown = new AbortController();
async function handleExport(req, res) {
  const job = createJob();
  shutdown.signal.addEventListener('abort', () => {
    job.cancelled = true;
  });
  await render(job);
}
"#,
        r#"* AbortSignal: Pass an `AbortSignal` and abort it when `res` closes (removes the `abort` listener)
  RemoveListener: Remove the `abort` listener when `res` closes
---
const shutdown = new AbortController();
async function handleExport(req, res) {
  const job = createJob();
  const listenerController = new AbortController();
  shutdown.signal.addEventListener('abort', () => {
    job.cancelled = true;
  }, { signal: listenerController.signal });
  res.on('close', () => listenerController.abort());
  await render(job);
}
"#,
    );
}

#[test]
fn dropped_timer_handle_is_kept_and_cleared_in_finally() {
    check(
        Language::JavaScript,
        Site::Function("() =>"),
        FixKind::ClearTimer,
        r#"async function run(task) {
  try {
    setInterval(() => task.report(), 1000);
    await task.done;
  } finally {
    task.release();
  }
}
"#,
        r#"* ClearTimer: Clear the interval in `finally`
---
async function run(task) {
  let interval;
  try {
    interval = setInterval(() => task.report(), 1000);
    await task.done;
  } finally {
    task.release();
    clearInterval(interval);
  }
}
"#,
    );
}

#[test]
fn interval_on_a_session_is_cleared_where_the_session_is_removed() {
    check(
        Language::JavaScript,
        Site::Function("() =>"),
        FixKind::ClearTimer,
        r#"const sessions = new Map();
function startSession(user) {
  const session = { id: user };
  session.heartbeat = setInterval(() => {
    session.beats++;
  }, 30_000);
  sessions.set(session.id, session);
  return session;
}
function endSession(id) {
  const session = sessions.get(id);
  if (!session) return false;
  sessions.delete(id);
  return true;
}
"#,
        r#"* ClearTimer: Clear the interval where `session` is removed from `sessions`
---
const sessions = new Map();
function startSession(user) {
  const session = { id: user };
  session.heartbeat = setInterval(() => {
    session.beats++;
  }, 30_000);
  sessions.set(session.id, session);
  return session;
}
function endSession(id) {
  const session = sessions.get(id);
  if (!session) return false;
  clearInterval(session.heartbeat);
  sessions.delete(id);
  return true;
}
"#,
    );
}

#[test]
fn module_cache_is_bounded() {
    check(
        Language::JavaScript,
        Site::Collection("cache", "cache.set("),
        FixKind::BoundCache,
        r#"const cache = new Map();
function getCard(url) {
  const key = url.pathname + url.search;
  let card = cache.get(key);
  if (!card) {
    card = build(url);
    cache.set(key, card);
  }
  return card;
}
"#,
        r#"* BoundCache: Bound `cache` to 100 entries, evicting the oldest
---
const cache = new Map();
function getCard(url) {
  const key = url.pathname + url.search;
  let card = cache.get(key);
  if (!card) {
    card = build(url);
    cache.set(key, card);
    if (cache.size > 100) cache.delete(cache.keys().next().value);
  }
  return card;
}
"#,
    );
}

#[test]
fn queued_closures_are_bounded() {
    check(
        Language::JavaScript,
        Site::Function("() =>"),
        FixKind::BoundCache,
        r#"const retryQueue = [];
function accept(ctx) {
  try {
    deliver(ctx);
  } catch (err) {
    retryQueue.push(() => deliver(ctx));
  }
}
"#,
        r#"* BoundCache: Bound `retryQueue` to 100 entries, evicting the oldest
---
const retryQueue = [];
function accept(ctx) {
  try {
    deliver(ctx);
  } catch (err) {
    retryQueue.push(() => deliver(ctx));
    if (retryQueue.length > 100) retryQueue.shift();
  }
}
"#,
    );
}

#[test]
fn set_entry_is_deleted_when_the_request_closes() {
    check(
        Language::JavaScript,
        Site::Collection("active", "active.add("),
        FixKind::DeleteEntry,
        r#"const active = new Set();
function handle(req, res) {
  const id = req.headers['x-id'];
  active.add(id);
  res.end(String(active.size));
}
"#,
        r#"* DeleteEntry: Delete the entry from `active` when `res` closes
  BoundCache: Bound `active` to 100 entries, evicting the oldest
---
const active = new Set();
function handle(req, res) {
  const id = req.headers['x-id'];
  active.add(id);
  res.on('close', () => active.delete(id));
  res.end(String(active.size));
}
"#,
    );
}

#[test]
fn map_keyed_by_request_becomes_a_weak_map() {
    check(
        Language::JavaScript,
        Site::Collection("timing", "timing.set("),
        FixKind::WeakMap,
        r#"const timing = new Map();
function handle(req, res) {
  timing.set(req, { at: Date.now() });
  res.end();
}
"#,
        r#"* WeakMap: Use a `WeakMap`: entries go away with their keys
  BoundCache: Bound `timing` to 100 entries, evicting the oldest
  DeleteEntry: Delete the entry from `timing` when `res` closes
---
const timing = new WeakMap();
function handle(req, res) {
  timing.set(req, { at: Date.now() });
  res.end();
}
"#,
    );
}

#[test]
fn a_map_whose_size_is_read_is_not_made_weak() {
    check(
        Language::JavaScript,
        Site::Collection("timing", "timing.set("),
        FixKind::WeakMap,
        r#"const timing = new Map();
function handle(req, res) {
  timing.set(req, { at: Date.now() });
  res.end(String(timing.size));
}
"#,
        r#"* BoundCache: Bound `timing` to 100 entries, evicting the oldest
  DeleteEntry: Delete the entry from `timing` when `res` closes
---
(not offered)"#,
    );
}

#[test]
fn a_fix_that_would_not_parse_is_dropped() {
    // Hoisting the handler into a `const` under a brace-less `if` is a syntax error: only `once` remains.
    check(
        Language::JavaScript,
        Site::Function("(x) =>"),
        FixKind::RemoveListener,
        r#"const bus = new EventEmitter();
function maybe(flag, res) {
  if (flag) bus.on('data', (x) => res.write(x));
  else res.end();
}
"#,
        r#"  Once: Listen to `data` only once
---
(not offered)"#,
    );
}

#[test]
fn module_scope_registration_and_promises_get_no_fix() {
    check(
        Language::JavaScript,
        Site::Function("(cfg) =>"),
        FixKind::RemoveListener,
        r#"const bus = new EventEmitter();
bus.on('config', (cfg) => apply(cfg));
"#,
        r#"  Once: Listen to `config` only once
---
(not offered)"#,
    );
    check(
        Language::JavaScript,
        Site::Function("() =>"),
        FixKind::RemoveListener,
        r#"function defer(ctx) {
  ready.then(() => {
    ctx.done = true;
  });
}
"#,
        r#"---
(not offered)"#,
    );
}

#[test]
fn typescript_listener_keeps_its_types() {
    check(
        Language::TypeScript,
        Site::Function("(member: Member) =>"),
        FixKind::RemoveListener,
        r#"function handleWatch(res: ServerResponse, watcher: Watcher): void {
  hub.events.on('presence', (member: Member) => {
    watcher.seen++;
  });
  sendJson(res, 200, { id: watcher.id });
}
"#,
        r#"* RemoveListener: Remove the `presence` listener when `res` closes
  Once: Listen to `presence` only once
---
function handleWatch(res: ServerResponse, watcher: Watcher): void {
  const onPresence = (member: Member) => {
    watcher.seen++;
  };
  hub.events.on('presence', onPresence);
  res.on('close', () => hub.events.removeListener('presence', onPresence));
  sendJson(res, 200, { id: watcher.id });
}
"#,
    );
}

#[test]
fn listener_in_a_class_is_removed_in_its_stop_method() {
    check(
        Language::JavaScript,
        Site::Function("(price) =>"),
        FixKind::RemoveListener,
        r#"const market = new EventEmitter();
class Ticker {
  start() {
    market.on('price', (price) => {
      this.last = price;
    });
  }

  stop() {
    this.running = false;
  }
}
"#,
        r#"* RemoveListener: Remove the `price` listener in `stop()`
  Once: Listen to `price` only once
---
const market = new EventEmitter();
class Ticker {
  start() {
    this.onPrice = (price) => {
      this.last = price;
    };
    market.on('price', this.onPrice);
  }

  stop() {
    this.running = false;
    market.removeListener('price', this.onPrice);
  }
}
"#,
    );
}

#[test]
fn timer_in_a_class_is_cleared_in_its_dispose_method() {
    check(
        Language::JavaScript,
        Site::Function("() =>"),
        FixKind::ClearTimer,
        r#"class Poller {
  constructor(source) {
    this.source = source;
    setInterval(() => this.source.poll(), 500);
  }

  dispose() {}
}
"#,
        r#"* ClearTimer: Clear the interval in `dispose()`
---
class Poller {
  constructor(source) {
    this.source = source;
    this.interval = setInterval(() => this.source.poll(), 500);
  }

  dispose() {
    clearInterval(this.interval);
  }
}
"#,
    );
}

#[test]
fn a_comment_in_the_cleanup_block_is_kept() {
    check(
        Language::JavaScript,
        Site::Function("(row) =>"),
        FixKind::RemoveListener,
        r#"const db = new EventEmitter();
async function exportRows(out) {
  try {
    db.on('row', (row) => out.write(row));
    await db.query();
  } finally {
    // nothing to release yet
  }
}
"#,
        r#"* RemoveListener: Remove the `row` listener in `finally`
  Once: Listen to `row` only once
---
const db = new EventEmitter();
async function exportRows(out) {
  const onRow = (row) => out.write(row);
  try {
    db.on('row', onRow);
    await db.query();
  } finally {
    // nothing to release yet
    db.removeListener('row', onRow);
  }
}
"#,
    );
}

#[test]
fn new_close_handler_follows_double_quotes_and_tabs() {
    check(
        Language::JavaScript,
        Site::Function("(msg) =>"),
        FixKind::RemoveListener,
        "const hub = new EventEmitter();\nfunction relay(req, res) {\n\thub.on(\"msg\", (msg) => {\n\t\tres.write(msg);\n\t});\n}\n",
        r#"* RemoveListener: Remove the `msg` listener when `res` closes
  Once: Listen to `msg` only once
---
const hub = new EventEmitter();
function relay(req, res) {
	const onMsg = (msg) => {
		res.write(msg);
	};
	hub.on("msg", onMsg);
	res.on("close", () => hub.removeListener("msg", onMsg));
}
"#,
    );
}

#[test]
fn subscription_is_unsubscribed_when_the_response_closes() {
    check(
        Language::JavaScript,
        Site::Function("(price) =>"),
        FixKind::ReleaseHandle,
        r#"const prices = new Subject();
function follow(req, res) {
  const view = open(req);
  prices.pipe(filter((p) => p.symbol === view.symbol)).subscribe((price) => {
    view.last = price;
  });
  send(res, view);
}
"#,
        r#"* ReleaseHandle: Unsubscribe when `res` closes
---
const prices = new Subject();
function follow(req, res) {
  const view = open(req);
  const subscription = prices.pipe(filter((p) => p.symbol === view.symbol)).subscribe((price) => {
    view.last = price;
  });
  res.on('close', () => subscription.unsubscribe());
  send(res, view);
}
"#,
    );
}

#[test]
fn interceptor_is_ejected_in_finally_keeping_double_quotes_and_no_semicolons() {
    check(
        Language::JavaScript,
        Site::Function("(response) =>"),
        FixKind::ReleaseHandle,
        r#"import { api } from "./api.js"

export async function report(job) {
    try {
        api.interceptors.response.use((response) => {
            job.seen.push(response.status)
            return response
        })
        await api.get("/report")
    } finally {
        job.close()
    }
}
"#,
        r#"* ReleaseHandle: Eject the interceptor in `finally`
---
import { api } from "./api.js"

export async function report(job) {
    let interceptor
    try {
        interceptor = api.interceptors.response.use((response) => {
            job.seen.push(response.status)
            return response
        })
        await api.get("/report")
    } finally {
        job.close()
        api.interceptors.response.eject(interceptor)
    }
}
"#,
    );
}

#[test]
fn subscription_in_a_class_is_unsubscribed_in_its_dispose_method() {
    check(
        Language::JavaScript,
        Site::Function("(tick) =>"),
        FixKind::ReleaseHandle,
        r#"class Panel {
  start() {
    clock.subscribe((tick) => {
      this.render(tick);
    });
  }

  dispose() {}
}
"#,
        r#"* ReleaseHandle: Unsubscribe in `dispose()`
---
class Panel {
  start() {
    this.subscription = clock.subscribe((tick) => {
      this.render(tick);
    });
  }

  dispose() {
    this.subscription?.unsubscribe();
  }
}
"#,
    );
}

#[test]
fn a_handle_already_kept_returned_or_awaited_gets_no_fix() {
    for before in [
        "const feed = new Subject();\nfunction watch(req, res) {\n  const sub = feed.subscribe((x) => res.write(x));\n  res.on('close', () => sub.unsubscribe());\n}\n",
        "const feed = new Subject();\nfunction watch(req, res) {\n  return feed.subscribe((x) => res.write(x));\n}\n",
        "async function handle(req, res) {\n  state.id = api.interceptors.request.use((x) => stamp(x, req));\n  res.end();\n}\n",
        "async function handle(req, res) {\n  await api.interceptors.request.use((x) => stamp(x, req));\n  res.end();\n}\n",
    ] {
        check(
            Language::JavaScript,
            Site::Function("(x) =>"),
            FixKind::ReleaseHandle,
            before,
            "---\n(not offered)",
        );
    }
}

#[test]
fn no_end_of_the_scopes_life_no_release() {
    // No `res`, `finally`, returned cleanup or `dispose()`: unsubscribing anywhere in the
    // function would end the subscription at once.
    check(
        Language::JavaScript,
        Site::Function("(x) =>"),
        FixKind::ReleaseHandle,
        r#"const feed = new Subject();
function watch(view) {
  feed.subscribe((x) => view.update(x));
  view.ready = true;
}
"#,
        "---\n(not offered)",
    );
    // Other `use` calls return no handle to eject: `app.use(fn)` is not an interceptor.
    check(
        Language::JavaScript,
        Site::Function("(x) =>"),
        FixKind::ReleaseHandle,
        r#"function mount(req, res) {
  app.use((x) => res.write(x));
}
"#,
        "---\n(not offered)",
    );
}

/// A real fixture app's file: the site registering the function that starts at the last
/// `needle` on 1-based `line` (where V8 places it), what kind of site it is, the fixes offered,
/// and the fix of `kind` as a unified diff of the file. The same call reached through its
/// holder's binding (the placement of a library's structure without allocation stacks) must
/// be the same kind of site and get the same fixes.
fn check_fixture(
    app: &str,
    file_name: &str,
    line: u32,
    needle: &str,
    holder: &str,
    kind: FixKind,
    expected: &str,
) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(app)
        .join(file_name);
    let language = Language::from_path(&path).unwrap();
    let file = ParsedFile::parse(std::fs::read_to_string(&path).unwrap(), language);
    let line = line - 1;
    let line_text = file.index().line_text(line).unwrap();
    let column = line_text[..line_text.rfind(needle).unwrap()]
        .encode_utf16()
        .count() as u32;
    let site = call_site_at_function(&file, line, column).unwrap();
    let offered = fixes(&file, &site);
    let through_holder = binding_calls(&file, holder)
        .into_iter()
        .map(|(site, _)| site)
        .find(|other| other.call == site.call)
        .unwrap();
    assert_eq!(through_holder.kind, site.kind, "{app}: through `{holder}`");
    assert_eq!(
        fixes(&file, &through_holder),
        offered,
        "{app}: through `{holder}`"
    );
    let mut out = format!(
        "site: {:?} `{}` on `{}`\n",
        site.kind,
        site.method,
        site.receiver.as_deref().unwrap_or("")
    );
    for fix in &offered {
        let star = if fix.preferred { "*" } else { " " };
        out.push_str(&format!("{star} {:?}: {}\n", fix.kind, fix.title));
    }
    out.push_str("---\n");
    match offered.iter().find(|fix| fix.kind == kind) {
        Some(fix) => {
            let after = apply_edits(file.text(), &fix.edits).unwrap();
            let reparsed = ParsedFile::parse(after.clone(), language);
            assert_eq!(reparsed.error_count(), 0, "{app}: does not parse:\n{after}");
            let diff = similar::TextDiff::from_lines(file.text(), &after);
            out.push_str(
                &diff
                    .unified_diff()
                    .context_radius(1)
                    .header(file_name, file_name)
                    .to_string(),
            );
        }
        None => out.push_str("(not offered)"),
    }
    assert_eq!(out, expected, "\n=== got ===\n{out}");
}

#[test]
fn rxjs_fixture_subscription_is_unsubscribed_when_the_response_closes() {
    check_fixture(
        "rxjs-subject-leak",
        "main.mjs",
        32,
        "(change) =>",
        "statusChanges",
        FixKind::ReleaseHandle,
        r#"site: Registration `subscribe` on `statusChanges.pipe(filter((change) => change.orderId === orderId))`
* ReleaseHandle: Unsubscribe when `res` closes
---
--- main.mjs
+++ main.mjs
@@ -31,3 +31,3 @@
   const view = openView(orderId, req.headers['user-agent'] || 'unknown');
-  statusChanges.pipe(filter((change) => change.orderId === orderId)).subscribe((change) => {
+  const subscription = statusChanges.pipe(filter((change) => change.orderId === orderId)).subscribe((change) => {
     view.status = change.status;
@@ -35,2 +35,3 @@
   });
+  res.on('close', () => subscription.unsubscribe());
   send(res, 200, { order: orderId, status: view.status, steps: view.timeline.length });
"#,
    );
}

#[test]
fn axios_fixture_interceptor_is_ejected_when_the_response_closes() {
    check_fixture(
        "axios-interceptor-leak",
        "main.js",
        40,
        "(config) =>",
        "billingApi",
        FixKind::ReleaseHandle,
        r#"site: Registration `use` on `billingApi.interceptors.request`
* ReleaseHandle: Eject the interceptor when `res` closes
---
--- main.js
+++ main.js
@@ -39,3 +39,3 @@
   const session = openSession(req, id);
-  billingApi.interceptors.request.use((config) => {
+  const interceptor = billingApi.interceptors.request.use((config) => {
     config.headers['x-tenant'] = session.tenant;
@@ -44,2 +44,3 @@
   });
+  res.on('close', () => billingApi.interceptors.request.eject(interceptor));
   let invoice = invoices.get(id);
"#,
    );
}
