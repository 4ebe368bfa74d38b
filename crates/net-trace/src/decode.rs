//! Frames to packets: link layer, IP, TCP/UDP, decoded by etherparse.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use etherparse::{NetSlice, SlicedPacket, TransportSlice};

/// How a captured frame begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkType {
    /// Ethernet II (LINKTYPE_ETHERNET, 1): what `lo` and veth give.
    Ethernet,
    /// Linux cooked capture v1 (LINKTYPE_LINUX_SLL, 113).
    LinuxSll,
    /// A bare IPv4 or IPv6 packet (LINKTYPE_RAW 101, IPV4 228, IPV6 229).
    RawIp,
    /// BSD loopback: a 4-byte address family, then IP (LINKTYPE_NULL 0,
    /// LOOP 108).
    Null,
}

/// TCP header flags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flags {
    /// SYN.
    pub syn: bool,
    /// ACK.
    pub ack: bool,
    /// FIN.
    pub fin: bool,
    /// RST.
    pub rst: bool,
    /// PSH.
    pub psh: bool,
}

impl Flags {
    /// As tshark shows them: `[SYN, ACK]`, `[PSH, ACK]`, `[FIN, ACK]`.
    pub fn label(&self) -> String {
        let mut names = Vec::new();
        if self.fin {
            names.push("FIN");
        }
        if self.syn {
            names.push("SYN");
        }
        if self.rst {
            names.push("RST");
        }
        if self.psh {
            names.push("PSH");
        }
        if self.ack {
            names.push("ACK");
        }
        format!("[{}]", names.join(", "))
    }
}

/// A TCP segment's header fields and payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tcp {
    /// Sequence number (absolute).
    pub seq: u32,
    /// Acknowledgment number (absolute).
    pub ack: u32,
    /// Flags.
    pub flags: Flags,
    /// Window field as sent (unscaled).
    pub window: u16,
    /// Window scale option (SYN segments only).
    pub window_scale: Option<u8>,
    /// Payload bytes.
    pub payload: Vec<u8>,
}

impl Tcp {
    /// Sequence space this segment uses: payload, plus one each for SYN
    /// and FIN.
    pub fn seq_len(&self) -> u32 {
        self.payload.len() as u32 + u32::from(self.flags.syn) + u32::from(self.flags.fin)
    }
}

/// What a packet carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// A TCP segment.
    Tcp(Tcp),
    /// A UDP datagram's payload.
    Udp(Vec<u8>),
}

/// A decoded TCP or UDP packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// Capture time (since the epoch, or any fixed origin).
    pub time: Duration,
    /// Length of the frame on the wire.
    pub wire_len: u32,
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// TCP or UDP contents.
    pub transport: Transport,
}

/// Decodes one frame; `None` for anything that is not TCP or UDP over IP
/// (ARP, ICMP, truncated or malformed frames).
pub fn decode(link: LinkType, data: &[u8], time: Duration, wire_len: u32) -> Option<Packet> {
    let sliced = match link {
        LinkType::Ethernet => SlicedPacket::from_ethernet(data),
        LinkType::LinuxSll => SlicedPacket::from_linux_sll(data),
        LinkType::RawIp => SlicedPacket::from_ip(data),
        LinkType::Null => SlicedPacket::from_ip(data.get(4..)?),
    }
    .ok()?;
    let (src_ip, dst_ip): (IpAddr, IpAddr) = match sliced.net.as_ref()? {
        NetSlice::Ipv4(v4) => (
            v4.header().source_addr().into(),
            v4.header().destination_addr().into(),
        ),
        NetSlice::Ipv6(v6) => (
            v6.header().source_addr().into(),
            v6.header().destination_addr().into(),
        ),
        NetSlice::Arp(_) => return None,
    };
    let (sport, dport, transport) = match sliced.transport.as_ref()? {
        TransportSlice::Tcp(t) => (
            t.source_port(),
            t.destination_port(),
            Transport::Tcp(Tcp {
                seq: t.sequence_number(),
                ack: t.acknowledgment_number(),
                flags: Flags {
                    syn: t.syn(),
                    ack: t.ack(),
                    fin: t.fin(),
                    rst: t.rst(),
                    psh: t.psh(),
                },
                window: t.window_size(),
                window_scale: t.options_iterator().find_map(|o| match o {
                    Ok(etherparse::TcpOptionElement::WindowScale(s)) => Some(s),
                    _ => None,
                }),
                payload: t.payload().to_vec(),
            }),
        ),
        TransportSlice::Udp(u) => (
            u.source_port(),
            u.destination_port(),
            Transport::Udp(u.payload().to_vec()),
        ),
        _ => return None,
    };
    Some(Packet {
        time,
        wire_len,
        src: SocketAddr::new(src_ip, sport),
        dst: SocketAddr::new(dst_ip, dport),
        transport,
    })
}

pub mod build {
    //! Ethernet frames built with etherparse's PacketBuilder: for tests,
    //! examples and anyone who wants a capture without a network.
    use etherparse::PacketBuilder;
    use std::net::SocketAddr;

    /// A TCP frame over Ethernet from `src` to `dst`.
    pub fn tcp(
        src: SocketAddr,
        dst: SocketAddr,
        seq: u32,
        ack: Option<u32>,
        flags: &str,
        payload: &[u8],
    ) -> Vec<u8> {
        let eth = PacketBuilder::ethernet2([0; 6], [0; 6]);
        let ip = match (src, dst) {
            (SocketAddr::V4(s), SocketAddr::V4(d)) => {
                eth.ipv4(s.ip().octets(), d.ip().octets(), 64)
            }
            (SocketAddr::V6(s), SocketAddr::V6(d)) => {
                eth.ipv6(s.ip().octets(), d.ip().octets(), 64)
            }
            // Mixed families: both as IPv6 (IPv4-mapped).
            (s, d) => eth.ipv6(v6(s.ip()), v6(d.ip()), 64),
        };
        let mut b = ip.tcp(src.port(), dst.port(), seq, 65_483);
        if let Some(a) = ack {
            b = b.ack(a);
        }
        for f in flags.chars() {
            b = match f {
                'S' => b.syn(),
                'F' => b.fin(),
                'R' => b.rst(),
                'P' => b.psh(),
                _ => b,
            };
        }
        let mut out = Vec::with_capacity(b.size(payload.len()));
        // Writing to a Vec fails only for a payload too large for one
        // packet; the frame is then cut to what was written.
        let _ = b.write(&mut out, payload);
        out
    }

    fn v6(ip: std::net::IpAddr) -> [u8; 16] {
        match ip {
            std::net::IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
            std::net::IpAddr::V6(v6) => v6.octets(),
        }
    }

    /// A UDP frame over Ethernet.
    pub fn udp(src: SocketAddr, dst: SocketAddr, payload: &[u8]) -> Vec<u8> {
        let eth = PacketBuilder::ethernet2([0; 6], [0; 6]);
        let b = match (src, dst) {
            (SocketAddr::V4(s), SocketAddr::V4(d)) => {
                eth.ipv4(s.ip().octets(), d.ip().octets(), 64)
            }
            (SocketAddr::V6(s), SocketAddr::V6(d)) => {
                eth.ipv6(s.ip().octets(), d.ip().octets(), 64)
            }
            // Mixed families: both as IPv6 (IPv4-mapped).
            (s, d) => eth.ipv6(v6(s.ip()), v6(d.ip()), 64),
        }
        .udp(src.port(), dst.port());
        let mut out = Vec::with_capacity(b.size(payload.len()));
        // Writing to a Vec fails only for a payload too large for one
        // packet; the frame is then cut to what was written.
        let _ = b.write(&mut out, payload);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_tcp_over_ethernet() {
        let c: SocketAddr = "127.0.0.1:52581".parse().unwrap();
        let s: SocketAddr = "127.0.0.1:13000".parse().unwrap();
        let frame = build::tcp(c, s, 1000, Some(7), "PA", b"hi");
        let p = decode(
            LinkType::Ethernet,
            &frame,
            Duration::ZERO,
            frame.len() as u32,
        )
        .unwrap();
        assert_eq!((p.src, p.dst), (c, s));
        let Transport::Tcp(t) = p.transport else {
            panic!("not tcp")
        };
        assert_eq!((t.seq, t.ack, t.payload.as_slice()), (1000, 7, &b"hi"[..]));
        assert_eq!(t.flags.label(), "[PSH, ACK]");
        assert_eq!(t.seq_len(), 2);
    }

    #[test]
    fn decodes_udp_over_ipv6_and_raw_ip() {
        let c: SocketAddr = "[::1]:40000".parse().unwrap();
        let s: SocketAddr = "[::1]:12000".parse().unwrap();
        let frame = build::udp(c, s, b"amrita");
        let p = decode(LinkType::Ethernet, &frame, Duration::ZERO, 0).unwrap();
        assert_eq!(p.transport, Transport::Udp(b"amrita".to_vec()));
        let raw = decode(LinkType::RawIp, &frame[14..], Duration::ZERO, 0).unwrap();
        assert_eq!(raw.src, c);
    }

    #[test]
    fn garbage_is_none() {
        assert!(decode(LinkType::Ethernet, b"short", Duration::ZERO, 5).is_none());
        assert!(decode(LinkType::Null, b"", Duration::ZERO, 0).is_none());
    }

    #[test]
    fn flag_labels() {
        let f = |syn, ack, fin, rst| {
            Flags {
                syn,
                ack,
                fin,
                rst,
                psh: false,
            }
            .label()
        };
        assert_eq!(f(true, false, false, false), "[SYN]");
        assert_eq!(f(true, true, false, false), "[SYN, ACK]");
        assert_eq!(f(false, true, true, false), "[FIN, ACK]");
        assert_eq!(f(false, false, false, true), "[RST]");
    }
}
