//! `-w FORMAT`: curl's `--write-out`, the text written after a transfer
//! with `%{variable}`s filled in.
//!
//! The variables are curl's, with its formats: `%{http_code}` and
//! `%{response_code}` (three digits, `000` when no response came),
//! `%{size_download}` (bytes of the final body), `%{size_header}`,
//! `%{time_total}` (seconds, six decimals), `%{speed_download}` (bytes per
//! second, whole), `%{url_effective}`, `%{num_redirects}`,
//! `%{content_type}`, `%{method}`, `%{http_version}`, `%{exitcode}`,
//! `%{errormsg}`, `%{filename_effective}`, `%{redirect_url}`, and
//! `%header{NAME}`. `\n`, `\r`, `\t` are the control characters and `%%`
//! is `%`. An unknown variable writes nothing and is warned about, as
//! curl does.
//!
//! ```
//! use http_client::write_out::{Info, render};
//! let info = Info { url: "http://h/", ..Info::default() };
//! let (text, unknown) = render("%{http_code} %{url_effective}\n%{nope}", &info);
//! assert_eq!(text, b"000 http://h/\n");
//! assert_eq!(unknown, ["nope"]);
//! ```

use std::time::Duration;

use crate::response::Head;

/// What a transfer came to, for the variables.
#[derive(Debug, Default, Clone, Copy)]
pub struct Info<'a> {
    /// The final head, when a response came.
    pub head: Option<&'a Head>,
    /// The last URL asked for.
    pub url: &'a str,
    /// The method of the last request.
    pub method: &'a str,
    /// Redirects followed.
    pub redirects: u32,
    /// Bytes of the final body.
    pub downloaded: u64,
    /// Bytes of all the heads received.
    pub header_bytes: u64,
    /// From the start to the end of the transfer.
    pub elapsed: Duration,
    /// The exit status the transfer ends with.
    pub exit_code: u8,
    /// Its error message, when it failed.
    pub error: Option<&'a str>,
    /// The file the body was written to.
    pub file: Option<&'a str>,
    /// Where a redirect not followed points.
    pub redirect_url: Option<&'a str>,
}

/// The text for `format`, and the names of unknown variables.
pub fn render(format: &str, info: &Info<'_>) -> (Vec<u8>, Vec<String>) {
    let mut out = Vec::new();
    let mut unknown = Vec::new();
    let mut rest = format;
    while let Some(c) = rest.chars().next() {
        if let Some(after) = rest.strip_prefix("%{") {
            if let Some(end) = after.find('}') {
                let name = &after[..end];
                match value(name, info) {
                    Some(v) => out.extend_from_slice(v.as_bytes()),
                    None => unknown.push(name.to_string()),
                }
                rest = &after[end + 1..];
                continue;
            }
        } else if let Some(after) = rest.strip_prefix("%header{") {
            if let Some(end) = after.find('}') {
                if let Some(v) = info.head.and_then(|h| h.header_bytes(&after[..end])) {
                    out.extend_from_slice(v);
                }
                rest = &after[end + 1..];
                continue;
            }
        } else if let Some(after) = rest.strip_prefix("%%") {
            out.push(b'%');
            rest = after;
            continue;
        } else if let Some(after) = rest.strip_prefix('\\') {
            let control = match after.chars().next() {
                Some('n') => Some(b'\n'),
                Some('r') => Some(b'\r'),
                Some('t') => Some(b'\t'),
                _ => None,
            };
            if let Some(b) = control {
                out.push(b);
                rest = &after[1..];
                continue;
            }
        }
        let mut buf = [0; 4];
        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        rest = &rest[c.len_utf8()..];
    }
    (out, unknown)
}

fn value(name: &str, info: &Info<'_>) -> Option<String> {
    let secs = info.elapsed.as_secs_f64();
    Some(match name {
        "http_code" | "response_code" => format!("{:03}", info.head.map_or(0, |h| h.status)),
        "size_download" => info.downloaded.to_string(),
        "size_header" => info.header_bytes.to_string(),
        "time_total" => format!("{secs:.6}"),
        "speed_download" => {
            let speed = if secs > 0.0 {
                info.downloaded as f64 / secs
            } else {
                0.0
            };
            format!("{}", speed as u64)
        }
        "url_effective" | "url" => info.url.to_string(),
        "num_redirects" => info.redirects.to_string(),
        "content_type" => info
            .head
            .and_then(|h| h.header("content-type"))
            .unwrap_or("")
            .to_string(),
        "method" => info.method.to_string(),
        "http_version" => info.head.map_or("0".into(), |h| format!("1.{}", h.minor)),
        "exitcode" => info.exit_code.to_string(),
        "errormsg" => info.error.unwrap_or("").to_string(),
        "filename_effective" => info.file.unwrap_or("").to_string(),
        "redirect_url" => info.redirect_url.unwrap_or("").to_string(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_and_escapes() {
        let head = crate::response::parse(
            b"HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nX-A: b\r\n\r\n",
        )
        .unwrap()
        .unwrap();
        let info = Info {
            head: Some(&head),
            url: "http://h/x",
            method: "GET",
            redirects: 2,
            downloaded: 1000,
            header_bytes: 60,
            elapsed: Duration::from_millis(500),
            ..Info::default()
        };
        let (text, unknown) = render(
            "%{http_code}|%{response_code}|%{size_download}|%{time_total}|%{speed_download}|%{url_effective}|%{num_redirects}|%{content_type}|%header{x-a}|100%%|a\\tb\\n|\\x|%z",
            &info,
        );
        assert_eq!(
            String::from_utf8(text).unwrap(),
            "404|404|1000|0.500000|2000|http://h/x|2|text/html|b|100%|a\tb\n|\\x|%z"
        );
        assert!(unknown.is_empty());
    }
}
