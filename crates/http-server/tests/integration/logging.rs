//! The access log tells the truth: the body bytes that actually went out
//! for a cut transfer or a file that shrank, a request line the server
//! could not parse as the client sent it (escaped, as nginx writes it),
//! and transfers cut when the server stops.

use std::io::{BufRead, Read};
use std::time::Duration;

use crate::{Conn, site};

/// How long a log line may take to show.
const LOGGED_WITHIN: Duration = Duration::from_secs(15);

/// Size of the large file: far more than socket buffers hold, so a
/// client that stops reading leaves the transfer unfinished.
const BIG: usize = 64 << 20;

/// The CLF line's last field, the body bytes; 0 for `-`.
fn logged_bytes(line: &str) -> u64 {
    line.rsplit(' ').next().unwrap().parse().unwrap_or(0)
}

/// Sends a GET and reads the response head only.
fn start_download(c: &mut Conn, target: &str) {
    c.send(format!("GET {target} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
    let mut line = String::new();
    while line != "\r\n" {
        line.clear();
        c.reader.read_line(&mut line).unwrap();
    }
}

#[test]
fn a_cut_transfer_logs_the_bytes_that_went_out() {
    let s = site(&["--write-timeout", "1"]);
    std::fs::write(s.root.path().join("big.bin"), vec![1u8; BIG]).unwrap();
    let mut c = Conn::open(s.addr());
    start_download(&mut c, "/big.bin");
    let line = s
        .server
        .wait_for_stdout(LOGGED_WITHIN, |l| l.contains("/big.bin"));
    let sent = logged_bytes(&line);
    assert!(sent > 0 && sent < BIG as u64, "{line}");
    s.server
        .wait_for_stderr(LOGGED_WITHIN, |l| l.contains("cut after"));
}

#[test]
fn a_file_that_shrinks_logs_the_bytes_that_went_out() {
    let s = site(&[]);
    let path = s.root.path().join("shrinks.bin");
    std::fs::write(&path, vec![2u8; BIG]).unwrap();
    let mut c = Conn::open(s.addr());
    start_download(&mut c, "/shrinks.bin");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(1 << 20)
        .unwrap();
    // Whatever arrives before the server gives up, then the end.
    let mut got = Vec::new();
    let _ = c.reader.read_to_end(&mut got);
    assert!(got.len() < BIG);
    let line = s
        .server
        .wait_for_stdout(LOGGED_WITHIN, |l| l.contains("/shrinks.bin"));
    let sent = logged_bytes(&line);
    assert!(sent > 0 && sent < BIG as u64, "{line}");
    let warning = s
        .server
        .wait_for_stderr(LOGGED_WITHIN, |l| l.contains("shrank"));
    assert!(warning.contains("cut after"), "{warning}");
}

#[test]
fn a_malformed_request_line_is_logged_escaped() {
    let s = site(&[]);
    let mut c = Conn::open(s.addr());
    c.send(b"GET /a\"b\x01 HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.read(false).status, 400);
    let line = s
        .server
        .wait_for_stdout(LOGGED_WITHIN, |l| l.contains(" 400 "));
    assert!(
        line.contains("\"GET /a\\x22b\\x01 HTTP/1.1\" 400 "),
        "{line}"
    );
    // A TLS hello sent to the plain HTTP port.
    let mut c = Conn::open(s.addr());
    c.send(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n");
    assert_eq!(c.read(false).status, 400);
    let line = s
        .server
        .wait_for_stdout(LOGGED_WITHIN, |l| l.contains("\\x16"));
    assert!(
        line.contains("\"\\x16\\x03\\x01\\x02\\x00\\x01\\x00\\x01\\xFC\\x03\\x03\" 400 "),
        "{line}"
    );
}

#[test]
fn a_transfer_cut_at_shutdown_is_logged() {
    let mut s = site(&[]);
    std::fs::write(s.root.path().join("big.bin"), vec![3u8; BIG]).unwrap();
    let mut c = Conn::open(s.addr());
    start_download(&mut c, "/big.bin");
    let status = s.server.terminate(LOGGED_WITHIN).expect("the server exits");
    assert!(status.success(), "{status:?}");
    let line = s
        .server
        .stdout()
        .into_iter()
        .find(|l| l.contains("/big.bin"))
        .unwrap_or_else(|| panic!("no log line: {:?}", s.server.stdout()));
    let sent = logged_bytes(&line);
    assert!(sent > 0 && sent < BIG as u64, "{line}");
    drop(c);
}
