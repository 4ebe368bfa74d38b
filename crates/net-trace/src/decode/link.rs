//! Link layers: where the network-layer bytes begin and what they are.

use super::LinkType;
use super::bytes::{Fields, Short, check_len, tail};

/// EtherType of IPv4.
pub(crate) const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherType of IPv6.
pub(crate) const ETHERTYPE_IPV6: u16 = 0x86dd;
/// EtherType of ARP.
pub(crate) const ETHERTYPE_ARP: u16 = 0x0806;
/// EtherType of LLDP.
pub(crate) const ETHERTYPE_LLDP: u16 = 0x88cc;
/// Tag protocol identifiers of 802.1Q, 802.1ad and the older QinQ.
const VLAN_TPIDS: [u16; 3] = [0x8100, 0x88a8, 0x9100];
/// Most VLAN tags followed, deeper stacks are shown undecoded (real
/// networks stack two).
const MAX_VLAN_TAGS: usize = 4;
/// Length of an Ethernet II header (without VLAN tags).
const ETH_LEN: usize = 14;
/// Length of a VLAN tag with the EtherType after it.
const VLAN_TAG_LEN: usize = 6;
/// Length of a Linux cooked v1 header.
const SLL_LEN: usize = 16;
/// Length of a Linux cooked v2 header.
const SLL2_LEN: usize = 20;
/// ARPHRD_NETLINK: cooked frames carrying netlink messages, not EtherTypes.
const ARPHRD_NETLINK: u16 = 824;
/// BSD address families of IPv4 and IPv6 (Linux 10; the BSDs 24, 28, 30).
const AF_INET: u32 = 2;
const AF_INET6: [u32; 4] = [10, 24, 28, 30];

/// Which IP version the link layer announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IpVersion {
    V4,
    V6,
    /// Told by the first nibble (LINKTYPE_RAW).
    ByNibble,
}

/// Link-layer addresses, where the link layer has them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Macs {
    pub(crate) src: Option<[u8; 6]>,
    pub(crate) dst: Option<[u8; 6]>,
}

/// What follows the link-layer header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Link<'a> {
    /// An IP packet; `wire` is its length on the wire (the frame's minus
    /// the link header).
    Ip {
        version: IpVersion,
        bytes: &'a [u8],
        wire: u32,
        macs: Macs,
    },
    /// Another EtherType (or an 802.3 length below 0x0600).
    NonIp {
        ethertype: u16,
        bytes: &'a [u8],
        macs: Macs,
    },
    /// Bytes the link layer cannot make sense of: `protocol` names the
    /// layer, `detail` what is wrong.
    Bad {
        protocol: &'static str,
        detail: BadLink,
        macs: Macs,
    },
    /// A link type net-trace does not decode.
    Unsupported(u32),
}

/// Why a link header did not lead anywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BadLink {
    /// Shorter than the header.
    Short,
    /// A loopback address family that is neither IPv4 nor IPv6.
    Family(u32),
    /// A raw packet whose version nibble is neither 4 nor 6.
    Version(u8),
    /// A netlink message in a cooked capture.
    Netlink,
    /// More stacked VLAN tags than followed.
    TooManyTags,
}

/// An Ethernet II header, checked.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EthernetView<'a>(&'a [u8; ETH_LEN]);

impl<'a> EthernetView<'a> {
    pub(crate) fn new_checked(b: &'a [u8]) -> Result<Self, Short> {
        check_len(b, 0).map(Self)
    }

    pub(crate) fn dst(&self) -> [u8; 6] {
        self.0.mac_at::<0>()
    }

    pub(crate) fn src(&self) -> [u8; 6] {
        self.0.mac_at::<6>()
    }

    /// The EtherType (or the first VLAN tag's TPID).
    pub(crate) fn ethertype(&self) -> u16 {
        self.0.be16::<12>()
    }
}

/// A Linux cooked capture v1 header, checked.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SllView<'a>(&'a [u8; SLL_LEN]);

impl<'a> SllView<'a> {
    pub(crate) fn new_checked(b: &'a [u8]) -> Result<Self, Short> {
        check_len(b, 0).map(Self)
    }

    pub(crate) fn pkttype(&self) -> u16 {
        self.0.be16::<0>()
    }

    pub(crate) fn hatype(&self) -> u16 {
        self.0.be16::<2>()
    }

    pub(crate) fn halen(&self) -> u16 {
        self.0.be16::<4>()
    }

    /// The sender's MAC address, when the address is one.
    pub(crate) fn src(&self) -> Option<[u8; 6]> {
        (self.halen() == 6).then(|| self.0.mac_at::<6>())
    }

    pub(crate) fn protocol(&self) -> u16 {
        self.0.be16::<14>()
    }
}

/// A Linux cooked capture v2 header, checked.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sll2View<'a>(&'a [u8; SLL2_LEN]);

impl<'a> Sll2View<'a> {
    pub(crate) fn new_checked(b: &'a [u8]) -> Result<Self, Short> {
        check_len(b, 0).map(Self)
    }

    pub(crate) fn protocol(&self) -> u16 {
        self.0.be16::<0>()
    }

    pub(crate) fn ifindex(&self) -> u32 {
        self.0.be32::<4>()
    }

    pub(crate) fn hatype(&self) -> u16 {
        self.0.be16::<8>()
    }

    pub(crate) fn pkttype(&self) -> u8 {
        self.0.u8_at::<10>()
    }

    pub(crate) fn halen(&self) -> u8 {
        self.0.u8_at::<11>()
    }

    /// The sender's MAC address, when the address is one.
    pub(crate) fn src(&self) -> Option<[u8; 6]> {
        (self.halen() == 6).then(|| self.0.mac_at::<12>())
    }
}

/// Splits off the link-layer header of one frame.
pub(crate) fn parse(link: LinkType, data: &[u8], wire: u32) -> Link<'_> {
    match link {
        LinkType::Ethernet => ethernet(data, wire),
        LinkType::LinuxSll => {
            let Ok(h) = SllView::new_checked(data) else {
                return bad("SLL", BadLink::Short);
            };
            let macs = Macs {
                src: h.src(),
                dst: None,
            };
            cooked(h.hatype(), h.protocol(), data, SLL_LEN, wire, macs)
        }
        LinkType::LinuxSll2 => {
            let Ok(h) = Sll2View::new_checked(data) else {
                return bad("SLL2", BadLink::Short);
            };
            let macs = Macs {
                src: h.src(),
                dst: None,
            };
            cooked(h.hatype(), h.protocol(), data, SLL2_LEN, wire, macs)
        }
        LinkType::RawIp => ip(IpVersion::ByNibble, data, 0, wire, Macs::default()),
        LinkType::Ipv4 => ip(IpVersion::V4, data, 0, wire, Macs::default()),
        LinkType::Ipv6 => ip(IpVersion::V6, data, 0, wire, Macs::default()),
        LinkType::Null | LinkType::Loop => {
            let Ok(family) = check_len::<4>(data, 0) else {
                return bad("NULL", BadLink::Short);
            };
            // NULL's family is in the byte order of the host that wrote the
            // file, which the file does not say: accept either. LOOP's is
            // always network order.
            let be = family.be32::<0>();
            let le = if link == LinkType::Null {
                family.le32::<0>()
            } else {
                be
            };
            let version = if be == AF_INET || le == AF_INET {
                IpVersion::V4
            } else if AF_INET6.contains(&be) || AF_INET6.contains(&le) {
                IpVersion::V6
            } else {
                return bad("NULL", BadLink::Family(be.min(le)));
            };
            ip(version, data, 4, wire, Macs::default())
        }
        LinkType::Other(n) => Link::Unsupported(n),
    }
}

fn bad(protocol: &'static str, detail: BadLink) -> Link<'static> {
    Link::Bad {
        protocol,
        detail,
        macs: Macs::default(),
    }
}

fn ip(version: IpVersion, data: &[u8], hdr: usize, wire: u32, macs: Macs) -> Link<'_> {
    Link::Ip {
        version,
        bytes: tail(data, hdr),
        wire: wire.saturating_sub(hdr as u32),
        macs,
    }
}

fn ethernet(data: &[u8], wire: u32) -> Link<'_> {
    let Ok(h) = EthernetView::new_checked(data) else {
        return bad("ETH", BadLink::Short);
    };
    let macs = Macs {
        dst: Some(h.dst()),
        src: Some(h.src()),
    };
    // Where the EtherType (or a tag's TPID) is.
    let mut off = ETH_LEN - 2;
    let mut ethertype = h.ethertype();
    let mut tags = 0;
    while VLAN_TPIDS.contains(&ethertype) {
        if tags == MAX_VLAN_TAGS {
            return Link::Bad {
                protocol: "VLAN",
                detail: BadLink::TooManyTags,
                macs,
            };
        }
        // The TPID, the tag control, then the next EtherType.
        let Ok(tag) = check_len::<VLAN_TAG_LEN>(data, off) else {
            return Link::Bad {
                protocol: "VLAN",
                detail: BadLink::Short,
                macs,
            };
        };
        off += 4;
        tags += 1;
        ethertype = tag.be16::<4>();
    }
    let hdr = off + 2;
    match ethertype {
        ETHERTYPE_IPV4 => ip(IpVersion::V4, data, hdr, wire, macs),
        ETHERTYPE_IPV6 => ip(IpVersion::V6, data, hdr, wire, macs),
        _ => Link::NonIp {
            ethertype,
            bytes: tail(data, hdr),
            macs,
        },
    }
}

/// Linux cooked v1 and v2 carry the same fields in different places; any
/// ARPHRD (loopback 772 included) gives an EtherType in `protocol`, except
/// netlink.
fn cooked(hatype: u16, protocol: u16, data: &[u8], hdr: usize, wire: u32, macs: Macs) -> Link<'_> {
    if hatype == ARPHRD_NETLINK {
        return Link::Bad {
            protocol: "Netlink",
            detail: BadLink::Netlink,
            macs,
        };
    }
    match protocol {
        ETHERTYPE_IPV4 => ip(IpVersion::V4, data, hdr, wire, macs),
        ETHERTYPE_IPV6 => ip(IpVersion::V6, data, hdr, wire, macs),
        _ => Link::NonIp {
            ethertype: protocol,
            bytes: tail(data, hdr),
            macs,
        },
    }
}
