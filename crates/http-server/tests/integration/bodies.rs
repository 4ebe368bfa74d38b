//! Request bodies, which this server never uses: `Expect: 100-continue`
//! is answered with the final status, never `100 Continue`; small bodies
//! are read and dropped so requests pipelined behind them are answered;
//! when a connection must close with bytes unread, stderr says so.

use std::time::Duration;

use crate::{Conn, site};

/// How long the access and error logs may take to show a line.
const LOGGED_WITHIN: Duration = Duration::from_secs(10);

#[test]
fn a_client_waiting_for_100_continue_gets_the_final_status_first() {
    let s = site(&[]);
    let mut c = Conn::open(s.addr());
    c.send(b"PUT /up.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    let r = c.read(false);
    assert_eq!(r.status, 405, "{}", r.head);
    assert_eq!(r.header("allow").as_deref(), Some("GET, HEAD"));
    assert_eq!(r.header("connection"), None, "{}", r.head);
    // A client that sends its body anyway, then another request: the body
    // is dropped and the request answered.
    c.send(b"abcdeGET /notes.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let r = c.read(false);
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(r.text(), "0123456789abcdefghij");
    // A body too large to drop: 413 at once, and the connection closes.
    let mut c = Conn::open(s.addr());
    c.send(
        b"POST /up.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 900000000\r\nExpect: 100-continue\r\n\r\n",
    );
    let r = c.read(false);
    assert_eq!(r.status, 413, "{}", r.head);
    assert_eq!(r.header("connection").as_deref(), Some("close"));
    assert!(c.closed_within(Duration::from_secs(5)));
}

#[test]
#[ignore = "needs curl"]
fn curl_uploads_nothing_to_a_refused_request() {
    testkit::need("curl", "curl");
    let s = site(&[]);
    let file = s.root.path().join("upload.bin");
    std::fs::write(&file, vec![b'u'; 3 << 20]).unwrap();
    let url = format!("http://{}/upload.bin", s.addr());
    let run = testkit::Run::new(
        "curl",
        &[
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{size_upload}",
            "-T",
            file.to_str().unwrap(),
            &url,
        ],
        b"",
    );
    // curl reports the bytes it sent: none, where it used to send 3 MiB
    // after a `100 Continue`, then get 405.
    assert_eq!(run.stdout_text(), "405 0", "{}", run.stderr_text());
}

#[test]
fn small_bodies_of_refused_requests_are_dropped_and_the_next_request_answered() {
    let s = site(&[]);
    let mut c = Conn::open(s.addr());
    c.send(
        b"POST /notes.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nabcde\
          DELETE /notes.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n\
          GET /notes.txt HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    assert_eq!(c.read(false).status, 405);
    assert_eq!(c.read(false).status, 405);
    assert_eq!(c.read(false).text(), "0123456789abcdefghij");
}

#[test]
fn a_close_with_requests_unread_is_logged_with_its_reason() {
    let s = site(&[]);
    let mut c = Conn::open(s.addr());
    // Over the limit of bodies dropped: 413, and the request behind it is
    // never read.
    c.send(
        b"PUT /x HTTP/1.1\r\nHost: t\r\nContent-Length: 900000000\r\n\r\nsome of the body\
          GET /notes.txt HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    assert_eq!(c.read(false).status, 413);
    assert!(c.closed_within(Duration::from_secs(5)));
    let line = s
        .server
        .wait_for_stderr(LOGGED_WITHIN, |l| l.contains("connection closed after 413"));
    assert!(line.contains("not read"), "{line}");
    // An unknown method closes the connection (its framing is not
    // trusted); a request pipelined behind it is named as dropped.
    let mut c = Conn::open(s.addr());
    c.send(b"BREW /pot HTTP/1.1\r\nHost: t\r\n\r\nGET /notes.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.read(false).status, 501);
    assert!(c.closed_within(Duration::from_secs(5)));
    let line = s
        .server
        .wait_for_stderr(LOGGED_WITHIN, |l| l.contains("connection closed after 501"));
    assert!(line.contains(" 36 bytes "), "{line}");
}
