//! HTTP proxies, chosen as curl 7.88 chooses them.
//!
//! - `-x URL` ([`Proxies::proxy`]) is used for every URL; `-x ""` uses no
//!   proxy, whatever the environment says.
//! - Otherwise the environment: `http_proxy` for `http://` URLs (only the
//!   lower-case name: `HTTP_PROXY` may be set by a web server's request
//!   through CGI, so curl ignores it), `https_proxy` or `HTTPS_PROXY` for
//!   `https://`, then `all_proxy` or `ALL_PROXY` for either.
//! - `--noproxy LIST` ([`Proxies::noproxy`]), else `no_proxy` or
//!   `NO_PROXY`, names the hosts reached directly: `*` alone is every
//!   host; a name matches itself and the names under it (`example.test`
//!   and `.example.test` both match `www.example.test`, never
//!   `notexample.test`); an IP address matches itself, or a range in CIDR
//!   form (`10.0.0.0/8`, `fd00::/8`).
//!
//! A proxy URL is `[http://][user:password@]host[:port]`, port 1080 when
//! none is given (curl's default). A plain `http://` request goes to the
//! proxy in absolute form (`GET http://host/path HTTP/1.1`); an
//! `https://` one asks for a tunnel with `CONNECT host:port` and runs TLS
//! through it, so the proxy sees neither the request nor the response.

use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream};
use std::time::{Duration, Instant};

use net_core::{Endpoint, Host};

use crate::Error;
use crate::client::{Observer, USER_AGENT};
use crate::response;
use crate::url::Url;

/// The port of a proxy URL without one, as curl's.
pub const DEFAULT_PROXY_PORT: u16 = 1080;

/// A proxy to send requests through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proxy {
    /// Where the proxy listens.
    pub endpoint: Endpoint,
    /// `Basic …` credentials for `Proxy-Authorization`, from the URL's
    /// user name and password.
    pub authorization: Option<String>,
}

impl Proxy {
    /// Parses `[http://][user:password@]host[:port]`.
    pub fn parse(text: &str) -> Result<Proxy, Error> {
        let syntax = || {
            Error::BadProxy(format!(
                "the proxy {text:?} is not host[:port] or http://host[:port]"
            ))
        };
        let full = if text.contains("://") {
            text.to_string()
        } else {
            format!("http://{text}")
        };
        let parsed = url::Url::parse(&full).map_err(|_| syntax())?;
        if parsed.scheme() != "http" {
            return Err(Error::ProxyUnsupported(format!(
                "the proxy {text:?} uses {}://, which this client cannot use (only http:// proxies)",
                parsed.scheme()
            )));
        }
        let host = match parsed.host() {
            Some(url::Host::Ipv4(ip)) => Host::Ip(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Host::Ip(IpAddr::V6(ip)),
            Some(url::Host::Domain(name)) => Host::Name(name.to_string()),
            None => return Err(syntax()),
        };
        // `http://h` has no port of its own: the url crate would say 80,
        // curl says 1080.
        let port = parsed.port().unwrap_or(if has_port(&full) {
            80
        } else {
            DEFAULT_PROXY_PORT
        });
        let authorization = if parsed.username().is_empty() && parsed.password().is_none() {
            None
        } else {
            let user = percent_decode(parsed.username());
            let password = percent_decode(parsed.password().unwrap_or(""));
            Some(format!(
                "Basic {}",
                base64(format!("{user}:{password}").as_bytes())
            ))
        };
        Ok(Proxy {
            endpoint: Endpoint { host, port },
            authorization,
        })
    }
}

/// Asks `proxy`, connected on `tcp`, for a tunnel to `url`'s server
/// (`CONNECT host:port`), within `limit`. Any answer but 2xx is curl's
/// exit 56; the proxy's head is shown as the server's would be (curl
/// shows it too, with `-i` and `-v`).
pub(crate) fn tunnel(
    tcp: &mut TcpStream,
    proxy: &Proxy,
    url: &Url,
    limit: Duration,
    observer: &mut dyn Observer,
) -> Result<(), Error> {
    let target = url.endpoint().to_string();
    let at = &proxy.endpoint;
    let request = format!(
        "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n{}User-Agent: {USER_AGENT}\r\nProxy-Connection: Keep-Alive\r\n\r\n",
        proxy
            .authorization
            .as_deref()
            .map(|a| format!("Proxy-Authorization: {a}\r\n"))
            .unwrap_or_default()
    );
    let broke = |e: std::io::Error| {
        if net_core::error::is_timeout(&e) {
            Error::Net(net_core::Error::TimedOut {
                action: "waiting for the tunnel from the proxy",
                target: at.to_string(),
                after: limit,
            })
        } else {
            Error::ConnectionBroke {
                context: format!("the connection to the proxy {at} broke during CONNECT"),
                source: e,
            }
        }
    };
    observer.request(request.as_bytes());
    let deadline = Instant::now() + limit;
    tcp.write_all(request.as_bytes()).map_err(broke)?;
    // Byte by byte: nothing past the head may be taken from the tunnel,
    // and a head is a few hundred bytes, once per connection.
    let mut acc = Vec::new();
    let mut byte = [0u8; 1];
    let head = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(broke(std::io::ErrorKind::TimedOut.into()));
        }
        tcp.set_read_timeout(Some(left)).map_err(broke)?;
        match tcp.read(&mut byte) {
            Ok(0) => {
                return Err(Error::Broken(format!(
                    "CONNECT tunnel failed: the proxy {at} closed the connection {}",
                    if acc.is_empty() {
                        "without answering"
                    } else {
                        "in the middle of its answer"
                    }
                )));
            }
            Ok(_) => acc.push(byte[0]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(broke(e)),
        }
        if byte[0] != b'\n' {
            continue;
        }
        match response::parse(&acc) {
            Ok(Some(head)) if head.status < 200 => acc.clear(),
            Ok(Some(head)) => break head,
            Ok(None) => {}
            Err(e) => {
                return Err(Error::Broken(format!(
                    "CONNECT tunnel failed: the proxy {at} did not answer in HTTP ({e})"
                )));
            }
        }
    };
    observer.head(&head);
    if !(200..300).contains(&head.status) {
        return Err(Error::Broken(format!(
            "CONNECT tunnel failed: the proxy {at} answered {} {} for {target}",
            head.status, head.reason
        )));
    }
    Ok(())
}

/// Whether the authority of `url` (`scheme://authority/...`) ends in an
/// explicit port, which the url crate drops when it is the scheme's
/// default.
fn has_port(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or("");
    let after_v6 = host_port.rsplit(']').next().unwrap_or("");
    after_v6.contains(':')
}

/// Which proxy each URL goes through.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Proxies {
    /// `-x`: `Some("")` for no proxy at all.
    explicit: Option<String>,
    /// `--noproxy`.
    noproxy: Option<String>,
    /// The proxy variables of the environment, as read.
    vars: Vec<(&'static str, String)>,
}

/// The variables read, in the order curl looks at them.
const VARS: [&str; 7] = [
    "http_proxy",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
];

impl Proxies {
    /// No proxy for any URL, whatever the environment says.
    pub fn none() -> Proxies {
        Proxies {
            explicit: Some(String::new()),
            ..Proxies::default()
        }
    }

    /// The proxies the environment names (a variable set but empty counts
    /// as unset, as with curl).
    pub fn from_env() -> Proxies {
        Proxies::from_vars(|name| std::env::var(name).ok())
    }

    /// The proxies named by `var`, which looks up an environment
    /// variable.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Proxies {
        Proxies {
            vars: VARS
                .iter()
                .filter_map(|&name| var(name).filter(|v| !v.is_empty()).map(|v| (name, v)))
                .collect(),
            ..Proxies::default()
        }
    }

    /// Uses `proxy` for every URL (`-x`); an empty one means no proxy.
    pub fn proxy(mut self, proxy: &str) -> Proxies {
        self.explicit = Some(proxy.to_string());
        self
    }

    /// The hosts reached without a proxy (`--noproxy`), in place of
    /// `no_proxy`.
    pub fn noproxy(mut self, list: &str) -> Proxies {
        self.noproxy = Some(list.to_string());
        self
    }

    fn var(&self, name: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The proxy for `url`, if any.
    pub fn for_url(&self, url: &Url) -> Result<Option<Proxy>, Error> {
        let exempt = self
            .noproxy
            .as_deref()
            .or_else(|| self.var("no_proxy"))
            .or_else(|| self.var("NO_PROXY"));
        if exempt.is_some_and(|list| no_proxy_matches(list, &url.endpoint().host)) {
            return Ok(None);
        }
        let chosen = match &self.explicit {
            Some(p) => Some(p.as_str()),
            None if url.is_https() => self.var("https_proxy").or_else(|| self.var("HTTPS_PROXY")),
            None => self.var("http_proxy"),
        };
        let chosen = chosen.or_else(|| {
            self.explicit
                .is_none()
                .then(|| self.var("all_proxy").or_else(|| self.var("ALL_PROXY")))
                .flatten()
        });
        match chosen {
            None | Some("") => Ok(None),
            Some(text) => Proxy::parse(text).map(Some),
        }
    }
}

/// Whether `host` is in the `no_proxy` list `list` (curl 7.88's rules,
/// see the module's docs).
pub fn no_proxy_matches(list: &str, host: &Host) -> bool {
    if list.trim() == "*" {
        return true;
    }
    let tokens = list.split([',', ' ', '\t']).filter(|t| !t.is_empty());
    for token in tokens {
        let hit = match host {
            Host::Name(name) => {
                let name = name.strip_suffix('.').unwrap_or(name);
                let token = token.strip_prefix('.').unwrap_or(token);
                let token = token.strip_suffix('.').unwrap_or(token);
                name.eq_ignore_ascii_case(token)
                    || (name.len() > token.len()
                        && name.as_bytes()[name.len() - token.len() - 1] == b'.'
                        && name[name.len() - token.len()..].eq_ignore_ascii_case(token))
            }
            Host::Ip(ip) => cidr_matches(token, *ip),
        };
        if hit {
            return true;
        }
    }
    false
}

/// `token` as an address or an `address/bits` range containing `ip`.
fn cidr_matches(token: &str, ip: IpAddr) -> bool {
    let (addr, bits) = match token.split_once('/') {
        Some((a, b)) => (a, b.parse::<u32>().ok()),
        None => (token, None),
    };
    let addr = addr.trim_start_matches('[').trim_end_matches(']');
    let Ok(net) = addr.parse::<IpAddr>() else {
        return false;
    };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => {
            let bits = bits.filter(|b| (1..=32).contains(b)).unwrap_or(32);
            let mask = u32::MAX << (32 - bits);
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) => {
            let bits = bits.filter(|b| (1..=128).contains(b)).unwrap_or(128);
            let mask = u128::MAX << (128 - bits);
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

/// `%41` → `A` in a URL's user name or password.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Standard base64 with padding (RFC 4648), for Basic credentials.
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for group in data.chunks(3) {
        let n = group
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= group.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
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

    fn host(h: &str) -> Host {
        Host::parse(h).unwrap()
    }

    #[test]
    fn no_proxy_rules_are_curls() {
        let m = |list: &str, h: &str| no_proxy_matches(list, &host(h));
        assert!(m("*", "anything.test"));
        assert!(m(" * ", "10.1.2.3"));
        assert!(!m("a.test,*", "b.test"), "* is a wildcard only alone");
        assert!(m("example.test", "example.test"));
        assert!(m("example.test", "www.EXAMPLE.test"));
        assert!(m(".example.test", "www.example.test"));
        assert!(m(".example.test", "example.test"));
        assert!(!m("example.test", "notexample.test"));
        assert!(!m("www.example.test", "example.test"));
        assert!(m("other.test, example.test", "example.test"));
        assert!(m("other.test example.test", "example.test"));
        assert!(m("localhost", "localhost"));
        assert!(!m("localhost", "127.0.0.1"));
        assert!(m("127.0.0.1", "127.0.0.1"));
        assert!(m("127.0.0.0/8", "127.9.9.9"));
        assert!(!m("127.0.0.0/8", "128.0.0.1"));
        assert!(!m("127.0.0.2", "127.0.0.1"));
        assert!(m("::1", "::1"));
        assert!(m("[::1]", "[::1]"));
        assert!(m("fd00::/8", "fd12::1"));
        assert!(!m("fd00::/8", "fe80::1"));
        assert!(!m("", "example.test"));
    }

    #[test]
    fn proxy_urls() {
        let p = Proxy::parse("127.0.0.1").unwrap();
        assert_eq!(p.endpoint.to_string(), "127.0.0.1:1080");
        let p = Proxy::parse("http://proxy.test").unwrap();
        assert_eq!(p.endpoint.to_string(), "proxy.test:1080");
        let p = Proxy::parse("http://proxy.test:80/").unwrap();
        assert_eq!(p.endpoint.to_string(), "proxy.test:80");
        let p = Proxy::parse("[::1]:3128").unwrap();
        assert_eq!(p.endpoint.to_string(), "[::1]:3128");
        let p = Proxy::parse("http://u:p@h:1").unwrap();
        assert_eq!(p.authorization.as_deref(), Some("Basic dTpw"));
        let p = Proxy::parse("http://us%40r:p%3Ass@h:1").unwrap();
        assert_eq!(
            p.authorization.as_deref(),
            Some(format!("Basic {}", base64(b"us@r:p:ss")).as_str())
        );
        let e = Proxy::parse("socks9://h:1").unwrap_err();
        assert_eq!(e.exit_code(), 7, "{e}");
        let e = Proxy::parse("http://[::1").unwrap_err();
        assert_eq!(e.exit_code(), 5, "{e}");
    }

    #[test]
    fn base64_encodes() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(
            base64(b"Aladdin:open sesame"),
            "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
    }

    #[test]
    fn which_proxy_as_curl() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            Proxies::from_vars(move |n| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == n)
                    .map(|(_, v)| v.to_string())
            })
        };
        let http = Url::parse("http://site.test/").unwrap();
        let https = Url::parse("https://site.test/").unwrap();
        let at = |p: &Proxies, u: &Url| p.for_url(u).unwrap().map(|p| p.endpoint.to_string());

        let p = vars(&[("http_proxy", "a:1"), ("https_proxy", "b:2")]);
        assert_eq!(at(&p, &http).as_deref(), Some("a:1"));
        assert_eq!(at(&p, &https).as_deref(), Some("b:2"));
        // HTTP_PROXY is never read; HTTPS_PROXY is.
        let p = vars(&[("HTTP_PROXY", "a:1"), ("HTTPS_PROXY", "b:2")]);
        assert_eq!(at(&p, &http), None);
        assert_eq!(at(&p, &https).as_deref(), Some("b:2"));
        let p = vars(&[("ALL_PROXY", "c:3")]);
        assert_eq!(at(&p, &http).as_deref(), Some("c:3"));
        let p = vars(&[("http_proxy", "a:1"), ("no_proxy", ".test")]);
        assert_eq!(at(&p, &http), None);
        let p = vars(&[("http_proxy", "a:1"), ("NO_PROXY", "site.test")]);
        assert_eq!(at(&p, &http), None);
        // --noproxy replaces no_proxy, and "" turns it off.
        let p = vars(&[("http_proxy", "a:1"), ("no_proxy", "*")]).noproxy("");
        assert_eq!(at(&p, &http).as_deref(), Some("a:1"));
        // -x wins over the environment; -x "" is no proxy; no_proxy
        // applies to -x too.
        let p = vars(&[("http_proxy", "a:1")]).proxy("d:4");
        assert_eq!(at(&p, &http).as_deref(), Some("d:4"));
        let p = vars(&[("http_proxy", "a:1"), ("all_proxy", "c:3")]).proxy("");
        assert_eq!(at(&p, &http), None);
        let p = vars(&[("no_proxy", "site.test")]).proxy("d:4");
        assert_eq!(at(&p, &http), None);
        assert_eq!(at(&Proxies::none(), &http), None);
    }
}
