//! `--compressed`: content codings (RFC 9110 section 8.4), decoded on the
//! way to the output as curl decodes them.
//!
//! Only when asked for: without `--compressed` nothing is announced and
//! the body is written as sent, whatever its `Content-Encoding` says
//! (curl's default, so a `.tar.gz` served with `Content-Encoding: gzip`
//! stays a `.tar.gz`). With it, [`ACCEPT_ENCODING`] is sent and each
//! coding named by the response is undone, last applied first. A body
//! that does not decode, or a coding this client does not know, is
//! [`Error::Decoding`] (curl's exit 61).

use std::fmt;
use std::io::{self, Write};

use crate::Error;
use crate::response::Head;

/// The `Accept-Encoding` sent with `--compressed`: every coding decoded
/// here, in curl's order.
pub const ACCEPT_ENCODING: &str = "deflate, gzip, br, zstd";

/// Working buffer of the brotli decoder: its default size.
const BROTLI_BUFFER: usize = 4096;

/// A coding this client can undo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coding {
    Gzip,
    Deflate,
    Brotli,
    Zstd,
}

impl Coding {
    fn parse(name: &str) -> Option<Option<Coding>> {
        Some(match name.to_ascii_lowercase().as_str() {
            // `x-gzip` is the old name, which RFC 9110 says to accept.
            "gzip" | "x-gzip" => Some(Coding::Gzip),
            "deflate" => Some(Coding::Deflate),
            "br" => Some(Coding::Brotli),
            "zstd" => Some(Coding::Zstd),
            "identity" => None,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Coding::Gzip => "gzip",
            Coding::Deflate => "deflate",
            Coding::Brotli => "br",
            Coding::Zstd => "zstd",
        }
    }
}

/// The codings of `head`'s body, in the order they were applied. An
/// unknown one is an error.
fn codings(head: &Head) -> Result<Vec<Coding>, Error> {
    let mut out = Vec::new();
    for (name, value) in &head.headers {
        if !name.eq_ignore_ascii_case("content-encoding") {
            continue;
        }
        for token in String::from_utf8_lossy(value).split(',') {
            let token = token.trim();
            if token.is_empty() {
                continue;
            }
            match Coding::parse(token) {
                Some(Some(c)) => out.push(c),
                Some(None) => {}
                None => {
                    return Err(Error::Decoding(format!(
                        "the body is sent in content coding {token:?}, which this client cannot decode (it knows {ACCEPT_ENCODING})"
                    )));
                }
            }
        }
    }
    Ok(out)
}

/// What the body of `head` is written through: `out` itself when it is
/// not encoded, else a [`Decoder`] in front of it.
pub fn writer<'a>(head: &Head, out: &'a mut dyn Write) -> Result<Decoder<'a>, Error> {
    let mut layer: Box<dyn Layer + 'a> = Box::new(Sink(out));
    let codings = match codings(head) {
        Ok(c) => c,
        // As curl: refused when a byte of the body comes, so a HEAD, a
        // 204 or an empty body is no error.
        Err(e) => {
            return Ok(Decoder {
                top: layer,
                names: String::new(),
                unknown: Some(e.to_string()),
            });
        }
    };
    for &coding in &codings {
        // Applied first is undone last, so it sits nearest the output.
        layer = match coding {
            Coding::Gzip => Box::new(Flate {
                inner: flate2::write::GzDecoder::new(layer),
                fed: false,
            }),
            Coding::Deflate => Box::new(Inflate::new(layer)),
            Coding::Brotli => Box::new(Brotli {
                inner: brotli::DecompressorWriter::new(layer, BROTLI_BUFFER),
                fed: false,
            }),
            Coding::Zstd => Box::new(Zstd {
                inner: zstd::stream::write::Decoder::new(layer)
                    .map_err(|e| Error::Decoding(format!("cannot start zstd decoding ({e})")))?,
                fed: false,
            }),
        };
    }
    Ok(Decoder {
        top: layer,
        names: codings
            .iter()
            .map(|c| c.name())
            .collect::<Vec<_>>()
            .join(", "),
        unknown: None,
    })
}

/// Decodes what is written to it into the output it was made for.
/// Errors of the output itself come out as they were (so a full disk is
/// still a write error); the body's own faults are marked, and
/// [`Decoder::error`] turns them into [`Error::Decoding`].
pub struct Decoder<'a> {
    top: Box<dyn Layer + 'a>,
    names: String,
    /// Why the body cannot be decoded at all (a coding this client does
    /// not know).
    unknown: Option<String>,
}

impl fmt::Debug for Decoder<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decoder")
            .field("codings", &self.names)
            .finish_non_exhaustive()
    }
}

impl Decoder<'_> {
    /// Ends the body: whatever the decoders still hold is written out, and
    /// a body that stopped in the middle of its coding is an error.
    pub fn finish(mut self) -> Result<(), Error> {
        self.top.finish().map_err(|e| {
            self.error(Error::Write {
                path: None,
                source: unwrap_output(e),
            })
        })
    }

    /// `e` as [`Error::Decoding`] when the body's coding caused it.
    pub fn error(&self, e: Error) -> Error {
        match e {
            Error::Write { source, .. } if source.get_ref().is_some_and(|i| i.is::<AfterEnd>()) => {
                Error::AfterEnd(format!(
                    "the body goes on after the end of its {} stream ({})",
                    self.names,
                    source
                        .get_ref()
                        .map_or_else(String::new, ToString::to_string)
                ))
            }
            Error::Write { source, .. } if is_decoding(&source) && self.unknown.is_some() => {
                Error::Decoding(self.unknown.clone().unwrap_or_default())
            }
            Error::Write { source, .. } if is_decoding(&source) => Error::Decoding(format!(
                "the body does not decode as {} ({})",
                self.names,
                source
                    .get_ref()
                    .map_or_else(|| source.to_string(), ToString::to_string)
            )),
            other => other,
        }
    }
}

impl Write for Decoder<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let (Some(why), false) = (&self.unknown, buf.is_empty()) {
            return Err(io::Error::new(io::ErrorKind::InvalidData, Bad(why.clone())));
        }
        match self.top.write(buf) {
            // The coded stream ended and more came.
            Ok(0) if !buf.is_empty() => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                AfterEnd(buf.len()),
            )),
            other => other.map_err(unwrap_output),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.top.flush().map_err(unwrap_output)
    }
}

/// Marks an error of the output (not of decoding) on its way up through
/// the decoders, which pass their writer's errors on as they are.
#[derive(Debug)]
struct Output(io::Error);

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Output {}

/// The output's own error back as it was; anything else is the coding's.
fn unwrap_output(e: io::Error) -> io::Error {
    if e.get_ref().is_some_and(|i| i.is::<Output>()) {
        let kind = e.kind();
        return match e.into_inner().map(|i| i.downcast::<Output>()) {
            Some(Ok(output)) => output.0,
            _ => io::Error::from(kind),
        };
    }
    io::Error::new(io::ErrorKind::InvalidData, Bad(e.to_string()))
}

/// Bytes after the end of the coded stream (at least this many).
#[derive(Debug)]
struct AfterEnd(usize);

impl fmt::Display for AfterEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} more bytes came after its end", self.0)
    }
}

impl std::error::Error for AfterEnd {}

/// A fault in the body's coding.
#[derive(Debug)]
struct Bad(String);

impl fmt::Display for Bad {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Bad {}

fn is_decoding(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|i| i.is::<Bad>())
}

/// One decoder in the chain: a writer that can be told the input ended.
trait Layer: Write {
    fn finish(&mut self) -> io::Result<()>;
}

/// The output at the end of the chain.
struct Sink<'a>(&'a mut dyn Write);

impl Write for Sink<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .write(buf)
            .map_err(|e| io::Error::new(e.kind(), Output(e)))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0
            .flush()
            .map_err(|e| io::Error::new(e.kind(), Output(e)))
    }
}

impl Layer for Sink<'_> {
    fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The body ended inside the coding's stream.
fn truncated(coding: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("the {coding} stream ends early"),
    )
}

/// gzip. `fed`: whether any byte came (an empty body is no gzip stream,
/// and is passed on as empty, as curl does).
struct Flate<W: Write> {
    inner: flate2::write::GzDecoder<W>,
    fed: bool,
}

impl<'a> Write for Flate<Box<dyn Layer + 'a>> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.fed |= !buf.is_empty();
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<'a> Layer for Flate<Box<dyn Layer + 'a>> {
    fn finish(&mut self) -> io::Result<()> {
        if self.fed {
            // Checks the trailer's CRC and length, which a stream cut
            // short lacks.
            self.inner.try_finish()?;
        }
        self.inner.get_mut().finish()
    }
}

/// deflate: the zlib format (RFC 1950) as the standard says, or raw
/// deflate (RFC 1951) as some servers send it, told apart by the first
/// two bytes as curl does. Driven by hand rather than through flate2's
/// writers so that a stream cut before its end is seen.
struct Inflate<'a> {
    /// `None` until the first two bytes came.
    z: Option<flate2::Decompress>,
    start: Vec<u8>,
    out: Box<dyn Layer + 'a>,
    buf: Vec<u8>,
    ended: bool,
}

/// Output buffer of the deflate decoder.
const INFLATE_BUFFER: usize = 32 * 1024;

impl<'a> Inflate<'a> {
    fn new(out: Box<dyn Layer + 'a>) -> Self {
        Inflate {
            z: None,
            start: Vec::new(),
            out,
            buf: vec![0; INFLATE_BUFFER],
            ended: false,
        }
    }

    /// Picks the format from the first bytes and feeds them.
    fn decide(&mut self) -> io::Result<()> {
        let s = std::mem::take(&mut self.start);
        let zlib =
            s.len() >= 2 && s[0] & 0x0f == 8 && (u16::from(s[0]) << 8 | u16::from(s[1])) % 31 == 0;
        self.z = Some(flate2::Decompress::new(zlib));
        self.feed(&s).map(drop)
    }

    /// Decodes from `input` up to the stream's end; returns how much of
    /// it was taken.
    fn feed(&mut self, mut input: &[u8]) -> io::Result<usize> {
        let whole = input.len();
        let Some(z) = self.z.as_mut() else {
            return Ok(0);
        };
        while !self.ended {
            let (in0, out0) = (z.total_in(), z.total_out());
            let status = z
                .decompress(input, &mut self.buf, flate2::FlushDecompress::None)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            let used = (z.total_in() - in0) as usize;
            let made = (z.total_out() - out0) as usize;
            self.out.write_all(&self.buf[..made])?;
            input = &input[used..];
            // What follows the end is left untaken: `Decoder` reports it.
            self.ended = status == flate2::Status::StreamEnd;
            if used == 0 && made == 0 && !input.is_empty() && !self.ended {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "the deflate decoder takes no more input",
                ));
            }
            if input.is_empty() && made < self.buf.len() {
                break;
            }
        }
        Ok(whole - input.len())
    }
}

impl Write for Inflate<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.z.is_none() {
            let take = buf.len().min(2 - self.start.len());
            self.start.extend_from_slice(&buf[..take]);
            if self.start.len() == 2 {
                self.decide()?;
            }
            return Ok(take);
        }
        self.feed(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl Layer for Inflate<'_> {
    fn finish(&mut self) -> io::Result<()> {
        if self.z.is_none() && !self.start.is_empty() {
            self.decide()?;
        }
        // The decoder may hold the last of the output until asked to
        // finish.
        while let (Some(z), false) = (self.z.as_mut(), self.ended) {
            let out0 = z.total_out();
            let status = z
                .decompress(&[], &mut self.buf, flate2::FlushDecompress::Finish)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            let made = (z.total_out() - out0) as usize;
            self.out.write_all(&self.buf[..made])?;
            self.ended = status == flate2::Status::StreamEnd;
            if made == 0 && !self.ended {
                return Err(truncated("deflate"));
            }
        }
        self.out.finish()
    }
}

/// br.
struct Brotli<W: Write> {
    inner: brotli::DecompressorWriter<W>,
    fed: bool,
}

impl<'a> Write for Brotli<Box<dyn Layer + 'a>> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.fed |= !buf.is_empty();
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<'a> Layer for Brotli<Box<dyn Layer + 'a>> {
    fn finish(&mut self) -> io::Result<()> {
        if self.fed {
            self.inner.close()?;
        }
        self.inner.get_mut().finish()
    }
}

/// zstd.
struct Zstd<'a> {
    inner: zstd::stream::write::Decoder<'static, Box<dyn Layer + 'a>>,
    fed: bool,
}

impl Write for Zstd<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.fed |= !buf.is_empty();
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl Layer for Zstd<'_> {
    fn finish(&mut self) -> io::Result<()> {
        if self.fed {
            // Says "incomplete frame" for a stream cut short.
            self.inner.do_finish()?;
        }
        self.inner.get_mut().finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(encoding: &str) -> Head {
        let raw = format!("HTTP/1.1 200 OK\r\nContent-Encoding: {encoding}\r\n\r\n");
        crate::response::parse(raw.as_bytes()).unwrap().unwrap()
    }

    /// Decodes `body` written in pieces of `piece` bytes.
    fn decode(encoding: &str, body: &[u8], piece: usize) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        let mut d = writer(&head(encoding), &mut out)?;
        for part in body.chunks(piece.max(1)) {
            d.write_all(part)
                .map_err(|source| d.error(Error::Write { path: None, source }))?;
        }
        d.finish()?;
        Ok(out)
    }

    fn text() -> Vec<u8> {
        (0..20_000u32)
            .flat_map(|i| format!("line {i} of the page\n").into_bytes())
            .collect()
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn raw_deflate(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn br(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut e = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
            e.write_all(data).unwrap();
        }
        out
    }

    fn zstd(data: &[u8]) -> Vec<u8> {
        zstd::stream::encode_all(data, 3).unwrap()
    }

    #[test]
    fn every_coding_decodes_in_any_pieces() {
        let text = text();
        for (name, coded) in [
            ("gzip", gzip(&text)),
            ("x-gzip", gzip(&text)),
            ("deflate", zlib(&text)),
            ("deflate", raw_deflate(&text)),
            ("br", br(&text)),
            ("zstd", zstd(&text)),
            ("identity", text.clone()),
        ] {
            for piece in [1, 7, 4096, coded.len()] {
                let got = decode(name, &coded, piece).unwrap();
                assert!(
                    got == text,
                    "{name} in pieces of {piece}: {} bytes",
                    got.len()
                );
            }
        }
    }

    #[test]
    fn stacked_codings_are_undone_last_first() {
        let text = text();
        assert!(decode("gzip, br", &br(&gzip(&text)), 999).unwrap() == text);
        assert!(decode("identity, deflate , zstd", &zstd(&zlib(&text)), 10).unwrap() == text);
    }

    #[test]
    fn an_empty_body_stays_empty() {
        for name in ["gzip", "deflate", "br", "zstd"] {
            assert_eq!(decode(name, b"", 1).unwrap(), b"", "{name}");
        }
    }

    #[test]
    fn damaged_or_cut_bodies_are_decoding_errors() {
        let text = text();
        for (name, coded) in [
            ("gzip", gzip(&text)),
            ("deflate", zlib(&text)),
            ("br", br(&text)),
            ("zstd", zstd(&text)),
        ] {
            let cut = &coded[..coded.len() / 2];
            let e = decode(name, cut, 100).unwrap_err();
            assert_eq!(e.exit_code(), 61, "{name} cut: {e}");
            let cut = &coded[..coded.len() - 1];
            let e = decode(name, cut, 100).unwrap_err();
            assert_eq!(e.exit_code(), 61, "{name} without its last byte: {e}");
            let mut bad = coded.clone();
            let mid = bad.len() / 3;
            bad[mid..mid + 8].copy_from_slice(b"\xff\x00\xff\x00garb");
            let e = decode(name, &bad, 100).unwrap_err();
            assert_eq!(e.exit_code(), 61, "{name} damaged: {e}");
        }
        let e = decode("gzip", b"this is not gzip at all", 5).unwrap_err();
        assert_eq!(e.exit_code(), 61);
        assert!(e.to_string().contains("does not decode as gzip"), "{e}");
    }

    #[test]
    fn unknown_codings_are_refused_when_a_body_comes() {
        let e = decode("compress", b"x", 1).unwrap_err();
        assert_eq!(e.exit_code(), 61);
        assert!(e.to_string().contains("\"compress\""), "{e}");
        let e = decode("gzip, compress", b"x", 1).unwrap_err();
        assert!(e.to_string().contains("\"compress\""), "{e}");
        assert_eq!(decode("compress", b"", 1).unwrap(), b"");
    }

    proptest::proptest! {
        // Whatever a server sends as a coded body: decoded or an error
        // (61, or 23 for more after a stream's end), never a panic.
        #[test]
        fn any_body_in_any_coding_never_panics(
            data in proptest::collection::vec(proptest::num::u8::ANY, 0..800),
            piece in 1usize..64,
            which in 0usize..5,
        ) {
            let name = ["gzip", "deflate", "br", "zstd", "gzip, br"][which];
            if let Err(e) = decode(name, &data, piece) {
                // 23: bytes that happen to make a whole stream, then more.
                let code = e.exit_code();
                proptest::prop_assert!(code == 61 || code == 23, "{}", e);
            }
            // A whole stream with more after it: as far as its end,
            // then curl's 23 (or, for zstd, where frames may follow one
            // another, 61 for what is not a frame).
            for (name, mut coded) in [("gzip", gzip(b"kept")), ("deflate", zlib(b"kept")), ("br", br(b"kept")), ("zstd", zstd(b"kept"))] {
                coded.extend_from_slice(&data);
                if let Err(e) = decode(name, &coded, piece) {
                    let code = e.exit_code();
                    proptest::prop_assert!(code == 23 || code == 61, "{}: {}", name, e);
                }
            }
        }
    }

    #[test]
    fn bytes_after_the_end_are_curls_23_but_zstd_frames_may_follow() {
        for (name, mut coded) in [
            ("gzip", gzip(b"kept\n")),
            ("deflate", zlib(b"kept\n")),
            ("deflate", raw_deflate(b"kept\n")),
            ("br", br(b"kept\n")),
        ] {
            coded.extend_from_slice(b"JUNKJUNK");
            for piece in [1, 3, 1000] {
                let e = decode(name, &coded, piece).unwrap_err();
                assert_eq!(e.exit_code(), 23, "{name} in pieces of {piece}: {e}");
                assert!(e.to_string().contains("after the end"), "{e}");
            }
        }
        let mut two = zstd(b"kept\n");
        two.extend_from_slice(&zstd(b"more\n"));
        assert_eq!(decode("zstd", &two, 5).unwrap(), b"kept\nmore\n");
        let mut junk = zstd(b"kept\n");
        junk.extend_from_slice(b"JUNKJUNK");
        assert_eq!(decode("zstd", &junk, 5).unwrap_err().exit_code(), 61);
    }

    #[test]
    fn output_errors_stay_write_errors() {
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::from_raw_os_error(28))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut full = Full;
        let coded = gzip(&text());
        let mut d = writer(&head("gzip"), &mut full).unwrap();
        let e = d.write_all(&coded).unwrap_err();
        let e = d.error(Error::Write {
            path: None,
            source: e,
        });
        assert_eq!(e.exit_code(), 23, "{e}");
        assert_eq!(
            std::error::Error::source(&e)
                .and_then(|s| s.downcast_ref::<io::Error>())
                .and_then(io::Error::raw_os_error),
            Some(28)
        );
    }
}
