//! Internet checksums (RFC 1071): the IPv4 header's, and TCP's, UDP's,
//! ICMP's and ICMPv6's over their pseudo-headers, verified as the
//! receiving host verifies them, so a frame corrupted on the way (which
//! the receiver drops) is told apart from one it accepts.
//!
//! A capture holds what the sending host's kernel handed to the device,
//! and with checksum offload (always on loopback, and on most devices) the
//! transport checksum is not computed yet: the field holds the
//! pseudo-header's sum only, for the device to finish (Linux's
//! `CHECKSUM_PARTIAL`: `th->check = ~tcp_v4_check(len, saddr, daddr, 0)`,
//! the same for UDP, IPv6 and the super-packets of segmentation offload).
//! That value is accepted as well: a bit flipped on the way essentially
//! never turns a checksum into it. The IPv4 header's checksum is always
//! computed in software by Linux, and ICMP's, so those are taken as they
//! are (but for an IPv4 header checksum of zero: other systems may
//! offload that one too, and leave it so in their captures).

use std::net::IpAddr;

use super::bytes::{Fields, check_len};

/// The one's-complement sum of `data` as big-endian 16-bit words (a last
/// odd byte padded with zero), added to `acc`, not folded.
fn add(acc: u64, data: &[u8]) -> u64 {
    let mut chunks = data.chunks_exact(2);
    let mut sum = acc;
    for w in &mut chunks {
        sum += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u64::from(*last) << 8;
    }
    sum
}

/// Folds a sum to 16 bits, carries added back in.
fn fold(mut sum: u64) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// `a` and `b` are the same one's-complement number (0 and 0xffff are
/// both zero).
fn same(a: u16, b: u16) -> bool {
    a == b || (a == 0 && b == 0xffff) || (a == 0xffff && b == 0)
}

/// The pseudo-header's sum: addresses, protocol and upper-layer length.
fn pseudo(src: IpAddr, dst: IpAddr, protocol: u8, len: u32) -> u64 {
    let addrs = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => add(add(0, &s.octets()), &d.octets()),
        (s, d) => {
            let v6 = |a: IpAddr| match a {
                IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
                IpAddr::V6(v6) => v6.octets(),
            };
            add(add(0, &v6(s)), &v6(d))
        }
    };
    addrs + u64::from(protocol) + u64::from(len >> 16) + u64::from(len & 0xffff)
}

/// What a checksum field held, and what it should have held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mismatch {
    pub(crate) found: u16,
    pub(crate) expected: u16,
}

/// Checks the checksum at `at` in `data` against `acc` (the
/// pseudo-header's sum, or 0). `None` when it is right.
fn check(acc: u64, data: &[u8], at: usize) -> Option<Mismatch> {
    let found = check_len::<2>(data, at).ok()?.be16::<0>();
    // The field's word is left out of the sum: `at` is even, so the words
    // on either side stay aligned.
    let without = add(add(acc, data.get(..at)?), data.get(at + 2..)?);
    let expected = !fold(without);
    (!same(found, expected)).then_some(Mismatch { found, expected })
}

/// The IPv4 header's checksum (`header` is the whole header, options
/// included).
pub(crate) fn ipv4_header(header: &[u8]) -> Option<Mismatch> {
    // Zero is what a capture on a system that offloads the header's
    // checksum too shows for outgoing packets (Windows with some network
    // cards): not computed, never a bit flipped on the way.
    if check_len::<2>(header, 10).ok()?.be16::<0>() == 0 {
        return None;
    }
    check(0, header, 10)
}

/// The checksum of a whole TCP segment, UDP datagram or ICMP(v6) message
/// (`data`, as long as its upper-layer length) of IP protocol `protocol`
/// between `src` and `dst`; `None` when it is right, or when the protocol
/// has none this module checks.
pub(crate) fn transport(protocol: u8, src: IpAddr, dst: IpAddr, data: &[u8]) -> Option<Mismatch> {
    use super::transport::{ICMP, ICMPV6, TCP, UDP};
    let len = u32::try_from(data.len()).ok()?;
    let at = match protocol {
        TCP => 16,
        UDP => 6,
        ICMP => return check(0, data, 2),
        ICMPV6 => return check(pseudo(src, dst, protocol, len), data, 2),
        _ => return None,
    };
    let found = check_len::<2>(data, at).ok()?.be16::<0>();
    // No checksum: allowed for UDP over IPv4 only.
    if protocol == UDP && found == 0 && src.is_ipv4() {
        return None;
    }
    let acc = pseudo(src, dst, protocol, len);
    // Left for the device to finish (see the module's comment).
    if same(found, fold(acc)) {
        return None;
    }
    let mut bad = check(acc, data, at)?;
    // UDP sends a computed zero as all ones (zero means none).
    if protocol == UDP && bad.expected == 0 {
        bad.expected = 0xffff;
    }
    Some(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 1071's example words sum to 0xddf2.
    #[test]
    fn sums_and_folds_as_rfc_1071() {
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(add(0, &data)), 0xddf2);
    }

    /// An IPv4 header from a capture (checksum 0xb861) is right; with one
    /// bit of its source address flipped it is not.
    #[test]
    fn ipv4_header_checksum() {
        let mut h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(ipv4_header(&h), None);
        h[12] ^= 0x10;
        assert_eq!(
            ipv4_header(&h),
            Some(Mismatch {
                found: 0xb861,
                expected: 0xa861
            })
        );
    }
}
