//! Byte-literal tests of every layer, and of the decoder's state.

use super::*;

/// The flags' label on its own.
trait Label {
    fn label(&self) -> String;
}

impl Label for Flags {
    fn label(&self) -> String {
        let mut s = String::new();
        self.write_label(&mut s);
        s
    }
}

#[test]
fn decodes_tcp_over_ethernet() {
    let c: SocketAddr = "127.0.0.1:52581".parse().unwrap();
    let s: SocketAddr = "127.0.0.1:13000".parse().unwrap();
    let frame = build::tcp(c, s, 1000, Some(7), "PA", b"hi");
    let p = decode(
        LinkType::Ethernet,
        &frame,
        Duration::ZERO,
        frame.len() as u32,
    )
    .unwrap();
    assert_eq!((p.src, p.dst), (c, s));
    let Transport::Tcp(t) = p.transport else {
        panic!("not tcp")
    };
    assert_eq!((t.seq, t.ack, t.payload.as_slice()), (1000, 7, &b"hi"[..]));
    assert_eq!(t.flags.label(), "[PSH, ACK]");
    assert_eq!(t.seq_len(), 2);
}

#[test]
fn decodes_udp_over_ipv6_and_raw_ip() {
    let c: SocketAddr = "[::1]:40000".parse().unwrap();
    let s: SocketAddr = "[::1]:12000".parse().unwrap();
    let frame = build::udp(c, s, b"amrita");
    let p = decode(LinkType::Ethernet, &frame, Duration::ZERO, 0).unwrap();
    assert_eq!(
        p.transport,
        Transport::Udp(Udp {
            len: 6,
            payload: b"amrita".to_vec()
        })
    );
    let raw = decode(LinkType::RawIp, &frame[14..], Duration::ZERO, 0).unwrap();
    assert_eq!(raw.src, c);
}

#[test]
fn garbage_is_none() {
    assert!(decode(LinkType::Ethernet, b"short", Duration::ZERO, 5).is_none());
    assert!(decode(LinkType::Null, b"", Duration::ZERO, 0).is_none());
}

#[test]
fn flag_labels() {
    let f = |syn, ack, fin, rst| {
        Flags {
            syn,
            ack,
            fin,
            rst,
            ..Flags::default()
        }
        .label()
    };
    assert_eq!(f(true, false, false, false), "[SYN]");
    assert_eq!(f(true, true, false, false), "[SYN, ACK]");
    assert_eq!(f(false, true, true, false), "[FIN, ACK]");
    assert_eq!(f(false, false, false, true), "[RST]");
}

const T: Duration = Duration::ZERO;

/// IPv4 + UDP 127.0.0.1:40000 → 127.0.0.1:12000, "hi".
const IPV4_UDP: [u8; 30] = [
    0x45, 0, 0, 30, 0, 0, 0x40, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1, //
    0x9c, 0x40, 0x2e, 0xe0, 0, 10, 0, 0, b'h', b'i',
];

/// IPv4 + TCP SYN 10.0.0.1:40000 → 10.0.0.2:13000, seq 1000, MSS, WS 7,
/// SACK permitted.
const IPV4_SYN: [u8; 52] = [
    0x45, 0, 0, 52, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, //
    0x9c, 0x40, 0x32, 0xc8, 0, 0, 0x03, 0xe8, 0, 0, 0, 0, 0x80, 0x02, 0xff, 0xd7, 0, 0, 0,
    0, //
    0x02, 0x04, 0xff, 0xd7, 0x01, 0x03, 0x03, 0x07, 0x04, 0x02, 0x01, 0x01,
];

/// IPv6 + UDP [::1]:40000 → [::1]:12000, "hi".
const IPV6_UDP: [u8; 50] = [
    0x60, 0, 0, 0, 0, 10, 17, 64, //
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, //
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, //
    0x9c, 0x40, 0x2e, 0xe0, 0, 10, 0, 0, b'h', b'i',
];

const MAC_A: [u8; 6] = [0xf2, 0xd0, 0xe4, 0x4f, 0xaf, 0x14];
const MAC_B: [u8; 6] = [0x26, 0x6d, 0x14, 0xd2, 0x91, 0xe3];

fn eth(ethertype: &[u8], rest: &[u8]) -> Vec<u8> {
    [&MAC_B[..], &MAC_A, ethertype, rest].concat()
}

fn packet(link: LinkType, data: &[u8]) -> Packet {
    match Decoder::new().decode(link, data, T, data.len() as u32) {
        Decoded::Packet(p) => p,
        Decoded::Other(o) => panic!("not a packet: {o:?}"),
    }
}

fn other(link: LinkType, data: &[u8], wire_len: u32) -> OtherFrame {
    match Decoder::new().decode(link, data, T, wire_len) {
        Decoded::Other(o) => o,
        Decoded::Packet(p) => panic!("a packet: {p:?}"),
    }
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn udp_of(p: &Packet) -> &Udp {
    match &p.transport {
        Transport::Udp(u) => u,
        t => panic!("not udp: {t:?}"),
    }
}

fn tcp_of(p: &Packet) -> &Tcp {
    match &p.transport {
        Transport::Tcp(t) => t,
        t => panic!("not tcp: {t:?}"),
    }
}

fn icmp_of(p: &Packet) -> &Icmp {
    match &p.transport {
        Transport::Icmp(i) => i,
        t => panic!("not icmp: {t:?}"),
    }
}

#[test]
fn test_parse_ethernet_ipv4_udp() {
    let p = packet(LinkType::Ethernet, &eth(&[0x08, 0x00], &IPV4_UDP));
    assert_eq!(
        (p.src, p.dst),
        (sa("127.0.0.1:40000"), sa("127.0.0.1:12000"))
    );
    assert_eq!(
        udp_of(&p),
        &Udp {
            len: 2,
            payload: b"hi".to_vec()
        }
    );
    assert_eq!((p.wire_len, p.cap_len, p.truncated()), (44, 44, false));
}

#[test]
fn test_parse_ethernet_padding_is_not_payload() {
    // A 60-byte minimum frame: the IP total length ends the payload.
    let mut f = eth(&[0x08, 0x00], &IPV4_UDP);
    f.resize(60, 0);
    let p = packet(LinkType::Ethernet, &f);
    assert_eq!(udp_of(&p).payload, b"hi");
}

#[test]
fn test_parse_tcp_syn_with_options() {
    let p = packet(LinkType::Ipv4, &IPV4_SYN);
    let t = tcp_of(&p);
    assert_eq!((p.src, p.dst), (sa("10.0.0.1:40000"), sa("10.0.0.2:13000")));
    assert_eq!(
        (t.seq, t.window, t.window_scale, t.len),
        (1000, 65495, Some(7), 0)
    );
    assert_eq!(t.flags.label(), "[SYN]");
}

#[test]
fn test_parse_tcp_every_flag() {
    let mut b = IPV4_SYN;
    b[32] = 0x81; // data offset 8, AE
    b[33] = 0xff;
    let f = tcp_of(&packet(LinkType::Ipv4, &b)).flags;
    assert_eq!(f.label(), "[FIN, SYN, RST, PSH, ACK, URG, ECE, CWR, AE]");
    let c = sa("10.0.0.1:1");
    let s = sa("10.0.0.2:2");
    let frame = build::tcp(c, s, 1, None, "SEC", b"");
    assert_eq!(
        tcp_of(&packet(LinkType::Ethernet, &frame)).flags.label(),
        "[SYN, ECE, CWR]"
    );
    let frame = build::tcp(c, s, 1, Some(1), "UN", b"");
    assert_eq!(
        tcp_of(&packet(LinkType::Ethernet, &frame)).flags.label(),
        "[ACK, URG, AE]"
    );
}

#[test]
fn test_parse_vlan_8021q_and_qinq() {
    let one = eth(&[0x81, 0x00, 0x00, 0x64, 0x08, 0x00], &IPV4_UDP);
    assert_eq!(udp_of(&packet(LinkType::Ethernet, &one)).payload, b"hi");
    let two = eth(
        &[0x88, 0xa8, 0x00, 0x64, 0x81, 0x00, 0x00, 0xc8, 0x86, 0xdd],
        &IPV6_UDP,
    );
    assert_eq!(packet(LinkType::Ethernet, &two).src, sa("[::1]:40000"));
    let old_qinq = eth(
        &[0x91, 0x00, 0x00, 0x64, 0x81, 0x00, 0x00, 0xc8, 0x08, 0x00],
        &IPV4_UDP,
    );
    assert_eq!(udp_of(&packet(LinkType::Ethernet, &old_qinq)).len, 2);
    // A tag cut short is shown, not dropped.
    let cut = eth(&[0x81, 0x00, 0x00], &[]);
    assert_eq!(other(LinkType::Ethernet, &cut, 60).protocol, "VLAN");
    let arp = eth(&[0x81, 0x00, 0x00, 0x64, 0x08, 0x06], &ARP_REQUEST);
    assert_eq!(
        other(LinkType::Ethernet, &arp, 46).info,
        "Who has 10.0.0.2? Tell 10.0.0.1"
    );
}

#[test]
fn test_parse_linux_sll() {
    // Outgoing (4) on loopback (772), no address, IPv4.
    let hdr = [0, 4, 0x03, 0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x00];
    let p = packet(LinkType::LinuxSll, &[&hdr[..], &IPV4_UDP].concat());
    assert_eq!(udp_of(&p).payload, b"hi");
    // From Ethernet (1), a 6-byte address, ARP: the address is the source.
    let hdr = [
        0, 0, 0, 1, 0, 6, 0xf2, 0xd0, 0xe4, 0x4f, 0xaf, 0x14, 0, 0, 0x08, 0x06,
    ];
    let o = other(LinkType::LinuxSll, &[&hdr[..], &ARP_REQUEST].concat(), 44);
    assert_eq!(
        (o.protocol.as_str(), o.src.as_str(), o.dst.as_str()),
        ("ARP", "f2:d0:e4:4f:af:14", "")
    );
    assert_eq!(
        other(LinkType::LinuxSll, &hdr[..15], 15).info,
        "[Malformed Packet]"
    );
}

#[test]
fn test_parse_linux_sll2() {
    // IPv6 on loopback (hatype 772), as tcpdump -i any writes it.
    let hdr = [
        0x86, 0xdd, 0, 0, 0, 0, 0, 1, 0x03, 0x04, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    let p = packet(LinkType::LinuxSll2, &[&hdr[..], &IPV6_UDP].concat());
    assert_eq!((p.src, udp_of(&p).len), (sa("[::1]:40000"), 2));
    // IPv4 from an Ethernet interface (hatype 1).
    let hdr = [
        0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 0xf2, 0xd0, 0xe4, 0x4f, 0xaf, 0x14, 0, 0,
    ];
    assert_eq!(
        packet(LinkType::LinuxSll2, &[&hdr[..], &IPV4_UDP].concat()).dst,
        sa("127.0.0.1:12000")
    );
    // Netlink (824) is not an EtherType.
    let hdr = [
        0, 0, 0, 0, 0, 0, 0, 2, 0x03, 0x38, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    assert_eq!(other(LinkType::LinuxSll2, &hdr, 20).protocol, "Netlink");
}

#[test]
fn test_parse_raw_ip() {
    assert_eq!(
        packet(LinkType::RawIp, &IPV4_UDP).src,
        sa("127.0.0.1:40000")
    );
    assert_eq!(packet(LinkType::RawIp, &IPV6_UDP).src, sa("[::1]:40000"));
    assert_eq!(packet(LinkType::Ipv4, &IPV4_UDP).dst, sa("127.0.0.1:12000"));
    assert_eq!(packet(LinkType::Ipv6, &IPV6_UDP).dst, sa("[::1]:12000"));
    // The wrong version for the link type is bogus, not a packet.
    assert!(decode(LinkType::Ipv6, &IPV4_UDP, T, 30).is_none());
    let mut bad = IPV4_UDP;
    bad[0] = 0x75;
    assert_eq!(
        other(LinkType::RawIp, &bad, 30).info,
        "Bogus IP version (7)"
    );
}

#[test]
fn test_parse_null_and_loop() {
    for family in [[2, 0, 0, 0], [0, 0, 0, 2]] {
        let p = packet(LinkType::Null, &[&family[..], &IPV4_UDP].concat());
        assert_eq!(udp_of(&p).payload, b"hi");
    }
    for af in [10u32, 24, 28, 30] {
        for family in [af.to_le_bytes(), af.to_be_bytes()] {
            let p = packet(LinkType::Null, &[&family[..], &IPV6_UDP].concat());
            assert_eq!(p.src, sa("[::1]:40000"), "family {af}");
        }
    }
    let p = packet(LinkType::Loop, &[&[0, 0, 0, 2][..], &IPV4_UDP].concat());
    assert_eq!(udp_of(&p).len, 2);
    let o = other(LinkType::Null, &[7, 0, 0, 0], 4);
    assert_eq!(
        (o.protocol.as_str(), o.info.as_str()),
        ("NULL", "Unknown address family 7")
    );
}

#[test]
fn test_parse_other_link_type() {
    let o = other(LinkType::from_number(147), b"anything", 8);
    assert_eq!(
        (o.protocol.as_str(), o.info.as_str()),
        ("n/a", "link type 147 not supported")
    );
    assert_eq!((o.wire_len, o.cap_len), (8, 8));
    assert!(decode(LinkType::Other(147), b"anything", T, 8).is_none());
}

#[test]
fn test_parse_tcp_options_cut_by_snaplen() {
    // tcpdump -s 60 on Ethernet: 14 + 20 + 26 bytes of a 32-byte TCP header
    // of a segment carrying 78 bytes.
    let mut ip = IPV4_SYN.to_vec();
    ip[2..4].copy_from_slice(&(52u16 + 78).to_be_bytes());
    ip[33] = 0x18; // PSH, ACK
    ip.extend_from_slice(&[b'x'; 78]);
    let f = eth(&[0x08, 0x00], &ip);
    let p = Decoder::new().decode(LinkType::Ethernet, &f[..60], T, f.len() as u32);
    let Decoded::Packet(p) = p else {
        panic!("{p:?}")
    };
    let t = tcp_of(&p);
    assert_eq!((t.len, t.payload.len(), t.window_scale), (78, 0, None));
    assert_eq!(t.seq_len(), 78);
    assert!(p.truncated());
    assert_eq!((p.cap_len, p.wire_len), (60, 144));
    // Cut inside the payload: what was captured is kept.
    let p = decode(LinkType::Ethernet, &f[..70], T, f.len() as u32).unwrap();
    assert_eq!(
        (tcp_of(&p).len, tcp_of(&p).payload.as_slice()),
        (78, &b"xxxx"[..])
    );
    assert_eq!(tcp_of(&p).window_scale, Some(7));
}

#[test]
fn an_ip_length_past_the_packet_counts_what_the_packet_held() {
    // A bit flipped on the way sent the total length from 44 to 44 + 32.
    let mut f = crate::decode::build::tcp(
        sa("10.0.0.1:40000"),
        sa("10.0.0.2:13000"),
        7,
        Some(9),
        "",
        b"abcd",
    );
    f[14 + 3] += 32;
    let len = f.len() as u32;
    let p = decode(LinkType::Ethernet, &f, T, len).unwrap();
    assert_eq!(tcp_of(&p).len, 4);
}

#[test]
fn a_tcp_header_longer_than_its_segment_is_malformed() {
    // A bit flipped on the way: the data offset says 32 bytes, the IP
    // length leaves 24 for the whole segment.
    let mut f = crate::decode::build::tcp(
        sa("10.0.0.1:40000"),
        sa("10.0.0.2:13000"),
        7,
        Some(9),
        "",
        b"abcd",
    );
    f[14 + 20 + 12] = 0x80;
    let len = f.len() as u32;
    let p = decode(LinkType::Ethernet, &f, T, len).unwrap();
    assert_eq!(p.transport, Transport::Truncated(6));
    assert_eq!(p.dst.port(), 13000);
    assert!(!p.truncated(), "not cut by the snap length");
    // The flipped bit is also in the TCP checksum's reach.
    assert_eq!(p.bad_checksum.map(|b| b.of), Some(ChecksumOf::Tcp));
    let row = crate::analyze::Analyzer::new().push(&p);
    assert_eq!(
        row.info,
        format!("{} [TCP CHECKSUM INCORRECT]", crate::analyze::MALFORMED)
    );
}

#[test]
fn test_parse_transport_header_cut() {
    let f = eth(&[0x08, 0x00], &IPV4_SYN);
    // 14 + 20 + 6: the ports are there, the rest of the header is not.
    let p = decode(LinkType::Ethernet, &f[..40], T, 66).unwrap();
    assert_eq!(p.transport, Transport::Truncated(6));
    assert_eq!((p.src, p.dst), (sa("10.0.0.1:40000"), sa("10.0.0.2:13000")));
    let p = decode(LinkType::Ethernet, &f[..36], T, 66).unwrap();
    assert_eq!((p.transport, p.src.port()), (Transport::Truncated(6), 0));
    let u = eth(&[0x08, 0x00], &IPV4_UDP);
    let p = decode(LinkType::Ethernet, &u[..38], T, 44).unwrap();
    assert_eq!(
        (p.transport, p.dst.port()),
        (Transport::Truncated(17), 12000)
    );
    // Only the checksum cut: the datagram, its length from its header.
    let p = decode(LinkType::Ethernet, &u[..40], T, 44).unwrap();
    assert_eq!(
        udp_of(&p),
        &Udp {
            len: 2,
            payload: vec![]
        }
    );
    // Exactly the UDP header: a UDP datagram with nothing of its payload.
    let p = decode(LinkType::Ethernet, &u[..42], T, 44).unwrap();
    assert_eq!(
        udp_of(&p),
        &Udp {
            len: 2,
            payload: vec![]
        }
    );
}

#[test]
fn test_parse_ip_header_cut() {
    let f = eth(&[0x08, 0x00], &IPV4_UDP);
    for cut in [14, 20, 30, 33] {
        let o = other(LinkType::Ethernet, &f[..cut], 44);
        assert_eq!(o.protocol, "IPv4");
        assert_eq!(o.info, "[Packet size limited during capture]");
        assert_eq!(
            (o.src.as_str(), o.dst.as_str()),
            ("f2:d0:e4:4f:af:14", "26:6d:14:d2:91:e3")
        );
        assert_eq!((o.cap_len, o.wire_len), (cut as u32, 44));
    }
    let f = eth(&[0x86, 0xdd], &IPV6_UDP);
    assert_eq!(other(LinkType::Ethernet, &f[..50], 64).protocol, "IPv6");
    // Short but not cut by a snap length: malformed.
    assert_eq!(
        other(LinkType::Ethernet, &f[..50], 50).info,
        "[Malformed Packet]"
    );
}

#[test]
fn test_parse_ipv4_options_and_bogus_lengths() {
    let mut b = vec![
        0x46, 0, 0, 34, 0, 0, 0, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1, 1, 1, 1, 0,
    ];
    b.extend_from_slice(&IPV4_UDP[20..]);
    assert_eq!(udp_of(&packet(LinkType::RawIp, &b)).payload, b"hi");
    let mut bad = IPV4_UDP;
    bad[0] = 0x44;
    assert_eq!(
        other(LinkType::RawIp, &bad, 30).info,
        "Bogus IPv4 header length"
    );
    let mut bad = IPV4_UDP;
    bad[3] = 10;
    assert_eq!(
        other(LinkType::RawIp, &bad, 30).info,
        "Bogus IPv4 total length"
    );
    // Total length 0: a segmentation-offload packet, sized by the wire.
    let mut tso = IPV4_UDP;
    tso[3] = 0;
    assert_eq!(udp_of(&packet(LinkType::RawIp, &tso)).payload, b"hi");
}

#[test]
fn test_parse_ipv6_extension_headers() {
    // Hop-by-hop (8 bytes, PadN), then destination options (16 bytes), then UDP.
    let mut b = IPV6_UDP[..40].to_vec();
    b[4..6].copy_from_slice(&(8u16 + 16 + 10).to_be_bytes());
    b[6] = 0;
    b.extend_from_slice(&[60, 0, 1, 4, 0, 0, 0, 0]);
    b.extend_from_slice(&[17, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    b.extend_from_slice(&IPV6_UDP[40..]);
    let p = packet(LinkType::Ipv6, &b);
    assert_eq!(
        (p.dst, udp_of(&p).payload.as_slice()),
        (sa("[::1]:12000"), &b"hi"[..])
    );
    // Routing header (type 4 segment list, no segments) before TCP.
    let mut r = IPV6_UDP[..40].to_vec();
    r[6] = 43;
    r[4..6].copy_from_slice(&(8u16 + 32).to_be_bytes());
    r.extend_from_slice(&[6, 0, 4, 0, 0, 0, 0, 0]);
    r.extend_from_slice(&IPV4_SYN[20..]);
    assert_eq!(tcp_of(&packet(LinkType::Ipv6, &r)).window_scale, Some(7));
    // An extension header cut off.
    assert_eq!(
        other(LinkType::Ipv6, &b[..44], 74).info,
        "[Packet size limited during capture]"
    );
    // A chain longer than followed ends as another protocol.
    let mut long = IPV6_UDP[..40].to_vec();
    long[6] = 60;
    long[4..6].copy_from_slice(&(8u16 * 10).to_be_bytes());
    for _ in 0..10 {
        long.extend_from_slice(&[60, 0, 1, 4, 0, 0, 0, 0]);
    }
    assert_eq!(
        packet(LinkType::Ipv6, &long).transport,
        Transport::OtherIp(60)
    );
}

#[test]
fn test_parse_other_ip_protocol() {
    let mut gre = IPV4_UDP;
    gre[9] = 47;
    assert_eq!(
        packet(LinkType::RawIp, &gre).transport,
        Transport::OtherIp(47)
    );
}

/// ICMP port unreachable from 127.0.0.1 quoting the [`IPV4_UDP`] datagram.
fn icmp_unreachable() -> Vec<u8> {
    let mut b = vec![
        0x45, 0, 0, 58, 0, 0, 0, 0, 64, 1, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1, 3, 3, 0, 0, 0, 0, 0, 0,
    ];
    b.extend_from_slice(&IPV4_UDP);
    b
}

#[test]
fn test_parse_icmp_port_unreachable() {
    let p = packet(LinkType::RawIp, &icmp_unreachable());
    let i = icmp_of(&p);
    assert_eq!((i.v6, i.kind, i.code, i.echo), (false, 3, 3, None));
    assert_eq!(
        i.quoted,
        Some(Quoted {
            protocol: 17,
            src: sa("127.0.0.1:40000"),
            dst: sa("127.0.0.1:12000"),
        })
    );
    assert_eq!(i.describe(), "Destination unreachable (Port unreachable)");
    assert_eq!((p.src.port(), p.dst.port()), (0, 0));
    // The quote cut after the ports still names them.
    let cut = &icmp_unreachable()[..52];
    let p = decode(LinkType::RawIp, cut, T, 58).unwrap();
    assert_eq!(icmp_of(&p).quoted.unwrap().dst, sa("127.0.0.1:12000"));
    // ICMP cut before its type and code.
    let p = decode(LinkType::RawIp, &icmp_unreachable()[..22], T, 58).unwrap();
    assert_eq!(p.transport, Transport::Truncated(1));
}

#[test]
fn test_parse_icmp_built() {
    let c = sa("127.0.0.1:40000");
    let s = sa("127.0.0.1:9");
    let p = packet(
        LinkType::Ethernet,
        &build::icmp_port_unreachable(&build::udp(c, s, b"x")),
    );
    assert_eq!(icmp_of(&p).quoted.map(|q| (q.src, q.dst)), Some((c, s)));
    let (c6, s6) = (sa("[::1]:40000"), sa("[::1]:9"));
    let p = packet(
        LinkType::Ethernet,
        &build::icmp_port_unreachable(&build::udp(c6, s6, b"x")),
    );
    assert_eq!(
        icmp_of(&p).describe(),
        "Destination Unreachable (Port unreachable)"
    );
    assert_eq!(icmp_of(&p).quoted.map(|q| (q.src, q.dst)), Some((c6, s6)));
    let e = build::icmp_echo(c.ip(), s.ip(), 1, 1, true);
    assert_eq!(
        icmp_of(&packet(LinkType::Ethernet, &e)).describe(),
        "Echo (ping) request  id=0x0001, seq=1/256, ttl=64"
    );
    let e = build::icmp_echo(c6.ip(), s6.ip(), 0x1234, 2, false);
    assert_eq!(
        icmp_of(&packet(LinkType::Ethernet, &e)).describe(),
        "Echo (ping) reply id=0x1234, seq=2, hop limit=64"
    );
}

fn icmp(v6: bool, kind: u8, code: u8) -> Icmp {
    Icmp {
        v6,
        kind,
        code,
        echo: None,
        quoted: None,
        ttl: 64,
        ndp: None,
    }
}

/// tshark 4.0's Info text for ICMP types and codes, from a capture of
/// crafted messages.
#[test]
fn icmp_descriptions_match_tshark() {
    let v4 = [
        (3, 0, "Destination unreachable (Network unreachable)"),
        (3, 1, "Destination unreachable (Host unreachable)"),
        (3, 3, "Destination unreachable (Port unreachable)"),
        (3, 4, "Destination unreachable (Fragmentation needed)"),
        (
            3,
            13,
            "Destination unreachable (Communication administratively filtered)",
        ),
        (3, 16, "Destination unreachable (Unknown code: 16)"),
        (4, 0, "Source quench (flow control)"),
        (5, 1, "Redirect             (Redirect for host)"),
        (10, 0, "Router solicitation "),
        (
            11,
            0,
            "Time-to-live exceeded (Time to live exceeded in transit)",
        ),
        (
            11,
            1,
            "Time-to-live exceeded (Fragment reassembly time exceeded)",
        ),
        (11, 2, "Time-to-live exceeded (Unknown code: 2)"),
        (12, 0, "Parameter problem    (Pointer indicates the error)"),
        (12, 2, "Parameter problem    (Bad length)"),
        (30, 0, "Traceroute          "),
        (40, 0, "Photuris             (Bad SPI)"),
        (42, 0, "Extended Echo request (No error)"),
        (99, 0, "Unknown ICMP (obsolete or malformed?)"),
        (6, 0, "Alternate host address (Alternate address for host)"),
        (1, 0, "Reserved            "),
    ];
    for (kind, code, text) in v4 {
        assert_eq!(icmp(false, kind, code).describe(), text);
    }
    let echo = |kind, ttl| Icmp {
        echo: Some((1, 1)),
        ttl,
        ..icmp(false, kind, 0)
    };
    assert_eq!(
        echo(0, 64).describe(),
        "Echo (ping) reply    id=0x0001, seq=1/256, ttl=64"
    );
    assert_eq!(
        echo(8, 1).describe(),
        "Echo (ping) request  id=0x0001, seq=1/256, ttl=1"
    );
    assert_eq!(
        echo(13, 64).describe(),
        "Timestamp request    id=0x0001, seq=1/256, ttl=64"
    );
    assert_eq!(
        echo(17, 64).describe(),
        "Address mask request id=0x0001, seq=1/256, ttl=64"
    );
    let v6 = [
        (1, 0, "Destination Unreachable (no route to destination)"),
        (
            1,
            1,
            "Destination Unreachable (Administratively prohibited)",
        ),
        (1, 3, "Destination Unreachable (Address unreachable)"),
        (1, 4, "Destination Unreachable (Port unreachable)"),
        (1, 9, "Destination Unreachable (Unknown)"),
        (2, 0, "Packet Too Big"),
        (3, 0, "Time Exceeded (hop limit exceeded in transit)"),
        (3, 5, "Time Exceeded (Unknown (5))"),
        (
            4,
            1,
            "Parameter Problem (unrecognized Next Header type encountered)",
        ),
        (130, 0, "Multicast Listener Query"),
        (133, 0, "Router Solicitation"),
        (143, 0, "Multicast Listener Report Message v2"),
        (160, 0, "Extended Echo request (No error)"),
        (200, 0, "Private experimentation"),
        (0, 0, "Unknown (0)"),
    ];
    for (kind, code, text) in v6 {
        assert_eq!(icmp(true, kind, code).describe(), text);
    }
    let echo6 = Icmp {
        echo: Some((0x1234, 1)),
        ..icmp(true, 128, 0)
    };
    assert_eq!(
        echo6.describe(),
        "Echo (ping) request id=0x1234, seq=1, hop limit=64"
    );
}

/// fd77::1 → ff02::1:ff00:2, neighbor solicitation for fd77::2 with a
/// source link-layer address option.
fn neighbor_solicitation() -> Vec<u8> {
    let mut b = vec![0x60, 0, 0, 0, 0, 32, 58, 255];
    b.extend_from_slice(&[0xfd, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    b.extend_from_slice(&[0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 2]);
    b.extend_from_slice(&[135, 0, 0, 0, 0, 0, 0, 0]);
    b.extend_from_slice(&[0xfd, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    b.extend_from_slice(&[1, 1]);
    b.extend_from_slice(&MAC_A);
    b
}

#[test]
fn test_parse_icmpv6_neighbor_discovery() {
    let p = packet(LinkType::Ipv6, &neighbor_solicitation());
    assert_eq!(
        icmp_of(&p).describe(),
        "Neighbor Solicitation for fd77::2 from f2:d0:e4:4f:af:14"
    );
    // The advertisement: solicited and override, target address option.
    let mut na = neighbor_solicitation();
    na[40] = 136;
    na[44] = 0x60;
    na[64] = 2;
    na[66..72].copy_from_slice(&MAC_B);
    let p = packet(LinkType::Ipv6, &na);
    assert_eq!(
        icmp_of(&p).describe(),
        "Neighbor Advertisement fd77::2 (sol, ovr) is at 26:6d:14:d2:91:e3"
    );
    // No option, no flags.
    let mut bare = na[..64].to_vec();
    bare[5] = 24;
    bare[44] = 0;
    assert_eq!(
        icmp_of(&packet(LinkType::Ipv6, &bare)).describe(),
        "Neighbor Advertisement fd77::2 (none)"
    );
    // A solicitation whose target was not captured.
    let p = decode(LinkType::Ipv6, &neighbor_solicitation()[..50], T, 72).unwrap();
    assert_eq!(icmp_of(&p).describe(), "Neighbor Solicitation");
}

/// An ARP request 10.0.0.1 (f2:d0:…) asking for 10.0.0.2.
const ARP_REQUEST: [u8; 28] = [
    0, 1, 8, 0, 6, 4, 0, 1, 0xf2, 0xd0, 0xe4, 0x4f, 0xaf, 0x14, 10, 0, 0, 1, //
    0, 0, 0, 0, 0, 0, 10, 0, 0, 2,
];

#[test]
fn test_parse_arp() {
    let f = [&[0xff; 6][..], &MAC_A, &[0x08, 0x06], &ARP_REQUEST].concat();
    let o = other(LinkType::Ethernet, &f, 42);
    assert_eq!(
        (
            o.protocol.as_str(),
            o.src.as_str(),
            o.dst.as_str(),
            o.info.as_str()
        ),
        (
            "ARP",
            "f2:d0:e4:4f:af:14",
            "Broadcast",
            "Who has 10.0.0.2? Tell 10.0.0.1"
        )
    );
    let mut reply = ARP_REQUEST;
    reply[7] = 2;
    reply[8..14].copy_from_slice(&MAC_B);
    reply[14..18].copy_from_slice(&[10, 0, 0, 2]);
    reply[18..24].copy_from_slice(&MAC_A);
    reply[24..28].copy_from_slice(&[10, 0, 0, 1]);
    let o = other(LinkType::Ethernet, &eth(&[0x08, 0x06], &reply), 42);
    assert_eq!(o.info, "10.0.0.2 is at 26:6d:14:d2:91:e3");
    let mut probe = ARP_REQUEST;
    probe[14..18].fill(0);
    assert_eq!(
        other(LinkType::Ethernet, &eth(&[0x08, 0x06], &probe), 42).info,
        "Who has 10.0.0.2? (ARP Probe)"
    );
    let mut announce = ARP_REQUEST;
    announce[24..28].copy_from_slice(&[10, 0, 0, 1]);
    assert_eq!(
        other(LinkType::Ethernet, &eth(&[0x08, 0x06], &announce), 42).info,
        "ARP Announcement for 10.0.0.1"
    );
    let o = other(
        LinkType::Ethernet,
        &eth(&[0x08, 0x06], &ARP_REQUEST[..20]),
        42,
    );
    assert_eq!(o.info, "[Packet size limited during capture]");
}

#[test]
fn test_parse_lldp_and_unknown_ethertype() {
    let lldp = [
        &[0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e][..],
        &MAC_A,
        &[0x88, 0xcc, 0x02, 0x07, 0x04],
        &MAC_B,
        &[
            0x04, 0x04, 0x05, b'e', b't', b'h', 0x06, 0x02, 0x00, 0x78, 0x00, 0x00,
        ],
    ]
    .concat();
    let o = other(LinkType::Ethernet, &lldp, 35);
    assert_eq!(
        (o.protocol.as_str(), o.dst.as_str(), o.info.as_str()),
        ("LLDP", "LLDP_Multicast", "MA/26:6d:14:d2:91:e3 IN/eth 120 ")
    );
    let o = other(LinkType::Ethernet, &eth(&[0x88, 0xb5], b"hello"), 19);
    assert_eq!(
        (o.protocol.as_str(), o.info.as_str()),
        ("0x88b5", "Local Experimental Ethertype 1")
    );
    assert_eq!(
        other(LinkType::Ethernet, &eth(&[0x00, 0x30], b"x"), 15).protocol,
        "LLC"
    );
    assert_eq!(
        other(LinkType::Ethernet, b"short", 5).info,
        "[Malformed Packet]"
    );
}

fn frag_key_packets(frames: &[Vec<u8>], order: &[usize]) -> Vec<Decoded> {
    let mut d = Decoder::new();
    order
        .iter()
        .map(|&i| d.decode(LinkType::Ethernet, &frames[i], T, frames[i].len() as u32))
        .collect()
}

fn datagram(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

#[test]
fn fragments_reassemble_in_order() {
    let (c, s) = (sa("10.77.0.1:34612"), sa("10.77.0.2:12000"));
    let frames = build::ipv4_fragments(c, s, 0x93cb, &datagram(3000), 1500);
    // As Linux sends a 3,000-byte datagram over a 1,500-byte MTU veth (seen
    // with tcpdump between two namespaces; tshark shows the UDP datagram on
    // the third frame).
    assert_eq!(frames.len(), 3);
    assert_eq!(
        frames.iter().map(Vec::len).collect::<Vec<_>>(),
        [1514, 1514, 82]
    );
    let out = frag_key_packets(&frames, &[0, 1, 2]);
    for (i, d) in out[..2].iter().enumerate() {
        let Decoded::Packet(p) = d else {
            panic!("{d:?}")
        };
        assert_eq!(
            p.transport,
            Transport::Fragment(Fragment {
                protocol: 17,
                id: 0x93cb,
                offset: 1480 * i as u32,
                len: 1480,
                more: true
            })
        );
        assert_eq!((p.src, p.dst), (sa("10.77.0.1:0"), sa("10.77.0.2:0")));
    }
    let Decoded::Packet(last) = &out[2] else {
        panic!()
    };
    assert_eq!((last.src, last.dst), (c, s));
    assert_eq!(
        udp_of(last),
        &Udp {
            len: 3000,
            payload: datagram(3000)
        }
    );
    // Without a decoder's state every fragment stays a fragment.
    let p = decode(LinkType::Ethernet, &frames[2], T, 82).unwrap();
    assert!(matches!(
        p.transport,
        Transport::Fragment(Fragment {
            offset: 2960,
            len: 48,
            ..
        })
    ));
}

#[test]
fn fragments_reassemble_out_of_order_and_overlapping() {
    let (c, s) = (sa("10.0.0.1:1000"), sa("10.0.0.2:2000"));
    let frames = build::ipv4_fragments(c, s, 7, &datagram(3000), 1500);
    // Last first: the middle one completes the datagram.
    let out = frag_key_packets(&frames, &[2, 0, 1]);
    assert!(matches!(
        &out[0],
        Decoded::Packet(Packet {
            transport: Transport::Fragment(_),
            ..
        })
    ));
    let Decoded::Packet(p) = &out[2] else {
        panic!()
    };
    assert_eq!(udp_of(p).payload, datagram(3000));
    // A duplicate completes nothing, and a later copy of a completed
    // datagram's fragment starts afresh.
    let out = frag_key_packets(&frames, &[0, 0, 1, 2, 2]);
    let kinds: Vec<bool> = out
        .iter()
        .map(|d| {
            matches!(
                d,
                Decoded::Packet(Packet {
                    transport: Transport::Udp(_),
                    ..
                })
            )
        })
        .collect();
    assert_eq!(kinds, [false, false, false, true, false]);
    // Overlapping fragments: small pieces over the same bytes.
    let small = build::ipv4_fragments(c, s, 8, &datagram(100), 20 + 48);
    let mut d = Decoder::new();
    let mut last = None;
    for f in [&small[0], &small[1], &small[0], &frames[0], &small[2]] {
        last = Some(d.decode(LinkType::Ethernet, f, T, f.len() as u32));
    }
    let Some(Decoded::Packet(p)) = last else {
        panic!()
    };
    assert_eq!(udp_of(&p).payload, datagram(100));
}

#[test]
fn fragments_are_bounded_and_expire() {
    let (c, s) = (sa("10.0.0.1:1000"), sa("10.0.0.2:2000"));
    let mut d = Decoder::new();
    // More datagrams than are kept pending: the oldest is forgotten.
    let all: Vec<Vec<Vec<u8>>> = (0..=MAX_PENDING_DATAGRAMS as u16)
        .map(|id| build::ipv4_fragments(c, s, id, &datagram(2000), 1500))
        .collect();
    for f in &all {
        d.decode(LinkType::Ethernet, &f[0], T, f[0].len() as u32);
    }
    assert_eq!(d.defrag.len(), MAX_PENDING_DATAGRAMS);
    let first_last = &all[0][1];
    let r = d.decode(LinkType::Ethernet, first_last, T, first_last.len() as u32);
    assert!(matches!(
        r,
        Decoded::Packet(Packet {
            transport: Transport::Fragment(_),
            ..
        })
    ));
    let newest_last = &all[MAX_PENDING_DATAGRAMS][1];
    let r = d.decode(LinkType::Ethernet, newest_last, T, newest_last.len() as u32);
    assert!(matches!(
        r,
        Decoded::Packet(Packet {
            transport: Transport::Udp(_),
            ..
        })
    ));
    // Capture time past the time-out forgets the first fragment.
    let f = build::ipv4_fragments(c, s, 999, &datagram(2000), 1500);
    let mut d = Decoder::new();
    d.decode(LinkType::Ethernet, &f[0], T, 1514);
    let late = FRAGMENT_TIMEOUT + Duration::from_millis(1);
    let r = d.decode(LinkType::Ethernet, &f[1], late, f[1].len() as u32);
    assert!(matches!(
        r,
        Decoded::Packet(Packet {
            transport: Transport::Fragment(_),
            ..
        })
    ));
    // Bytes: many large datagrams never hold more than the bound.
    let mut d = Decoder::new();
    for id in 0..200u16 {
        for f in build::ipv4_fragments(c, s, id, &datagram(60_000), 1500)
            .iter()
            .take(40)
        {
            d.decode(LinkType::Ethernet, f, T, f.len() as u32);
        }
        assert!(d.defrag.bytes() <= MAX_PENDING_BYTES);
    }
    assert!(
        d.defrag.len() < MAX_PENDING_DATAGRAMS,
        "the byte bound evicts first"
    );
}

#[test]
fn fragment_cut_by_snaplen_never_completes() {
    let (c, s) = (sa("10.0.0.1:1000"), sa("10.0.0.2:2000"));
    let frames = build::ipv4_fragments(c, s, 3, &datagram(2000), 1500);
    let mut d = Decoder::new();
    d.decode(LinkType::Ethernet, &frames[0][..100], T, 1514);
    let r = d.decode(LinkType::Ethernet, &frames[1], T, frames[1].len() as u32);
    assert!(matches!(
        r,
        Decoded::Packet(Packet {
            transport: Transport::Fragment(_),
            ..
        })
    ));
}

#[test]
fn ipv6_fragments_reassemble() {
    // Two fragments of UDP [::1]:40000 → [::1]:12000 "hi": the 8-byte UDP
    // header, then the 2-byte payload.
    let frag = |offset: u16, more: bool, body: &[u8]| {
        let mut b = IPV6_UDP[..40].to_vec();
        b[4..6].copy_from_slice(&(8 + body.len() as u16).to_be_bytes());
        b[6] = 44;
        let fo = offset | u16::from(more);
        b.extend_from_slice(&[17, 0, (fo >> 8) as u8, fo as u8, 0xd9, 0x64, 0x11, 0x6d]);
        b.extend_from_slice(body);
        b
    };
    let a = frag(0, true, &IPV6_UDP[40..48]);
    let b = frag(8, false, &IPV6_UDP[48..]);
    let mut d = Decoder::new();
    let Decoded::Packet(p) = d.decode(LinkType::Ipv6, &a, T, a.len() as u32) else {
        panic!()
    };
    assert_eq!(
        p.transport,
        Transport::Fragment(Fragment {
            protocol: 17,
            id: 0xd964116d,
            offset: 0,
            len: 8,
            more: true
        })
    );
    let Decoded::Packet(p) = d.decode(LinkType::Ipv6, &b, T, b.len() as u32) else {
        panic!()
    };
    assert_eq!(
        (p.src, udp_of(&p).payload.as_slice()),
        (sa("[::1]:40000"), &b"hi"[..])
    );
    // An atomic fragment (offset 0, no more) is a whole datagram.
    let atomic = frag(0, false, &IPV6_UDP[40..]);
    assert_eq!(udp_of(&packet(LinkType::Ipv6, &atomic)).len, 2);
}

const ALL_LINKS: [LinkType; 10] = [
    LinkType::Ethernet,
    LinkType::LinuxSll,
    LinkType::LinuxSll2,
    LinkType::RawIp,
    LinkType::Ipv4,
    LinkType::Ipv6,
    LinkType::Null,
    LinkType::Loop,
    LinkType::Other(147),
    LinkType::Other(0xffff_ffff),
];

#[test]
fn every_cut_of_real_frames_decodes() {
    let c = sa("10.0.0.1:1000");
    let s = sa("10.0.0.2:2000");
    let mut frames = vec![
        eth(&[0x08, 0x00], &IPV4_SYN),
        eth(&[0x86, 0xdd], &IPV6_UDP),
        eth(&[0x08, 0x00], &icmp_unreachable()),
        eth(&[0x86, 0xdd], &neighbor_solicitation()),
        eth(&[0x08, 0x06], &ARP_REQUEST),
    ];
    frames.extend(build::ipv4_fragments(c, s, 1, &datagram(100), 68));
    let mut d = Decoder::new();
    for f in &frames {
        for cut in 0..=f.len() {
            for link in ALL_LINKS {
                let r = d.decode(link, &f[..cut], T, f.len() as u32);
                if let Decoded::Packet(p) = &r {
                    assert_eq!(p.cap_len as usize, cut);
                    assert_eq!(p.truncated(), cut < f.len());
                }
            }
        }
    }
}

/// Each layer's checked view refuses its header cut at every length
/// short of its fixed part, saying how much was needed: a cut header is an
/// error, never fields read as zeros.
#[test]
fn every_view_refuses_a_header_cut_short() {
    use super::bytes::Short;
    let syn = eth(&[0x08, 0x00], &IPV4_SYN);
    let udp6 = eth(&[0x86, 0xdd], &IPV6_UDP);
    let short = |need, have| Some(Short { need, have });
    for have in 0..14 {
        assert_eq!(
            EthernetView::new_checked(&syn[..have]).err(),
            short(14, have)
        );
    }
    for have in 0..16 {
        assert_eq!(SllView::new_checked(&syn[..have]).err(), short(16, have));
    }
    for have in 0..20 {
        assert_eq!(Sll2View::new_checked(&syn[..have]).err(), short(20, have));
        assert_eq!(
            Ipv4View::new_checked(&IPV4_SYN[..have]).err(),
            short(20, have)
        );
        assert_eq!(
            TcpView::new_checked(&IPV4_SYN[20..20 + have]).err(),
            short(20, have)
        );
    }
    for have in 0..40 {
        assert_eq!(
            Ipv6View::new_checked(&udp6[14..14 + have]).err(),
            short(40, have)
        );
    }
    for have in 0..6 {
        assert_eq!(
            UdpView::new_checked(&IPV6_UDP[40..40 + have]).err(),
            short(6, have)
        );
    }
    for have in 0..4 {
        let icmp = icmp_unreachable();
        assert_eq!(
            IcmpView::new_checked(&icmp[20..20 + have]).err(),
            short(4, have)
        );
    }
    // The IPv4 header's options: the fixed part alone does not make a
    // header whose IHL says 24 bytes.
    let mut opts = IPV4_SYN;
    opts[0] = 0x46;
    let v = Ipv4View::new_checked(&opts[..22]).expect("the fixed part");
    assert_eq!(v.header().err(), short(24, 22));
    // Fields of a UDP header cut after its length: the checksum is
    // unknown, not zero.
    let u = UdpView::new_checked(&IPV6_UDP[40..46]).expect("ports and length");
    assert_eq!((u.src_port(), u.len(), u.checksum()), (40000, 10, None));
}

/// A frame cut anywhere decodes, as far as it was captured, to the
/// fields of the whole frame: what was not captured is missing (a cut
/// transport, ports of 0 when they were cut), never another value.
#[test]
fn a_cut_frame_shows_only_fields_it_captured() {
    let frames = [
        eth(&[0x08, 0x00], &IPV4_SYN),
        eth(&[0x86, 0xdd], &IPV6_UDP),
        eth(&[0x08, 0x00], &icmp_unreachable()),
        eth(&[0x86, 0xdd], &neighbor_solicitation()),
    ];
    for f in &frames {
        let whole = packet(LinkType::Ethernet, f);
        for cut in 0..f.len() {
            let Some(p) = decode(LinkType::Ethernet, &f[..cut], T, f.len() as u32) else {
                continue;
            };
            assert_eq!((p.src.ip(), p.dst.ip()), (whole.src.ip(), whole.dst.ip()));
            if p.src.port() != 0 {
                assert_eq!((p.src, p.dst), (whole.src, whole.dst), "cut at {cut}");
            }
            match (&p.transport, &whole.transport) {
                (Transport::Truncated(a), t) => {
                    let n = match t {
                        Transport::Tcp(_) => 6,
                        Transport::Udp(_) => 17,
                        Transport::Icmp(i) if i.v6 => 58,
                        _ => 1,
                    };
                    assert_eq!(*a, n, "cut at {cut}");
                }
                (Transport::Tcp(a), Transport::Tcp(b)) => {
                    assert_eq!(
                        (a.seq, a.ack, a.flags, a.window),
                        (b.seq, b.ack, b.flags, b.window)
                    );
                    assert!(a.window_scale.is_none() || a.window_scale == b.window_scale);
                    assert_eq!(a.len, b.len);
                }
                (Transport::Udp(a), Transport::Udp(b)) => {
                    assert_eq!(a.len, b.len);
                    assert!(b.payload.starts_with(&a.payload));
                }
                (Transport::Icmp(a), Transport::Icmp(b)) => {
                    assert_eq!((a.kind, a.code), (b.kind, b.code), "cut at {cut}");
                    assert!(a.echo.is_none() || a.echo == b.echo);
                    // The quote as far as it goes: ports 0 when they were
                    // cut, as a packet's.
                    if let (Some(a), Some(b)) = (a.quoted, b.quoted) {
                        assert_eq!(a.protocol, b.protocol, "cut at {cut}");
                        assert_eq!((a.src.ip(), a.dst.ip()), (b.src.ip(), b.dst.ip()));
                        if a.src.port() != 0 {
                            assert_eq!((a.src, a.dst), (b.src, b.dst), "cut at {cut}");
                        }
                    }
                    if let (Some(a), Some(b)) = (a.ndp, b.ndp) {
                        assert_eq!((a.target, a.flags), (b.target, b.flags), "cut at {cut}");
                        assert!(a.lladdr.is_none() || a.lladdr == b.lladdr, "cut at {cut}");
                    }
                }
                (a, b) => panic!("cut at {cut}: {a:?}, whole {b:?}"),
            }
        }
    }
}

proptest::proptest! {
    #[test]
    fn arbitrary_frames_never_panic(
        frames in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..200), 0..16),
        wire_extra in 0u32..100,
    ) {
        let mut d = Decoder::new();
        for (i, f) in frames.iter().enumerate() {
            for link in ALL_LINKS {
                let t = Duration::from_millis(i as u64);
                let wire = f.len() as u32 + wire_extra;
                let stateless = decode(link, f, t, wire);
                match d.decode(link, f, t, wire) {
                    Decoded::Packet(p) => {
                        proptest::prop_assert_eq!(p.cap_len as usize, f.len());
                        if let Transport::Icmp(i) = &p.transport {
                            let _ = i.describe();
                        }
                    }
                    Decoded::Other(o) => {
                        proptest::prop_assert!(stateless.is_none());
                        proptest::prop_assert!(!o.protocol.is_empty());
                    }
                }
            }
        }
    }

    #[test]
    fn ip_frames_with_random_bodies_never_panic(
        v6 in proptest::bool::ANY,
        proto in proptest::sample::select(vec![0u8, 1, 6, 17, 43, 44, 51, 58, 60]),
        frag in proptest::num::u16::ANY,
        body in proptest::collection::vec(proptest::num::u8::ANY, 0..120),
    ) {
        // Valid IP headers in front of random transport bytes reach the
        // deeper parsers that random frames rarely do.
        let mut ip = if v6 { IPV6_UDP[..40].to_vec() } else { IPV4_UDP[..20].to_vec() };
        if v6 {
            ip[4..6].copy_from_slice(&(body.len() as u16).to_be_bytes());
            ip[6] = proto;
        } else {
            ip[2..4].copy_from_slice(&(20 + body.len() as u16).to_be_bytes());
            ip[6..8].copy_from_slice(&frag.to_be_bytes());
            ip[9] = proto;
        }
        ip.extend_from_slice(&body);
        let mut d = Decoder::new();
        for _ in 0..2 {
            let _ = d.decode(LinkType::RawIp, &ip, T, ip.len() as u32);
        }
    }
}

/// What tshark shows for frames decoded here: Info for ICMP (tshark adds
/// "(request in N)"-style notes of its own after it), and protocol,
/// source, destination and Info for frames that are not IP.
#[test]
#[ignore = "needs tshark"]
fn tshark_agrees_on_icmp_and_other_frames() {
    use std::io::Write;
    use std::process::Command;
    testkit::need("tshark", "tshark");
    let (c, s) = (sa("10.0.0.1:40000"), sa("10.0.0.2:9"));
    let (c6, s6) = (sa("[fd77::1]:40000"), sa("[fd77::2]:9"));
    let mut reply = ARP_REQUEST;
    reply[7] = 2;
    reply[8..14].copy_from_slice(&MAC_B);
    reply[14..18].copy_from_slice(&[10, 0, 0, 2]);
    reply[18..24].copy_from_slice(&MAC_A);
    reply[24..28].copy_from_slice(&[10, 0, 0, 1]);
    let frames: Vec<(Vec<u8>, u32)> = [
        build::icmp_port_unreachable(&build::udp(c, s, b"x")),
        build::icmp_port_unreachable(&build::udp(c6, s6, b"x")),
        build::icmp_echo(c.ip(), s.ip(), 7, 300, true),
        build::icmp_echo(c6.ip(), s6.ip(), 7, 300, true),
        eth(&[0x86, 0xdd], &neighbor_solicitation()),
        [&[0xff; 6][..], &MAC_A, &[0x08, 0x06], &ARP_REQUEST].concat(),
        eth(&[0x08, 0x06], &reply),
        eth(&[0x88, 0xb5], b"hello"),
        eth(&[0x12, 0x34], b"hello"),
    ]
    .into_iter()
    .map(|f| {
        let n = f.len() as u32;
        (f, n)
    })
    // A frame cut inside its IP header.
    .chain([(eth(&[0x08, 0x00], &IPV4_UDP[..10]), 44)])
    .collect();
    let mut file = tempfile::NamedTempFile::new().unwrap();
    let mut pcap = vec![];
    for x in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65_535, 1] {
        pcap.extend_from_slice(&x.to_le_bytes());
    }
    for (f, wire) in &frames {
        for x in [0, 0, f.len() as u32, *wire] {
            pcap.extend_from_slice(&x.to_le_bytes());
        }
        pcap.extend_from_slice(f);
    }
    file.write_all(&pcap).unwrap();
    let out = Command::new("tshark")
        .args(["-r"])
        .arg(file.path())
        .args(["-T", "fields", "-E", "separator=|"])
        .args([
            "-e",
            "_ws.col.Protocol",
            "-e",
            "_ws.col.Source",
            "-e",
            "_ws.col.Destination",
            "-e",
            "_ws.col.Info",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(
        rows.len(),
        frames.len(),
        "tshark: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut d = Decoder::new();
    for ((f, wire), row) in frames.iter().zip(rows) {
        let cols: Vec<&str> = row.split('|').collect();
        match d.decode(LinkType::Ethernet, f, T, *wire) {
            Decoded::Packet(p) => {
                let info = icmp_of(&p).describe();
                assert!(cols[3].starts_with(&info), "ours {info:?}, tshark {row:?}");
            }
            Decoded::Other(o) => {
                assert_eq!(
                    [o.protocol.as_str(), &o.src, &o.dst, &o.info],
                    cols[..4],
                    "tshark {row:?}"
                );
            }
        }
    }
}

/// `tcpdump -i any` (tcpdump 4.99, Linux cooked v2) on loopback: a SYN
/// from 127.0.0.1:36160 to port 8766 with MSS, SACK, timestamps and WS 10.
const SLL2_LO_SYN: [u8; 80] = [
    0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x04, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x45, 0x00, 0x00, 0x3c, 0xac, 0xb5, 0x40, 0x00, 0x40, 0x06, 0x90, 0x04,
    0x7f, 0x00, 0x00, 0x01, 0x7f, 0x00, 0x00, 0x01, 0x8d, 0x40, 0x22, 0x3e, 0xf8, 0x14, 0x09, 0x03,
    0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xff, 0xd7, 0xfe, 0x30, 0x00, 0x00, 0x02, 0x04, 0xff, 0xd7,
    0x04, 0x02, 0x08, 0x0a, 0x38, 0x94, 0x2a, 0x69, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x0a,
];

/// The same capture: the port unreachable answering a datagram to
/// 127.0.0.1:9, which tshark shows as "Destination unreachable (Port
/// unreachable)".
const SLL2_LO_UNREACHABLE: [u8; 78] = [
    0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x04, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x45, 0xc0, 0x00, 0x3a, 0xed, 0x0e, 0x00, 0x00, 0x40, 0x01, 0x8e, 0xf2,
    0x7f, 0x00, 0x00, 0x01, 0x7f, 0x00, 0x00, 0x01, 0x03, 0x03, 0xbe, 0x19, 0x00, 0x00, 0x00, 0x00,
    0x45, 0x00, 0x00, 0x1e, 0x40, 0x99, 0x40, 0x00, 0x40, 0x11, 0xfc, 0x33, 0x7f, 0x00, 0x00, 0x01,
    0x7f, 0x00, 0x00, 0x01, 0xc8, 0xa7, 0x00, 0x09, 0x00, 0x0a, 0xfe, 0x1d, 0x78, 0x0a,
];

#[test]
fn test_parse_tcpdump_any_loopback_frames() {
    let p = packet(LinkType::LinuxSll2, &SLL2_LO_SYN);
    let t = tcp_of(&p);
    assert_eq!(
        (p.src, p.dst),
        (sa("127.0.0.1:36160"), sa("127.0.0.1:8766"))
    );
    assert_eq!(
        (t.seq, t.window, t.window_scale, t.len),
        (4_162_062_595, 65495, Some(10), 0)
    );
    assert_eq!(t.flags.label(), "[SYN]");
    let p = packet(LinkType::LinuxSll2, &SLL2_LO_UNREACHABLE);
    let i = icmp_of(&p);
    assert_eq!(i.describe(), "Destination unreachable (Port unreachable)");
    assert_eq!(
        i.quoted.map(|q| (q.protocol, q.src, q.dst)),
        Some((17, sa("127.0.0.1:51367"), sa("127.0.0.1:9")))
    );
}

/// A SYN captured on loopback (lo-ethernet.pcap, frame 1): its TCP
/// checksum is the pseudo-header's sum only (0xfe30, which tcpdump calls
/// incorrect), left for a device that loopback does not have.
const LOOPBACK_SYN: [u8; 74] = [
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x00, 0x45, 0x00, //
    0x00, 0x3c, 0xd4, 0x56, 0x40, 0x00, 0x40, 0x06, 0x68, 0x63, 0x7f, 0x00, 0x00, 0x01, 0x7f, 0x00,
    0x00, 0x01, 0xe6, 0xd6, 0x32, 0xc8, 0xe4, 0x9e, 0x1b, 0xf5, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02,
    0xff, 0xd7, 0xfe, 0x30, 0x00, 0x00, 0x02, 0x04, 0xff, 0xd7, 0x04, 0x02, 0x08, 0x0a, 0x63, 0x66,
    0x55, 0xc1, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x0a,
];

fn checksum_of(frame: &[u8]) -> Option<BadChecksum> {
    packet(LinkType::Ethernet, frame).bad_checksum
}

#[test]
fn a_checksum_left_for_the_device_is_not_incorrect() {
    assert_eq!(checksum_of(&LOOPBACK_SYN), None);
    // Finished as the device would (tcpdump: "incorrect -> 0x7ca4").
    let mut f = LOOPBACK_SYN;
    f[50..52].copy_from_slice(&[0x7c, 0xa4]);
    assert_eq!(checksum_of(&f), None);
    // Any other value is a corruption.
    f[51] ^= 0x01;
    assert_eq!(
        checksum_of(&f),
        Some(BadChecksum {
            of: ChecksumOf::Tcp,
            found: 0x7ca5,
            expected: 0x7ca4
        })
    );
}

#[test]
fn a_bit_flipped_on_the_way_is_caught_by_its_checksum() {
    let (c, s) = (sa("10.78.0.2:40001"), sa("10.78.0.1:13000"));
    let f = build::tcp(c, s, 7, Some(9), "P", b"segment 1 ");
    assert_eq!(checksum_of(&f), None);
    // In the payload: TCP's checksum says so.
    let mut g = f.clone();
    g[14 + 20 + 20 + 3] ^= 0x04;
    assert_eq!(checksum_of(&g).map(|b| b.of), Some(ChecksumOf::Tcp));
    // In the source address (10.78.0.2 became 10.78.0.130): the IPv4
    // header's checksum says so first.
    let mut g = f.clone();
    g[14 + 15] ^= 0x80;
    let p = packet(LinkType::Ethernet, &g);
    assert_eq!(p.src, sa("10.78.0.130:40001"));
    assert_eq!(p.bad_checksum.map(|b| b.of), Some(ChecksumOf::Ipv4));
    // In a port: the pseudo-header does not cover it, the segment does.
    let mut g = f.clone();
    g[14 + 20 + 1] ^= 0x01;
    assert_eq!(checksum_of(&g).map(|b| b.of), Some(ChecksumOf::Tcp));
    // Cut by the snap length: the segment's checksum cannot be verified.
    let p = decode(LinkType::Ethernet, &g[..60], T, g.len() as u32).unwrap();
    assert_eq!(p.bad_checksum, None);

    // UDP, over IPv4 and IPv6; and a UDP checksum of zero (none).
    for (c, s) in [
        (sa("10.78.0.2:40000"), sa("10.78.0.1:12000")),
        (sa("[fd00::2]:40000"), sa("[fd00::1]:12000")),
    ] {
        let mut u = build::udp(c, s, b"hello");
        assert_eq!(checksum_of(&u), None);
        let last = u.len() - 1;
        u[last] ^= 0x20;
        assert_eq!(checksum_of(&u).map(|b| b.of), Some(ChecksumOf::Udp));
    }
    let mut u = build::udp(sa("10.78.0.2:40000"), sa("10.78.0.1:12000"), b"hello");
    u[14 + 20 + 6..14 + 20 + 8].copy_from_slice(&[0, 0]);
    assert_eq!(checksum_of(&u), None);
    // TCP over IPv6.
    let mut g = build::tcp(
        sa("[fd00::2]:40001"),
        sa("[fd00::1]:13000"),
        7,
        None,
        "S",
        b"",
    );
    assert_eq!(checksum_of(&g), None);
    g[14 + 40 + 5] ^= 0x10;
    assert_eq!(checksum_of(&g).map(|b| b.of), Some(ChecksumOf::Tcp));
    // ICMP and ICMPv6.
    for (a, b) in [("10.0.0.1", "10.0.0.2"), ("fd00::1", "fd00::2")] {
        let mut e = build::icmp_echo(a.parse().unwrap(), b.parse().unwrap(), 7, 1, true);
        assert_eq!(checksum_of(&e), None);
        let last = e.len() - 1;
        e[last] ^= 0x01;
        let of = checksum_of(&e).map(|b| b.of);
        assert!(
            matches!(of, Some(ChecksumOf::Icmp | ChecksumOf::Icmpv6)),
            "{of:?}"
        );
    }
}

#[test]
fn an_ipv4_header_checksum_of_zero_is_offloaded_not_corrupted() {
    let mut f = build::tcp(sa("10.0.0.1:40000"), sa("10.0.0.2:80"), 1, None, "S", b"");
    f[14 + 10..14 + 12].copy_from_slice(&[0, 0]);
    assert_eq!(checksum_of(&f), None);
}
