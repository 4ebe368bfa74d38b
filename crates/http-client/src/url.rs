//! `http://HOST[:PORT]/PATH` URLs and the lab's `HOST PORT PATH` form.

use std::fmt;

use net_core::{Endpoint, Host};

use crate::Error;

/// What to fetch: where, and which path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// Host and port.
    pub endpoint: Endpoint,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl Url {
    /// Parses an `http://` URL. `https://` and other schemes are refused
    /// with a clear error.
    pub fn parse(input: &str) -> Result<Url, Error> {
        let rest = match input.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
            Some((scheme, _)) if scheme.eq_ignore_ascii_case("https") => {
                return Err(Error::Unsupported(format!(
                    "{input}: https is not supported (use http://)"
                )));
            }
            Some((scheme, _)) => {
                return Err(Error::Unsupported(format!(
                    "{input}: the {scheme} scheme is not supported"
                )));
            }
            None => {
                return Err(Error::BadUrl(format!(
                    "{input}: expected http://HOST[:PORT]/PATH"
                )));
            }
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        if authority.contains('@') {
            return Err(Error::BadUrl(format!(
                "{input}: user names in URLs are not supported"
            )));
        }
        let (host, port) = split_authority(authority)
            .ok_or_else(|| Error::BadUrl(format!("{input}: bad host or port")))?;
        let host = Host::parse(host).map_err(|e| Error::BadUrl(e.to_string()))?;
        let path = path.split('#').next().unwrap_or_default();
        let path = match path {
            "" => "/".to_string(),
            p if p.starts_with('?') => format!("/{p}"),
            p => p.to_string(),
        };
        Ok(Url {
            endpoint: Endpoint { host, port },
            path: encode_spaces(&path),
        })
    }

    /// The lab's form: `SERVER_HOST SERVER_PORT PATH`.
    pub fn from_parts(host: &str, port: u16, path: &str) -> Result<Url, Error> {
        let host = Host::parse(host).map_err(|e| Error::BadUrl(e.to_string()))?;
        let path = if path.starts_with('/') {
            path.to_string()
        } else {
            format!("/{path}")
        };
        Ok(Url {
            endpoint: Endpoint { host, port },
            path: encode_spaces(&path),
        })
    }

    /// The `Host` header value: the port only when it is not 80.
    pub fn host_header(&self) -> String {
        if self.endpoint.port == 80 {
            self.endpoint.host.to_string()
        } else {
            self.endpoint.to_string()
        }
    }

    /// Resolves a `Location` header against this URL.
    pub fn join(&self, location: &str) -> Result<Url, Error> {
        let location = location.trim();
        if location.contains("://") {
            return Url::parse(location);
        }
        if let Some(rest) = location.strip_prefix("//") {
            return Url::parse(&format!("http://{rest}"));
        }
        let path = if location.starts_with('/') {
            location.to_string()
        } else if location.is_empty() {
            self.path.clone()
        } else {
            let base = self.path.split('?').next().unwrap_or("/");
            let dir = &base[..base.rfind('/').map_or(0, |i| i + 1)];
            format!("{dir}{location}")
        };
        Ok(Url {
            endpoint: self.endpoint.clone(),
            path: encode_spaces(&path),
        })
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}{}", self.host_header(), self.path)
    }
}

fn split_authority(authority: &str) -> Option<(&str, u16)> {
    if authority.is_empty() {
        return None;
    }
    if authority.starts_with('[') {
        let close = authority.find(']')?;
        let host = &authority[..=close];
        return match &authority[close + 1..] {
            "" => Some((host, 80)),
            p => Some((host, p.strip_prefix(':')?.parse().ok()?)),
        };
    }
    match authority.rsplit_once(':') {
        Some((host, "")) => Some((host, 80)),
        Some((host, port)) => Some((host, net_core::endpoint::parse_port(port).ok()?)),
        None => Some((authority, 80)),
    }
}

/// A request line cannot carry raw spaces; people type them in paths.
fn encode_spaces(path: &str) -> String {
    path.replace(' ', "%20")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = Url::parse("http://localhost:6789/HelloWorld.html").unwrap();
        assert_eq!(u.endpoint.to_string(), "localhost:6789");
        assert_eq!(u.path, "/HelloWorld.html");
        assert_eq!(u.host_header(), "localhost:6789");
        let u = Url::parse("http://[::1]:8080").unwrap();
        assert_eq!(
            (u.host_header().as_str(), u.path.as_str()),
            ("[::1]:8080", "/")
        );
        let u = Url::parse("HTTP://example.test?q=1#frag").unwrap();
        assert_eq!(
            (u.host_header().as_str(), u.path.as_str()),
            ("example.test", "/?q=1")
        );
        assert_eq!(u.to_string(), "http://example.test/?q=1");
    }

    #[test]
    fn bad_urls() {
        assert!(
            matches!(Url::parse("https://x/"), Err(Error::Unsupported(m)) if m.contains("https is not supported"))
        );
        assert!(matches!(Url::parse("ftp://x/"), Err(Error::Unsupported(_))));
        assert!(matches!(
            Url::parse("http://x:99999/"),
            Err(Error::BadUrl(_))
        ));
        assert!(matches!(Url::parse("http:///"), Err(Error::BadUrl(_))));
        assert!(matches!(Url::parse("http://u@x/"), Err(Error::BadUrl(_))));
        assert!(matches!(Url::parse("x/y"), Err(Error::BadUrl(_))));
    }

    #[test]
    fn lab_form() {
        let u = Url::from_parts("127.0.0.1", 80, "index.html").unwrap();
        assert_eq!(
            (u.host_header().as_str(), u.path.as_str()),
            ("127.0.0.1", "/index.html")
        );
        let u = Url::from_parts("::1", 6789, "/a b").unwrap();
        assert_eq!(
            (u.host_header().as_str(), u.path.as_str()),
            ("[::1]:6789", "/a%20b")
        );
    }

    #[test]
    fn joins_locations() {
        let base = Url::parse("http://h:1/a/b/c.html?x").unwrap();
        assert_eq!(base.join("/top").unwrap().to_string(), "http://h:1/top");
        assert_eq!(base.join("d/").unwrap().to_string(), "http://h:1/a/b/d/");
        assert_eq!(
            base.join("http://o:2/x").unwrap().to_string(),
            "http://o:2/x"
        );
        assert_eq!(base.join("//o/y").unwrap().to_string(), "http://o/y");
        assert!(base.join("https://o/").is_err());
    }
}
