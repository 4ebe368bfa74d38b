//! Learning that a chat client is gone: the ICMP "port unreachable" its
//! host answers to a datagram sent to it.
//!
//! A UDP socket that is not connected (the chat server's, which talks to
//! whoever wrote last) hears of such errors only when it asks to (Linux's
//! `IP_RECVERR`); each one is then queued on the socket's error queue, and
//! the next receive fails with "connection refused". [`take`] empties that
//! queue and names the address the error was for. Elsewhere nothing is
//! reported, and lines to a gone client are lost as with any UDP peer.

use std::net::{SocketAddr, UdpSocket};

/// Asks the kernel to report ICMP errors for datagrams `socket` sends.
#[cfg(target_os = "linux")]
pub fn enable(socket: &UdpSocket) {
    use nix::sys::socket::{setsockopt, sockopt};
    // A dual-stack socket carries both families; either may fail alone.
    let _ = setsockopt(socket, sockopt::Ipv4RecvErr, &true);
    let _ = setsockopt(socket, sockopt::Ipv6RecvErr, &true);
}

/// Not available here: errors stay unreported.
#[cfg(not(target_os = "linux"))]
pub fn enable(_socket: &UdpSocket) {}

/// Most queued errors read at once: the queue is bounded by the socket's
/// receive buffer anyway; this only bounds one call's work.
#[cfg(target_os = "linux")]
const MAX_DRAIN: usize = 1024;

/// Empties the error queue; returns the destination of the last error
/// queued (the client that is gone), if any.
#[cfg(target_os = "linux")]
pub fn take(socket: &UdpSocket) -> Option<SocketAddr> {
    use nix::sys::socket::{MsgFlags, SockaddrLike, SockaddrStorage, recvmsg};
    use std::io::IoSliceMut;
    use std::os::fd::AsRawFd;
    let mut last = None;
    let mut data = [0u8; 64];
    for _ in 0..MAX_DRAIN {
        let mut iov = [IoSliceMut::new(&mut data)];
        let got = recvmsg::<SockaddrStorage>(
            socket.as_raw_fd(),
            &mut iov,
            None,
            MsgFlags::MSG_ERRQUEUE | MsgFlags::MSG_DONTWAIT,
        );
        let Ok(msg) = got else { break };
        if let Some(addr) = msg.address {
            if let Some(v4) = addr.as_sockaddr_in() {
                last = Some(SocketAddr::from(*v4));
            } else if let Some(v6) = addr.as_sockaddr_in6() {
                last = Some(SocketAddr::from(*v6));
            } else if addr.family().is_none() {
                continue;
            }
        }
    }
    last
}

/// Not available here: nothing was queued.
#[cfg(not(target_os = "linux"))]
pub fn take(_socket: &UdpSocket) -> Option<SocketAddr> {
    None
}
