//! The Linux packet socket: the only `unsafe` in netlab.
//!
//! `AF_PACKET` addresses (`struct sockaddr_ll`) are not modelled by
//! socket2, so this module writes one to bind the socket to an interface
//! and reads the packet type (incoming or outgoing) from the address each
//! frame arrives with. Each `unsafe` block is a plain read or write of that
//! 20-byte C struct inside socket2's properly sized and aligned storage.
#![allow(unsafe_code)]

use std::io;
use std::mem::{MaybeUninit, size_of};
use std::os::fd::AsRawFd;
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, SockAddrStorage, Socket, Type};

/// `ETH_P_ALL`: every protocol.
const ETH_P_ALL: u16 = 0x0003;

/// `sll_pkttype` of a frame this host sent (`PACKET_OUTGOING`).
pub const PACKET_OUTGOING: u8 = 4;

/// `SIOCGSTAMP` (`<linux/sockios.h>`): the receive time of the last frame.
/// The value is the same on every Linux architecture.
const SIOCGSTAMP: u64 = 0x8906;

/// `ARPHRD_LOOPBACK`, the hardware type of `lo`.
const ARPHRD_LOOPBACK: u32 = 772;

/// `struct sockaddr_ll` from `<linux/if_packet.h>`.
#[repr(C)]
#[derive(Clone, Copy)]
struct SockaddrLl {
    sll_family: u16,
    sll_protocol: u16,
    sll_ifindex: i32,
    sll_hatype: u16,
    sll_pkttype: u8,
    sll_halen: u8,
    sll_addr: [u8; 8],
}

/// A raw packet socket bound to one interface.
#[derive(Debug)]
pub struct PacketSocket {
    socket: Socket,
    buf: Vec<MaybeUninit<u8>>,
    /// The interface is a loopback: every frame is seen twice.
    pub loopback: bool,
}

fn sysfs(iface: &str, what: &str) -> io::Result<String> {
    std::fs::read_to_string(format!("/sys/class/net/{iface}/{what}")).map(|s| s.trim().to_string())
}

impl PacketSocket {
    /// Opens a packet socket on `iface` (needs root or CAP_NET_RAW).
    pub fn open(iface: &str, max_frame: usize) -> io::Result<PacketSocket> {
        if iface.is_empty()
            || iface.contains(['/', '.']) && iface.starts_with('.')
            || iface.contains('/')
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not an interface name",
            ));
        }
        let ifindex: i32 = sysfs(iface, "ifindex")
            .map_err(|_| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("no interface named {iface}"),
                )
            })?
            .parse()
            .map_err(|_| io::Error::other("unreadable interface index"))?;
        let loopback = sysfs(iface, "type").is_ok_and(|t| t.parse() == Ok(ARPHRD_LOOPBACK));
        let proto = i32::from(ETH_P_ALL.to_be());
        let socket = Socket::new(Domain::PACKET, Type::RAW, Some(Protocol::from(proto)))?;
        let ll = SockaddrLl {
            sll_family: libc::AF_PACKET as u16,
            sll_protocol: ETH_P_ALL.to_be(),
            sll_ifindex: ifindex,
            sll_hatype: 0,
            sll_pkttype: 0,
            sll_halen: 0,
            sll_addr: [0; 8],
        };
        let mut storage = SockAddrStorage::zeroed();
        // SAFETY: SockAddrStorage is large and aligned enough for any
        // socket address, sockaddr_ll included; we write a plain C struct.
        let addr = unsafe {
            *storage.view_as::<SockaddrLl>() = ll;
            SockAddr::new(storage, size_of::<SockaddrLl>() as socket2::socklen_t)
        };
        socket.bind(&addr)?;
        // Asking once turns on receive timestamps for every frame from now
        // on (the answer itself is "no frame yet").
        let mut tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 0,
        };
        // SAFETY: as in `recv`: one timeval written through a valid pointer.
        let _ = unsafe {
            libc::ioctl(
                socket.as_raw_fd(),
                SIOCGSTAMP as _,
                &mut tv as *mut libc::timeval,
            )
        };
        Ok(PacketSocket {
            socket,
            buf: vec![MaybeUninit::uninit(); max_frame],
            loopback,
        })
    }

    /// Waits at most `timeout` for a frame; returns it (truncated to the
    /// buffer) with its packet type and the kernel's receive time (since
    /// the epoch), or `None` on time-out.
    pub fn recv(&mut self, timeout: Duration) -> io::Result<Option<(&[u8], u8, Duration)>> {
        self.socket.set_read_timeout(Some(timeout))?;
        let (n, addr) = match self.socket.recv_from(&mut self.buf) {
            Ok(got) => got,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let mut storage = addr.as_storage();
        // SAFETY: the kernel filled a sockaddr_ll for this AF_PACKET socket;
        // the storage is sized and aligned for it.
        let pkttype = unsafe { storage.view_as::<SockaddrLl>().sll_pkttype };
        let n = n.min(self.buf.len());
        // The time the kernel received the frame, not the time we got to
        // it: the table's Time column must not depend on how busy we are.
        let mut tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 0,
        };
        // SAFETY: SIOCGSTAMP writes one timeval through the pointer, which
        // points at a live, writable timeval.
        let rc = unsafe {
            libc::ioctl(
                self.socket.as_raw_fd(),
                SIOCGSTAMP as _,
                &mut tv as *mut libc::timeval,
            )
        };
        let stamp = if rc == 0 && tv.tv_sec >= 0 && tv.tv_usec >= 0 {
            Duration::new(tv.tv_sec as u64, (tv.tv_usec as u32).min(999_999) * 1000)
        } else {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
        };
        // SAFETY: recvfrom initialised the first n bytes of the buffer.
        let data = unsafe { std::slice::from_raw_parts(self.buf.as_ptr().cast::<u8>(), n) };
        Ok(Some((data, pkttype, stamp)))
    }
}
