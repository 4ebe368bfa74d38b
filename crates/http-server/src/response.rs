//! Responses: a status, headers and a body, written to any `Write`.
//!
//! [`Response::send`] consumes the response, so each request gets exactly
//! one. Small bodies go out in the same write as the head; large files go
//! out zero-copy with `sendfile(2)` on Linux ([`Response::send_to_socket`]
//! and [`crate::output`]; `std::io::copy` does not do that for a file and a
//! socket).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};

use crate::date;
use crate::status::Status;

/// Value of the `Server` header.
pub const SERVER: &str = concat!("netlab-http-server/", env!("CARGO_PKG_VERSION"));

/// Files up to this size are read and sent with the head in one write;
/// larger ones are streamed with sendfile.
pub const INLINE_FILE_LIMIT: u64 = 64 * 1024;

/// A response body.
#[derive(Debug)]
pub enum Body {
    /// No body (and `Content-Length: 0` where a body is allowed).
    Empty,
    /// Bytes in memory.
    Bytes(Vec<u8>),
    /// `len` bytes of `file` from `start`.
    File {
        /// The open file.
        file: File,
        /// First byte to send.
        start: u64,
        /// How many bytes.
        len: u64,
    },
}

/// A response to one request.
#[derive(Debug)]
pub struct Response {
    /// Status.
    pub status: Status,
    /// `Content-Type`, when there is a body.
    pub content_type: Option<String>,
    /// Further headers.
    pub headers: Vec<(&'static str, String)>,
    /// Body.
    pub body: Body,
    /// Close the connection after this response.
    pub close: bool,
}

impl Response {
    /// A response with an in-memory body.
    pub fn bytes(status: Status, content_type: &str, body: Vec<u8>) -> Response {
        Response {
            status,
            content_type: Some(content_type.to_string()),
            headers: Vec::new(),
            body: Body::Bytes(body),
            close: false,
        }
    }

    /// The small HTML page for an error or redirect status.
    pub fn page(status: Status, message: &str) -> Response {
        let body = format!(
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{status}</title></head>\n\
             <body><h1>{status}</h1><p>{}</p><hr><address>{SERVER}</address></body></html>\n",
            crate::listing::escape_html(message)
        );
        Response::bytes(status, "text/html; charset=utf-8", body.into_bytes())
    }

    /// Adds a header.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Marks the connection to be closed after this response.
    pub fn closing(mut self) -> Self {
        self.close = true;
        self
    }

    /// Length of the body as a GET would send it.
    pub fn body_len(&self) -> u64 {
        match &self.body {
            Body::Empty => 0,
            Body::Bytes(b) => b.len() as u64,
            Body::File { len, .. } => *len,
        }
    }

    /// Appends the status line and headers to `out`. `keep_alive_10`: an
    /// HTTP/1.0 client asked to keep the connection, so say we do.
    pub fn write_head(&self, out: &mut Vec<u8>, keep_alive_10: bool) {
        out.extend_from_slice(b"HTTP/1.1 ");
        out.extend_from_slice(self.status.code().to_string().as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.status.reason().as_bytes());
        out.extend_from_slice(b"\r\nDate: ");
        date::http_now(out);
        out.extend_from_slice(b"\r\nServer: ");
        out.extend_from_slice(SERVER.as_bytes());
        if self.status.allows_body() {
            out.extend_from_slice(b"\r\nContent-Length: ");
            out.extend_from_slice(self.body_len().to_string().as_bytes());
            if let Some(ct) = &self.content_type {
                out.extend_from_slice(b"\r\nContent-Type: ");
                out.extend_from_slice(ct.as_bytes());
            }
        }
        out.extend_from_slice(b"\r\nX-Content-Type-Options: nosniff");
        for (name, value) in &self.headers {
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
        }
        if self.close {
            out.extend_from_slice(b"\r\nConnection: close");
        } else if keep_alive_10 {
            out.extend_from_slice(b"\r\nConnection: keep-alive");
        }
        out.extend_from_slice(b"\r\n\r\n");
    }

    /// Writes the whole response (no body for HEAD or bodiless statuses),
    /// using `scratch` for the head. Returns the body bytes sent.
    pub fn send<W: Write>(
        self,
        w: &mut W,
        head_only: bool,
        keep_alive_10: bool,
        scratch: &mut Vec<u8>,
    ) -> io::Result<u64> {
        self.send_with(
            w,
            head_only,
            keep_alive_10,
            scratch,
            &mut 0,
            |w, file, len| copy_file(w, file, len),
        )
    }

    /// Like [`send`](Self::send) to a socket, under the write deadline
    /// of [`Writer`](crate::output::Writer): large files go out with
    /// `sendfile(2)` on Linux, without passing through user space.
    ///
    /// On failure (the client stalled or left, the file shrank), the error
    /// comes with how many body bytes the socket had taken by then, for
    /// the access log.
    pub fn send_to_socket(
        self,
        out: &mut crate::output::Writer<'_>,
        head_only: bool,
        keep_alive_10: bool,
        scratch: &mut Vec<u8>,
    ) -> Result<u64, (io::Error, u64)> {
        use crate::output::SendFile;
        let mut head_len = 0;
        let sent = self.send_with(
            out,
            head_only,
            keep_alive_10,
            scratch,
            &mut head_len,
            |w, file, len| w.send_file(file, len),
        );
        out.finish();
        sent.map_err(|e| (e, out.accepted.saturating_sub(head_len as u64)))
    }

    /// The common path: head, then the body; `large` sends a file body
    /// (positioned at its start) that is too big to read into memory.
    /// `head_len` is set to the head's length.
    fn send_with<W: Write>(
        self,
        w: &mut W,
        head_only: bool,
        keep_alive_10: bool,
        scratch: &mut Vec<u8>,
        head_len: &mut usize,
        large: impl FnOnce(&mut W, File, u64) -> io::Result<u64>,
    ) -> io::Result<u64> {
        scratch.clear();
        self.write_head(scratch, keep_alive_10);
        *head_len = scratch.len();
        if head_only || !self.status.allows_body() {
            w.write_all(scratch)?;
            return Ok(0);
        }
        match self.body {
            Body::Empty => {
                w.write_all(scratch)?;
                Ok(0)
            }
            Body::Bytes(b) => {
                scratch.extend_from_slice(&b);
                w.write_all(scratch)?;
                Ok(b.len() as u64)
            }
            Body::File {
                mut file,
                start,
                len,
            } => {
                if start > 0 {
                    file.seek(SeekFrom::Start(start))?;
                }
                if len <= INLINE_FILE_LIMIT {
                    let head = scratch.len();
                    scratch.resize(head + len as usize, 0);
                    file.read_exact(&mut scratch[head..])?;
                    w.write_all(scratch)?;
                    return Ok(len);
                }
                w.write_all(scratch)?;
                large(w, file, len)
            }
        }
    }
}

fn shrank() -> io::Error {
    // The client must not take a short body for a whole one.
    io::Error::new(io::ErrorKind::UnexpectedEof, "file shrank while being sent")
}

/// Copies `len` bytes of `file` (from its current position) into `w`.
fn copy_file<W: Write>(w: &mut W, file: File, len: u64) -> io::Result<u64> {
    let sent = io::copy(&mut file.take(len), w)?;
    if sent < len {
        return Err(shrank());
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(r: Response, head_only: bool) -> String {
        let mut out = Vec::new();
        r.send(&mut out, head_only, false, &mut Vec::new()).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn writes_head_and_body() {
        let text = sent(
            Response::bytes(Status::OK, "text/plain; charset=utf-8", b"hello".to_vec()),
            false,
        );
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert_eq!(body, "hello");
        let lines: Vec<&str> = head.split("\r\n").collect();
        assert_eq!(lines[0], "HTTP/1.1 200 OK");
        assert!(lines[1].starts_with("Date: ") && lines[1].ends_with(" GMT"));
        assert_eq!(lines[2], format!("Server: {SERVER}"));
        assert_eq!(lines[3], "Content-Length: 5");
        assert_eq!(lines[4], "Content-Type: text/plain; charset=utf-8");
        assert_eq!(lines[5], "X-Content-Type-Options: nosniff");
        assert_eq!(lines.len(), 6);
    }

    #[test]
    fn head_keeps_the_length_but_not_the_body() {
        let text = sent(
            Response::bytes(Status::OK, "text/plain", b"hello".to_vec()),
            true,
        );
        assert!(text.contains("Content-Length: 5\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
    }

    #[test]
    fn not_modified_has_no_length_or_body() {
        let r = Response {
            status: Status::NOT_MODIFIED,
            content_type: None,
            headers: vec![("ETag", "\"x\"".into())],
            body: Body::Empty,
            close: false,
        };
        let text = sent(r, false);
        assert!(text.starts_with("HTTP/1.1 304 Not Modified\r\n"));
        assert!(!text.contains("Content-Length"));
        assert!(text.contains("ETag: \"x\"\r\n"));
    }

    #[test]
    fn closing_and_keep_alive_headers() {
        let text = sent(
            Response::page(Status::BAD_REQUEST, "bad <request>").closing(),
            false,
        );
        assert!(text.contains("Connection: close\r\n"));
        assert!(text.contains("bad &lt;request&gt;"));
        let mut out = Vec::new();
        Response::page(Status::NOT_FOUND, "x")
            .send(&mut out, false, true, &mut Vec::new())
            .unwrap();
        assert!(
            String::from_utf8(out)
                .unwrap()
                .contains("Connection: keep-alive\r\n")
        );
    }

    #[test]
    fn file_bodies_inline_and_streamed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        for (start, len) in [(0u64, 10u64), (5, 100), (0, 200_000), (1000, 150_000)] {
            let r = Response {
                status: Status::OK,
                content_type: None,
                headers: Vec::new(),
                body: Body::File {
                    file: File::open(&path).unwrap(),
                    start,
                    len,
                },
                close: false,
            };
            let mut out = Vec::new();
            assert_eq!(
                r.send(&mut out, false, false, &mut Vec::new()).unwrap(),
                len
            );
            let body_at = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
            assert_eq!(
                &out[body_at..],
                &data[start as usize..(start + len) as usize]
            );
        }
    }
}
