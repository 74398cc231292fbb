//! A real S3-compatible server for the object storage tests: moto's server mode, installed
//! from PyPI into `target/s3-server` by `tests/setup.sh`, started once per test binary on a
//! free loopback port, with boto3 (from the same place) as an independent client to see
//! what reached a bucket. Every test uses a bucket of its own.
//!
//! moto is started under a `sh` that waits on a pipe from this process and stops it when
//! the pipe closes: a test binary's statics are never dropped, and a server left running
//! after every `cargo test` would pile up.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::repo_root;

/// The credentials and region the server is used with (moto accepts any).
pub const ACCESS_KEY_ID: &str = "heapsight-test";
/// See [`ACCESS_KEY_ID`].
pub const SECRET_ACCESS_KEY: &str = "heapsight-test";
/// See [`ACCESS_KEY_ID`].
pub const REGION: &str = "us-east-1";

/// The running server: its address, and the `sh` holding it, whose stdin (a pipe from this
/// process) stops it when it closes.
struct S3Server {
    endpoint: String,
    _sh: Mutex<Child>,
}

/// The virtual environment's `bin` folder (moto_server, python with boto3).
pub fn venv() -> PathBuf {
    repo_root().join("target/s3-server/bin")
}

/// The server's `http://127.0.0.1:PORT`, started on the first call.
pub fn endpoint() -> &'static str {
    static SERVER: OnceLock<S3Server> = OnceLock::new();
    &SERVER.get_or_init(|| start(false)).endpoint
}

/// A second server on `https://127.0.0.1:PORT`, with a certificate of its own that no CA
/// signed, started on the first call.
pub fn tls_endpoint() -> &'static str {
    static SERVER: OnceLock<S3Server> = OnceLock::new();
    &SERVER.get_or_init(|| start(true)).endpoint
}

fn start(tls: bool) -> S3Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let moto = venv().join("moto_server");
    assert!(
        moto.exists(),
        "{} is missing: run tests/setup.sh",
        moto.display()
    );
    // The background job's stdin is /dev/null; `read` returns when this process's end of the
    // pipe closes, at its exit whatever the way.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(r#""$0" "$@" & moto=$!; read -r _; kill "$moto""#)
        .arg(&moto)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .args(tls.then_some("--ssl"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto_server");
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "moto did not start listening");
        assert!(
            child.try_wait().ok().flatten().is_none(),
            "moto_server exited"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let scheme = if tls { "https" } else { "http" };
    S3Server {
        endpoint: format!("{scheme}://127.0.0.1:{port}"),
        _sh: Mutex::new(child),
    }
}

/// The environment a heapsight uses the server with: endpoint, credentials and region.
pub fn env() -> [(&'static str, String); 4] {
    [
        ("AWS_ENDPOINT_URL", endpoint().to_owned()),
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID.to_owned()),
        ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY.to_owned()),
        ("AWS_REGION", REGION.to_owned()),
    ]
}

/// Sets [`env`] on `command`.
pub fn configure(command: &mut Command) -> &mut Command {
    command.envs(env())
}

/// Runs `code` under boto3 with `s3`, a client of the server, and `bucket`; returns what it
/// prints as JSON.
pub fn boto3(bucket: &str, code: &str) -> Value {
    let program = format!(
        "import boto3, json\n\
         s3 = boto3.client('s3', endpoint_url='{}', aws_access_key_id='x', aws_secret_access_key='y', region_name='{REGION}')\n\
         bucket = '{bucket}'\n{code}",
        endpoint()
    );
    let out = Command::new(venv().join("python"))
        .args(["-c", &program])
        .stdin(Stdio::null())
        .output()
        .expect("run the venv's python");
    assert!(
        out.status.success(),
        "boto3: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("boto3 printed JSON")
}

/// Creates `bucket`.
pub fn create_bucket(bucket: &str) {
    boto3(bucket, "s3.create_bucket(Bucket=bucket)\nprint('null')");
}

/// The bucket's objects, `key size` each, sorted.
pub fn objects(bucket: &str) -> Vec<String> {
    let listed = boto3(
        bucket,
        "print(json.dumps(sorted(f\"{o['Key']} {o['Size']}\" for o in s3.list_objects_v2(Bucket=bucket).get('Contents', []))))",
    );
    serde_json::from_value(listed).expect("a list of strings")
}

/// The bucket's keys, sorted.
pub fn keys(bucket: &str) -> Vec<String> {
    objects(bucket)
        .iter()
        .map(|o| o.rsplit_once(' ').map_or(o.as_str(), |(k, _)| k).to_owned())
        .collect()
}

/// The keys of the bucket's multipart uploads still open.
pub fn open_uploads(bucket: &str) -> Vec<String> {
    let listed = boto3(
        bucket,
        "print(json.dumps(sorted(u['Key'] for u in s3.list_multipart_uploads(Bucket=bucket).get('Uploads', []))))",
    );
    serde_json::from_value(listed).expect("a list of strings")
}

/// The object `key` of `bucket`, parsed as JSON.
pub fn json_object(bucket: &str, key: &str) -> Value {
    boto3(
        bucket,
        &format!("print(s3.get_object(Bucket=bucket, Key='{key}')['Body'].read().decode())"),
    )
}
