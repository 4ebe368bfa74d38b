use std::io::Write;
use std::thread;
use std::time::{Duration, Instant};

use testkit::Run;

use crate::{BIN, RawServer, read_request};

fn run(server: &RawServer, extra: &[&str]) -> Run {
    let url = server.url("/x");
    let mut args = vec!["-s"];
    args.extend_from_slice(extra);
    args.push(&url);
    Run::new(BIN, &args, b"")
}

#[test]
fn chunked_with_trailers() {
    let s = RawServer::once(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7;x=y\r\n, world\r\n0\r\nX-Checksum: 1\r\n\r\n",
    );
    let r = run(&s, &[]);
    r.assert_success();
    assert_eq!(r.stdout_text(), "hello, world");
    let req = s.requests.lock().unwrap()[0].clone();
    assert!(req.starts_with("GET /x HTTP/1.1\r\n"), "{req}");
    assert!(req.contains(&format!("Host: {}\r\n", s.addr)));
    assert!(req.contains("Accept: */*\r\n"));
}

#[test]
fn http10_close_delimited() {
    let s =
        RawServer::once(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the very end");
    let r = run(&s, &[]);
    r.assert_success();
    assert_eq!(r.stdout_text(), "until the very end");
}

#[test]
fn truncated_content_length_is_18() {
    let s = RawServer::once(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this");
    let r = run(&s, &[]);
    r.assert_code(18);
    // What arrived is on stdout, as with curl.
    assert_eq!(r.stdout_text(), "only this");
    assert!(
        r.stderr_text().contains("9 bytes into a 100-byte body"),
        "{r}"
    );
}

#[test]
fn truncated_chunked_is_18() {
    let s =
        RawServer::once(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nonly part");
    run(&s, &[]).assert_code(18);
}

#[test]
fn not_http_is_1() {
    let s = RawServer::once(b"SSH-2.0-OpenSSH_9.2\r\n");
    let r = run(&s, &[]);
    r.assert_code(1);
    assert!(
        r.stderr_text()
            .contains(r#"did not answer with HTTP (its reply begins "SSH-2.0-OpenSSH_9.2\r\n")"#),
        "{r}"
    );
    let s = RawServer::once(b"HTTP/1.1 2x0 OK\r\n\r\n");
    let r = run(&s, &[]);
    r.assert_code(1);
    assert!(
        r.stderr_text().contains("has no three-digit status code"),
        "{r}"
    );
}

#[test]
fn silent_server_times_out_with_28() {
    let s = RawServer::start(|s, _, _| {
        let _ = read_request(s);
        thread::sleep(Duration::from_secs(120)); // never answers in time
    });
    let start = Instant::now();
    let r = run(&s, &["--timeout", "1"]);
    r.assert_code(28);
    assert!(r.stderr_text().contains("timed out after 1 s"), "{r}");
    assert!(r.stderr_text().contains("--max-time"), "{r}");
    // Far below the server's silence, and far above the time-out, so a
    // busy machine cannot make it fail.
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "the time-out was not enforced"
    );
}

#[test]
fn reconnects_when_the_server_closed_between_requests() {
    // Each connection answers one request (keep-alive promised), then closes.
    let s = RawServer::start(|s, i, seen| {
        if let Some(req) = read_request(s) {
            seen.lock().unwrap().push(req);
            let body = format!("conn {i}");
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let (a, b) = (s.url("/a"), s.url("/b"));
    let r = Run::new(BIN, &["-s", &a, &b], b"");
    r.assert_success();
    assert_eq!(r.stdout_text(), "conn 0conn 1");
    assert_eq!(s.connections.load(std::sync::atomic::Ordering::SeqCst), 2);
}

#[test]
fn failed_download_leaves_no_file() {
    let s = RawServer::once(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("f.bin");
    let r = run(&s, &["-o", out.to_str().unwrap()]);
    r.assert_code(18);
    assert!(
        crate::against_server::leftovers(dir.path()).is_empty(),
        "a partial file was left"
    );
}

#[test]
fn obs_fold_is_accepted() {
    let s = RawServer::once(
        b"HTTP/1.1 200 OK\r\nX-Folded: first\r\n  second\r\nContent-Length:\r\n\t5\r\n\r\nhello",
    );
    let r = run(&s, &[]);
    r.assert_success();
    assert_eq!(r.stdout_text(), "hello");
}

#[test]
fn an_unsolicited_101_is_named() {
    let s = RawServer::once(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello",
    );
    let r = run(&s, &[]);
    r.assert_code(56);
    assert!(
        r.stderr_text()
            .contains("switched protocols (101) though no upgrade was requested"),
        "{r}"
    );
}

/// A server that sends `pieces` body bytes, one every `gap`.
fn trickle(pieces: usize, gap: Duration) -> RawServer {
    RawServer::start(move |s, _, _| {
        let _ = read_request(s);
        let _ = write!(s, "HTTP/1.1 200 OK\r\nContent-Length: {pieces}\r\n\r\n");
        for _ in 0..pieces {
            thread::sleep(gap); // pacing the download, not synchronisation
            if s.write_all(b"x").is_err() {
                return;
            }
        }
    })
}

#[test]
fn a_stall_ends_the_request_and_says_which_limit_fired() {
    // Steady bytes keep a short stall limit from firing (a byte every
    // 0.2 s against 3 s: a busy machine once stretched a 0.2 s gap past 1 s)...
    let s = trickle(10, Duration::from_millis(200));
    let r = run(&s, &["--stall-timeout", "3"]);
    r.assert_success();
    assert_eq!(r.stdout, vec![b'x'; 10]);
    // ...a silence longer than it does.
    let s = RawServer::start(|s, _, _| {
        let _ = read_request(s);
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab");
        thread::sleep(Duration::from_secs(120)); // never sends the rest in time
    });
    let start = Instant::now();
    let r = run(&s, &["--stall-timeout", "1"]);
    r.assert_code(28);
    assert!(
        r.stderr_text()
            .contains("timed out after 1 s without a byte from"),
        "{r}"
    );
    assert!(r.stderr_text().contains("--stall-timeout"), "{r}");
    assert!(start.elapsed() < Duration::from_secs(60), "not enforced");
}

/// Largest CPU time the client may spend on a head that arrives in tiny
/// pieces: reading it again from its start on every piece took seconds.
const TRICKLED_HEAD_CPU: Duration = Duration::from_millis(500);

#[test]
fn a_large_head_in_tiny_pieces_is_read_in_linear_time() {
    let mut head = b"HTTP/1.1 200 OK\r\n".to_vec();
    for i in 0..2400 {
        head.extend_from_slice(format!("X-H{i}: {}\r\n", "v".repeat(100)).as_bytes());
    }
    head.extend_from_slice(b"Content-Length: 2\r\n\r\nhi");
    let head = std::sync::Arc::new(head);
    let s = RawServer::start(move |s, _, _| {
        if read_request(s).is_some() {
            let _ = s.set_nodelay(true);
            for piece in head.chunks(16) {
                if s.write_all(piece).is_err() {
                    return;
                }
                // Pacing, so the client's reads come in small pieces.
                thread::sleep(Duration::from_micros(20));
            }
        }
    });
    // bash's `times` gives the CPU time of the client alone.
    let r = Run::new(
        "bash",
        &[
            "-c",
            "\"$0\" -s \"$1\"; s=$?; times; exit $s",
            crate::BIN,
            &s.url("/x"),
        ],
        b"",
    );
    r.assert_success();
    let out = r.stdout_text();
    assert!(out.starts_with("hi"), "{r}");
    // The last line of `times`: the children's user and system time.
    let children = out.lines().last().unwrap_or_default();
    let user = children.split_whitespace().next().unwrap_or_default();
    let (min, sec) = user
        .trim_end_matches('s')
        .split_once('m')
        .unwrap_or_else(|| panic!("no time in {out:?}"));
    let cpu =
        Duration::from_secs_f64(min.parse::<f64>().unwrap() * 60.0 + sec.parse::<f64>().unwrap());
    assert!(cpu < TRICKLED_HEAD_CPU, "{cpu:?} of CPU for the head\n{r}");
}

/// The state letter of process `pid` (`/proc/PID/stat`'s third field).
fn state_of(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(") ")?.1.chars().next()
}

/// Waits (bounded) until process `pid`'s state is one of `states`.
fn wait_for_state(pid: u32, states: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !state_of(pid).is_some_and(|s| states.contains(s)) {
        assert!(
            Instant::now() < deadline,
            "pid {pid} never reached state {states}"
        );
        thread::yield_now();
    }
}

/// Ctrl-Z and `fg` while waiting for a response: a read on a socket with
/// a receive time-out is not restarted after a stop and continue (the
/// kernel returns EINTR, see signal(7)), and the client reads on, as curl
/// does, instead of calling the connection broken (exit 56).
#[test]
fn stopped_and_continued_while_waiting_the_download_goes_on() {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    use std::io::Read;
    use std::process::{Command, Stdio};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/x", listener.local_addr().unwrap());
    let mut child = Command::new(BIN)
        .args(["-s", &url])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (mut conn, _) = listener.accept().unwrap();
    read_request(&mut conn).unwrap();
    // Asleep: in its read of the response.
    wait_for_state(pid, "S");
    kill(Pid::from_raw(pid as i32), Signal::SIGSTOP).unwrap();
    wait_for_state(pid, "T");
    kill(Pid::from_raw(pid as i32), Signal::SIGCONT).unwrap();
    // Running again, waiting again, or ended (a zombie until waited for).
    wait_for_state(pid, "RSZ");
    conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
        .unwrap();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}: {err}");
    assert_eq!(out, "hello");
}
