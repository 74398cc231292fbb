//! The incoming half of the stdio transport, in front of tower-lsp-server's own: frames the
//! `Content-Length` messages and passes on only those tower-lsp-server can decode.
//!
//! tower-lsp-server stops reading its input for good at the first message it cannot decode
//! (a body that is not JSON, a `Content-Length` that does not match the body, a field of
//! the wrong type, an id past `i64`), which ends the session. Here such a message becomes a
//! request to [`INVALID_MESSAGE`], which answers the client with a JSON-RPC error (parse
//! error or invalid request, with the client's id when it sent a usable one and `null`
//! otherwise), and reading goes on: after a header that cannot be read, at the next
//! `Content-Length` header. Memory stays bounded: a message announced longer than
//! [`MAX_MESSAGE`] is refused without being buffered, a header section longer than
//! [`MAX_HEADER`] is garbage, and what passes goes through a bounded pipe, so a client that
//! stops reading our output stops being read (backpressure) rather than buffered for.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tower_lsp_server::jsonrpc::{self, ErrorCode};

/// The method a message that could not be decoded is turned into.
pub const INVALID_MESSAGE: &str = "heapsight/invalidMessage";
/// The largest message accepted, in bytes of body.
pub const MAX_MESSAGE: usize = 64 << 20;
/// The largest header section accepted, in bytes.
pub const MAX_HEADER: usize = 8 << 10;
/// The size of the pipe between this filter and the server.
pub const PIPE: usize = 64 << 10;

/// The params of [`INVALID_MESSAGE`]: the error the client gets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invalid {
    /// The JSON-RPC error code (`-32700` parse error or `-32600` invalid request).
    pub code: i64,
    /// What was wrong.
    pub message: String,
}

impl Invalid {
    /// The error reply.
    pub fn into_error(self) -> jsonrpc::Error {
        jsonrpc::Error {
            code: ErrorCode::from(self.code),
            message: self.message.into(),
            data: None,
        }
    }
}

/// Copies the messages of `input` to `output`, each as a canonical frame, replacing those
/// tower-lsp-server cannot decode by [`INVALID_MESSAGE`] requests. Ends at the end of
/// `input` (a message cut short there is dropped) or when `output` closes.
pub async fn filter<I, O>(mut input: I, mut output: O) -> std::io::Result<()>
where
    I: AsyncRead + Unpin,
    O: AsyncWrite + Unpin,
{
    let mut framer = Framer::default();
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        while let Some(frame) = framer.next_frame() {
            output.write_all(&frame).await?;
        }
        output.flush().await?;
        let n = input.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        framer.push(&chunk[..n]);
    }
}

/// Where the framer is in the byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a header section.
    Header,
    /// Reading a body of this many bytes.
    Body(usize),
    /// Skipping to the next `Content-Length` header.
    Resync,
    /// Skipping a body of this many bytes more.
    Discard(usize),
}

/// Splits a byte stream into frames for tower-lsp-server (sans I/O, so it tests alone).
#[derive(Debug)]
struct Framer {
    buf: Vec<u8>,
    state: State,
}

impl Default for Framer {
    fn default() -> Framer {
        Framer {
            buf: Vec::new(),
            state: State::Header,
        }
    }
}

const CONTENT_LENGTH: &[u8] = b"content-length";

impl Framer {
    fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Skips to the next `Content-Length` header, past the first byte of what is there
    /// (the start of the header being refused).
    fn resync(&mut self) {
        if !self.buf.is_empty() {
            self.buf.remove(0);
        }
        self.state = State::Resync;
    }

    /// The next frame to pass on, or `None` when more input is needed.
    fn next_frame(&mut self) -> Option<Vec<u8>> {
        loop {
            match self.state {
                State::Resync => match find_ignore_case(&self.buf, CONTENT_LENGTH) {
                    Some(at) => {
                        self.buf.drain(..at);
                        self.state = State::Header;
                    }
                    None => {
                        let keep = CONTENT_LENGTH.len() - 1;
                        let cut = self.buf.len().saturating_sub(keep);
                        self.buf.drain(..cut);
                        return None;
                    }
                },
                State::Header => {
                    let Some(end) = find(&self.buf, b"\r\n\r\n") else {
                        if self.buf.len() > MAX_HEADER {
                            self.resync();
                            return Some(invalid(
                                None,
                                ErrorCode::ParseError,
                                format!("no end of the header within {MAX_HEADER} bytes"),
                            ));
                        }
                        return None;
                    };
                    let header = parse_header(&self.buf[..end]);
                    if header.is_ok() {
                        self.buf.drain(..end + 4);
                    }
                    match header {
                        Ok(length) if length > MAX_MESSAGE => {
                            // The body is skipped as garbage, never buffered.
                            self.state = State::Resync;
                            return Some(invalid(
                                None,
                                ErrorCode::InvalidRequest,
                                format!(
                                    "a message of {length} bytes is larger than the limit of \
                                     {MAX_MESSAGE} bytes"
                                ),
                            ));
                        }
                        Ok(length) => self.state = State::Body(length),
                        Err(Refused::Body(reason, length)) => {
                            self.buf.drain(..end + 4);
                            self.state = State::Discard(length);
                            return Some(invalid(None, ErrorCode::ParseError, reason));
                        }
                        Err(Refused::Header(reason)) => {
                            // Resync from inside this header: a body cut short leaves its
                            // tail in front of the next good header.
                            self.resync();
                            return Some(invalid(None, ErrorCode::ParseError, reason));
                        }
                    }
                }
                State::Discard(left) => {
                    let n = left.min(self.buf.len());
                    self.buf.drain(..n);
                    if n < left {
                        self.state = State::Discard(left - n);
                        return None;
                    }
                    self.state = State::Header;
                }
                State::Body(length) => {
                    if self.buf.len() < length {
                        return None;
                    }
                    let body: Vec<u8> = self.buf.drain(..length).collect();
                    self.state = State::Header;
                    if body.is_empty() {
                        // tower-lsp-server skips an empty body too.
                        continue;
                    }
                    return Some(check_body(body));
                }
            }
        }
    }
}

/// The body as a frame if tower-lsp-server decodes it, else an [`INVALID_MESSAGE`] request.
fn check_body(body: Vec<u8>) -> Vec<u8> {
    // tower-lsp-server tries a response first, as here.
    if serde_json::from_slice::<jsonrpc::Response>(&body).is_ok() {
        return frame(&body);
    }
    if let Ok(request) = serde_json::from_slice::<jsonrpc::Request>(&body) {
        // tower-lsp-server drops a request to a `$/` method it does not know without an
        // answer, and the client waits forever; LSP says such a request is refused with
        // MethodNotFound. None of this server's requests is a `$/` method.
        if let (true, Some(id)) = (request.method().starts_with("$/"), request.id()) {
            return invalid(
                Some(id.clone()),
                ErrorCode::MethodNotFound,
                format!("unknown method `{}`", request.method()),
            );
        }
        return frame(&body);
    }
    match serde_json::from_slice::<Value>(&body) {
        Err(e) => invalid(
            None,
            ErrorCode::ParseError,
            format!("the message is not JSON: {e}"),
        ),
        Ok(value) => {
            // Answer with the client's id only when it meant a request: a malformed
            // response must not answer one of the client's own requests.
            let id = value
                .get("method")
                .and(value.get("id"))
                .and_then(|id| serde_json::from_value::<jsonrpc::Id>(id.clone()).ok());
            invalid(
                id,
                ErrorCode::InvalidRequest,
                "the message is not a JSON-RPC 2.0 request, notification or response (a \
                 missing or mistyped `jsonrpc`, `method`, `id`, `params`, `result` or \
                 `error`)"
                    .to_string(),
            )
        }
    }
}

/// An [`INVALID_MESSAGE`] request, framed.
fn invalid(id: Option<jsonrpc::Id>, code: ErrorCode, message: String) -> Vec<u8> {
    let params = Invalid {
        code: code.code(),
        message,
    };
    let request = json!({
        "jsonrpc": "2.0",
        "id": id.unwrap_or(jsonrpc::Id::Null),
        "method": INVALID_MESSAGE,
        "params": params,
    });
    frame(request.to_string().as_bytes())
}

fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    out.extend_from_slice(body);
    out
}

/// Why a header section is refused.
#[derive(Debug)]
enum Refused {
    /// It cannot be read: where the message ends is unknown.
    Header(String),
    /// It can, but the body of this length cannot be taken.
    Body(String, usize),
}

/// The `Content-Length` of a header section (without its final blank line).
fn parse_header(header: &[u8]) -> Result<usize, Refused> {
    let text = std::str::from_utf8(header)
        .map_err(|_| Refused::Header("the header is not UTF-8".to_string()))?;
    let mut length = None;
    let mut refused_type = None;
    for line in text.split("\r\n") {
        let Some((name, value)) = line
            .split_once(':')
            .filter(|(name, _)| is_token(name.trim_start()))
        else {
            return Err(Refused::Header(format!(
                "`{}` is not a header line",
                shorten(line)
            )));
        };
        let value = value.trim();
        if name.trim().eq_ignore_ascii_case("content-length") {
            let n = value.parse::<usize>().map_err(|e| {
                Refused::Header(format!("Content-Length `{}`: {e}", shorten(value)))
            })?;
            length = Some(n);
        } else if name.trim().eq_ignore_ascii_case("content-type") {
            let charset = value
                .split(';')
                .skip(1)
                .filter_map(|p| p.trim().strip_prefix("charset="))
                .next();
            if !matches!(charset, None | Some("utf-8" | "utf8")) {
                refused_type = Some(format!("Content-Type `{}` is not UTF-8", shorten(value)));
            }
        }
    }
    match (length, refused_type) {
        (None, _) => Err(Refused::Header("no Content-Length header".to_string())),
        (Some(length), Some(reason)) => Err(Refused::Body(reason, length)),
        (Some(length), None) => Ok(length),
    }
}

/// An HTTP header name: letters, digits and `-`.
fn is_token(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn shorten(text: &str) -> String {
    text.chars().take(40).collect()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn find_ignore_case(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The frames out of `input` fed in pieces of `step` bytes, as bodies; invalid ones as
    /// `!code id: message`.
    fn frames(input: &[u8], step: usize) -> Vec<String> {
        let mut framer = Framer::default();
        let mut out = Vec::new();
        for piece in input.chunks(step) {
            framer.push(piece);
            while let Some(frame) = framer.next_frame() {
                let text = String::from_utf8(frame).unwrap_or_default();
                let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
                let value: Value = serde_json::from_str(body).unwrap_or_default();
                if value["method"] == INVALID_MESSAGE {
                    out.push(format!(
                        "!{} {}: {}",
                        value["params"]["code"], value["id"], value["params"]["message"]
                    ));
                } else {
                    out.push(body.to_string());
                }
            }
        }
        out
    }

    fn msg(body: &str) -> String {
        format!("Content-Length: {}\r\n\r\n{body}", body.len())
    }

    #[test]
    fn good_messages_pass_and_bad_ones_become_errors_without_ending_the_stream() {
        let ok = r#"{"jsonrpc":"2.0","id":1,"method":"shutdown"}"#;
        let input = [
            msg(ok),
            msg("{not json"),
            msg(r#"{"jsonrpc":"2.0","id":2,"method":7}"#),
            msg(r#"{"jsonrpc":"2.0","id":100000000000000000000,"method":"x"}"#),
            msg(r#"{"jsonrpc":"1.0","id":3,"result":null}"#),
            "Content-Length: x\r\n\r\n{}".to_string(),
            "garbage without a header\r\n\r\n".to_string(),
            "Content-Length: 99999999999\r\n\r\nabc".to_string(),
            format!("Content-Length: {}\r\n\r\n{ok}", ok.len() - 3),
            msg(""),
            "Content-Type: application/vscode-jsonrpc; charset=latin1\r\nContent-Length: 2\r\n\r\n{}"
                .to_string(),
            msg(r#"{"jsonrpc":"2.0","id":9,"method":"$/unknown"}"#),
            format!("content-length: {}\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n{ok}", ok.len()),
        ]
        .concat();
        let not_rpc = "the message is not a JSON-RPC 2.0 request, notification or response (a \
                       missing or mistyped `jsonrpc`, `method`, `id`, `params`, `result` or \
                       `error`)";
        let expected = [
            ok.to_string(),
            "!-32700 null: \"the message is not JSON: key must be a string at line 1 column 2\""
                .to_string(),
            format!("!-32600 2: \"{not_rpc}\""),
            format!("!-32600 null: \"{not_rpc}\""),
            format!("!-32600 null: \"{not_rpc}\""),
            // The garbage after it is skipped with it, to the next header.
            "!-32700 null: \"Content-Length `x`: invalid digit found in string\"".to_string(),
            "!-32600 null: \"a message of 99999999999 bytes is larger than the limit of 67108864 bytes\"".to_string(),
            // Three bytes short: the body is cut, and the rest of it is garbage in front of
            // the next header, which is found again.
            "!-32700 null: \"the message is not JSON: EOF while parsing a string at line 1 column 41\"".to_string(),
            "!-32700 null: \"`n\\\"}Content-Length: 0` is not a header line\"".to_string(),
            "!-32700 null: \"Content-Type `application/vscode-jsonrpc; charset=lati` is not UTF-8\"".to_string(),
            "!-32601 9: \"unknown method `$/unknown`\"".to_string(),
            ok.to_string(),
        ];
        for step in [1, 7, 4096] {
            assert_eq!(frames(input.as_bytes(), step), expected, "step {step}");
        }
    }

    #[test]
    fn a_header_that_never_ends_is_refused_within_the_limit() {
        let mut framer = Framer::default();
        framer.push(&vec![b'x'; MAX_HEADER + 1]);
        assert!(framer.next_frame().is_some());
        assert!(framer.next_frame().is_none());
        assert!(
            framer.buf.len() < CONTENT_LENGTH.len(),
            "{}",
            framer.buf.len()
        );
    }
}
