use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use net_core::text::uppercase_bytes;
use testkit::{Rng, Run, Server};

use crate::{BIN, start_server};

const T: Duration = Duration::from_secs(10);

fn connect(server: &Server) -> TcpStream {
    let s = TcpStream::connect(server.addr()).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    s
}

/// Reads exactly `n` bytes or fails (a textbook client does one `recv`; on
/// loopback that returns the whole reply, but the test must not rely on it).
fn read_n(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    s.read_exact(&mut buf).unwrap();
    buf
}

#[test]
fn readiness_line_names_the_bound_address() {
    let server = start_server(&[]);
    assert!(server.readiness().starts_with("listening on 127.0.0.1:"));
    assert!(server.readiness().ends_with(" (tcp)"));
    assert_ne!(server.addr().port(), 0);
}

#[test]
fn textbook_exchange_without_newline() {
    let server = start_server(&[]);
    let mut s = connect(&server);
    s.write_all(b"tanmayi 31").unwrap();
    // No newline, no half-close: the reply must come anyway.
    assert_eq!(read_n(&mut s, 10), b"TANMAYI 31");
    let local = s.local_addr().unwrap();
    server.wait_for_stdout(T, |l| l == format!("sent \"TANMAYI 31\" to {local}"));
}

#[test]
fn unicode_is_uppercased_like_python() {
    let server = start_server(&[]);
    let mut s = connect(&server);
    s.write_all("straße ﬁ".as_bytes()).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    assert_eq!(reply, "STRASSE FI");
}

#[test]
fn many_clients_are_served_at_once() {
    const CLIENTS: usize = 200;
    let server = start_server(&["--quiet"]);
    let addr = server.addr();
    let barrier = Arc::new(Barrier::new(CLIENTS));
    let handles: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let barrier = barrier.clone();
            thread::spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                let first = format!("first {i}\n");
                s.write_all(first.as_bytes()).unwrap();
                assert_eq!(read_n(&mut s, first.len()), first.to_uppercase().as_bytes());
                // Every client is connected and has been answered before any
                // goes on: only a concurrent server gets all of them here.
                barrier.wait();
                s.write_all(format!("second {i}").as_bytes()).unwrap();
                s.shutdown(Shutdown::Write).unwrap();
                let mut rest = String::new();
                s.read_to_string(&mut rest).unwrap();
                assert_eq!(rest, format!("SECOND {i}"));
            })
        })
        .collect();
    for h in handles {
        h.join().expect("client thread");
    }
}

#[test]
fn four_mib_half_closed_stream_comes_back_byte_exact() {
    let server = start_server(&["--quiet"]);
    // Mixed ASCII, multi-byte characters and invalid bytes, so characters
    // straddle every read boundary the server happens to see.
    let unit: Vec<u8> = [
        &b"lab stream "[..],
        "straße €𝔘 ".as_bytes(),
        b"\xff\xfe ",
        b"end\n",
    ]
    .concat();
    let input: Vec<u8> = unit.iter().copied().cycle().take(4 * 1024 * 1024).collect();
    let want = uppercase_bytes(&input);

    let mut s = connect(&server);
    let mut writer = s.try_clone().unwrap();
    let sent = input.clone();
    // Write on another thread: the reply streams back while we send, and
    // both directions' buffers would fill if we wrote everything first.
    let w = thread::spawn(move || {
        writer.write_all(&sent).unwrap();
        writer.shutdown(Shutdown::Write).unwrap();
    });
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    w.join().unwrap();
    assert_eq!(got.len(), want.len());
    assert!(got == want, "reply differs from the uppercased input");
}

#[test]
fn reset_mid_stream_does_not_affect_other_clients() {
    let server = start_server(&[]);
    let mut bystander = connect(&server);
    bystander.write_all(b"before ").unwrap();
    assert_eq!(read_n(&mut bystander, 7), b"BEFORE ");

    let mut rude = connect(&server);
    rude.write_all(&[b'x'; 100_000]).unwrap();
    socket2::SockRef::from(&rude)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(rude); // RST, with data possibly still in flight both ways

    let mut invalid = connect(&server);
    invalid.write_all(b"\xff\xc0 bad utf-8").unwrap();
    invalid.shutdown(Shutdown::Write).unwrap();
    let mut reply = Vec::new();
    invalid.read_to_end(&mut reply).unwrap();
    assert_eq!(reply, b"\xff\xc0 BAD UTF-8");

    bystander.write_all(b"after").unwrap();
    assert_eq!(read_n(&mut bystander, 5), b"AFTER");
    let mut fresh = connect(&server);
    fresh.write_all(b"fresh").unwrap();
    assert_eq!(read_n(&mut fresh, 5), b"FRESH");
}

#[test]
fn restart_on_the_same_port_at_once() {
    let mut first = start_server(&[]);
    let port = first.port();
    // Leave connections behind in every state: one finished, one open.
    let mut done = connect(&first);
    done.write_all(b"x").unwrap();
    done.shutdown(Shutdown::Write).unwrap();
    let mut sink = Vec::new();
    done.read_to_end(&mut sink).unwrap();
    let mut open = connect(&first);
    open.write_all(b"y").unwrap();
    assert_eq!(read_n(&mut open, 1), b"Y");
    assert!(
        first.terminate(T).is_some(),
        "server did not stop on SIGTERM"
    );

    let second = Server::start(BIN, &["server", "--port", &port]);
    assert_eq!(second.addr().port().to_string(), port);
    let mut s = connect(&second);
    s.write_all(b"again").unwrap();
    assert_eq!(read_n(&mut s, 5), b"AGAIN");
}

#[test]
fn sigterm_exits_zero() {
    let mut server = start_server(&[]);
    let mut s = connect(&server);
    s.write_all(b"hi").unwrap();
    assert_eq!(read_n(&mut s, 2), b"HI");
    drop(s);
    let status = server.terminate(T).expect("exited after SIGTERM");
    assert!(status.success(), "exit status {status}");
}

#[test]
fn busy_port_is_a_clear_error() {
    let server = start_server(&[]);
    let run = Run::new(BIN, &["server", "--port", &server.port()], b"");
    run.assert_code(1);
    assert_eq!(
        run.stderr_text().trim(),
        format!(
            "error: cannot listen on {} (address already in use)",
            server.addr()
        )
    );
}

#[test]
fn serves_ipv6() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        testkit::skip("IPv6 loopback is not available on this machine");
        return;
    }
    let server = Server::start(BIN, &["server", "--bind", "::1", "--port", "0"]);
    assert!(
        server.readiness().starts_with("listening on [::1]:"),
        "{}",
        server.readiness()
    );
    let run = Run::new(
        BIN,
        &[
            "client",
            "--host",
            "::1",
            "--port",
            &server.port(),
            "v6",
            "ok",
        ],
        b"",
    );
    run.assert_success();
    assert_eq!(run.stdout_text(), "From Server: V6 OK\n");
}

#[test]
fn bad_flags_are_usage_errors() {
    let run = Run::new(BIN, &["server", "--port", "70000"], b"");
    run.assert_code(2);
    assert!(run.stderr_text().contains("70000"), "{run}");
    Run::new(BIN, &["serve"], b"").assert_code(2);
    let help = Run::new(BIN, &["client", "--help"], b"");
    help.assert_success();
    assert!(help.stdout_text().contains("--host"));
}

#[test]
fn random_chunking_and_sizes_come_back_byte_exact() {
    let server = start_server(&["--quiet"]);
    let alphabet: Vec<&[u8]> = vec![
        b"a",
        b"Z",
        b" ",
        b"\n",
        "ß".as_bytes(),
        "€".as_bytes(),
        "𝔘".as_bytes(),
        b"\xff",
        b"\xe2\x82",
    ];
    let handles: Vec<_> = (0..8u64)
        .map(|seed| {
            let addr = server.addr();
            let alphabet = alphabet.clone();
            thread::spawn(move || {
                let mut rng = Rng::new(seed);
                let len = 1 + (rng.next_u64() % 300_000) as usize;
                let mut input = Vec::with_capacity(len + 4);
                while input.len() < len {
                    input.extend_from_slice(
                        alphabet[(rng.next_u64() % alphabet.len() as u64) as usize],
                    );
                }
                let want = uppercase_bytes(&input);
                let mut s = TcpStream::connect(addr).unwrap();
                let mut writer = s.try_clone().unwrap();
                let sent = input.clone();
                let w = thread::spawn(move || {
                    let mut rest = sent.as_slice();
                    let mut r = Rng::new(seed + 1000);
                    while !rest.is_empty() {
                        let n = (1 + r.next_u64() % 5000) as usize;
                        let n = n.min(rest.len());
                        writer.write_all(&rest[..n]).unwrap();
                        rest = &rest[n..];
                    }
                    writer.shutdown(Shutdown::Write).unwrap();
                });
                let mut got = Vec::new();
                s.read_to_end(&mut got).unwrap();
                w.join().unwrap();
                assert!(
                    got == want,
                    "seed {seed}: reply differs ({} vs {} bytes)",
                    got.len(),
                    want.len()
                );
            })
        })
        .collect();
    for h in handles {
        h.join().expect("client thread");
    }
}

#[test]
fn a_stdout_nobody_reads_never_stops_the_server() {
    // `tcp-uppercase server | less`, left paused: the log cannot keep up,
    // the service must.
    let mut server = Server::start_stalled(BIN, &["server", "--port", "0"]);
    let mut s = connect(&server);
    for i in 0..10_000 {
        let msg = format!("line {i} of a stream whose log nobody reads\n");
        s.write_all(msg.as_bytes()).unwrap();
        assert_eq!(
            read_n(&mut s, msg.len()),
            msg.to_uppercase().as_bytes(),
            "line {i}"
        );
    }
    drop(s);
    let status = server
        .terminate(Duration::from_secs(3))
        .expect("SIGTERM ignored while stdout was stalled");
    assert!(status.success(), "{status:?}");
}

#[test]
fn a_client_that_never_reads_is_cut_at_the_write_timeout() {
    let server = start_server(&["--write-timeout", "1"]);
    let s = connect(&server);
    s.set_write_timeout(Some(T)).unwrap();
    let writer = {
        let mut s = s.try_clone().unwrap();
        thread::spawn(move || {
            // Sends until the server gives up on us; never reads a byte.
            let chunk = vec![b'a'; 64 * 1024];
            let start = std::time::Instant::now();
            loop {
                if let Err(e) = s.write_all(&chunk) {
                    return (e, start.elapsed());
                }
            }
        })
    };
    let line = server.wait_for_stderr(Duration::from_secs(20), |l| {
        l.contains("accepted no byte of its reply for 1 s")
    });
    assert!(line.contains("closing 127.0.0.1:"), "{line}");
    let (err, took) = writer.join().unwrap();
    assert!(took < Duration::from_secs(20), "cut after {took:?}: {err}");
    // The slot is free again for a well-behaved client.
    let mut other = connect(&server);
    other.write_all(b"still here").unwrap();
    assert_eq!(read_n(&mut other, 10), b"STILL HERE");
}

#[test]
fn clients_behind_a_silent_one_are_served_at_once() {
    // The textbook server, stuck in its one `recv` on the silent client,
    // answers none of the others while it stays silent: their reads would
    // time out and fail this test.
    const OTHERS: usize = 19;
    let server = start_server(&["--quiet"]);
    // Connected, half a sentence typed, then nothing: it holds its
    // connection (and its thread) open for the whole test.
    let mut silent = connect(&server);
    silent.write_all(b"still typi").unwrap();
    let addr = server.addr();
    let others: Vec<_> = (0..OTHERS)
        .map(|i| {
            thread::spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                s.set_read_timeout(Some(T)).unwrap();
                let msg = format!("client {i}");
                s.write_all(msg.as_bytes()).unwrap();
                s.shutdown(Shutdown::Write).unwrap();
                let mut reply = String::new();
                s.read_to_string(&mut reply).unwrap();
                assert_eq!(reply, msg.to_uppercase());
            })
        })
        .collect();
    for h in others {
        h.join()
            .expect("a client behind the silent one was not served");
    }
    // All answered while the silent client still held its connection: its
    // typed half is answered as it came, and the connection is still open.
    assert_eq!(read_n(&mut silent, 10), b"STILL TYPI");
    silent.set_nonblocking(true).unwrap();
    let mut probe = [0u8; 1];
    let open = silent.peek(&mut probe);
    assert!(
        matches!(&open, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the silent client's connection ended early: {open:?}"
    );
    silent.set_nonblocking(false).unwrap();
    silent.write_all(b"ng").unwrap();
    silent.shutdown(Shutdown::Write).unwrap();
    let mut rest = String::new();
    silent.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "NG");
}

/// Out of file descriptors (`ulimit -n` low, clients piling up), the
/// failing `accept` is reported at once, then only with a count of the
/// failures since (once a second: net-core's `RateLimit`, tested with its
/// own clock), not in a flood; and the server still answers once
/// descriptors come back.
#[test]
fn running_out_of_descriptors_warns_once_a_second() {
    let script = format!("ulimit -n 24 && exec {BIN} server --port 0 --quiet");
    let mut s = Server::start("sh", &["-c", &script]);
    // Far more clients than descriptors: the backlog holds those the
    // server cannot accept.
    let held: Vec<TcpStream> = (0..60)
        .filter_map(|_| TcpStream::connect(s.addr()).ok())
        .collect();
    assert!(held.len() > 30, "only {} clients connected", held.len());
    // Waits for the second warning, the first with a count: accept fails
    // over and over meanwhile, and only these two lines may say so.
    let counted = |l: &str| l.contains("accept failed") && l.contains(" in the last ");
    s.wait_for_stderr(Duration::from_secs(20), counted);
    let warnings: Vec<String> = s
        .stderr()
        .into_iter()
        .filter(|l| l.contains("accept failed"))
        .collect();
    assert_eq!(warnings.len(), 2, "{warnings:#?}");
    assert!(
        !counted(&warnings[0]) && counted(&warnings[1]),
        "{warnings:#?}"
    );
    assert!(
        s.stderr().iter().any(|l| l.contains("too many open files")),
        "{:#?}",
        s.stderr()
    );
    drop(held);
    // Descriptors are back: a new client is served.
    let mut c = TcpStream::connect(s.addr()).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    c.write_all(b"back\n").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let mut reply = String::new();
    c.read_to_string(&mut reply).unwrap();
    assert_eq!(reply, "BACK\n");
    assert!(s.terminate(Duration::from_secs(10)).is_some());
}

/// The CPUs in a `Cpus_allowed_list` line of `/proc/.../status`.
fn allowed_cpus(status: &str) -> Vec<usize> {
    let list = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .expect("a Cpus_allowed_list line")
        .trim();
    let mut cpus = Vec::new();
    for range in list.split(',') {
        let (lo, hi) = range.split_once('-').unwrap_or((range, range));
        cpus.extend(lo.parse::<usize>().unwrap()..=hi.parse::<usize>().unwrap());
    }
    cpus
}

/// Each thread of process `pid`, with the CPUs it may run on.
fn threads_cpus(pid: u32) -> Vec<(String, Vec<usize>)> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(|t| {
            let t = t.unwrap();
            // A thread that exits meanwhile is no longer there to check.
            let status = std::fs::read_to_string(t.path().join("status")).ok()?;
            Some((
                t.file_name().to_string_lossy().into_owned(),
                allowed_cpus(&status),
            ))
        })
        .collect()
}

#[cfg(target_os = "linux")]
#[test]
fn cpus_taken_from_a_running_server_stay_taken() {
    testkit::need("taskset", "util-linux");
    let ours = allowed_cpus(&std::fs::read_to_string("/proc/self/status").unwrap());
    let [kept, taken, ..] = ours[..] else {
        testkit::skip("following a CPU needs two CPUs to run on");
        return;
    };
    let (kept, taken) = (kept.to_string(), taken.to_string());
    let mut server = start_server(&[]);
    let port = server.port();
    // One client from each CPU, so that threads have followed both.
    for cpu in [&kept, &taken] {
        let run = Run::new(
            "taskset",
            &["-c", cpu, BIN, "client", "--port", &port, "hi"],
            b"",
        );
        run.assert_success();
    }
    // The administrator takes a CPU away from the running server, as
    // `taskset -a -p` (or a cgroup's cpuset) does.
    let pid = server.pid().to_string();
    let run = Run::new("taskset", &["-a", "-p", "-c", &kept, &pid], b"");
    run.assert_success();
    // Clients from that CPU: one-sentence ones, whose threads would follow
    // it, and a two-line one, whose thread lets go afterwards.
    for args in [&["one"][..], &["two"], &[]] {
        let mut argv = vec!["-c", &taken, BIN, "client", "--port", &port];
        argv.extend_from_slice(args);
        let run = Run::new("taskset", &argv, b"first\nsecond\n");
        run.assert_success();
    }
    let kept: usize = kept.parse().unwrap();
    for (tid, cpus) in threads_cpus(server.pid()) {
        assert_eq!(cpus, vec![kept], "thread {tid} of the server");
    }
    let status = server.terminate(T).expect("exited after SIGTERM");
    assert!(status.success(), "exit status {status}");
}
