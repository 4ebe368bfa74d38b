//! A small forwarding HTTP proxy for tests: absolute-form requests
//! (`GET http://host:port/path HTTP/1.1`) are forwarded in origin form,
//! `CONNECT host:port` opens a tunnel; every request head it is sent is
//! kept, exactly as received, for the test to compare.
//!
//! It forwards to loopback addresses only (any other target gets `403`),
//! one request per connection: the request goes upstream with
//! `Connection: close` and the response comes back until the server
//! closes. [`Proxy::refuse_connect`] makes it answer every `CONNECT` with
//! a status of the test's choosing.
//!
//! ```no_run
//! let proxy = testkit::proxy::Proxy::start();
//! // http_proxy=http://{proxy.addr()} curl http://127.0.0.1:6789/
//! let seen: Vec<String> = proxy.requests();
//! ```

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

/// How long a connection may sit idle before the proxy drops it: a test
/// that hangs fails rather than waits forever.
const IDLE: Duration = Duration::from_secs(20);

/// Largest request head accepted.
const MAX_HEAD: usize = 64 * 1024;

#[derive(Debug, Default)]
struct Shared {
    requests: Mutex<Vec<String>>,
    /// `0`: tunnels are opened; else the status `CONNECT` gets.
    refuse: AtomicU16,
    stop: AtomicBool,
}

/// A running proxy on `127.0.0.1`, stopped on drop.
#[derive(Debug)]
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Proxy {
    /// Starts a proxy on an ephemeral port of `127.0.0.1`.
    ///
    /// # Panics
    /// When no socket can be bound or no thread started (a test helper).
    pub fn start() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the test proxy");
        let addr = listener.local_addr().expect("the test proxy's address");
        let shared = Arc::new(Shared::default());
        let s = shared.clone();
        thread::Builder::new()
            .name("test-proxy".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    if s.stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let s = s.clone();
                    let _ =
                        thread::Builder::new()
                            .name("test-proxy-conn".into())
                            .spawn(move || {
                                let _ = serve(conn, &s);
                            });
                }
            })
            .expect("start the test proxy");
        Proxy { addr, shared }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, for `-x` or `http_proxy`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The request heads received so far, as sent (CRLFs kept, with the
    /// blank line).
    pub fn requests(&self) -> Vec<String> {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Answers every `CONNECT` from now on with `status` and no tunnel.
    pub fn refuse_connect(&self, status: u16) {
        self.shared.refuse.store(status, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}

/// Reads a request head, byte by byte so nothing after it is taken.
fn read_head(conn: &mut TcpStream) -> io::Result<Option<Vec<u8>>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if conn.read(&mut byte)? == 0 {
            return Ok(None);
        }
        head.push(byte[0]);
        if head.len() > MAX_HEAD {
            return Err(io::Error::other("request head too large"));
        }
    }
    Ok(Some(head))
}

fn answer(conn: &mut TcpStream, status: u16, reason: &str) -> io::Result<()> {
    conn.write_all(
        format!("HTTP/1.1 {status} {reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
}

/// A loopback address for `host:port`, or `None`.
fn loopback(authority: &str) -> Option<SocketAddr> {
    authority
        .to_socket_addrs()
        .ok()?
        .find(|a| a.ip().is_loopback())
}

fn serve(mut conn: TcpStream, shared: &Shared) -> io::Result<()> {
    conn.set_read_timeout(Some(IDLE))?;
    let Some(head) = read_head(&mut conn)? else {
        return Ok(());
    };
    let text = String::from_utf8_lossy(&head).into_owned();
    shared
        .requests
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(text.clone());
    let mut lines = text.split("\r\n");
    let first = lines.next().unwrap_or("");
    let mut parts = first.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if method == "CONNECT" {
        let refuse = shared.refuse.load(Ordering::SeqCst);
        if refuse != 0 {
            return answer(&mut conn, refuse, "Refused by the test");
        }
        let Some(addr) = loopback(target) else {
            return answer(&mut conn, 403, "Loopback only");
        };
        let Ok(upstream) = TcpStream::connect_timeout(&addr, IDLE) else {
            return answer(&mut conn, 502, "Bad Gateway");
        };
        conn.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")?;
        return splice(conn, upstream);
    }
    // Absolute form: http://authority/path.
    let Some(rest) = target.strip_prefix("http://") else {
        return answer(&mut conn, 400, "Not A Proxy Request");
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let authority_port = if authority.rsplit(']').next().unwrap_or("").contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let Some(addr) = loopback(&authority_port) else {
        return answer(&mut conn, 403, "Loopback only");
    };
    let Ok(mut upstream) = TcpStream::connect_timeout(&addr, IDLE) else {
        return answer(&mut conn, 502, "Bad Gateway");
    };
    let version = parts.next().unwrap_or("HTTP/1.1");
    let mut forwarded = format!("{method} {path} {version}\r\n");
    for line in lines.filter(|l| !l.is_empty()) {
        let name = line.split(':').next().unwrap_or("").trim();
        if ["proxy-connection", "proxy-authorization", "connection"]
            .iter()
            .any(|h| name.eq_ignore_ascii_case(h))
        {
            continue;
        }
        forwarded.push_str(line);
        forwarded.push_str("\r\n");
    }
    forwarded.push_str("Connection: close\r\n\r\n");
    upstream.write_all(forwarded.as_bytes())?;
    upstream.set_read_timeout(Some(IDLE))?;
    io::copy(&mut upstream, &mut conn)?;
    Ok(())
}

/// Copies both ways until either side closes.
fn splice(client: TcpStream, server: TcpStream) -> io::Result<()> {
    let (mut c2, mut s2) = (client.try_clone()?, server.try_clone()?);
    let up = thread::Builder::new()
        .name("test-proxy-up".into())
        .spawn(move || {
            let _ = io::copy(&mut c2, &mut s2);
            let _ = s2.shutdown(Shutdown::Write);
        })?;
    let (mut client, mut server) = (client, server);
    server.set_read_timeout(Some(IDLE))?;
    let _ = io::copy(&mut server, &mut client);
    let _ = client.shutdown(Shutdown::Write);
    let _ = up.join();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwards_and_records() {
        let origin = TcpListener::bind("127.0.0.1:0").unwrap();
        let at = origin.local_addr().unwrap();
        let server = thread::spawn(move || {
            let (mut s, _) = origin.accept().unwrap();
            let head = read_head(&mut s).unwrap().unwrap();
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")
                .unwrap();
            String::from_utf8(head).unwrap()
        });
        let proxy = Proxy::start();
        let mut c = TcpStream::connect(proxy.addr()).unwrap();
        c.write_all(
            format!(
                "GET http://{at}/x HTTP/1.1\r\nHost: {at}\r\nProxy-Connection: Keep-Alive\r\n\r\n"
            )
            .as_bytes(),
        )
        .unwrap();
        let mut reply = String::new();
        c.read_to_string(&mut reply).unwrap();
        assert!(reply.ends_with("\r\n\r\nhi"), "{reply}");
        assert_eq!(
            server.join().unwrap(),
            format!("GET /x HTTP/1.1\r\nHost: {at}\r\nConnection: close\r\n\r\n")
        );
        assert!(proxy.requests()[0].starts_with(&format!("GET http://{at}/x HTTP/1.1\r\n")));
    }

    #[test]
    fn tunnels_to_loopback_only() {
        let proxy = Proxy::start();
        let mut c = TcpStream::connect(proxy.addr()).unwrap();
        c.write_all(b"CONNECT 192.0.2.1:443 HTTP/1.1\r\nHost: 192.0.2.1:443\r\n\r\n")
            .unwrap();
        let mut reply = String::new();
        c.read_to_string(&mut reply).unwrap();
        assert!(reply.starts_with("HTTP/1.1 403 "), "{reply}");
    }
}
