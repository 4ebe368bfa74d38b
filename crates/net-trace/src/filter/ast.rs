//! The parsed expression: what each primitive means, with tcpdump's
//! implied qualifiers already applied (`host a or b` is two `Host`s).

use std::net::IpAddr;

/// A filter expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Expr {
    /// Both (`and`, `&&`).
    And(Box<Expr>, Box<Expr>),
    /// Either (`or`, `||`).
    Or(Box<Expr>, Box<Expr>),
    /// Negation (`not`, `!`).
    Not(Box<Expr>),
    /// A primitive (`host 10.0.0.1`, `tcp`, `vlan 10`, …).
    Prim(Prim),
    /// A comparison of two arithmetic expressions (`tcp[13] & 2 != 0`,
    /// `less 100` is `len <= 100`).
    Rel(Arith, Rel, Arith),
}

/// Which addresses or ports of a packet a primitive looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dir {
    /// `src`.
    Src,
    /// `dst`.
    Dst,
    /// No qualifier, or `src or dst`.
    SrcOrDst,
    /// `src and dst`.
    SrcAndDst,
}

/// Protocols a bare protocol name keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Proto {
    /// IPv4 (`ip`).
    Ip,
    /// IPv6 (`ip6`).
    Ip6,
    /// ARP (`arp`).
    Arp,
    /// RARP (`rarp`).
    Rarp,
    /// TCP over IPv4 or IPv6 (`tcp`).
    Tcp,
    /// UDP over IPv4 or IPv6 (`udp`).
    Udp,
    /// SCTP over IPv4 or IPv6 (`sctp`).
    Sctp,
    /// ICMP (IPv4 only, `icmp`).
    Icmp,
    /// ICMPv6 (`icmp6`).
    Icmp6,
    /// IGMP (`igmp`).
    Igmp,
}

/// The network protocols an address primitive applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NetProto {
    /// No qualifier: IPv4 addresses in IPv4, ARP and RARP; IPv6 in IPv6.
    Any,
    /// `ip`.
    Ip,
    /// `ip6`.
    Ip6,
    /// `arp`.
    Arp,
    /// `rarp`.
    Rarp,
}

/// The transport protocols a port primitive applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PortProto {
    /// No qualifier: TCP, UDP and SCTP.
    Any,
    /// `tcp`.
    Tcp,
    /// `udp`.
    Udp,
    /// `sctp`.
    Sctp,
}

/// IP version(s) of `proto N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    /// `ip proto N`.
    V4,
    /// `ip6 proto N`.
    V6,
    /// `proto N`.
    Both,
}

/// A primitive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Prim {
    /// `ip`, `tcp`, `arp`, ….
    Proto(Proto),
    /// `host A` (a full-length prefix) and `net A/len`, `net A mask M`.
    Net {
        /// Protocol qualifier.
        proto: NetProto,
        /// Direction qualifier.
        dir: Dir,
        /// The address (the network part only: host bits are zero).
        addr: IpAddr,
        /// Prefix length in bits.
        prefix: u8,
    },
    /// `ether host M`, `ether src M`, `ether dst M`, `ether broadcast`.
    Ether {
        /// Direction qualifier.
        dir: Dir,
        /// The MAC address.
        mac: [u8; 6],
    },
    /// `ether multicast` (and `multicast` alone).
    EtherMulticast,
    /// `ether proto N`: the frame's ethertype (0x0600 and above).
    EtherProto(u16),
    /// `outbound` (true) or `inbound`: sent by this host or not, as the
    /// packet socket (or a Linux cooked capture's header) says.
    Outbound(bool),
    /// `ip multicast`.
    IpMulticast,
    /// `ip6 multicast`.
    Ip6Multicast,
    /// `port N` (`lo == hi`) and `portrange LO-HI`.
    Port {
        /// Protocol qualifier.
        proto: PortProto,
        /// Direction qualifier.
        dir: Dir,
        /// Lowest port kept.
        lo: u16,
        /// Highest port kept.
        hi: u16,
    },
    /// `ip proto N`, `ip6 proto N`, `proto N`.
    IpProto {
        /// IPv4, IPv6 or both.
        family: Family,
        /// The protocol number.
        number: u8,
    },
    /// `vlan` or `vlan ID`: an 802.1Q/802.1ad tag (with that ID); every
    /// primitive after it looks past the tag, as in libpcap.
    Vlan(Option<u16>),
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rel {
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `=`, `==`.
    Eq,
    /// `!=`.
    Ne,
}

/// Binary arithmetic operators (32-bit unsigned, as in BPF).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinOp {
    /// `+`.
    Add,
    /// `-`.
    Sub,
    /// `*`.
    Mul,
    /// `/`.
    Div,
    /// `%`.
    Mod,
    /// `&`.
    And,
    /// `|`.
    Or,
    /// `^`.
    Xor,
    /// `<<`.
    Shl,
    /// `>>`.
    Shr,
}

impl BinOp {
    /// Binding strength, as in C (and libpcap's grammar): `|` loosest.
    pub(crate) fn precedence(self) -> u8 {
        match self {
            BinOp::Or => 1,
            BinOp::Xor => 2,
            BinOp::And => 3,
            BinOp::Shl | BinOp::Shr => 4,
            BinOp::Add | BinOp::Sub => 5,
            BinOp::Mul | BinOp::Div | BinOp::Mod => 6,
        }
    }

    /// The value of `a op b`; `None` for a division by zero (which makes
    /// a BPF program drop the packet).
    pub(crate) fn apply(self, a: u32, b: u32) -> Option<u32> {
        Some(match self {
            BinOp::Add => a.wrapping_add(b),
            BinOp::Sub => a.wrapping_sub(b),
            BinOp::Mul => a.wrapping_mul(b),
            BinOp::Div => a.checked_div(b)?,
            BinOp::Mod => a.checked_rem(b)?,
            BinOp::And => a & b,
            BinOp::Or => a | b,
            BinOp::Xor => a ^ b,
            BinOp::Shl => a.wrapping_shl(b),
            BinOp::Shr => a.wrapping_shr(b),
        })
    }
}

/// The header a byte test reads from (`proto[expr:size]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layer {
    /// `ether[…]`, `link[…]`: from the start of the frame.
    Link,
    /// `ip[…]`.
    Ip,
    /// `ip6[…]`.
    Ip6,
    /// `arp[…]`.
    Arp,
    /// `rarp[…]`.
    Rarp,
    /// `tcp[…]` (IPv4, first fragment).
    Tcp,
    /// `udp[…]`.
    Udp,
    /// `icmp[…]`.
    Icmp,
    /// `icmp6[…]` (right after a 40-byte IPv6 header).
    Icmp6,
    /// `sctp[…]`.
    Sctp,
    /// `igmp[…]`.
    Igmp,
}

/// An arithmetic expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Arith {
    /// A number or named constant (`tcp-syn`, `icmptype`).
    Num(u32),
    /// `len`: the frame's length on the wire.
    Len,
    /// `proto[index:size]`, size 1, 2 or 4.
    Load {
        /// Which header.
        layer: Layer,
        /// Byte offset within it.
        index: Box<Arith>,
        /// Bytes read (big-endian).
        size: u8,
    },
    /// `a op b`.
    Bin(BinOp, Box<Arith>, Box<Arith>),
    /// `-a`.
    Neg(Box<Arith>),
}
