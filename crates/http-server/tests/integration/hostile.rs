//! Hostile input over raw sockets: every malformed or abusive request gets
//! the right status, and the connection is either kept in sync (the next
//! request is answered correctly) or closed — never confused.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use crate::{Conn, get, site};

/// What should happen to the connection after the response.
#[derive(Debug, Clone, Copy, PartialEq)]
enum After {
    /// Kept open and in sync: a following request is answered.
    Kept,
    /// Closed by the server.
    Closed,
}

use After::{Closed, Kept};

const FOLLOW_UP: &[u8] = b"GET /notes.txt HTTP/1.1\r\nHost: t\r\n\r\n";

fn check(addr: std::net::SocketAddr, raw: &[u8], status: u16, after: After) {
    let mut c = Conn::open(addr);
    c.send(raw);
    let r = c.read(false);
    assert_eq!(
        r.status,
        status,
        "{:?}\n{}",
        String::from_utf8_lossy(raw),
        r.head
    );
    match after {
        Kept => {
            c.send(FOLLOW_UP);
            let next = c.read(false);
            assert_eq!(
                (next.status, next.text().as_str()),
                (200, "0123456789abcdefghij"),
                "connection out of sync after {:?}",
                String::from_utf8_lossy(raw)
            );
        }
        Closed => {
            assert_eq!(
                r.header("connection").as_deref(),
                Some("close"),
                "{}",
                r.head
            );
            assert!(
                c.closed(),
                "still open after {:?}",
                String::from_utf8_lossy(raw)
            );
        }
    }
}

#[test]
fn malformed_and_abusive_heads() {
    let s = site(&["--quiet"]);
    let cases: &[(&[u8], u16, After)] = &[
        (b"GET /notes.txt HTTP/1.1\r\n\r\n", 400, Closed),                                   // missing Host
        (b"GET /notes.txt HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, Closed),             // duplicate Host
        (b"GET /notes.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab", 200, Kept),
        (b"GET /notes.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nab", 400, Closed),
        (b"GET /notes.txt HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n", 400, Closed),
        (b"GET /notes.txt HTTP/1.1\r\nHost: t\r\nContent-Length: +1\r\n\r\nx", 400, Closed),
        (b"GET /notes.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 0x1\r\n\r\nx", 400, Closed),
        (b"GET /notes.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400, Closed),
        (b"GET /notes.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, Closed),
        (b"GET /notes.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501, Closed),
        (b"GET /notes.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: identity\r\n\r\n", 400, Closed),
        (b"GET /notes.txt HTTP/1.1\r\nHost: t\r\nX-A: 1\r\n folded\r\n\r\n", 400, Closed),   // obs-fold
        (b"GET /notes.txt HTTP/1.1\r\nHost: t\r\nX-A: a\0b\r\n\r\n", 400, Closed),             // NUL
        (b"GET /notes.txt HTTP/1.1\r\nHost: t\r\nX-A: a\rb\r\n\r\n", 400, Closed),             // bare CR
        (b"GET /notes.txt HTTP/1.1\r\nHost : t\r\n\r\n", 400, Closed),                         // space before colon
        (b"GET /notes.txt HTTP/1.1\r\n: empty\r\nHost: t\r\n\r\n", 400, Closed),              // empty name
        (b"GET /notes.txt\r\n\r\n", 400, Closed),                                             // HTTP/0.9
        (b"GET /notes.txt HTTP/9.9\r\nHost: t\r\n\r\n", 505, Closed),
        (b"GET /notes.txt HTTP/01.1\r\nHost: t\r\n\r\n", 400, Closed),
        (b"GET /notes .txt HTTP/1.1\r\nHost: t\r\n\r\n", 400, Closed),                        // raw space
        (b"GET /notes%2.txt HTTP/1.1\r\nHost: t\r\n\r\n", 400, Kept),                         // broken escape
        (b"GET /%E0%A4 HTTP/1.1\r\nHost: t\r\n\r\n", 400, Kept),                              // not UTF-8
        (b"get /notes.txt HTTP/1.1\r\nHost: t\r\n\r\n", 501, Closed),                         // lowercase
        (b"BREW /notes.txt HTTP/1.1\r\nHost: t\r\n\r\n", 501, Closed),                        // unknown
        (b"TRACE /notes.txt HTTP/1.1\r\nHost: t\r\n\r\n", 405, Kept),
        (b"OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n", 405, Kept),
        (b"POST /notes.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello", 405, Kept),
        (b"GET /notes.txt HTTP/1.1\r\nHost: t\r\nExpect: teapot\r\n\r\n", 417, Closed),
        (b"\r\n\r\nGET /notes.txt HTTP/1.1\r\nHost: t\r\n\r\n", 200, Kept),                 // leading blank lines
        (b"GET /notes.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 200, Kept),
        (b"GET /notes.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400, Closed),
        (b"GET /notes.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999\r\n\r\n", 413, Closed),
    ];
    for (raw, status, after) in cases {
        check(s.addr(), raw, *status, *after);
    }
}

#[test]
fn a_client_dripping_its_head_is_cut_off() {
    // A byte every DRIP, five within the header time-out: each read
    // brings something, so only a deadline for the whole head can end
    // it, and the head would take ten times the time-out to arrive.
    const DRIP: Duration = Duration::from_millis(100);
    let s = site(&["--quiet", "--header-timeout", "0.5"]);
    let mut c = TcpStream::connect(s.addr()).unwrap();
    let mut reader = c.try_clone().unwrap();
    let drip = thread::spawn(move || {
        for b in b"GET /notes.txt HTTP/1.1\r\nHost: t\r\nX-Slow: yes\r\n\r\n" {
            if c.write_all(&[*b]).is_err() {
                return;
            }
            thread::sleep(DRIP); // pacing the client, not synchronisation
        }
    });
    reader
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let mut reply = Vec::new();
    let _ = reader.read_to_end(&mut reply);
    let text = String::from_utf8_lossy(&reply);
    // A 408 is the deadline: the whole head (48 bytes, 4.8 s at the
    // least) would have got the file.
    assert!(
        text.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
        "{text}"
    );
    // The dripping thread ends at its next failed write.
    drop((reader, drip));
}

fn proc_count(pid: u32, what: &str) -> usize {
    match what {
        "fds" => std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|d| d.count())
            .unwrap_or(0),
        _ => std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("Threads:"))
                    .and_then(|v| v.trim().parse().ok())
            })
            .unwrap_or(0),
    }
}

/// Waits (bounded) for `f` to hold.
fn eventually(what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !f() {
        assert!(Instant::now() < deadline, "{what}");
        thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(target_os = "linux")]
#[test]
fn hundreds_of_idle_connections_at_the_cap() {
    let s = site(&[
        "--quiet",
        "--max-connections",
        "50",
        "--keepalive-timeout",
        "60",
    ]);
    let pid = s.server.pid();
    let mut idle = Vec::new();
    for _ in 0..300 {
        let mut c = Conn::open(s.addr());
        c.send(FOLLOW_UP);
        assert_eq!(
            c.read(false).status,
            200,
            "a client was not served at the cap"
        );
        idle.push(c);
    }
    // Still served, and the threads stay bounded by the cap (plus spares).
    assert_eq!(get(s.addr(), "/notes.txt").status, 200);
    let threads = proc_count(pid, "threads");
    assert!(threads <= 50 + 64 + 8, "{threads} threads for a cap of 50");
    drop(idle);
}

#[cfg(target_os = "linux")]
#[test]
fn clients_vanishing_mid_download_leak_nothing() {
    let s = site(&["--quiet"]);
    let big: Vec<u8> = vec![7; 8 * 1024 * 1024];
    std::fs::write(s.root.path().join("big.bin"), &big).unwrap();
    let pid = s.server.pid();
    // Warm up the thread pool, then take the baseline.
    assert_eq!(get(s.addr(), "/notes.txt").status, 200);
    let fds_before = proc_count(pid, "fds");
    let handles: Vec<_> = (0..20)
        .map(|_| {
            let addr = s.addr();
            thread::spawn(move || {
                let mut c = TcpStream::connect(addr).unwrap();
                c.write_all(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
                    .unwrap();
                let mut buf = [0u8; 65536];
                let _ = c.read(&mut buf);
                // Vanish with most of the body unread (the close resets).
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    eventually("file descriptors came back to the baseline", || {
        proc_count(pid, "fds") <= fds_before
    });
    assert_eq!(get(s.addr(), "/notes.txt").status, 200);
    let threads = proc_count(pid, "threads");
    assert!(threads <= 64 + 8, "{threads} threads after 20 connections");
}
