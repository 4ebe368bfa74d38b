//! Frames to packets: link layer, IP, TCP/UDP, decoded by etherparse.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use etherparse::{NetSlice, SlicedPacket, TransportSlice};

/// How a captured frame begins: the pcap `LINKTYPE_*` of its interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkType {
    /// Ethernet II, 802.1Q/QinQ tags included (LINKTYPE_ETHERNET, 1): what
    /// `lo` and veth give.
    Ethernet,
    /// Linux cooked capture v1 (LINKTYPE_LINUX_SLL, 113).
    LinuxSll,
    /// Linux cooked capture v2 (LINKTYPE_LINUX_SLL2, 276): tcpdump's
    /// default for `-i any`.
    LinuxSll2,
    /// A bare IPv4 or IPv6 packet, told apart by its version nibble
    /// (LINKTYPE_RAW, 101).
    RawIp,
    /// A bare IPv4 packet (LINKTYPE_IPV4, 228).
    Ipv4,
    /// A bare IPv6 packet (LINKTYPE_IPV6, 229).
    Ipv6,
    /// BSD loopback: a 4-byte address family in host byte order, then IP
    /// (LINKTYPE_NULL, 0).
    Null,
    /// OpenBSD loopback: as `Null` with the family in network byte order
    /// (LINKTYPE_LOOP, 108).
    Loop,
    /// Any other link type, by number: its frames are counted and shown as
    /// undecoded, never dropped.
    Other(u32),
}

impl LinkType {
    /// From a pcap/pcapng link type number.
    pub fn from_number(n: u32) -> LinkType {
        match n {
            1 => LinkType::Ethernet,
            113 => LinkType::LinuxSll,
            276 => LinkType::LinuxSll2,
            101 => LinkType::RawIp,
            228 => LinkType::Ipv4,
            229 => LinkType::Ipv6,
            0 => LinkType::Null,
            108 => LinkType::Loop,
            n => LinkType::Other(n),
        }
    }

    /// The pcap/pcapng link type number.
    pub fn number(self) -> u32 {
        match self {
            LinkType::Ethernet => 1,
            LinkType::LinuxSll => 113,
            LinkType::LinuxSll2 => 276,
            LinkType::RawIp => 101,
            LinkType::Ipv4 => 228,
            LinkType::Ipv6 => 229,
            LinkType::Null => 0,
            LinkType::Loop => 108,
            LinkType::Other(n) => n,
        }
    }

    /// Whether net-trace decodes frames of this link type.
    pub fn is_supported(self) -> bool {
        !matches!(self, LinkType::Other(_))
    }
}

/// TCP header flags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flags {
    /// FIN.
    pub fin: bool,
    /// SYN.
    pub syn: bool,
    /// RST.
    pub rst: bool,
    /// PSH.
    pub psh: bool,
    /// ACK.
    pub ack: bool,
    /// URG.
    pub urg: bool,
    /// ECE (ECN echo).
    pub ece: bool,
    /// CWR (congestion window reduced).
    pub cwr: bool,
    /// AE (accurate ECN; formerly NS), the ninth flag bit.
    pub ae: bool,
}

impl Flags {
    /// As tshark shows them: `[SYN, ACK]`, `[PSH, ACK]`, `[FIN, ACK]`,
    /// `[SYN, ECE, CWR]`, and `[<None>]` when no flag is set.
    pub fn label(&self) -> String {
        let names: Vec<&str> = [
            (self.fin, "FIN"),
            (self.syn, "SYN"),
            (self.rst, "RST"),
            (self.psh, "PSH"),
            (self.ack, "ACK"),
            (self.urg, "URG"),
            (self.ece, "ECE"),
            (self.cwr, "CWR"),
            (self.ae, "AE"),
        ]
        .into_iter()
        .filter_map(|(set, name)| set.then_some(name))
        .collect();
        if names.is_empty() {
            "[<None>]".to_string()
        } else {
            format!("[{}]", names.join(", "))
        }
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
    /// Urgent pointer.
    pub urgent: u16,
    /// Window scale option (SYN segments only; `None` also when the
    /// options were cut off by the snap length).
    pub window_scale: Option<u8>,
    /// Payload length on the wire (from the IP length), whatever was
    /// captured.
    pub len: u32,
    /// The payload bytes captured (shorter than `len` when the frame was
    /// cut by the snap length).
    pub payload: Vec<u8>,
}

impl Tcp {
    /// Sequence space this segment uses: payload, plus one each for SYN
    /// and FIN.
    pub fn seq_len(&self) -> u32 {
        self.len + u32::from(self.flags.syn) + u32::from(self.flags.fin)
    }
}

/// A UDP datagram (reassembled when it came in IP fragments).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Udp {
    /// Payload length on the wire (from the UDP length field).
    pub len: u32,
    /// The payload bytes captured (shorter than `len` when cut).
    pub payload: Vec<u8>,
}

/// An ICMP or ICMPv6 message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Icmp {
    /// ICMPv6 rather than ICMP (v4).
    pub v6: bool,
    /// Type.
    pub kind: u8,
    /// Code.
    pub code: u8,
    /// Echo identifier and sequence number (echo request and reply).
    pub echo: Option<(u16, u16)>,
    /// The TCP or UDP header quoted by an error message (destination
    /// unreachable, time exceeded…): which datagram it answers.
    pub quoted: Option<Quoted>,
}

/// The start of the datagram an ICMP error quotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quoted {
    /// IP protocol number (6 TCP, 17 UDP).
    pub protocol: u8,
    /// The quoted datagram's sender.
    pub src: SocketAddr,
    /// The quoted datagram's receiver.
    pub dst: SocketAddr,
}

/// An IP fragment that does not complete a datagram (the datagram is
/// shown, reassembled, on the fragment that completes it, as tshark does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment {
    /// IP protocol number of the datagram.
    pub protocol: u8,
    /// IP identification.
    pub id: u32,
    /// Offset of this fragment's data, in bytes.
    pub offset: u32,
    /// Length of this fragment's data, in bytes.
    pub len: u32,
}

/// What a packet carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// A TCP segment.
    Tcp(Tcp),
    /// A UDP datagram.
    Udp(Udp),
    /// An ICMP or ICMPv6 message.
    Icmp(Icmp),
    /// An IP fragment that does not complete its datagram.
    Fragment(Fragment),
    /// A TCP or UDP header cut short by the snap length (the IP protocol
    /// number).
    Truncated(u8),
    /// Any other IP protocol (its number).
    OtherIp(u8),
}

/// A decoded IP packet. Ports are 0 where the protocol has none (ICMP,
/// fragments, other protocols).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// Capture time (since the epoch, or any fixed origin).
    pub time: Duration,
    /// Length of the frame on the wire.
    pub wire_len: u32,
    /// Bytes captured (less than `wire_len` when cut by the snap length).
    pub cap_len: u32,
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// What it carries.
    pub transport: Transport,
}

impl Packet {
    /// The frame was cut by the snap length ("[Packet size limited during
    /// capture]").
    pub fn truncated(&self) -> bool {
        self.cap_len < self.wire_len
    }
}

/// A frame that is not IP (ARP, LLDP, an unknown EtherType, an
/// unsupported link type, or bytes that do not parse).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtherFrame {
    /// Capture time.
    pub time: Duration,
    /// Length on the wire.
    pub wire_len: u32,
    /// Bytes captured.
    pub cap_len: u32,
    /// Protocol column, as tshark names it: `ARP`, `LLDP`, `IPv4`…
    pub protocol: String,
    /// Source column (a MAC address, or empty).
    pub src: String,
    /// Destination column (a MAC address, `Broadcast`, or empty).
    pub dst: String,
    /// Info column.
    pub info: String,
}

/// One decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// An IP packet.
    Packet(Packet),
    /// Anything else; still a frame, still numbered.
    Other(OtherFrame),
}

/// Decodes frames in order, reassembling IP fragments across them.
#[derive(Debug, Default)]
pub struct Decoder {}

impl Decoder {
    /// A decoder with no fragments pending.
    pub fn new() -> Self {
        Self::default()
    }

    /// Decodes one frame; never fails (what does not parse is an
    /// [`OtherFrame`]).
    pub fn decode(&mut self, link: LinkType, data: &[u8], time: Duration, wire_len: u32) -> Decoded {
        match decode(link, data, time, wire_len) {
            Some(p) => Decoded::Packet(p),
            None => Decoded::Other(OtherFrame {
                time,
                wire_len,
                cap_len: data.len() as u32,
                protocol: "?".into(),
                src: String::new(),
                dst: String::new(),
                info: String::new(),
            }),
        }
    }
}

/// Decodes one frame on its own (no fragment reassembly); `None` for
/// anything that is not IP.
pub fn decode(link: LinkType, data: &[u8], time: Duration, wire_len: u32) -> Option<Packet> {
    let sliced = match link {
        LinkType::Ethernet => SlicedPacket::from_ethernet(data),
        LinkType::LinuxSll => SlicedPacket::from_linux_sll(data),
        LinkType::RawIp | LinkType::Ipv4 | LinkType::Ipv6 => SlicedPacket::from_ip(data),
        LinkType::Null | LinkType::Loop => SlicedPacket::from_ip(data.get(4..)?),
        LinkType::LinuxSll2 | LinkType::Other(_) => return None,
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
                    fin: t.fin(),
                    syn: t.syn(),
                    rst: t.rst(),
                    psh: t.psh(),
                    ack: t.ack(),
                    urg: t.urg(),
                    ece: t.ece(),
                    cwr: t.cwr(),
                    ae: t.ns(),
                },
                window: t.window_size(),
                urgent: t.urgent_pointer(),
                window_scale: t.options_iterator().find_map(|o| match o {
                    Ok(etherparse::TcpOptionElement::WindowScale(s)) => Some(s),
                    _ => None,
                }),
                len: t.payload().len() as u32,
                payload: t.payload().to_vec(),
            }),
        ),
        TransportSlice::Udp(u) => (
            u.source_port(),
            u.destination_port(),
            Transport::Udp(Udp {
                len: u.payload().len() as u32,
                payload: u.payload().to_vec(),
            }),
        ),
        _ => return None,
    };
    Some(Packet {
        time,
        wire_len,
        cap_len: data.len() as u32,
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
        assert_eq!(
            p.transport,
            Transport::Udp(Udp {
                len: 6,
                payload: b"amrita".to_vec()
            })
        );
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
                ..Flags::default()
            }
            .label()
        };
        assert_eq!(f(true, false, false, false), "[SYN]");
        assert_eq!(f(true, true, false, false), "[SYN, ACK]");
        assert_eq!(f(false, true, true, false), "[FIN, ACK]");
        assert_eq!(f(false, false, false, true), "[RST]");
    }
}
