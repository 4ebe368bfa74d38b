use super::ast::{Dir, Expr, NetProto, PortProto, Prim, Proto};
use super::*;

fn port(p: u16) -> Expr {
    Expr::Prim(Prim::Port {
        proto: PortProto::Any,
        dir: Dir::SrcOrDst,
        lo: p,
        hi: p,
    })
}

fn host(a: &str) -> Expr {
    Expr::Prim(Prim::Net {
        proto: NetProto::Any,
        dir: Dir::SrcOrDst,
        addr: a.parse().unwrap(),
        prefix: if a.contains(':') { 128 } else { 32 },
    })
}

fn and(a: Expr, b: Expr) -> Expr {
    Expr::And(Box::new(a), Box::new(b))
}

fn or(a: Expr, b: Expr) -> Expr {
    Expr::Or(Box::new(a), Box::new(b))
}

fn not(a: Expr) -> Expr {
    Expr::Not(Box::new(a))
}

fn parse(s: &str) -> Expr {
    Filter::parse(s).unwrap().expr
}

#[test]
fn and_and_or_bind_alike_from_the_left() {
    let tcp = Expr::Prim(Prim::Proto(Proto::Tcp));
    let udp = Expr::Prim(Prim::Proto(Proto::Udp));
    assert_eq!(
        parse("tcp or udp and port 53"),
        and(or(tcp.clone(), udp.clone()), port(53))
    );
    assert_eq!(parse("not tcp and udp"), and(not(tcp.clone()), udp.clone()));
    assert_eq!(
        parse("tcp || (udp && port 53)"),
        or(tcp, and(udp, port(53)))
    );
}

#[test]
fn a_bare_value_takes_the_previous_qualifiers() {
    assert_eq!(parse("port 80 or 443"), or(port(80), port(443)));
    assert_eq!(
        parse("host 10.0.0.1 or 10.0.0.2 and not ::1"),
        and(or(host("10.0.0.1"), host("10.0.0.2")), not(host("::1")))
    );
    assert_eq!(
        parse("host 10.0.0.1 and (10.0.0.2 or 10.0.0.3)"),
        and(host("10.0.0.1"), or(host("10.0.0.2"), host("10.0.0.3")))
    );
    let Expr::Or(_, b) = parse("tcp dst port 80 or 8080") else {
        panic!()
    };
    assert_eq!(
        *b,
        Expr::Prim(Prim::Port {
            proto: PortProto::Tcp,
            dir: Dir::Dst,
            lo: 8080,
            hi: 8080
        })
    );
}

#[test]
fn src_or_dst_is_one_qualifier() {
    let Expr::Prim(Prim::Net { dir, .. }) = parse("src and dst net 10.0.0.0/8") else {
        panic!()
    };
    assert_eq!(dir, Dir::SrcAndDst);
    let Expr::Prim(Prim::Net { dir, .. }) = parse("src or dst host 10.0.0.1") else {
        panic!()
    };
    assert_eq!(dir, Dir::SrcOrDst);
}

#[test]
fn bad_expressions_name_their_token() {
    for (text, token) in [
        ("tcp and gateway 10.0.0.1", "'gateway'"),
        ("port 80 or", "'or'"),
        ("host nosuch.invalid", "'nosuch.invalid'"),
        ("net 10.1.2.3/8", "'10.1.2.3'"),
        ("tcp port 99999", "'99999'"),
        ("portrange 1-x", "'1-x'"),
        ("tcp[13:3] = 0", "'3'"),
        ("(tcp", "'tcp'"),
        ("tcp)", "')'"),
        ("frobnicate", "'frobnicate'"),
        ("10.0.0.1", "'10.0.0.1'"),
        ("ip host ::1", "'::1'"),
        ("port 80 $ 1", "'$'"),
        ("proto \\icmp6", "'\\icmp6'"),
        ("ether proto 100", "'100'"),
        ("tcp proto 6", "'6'"),
    ] {
        let e = Filter::parse(text).unwrap_err().to_string();
        assert!(e.contains(token), "{text}: {e}");
        assert!(e.starts_with("filter expression: "), "{text}: {e}");
    }
    assert!(Filter::parse("  ").is_err());
}

#[test]
fn vlan_is_refused_where_tags_cannot_be_seen() {
    let f = Filter::parse("vlan and udp").unwrap();
    assert!(f.program(Target::Link(LinkType::Ethernet)).is_ok());
    for t in [
        Target::Link(LinkType::LinuxSll),
        Target::Link(LinkType::RawIp),
        Target::Kernel(bpf::Layout::Cooked),
    ] {
        assert!(f.program(t).is_err(), "{t:?}");
    }
}

#[test]
fn constant_division_by_zero_is_an_error() {
    let f = Filter::parse("ip[0] / 0 = 1").unwrap();
    assert!(f.program(Target::Link(LinkType::Ethernet)).is_err());
}

#[test]
fn very_long_or_deep_expressions_are_refused_not_overflowing_the_stack() {
    let e = Filter::parse(&vec!["tcp"; 600].join(" and "))
        .unwrap_err()
        .to_string();
    assert!(e.contains("longer than"), "{e}");
    for deep in [
        format!("{}tcp{}", "(".repeat(101), ")".repeat(101)),
        format!("{}udp", "not ".repeat(101)),
        format!("ip[{}0{}] = 1", "(".repeat(101), ")".repeat(101)),
        format!("{}1 = len", "- ".repeat(101)),
    ] {
        let e = Filter::parse(&deep).unwrap_err().to_string();
        assert!(e.contains("nested more than"), "{e}");
    }
    // The longest and deepest accepted compile (or are refused as too
    // large for BPF) within a test thread's stack.
    for ok in [
        vec!["tcp"; 499].join(" and "),
        format!("{}tcp{}", "(".repeat(100), ")".repeat(100)),
        format!("{}udp", "not ".repeat(100)),
        format!("{}1 = len", "- ".repeat(100)),
    ] {
        let f = Filter::parse(&ok).unwrap();
        let _ = f.program(Target::Link(LinkType::Ethernet));
    }
}

mod fuzz {
    use proptest::prelude::*;

    use super::*;

    /// Words and operators of the grammar, so random sequences get deep
    /// into the parser instead of failing at the first character.
    const PIECES: &[&str] = &[
        "tcp",
        "udp",
        "icmp",
        "ip",
        "ip6",
        "arp",
        "ether",
        "vlan",
        "host",
        "net",
        "port",
        "portrange",
        "src",
        "dst",
        "and",
        "or",
        "not",
        "!",
        "&&",
        "||",
        "(",
        ")",
        "[",
        "]",
        ":",
        "=",
        "!=",
        "<",
        ">=",
        "+",
        "-",
        "*",
        "/",
        "%",
        "&",
        "|",
        "^",
        "<<",
        ">>",
        "len",
        "less",
        "greater",
        "proto",
        "mask",
        "10.0.0.1",
        "10.0",
        "::1",
        "fe80::",
        "80",
        "1-100",
        "0",
        "4",
        "0xffffffff",
        "tcpflags",
        "tcp-syn",
        "icmptype",
        "broadcast",
        "multicast",
        "00:11:22:33:44:55",
        "gateway",
        "http",
    ];

    proptest! {
        #[test]
        fn any_expression_parses_or_fails_cleanly_and_runs(
            picks in proptest::collection::vec(0..PIECES.len(), 1..24),
            frame in proptest::collection::vec(any::<u8>(), 0..80),
        ) {
            let text: Vec<&str> = picks.iter().map(|&i| PIECES[i]).collect();
            let Ok(f) = Filter::parse(&text.join(" ")) else { return Ok(()) };
            for t in [
                Target::Link(LinkType::Ethernet),
                Target::Link(LinkType::LinuxSll),
                Target::Link(LinkType::LinuxSll2),
                Target::Link(LinkType::RawIp),
                Target::Kernel(bpf::Layout::Cooked),
            ] {
                if let Ok(p) = f.program(t) {
                    // Every program this compiler makes is one the
                    // interpreter (and so the kernel) can run to the end.
                    prop_assert!(bpf::run_len(&p, &frame, 100, bpf::Context::default()).is_some());
                }
            }
        }
    }
}
