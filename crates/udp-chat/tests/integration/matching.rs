//! Replies that come twice, late or not at all, from a scripted server:
//! every printed answer is its own line's, whatever else arrives.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use testkit::{Run, Server};

use crate::BIN;

/// How often the scripted server checks whether its test is over.
const POLL: Duration = Duration::from_millis(50);

/// Longest wait for a chat message to print.
const T: Duration = Duration::from_secs(10);

/// What the scripted server sends back for one datagram: each reply
/// after its delay (zero: at once, in order).
type Replies = Vec<(Duration, Vec<u8>)>;

/// A UDP server on loopback that answers as its script says, given the
/// number of the datagram (from 0) and its text. Stops when dropped.
struct Scripted {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Scripted {
    fn start(mut script: impl FnMut(usize, &[u8]) -> Replies + Send + 'static) -> Scripted {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = socket.local_addr().unwrap();
        socket.set_read_timeout(Some(POLL)).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = thread::Builder::new()
            .name("scripted-server".into())
            .spawn(move || {
                let mut buf = [0u8; 2048];
                let mut seen = 0;
                while !stopped.load(Ordering::Relaxed) {
                    let Ok((n, from)) = socket.recv_from(&mut buf) else {
                        continue;
                    };
                    for (delay, reply) in script(seen, &buf[..n]) {
                        if delay.is_zero() {
                            socket.send_to(&reply, from).unwrap();
                            continue;
                        }
                        // A slow link: the reply travels on its own.
                        let late = socket.try_clone().unwrap();
                        thread::spawn(move || {
                            thread::sleep(delay);
                            let _ = late.send_to(&reply, from);
                        });
                    }
                    seen += 1;
                }
            })
            .unwrap();
        Scripted {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    fn port(&self) -> String {
        self.addr.port().to_string()
    }
}

impl Drop for Scripted {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn now(data: &[u8]) -> (Duration, Vec<u8>) {
    (Duration::ZERO, data.to_vec())
}

fn upper(data: &[u8]) -> Vec<u8> {
    String::from_utf8_lossy(data).to_uppercase().into_bytes()
}

/// What the client prints when each line gets its own answer.
fn answers(lines: &[&str], port: &str, answer: impl Fn(&str) -> String) -> String {
    lines
        .iter()
        .map(|l| format!("{}\nreceived from 127.0.0.1:{port}\n", answer(l)))
        .collect()
}

fn input(lines: &[&str]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// Every stderr line is a note that a duplicate was ignored.
fn only_duplicate_notes(run: &Run) -> usize {
    let text = run.stderr_text();
    for line in text.lines() {
        assert!(
            line.starts_with("note: a duplicate of line ")
                && line.ends_with("'s reply arrived; ignored"),
            "{run}"
        );
    }
    text.lines().count()
}

const LINES: [&str; 8] = [
    "alpha",
    "beta",
    "alpha",
    "alpha",
    "straße",
    "",
    "Mixed Case 31",
    "last",
];

#[test]
fn copies_of_earlier_replies_are_never_printed_as_later_answers() {
    // Each line is answered twice, after a copy of the previous answer
    // that the link held back until the next line went out.
    let mut previous = None;
    let server = Scripted::start(move |_, msg| {
        let answer = upper(msg);
        let mut replies: Replies = previous.iter().map(|p: &Vec<u8>| now(p)).collect();
        replies.extend([now(&answer), now(&answer)]);
        previous = Some(answer);
        replies
    });
    let port = server.port();
    let run = Run::new(BIN, &["client", "--port", &port], input(&LINES).as_bytes());
    run.assert_success();
    assert_eq!(
        run.stdout_text(),
        answers(&LINES, &port, str::to_uppercase),
        "{run}"
    );
    assert!(only_duplicate_notes(&run) >= LINES.len() - 1, "{run}");
}

#[test]
fn replies_slower_than_the_timeout_are_each_taken_once() {
    // Every reply takes 250 ms, longer than the client's wait: each line
    // is sent again before its first reply arrives, and the second reply
    // comes while the next line waits.
    let server = Scripted::start(|_, msg| vec![(Duration::from_millis(250), upper(msg))]);
    let port = server.port();
    let lines = ["one", "two", "three", "four", "five"];
    let run = Run::new(
        BIN,
        &[
            "client",
            "--port",
            &port,
            "--timeout",
            "0.2",
            "--retries",
            "2",
        ],
        input(&lines).as_bytes(),
    );
    run.assert_success();
    assert_eq!(
        run.stdout_text(),
        answers(&lines, &port, str::to_uppercase),
        "{run}"
    );
    assert!(only_duplicate_notes(&run) >= lines.len() - 1, "{run}");
}

#[test]
fn an_unanswered_line_is_reported_and_the_next_lines_still_go() {
    // "two" is never answered in time: its reply comes only once "three"
    // has been sent.
    let server = Scripted::start(|_, msg| match msg {
        b"two" => vec![],
        b"three" => vec![now(b"TWO"), now(b"THREE")],
        other => vec![now(&upper(other))],
    });
    let port = server.port();
    let run = Run::new(
        BIN,
        &[
            "client",
            "--port",
            &port,
            "--timeout",
            "0.2",
            "--retries",
            "1",
        ],
        b"one\ntwo\nthree\nfour\n",
    );
    run.assert_code(1);
    assert_eq!(
        run.stdout_text(),
        answers(&["ONE", "THREE", "FOUR"], &port, str::to_string),
        "{run}"
    );
    assert_eq!(
        run.stderr_text(),
        format!(
            "warning: no reply to line 2 from 127.0.0.1:{port} after 2 attempt(s) of 0.2 s each\n\
             note: line 2's reply arrived after the client had given up on it; not printed\n\
             error: 1 of 4 lines got no reply from 127.0.0.1:{port}\n"
        ),
        "{run}"
    );
}

#[test]
fn an_echo_server_is_matched_by_its_echo() {
    let mut previous: Option<Vec<u8>> = None;
    let server = Scripted::start(move |_, msg| {
        let mut replies: Replies = previous.iter().map(|p| now(p)).collect();
        replies.extend([now(msg), now(msg)]);
        previous = Some(msg.to_vec());
        replies
    });
    let port = server.port();
    let run = Run::new(BIN, &["client", "--port", &port], input(&LINES).as_bytes());
    run.assert_success();
    assert_eq!(
        run.stdout_text(),
        answers(&LINES, &port, str::to_string),
        "{run}"
    );
    only_duplicate_notes(&run);
}

#[test]
fn a_server_with_its_own_transform_gets_its_copies_recognised() {
    // Neither uppercase nor echo: each answer is taken as it comes, and a
    // copy of it later is known as a copy.
    let reverse = |m: &str| m.chars().rev().collect::<String>();
    let mut previous: Option<Vec<u8>> = None;
    let server = Scripted::start(move |_, msg| {
        let answer = reverse(&String::from_utf8_lossy(msg)).into_bytes();
        let mut replies: Replies = previous.iter().map(|p| now(p)).collect();
        replies.extend([now(&answer), now(&answer)]);
        previous = Some(answer);
        replies
    });
    let port = server.port();
    let lines = ["abc", "def", "ghi", "jkl"];
    let run = Run::new(BIN, &["client", "--port", &port], input(&lines).as_bytes());
    run.assert_success();
    assert_eq!(run.stdout_text(), answers(&lines, &port, reverse), "{run}");
    only_duplicate_notes(&run);
}

#[test]
fn chat_shows_a_late_reply_as_late_and_a_copy_as_a_copy() {
    // An uppercase server that answers "one" only after "two" arrived,
    // and answers "two" twice.
    let server = Scripted::start(|_, msg| match msg {
        b"one" => vec![],
        b"two" => vec![now(b"ONE"), now(b"TWO"), now(b"TWO")],
        _ => vec![],
    });
    let port = server.port();
    let mut client = Server::spawn(BIN, &["client", "--port", &port, "--chat"]).unwrap();
    client.send_stdin("one\ntwo\n").unwrap();
    let from = format!("Server 127.0.0.1:{port}");
    let want = [
        format!("{from} (late, answers your line 1 \"one\"): ONE"),
        format!("{from}: TWO"),
        format!("{from} (again, answers your line 2 \"two\"): TWO"),
    ];
    client.wait_for_stdout(T, |l| l == want[2]);
    assert_eq!(client.stdout(), want);
    client.send_stdin("quit\n").unwrap();
    let status = client.wait_exit(T).expect("client exits on quit");
    assert!(status.success(), "{status}");
}
