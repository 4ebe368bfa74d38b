//! JSON values written straight into a [`Write`]: strings escaped as
//! RFC 8259 requires, so every line parses, whatever a frame carried.
//!
//! A few lines of escaping rather than serde_json: the values are a fixed
//! set of numbers and strings, written per frame without building a tree,
//! and a Rust `str` is already valid UTF-8, so escaping `"`, `\` and the
//! control characters is all correctness takes.

use std::io::{self, Write};

/// Bytes a JSON string cannot hold as they are: `"`, `\`, the control
/// characters, and DEL (escaped too, so a terminal shows it).
const ESCAPED: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = true;
        b += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t[0x7f] = true;
    t
};

/// Writes `s` as a JSON string, quotes included.
pub(crate) fn string(out: &mut impl Write, s: &str) -> io::Result<()> {
    out.write_all(b"\"")?;
    let mut rest = s.as_bytes();
    // Runs of bytes that need nothing are written whole.
    while let Some(i) = rest.iter().position(|&b| ESCAPED[usize::from(b)]) {
        let (plain, tail) = rest.split_at(i);
        out.write_all(plain)?;
        let Some((&b, tail)) = tail.split_first() else {
            break;
        };
        match b {
            b'"' => out.write_all(b"\\\"")?,
            b'\\' => out.write_all(b"\\\\")?,
            b'\n' => out.write_all(b"\\n")?,
            b'\r' => out.write_all(b"\\r")?,
            b'\t' => out.write_all(b"\\t")?,
            _ => write!(out, "\\u{b:04x}")?,
        }
        rest = tail;
    }
    out.write_all(rest)?;
    out.write_all(b"\"")
}

/// Writes `"key":` (the key needs no escaping: it is the program's own).
pub(crate) fn key(out: &mut impl Write, first: bool, key: &str) -> io::Result<()> {
    if !first {
        out.write_all(b",")?;
    }
    out.write_all(b"\"")?;
    out.write_all(key.as_bytes())?;
    out.write_all(b"\":")
}

/// Writes a string or `null`.
pub(crate) fn opt_string(out: &mut impl Write, s: Option<&str>) -> io::Result<()> {
    match s {
        Some(s) => string(out, s),
        None => out.write_all(b"null"),
    }
}

/// Writes an array of strings.
pub(crate) fn strings<'a>(
    out: &mut impl Write,
    items: impl IntoIterator<Item = &'a str>,
) -> io::Result<()> {
    out.write_all(b"[")?;
    for (i, s) in items.into_iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        string(out, s)?;
    }
    out.write_all(b"]")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> String {
        let mut out = Vec::new();
        string(&mut out, text).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn strings_are_escaped_as_rfc_8259_asks() {
        assert_eq!(s("plain"), "\"plain\"");
        assert_eq!(s("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(s("1\n2\t3\r"), r#""1\n2\t3\r""#);
        assert_eq!(s("\u{0}\u{1b}\u{7f}"), r#""\u0000\u001b\u007f""#);
        assert_eq!(s("client→server"), "\"client→server\"");
    }
}
