//! socket2 builders for the sockets every netlab program opens.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::endpoint::{Endpoint, describe_target};
use crate::error::{Error, Result};

/// Listen backlog: large enough that a burst of hundreds of simultaneous
/// connects (the lab's concurrency demos, load generators) is queued by the
/// kernel rather than refused. Linux caps it at `net.core.somaxconn`.
pub const LISTEN_BACKLOG: i32 = 1024;

/// Default time allowed for a TCP connect before giving up.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

fn socket_for(addr: SocketAddr, ty: Type, proto: Protocol) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), ty, Some(proto))?;
    if addr.is_ipv6() && addr.ip().is_unspecified() {
        // `::` means "every address", IPv4 included (dual stack), whatever
        // the system default for IPV6_V6ONLY is.
        socket.set_only_v6(false)?;
    }
    Ok(socket)
}

/// A TCP listener on `addr`: SO_REUSEADDR (so a restarted server can bind
/// the same port at once, despite connections in TIME_WAIT), backlog
/// [`LISTEN_BACKLOG`], dual-stack when `addr` is `::`.
pub fn tcp_listener(addr: SocketAddr) -> Result<TcpListener> {
    let build = || -> io::Result<TcpListener> {
        let socket = socket_for(addr, Type::STREAM, Protocol::TCP)?;
        #[cfg(not(windows))]
        socket.set_reuse_address(true)?;
        socket.bind(&SockAddr::from(addr))?;
        socket.listen(LISTEN_BACKLOG)?;
        Ok(socket.into())
    };
    build().map_err(|source| Error::Bind { addr, source })
}

/// Sets options on a listener that Linux copies to every socket it
/// accepts (TCP_NODELAY and the read and write time-outs), so a server
/// need not make those system calls for each connection. Returns true when
/// accepted sockets are known to inherit them; elsewhere the caller sets
/// them on each accepted socket as usual.
pub fn set_accepted_defaults(
    listener: &TcpListener,
    nodelay: bool,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
) -> bool {
    if !cfg!(target_os = "linux") {
        return false;
    }
    let sock = socket2::SockRef::from(listener);
    sock.set_tcp_nodelay(nodelay).is_ok()
        && sock.set_read_timeout(read_timeout).is_ok()
        && sock.set_write_timeout(write_timeout).is_ok()
}

/// Starts every socket `listener` accepts with its ACKs delayed (Linux
/// passes TCP_QUICKACK off from a listener to the sockets it accepts), for
/// a server that answers each piece of input at once: the ACK of a
/// client's first piece then rides on the answer instead of going out in
/// a packet of its own just before it — one packet fewer per short
/// exchange (9 instead of 10 for the lab's connect, sentence, reply,
/// close). A piece the server will not answer at once must be
/// acknowledged with [`ack_now`] before the server waits for more: a
/// client that waits for that ACK before sending the rest (Nagle's
/// algorithm) would otherwise wait the delayed-ACK time (40 ms) — and not
/// only on a connection's first piece, since Linux delays ACKs by itself
/// again once requests and answers alternate. False where it cannot be set
/// (not Linux).
pub fn delay_first_acks(listener: &TcpListener) -> bool {
    #[cfg(target_os = "linux")]
    {
        socket2::SockRef::from(listener)
            .set_tcp_quickack(false)
            .is_ok()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = listener;
        false
    }
}

/// Sends the ACK of what `stream` has received now if one is pending
/// (TCP_QUICKACK on), for input whose answer is not coming at once (see
/// [`delay_first_acks`]); call it before each such wait. Nothing where it
/// cannot be set.
pub fn ack_now(stream: &std::net::TcpStream) {
    #[cfg(target_os = "linux")]
    if let Err(e) = socket2::SockRef::from(stream).set_tcp_quickack(true) {
        log::debug!("cannot acknowledge input at once: {e}");
    }
    #[cfg(not(target_os = "linux"))]
    let _ = stream;
}

/// Makes closing `stream` discard unsent data and send a reset: for a
/// peer cut off because it stopped reading, whose unread bytes would
/// otherwise keep the kernel retrying (and holding memory) after the close.
pub fn reset_on_close(stream: &std::net::TcpStream) {
    let _ = socket2::SockRef::from(stream).set_linger(Some(Duration::ZERO));
}

/// True when the peer has ended its stream and everything it sent has been
/// read: a read would return end of stream now. Never blocks and consumes
/// nothing, so another thread may own the reading. Where this cannot be
/// asked without blocking (not Linux), always false.
pub fn peer_has_closed(stream: &std::net::TcpStream) -> bool {
    #[cfg(target_os = "linux")]
    {
        use nix::sys::socket::{MsgFlags, recv};
        use std::os::fd::AsRawFd;
        let mut byte = [0u8; 1];
        let flags = MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT;
        matches!(recv(stream.as_raw_fd(), &mut byte, flags), Ok(0))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = stream;
        false
    }
}

/// A UDP socket bound to `addr` (port 0 for an ephemeral port), dual-stack
/// when `addr` is `::`.
pub fn udp_socket(addr: SocketAddr) -> Result<UdpSocket> {
    let build = || -> io::Result<UdpSocket> {
        let socket = socket_for(addr, Type::DGRAM, Protocol::UDP)?;
        socket.bind(&SockAddr::from(addr))?;
        Ok(socket.into())
    };
    build().map_err(|source| Error::Bind { addr, source })
}

/// The wildcard address of the same family as `peer`, port 0: what a client
/// socket binds before talking to `peer`.
pub fn unspecified_for(peer: SocketAddr) -> SocketAddr {
    match peer {
        SocketAddr::V4(_) => SocketAddr::from(([0, 0, 0, 0], 0)),
        SocketAddr::V6(_) => SocketAddr::from(([0u16; 8], 0)),
    }
}

/// Connects to one address within `timeout`, with errors worded for people.
pub fn connect_addr(addr: SocketAddr, timeout: Duration) -> Result<TcpStream> {
    TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| connect_error(addr.to_string(), timeout, e))
}

/// Resolves `endpoint` and connects to its addresses in turn (as `curl`
/// does), returning the first connection made. When every address fails, the
/// error is the most telling one: a time-out or unreachable network beats a
/// refusal, and refusals name the endpoint as the user typed it when it had
/// several addresses.
pub fn connect(endpoint: &Endpoint, timeout: Duration) -> Result<TcpStream> {
    let addrs = endpoint.resolve()?;
    let mut last_err = None;
    for addr in &addrs {
        match TcpStream::connect_timeout(addr, timeout) {
            Ok(stream) => return Ok(stream),
            Err(e) => {
                log::debug!("connect to {addr} failed: {e}");
                let refused = e.kind() == io::ErrorKind::ConnectionRefused;
                if last_err.as_ref().is_none_or(|(r, _)| *r) || !refused {
                    last_err = Some((refused, e));
                }
            }
        }
    }
    let target = describe_target(endpoint, &addrs);
    Err(match last_err {
        Some((_, e)) => connect_error(target, timeout, e),
        None => Error::NoAddress {
            host: endpoint.host.to_string(),
        },
    })
}

fn connect_error(target: String, timeout: Duration, e: io::Error) -> Error {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => Error::Refused { target },
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Error::TimedOut {
            action: "connecting to",
            target,
            after: timeout,
        },
        _ => Error::Connect { target, source: e },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listener_binds_ephemeral_and_rebinds_at_once() {
        let l = tcp_listener("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = l.local_addr().unwrap();
        // Leave a connection behind so the port has state in the kernel.
        let c = TcpStream::connect(addr).unwrap();
        let (s, _) = l.accept().unwrap();
        drop(s);
        drop(c);
        drop(l);
        let again = tcp_listener(addr).unwrap();
        assert_eq!(again.local_addr().unwrap(), addr);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn accepted_sockets_inherit_delayed_acks() {
        let l = tcp_listener("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = l.local_addr().unwrap();
        let _plain = TcpStream::connect(addr).unwrap();
        let (before, _) = l.accept().unwrap();
        assert!(socket2::SockRef::from(&before).tcp_quickack().unwrap());
        assert!(delay_first_acks(&l));
        let _c = TcpStream::connect(addr).unwrap();
        let (s, _) = l.accept().unwrap();
        // Off: the socket is in delayed-ACK ("ping-pong") mode from its
        // start, before any data arrived.
        assert!(!socket2::SockRef::from(&s).tcp_quickack().unwrap());
        ack_now(&s);
        assert!(socket2::SockRef::from(&s).tcp_quickack().unwrap());
    }

    #[test]
    fn bind_conflict_is_worded() {
        let l = tcp_listener("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = l.local_addr().unwrap();
        let err = tcp_listener(addr).unwrap_err().to_string();
        assert_eq!(
            err,
            format!("cannot listen on {addr} (address already in use)")
        );
    }

    #[test]
    fn refused_names_the_address() {
        // Bind then drop to find a port with nothing on it.
        let addr = {
            let l = tcp_listener("127.0.0.1:0".parse().unwrap()).unwrap();
            l.local_addr().unwrap()
        };
        let ep = Endpoint::new("127.0.0.1", addr.port()).unwrap();
        let err = connect(&ep, Duration::from_secs(2)).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("nothing is listening on {addr} (connection refused)")
        );
    }

    #[test]
    fn dual_stack_accepts_ipv4() {
        let Ok(l) = tcp_listener("[::]:0".parse().unwrap()) else {
            testkit::skip("IPv6 is not available on this machine");
            return;
        };
        let port = l.local_addr().unwrap().port();
        let c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (_s, peer) = l.accept().unwrap();
        assert_eq!(peer.port(), c.local_addr().unwrap().port());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn accepted_sockets_inherit_the_defaults() {
        let l = tcp_listener("127.0.0.1:0".parse().unwrap()).unwrap();
        assert!(set_accepted_defaults(
            &l,
            true,
            Some(Duration::from_secs(7)),
            Some(Duration::from_secs(9))
        ));
        let _c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        assert!(s.nodelay().unwrap());
        assert_eq!(s.read_timeout().unwrap(), Some(Duration::from_secs(7)));
        assert_eq!(s.write_timeout().unwrap(), Some(Duration::from_secs(9)));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn peer_has_closed_only_at_end_of_stream_with_nothing_unread() {
        use std::io::{Read, Write};
        let l = tcp_listener("127.0.0.1:0".parse().unwrap()).unwrap();
        let mut c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (mut s, _) = l.accept().unwrap();
        assert!(!peer_has_closed(&c), "open, nothing sent");
        s.write_all(b"x").unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        // The byte is unread: not yet the end, and peeking keeps it.
        let mut one = [0u8; 1];
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        assert_eq!(c.peek(&mut one).unwrap(), 1);
        assert!(!peer_has_closed(&c));
        assert_eq!(c.read(&mut one).unwrap(), 1);
        // A blocking peek returns once the end of stream is there.
        assert_eq!(c.peek(&mut one).unwrap(), 0);
        assert!(peer_has_closed(&c));
    }

    #[test]
    fn udp_binds_ephemeral() {
        let s = udp_socket("127.0.0.1:0".parse().unwrap()).unwrap();
        assert_ne!(s.local_addr().unwrap().port(), 0);
    }
}
