//! Finding the inspector: parsing `ws://` URLs, the loopback-only rule, and the
//! `/json/list` discovery endpoint (one plain HTTP/1.1 GET over a TCP stream).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::error::{CaptureError, Result};

/// Where a target's inspector WebSocket lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsEndpoint {
    /// Host name or IP literal (IPv6 without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Path, starting with `/` (the target's id for Node).
    pub path: String,
}

impl WsEndpoint {
    /// Parses `ws://host:port/path`; `[v6]` hosts are accepted.
    pub fn parse(url: &str) -> Result<WsEndpoint> {
        let bad = |reason: &str| CaptureError::BadAddress {
            input: url.to_owned(),
            reason: reason.to_owned(),
        };
        let rest = url
            .trim()
            .strip_prefix("ws://")
            .ok_or_else(|| bad("expected a ws:// URL, e.g. ws://127.0.0.1:9229/<id>"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = split_host_port(authority).map_err(|r| bad(&r))?;
        let port = port.ok_or_else(|| bad("the URL has no port"))?;
        Ok(WsEndpoint {
            host,
            port,
            path: path.to_owned(),
        })
    }

    /// `host:port`, with brackets around IPv6 literals.
    pub fn authority(&self) -> String {
        authority(&self.host, self.port)
    }

    /// The full `ws://` URL.
    pub fn url(&self) -> String {
        format!("ws://{}{}", self.authority(), self.path)
    }
}

/// `host:port` with brackets around IPv6 literals.
pub(crate) fn authority(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Splits `host`, `host:port`, `[v6]` or `[v6]:port`.
fn split_host_port(authority: &str) -> Result<(String, Option<u16>), String> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let end = rest.find(']').ok_or("unclosed `[` in host")?;
        let after = &rest[end + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err(format!("unexpected `{after}` after the host")),
        };
        (&rest[..end], port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err("the host is empty".into());
    }
    let port = match port {
        Some(p) => Some(
            p.parse::<u16>()
                .map_err(|_| format!("`{p}` is not a port number"))?,
        ),
        None => None,
    };
    Ok((host.to_owned(), port))
}

/// Whether `host` can only name this machine, judged from its spelling: 127.0.0.0/8, `::1`
/// (also IPv4-mapped), `localhost` or a `*.localhost` name. Names still go through
/// [`connect`], which resolves them and refuses any address that is not loopback: a hosts
/// file or a resolver may map `localhost` elsewhere.
pub fn is_loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    if h.eq_ignore_ascii_case("localhost") || h.to_ascii_lowercase().ends_with(".localhost") {
        return true;
    }
    h.parse::<IpAddr>().is_ok_and(is_loopback_ip)
}

fn is_loopback_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        IpAddr::V4(v4) => v4.is_loopback(),
    }
}

/// Refuses a non-loopback inspector unless the user allowed it. This is the check by
/// spelling, made before any name lookup; [`connect`] checks what the name resolves to.
pub fn check_loopback(host: &str, port: u16, allow_remote: bool) -> Result<()> {
    if allow_remote || is_loopback(host) {
        Ok(())
    } else {
        Err(CaptureError::RemoteRefused {
            addr: authority(host, port),
        })
    }
}

/// The addresses `host:port` resolves to, all of them loopback unless `allow_remote`: one
/// address elsewhere refuses the lot, since the OS might pick it on the next lookup.
pub async fn resolve(host: &str, port: u16, allow_remote: bool) -> Result<Vec<SocketAddr>> {
    check_loopback(host, port, allow_remote)?;
    let addr = authority(host, port);
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let resolved: Vec<SocketAddr> = tokio::net::lookup_host((bare, port))
        .await
        .map_err(|source| CaptureError::Unreachable {
            addr: addr.clone(),
            source,
        })?
        .collect();
    only_loopback(&addr, resolved, allow_remote)
}

/// `resolved` if it is not empty and, unless `allow_remote`, every address is loopback.
fn only_loopback(
    addr: &str,
    resolved: Vec<SocketAddr>,
    allow_remote: bool,
) -> Result<Vec<SocketAddr>> {
    if resolved.is_empty() {
        return Err(CaptureError::Unreachable {
            addr: addr.to_owned(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "the name resolves to no address",
            ),
        });
    }
    if !allow_remote {
        if let Some(remote) = resolved.iter().find(|a| !is_loopback_ip(a.ip())) {
            return Err(CaptureError::RemoteRefused {
                addr: format!("{addr} (which resolves to {remote})"),
            });
        }
    }
    Ok(resolved)
}

/// Opens a TCP connection to the inspector at `host:port`, to one of the addresses
/// [`resolve`] checked: the name is not looked up again between the check and the connect.
/// Returns the address connected to, which is what requests must name: the inspector's
/// DNS-rebinding check accepts an IP or `localhost` as the `Host`, not any name.
pub async fn connect(host: &str, port: u16, allow_remote: bool) -> Result<(TcpStream, SocketAddr)> {
    let addrs = resolve(host, port, allow_remote).await?;
    let unreachable = |source| CaptureError::Unreachable {
        addr: authority(host, port),
        source,
    };
    let stream = TcpStream::connect(&addrs[..]).await.map_err(unreachable)?;
    let peer = stream.peer_addr().map_err(unreachable)?;
    Ok((stream, peer))
}

/// One entry of the inspector's `/json/list`.
#[derive(Debug, Clone, Deserialize)]
pub struct TargetInfo {
    /// The target id (also the last path segment of its WebSocket URL).
    #[serde(default)]
    pub id: String,
    /// Usually the script's path.
    #[serde(default)]
    pub title: String,
    /// `node` for Node.js.
    #[serde(default, rename = "type")]
    pub kind: String,
    /// The main script's `file://` URL.
    #[serde(default)]
    pub url: String,
    /// The URL to attach to; absent while another client holds the target (old versions).
    #[serde(default, rename = "webSocketDebuggerUrl")]
    pub websocket_url: Option<String>,
}

/// Fetches `/json/list` from the inspector at `host:port`.
pub async fn list_targets(
    host: &str,
    port: u16,
    allow_remote: bool,
    timeout: Duration,
) -> Result<Vec<TargetInfo>> {
    let addr = authority(host, port);
    let body = tokio::time::timeout(timeout, http_get(host, port, allow_remote, "/json/list"))
        .await
        .map_err(|_| CaptureError::Timeout {
            what: format!("the inspector at {addr} to answer /json/list"),
            after: timeout,
        })??;
    serde_json::from_slice(&body).map_err(|e| {
        CaptureError::Protocol(format!(
            "{addr}/json/list is not a JSON list of targets ({e}); is this a Node.js inspector port?"
        ))
    })
}

/// Finds the one target to attach to at `host:port` and returns its WebSocket endpoint,
/// always on the host and port asked (the list may name another interface).
pub async fn discover(
    host: &str,
    port: u16,
    allow_remote: bool,
    timeout: Duration,
) -> Result<WsEndpoint> {
    let targets = list_targets(host, port, allow_remote, timeout).await?;
    let target = targets
        .iter()
        .find(|t| t.kind == "node" && t.websocket_url.is_some())
        .or_else(|| targets.iter().find(|t| t.websocket_url.is_some()))
        .ok_or_else(|| CaptureError::NoTarget {
            addr: authority(host, port),
        })?;
    let listed = WsEndpoint::parse(target.websocket_url.as_deref().unwrap_or_default())?;
    Ok(WsEndpoint {
        host: host.to_owned(),
        port,
        path: listed.path,
    })
}

/// The largest `/json/list` answer we accept; real ones are a few hundred bytes.
const MAX_HTTP_BODY: usize = 1 << 20;

/// A minimal HTTP/1.1 GET: `Connection: close`, a `Content-Length` or read to the end.
async fn http_get(host: &str, port: u16, allow_remote: bool, path: &str) -> Result<Vec<u8>> {
    let addr = authority(host, port);
    let (mut stream, peer) = connect(host, port, allow_remote).await?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {peer}\r\nConnection: close\r\nAccept: application/json\r\n\r\n"
    );
    let io = |source| CaptureError::Unreachable {
        addr: addr.clone(),
        source,
    };
    stream.write_all(request.as_bytes()).await.map_err(io)?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = stream.read(&mut chunk).await.map_err(io)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > MAX_HTTP_BODY {
            return Err(CaptureError::Protocol(format!(
                "{addr}{path} answered more than {MAX_HTTP_BODY} bytes"
            )));
        }
        if let Some(body) = complete_body(&buf)? {
            return Ok(body);
        }
    }
    complete_body(&buf)?
        .or_else(|| split_head(&buf).map(|(_, body)| body.to_vec()))
        .ok_or_else(|| CaptureError::Protocol(format!("{addr}{path}: no HTTP response")))
}

fn split_head(buf: &[u8]) -> Option<(&[u8], &[u8])> {
    let at = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    Some((&buf[..at], &buf[at + 4..]))
}

/// The body once the response is complete by its `Content-Length`; an error for a non-200
/// status or a chunked body (which the inspector never sends).
fn complete_body(buf: &[u8]) -> Result<Option<Vec<u8>>> {
    let Some((head, body)) = split_head(buf) else {
        return Ok(None);
    };
    let head = String::from_utf8_lossy(head);
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default();
    let code = status.split_whitespace().nth(1).unwrap_or_default();
    if code != "200" {
        return Err(CaptureError::Protocol(format!(
            "the inspector answered `{status}` to /json/list"
        )));
    }
    let mut length = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = value.trim().parse::<usize>().ok();
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            && value.to_ascii_lowercase().contains("chunked")
        {
            return Err(CaptureError::Protocol(
                "unexpected chunked answer to /json/list; is this a Node.js inspector?".into(),
            ));
        }
    }
    Ok(match length {
        Some(n) if body.len() >= n => Some(body[..n].to_vec()),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ws_urls() {
        let ep = WsEndpoint::parse("ws://127.0.0.1:9229/0f2c-11").expect("valid");
        assert_eq!(ep.host, "127.0.0.1");
        assert_eq!(ep.port, 9229);
        assert_eq!(ep.path, "/0f2c-11");
        assert_eq!(ep.url(), "ws://127.0.0.1:9229/0f2c-11");
        let v6 = WsEndpoint::parse("ws://[::1]:9230/x").expect("valid");
        assert_eq!(v6.host, "::1");
        assert_eq!(v6.authority(), "[::1]:9230");
        assert!(WsEndpoint::parse("http://127.0.0.1:9229/x").is_err());
        assert!(WsEndpoint::parse("ws://127.0.0.1/x").is_err());
        assert!(WsEndpoint::parse("ws://127.0.0.1:99999/x").is_err());
        assert!(WsEndpoint::parse("ws://:9229/x").is_err());
    }

    #[test]
    fn loopback_rule() {
        for host in [
            "127.0.0.1",
            "127.1.2.3",
            "localhost",
            "LOCALHOST",
            "::1",
            "[::1]",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_loopback(host), "{host}");
        }
        for host in [
            "0.0.0.0",
            "10.0.0.5",
            "192.168.1.2",
            "example.com",
            "::",
            "localhost.example.com",
        ] {
            assert!(!is_loopback(host), "{host}");
        }
        let err = check_loopback("10.0.0.5", 9229, false).expect_err("refused");
        let msg = err.to_string();
        assert!(
            msg.contains("10.0.0.5:9229") && msg.contains("--allow-remote"),
            "{msg}"
        );
        assert!(check_loopback("10.0.0.5", 9229, true).is_ok());
    }

    #[test]
    fn names_must_resolve_to_loopback_only() {
        let local: SocketAddr = "127.0.0.1:9229".parse().expect("literal");
        let local6: SocketAddr = "[::1]:9229".parse().expect("literal");
        let remote: SocketAddr = "10.0.0.5:9229".parse().expect("literal");
        assert_eq!(
            only_loopback("localhost:9229", vec![local, local6], false).expect("loopback"),
            vec![local, local6]
        );
        // One address elsewhere refuses the name, even listed after a loopback one.
        let err = only_loopback("dev.localhost:9229", vec![local, remote], false)
            .expect_err("a remote address");
        let msg = err.to_string();
        assert!(
            msg.contains("dev.localhost:9229 (which resolves to 10.0.0.5:9229)")
                && msg.contains("--allow-remote"),
            "{msg}"
        );
        assert!(only_loopback("dev:9229", vec![local, remote], true).is_ok());
        assert!(matches!(
            only_loopback("nowhere.localhost:9229", Vec::new(), false),
            Err(CaptureError::Unreachable { .. })
        ));
    }

    #[tokio::test]
    async fn resolve_checks_before_and_after_the_lookup() {
        let addrs = resolve("localhost", 9229, false).await.expect("localhost");
        assert!(addrs.iter().all(|a| is_loopback_ip(a.ip())), "{addrs:?}");
        // Refused by its spelling: no lookup, no connection attempt.
        assert!(matches!(
            resolve("example.com", 9229, false).await,
            Err(CaptureError::RemoteRefused { .. })
        ));
        // A `*.localhost` name passes the spelling check but must still resolve to loopback:
        // whatever this machine's resolver says, the answer is never a remote address.
        match resolve("heapsight-test.localhost", 9229, false).await {
            Ok(addrs) => assert!(addrs.iter().all(|a| is_loopback_ip(a.ip())), "{addrs:?}"),
            Err(e) => assert!(matches!(e, CaptureError::Unreachable { .. }), "{e}"),
        }
    }

    #[test]
    fn http_bodies() {
        let ok =
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n[]";
        assert_eq!(complete_body(ok).expect("ok"), Some(b"[]".to_vec()));
        let short = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n[]";
        assert_eq!(complete_body(short).expect("ok"), None);
        let missing = b"HTTP/1.1 404 Not Found\r\n\r\n";
        assert!(complete_body(missing).is_err());
    }

    #[test]
    fn target_list() {
        let json = r#"[{"description":"node.js instance","devtoolsFrontendUrl":"x","faviconUrl":"y",
            "id":"41bd","title":"app.js","type":"node","url":"file:///tmp/app.js",
            "webSocketDebuggerUrl":"ws://127.0.0.1:40873/41bd"}]"#;
        let list: Vec<TargetInfo> = serde_json::from_str(json).expect("parses");
        assert_eq!(list[0].kind, "node");
        assert_eq!(
            list[0].websocket_url.as_deref(),
            Some("ws://127.0.0.1:40873/41bd")
        );
    }
}
