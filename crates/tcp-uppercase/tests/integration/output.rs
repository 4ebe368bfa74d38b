//! The server obeys SIGTERM, and serves, whatever its stdout and stderr
//! do: nobody reading either or both (`2>&1 | less` left paused), or a
//! stdout on a full disk.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use net_core::shutdown::STOP_GRACE;
use testkit::{Output, Server};

use crate::BIN;

const T: Duration = Duration::from_secs(10);

/// Time a loaded test machine may add to the server's own grace period.
const SLACK: Duration = Duration::from_secs(5);

/// Connections a client resets: each is one warning on stderr, about
/// 150 bytes, so these fill a pipe's 64 KiB several times over.
const RESETS: usize = 1_500;

/// One sentence over its own connection, answered in full.
fn exchange(server: &Server, text: &str) {
    let mut s = TcpStream::connect(server.addr()).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    s.write_all(text.as_bytes()).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    assert_eq!(reply, text.to_uppercase());
}

/// A client that leaves with its reply unread: closing a socket with
/// unread data resets the connection, and the server says so on stderr.
fn reset_after_reply(server: &Server) {
    let mut s = TcpStream::connect(server.addr()).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    s.write_all(b"left unread\n").unwrap();
    // The reply has arrived once a peek sees it; it stays unread.
    let _ = s.peek(&mut [0u8; 1]);
}

#[test]
fn sigterm_stops_the_server_whatever_reads_its_output() {
    for (name, stdout, stderr) in testkit::unread_outputs() {
        let mut server = Server::builder(BIN, &["server", "--port", "0"])
            .stdout(stdout)
            .stderr(stderr)
            .start();
        for i in 0..RESETS {
            reset_after_reply(&server);
            if i % 100 == 0 {
                exchange(&server, &format!("still served after {i} resets ({name})"));
            }
        }
        exchange(&server, "served with the output stalled");
        server.assert_stops(STOP_GRACE + SLACK, name);
    }
}

#[test]
fn a_stdout_on_a_full_disk_neither_stops_nor_silences_the_server() {
    let mut server = Server::builder(BIN, &["server", "--port", "0"])
        .stdout(Output::File("/dev/full".into()))
        .start();
    for i in 0..200 {
        exchange(&server, &format!("sentence {i} whose log line is lost"));
    }
    server.assert_stops(STOP_GRACE + SLACK, "stdout on a full disk");
    testkit::assert_full_stdout_told(&server.stderr());
}
