//! Request heads: parsed with httparse, then checked against HTTP/1.1's
//! framing rules (RFC 9112) so that every connection stays in sync.
//!
//! Incomplete input is a normal state ([`parse`] returns `Ok(None)`); a
//! request that can never be valid is a [`Reject`] naming the status to
//! answer with.

use crate::status::Status;

/// Longest request line accepted (414 beyond).
pub const MAX_REQUEST_LINE: usize = 8 * 1024;

/// Largest header section accepted, request line excluded (431 beyond).
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// Most header fields accepted (431 beyond).
pub const MAX_HEADERS: usize = 100;

/// Methods this server knows; of these it serves GET and HEAD and answers
/// the rest with 405. Anything else is 501. Methods are case-sensitive.
const KNOWN_METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

/// The request method, as far as this server cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    /// GET.
    Get,
    /// HEAD: as GET, without the body.
    Head,
    /// A known method this server does not serve (405).
    NotAllowed(String),
}

/// HTTP version of the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// HTTP/1.0: close after the response unless asked to keep alive.
    Http10,
    /// HTTP/1.1: keep alive unless asked to close.
    Http11,
}

impl Version {
    /// `HTTP/1.0` or `HTTP/1.1`.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
        }
    }
}

/// How the request body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body.
    None,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
}

/// What the `Expect` header asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Expect {
    /// Nothing.
    #[default]
    None,
    /// `100-continue`.
    Continue,
    /// An expectation this server cannot meet (417).
    Unsupported,
}

/// A parsed, validated request head, owned (the buffer it came from is
/// reused for the next request).
#[derive(Debug, Clone)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The request target exactly as sent.
    pub target: String,
    /// The version.
    pub version: Version,
    /// Whether the client wants the connection kept open after this.
    pub keep_alive: bool,
    /// How the body is framed.
    pub body: BodyFraming,
    /// The `Expect` header.
    pub expect: Expect,
    /// `Range`, when sent once.
    pub range: Option<String>,
    /// `If-Range`.
    pub if_range: Option<String>,
    /// `If-None-Match`, all values joined by commas.
    pub if_none_match: Option<String>,
    /// `If-Modified-Since`.
    pub if_modified_since: Option<String>,
    /// `If-Match`, all values joined by commas.
    pub if_match: Option<String>,
    /// `If-Unmodified-Since`.
    pub if_unmodified_since: Option<String>,
    /// Bytes of the head, request line to the blank line inclusive.
    pub head_len: usize,
}

impl Request {
    /// The request line for the access log, `GET /a.html HTTP/1.1`,
    /// written when displayed (no string is built for a disabled log).
    pub fn line(&self) -> RequestLine<'_> {
        RequestLine(self)
    }
}

/// A request's line, as [`Request::line`] shows it.
#[derive(Debug, Clone, Copy)]
pub struct RequestLine<'a>(&'a Request);

impl std::fmt::Display for RequestLine<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} {}",
            self.0.method.as_str(),
            self.0.target,
            self.0.version.as_str()
        )
    }
}

impl Method {
    /// The method's name as sent.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::NotAllowed(m) => m,
        }
    }
}

/// A request that cannot be served, with the status to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// The status to send (400, 414, 431, 501, 505, 417…).
    pub status: Status,
    /// Why, for the log.
    pub reason: &'static str,
    /// The request line when it could be read, for the access log.
    pub line: Option<String>,
}

fn reject(status: Status, reason: &'static str) -> Reject {
    Reject {
        status,
        reason,
        line: None,
    }
}

/// Parses a request head at the start of `buf`. `Ok(None)`: incomplete,
/// read more. Limits are enforced on incomplete input too, so a client
/// cannot make the server buffer without bound.
pub fn parse(buf: &[u8]) -> Result<Option<Request>, Reject> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return incomplete(buf).map(|()| None),
        Err(e) => return unparsable(buf, e),
    };
    check_sizes(buf, head_len)?;
    let (Some(method), Some(target), Some(minor)) = (req.method, req.path, req.version) else {
        return Err(reject(Status::BAD_REQUEST, "incomplete request line"));
    };
    build(method, target, minor, req.headers, head_len).map(Some)
}

/// An incomplete head is fine, unless it is already over a limit.
fn incomplete(buf: &[u8]) -> Result<(), Reject> {
    if let Some(too_long) = check_line_length(buf) {
        return Err(too_long);
    }
    if buf.len() > MAX_REQUEST_LINE + MAX_HEADER_BYTES {
        return Err(reject(
            Status::HEADERS_TOO_LARGE,
            "header section too large",
        ));
    }
    Ok(())
}

/// A head httparse refused: too many fields, a version (HTTP/1.x with
/// x > 1 is answered as HTTP/1.1, its highest version we speak, RFC 9110
/// §6.2; others are refused), or a malformed head.
fn unparsable(buf: &[u8], e: httparse::Error) -> Result<Option<Request>, Reject> {
    match e {
        httparse::Error::TooManyHeaders => Err(reject(
            Status::HEADERS_TOO_LARGE,
            "more than 100 header fields",
        )),
        httparse::Error::Version => match later_minor_version(buf) {
            Some(at) => {
                let mut copy = buf.to_vec();
                copy[at] = b'1';
                parse(&copy)
            }
            None => Err(version_error(buf)),
        },
        _ => {
            Err(check_line_length(buf).unwrap_or(reject(Status::BAD_REQUEST, "malformed request")))
        }
    }
}

/// The size limits of a complete head: its request line, then its header
/// section.
fn check_sizes(buf: &[u8], head_len: usize) -> Result<(), Reject> {
    let line_len = request_line_len(buf).unwrap_or(head_len);
    if line_len > MAX_REQUEST_LINE {
        return Err(reject(Status::URI_TOO_LONG, "request line too long"));
    }
    if head_len - line_len > MAX_HEADER_BYTES {
        return Err(reject(
            Status::HEADERS_TOO_LARGE,
            "header section too large",
        ));
    }
    Ok(())
}

/// The request a complete head within the limits makes, once its method
/// and fields are checked.
fn build(
    method: &str,
    target: &str,
    minor: u8,
    headers: &[httparse::Header<'_>],
    head_len: usize,
) -> Result<Request, Reject> {
    let version = if minor == 0 {
        Version::Http10
    } else {
        Version::Http11
    };
    // Formatted only for a rejected request: valid ones never need it.
    let with_line = |status, reason| Reject {
        status,
        reason,
        line: Some(format!("{method} {target} {}", version.as_str())),
    };
    let method = match method {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        m if KNOWN_METHODS.contains(&m) => Method::NotAllowed(m.to_string()),
        _ => return Err(with_line(Status::NOT_IMPLEMENTED, "unknown method")),
    };
    let fields =
        Fields::collect(headers).map_err(|reason| with_line(Status::BAD_REQUEST, reason))?;
    if fields.hosts > 1 || (version == Version::Http11 && fields.hosts == 0) {
        return Err(with_line(
            Status::BAD_REQUEST,
            "HTTP/1.1 needs exactly one Host header",
        ));
    }
    let body = fields
        .framing()
        .map_err(|(status, reason)| with_line(status, reason))?;
    let keep_alive = match version {
        Version::Http11 => !fields.close,
        Version::Http10 => fields.keep_alive && !fields.close,
    };
    Ok(Request {
        method,
        target: target.to_string(),
        version,
        keep_alive,
        body,
        expect: fields.expect,
        range: fields.range,
        if_range: fields.if_range,
        if_none_match: fields.if_none_match,
        if_modified_since: fields.if_modified_since,
        if_match: fields.if_match,
        if_unmodified_since: fields.if_unmodified_since,
        head_len,
    })
}

/// Length of the request line including its line ending, when complete.
fn request_line_len(buf: &[u8]) -> Option<usize> {
    // httparse skips blank lines before the request line; so do we.
    let start = buf.iter().position(|&b| b != b'\r' && b != b'\n')?;
    let end = buf[start..].iter().position(|&b| b == b'\n')?;
    Some(start + end + 1)
}

fn check_line_length(buf: &[u8]) -> Option<Reject> {
    let start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len());
    let line = &buf[start..];
    let end = line.iter().position(|&b| b == b'\n').unwrap_or(line.len());
    (end > MAX_REQUEST_LINE).then(|| reject(Status::URI_TOO_LONG, "request line too long"))
}

/// Where the minor digit of an `HTTP/1.x` (x > 1) version sits in `buf`,
/// when the request line is exactly METHOD SP TARGET SP HTTP/1.d.
fn later_minor_version(buf: &[u8]) -> Option<usize> {
    let start = buf.iter().position(|&b| b != b'\r' && b != b'\n')?;
    let len = buf[start..].iter().position(|&b| b == b'\n')?;
    let line = &buf[start..start + len];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let version = line.rsplit(|&b| b == b' ').next()?;
    if line.split(|&b| b == b' ').count() != 3 {
        return None;
    }
    match version {
        [b'H', b'T', b'T', b'P', b'/', b'1', b'.', minor] if (b'2'..=b'9').contains(minor) => {
            Some(start + line.len() - 1)
        }
        _ => None,
    }
}

/// httparse reports any version but 1.0/1.1 the same way: a well-formed
/// `HTTP/x.y` we do not speak is 505, anything else is a bad request.
fn version_error(buf: &[u8]) -> Reject {
    let start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(0);
    let line = buf[start..]
        .split(|&b| b == b'\n')
        .next()
        .unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let parts: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
    match parts.as_slice() {
        // Exactly METHOD SP TARGET SP HTTP/d.d: a version we do not speak.
        [_, _, [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            reject(Status::VERSION_NOT_SUPPORTED, "HTTP version not supported")
        }
        _ => reject(Status::BAD_REQUEST, "malformed HTTP version"),
    }
}

/// The header fields this server acts on.
#[derive(Default)]
struct Fields {
    hosts: usize,
    content_length: Option<u64>,
    transfer_encoding: Option<String>,
    close: bool,
    keep_alive: bool,
    expect: Expect,
    range: Option<String>,
    ranges_seen: usize,
    if_range: Option<String>,
    if_none_match: Option<String>,
    if_modified_since: Option<String>,
    if_match: Option<String>,
    if_unmodified_since: Option<String>,
}

impl Fields {
    fn collect(headers: &[httparse::Header<'_>]) -> Result<Fields, &'static str> {
        let mut f = Fields::default();
        for h in headers {
            let name = h.name;
            if name.is_empty() {
                return Err("empty header name");
            }
            let value = std::str::from_utf8(h.value)
                .map_err(|_| "header value is not text")?
                .trim_matches([' ', '\t']);
            if name.eq_ignore_ascii_case("host") {
                f.hosts += 1;
                if value.is_empty() || value.contains(['/', '@', ' ']) {
                    return Err("invalid Host header");
                }
            } else if name.eq_ignore_ascii_case("content-length") {
                for part in value.split(',') {
                    let n = parse_content_length(part.trim_matches([' ', '\t']))?;
                    if f.content_length.is_some_and(|old| old != n) {
                        return Err("conflicting Content-Length headers");
                    }
                    f.content_length = Some(n);
                }
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                let te = f.transfer_encoding.get_or_insert_with(String::new);
                if !te.is_empty() {
                    te.push(',');
                }
                te.push_str(value);
            } else if name.eq_ignore_ascii_case("connection") {
                for token in value.split(',').map(|t| t.trim_matches([' ', '\t'])) {
                    if token.eq_ignore_ascii_case("close") {
                        f.close = true;
                    } else if token.eq_ignore_ascii_case("keep-alive") {
                        f.keep_alive = true;
                    }
                }
            } else if name.eq_ignore_ascii_case("expect") {
                f.expect = if value.eq_ignore_ascii_case("100-continue") {
                    Expect::Continue
                } else {
                    Expect::Unsupported
                };
            } else if name.eq_ignore_ascii_case("range") {
                f.ranges_seen += 1;
                f.range = Some(value.to_string());
            } else if name.eq_ignore_ascii_case("if-range") {
                f.if_range = Some(value.to_string());
            } else if name.eq_ignore_ascii_case("if-none-match") {
                let inm = f.if_none_match.get_or_insert_with(String::new);
                if !inm.is_empty() {
                    inm.push(',');
                }
                inm.push_str(value);
            } else if name.eq_ignore_ascii_case("if-modified-since") {
                f.if_modified_since = Some(value.to_string());
            } else if name.eq_ignore_ascii_case("if-match") {
                let im = f.if_match.get_or_insert_with(String::new);
                if !im.is_empty() {
                    im.push(',');
                }
                im.push_str(value);
            } else if name.eq_ignore_ascii_case("if-unmodified-since") {
                f.if_unmodified_since = Some(value.to_string());
            }
        }
        if f.ranges_seen > 1 {
            // Several Range fields: ambiguous, so ignored (a Range may be).
            f.range = None;
        }
        Ok(f)
    }

    fn framing(&self) -> Result<BodyFraming, (Status, &'static str)> {
        match (&self.transfer_encoding, self.content_length) {
            (Some(_), Some(_)) => Err((
                Status::BAD_REQUEST,
                "both Content-Length and Transfer-Encoding",
            )),
            (Some(te), None) => {
                let codings: Vec<&str> =
                    te.split(',').map(|c| c.trim_matches([' ', '\t'])).collect();
                match codings.as_slice() {
                    [c] if c.eq_ignore_ascii_case("chunked") => Ok(BodyFraming::Chunked),
                    [.., last] if last.eq_ignore_ascii_case("chunked") => {
                        Err((Status::NOT_IMPLEMENTED, "unsupported transfer coding"))
                    }
                    // Without chunked last, a request body has no end.
                    _ => Err((Status::BAD_REQUEST, "request body without a length")),
                }
            }
            (None, Some(0)) | (None, None) => Ok(BodyFraming::None),
            (None, Some(n)) => Ok(BodyFraming::Length(n)),
        }
    }
}

/// `1*DIGIT`, no sign, no spaces, no hex, and it must fit.
fn parse_content_length(s: &str) -> Result<u64, &'static str> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err("invalid Content-Length");
    }
    s.parse().map_err(|_| "Content-Length too large")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(raw: &str) -> Request {
        parse(raw.as_bytes()).unwrap().unwrap()
    }

    fn status(raw: &str) -> u16 {
        parse(raw.as_bytes()).unwrap_err().status.code()
    }

    #[test]
    fn simple_get() {
        let r = ok("GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(r.method, Method::Get);
        assert_eq!(r.target, "/index.html");
        assert_eq!(r.version, Version::Http11);
        assert!(r.keep_alive);
        assert_eq!(r.body, BodyFraming::None);
        assert_eq!(r.head_len, 37);
        assert_eq!(r.line().to_string(), "GET /index.html HTTP/1.1");
    }

    #[test]
    fn partial_is_not_an_error() {
        assert!(parse(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap().is_none());
        assert!(parse(b"GE").unwrap().is_none());
        assert!(parse(b"").unwrap().is_none());
    }

    #[test]
    fn keep_alive_rules() {
        assert!(!ok("GET / HTTP/1.0\r\n\r\n").keep_alive);
        assert!(ok("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive);
        assert!(!ok("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").keep_alive);
        assert!(!ok("GET / HTTP/1.1\r\nHost: x\r\nConnection: foo, CLOSE\r\n\r\n").keep_alive);
    }

    #[test]
    fn methods() {
        assert_eq!(
            ok("HEAD / HTTP/1.1\r\nHost: x\r\n\r\n").method,
            Method::Head
        );
        assert_eq!(
            ok("POST / HTTP/1.1\r\nHost: x\r\n\r\n").method,
            Method::NotAllowed("POST".into())
        );
        assert_eq!(
            ok("TRACE / HTTP/1.1\r\nHost: x\r\n\r\n").method,
            Method::NotAllowed("TRACE".into())
        );
        assert_eq!(status("get / HTTP/1.1\r\nHost: x\r\n\r\n"), 501);
        assert_eq!(status("BREW / HTTP/1.1\r\nHost: x\r\n\r\n"), 501);
    }

    #[test]
    fn versions() {
        assert_eq!(status("GET / HTTP/2.0\r\n\r\n"), 505);
        assert_eq!(status("GET / HTTP/9.9\r\n\r\n"), 505);
        // A later minor version is served as HTTP/1.1 (RFC 9110 §6.2).
        let r = ok("GET / HTTP/1.2\r\nHost: x\r\n\r\n");
        assert_eq!(r.version, Version::Http11);
        assert!(r.keep_alive);
        assert_eq!(
            status("GET / HTTP/1.9\r\n\r\n"),
            400,
            "needs a Host, as 1.1"
        );
        assert!(parse(b"GET / HTTP/1.2\r\nHost: x\r\n").unwrap().is_none());
        assert_eq!(status("GET / HTTP/01.1\r\n\r\n"), 400);
        assert_eq!(status("GET / FOO/1.1\r\n\r\n"), 400);
        assert_eq!(status("GET /\r\n\r\n"), 400); // HTTP/0.9 style
    }

    #[test]
    fn host_rules() {
        assert_eq!(status("GET / HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(status("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
        assert_eq!(status("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), 400);
        ok("GET / HTTP/1.0\r\n\r\n");
    }

    #[test]
    fn content_length_rules() {
        assert_eq!(
            ok("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n").body,
            BodyFraming::Length(5)
        );
        assert_eq!(
            ok("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n").body,
            BodyFraming::Length(5)
        );
        for bad in [
            "-1",
            "+5",
            "0x10",
            "1 2",
            "",
            "99999999999999999999999",
            "5, 6",
        ] {
            assert_eq!(
                status(&format!(
                    "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: {bad}\r\n\r\n"
                )),
                400,
                "{bad:?}"
            );
        }
        assert_eq!(
            status("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"),
            400
        );
    }

    #[test]
    fn transfer_encoding_rules() {
        assert_eq!(
            ok("GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n").body,
            BodyFraming::Chunked
        );
        assert_eq!(
            status(
                "GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"
            ),
            400
        );
        assert_eq!(
            status("GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
            501
        );
        assert_eq!(
            status("GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n"),
            400
        );
    }

    #[test]
    fn malformed_heads() {
        assert_eq!(status("GET / HTTP/1.1\r\nHost : x\r\n\r\n"), 400); // space before colon
        assert_eq!(status("GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n"), 400); // obs-fold
        assert_eq!(status("GET / HTTP/1.1\r\n: x\r\nHost: x\r\n\r\n"), 400);
        assert_eq!(status("GET / HTTP/1.1\r\nHost: x\r\nX: a\0b\r\n\r\n"), 400);
        assert_eq!(status("GET /a b HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
    }

    #[test]
    fn leading_blank_lines_are_skipped() {
        assert_eq!(ok("\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n").target, "/");
    }

    #[test]
    fn expect() {
        assert_eq!(
            ok("GET / HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\n\r\n").expect,
            Expect::Continue
        );
        assert_eq!(
            ok("GET / HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\n\r\n").expect,
            Expect::Unsupported
        );
    }

    #[test]
    fn limits() {
        let long = format!(
            "GET /{} HTTP/1.1\r\nHost: x\r\n\r\n",
            "a".repeat(MAX_REQUEST_LINE)
        );
        assert_eq!(status(&long), 414);
        // Partial, but already too long.
        assert_eq!(
            status(&format!("GET /{}", "a".repeat(MAX_REQUEST_LINE + 1))),
            414
        );
        let many: String = (0..101).map(|i| format!("X-{i}: y\r\n")).collect();
        assert_eq!(
            status(&format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n")),
            431
        );
        let big = format!(
            "GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n",
            "a".repeat(MAX_HEADER_BYTES)
        );
        assert_eq!(status(&big), 431);
    }

    #[test]
    fn conditional_fields_are_kept() {
        let r = ok(
            "GET / HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"a\"\r\nIf-None-Match: \"b\"\r\nRange: bytes=0-1\r\n\r\n",
        );
        assert_eq!(r.if_none_match.as_deref(), Some("\"a\",\"b\""));
        assert_eq!(r.range.as_deref(), Some("bytes=0-1"));
    }

    // Mirrors the `http_request` fuzz target, so CI exercises it.
    proptest::proptest! {
        #[test]
        fn parse_never_panics(data in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            if let Ok(Some(req)) = parse(&data) {
                proptest::prop_assert!(req.head_len <= data.len());
            }
        }

        #[test]
        fn mutated_requests_never_panic(
            pos in 0usize..60,
            byte in proptest::num::u8::ANY,
            cut in 0usize..70,
        ) {
            let mut data = b"GET /a%20b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nRange: bytes=0-1\r\n\r\nabc".to_vec();
            let pos = pos.min(data.len() - 1);
            data[pos] = byte;
            data.truncate(cut.max(1).min(data.len()));
            let _ = parse(&data);
        }
    }
}
