//! Checked views over wire bytes, in the manner of smoltcp's
//! `Packet::new_checked`: a header's fixed part is taken as an array of
//! its length ([`check_len`]) only once that many bytes were captured, so
//! a header cut short is an error its caller must handle ([`Short`]),
//! never fields read as zeros; and every field read from the array
//! ([`Fields`]) has a constant offset that is checked against the
//! array's length when the crate is compiled, so an offset off by one
//! does not build.

use std::net::{Ipv4Addr, Ipv6Addr};

/// A header (or a field of variable position) cut short: `need` bytes
/// from the start of the slice make it, `have` were there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Short {
    pub(crate) need: usize,
    pub(crate) have: usize,
}

/// The `N` bytes at `at` of `b`, or [`Short`] when fewer were captured.
#[inline]
pub(crate) fn check_len<const N: usize>(b: &[u8], at: usize) -> Result<&[u8; N], Short> {
    b.get(at..)
        .and_then(|rest| rest.first_chunk::<N>())
        .ok_or(Short {
            need: at.saturating_add(N),
            have: b.len(),
        })
}

/// Field reads from a header whose length [`check_len`] proved: `AT` is
/// the field's offset, and a field that would end past the header fails
/// to compile.
pub(crate) trait Fields {
    /// The byte at `AT`.
    fn u8_at<const AT: usize>(&self) -> u8;
    /// The big-endian `u16` at `AT`.
    fn be16<const AT: usize>(&self) -> u16;
    /// The big-endian `u32` at `AT`.
    fn be32<const AT: usize>(&self) -> u32;
    /// The little-endian `u32` at `AT`.
    fn le32<const AT: usize>(&self) -> u32;
    /// The 6 bytes at `AT` (a MAC address).
    fn mac_at<const AT: usize>(&self) -> [u8; 6];
    /// The IPv4 address at `AT`.
    fn ipv4_at<const AT: usize>(&self) -> Ipv4Addr;
    /// The IPv6 address at `AT`.
    fn ipv6_at<const AT: usize>(&self) -> Ipv6Addr;
}

impl<const N: usize> Fields for [u8; N] {
    #[inline]
    fn u8_at<const AT: usize>(&self) -> u8 {
        const { assert!(AT < N, "field past the header") };
        self[AT]
    }

    #[inline]
    fn be16<const AT: usize>(&self) -> u16 {
        u16::from_be_bytes(self.array::<AT, 2>())
    }

    #[inline]
    fn be32<const AT: usize>(&self) -> u32 {
        u32::from_be_bytes(self.array::<AT, 4>())
    }

    #[inline]
    fn le32<const AT: usize>(&self) -> u32 {
        u32::from_le_bytes(self.array::<AT, 4>())
    }

    #[inline]
    fn mac_at<const AT: usize>(&self) -> [u8; 6] {
        self.array::<AT, 6>()
    }

    #[inline]
    fn ipv4_at<const AT: usize>(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.array::<AT, 4>())
    }

    #[inline]
    fn ipv6_at<const AT: usize>(&self) -> Ipv6Addr {
        Ipv6Addr::from(self.array::<AT, 16>())
    }
}

/// `M` bytes at `AT` of a checked header, the bound checked when the crate
/// is compiled.
trait Array {
    fn array<const AT: usize, const M: usize>(&self) -> [u8; M];
}

impl<const N: usize> Array for [u8; N] {
    #[inline]
    fn array<const AT: usize, const M: usize>(&self) -> [u8; M] {
        const { assert!(AT + M <= N, "field past the header") };
        let mut out = [0; M];
        out.copy_from_slice(&self[AT..AT + M]);
        out
    }
}

/// `b[from..]`, empty when `from` is past the end: a payload as far as it
/// was captured.
#[inline]
pub(crate) fn tail(b: &[u8], from: usize) -> &[u8] {
    b.get(from..).unwrap_or(&[])
}

/// `b[from..to]`, clamped to what was captured: a payload or an options
/// area as far as it goes (its length on the wire is kept apart).
#[inline]
pub(crate) fn range(b: &[u8], from: usize, to: usize) -> &[u8] {
    let to = to.min(b.len());
    b.get(from..to).unwrap_or(&[])
}

/// A MAC address as tshark prints it without name resolution, or
/// `Broadcast`.
pub(crate) fn mac(m: [u8; 6]) -> String {
    if m == [0xff; 6] {
        return "Broadcast".to_string();
    }
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_is_viewed_only_when_whole() {
        let b = [0x12, 0x34, 0x56, 0x78, 0x9a];
        for cut in 0..4 {
            assert_eq!(
                check_len::<4>(&b[..cut], 0),
                Err(Short { need: 4, have: cut })
            );
        }
        let h = check_len::<4>(&b, 0).expect("4 of 5 bytes");
        assert_eq!(h.be32::<0>(), 0x1234_5678);
        assert_eq!(h.le32::<0>(), 0x7856_3412);
        assert_eq!(h.be16::<2>(), 0x5678);
        assert_eq!(h.u8_at::<3>(), 0x78);
    }

    #[test]
    fn a_field_at_an_offset_is_checked_from_the_start() {
        let b = [0, 1, 2, 3, 4, 5];
        assert_eq!(check_len::<2>(&b, 4), Ok(&[4, 5]));
        assert_eq!(check_len::<2>(&b, 5), Err(Short { need: 7, have: 6 }));
        assert_eq!(check_len::<2>(&b, 9), Err(Short { need: 11, have: 6 }));
        assert_eq!(
            check_len::<2>(&b, usize::MAX),
            Err(Short {
                need: usize::MAX,
                have: 6
            })
        );
    }
}
