//! Reading HTTP/1.x responses off a raw connection, for the tests, the
//! soak and the benchmark's load generator: one reader instead of one per
//! caller. It frames by `Content-Length` only, which is what the servers
//! under test send; anything else is an error, not a guess.

use std::io::{self, BufRead, Read, Write};

/// One response: the status, the head as received (status line and header
/// lines, CRLFs kept, without the blank line) and the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The status line and header lines, as received.
    pub head: String,
    /// The body (empty when [`read_response_to`] sent it elsewhere).
    pub body: Vec<u8>,
}

impl Response {
    /// The value of the first header called `name` (any case), trimmed.
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }

    /// The body as text, invalid UTF-8 replaced.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Reads one response from `r`. `head_request`: the request was `HEAD`,
/// so no body follows whatever `Content-Length` says.
///
/// ```
/// let wire = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiHTTP/1.1 404 Not Found\r\n";
/// let mut r = &wire[..];
/// let first = testkit::http::read_response(&mut r, false).unwrap();
/// assert_eq!((first.status, first.text().as_str()), (200, "hi"));
/// assert!(testkit::http::read_response(&mut r, false).is_err());
/// ```
pub fn read_response(r: &mut impl BufRead, head_request: bool) -> io::Result<Response> {
    let mut body = Vec::new();
    let response = read_response_to(r, head_request, &mut body)?;
    Ok(Response { body, ..response })
}

/// Reads one response from `r`, copying its body into `body` (say
/// `io::sink()` when only the framing matters); the returned
/// [`Response::body`] is empty.
pub fn read_response_to(
    r: &mut impl BufRead,
    head_request: bool,
    body: &mut impl Write,
) -> io::Result<Response> {
    let response = read_head(r)?;
    let len = if head_request || response.status == 304 || response.status < 200 {
        0
    } else {
        response
            .header("content-length")
            .ok_or_else(|| invalid("the response has no Content-Length", &response.head))?
            .parse::<u64>()
            .map_err(|_| {
                invalid(
                    "the response's Content-Length is not a number",
                    &response.head,
                )
            })?
    };
    let copied = io::copy(&mut r.take(len), body)?;
    if copied < len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("connection closed after {copied} of {len} body bytes"),
        ));
    }
    Ok(response)
}

/// Reads the status line and headers, up to and including the blank line.
fn read_head(r: &mut impl BufRead) -> io::Result<Response> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("connection closed mid-head; got so far: {head:?}"),
            ));
        }
        if line == "\r\n" || line == "\n" {
            break;
        }
        head.push_str(&line);
    }
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| invalid("the status line has no status code", &head))?;
    Ok(Response {
        status,
        head,
        body: Vec::new(),
    })
}

fn invalid(what: &str, head: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("{what}: {head:?}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reads_keep_alive_responses_in_turn() {
        let wire = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\nHTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n";
        let mut r = &wire[..];
        let a = read_response(&mut r, false).unwrap();
        assert_eq!(a.status, 200);
        assert_eq!(a.body, b"hello");
        assert_eq!(a.header("CONTENT-LENGTH").as_deref(), Some("5"));
        assert_eq!(read_response(&mut r, false).unwrap().status, 304);
        assert_eq!(read_response(&mut r, false).unwrap().status, 404);
        assert!(r.is_empty());
    }

    #[test]
    fn head_request_has_no_body() {
        let mut r = &b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"[..];
        let a = read_response(&mut r, true).unwrap();
        assert!(a.body.is_empty());
    }

    #[test]
    fn body_to_a_sink() {
        let mut r = &b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nabc"[..];
        let mut body = Vec::new();
        let a = read_response_to(&mut r, false, &mut body).unwrap();
        assert_eq!(
            (a.status, a.body.len(), body.as_slice()),
            (200, 0, &b"abc"[..])
        );
    }

    #[test]
    fn truncated_or_unframed_is_an_error() {
        let cases: [&[u8]; 4] = [
            b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort",
            b"HTTP/1.1 200 OK\r\nContent-Le",
            b"HTTP/1.1 200 OK\r\n\r\nno length",
            b"HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n",
        ];
        for wire in cases {
            let mut r = wire;
            assert!(read_response(&mut r, false).is_err(), "{wire:?}");
        }
    }
}
