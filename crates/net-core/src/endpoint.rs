//! Endpoints: `host:port`, `[v6]:port`, bare hosts and ports, and their
//! resolution to socket addresses with clear errors.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::str::FromStr;

use crate::error::{Error, Result};

/// Longest host name DNS allows.
const MAX_HOST_LEN: usize = 253;

/// A host: an IP literal or a name still to be resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// An IPv4 or IPv6 literal.
    Ip(IpAddr),
    /// A DNS name such as `localhost`.
    Name(String),
}

impl Host {
    /// Parses a host as typed by a user: `127.0.0.1`, `::1`, `[::1]`,
    /// `localhost`, `example.test`.
    pub fn parse(input: &str) -> Result<Host> {
        let bad = |reason| Error::InvalidAddress {
            input: input.to_string(),
            reason,
        };
        if input.is_empty() {
            return Err(bad("the host is empty"));
        }
        let inner = match input.strip_prefix('[') {
            Some(rest) => rest
                .strip_suffix(']')
                .ok_or_else(|| bad("missing ']' after the IPv6 address"))?,
            None => input,
        };
        if let Ok(ip) = inner.parse::<IpAddr>() {
            return Ok(Host::Ip(ip));
        }
        if inner.len() != input.len() || inner.contains(':') {
            return Err(bad("not a valid IPv6 address"));
        }
        if input.len() > MAX_HOST_LEN {
            return Err(bad("the host name is too long"));
        }
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        let name = input.strip_suffix('.').unwrap_or(input);
        if !name.split('.').all(label_ok) {
            return Err(bad("not a valid host name"));
        }
        Ok(Host::Name(input.to_string()))
    }

    /// The loopback address of the same family when `self` is an unspecified
    /// address (`0.0.0.0`, `::`), for connecting to a socket bound to "all".
    pub fn loopback_for(ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            other => other,
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Ip(IpAddr::V6(v6)) => write!(f, "[{v6}]"),
            Host::Ip(ip) => write!(f, "{ip}"),
            Host::Name(n) => f.write_str(n),
        }
    }
}

/// A host and a port, e.g. `127.0.0.1:13000`, `[::1]:6789`, `localhost:80`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Where.
    pub host: Host,
    /// Which port.
    pub port: u16,
}

impl Endpoint {
    /// An endpoint from a separately given host and port (`--host`, `--port`).
    pub fn new(host: &str, port: u16) -> Result<Endpoint> {
        Ok(Endpoint {
            host: Host::parse(host)?,
            port,
        })
    }

    /// Resolves to every address the host has, in resolver order. IP
    /// literals resolve without touching the resolver.
    pub fn resolve(&self) -> Result<Vec<SocketAddr>> {
        let name = match &self.host {
            Host::Ip(ip) => return Ok(vec![SocketAddr::new(*ip, self.port)]),
            Host::Name(n) => n,
        };
        let addrs: Vec<SocketAddr> = (name.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|source| Error::Resolve {
                host: name.clone(),
                source,
            })?
            .collect();
        if addrs.is_empty() {
            return Err(Error::NoAddress { host: name.clone() });
        }
        Ok(addrs)
    }

    /// Resolves and keeps the first address: what a server binds.
    pub fn resolve_one(&self) -> Result<SocketAddr> {
        let addrs = self.resolve()?;
        addrs.first().copied().ok_or_else(|| Error::NoAddress {
            host: self.host.to_string(),
        })
    }
}

impl FromStr for Endpoint {
    type Err = Error;

    /// Parses `host:port`, `[v6]:port`. A bare IPv6 address with a port
    /// must use brackets, as in URLs.
    fn from_str(input: &str) -> Result<Endpoint> {
        let bad = |reason| Error::InvalidAddress {
            input: input.to_string(),
            reason,
        };
        let (host, port) = if input.starts_with('[') {
            let close = input
                .find(']')
                .ok_or_else(|| bad("missing ']' after the IPv6 address"))?;
            let port = input[close + 1..]
                .strip_prefix(':')
                .ok_or_else(|| bad("expected ':PORT' after the IPv6 address"))?;
            (&input[..=close], port)
        } else {
            let (host, port) = input
                .rsplit_once(':')
                .ok_or_else(|| bad("expected HOST:PORT"))?;
            if host.contains(':') {
                return Err(bad("write IPv6 addresses in brackets, e.g. [::1]:80"));
            }
            (host, port)
        };
        Ok(Endpoint {
            host: Host::parse(host)?,
            port: parse_port(port)?,
        })
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// Parses a port number `0..=65535` with a clear error.
pub fn parse_port(input: &str) -> Result<u16> {
    if input.is_empty() {
        return Err(Error::InvalidAddress {
            input: input.to_string(),
            reason: "the port is empty",
        });
    }
    if !input.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::InvalidAddress {
            input: input.to_string(),
            reason: "the port is not a number",
        });
    }
    input.parse().map_err(|_| Error::InvalidAddress {
        input: input.to_string(),
        reason: "the port must be between 0 and 65535",
    })
}

/// Formats a list of addresses for an error message: the one address, or
/// `host:port` when the name resolved to several.
pub fn describe_target(endpoint: &Endpoint, addrs: &[SocketAddr]) -> String {
    match addrs {
        [one] => one.to_string(),
        _ => endpoint.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_v4_v6_and_names() {
        let e: Endpoint = "127.0.0.1:13000".parse().unwrap();
        assert_eq!(e.host, Host::Ip("127.0.0.1".parse().unwrap()));
        assert_eq!(e.port, 13000);
        let e: Endpoint = "[::1]:6789".parse().unwrap();
        assert_eq!(e.host, Host::Ip("::1".parse().unwrap()));
        assert_eq!(e.to_string(), "[::1]:6789");
        let e: Endpoint = "localhost:0".parse().unwrap();
        assert_eq!(e.host, Host::Name("localhost".into()));
        assert_eq!(e.port, 0);
    }

    #[test]
    fn host_accepts_bracketed_and_bare_v6() {
        assert_eq!(Host::parse("::1").unwrap(), Host::parse("[::1]").unwrap());
        assert_eq!(Host::parse("::").unwrap().to_string(), "[::]");
    }

    #[test]
    fn rejects_bad_input_with_reasons() {
        let msg = |s: &str| s.parse::<Endpoint>().unwrap_err().to_string();
        assert_eq!(
            msg("localhost"),
            "invalid address \"localhost\": expected HOST:PORT"
        );
        assert_eq!(
            msg("::1:80"),
            "invalid address \"::1:80\": write IPv6 addresses in brackets, e.g. [::1]:80"
        );
        assert_eq!(
            msg("[::1]80"),
            "invalid address \"[::1]80\": expected ':PORT' after the IPv6 address"
        );
        assert_eq!(
            msg("host:99999"),
            "invalid address \"99999\": the port must be between 0 and 65535"
        );
        assert_eq!(
            msg("host:-1"),
            "invalid address \"-1\": the port is not a number"
        );
        assert_eq!(msg(":80"), "invalid address \"\": the host is empty");
        assert_eq!(
            msg("bad host!:80"),
            "invalid address \"bad host!\": not a valid host name"
        );
        assert_eq!(
            msg("[zz]:80"),
            "invalid address \"[zz]\": not a valid IPv6 address"
        );
    }

    #[test]
    fn literals_resolve_without_a_resolver() {
        let e = Endpoint::new("::1", 7).unwrap();
        assert_eq!(e.resolve().unwrap(), vec!["[::1]:7".parse().unwrap()]);
    }

    #[test]
    fn localhost_resolves() {
        let addrs = Endpoint::new("localhost", 9).unwrap().resolve().unwrap();
        assert!(addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 9));
    }

    #[test]
    fn loopback_for_unspecified() {
        assert_eq!(
            Host::loopback_for("0.0.0.0".parse().unwrap()),
            "127.0.0.1".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            Host::loopback_for("::".parse().unwrap()),
            "::1".parse::<IpAddr>().unwrap()
        );
        let other: IpAddr = "10.77.0.1".parse().unwrap();
        assert_eq!(Host::loopback_for(other), other);
    }
}
