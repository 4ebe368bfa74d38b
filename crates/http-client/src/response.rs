//! Response heads and the framing of the body that follows.

use crate::Error;

/// Largest response head accepted, status line and all fields together:
/// curl 7.88's limit (`MAX_HTTP_RESP_HEADER_SIZE`, 300 KB), so every head
/// curl reads is read here too (5,000 fields, hundreds of `Set-Cookie`),
/// while a server that never ends its head cannot make the client hold
/// more than this. There is no limit on the number of fields apart from it.
pub const MAX_HEAD: usize = 300 * 1024;

/// The transfer codings that leave the body as it is (RFC 9112 section 7):
/// `chunked` is decoded, `identity` is the absence of a coding.
const PLAIN_CODINGS: [&str; 2] = ["chunked", "identity"];

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
        if let Some(coding) = te
            .iter()
            .find(|t| !PLAIN_CODINGS.iter().any(|p| t.eq_ignore_ascii_case(p)))
        {
            // Passing the coded bytes on as the body would be a wrong
            // answer; curl fails the same way (61) on what it cannot decode.
            return Err(Error::Decoding(format!(
                "the body is sent in transfer coding {coding:?}, which this client cannot decode"
            )));
        }
        if let Some(last) = te.last() {
            return Ok(if last.eq_ignore_ascii_case("chunked") {
                Framing::Chunked
            } else {
                Framing::Close
            });
        }
        // RFC 9112 section 6.3: an invalid or conflicting Content-Length
        // is an unrecoverable error for a user agent.
        let mut length = None;
        let mut overflow = false;
        for (n, v) in &self.headers {
            if !n.eq_ignore_ascii_case("content-length") {
                continue;
            }
            let text = String::from_utf8_lossy(v);
            for part in text.split(',') {
                let part = part.trim();
                if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(Error::Malformed(format!(
                        "invalid Content-Length {part:?} in the response"
                    )));
                }
                let Ok(n) = part.parse::<u64>() else {
                    overflow = true;
                    continue;
                };
                if length.is_some_and(|l| l != n) {
                    return Err(Error::Malformed(
                        "conflicting Content-Length values in the response".into(),
                    ));
                }
                length = Some(n);
            }
        }
        Ok(match length {
            // A length beyond 64 bits is no length this client can count
            // to: the body is read to the close, as curl does.
            Some(n) if !overflow => Framing::Length(n),
            Some(_) => {
                return Err(Error::Malformed(
                    "conflicting Content-Length values in the response".into(),
                ));
            }
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
///
/// Reads what curl 7.88 reads, and refuses what it refuses with the same
/// class of error: a reply that does not start with `HTTP/` (any case) or
/// whose status line is not HTTP/1.0 or 1.1 with a three-digit code of 100
/// or more is [`Error::NotHttp`]; a field line without a colon or a NUL
/// byte is [`Error::Malformed`]; anything else in a field name or value is
/// kept as sent. Lines end at LF, with or without CR before it; a line
/// starting with white space continues the field before it (obs-fold).
pub fn parse(buf: &[u8]) -> Result<Option<Head>, Error> {
    let start = &buf[..buf.len().min(5)];
    if !start.eq_ignore_ascii_case(&b"HTTP/"[..start.len()]) {
        return Err(Error::NotHttp(format!(
            "the server did not answer with HTTP (its reply begins {})",
            excerpt(buf)
        )));
    }
    let too_large = || {
        Error::Broken(format!(
            "the response head is larger than {} KB",
            MAX_HEAD / 1024
        ))
    };
    // The status line is judged as soon as it is whole, so a reply that
    // is not HTTP/1.x fails at once rather than when its head ends.
    // Not whole yet: wait for more, up to the limit.
    let incomplete = || {
        if buf.len() > MAX_HEAD {
            Err(too_large())
        } else {
            Ok(None)
        }
    };
    let Some(first) = buf.iter().position(|&b| b == b'\n') else {
        return incomplete();
    };
    let (minor, status, reason) = status_line(line_text(&buf[..first]))?;
    // The head's end: an empty line. Fields are parsed only then, so a
    // head arriving in many pieces is searched, not parsed, each time.
    let mut end = None;
    let mut pos = first + 1;
    while let Some(i) = buf[pos..].iter().position(|&b| b == b'\n') {
        if pos + i + 1 > MAX_HEAD {
            return Err(too_large());
        }
        if line_text(&buf[pos..pos + i]).is_empty() {
            end = Some(pos + i + 1);
            break;
        }
        pos += i + 1;
    }
    let Some(end) = end else {
        return incomplete();
    };
    if buf[..end].contains(&0) {
        return Err(Error::Malformed(
            "the response head holds a NUL byte".into(),
        ));
    }
    let mut headers: Vec<(String, Vec<u8>)> = Vec::new();
    for line in buf[first + 1..end].split(|&b| b == b'\n').map(line_text) {
        if line.is_empty() {
            break;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            // RFC 9112 section 5.2: a user agent must accept obs-fold,
            // replacing it with a space.
            let Some((_, value)) = headers.last_mut() else {
                return Err(Error::Malformed(
                    "the response's first header line starts with white space".into(),
                ));
            };
            let more = trim(line);
            if !more.is_empty() {
                if !value.is_empty() {
                    value.push(b' ');
                }
                value.extend_from_slice(more);
            }
            continue;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return Err(Error::Malformed(format!(
                "a header line without a colon in the response: {}",
                excerpt(line)
            )));
        };
        headers.push((
            String::from_utf8_lossy(trim(&line[..colon])).into_owned(),
            trim(&line[colon + 1..]).to_vec(),
        ));
    }
    Ok(Some(Head {
        minor,
        status,
        reason,
        headers,
        raw: buf[..end].to_vec(),
    }))
}

/// Whether [`parse`] may now say more than "incomplete" about `buf`, of
/// which the bytes from `old` on are new (`line_before`: whether the old
/// bytes held a whole first line): the new bytes may complete the first
/// line or the empty line that ends the head, or the head is at one of
/// its checks (its first five bytes, the size limit). Looks at the new
/// bytes only, so a caller that parses only then reads a head in linear
/// time however small its pieces.
pub fn may_have_ended(buf: &[u8], old: usize, line_before: bool) -> bool {
    if old < 5 || buf.len() > MAX_HEAD {
        return true;
    }
    // Two bytes of overlap: a line end split across two reads.
    let fresh = &buf[old.saturating_sub(2).min(buf.len())..];
    fresh.windows(2).any(|w| w == b"\n\n")
        || fresh.windows(3).any(|w| w == b"\n\r\n")
        || (!line_before && fresh.contains(&b'\n'))
}

/// `HTTP/1.x CODE REASON`, with curl's leniency: more white space before
/// the code, no reason. Returns the minor version, the code, the reason.
fn status_line(line: &[u8]) -> Result<(u8, u16, String), Error> {
    let bad =
        |what: &str| Error::NotHttp(format!("the server's status line {} {what}", excerpt(line)));
    // The first five bytes are `HTTP/` (any case): `parse` checked.
    let rest = &line[5..];
    let minor = match rest {
        [b'1', b'.', m @ (b'0' | b'1'), b' ', ..] => m - b'0',
        [a, b'.', m, b' ', ..] if a.is_ascii_digit() && m.is_ascii_digit() => {
            return Err(Error::NotHttp(format!(
                "the server answered in HTTP/{}.{}, which this client does not speak",
                *a as char, *m as char
            )));
        }
        [a, b' ', ..] if a.is_ascii_digit() => {
            return Err(Error::NotHttp(format!(
                "the server answered in HTTP/{}, which this client does not speak",
                *a as char
            )));
        }
        _ => return Err(bad("does not start with HTTP/1.0 or HTTP/1.1 and a space")),
    };
    let rest = &rest[4..];
    let rest = &rest[rest
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(rest.len())..];
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let status = match (digits, rest) {
        (3, [a, b, c, ..]) => {
            u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0')
        }
        _ => return Err(bad("has no three-digit status code")),
    };
    if status < 100 {
        return Err(bad("has a status code below 100"));
    }
    let reason = String::from_utf8_lossy(trim(&rest[3..])).into_owned();
    Ok((minor, status, reason))
}

/// A line without its LF and the CR before it.
fn line_text(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// `bytes` without white space (SP, HTAB) at either end.
fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |i| i + 1);
    &bytes[start..end]
}

/// The first bytes of `bytes`, quoted and escaped, for a message.
fn excerpt(bytes: &[u8]) -> String {
    /// Enough to recognise what answered (`SSH-2.0-OpenSSH_9.2`).
    const EXCERPT: usize = 40;
    let shown: String = bytes
        .iter()
        .take(EXCERPT)
        .flat_map(|&b| std::ascii::escape_default(b))
        .map(char::from)
        .collect();
    let more = if bytes.len() > EXCERPT { "…" } else { "" };
    format!("\"{shown}{more}\"")
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
        assert!(matches!(
            parse(b"SSH-2.0-OpenSSH\r\n"),
            Err(Error::NotHttp(_))
        ));
        assert!(matches!(
            parse(b"HTTP/1.1 abc OK\r\n\r\n"),
            Err(Error::NotHttp(_))
        ));
    }

    #[test]
    fn status_lines_as_curl_reads_them() {
        for ok in [
            "HTTP/1.1 200 OK\r\n\r\n",
            "HTTP/1.1 200\r\n\r\n",
            "HTTP/1.1  200 OK\r\n\r\n",
            "http/1.1 200 OK\r\n\r\n",
            "HTTP/1.0 999 Whatever\n\n",
        ] {
            assert!(parse(ok.as_bytes()).unwrap().is_some(), "{ok:?}");
        }
        for bad in [
            "HTTP/1.1 2x0 OK\r\n",
            "HTTP/1.1 1000 X\r\n",
            "HTTP/1.1 99 X\r\n",
            "HTTP/1.1 099 X\r\n",
            "HTTP/1.2 200 OK\r\n",
            "HTTP/2 200\r\n",
            "HTTP/1.1\t200 OK\r\n",
            "\r\nHTTP/1.1 200 OK\r\n",
            "<html>\n",
        ] {
            // Refused as soon as the status line is whole.
            assert!(
                matches!(parse(bad.as_bytes()), Err(Error::NotHttp(_))),
                "{bad:?}"
            );
        }
        // Too early to tell.
        assert!(parse(b"HTTP/1.1 200 OK").unwrap().is_none());
        assert!(parse(b"").unwrap().is_none());
    }

    #[test]
    fn fields_as_curl_reads_them() {
        let h = head("HTTP/1.1 200 OK\r\nX-A : b\r\n: empty\r\nX(A): \x01\r\nCL: 2\n\r\n");
        assert_eq!(h.header("x-a"), Some("b"));
        assert_eq!(h.header(""), Some("empty"));
        assert_eq!(h.header("x(a)"), Some("\x01"));
        assert_eq!(h.header("cl"), Some("2"));
        for bad in [
            "HTTP/1.1 200 OK\r\nNoColon\r\n\r\n",
            "HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n",
            "HTTP/1.1 200 OK\r\n folded: first\r\n\r\n",
        ] {
            assert!(
                matches!(parse(bad.as_bytes()), Err(Error::Malformed(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn parsing_is_skipped_only_when_nothing_can_have_changed() {
        let raw = b"HTTP/1.1 200 OK\r\nX-A: 1\r\nX-B: 2\r\n\r\n";
        // Fed in every split: wherever parse gives an answer, the new
        // bytes said it was worth trying.
        for piece in 1..8 {
            let mut old = 0;
            let mut answered = false;
            while old < raw.len() {
                let new = (old + piece).min(raw.len());
                let buf = &raw[..new];
                let worth = may_have_ended(buf, old, raw[..old].contains(&b'\n'));
                match parse(buf) {
                    Ok(None) => {}
                    _ => {
                        assert!(worth, "piece {piece}, {old}..{new}");
                        answered = true;
                    }
                }
                old = new;
            }
            assert!(answered);
        }
        // The status line's end is a moment to judge it.
        assert!(may_have_ended(b"HTTP/1.1 2x0 OK\r\n", 10, false));
        assert!(!may_have_ended(
            b"HTTP/1.1 200 OK\r\nX-A: 1\r\nX-B",
            25,
            true
        ));
    }

    #[test]
    fn heads_up_to_the_limit() {
        let mut raw = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..5000 {
            raw.extend_from_slice(format!("Set-Cookie: c{i}=v\r\n").as_bytes());
        }
        raw.extend_from_slice(b"\r\n");
        let h = parse(&raw).unwrap().unwrap();
        assert_eq!(h.headers.len(), 5000);
        assert_eq!(h.raw.len(), raw.len());
        // Past the limit, whole or not.
        let mut big = b"HTTP/1.1 200 OK\r\n".to_vec();
        while big.len() <= MAX_HEAD {
            big.extend_from_slice(b"X: v\r\n");
        }
        assert!(matches!(parse(&big), Err(Error::Broken(_))));
        big.extend_from_slice(b"\r\n");
        assert!(matches!(parse(&big), Err(Error::Broken(_))));
    }

    #[test]
    fn lengths_and_codings() {
        let framing =
            |fields: &str| head(&format!("HTTP/1.1 200 OK\r\n{fields}\r\n")).framing(false);
        assert_eq!(
            framing("Content-Length: 2, 2\r\n").unwrap(),
            Framing::Length(2)
        );
        assert_eq!(
            framing("Content-Length: 99999999999999999999999\r\n").unwrap(),
            Framing::Close
        );
        for bad in [
            "Content-Length: 2, 3\r\n",
            "Content-Length: +2\r\n",
            "Content-Length: 2x\r\n",
            "Content-Length: \r\n",
        ] {
            assert!(matches!(framing(bad), Err(Error::Malformed(_))), "{bad:?}");
        }
        assert_eq!(
            framing("Transfer-Encoding: identity\r\n").unwrap(),
            Framing::Close
        );
        assert_eq!(
            framing("Transfer-Encoding: Chunked\r\n").unwrap(),
            Framing::Chunked
        );
        for bad in [
            "Transfer-Encoding: gzip\r\n",
            "Transfer-Encoding: gzip, chunked\r\n",
        ] {
            assert!(matches!(framing(bad), Err(Error::Decoding(_))), "{bad:?}");
        }
    }
}
