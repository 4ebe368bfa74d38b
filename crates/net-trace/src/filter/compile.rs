//! From an [`Expr`] to a classic BPF program, for one link layout.
//!
//! Each primitive is lowered to the tests libpcap 1.10 generates for it
//! (the same loads, in the same order, so a frame cut short inside a
//! header is dropped by both alike), then the tests are laid out with
//! symbolic jumps: true and false targets, no optimiser. The programs are
//! longer than libpcap's optimised ones and decide the same.

use std::net::IpAddr;

use super::Error;
use super::ast::{Arith, BinOp, Dir, Expr, Family, Layer, NetProto, PortProto, Prim, Proto, Rel};
use crate::decode::LinkType;
use crate::live::bpf::{self, Insn};

/// Where a program runs: which bytes it sees and where the headers are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// Frames of a capture file (or any frame) of this link type, from
    /// the first byte of the link header, as `tcpdump -r` filters them.
    Link(LinkType),
    /// A live packet socket of this layout: [`bpf::Layout::Ethernet`] sees
    /// what [`LinkType::Ethernet`] does; [`bpf::Layout::Cooked`] sees the
    /// network header first, the ethertype in `SKF_AD_PROTOCOL`, and a
    /// length without the Linux cooked v2 header net-trace puts in front
    /// (so `len` adds it back, and means what it means on the file).
    Kernel(bpf::Layout),
}

/// Longest program the kernel takes (`BPF_MAXINSNS`).
pub(crate) const MAX_INSNS: usize = 4096;

/// Scratch memory slots of classic BPF (`BPF_MEMWORDS`): the deepest
/// arithmetic an expression may nest.
const MEM_WORDS: u32 = 16;

// Opcodes beyond those bpf.rs already names.
const LD_IMM: u16 = 0x00;
const LD_LEN: u16 = 0x80;
const LD_MEM: u16 = 0x60;
const LDX_MEM: u16 = 0x61;
const LD_W_IND: u16 = 0x40;
const LD_B_IND: u16 = 0x50;
const ST: u16 = 0x02;
const TAX: u16 = 0x07;
const ALU_K: u16 = 0x04;
const ALU_X: u16 = 0x0c;
const ALU_NEG: u16 = 0x84;
const JA: u16 = 0x05;
const JGT_K: u16 = 0x25;
const JGE_K: u16 = 0x35;
const JGT_X: u16 = 0x2d;
const JGE_X: u16 = 0x3d;
const JEQ_X: u16 = 0x1d;

const ETHERTYPE_IP: u32 = 0x0800;
const ETHERTYPE_ARP: u32 = 0x0806;
const ETHERTYPE_RARP: u32 = 0x8035;
const ETHERTYPE_IPV6: u32 = 0x86dd;
/// The tag protocol identifiers libpcap's `vlan` accepts: 802.1Q,
/// 802.1ad and the older QinQ value.
const VLAN_TPIDS: [u32; 3] = [0x8100, 0x88a8, 0x9100];
const IPPROTO_FRAGMENT: u32 = 44;

/// How a value is loaded into the accumulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Load {
    /// `ld[bhw] [k]`.
    Abs(u8, u32),
    /// `ldx 4*([nh]&0xf)` then `ld[bhw] [x + k]`: a field of the header
    /// after an IPv4 header.
    AfterIp { size: u8, nh: u32, k: u32 },
    /// The ethertype from the kernel (`SKF_AD_PROTOCOL`).
    Protocol,
    /// The packet type from the kernel (`SKF_AD_PKTTYPE`).
    PktType,
}

/// A boolean test tree, lowered from the expression.
#[derive(Debug, Clone)]
enum B {
    False,
    And(Vec<B>),
    Or(Vec<B>),
    Not(Box<B>),
    /// Load, optionally mask with `and`, then compare with `k`
    /// (`JEQ`/`JGT`/`JGE`/`JSET`).
    Test {
        load: Load,
        mask: Option<u32>,
        jump: u16,
        k: u32,
    },
    /// Arithmetic compared; its protocol checks come before it in an `And`.
    Rel(A, Rel, A),
}

/// Lowered arithmetic: offsets resolved.
#[derive(Debug, Clone)]
enum A {
    Imm(u32),
    /// `len`, plus a header length the socket does not count.
    Len(u32),
    /// A load at `base + index`; `after_ip` adds the IPv4 header length.
    Load {
        base: u32,
        after_ip: bool,
        index: Box<A>,
        size: u8,
    },
    Bin(BinOp, Box<A>, Box<A>),
    Neg(Box<A>),
}

/// How the link layer is read.
#[derive(Debug, Clone, Copy)]
struct Link {
    /// How the ethertype is found.
    kind: LinkKind,
    /// Offset of the network header (moved by `vlan`).
    nh: u32,
    /// Offset of the ethertype (moved by `vlan`), for `Ethertype`.
    ethertype: u32,
    /// Bytes the socket's `len` leaves out.
    len_adjust: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LinkKind {
    /// Ethernet: MAC addresses, VLAN tags, the ethertype in the frame.
    Ethernet,
    /// Linux cooked v1/v2: the ethertype in the frame, nothing else.
    Ethertype,
    /// Raw IP: IPv4 or IPv6 by the version nibble; `Some` fixes it.
    Raw(Option<u32>),
    /// A cooked packet socket: the ethertype from the kernel.
    Kernel,
}

fn link(target: Target) -> Result<(Link, &'static str), Error> {
    let l = |kind, nh, ethertype| Link {
        kind,
        nh,
        ethertype,
        len_adjust: 0,
    };
    Ok(match target {
        Target::Link(LinkType::Ethernet) | Target::Kernel(bpf::Layout::Ethernet) => {
            (l(LinkKind::Ethernet, 14, 12), "Ethernet")
        }
        Target::Link(LinkType::LinuxSll) => (l(LinkKind::Ethertype, 16, 14), "Linux cooked v1"),
        Target::Link(LinkType::LinuxSll2) => (l(LinkKind::Ethertype, 20, 0), "Linux cooked v2"),
        Target::Link(LinkType::RawIp) => (l(LinkKind::Raw(None), 0, 0), "Raw IP"),
        Target::Link(LinkType::Ipv4) => (l(LinkKind::Raw(Some(ETHERTYPE_IP)), 0, 0), "IPv4"),
        Target::Link(LinkType::Ipv6) => (l(LinkKind::Raw(Some(ETHERTYPE_IPV6)), 0, 0), "IPv6"),
        Target::Kernel(bpf::Layout::Cooked) => (
            Link {
                len_adjust: crate::live::SLL2_HEADER_LEN as u32,
                ..l(LinkKind::Kernel, 0, 0)
            },
            "a cooked capture",
        ),
        Target::Link(other) => {
            return Err(Error::new(&format!(
                "filter expressions are not supported on link type {other:?}"
            )));
        }
    })
}

/// Compiles `e` for `target`.
pub(crate) fn compile(e: &Expr, target: Target) -> Result<Vec<Insn>, Error> {
    let (link, name) = link(target)?;
    let mut lower = Lower {
        link,
        name,
        kernel: matches!(target, Target::Kernel(_)),
    };
    let tree = lower.expr(e)?;
    let mut g = Gen::default();
    let (accept, reject) = (g.label(), g.label());
    g.cond(&tree, accept, reject, 0)?;
    g.place(accept);
    g.op(bpf::RET_K, bpf::ACCEPT_ALL);
    g.place(reject);
    g.op(bpf::RET_K, 0);
    let program = g.finish()?;
    if program.len() > MAX_INSNS {
        return Err(Error::new("the expression is too large for a BPF program"));
    }
    Ok(program)
}

struct Lower {
    link: Link,
    name: &'static str,
    /// For a live socket: the kernel's ancillary data can be read.
    kernel: bool,
}

fn and(v: Vec<B>) -> B {
    B::And(v)
}

fn or(v: Vec<B>) -> B {
    B::Or(v)
}

fn test(load: Load, jump: u16, k: u32) -> B {
    B::Test {
        load,
        mask: None,
        jump,
        k,
    }
}

/// `src`, `dst`, either or both, as libpcap combines them.
fn dir(d: Dir, src: impl Fn() -> B, dst: impl Fn() -> B) -> B {
    match d {
        Dir::Src => src(),
        Dir::Dst => dst(),
        Dir::SrcOrDst => or(vec![src(), dst()]),
        Dir::SrcAndDst => and(vec![src(), dst()]),
    }
}

impl Lower {
    fn unsupported(&self, what: &str) -> Error {
        Error::new(&format!(
            "{what} is not available on {} captures",
            self.name
        ))
    }

    /// The frame's network protocol is `ethertype`.
    fn ethertype(&self, ethertype: u32) -> B {
        match self.link.kind {
            LinkKind::Ethernet | LinkKind::Ethertype => {
                test(Load::Abs(2, self.link.ethertype), bpf::JEQ_K, ethertype)
            }
            LinkKind::Kernel => test(Load::Protocol, bpf::JEQ_K, ethertype),
            LinkKind::Raw(fixed) => {
                let version = match ethertype {
                    ETHERTYPE_IP => 0x40,
                    ETHERTYPE_IPV6 => 0x60,
                    _ => return B::False,
                };
                match fixed {
                    Some(f) if f != ethertype => B::False,
                    _ => B::Test {
                        load: Load::Abs(1, 0),
                        mask: Some(0xf0),
                        jump: bpf::JEQ_K,
                        k: version,
                    },
                }
            }
        }
    }

    fn nh(&self, offset: u32) -> Load {
        Load::Abs(1, self.link.nh + offset)
    }

    fn v4_proto(&self, p: u32) -> B {
        and(vec![
            self.ethertype(ETHERTYPE_IP),
            test(self.nh(9), bpf::JEQ_K, p),
        ])
    }

    /// IPv6 with next header `p`, directly or after a fragment header.
    fn v6_proto(&self, p: u32) -> B {
        and(vec![
            self.ethertype(ETHERTYPE_IPV6),
            or(vec![
                test(self.nh(6), bpf::JEQ_K, p),
                and(vec![
                    test(self.nh(6), bpf::JEQ_K, IPPROTO_FRAGMENT),
                    test(self.nh(40), bpf::JEQ_K, p),
                ]),
            ]),
        ])
    }

    /// IPv4 first fragment (or unfragmented).
    fn not_later_fragment(&self) -> B {
        B::Not(Box::new(test(
            Load::Abs(2, self.link.nh + 6),
            bpf::JSET_K,
            0x1fff,
        )))
    }

    fn proto(&self, p: Proto) -> B {
        match p {
            Proto::Ip => self.ethertype(ETHERTYPE_IP),
            Proto::Ip6 => self.ethertype(ETHERTYPE_IPV6),
            Proto::Arp => self.ethertype(ETHERTYPE_ARP),
            Proto::Rarp => self.ethertype(ETHERTYPE_RARP),
            Proto::Tcp => or(vec![self.v4_proto(6), self.v6_proto(6)]),
            Proto::Udp => or(vec![self.v4_proto(17), self.v6_proto(17)]),
            Proto::Sctp => or(vec![self.v4_proto(132), self.v6_proto(132)]),
            Proto::Icmp => self.v4_proto(1),
            Proto::Icmp6 => self.v6_proto(58),
            Proto::Igmp => self.v4_proto(2),
        }
    }

    fn expr(&mut self, e: &Expr) -> Result<B, Error> {
        Ok(match e {
            Expr::And(a, b) => and(vec![self.expr(a)?, self.expr(b)?]),
            Expr::Or(a, b) => or(vec![self.expr(a)?, self.expr(b)?]),
            Expr::Not(a) => B::Not(Box::new(self.expr(a)?)),
            Expr::Prim(p) => self.prim(p)?,
            Expr::Rel(a, op, b) => {
                let mut checks = Vec::new();
                let a = self.arith(a, &mut checks)?;
                let b = self.arith(b, &mut checks)?;
                checks.push(B::Rel(a, *op, b));
                and(checks)
            }
        })
    }

    fn prim(&mut self, p: &Prim) -> Result<B, Error> {
        Ok(match *p {
            Prim::Proto(p) => self.proto(p),
            Prim::IpProto { family, number } => {
                let n = u32::from(number);
                match family {
                    Family::V4 => self.v4_proto(n),
                    Family::V6 => self.v6_proto(n),
                    Family::Both => or(vec![self.v4_proto(n), self.v6_proto(n)]),
                }
            }
            Prim::Net {
                proto,
                dir: d,
                addr,
                prefix,
            } => self.net(proto, d, addr, prefix),
            Prim::Ether { dir: d, mac } => {
                if self.link.kind != LinkKind::Ethernet {
                    return Err(self.unsupported("an Ethernet address"));
                }
                let at = |off: u32| {
                    and(vec![
                        test(
                            Load::Abs(4, off + 2),
                            bpf::JEQ_K,
                            u32::from_be_bytes([mac[2], mac[3], mac[4], mac[5]]),
                        ),
                        test(
                            Load::Abs(2, off),
                            bpf::JEQ_K,
                            u32::from(u16::from_be_bytes([mac[0], mac[1]])),
                        ),
                    ])
                };
                dir(d, || at(6), || at(0))
            }
            Prim::EtherMulticast => {
                if self.link.kind != LinkKind::Ethernet {
                    return Err(self.unsupported("an Ethernet address"));
                }
                test(Load::Abs(1, 0), bpf::JSET_K, 1)
            }
            Prim::EtherProto(t) => self.ethertype(u32::from(t)),
            Prim::Outbound(out) => {
                let load = match self.link.kind {
                    LinkKind::Kernel => Load::PktType,
                    LinkKind::Ethertype if self.link.nh == 16 => Load::Abs(2, 0),
                    LinkKind::Ethertype => Load::Abs(1, 10),
                    LinkKind::Ethernet if self.kernel => Load::PktType,
                    _ => {
                        return Err(self.unsupported("inbound/outbound in a saved capture"));
                    }
                };
                let sent = test(load, bpf::JEQ_K, bpf::PACKET_OUTGOING);
                if out { sent } else { B::Not(Box::new(sent)) }
            }
            Prim::IpMulticast => and(vec![
                self.ethertype(ETHERTYPE_IP),
                test(self.nh(16), JGE_K, 224),
            ]),
            Prim::Ip6Multicast => and(vec![
                self.ethertype(ETHERTYPE_IPV6),
                test(self.nh(24), bpf::JEQ_K, 255),
            ]),
            Prim::Port {
                proto,
                dir: d,
                lo,
                hi,
            } => self.port(proto, d, u32::from(lo), u32::from(hi)),
            Prim::Vlan(id) => {
                match self.link.kind {
                    LinkKind::Ethernet => {}
                    LinkKind::Kernel => {
                        return Err(Error::new(
                            "vlan: a live capture sees frames after the kernel has removed their 802.1Q tags; use it with `read`",
                        ));
                    }
                    _ => return Err(self.unsupported("vlan")),
                }
                let at = self.link.ethertype;
                let tpid = or(VLAN_TPIDS
                    .iter()
                    .map(|&t| test(Load::Abs(2, at), bpf::JEQ_K, t))
                    .collect());
                let b = match id {
                    None => tpid,
                    Some(id) => and(vec![
                        tpid,
                        B::Test {
                            load: Load::Abs(2, at + 2),
                            mask: Some(0x0fff),
                            jump: bpf::JEQ_K,
                            k: u32::from(id),
                        },
                    ]),
                };
                // Every later primitive looks past the tag (libpcap's
                // rule, whatever the nesting).
                self.link.ethertype += 4;
                self.link.nh += 4;
                b
            }
        })
    }

    fn net(&self, proto: NetProto, d: Dir, addr: IpAddr, prefix: u8) -> B {
        match addr {
            IpAddr::V4(a) => {
                let a = u32::from(a);
                let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
                let field = |ethertype: u32, off: u32| {
                    and(vec![
                        self.ethertype(ethertype),
                        B::Test {
                            load: self.word(off),
                            mask: (mask != u32::MAX).then_some(mask),
                            jump: bpf::JEQ_K,
                            k: a,
                        },
                    ])
                };
                let ip = || dir(d, || field(ETHERTYPE_IP, 12), || field(ETHERTYPE_IP, 16));
                let arp = |t: u32| dir(d, || field(t, 14), || field(t, 24));
                match proto {
                    NetProto::Ip => ip(),
                    NetProto::Arp => arp(ETHERTYPE_ARP),
                    NetProto::Rarp => arp(ETHERTYPE_RARP),
                    NetProto::Any | NetProto::Ip6 => {
                        or(vec![ip(), arp(ETHERTYPE_ARP), arp(ETHERTYPE_RARP)])
                    }
                }
            }
            IpAddr::V6(a) => {
                let a = u128::from(a);
                let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
                let field = |off: u32| {
                    let mut v = vec![self.ethertype(ETHERTYPE_IPV6)];
                    for w in 0..4u32 {
                        let shift = 96 - 32 * w;
                        let m = (mask >> shift) as u32;
                        if m == 0 {
                            continue;
                        }
                        v.push(B::Test {
                            load: self.word(off + 4 * w),
                            mask: (m != u32::MAX).then_some(m),
                            jump: bpf::JEQ_K,
                            k: (a >> shift) as u32,
                        });
                    }
                    and(v)
                };
                dir(d, || field(8), || field(24))
            }
        }
    }

    fn word(&self, off: u32) -> Load {
        Load::Abs(4, self.link.nh + off)
    }

    fn port(&self, proto: PortProto, d: Dir, lo: u32, hi: u32) -> B {
        let protos: &[u32] = match proto {
            PortProto::Any => &[132, 6, 17],
            PortProto::Tcp => &[6],
            PortProto::Udp => &[17],
            PortProto::Sctp => &[132],
        };
        let check = |load: Load| {
            if lo == hi {
                test(load, bpf::JEQ_K, lo)
            } else {
                and(vec![
                    test(load, JGE_K, lo),
                    B::Not(Box::new(test(load, JGT_K, hi))),
                ])
            }
        };
        let nh = self.link.nh;
        let v6 = and(vec![
            self.ethertype(ETHERTYPE_IPV6),
            or(protos
                .iter()
                .map(|&p| {
                    and(vec![
                        test(self.nh(6), bpf::JEQ_K, p),
                        dir(
                            d,
                            || check(Load::Abs(2, nh + 40)),
                            || check(Load::Abs(2, nh + 42)),
                        ),
                    ])
                })
                .collect()),
        ]);
        let after_ip = |k: u32| Load::AfterIp { size: 2, nh, k };
        let v4 = and(vec![
            self.ethertype(ETHERTYPE_IP),
            or(protos
                .iter()
                .map(|&p| {
                    and(vec![
                        test(self.nh(9), bpf::JEQ_K, p),
                        self.not_later_fragment(),
                        dir(d, || check(after_ip(nh)), || check(after_ip(nh + 2))),
                    ])
                })
                .collect()),
        ]);
        or(vec![v6, v4])
    }

    /// Lowers arithmetic; the protocol checks its loads need go to
    /// `checks`.
    fn arith(&self, a: &Arith, checks: &mut Vec<B>) -> Result<A, Error> {
        Ok(match a {
            Arith::Num(n) => A::Imm(*n),
            Arith::Len => A::Len(self.link.len_adjust),
            Arith::Neg(a) => match self.arith(a, checks)? {
                A::Imm(n) => A::Imm(n.wrapping_neg()),
                a => A::Neg(Box::new(a)),
            },
            Arith::Bin(op, a, b) => {
                // libpcap keeps the protocol checks of the left operand
                // only (`0 + ip[0] = 0` holds for an ARP frame): so here.
                let a = self.arith(a, checks)?;
                let b = self.arith(b, &mut Vec::new())?;
                match (a, b) {
                    (A::Imm(x), A::Imm(y)) => A::Imm(
                        op.apply(x, y)
                            .ok_or_else(|| Error::new("division by zero"))?,
                    ),
                    (_, A::Imm(0)) if matches!(op, BinOp::Div | BinOp::Mod) => {
                        return Err(Error::new("division by zero"));
                    }
                    (a, b) => A::Bin(*op, Box::new(a), Box::new(b)),
                }
            }
            Arith::Load { layer, index, size } => {
                let nh = self.link.nh;
                let transport = |p: u32| {
                    and(vec![
                        self.ethertype(ETHERTYPE_IP),
                        test(self.nh(9), bpf::JEQ_K, p),
                        self.not_later_fragment(),
                    ])
                };
                let (check, base, after_ip) = match layer {
                    Layer::Link => {
                        if matches!(self.link.kind, LinkKind::Kernel) {
                            return Err(Error::new(
                                "link-layer bytes (ether[…]) are not available on a cooked live capture",
                            ));
                        }
                        (None, 0, false)
                    }
                    Layer::Ip => (Some(self.ethertype(ETHERTYPE_IP)), nh, false),
                    Layer::Ip6 => (Some(self.ethertype(ETHERTYPE_IPV6)), nh, false),
                    Layer::Arp => (Some(self.ethertype(ETHERTYPE_ARP)), nh, false),
                    Layer::Rarp => (Some(self.ethertype(ETHERTYPE_RARP)), nh, false),
                    Layer::Tcp => (Some(transport(6)), nh, true),
                    Layer::Udp => (Some(transport(17)), nh, true),
                    Layer::Icmp => (Some(transport(1)), nh, true),
                    Layer::Sctp => (Some(transport(132)), nh, true),
                    Layer::Igmp => (Some(transport(2)), nh, true),
                    Layer::Icmp6 => (
                        Some(and(vec![
                            self.ethertype(ETHERTYPE_IPV6),
                            test(self.nh(6), bpf::JEQ_K, 58),
                        ])),
                        nh + 40,
                        false,
                    ),
                };
                let index = self.arith(index, checks)?;
                checks.extend(check);
                A::Load {
                    base,
                    after_ip,
                    index: Box::new(index),
                    size: *size,
                }
            }
        })
    }
}

/// A jump target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Label(usize);

#[derive(Debug, Clone, Copy)]
enum Item {
    Op(u16, u32),
    /// A conditional jump to labels.
    Jump(u16, u32, Label, Label),
    /// `ja` to a label.
    Always(Label),
}

/// The code generator: items with symbolic jumps, then resolved.
#[derive(Debug, Default)]
struct Gen {
    items: Vec<Item>,
    labels: Vec<Option<usize>>,
}

impl Gen {
    fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    fn place(&mut self, l: Label) {
        self.labels[l.0] = Some(self.items.len());
    }

    fn op(&mut self, code: u16, k: u32) {
        self.items.push(Item::Op(code, k));
    }

    fn load(&mut self, load: Load) {
        let size_bits = |size: u8| match size {
            4 => 0x00,
            2 => 0x08,
            _ => 0x10,
        };
        match load {
            Load::Abs(size, k) => self.op(0x20 | size_bits(size), k),
            Load::AfterIp { size, nh, k } => {
                self.op(bpf::LDX_B_MSH, nh);
                self.op(0x40 | size_bits(size), k);
            }
            Load::Protocol => self.op(bpf::LD_W_ABS, bpf::SKF_AD_OFF + bpf::SKF_AD_PROTOCOL),
            Load::PktType => self.op(bpf::LD_W_ABS, bpf::SKF_AD_OFF + bpf::SKF_AD_PKTTYPE),
        }
    }

    /// Emits `b`: control reaches `t` when it holds, `f` otherwise.
    fn cond(&mut self, b: &B, t: Label, f: Label, depth: u32) -> Result<(), Error> {
        match b {
            B::False => self.items.push(Item::Always(f)),
            B::Not(inner) => self.cond(inner, f, t, depth)?,
            B::And(v) | B::Or(v) => {
                let is_and = matches!(b, B::And(_));
                for (i, item) in v.iter().enumerate() {
                    if i + 1 == v.len() {
                        self.cond(item, t, f, depth)?;
                    } else {
                        let next = self.label();
                        if is_and {
                            self.cond(item, next, f, depth)?;
                        } else {
                            self.cond(item, t, next, depth)?;
                        }
                        self.place(next);
                    }
                }
                if v.is_empty() {
                    self.items.push(Item::Always(if is_and { t } else { f }));
                }
            }
            B::Test {
                load,
                mask,
                jump,
                k,
            } => {
                self.load(*load);
                if let Some(m) = mask {
                    self.op(ALU_K | 0x50, *m);
                }
                self.items.push(Item::Jump(*jump, *k, t, f));
            }
            B::Rel(a, op, b) => {
                // A op B; with a constant B the comparison takes it as k.
                let x = match b {
                    A::Imm(k) => {
                        self.arith(a, depth)?;
                        Some(*k)
                    }
                    _ => {
                        self.arith(b, depth)?;
                        self.store(depth)?;
                        self.arith(a, depth + 1)?;
                        self.op(LDX_MEM, depth);
                        None
                    }
                };
                let (code, k) = match x {
                    Some(k) => (0, k),
                    None => (0x08, 0),
                };
                let (jump, t, f) = match op {
                    Rel::Eq => (bpf::JEQ_K, t, f),
                    Rel::Ne => (bpf::JEQ_K, f, t),
                    Rel::Gt => (JGT_K, t, f),
                    Rel::Le => (JGT_K, f, t),
                    Rel::Ge => (JGE_K, t, f),
                    Rel::Lt => (JGE_K, f, t),
                };
                debug_assert!(matches!(jump | code, JEQ_X | JGT_X | JGE_X) || code == 0);
                self.items.push(Item::Jump(jump | code, k, t, f));
            }
        }
        Ok(())
    }

    fn store(&mut self, depth: u32) -> Result<(), Error> {
        if depth >= MEM_WORDS {
            return Err(Error::new("the arithmetic nests too deeply for BPF"));
        }
        self.op(ST, depth);
        Ok(())
    }

    /// Computes `a` into the accumulator, using scratch slots from
    /// `depth` up.
    fn arith(&mut self, a: &A, depth: u32) -> Result<(), Error> {
        match a {
            A::Imm(k) => self.op(LD_IMM, *k),
            A::Len(adjust) => {
                self.op(LD_LEN, 0);
                if *adjust != 0 {
                    self.op(ALU_K, *adjust);
                }
            }
            A::Neg(a) => {
                self.arith(a, depth)?;
                self.op(ALU_NEG, 0);
            }
            A::Bin(op, a, b) => {
                let code = match op {
                    BinOp::Add => 0x00,
                    BinOp::Sub => 0x10,
                    BinOp::Mul => 0x20,
                    BinOp::Div => 0x30,
                    BinOp::Or => 0x40,
                    BinOp::And => 0x50,
                    BinOp::Shl => 0x60,
                    BinOp::Shr => 0x70,
                    BinOp::Mod => 0x90,
                    BinOp::Xor => 0xa0,
                };
                if let A::Imm(k) = **b {
                    self.arith(a, depth)?;
                    self.op(ALU_K | code, k);
                } else {
                    self.arith(b, depth)?;
                    self.store(depth)?;
                    self.arith(a, depth + 1)?;
                    self.op(LDX_MEM, depth);
                    self.op(ALU_X | code, 0);
                }
            }
            A::Load {
                base,
                after_ip,
                index,
                size,
            } => {
                let code = match size {
                    4 => LD_W_IND,
                    2 => bpf::LD_H_IND,
                    _ => LD_B_IND,
                };
                match (&**index, after_ip) {
                    (A::Imm(i), false) => {
                        self.load(Load::Abs(*size, base.wrapping_add(*i)));
                    }
                    (A::Imm(i), true) => {
                        self.op(bpf::LDX_B_MSH, *base);
                        self.op(code, base.wrapping_add(*i));
                    }
                    (index, false) => {
                        self.arith(index, depth)?;
                        self.op(TAX, 0);
                        self.op(code, *base);
                    }
                    (index, true) => {
                        self.arith(index, depth)?;
                        self.store(depth)?;
                        self.op(bpf::LDX_B_MSH, *base);
                        self.op(LD_MEM, depth);
                        self.op(ALU_X, 0);
                        self.op(TAX, 0);
                        self.op(code, *base);
                    }
                }
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<Vec<Insn>, Error> {
        let too_far = || Error::new("the expression is too large for a BPF program's jumps");
        let at = |l: Label| self.labels[l.0].ok_or_else(too_far);
        let offset = |from: usize, l: Label| -> Result<usize, Error> {
            at(l)?.checked_sub(from + 1).ok_or_else(too_far)
        };
        let short = |from: usize, l: Label| -> Result<u8, Error> {
            u8::try_from(offset(from, l)?).map_err(|_| too_far())
        };
        self.items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                Ok(match *item {
                    Item::Op(code, k) => Insn {
                        code,
                        jt: 0,
                        jf: 0,
                        k,
                    },
                    Item::Jump(code, k, t, f) => Insn {
                        code,
                        jt: short(i, t)?,
                        jf: short(i, f)?,
                        k,
                    },
                    Item::Always(l) => Insn {
                        code: JA,
                        jt: 0,
                        jf: 0,
                        k: u32::try_from(offset(i, l)?).map_err(|_| too_far())?,
                    },
                })
            })
            .collect()
    }
}
