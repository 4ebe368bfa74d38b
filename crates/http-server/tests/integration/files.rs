use std::io::Write;
use std::thread;

use crate::{Conn, get, site};

#[test]
fn serves_a_file_with_every_header() {
    let s = site(&[]);
    let r = get(s.addr(), "/HelloWorld.html");
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(
        r.text(),
        "<html><body><h1>Hello, World!</h1></body></html>\n"
    );
    assert_eq!(
        r.header("content-type").unwrap(),
        "text/html; charset=utf-8"
    );
    assert_eq!(
        r.header("content-length").unwrap(),
        r.body.len().to_string()
    );
    assert_eq!(r.header("x-content-type-options").unwrap(), "nosniff");
    assert!(
        r.header("server")
            .unwrap()
            .starts_with("netlab-http-server/")
    );
    assert!(httpdate::parse_http_date(&r.header("date").unwrap()).is_ok());
    assert!(httpdate::parse_http_date(&r.header("last-modified").unwrap()).is_ok());
    assert!(r.header("etag").unwrap().starts_with('"'));
    assert_eq!(r.header("accept-ranges").unwrap(), "bytes");
}

#[test]
fn missing_file_is_404_with_a_page() {
    let s = site(&[]);
    let r = get(s.addr(), "/nope.html");
    assert_eq!(r.status, 404);
    assert_eq!(
        r.header("content-type").unwrap(),
        "text/html; charset=utf-8"
    );
    assert!(r.text().contains("404 Not Found"));
}

#[test]
fn access_log_is_common_log_format() {
    let s = site(&[]);
    get(s.addr(), "/notes.txt");
    get(s.addr(), "/nope");
    let line = s
        .server
        .wait_for_stdout(std::time::Duration::from_secs(10), |l| l.contains("/nope"));
    // 127.0.0.1 - - [25/Nov/2026:00:23:29 +0000] "GET /nope HTTP/1.1" 404 285
    let re_ok = line.starts_with("127.0.0.1 - - [")
        && line.contains(" +0000] \"GET /nope HTTP/1.1\" 404 ")
        && line.rsplit(' ').next().unwrap().parse::<u64>().is_ok();
    assert!(re_ok, "{line}");
    let ok_line = s
        .server
        .wait_for_stdout(std::time::Duration::from_secs(10), |l| {
            l.contains("/notes.txt")
        });
    assert!(
        ok_line.ends_with("\"GET /notes.txt HTTP/1.1\" 200 20"),
        "{ok_line}"
    );
}

#[test]
fn ranges() {
    let s = site(&[]);
    let mut c = Conn::open(s.addr());
    c.send(b"GET /notes.txt HTTP/1.1\r\nHost: t\r\nRange: bytes=2-5\r\n\r\n");
    let r = c.read(false);
    assert_eq!(r.status, 206);
    assert_eq!(r.text(), "2345");
    assert_eq!(r.header("content-range").unwrap(), "bytes 2-5/20");
    c.send(b"GET /notes.txt HTTP/1.1\r\nHost: t\r\nRange: bytes=-3\r\n\r\n");
    assert_eq!(c.read(false).text(), "hij");
    c.send(b"GET /notes.txt HTTP/1.1\r\nHost: t\r\nRange: bytes=15-\r\n\r\n");
    assert_eq!(c.read(false).text(), "fghij");
    c.send(b"GET /notes.txt HTTP/1.1\r\nHost: t\r\nRange: bytes=20-30\r\n\r\n");
    let r = c.read(false);
    assert_eq!(r.status, 416);
    assert_eq!(r.header("content-range").unwrap(), "bytes */20");
    // If-Range with a stale validator: the whole file.
    c.send(b"GET /notes.txt HTTP/1.1\r\nHost: t\r\nRange: bytes=0-1\r\nIf-Range: \"old\"\r\n\r\n");
    let r = c.read(false);
    assert_eq!((r.status, r.body.len()), (200, 20));
}

#[test]
fn conditional_requests() {
    let s = site(&[]);
    let first = get(s.addr(), "/notes.txt");
    let etag = first.header("etag").unwrap();
    let modified = first.header("last-modified").unwrap();
    let mut c = Conn::open(s.addr());
    c.send(
        format!("GET /notes.txt HTTP/1.1\r\nHost: t\r\nIf-None-Match: {etag}\r\n\r\n").as_bytes(),
    );
    let r = c.read(false);
    assert_eq!(r.status, 304);
    assert_eq!(r.header("etag").unwrap(), etag);
    assert!(r.body.is_empty());
    c.send(
        format!("GET /notes.txt HTTP/1.1\r\nHost: t\r\nIf-Modified-Since: {modified}\r\n\r\n")
            .as_bytes(),
    );
    assert_eq!(c.read(false).status, 304);
    c.send(b"GET /notes.txt HTTP/1.1\r\nHost: t\r\nIf-None-Match: \"other\"\r\n\r\n");
    assert_eq!(c.read(false).status, 200);
}

#[test]
fn directories() {
    let s = site(&[]);
    let r = get(s.addr(), "/docs/");
    assert_eq!((r.status, r.text().as_str()), (200, "docs index"));
    let r = get(s.addr(), "/docs?x=1");
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location").unwrap(), "/docs/?x=1");
    let r = get(s.addr(), "/files/");
    assert_eq!(r.status, 200);
    assert!(r.text().contains("href=\"./a.txt\""), "{}", r.text());
    assert!(!r.text().contains(".env"));
    let r = get(s.addr(), "/");
    assert!(r.text().contains("HelloWorld.html") && !r.text().contains(".env"));
}

#[test]
fn no_listing_flag() {
    let s = site(&["--no-listing"]);
    assert_eq!(get(s.addr(), "/files/").status, 403);
    assert_eq!(get(s.addr(), "/docs/").status, 200); // index.html still served
}

#[test]
fn three_mib_download_is_byte_exact() {
    let s = site(&[]);
    let data: Vec<u8> = (0..3 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(s.root.path().join("big.bin"), &data).unwrap();
    let r = get(s.addr(), "/big.bin");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type").unwrap(),
        "application/octet-stream"
    );
    assert!(r.body == data, "download differs");
}

#[test]
fn many_clients_at_once() {
    let s = site(&["--quiet"]);
    let addr = s.addr();
    let handles: Vec<_> = (0..300)
        .map(|_| {
            thread::spawn(move || {
                let r = get(addr, "/HelloWorld.html");
                assert_eq!(r.status, 200);
                assert!(r.text().contains("Hello, World!"));
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
#[ignore = "needs curl"]
fn curl_fetches_like_a_real_client() {
    testkit::need("curl", "curl");
    let s = site(&[]);
    let url = format!("http://{}/HelloWorld.html", s.addr());
    let out = std::process::Command::new("curl")
        .args(["-sS", "--fail", "-D", "-", &url, &url])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 2, "{text}");
    assert_eq!(text.matches("Hello, World!").count(), 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.is_empty(), "{err}");
    // Range and a 404, as curl reports them.
    let range = std::process::Command::new("curl")
        .args([
            "-sS",
            "-r",
            "0-4",
            &format!("http://{}/notes.txt", s.addr()),
        ])
        .output()
        .unwrap();
    assert_eq!(range.stdout, b"01234");
    let missing = std::process::Command::new("curl")
        .args(["-sS", "--fail", &format!("http://{}/missing", s.addr())])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(22));
    // A file written by curl is byte-exact.
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("n.txt");
    let status = std::process::Command::new("curl")
        .args([
            "-sS",
            "-o",
            out_path.to_str().unwrap(),
            &format!("http://{}/notes.txt", s.addr()),
        ])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(std::fs::read(out_path).unwrap(), b"0123456789abcdefghij");
    let _ = std::io::stderr().flush();
}

#[test]
fn an_unreadable_root_is_refused_at_start() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let locked = dir.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    let root = locked.to_str().unwrap();
    // root reads any directory: run the server as nobody then.
    let run = if testkit::is_root() {
        testkit::need("setpriv", "util-linux");
        testkit::Run::new(
            "setpriv",
            &[
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                crate::BIN,
                "--port",
                "0",
                "--root",
                root,
            ],
            b"",
        )
    } else {
        testkit::Run::new(crate::BIN, &["--port", "0", "--root", root], b"")
    };
    run.assert_code(1);
    assert_eq!(
        run.stderr_text().trim_end(),
        format!("error: cannot serve {root} (permission denied)")
    );
    assert!(run.stdout.is_empty(), "no readiness line may be printed");
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn a_file_as_root_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f");
    std::fs::write(&file, "x").unwrap();
    let root = file.to_str().unwrap();
    let run = testkit::Run::new(crate::BIN, &["--port", "0", "--root", root], b"");
    run.assert_code(1);
    assert_eq!(
        run.stderr_text().trim_end(),
        format!("error: cannot serve {root} (not a directory)")
    );
}

/// How long a small file changed on disk may still be answered as it was
/// (the server compares what it keeps in memory with the file once a
/// second), with room for a loaded machine.
const CHANGE_SEEN_WITHIN: std::time::Duration = std::time::Duration::from_secs(5);

#[test]
fn a_small_file_changed_on_disk_is_served_changed_within_seconds() {
    let s = site(&[]);
    let path = s.root.path().join("notes.txt");
    let first = get(s.addr(), "/notes.txt");
    assert_eq!(first.text(), "0123456789abcdefghij");
    // Answered again, from memory: the same bytes, the same validators.
    let again = get(s.addr(), "/notes.txt");
    assert_eq!(again.text(), first.text());
    assert_eq!(again.header("etag"), first.header("etag"));
    // Changed in place, to the same size: the change time still tells.
    std::fs::write(&path, "ABCDEFGHIJ0123456789").unwrap();
    let start = std::time::Instant::now();
    loop {
        let r = get(s.addr(), "/notes.txt");
        assert_eq!(r.status, 200, "{}", r.head);
        if r.text() == "ABCDEFGHIJ0123456789" {
            assert_ne!(r.header("etag"), first.header("etag"));
            break;
        }
        assert_eq!(r.text(), "0123456789abcdefghij", "old or new, never mixed");
        assert!(
            start.elapsed() < CHANGE_SEEN_WITHIN,
            "still the old contents after {CHANGE_SEEN_WITHIN:?}"
        );
        thread::sleep(std::time::Duration::from_millis(50));
    }
    // Removed: 404, once the server has looked again.
    std::fs::remove_file(&path).unwrap();
    loop {
        let r = get(s.addr(), "/notes.txt");
        if r.status == 404 {
            break;
        }
        assert!(start.elapsed() < 2 * CHANGE_SEEN_WITHIN, "still served");
        thread::sleep(std::time::Duration::from_millis(50));
    }
}
