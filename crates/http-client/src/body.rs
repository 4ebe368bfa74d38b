//! Streaming body decoding: copies a body, however framed, into any
//! `Write`, and reports a body cut short as an error.

use std::io::{self, BufRead, Write};

use crate::Error;
use crate::response::Framing;

/// Longest chunk-size line or trailer section accepted.
const MAX_CHUNK_LINE: usize = 8 * 1024;

/// Where the decoded bytes go, and how many went.
fn write_out(out: &mut dyn Write, data: &[u8], progress: &mut dyn FnMut(u64)) -> Result<(), Error> {
    out.write_all(data)
        .map_err(|source| Error::Write { path: None, source })?;
    progress(data.len() as u64);
    Ok(())
}

fn read_error(e: io::Error) -> Error {
    if net_core::error::is_timeout(&e) {
        // Mapped to the request's time-out by the caller.
        return Error::Net(net_core::Error::io("read the body", e));
    }
    Error::ConnectionBroke {
        context: "the connection broke while reading the body".into(),
        source: e,
    }
}

/// Copies the body framed by `framing` from `input` to `out`, calling
/// `progress` with each piece's size. Returns the body length.
pub fn copy(
    input: &mut dyn BufRead,
    framing: Framing,
    out: &mut dyn Write,
    progress: &mut dyn FnMut(u64),
) -> Result<u64, Error> {
    match framing {
        Framing::None => Ok(0),
        Framing::Length(n) => copy_exact(input, n, out, progress),
        Framing::Close => {
            let mut total = 0;
            loop {
                let buf = input.fill_buf().map_err(read_error)?;
                if buf.is_empty() {
                    return Ok(total);
                }
                let len = buf.len();
                write_out(out, buf, progress)?;
                input.consume(len);
                total += len as u64;
            }
        }
        Framing::Chunked => copy_chunked(input, out, progress),
    }
}

fn copy_exact(
    input: &mut dyn BufRead,
    n: u64,
    out: &mut dyn Write,
    progress: &mut dyn FnMut(u64),
) -> Result<u64, Error> {
    let mut left = n;
    while left > 0 {
        let buf = input.fill_buf().map_err(read_error)?;
        if buf.is_empty() {
            return Err(Error::Partial(format!(
                "the server closed the connection {} bytes into a {n}-byte body",
                n - left
            )));
        }
        let take = (buf.len() as u64).min(left) as usize;
        write_out(out, &buf[..take], progress)?;
        input.consume(take);
        left -= take as u64;
    }
    Ok(n)
}

fn read_line(input: &mut dyn BufRead, what: &str) -> Result<Vec<u8>, Error> {
    let mut line = Vec::new();
    loop {
        let buf = input.fill_buf().map_err(read_error)?;
        if buf.is_empty() {
            return Err(Error::Partial(format!(
                "the chunked body was cut off in a {what}"
            )));
        }
        let (take, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        line.extend_from_slice(&buf[..take]);
        input.consume(take);
        if line.len() > MAX_CHUNK_LINE {
            return Err(Error::Broken(format!(
                "a {what} in the chunked body is too long"
            )));
        }
        if done {
            return Ok(line);
        }
    }
}

fn copy_chunked(
    input: &mut dyn BufRead,
    out: &mut dyn Write,
    progress: &mut dyn FnMut(u64),
) -> Result<u64, Error> {
    let mut total = 0u64;
    loop {
        let line = read_line(input, "chunk size")?;
        let Some(size) = chunk_size(&line) else {
            return Err(Error::Broken(format!(
                "bad chunk size line {:?} in the chunked body",
                String::from_utf8_lossy(&line).trim_end()
            )));
        };
        if size == 0 {
            // Trailer fields, then the empty line.
            let mut trailer_bytes = 0;
            loop {
                let line = read_line(input, "trailer")?;
                if line == b"\r\n" || line == b"\n" {
                    return Ok(total);
                }
                trailer_bytes += line.len();
                if trailer_bytes > MAX_CHUNK_LINE {
                    return Err(Error::Broken(
                        "the chunked body's trailers are too long".into(),
                    ));
                }
            }
        }
        copy_exact(input, size, out, progress).map_err(|e| match e {
            Error::Partial(_) => {
                Error::Partial("the chunked body was cut off inside a chunk".into())
            }
            Error::ConnectionBroke { source, .. } => Error::ConnectionBroke {
                context: "the chunked body was cut off inside a chunk".into(),
                source,
            },
            other => other,
        })?;
        total += size;
        let end = read_line(input, "chunk ending")?;
        if end != b"\r\n" && end != b"\n" {
            return Err(Error::Broken("a chunk is longer than its size says".into()));
        }
    }
}

/// Most hex digits in a chunk size: 16 make any 64-bit size, and curl
/// refuses more.
const MAX_CHUNK_DIGITS: usize = 16;

/// The size on a chunk-size line (`1a`, `1a;name=value`, `1a ` with its
/// LF or CRLF), or `None` when the line holds none.
fn chunk_size(line: &[u8]) -> Option<u64> {
    let line = line.strip_suffix(b"\n")?;
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 || digits > MAX_CHUNK_DIGITS {
        return None;
    }
    // After the digits: white space, then nothing or an extension.
    let rest = &line[digits..];
    let rest = &rest[rest
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(rest.len())..];
    if !rest.is_empty() && rest[0] != b';' {
        return None;
    }
    let hex = std::str::from_utf8(&line[..digits]).ok()?;
    u64::from_str_radix(hex, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(raw: &[u8], framing: Framing) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        let mut input = io::BufReader::with_capacity(3, raw); // tiny reads
        copy(&mut input, framing, &mut out, &mut |_| {})?;
        Ok(out)
    }

    #[test]
    fn lengths() {
        assert_eq!(
            decode(b"hello world", Framing::Length(5)).unwrap(),
            b"hello"
        );
        assert!(
            matches!(decode(b"hel", Framing::Length(5)), Err(Error::Partial(m)) if m.contains("3 bytes into a 5-byte body"))
        );
        assert_eq!(decode(b"all of it", Framing::Close).unwrap(), b"all of it");
        assert_eq!(decode(b"x", Framing::None).unwrap(), b"");
    }

    #[test]
    fn chunked() {
        let raw = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: yes\r\n\r\nNEXT";
        assert_eq!(decode(raw, Framing::Chunked).unwrap(), b"hello world");
        assert_eq!(
            decode(b"A\r\n0123456789\r\n0\r\n\r\n", Framing::Chunked).unwrap(),
            b"0123456789"
        );
        assert!(decode(b"5\r\nhel", Framing::Chunked).is_err());
        assert!(decode(b"5\r\nhello\r\n", Framing::Chunked).is_err());
        assert!(decode(b"zz\r\n", Framing::Chunked).is_err());
        assert!(decode(b"2\r\nabc\r\n0\r\n\r\n", Framing::Chunked).is_err());
        assert!(decode(b"0\r\nX: y\r\n", Framing::Chunked).is_err());
        assert_eq!(decode(b"2\nhi\n0\n\n", Framing::Chunked).unwrap(), b"hi");
    }

    #[test]
    fn chunk_sizes() {
        assert_eq!(chunk_size(b"1a\r\n"), Some(26));
        assert_eq!(chunk_size(b"1A\n"), Some(26));
        assert_eq!(chunk_size(b"2 \r\n"), Some(2));
        assert_eq!(chunk_size(b"2;a=b\r\n"), Some(2));
        assert_eq!(chunk_size(b"2 ; a=b\r\n"), Some(2));
        assert_eq!(chunk_size(b"ffffffffffffffff\r\n"), Some(u64::MAX));
        for bad in [
            &b"\r\n"[..],
            b"zz\r\n",
            b"-2\r\n",
            b"0x2\r\n",
            b" 2\r\n",
            b"2 2\r\n",
            b"2",
            b"10000000000000000\r\n",
        ] {
            assert_eq!(chunk_size(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn a_cut_body_is_partial() {
        for (raw, framing) in [
            (&b"hel"[..], Framing::Length(5)),
            (b"5\r\nhel", Framing::Chunked),
            (b"5\r\nhello\r\n", Framing::Chunked),
            (b"5\r\nhello\r\n0\r\n", Framing::Chunked),
        ] {
            assert!(
                matches!(decode(raw, framing), Err(Error::Partial(_))),
                "{raw:?}"
            );
        }
        assert!(matches!(
            decode(b"zz\r\n", Framing::Chunked),
            Err(Error::Broken(_))
        ));
    }

    // Mirrors the `http_response` fuzz target.
    proptest::proptest! {
        #[test]
        fn chunked_round_trip(body in proptest::collection::vec(proptest::num::u8::ANY, 0..2000), sizes in proptest::collection::vec(1usize..300, 1..20)) {
            let mut raw = Vec::new();
            let mut rest = body.as_slice();
            let mut i = 0;
            while !rest.is_empty() {
                let n = sizes[i % sizes.len()].min(rest.len());
                raw.extend_from_slice(format!("{n:x}\r\n").as_bytes());
                raw.extend_from_slice(&rest[..n]);
                raw.extend_from_slice(b"\r\n");
                rest = &rest[n..];
                i += 1;
            }
            raw.extend_from_slice(b"0\r\n\r\n");
            proptest::prop_assert_eq!(decode(&raw, Framing::Chunked).unwrap(), body.clone());
            // Cut anywhere before the end: an error, never a short success.
            let cut = sizes[0] % raw.len();
            proptest::prop_assert!(decode(&raw[..cut], Framing::Chunked).is_err());
        }

        #[test]
        fn any_input_never_panics(data in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            if let Ok(Some(head)) = crate::response::parse(&data)
                && let Ok(framing) = head.framing(false)
            {
                let rest = &data[head.raw.len()..];
                if let Ok(out) = decode(rest, framing) {
                    proptest::prop_assert!(out.len() <= rest.len());
                }
            }
            let _ = decode(&data, Framing::Chunked);
            // Past the `HTTP/` check, where the status line and fields
            // are read.
            let mut http = b"HTTP/1.1 ".to_vec();
            http.extend_from_slice(&data);
            if let Ok(Some(head)) = crate::response::parse(&http) {
                let _ = head.framing(false);
            }
        }
    }
}
