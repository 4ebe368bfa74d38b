use crate::{Conn, raw, site};

#[test]
fn head_then_get_on_one_connection() {
    let s = site(&[]);
    let mut c = Conn::open(s.addr());
    c.send(b"HEAD /notes.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    let h = c.read(true);
    assert_eq!(h.status, 200);
    assert_eq!(h.header("content-length").unwrap(), "20");
    c.send(b"GET /notes.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    let g = c.read(false);
    assert_eq!(g.text(), "0123456789abcdefghij");
    assert_eq!(g.header("etag"), h.header("etag"));
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let s = site(&[]);
    let mut c = Conn::open(s.addr());
    c.send(
        b"GET /notes.txt HTTP/1.1\r\nHost: t\r\n\r\nGET /missing HTTP/1.1\r\nHost: t\r\n\r\nHEAD /HelloWorld.html HTTP/1.1\r\nHost: t\r\n\r\nGET /docs/ HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(c.read(false).text(), "0123456789abcdefghij");
    assert_eq!(c.read(false).status, 404);
    assert_eq!(c.read(true).status, 200);
    let last = c.read(false);
    assert_eq!(last.text(), "docs index");
    assert_eq!(last.header("connection").unwrap(), "close");
    assert!(c.closed());
}

#[test]
fn requests_delivered_one_byte_at_a_time() {
    let s = site(&[]);
    let mut c = Conn::open(s.addr());
    for b in b"GET /notes.txt HTTP/1.1\r\nHost: t\r\n\r\n" {
        c.send(&[*b]);
    }
    assert_eq!(c.read(false).text(), "0123456789abcdefghij");
}

#[test]
fn http10_closes_unless_asked() {
    let s = site(&[]);
    let mut c = Conn::open(s.addr());
    c.send(b"GET /notes.txt HTTP/1.0\r\n\r\n");
    let r = c.read(false);
    assert_eq!(r.header("connection").unwrap(), "close");
    assert!(c.closed());

    let mut c = Conn::open(s.addr());
    c.send(b"GET /notes.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    let r = c.read(false);
    assert_eq!(r.header("connection").unwrap(), "keep-alive");
    c.send(b"GET /notes.txt HTTP/1.0\r\n\r\n");
    assert_eq!(c.read(false).status, 200);
    assert!(c.closed());
}

#[test]
fn status_codes_for_bad_requests() {
    let s = site(&[]);
    let cases: &[(&[u8], u16)] = &[
        (b"POST /notes.txt HTTP/1.1\r\nHost: t\r\n\r\n", 405),
        (b"TRACE / HTTP/1.1\r\nHost: t\r\n\r\n", 405),
        (b"BREW / HTTP/1.1\r\nHost: t\r\n\r\n", 501),
        (b"get / HTTP/1.1\r\nHost: t\r\n\r\n", 501),
        (b"GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505),
        (b"GET / HTTP/1.1\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        (
            b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            400,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n",
            400,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            501,
        ),
        (b"GET / HTTP/1.1\r\nHost: t\r\nExpect: teapot\r\n\r\n", 417),
        (b"GET /%zz HTTP/1.1\r\nHost: t\r\n\r\n", 400),
        (b"garbage\r\n\r\n", 400),
    ];
    for (req, want) in cases {
        let r = raw(s.addr(), req);
        assert_eq!(r.status, *want, "{}", String::from_utf8_lossy(req));
    }
    let r = raw(s.addr(), b"DELETE / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.header("allow").unwrap(), "GET, HEAD");
}

#[test]
fn request_bodies_are_consumed_and_the_connection_stays_in_sync() {
    let s = site(&[]);
    let mut c = Conn::open(s.addr());
    c.send(b"GET /notes.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello worldGET /notes.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.read(false).status, 200);
    assert_eq!(c.read(false).status, 200);
    c.send(b"POST /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\nGET /notes.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.read(false).status, 405);
    assert_eq!(c.read(false).text(), "0123456789abcdefghij");
}

#[test]
fn valid_then_invalid_pipelined_gives_200_400_close() {
    let s = site(&[]);
    let mut c = Conn::open(s.addr());
    c.send(b"GET /notes.txt HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\nContent-Length: x\r\n\r\n");
    assert_eq!(c.read(false).status, 200);
    let bad = c.read(false);
    assert_eq!(bad.status, 400);
    assert_eq!(bad.header("connection").unwrap(), "close");
    assert!(c.closed());
}

#[test]
fn expect_100_continue() {
    let s = site(&[]);
    let mut c = Conn::open(s.addr());
    c.send(
        b"GET /notes.txt HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n",
    );
    let interim = c.read(false);
    assert_eq!(interim.status, 100);
    c.send(b"body");
    assert_eq!(c.read(false).status, 200);
}

#[test]
fn leading_blank_lines_are_tolerated() {
    let s = site(&[]);
    let r = raw(
        s.addr(),
        b"\r\n\r\nGET /notes.txt HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    assert_eq!(r.status, 200);
}

#[test]
fn sigterm_exits_zero() {
    let mut s = site(&[]);
    let mut idle = Conn::open(s.addr());
    idle.send(b"GET /notes.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(idle.read(false).status, 200);
    // The idle keep-alive connection must not hold the shutdown up.
    let status = s
        .server
        .terminate(std::time::Duration::from_secs(10))
        .expect("exited");
    assert!(status.success(), "{status}");
    assert!(idle.closed());
}

#[test]
fn serves_ipv6() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        testkit::skip("IPv6 loopback is not available on this machine");
        return;
    }
    let s = site(&["--bind", "::1"]);
    assert!(
        s.server.readiness().starts_with("listening on [::1]:"),
        "{}",
        s.server.readiness()
    );
    let r = crate::get(s.addr(), "/notes.txt");
    assert_eq!((r.status, r.text().as_str()), (200, "0123456789abcdefghij"));
    let line = s
        .server
        .wait_for_stdout(std::time::Duration::from_secs(10), |l| {
            l.contains("/notes.txt")
        });
    assert!(line.starts_with("::1 - - ["), "{line}");
}
