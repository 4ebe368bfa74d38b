//! TCP, UDP, ICMP and ICMPv6 over the bytes an IP header carries.

use std::net::SocketAddr;

use super::bytes::{Fields, Short, check_len, range, tail};
use super::ip::{self, IpHeader};
use super::{Flags, Icmp, Ndp, Quoted, Tcp, Transport, Udp};

/// IP protocol numbers.
pub(crate) const TCP: u8 = 6;
pub(crate) const UDP: u8 = 17;
pub(crate) const ICMP: u8 = 1;
pub(crate) const ICMPV6: u8 = 58;
const UDPLITE: u8 = 136;
const SCTP: u8 = 132;
/// Length of a TCP header without options.
pub(crate) const TCP_MIN_LEN: usize = 20;
/// Length of a UDP header.
const UDP_LEN: usize = 8;
/// The UDP header up to its length field: enough to show the datagram
/// (ports and length) when only the checksum was cut, as tshark does (an
/// IPv6 datagram over Ethernet cut at 60 bytes has 6 of the 8).
const UDP_LEN_FIELD_END: usize = 6;

/// Decodes what an IP packet carries: `payload` as captured,
/// `payload_len` as on the wire. Returns source port, destination port,
/// and the transport.
pub(crate) fn parse(
    protocol: u8,
    payload: &[u8],
    payload_len: u32,
    ttl: u8,
) -> (u16, u16, Transport) {
    match protocol {
        TCP => tcp(payload, payload_len),
        UDP => udp(payload, payload_len),
        ICMP | ICMPV6 => match icmp(protocol == ICMPV6, payload, ttl) {
            Some(i) => (0, 0, Transport::Icmp(i)),
            None => (0, 0, Transport::Truncated(protocol)),
        },
        p => (0, 0, Transport::OtherIp(p)),
    }
}

/// A TCP header, checked: its fixed part, and the segment's bytes for the
/// options and the payload.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TcpView<'a> {
    h: &'a [u8; TCP_MIN_LEN],
    bytes: &'a [u8],
}

impl<'a> TcpView<'a> {
    pub(crate) fn new_checked(bytes: &'a [u8]) -> Result<Self, Short> {
        Ok(Self {
            h: check_len(bytes, 0)?,
            bytes,
        })
    }

    pub(crate) fn src_port(&self) -> u16 {
        self.h.be16::<0>()
    }

    pub(crate) fn dst_port(&self) -> u16 {
        self.h.be16::<2>()
    }

    pub(crate) fn seq(&self) -> u32 {
        self.h.be32::<4>()
    }

    pub(crate) fn ack(&self) -> u32 {
        self.h.be32::<8>()
    }

    /// The header's length in bytes, options included, as the data offset
    /// says.
    pub(crate) fn header_len(&self) -> usize {
        usize::from(self.h.u8_at::<12>() >> 4) * 4
    }

    /// The three reserved bits.
    pub(crate) fn reserved(&self) -> u8 {
        self.h.u8_at::<12>() >> 1 & 7
    }

    /// The nine flag bits, AE (0x100) to FIN (0x001).
    pub(crate) fn flag_bits(&self) -> u16 {
        self.h.be16::<12>() & 0x1ff
    }

    pub(crate) fn window(&self) -> u16 {
        self.h.be16::<14>()
    }

    pub(crate) fn checksum(&self) -> u16 {
        self.h.be16::<16>()
    }

    pub(crate) fn urgent(&self) -> u16 {
        self.h.be16::<18>()
    }

    /// The options as far as they were captured.
    pub(crate) fn options(&self) -> &'a [u8] {
        range(self.bytes, TCP_MIN_LEN, self.header_len())
    }

    /// The payload as far as it was captured.
    pub(crate) fn payload(&self) -> &'a [u8] {
        tail(self.bytes, self.header_len())
    }

    /// The header was cut before its options ended.
    pub(crate) fn header_cut(&self) -> bool {
        self.bytes.len() < self.header_len()
    }
}

/// One TCP option as found in the options area.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TcpOption<'a> {
    /// End of the option list.
    End,
    /// No-operation (padding).
    Nop,
    /// Any other option: its kind and its bytes, kind and length
    /// included.
    Other(u8, &'a [u8]),
    /// A length under 2, or past what was captured: nothing after it can
    /// be read.
    Malformed,
}

/// The options of `opts`, up to the end of the list, the end of the
/// bytes, or a malformed one (the last item then).
pub(crate) fn tcp_options(opts: &[u8]) -> impl Iterator<Item = TcpOption<'_>> {
    let mut at = 0;
    let mut done = false;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        let option = match opts.get(at)? {
            0 => TcpOption::End,
            1 => {
                at += 1;
                return Some(TcpOption::Nop);
            }
            &kind => match check_len::<2>(opts, at) {
                Ok(head) => {
                    let len = usize::from(head.u8_at::<1>());
                    match opts.get(at..at + len) {
                        Some(bytes) if len >= 2 => {
                            at += len;
                            return Some(TcpOption::Other(kind, bytes));
                        }
                        _ => TcpOption::Malformed,
                    }
                }
                Err(_) => TcpOption::Malformed,
            },
        };
        done = true;
        Some(option)
    })
}

/// The ports, when both were captured, beside `t`.
fn ports_and(b: &[u8], t: Transport) -> (u16, u16, Transport) {
    match check_len::<4>(b, 0) {
        Ok(ports) => (ports.be16::<0>(), ports.be16::<2>(), t),
        Err(_) => (0, 0, t),
    }
}

fn tcp(b: &[u8], wire: u32) -> (u16, u16, Transport) {
    let Ok(h) = TcpView::new_checked(b) else {
        // The ports, when captured, still say which connection it was.
        return ports_and(b, Transport::Truncated(TCP));
    };
    let hdr = h.header_len();
    // A header longer than the segment on the wire is malformed (a bit
    // flipped in a length on the way): nothing after the ports can be
    // trusted, and tshark calls it a short segment.
    if hdr < TCP_MIN_LEN || hdr as u64 > u64::from(wire) {
        return ports_and(b, Transport::Truncated(TCP));
    }
    let bits = h.flag_bits();
    let flags = Flags {
        fin: bits & 0x001 != 0,
        syn: bits & 0x002 != 0,
        rst: bits & 0x004 != 0,
        psh: bits & 0x008 != 0,
        ack: bits & 0x010 != 0,
        urg: bits & 0x020 != 0,
        ece: bits & 0x040 != 0,
        cwr: bits & 0x080 != 0,
        ae: bits & 0x100 != 0,
    };
    (
        h.src_port(),
        h.dst_port(),
        Transport::Tcp(Tcp {
            seq: h.seq(),
            ack: h.ack(),
            flags,
            window: h.window(),
            urgent: h.urgent(),
            // Options as far as they were captured.
            window_scale: window_scale(h.options()),
            header_cut: h.header_cut(),
            len: wire.saturating_sub(hdr as u32),
            payload: h.payload().to_vec(),
        }),
    )
}

/// The window scale option's shift count, if present in `opts`.
fn window_scale(opts: &[u8]) -> Option<u8> {
    tcp_options(opts).find_map(|o| match o {
        TcpOption::Other(3, &[_, 3, shift]) => Some(shift),
        _ => None,
    })
}

/// A UDP header, checked up to its length field (enough to show the
/// datagram when only the checksum was cut, see [`UDP_LEN_FIELD_END`]);
/// the checksum when it was captured.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UdpView<'a> {
    h: &'a [u8; UDP_LEN_FIELD_END],
    checksum: Option<u16>,
}

impl<'a> UdpView<'a> {
    pub(crate) fn new_checked(bytes: &'a [u8]) -> Result<Self, Short> {
        Ok(Self {
            h: check_len(bytes, 0)?,
            checksum: check_len::<2>(bytes, UDP_LEN_FIELD_END)
                .ok()
                .map(|c| c.be16::<0>()),
        })
    }

    pub(crate) fn src_port(&self) -> u16 {
        self.h.be16::<0>()
    }

    pub(crate) fn dst_port(&self) -> u16 {
        self.h.be16::<2>()
    }

    /// The length field: header and payload (0 in a jumbogram).
    pub(crate) fn len(&self) -> u16 {
        self.h.be16::<4>()
    }

    /// The checksum, `None` when it was cut.
    pub(crate) fn checksum(&self) -> Option<u16> {
        self.checksum
    }
}

fn udp(b: &[u8], wire: u32) -> (u16, u16, Transport) {
    let Ok(h) = UdpView::new_checked(b) else {
        return ports_and(b, Transport::Truncated(UDP));
    };
    // Length 0 is a jumbogram's: the IP length tells.
    let len = match h.len() {
        0 => wire,
        n => u32::from(n),
    };
    let len = len.saturating_sub(UDP_LEN as u32);
    (
        h.src_port(),
        h.dst_port(),
        Transport::Udp(Udp {
            len,
            payload: range(b, UDP_LEN, UDP_LEN + len as usize).to_vec(),
        }),
    )
}

/// ICMP (v4) types whose bytes 4..8 are an identifier and a sequence.
const ICMP_ECHO_LIKE: [u8; 8] = [0, 8, 13, 14, 15, 16, 17, 18];
/// ICMP (v4) error types, which quote the offending datagram.
const ICMP_ERRORS: [u8; 5] = [3, 4, 5, 11, 12];
/// Length of the ICMP and ICMPv6 header common to every type.
const ICMP_LEN: usize = 4;
/// Where an ICMP error's quote, an echo's identifier, begins.
const ICMP_BODY: usize = 8;

/// An ICMP or ICMPv6 header, checked: type, code and checksum, and the
/// message's bytes for the rest.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IcmpView<'a> {
    h: &'a [u8; ICMP_LEN],
    bytes: &'a [u8],
}

impl<'a> IcmpView<'a> {
    pub(crate) fn new_checked(bytes: &'a [u8]) -> Result<Self, Short> {
        Ok(Self {
            h: check_len(bytes, 0)?,
            bytes,
        })
    }

    pub(crate) fn kind(&self) -> u8 {
        self.h.u8_at::<0>()
    }

    pub(crate) fn code(&self) -> u8 {
        self.h.u8_at::<1>()
    }

    pub(crate) fn checksum(&self) -> u16 {
        self.h.be16::<2>()
    }

    /// Bytes 4..8 as an identifier and a sequence number (meaningful for
    /// echo-like types), `None` when they were cut.
    pub(crate) fn id_seq(&self) -> Option<(u16, u16)> {
        let w = check_len::<4>(self.bytes, ICMP_LEN).ok()?;
        Some((w.be16::<0>(), w.be16::<2>()))
    }
}

fn icmp(v6: bool, b: &[u8], ttl: u8) -> Option<Icmp> {
    let h = IcmpView::new_checked(b).ok()?;
    let kind = h.kind();
    let echo_like = if v6 {
        matches!(kind, 128 | 129)
    } else {
        ICMP_ECHO_LIKE.contains(&kind)
    };
    let error = if v6 {
        matches!(kind, 1..=4)
    } else {
        ICMP_ERRORS.contains(&kind)
    };
    Some(Icmp {
        v6,
        kind,
        code: h.code(),
        echo: if echo_like { h.id_seq() } else { None },
        quoted: if error {
            quoted(v6, tail(b, ICMP_BODY))
        } else {
            None
        },
        ttl,
        ndp: if v6 { ndp(kind, b) } else { None },
    })
}

/// The datagram an ICMP error quotes: its IP header and the start of its
/// transport header, cut wherever the quote ends.
fn quoted(v6: bool, b: &[u8]) -> Option<Quoted> {
    let h: IpHeader<'_> = if v6 {
        ip::parse_v6(b, 0).ok()?
    } else {
        ip::parse_v4(b, 0).ok()?
    };
    let ports = match check_len::<4>(h.payload, 0) {
        Ok(p) if matches!(h.protocol, TCP | UDP | UDPLITE | SCTP) => (p.be16::<0>(), p.be16::<2>()),
        _ => (0, 0),
    };
    Some(Quoted {
        protocol: h.protocol,
        src: SocketAddr::new(h.src, ports.0),
        dst: SocketAddr::new(h.dst, ports.1),
    })
}

/// Where a neighbor discovery message's target address is.
const NDP_TARGET: usize = 8;

/// Neighbor discovery fields (RFC 4861): the target and the link-layer
/// address option that tshark's Info column shows.
fn ndp(kind: u8, b: &[u8]) -> Option<Ndp> {
    // Where the options begin, whether there is a target, and which
    // link-layer option (1 source, 2 target) is shown.
    let (opts_at, target, ll_kind) = match kind {
        133 => (8, false, 1),
        134 => (16, false, 1),
        135 => (24, true, 1),
        136 => (24, true, 2),
        137 => (40, true, 2),
        _ => return None,
    };
    let (target, flags) = if target {
        // The flags word and the target: a message cut before its target
        // ends says nothing.
        let head = check_len::<{ NDP_TARGET + 16 }>(b, 0).ok()?;
        let flags = if kind == 136 {
            head.u8_at::<4>() >> 5
        } else {
            0
        };
        (Some(head.ipv6_at::<NDP_TARGET>()), flags)
    } else {
        (None, 0)
    };
    let mut lladdr = None;
    let mut i = opts_at;
    // Options of 8-byte units: type, length, value.
    while let Ok(opt) = check_len::<2>(b, i) {
        let len = usize::from(opt.u8_at::<1>()) * 8;
        if len == 0 {
            break;
        }
        if opt.u8_at::<0>() == ll_kind
            && len == 8
            && let Ok(o) = check_len::<8>(b, i)
        {
            lladdr = Some(o.mac_at::<2>());
            break;
        }
        i += len;
    }
    Some(Ndp {
        target,
        lladdr,
        flags,
    })
}
