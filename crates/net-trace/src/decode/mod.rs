//! Frames to packets: checked views over the bytes of each layer.
//!
//! # Layout
//! - `link`: where the network layer begins (Ethernet and VLAN tags, Linux
//!   cooked v1/v2, raw IP, BSD loopback).
//! - `ip`: IPv4 and IPv6 headers, IPv6 extension headers.
//! - `transport`: TCP, UDP, ICMP and ICMPv6; `icmp_text` words ICMP as
//!   tshark does.
//! - `checksum`: the IPv4 header's and the transport's checksums, so a
//!   frame corrupted on the way is told apart (see `BadChecksum`).
//! - `defrag`: IP fragment reassembly for [`Decoder`].
//! - `other`: frames that are not IP (ARP, LLDP…), as tshark's columns show
//!   them.
//! - `build` (feature `frame-builder`): frames for tests and examples.
//!
//! Every layer is decoded as far as the captured bytes go: a frame cut by
//! the snap length keeps its on-wire lengths (taken from the headers, never
//! from what was captured) and what was captured of its payload.

use std::net::{Ipv6Addr, SocketAddr};
use std::time::Duration;

pub(crate) mod bytes;
mod checksum;
mod defrag;
mod icmp_text;
mod ip;
mod link;
mod other;
mod transport;

pub use defrag::{FRAGMENT_TIMEOUT, MAX_PENDING_BYTES, MAX_PENDING_DATAGRAMS};
// The checked views, for the details pane: it draws every field of the
// headers the decoder reads.
pub(crate) use ip::{IPV4_MIN_LEN, IPV6_LEN, Ipv4View, Ipv6View};
pub(crate) use link::{EthernetView, Sll2View, SllView};
pub(crate) use transport::{IcmpView, TcpOption, TcpView, UdpView, tcp_options};

use link::{IpVersion, Link};
use other::Meta;

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
    pub(crate) fn from_number(n: u32) -> LinkType {
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
    pub(crate) fn is_supported(self) -> bool {
        !matches!(self, LinkType::Other(_))
    }
}

/// TCP header flags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flags {
    /// FIN.
    pub(crate) fin: bool,
    /// SYN.
    pub syn: bool,
    /// RST.
    pub(crate) rst: bool,
    /// PSH.
    pub(crate) psh: bool,
    /// ACK.
    pub ack: bool,
    /// URG.
    pub(crate) urg: bool,
    /// ECE (ECN echo).
    pub(crate) ece: bool,
    /// CWR (congestion window reduced).
    pub(crate) cwr: bool,
    /// AE (accurate ECN; formerly NS), the ninth flag bit.
    pub(crate) ae: bool,
}

impl Flags {
    /// The flags as tshark shows them, appended to `out` (every TCP row's
    /// Info has them): `[SYN, ACK]`, `[PSH, ACK]`, `[FIN, ACK]`, `[SYN,
    /// ECE, CWR]`, and `[<None>]` when no flag is set.
    pub(crate) fn write_label(&self, out: &mut String) {
        let names = [
            (self.fin, "FIN"),
            (self.syn, "SYN"),
            (self.rst, "RST"),
            (self.psh, "PSH"),
            (self.ack, "ACK"),
            (self.urg, "URG"),
            (self.ece, "ECE"),
            (self.cwr, "CWR"),
            (self.ae, "AE"),
        ];
        out.push('[');
        let mut first = true;
        for (set, name) in names {
            if set {
                if !first {
                    out.push_str(", ");
                }
                out.push_str(name);
                first = false;
            }
        }
        if first {
            out.push_str("<None>");
        }
        out.push(']');
    }
}

/// A TCP segment's header fields and payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tcp {
    /// Sequence number (absolute).
    pub(crate) seq: u32,
    /// Acknowledgment number (absolute).
    pub(crate) ack: u32,
    /// Flags.
    pub flags: Flags,
    /// Window field as sent (unscaled).
    pub(crate) window: u16,
    /// Urgent pointer.
    pub(crate) urgent: u16,
    /// Window scale option (SYN segments only; `None` also when the
    /// options were cut off by the snap length).
    pub(crate) window_scale: Option<u8>,
    /// The header was cut by the snap length before its options ended:
    /// what they said is unknown (tshark's dissection of the segment
    /// stops there, before its window scaling and SEQ/ACK analysis).
    pub(crate) header_cut: bool,
    /// Payload length on the wire (from the IP length), whatever was
    /// captured.
    pub(crate) len: u32,
    /// The payload bytes captured (shorter than `len` when the frame was
    /// cut by the snap length).
    pub(crate) payload: Vec<u8>,
}

impl Tcp {
    /// Sequence space this segment uses: payload, plus one each for SYN
    /// and FIN.
    pub(crate) fn seq_len(&self) -> u32 {
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
    pub(crate) v6: bool,
    /// Type.
    pub(crate) kind: u8,
    /// Code.
    pub(crate) code: u8,
    /// Echo identifier and sequence number (echo request and reply).
    pub(crate) echo: Option<(u16, u16)>,
    /// The TCP or UDP header quoted by an error message (destination
    /// unreachable, time exceeded…): which datagram it answers.
    pub(crate) quoted: Option<Quoted>,
    /// TTL (hop limit for ICMPv6) of the packet carrying it, which
    /// tshark's echo Info shows.
    pub(crate) ttl: u8,
    /// Neighbor discovery fields (ICMPv6 types 133 to 137).
    pub(crate) ndp: Option<Ndp>,
}

/// What an ICMPv6 neighbor discovery message says about whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ndp {
    /// Target address (neighbor solicitation and advertisement, redirect).
    pub(crate) target: Option<Ipv6Addr>,
    /// The link-layer address option: the sender's (solicitations,
    /// router advertisement) or the target's (neighbor advertisement).
    pub(crate) lladdr: Option<[u8; 6]>,
    /// Neighbor advertisement flags: 4 router, 2 solicited, 1 override.
    pub(crate) flags: u8,
}

/// The start of the datagram an ICMP error quotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Quoted {
    /// IP protocol number (6 TCP, 17 UDP).
    pub(crate) protocol: u8,
    /// The quoted datagram's sender.
    pub(crate) src: SocketAddr,
    /// The quoted datagram's receiver.
    pub(crate) dst: SocketAddr,
}

/// An IP fragment that does not complete a datagram (the datagram is
/// shown, reassembled, on the fragment that completes it, as tshark does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment {
    /// IP protocol number of the datagram.
    pub(crate) protocol: u8,
    /// IP identification.
    pub(crate) id: u32,
    /// Offset of this fragment's data, in bytes.
    pub(crate) offset: u32,
    /// Length of this fragment's data, in bytes.
    pub(crate) len: u32,
    /// More fragments follow (the MF flag, IPv6's M flag).
    pub(crate) more: bool,
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
    /// A transport header cut short by the snap length (TCP under 20
    /// bytes, UDP under 8, ICMP under 4), or a TCP header whose own length
    /// field is under 20: the IP protocol number. The packet's ports are
    /// still set when both were captured.
    Truncated(u8),
    /// Any other IP protocol (its number).
    OtherIp(u8),
}

/// Whose checksum a [`BadChecksum`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ChecksumOf {
    /// The IPv4 header's: nothing in the packet can be trusted, not even
    /// its addresses.
    Ipv4,
    /// TCP's (over the segment and the pseudo-header).
    Tcp,
    /// UDP's.
    Udp,
    /// ICMP's.
    Icmp,
    /// ICMPv6's.
    Icmpv6,
}

impl ChecksumOf {
    /// `IPv4`, `TCP`, `UDP`, `ICMP`, `ICMPv6`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            ChecksumOf::Ipv4 => "IPv4",
            ChecksumOf::Tcp => "TCP",
            ChecksumOf::Udp => "UDP",
            ChecksumOf::Icmp => "ICMP",
            ChecksumOf::Icmpv6 => "ICMPv6",
        }
    }
}

/// A checksum that does not match what it covers: the packet was
/// corrupted on the way, and its receiver drops it (as tcpdump's `cksum
/// 0x1234 (incorrect -> 0x5678)` says). A transport checksum left for the
/// device to compute (checksum offload, always so on loopback) is not
/// one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BadChecksum {
    /// Whose checksum.
    pub(crate) of: ChecksumOf,
    /// What the field held.
    pub(crate) found: u16,
    /// What it should have held.
    pub(crate) expected: u16,
}

/// A decoded IP packet. Ports are 0 where the protocol has none (ICMP,
/// fragments, other protocols) or where they were not captured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// Capture time (since the epoch, or any fixed origin).
    pub time: Duration,
    /// Length of the frame on the wire.
    pub(crate) wire_len: u32,
    /// Bytes captured (less than `wire_len` when cut by the snap length).
    pub(crate) cap_len: u32,
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// What it carries.
    pub transport: Transport,
    /// A checksum that proves it corrupted on the way (the IPv4 header's
    /// first); `None` when every checksum that could be verified is right
    /// (a frame cut by the snap length has its transport's unverified).
    pub(crate) bad_checksum: Option<BadChecksum>,
}

impl Packet {
    /// The frame was cut by the snap length ("[Packet size limited during
    /// capture]").
    pub(crate) fn truncated(&self) -> bool {
        self.cap_len < self.wire_len
    }
}

/// A frame that is not IP (ARP, LLDP, an unknown EtherType, an
/// unsupported link type, or bytes that do not parse).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtherFrame {
    /// Capture time.
    pub(crate) time: Duration,
    /// Length on the wire.
    pub(crate) wire_len: u32,
    /// Bytes captured.
    pub(crate) cap_len: u32,
    /// Protocol column, as tshark names it: `ARP`, `LLDP`, `IPv4`…
    pub(crate) protocol: String,
    /// Source column (a MAC address, or empty).
    pub(crate) src: String,
    /// Destination column (a MAC address, `Broadcast`, or empty).
    pub(crate) dst: String,
    /// Info column.
    pub(crate) info: String,
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
///
/// Memory is bounded: at most [`MAX_PENDING_DATAGRAMS`] datagrams and
/// [`MAX_PENDING_BYTES`] bytes wait for their missing fragments, for at
/// most [`FRAGMENT_TIMEOUT`] of capture time.
#[derive(Debug, Default)]
pub struct Decoder {
    defrag: defrag::Defrag,
}

impl Decoder {
    /// A decoder with no fragments pending.
    pub fn new() -> Self {
        Self::default()
    }

    /// Decodes one frame; never fails (what is not IP, or does not parse,
    /// is an [`OtherFrame`]). A fragment that completes its datagram
    /// carries the whole datagram's transport; the others are
    /// [`Transport::Fragment`].
    pub fn decode(
        &mut self,
        link: LinkType,
        data: &[u8],
        time: Duration,
        wire_len: u32,
    ) -> Decoded {
        match decode_frame(link, data, time, wire_len, Some(&mut self.defrag)) {
            Ok(p) => Decoded::Packet(p),
            Err(why) => Decoded::Other(why.frame(Meta {
                time,
                wire_len,
                cap_len: data.len() as u32,
            })),
        }
    }
}

/// Decodes one frame on its own: `Some` for every IP packet (fragments as
/// [`Transport::Fragment`], never reassembled), `None` for anything else.
pub fn decode(link: LinkType, data: &[u8], time: Duration, wire_len: u32) -> Option<Packet> {
    decode_frame(link, data, time, wire_len, None).ok()
}

/// Why a frame is not a [`Packet`]; turned into an [`OtherFrame`] only
/// when asked, so the stateless [`decode`] never formats text.
enum NotIp<'a> {
    Link(Link<'a>),
    Ip(bool, ip::IpError, link::Macs),
}

impl NotIp<'_> {
    fn frame(self, meta: Meta) -> OtherFrame {
        match self {
            NotIp::Link(Link::Unsupported(n)) => other::unsupported(meta, n),
            NotIp::Link(Link::Bad {
                protocol,
                detail,
                macs,
            }) => other::bad_link(meta, protocol, detail, macs),
            NotIp::Link(Link::NonIp {
                ethertype,
                bytes,
                macs,
            }) => other::non_ip(meta, ethertype, bytes, macs),
            // Not produced: IP links are decoded further.
            NotIp::Link(Link::Ip { version, macs, .. }) => {
                other::bad_ip(meta, version == IpVersion::V6, ip::IpError::Truncated, macs)
            }
            NotIp::Ip(v6, err, macs) => other::bad_ip(meta, v6, err, macs),
        }
    }
}

fn decode_frame<'a>(
    link: LinkType,
    data: &'a [u8],
    time: Duration,
    wire_len: u32,
    defrag: Option<&mut defrag::Defrag>,
) -> Result<Packet, NotIp<'a>> {
    let (version, bytes, wire, macs) = match link::parse(link, data, wire_len) {
        Link::Ip {
            version,
            bytes,
            wire,
            macs,
        } => (version, bytes, wire, macs),
        other => return Err(NotIp::Link(other)),
    };
    let parsed = match version {
        IpVersion::V4 => ip::parse_v4(bytes, wire),
        IpVersion::V6 => ip::parse_v6(bytes, wire),
        IpVersion::ByNibble => match bytes.first().map(|b| b >> 4) {
            Some(4 | 6) | None => ip::parse_any(bytes, wire),
            Some(v) => {
                return Err(NotIp::Link(Link::Bad {
                    protocol: "Raw",
                    detail: link::BadLink::Version(v),
                    macs,
                }));
            }
        },
    };
    let h = match parsed {
        Ok(h) => h,
        Err(e) => {
            let v6 = match version {
                IpVersion::V6 => true,
                IpVersion::V4 => false,
                IpVersion::ByNibble => bytes.first().is_some_and(|b| b >> 4 == 6),
            };
            return Err(NotIp::Ip(v6, e, macs));
        }
    };
    let mut bad_checksum = h.bad_checksum.map(|m| BadChecksum {
        of: ChecksumOf::Ipv4,
        found: m.found,
        expected: m.expected,
    });
    let (sport, dport, transport) = match h.frag {
        None => {
            if bad_checksum.is_none() && h.length_given && h.payload.len() == h.payload_len as usize
            {
                bad_checksum = transport_checksum(&h, h.payload);
            }
            transport::parse(h.protocol, h.payload, h.payload_len, h.ttl)
        }
        // A fragment whose header is corrupted is dropped by the receiver:
        // it never joins a datagram.
        Some(f) if bad_checksum.is_some() => (
            0,
            0,
            Transport::Fragment(Fragment {
                protocol: h.protocol,
                id: f.id,
                offset: f.offset,
                len: h.payload_len,
                more: f.more,
            }),
        ),
        Some(f) => {
            let key = defrag::Key {
                src: h.src,
                dst: h.dst,
                protocol: h.protocol,
                id: f.id,
            };
            let whole =
                defrag.and_then(|d| d.add(key, time, f.offset, f.more, h.payload, h.payload_len));
            match whole {
                Some(datagram) => {
                    let len = datagram.len() as u32;
                    bad_checksum = transport_checksum(&h, &datagram);
                    transport::parse(h.protocol, &datagram, len, h.ttl)
                }
                None => (
                    0,
                    0,
                    Transport::Fragment(Fragment {
                        protocol: h.protocol,
                        id: f.id,
                        offset: f.offset,
                        len: h.payload_len,
                        more: f.more,
                    }),
                ),
            }
        }
    };
    Ok(Packet {
        time,
        wire_len,
        cap_len: data.len() as u32,
        src: SocketAddr::new(h.src, sport),
        dst: SocketAddr::new(h.dst, dport),
        transport,
        bad_checksum,
    })
}

/// The transport's checksum over `data`, the whole of what the IP packet
/// (or its reassembled datagram) carries.
fn transport_checksum(h: &ip::IpHeader<'_>, data: &[u8]) -> Option<BadChecksum> {
    let (of, data) = match h.protocol {
        transport::TCP => (ChecksumOf::Tcp, data),
        // The receiver checks what the UDP length covers; a length past
        // the packet is malformed, and shown so, not checked.
        transport::UDP => {
            let udp = transport::UdpView::new_checked(data).ok()?;
            let len = usize::from(udp.len());
            (ChecksumOf::Udp, data.get(..len).filter(|_| len >= 8)?)
        }
        transport::ICMP => (ChecksumOf::Icmp, data),
        transport::ICMPV6 => (ChecksumOf::Icmpv6, data),
        _ => return None,
    };
    checksum::transport(h.protocol, h.src, h.dst, data).map(|m| BadChecksum {
        of,
        found: m.found,
        expected: m.expected,
    })
}

/// Where a frame's IP header begins (after Ethernet, VLAN tags, a cooked
/// or loopback header), for the details pane; `None` when the frame is
/// not IP.
pub(crate) fn ip_offset(link: LinkType, data: &[u8]) -> Option<usize> {
    match link::parse(link, data, data.len() as u32) {
        Link::Ip { bytes, .. } if !bytes.is_empty() => Some(data.len() - bytes.len()),
        _ => None,
    }
}

#[cfg(any(test, feature = "frame-builder"))]
pub mod build;

#[cfg(test)]
mod tests;
