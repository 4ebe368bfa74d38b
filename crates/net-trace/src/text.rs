//! Numbers and addresses as text, written without the formatting
//! machinery: the table, the Info column and the records write several
//! for every frame, and `write!` costs more than the digits themselves.
//! Each writes what `Display` writes.

use std::net::{IpAddr, Ipv4Addr};

/// Room for any `u64` in decimal.
pub(crate) const U64_LEN: usize = 20;

/// `n` in decimal, in the end of `buf`.
#[inline]
pub(crate) fn u64_str(buf: &mut [u8; U64_LEN], mut n: u64) -> &str {
    let mut i = U64_LEN;
    for slot in buf.iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        i -= 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // Only ASCII digits were written.
    std::str::from_utf8(buf.get(i..).unwrap_or_default()).unwrap_or_default()
}

/// Appends `n` in decimal.
#[inline]
pub(crate) fn push_u64(out: &mut String, n: u64) {
    out.push_str(u64_str(&mut [0; U64_LEN], n));
}

/// Room for any address as `Display` writes it (IPv6 with an embedded
/// IPv4 address is the longest: 45 characters).
pub(crate) const IP_LEN: usize = 48;

/// An address as its `Display` writes it, in `buf`: IPv4 by hand, IPv6
/// (rare in the lab's captures) by `Display`.
#[inline]
pub(crate) fn ip_str(buf: &mut [u8; IP_LEN], ip: IpAddr) -> &str {
    match ip {
        IpAddr::V4(v4) => ipv4_str(buf, v4),
        IpAddr::V6(v6) => {
            use std::io::Write as _;
            let mut rest = &mut buf[..];
            // 48 bytes hold any IPv6 address.
            let _ = write!(rest, "{v6}");
            let len = IP_LEN - rest.len();
            std::str::from_utf8(buf.get(..len).unwrap_or_default()).unwrap_or_default()
        }
    }
}

fn ipv4_str(buf: &mut [u8; IP_LEN], ip: Ipv4Addr) -> &str {
    let mut len = 0;
    for (k, octet) in ip.octets().into_iter().enumerate() {
        if k > 0 {
            buf[len] = b'.';
            len += 1;
        }
        if octet >= 100 {
            buf[len] = b'0' + octet / 100;
            len += 1;
        }
        if octet >= 10 {
            buf[len] = b'0' + octet / 10 % 10;
            len += 1;
        }
        buf[len] = b'0' + octet % 10;
        len += 1;
    }
    // Only ASCII digits and dots were written.
    std::str::from_utf8(buf.get(..len).unwrap_or_default()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_display_writes_them() {
        for n in [0, 1, 9, 10, 99, 100, 65535, 4_294_967_295, u64::MAX] {
            assert_eq!(u64_str(&mut [0; U64_LEN], n), n.to_string());
            let mut s = String::from("x");
            push_u64(&mut s, n);
            assert_eq!(s, format!("x{n}"));
        }
    }

    #[test]
    fn addresses_read_as_display_writes_them() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "10.78.0.2",
            "192.168.100.255",
            "255.255.255.255",
            "::",
            "::1",
            "fe80::1:2:3:4",
            "::ffff:192.168.100.200",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(ip_str(&mut [0; IP_LEN], ip), ip.to_string());
        }
    }
}
