//! Serving a file: validators (ETag, Last-Modified), conditional requests
//! (304) and single byte ranges (206, 416).

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs::{File, Metadata};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::request::Request;
use crate::response::{Body, Response};
use crate::status::Status;

/// A byte range request's outcome for a file of a given length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeOutcome {
    /// No usable Range: send the whole file.
    Whole,
    /// Send bytes `start..=end`.
    Part {
        /// First byte.
        start: u64,
        /// Last byte, inclusive.
        end: u64,
    },
    /// The range lies outside the file: 416.
    Unsatisfiable,
}

/// Interprets a `Range` header for a file of `len` bytes. Only a single
/// `bytes=` range is honoured (`a-b`, `a-`, `-n`; the unit in any case, as
/// RFC 9110 §14.1 says units are); several ranges, other units and
/// malformed values are ignored, as RFC 9110 allows.
pub fn parse_range(header: &str, len: u64) -> RangeOutcome {
    let Some((unit, spec)) = header.trim().split_once('=') else {
        return RangeOutcome::Whole;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return RangeOutcome::Whole;
    }
    let spec = spec.trim();
    if spec.contains(',') {
        return RangeOutcome::Whole;
    }
    let Some((first, last)) = spec.split_once('-') else {
        return RangeOutcome::Whole;
    };
    let (first, last) = (first.trim(), last.trim());
    let num = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            None
        } else {
            s.parse().ok()
        }
    };
    match (first.is_empty(), last.is_empty()) {
        // -n: the last n bytes
        (true, false) => match num(last) {
            None => RangeOutcome::Whole,
            Some(0) => RangeOutcome::Unsatisfiable,
            Some(_) if len == 0 => RangeOutcome::Unsatisfiable,
            Some(n) => RangeOutcome::Part {
                start: len.saturating_sub(n),
                end: len - 1,
            },
        },
        // a- : from a to the end
        (false, true) => match num(first) {
            None => RangeOutcome::Whole,
            Some(a) if a >= len => RangeOutcome::Unsatisfiable,
            Some(a) => RangeOutcome::Part {
                start: a,
                end: len - 1,
            },
        },
        (false, false) => match (num(first), num(last)) {
            (Some(a), Some(b)) if a <= b => {
                if a >= len {
                    RangeOutcome::Unsatisfiable
                } else {
                    RangeOutcome::Part {
                        start: a,
                        end: b.min(len - 1),
                    }
                }
            }
            _ => RangeOutcome::Whole,
        },
        (true, true) => RangeOutcome::Whole,
    }
}

/// The validators of a file version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validators {
    /// Strong ETag: size and modification time to the nanosecond.
    pub etag: String,
    /// Modification time, whole seconds since the epoch.
    pub modified_secs: u64,
    /// `Last-Modified` value.
    pub last_modified: String,
}

impl Validators {
    /// Validators from file metadata, remembered per thread (formatting
    /// the date is a measurable part of serving a small file).
    pub fn of(meta: &Metadata) -> Validators {
        thread_local! {
            static MEMO: RefCell<HashMap<(u64, SystemTime), Validators>> = RefCell::new(HashMap::new());
        }
        let key = (meta.len(), meta.modified().unwrap_or(UNIX_EPOCH));
        MEMO.with(|m| {
            let mut m = m.borrow_mut();
            if let Some(v) = m.get(&key) {
                return v.clone();
            }
            if m.len() >= 1024 {
                m.clear();
            }
            let v = Self::compute(meta);
            m.insert(key, v.clone());
            v
        })
    }

    fn compute(meta: &Metadata) -> Validators {
        let modified = meta.modified().unwrap_or(UNIX_EPOCH);
        let since = modified.duration_since(UNIX_EPOCH).unwrap_or_default();
        Validators {
            etag: format!(
                "\"{:x}-{:x}.{:x}\"",
                meta.len(),
                since.as_secs(),
                since.subsec_nanos()
            ),
            modified_secs: since.as_secs(),
            last_modified: httpdate::fmt_http_date(
                UNIX_EPOCH + std::time::Duration::from_secs(since.as_secs()),
            ),
        }
    }

    /// `If-None-Match` matches (weak comparison, as RFC 9110 says for it).
    pub fn none_match_hits(&self, header: &str) -> bool {
        let mine = self.etag.trim_start_matches("W/");
        header
            .split(',')
            .map(str::trim)
            .any(|tag| tag == "*" || tag.trim_start_matches("W/") == mine)
    }

    /// `If-Modified-Since` says the client's copy is current. An
    /// unparseable date is ignored.
    pub fn not_modified_since(&self, header: &str) -> bool {
        match http_date_secs(header) {
            Some(client) => {
                // A date in the future is invalid (RFC 9110 13.1.3).
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(u64::MAX);
                client <= now && self.modified_secs <= client
            }
            None => false,
        }
    }

    /// `If-Match` holds: `*` or a strong match of the current ETag (weak
    /// tags never match, RFC 9110 §13.1.1).
    pub fn match_holds(&self, header: &str) -> bool {
        header
            .split(',')
            .map(str::trim)
            .any(|tag| tag == "*" || tag == self.etag)
    }

    /// `If-Unmodified-Since` holds: the file has not changed since the
    /// date. An unparseable date is ignored (RFC 9110 §13.1.4).
    pub fn unmodified_since(&self, header: &str) -> bool {
        http_date_secs(header).is_none_or(|client| self.modified_secs <= client)
    }

    /// `If-Range` allows the range: a strong ETag match or the exact date.
    pub fn if_range_allows(&self, header: &str) -> bool {
        let header = header.trim();
        if header.starts_with('"') {
            return header == self.etag;
        }
        if header.starts_with("W/") {
            return false;
        }
        http_date_secs(header) == Some(self.modified_secs)
    }
}

/// An HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`, or the two obsolete
/// forms) as whole seconds since the epoch, the precision of
/// `Last-Modified`; `None` when it is not one.
fn http_date_secs(header: &str) -> Option<u64> {
    let time = httpdate::parse_http_date(header.trim()).ok()?;
    // httpdate reads no year before 1970; were it to, such a date is
    // older than any file here.
    Some(time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()))
}

/// `Content-Type` for a path, with `charset=utf-8` on text types;
/// remembered per extension and thread.
pub fn content_type(path: &std::path::Path) -> String {
    thread_local! {
        static MEMO: RefCell<HashMap<String, String>> = RefCell::new(HashMap::new());
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    MEMO.with(|m| {
        let mut m = m.borrow_mut();
        if let Some(ct) = m.get(&ext) {
            return ct.clone();
        }
        let ct = guess_content_type(path);
        if m.len() < 256 {
            m.insert(ext, ct.clone());
        }
        ct
    })
}

fn guess_content_type(path: &std::path::Path) -> String {
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    let essence = mime.essence_str();
    let texty = mime.type_() == mime_guess::mime::TEXT
        || matches!(
            essence,
            "application/javascript" | "application/json" | "application/xml" | "image/svg+xml"
        );
    if texty {
        format!("{essence}; charset=utf-8")
    } else {
        essence.to_string()
    }
}

/// The response for a GET or HEAD of an open regular file.
pub fn serve(req: &Request, path: &std::path::Path, file: File, meta: &Metadata) -> Response {
    let v = Validators::of(meta);
    let len = meta.len();
    // RFC 9110 §13.2.2's order: If-Match (else If-Unmodified-Since), then
    // If-None-Match (else If-Modified-Since), then Range.
    let precondition_holds = match (&req.if_match, &req.if_unmodified_since) {
        (Some(im), _) => v.match_holds(im),
        (None, Some(ius)) => v.unmodified_since(ius),
        (None, None) => true,
    };
    if !precondition_holds {
        return Response::page(
            Status::PRECONDITION_FAILED,
            "The file has changed since the version the request names.",
        )
        .header("ETag", v.etag)
        .header("Last-Modified", v.last_modified);
    }
    let not_modified = match (&req.if_none_match, &req.if_modified_since) {
        (Some(inm), _) => v.none_match_hits(inm),
        (None, Some(ims)) => v.not_modified_since(ims),
        (None, None) => false,
    };
    if not_modified {
        return Response {
            status: Status::NOT_MODIFIED,
            content_type: None,
            headers: vec![("ETag", v.etag), ("Last-Modified", v.last_modified)],
            body: Body::Empty,
            close: false,
        };
    }
    let range = match (&req.range, &req.if_range) {
        (Some(range), Some(if_range)) if !v.if_range_allows(if_range) => {
            let _ = range;
            RangeOutcome::Whole
        }
        (Some(range), _) => parse_range(range, len),
        (None, _) => RangeOutcome::Whole,
    };
    let mut response = Response {
        status: Status::OK,
        content_type: Some(content_type(path)),
        headers: vec![
            ("Last-Modified", v.last_modified),
            ("ETag", v.etag),
            ("Accept-Ranges", "bytes".to_string()),
        ],
        body: Body::File {
            file,
            start: 0,
            len,
        },
        close: false,
    };
    match range {
        RangeOutcome::Whole => {}
        RangeOutcome::Part { start, end } => {
            response.status = Status::PARTIAL_CONTENT;
            response
                .headers
                .push(("Content-Range", format!("bytes {start}-{end}/{len}")));
            if let Body::File {
                start: s, len: l, ..
            } = &mut response.body
            {
                *s = start;
                *l = end - start + 1;
            }
        }
        RangeOutcome::Unsatisfiable => {
            let mut page = Response::page(
                Status::RANGE_NOT_SATISFIABLE,
                "The requested range is not within the file.",
            );
            page.headers
                .push(("Content-Range", format!("bytes */{len}")));
            page.headers.push(("Accept-Ranges", "bytes".to_string()));
            return page;
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use RangeOutcome::*;

    #[test]
    fn ranges() {
        let cases = [
            ("bytes=0-9", 100, Part { start: 0, end: 9 }),
            ("BYTES=0-1", 100, Part { start: 0, end: 1 }),
            ("ByTeS=-1", 100, Part { start: 99, end: 99 }),
            ("bytes=90-", 100, Part { start: 90, end: 99 }),
            ("bytes=-10", 100, Part { start: 90, end: 99 }),
            ("bytes=-1000", 100, Part { start: 0, end: 99 }),
            ("bytes=50-1000", 100, Part { start: 50, end: 99 }),
            ("bytes= 5 - 6 ", 100, Part { start: 5, end: 6 }),
            ("bytes=100-", 100, Unsatisfiable),
            ("bytes=100-200", 100, Unsatisfiable),
            ("bytes=-0", 100, Unsatisfiable),
            ("bytes=0-0", 0, Unsatisfiable),
            ("bytes=-5", 0, Unsatisfiable),
            ("bytes=9-5", 100, Whole),
            ("bytes=0-1,5-6", 100, Whole),
            ("items=0-1", 100, Whole),
            ("bytes=a-b", 100, Whole),
            ("bytes=-", 100, Whole),
            ("bytes=+1-2", 100, Whole),
            ("bytes=99999999999999999999999-", 100, Whole),
        ];
        for (h, len, want) in cases {
            assert_eq!(parse_range(h, len), want, "{h} of {len}");
        }
    }

    fn validators() -> Validators {
        Validators {
            etag: "\"64-5f5e100.0\"".into(),
            modified_secs: 100_000_000,
            last_modified: httpdate::fmt_http_date(
                UNIX_EPOCH + std::time::Duration::from_secs(100_000_000),
            ),
        }
    }

    #[test]
    fn if_none_match() {
        let v = validators();
        assert!(v.none_match_hits("\"64-5f5e100.0\""));
        assert!(v.none_match_hits("\"other\", W/\"64-5f5e100.0\""));
        assert!(v.none_match_hits("*"));
        assert!(!v.none_match_hits("\"other\""));
    }

    #[test]
    fn if_modified_since() {
        let v = validators();
        assert!(v.not_modified_since(&v.last_modified));
        assert!(v.not_modified_since("Sat, 01 Jan 2000 00:00:00 GMT"));
        assert!(!v.not_modified_since("Thu, 01 Jan 1970 00:00:00 GMT"));
        assert!(!v.not_modified_since("yesterday"));
        assert!(!v.not_modified_since("Fri, 01 Jan 2100 00:00:00 GMT")); // future
    }

    #[test]
    fn http_dates() {
        // RFC 9110 §5.6.7: the preferred form and the two obsolete ones.
        for date in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(http_date_secs(date), Some(784_111_777), "{date}");
        }
        assert_eq!(http_date_secs("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(http_date_secs("784111777"), None);
        assert_eq!(http_date_secs(""), None);
    }

    #[test]
    fn if_range() {
        let v = validators();
        assert!(v.if_range_allows("\"64-5f5e100.0\""));
        assert!(!v.if_range_allows("W/\"64-5f5e100.0\""));
        assert!(v.if_range_allows(&v.last_modified));
        assert!(!v.if_range_allows("\"other\""));
    }

    #[test]
    fn content_types() {
        use std::path::Path;
        assert_eq!(
            content_type(Path::new("a.html")),
            "text/html; charset=utf-8"
        );
        assert_eq!(content_type(Path::new("a.css")), "text/css; charset=utf-8");
        assert_eq!(content_type(Path::new("a.png")), "image/png");
        assert_eq!(
            content_type(Path::new("a.js")),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type(Path::new("noext")), "application/octet-stream");
    }
}
