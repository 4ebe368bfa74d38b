//! What is sent: a [`Request`] built as curl builds one from its options
//! (`-X`, `-H`, `-d`, `-T`, `-A`, `-e`, `-b`, `-u`, `-r`, `-z`), and the
//! request head written from it for each hop of a redirect chain.
//!
//! The rules are curl 7.88's, checked byte for byte against it:
//! - The default fields are `Host`, `User-Agent` and `Accept: */*`, then
//!   whichever options add (`Authorization`, `Referer`, `Cookie`, `Range`,
//!   `If-Modified-Since`, `Content-Length`, `Content-Type`, `Expect`). A
//!   header given by the caller replaces the default of the same name; an
//!   empty one (`-H 'Name:'`) removes it; `-H 'Name;'` sends it empty.
//! - A body ([`Request::body`], `-d`) makes a POST with `Content-Type:
//!   application/x-www-form-urlencoded`; an upload ([`Request::upload`],
//!   `-T`) a PUT that streams the file, or standard input chunked.
//! - `Expect: 100-continue` goes with every non-empty PUT and with a POST
//!   of more than [`EXPECT_THRESHOLD`] bytes or of unknown size.
//! - Redirects ([`Request::redirected`]): 303 turns anything but HEAD into
//!   a GET without body, 301 and 302 turn a POST into a GET, 307 and 308
//!   keep method and body. A method set by hand (`-X`) is sent on every
//!   hop, as curl does, even when the body is dropped.
//! - Credentials (`-u`, `user:pass@` in the URL) and the caller's own
//!   `Authorization` and `Cookie` headers go only to the host and port
//!   first asked.
//!
//! ```
//! use http_client::{Request, Url};
//! let url = Url::parse("http://127.0.0.1:6789/notes")?;
//! let request = Request::new(url)
//!     .method("PUT")
//!     .header("X-Lab", "3")
//!     .body("hello");
//! let head = String::from_utf8(request.head_for(request.url(), None)?)?;
//! assert!(head.starts_with("PUT /notes HTTP/1.1\r\nHost: 127.0.0.1:6789\r\n"));
//! assert!(head.contains("\r\nX-Lab: 3\r\n") && head.contains("\r\nContent-Length: 5\r\n"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fs;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use crate::url::Url;
use crate::{Error, Result};

/// The `User-Agent` sent unless another is asked for.
pub const USER_AGENT: &str = concat!("netlab-http-client/", env!("CARGO_PKG_VERSION"));

/// A POST body larger than this is announced with `Expect:
/// 100-continue`, so a server that will refuse it can say so before it is
/// sent: curl 7.88's threshold (`EXPECT_100_THRESHOLD`, 1 MiB).
pub const EXPECT_THRESHOLD: u64 = 1024 * 1024;

/// What the request carries after its head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// These bytes (`-d`, `--data-binary`), shared: a request sent to
    /// several URLs, or cloned, holds one copy of a large body.
    Bytes(Arc<Vec<u8>>),
    /// A file, streamed (`-T FILE`); its length is taken when it is sent.
    File(PathBuf),
    /// Standard input, streamed in chunks (`-T -`): it can be sent once.
    Stdin,
}

/// The request's base kind, which decides the default method and how a
/// redirect changes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// GET.
    Get,
    /// HEAD: the response has no body.
    Head,
    /// POST of a body.
    Post,
    /// PUT of an upload.
    Put,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Get => "GET",
            Kind::Head => "HEAD",
            Kind::Post => "POST",
            Kind::Put => "PUT",
        }
    }
}

/// A header the caller set: a value, or `None` to leave the header out.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Field {
    name: String,
    value: Option<Vec<u8>>,
}

/// `If-Modified-Since` (`-z DATE`) or `If-Unmodified-Since` (`-z -DATE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeCondition {
    /// Only if changed after this time.
    ModifiedSince(SystemTime),
    /// Only if not changed after this time.
    UnmodifiedSince(SystemTime),
}

/// A request, built as curl builds one from its options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    url: Url,
    kind: Kind,
    method: Option<String>,
    fields: Vec<Field>,
    body: Option<Body>,
    user_agent: String,
    referer: Option<String>,
    cookie: Option<String>,
    credentials: Option<(String, String)>,
    range: Option<String>,
    time_condition: Option<TimeCondition>,
}

impl Request {
    /// A GET of `url`; credentials in the URL are sent as Basic.
    pub fn new(url: Url) -> Request {
        Request {
            credentials: url.credentials(),
            url,
            kind: Kind::Get,
            method: None,
            fields: Vec::new(),
            body: None,
            user_agent: USER_AGENT.to_string(),
            referer: None,
            cookie: None,
            range: None,
            time_condition: None,
        }
    }

    /// The URL first asked for.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The base kind (GET, HEAD, POST of a body, PUT of an upload).
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The body, if any.
    pub fn body_ref(&self) -> Option<&Body> {
        self.body.as_ref()
    }

    /// Sends HEAD (`-I`).
    pub fn head(mut self) -> Request {
        self.kind = Kind::Head;
        self
    }

    /// Sends this method instead of the one the request would use (`-X`),
    /// on every hop of a redirect chain. Only the word sent changes: the
    /// body is still the one given, and the response to `HEAD` has none.
    pub fn method(mut self, method: impl Into<String>) -> Request {
        self.method = Some(method.into());
        self
    }

    /// Sends `name: value`, in place of a default header of that name.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) -> Request {
        self.set_field(name.into(), Some(value.into()));
        self
    }

    /// Leaves out the default header `name` (curl's `-H 'Name:'`).
    pub fn remove_header(mut self, name: impl Into<String>) -> Request {
        self.set_field(name.into(), None);
        self
    }

    fn set_field(&mut self, name: String, value: Option<Vec<u8>>) {
        self.fields.push(Field { name, value });
    }

    /// A header as `-H` takes it: `Name: value`, `Name:` (leave the default
    /// out), `Name;` (send it empty), or `@FILE` (one header per line).
    pub fn header_arg(mut self, arg: &str) -> Result<Request> {
        if let Some(path) = arg.strip_prefix('@') {
            let text = if path == "-" {
                std::io::read_to_string(std::io::stdin())
            } else {
                fs::read_to_string(path)
            }
            .map_err(|e| {
                Error::Usage(format!(
                    "cannot read headers from {path} ({})",
                    net_core::error::describe(&e)
                ))
            })?;
            for line in text.lines().map(|l| l.trim_end_matches('\r')) {
                if !line.is_empty() {
                    self = self.header_arg(line)?;
                }
            }
            return Ok(self);
        }
        let colon = arg.find(':');
        let semi = arg.find(';');
        match (colon, semi) {
            (Some(c), s) if s.is_none_or(|s| c < s) => {
                let (name, value) = (&arg[..c], arg[c + 1..].trim_start());
                check_name(name, arg)?;
                self.set_field(
                    name.to_string(),
                    (!value.is_empty()).then(|| value.as_bytes().to_vec()),
                );
            }
            (_, Some(s)) if arg[s + 1..].trim().is_empty() => {
                check_name(&arg[..s], arg)?;
                self.set_field(arg[..s].to_string(), Some(Vec::new()));
            }
            _ => {
                return Err(Error::Usage(format!(
                    "-H {arg:?}: a header is `Name: value`, `Name:` or `Name;`"
                )));
            }
        }
        Ok(self)
    }

    /// POSTs `body` (`--data-binary`), with curl's default `Content-Type:
    /// application/x-www-form-urlencoded`.
    pub fn body(self, body: impl Into<Vec<u8>>) -> Request {
        self.shared_body(Arc::new(body.into()))
    }

    /// As [`Request::body`], with a body held elsewhere too.
    pub fn shared_body(mut self, body: Arc<Vec<u8>>) -> Request {
        self.kind = Kind::Post;
        self.body = Some(Body::Bytes(body));
        self
    }

    /// PUTs a file, or standard input (`-T FILE`, `-T -`), streamed.
    pub fn upload(mut self, body: Body) -> Request {
        self.kind = Kind::Put;
        self.body = Some(body);
        self
    }

    /// Sends this `User-Agent` (`-A`); an empty one sends none.
    pub fn user_agent(mut self, agent: impl Into<String>) -> Request {
        self.user_agent = agent.into();
        self
    }

    /// Sends `Referer` (`-e`).
    pub fn referer(mut self, referer: impl Into<String>) -> Request {
        self.referer = Some(referer.into());
        self
    }

    /// Sends `Cookie` (`-b 'name=value; other=value'`).
    pub fn cookie(mut self, cookie: impl Into<String>) -> Request {
        self.cookie = Some(cookie.into());
        self
    }

    /// Basic credentials (`-u user:pass`), in place of any in the URL.
    pub fn basic_auth(mut self, user: impl Into<String>, password: impl Into<String>) -> Request {
        self.credentials = Some((user.into(), password.into()));
        self
    }

    /// Asks for part of the body (`-r 0-99`): `Range: bytes=RANGE`.
    pub fn range(mut self, range: impl Into<String>) -> Request {
        self.range = Some(range.into());
        self
    }

    /// Sends `If-Modified-Since` or `If-Unmodified-Since` (`-z`).
    pub fn time_condition(mut self, condition: TimeCondition) -> Request {
        self.time_condition = Some(condition);
        self
    }

    /// The method sent on a hop of kind `kind`.
    pub fn method_for(&self, kind: Kind) -> &str {
        self.method.as_deref().unwrap_or(kind.as_str())
    }

    /// The request head for the first hop to `url`, or for a later hop of
    /// kind `kind`. `len` is the body's length when one is sent (`None`
    /// with no body; a body of unknown length goes chunked).
    pub fn head_for(&self, url: &Url, hop: Option<Kind>) -> Result<Vec<u8>> {
        self.head_to(url, hop.unwrap_or(self.kind), url.path(), &[])
    }

    /// The request head for a hop of kind `kind` to `url`, with this
    /// request target (the path, or the whole URL for a proxy) and these
    /// fields added to the defaults (which the caller's headers replace
    /// as they replace any default).
    pub fn head_to(
        &self,
        url: &Url,
        kind: Kind,
        target: &str,
        extra: &[(&str, String)],
    ) -> Result<Vec<u8>> {
        let len = match self.body_for(kind) {
            Some(body) => Some(body_len(body)?),
            None => None,
        };
        Ok(self.write_head(url, kind, len, target, extra))
    }

    /// The body sent on a hop of kind `kind`: redirects to GET drop it.
    pub fn body_for(&self, kind: Kind) -> Option<&Body> {
        match kind {
            Kind::Post | Kind::Put => self.body.as_ref(),
            Kind::Get | Kind::Head => None,
        }
    }

    /// The kind of the hop after a `status` redirect from a hop of `kind`.
    pub fn redirected(kind: Kind, status: u16) -> Kind {
        match (status, kind) {
            (303, Kind::Head) => Kind::Head,
            (303, _) | (301 | 302, Kind::Post) => Kind::Get,
            _ => kind,
        }
    }

    /// Whether a response meets the time condition (`-z`), judged as curl
    /// judges it by the response's `Last-Modified` when the server
    /// answered in full regardless: a document not changed since (or
    /// changed since, for `-z -DATE`) is not wanted. Met when there is no
    /// condition, no date to judge by, or the answer is not a 200.
    pub fn condition_met(&self, head: &crate::response::Head) -> bool {
        let (Some(condition), 200) = (self.time_condition, head.status) else {
            return true;
        };
        let Some(modified) = head
            .header("last-modified")
            .and_then(|v| httpdate::parse_http_date(v).ok())
        else {
            return true;
        };
        match condition {
            TimeCondition::ModifiedSince(t) => modified > t,
            TimeCondition::UnmodifiedSince(t) => modified <= t,
        }
    }

    /// Whether this head asks for `100 Continue` before the body.
    pub fn expects_continue(head: &[u8]) -> bool {
        head.split(|&b| b == b'\n').any(|line| {
            let line = line.trim_ascii();
            line.len() > 7
                && line[..7].eq_ignore_ascii_case(b"expect:")
                && line[7..].trim_ascii().eq_ignore_ascii_case(b"100-continue")
        })
    }

    /// Writes the head: the defaults, minus those the caller replaced or
    /// removed, then the caller's headers. `len`: the body's length, outer
    /// `None` for no body, inner `None` for chunked.
    fn write_head(
        &self,
        url: &Url,
        kind: Kind,
        len: Option<Option<u64>>,
        target: &str,
        extra: &[(&str, String)],
    ) -> Vec<u8> {
        let same_origin =
            url.endpoint() == self.url.endpoint() && url.is_https() == self.url.is_https();
        let mut defaults: Vec<(&str, String)> = vec![("Host", url.host_header())];
        if let (Some((user, pass)), true) = (&self.credentials, same_origin) {
            defaults.push((
                "Authorization",
                format!("Basic {}", base64(format!("{user}:{pass}").as_bytes())),
            ));
        }
        // In curl's order: the proxy's credentials after the server's,
        // the rest (Accept-Encoding, Proxy-Connection) after Accept.
        let (proxy_auth, rest): (Vec<_>, Vec<_>) = extra
            .iter()
            .partition(|(n, _)| n.eq_ignore_ascii_case("Proxy-Authorization"));
        defaults.extend(proxy_auth.iter().map(|(n, v)| (*n, v.clone())));
        if let Some(range) = &self.range {
            defaults.push(("Range", format!("bytes={range}")));
        }
        if !self.user_agent.is_empty() {
            defaults.push(("User-Agent", self.user_agent.clone()));
        }
        if let Some(referer) = &self.referer {
            defaults.push(("Referer", referer.clone()));
        }
        defaults.push(("Accept", "*/*".into()));
        defaults.extend(rest.iter().map(|(n, v)| (*n, v.clone())));
        if let Some(cookie) = &self.cookie {
            defaults.push(("Cookie", cookie.clone()));
        }
        match self.time_condition {
            Some(TimeCondition::ModifiedSince(t)) => {
                defaults.push(("If-Modified-Since", httpdate::fmt_http_date(t)));
            }
            Some(TimeCondition::UnmodifiedSince(t)) => {
                defaults.push(("If-Unmodified-Since", httpdate::fmt_http_date(t)));
            }
            None => {}
        }
        match len {
            Some(Some(n)) => defaults.push(("Content-Length", n.to_string())),
            Some(None) => defaults.push(("Transfer-Encoding", "chunked".into())),
            None => {}
        }
        if kind == Kind::Post && len.is_some() {
            defaults.push(("Content-Type", "application/x-www-form-urlencoded".into()));
        }
        let expect = match (kind, len) {
            (_, Some(None)) => true,
            (Kind::Put, Some(Some(n))) => n > 0,
            (Kind::Post, Some(Some(n))) => n > EXPECT_THRESHOLD,
            _ => false,
        };
        if expect {
            defaults.push(("Expect", "100-continue".into()));
        }

        let mut head = format!("{} {target} HTTP/1.1\r\n", self.method_for(kind)).into_bytes();
        let given = |name: &str| {
            self.fields
                .iter()
                .any(|f| f.name.eq_ignore_ascii_case(name))
        };
        for (name, value) in &defaults {
            if !given(name) {
                head.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
            }
        }
        // The last of several settings of one name wins, as with curl.
        for (i, field) in self.fields.iter().enumerate() {
            let later = self.fields[i + 1..]
                .iter()
                .any(|f| f.name.eq_ignore_ascii_case(&field.name));
            let private = ["authorization", "cookie"]
                .iter()
                .any(|p| field.name.eq_ignore_ascii_case(p));
            if later || (private && !same_origin) {
                continue;
            }
            if let Some(value) = &field.value {
                head.extend_from_slice(field.name.as_bytes());
                head.extend_from_slice(b":");
                if !value.is_empty() {
                    head.push(b' ');
                    head.extend_from_slice(value);
                }
                head.extend_from_slice(b"\r\n");
            }
        }
        head.extend_from_slice(b"\r\n");
        head
    }
}

/// A header name must be a token: no white space, no colon.
fn check_name(name: &str, arg: &str) -> Result<()> {
    if name.is_empty() || name.bytes().any(|b| b <= b' ' || b == b':' || b == 0x7f) {
        return Err(Error::Usage(format!(
            "-H {arg:?}: {name:?} is not a header name"
        )));
    }
    Ok(())
}

/// The length of a body: `None` for standard input (sent chunked).
pub fn body_len(body: &Body) -> Result<Option<u64>> {
    match body {
        Body::Bytes(b) => Ok(Some(b.len() as u64)),
        Body::File(path) => fs::metadata(path).map(|m| Some(m.len())).map_err(|e| {
            Error::ReadBody(format!(
                "cannot read {} ({})",
                path.display(),
                net_core::error::describe(&e)
            ))
        }),
        Body::Stdin => Ok(None),
    }
}

/// Standard base64 with padding (RFC 4648), for Basic credentials.
pub fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    fn head(r: &Request) -> String {
        String::from_utf8(r.head_for(r.url(), None).unwrap()).unwrap()
    }

    #[test]
    fn base64_matches_rfc_4648() {
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
            ("u:p", "dTpw"),
        ] {
            assert_eq!(base64(input.as_bytes()), want);
        }
    }

    #[test]
    fn defaults_are_replaced_removed_or_emptied() {
        let r = Request::new(url("http://h/p"))
            .header_arg("Accept:")
            .unwrap()
            .header_arg("X-Empty;")
            .unwrap()
            .header_arg("User-Agent: zz")
            .unwrap();
        assert_eq!(
            head(&r),
            "GET /p HTTP/1.1\r\nHost: h\r\nX-Empty:\r\nUser-Agent: zz\r\n\r\n"
        );
        assert!(
            Request::new(url("http://h/"))
                .header_arg("nocolon")
                .is_err()
        );
        assert!(Request::new(url("http://h/")).header_arg("a b: c").is_err());
    }

    #[test]
    fn post_put_and_expect() {
        let r = Request::new(url("http://h/")).body("a&b");
        let h = head(&r);
        assert!(h.starts_with("POST / HTTP/1.1\r\n"), "{h}");
        assert!(
            h.contains("Content-Length: 3\r\nContent-Type: application/x-www-form-urlencoded\r\n")
        );
        assert!(!h.contains("Expect"));
        let big = vec![0; EXPECT_THRESHOLD as usize + 1];
        assert!(Request::expects_continue(
            head(&Request::new(url("http://h/")).body(big)).as_bytes()
        ));
        let r = Request::new(url("http://h/")).upload(Body::Stdin);
        let h = head(&r);
        assert!(
            h.starts_with("PUT / HTTP/1.1\r\n") && h.contains("Transfer-Encoding: chunked\r\n")
        );
        assert!(Request::expects_continue(h.as_bytes()));
        let r = r.header_arg("Expect:").unwrap();
        assert!(!Request::expects_continue(head(&r).as_bytes()));
    }

    #[test]
    fn a_body_sent_to_several_urls_is_held_once() {
        let body = Arc::new(vec![0u8; 1024]);
        let a = Request::new(url("http://h/a")).shared_body(Arc::clone(&body));
        let b = a.clone();
        assert_eq!(Arc::strong_count(&body), 3);
        assert_eq!(a.body_ref(), b.body_ref());
    }

    #[test]
    fn redirects_change_the_method_as_curl() {
        use Kind::*;
        assert_eq!(Request::redirected(Post, 301), Get);
        assert_eq!(Request::redirected(Post, 302), Get);
        assert_eq!(Request::redirected(Post, 303), Get);
        assert_eq!(Request::redirected(Put, 301), Put);
        assert_eq!(Request::redirected(Put, 303), Get);
        assert_eq!(Request::redirected(Head, 303), Head);
        assert_eq!(Request::redirected(Post, 307), Post);
        assert_eq!(Request::redirected(Put, 308), Put);
        let r = Request::new(url("http://h/")).method("POST").body("x");
        let h = String::from_utf8(r.head_for(r.url(), Some(Get)).unwrap()).unwrap();
        assert_eq!(
            h,
            format!(
                "POST / HTTP/1.1\r\nHost: h\r\nUser-Agent: {USER_AGENT}\r\nAccept: */*\r\n\r\n"
            )
        );
    }

    #[test]
    fn credentials_stay_with_the_first_host() {
        let r = Request::new(url("http://u:p@h/"))
            .header("Cookie", "c=1")
            .header("X-Other", "1");
        assert!(head(&r).contains("Authorization: Basic dTpw\r\n"));
        let other = url("http://elsewhere/");
        let h = String::from_utf8(r.head_for(&other, None).unwrap()).unwrap();
        assert!(!h.contains("Authorization") && !h.contains("Cookie"), "{h}");
        assert!(h.contains("X-Other: 1"));
        let r = Request::new(url("http://h/")).basic_auth("a", "b");
        assert!(head(&r).contains("Authorization: Basic YTpi\r\n"));
    }
}
