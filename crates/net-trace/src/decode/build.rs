//! Ethernet frames built with etherparse's `PacketBuilder` (and by hand
//! where it has no builder): for tests, examples and anyone who wants a
//! capture without a network.

use std::net::{IpAddr, SocketAddr};

use etherparse::{PacketBuilder, PacketBuilderStep, UdpHeader};

/// Source and destination MAC of built frames.
const SRC_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const DST_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
/// Length of an Ethernet II header.
const ETH_LEN: usize = 14;
/// TTL (hop limit) of built packets.
const TTL: u8 = 64;

fn v6(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// Ethernet and IP from `src` to `dst` (mixed families: both as IPv6,
/// IPv4-mapped).
fn ip(src: IpAddr, dst: IpAddr) -> PacketBuilderStep<etherparse::IpHeaders> {
    let eth = PacketBuilder::ethernet2(SRC_MAC, DST_MAC);
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => eth.ipv4(s.octets(), d.octets(), TTL),
        (IpAddr::V6(s), IpAddr::V6(d)) => eth.ipv6(s.octets(), d.octets(), TTL),
        (s, d) => eth.ipv6(v6(s), v6(d), TTL),
    }
}

/// A TCP frame over Ethernet from `src` to `dst`. `flags` holds one letter
/// per flag: `S` SYN, `F` FIN, `R` RST, `P` PSH, `U` URG, `E` ECE, `C`
/// CWR, `N` AE; ACK is set when `ack` is given.
pub fn tcp(
    src: SocketAddr,
    dst: SocketAddr,
    seq: u32,
    ack: Option<u32>,
    flags: &str,
    payload: &[u8],
) -> Vec<u8> {
    let mut b = ip(src.ip(), dst.ip()).tcp(src.port(), dst.port(), seq, 65_483);
    if let Some(a) = ack {
        b = b.ack(a);
    }
    for f in flags.chars() {
        b = match f {
            'S' => b.syn(),
            'F' => b.fin(),
            'R' => b.rst(),
            'P' => b.psh(),
            'U' => b.urg(1),
            'E' => b.ece(),
            'C' => b.cwr(),
            'N' => b.ns(),
            _ => b,
        };
    }
    let mut out = Vec::with_capacity(b.size(payload.len()));
    // Writing to a Vec fails only for a payload too large for one packet;
    // the frame is then cut to what was written.
    let _ = b.write(&mut out, payload);
    out
}

/// A UDP frame over Ethernet.
pub fn udp(src: SocketAddr, dst: SocketAddr, payload: &[u8]) -> Vec<u8> {
    let b = ip(src.ip(), dst.ip()).udp(src.port(), dst.port());
    let mut out = Vec::with_capacity(b.size(payload.len()));
    // As in `tcp`: only an oversized payload fails, leaving a cut frame.
    let _ = b.write(&mut out, payload);
    out
}

/// An ICMP echo request (`request`) or reply over Ethernet; ICMPv6 when
/// the addresses are IPv6.
pub fn icmp_echo(src: IpAddr, dst: IpAddr, id: u16, seq: u16, request: bool) -> Vec<u8> {
    let step = ip(src, dst);
    let b = match (src.is_ipv4() && dst.is_ipv4(), request) {
        (true, true) => step.icmpv4_echo_request(id, seq),
        (true, false) => step.icmpv4_echo_reply(id, seq),
        (false, true) => return icmpv6(step.icmpv6_echo_request(id, seq), b"ping"),
        (false, false) => return icmpv6(step.icmpv6_echo_reply(id, seq), b"ping"),
    };
    let mut out = Vec::with_capacity(b.size(4));
    // Four bytes always fit.
    let _ = b.write(&mut out, b"ping");
    out
}

fn icmpv6(b: PacketBuilderStep<etherparse::Icmpv6Header>, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.size(payload.len()));
    // Small payloads always fit.
    let _ = b.write(&mut out, payload);
    out
}

/// The ICMP (or ICMPv6) port unreachable that the receiver of `frame` (an
/// Ethernet frame such as [`udp`] builds) sends back to its sender,
/// quoting the IP header and the first 8 bytes after it, as Linux does
/// for IPv4 (IPv6 quotes up to 1,232 bytes; this quotes the same 8).
/// Empty if `frame` is not IP.
pub fn icmp_port_unreachable(frame: &[u8]) -> Vec<u8> {
    let Some(ip_bytes) = frame.get(ETH_LEN..) else {
        return Vec::new();
    };
    let Some(h) = super::decode(
        super::LinkType::RawIp,
        ip_bytes,
        std::time::Duration::ZERO,
        0,
    ) else {
        return Vec::new();
    };
    let ip_hdr = if h.src.is_ipv4() {
        usize::from(ip_bytes.first().copied().unwrap_or(0) & 0x0f) * 4
    } else {
        40
    };
    let quote = &ip_bytes[..(ip_hdr + 8).min(ip_bytes.len())];
    let step = ip(h.dst.ip(), h.src.ip());
    if h.src.is_ipv4() {
        let b = step.icmpv4_raw(3, 3, [0; 4]);
        let mut out = Vec::with_capacity(b.size(quote.len()));
        // An IP header and 8 bytes always fit.
        let _ = b.write(&mut out, quote);
        out
    } else {
        icmpv6(step.icmpv6_raw(1, 4, [0; 4]), quote)
    }
}

/// A UDP datagram from `src` to `dst` (IPv4 only) split into Ethernet
/// frames of at most `mtu` bytes of IP each, as a host sends one larger
/// than its link's MTU; `id` is the IP identification. An IPv6 address
/// gives no frames.
pub fn ipv4_fragments(
    src: SocketAddr,
    dst: SocketAddr,
    id: u16,
    payload: &[u8],
    mtu: usize,
) -> Vec<Vec<u8>> {
    let (IpAddr::V4(s), IpAddr::V4(d)) = (src.ip(), dst.ip()) else {
        return Vec::new();
    };
    let Ok(udp) = UdpHeader::with_ipv4_checksum(
        src.port(),
        dst.port(),
        &etherparse::Ipv4Header::new(0, TTL, etherparse::IpNumber::UDP, s.octets(), d.octets())
            .unwrap_or_default(),
        payload,
    ) else {
        return Vec::new();
    };
    let mut datagram = udp.to_bytes().to_vec();
    datagram.extend_from_slice(payload);
    // Every fragment but the last carries a multiple of 8 bytes.
    let chunk = (mtu.saturating_sub(20) / 8 * 8).max(8);
    let mut frames = Vec::new();
    let mut offset = 0;
    while offset < datagram.len() {
        let end = (offset + chunk).min(datagram.len());
        let more = end < datagram.len();
        let total = 20 + end - offset;
        let mut hdr = [0u8; 20];
        hdr[0] = 0x45;
        hdr[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        hdr[4..6].copy_from_slice(&id.to_be_bytes());
        let fo = (offset / 8) as u16 | if more { 0x2000 } else { 0 };
        hdr[6..8].copy_from_slice(&fo.to_be_bytes());
        hdr[8] = TTL;
        hdr[9] = 17;
        hdr[12..16].copy_from_slice(&s.octets());
        hdr[16..20].copy_from_slice(&d.octets());
        let sum = checksum(&hdr);
        hdr[10..12].copy_from_slice(&sum.to_be_bytes());
        let mut f = Vec::with_capacity(ETH_LEN + total);
        f.extend_from_slice(&DST_MAC);
        f.extend_from_slice(&SRC_MAC);
        f.extend_from_slice(&[0x08, 0x00]);
        f.extend_from_slice(&hdr);
        f.extend_from_slice(&datagram[offset..end]);
        frames.push(f);
        offset = end;
    }
    frames
}

/// The Internet checksum of `b` (even length).
fn checksum(b: &[u8]) -> u16 {
    let mut sum: u32 = b
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}
