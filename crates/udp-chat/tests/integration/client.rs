use std::net::UdpSocket;
use std::thread;
use std::time::{Duration, Instant};

use testkit::{Run, Server};

use crate::BIN;

fn server() -> Server {
    Server::start(BIN, &["server", "--port", "0"])
}

#[test]
fn lines_until_quit() {
    let server = server();
    let port = server.port();
    let run = Run::new(
        BIN,
        &["client", "--port", &port],
        "amrita 31\nstraße\nquit\nnot sent\n".as_bytes(),
    );
    run.assert_success();
    assert_eq!(
        run.stdout_text(),
        format!(
            "AMRITA 31\nreceived from 127.0.0.1:{port}\nSTRASSE\nreceived from 127.0.0.1:{port}\n"
        )
    );
    assert!(!server.stdout().iter().any(|l| l.contains("NOT SENT")));
}

#[test]
fn end_of_input_ends_the_client() {
    let server = server();
    let run = Run::new(
        BIN,
        &["client", "--port", &server.port()],
        b"no newline at the end",
    );
    run.assert_success();
    assert!(
        run.stdout_text()
            .starts_with("NO NEWLINE AT THE END\nreceived from ")
    );
}

#[test]
fn nothing_listening_is_reported_at_once() {
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let run = Run::new(
        BIN,
        &["client", "--port", &port.to_string(), "--timeout", "5"],
        b"hello\n",
    );
    run.assert_code(1);
    assert_eq!(
        run.stderr_text(),
        format!("error: nothing is listening on 127.0.0.1:{port} (connection refused)\n")
    );
}

#[test]
fn silent_server_gives_up_after_the_retries() {
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let counter = thread::spawn(move || {
        silent
            .set_read_timeout(Some(Duration::from_secs(3)))
            .unwrap();
        let mut buf = [0u8; 64];
        let mut seen = 0;
        while silent.recv_from(&mut buf).is_ok() {
            seen += 1;
        }
        seen
    });
    let start = Instant::now();
    let run = Run::new(
        BIN,
        &[
            "client",
            "--port",
            &port.to_string(),
            "--timeout",
            "0.3",
            "--retries",
            "2",
        ],
        b"anyone?\n",
    );
    let elapsed = start.elapsed();
    run.assert_code(1);
    assert_eq!(
        run.stderr_text(),
        format!(
            "warning: no reply to line 1 from 127.0.0.1:{port} after 3 attempt(s) of 0.3 s each\n\
             error: 1 of 1 line got no reply from 127.0.0.1:{port} (is the server running?)\n"
        )
    );
    assert_eq!(
        counter.join().unwrap(),
        3,
        "the message is sent once plus two retries"
    );
    // Generous bound: the point is that it gives up, not how fast.
    assert!(elapsed < Duration::from_secs(20), "took {elapsed:?}");
}

#[test]
fn a_lost_datagram_is_sent_again() {
    let lossy = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = lossy.local_addr().unwrap().port();
    let t = thread::spawn(move || {
        let mut buf = [0u8; 64];
        // Drop the first copy, answer the second.
        let _ = lossy.recv_from(&mut buf).unwrap();
        let (n, from) = lossy.recv_from(&mut buf).unwrap();
        lossy.send_to(&buf[..n].to_ascii_uppercase(), from).unwrap();
    });
    let run = Run::new(
        BIN,
        &["client", "--port", &port.to_string(), "--timeout", "0.3"],
        b"again\n",
    );
    run.assert_success();
    assert!(run.stdout_text().starts_with("AGAIN\n"), "{run}");
    t.join().unwrap();
}

#[test]
fn usage_errors_exit_2() {
    Run::new(BIN, &["client", "--timeout", "-1"], b"").assert_code(2);
    Run::new(BIN, &["client", "--retries", "x"], b"").assert_code(2);
    Run::new(BIN, &["nope"], b"").assert_code(2);
}
