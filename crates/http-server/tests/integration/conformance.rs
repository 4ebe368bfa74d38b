//! RFC 9110 corners: a file named as a directory, preconditions before
//! ranges, later HTTP/1 minor versions, range units in any case, and
//! listings that show only what would be served.

use crate::{get, raw, site};

#[test]
fn a_file_with_a_trailing_slash_is_not_found() {
    let s = site(&[]);
    for target in [
        "/notes.txt/",
        "/notes.txt/.",
        "/notes.txt/%2E",
        "/docs/index.html/",
    ] {
        assert_eq!(get(s.addr(), target).status, 404, "{target}");
    }
    // Directories are unchanged: with the slash served, without it redirected.
    assert_eq!(get(s.addr(), "/docs/").status, 200);
    assert_eq!(get(s.addr(), "/docs").status, 301);
    assert_eq!(get(s.addr(), "/notes.txt").status, 200);
}

fn with_headers(addr: std::net::SocketAddr, target: &str, headers: &str) -> crate::Reply {
    raw(
        addr,
        format!("GET {target} HTTP/1.1\r\nHost: t\r\n{headers}\r\n").as_bytes(),
    )
}

#[test]
fn failed_preconditions_are_412_before_the_range() {
    let s = site(&[]);
    let etag = get(s.addr(), "/notes.txt").header("etag").unwrap();
    let a = s.addr();
    // If-Match: a strong match or `*` holds; another tag or a weak one fails.
    let r = with_headers(
        a,
        "/notes.txt",
        "If-Match: \"nope\"\r\nRange: bytes=0-1\r\n",
    );
    assert_eq!(r.status, 412, "{}", r.head);
    assert_eq!(r.header("etag").unwrap(), etag);
    let weak = format!("If-Match: W/{etag}\r\n");
    assert_eq!(with_headers(a, "/notes.txt", &weak).status, 412);
    let r = with_headers(
        a,
        "/notes.txt",
        &format!("If-Match: \"x\", {etag}\r\nRange: bytes=0-1\r\n"),
    );
    assert_eq!(r.status, 206);
    assert_eq!(r.text(), "01");
    assert_eq!(with_headers(a, "/notes.txt", "If-Match: *\r\n").status, 200);
    // If-Unmodified-Since: a date before the file's change fails.
    let old = "If-Unmodified-Since: Thu, 01 Jan 1998 00:00:00 GMT\r\nRange: bytes=0-1\r\n";
    assert_eq!(with_headers(a, "/notes.txt", old).status, 412);
    let later = "If-Unmodified-Since: Fri, 01 Jan 2100 00:00:00 GMT\r\n";
    assert_eq!(with_headers(a, "/notes.txt", later).status, 200);
    let junk = "If-Unmodified-Since: yesterday\r\n";
    assert_eq!(with_headers(a, "/notes.txt", junk).status, 200);
    // If-Match wins over If-Unmodified-Since (RFC 9110 §13.2.2).
    let both =
        format!("If-Match: {etag}\r\nIf-Unmodified-Since: Thu, 01 Jan 1998 00:00:00 GMT\r\n");
    assert_eq!(with_headers(a, "/notes.txt", &both).status, 200);
}

#[test]
fn a_later_http_1_minor_version_is_served_as_1_1() {
    let s = site(&[]);
    let r = raw(s.addr(), b"GET /notes.txt HTTP/1.2\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 200, "{}", r.head);
    assert!(r.head.starts_with("HTTP/1.1 200 "));
    assert_eq!(r.text(), "0123456789abcdefghij");
    assert_eq!(raw(s.addr(), b"GET / HTTP/2.0\r\n\r\n").status, 505);
}

#[test]
fn the_range_unit_is_case_insensitive() {
    let s = site(&[]);
    for unit in ["BYTES", "Bytes", "bYtEs"] {
        let r = with_headers(s.addr(), "/notes.txt", &format!("Range: {unit}=0-1\r\n"));
        assert_eq!(r.status, 206, "{unit}");
        assert_eq!(r.text(), "01");
    }
}

#[cfg(unix)]
#[test]
fn listings_show_only_what_would_be_served() {
    let s = site(&[]);
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), "outside!").unwrap();
    let files = s.root.path().join("files");
    std::os::unix::fs::symlink(outside.path().join("secret.txt"), files.join("leak.txt")).unwrap();
    std::os::unix::fs::symlink(outside.path(), files.join("leakdir")).unwrap();
    std::os::unix::fs::symlink(s.root.path().join("notes.txt"), files.join("alias.txt")).unwrap();
    let listing = get(s.addr(), "/files/");
    assert_eq!(listing.status, 200);
    let html = listing.text();
    assert!(
        html.contains("a.txt") && html.contains("alias.txt"),
        "{html}"
    );
    assert!(!html.contains("leak"), "{html}");
    // What is listed is served; what is not would have been refused.
    assert_eq!(get(s.addr(), "/files/alias.txt").status, 200);
    assert_eq!(get(s.addr(), "/files/leak.txt").status, 403);
}
