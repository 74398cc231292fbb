//! Script URLs to workspace files: `file://` URLs, absolute paths, prefix mappings, automatic
//! suffix mapping, node internals and libraries.

use heapsight_source::{PathMapper, Resolved};
use std::path::PathBuf;

fn mapper() -> PathMapper {
    PathMapper::new(
        PathBuf::from("/home/dev/shop"),
        vec![("/srv/app".to_owned(), PathBuf::from("backend"))],
    )
    .with_files(vec![
        PathBuf::from("backend/src/server.js"),
        PathBuf::from("frontend/src/server.js"),
        PathBuf::from("worker/jobs/sweep.js"),
        PathBuf::from("node_modules/@acme/router/index.js"),
        PathBuf::from("main.js"),
    ])
}

fn show(resolved: &Resolved) -> String {
    match resolved {
        Resolved::Workspace(path) => format!("workspace {}", path.display()),
        Resolved::Internal => "internal".to_owned(),
        Resolved::Library { package, path } => format!("library {package} {}", path.display()),
        Resolved::Outside(path) => format!("outside {}", path.display()),
        Resolved::Unknown => "unknown".to_owned(),
    }
}

/// Each line of `cases` is `url => expected`.
fn check(cases: &str) {
    let mapper = mapper();
    for case in cases.trim().lines() {
        let (url, expected) = case.split_once(" => ").unwrap_or((case, ""));
        assert_eq!(
            show(&mapper.resolve(url.trim())),
            expected.trim(),
            "for {url}"
        );
    }
}

#[test]
fn urls_and_paths() {
    check(
        r#"
file:///home/dev/shop/worker/jobs/sweep.js => workspace /home/dev/shop/worker/jobs/sweep.js
file:///home/dev/shop/my%20dir/caf%C3%A9.js => workspace /home/dev/shop/my dir/café.js
file://localhost/home/dev/shop/a.js => workspace /home/dev/shop/a.js
/home/dev/shop/lib/../worker/x.mjs => workspace /home/dev/shop/worker/x.mjs
file://example.com/home/dev/shop/a.js => unknown
"#,
    );
}

#[test]
fn internals_libraries_and_unknowns() {
    check(
        r#"
node:events => internal
node:internal/timers => internal
internal/process/task_queues => internal
/home/dev/shop/node_modules/@acme/router/lib/layer.js => library @acme/router /home/dev/shop/node_modules/@acme/router/lib/layer.js
/home/dev/shop/node_modules/tiny-router/index.js => library tiny-router /home/dev/shop/node_modules/tiny-router/index.js
https://cdn.example/app.js => unknown
evalmachine.<anonymous> => unknown
 => unknown
"#,
    );
}

#[test]
fn mappings_and_common_suffixes() {
    check(
        r#"
/srv/app/src/server.js => workspace /home/dev/shop/backend/src/server.js
/srv/application/x.js => outside /srv/application/x.js
/container/build/worker/jobs/sweep.js => workspace /home/dev/shop/worker/jobs/sweep.js
/container/src/server.js => outside /container/src/server.js
/container/node_modules/@acme/router/index.js => library @acme/router /home/dev/shop/node_modules/@acme/router/index.js
/usr/lib/node_modules/npm/index.js => library npm /usr/lib/node_modules/npm/index.js
/app/main.js => workspace /home/dev/shop/main.js
/app/lib/sweep.js => outside /app/lib/sweep.js
"#,
    );
}
