use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread;
use std::time::Duration;

use testkit::Run;

use crate::{BIN, start_server};

#[test]
fn sentence_from_argv() {
    let server = start_server(&[]);
    let run = Run::new(
        BIN,
        &["client", "--port", &server.port(), "tanmayi", "31"],
        b"",
    );
    run.assert_success();
    assert_eq!(run.stdout_text(), "From Server: TANMAYI 31\n");
}

#[test]
fn stdin_lines_over_one_connection_without_prompts() {
    let server = start_server(&[]);
    let input = "hello\nstraße\r\n\nlast line".as_bytes();
    let run = Run::new(BIN, &["client", "--port", &server.port()], input);
    run.assert_success();
    assert_eq!(
        run.stdout_text(),
        "From Server: HELLO\nFrom Server: STRASSE\nFrom Server: \nFrom Server: LAST LINE\n"
    );
    // One connection for all four lines: every log line names the same peer.
    let last = server.wait_for_stdout(Duration::from_secs(10), |l| l.contains("LAST LINE"));
    let peer = last.rsplit(' ').next().unwrap().to_string();
    let sent: Vec<_> = server
        .stdout()
        .into_iter()
        .filter(|l| l.starts_with("sent "))
        .collect();
    assert!(!sent.is_empty(), "{sent:?}");
    assert!(sent.iter().all(|l| l.ends_with(&peer)), "{sent:?}");
}

#[test]
fn no_server_is_one_clear_sentence() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let run = Run::new(BIN, &["client", "--port", &port.to_string(), "hi"], b"");
    run.assert_code(1);
    assert_eq!(
        run.stderr_text(),
        format!("error: nothing is listening on 127.0.0.1:{port} (connection refused)\n")
    );
    assert!(run.stdout.is_empty());
}

/// Like the textbook `TCPServer.py`: one `recv`, reply, close. (The real
/// Python program is exercised in the workspace's e2e tests.)
fn one_shot_server(replies: usize) -> (u16, thread::JoinHandle<Vec<Vec<u8>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let t = thread::spawn(move || {
        let mut seen = Vec::new();
        for _ in 0..replies {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = [0u8; 1024];
            let n = s.read(&mut buf).unwrap();
            seen.push(buf[..n].to_vec());
            s.write_all(&buf[..n].to_ascii_uppercase()).unwrap();
        }
        seen
    });
    (port, t)
}

#[test]
fn works_against_a_one_recv_server() {
    let (port, t) = one_shot_server(1);
    let run = Run::new(
        BIN,
        &["client", "--port", &port.to_string(), "hello", "there"],
        b"",
    );
    run.assert_success();
    assert_eq!(run.stdout_text(), "From Server: HELLO THERE\n");
    assert_eq!(t.join().unwrap(), vec![b"hello there".to_vec()]);
}

#[test]
fn typed_lines_reconnect_when_the_server_closes_after_each_reply() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    // As a user at a terminal against the textbook server: each line is
    // typed after the previous reply, and the server has closed by then.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (closed_tx, closed) = std::sync::mpsc::channel();
    let t = thread::spawn(move || {
        let mut seen = Vec::new();
        for _ in 0..3 {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = [0u8; 1024];
            let n = s.read(&mut buf).unwrap();
            seen.push(buf[..n].to_vec());
            s.write_all(&buf[..n].to_ascii_uppercase()).unwrap();
            drop(s);
            closed_tx.send(()).unwrap();
        }
        seen
    });
    let mut child = Command::new(BIN)
        .args(["client", "--port", &port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    for word in ["one", "two", "three"] {
        stdin.write_all(format!("{word}\n").as_bytes()).unwrap();
        let mut reply = String::new();
        stdout.read_line(&mut reply).unwrap();
        if reply.is_empty() {
            let out = child.wait_with_output().unwrap();
            panic!("no reply to {word:?}: {out:?}");
        }
        assert_eq!(reply, format!("From Server: {}\n", word.to_uppercase()));
        // The next line is typed after the server has closed.
        closed.recv().unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        t.join().unwrap(),
        [b"one\n".to_vec(), b"two\n".to_vec(), b"three\n".to_vec()]
    );
}

#[test]
fn piped_lines_the_one_recv_server_took_at_once_are_answered() {
    // The whole input arrives in the textbook server's one `recv`: one
    // connection answers every line.
    let (port, t) = one_shot_server(1);
    let run = Run::new(
        BIN,
        &["client", "--port", &port.to_string()],
        b"one\ntwo\nthree\n",
    );
    run.assert_success();
    assert_eq!(
        run.stdout_text(),
        "From Server: ONE\nFrom Server: TWO\nFrom Server: THREE\n"
    );
    assert_eq!(t.join().unwrap(), [b"one\ntwo\nthree\n".to_vec()]);
}

#[test]
fn silent_server_times_out() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let run = Run::new(
        BIN,
        &[
            "client",
            "--port",
            &port.to_string(),
            "--timeout",
            "0.5",
            "hi",
        ],
        b"",
    );
    run.assert_code(1);
    assert_eq!(
        run.stderr_text(),
        format!("error: timed out waiting for a reply from 127.0.0.1:{port} after 0.5 s\n")
    );
    drop(l);
}

#[test]
fn bad_timeout_is_a_usage_error() {
    let run = Run::new(BIN, &["client", "--timeout", "0", "hi"], b"");
    run.assert_code(2);
    assert!(
        run.stderr_text().contains("must be more than 0 seconds"),
        "{run}"
    );
}

#[test]
fn a_twenty_megabyte_line_comes_back_byte_exact() {
    // Written whole before reading, the line's reply would fill the
    // client's receive buffer and stop both sides.
    let server = crate::start_server(&["--quiet"]);
    let port = server.addr().port().to_string();
    let mut line: Vec<u8> = "twenty megabytes of lowercase text, straße "
        .as_bytes()
        .iter()
        .copied()
        .cycle()
        .take(20 * 1024 * 1024)
        .collect();
    line.push(b'\n');
    let run = Run::with_timeout(
        BIN,
        &["client", "--port", &port],
        &line,
        Duration::from_secs(120),
    );
    run.assert_success();
    let mut want = b"From Server: ".to_vec();
    want.extend_from_slice(&net_core::text::uppercase_bytes(&line));
    assert!(
        run.stdout == want,
        "reply differs ({} bytes, want {})",
        run.stdout.len(),
        want.len()
    );
}

#[test]
fn a_server_that_stops_reading_times_out() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    // Accepts and holds the connection without reading a byte.
    let holder = thread::spawn(move || listener.accept().map(|(s, _)| s));
    let line = vec![b'a'; 64 * 1024 * 1024];
    let start = std::time::Instant::now();
    let run = Run::with_timeout(
        BIN,
        &["client", "--port", &port, "--timeout", "1"],
        &line,
        Duration::from_secs(60),
    );
    assert!(start.elapsed() < Duration::from_secs(30));
    assert_ne!(run.code(), Some(0));
    let err = run.stderr_text();
    assert!(err.contains("timed out"), "{err}");
    drop(holder.join().unwrap());
}

/// Peak resident memory of a live process, in KiB (Linux).
#[cfg(target_os = "linux")]
fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[cfg(target_os = "linux")]
#[test]
fn a_large_reply_streams_to_stdout_without_being_held() {
    use std::process::{Command, Stdio};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Instant;

    const REPLY: usize = 64 * 1024 * 1024;
    /// Far below the reply: a client that collects the reply before
    /// printing it cannot stay under this.
    const PEAK_LIMIT_KIB: u64 = 24 * 1024;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let mut child = Command::new(BIN)
        .args(["client", "--port", &port, "big", "reply"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let printed = Arc::new(AtomicU64::new(0));
    let mut stdout = child.stdout.take().unwrap();
    let counter = {
        let printed = printed.clone();
        thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            let mut head = Vec::new();
            loop {
                match stdout.read(&mut buf) {
                    Ok(0) | Err(_) => return head,
                    Ok(n) => {
                        if head.len() < 32 {
                            head.extend_from_slice(&buf[..n.min(32)]);
                        }
                        printed.fetch_add(n as u64, Ordering::SeqCst);
                    }
                }
            }
        })
    };
    // A server whose reply is 64 MiB and does not end until the client has
    // printed most of it.
    let (mut conn, _) = listener.accept().unwrap();
    let mut sentence = Vec::new();
    conn.read_to_end(&mut sentence).unwrap();
    assert_eq!(sentence, b"big reply");
    let chunk = vec![b'A'; 1024 * 1024];
    for _ in 0..REPLY / chunk.len() {
        conn.write_all(&chunk).unwrap();
    }
    // Bounded, not timed: the wait only ends early on success.
    let deadline = Instant::now() + Duration::from_secs(60);
    while printed.load(Ordering::SeqCst) < (REPLY / 2) as u64 {
        assert!(
            Instant::now() < deadline,
            "the client printed {} bytes of a reply still open: it waits for the end before printing",
            printed.load(Ordering::SeqCst)
        );
        thread::sleep(Duration::from_millis(10));
    }
    let peak = peak_rss_kib(pid);
    assert!(
        peak < PEAK_LIMIT_KIB,
        "the client's peak RSS is {peak} KiB while streaming a 64 MiB reply"
    );
    drop(conn);
    let status = child.wait().unwrap();
    let head = counter.join().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(head.starts_with(b"From Server: AAAA"), "{head:?}");
    assert_eq!(
        printed.load(Ordering::SeqCst),
        ("From Server: ".len() + REPLY + 1) as u64
    );
}
