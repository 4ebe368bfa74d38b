//! `live::LiveSource` on loopback traffic the test makes itself (needs
//! root; prints a skip notice otherwise).

use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use net_trace::decode::{LinkType, Packet, Transport, decode};
use net_trace::live::{LiveFrame, LiveOptions, LiveSource, SLL2_HEADER_LEN, Stats};

/// The longest a test waits for the frames it sent.
const PATIENCE: Duration = Duration::from_secs(10);

fn open(ifaces: &[&str], ports: &[u16], snaplen: u32) -> LiveSource {
    LiveSource::open(&LiveOptions {
        ifaces: ifaces.iter().map(|s| s.to_string()).collect(),
        ports: ports.to_vec(),
        snaplen,
        filter: None,
    })
    .unwrap()
}

fn packet(f: &LiveFrame) -> Option<Packet> {
    match f.link {
        LinkType::LinuxSll2 => decode(
            LinkType::RawIp,
            &f.data[SLL2_HEADER_LEN..],
            f.time,
            f.wire_len - SLL2_HEADER_LEN as u32,
        ),
        link => decode(link, &f.data, f.time, f.wire_len),
    }
}

fn udp_on(p: &Packet, port: u16) -> bool {
    matches!(p.transport, Transport::Udp(_)) && (p.src.port() == port || p.dst.port() == port)
}

/// Takes frames until `done` says so (or [`PATIENCE`] runs out), then
/// stops the capture and takes what is left: every frame captured, and the
/// final counts.
fn capture_until(
    mut source: LiveSource,
    mut done: impl FnMut(&[LiveFrame]) -> bool,
) -> (Vec<LiveFrame>, Stats) {
    let started = Instant::now();
    let mut frames = Vec::new();
    while !done(&frames) && started.elapsed() < PATIENCE {
        if let Some(f) = source.recv(Duration::from_millis(50)) {
            frames.push(f);
        }
    }
    let stats = source.stop().unwrap();
    while let Some(f) = source.recv(Duration::ZERO) {
        frames.push(f);
    }
    (frames, stats)
}

/// A UDP echo exchange on loopback: `n` datagrams each way between a
/// client and a server, after `n` datagrams between two decoy sockets.
/// Returns the server's port and the decoys' ports.
fn udp_exchange(ip: &str, n: usize, size: usize) -> (u16, [u16; 2]) {
    let any: SocketAddr = format!("{ip}:0").parse().unwrap();
    let decoy_a = UdpSocket::bind(any).unwrap();
    let decoy_b = UdpSocket::bind(any).unwrap();
    for _ in 0..n {
        decoy_a
            .send_to(b"decoy", decoy_b.local_addr().unwrap())
            .unwrap();
    }
    let server = UdpSocket::bind(any).unwrap();
    let client = UdpSocket::bind(any).unwrap();
    server.set_read_timeout(Some(PATIENCE)).unwrap();
    client.set_read_timeout(Some(PATIENCE)).unwrap();
    let payload = vec![b'x'; size];
    let mut buf = vec![0; size + 1];
    for _ in 0..n {
        client
            .send_to(&payload, server.local_addr().unwrap())
            .unwrap();
        let (got, from) = server.recv_from(&mut buf).unwrap();
        server.send_to(&buf[..got], from).unwrap();
        client.recv_from(&mut buf).unwrap();
    }
    (
        server.local_addr().unwrap().port(),
        [
            decoy_a.local_addr().unwrap().port(),
            decoy_b.local_addr().unwrap().port(),
        ],
    )
}

/// Checks an exchange's capture: exactly `2n` UDP frames of the server's
/// port, none of the decoys', nothing dropped, every frame counted.
fn check_exchange(frames: &[LiveFrame], stats: Stats, port: u16, decoys: [u16; 2], n: usize) {
    let packets: Vec<Packet> = frames.iter().filter_map(packet).collect();
    let ours = packets.iter().filter(|p| udp_on(p, port)).count();
    assert_eq!(ours, 2 * n, "each datagram once (no loopback duplicates)");
    for d in decoys {
        assert!(
            !packets.iter().any(|p| udp_on(p, d)),
            "the port filter let port {d} through"
        );
    }
    assert_eq!(stats.dropped, 0, "{stats:?}");
    assert_eq!(stats.captured, frames.len() as u64, "{stats:?}");
    assert_eq!(stats.received, stats.captured, "{stats:?}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    for f in frames {
        assert!(now - f.time < PATIENCE, "kernel time {:?}", f.time);
        assert!(!f.outgoing, "the outgoing loopback copy was kept");
        assert_eq!(&*f.iface, "lo");
    }
}

#[test]
#[ignore = "needs root"]
fn loopback_frames_once_each_filtered_by_port() {
    testkit::need_root("a packet socket");
    const N: usize = 40;
    // The server's port is only known after binding; filter on a port
    // chosen first, then bind the server there.
    let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = probe.local_addr().unwrap().port();
    drop(probe);
    let source = open(&["lo"], &[port], 0);
    assert_eq!(source.link(), LinkType::Ethernet);
    assert_eq!(source.interfaces(), ["lo"]);
    let decoy_a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let decoy_b = UdpSocket::bind("127.0.0.1:0").unwrap();
    for _ in 0..N {
        decoy_a
            .send_to(b"decoy", decoy_b.local_addr().unwrap())
            .unwrap();
    }
    let server = UdpSocket::bind(("127.0.0.1", port)).unwrap();
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut buf = [0; 64];
    server.set_read_timeout(Some(PATIENCE)).unwrap();
    client.set_read_timeout(Some(PATIENCE)).unwrap();
    for i in 0..N {
        client
            .send_to(format!("ping {i}").as_bytes(), server.local_addr().unwrap())
            .unwrap();
        let (got, from) = server.recv_from(&mut buf).unwrap();
        server.send_to(&buf[..got], from).unwrap();
        client.recv_from(&mut buf).unwrap();
    }
    let (frames, stats) = capture_until(source, |f| {
        f.iter()
            .filter_map(packet)
            .filter(|p| udp_on(p, port))
            .count()
            >= 2 * N
    });
    let decoys = [
        decoy_a.local_addr().unwrap().port(),
        decoy_b.local_addr().unwrap().port(),
    ];
    check_exchange(&frames, stats, port, decoys, N);
    for f in &frames {
        assert_eq!(f.link, LinkType::Ethernet);
        assert_eq!(f.wire_len as usize, f.data.len());
    }
}

#[test]
#[ignore = "needs root"]
fn any_gives_cooked_frames_once_each() {
    testkit::need_root("a packet socket");
    const N: usize = 30;
    let source = open(&["any"], &[], 0);
    assert_eq!(source.link(), LinkType::LinuxSll2);
    let (port, decoys) = udp_exchange("127.0.0.1", N, 10);
    let (frames, stats) = capture_until(source, |f| {
        f.iter()
            .filter_map(packet)
            .filter(|p| udp_on(p, port))
            .count()
            >= 2 * N
    });
    let ours: Vec<&LiveFrame> = frames
        .iter()
        .filter(|f| packet(f).is_some_and(|p| udp_on(&p, port)))
        .collect();
    assert_eq!(ours.len(), 2 * N, "each datagram once");
    // No port filter: the decoys are there, once each too.
    let decoy_frames = frames
        .iter()
        .filter_map(packet)
        .filter(|p| udp_on(p, decoys[1]))
        .count();
    assert_eq!(decoy_frames, N);
    for f in ours {
        let h = &f.data[..SLL2_HEADER_LEN];
        assert_eq!(&h[0..2], &[0x08, 0x00], "protocol IPv4");
        assert_eq!(&h[2..4], &[0, 0], "reserved");
        assert_eq!(u32::from_be_bytes([h[4], h[5], h[6], h[7]]), f.ifindex);
        assert_eq!(&h[8..10], &772u16.to_be_bytes(), "ARPHRD_LOOPBACK");
        assert_eq!(h[10], 0, "PACKET_HOST: the incoming copy");
        assert_eq!(&*f.iface, "lo");
        assert_eq!(f.wire_len as usize, f.data.len());
        assert_eq!(f.wire_len as usize, SLL2_HEADER_LEN + 20 + 8 + 10);
    }
    assert_eq!(stats.dropped, 0, "{stats:?}");
    assert_eq!(stats.captured, frames.len() as u64, "{stats:?}");
}

#[test]
#[ignore = "needs root"]
fn any_with_ports_filters_cooked_frames_and_ipv6() {
    testkit::need_root("a packet socket");
    const N: usize = 20;
    for ip in ["127.0.0.1", "[::1]"] {
        if ip == "[::1]" && UdpSocket::bind("[::1]:0").is_err() {
            testkit::skip("IPv6 part of any_with_ports_filters_cooked_frames_and_ipv6 (no ::1)");
            continue;
        }
        let probe = UdpSocket::bind(format!("{ip}:0")).unwrap();
        let port = probe.local_addr().unwrap().port();
        drop(probe);
        let source = open(&["any"], &[port], 0);
        let decoy_a = UdpSocket::bind(format!("{ip}:0")).unwrap();
        let decoy_b = UdpSocket::bind(format!("{ip}:0")).unwrap();
        for _ in 0..N {
            decoy_a
                .send_to(b"decoy", decoy_b.local_addr().unwrap())
                .unwrap();
        }
        let server = UdpSocket::bind(format!("{ip}:{port}")).unwrap();
        let client = UdpSocket::bind(format!("{ip}:0")).unwrap();
        let mut buf = [0; 64];
        server.set_read_timeout(Some(PATIENCE)).unwrap();
        client.set_read_timeout(Some(PATIENCE)).unwrap();
        for _ in 0..N {
            client
                .send_to(b"hello", server.local_addr().unwrap())
                .unwrap();
            let (got, from) = server.recv_from(&mut buf).unwrap();
            server.send_to(&buf[..got], from).unwrap();
            client.recv_from(&mut buf).unwrap();
        }
        let (frames, stats) = capture_until(source, |f| {
            f.iter()
                .filter_map(packet)
                .filter(|p| udp_on(p, port))
                .count()
                >= 2 * N
        });
        let decoys = [
            decoy_a.local_addr().unwrap().port(),
            decoy_b.local_addr().unwrap().port(),
        ];
        check_exchange(&frames, stats, port, decoys, N);
    }
}

#[test]
#[ignore = "needs root"]
fn snap_length_cuts_frames_and_keeps_their_wire_length() {
    testkit::need_root("a packet socket");
    const SIZE: usize = 1000;
    for (iface, link_header) in [("lo", 14), ("any", SLL2_HEADER_LEN)] {
        let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = probe.local_addr().unwrap().port();
        drop(probe);
        let source = open(&[iface], &[port], 100);
        let server = UdpSocket::bind(("127.0.0.1", port)).unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client
            .send_to(&[b'y'; SIZE], server.local_addr().unwrap())
            .unwrap();
        // The UDP destination port, read from the bytes (the rest of the
        // datagram is cut off): other loopback traffic (ICMP) may pass the
        // filter too.
        let ours = |f: &LiveFrame| {
            let at = link_header + 20 + 2;
            f.data.get(at..at + 2) == Some(&port.to_be_bytes()[..])
        };
        let (frames, stats) = capture_until(source, |f| f.iter().any(ours));
        let frames: Vec<&LiveFrame> = frames.iter().filter(|f| ours(f)).collect();
        assert_eq!(frames.len(), 1, "{iface}: {frames:?}");
        assert_eq!(frames[0].data.len(), 100, "{iface}");
        assert_eq!(
            frames[0].wire_len as usize,
            link_header + 20 + 8 + SIZE,
            "{iface}"
        );
        assert_eq!(stats.dropped, 0);
    }
}

#[test]
#[ignore = "needs root"]
fn tcp_handshake_is_seen_in_order() {
    testkit::need_root("a packet socket");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let source = open(&["lo"], &[port], 0);
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    let flags = |p: &Packet| match &p.transport {
        Transport::Tcp(t) => Some((t.flags.syn, t.flags.ack)),
        _ => None,
    };
    let (frames, stats) = capture_until(source, |f| f.len() >= 3);
    drop((client, server));
    let seen: Vec<_> = frames
        .iter()
        .filter_map(packet)
        .filter_map(|p| flags(&p))
        .collect();
    assert_eq!(
        seen[..3],
        [(true, false), (true, true), (false, true)],
        "SYN, SYN-ACK, ACK"
    );
    assert_eq!(stats.dropped, 0);
}

#[test]
fn unknown_interfaces_are_refused_by_name() {
    let err = LiveSource::open(&LiveOptions {
        ifaces: vec!["lo".into(), "nosuch0".into()],
        ports: vec![],
        snaplen: 0,
        filter: None,
    })
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot capture on nosuch0 (no interface named nosuch0)"
    );
}

#[test]
#[ignore = "needs root"]
fn stop_is_prompt_and_repeatable() {
    testkit::need_root("a packet socket");
    let mut source = open(&["lo"], &[9], 0);
    let started = Instant::now();
    let first = source.stop().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(source.is_finished());
    assert_eq!(source.stop().unwrap(), first);
    assert!(source.recv(Duration::from_millis(1)).is_none());
}

#[test]
#[ignore = "needs root"]
fn several_interfaces_share_one_cooked_socket_filtered_by_index() {
    testkit::need_root("a packet socket");
    let others: Vec<String> = net_trace::live::interfaces()
        .into_iter()
        .filter(|i| i.name != "lo")
        .map(|i| i.name)
        .collect();
    let [first, second, ..] = others.as_slice() else {
        testkit::skip(
            "several_interfaces_share_one_cooked_socket_filtered_by_index needs two interfaces besides lo",
        );
        return;
    };
    const N: usize = 10;
    // lo and another: loopback traffic arrives, cooked, once each.
    let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = probe.local_addr().unwrap().port();
    drop(probe);
    let with_lo = open(&["lo", first], &[port], 0);
    assert_eq!(with_lo.link(), LinkType::LinuxSll2);
    // Two others, without lo: the same traffic must not arrive.
    let without_lo = open(&[first, second], &[], 0);
    let server = UdpSocket::bind(("127.0.0.1", port)).unwrap();
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    for _ in 0..N {
        client.send_to(b"hi", server.local_addr().unwrap()).unwrap();
    }
    let (frames, stats) = capture_until(with_lo, |f| {
        f.iter()
            .filter_map(packet)
            .filter(|p| udp_on(p, port))
            .count()
            >= N
    });
    let ours: Vec<&LiveFrame> = frames
        .iter()
        .filter(|f| packet(f).is_some_and(|p| udp_on(&p, port)))
        .collect();
    assert_eq!(ours.len(), N);
    assert!(ours.iter().all(|f| &*f.iface == "lo" && !f.outgoing));
    assert_eq!(stats.dropped, 0);
    // By now every datagram has passed lo; none may have reached the
    // socket watching the other two interfaces.
    let (frames, _) = capture_until(without_lo, |_| true);
    assert!(
        !frames
            .iter()
            .any(|f| packet(f).is_some_and(|p| udp_on(&p, port))),
        "frames of lo reached a capture on {first} and {second}"
    );
}

#[test]
#[ignore = "needs root"]
fn a_filter_expression_runs_in_the_kernel() {
    testkit::need_root("a packet socket");
    // `lo` alone: an Ethernet-layout socket; `any`: a cooked one.
    for ifaces in [["lo"], ["any"]] {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = server.local_addr().unwrap().port();
        // Datagrams to the port whose payload starts with `a`.
        let expr = format!("udp and dst port {port} and udp[8] = 0x61");
        let source = LiveSource::open(&LiveOptions {
            ifaces: ifaces.iter().map(|s| s.to_string()).collect(),
            ports: vec![],
            snaplen: 0,
            filter: Some(net_trace::filter::Filter::parse(&expr).unwrap()),
        })
        .unwrap();
        let to = server.local_addr().unwrap();
        let back = client.local_addr().unwrap();
        for _ in 0..3 {
            client.send_to(b"a wanted", to).unwrap();
            client.send_to(b"b not wanted", to).unwrap();
            server.send_to(b"a from the port", back).unwrap();
        }
        let (frames, stats) = capture_until(source, |f| f.len() >= 3);
        let kept: Vec<Packet> = frames.iter().filter_map(packet).collect();
        assert_eq!(kept.len(), 3, "{ifaces:?}: {kept:?}");
        for p in &kept {
            assert_eq!(p.dst.port(), port, "{ifaces:?}: {p:?}");
        }
        // The kernel passed only those: nothing else reached the socket.
        assert_eq!(stats.received, 3, "{ifaces:?}: {stats:?}");
    }
}

/// A consumer slower than the traffic does not make the capture hold
/// every frame in memory: past its backlog limit (64 MiB, as much as the
/// kernel's ring) the capture leaves frames to the kernel, which drops
/// and counts them, as with tcpdump behind a slow terminal.
#[test]
#[ignore = "needs root"]
fn a_consumer_that_falls_behind_holds_a_bounded_backlog() {
    const PAYLOAD: usize = 1400;
    /// The backlog limit and the ring, with room for the frames' headers.
    const MOST_HELD: usize = 160 << 20;
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = sink.local_addr().unwrap();
    let mut source = open(&["lo"], &[to.port()], 0);
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    let payload = vec![b'x'; PAYLOAD];
    // Four times what the capture may hold, none of it taken yet.
    let sent = 4 * (64 << 20) / PAYLOAD;
    for _ in 0..sent {
        // The receiver is never read: its buffer overflows, which does
        // not keep the frames from the capture.
        let _ = sender.send_to(&payload, to);
    }
    let stats = source.stop().unwrap();
    let held = stats.captured as usize * PAYLOAD;
    assert!(held <= MOST_HELD, "{stats:?}: {held} bytes held");
    assert!(stats.dropped > 0, "{stats:?}");
    assert!(
        stats.captured + stats.dropped <= stats.received,
        "{stats:?}"
    );
    // What was held is all there.
    let mut taken = 0u64;
    while source.recv(Duration::ZERO).is_some() {
        taken += 1;
    }
    assert_eq!(taken, stats.captured);
}
