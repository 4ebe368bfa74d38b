//! TCP, UDP, ICMP and ICMPv6 over the bytes an IP header carries.

use std::net::SocketAddr;

use super::bytes::{array, be16, be32, ipv6, range, tail, u8_at};
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
const TCP_MIN_LEN: usize = 20;
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

/// The ports, when both were captured, beside `t`.
fn ports_and(b: &[u8], t: Transport) -> (u16, u16, Transport) {
    if b.len() >= 4 {
        (be16(b, 0), be16(b, 2), t)
    } else {
        (0, 0, t)
    }
}

fn tcp(b: &[u8], wire: u32) -> (u16, u16, Transport) {
    if b.len() < TCP_MIN_LEN {
        // The ports, when captured, still say which connection it was.
        return ports_and(b, Transport::Truncated(TCP));
    }
    let hdr = usize::from(u8_at(b, 12) >> 4) * 4;
    // A header longer than the segment on the wire is malformed (a bit
    // flipped in a length on the way): nothing after the ports can be
    // trusted, and tshark calls it a short segment.
    if hdr < TCP_MIN_LEN || hdr as u64 > u64::from(wire) {
        return ports_and(b, Transport::Truncated(TCP));
    }
    let bits = be16(b, 12);
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
        be16(b, 0),
        be16(b, 2),
        Transport::Tcp(Tcp {
            seq: be32(b, 4),
            ack: be32(b, 8),
            flags,
            window: be16(b, 14),
            urgent: be16(b, 18),
            // Options as far as they were captured.
            window_scale: window_scale(range(b, TCP_MIN_LEN, hdr)),
            header_cut: b.len() < hdr,
            len: wire.saturating_sub(hdr as u32),
            payload: tail(b, hdr).to_vec(),
        }),
    )
}

/// The window scale option's shift count, if present in `opts`.
fn window_scale(opts: &[u8]) -> Option<u8> {
    let mut i = 0;
    while i < opts.len() {
        match u8_at(opts, i) {
            0 => return None,
            1 => i += 1,
            kind => {
                let len = usize::from(u8_at(opts, i + 1));
                if len < 2 || i + len > opts.len() {
                    return None;
                }
                if kind == 3 && len == 3 {
                    return Some(u8_at(opts, i + 2));
                }
                i += len;
            }
        }
    }
    None
}

fn udp(b: &[u8], wire: u32) -> (u16, u16, Transport) {
    if b.len() < UDP_LEN_FIELD_END {
        return ports_and(b, Transport::Truncated(UDP));
    }
    // Length 0 is a jumbogram's: the IP length tells.
    let len = match be16(b, 4) {
        0 => wire,
        n => u32::from(n),
    };
    let len = len.saturating_sub(UDP_LEN as u32);
    (
        be16(b, 0),
        be16(b, 2),
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

fn icmp(v6: bool, b: &[u8], ttl: u8) -> Option<Icmp> {
    if b.len() < 4 {
        return None;
    }
    let kind = u8_at(b, 0);
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
        code: u8_at(b, 1),
        echo: (echo_like && b.len() >= 8).then(|| (be16(b, 4), be16(b, 6))),
        quoted: if error { quoted(v6, tail(b, 8)) } else { None },
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
    let ports = matches!(h.protocol, TCP | UDP | UDPLITE | SCTP) && h.payload.len() >= 4;
    let (sp, dp) = if ports {
        (be16(h.payload, 0), be16(h.payload, 2))
    } else {
        (0, 0)
    };
    Some(Quoted {
        protocol: h.protocol,
        src: SocketAddr::new(h.src, sp),
        dst: SocketAddr::new(h.dst, dp),
    })
}

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
    if target && b.len() < 24 {
        return None;
    }
    let mut lladdr = None;
    let mut i = opts_at;
    while i + 2 <= b.len() {
        let len = usize::from(u8_at(b, i + 1)) * 8;
        if len == 0 {
            break;
        }
        if u8_at(b, i) == ll_kind && len == 8 && i + 8 <= b.len() {
            lladdr = Some(array::<6>(b, i + 2));
            break;
        }
        i += len;
    }
    Some(Ndp {
        target: target.then(|| ipv6(b, 8)),
        lladdr,
        flags: if kind == 136 { u8_at(b, 4) >> 5 } else { 0 },
    })
}
