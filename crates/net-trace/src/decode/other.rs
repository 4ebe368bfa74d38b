//! Frames that are not IP, described for the frame table as tshark's
//! default columns show them.

use std::net::Ipv4Addr;
use std::time::Duration;

use super::OtherFrame;
use super::bytes::{Fields, check_len, mac};
use super::ip::IpError;
use super::link::{BadLink, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_LLDP, Macs};

/// tshark's Info text for a frame cut by the snap length.
pub(crate) const SIZE_LIMITED: &str = "[Packet size limited during capture]";
/// The link-layer destination of LLDP, as tshark names it.
const LLDP_MULTICAST: [u8; 6] = [0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e];

/// Capture facts every frame has.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Meta {
    pub(crate) time: Duration,
    pub(crate) wire_len: u32,
    pub(crate) cap_len: u32,
}

impl Meta {
    fn frame(self, protocol: impl Into<String>, macs: Macs, info: impl Into<String>) -> OtherFrame {
        OtherFrame {
            time: self.time,
            wire_len: self.wire_len,
            cap_len: self.cap_len,
            protocol: protocol.into(),
            src: macs.src.map(mac).unwrap_or_default(),
            dst: match macs.dst {
                Some(LLDP_MULTICAST) => "LLDP_Multicast".to_string(),
                Some(m) => mac(m),
                None => String::new(),
            },
            info: info.into(),
        }
    }

    fn cut(self) -> bool {
        self.cap_len < self.wire_len
    }
}

/// A link type net-trace does not decode.
pub(crate) fn unsupported(meta: Meta, n: u32) -> OtherFrame {
    meta.frame(
        "n/a",
        Macs::default(),
        format!("link type {n} not supported"),
    )
}

/// A link header that leads nowhere.
pub(crate) fn bad_link(meta: Meta, protocol: &str, detail: BadLink, macs: Macs) -> OtherFrame {
    let info = match detail {
        BadLink::Short if meta.cut() => SIZE_LIMITED.to_string(),
        BadLink::Short => "[Malformed Packet]".to_string(),
        BadLink::Family(f) => format!("Unknown address family {f}"),
        BadLink::Version(v) => format!("Bogus IP version ({v})"),
        BadLink::Netlink => "Netlink message".to_string(),
        BadLink::TooManyTags => "Too many VLAN tags".to_string(),
    };
    meta.frame(protocol, macs, info)
}

/// An IP header that was cut or does not parse.
pub(crate) fn bad_ip(meta: Meta, v6: bool, err: IpError, macs: Macs) -> OtherFrame {
    let info = match err {
        IpError::Truncated if meta.cut() => SIZE_LIMITED,
        IpError::Truncated => "[Malformed Packet]",
        IpError::Bogus(why) => why,
    };
    meta.frame(if v6 { "IPv6" } else { "IPv4" }, macs, info)
}

/// Any EtherType other than IP.
pub(crate) fn non_ip(meta: Meta, ethertype: u16, b: &[u8], macs: Macs) -> OtherFrame {
    match ethertype {
        ETHERTYPE_ARP => meta.frame(
            "ARP",
            macs,
            arp(b).unwrap_or_else(|| cut_or_malformed(meta)),
        ),
        ETHERTYPE_LLDP => meta.frame("LLDP", macs, lldp(b)),
        // An 802.3 length rather than a type: an LLC frame.
        t if t < 0x0600 => meta.frame("LLC", macs, "IEEE 802.3 frame"),
        // Listed so a cooked IP frame whose protocol field is not IP still
        // says what it is.
        ETHERTYPE_IPV4 | ETHERTYPE_IPV6 => meta.frame("IP", macs, "[Malformed Packet]"),
        // tshark names the EtherType in Info where it has a name and no
        // dissector, else says "Ethernet II".
        t => {
            let info = match t {
                0x88b5 => "Local Experimental Ethertype 1",
                0x88b6 => "Local Experimental Ethertype 2",
                0x0842 => "Wake on LAN",
                _ => "Ethernet II",
            };
            meta.frame(format!("0x{t:04x}"), macs, info)
        }
    }
}

fn cut_or_malformed(meta: Meta) -> String {
    if meta.cut() {
        SIZE_LIMITED
    } else {
        "[Malformed Packet]"
    }
    .to_string()
}

/// Length of an ARP message for IPv4 over Ethernet.
const ARP_LEN: usize = 28;

/// ARP for IPv4 over Ethernet, worded as tshark words it.
fn arp(b: &[u8]) -> Option<String> {
    let h = check_len::<ARP_LEN>(b, 0).ok()?;
    if h.be16::<0>() != 1
        || h.be16::<2>() != ETHERTYPE_IPV4
        || h.u8_at::<4>() != 6
        || h.u8_at::<5>() != 4
    {
        return None;
    }
    let op = h.be16::<6>();
    let sha = h.mac_at::<8>();
    let spa = h.ipv4_at::<14>();
    let tpa = h.ipv4_at::<24>();
    Some(match op {
        1 if spa == Ipv4Addr::UNSPECIFIED => format!("Who has {tpa}? (ARP Probe)"),
        1 if spa == tpa => format!("ARP Announcement for {spa}"),
        1 => format!("Who has {tpa}? Tell {spa}"),
        2 if spa == tpa => format!("Gratuitous ARP for {spa} (Reply)"),
        2 => format!("{spa} is at {}", mac(sha)),
        op => format!("Unknown ARP opcode 0x{op:04x}"),
    })
}

/// LLDP's chassis, port and TTL, as tshark's Info column lists them.
fn lldp(b: &[u8]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    // Each TLV: 7 bits of type and 9 of length, then the value.
    while let Ok(head) = check_len::<2>(b, i) {
        let head = head.be16::<0>();
        let (kind, len) = (head >> 9, usize::from(head & 0x01ff));
        let Some(value) = b.get(i + 2..i + 2 + len) else {
            break;
        };
        match kind {
            0 => break,
            1 | 2 => {
                let Some((&sub, id)) = value.split_first() else {
                    i += 2 + len;
                    continue;
                };
                let tag = match (kind, sub) {
                    (1, 4) | (2, 3) => "MA",
                    (1, 5) | (2, 4) => "NA",
                    (1, 6) | (2, 5) => "IN",
                    (1, 7) | (2, 7) => "LA",
                    (1, 1) => "CO",
                    (1, 2) | (2, 1) => "IA",
                    (1, 3) | (2, 2) => "PC",
                    _ => "??",
                };
                let text = match <[u8; 6]>::try_from(id) {
                    Ok(m) if tag == "MA" => mac(m),
                    _ => String::from_utf8_lossy(id).into_owned(),
                };
                parts.push(format!("{tag}/{text}"));
            }
            3 => {
                if let Ok(ttl) = check_len::<2>(value, 0) {
                    parts.push(ttl.be16::<0>().to_string());
                }
            }
            _ => {}
        }
        i += 2 + len;
    }
    // tshark ends the list with a space.
    let mut s = parts.join(" ");
    s.push(' ');
    s
}
