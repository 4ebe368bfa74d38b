//! IPv4 and IPv6 headers, IPv6 extension headers walked to the transport.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::bytes::{Fields, Short, check_len, range};
use super::checksum::{self, Mismatch};

/// Length of the IPv4 header without options.
pub(crate) const IPV4_MIN_LEN: usize = 20;
/// Length of the IPv6 fixed header.
pub(crate) const IPV6_LEN: usize = 40;
/// Length of the IPv6 fragment header.
const FRAGMENT_HEADER_LEN: usize = 8;
/// Most IPv6 extension headers walked before giving up on a packet (a
/// bound against crafted chains; real packets carry one or two).
const MAX_EXTENSION_HEADERS: usize = 8;

/// Where a fragment sits in its datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FragInfo {
    pub(crate) id: u32,
    /// Offset of this fragment's data, in bytes.
    pub(crate) offset: u32,
    /// More fragments follow.
    pub(crate) more: bool,
}

/// A checked IP header: addresses, the protocol it carries, and that
/// protocol's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IpHeader<'a> {
    pub(crate) src: IpAddr,
    pub(crate) dst: IpAddr,
    /// Protocol after the IPv6 extension headers.
    pub(crate) protocol: u8,
    /// TTL or hop limit.
    pub(crate) ttl: u8,
    /// Set for a fragment of a larger datagram.
    pub(crate) frag: Option<FragInfo>,
    /// The payload bytes captured (never past the IP length: Ethernet
    /// padding is not payload).
    pub(crate) payload: &'a [u8],
    /// The payload's length on the wire.
    pub(crate) payload_len: u32,
    /// The header says how long the packet is (not so for a jumbogram, or
    /// a segmentation-offload super-packet longer than 64 KiB).
    pub(crate) length_given: bool,
    /// The IPv4 header's checksum is wrong: corrupted on the way.
    pub(crate) bad_checksum: Option<Mismatch>,
}

/// Why an IP header did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IpError {
    /// The header was cut by the snap length.
    Truncated,
    /// Not a valid header.
    Bogus(&'static str),
}

/// An IPv4 header, checked: its fixed part, and the packet's bytes for
/// the options and what follows.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ipv4View<'a> {
    h: &'a [u8; IPV4_MIN_LEN],
    bytes: &'a [u8],
}

impl<'a> Ipv4View<'a> {
    pub(crate) fn new_checked(bytes: &'a [u8]) -> Result<Self, Short> {
        Ok(Self {
            h: check_len(bytes, 0)?,
            bytes,
        })
    }

    pub(crate) fn version(&self) -> u8 {
        self.h.u8_at::<0>() >> 4
    }

    /// The header's length in bytes, options included, as the IHL says.
    pub(crate) fn header_len(&self) -> usize {
        usize::from(self.h.u8_at::<0>() & 0x0f) * 4
    }

    /// The DS field: DSCP and ECN.
    pub(crate) fn ds(&self) -> u8 {
        self.h.u8_at::<1>()
    }

    pub(crate) fn total_len(&self) -> u16 {
        self.h.be16::<2>()
    }

    pub(crate) fn ident(&self) -> u16 {
        self.h.be16::<4>()
    }

    /// The flags (top 3 bits) and the fragment offset in 8-byte units.
    pub(crate) fn flags_offset(&self) -> u16 {
        self.h.be16::<6>()
    }

    pub(crate) fn ttl(&self) -> u8 {
        self.h.u8_at::<8>()
    }

    pub(crate) fn protocol(&self) -> u8 {
        self.h.u8_at::<9>()
    }

    pub(crate) fn checksum(&self) -> u16 {
        self.h.be16::<10>()
    }

    pub(crate) fn src(&self) -> Ipv4Addr {
        self.h.ipv4_at::<12>()
    }

    pub(crate) fn dst(&self) -> Ipv4Addr {
        self.h.ipv4_at::<16>()
    }

    /// The whole header, options included, or [`Short`] when it was cut
    /// before its end.
    pub(crate) fn header(&self) -> Result<&'a [u8], Short> {
        let len = self.header_len();
        self.bytes.get(..len).ok_or(Short {
            need: len,
            have: self.bytes.len(),
        })
    }
}

/// An IPv6 fixed header, checked.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ipv6View<'a>(&'a [u8; IPV6_LEN]);

impl<'a> Ipv6View<'a> {
    pub(crate) fn new_checked(bytes: &'a [u8]) -> Result<Self, Short> {
        check_len(bytes, 0).map(Self)
    }

    pub(crate) fn version(&self) -> u8 {
        self.0.u8_at::<0>() >> 4
    }

    /// Version, traffic class and flow label.
    pub(crate) fn first_word(&self) -> u32 {
        self.0.be32::<0>()
    }

    pub(crate) fn payload_len(&self) -> u16 {
        self.0.be16::<4>()
    }

    pub(crate) fn next_header(&self) -> u8 {
        self.0.u8_at::<6>()
    }

    pub(crate) fn hop_limit(&self) -> u8 {
        self.0.u8_at::<7>()
    }

    pub(crate) fn src(&self) -> Ipv6Addr {
        self.0.ipv6_at::<8>()
    }

    pub(crate) fn dst(&self) -> Ipv6Addr {
        self.0.ipv6_at::<24>()
    }
}

/// Parses whichever version the first nibble says.
pub(crate) fn parse_any(b: &[u8], wire: u32) -> Result<IpHeader<'_>, IpError> {
    match b.first().map(|v| v >> 4) {
        None => Err(IpError::Truncated),
        Some(4) => parse_v4(b, wire),
        Some(6) => parse_v6(b, wire),
        Some(_) => Err(IpError::Bogus("Bogus IP version")),
    }
}

/// An IPv4 header; `wire` is the packet's on-wire length, used when the
/// total length is 0 (a segmentation-offload super-packet).
pub(crate) fn parse_v4(b: &[u8], wire: u32) -> Result<IpHeader<'_>, IpError> {
    let v = Ipv4View::new_checked(b).map_err(|_| IpError::Truncated)?;
    if v.version() != 4 {
        return Err(IpError::Bogus("Bogus IPv4 version"));
    }
    let ihl = v.header_len();
    if ihl < IPV4_MIN_LEN {
        return Err(IpError::Bogus("Bogus IPv4 header length"));
    }
    let header = v.header().map_err(|_| IpError::Truncated)?;
    let length_given = v.total_len() != 0;
    let total = match v.total_len() {
        0 => wire.max(b.len() as u32) as usize,
        // Never longer than the packet as it was sent: a total length
        // corrupted upward on the way counts what the packet held, as
        // tshark counts it.
        t => usize::from(t).min(wire.max(b.len() as u32) as usize),
    };
    if total < ihl {
        return Err(IpError::Bogus("Bogus IPv4 total length"));
    }
    let flags_offset = v.flags_offset();
    let more = flags_offset & 0x2000 != 0;
    let offset = u32::from(flags_offset & 0x1fff) * 8;
    Ok(IpHeader {
        src: v.src().into(),
        dst: v.dst().into(),
        protocol: v.protocol(),
        ttl: v.ttl(),
        frag: (more || offset > 0).then_some(FragInfo {
            id: u32::from(v.ident()),
            offset,
            more,
        }),
        payload: range(b, ihl, total),
        payload_len: (total - ihl) as u32,
        length_given,
        bad_checksum: checksum::ipv4_header(header),
    })
}

/// An IPv6 header and its extension headers; `wire` as for [`parse_v4`]
/// (a payload length of 0 means a jumbogram).
pub(crate) fn parse_v6(b: &[u8], wire: u32) -> Result<IpHeader<'_>, IpError> {
    let v = Ipv6View::new_checked(b).map_err(|_| IpError::Truncated)?;
    if v.version() != 6 {
        return Err(IpError::Bogus("Bogus IPv6 version"));
    }
    let length_given = v.payload_len() != 0;
    let total = match v.payload_len() {
        0 => wire.max(b.len() as u32) as usize,
        // As for IPv4: never past the packet as sent.
        n => (IPV6_LEN + usize::from(n)).min(wire.max(b.len() as u32) as usize),
    };
    let mut next = v.next_header();
    let mut off = IPV6_LEN;
    let mut frag = None;
    for _ in 0..MAX_EXTENSION_HEADERS {
        if !matches!(next, 0 | 43 | 60 | 44 | 51) {
            break;
        }
        // Every extension header begins with the next header and its
        // length.
        let start = check_len::<2>(b, off).map_err(|_| IpError::Truncated)?;
        let len = match next {
            // Hop-by-hop, routing, destination options: 8-byte units after
            // the first 8.
            0 | 43 | 60 => (usize::from(start.u8_at::<1>()) + 1) * 8,
            // Fragment header: always 8 bytes.
            44 => FRAGMENT_HEADER_LEN,
            // Authentication header: 4-byte units, minus 2.
            _ => (usize::from(start.u8_at::<1>()) + 2) * 4,
        };
        if b.len() < off + len {
            return Err(IpError::Truncated);
        }
        if total < off + len {
            return Err(IpError::Bogus("Bogus IPv6 extension header length"));
        }
        if next == 44 {
            let f = check_len::<FRAGMENT_HEADER_LEN>(b, off).map_err(|_| IpError::Truncated)?;
            let fo = f.be16::<2>();
            let offset = u32::from(fo & 0xfff8);
            let more = fo & 1 != 0;
            // An atomic fragment (offset 0, no more) is a whole datagram.
            if more || offset > 0 {
                frag = Some(FragInfo {
                    id: f.be32::<4>(),
                    offset,
                    more,
                });
            }
        }
        next = start.u8_at::<0>();
        off += len;
    }
    Ok(IpHeader {
        src: v.src().into(),
        dst: v.dst().into(),
        protocol: next,
        ttl: v.hop_limit(),
        frag,
        payload: range(b, off, total),
        payload_len: total.saturating_sub(off) as u32,
        length_given,
        bad_checksum: None,
    })
}
