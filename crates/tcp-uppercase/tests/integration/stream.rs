//! The client's stream mode: standard input and the replies at once.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener};
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use testkit::{Rng, Run};

use crate::{BIN, start_server};

/// What the client prints for `reply`: each line as `From Server: LINE`,
/// a `\r` before its `\n` dropped, a last line without `\n` ended.
pub fn printed(reply: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(reply.len() + reply.len() / 8);
    let mut lines: Vec<&[u8]> = reply.split(|&b| b == b'\n').collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    for line in lines {
        out.extend_from_slice(b"From Server: ");
        out.extend_from_slice(line.strip_suffix(b"\r").unwrap_or(line));
        out.push(b'\n');
    }
    out
}

/// Lines of lowercase text (some with `ß`, which grows to `SS`), empty
/// lines, `\r\n` endings and one long line, about `size` bytes, the last
/// line without its `\n`.
pub fn text(size: usize, seed: u64) -> Vec<u8> {
    let words = ["straße", "tanmayi", "31", "hello", "ﬁne", "привет", "x"];
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(size + 1024);
    let mut long_done = false;
    while out.len() < size {
        let words_in_line = match rng.next_u64() % 50 {
            0 => 0,
            1 if !long_done => {
                long_done = true;
                300_000
            }
            n => n as usize,
        };
        for i in 0..words_in_line {
            if i > 0 {
                out.push(b' ');
            }
            let w = words[(rng.next_u64() % words.len() as u64) as usize];
            out.extend_from_slice(w.as_bytes());
        }
        if rng.next_u64().is_multiple_of(10) {
            out.push(b'\r');
        }
        out.push(b'\n');
    }
    out.extend_from_slice(b"the end");
    out
}

#[test]
fn sixteen_megabytes_through_our_server_come_back_byte_exact() {
    let server = start_server(&["--quiet"]);
    let input = text(16 * 1024 * 1024, 24);
    let run = Run::with_timeout(
        BIN,
        &["client", "--port", &server.port()],
        &input,
        Duration::from_secs(120),
    );
    run.assert_code(0);
    let want = printed(&net_core::text::uppercase_bytes(&input));
    assert!(
        run.stdout == want,
        "output differs: {} bytes, want {}; first difference at byte {:?}",
        run.stdout.len(),
        want.len(),
        run.stdout.iter().zip(&want).position(|(a, b)| a != b)
    );
    assert!(run.stderr.is_empty(), "{}", run.stderr_text());
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

/// A client that waits for each line's reply before sending the next
/// never gets one from this server, and one that holds its input cannot
/// stay small: the whole input must go out (in bounded memory) before any
/// reply comes, and then every reply must be printed.
#[cfg(target_os = "linux")]
#[test]
fn a_server_that_answers_only_after_the_whole_input_gets_it_all() {
    const INPUT: usize = 48 * 1024 * 1024;
    /// Far below the input: a client that holds its input (or a line of
    /// it) cannot stay under this.
    const PEAK_LIMIT_KIB: u64 = 24 * 1024;
    let input = text(INPUT, 7);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let mut child = Command::new(BIN)
        .args(["client", "--port", &port, "--timeout", "30"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut stdin = child.stdin.take().unwrap();
    let feeder = {
        let input = input.clone();
        thread::spawn(move || stdin.write_all(&input))
    };
    let mut stdout = child.stdout.take().unwrap();
    let printer = thread::spawn(move || {
        let mut all = Vec::new();
        stdout.read_to_end(&mut all).map(|_| all)
    });
    let (mut conn, _) = listener.accept().unwrap();
    let mut got = Vec::with_capacity(INPUT + 1024);
    // Ends at the client's half-close, which comes after the last byte.
    conn.read_to_end(&mut got).unwrap();
    assert!(
        got == input,
        "the server got {} bytes of {}",
        got.len(),
        input.len()
    );
    // The client is still running, waiting for the replies.
    let peak = peak_rss_kib(pid);
    assert!(
        peak < PEAK_LIMIT_KIB,
        "the client's peak RSS is {peak} KiB after sending {INPUT} bytes"
    );
    conn.write_all(&net_core::text::uppercase_bytes(&got))
        .unwrap();
    drop(conn);
    feeder.join().unwrap().unwrap();
    let printed_out = printer.join().unwrap().unwrap();
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "{status:?}: {stderr}");
    let want = printed(&net_core::text::uppercase_bytes(&input));
    assert!(
        printed_out == want,
        "output differs: {} bytes, want {}",
        printed_out.len(),
        want.len()
    );
}

#[test]
fn lines_left_unanswered_at_the_servers_close_are_an_error() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Answers the first line only, then reads to the client's end of
    // stream (so the close is a clean one) and closes.
    let server = thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(&conn);
        let mut first = Vec::new();
        reader.read_until(b'\n', &mut first).unwrap();
        (&conn).write_all(&first.to_ascii_uppercase()).unwrap();
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).unwrap();
        conn.shutdown(Shutdown::Both).unwrap();
    });
    let run = Run::new(
        BIN,
        &["client", "--port", &port.to_string()],
        b"one\ntwo\nthree",
    );
    server.join().unwrap();
    run.assert_code(1);
    assert_eq!(run.stdout_text(), "From Server: ONE\n");
    assert_eq!(
        run.stderr_text(),
        format!(
            "error: the server at 127.0.0.1:{port} closed the connection having answered 1 of the 3 lines sent on it\n"
        )
    );
}

#[test]
fn a_server_that_never_answers_times_out_after_the_input() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Reads everything, answers nothing, keeps the connection open.
    let server = thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut all = Vec::new();
        let _ = conn.read_to_end(&mut all);
        (conn, all)
    });
    let run = Run::new(
        BIN,
        &["client", "--port", &port.to_string(), "--timeout", "0.5"],
        b"hello\n",
    );
    run.assert_code(1);
    assert_eq!(
        run.stderr_text(),
        format!("error: timed out waiting for a reply from 127.0.0.1:{port} after 0.5 s\n")
    );
    let (_conn, all) = server.join().unwrap();
    assert_eq!(all, b"hello\n");
}

#[test]
fn waiting_for_the_user_is_not_a_stall() {
    let server = start_server(&["--quiet"]);
    let mut child = Command::new(BIN)
        .args(["client", "--port", &server.port(), "--timeout", "0.3"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    stdin.write_all(b"first\n").unwrap();
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(line, "From Server: FIRST\n");
    // The user thinks for longer than the time-out; nothing is owed.
    thread::sleep(Duration::from_millis(900));
    stdin.write_all(b"second\n").unwrap();
    drop(stdin);
    line.clear();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(line, "From Server: SECOND\n");
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn nothing_to_send_connects_to_nothing() {
    // As before: no input, no connection, no output.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let run = Run::new(BIN, &["client", "--port", &port.to_string()], b"");
    run.assert_success();
    assert!(run.stdout.is_empty() && run.stderr.is_empty(), "{run}");
}

#[test]
fn no_server_is_one_clear_sentence_in_stream_mode_too() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let run = Run::new(BIN, &["client", "--port", &port.to_string()], b"hi\n");
    run.assert_code(1);
    assert_eq!(
        run.stderr_text(),
        format!("error: nothing is listening on 127.0.0.1:{port} (connection refused)\n")
    );
    assert!(run.stdout.is_empty());
}
