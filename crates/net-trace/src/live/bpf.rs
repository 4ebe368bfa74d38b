//! Classic BPF programs for the packet socket's kernel-side filter.
//!
//! The program keeps what `tcpdump` would keep for
//! `tcp port N or udp port N [or …] or icmp or icmp6`, plus IPv4 fragments
//! after the first and IPv6 fragments (their transport header is elsewhere,
//! and reassembly needs every piece), for IPv4 and IPv6. Two layouts:
//! [`Layout::Ethernet`] (a `SOCK_RAW` socket: the ethertype at byte 12, the
//! network header at 14) and [`Layout::Cooked`] (a `SOCK_DGRAM` socket: the
//! frame starts at the network header, and the ethertype comes from the
//! `SKF_AD_PROTOCOL` ancillary load).
//!
//! Two optional prefixes run before the port test: one drops the outgoing
//! copy of every loopback frame (a loopback frame is seen leaving and
//! arriving; libpcap keeps the arriving one), one keeps only frames of a
//! set of interfaces (several `--iface` on one socket). Dropping in the
//! kernel keeps those frames out of the receive buffer altogether.
//!
//! Pure code: it builds instructions; `sys` attaches them.

use std::fmt;

/// One classic BPF instruction (`struct sock_filter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Insn {
    /// Opcode.
    pub(crate) code: u16,
    /// Jump offset when the test is true.
    pub(crate) jt: u8,
    /// Jump offset when the test is false.
    pub(crate) jf: u8,
    /// Constant operand.
    pub(crate) k: u32,
}

impl fmt::Display for Insn {
    /// `tcpdump -dd`'s notation, to compare programs by eye.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{{ {:#x}, {}, {}, {:#010x} }},",
            self.code, self.jt, self.jf, self.k
        )
    }
}

// Opcodes (`<linux/filter.h>`), each the OR of class, size and mode.
/// `ld [k]`, 32 bits (used for ancillary loads).
pub(crate) const LD_W_ABS: u16 = 0x20;
/// `ldh [k]`.
pub(crate) const LD_H_ABS: u16 = 0x28;
/// `ldb [k]`.
pub(crate) const LD_B_ABS: u16 = 0x30;
/// `ldh [x + k]`.
pub(crate) const LD_H_IND: u16 = 0x48;
/// `ldxb 4*([k]&0xf)`: the IPv4 header length.
pub(crate) const LDX_B_MSH: u16 = 0xb1;
/// `jeq #k`.
pub(crate) const JEQ_K: u16 = 0x15;
/// `jset #k`.
pub(crate) const JSET_K: u16 = 0x45;
/// `ret #k`.
pub(crate) const RET_K: u16 = 0x06;
/// `ja +k`.
pub(crate) const JA: u16 = 0x05;

/// Base of the kernel's ancillary loads (`SKF_AD_OFF`, -0x1000).
pub(crate) const SKF_AD_OFF: u32 = 0xffff_f000;
/// `SKF_AD_PROTOCOL`: the frame's ethertype, host byte order.
pub(crate) const SKF_AD_PROTOCOL: u32 = 0;
/// `SKF_AD_PKTTYPE`: `PACKET_HOST`, `PACKET_OUTGOING`, ….
pub(crate) const SKF_AD_PKTTYPE: u32 = 4;
/// `SKF_AD_IFINDEX`: the interface the frame was seen on.
pub(crate) const SKF_AD_IFINDEX: u32 = 8;

/// `sll_pkttype` of a frame this host sent.
pub(crate) const PACKET_OUTGOING: u32 = 4;

/// What an accepting program returns: keep the whole frame (the reader
/// truncates to the snap length itself, after learning the real length).
pub(crate) const ACCEPT_ALL: u32 = u32::MAX;

/// The most ports one filter takes: each adds four instructions and the
/// conditional jumps of classic BPF reach at most 255 instructions ahead.
pub(crate) const MAX_PORTS: usize = 50;

const ETHERTYPE_IPV4: u32 = 0x0800;
const ETHERTYPE_IPV6: u32 = 0x86dd;
const IPPROTO_ICMP: u32 = 1;
const IPPROTO_TCP: u32 = 6;
const IPPROTO_UDP: u32 = 17;
const IPPROTO_FRAGMENT: u32 = 44;
const IPPROTO_ICMPV6: u32 = 58;
/// Fragment offset bits of the IPv4 flags/offset field.
const IPV4_OFFSET_MASK: u32 = 0x1fff;
/// Fixed IPv6 header length.
const IPV6_HEADER: u32 = 40;

/// Where the network header starts and where the ethertype is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    /// Ethernet header first (`SOCK_RAW` on an Ethernet or loopback device).
    Ethernet,
    /// Network header first (`SOCK_DGRAM`).
    Cooked,
}

/// What the kernel should keep.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Spec {
    /// TCP/UDP ports to keep (with ICMP and fragments); empty keeps all.
    pub(crate) ports: Vec<u16>,
    /// Drop outgoing frames on this interface index (the loopback's).
    pub(crate) drop_outgoing_on: Option<u32>,
    /// Keep only frames of these interface indexes; empty keeps all.
    pub(crate) only_ifindexes: Vec<u32>,
    /// A compiled filter expression (for this layout) a frame must also
    /// pass: `--port` and an expression combine with `and`.
    pub(crate) expression: Option<Vec<Insn>>,
}

/// A program that cannot be expressed (too many ports or interfaces).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the kernel filter takes at most {MAX_PORTS} ports and 200 interfaces")]
pub(crate) struct TooLarge;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Label {
    Interfaces,
    Ports,
    V6,
    T4,
    T6,
    Accept,
    Reject,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum To {
    Next,
    L(Label),
}

/// A tiny assembler: instructions with symbolic forward jumps.
#[derive(Debug, Default)]
struct Asm {
    code: Vec<(u16, To, To, u32)>,
    labels: Vec<(Label, usize)>,
}

impl Asm {
    fn op(&mut self, code: u16, k: u32) {
        self.code.push((code, To::Next, To::Next, k));
    }
    fn jump(&mut self, code: u16, k: u32, jt: To, jf: To) {
        self.code.push((code, jt, jf, k));
    }
    fn label(&mut self, l: Label) {
        self.labels.push((l, self.code.len()));
    }
    /// Resolves every jump; a jump further than 255 instructions (or
    /// backwards, or to a missing label) is an error.
    fn finish(self) -> Result<Vec<Insn>, TooLarge> {
        let offset = |from: usize, to: To| -> Result<u8, TooLarge> {
            let To::L(l) = to else { return Ok(0) };
            let (_, target) = self.labels.iter().find(|(x, _)| *x == l).ok_or(TooLarge)?;
            let delta = target.checked_sub(from + 1).ok_or(TooLarge)?;
            u8::try_from(delta).map_err(|_| TooLarge)
        };
        self.code
            .iter()
            .enumerate()
            .map(|(i, &(code, jt, jf, k))| {
                Ok(Insn {
                    code,
                    jt: offset(i, jt)?,
                    jf: offset(i, jf)?,
                    k,
                })
            })
            .collect()
    }
}

/// Builds the filter program for `spec` on a socket of `layout`.
pub(crate) fn program(layout: Layout, spec: &Spec) -> Result<Vec<Insn>, TooLarge> {
    if spec.ports.len() > MAX_PORTS {
        return Err(TooLarge);
    }
    let mut a = Asm::default();
    let ancillary = |what: u32| SKF_AD_OFF + what;
    if let Some(lo) = spec.drop_outgoing_on {
        a.op(LD_W_ABS, ancillary(SKF_AD_PKTTYPE));
        a.jump(JEQ_K, PACKET_OUTGOING, To::Next, To::L(Label::Interfaces));
        a.op(LD_W_ABS, ancillary(SKF_AD_IFINDEX));
        a.jump(JEQ_K, lo, To::L(Label::Reject), To::L(Label::Interfaces));
    }
    a.label(Label::Interfaces);
    if let Some((last, rest)) = spec.only_ifindexes.split_last() {
        a.op(LD_W_ABS, ancillary(SKF_AD_IFINDEX));
        for &i in rest {
            a.jump(JEQ_K, i, To::L(Label::Ports), To::Next);
        }
        a.jump(JEQ_K, *last, To::L(Label::Ports), To::L(Label::Reject));
    }
    a.label(Label::Ports);
    let ports: Vec<u32> = spec.ports.iter().map(|&p| u32::from(p)).collect();
    if !ports.is_empty() {
        let (nh, ethertype) = match layout {
            Layout::Ethernet => (14u32, (LD_H_ABS, 12u32)),
            Layout::Cooked => (0u32, (LD_W_ABS, ancillary(SKF_AD_PROTOCOL))),
        };
        a.op(ethertype.0, ethertype.1);
        a.jump(JEQ_K, ETHERTYPE_IPV4, To::Next, To::L(Label::V6));
        // IPv4: fragments after the first carry no transport header.
        a.op(LD_H_ABS, nh + 6);
        a.jump(JSET_K, IPV4_OFFSET_MASK, To::L(Label::Accept), To::Next);
        a.op(LD_B_ABS, nh + 9);
        a.jump(JEQ_K, IPPROTO_ICMP, To::L(Label::Accept), To::Next);
        a.jump(JEQ_K, IPPROTO_TCP, To::L(Label::T4), To::Next);
        a.jump(JEQ_K, IPPROTO_UDP, To::L(Label::T4), To::L(Label::Reject));
        a.label(Label::T4);
        a.op(LDX_B_MSH, nh);
        port_test(&mut a, LD_H_IND, nh, &ports);
        a.label(Label::V6);
        a.jump(JEQ_K, ETHERTYPE_IPV6, To::Next, To::L(Label::Reject));
        a.op(LD_B_ABS, nh + 6);
        a.jump(JEQ_K, IPPROTO_ICMPV6, To::L(Label::Accept), To::Next);
        a.jump(JEQ_K, IPPROTO_FRAGMENT, To::L(Label::Accept), To::Next);
        a.jump(JEQ_K, IPPROTO_TCP, To::L(Label::T6), To::Next);
        a.jump(JEQ_K, IPPROTO_UDP, To::L(Label::T6), To::L(Label::Reject));
        a.label(Label::T6);
        port_test(&mut a, LD_H_ABS, nh + IPV6_HEADER, &ports);
    }
    let Some(expression) = &spec.expression else {
        a.label(Label::Accept);
        a.op(RET_K, ACCEPT_ALL);
        a.label(Label::Reject);
        a.op(RET_K, 0);
        return a.finish();
    };
    // Frames passing the above go on to the expression, placed last with
    // its own returns; a rejection before it lands just ahead of it, so no
    // jump has to cross it (classic BPF's conditional jumps are short).
    if ports.is_empty() {
        a.op(JA, 1);
    }
    a.label(Label::Reject);
    a.op(RET_K, 0);
    a.label(Label::Accept);
    let mut program = a.finish()?;
    program.extend_from_slice(expression);
    Ok(program)
}

/// Source port then destination port, each against every port.
fn port_test(a: &mut Asm, load: u16, at: u32, ports: &[u32]) {
    for (offset, last_field) in [(0, false), (2, true)] {
        a.op(load, at + offset);
        for (n, &p) in ports.iter().enumerate() {
            let otherwise = if last_field && n + 1 == ports.len() {
                To::L(Label::Reject)
            } else {
                To::Next
            };
            a.jump(JEQ_K, p, To::L(Label::Accept), otherwise);
        }
    }
}

/// What the kernel knows about a frame besides its bytes, for
/// [`run`]'s ancillary loads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Context {
    /// Ethertype (`SKF_AD_PROTOCOL`).
    pub(crate) protocol: u16,
    /// `SKF_AD_PKTTYPE`.
    pub(crate) pkttype: u8,
    /// `SKF_AD_IFINDEX`.
    pub(crate) ifindex: u32,
}

/// Runs `program` over `data` as the kernel would, with `data.len()` as
/// the frame's length; see [`run_len`].
#[cfg(test)]
pub(crate) fn run(program: &[Insn], data: &[u8], ctx: Context) -> Option<u32> {
    run_len(
        program,
        data,
        u32::try_from(data.len()).unwrap_or(u32::MAX),
        ctx,
    )
}

/// Scratch memory of a classic BPF machine (`BPF_MEMWORDS`).
const MEM_WORDS: usize = 16;

/// Runs `program` over `data` (the captured bytes of a frame `wire_len`
/// long on the wire, which `ld len` reads) as the kernel and libpcap's
/// `bpf_filter` do: every classic BPF instruction, and the ancillary loads
/// of [`Context`]. A load past the captured bytes, a division by zero or a
/// jump out of the program drops the frame. Returns what the program
/// returns (0: drop); `None` for an opcode or ancillary load it does not
/// know.
pub(crate) fn run_len(program: &[Insn], data: &[u8], wire_len: u32, ctx: Context) -> Option<u32> {
    let (mut a, mut x, mut pc) = (0u32, 0u32, 0usize);
    let mut mem = [0u32; MEM_WORDS];
    let load = |at: Option<u32>, size: usize| -> Option<u32> {
        let at = usize::try_from(at?).ok()?;
        let bytes = data.get(at..at.checked_add(size)?)?;
        Some(bytes.iter().fold(0, |acc, &b| acc << 8 | u32::from(b)))
    };
    loop {
        let Some(i) = program.get(pc) else {
            return Some(0);
        };
        pc += 1;
        let size = match i.code & 0x18 {
            0x00 => 4,
            0x08 => 2,
            _ => 1,
        };
        let slot = || usize::try_from(i.k).ok().filter(|&k| k < MEM_WORDS);
        match i.code & 0x07 {
            // BPF_LD
            0x00 => {
                a = match i.code & 0xe0 {
                    0x00 => i.k,
                    0x20 if i.k >= SKF_AD_OFF && size == 4 => match i.k - SKF_AD_OFF {
                        SKF_AD_PROTOCOL => u32::from(ctx.protocol),
                        SKF_AD_PKTTYPE => u32::from(ctx.pkttype),
                        SKF_AD_IFINDEX => ctx.ifindex,
                        _ => return None,
                    },
                    0x20 => match load(Some(i.k), size) {
                        Some(v) => v,
                        None => return Some(0),
                    },
                    0x40 => match load(x.checked_add(i.k), size) {
                        Some(v) => v,
                        None => return Some(0),
                    },
                    0x60 => mem[slot()?],
                    0x80 => wire_len,
                    _ => return None,
                }
            }
            // BPF_LDX
            0x01 => {
                x = match i.code & 0xe0 {
                    0x00 => i.k,
                    0x60 => mem[slot()?],
                    0x80 => wire_len,
                    0xa0 => match load(Some(i.k), 1) {
                        Some(v) => (v & 0xf) * 4,
                        None => return Some(0),
                    },
                    _ => return None,
                }
            }
            // BPF_ST, BPF_STX
            0x02 => mem[slot()?] = a,
            0x03 => mem[slot()?] = x,
            // BPF_ALU
            0x04 => {
                let operand = if i.code & 0x08 != 0 { x } else { i.k };
                a = match i.code & 0xf0 {
                    0x00 => a.wrapping_add(operand),
                    0x10 => a.wrapping_sub(operand),
                    0x20 => a.wrapping_mul(operand),
                    0x30 => match a.checked_div(operand) {
                        Some(v) => v,
                        None => return Some(0),
                    },
                    0x40 => a | operand,
                    0x50 => a & operand,
                    0x60 => a.wrapping_shl(operand),
                    0x70 => a.wrapping_shr(operand),
                    0x80 => a.wrapping_neg(),
                    0x90 => match a.checked_rem(operand) {
                        Some(v) => v,
                        None => return Some(0),
                    },
                    0xa0 => a ^ operand,
                    _ => return None,
                }
            }
            // BPF_JMP
            0x05 => {
                let operand = if i.code & 0x08 != 0 { x } else { i.k };
                let taken = match i.code & 0xf0 {
                    0x00 => {
                        pc = pc.checked_add(usize::try_from(i.k).ok()?)?;
                        continue;
                    }
                    0x10 => a == operand,
                    0x20 => a > operand,
                    0x30 => a >= operand,
                    0x40 => a & operand != 0,
                    _ => return None,
                };
                pc += usize::from(if taken { i.jt } else { i.jf });
            }
            // BPF_RET
            0x06 => {
                return match i.code & 0x18 {
                    0x00 => Some(i.k),
                    0x10 => Some(a),
                    _ => None,
                };
            }
            // BPF_MISC
            _ => match i.code & 0xf8 {
                0x00 => x = a,
                0x80 => a = x,
                _ => return None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `tcpdump -y EN10MB -dd 'tcp port 5000 or udp port 5000 or icmp or
    /// icmp6 or (ip[6:2] & 0x1fff != 0) or ip6 proto 44'` (tcpdump 4.99.3,
    /// libpcap 1.10.3).
    const TCPDUMP_5000: [(u16, u8, u8, u32); 27] = [
        (0x28, 0, 0, 0x0000000c),
        (0x15, 0, 9, 0x000086dd),
        (0x30, 0, 0, 0x00000014),
        (0x15, 1, 0, 0x00000006),
        (0x15, 0, 4, 0x00000011),
        (0x28, 0, 0, 0x00000036),
        (0x15, 18, 0, 0x00001388),
        (0x28, 0, 0, 0x00000038),
        (0x15, 16, 17, 0x00001388),
        (0x15, 15, 0, 0x0000003a),
        (0x15, 14, 15, 0x0000002c),
        (0x15, 0, 14, 0x00000800),
        (0x30, 0, 0, 0x00000017),
        (0x15, 1, 0, 0x00000006),
        (0x15, 0, 7, 0x00000011),
        (0x28, 0, 0, 0x00000014),
        (0x45, 6, 0, 0x00001fff),
        (0xb1, 0, 0, 0x0000000e),
        (0x48, 0, 0, 0x0000000e),
        (0x15, 5, 0, 0x00001388),
        (0x48, 0, 0, 0x00000010),
        (0x15, 3, 1, 0x00001388),
        (0x15, 2, 0, 0x00000001),
        (0x28, 0, 0, 0x00000014),
        (0x45, 0, 1, 0x00001fff),
        (0x6, 0, 0, 0x00040000),
        (0x6, 0, 0, 0x00000000),
    ];

    /// The same expression for ports 13000 and 53.
    const TCPDUMP_13000_53: [(u16, u8, u8, u32); 31] = [
        (0x28, 0, 0, 0x0000000c),
        (0x15, 0, 11, 0x000086dd),
        (0x30, 0, 0, 0x00000014),
        (0x15, 1, 0, 0x00000006),
        (0x15, 0, 6, 0x00000011),
        (0x28, 0, 0, 0x00000036),
        (0x15, 22, 0, 0x000032c8),
        (0x15, 21, 0, 0x00000035),
        (0x28, 0, 0, 0x00000038),
        (0x15, 19, 0, 0x000032c8),
        (0x15, 18, 19, 0x00000035),
        (0x15, 17, 0, 0x0000003a),
        (0x15, 16, 17, 0x0000002c),
        (0x15, 0, 16, 0x00000800),
        (0x30, 0, 0, 0x00000017),
        (0x15, 1, 0, 0x00000006),
        (0x15, 0, 9, 0x00000011),
        (0x28, 0, 0, 0x00000014),
        (0x45, 8, 0, 0x00001fff),
        (0xb1, 0, 0, 0x0000000e),
        (0x48, 0, 0, 0x0000000e),
        (0x15, 7, 0, 0x000032c8),
        (0x15, 6, 0, 0x00000035),
        (0x48, 0, 0, 0x00000010),
        (0x15, 4, 0, 0x000032c8),
        (0x15, 3, 1, 0x00000035),
        (0x15, 2, 0, 0x00000001),
        (0x28, 0, 0, 0x00000014),
        (0x45, 0, 1, 0x00001fff),
        (0x6, 0, 0, 0x00040000),
        (0x6, 0, 0, 0x00000000),
    ];

    fn insns(t: &[(u16, u8, u8, u32)]) -> Vec<Insn> {
        t.iter()
            .map(|&(code, jt, jf, k)| Insn { code, jt, jf, k })
            .collect()
    }

    /// An IPv4 header (20 bytes) with `proto` and a fragment offset.
    fn ipv4(proto: u8, frag_offset: u16, l4: &[u8]) -> Vec<u8> {
        let total = (20 + l4.len()) as u16;
        let mut p = vec![0x45, 0];
        p.extend(total.to_be_bytes());
        p.extend([0, 1]);
        p.extend(frag_offset.to_be_bytes());
        p.extend([64, proto, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1]);
        p.extend(l4);
        p
    }

    /// An IPv4 header with options (24 bytes), to exercise the IHL load.
    fn ipv4_options(proto: u8, l4: &[u8]) -> Vec<u8> {
        let mut p = ipv4(proto, 0, &[]);
        p[0] = 0x46;
        p.extend([1, 1, 1, 0]);
        p.extend(l4);
        p
    }

    fn ipv6(next: u8, l4: &[u8]) -> Vec<u8> {
        let mut p = vec![0x60, 0, 0, 0];
        p.extend((l4.len() as u16).to_be_bytes());
        p.extend([next, 64]);
        p.extend([0; 15]);
        p.push(1);
        p.extend([0; 15]);
        p.push(1);
        p.extend(l4);
        p
    }

    fn ports(src: u16, dst: u16) -> Vec<u8> {
        let mut l4 = src.to_be_bytes().to_vec();
        l4.extend(dst.to_be_bytes());
        l4.extend([0; 16]);
        l4
    }

    fn ether(ethertype: u16, net: &[u8]) -> Vec<u8> {
        let mut f = vec![0; 12];
        f.extend(ethertype.to_be_bytes());
        f.extend(net);
        f
    }

    /// Network-layer packets with their ethertype: every case the filter
    /// distinguishes.
    fn samples() -> Vec<(&'static str, u16, Vec<u8>)> {
        vec![
            ("tcp v4 dst", 0x0800, ipv4(6, 0, &ports(40000, 5000))),
            ("tcp v4 src", 0x0800, ipv4(6, 0, &ports(5000, 40000))),
            ("tcp v4 other", 0x0800, ipv4(6, 0, &ports(40000, 5001))),
            ("udp v4 dst", 0x0800, ipv4(17, 0, &ports(40000, 5000))),
            ("udp v4 13000", 0x0800, ipv4(17, 0, &ports(13000, 1))),
            ("udp v4 53", 0x0800, ipv4(17, 0, &ports(1, 53))),
            ("udp v4 other", 0x0800, ipv4(17, 0, &ports(1, 2))),
            ("tcp v4 options", 0x0800, ipv4_options(6, &ports(1, 5000))),
            (
                "tcp v4 options other",
                0x0800,
                ipv4_options(6, &ports(1, 2)),
            ),
            ("icmp v4", 0x0800, ipv4(1, 0, &[3, 3, 0, 0])),
            ("igmp v4", 0x0800, ipv4(2, 0, &[0; 8])),
            ("first fragment", 0x0800, ipv4(17, 0x2000, &ports(1, 2))),
            ("later fragment", 0x0800, ipv4(17, 0x00b9, &[0; 20])),
            ("later fragment igmp", 0x0800, ipv4(2, 0x0001, &[0; 20])),
            ("tcp v6 dst", 0x86dd, ipv6(6, &ports(40000, 5000))),
            ("tcp v6 13000", 0x86dd, ipv6(6, &ports(13000, 40000))),
            ("tcp v6 other", 0x86dd, ipv6(6, &ports(40000, 1))),
            ("udp v6 53", 0x86dd, ipv6(17, &ports(53, 40000))),
            ("udp v6 other", 0x86dd, ipv6(17, &ports(2, 1))),
            ("icmp v6", 0x86dd, ipv6(58, &[1, 4, 0, 0])),
            ("fragment v6", 0x86dd, ipv6(44, &[17, 0, 0, 8, 0, 0, 0, 1])),
            ("hop-by-hop v6", 0x86dd, ipv6(0, &[0; 8])),
            ("arp", 0x0806, vec![0; 28]),
            ("truncated v4", 0x0800, ipv4(6, 0, &[0x13])),
            ("empty", 0x0800, vec![]),
        ]
    }

    fn spec(ports: &[u16]) -> Spec {
        Spec {
            ports: ports.to_vec(),
            ..Spec::default()
        }
    }

    /// Ours and tcpdump's programs agree on every sample, for both
    /// layouts, and ours decides something for each.
    fn agree(reference: &[Insn], ports: &[u16]) {
        let eth = program(Layout::Ethernet, &spec(ports)).unwrap();
        let cooked = program(Layout::Cooked, &spec(ports)).unwrap();
        let mut kept = 0;
        for (name, ethertype, net) in samples() {
            let frame = ether(ethertype, &net);
            let want = run(reference, &frame, Context::default()).unwrap() != 0;
            let ctx = Context {
                protocol: ethertype,
                ..Context::default()
            };
            let got_eth = run(&eth, &frame, ctx).unwrap() != 0;
            let got_cooked = run(&cooked, &net, ctx).unwrap() != 0;
            assert_eq!(got_eth, want, "Ethernet layout, {name}, ports {ports:?}");
            assert_eq!(got_cooked, want, "cooked layout, {name}, ports {ports:?}");
            kept += usize::from(want);
        }
        // The samples cover both verdicts.
        assert!(kept > 3 && kept < samples().len() - 3, "{kept}");
    }

    #[test]
    fn agrees_with_tcpdump_for_one_port() {
        agree(&insns(&TCPDUMP_5000), &[5000]);
    }

    #[test]
    fn agrees_with_tcpdump_for_two_ports() {
        agree(&insns(&TCPDUMP_13000_53), &[13000, 53]);
    }

    #[test]
    fn one_port_program_is_fixed() {
        // The exact program, in tcpdump's notation (its semantics are
        // checked against tcpdump's above): a change to it is deliberate.
        let text: Vec<String> = program(Layout::Ethernet, &spec(&[5000]))
            .unwrap()
            .iter()
            .map(Insn::to_string)
            .collect();
        assert_eq!(
            text,
            [
                "{ 0x28, 0, 0, 0x0000000c },",
                "{ 0x15, 0, 11, 0x00000800 },",
                "{ 0x28, 0, 0, 0x00000014 },",
                "{ 0x45, 19, 0, 0x00001fff },",
                "{ 0x30, 0, 0, 0x00000017 },",
                "{ 0x15, 17, 0, 0x00000001 },",
                "{ 0x15, 1, 0, 0x00000006 },",
                "{ 0x15, 0, 16, 0x00000011 },",
                "{ 0xb1, 0, 0, 0x0000000e },",
                "{ 0x48, 0, 0, 0x0000000e },",
                "{ 0x15, 12, 0, 0x00001388 },",
                "{ 0x48, 0, 0, 0x00000010 },",
                "{ 0x15, 10, 11, 0x00001388 },",
                "{ 0x15, 0, 10, 0x000086dd },",
                "{ 0x30, 0, 0, 0x00000014 },",
                "{ 0x15, 7, 0, 0x0000003a },",
                "{ 0x15, 6, 0, 0x0000002c },",
                "{ 0x15, 1, 0, 0x00000006 },",
                "{ 0x15, 0, 5, 0x00000011 },",
                "{ 0x28, 0, 0, 0x00000036 },",
                "{ 0x15, 2, 0, 0x00001388 },",
                "{ 0x28, 0, 0, 0x00000038 },",
                "{ 0x15, 0, 1, 0x00001388 },",
                "{ 0x6, 0, 0, 0xffffffff },",
                "{ 0x6, 0, 0, 0x00000000 },",
            ]
        );
    }

    #[test]
    fn cooked_layout_reads_the_protocol_from_the_kernel() {
        let p = program(Layout::Cooked, &spec(&[5000])).unwrap();
        assert_eq!(
            p[0],
            Insn {
                code: LD_W_ABS,
                jt: 0,
                jf: 0,
                k: SKF_AD_OFF + SKF_AD_PROTOCOL
            }
        );
        // Network header at 0: the IPv4 protocol byte is byte 9.
        assert!(p.contains(&Insn {
            code: LD_B_ABS,
            jt: 0,
            jf: 0,
            k: 9
        }));
    }

    #[test]
    fn loopback_outgoing_copies_are_dropped_and_others_kept() {
        for ports in [vec![], vec![5000]] {
            let p = program(
                Layout::Cooked,
                &Spec {
                    ports: ports.clone(),
                    drop_outgoing_on: Some(1),
                    only_ifindexes: vec![],
                    expression: None,
                },
            )
            .unwrap();
            let net = ipv4(6, 0, &ports_of(5000));
            let ctx = |pkttype, ifindex| Context {
                protocol: 0x0800,
                pkttype,
                ifindex,
            };
            assert_eq!(run(&p, &net, ctx(4, 1)), Some(0), "{ports:?}");
            assert_eq!(run(&p, &net, ctx(0, 1)), Some(ACCEPT_ALL), "{ports:?}");
            assert_eq!(run(&p, &net, ctx(4, 2)), Some(ACCEPT_ALL), "{ports:?}");
            let other = ipv4(6, 0, &ports_of(1));
            let want = if ports.is_empty() { ACCEPT_ALL } else { 0 };
            assert_eq!(run(&p, &other, ctx(0, 1)), Some(want), "{ports:?}");
        }
    }

    fn ports_of(port: u16) -> Vec<u8> {
        ports(40000, port)
    }

    #[test]
    fn interface_sets_keep_only_their_interfaces() {
        for ports in [vec![], vec![5000]] {
            let p = program(
                Layout::Cooked,
                &Spec {
                    ports: ports.clone(),
                    drop_outgoing_on: Some(1),
                    only_ifindexes: vec![1, 7],
                    expression: None,
                },
            )
            .unwrap();
            let net = ipv4(17, 0, &ports_of(5000));
            let ctx = |pkttype, ifindex| Context {
                protocol: 0x0800,
                pkttype,
                ifindex,
            };
            assert_eq!(run(&p, &net, ctx(0, 1)), Some(ACCEPT_ALL));
            assert_eq!(run(&p, &net, ctx(4, 7)), Some(ACCEPT_ALL));
            assert_eq!(run(&p, &net, ctx(0, 3)), Some(0));
            assert_eq!(run(&p, &net, ctx(4, 1)), Some(0));
        }
    }

    #[test]
    fn no_ports_and_no_prefix_keeps_everything() {
        let p = program(Layout::Ethernet, &Spec::default()).unwrap();
        assert_eq!(
            p,
            vec![
                Insn {
                    code: RET_K,
                    jt: 0,
                    jf: 0,
                    k: ACCEPT_ALL
                },
                Insn {
                    code: RET_K,
                    jt: 0,
                    jf: 0,
                    k: 0
                }
            ]
        );
    }

    #[test]
    fn ports_and_an_expression_must_both_pass() {
        let udp = crate::filter::Filter::parse("udp").unwrap();
        for layout in [Layout::Ethernet, Layout::Cooked] {
            for (ports, drop_outgoing_on) in
                [(vec![5000], None), (vec![], Some(1)), (vec![5000], Some(1))]
            {
                let p = program(
                    layout,
                    &Spec {
                        ports: ports.clone(),
                        drop_outgoing_on,
                        only_ifindexes: vec![],
                        expression: Some(
                            udp.program(crate::filter::Target::Kernel(layout)).unwrap(),
                        ),
                    },
                )
                .unwrap();
                let verdict = |net: Vec<u8>, pkttype: u8| {
                    let ctx = Context {
                        protocol: 0x0800,
                        pkttype,
                        ifindex: 1,
                    };
                    let frame = match layout {
                        Layout::Ethernet => ether(0x0800, &net),
                        Layout::Cooked => net,
                    };
                    run(&p, &frame, ctx).unwrap() != 0
                };
                let case = format!("{layout:?} {ports:?} {drop_outgoing_on:?}");
                assert!(verdict(ipv4(17, 0, &ports_of(5000)), 0), "{case}");
                assert!(!verdict(ipv4(6, 0, &ports_of(5000)), 0), "{case}");
                assert_eq!(
                    verdict(ipv4(17, 0, &ports_of(1)), 0),
                    ports.is_empty(),
                    "{case}"
                );
                assert_eq!(
                    verdict(ipv4(17, 0, &ports_of(5000)), 4),
                    drop_outgoing_on.is_none(),
                    "{case}"
                );
            }
        }
    }

    #[test]
    fn too_many_ports_is_an_error_not_a_wrong_program() {
        let many: Vec<u16> = (1..=MAX_PORTS as u16).collect();
        let p = program(Layout::Ethernet, &spec(&many)).unwrap();
        let frame = ether(0x0800, &ipv4(6, 0, &ports(1000, MAX_PORTS as u16)));
        assert_eq!(run(&p, &frame, Context::default()), Some(ACCEPT_ALL));
        let many: Vec<u16> = (1..=MAX_PORTS as u16 + 1).collect();
        assert_eq!(program(Layout::Ethernet, &spec(&many)), Err(TooLarge));
    }
}
