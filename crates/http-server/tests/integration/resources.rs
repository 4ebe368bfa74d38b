//! File types and resource failures: a FIFO, socket or device in the root
//! never blocks a connection and is never listed; running out of file
//! descriptors is a 503 with `Retry-After`, never a 404, and the server
//! recovers once descriptors free.

use std::time::{Duration, Instant};

use testkit::Server;

use crate::{BIN, Conn, get, populate, site};

/// How long a request to a special file may take: it is refused at once,
/// so this only has to absorb a loaded machine.
const REFUSED_WITHIN: Duration = Duration::from_secs(5);

#[test]
fn special_files_are_404_at_once_and_never_listed() {
    let s = site(&["--max-connections", "2"]);
    let root = s.root.path();
    nix::unistd::mkfifo(&root.join("pipe"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    let _socket = std::os::unix::net::UnixListener::bind(root.join("sock")).unwrap();
    std::fs::create_dir(root.join("special")).unwrap();
    nix::unistd::mkfifo(
        &root.join("special/index.html"),
        nix::sys::stat::Mode::S_IRWXU,
    )
    .unwrap();
    // As many requests for the FIFO as the cap allows, each left open: a
    // thread blocked opening it would hold its slot for ever.
    let mut held = Vec::new();
    for target in ["/pipe", "/sock"] {
        let mut c = Conn::open(s.addr());
        c.reader
            .get_ref()
            .set_read_timeout(Some(REFUSED_WITHIN))
            .unwrap();
        let start = Instant::now();
        c.send(format!("GET {target} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        let r = c.read(false);
        assert_eq!(r.status, 404, "{target}: {}", r.head);
        assert!(start.elapsed() < REFUSED_WITHIN);
        held.push(c);
    }
    // An index.html that is a FIFO is not served either: the directory
    // is listed instead (without it).
    let r = get(s.addr(), "/special/");
    assert_eq!(r.status, 200, "{}", r.head);
    assert!(!r.text().contains("index.html"), "{}", r.text());
    let listing = get(s.addr(), "/");
    assert_eq!(listing.status, 200);
    let text = listing.text();
    assert!(text.contains("notes.txt"), "{text}");
    assert!(!text.contains("pipe") && !text.contains("sock"), "{text}");
    assert_eq!(get(s.addr(), "/notes.txt").status, 200);
}

/// A character device in the root (root only: mknod needs CAP_MKNOD).
#[test]
#[ignore = "needs root"]
fn a_device_is_404() {
    testkit::need_root("mknod");
    let s = site(&[]);
    let dev = s.root.path().join("zero");
    // /dev/zero's numbers: reading it never ends.
    let made = nix::sys::stat::mknod(
        &dev,
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::S_IRUSR,
        nix::sys::stat::makedev(1, 5),
    );
    if let Err(e) = made {
        panic!("mknod as root: {e}");
    }
    let mut c = Conn::open(s.addr());
    c.reader
        .get_ref()
        .set_read_timeout(Some(REFUSED_WITHIN))
        .unwrap();
    c.send(b"GET /zero HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.read(false).status, 404);
}

/// Size of the file the test below asks for: more than the server keeps
/// in memory (16 KiB), so that serving it needs a descriptor.
const LARGE: usize = 64 * 1024;

/// The server's descriptor limit in the test below: a few for stdio and
/// the listener, the rest taken by the test's connections.
const FD_LIMIT: usize = 40;

#[test]
fn out_of_file_descriptors_is_503_never_404_and_passes() {
    let root = tempfile::tempdir().unwrap();
    populate(root.path());
    // Larger than the small files whose answers the server keeps in
    // memory: each request for it opens the file.
    std::fs::write(root.path().join("large.txt"), vec![b'l'; LARGE]).unwrap();
    let script = format!(
        "ulimit -n {FD_LIMIT} && exec \"$0\" --port 0 --quiet --keepalive-timeout 60 --root \"$1\""
    );
    let dir = root.path().to_str().unwrap();
    let server = Server::start("sh", &["-c", &script, BIN, dir]);
    let addr = server.addr();
    // Connections kept alive after a good answer each hold a descriptor,
    // until one's file cannot be opened for want of one.
    let mut held: Vec<Conn> = Vec::new();
    let refused = loop {
        assert!(
            held.len() < 2 * FD_LIMIT,
            "{} connections open and never refused",
            held.len()
        );
        let mut c = Conn::open(addr);
        c.send(b"GET /large.txt HTTP/1.1\r\nHost: t\r\n\r\n");
        let r = c.read(false);
        if r.status != 200 {
            break r;
        }
        held.push(c);
    };
    assert_eq!(refused.status, 503, "{}", refused.head);
    assert_eq!(refused.header("retry-after").as_deref(), Some("1"));
    assert_eq!(refused.header("connection").as_deref(), Some("close"));
    // New clients meanwhile get files or 503, as descriptors come and go
    // (a refused connection is closed, which frees one), never a 404; the
    // warning comes once per second, not once per request.
    let start = Instant::now();
    let statuses: Vec<u16> = (0..20)
        .map(|_| {
            let mut c = Conn::open(addr);
            c.send(b"GET /large.txt HTTP/1.1\r\nHost: t\r\n\r\n");
            c.read(false).status
        })
        .collect();
    assert!(
        statuses.iter().all(|&s| s == 200 || s == 503),
        "{statuses:?}"
    );
    let warnings = server
        .stderr()
        .iter()
        .filter(|l| l.contains("out of resources"))
        .count();
    let allowed = 1 + start.elapsed().as_secs() as usize + 1;
    assert!(
        (1..=allowed).contains(&warnings),
        "{warnings} warnings: {:?}",
        server.stderr()
    );
    // Once the connections are gone (the server has closed its ends),
    // files are served again.
    drop(held);
    let fds = || {
        std::fs::read_dir(format!("/proc/{}/fd", server.pid()))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while fds() > FD_LIMIT / 2 {
        assert!(
            Instant::now() < deadline,
            "{} descriptors still open",
            fds()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut c = Conn::open(addr);
    c.send(b"GET /notes.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let r = c.read(false);
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(r.text(), "0123456789abcdefghij");
}

/// Clients of the burst below, each keeping a connection busy.
const BURST_CLIENTS: usize = 200;

/// How long the burst lasts.
const BURST: Duration = Duration::from_secs(3);

/// Each client's pause between requests: enough load to keep the server
/// out of descriptors, not so much that the test's own connections run
/// through the machine's ephemeral ports.
const PACE: Duration = Duration::from_millis(50);

#[test]
fn a_burst_out_of_descriptors_leaves_no_threads_behind() {
    let root = tempfile::tempdir().unwrap();
    populate(root.path());
    // Spare threads also leave when the listener's time-out (the header
    // time-out) passes without a client: a long one shows they leave for
    // another reason.
    let script = format!(
        "ulimit -n {FD_LIMIT} && exec \"$0\" --port 0 --quiet --header-timeout 60 --root \"$1\""
    );
    let dir = root.path().to_str().unwrap();
    let server = Server::start("sh", &["-c", &script, BIN, dir]);
    let addr = server.addr();
    let pid = server.pid();
    let threads = || {
        std::fs::read_dir(format!("/proc/{pid}/task"))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    let end = Instant::now() + BURST;
    let statuses = std::sync::Mutex::new(std::collections::BTreeMap::<u16, usize>::new());
    let mut peak = 0;
    std::thread::scope(|scope| {
        for _ in 0..BURST_CLIENTS {
            scope.spawn(|| {
                // A browser's way: one kept-alive connection, opened again
                // when the server closes it (after a 503).
                let mut conn: Option<Conn> = None;
                while Instant::now() < end {
                    let c = conn.get_or_insert_with(|| Conn::open(addr));
                    c.send(b"GET /notes.txt HTTP/1.1\r\nHost: t\r\n\r\n");
                    let r = c.read(false);
                    if r.header("connection").as_deref() == Some("close") {
                        conn = None;
                    }
                    *statuses.lock().unwrap().entry(r.status).or_default() += 1;
                    std::thread::sleep(PACE);
                }
            });
        }
        while Instant::now() < end {
            peak = peak.max(threads());
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let statuses = statuses.into_inner().unwrap();
    println!("statuses {statuses:?}, peak {peak} threads");
    assert!(
        statuses.keys().all(|&s| s == 200 || s == 503),
        "{statuses:?}"
    );
    // Each connection holds a descriptor, so the descriptors bound the
    // connection threads; no storm of threads started only to fail in
    // `accept` comes on top (there were hundreds).
    assert!(peak < 2 * FD_LIMIT, "{peak} threads at the peak");
    // The burst is over: the threads leave within seconds, not by tens
    // each time the listener's time-out passes.
    let deadline = Instant::now() + Duration::from_secs(10);
    let settled = FD_LIMIT / 8 + 4;
    while threads() > settled {
        assert!(
            Instant::now() < deadline,
            "{} threads 10 s after the burst (peak {peak})",
            threads()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
