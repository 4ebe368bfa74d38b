//! tcp-uppercase with a stdout nobody reads, then read again: it keeps
//! serving, and when its log drains it says how many lines it dropped.
//! (udp-chat and http-server have the same check in their own tests.)

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use testkit::{Server, bin_path};

const T: Duration = Duration::from_secs(10);

#[test]
fn tcp_uppercase_log_that_drains_after_a_stall_says_what_it_dropped() {
    let mut server = Server::start_stalled(bin_path("tcp-uppercase"), &["server", "--port", "0"]);
    let mut s = TcpStream::connect(server.addr()).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    // Escape characters show as `\u{1b}` in the log: long log lines, so
    // the pipe and the log's queue fill well before the 10,000th.
    let escapes = "\u{1b}".repeat(100);
    for i in 0..10_000 {
        exchange(&mut s, &format!("line {i} {escapes}\n"));
    }
    testkit::peers::assert_log_drains_and_counts(
        &mut server,
        // The connection closes before SIGTERM, which would otherwise
        // wait for it.
        move |_| exchange(&mut s, "after the stall\n"),
        |l| l.contains("AFTER THE STALL"),
    );
}

/// One line over `s`, answered in full.
fn exchange(s: &mut TcpStream, msg: &str) {
    s.write_all(msg.as_bytes()).unwrap();
    let mut reply = vec![0; msg.len()];
    s.read_exact(&mut reply).unwrap();
    assert_eq!(reply, msg.to_uppercase().as_bytes());
}
