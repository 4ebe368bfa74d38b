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
    // Steady bytes keep a short stall limit from firing...
    let s = trickle(10, Duration::from_millis(200));
    let r = run(&s, &["--stall-timeout", "1"]);
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
