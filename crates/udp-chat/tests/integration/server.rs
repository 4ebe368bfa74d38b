use std::net::UdpSocket;
use std::time::Duration;

use testkit::Server;

use crate::BIN;

const T: Duration = Duration::from_secs(10);

fn start(extra: &[&str]) -> Server {
    let mut args = vec!["server", "--port", "0"];
    args.extend_from_slice(extra);
    Server::start(BIN, &args)
}

fn socket_for(server: &Server) -> UdpSocket {
    let any = if server.addr().is_ipv6() {
        "[::1]:0"
    } else {
        "127.0.0.1:0"
    };
    let s = UdpSocket::bind(any).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    s
}

/// Sends one datagram and returns the first reply from the server.
fn exchange(s: &UdpSocket, server: &Server, msg: &[u8]) -> Vec<u8> {
    s.send_to(msg, server.addr()).unwrap();
    let mut buf = vec![0u8; 70_000];
    loop {
        let (n, from) = s.recv_from(&mut buf).unwrap();
        if from == server.addr() {
            return buf[..n].to_vec();
        }
    }
}

#[test]
fn textbook_exchange_and_log() {
    let server = start(&[]);
    assert!(
        server.readiness().ends_with(" (udp)"),
        "{}",
        server.readiness()
    );
    let s = socket_for(&server);
    assert_eq!(exchange(&s, &server, b"amrita 31"), b"AMRITA 31");
    assert_eq!(
        exchange(&s, &server, "straße".as_bytes()),
        "STRASSE".as_bytes()
    );
    let me = s.local_addr().unwrap();
    server.wait_for_stdout(T, |l| l == format!("AMRITA 31 from {me}"));
    server.wait_for_stdout(T, |l| l == format!("STRASSE from {me}"));
}

#[test]
fn empty_and_invalid_datagrams_are_answered_in_kind() {
    let server = start(&[]);
    let s = socket_for(&server);
    assert_eq!(exchange(&s, &server, b""), b"");
    assert_eq!(exchange(&s, &server, b"ok\xff\xfe"), b"OK\xff\xfe");
}

#[test]
fn largest_datagram_comes_back_byte_exact() {
    let server = start(&["--quiet"]);
    let s = socket_for(&server);
    let msg: Vec<u8> = b"abcdefghij 0123456789 "
        .iter()
        .copied()
        .cycle()
        .take(65_507)
        .collect();
    let reply = exchange(&s, &server, &msg);
    assert_eq!(reply.len(), 65_507);
    assert_eq!(reply, msg.to_ascii_uppercase());
}

#[test]
fn survives_a_flood_of_random_datagrams() {
    let server = start(&["--quiet"]);
    let flood = socket_for(&server);
    // A small deterministic generator: the flood is the same on every run.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..2_000 {
        let len = (next() % 1_500) as usize;
        let msg: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        flood.send_to(&msg, server.addr()).unwrap();
    }
    // A fresh client still gets a correct answer. The flood may still fill
    // the server's receive buffer when it asks, and UDP drops what does not
    // fit, so it asks again as a real client would.
    let s = socket_for(&server);
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut buf = [0u8; 64];
    let answered = (0..40).any(|_| {
        s.send_to(b"still here", server.addr()).unwrap();
        matches!(s.recv_from(&mut buf), Ok((n, from)) if from == server.addr() && &buf[..n] == b"STILL HERE")
    });
    assert!(answered, "no correct answer after the flood");
}

#[test]
fn growth_over_the_limit_is_skipped_not_fatal() {
    let server = start(&[]);
    let s = socket_for(&server);
    // 60,000 bytes that uppercase to 180,000: too big for one datagram.
    s.send_to("ΐ".repeat(30_000).as_bytes(), server.addr())
        .unwrap();
    server.wait_for_stdout(T, |_| !server.stderr().is_empty());
    let warning = server.stderr().join("\n");
    assert!(
        warning.contains("over the 65507-byte datagram limit"),
        "{warning}"
    );
    // The next datagram is answered, and it is the first reply we see.
    assert_eq!(exchange(&s, &server, b"after"), b"AFTER");
}

#[test]
fn ipv6_works() {
    if UdpSocket::bind("[::1]:0").is_err() {
        testkit::skip("IPv6 loopback is not available on this machine");
        return;
    }
    let server = Server::start(BIN, &["server", "--bind", "::1", "--port", "0"]);
    assert!(server.readiness().starts_with("listening on [::1]:"));
    let s = socket_for(&server);
    assert_eq!(exchange(&s, &server, b"v6"), b"V6");
}

#[test]
fn sigterm_exits_zero() {
    let mut server = start(&[]);
    let s = socket_for(&server);
    assert_eq!(exchange(&s, &server, b"x"), b"X");
    let status = server.terminate(T).expect("exited after SIGTERM");
    assert!(status.success(), "{status}");
}

/// A server whose stdout nobody reads (`udp-chat server | less`, left
/// paused) after it answered 10,000 datagrams (returned, with the socket
/// that sent them).
fn stalled_after_10k_datagrams() -> (Server, UdpSocket) {
    let server = Server::start_stalled(BIN, &["server", "--port", "0"]);
    let s = socket_for(&server);
    // Escape characters show as `\u{1b}` in the log: long log lines, so
    // the pipe and the log's queue fill well before the 10,000th.
    let line = "\u{1b}".repeat(100);
    for i in 0..10_000 {
        let msg = format!("{i} {line}");
        assert_eq!(
            exchange(&s, &server, msg.as_bytes()),
            msg.to_uppercase().as_bytes(),
            "datagram {i}"
        );
    }
    (server, s)
}

#[test]
fn a_stdout_nobody_reads_never_stops_the_server() {
    // The log cannot keep up, the service must. Then the pager resumes:
    // the log drains and says what it lost.
    let (mut server, s) = stalled_after_10k_datagrams();
    let me = s.local_addr().unwrap();
    testkit::peers::assert_log_drains_and_counts(
        &mut server,
        |server| assert_eq!(exchange(&s, server, b"after"), b"AFTER"),
        |l| l == format!("AFTER from {me}"),
    );
}

#[test]
fn a_stdout_still_stalled_at_sigterm_does_not_hold_up_the_exit() {
    let (mut server, _s) = stalled_after_10k_datagrams();
    testkit::peers::assert_stops_while_stalled(&mut server);
}

#[test]
fn every_line_logged_before_sigterm_reaches_a_pipe() {
    // Into a pipe the log is written in batches: the exit must write the
    // last one.
    const N: usize = 2_000;
    let mut server = start(&[]);
    let s = socket_for(&server);
    for i in 0..N {
        let msg = format!("message {i}");
        assert_eq!(
            exchange(&s, &server, msg.as_bytes()),
            msg.to_uppercase().as_bytes()
        );
    }
    let status = server.terminate(T).expect("exited after SIGTERM");
    assert!(status.success(), "{status}");
    let out = server.stdout();
    assert_eq!(out[0], server.readiness(), "the readiness line comes first");
    let me = s.local_addr().unwrap();
    let logged: Vec<&String> = out[1..]
        .iter()
        .filter(|l| l.ends_with(&format!(" from {me}")))
        .collect();
    assert_eq!(logged.len(), N, "log lines after SIGTERM: {:?}", out.last());
    assert_eq!(*logged[N - 1], format!("MESSAGE {} from {me}", N - 1));
}
