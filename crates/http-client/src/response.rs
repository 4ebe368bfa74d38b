//! Response heads and the framing of the body that follows.

use crate::Error;

/// Largest response head accepted.
pub const MAX_HEAD: usize = 64 * 1024;

/// Most header fields accepted.
pub const MAX_HEADERS: usize = 128;

/// A parsed response head, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// `HTTP/1.x` minor version.
    pub minor: u8,
    /// Status code.
    pub status: u16,
    /// Reason phrase.
    pub reason: String,
    /// Fields in order, values as sent.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The head exactly as received, for printing.
    pub raw: Vec<u8>,
}

/// How the body after a head is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    None,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
    /// Until the server closes the connection.
    Close,
}

impl Head {
    /// The first value of a header, as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
            .map(str::trim)
    }

    /// The first value of a header, as sent (after unfolding).
    pub fn header_bytes(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// Whether a header lists `token` (comma-separated, any case).
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .filter_map(|(_, v)| std::str::from_utf8(v).ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    /// The body framing for this response to a request that was (or was
    /// not) HEAD (RFC 9112 section 6.3).
    pub fn framing(&self, head_request: bool) -> Result<Framing, Error> {
        if head_request || self.status < 200 || self.status == 204 || self.status == 304 {
            return Ok(Framing::None);
        }
        let te: Vec<&str> = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("transfer-encoding"))
            .filter_map(|(_, v)| std::str::from_utf8(v).ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .collect();
        if let Some(last) = te.last() {
            return Ok(if last.eq_ignore_ascii_case("chunked") {
                Framing::Chunked
            } else {
                Framing::Close
            });
        }
        let mut length = None;
        for (n, v) in &self.headers {
            if !n.eq_ignore_ascii_case("content-length") {
                continue;
            }
            let text = std::str::from_utf8(v)
                .map_err(|_| Error::Broken("invalid Content-Length in the response".into()))?;
            for part in text.split(',') {
                let part = part.trim();
                if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(Error::Broken(format!(
                        "invalid Content-Length {part:?} in the response"
                    )));
                }
                let n: u64 = part.parse().map_err(|_| {
                    Error::Broken("Content-Length too large in the response".into())
                })?;
                if length.is_some_and(|l| l != n) {
                    return Err(Error::Broken(
                        "conflicting Content-Length headers in the response".into(),
                    ));
                }
                length = Some(n);
            }
        }
        Ok(match length {
            Some(n) => Framing::Length(n),
            None => Framing::Close,
        })
    }

    /// Whether the connection can carry another request after this body.
    pub fn reusable(&self, framing: Framing) -> bool {
        framing != Framing::Close
            && !self.has_token("connection", "close")
            && (self.minor >= 1 || self.has_token("connection", "keep-alive"))
    }
}

/// Parses a head at the start of `buf`: `Ok(None)` when incomplete.
pub fn parse(buf: &[u8]) -> Result<Option<Head>, Error> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    // RFC 9112 section 5.2: a user agent must accept obs-fold in responses.
    let parsed = httparse::ParserConfig::default()
        .allow_obsolete_multiline_headers_in_responses(true)
        .parse_response(&mut resp, buf);
    match parsed {
        Ok(httparse::Status::Complete(len)) => {
            let (Some(minor), Some(status)) = (resp.version, resp.code) else {
                return Err(Error::Broken(
                    "the server's status line is incomplete".into(),
                ));
            };
            Ok(Some(Head {
                minor,
                status,
                reason: resp.reason.unwrap_or_default().to_string(),
                headers: resp
                    .headers
                    .iter()
                    .map(|h| (h.name.to_string(), unfold(h.value)))
                    .collect(),
                raw: buf[..len].to_vec(),
            }))
        }
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => Err(Error::Broken(format!(
            "the response head is larger than {MAX_HEAD} bytes"
        ))),
        Ok(httparse::Status::Partial) => {
            // Reject garbage early rather than waiting for a head that
            // will never parse.
            let looks_http = buf.len() < 5 || buf.starts_with(b"HTTP/");
            if looks_http {
                Ok(None)
            } else {
                Err(Error::Broken("the server did not answer with HTTP".into()))
            }
        }
        Err(_) if !buf.starts_with(b"HTTP/") => {
            Err(Error::Broken("the server did not answer with HTTP".into()))
        }
        Err(e) => Err(Error::Broken(format!(
            "malformed response from the server ({e})"
        ))),
    }
}

/// A field value with each obs-fold (a line break followed by spaces or
/// tabs) replaced by one space, as RFC 9112 section 5.2 asks.
fn unfold(value: &[u8]) -> Vec<u8> {
    if !value.contains(&b'\n') {
        return value.to_vec();
    }
    let mut out = Vec::with_capacity(value.len());
    let mut folding = false;
    for &b in value {
        match b {
            b'\r' | b'\n' => folding = true,
            b' ' | b'\t' if folding => {}
            _ => {
                if folding {
                    out.push(b' ');
                    folding = false;
                }
                out.push(b);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(raw: &str) -> Head {
        parse(raw.as_bytes()).unwrap().unwrap()
    }

    #[test]
    fn framing_rules() {
        let h = head("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
        assert_eq!(h.framing(false).unwrap(), Framing::Length(5));
        assert_eq!(h.framing(true).unwrap(), Framing::None);
        assert!(h.reusable(Framing::Length(5)));
        let h = head("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n");
        assert_eq!(h.framing(false).unwrap(), Framing::Chunked);
        let h = head("HTTP/1.0 200 OK\r\n\r\n");
        assert_eq!(h.framing(false).unwrap(), Framing::Close);
        assert!(!h.reusable(Framing::Close));
        let h = head("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n");
        assert!(!h.reusable(Framing::Length(1)));
        let h = head("HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n");
        assert_eq!(h.framing(false).unwrap(), Framing::None);
        let h = head("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n");
        assert!(!h.reusable(Framing::Length(1)));
        let h = head("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n");
        assert!(h.framing(false).is_err());
        let h = head("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n");
        assert!(h.framing(false).is_err());
    }

    #[test]
    fn obs_fold_is_unfolded() {
        let h =
            head("HTTP/1.1 200 OK\r\nX-Long: one\r\n  two\r\n\tthree\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(h.header("x-long"), Some("one two three"));
        assert_eq!(h.framing(false).unwrap(), Framing::Length(0));
        let h = head("HTTP/1.1 200 OK\r\nContent-Length:\r\n 3\r\n\r\n");
        assert_eq!(h.framing(false).unwrap(), Framing::Length(3));
    }

    #[test]
    fn heads() {
        let h = head("HTTP/1.1 404 Not Found\r\nX-A: 1\r\n\r\nbody");
        assert_eq!(
            (h.status, h.reason.as_str(), h.minor),
            (404, "Not Found", 1)
        );
        assert_eq!(h.header("x-a"), Some("1"));
        assert_eq!(h.raw, b"HTTP/1.1 404 Not Found\r\nX-A: 1\r\n\r\n");
        assert!(parse(b"HTTP/1.1 200 OK\r\n").unwrap().is_none());
        assert!(parse(b"HTT").unwrap().is_none());
        assert!(parse(b"SSH-2.0-OpenSSH\r\n").is_err());
        assert!(parse(b"HTTP/1.1 abc OK\r\n\r\n").is_err());
    }
}
