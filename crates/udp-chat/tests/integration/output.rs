//! The server obeys SIGTERM, and serves, whatever its stdout and stderr
//! do: nobody reading either or both (`2>&1 | less` left paused), or a
//! stdout on a full disk.

use std::net::UdpSocket;
use std::time::Duration;

use net_core::shutdown::STOP_GRACE;
use testkit::{Output, Server};

use crate::BIN;

const T: Duration = Duration::from_secs(10);

/// Time a loaded test machine may add to the server's own grace period.
const SLACK: Duration = Duration::from_secs(5);

/// Rounds of two datagrams: one too big to answer once uppercased (one
/// warning on stderr, about 170 bytes) and one answered (one log line on
/// stdout). The warnings, about 136 KB, fill a pipe's 64 KiB twice over.
const ROUNDS: usize = 800;

/// Sends `msg` and waits for its uppercase answer.
fn exchange(s: &UdpSocket, server: &Server, msg: &str) {
    s.send_to(msg.as_bytes(), server.addr()).unwrap();
    let mut buf = vec![0u8; 70_000];
    let (n, _) = s
        .recv_from(&mut buf)
        .unwrap_or_else(|e| panic!("no answer to {msg:?}: {e}"));
    assert_eq!(&buf[..n], msg.to_uppercase().as_bytes());
}

fn socket() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    s
}

#[test]
fn sigterm_stops_the_server_whatever_reads_its_output() {
    // "ΐ" is 2 bytes, and 6 uppercased: with ASCII up to the datagram
    // limit, the answer would be 4 bytes over it, so the server warns and
    // does not answer.
    let oversized = format!("ΐ{}", "a".repeat(65_507 - 2));
    for (name, stdout, stderr) in testkit::unread_outputs() {
        let mut server = Server::builder(BIN, &["server", "--port", "0"])
            .stdout(stdout)
            .stderr(stderr)
            .start();
        let s = socket();
        for round in 0..ROUNDS {
            s.send_to(oversized.as_bytes(), server.addr()).unwrap();
            // Answered, so the server has read the one before too: the
            // socket's receive buffer never holds more than these two.
            exchange(&s, &server, &format!("round {round} ({name})"));
        }
        server.assert_stops(STOP_GRACE + SLACK, name);
    }
}

#[test]
fn a_stdout_on_a_full_disk_neither_stops_nor_silences_the_server() {
    let mut server = Server::builder(BIN, &["server", "--port", "0"])
        .stdout(Output::File("/dev/full".into()))
        .start();
    let s = socket();
    for i in 0..200 {
        exchange(&s, &server, &format!("datagram {i} whose log line is lost"));
    }
    server.assert_stops(STOP_GRACE + SLACK, "stdout on a full disk");
    testkit::assert_full_stdout_told(&server.stderr());
}
