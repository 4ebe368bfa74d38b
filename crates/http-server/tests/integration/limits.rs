use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use crate::{Conn, get, raw, site};

#[test]
fn oversized_heads() {
    let s = site(&[]);
    let long = format!("GET /{} HTTP/1.1\r\nHost: t\r\n\r\n", "a".repeat(9000));
    assert_eq!(raw(s.addr(), long.as_bytes()).status, 414);
    let big = format!(
        "GET / HTTP/1.1\r\nHost: t\r\nX: {}\r\n\r\n",
        "a".repeat(40_000)
    );
    assert_eq!(raw(s.addr(), big.as_bytes()).status, 431);
    let many: String = (0..120).map(|i| format!("X-{i}: y\r\n")).collect();
    assert_eq!(
        raw(
            s.addr(),
            format!("GET / HTTP/1.1\r\nHost: t\r\n{many}\r\n").as_bytes()
        )
        .status,
        431
    );
}

#[test]
fn a_dripping_client_is_cut_off() {
    let s = site(&["--header-timeout", "1"]);
    let mut c = Conn::open(s.addr());
    c.send(b"GET /notes.txt HTTP/1.1\r\n");
    // Nothing more is sent: the head never completes.
    let r = c.read(false);
    assert_eq!(r.status, 408);
    assert!(c.closed());
}

#[test]
fn stalled_clients_do_not_delay_others() {
    let s = site(&["--quiet"]);
    let stalled: Vec<TcpStream> = (0..50)
        .map(|_| {
            let mut c = TcpStream::connect(s.addr()).unwrap();
            c.write_all(b"GET /notes.txt HTTP/1.1\r\nHo").unwrap();
            c
        })
        .collect();
    for _ in 0..5 {
        assert_eq!(get(s.addr(), "/notes.txt").status, 200);
    }
    drop(stalled);
}

#[test]
fn idle_connections_make_room_at_the_cap() {
    let s = site(&["--max-connections", "2", "--keepalive-timeout", "60"]);
    let mut idle: Vec<Conn> = (0..2)
        .map(|_| {
            let mut c = Conn::open(s.addr());
            c.send(b"GET /notes.txt HTTP/1.1\r\nHost: t\r\n\r\n");
            assert_eq!(c.read(false).status, 200);
            c
        })
        .collect();
    // Both slots hold idle keep-alive connections; a newcomer is served.
    assert_eq!(get(s.addr(), "/notes.txt").status, 200);
    let closed = idle
        .iter_mut()
        .map(|c| c.closed_within(Duration::from_millis(500)))
        .filter(|&c| c)
        .count();
    assert_eq!(closed, 1, "exactly one idle connection makes room");
}

/// Idle keep-alive connections in the test below.
const IDLE: usize = 200;

/// How long the server may take to let the idle connections' threads go
/// (each waits a few milliseconds for a next request first), with room
/// for a loaded machine.
const THREADS_GO_WITHIN: Duration = Duration::from_secs(10);

#[cfg(target_os = "linux")]
#[test]
fn idle_keep_alive_connections_hold_no_threads_and_are_served_again() {
    let s = site(&["--quiet", "--keepalive-timeout", "60"]);
    let pid = s.server.pid();
    let threads = || {
        std::fs::read_dir(format!("/proc/{pid}/task"))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    let mut idle: Vec<Conn> = (0..IDLE)
        .map(|_| {
            let mut c = Conn::open(s.addr());
            c.send(b"GET /notes.txt HTTP/1.1\r\nHost: t\r\n\r\n");
            assert_eq!(c.read(false).status, 200);
            c
        })
        .collect();
    // A thread per connection would be IDLE threads or more; what stays
    // is the acceptor's spare threads (at most 64 wait in `accept`).
    let start = std::time::Instant::now();
    while threads() > IDLE / 2 {
        assert!(
            start.elapsed() < THREADS_GO_WITHIN,
            "{} threads for {IDLE} idle connections",
            threads()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Each is served again, in turn and all at once.
    for c in &mut idle {
        c.send(b"GET /notes.txt HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!(c.read(false).text(), "0123456789abcdefghij");
    }
    for c in &mut idle {
        c.send(b"HEAD /notes.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    }
    for c in &mut idle {
        assert_eq!(c.read(true).status, 200);
    }
}

#[test]
fn an_idle_connection_is_closed_after_the_keep_alive_timeout() {
    let s = site(&["--keepalive-timeout", "1"]);
    let mut c = Conn::open(s.addr());
    c.send(b"GET /notes.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.read(false).status, 200);
    let start = std::time::Instant::now();
    assert!(c.closed_within(Duration::from_secs(10)));
    let after = start.elapsed();
    // Not before the time-out; after it by at most an eighth of it and a
    // loaded machine's delay.
    assert!(
        after >= Duration::from_millis(950),
        "closed after {after:?}"
    );
    assert!(after < Duration::from_secs(5), "closed after {after:?}");
}

/// How often the busy client below asks: more often than parked
/// connections' time-outs are looked at (an eighth of the 1 s keep-alive),
/// so the threads waiting for parked connections always have a request
/// to wake for before their wait times out.
const BUSY_PACE: Duration = Duration::from_millis(30);

#[cfg(target_os = "linux")]
#[test]
fn an_idle_connection_is_closed_on_time_while_others_keep_the_server_busy() {
    let s = site(&["--quiet", "--keepalive-timeout", "1"]);
    let mut idle = Conn::open(s.addr());
    idle.send(b"GET /notes.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(idle.read(false).status, 200);
    let start = std::time::Instant::now();
    let addr = s.addr();
    let busy = std::thread::spawn(move || {
        let mut c = Conn::open(addr);
        // Each pause is longer than the wait before parking: the busy
        // connection is parked and woken again each time.
        while start.elapsed() < Duration::from_secs(4) {
            c.send(b"GET /notes.txt HTTP/1.1\r\nHost: t\r\n\r\n");
            assert_eq!(c.read(false).status, 200);
            std::thread::sleep(BUSY_PACE);
        }
    });
    assert!(idle.closed_within(Duration::from_secs(10)));
    let after = start.elapsed();
    busy.join().unwrap();
    assert!(
        after >= Duration::from_millis(950),
        "closed after {after:?}"
    );
    assert!(
        after < Duration::from_millis(3500),
        "closed after {after:?}"
    );
}
