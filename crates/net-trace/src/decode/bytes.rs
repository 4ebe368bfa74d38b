//! Panic-free big-endian reads: every accessor of the wire views goes
//! through these, so a length check that is off by one yields a zero, not
//! a crash.

use std::net::{Ipv4Addr, Ipv6Addr};

/// The byte at `at`, or 0 past the end.
#[inline]
pub(crate) fn u8_at(b: &[u8], at: usize) -> u8 {
    b.get(at).copied().unwrap_or(0)
}

/// The big-endian `u16` at `at`, or 0 past the end.
#[inline]
pub(crate) fn be16(b: &[u8], at: usize) -> u16 {
    match b.get(at..at.saturating_add(2)) {
        Some(&[x, y]) => u16::from_be_bytes([x, y]),
        _ => 0,
    }
}

/// The big-endian `u32` at `at`, or 0 past the end.
#[inline]
pub(crate) fn be32(b: &[u8], at: usize) -> u32 {
    match b.get(at..at.saturating_add(4)) {
        Some(&[w, x, y, z]) => u32::from_be_bytes([w, x, y, z]),
        _ => 0,
    }
}

/// The little-endian `u32` at `at`, or 0 past the end.
#[inline]
pub(crate) fn le32(b: &[u8], at: usize) -> u32 {
    match b.get(at..at.saturating_add(4)) {
        Some(&[w, x, y, z]) => u32::from_le_bytes([w, x, y, z]),
        _ => 0,
    }
}

/// `N` bytes at `at`, zeros past the end.
#[inline]
pub(crate) fn array<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    let mut out = [0; N];
    if let Some(s) = b.get(at..at.saturating_add(N)) {
        out.copy_from_slice(s);
    }
    out
}

/// The IPv4 address at `at`.
#[inline]
pub(crate) fn ipv4(b: &[u8], at: usize) -> Ipv4Addr {
    Ipv4Addr::from(array::<4>(b, at))
}

/// The IPv6 address at `at`.
#[inline]
pub(crate) fn ipv6(b: &[u8], at: usize) -> Ipv6Addr {
    Ipv6Addr::from(array::<16>(b, at))
}

/// `b[from..]`, empty when `from` is past the end.
#[inline]
pub(crate) fn tail(b: &[u8], from: usize) -> &[u8] {
    b.get(from..).unwrap_or(&[])
}

/// `b[from..to]`, clamped to what exists.
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
