//! A frame as Wireshark's packet-details pane shows it (`tshark -V`):
//! the frame, the link layer, the IP header, TCP, UDP or ICMP field by
//! field, and the process that sent it.
//!
//! Each line is a [`Field`] that names the tshark field it shows
//! (`tcp.analysis.acks_frame`) and its value as `tshark -T fields` prints
//! it, so the pane can be checked against tshark value by value. Header
//! fields are read from the frame's bytes; what the header cannot say
//! (relative numbers, the scaled window, the frame an ACK answers) comes
//! from the analysis, in `Row::tcp`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Duration;

use crate::analyze::{Findings, Kind, Row, TcpNumbers};
use crate::decode::bytes::{Fields, check_len, range, tail};
use crate::decode::{
    ChecksumOf, EthernetView, IPV4_MIN_LEN, IPV6_LEN, IcmpView, Ipv4View, Ipv6View, LinkType,
    Sll2View, SllView, TcpOption, TcpView, UdpView, ip_offset, tcp_options,
};
use crate::owners::Owner;
use crate::sink::Shown;

/// One line of the pane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// Nesting: 0 for a layer's heading.
    pub depth: usize,
    /// The line as shown.
    pub text: String,
    /// tshark's name for the field (`ip.ttl`), empty for a line that
    /// only heads or explains.
    pub name: &'static str,
    /// Its value as `tshark -T fields` prints it.
    pub value: String,
}

/// What a frame's details depend on beyond its bytes and row.
#[derive(Debug, Clone, Copy, Default)]
pub struct Context {
    /// tshark's `tcp.stream` or `udp.stream` (from 0) of the frame's
    /// connection.
    pub(crate) stream: Option<usize>,
    /// tshark's `[Conversation completeness]` bits before this frame.
    pub(crate) completeness: Option<u8>,
    /// The frame's interface is known (a live capture's; a file's frames
    /// name only the file).
    pub(crate) interface: bool,
}

/// tshark's stream index of each connection: TCP and UDP counted apart,
/// each from 0, in the order their first frames are shown.
#[derive(Debug, Default)]
pub struct Streams {
    /// Each connection's stream index and completeness bits so far.
    index: HashMap<usize, (usize, u8)>,
    tcp: usize,
    udp: usize,
}

impl Streams {
    /// What the pane of `row` needs beyond the row: call it for every
    /// row shown, in order.
    pub fn context(&mut self, frame: &Shown<'_>, row: &Row) -> Context {
        let Some(conn) = row.conn else {
            return Context::default();
        };
        let counter = match row.kind {
            Kind::Tcp => &mut self.tcp,
            Kind::Udp => &mut self.udp,
            _ => return Context::default(),
        };
        let (stream, bits) = self.index.entry(conn).or_insert_with(|| {
            *counter += 1;
            (*counter - 1, 0)
        });
        let mut context = Context {
            stream: Some(*stream),
            ..Context::default()
        };
        if row.kind == Kind::Tcp
            && let Some((tcp, wire)) = tcp_segment(frame)
            && let Ok(tcp) = TcpView::new_checked(tcp)
        {
            // tshark shows what the frames before this one made of the
            // conversation; a SYN that reuses a finished connection's ports
            // is counted first, as tshark starts the new conversation.
            context.completeness = Some(if row.analysis.ports_reused {
                *bits | SYN_SENT
            } else {
                *bits
            });
            let flags = tcp.flag_bits();
            let (syn, ack) = (flags & 2 != 0, flags & 0x10 != 0);
            let hdr = tcp.header_len();
            *bits |= match (syn, ack) {
                (true, false) => SYN_SENT,
                (true, true) => SYN_ACK,
                (false, true) => ACK,
                (false, false) => 0,
            };
            if wire > hdr {
                *bits |= DATA;
            }
            if flags & 1 != 0 {
                *bits |= FIN;
            }
            if flags & 4 != 0 {
                *bits |= RST;
            }
        }
        context
    }
}

/// tshark's completeness bits: what a TCP conversation has shown so far.
const SYN_SENT: u8 = 1;
const SYN_ACK: u8 = 2;
const ACK: u8 = 4;
const DATA: u8 = 8;
const FIN: u8 = 16;
const RST: u8 = 32;

/// A frame's TCP segment as captured, and its length as sent.
fn tcp_segment<'a>(frame: &Shown<'a>) -> Option<(&'a [u8], usize)> {
    let ip = tail(frame.data, ip_offset(frame.link, frame.data)?);
    match ip.first()? >> 4 {
        4 => {
            let v = Ipv4View::new_checked(ip).ok()?;
            if v.protocol() != 6 || v.flags_offset() & 0x1fff != 0 {
                return None;
            }
            let ihl = v.header_len();
            let total = usize::from(v.total_len()).max(ihl);
            Some((range(ip, ihl, total), total - ihl))
        }
        6 => {
            let v = Ipv6View::new_checked(ip).ok()?;
            if v.next_header() != 6 {
                return None;
            }
            let plen = usize::from(v.payload_len());
            Some((range(ip, IPV6_LEN, IPV6_LEN + plen), plen))
        }
        _ => None,
    }
}

/// Builds the lines.
#[derive(Default)]
struct Pane {
    fields: Vec<Field>,
}

impl Pane {
    fn line(&mut self, depth: usize, text: String) {
        self.fields.push(Field {
            depth,
            text,
            name: "",
            value: String::new(),
        });
    }

    /// A field shown as `label: value`.
    fn field(&mut self, depth: usize, name: &'static str, label: &str, value: impl ToString) {
        let value = value.to_string();
        self.fields.push(Field {
            depth,
            text: format!("{label}: {value}"),
            name,
            value,
        });
    }

    /// A field shown otherwise than tshark's value.
    fn shown(&mut self, depth: usize, name: &'static str, text: String, value: impl ToString) {
        self.fields.push(Field {
            depth,
            text,
            name,
            value: value.to_string(),
        });
    }

    /// One bit (or a few) of a flags field, drawn as tshark does:
    /// `.... ...1 .... = Acknowledgment: Set`.
    #[allow(clippy::too_many_arguments)]
    fn bits(
        &mut self,
        depth: usize,
        name: &'static str,
        width: u32,
        shift: u32,
        count: u32,
        value: u32,
        label: &str,
    ) {
        let v = (value >> shift) & ((1 << count) - 1);
        let mut drawn = String::new();
        for i in (0..width).rev() {
            let c = if i >= shift && i < shift + count {
                if (value >> i) & 1 == 1 { '1' } else { '0' }
            } else {
                '.'
            };
            drawn.push(c);
            if i % 4 == 0 && i > 0 {
                drawn.push(' ');
            }
        }
        let word = if count == 1 {
            if v == 1 { "Set" } else { "Not set" }
        } else if v == 0 {
            "Not set"
        } else {
            "Set"
        };
        self.shown(
            depth,
            name,
            format!("{drawn} = {label}: {word}"),
            if count == 1 {
                v.to_string()
            } else {
                u32::from(v != 0).to_string()
            },
        );
    }
}

/// Seconds with nine decimals, as tshark prints times.
fn seconds(d: Duration) -> String {
    format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
}

/// The pane for one frame.
pub fn fields(
    frame: &Shown<'_>,
    row: &Row,
    sender: Option<&Owner>,
    context: Context,
) -> Vec<Field> {
    let mut p = Pane::default();
    let (wire, cap) = (frame.wire_len, frame.data.len());
    let mut head = format!(
        "Frame {}: {wire} bytes on wire ({} bits), {cap} bytes captured ({} bits)",
        row.no,
        u64::from(wire) * 8,
        cap * 8
    );
    if context.interface {
        let _ = write!(head, " on interface {}", frame.iface);
    }
    p.line(0, head);
    p.field(
        1,
        "frame.time_epoch",
        "Epoch Time",
        format!("{} seconds", seconds(frame.time)),
    );
    if let Some(last) = p.fields.last_mut() {
        last.value = seconds(frame.time);
    }
    p.shown(
        1,
        "frame.time_relative",
        format!(
            "[Time since reference or first frame: {} seconds]",
            row.time.to_decimals(9)
        ),
        row.time.to_decimals(9),
    );
    p.field(1, "frame.number", "Frame Number", row.no);
    p.shown(
        1,
        "frame.len",
        format!("Frame Length: {wire} bytes ({} bits)", u64::from(wire) * 8),
        wire,
    );
    p.shown(
        1,
        "frame.cap_len",
        format!("Capture Length: {cap} bytes ({} bits)", cap * 8),
        cap,
    );
    let cut = frame.data.len() < wire as usize;
    link_layer(&mut p, frame.link, frame.data, cut);
    if let Some(off) = ip_offset(frame.link, frame.data) {
        let ip = tail(frame.data, off);
        let at = Layer {
            row,
            context,
            cut,
            ip_wire: (wire as usize).saturating_sub(off),
        };
        match ip.first().map(|v| v >> 4) {
            Some(4) => ipv4_header(&mut p, ip, at),
            Some(6) => ipv6_header(&mut p, ip, at),
            _ => {}
        }
    }
    p.line(
        0,
        match sender {
            Some(o) => {
                let mut s = format!("Process: pid {}, {}", o.pid, o.program());
                let cmd: Vec<&str> = o
                    .cmd
                    .iter()
                    .map(String::as_str)
                    .chain(o.args.iter().map(String::as_str))
                    .collect();
                if !cmd.is_empty() {
                    let _ = write!(s, ", {}", cmd.join(" "));
                }
                s
            }
            None => "Process: unknown".to_string(),
        },
    );
    p.fields
}

/// Writes the pane as text, four spaces a level.
pub fn write(out: &mut impl std::io::Write, fields: &[Field]) -> std::io::Result<()> {
    for f in fields {
        writeln!(out, "{:width$}{}", "", f.text, width = f.depth * 4)?;
    }
    writeln!(out)
}

fn ethertype_name(t: u16) -> &'static str {
    match t {
        0x0800 => "IPv4",
        0x86dd => "IPv6",
        0x0806 => "ARP",
        0x8100 => "802.1Q Virtual LAN",
        0x88cc => "802.1 Link Layer Discovery Protocol (LLDP)",
        _ => "Unknown",
    }
}

/// What every layer's lines depend on beyond its bytes.
#[derive(Clone, Copy)]
struct Layer<'a> {
    row: &'a Row,
    context: Context,
    /// The frame was cut by the snap length.
    cut: bool,
    /// The IP packet's length on the wire, for a length field of 0 (a
    /// segmentation-offload super-packet, a jumbogram).
    ip_wire: usize,
}

/// A header cut short, as tshark ends a frame's pane: cut by the snap
/// length, or shorter than its header as it was sent.
fn short(p: &mut Pane, protocol: &str, cut: bool) {
    p.line(
        0,
        if cut {
            format!("[Packet size limited during capture: {protocol} truncated]")
        } else {
            format!("[Malformed Packet: {protocol}]")
        },
    );
}

/// A MAC address as tshark's pane and fields give it (the table's
/// columns say `Broadcast`).
fn mac_text(m: [u8; 6]) -> String {
    m.map(|b| format!("{b:02x}")).join(":")
}

fn link_layer(p: &mut Pane, link: LinkType, d: &[u8], cut: bool) {
    match link {
        LinkType::Ethernet => {
            let Ok(h) = EthernetView::new_checked(d) else {
                return short(p, "Ethernet", cut);
            };
            let (src, dst) = (mac_text(h.src()), mac_text(h.dst()));
            p.line(0, format!("Ethernet II, Src: {src}, Dst: {dst}"));
            p.field(1, "eth.dst", "Destination", dst);
            p.field(1, "eth.src", "Source", src);
            let t = h.ethertype();
            p.shown(
                1,
                "eth.type",
                format!("Type: {} (0x{t:04x})", ethertype_name(t)),
                format!("0x{t:04x}"),
            );
        }
        LinkType::LinuxSll => {
            let Ok(h) = SllView::new_checked(d) else {
                return short(p, "SLL", cut);
            };
            p.line(0, "Linux cooked capture v1".into());
            p.field(1, "sll.pkttype", "Packet type", h.pkttype());
            p.field(1, "sll.hatype", "Link-layer address type", h.hatype());
            p.field(1, "sll.halen", "Link-layer address length", h.halen());
            if let Some(src) = h.src() {
                p.field(1, "sll.src.eth", "Source", mac_text(src));
            }
            let t = h.protocol();
            p.shown(
                1,
                "sll.etype",
                format!("Protocol: {} (0x{t:04x})", ethertype_name(t)),
                format!("0x{t:04x}"),
            );
        }
        LinkType::LinuxSll2 => {
            let Ok(h) = Sll2View::new_checked(d) else {
                return short(p, "SLL", cut);
            };
            p.line(0, "Linux cooked capture v2".into());
            let t = h.protocol();
            p.shown(
                1,
                "sll.etype",
                format!("Protocol: {} (0x{t:04x})", ethertype_name(t)),
                format!("0x{t:04x}"),
            );
            p.field(1, "sll.ifindex", "Interface index", h.ifindex());
            p.field(1, "sll.hatype", "Link-layer address type", h.hatype());
            p.field(1, "sll.pkttype", "Packet type", h.pkttype());
            p.field(1, "sll.halen", "Link-layer address length", h.halen());
            if let Some(src) = h.src() {
                p.field(1, "sll.src.eth", "Source", mac_text(src));
            }
        }
        _ => {}
    }
}

fn protocol_name(n: u8) -> &'static str {
    match n {
        1 => "ICMP",
        6 => "TCP",
        17 => "UDP",
        58 => "ICMPv6",
        _ => "Unknown",
    }
}

/// DSCP and ECN, shared by IPv4's DS field and IPv6's traffic class.
fn ds_bits(p: &mut Pane, prefix: &str, ds: u8, dscp: &'static str, ecn: &'static str) {
    p.shown(
        2,
        dscp,
        format!(
            "{prefix}{}{}{}{} {}{}.. = Differentiated Services Codepoint: {}",
            ds >> 7,
            ds >> 6 & 1,
            ds >> 5 & 1,
            ds >> 4 & 1,
            ds >> 3 & 1,
            ds >> 2 & 1,
            ds >> 2
        ),
        ds >> 2,
    );
    p.shown(
        2,
        ecn,
        format!(
            "{prefix}.... ..{}{} = Explicit Congestion Notification: {}",
            ds >> 1 & 1,
            ds & 1,
            ds & 3
        ),
        ds & 3,
    );
}

fn ipv4_header(p: &mut Pane, ip: &[u8], at: Layer<'_>) {
    let Ok(v) = Ipv4View::new_checked(ip) else {
        return short(p, "IPv4", at.cut);
    };
    let (src, dst) = (v.src(), v.dst());
    let ihl = v.header_len();
    if ihl < IPV4_MIN_LEN {
        // Nothing after the header length can be placed: tshark stops
        // there.
        p.line(0, "Internet Protocol Version 4".into());
        p.shown(1, "ip.version", "0100 .... = Version: 4".into(), 4);
        p.shown(
            1,
            "ip.hdr_len",
            format!("Header Length: {ihl} bytes ({})", ihl / 4),
            ihl,
        );
        p.line(
            2,
            format!("[Bogus IP header length ({ihl}, must be at least {IPV4_MIN_LEN})]"),
        );
        return;
    }
    p.line(
        0,
        format!("Internet Protocol Version 4, Src: {src}, Dst: {dst}"),
    );
    p.shown(1, "ip.version", "0100 .... = Version: 4".into(), 4);
    p.shown(
        1,
        "ip.hdr_len",
        format!("Header Length: {ihl} bytes ({})", ihl / 4),
        ihl,
    );
    let ds = v.ds();
    p.shown(
        1,
        "ip.dsfield",
        format!(
            "Differentiated Services Field: 0x{ds:02x} (DSCP: {}, ECN: {})",
            ds >> 2,
            ds & 3
        ),
        format!("0x{ds:02x}"),
    );
    ds_bits(p, "", ds, "ip.dsfield.dscp", "ip.dsfield.ecn");
    p.field(1, "ip.len", "Total Length", v.total_len());
    let id = v.ident();
    p.shown(
        1,
        "ip.id",
        format!("Identification: 0x{id:04x} ({id})"),
        format!("0x{id:04x}"),
    );
    let fo = v.flags_offset();
    p.shown(
        1,
        "ip.flags",
        format!("Flags: 0x{:x}", fo >> 13),
        format!("0x{:02x}", fo >> 13),
    );
    let flags = u32::from(fo >> 8);
    p.bits(2, "ip.flags.rb", 8, 7, 1, flags, "Reserved bit");
    p.bits(2, "ip.flags.df", 8, 6, 1, flags, "Don't fragment");
    p.bits(2, "ip.flags.mf", 8, 5, 1, flags, "More fragments");
    // tshark's value counts 8-byte units; its pane shows bytes.
    p.shown(
        1,
        "ip.frag_offset",
        format!("Fragment Offset: {}", u32::from(fo & 0x1fff) * 8),
        fo & 0x1fff,
    );
    p.field(1, "ip.ttl", "Time to Live", v.ttl());
    let proto = v.protocol();
    p.shown(
        1,
        "ip.proto",
        format!("Protocol: {} ({proto})", protocol_name(proto)),
        proto,
    );
    checksum(
        p,
        ["ip.checksum", "ip.checksum.status"],
        [
            "Header Checksum",
            "Header checksum status",
            "validation disabled",
        ],
        v.checksum(),
        at.row,
        ChecksumOf::Ipv4,
    );
    p.field(1, "ip.src", "Source Address", src);
    p.field(1, "ip.dst", "Destination Address", dst);
    if v.header().is_err() {
        return short(p, "IPv4", at.cut);
    }
    // Only a first fragment (or a whole datagram) starts with the
    // transport header.
    if fo & 0x1fff == 0 {
        // A total length of 0: the frame's length tells, as the decoder
        // reads it.
        let total = match v.total_len() {
            0 => at.ip_wire.max(ip.len()),
            t => usize::from(t),
        }
        .max(ihl);
        let b = range(ip, ihl, total);
        let whole = fo & 0x2000 == 0;
        transport(p, proto, b, total - ihl, whole, at);
    }
}

fn ipv6_header(p: &mut Pane, ip: &[u8], at: Layer<'_>) {
    let Ok(v) = Ipv6View::new_checked(ip) else {
        return short(p, "IPv6", at.cut);
    };
    let (src, dst) = (v.src(), v.dst());
    p.line(
        0,
        format!("Internet Protocol Version 6, Src: {src}, Dst: {dst}"),
    );
    p.shown(1, "ipv6.version", "0110 .... = Version: 6".into(), 6);
    let word = v.first_word();
    let tclass = ((word >> 20) & 0xff) as u8;
    p.shown(
        1,
        "ipv6.tclass",
        format!("Traffic Class: 0x{tclass:02x}"),
        format!("0x{tclass:08x}"),
    );
    ds_bits(p, ".... ", tclass, "ipv6.tclass.dscp", "ipv6.tclass.ecn");
    p.shown(
        1,
        "ipv6.flow",
        format!("Flow Label: 0x{:05x}", word & 0xfffff),
        format!("0x{:06x}", word & 0xfffff),
    );
    let plen = v.payload_len();
    p.field(1, "ipv6.plen", "Payload Length", plen);
    let next = v.next_header();
    p.shown(
        1,
        "ipv6.nxt",
        format!("Next Header: {} ({next})", protocol_name(next)),
        next,
    );
    p.field(1, "ipv6.hlim", "Hop Limit", v.hop_limit());
    p.field(1, "ipv6.src", "Source Address", src);
    p.field(1, "ipv6.dst", "Destination Address", dst);
    // Extension headers are not drawn: the transport follows the fixed
    // header only when nothing comes between.
    if matches!(next, 1 | 6 | 17 | 58) {
        // A payload length of 0 (a jumbogram, a super-packet): the
        // frame's length tells, as the decoder reads it.
        let len = match plen {
            0 => at.ip_wire.max(ip.len()).saturating_sub(IPV6_LEN),
            n => usize::from(n),
        };
        let b = range(ip, IPV6_LEN, IPV6_LEN + len);
        transport(p, next, b, len, true, at);
    }
}

/// `b` is what was captured of the transport, `wire` its length as sent;
/// `whole`: not the first fragment of a larger datagram (whose header a
/// later fragment may complete).
fn transport(p: &mut Pane, proto: u8, b: &[u8], wire: usize, whole: bool, at: Layer<'_>) {
    // A header cut short ends the pane, unless a later fragment may
    // complete it.
    let short_if_whole = |p: &mut Pane, name: &str| {
        if whole {
            short(p, name, at.cut);
        }
    };
    match proto {
        6 => match TcpView::new_checked(b) {
            Ok(h) if at.row.kind == Kind::Tcp => tcp(p, h, wire, at),
            Ok(_) => {}
            Err(_) => short_if_whole(p, "TCP"),
        },
        // The pane draws the whole header, checksum included.
        17 => match UdpView::new_checked(b) {
            Ok(h) if h.checksum().is_some() => {
                if at.row.kind == Kind::Udp {
                    udp(p, h, at);
                }
            }
            _ => short_if_whole(p, "UDP"),
        },
        1 => match IcmpView::new_checked(b) {
            Ok(h) => icmp(p, h, b),
            Err(_) => short_if_whole(p, "ICMP"),
        },
        58 => match IcmpView::new_checked(b) {
            Ok(h) => icmpv6(p, h),
            Err(_) => short_if_whole(p, "ICMPv6"),
        },
        _ => {}
    }
}

/// tshark's words for a conversation's completeness bits.
fn completeness(bits: u8) -> &'static str {
    match bits {
        1 => "Incomplete, SYN_SENT",
        3 => "Incomplete, CLIENT_ESTABLISHED",
        7 => "Incomplete, ESTABLISHED",
        15 => "Incomplete, DATA",
        31 | 47 | 63 => "Complete, WITH_DATA",
        23 | 39 | 55 => "Complete, NO_DATA",
        _ => "Incomplete",
    }
}

/// TCP header flag names, from the AE bit down, as tshark spells them.
const TCP_FLAGS: [(&str, &str); 9] = [
    ("tcp.flags.ae", "Accurate ECN"),
    ("tcp.flags.cwr", "Congestion Window Reduced"),
    ("tcp.flags.ece", "ECN-Echo"),
    ("tcp.flags.urg", "Urgent"),
    ("tcp.flags.ack", "Acknowledgment"),
    ("tcp.flags.push", "Push"),
    ("tcp.flags.reset", "Reset"),
    ("tcp.flags.syn", "Syn"),
    ("tcp.flags.fin", "Fin"),
];

fn tcp(p: &mut Pane, h: TcpView<'_>, wire: usize, at: Layer<'_>) {
    let (row, context) = (at.row, at.context);
    // A frame corrupted on the way is in no connection: its numbers are
    // shown as sent, relative to nothing.
    let n = row.tcp.unwrap_or(TcpNumbers {
        seq_base: 0,
        ack_base: 0,
        window: u64::from(h.window()),
        scale_factor: -1,
        acks: None,
        initial_rtt: None,
    });
    let analysed = row.tcp.is_some();
    let relative = |what: &str| {
        if analysed {
            format!("    (relative {what} number)")
        } else {
            String::new()
        }
    };
    let (sport, dport) = (h.src_port(), h.dst_port());
    let hdr = h.header_len();
    // The segment's length on the wire, whatever was captured.
    let seg_len = wire.saturating_sub(hdr) as u32;
    let (seq, ack) = (h.seq(), h.ack());
    let bits = u32::from(h.flag_bits());
    let (syn, fin, has_ack) = (bits & 2 != 0, bits & 1 != 0, bits & 0x10 != 0);
    let rel_seq = seq.wrapping_sub(n.seq_base);
    let next = rel_seq
        .wrapping_add(seg_len)
        .wrapping_add(u32::from(syn) + u32::from(fin));
    p.line(
        0,
        format!(
            "Transmission Control Protocol, Src Port: {sport}, Dst Port: {dport}, Len: {seg_len}"
        ),
    );
    p.field(1, "tcp.srcport", "Source Port", sport);
    p.field(1, "tcp.dstport", "Destination Port", dport);
    if let Some(s) = context.stream {
        p.shown(1, "tcp.stream", format!("[Stream index: {s}]"), s);
    }
    if let Some(c) = context.completeness {
        p.shown(
            1,
            "tcp.completeness",
            format!("[Conversation completeness: {} ({c})]", completeness(c)),
            c,
        );
    }
    p.shown(
        1,
        "tcp.len",
        format!("[TCP Segment Len: {seg_len}]"),
        seg_len,
    );
    p.shown(
        1,
        "tcp.seq",
        format!("Sequence Number: {rel_seq}{}", relative("sequence")),
        rel_seq,
    );
    p.field(1, "tcp.seq_raw", "Sequence Number (raw)", seq);
    p.shown(
        1,
        "tcp.nxtseq",
        format!("[Next Sequence Number: {next}{}]", relative("sequence")),
        next,
    );
    if has_ack {
        let rel = ack.wrapping_sub(n.ack_base);
        p.shown(
            1,
            "tcp.ack",
            format!("Acknowledgment Number: {rel}{}", relative("ack")),
            rel,
        );
    } else {
        p.field(1, "tcp.ack", "Acknowledgment Number", 0);
    }
    p.field(1, "tcp.ack_raw", "Acknowledgment number (raw)", ack);
    p.shown(
        1,
        "tcp.hdr_len",
        format!(
            "{:04b} .... = Header Length: {hdr} bytes ({})",
            hdr / 4,
            hdr / 4
        ),
        hdr,
    );
    p.shown(
        1,
        "tcp.flags",
        format!("Flags: 0x{bits:03x} {}", flags_words(bits)),
        format!("0x{bits:04x}"),
    );
    let reserved = u32::from(h.reserved());
    p.shown(
        2,
        "tcp.flags.res",
        format!(
            "{:03b}. .... .... = Reserved: {}",
            reserved,
            if reserved == 0 { "Not set" } else { "Set" }
        ),
        reserved,
    );
    for (i, (name, label)) in TCP_FLAGS.iter().enumerate() {
        p.bits(2, name, 12, 8 - i as u32, 1, bits, label);
    }
    let window = h.window();
    p.field(1, "tcp.window_size_value", "Window", window);
    p.shown(
        1,
        "tcp.window_size",
        format!("[Calculated window size: {}]", n.window),
        n.window,
    );
    if !syn {
        let words = match n.scale_factor {
            -1 => " (unknown)",
            -2 => " (no window scaling used)",
            _ => "",
        };
        p.shown(
            1,
            "tcp.window_size_scalefactor",
            format!("[Window size scaling factor: {}{words}]", n.scale_factor),
            n.scale_factor,
        );
    }
    checksum(
        p,
        ["tcp.checksum", "tcp.checksum.status"],
        ["Checksum", "Checksum Status", "unverified"],
        h.checksum(),
        row,
        ChecksumOf::Tcp,
    );
    p.field(1, "tcp.urgent_pointer", "Urgent Pointer", h.urgent());
    tcp_option_lines(p, h.options(), n);
    // tshark's analysis stops where a header was cut.
    if !h.header_cut() && analysed {
        seq_ack(p, &n, &row.analysis, seg_len);
    }
    if seg_len > 0 {
        p.line(1, format!("TCP payload ({seg_len} bytes)"));
    }
}

/// A checksum and its status: bad where the frame was found corrupted
/// (its receiver dropped it), else unverified, as tshark's default.
/// `names` are the two fields', `words` their labels and the unverified
/// note.
fn checksum(
    p: &mut Pane,
    names: [&'static str; 2],
    words: [&str; 3],
    sum: u16,
    row: &Row,
    of: ChecksumOf,
) {
    match row.bad_checksum.filter(|b| b.of == of) {
        Some(bad) => {
            p.shown(
                1,
                names[0],
                format!(
                    "{}: 0x{sum:04x} incorrect, should be 0x{:04x}",
                    words[0], bad.expected
                ),
                format!("0x{sum:04x}"),
            );
            p.shown(1, names[1], format!("[{}: Bad]", words[1]), 0);
            p.line(
                1,
                "[Corrupted on the way: its receiver dropped it; left out of the analysis]".into(),
            );
        }
        None => {
            p.shown(
                1,
                names[0],
                format!("{}: 0x{sum:04x} [{}]", words[0], words[2]),
                format!("0x{sum:04x}"),
            );
            p.shown(1, names[1], format!("[{}: Unverified]", words[1]), 2);
        }
    }
}

/// `(SYN, ACK)`: the flags set, in tshark's order.
fn flags_words(bits: u32) -> String {
    let names = [
        (0x002, "SYN"),
        (0x010, "ACK"),
        (0x008, "PSH"),
        (0x001, "FIN"),
        (0x004, "RST"),
        (0x020, "URG"),
        (0x040, "ECE"),
        (0x080, "CWR"),
        (0x100, "AE"),
    ];
    let set: Vec<&str> = names
        .iter()
        .filter(|(bit, _)| bits & bit != 0)
        .map(|(_, n)| *n)
        .collect();
    if set.is_empty() {
        "(<None>)".into()
    } else {
        format!("({})", set.join(", "))
    }
}

fn tcp_option_lines(p: &mut Pane, opts: &[u8], n: TcpNumbers) {
    if opts.is_empty() {
        return;
    }
    p.line(1, format!("Options: ({} bytes)", opts.len()));
    for option in tcp_options(opts) {
        let (kind, o) = match option {
            TcpOption::End => {
                p.shown(
                    2,
                    "tcp.option_kind",
                    "TCP Option - End of Option List (EOL)".into(),
                    0,
                );
                break;
            }
            TcpOption::Nop => {
                p.shown(
                    2,
                    "tcp.option_kind",
                    "TCP Option - No-Operation (NOP)".into(),
                    1,
                );
                continue;
            }
            TcpOption::Malformed => {
                p.line(2, "TCP Option: (malformed or cut)".into());
                break;
            }
            TcpOption::Other(kind, o) => (kind, o),
        };
        let (heading, depth) = (option_heading(kind, o), 3);
        p.shown(
            2,
            "tcp.option_kind",
            format!("TCP Option - {heading}"),
            kind,
        );
        match (kind, o) {
            (2, &[_, _, a, b]) => p.field(
                depth,
                "tcp.options.mss_val",
                "MSS Value",
                u16::from_be_bytes([a, b]),
            ),
            (3, &[_, _, shift]) => {
                p.field(depth, "tcp.options.wscale.shift", "Shift count", shift);
                p.shown(
                    depth,
                    "tcp.options.wscale.multiplier",
                    format!("[Multiplier: {}]", 1u32 << shift.min(14)),
                    1u32 << shift.min(14),
                );
            }
            (8, o) => {
                if let Some((tsval, tsecr)) = timestamps(o) {
                    p.field(
                        depth,
                        "tcp.options.timestamp.tsval",
                        "Timestamp value",
                        tsval,
                    );
                    p.field(
                        depth,
                        "tcp.options.timestamp.tsecr",
                        "Timestamp echo reply",
                        tsecr,
                    );
                }
            }
            (5, o) => {
                // Blocks of two edges after the kind and length.
                for block in tail(o, 2).chunks_exact(8) {
                    let Ok(block) = check_len::<8>(block, 0) else {
                        break;
                    };
                    let left = block.be32::<0>().wrapping_sub(n.ack_base);
                    let right = block.be32::<4>().wrapping_sub(n.ack_base);
                    p.shown(
                        depth,
                        "tcp.options.sack_le",
                        format!("left edge = {left} (relative)"),
                        left,
                    );
                    p.shown(
                        depth,
                        "tcp.options.sack_re",
                        format!("right edge = {right} (relative)"),
                        right,
                    );
                }
            }
            _ => {}
        }
    }
}

/// The timestamps option's TSval and TSecr, when it is 10 bytes long.
fn timestamps(o: &[u8]) -> Option<(u32, u32)> {
    let o: &[u8; 10] = o.try_into().ok()?;
    Some((o.be32::<2>(), o.be32::<6>()))
}

/// An option's heading as tshark words it.
fn option_heading(kind: u8, o: &[u8]) -> String {
    match (kind, o) {
        (2, &[_, _, a, b]) => {
            format!("Maximum segment size: {} bytes", u16::from_be_bytes([a, b]))
        }
        (3, &[_, _, shift]) => format!(
            "Window scale: {shift} (multiply by {})",
            1u32 << shift.min(14)
        ),
        (4, &[_, _]) => "SACK permitted".into(),
        (5, _) => "SACK".into(),
        (8, o) if timestamps(o).is_some() => {
            let (tsval, tsecr) = timestamps(o).unwrap_or_default();
            format!("Timestamps: TSval {tsval}, TSecr {tsecr}")
        }
        (30, _) => "Multipath TCP".into(),
        (34, _) => "TCP Fast Open".into(),
        _ => format!("Kind {kind}, length {}", o.len()),
    }
}

/// tshark's `[SEQ/ACK analysis]`: the frame acknowledged, the RTT, and
/// what the analysis flagged. tshark shows it only for a segment that
/// acknowledges one, carries data or was flagged.
fn seq_ack(p: &mut Pane, n: &TcpNumbers, f: &Findings, seg_len: u32) {
    let mut tags = String::new();
    f.write_tags(&mut tags);
    if n.acks.is_none() && seg_len == 0 && tags.is_empty() {
        return;
    }
    p.line(1, "[SEQ/ACK analysis]".into());
    if let Some((frame, rtt)) = n.acks {
        p.shown(
            2,
            "tcp.analysis.acks_frame",
            format!("[This is an ACK to the segment in frame: {frame}]"),
            frame,
        );
        p.shown(
            2,
            "tcp.analysis.ack_rtt",
            format!("[The RTT to ACK the segment was: {} seconds]", seconds(rtt)),
            seconds(rtt),
        );
    }
    if let Some(rtt) = n.initial_rtt {
        p.shown(
            2,
            "tcp.analysis.initial_rtt",
            format!("[iRTT: {} seconds]", seconds(rtt)),
            seconds(rtt),
        );
    }
    if tags.is_empty() {
        return;
    }
    p.shown(2, "tcp.analysis.flags", "[TCP Analysis Flags]".into(), 1);
    // tshark's field and words for each finding; a fast or spurious
    // retransmission is a retransmission too.
    let found = [
        (
            f.resent(),
            "tcp.analysis.retransmission",
            "This frame is a (suspected) retransmission",
        ),
        (
            f.fast_retransmission,
            "tcp.analysis.fast_retransmission",
            "This frame is a (suspected) fast retransmission",
        ),
        (
            f.spurious_retransmission,
            "tcp.analysis.spurious_retransmission",
            "This frame is a (suspected) spurious retransmission",
        ),
        (
            f.out_of_order,
            "tcp.analysis.out_of_order",
            "This frame is a (suspected) out-of-order segment",
        ),
        (
            f.previous_not_captured,
            "tcp.analysis.lost_segment",
            "Previous segment(s) not captured (common at capture start)",
        ),
        (
            f.acked_unseen,
            "tcp.analysis.ack_lost_segment",
            "ACKed segment that wasn't captured (common at capture start)",
        ),
        (
            f.window_update,
            "tcp.analysis.window_update",
            "TCP window update",
        ),
        (
            f.window_full,
            "tcp.analysis.window_full",
            "TCP window specified by the receiver is now completely full",
        ),
        (
            f.keep_alive,
            "tcp.analysis.keep_alive",
            "TCP keep-alive segment",
        ),
        (
            f.keep_alive_ack,
            "tcp.analysis.keep_alive_ack",
            "ACK to a TCP keep-alive segment",
        ),
        (
            f.dup_ack.is_some(),
            "tcp.analysis.duplicate_ack",
            "This is a TCP duplicate ack",
        ),
        (
            f.zero_window,
            "tcp.analysis.zero_window",
            "TCP Zero Window segment",
        ),
        (
            f.zero_window_probe,
            "tcp.analysis.zero_window_probe",
            "TCP Zero Window Probe",
        ),
        (
            f.zero_window_probe_ack,
            "tcp.analysis.zero_window_probe_ack",
            "ACK to a TCP Zero Window Probe",
        ),
        (
            f.ports_reused,
            "tcp.analysis.reused_ports",
            "A new tcp session is started with the same ports as an earlier session in this trace",
        ),
    ];
    for (set, name, words) in found {
        if set {
            p.shown(3, name, format!("[{words}]"), 1);
        }
    }
    if f.overtaken {
        p.line(
            3,
            "[Not sent before: a later segment overtook it on the way]".into(),
        );
    }
    if let Some((frame, n)) = f.dup_ack {
        p.shown(
            2,
            "tcp.analysis.duplicate_ack_num",
            format!("[Duplicate ACK #: {n}]"),
            n,
        );
        p.shown(
            2,
            "tcp.analysis.duplicate_ack_frame",
            format!("[Duplicate to the ACK in frame: {frame}]"),
            frame,
        );
    }
}

fn udp(p: &mut Pane, h: UdpView<'_>, at: Layer<'_>) {
    let (sport, dport, len) = (h.src_port(), h.dst_port(), h.len());
    p.line(
        0,
        format!("User Datagram Protocol, Src Port: {sport}, Dst Port: {dport}"),
    );
    p.field(1, "udp.srcport", "Source Port", sport);
    p.field(1, "udp.dstport", "Destination Port", dport);
    p.field(1, "udp.length", "Length", len);
    if let Some(sum) = h.checksum() {
        checksum(
            p,
            ["udp.checksum", "udp.checksum.status"],
            ["Checksum", "Checksum Status", "unverified"],
            sum,
            at.row,
            ChecksumOf::Udp,
        );
    }
    if let Some(s) = at.context.stream {
        p.shown(1, "udp.stream", format!("[Stream index: {s}]"), s);
    }
    p.line(1, format!("UDP payload ({} bytes)", len.saturating_sub(8)));
}

/// The Internet checksum of `b` is right (sums to all ones).
fn checksum_ok(b: &[u8]) -> bool {
    let mut sum: u32 = b
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum == 0xffff
}

/// `b`: the whole message as captured, which its checksum covers.
fn icmp(p: &mut Pane, h: IcmpView<'_>, b: &[u8]) {
    let kind = h.kind();
    p.line(0, "Internet Control Message Protocol".into());
    p.field(1, "icmp.type", "Type", kind);
    p.field(1, "icmp.code", "Code", h.code());
    let sum = h.checksum();
    let (word, status) = if checksum_ok(b) {
        ("correct", 1)
    } else {
        ("incorrect", 0)
    };
    p.shown(
        1,
        "icmp.checksum",
        format!("Checksum: 0x{sum:04x} [{word}]"),
        format!("0x{sum:04x}"),
    );
    p.shown(
        1,
        "icmp.checksum.status",
        format!(
            "[Checksum Status: {}]",
            if status == 1 { "Good" } else { "Bad" }
        ),
        status,
    );
    if matches!(kind, 0 | 8)
        && let Some((id, seq)) = h.id_seq()
    {
        p.shown(
            1,
            "icmp.ident",
            format!("Identifier (BE): {id} (0x{id:04x})"),
            id,
        );
        p.shown(
            1,
            "icmp.seq",
            format!("Sequence Number (BE): {seq} (0x{seq:04x})"),
            seq,
        );
    }
}

fn icmpv6(p: &mut Pane, h: IcmpView<'_>) {
    p.line(0, "Internet Control Message Protocol v6".into());
    p.field(1, "icmpv6.type", "Type", h.kind());
    p.field(1, "icmpv6.code", "Code", h.code());
    let sum = h.checksum();
    p.shown(
        1,
        "icmpv6.checksum",
        format!("Checksum: 0x{sum:04x}"),
        format!("0x{sum:04x}"),
    );
}
