//! Text helpers: streaming Unicode uppercase and log-safe previews.
//!
//! [`UppercaseStream`] uppercases a byte stream fed in arbitrary chunks with
//! the same result as uppercasing the whole input at once, which is what
//! Python's `str.upper()` gives for valid text (`straße` → `STRASSE`). A
//! UTF-8 character split across two chunks is held back until it is
//! complete; bytes that are not valid UTF-8 pass through unchanged.

use std::fmt::Write as _;

/// Longest UTF-8 encoding of one character.
const MAX_UTF8_LEN: usize = 4;

/// Uppercases `input` in one go, passing invalid UTF-8 bytes through.
///
/// ```
/// assert_eq!(net_core::text::uppercase_bytes("straße".as_bytes()), "STRASSE".as_bytes());
/// assert_eq!(net_core::text::uppercase_bytes(b"a\xffb"), b"A\xffB");
/// ```
pub fn uppercase_bytes(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut up = UppercaseStream::new();
    up.feed(input, &mut out);
    up.finish(&mut out);
    out
}

/// Streaming uppercase state: at most one incomplete character.
#[derive(Debug, Default, Clone)]
pub struct UppercaseStream {
    pending: [u8; MAX_UTF8_LEN],
    pending_len: usize,
}

impl UppercaseStream {
    /// A stream with nothing pending.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes held back waiting for the rest of their character.
    pub fn pending(&self) -> &[u8] {
        &self.pending[..self.pending_len]
    }

    /// Uppercases `input`, appending to `out`. A trailing incomplete
    /// character is kept for the next call.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) {
        if self.pending_len == 0 && input.is_ascii() {
            // The common case: one pass, no UTF-8 decoding.
            out.extend(input.iter().map(u8::to_ascii_uppercase));
        } else if self.pending_len == 0 {
            self.process(input, out);
        } else {
            // Rare: only when a read ended inside a character. Joining costs
            // a copy of this chunk and keeps the logic identical to one-shot.
            let mut joined = Vec::with_capacity(self.pending_len + input.len());
            joined.extend_from_slice(self.pending());
            joined.extend_from_slice(input);
            self.pending_len = 0;
            self.process(&joined, out);
        }
    }

    /// Ends the stream: bytes of an incomplete character are not valid
    /// UTF-8, so they pass through unchanged.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.pending());
        self.pending_len = 0;
    }

    fn process(&mut self, data: &[u8], out: &mut Vec<u8>) {
        out.reserve(data.len());
        let mut chunks = data.utf8_chunks().peekable();
        while let Some(chunk) = chunks.next() {
            push_upper(chunk.valid(), out);
            let invalid = chunk.invalid();
            if invalid.is_empty() {
                continue;
            }
            let last = chunks.peek().is_none();
            if last && is_incomplete_char(invalid) {
                self.pending[..invalid.len()].copy_from_slice(invalid);
                self.pending_len = invalid.len();
            } else {
                out.extend_from_slice(invalid);
            }
        }
    }
}

/// True when `bytes` is the start of a valid UTF-8 character that needs more
/// bytes (as opposed to bytes that can never be valid).
fn is_incomplete_char(bytes: &[u8]) -> bool {
    bytes.len() < MAX_UTF8_LEN
        && matches!(std::str::from_utf8(bytes), Err(e) if e.valid_up_to() == 0 && e.error_len().is_none())
}

fn push_upper(s: &str, out: &mut Vec<u8>) {
    if s.is_ascii() {
        out.extend(s.bytes().map(|b| b.to_ascii_uppercase()));
        return;
    }
    let mut buf = [0u8; MAX_UTF8_LEN];
    for c in s.chars() {
        if c.is_ascii() {
            out.push(c.to_ascii_uppercase() as u8);
        } else {
            for u in c.to_uppercase() {
                out.extend_from_slice(u.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
}

/// Default length of a log preview, in characters.
pub const PREVIEW_CHARS: usize = 80;

/// A quoted, escaped, length-limited rendering of bytes for logs:
/// `"TANMAYI 31"`, `"line\n"`, `"\xff…"` (+ byte count when cut).
pub fn preview(bytes: &[u8], max_chars: usize) -> String {
    let mut s = String::with_capacity(bytes.len().min(max_chars) + 8);
    preview_into(&mut s, bytes, max_chars);
    s
}

/// [`preview`] appended to `out`: a tool previewing every packet writes
/// it after its own words, without a string of its own.
pub fn preview_into(out: &mut String, bytes: &[u8], max_chars: usize) {
    out.push('"');
    let consumed = escape_into(out, bytes, max_chars, true);
    out.push('"');
    if consumed < bytes.len() {
        let _ = write!(out, "… ({} bytes)", bytes.len());
    }
}

/// Like [`preview`] without the quotes, for logs whose format has none
/// (`AMRITA 31 from 127.0.0.1:60915`); an empty input shows as `(empty)`.
pub fn excerpt(bytes: &[u8], max_chars: usize) -> String {
    let mut s = String::with_capacity(bytes.len().min(max_chars) + 8);
    excerpt_into(&mut s, bytes, max_chars);
    s
}

/// [`excerpt`] appended to `out`: a server logging every message reuses
/// one buffer instead of allocating a string per line.
pub fn excerpt_into(out: &mut String, bytes: &[u8], max_chars: usize) {
    if bytes.is_empty() {
        out.push_str("(empty)");
        return;
    }
    let consumed = escape_into(out, bytes, max_chars, false);
    if consumed < bytes.len() {
        let _ = write!(out, "… ({} bytes)", bytes.len());
    }
}

/// Bytes from the network made safe to print on a terminal: control
/// characters and invalid UTF-8 are escaped (`\n`, `\u{1b}`, `\xff`),
/// everything else is shown as is. Nothing is cut.
///
/// ```
/// assert_eq!(net_core::text::escape(b"hi \x1b[2J\xff"), "hi \\u{1b}[2J\\xff");
/// ```
pub fn escape(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    escape_into(&mut s, bytes, usize::MAX, false);
    s
}

/// Appends at most `max_chars` escaped characters; returns the number of
/// input bytes they cover.
fn escape_into(s: &mut String, bytes: &[u8], max_chars: usize, quote: bool) -> usize {
    // Every character shown takes at most four bytes (an invalid byte is
    // one), so nothing past the first `4 × max_chars` can be reached: a
    // 64 KiB segment previewed in 40 characters is not validated whole.
    let bytes = bytes.get(..max_chars.saturating_mul(4)).unwrap_or(bytes);
    // ASCII, the usual case, byte by byte: printable characters are
    // copied as they are; the first other byte hands the rest to the
    // UTF-8 decoding below.
    let mut shown = 0;
    let mut consumed = 0;
    for &b in bytes {
        if !b.is_ascii() {
            break;
        }
        if shown >= max_chars {
            return consumed;
        }
        match b {
            b'"' if quote => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            0..=0x1f | 0x7f => {
                let _ = write!(s, "\\u{{{b:x}}}");
            }
            _ => s.push(char::from(b)),
        }
        shown += 1;
        consumed += 1;
    }
    let bytes = bytes.get(consumed..).unwrap_or_default();
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if shown >= max_chars {
                return consumed;
            }
            match c {
                '"' if quote => s.push_str("\\\""),
                '\\' => s.push_str("\\\\"),
                '\n' => s.push_str("\\n"),
                '\r' => s.push_str("\\r"),
                '\t' => s.push_str("\\t"),
                c if c.is_control() => {
                    let _ = write!(s, "\\u{{{:x}}}", c as u32);
                }
                c => s.push(c),
            }
            shown += 1;
            consumed += c.len_utf8();
        }
        for b in chunk.invalid() {
            if shown >= max_chars {
                return consumed;
            }
            let _ = write!(s, "\\x{b:02x}");
            shown += 1;
            consumed += 1;
        }
    }
    consumed
}

/// Text made safe for HTML and XML element content and attribute values:
/// the five markup characters as entities, and control characters (which
/// XML 1.0 forbids) other than newline, tab and carriage return as `·`.
pub fn escape_markup(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' | '\r' => out.push(c),
            c if c.is_control() => out.push('·'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn chunked(input: &[u8], cuts: &[usize]) -> Vec<u8> {
        let mut up = UppercaseStream::new();
        let mut out = Vec::new();
        let mut start = 0;
        for &cut in cuts {
            let cut = cut.clamp(start, input.len());
            up.feed(&input[start..cut], &mut out);
            start = cut;
        }
        up.feed(&input[start..], &mut out);
        up.finish(&mut out);
        out
    }

    #[test]
    fn matches_python_upper_on_examples() {
        // Results of Python 3's str.upper() on the same input.
        let cases = [
            ("amrita 31", "AMRITA 31"),
            ("straße", "STRASSE"),
            ("ﬁne", "FINE"),
            ("ǆemal", "ǄEMAL"),
            ("ὀδυσσεύς", "ὈΔΥΣΣΕΎΣ"),
            ("привет, мир", "ПРИВЕТ, МИР"),
            ("ŉ", "ʼN"),
            ("日本語 ok", "日本語 OK"),
            ("", ""),
        ];
        for (input, want) in cases {
            assert_eq!(
                uppercase_bytes(input.as_bytes()),
                want.as_bytes(),
                "{input}"
            );
        }
    }

    #[test]
    fn every_split_point_of_multibyte_text() {
        let text = "aß€𝔘ǆ ﬁ\u{10ffff}z".as_bytes();
        let want = uppercase_bytes(text);
        for i in 0..=text.len() {
            assert_eq!(chunked(text, &[i]), want, "split at {i}");
            for j in i..=text.len() {
                assert_eq!(chunked(text, &[i, j]), want, "split at {i},{j}");
            }
        }
        // One byte at a time.
        let cuts: Vec<usize> = (0..text.len()).collect();
        assert_eq!(chunked(text, &cuts), want);
    }

    #[test]
    fn invalid_bytes_pass_through() {
        assert_eq!(uppercase_bytes(b"ab\xffcd"), b"AB\xffCD");
        assert_eq!(uppercase_bytes(b"\xe2\x82"), b"\xe2\x82"); // truncated at the end
        assert_eq!(uppercase_bytes(b"\xe2\x82x"), b"\xe2\x82X"); // truncated mid-stream
        assert_eq!(uppercase_bytes(b"\xc0\x80"), b"\xc0\x80"); // overlong
        assert_eq!(uppercase_bytes(b"\xed\xa0\x80"), b"\xed\xa0\x80"); // surrogate
        assert_eq!(chunked(b"\xe2\x82x", &[1]), b"\xe2\x82X");
    }

    #[test]
    fn pending_holds_only_incomplete_characters() {
        let mut up = UppercaseStream::new();
        let mut out = Vec::new();
        up.feed("€".as_bytes().get(..2).unwrap(), &mut out);
        assert!(out.is_empty());
        assert_eq!(up.pending(), &[0xe2, 0x82]);
        up.feed(&[0xac], &mut out);
        assert_eq!(out, "€".as_bytes());
        assert!(up.pending().is_empty());
    }

    #[test]
    fn previews_escape_and_cut() {
        assert_eq!(preview(b"TANMAYI 31", 80), "\"TANMAYI 31\"");
        assert_eq!(preview(b"a\"b\n\xff", 80), "\"a\\\"b\\n\\xff\"");
        assert_eq!(preview(b"abcdef", 3), "\"abc\"… (6 bytes)");
        assert_eq!(preview("ßß".as_bytes(), 80), "\"ßß\"");
        assert_eq!(excerpt(b"AMRITA 31", 80), "AMRITA 31");
        assert_eq!(excerpt(b"", 80), "(empty)");
        assert_eq!(excerpt(b"abcd", 2), "ab… (4 bytes)");
        assert_eq!(escape(b"say \"hi\"\tnow\r\n"), "say \"hi\"\\tnow\\r\\n");
    }

    /// The escaping as first written, over every byte: the fast path and
    /// the cut must not change a character of it.
    fn escape_reference(bytes: &[u8], max_chars: usize, quote: bool) -> (String, usize) {
        let mut s = String::new();
        let (mut shown, mut consumed) = (0, 0);
        for chunk in bytes.utf8_chunks() {
            for c in chunk.valid().chars() {
                if shown >= max_chars {
                    return (s, consumed);
                }
                match c {
                    '"' if quote => s.push_str("\\\""),
                    '\\' => s.push_str("\\\\"),
                    '\n' => s.push_str("\\n"),
                    '\r' => s.push_str("\\r"),
                    '\t' => s.push_str("\\t"),
                    c if c.is_control() => {
                        let _ = write!(s, "\\u{{{:x}}}", c as u32);
                    }
                    c => s.push(c),
                }
                shown += 1;
                consumed += c.len_utf8();
            }
            for b in chunk.invalid() {
                if shown >= max_chars {
                    return (s, consumed);
                }
                let _ = write!(s, "\\x{b:02x}");
                shown += 1;
                consumed += 1;
            }
        }
        (s, consumed)
    }

    proptest! {
        #[test]
        fn escaping_is_the_reference_escaping(
            input in proptest::collection::vec(
                prop_oneof![
                    any::<u8>(),
                    b' '..=b'~',
                    Just(b'"'), Just(b'\\'), Just(b'\n'), Just(0x7fu8),
                    Just(0xc3u8), Just(0x9fu8), Just(0xe2u8), Just(0x82u8), Just(0xacu8),
                    Just(0xf0u8), Just(0x9du8), Just(0x94u8),
                ],
                0..200,
            ),
            max_chars in 0usize..60,
            quote in any::<bool>(),
        ) {
            let mut s = String::new();
            let consumed = escape_into(&mut s, &input, max_chars, quote);
            prop_assert_eq!((s, consumed), escape_reference(&input, max_chars, quote));
        }

        #[test]
        fn any_chunking_equals_one_shot(
            input in proptest::collection::vec(
                prop_oneof![
                    any::<u8>(),
                    Just(0xc3u8), Just(0x9fu8), Just(0xe2u8), Just(0x82u8), Just(0xacu8),
                    Just(0xf0u8), Just(0x9du8), Just(0x94u8),
                ],
                0..64,
            ),
            cuts in proptest::collection::vec(0usize..64, 0..8),
        ) {
            let mut cuts = cuts;
            cuts.sort_unstable();
            prop_assert_eq!(chunked(&input, &cuts), uppercase_bytes(&input));
        }

        #[test]
        fn valid_text_equals_str_to_uppercase(s in "\\PC{0,40}", cut in 0usize..200) {
            let want = s.to_uppercase().into_bytes();
            prop_assert_eq!(uppercase_bytes(s.as_bytes()), want.clone());
            prop_assert_eq!(chunked(s.as_bytes(), &[cut]), want);
        }
    }

    #[test]
    fn markup_is_escaped_and_control_characters_replaced() {
        assert_eq!(
            escape_markup("<a href=\"x\">'&'</a>\u{1}\n"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;·\n"
        );
    }
}
