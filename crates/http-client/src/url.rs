//! `http://HOST[:PORT]/PATH` URLs and the lab's `HOST PORT PATH` form,
//! parsed and resolved by the `url` crate (the WHATWG URL standard, which
//! browsers and curl's URL handling agree with on everything used here):
//! dot segments are removed, non-ASCII and unsafe characters in the path
//! are percent-encoded (what is already encoded stays), the fragment is
//! never sent, and a `Location` is resolved against the URL it came from.

use std::fmt;
use std::net::IpAddr;

use net_core::{Endpoint, Host};

use crate::Error;

/// What to fetch: an absolute `http://` or `https://` URL without a
/// fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    inner: url::Url,
    endpoint: Endpoint,
    /// `user:pass@` from the URL, percent-decoded; kept out of `inner` so
    /// it is never printed.
    credentials: Option<(String, String)>,
}

impl Url {
    /// Parses an `http://` or `https://` URL. Other schemes are refused
    /// with a clear error.
    pub fn parse(input: &str) -> Result<Url, Error> {
        let parsed = url::Url::parse(input.trim()).map_err(|e| match e {
            url::ParseError::RelativeUrlWithoutBase => {
                Error::BadUrl(format!("{input}: expected http://HOST[:PORT]/PATH"))
            }
            e => Error::BadUrl(format!("{input}: {e}")),
        })?;
        Url::from_parsed(parsed, input)
    }

    /// The lab's form: `SERVER_HOST SERVER_PORT PATH`, the same URL as
    /// `http://SERVER_HOST:SERVER_PORT/PATH`.
    pub fn from_parts(host: &str, port: u16, path: &str) -> Result<Url, Error> {
        let endpoint = Endpoint {
            host: Host::parse(host).map_err(|e| Error::BadUrl(e.to_string()))?,
            port,
        };
        let slash = if path.starts_with('/') { "" } else { "/" };
        Url::parse(&format!("http://{endpoint}{slash}{path}"))
    }

    /// The URLs named on a command line: `HOST PORT PATH [PATH…]` or one
    /// or more `http://` URLs.
    pub fn from_args<S: AsRef<str>>(args: &[S]) -> Result<Vec<Url>, Error> {
        let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
        if args.iter().any(|a| a.contains("://")) {
            return args.iter().map(|a| Url::parse(a)).collect();
        }
        match args.as_slice() {
            [host, port, paths @ ..] if !paths.is_empty() => {
                let port = net_core::endpoint::parse_port(port)
                    .map_err(|e| Error::BadUrl(e.to_string()))?;
                paths
                    .iter()
                    .map(|p| Url::from_parts(host, port, p))
                    .collect()
            }
            _ => Err(Error::BadUrl(
                "expected SERVER_HOST SERVER_PORT PATH [PATH…] or http://HOST[:PORT]/PATH".into(),
            )),
        }
    }

    fn from_parsed(mut inner: url::Url, input: &str) -> Result<Url, Error> {
        match inner.scheme() {
            "http" | "https" => {}
            scheme => {
                return Err(Error::Unsupported(format!(
                    "{input}: the {scheme} scheme is not supported"
                )));
            }
        }
        let credentials = if !inner.username().is_empty() || inner.password().is_some() {
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            };
            let found = (
                decode(inner.username()),
                decode(inner.password().unwrap_or("")),
            );
            // Cannot fail for an http URL with a host, checked below.
            let _ = inner.set_username("");
            let _ = inner.set_password(None);
            Some(found)
        } else {
            None
        };
        let host = match inner.host() {
            Some(url::Host::Ipv4(ip)) => Host::Ip(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Host::Ip(IpAddr::V6(ip)),
            Some(url::Host::Domain(name)) => Host::Name(name.to_string()),
            None => return Err(Error::BadUrl(format!("{input}: the host is missing"))),
        };
        let port = inner
            .port_or_known_default()
            .ok_or_else(|| Error::BadUrl(format!("{input}: the port is missing")))?;
        // Never sent: the fragment is for the user agent alone.
        inner.set_fragment(None);
        Ok(Url {
            inner,
            endpoint: Endpoint { host, port },
            credentials,
        })
    }

    /// Whether this is an `https://` URL.
    pub fn is_https(&self) -> bool {
        self.inner.scheme() == "https"
    }

    /// `user:pass@` from the URL, percent-decoded (a missing password is
    /// empty, as curl sends it).
    pub fn credentials(&self) -> Option<(String, String)> {
        self.credentials.clone()
    }

    /// The last segment of the path, as `-O` names a file after it (still
    /// percent-encoded, as curl leaves it); empty when the path ends in `/`.
    pub fn file_name(&self) -> &str {
        let path = self.inner.path();
        &path[path.rfind('/').map_or(0, |i| i + 1)..]
    }

    /// The same URL with `name` as its last path segment, when the path
    /// ends in `/` (as `-T FILE` names the uploaded file), percent-encoded
    /// as curl 7.88 encodes it: all but letters, digits and `-._~`, with
    /// lower-case hex digits.
    pub fn with_file_name(&self, name: &str) -> Url {
        /// What `curl_easy_escape` leaves as it is: RFC 3986's unreserved.
        const ESCAPED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
            .remove(b'-')
            .remove(b'.')
            .remove(b'_')
            .remove(b'~');
        if !self.file_name().is_empty() {
            return self.clone();
        }
        let mut next = self.clone();
        // curl 7.88 writes the escapes' hex digits in lower case.
        let name = percent_encoding::utf8_percent_encode(name, ESCAPED)
            .to_string()
            .split('%')
            .enumerate()
            .map(|(i, part)| match (i, part.get(..2)) {
                (0, _) | (_, None) => part.to_string(),
                (_, Some(hex)) => format!("%{}{}", hex.to_ascii_lowercase(), &part[2..]),
            })
            .collect::<String>();
        let path = format!("{}{name}", self.inner.path());
        next.inner.set_path(&path);
        next
    }

    /// The same URL with `data` added to its query (after `&` when it has
    /// one), as `-G` sends `-d` data; `data` is sent as it is.
    pub fn with_query_data(&self, data: &str) -> Url {
        let mut next = self.clone();
        let query = match self.inner.query() {
            Some(q) if !q.is_empty() => format!("{q}&{data}"),
            _ => data.to_string(),
        };
        next.inner.set_query(Some(&query));
        next
    }

    /// Host and port to connect to.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The request target: path and query, starting with `/`.
    pub fn path(&self) -> &str {
        &self.inner[url::Position::BeforePath..url::Position::AfterQuery]
    }

    /// The `Host` header value: the port only when it is not 80.
    pub fn host_header(&self) -> String {
        self.inner[url::Position::BeforeHost..url::Position::AfterPort].to_string()
    }

    /// Resolves a `Location` header value against this URL. Bytes that are
    /// not ASCII (UTF-8 or not) are percent-encoded one by one, as curl
    /// does, so every redirect is either followed or refused with a reason.
    pub fn join(&self, location: &[u8]) -> Result<Url, Error> {
        let location = location.trim_ascii();
        let mut text = String::with_capacity(location.len());
        for &b in location {
            if b.is_ascii() {
                text.push(char::from(b));
            } else {
                text.push_str(&format!("%{b:02X}"));
            }
        }
        let joined = self.inner.join(&text).map_err(|e| {
            Error::BadUrl(format!(
                "cannot follow the redirect from {self} to {text:?} ({e})"
            ))
        })?;
        Url::from_parsed(joined, &text)
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.inner.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = Url::parse("http://localhost:6789/HelloWorld.html").unwrap();
        assert_eq!(u.endpoint().to_string(), "localhost:6789");
        assert_eq!(u.path(), "/HelloWorld.html");
        assert_eq!(u.host_header(), "localhost:6789");
        let u = Url::parse("http://[::1]:8080").unwrap();
        assert_eq!((u.host_header().as_str(), u.path()), ("[::1]:8080", "/"));
        let u = Url::parse("HTTP://example.test?q=1#frag").unwrap();
        assert_eq!(
            (u.host_header().as_str(), u.path()),
            ("example.test", "/?q=1")
        );
        assert_eq!(u.to_string(), "http://example.test/?q=1");
        let u = Url::parse("http://h/a/./b/../c%41 d/café?x=é#f").unwrap();
        assert_eq!(u.path(), "/a/c%41%20d/caf%C3%A9?x=%C3%A9");
    }

    #[test]
    fn bad_urls() {
        let u = Url::parse("https://x/").unwrap();
        assert!(u.is_https());
        assert_eq!(u.endpoint().to_string(), "x:443");
        assert!(matches!(Url::parse("ftp://x/"), Err(Error::Unsupported(_))));
        assert!(matches!(
            Url::parse("http://x:99999/"),
            Err(Error::BadUrl(_))
        ));
        assert!(matches!(Url::parse("http:///"), Err(Error::BadUrl(_))));
        assert!(matches!(Url::parse("http:///"), Err(Error::BadUrl(_))));
        assert!(matches!(Url::parse("x/y"), Err(Error::BadUrl(_))));
    }

    #[test]
    fn credentials_are_decoded_and_never_shown() {
        let u = Url::parse("http://us%20er:p%40ss@h:81/x").unwrap();
        assert_eq!(u.credentials(), Some(("us er".into(), "p@ss".into())));
        assert_eq!(u.to_string(), "http://h:81/x");
        assert_eq!(u.host_header(), "h:81");
        let u = Url::parse("http://u@h/").unwrap();
        assert_eq!(u.credentials(), Some(("u".into(), String::new())));
        assert_eq!(Url::parse("http://h/").unwrap().credentials(), None);
    }

    #[test]
    fn file_names() {
        let name = |s: &str| Url::parse(s).unwrap().file_name().to_string();
        assert_eq!(name("http://h/a/b.txt?q=1"), "b.txt");
        assert_eq!(name("http://h/a/"), "");
        assert_eq!(name("http://h"), "");
        assert_eq!(name("http://h/caf%C3%A9"), "caf%C3%A9");
        let u = Url::parse("http://h/dir/?q=1")
            .unwrap()
            .with_file_name("f.bin");
        assert_eq!(u.to_string(), "http://h/dir/f.bin?q=1");
        let u = Url::parse("http://h/")
            .unwrap()
            .with_file_name("a b&c=é.txt");
        assert_eq!(u.to_string(), "http://h/a%20b%26c%3d%c3%a9.txt");
        let u = Url::parse("http://h/x").unwrap().with_file_name("f.bin");
        assert_eq!(u.to_string(), "http://h/x");
    }

    #[test]
    fn query_data() {
        let u = Url::parse("http://h/p")
            .unwrap()
            .with_query_data("a=1&b=x+y");
        assert_eq!(u.path(), "/p?a=1&b=x+y");
        let u = Url::parse("http://h/p?z=0")
            .unwrap()
            .with_query_data("a=%20");
        assert_eq!(u.path(), "/p?z=0&a=%20");
    }

    #[test]
    fn lab_form() {
        let u = Url::from_parts("127.0.0.1", 80, "index.html").unwrap();
        assert_eq!(
            (u.host_header().as_str(), u.path()),
            ("127.0.0.1", "/index.html")
        );
        let u = Url::from_parts("::1", 6789, "/a b").unwrap();
        assert_eq!(
            (u.host_header().as_str(), u.path()),
            ("[::1]:6789", "/a%20b")
        );
        let u = Url::from_parts("h", 1, "café.html#top").unwrap();
        assert_eq!(u.path(), "/caf%C3%A9.html");
        let u = Url::from_parts("h", 1, "a%20b?q=%26").unwrap();
        assert_eq!(u.path(), "/a%20b?q=%26");
    }

    #[test]
    fn joins_locations() {
        let base = Url::parse("http://h:1/a/b/c.html?x").unwrap();
        let join = |l: &[u8]| base.join(l).unwrap().to_string();
        assert_eq!(join(b"/top"), "http://h:1/top");
        assert_eq!(join(b"d/"), "http://h:1/a/b/d/");
        assert_eq!(join(b"../final"), "http://h:1/a/final");
        assert_eq!(join(b"./final"), "http://h:1/a/b/final");
        assert_eq!(join(b"#frag"), "http://h:1/a/b/c.html?x");
        assert_eq!(join(b"http://o:2/x"), "http://o:2/x");
        assert_eq!(join(b"//o/y"), "http://o/y");
        assert_eq!(join("/é".as_bytes()), "http://h:1/%C3%A9");
        assert_eq!(join(b"/\xff"), "http://h:1/%FF");
        assert_eq!(
            join(b"/login?next=http://h/"),
            "http://h:1/login?next=http://h/"
        );
        assert_eq!(join(b"https://o/"), "https://o/");
        assert!(base.join(b"ftp://o/").is_err());
        assert!(matches!(base.join(b"http://[::1"), Err(Error::BadUrl(_))));
    }
}
