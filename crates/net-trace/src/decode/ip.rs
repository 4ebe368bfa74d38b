//! IPv4 and IPv6 headers, IPv6 extension headers walked to the transport.

use std::net::IpAddr;

use super::bytes::{be16, be32, ipv4, ipv6, range, u8_at};
use super::checksum::{self, Mismatch};

/// Length of the IPv4 header without options.
const IPV4_MIN_LEN: usize = 20;
/// Length of the IPv6 fixed header.
const IPV6_LEN: usize = 40;
/// Most IPv6 extension headers walked before giving up on a packet (a
/// bound against crafted chains; real packets carry one or two).
const MAX_EXTENSION_HEADERS: usize = 8;

/// Where a fragment sits in its datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FragInfo {
    pub id: u32,
    /// Offset of this fragment's data, in bytes.
    pub offset: u32,
    /// More fragments follow.
    pub more: bool,
}

/// A checked IP header: addresses, the protocol it carries, and that
/// protocol's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IpHeader<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// Protocol after the IPv6 extension headers.
    pub protocol: u8,
    /// TTL or hop limit.
    pub ttl: u8,
    /// Set for a fragment of a larger datagram.
    pub frag: Option<FragInfo>,
    /// The payload bytes captured (never past the IP length: Ethernet
    /// padding is not payload).
    pub payload: &'a [u8],
    /// The payload's length on the wire.
    pub payload_len: u32,
    /// The header says how long the packet is (not so for a jumbogram, or
    /// a segmentation-offload super-packet longer than 64 KiB).
    pub length_given: bool,
    /// The IPv4 header's checksum is wrong: corrupted on the way.
    pub bad_checksum: Option<Mismatch>,
}

/// Why an IP header did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IpError {
    /// The header was cut by the snap length.
    Truncated,
    /// Not a valid header.
    Bogus(&'static str),
}

/// Parses whichever version the first nibble says.
pub(crate) fn parse_any(b: &[u8], wire: u32) -> Result<IpHeader<'_>, IpError> {
    match u8_at(b, 0) >> 4 {
        _ if b.is_empty() => Err(IpError::Truncated),
        4 => parse_v4(b, wire),
        6 => parse_v6(b, wire),
        _ => Err(IpError::Bogus("Bogus IP version")),
    }
}

/// An IPv4 header; `wire` is the packet's on-wire length, used when the
/// total length is 0 (a segmentation-offload super-packet).
pub(crate) fn parse_v4(b: &[u8], wire: u32) -> Result<IpHeader<'_>, IpError> {
    if b.len() < IPV4_MIN_LEN {
        return Err(IpError::Truncated);
    }
    if u8_at(b, 0) >> 4 != 4 {
        return Err(IpError::Bogus("Bogus IPv4 version"));
    }
    let ihl = usize::from(u8_at(b, 0) & 0x0f) * 4;
    if ihl < IPV4_MIN_LEN {
        return Err(IpError::Bogus("Bogus IPv4 header length"));
    }
    if b.len() < ihl {
        return Err(IpError::Truncated);
    }
    let length_given = be16(b, 2) != 0;
    let total = match be16(b, 2) {
        0 => wire.max(b.len() as u32) as usize,
        // Never longer than the packet as it was sent: a total length
        // corrupted upward on the way counts what the packet held, as
        // tshark counts it.
        t => usize::from(t).min(wire.max(b.len() as u32) as usize),
    };
    if total < ihl {
        return Err(IpError::Bogus("Bogus IPv4 total length"));
    }
    let flags_offset = be16(b, 6);
    let more = flags_offset & 0x2000 != 0;
    let offset = u32::from(flags_offset & 0x1fff) * 8;
    Ok(IpHeader {
        src: ipv4(b, 12).into(),
        dst: ipv4(b, 16).into(),
        protocol: u8_at(b, 9),
        ttl: u8_at(b, 8),
        frag: (more || offset > 0).then_some(FragInfo {
            id: u32::from(be16(b, 4)),
            offset,
            more,
        }),
        payload: range(b, ihl, total),
        payload_len: (total - ihl) as u32,
        length_given,
        bad_checksum: checksum::ipv4_header(range(b, 0, ihl)),
    })
}

/// An IPv6 header and its extension headers; `wire` as for [`parse_v4`]
/// (a payload length of 0 means a jumbogram).
pub(crate) fn parse_v6(b: &[u8], wire: u32) -> Result<IpHeader<'_>, IpError> {
    if b.len() < IPV6_LEN {
        return Err(IpError::Truncated);
    }
    if u8_at(b, 0) >> 4 != 6 {
        return Err(IpError::Bogus("Bogus IPv6 version"));
    }
    let length_given = be16(b, 4) != 0;
    let total = match be16(b, 4) {
        0 => wire.max(b.len() as u32) as usize,
        // As for IPv4: never past the packet as sent.
        n => (IPV6_LEN + usize::from(n)).min(wire.max(b.len() as u32) as usize),
    };
    let mut next = u8_at(b, 6);
    let mut off = IPV6_LEN;
    let mut frag = None;
    for _ in 0..MAX_EXTENSION_HEADERS {
        let len = match next {
            // Hop-by-hop, routing, destination options: 8-byte units after
            // the first 8.
            0 | 43 | 60 => (usize::from(u8_at(b, off + 1)) + 1) * 8,
            // Fragment header: always 8 bytes.
            44 => 8,
            // Authentication header: 4-byte units, minus 2.
            51 => (usize::from(u8_at(b, off + 1)) + 2) * 4,
            _ => break,
        };
        if b.len() < off + len || total < off + len {
            return Err(if b.len() < off + len {
                IpError::Truncated
            } else {
                IpError::Bogus("Bogus IPv6 extension header length")
            });
        }
        if next == 44 {
            let fo = be16(b, off + 2);
            let offset = u32::from(fo & 0xfff8);
            let more = fo & 1 != 0;
            // An atomic fragment (offset 0, no more) is a whole datagram.
            if more || offset > 0 {
                frag = Some(FragInfo {
                    id: be32(b, off + 4),
                    offset,
                    more,
                });
            }
        }
        next = u8_at(b, off);
        off += len;
    }
    Ok(IpHeader {
        src: ipv6(b, 8).into(),
        dst: ipv6(b, 24).into(),
        protocol: next,
        ttl: u8_at(b, 7),
        frag,
        payload: range(b, off, total),
        payload_len: total.saturating_sub(off) as u32,
        length_given,
        bad_checksum: None,
    })
}
