//! Stalled clients at the connection cap, the write deadline and the
//! thread bound, against the real binary with a small cap.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::{Conn, Site, site};

/// The cap the tests run with.
const CAP: usize = 32;

/// A newcomer must be served within a second; the assertion allows more
/// so a loaded machine does not fail the test, and the measured latency is
/// printed (`--nocapture`) to compare with the target.
const SERVED_WITHIN: Duration = Duration::from_secs(3);

/// Threads besides the connection threads: the main thread, the signal
/// handler's and one in flight while it exits.
const FIXED_THREADS: usize = 4;

fn big_site(extra: &[&str]) -> Site {
    let cap = CAP.to_string();
    let mut args = vec!["--quiet", "--max-connections", &cap];
    args.extend_from_slice(extra);
    let s = site(&args);
    std::fs::write(s.root.path().join("big.bin"), vec![7u8; 32 << 20]).unwrap();
    s
}

fn proc_status(pid: u32, field: &str) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().parse().ok())
        .unwrap()
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// Waits (bounded) until the server holds `n` more sockets than `base`.
fn wait_for_fds(s: &Site, base: usize, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while open_fds(s.server.pid()) < base + n {
        assert!(
            Instant::now() < deadline,
            "the server took only {} of {n} connections",
            open_fds(s.server.pid()) - base
        );
        thread::sleep(Duration::from_millis(10));
    }
}

fn dripper(addr: SocketAddr) -> TcpStream {
    let mut c = TcpStream::connect(addr).unwrap();
    c.write_all(b"GET /notes.txt HTTP/1.1\r\nHost: t\r\nX-Slow: ")
        .unwrap();
    c
}

fn idler(addr: SocketAddr) -> Conn {
    let mut c = Conn::open(addr);
    c.send(b"GET /notes.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.read(false).status, 200);
    c
}

fn non_reader(addr: SocketAddr) -> TcpStream {
    let mut c = TcpStream::connect(addr).unwrap();
    c.write_all(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    c
}

/// A newcomer's full request and response, timed.
fn newcomer(addr: SocketAddr) -> Duration {
    let start = Instant::now();
    let mut c = Conn::open(addr);
    c.send(b"GET /notes.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let r = c.read(false);
    let took = start.elapsed();
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "0123456789abcdefghij");
    took
}

fn assert_newcomers_served(s: &Site, what: &str) {
    for i in 0..3 {
        let took = newcomer(s.addr());
        eprintln!("{what}: newcomer {i} served in {took:?}");
        assert!(took < SERVED_WITHIN, "{what}: newcomer {i} took {took:?}");
    }
}

fn slow_timeouts() -> Vec<&'static str> {
    // Long enough that no time-out frees a slot during the test.
    vec![
        "--header-timeout",
        "120",
        "--keepalive-timeout",
        "120",
        "--write-timeout",
        "120",
    ]
}

#[test]
fn a_full_house_of_header_drippers() {
    let s = big_site(&slow_timeouts());
    let base = open_fds(s.server.pid());
    let mut drippers: Vec<TcpStream> = (0..CAP).map(|_| dripper(s.addr())).collect();
    wait_for_fds(&s, base, CAP);
    assert_newcomers_served(&s, "drippers");
    // The oldest drippers made room (the first opened, or on a loaded
    // machine one whose server thread started a moment sooner), and were
    // told why.
    for d in &mut drippers {
        d.set_nonblocking(true).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let answer = loop {
        let told = drippers.iter_mut().find_map(|d| {
            let mut answer = Vec::new();
            match d.read_to_end(&mut answer) {
                Ok(_) => Some(answer),
                Err(_) if !answer.is_empty() => Some(answer),
                Err(_) => None,
            }
        });
        if let Some(answer) = told {
            break String::from_utf8_lossy(&answer).to_string();
        }
        assert!(
            Instant::now() < deadline,
            "no dripper was closed to make room"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(answer.starts_with("HTTP/1.1 503 "), "{answer:?}");
    assert!(answer.contains("Retry-After: 1\r\n"));
}

#[test]
fn a_full_house_of_idle_keep_alive_connections() {
    let s = big_site(&slow_timeouts());
    let base = open_fds(s.server.pid());
    let mut idle: Vec<Conn> = (0..CAP).map(|_| idler(s.addr())).collect();
    wait_for_fds(&s, base, CAP);
    assert_newcomers_served(&s, "idle");
    // Oldest first: the connections closed (one per newcomer that found
    // the house full; a newcomer may find the slot of one before it) are
    // among the oldest. Each connection's thread parks it just after its
    // response, so two opened one after the other may park in the other
    // order when a thread is kept waiting for a CPU: "oldest" allows that
    // much.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !idle[..OLDEST]
        .iter_mut()
        .any(|c| c.closed_within(Duration::from_millis(10)))
    {
        assert!(Instant::now() < deadline, "none of the oldest was closed");
    }
    let closed: Vec<bool> = idle
        .iter_mut()
        .map(|c| c.closed_within(Duration::from_millis(100)))
        .collect();
    let made_room = closed.iter().filter(|&&c| c).count();
    assert!((1..=3).contains(&made_room), "{closed:?}");
    assert!(closed[OLDEST..].iter().all(|&c| !c), "{closed:?}");
}

/// How far from the very oldest an evicted idle connection may be: three
/// newcomers, and a pair parked out of order.
const OLDEST: usize = 5;

#[test]
fn a_full_house_of_non_readers() {
    let s = big_site(&slow_timeouts());
    let base = open_fds(s.server.pid());
    let stalled: Vec<TcpStream> = (0..CAP).map(|_| non_reader(s.addr())).collect();
    wait_for_fds(&s, base, CAP);
    assert_newcomers_served(&s, "non-readers");
    drop(stalled);
}

#[test]
fn a_mixed_house_makes_room_by_policy() {
    let s = big_site(&slow_timeouts());
    let base = open_fds(s.server.pid());
    let third = CAP / 3;
    let mut drippers: Vec<TcpStream> = (0..third).map(|_| dripper(s.addr())).collect();
    let stalled: Vec<TcpStream> = (0..third).map(|_| non_reader(s.addr())).collect();
    let mut idle: Vec<Conn> = (0..CAP - 2 * third).map(|_| idler(s.addr())).collect();
    wait_for_fds(&s, base, CAP);
    // Idle connections go first, though they are the youngest.
    let took = newcomer(s.addr());
    eprintln!("mixed: newcomer served in {took:?}");
    assert!(took < SERVED_WITHIN);
    // The oldest idle one went: the first opened, or on a loaded machine
    // one whose server thread marked it idle a moment sooner.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut closed = false;
    while !closed && Instant::now() < deadline {
        closed = idle
            .iter_mut()
            .any(|c| c.closed_within(Duration::from_millis(20)));
    }
    assert!(closed, "no idle connection was closed to make room");
    drippers[0]
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut b = [0u8; 1];
    assert!(
        drippers[0].read(&mut b).is_err(),
        "a dripper was closed while idle connections were left"
    );
    drop(stalled);
}

#[test]
fn a_non_reader_is_cut_at_the_write_timeout() {
    let s = big_site(&["--write-timeout", "1"]);
    let start = Instant::now();
    let mut c = non_reader(s.addr());
    let line = s.server.wait_for_stderr(Duration::from_secs(20), |l| {
        l.contains("cut after") && l.contains("GET /big.bin")
    });
    let took = start.elapsed();
    eprintln!("non-reader cut after {took:?}: {line}");
    assert!(took >= Duration::from_secs(1), "cut before the time-out");
    assert!(line.contains("accepted no byte for 1 s"), "{line}");
    // The connection was reset, not left to drain: reading ends in an
    // error (or an early end) well before the 32 MiB.
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut got = Vec::new();
    let _ = c.read_to_end(&mut got);
    assert!(got.len() < 32 << 20, "the whole file arrived");
    // The server goes on serving.
    assert!(newcomer(s.addr()) < SERVED_WITHIN);
}

#[test]
fn threads_stay_bounded_during_a_burst() {
    const BURST: usize = 1000;
    let s = big_site(&[]);
    let pid = s.server.pid();
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        thread::spawn(move || {
            let (mut peak, mut samples) = (0, 0);
            while !done.load(Ordering::SeqCst) {
                peak = peak.max(proc_status(pid, "Threads:"));
                samples += 1;
                thread::sleep(Duration::from_millis(10));
            }
            (peak, samples)
        })
    };
    let addr = s.addr();
    let clients: Vec<_> = (0..8)
        .map(|_| {
            thread::spawn(move || {
                let conns: Vec<TcpStream> = (0..BURST / 8)
                    .map(|_| {
                        let mut c = TcpStream::connect(addr).unwrap();
                        c.write_all(
                            b"GET /notes.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                        )
                        .unwrap();
                        c
                    })
                    .collect();
                for mut c in conns {
                    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                    let mut reply = String::new();
                    c.read_to_string(&mut reply).unwrap();
                    assert!(reply.starts_with("HTTP/1.1 200 "), "{reply:?}");
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    done.store(true, Ordering::SeqCst);
    let (peak, samples) = sampler.join().unwrap();
    eprintln!("burst of {BURST} at cap {CAP}: peak {peak} threads over {samples} samples");
    assert!(
        peak <= CAP + 1 + FIXED_THREADS,
        "{peak} threads at a cap of {CAP}"
    );
}

/// A server whose stdout nobody reads (`http-server | less`, left
/// paused) after it answered 10,000 requests on one connection (returned,
/// with the root it serves).
fn stalled_after_10k_requests() -> (testkit::Server, Conn, tempfile::TempDir) {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("a.txt"), "a").unwrap();
    let dir = root.path().to_str().unwrap();
    let server = testkit::Server::start_stalled(crate::BIN, &["--port", "0", "--root", dir]);
    let mut c = Conn::open(server.addr());
    // Long targets make long log lines, so the pipe and queue fill early.
    let pad = "p".repeat(200);
    for i in 0..10_000 {
        c.send(format!("GET /a.txt?{i}{pad} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        let reply = c.read(false);
        assert_eq!(
            (reply.status, reply.body.as_slice()),
            (200, &b"a"[..]),
            "request {i}"
        );
    }
    (server, c, root)
}

#[test]
fn a_stdout_nobody_reads_never_stops_the_server() {
    // The access log cannot keep up, the service must.
    let (mut server, c, _root) = stalled_after_10k_requests();
    drop(c);
    testkit::peers::assert_stops_while_stalled(&mut server);
}

#[test]
fn a_log_that_drains_after_a_stall_says_what_it_dropped() {
    // The pager resumes: the notice comes while the server runs, and the
    // log flows again.
    let (mut server, mut c, _root) = stalled_after_10k_requests();
    testkit::peers::assert_log_drains_and_counts(
        &mut server,
        // The connection closes before SIGTERM, which would otherwise
        // wait for it.
        move |_| {
            c.send(b"GET /a.txt?after HTTP/1.1\r\nHost: t\r\n\r\n");
            assert_eq!(c.read(false).status, 200);
        },
        |l| l.contains("\"GET /a.txt?after HTTP/1.1\" 200 "),
    );
}
