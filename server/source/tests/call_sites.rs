//! Call sites from function positions, on fixture strings with the expectation marked inline.
//!
//! A marker line is a comment under a code line: `@` marks the function position V8 reports
//! (column in UTF-16 units), `^^^` underlines the expected callee and is followed by the
//! expected description of the site.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use heapsight_source::{call_site_at_function, CallSite, Language, ParsedFile};

struct Markers {
    function: (u32, u32),
    underline: (u32, u32, u32),
    expected: String,
}

fn is_marker(line: &str) -> bool {
    let trimmed = line.trim_start();
    trimmed.starts_with("//") && {
        let rest = trimmed[2..].trim_start();
        rest.starts_with('@') || rest.starts_with('^')
    }
}

fn markers(source: &str) -> Markers {
    let lines: Vec<&str> = source.split('\n').collect();
    let mut function = None;
    let mut underline = None;
    let mut expected = String::new();
    for (index, line) in lines.iter().enumerate() {
        if !is_marker(line) {
            continue;
        }
        let target = (0..index).rev().find(|at| !is_marker(lines[*at])).unwrap() as u32;
        let utf16_column = |byte: usize| {
            // Marker lines are ASCII; the code line above may not be: count UTF-16 units up to
            // the same *character* column of the code line.
            let chars = line[..byte].chars().count();
            lines[target as usize]
                .chars()
                .take(chars)
                .map(char::len_utf16)
                .sum::<usize>() as u32
        };
        if let Some(at) = line.find('@') {
            function = Some((target, utf16_column(at)));
        }
        if let Some(start) = line.find('^') {
            let end = start + line[start..].chars().take_while(|ch| *ch == '^').count();
            underline = Some((target, utf16_column(start), utf16_column(end)));
            expected = line[end..].trim().to_owned();
        }
    }
    Markers {
        function: function.expect("a `@` marker"),
        underline: underline.expect("a `^^^` marker"),
        expected,
    }
}

fn describe(file: &ParsedFile, site: &CallSite) -> String {
    let first_line = |range: heapsight_source::TextRange| {
        let text = &file.text()[range.start..range.end];
        text.split('\n').next().unwrap().trim().to_owned()
    };
    let line_of = |offset: usize| file.index().position_utf16(offset).0 + 1;
    let mut out = format!("{:?}", site.kind).to_lowercase();
    out.push_str(&format!(" {}", site.receiver.as_deref().unwrap_or("-")));
    out.push_str(match site.receiver_long_lived {
        Some(true) => " long",
        Some(false) => " short",
        None => " ?",
    });
    out.push_str(&format!(" .{}", site.method));
    if let Some(event) = &site.event {
        out.push_str(&format!(" '{event}'"));
    }
    if let Some(handler) = site.handler {
        out.push_str(&format!(" handler=`{}`", first_line(handler)));
    }
    if let Some(declaration) = site.handler_declaration {
        out.push_str(&format!(" decl=L{}", line_of(declaration.start)));
    }
    if let Some(function) = site.enclosing_function {
        out.push_str(&format!(" in=L{}", line_of(function.start)));
    }
    out
}

fn check(language: Language, source: &str) {
    let marks = markers(source);
    let file = ParsedFile::parse(source.to_owned(), language);
    assert_eq!(file.error_count(), 0, "fixture does not parse:\n{source}");
    let (line, column) = marks.function;
    let site = call_site_at_function(&file, line, column)
        .unwrap_or_else(|| panic!("no call site for function at {line}:{column} in\n{source}"));
    let (underline_line, start, end) = marks.underline;
    let got_start = file.index().position_utf16(site.underline.start);
    let got_end = file.index().position_utf16(site.underline.end);
    let statement_line = file.index().position_utf16(site.statement.start).0;
    let got = format!(
        "underline {}:{}-{} statement L{} {}",
        got_start.0 + 1,
        got_start.1,
        got_end.1,
        statement_line + 1,
        describe(&file, &site)
    );
    let want = format!(
        "underline {}:{}-{} statement L{} {}",
        underline_line + 1,
        start,
        end,
        underline_line + 1,
        marks.expected
    );
    assert_eq!(got, want, "in\n{source}");
}

#[test]
fn inline_arrow_handler_on_a_module_emitter() {
    check(
        Language::JavaScript,
        r#"const bus = new EventEmitter();
function handleQuotes(req, res) {
  const session = open(req);
  bus.on('data', (quote) => {
//               @
//^^^^^^ listener bus long .on 'data' handler=`(quote) => {` in=L2
    session.updates++;
  });
}
"#,
    );
}

#[test]
fn unparenthesized_and_async_arrows() {
    check(
        Language::JavaScript,
        r#"const bus = new EventEmitter();
function watch() {
  bus.on('tick', tick => console.log(tick));
//               @
//^^^^^^ listener bus long .on 'tick' handler=`tick => console.log(tick)` in=L2
}
"#,
    );
    check(
        Language::JavaScript,
        r#"function watch(emitter) {
  emitter.once("ready", async (info) => {
//                      @
//^^^^^^^^^^^^ listener emitter short .once 'ready' handler=`async (info) => {` in=L1
    await info.load();
  });
}
"#,
    );
}

#[test]
fn position_after_non_ascii_text_on_the_same_line() {
    check(
        Language::JavaScript,
        r#"const bus = new EventEmitter();
function greet() {
  const label = '日本😀'; bus.on(`greet:${label}`, function (who) { return who; });
//                                                       @
//                     ^^^^^^ listener bus long .on 'greet:${label}' handler=`function (who) { return who; }` in=L2
}
"#,
    );
}

#[test]
fn handler_passed_by_name() {
    check(
        Language::JavaScript,
        r#"function onData(chunk) {
//             @
  console.log(chunk);
}
function attach() {
  process.stdin.on('data', onData);
//^^^^^^^^^^^^^^^^ listener process.stdin long .on 'data' handler=`onData` decl=L1 in=L5
}
"#,
    );
    check(
        Language::JavaScript,
        r#"import { bus } from './bus.js';
export function attach(session) {
  const onQuote = (quote) => {
//                @
    session.last = quote;
  };
  bus.addListener('quote', onQuote);
//^^^^^^^^^^^^^^^ listener bus long .addListener 'quote' handler=`onQuote` decl=L3 in=L2
}
"#,
    );
}

#[test]
fn handler_made_by_a_factory() {
    check(
        Language::JavaScript,
        r#"const bus = new EventEmitter();
function makeHandler(ctx) {
  return (event) => {
//       @
    ctx.count++;
  };
}
function attach(ctx) {
  bus.on('x', makeHandler(ctx));
//^^^^^^ listener bus long .on 'x' handler=`makeHandler(ctx)` decl=L2 in=L8
}
"#,
    );
}

#[test]
fn bound_method_of_a_singleton() {
    check(
        Language::JavaScript,
        r#"class Ticker {
  start() {
    this.timer = setInterval(this.onTick.bind(this), 1000);
//               ^^^^^^^^^^^ timer - ? .setInterval handler=`this.onTick.bind(this)` decl=L7 in=L2
  }

  onTick() {
//      @
    this.count++;
  }
}
const ticker = new Ticker();
"#,
    );
    check(
        Language::JavaScript,
        r#"class Feed {
  constructor(hub) {
    this.hub = hub;
  }
  attach() {
    this.hub.on('item', this.onItem.bind(this));
//  ^^^^^^^^^^^ listener this.hub long .on 'item' handler=`this.onItem.bind(this)` decl=L9 in=L5
  }
  onItem(item) {
//      @
    this.last = item;
  }
}
export default new Feed(globalThis.hub);
"#,
    );
}

#[test]
fn timers_kept_on_an_object_and_dropped() {
    check(
        Language::JavaScript,
        r#"function startSession(user) {
  const session = { user };
  session.heartbeat = setInterval(() => {
//                                @
//                    ^^^^^^^^^^^ timer - ? .setInterval handler=`() => {` in=L1
    session.beats++;
  }, 30_000);
  return session;
}
"#,
    );
    check(
        Language::JavaScript,
        r#"function poll() {
  globalThis.setTimeout(function retry() { poll(); }, 10);
//                                   @
//^^^^^^^^^^^^^^^^^^^^^ timer globalThis long .setTimeout handler=`function retry() { poll(); }` in=L1
}
"#,
    );
}

#[test]
fn registrations_with_queues_promises_and_routers() {
    check(
        Language::JavaScript,
        r#"const retryQueue = [];
function accept(ctx) {
  try {
    deliver(ctx);
  } catch (err) {
    retryQueue.push(() => {
//                  @
//  ^^^^^^^^^^^^^^^ registration retryQueue long .push handler=`() => {` in=L2
      deliver(ctx);
    });
  }
}
"#,
    );
    check(
        Language::JavaScript,
        r#"const configReady = new Promise(() => {});
function deferExposure(ctx) {
  configReady.then(() => {
//                 @
//^^^^^^^^^^^^^^^^ registration configReady long .then handler=`() => {` in=L2
    ctx.flags = 1;
  });
}
"#,
    );
    check(
        Language::JavaScript,
        r#"const { Router } = require('tiny-router');
const router = new Router();
router.get('/track/:id', (req, res) => {
  router.get(`/status/${req.params.id}`, (req2, res2) => {
//                                       @
//^^^^^^^^^^ registration router long .get handler=`(req2, res2) => {` in=L3
    res2.end('ok');
  });
});
"#,
    );
}

#[test]
fn event_target_and_local_receivers() {
    check(
        Language::JavaScript,
        r#"const shutdown = new AbortController();
async function handleExport(req, res) {
  shutdown.signal.addEventListener('abort', () => {
//                                          @
//^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ listener shutdown.signal long .addEventListener 'abort' handler=`() => {` in=L2
    res.destroy();
  });
}
"#,
    );
    check(
        Language::JavaScript,
        r#"function readBody(req) {
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
//               @
//^^^^^^ listener req short .on 'data' handler=`(chunk) => chunks.push(chunk)` in=L1
}
"#,
    );
}

#[test]
fn class_positions_constructor_paren_and_class_keyword() {
    check(
        Language::JavaScript,
        r#"const registry = new Map();
function register(name) {
  registry.set(name, class Plugin {
//                   @
//^^^^^^^^^^^^ registration registry long .set handler=`class Plugin {` in=L2
    constructor() {}
  });
}
"#,
    );
    check(
        Language::JavaScript,
        r#"const registry = new Map();
function register(name) {
  registry.set(name, class Plugin {
//^^^^^^^^^^^^ registration registry long .set handler=`class Plugin {` in=L2
    constructor(options) { this.options = options; }
//             @
  });
}
"#,
    );
}

#[test]
fn typescript_with_type_annotations() {
    check(
        Language::TypeScript,
        r#"import { EventEmitter } from 'node:events';
interface Member { room: string }
const hub = { events: new EventEmitter() };
function handleWatch(res: unknown, room: string): void {
  hub.events.on('presence', (member: Member) => {
//                          @
//^^^^^^^^^^^^^ listener hub.events long .on 'presence' handler=`(member: Member) => {` in=L4
    if (member.room !== room) return;
  });
}
"#,
    );
}

#[test]
fn unresolvable_functions_give_no_site_and_never_hang() {
    let cases = [
        // A factory that calls itself: the walk is bounded.
        "function loop() {\n  return loop() || ((x) => x);\n}\n",
        // A function that is only called, never kept.
        "function run() {\n  [1, 2].forEach;\n  const f = (y) => y;\n  f(1);\n}\n",
        // Not JavaScript at all.
        "}}} ((( =>",
    ];
    for source in cases {
        let file = ParsedFile::parse(source.to_owned(), Language::JavaScript);
        for line in 0..3 {
            for column in 0..30 {
                let found = call_site_at_function(&file, line, column);
                assert!(found.is_none(), "{source:?} {line}:{column} -> {found:?}");
            }
        }
    }
}

#[test]
fn method_handed_over_from_outside_its_class() {
    check(
        Language::JavaScript,
        r#"class Ticker {
  onTick(now) {
//      @
    this.last = now;
  }
}
function start(clock) {
  const ticker = new Ticker();
  clock.on('tick', ticker.onTick.bind(ticker));
//^^^^^^^^ listener clock short .on 'tick' handler=`ticker.onTick.bind(ticker)` decl=L2 in=L7
}
"#,
    );
}
