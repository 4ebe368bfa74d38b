//! Every kind of malformed or cut-off reply, served by a raw server to
//! both curl and http-client: the exit status is curl 7.88's, or differs
//! for the reason given in the row (and in the README).

use std::io::Write;
use std::process::Command;

use testkit::Run;

use crate::{BIN, RawServer, read_request};

/// What the test server does once the request has arrived.
enum Reply {
    /// Sends these bytes, then closes.
    Bytes(Vec<u8>),
    /// Closes with the request unread, so the kernel resets the connection.
    Reset,
}

struct Case {
    what: &'static str,
    reply: Reply,
    /// curl 7.88.1's exit status, as measured.
    curl: i32,
    /// Ours.
    ours: i32,
    /// Why ours differs from curl's (empty when it does not).
    why: &'static str,
}

fn case(what: &'static str, reply: &[u8], curl: i32, ours: i32, why: &'static str) -> Case {
    Case {
        what,
        reply: Reply::Bytes(reply.to_vec()),
        curl,
        ours,
        why,
    }
}

fn same(what: &'static str, reply: &[u8], code: i32) -> Case {
    case(what, reply, code, code, "")
}

/// A reply whose head holds `fields` copies of `field` before a 2-byte body.
fn many(fields: usize, field: &dyn Fn(usize) -> String) -> Vec<u8> {
    let mut r = b"HTTP/1.1 200 OK\r\n".to_vec();
    for i in 0..fields {
        r.extend_from_slice(field(i).as_bytes());
        r.extend_from_slice(b"\r\n");
    }
    r.extend_from_slice(b"Content-Length: 2\r\n\r\nhi");
    r
}

const CUT_HEAD: &str = "curl 7.88 takes a head cut off after its status line as complete and \
                        exits 0 with an empty body; a cut reply is never a success here";
const LAX_LENGTH: &str = "curl 7.88 reads the leading digits or the last of several values; \
                          RFC 9112 section 6.3 makes an invalid or conflicting Content-Length \
                          an unrecoverable error, so 8 as curl's for \"abc\"";
const TEXT_HTTP2: &str = "curl 7.88 reads a textual HTTP/2 status line as HTTP/1.x (its HTTP/2 \
                          code path); no server sends one over HTTP/1.1, so 1 as for any other \
                          version";

fn cases() -> Vec<Case> {
    let ok = |body: &str| format!("HTTP/1.1 200 OK\r\n{body}").into_bytes();
    let chunked = |body: &str| ok(&format!("Transfer-Encoding: chunked\r\n\r\n{body}"));
    vec![
        // Cut-off bodies: curl's 18 (partial file).
        same("body shorter than Content-Length", &ok("Content-Length: 100\r\n\r\nonly this"), 18),
        same("404 body shorter than Content-Length", b"HTTP/1.1 404 Not Found\r\nContent-Length: 100\r\n\r\nonly", 18),
        same("chunked cut inside a chunk", &chunked("10\r\nonly part"), 18),
        same("chunked cut before the last chunk", &chunked("5\r\nhello\r\n"), 18),
        same("chunked cut in the trailers", &chunked("5\r\nhello\r\n0\r\nX: y\r\n"), 18),
        same("chunked cut before the final line", &chunked("5\r\nhello\r\n0\r\n"), 18),
        // Bad chunked encoding: curl's 56.
        same("chunk size not hex", &chunked("zz\r\nhello\r\n0\r\n\r\n"), 56),
        same("chunk size over 16 hex digits", &chunked("ffffffffffffffffff\r\nabc\r\n0\r\n\r\n"), 56),
        same("chunk longer than its size", &chunked("2\r\nabc\r\n0\r\n\r\n"), 56),
        same("chunk data without its line end", &chunked("2\r\nhiXY0\r\n\r\n"), 56),
        same("negative chunk size", &chunked("-2\r\nhi\r\n0\r\n\r\n"), 56),
        same("missing chunk size", &chunked("\r\nhi\r\n0\r\n\r\n"), 56),
        case("chunk size 0x2", &chunked("0x2\r\nhi\r\n0\r\n\r\n"), 43, 56,
             "curl 7.88 calls this a bad function argument (43); it is a bad chunk size like the others"),
        same("chunked with bare LF line ends", &chunked("2\nhi\n0\n\n"), 0),
        same("chunk size then a space", &chunked("2 \r\nhi\r\n0\r\n\r\n"), 0),
        same("chunk extension", &chunked("2;a=b\r\nhi\r\n0\r\n\r\n"), 0),
        // Status lines: curl's 1 (unsupported protocol) when not HTTP/1.x.
        same("status code with a letter", b"HTTP/1.1 2x0 OK\r\nContent-Length: 2\r\n\r\nhi", 1),
        same("four-digit status code", b"HTTP/1.1 1000 X\r\nContent-Length: 2\r\n\r\nhi", 1),
        same("two-digit status code", b"HTTP/1.1 99 X\r\nContent-Length: 2\r\n\r\nhi", 1),
        same("status code below 100", b"HTTP/1.1 099 X\r\nContent-Length: 2\r\n\r\nhi", 1),
        same("HTTP/9.9", b"HTTP/9.9 200 OK\r\nContent-Length: 2\r\n\r\nhi", 1),
        same("HTTP/1.2", b"HTTP/1.2 200 OK\r\nContent-Length: 2\r\n\r\nhi", 1),
        same("HTTP/0.9 status line", b"HTTP/0.9 200 OK\r\nContent-Length: 2\r\n\r\nhi", 1),
        same("HTTP/3", b"HTTP/3 200\r\nContent-Length: 2\r\n\r\nhi", 1),
        case("HTTP/2", b"HTTP/2 200\r\nContent-Length: 2\r\n\r\nhi", 0, 1, TEXT_HTTP2),
        case("HTTP/2.0", b"HTTP/2.0 200 OK\r\nContent-Length: 2\r\n\r\nhi", 0, 1, TEXT_HTTP2),
        same("tab after the version", b"HTTP/1.1\t200 OK\r\nContent-Length: 2\r\n\r\nhi", 1),
        same("two spaces before the code", b"HTTP/1.1  200 OK\r\nContent-Length: 2\r\n\r\nhi", 0),
        same("no reason phrase", b"HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nhi", 0),
        same("lower-case http/1.1", b"http/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", 0),
        same("an SSH banner", b"SSH-2.0-OpenSSH_9.2\r\n", 1),
        same("HTTP/0.9 (a body, no head)", b"hello world, no head at all\n", 1),
        same("HTML, no head", b"<html>hi</html>\n", 1),
        same("an empty line before the status line", b"\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", 1),
        // Nothing, or less than a status line: curl's 52 (empty reply).
        same("closed before any byte", b"", 52),
        same("closed inside the version", b"HTTP/1.", 52),
        same("closed after one byte", b"H", 52),
        same("status line without its line end", b"HTTP/1.1 200 OK", 52),
        same("100 Continue, then closed", b"HTTP/1.1 100 Continue\r\n\r\n", 52),
        case("closed after the status line", b"HTTP/1.1 200 OK\r\n", 0, 56, CUT_HEAD),
        case("closed inside a header", b"HTTP/1.1 200 OK\r\nContent-Le", 0, 56, CUT_HEAD),
        Case { what: "reset before any byte", reply: Reply::Reset, curl: 56, ours: 56, why: "" },
        // Content-Length: curl's 8 (weird server reply) when invalid.
        same("Content-Length twice, equal", &ok("Content-Length: 2\r\nContent-Length: 2\r\n\r\nhi"), 0),
        same("Content-Length list, equal", &ok("Content-Length: 2, 2\r\n\r\nhi"), 0),
        case("Content-Length twice, conflicting", &ok("Content-Length: 2\r\nContent-Length: 3\r\n\r\nhi!"), 0, 8, LAX_LENGTH),
        case("Content-Length list, conflicting", &ok("Content-Length: 2, 3\r\n\r\nhi!"), 0, 8, LAX_LENGTH),
        case("Content-Length +2", &ok("Content-Length: +2\r\n\r\nhi"), 0, 8, LAX_LENGTH),
        case("Content-Length 2x", &ok("Content-Length: 2x\r\n\r\nhi"), 0, 8, LAX_LENGTH),
        case("Content-Length 2 2", &ok("Content-Length: 2 2\r\n\r\nhi"), 0, 8, LAX_LENGTH),
        same("Content-Length abc", &ok("Content-Length: abc\r\n\r\nhi"), 8),
        same("Content-Length -1", &ok("Content-Length: -1\r\n\r\nhi"), 8),
        same("Content-Length empty", &ok("Content-Length: \r\n\r\nhi"), 8),
        same("Content-Length beyond 64 bits (read to the close)", &ok("Content-Length: 99999999999999999999999\r\n\r\nhi"), 0),
        // Header lines.
        same("header line without a colon", &ok("NoColonHere\r\nContent-Length: 2\r\n\r\nhi"), 8),
        same("NUL in a header", &ok("X-A: a\0b\r\nContent-Length: 2\r\n\r\nhi"), 8),
        same("control character in a header", &ok("X-A: a\x01b\r\nContent-Length: 2\r\n\r\nhi"), 0),
        same("space before the colon", &ok("X-A : b\r\nContent-Length: 2\r\n\r\nhi"), 0),
        same("empty field name", &ok(": v\r\nContent-Length: 2\r\n\r\nhi"), 0),
        same("parenthesis in a field name", &ok("X(A): v\r\nContent-Length: 2\r\n\r\nhi"), 0),
        same("UTF-8 in a value", &ok("X-A: caf\u{e9}\r\nContent-Length: 2\r\n\r\nhi"), 0),
        same("bare LF line ends", b"HTTP/1.1 200 OK\nContent-Length: 2\n\nhi", 0),
        case("bare CR line ends", b"HTTP/1.1 200 OK\rContent-Length: 2\r\r\nhi", 0, 56,
             "curl 7.88 ends lines at a bare CR; RFC 9112 section 2.2 does not, so the head never ends and is cut by the close"),
        same("folded value", &ok("X-A: a\r\n b\r\nContent-Length: 2\r\n\r\nhi"), 0),
        case("continuation line before any field", &ok(" X: y\r\nContent-Length: 2\r\n\r\nhi"), 43, 8,
             "curl 7.88 calls this a bad function argument (43); it is a malformed head (8)"),
        // Transfer codings: curl's 61 when it cannot decode them.
        same("Transfer-Encoding gzip, not gzip", &ok("Transfer-Encoding: gzip\r\n\r\nhi"), 61),
        same("unknown Transfer-Encoding", &ok("Transfer-Encoding: foo\r\n\r\nhi"), 61),
        same("Transfer-Encoding gzip, chunked", &ok("Transfer-Encoding: gzip, chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"), 61),
        same("Transfer-Encoding identity", &ok("Transfer-Encoding: identity\r\n\r\nhi"), 0),
        same("chunked and Content-Length", &ok("Transfer-Encoding: chunked\r\nContent-Length: 100\r\n\r\n2\r\nhi\r\n0\r\n\r\n"), 0),
        same("chunked in HTTP/1.0", b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n", 0),
        // Statuses without a body, interim and switching responses.
        same("204 with a Content-Length", b"HTTP/1.1 204 No Content\r\nContent-Length: 2\r\n\r\nhi", 0),
        same("304 with a Content-Length", b"HTTP/1.1 304 Not Modified\r\nContent-Length: 2\r\n\r\nhi", 0),
        same("100 Continue, then 200", b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", 0),
        same("103 with fields, then 200", b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", 0),
        case("101 nobody asked for", b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\nxx", 0, 56,
             "curl 7.88 exits 0 having saved nothing; what follows a 101 is another protocol, so it is named as an error"),
        same("bytes after the body", &ok("Content-Length: 2\r\n\r\nhi there"), 0),
        // Large heads: curl's limit is 300 KB for all fields together.
        same("5,000 fields", &many(5000, &|i| format!("X-H{i}: v")), 0),
        same("150 Set-Cookie fields", &many(150, &|i| format!("Set-Cookie: c{i}=v{i}; Path=/")), 0),
        same("250 KB head", &many(250, &|i| format!("X-H{i}: {}", "v".repeat(1000))), 0),
        same("350 KB head", &many(350, &|i| format!("X-H{i}: {}", "v".repeat(1000))), 56),
        same("70,000 tiny fields (over 300 KB)", &many(70_000, &|_| "X: v".into()), 56),
        same("one 99 KB field", &many(1, &|_| format!("X-Big: {}", "a".repeat(99 * 1024))), 0),
        case("one 110 KB field", &many(1, &|_| format!("X-Big: {}", "a".repeat(110 * 1024))), 27, 0,
             "curl 7.88 refuses a header line over 100 KB (CURL_MAX_HTTP_HEADER) as out of memory (27); only the head's total is limited here"),
    ]
}

fn serve(reply: Reply) -> RawServer {
    let reply = std::sync::Arc::new(reply);
    RawServer::start(move |s, _, _| match &*reply {
        Reply::Bytes(bytes) => {
            if read_request(s).is_some() {
                let _ = s.write_all(bytes);
            }
        }
        Reply::Reset => {
            // Wait for the request, read none of it: closing a socket
            // with unread data sends a reset.
            let _ = s.peek(&mut [0u8; 1]);
        }
    })
}

/// Whether curl 7.88 is here to compare with (see
/// [`testkit::peers::available`]); the skip notice otherwise.
fn curl_788() -> bool {
    if !testkit::peers::available("curl", "curl") {
        return false;
    }
    let Ok(out) = Command::new("curl").arg("--version").output() else {
        return false;
    };
    let version = String::from_utf8_lossy(&out.stdout);
    let first = version.lines().next().unwrap_or_default().to_string();
    if !first.starts_with("curl 7.88.") {
        testkit::skip(format_args!(
            "the curl column was measured with curl 7.88, not {first}: our column alone is checked"
        ));
        return false;
    }
    true
}

#[test]
fn malformed_replies_exit_as_curl_does() {
    let with_curl = curl_788();
    let mut wrong = Vec::new();
    let mut table = String::new();
    for c in cases() {
        assert_eq!(
            c.curl == c.ours,
            c.why.is_empty(),
            "{}: a difference needs its reason, and only a difference",
            c.what
        );
        let s = serve(c.reply);
        let url = s.url("/x");
        let ours = Run::new(BIN, &["-s", "--timeout", "10", &url], b"");
        let curl = with_curl.then(|| Run::new("curl", &["-s", "--max-time", "10", &url], b""));
        let (curl_code, ours_code) = (curl.as_ref().and_then(Run::code), ours.code());
        table.push_str(&format!(
            "{:<52} curl {:>4} ours {:>4}\n",
            c.what,
            curl_code.map_or("-".into(), |c| c.to_string()),
            ours_code.map_or("?".into(), |c| c.to_string())
        ));
        if ours_code != Some(c.ours) {
            wrong.push(format!("{}: expected {}\n{ours}", c.what, c.ours));
        }
        if let Some(curl) = &curl {
            if curl_code != Some(c.curl) {
                wrong.push(format!(
                    "{}: curl was measured at {}\n{curl}",
                    c.what, c.curl
                ));
            }
            // Where both succeed, both saved the same body.
            if c.curl == 0 && c.ours == 0 && curl.stdout != ours.stdout {
                wrong.push(format!(
                    "{}: the bodies differ\ncurl: {curl}\nours: {ours}",
                    c.what
                ));
            }
        }
    }
    eprintln!("{table}");
    assert!(wrong.is_empty(), "{}\n\n{table}", wrong.join("\n\n"));
}
