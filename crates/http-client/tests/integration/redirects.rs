use std::io::Write;

use testkit::Run;

use crate::{BIN, RawServer, read_request};

/// Serves /a → 302 /b (relative), /b → 301 absolute /c, /c → 200,
/// /loop1 ↔ /loop2.
fn redirector() -> RawServer {
    RawServer::start(|s, _, seen| {
        while let Some(req) = read_request(s) {
            seen.lock().unwrap().push(req.clone());
            let path = req.split(' ').nth(1).unwrap_or("/").to_string();
            let host = req
                .lines()
                .find_map(|l| l.strip_prefix("Host: "))
                .unwrap_or("")
                .trim()
                .to_string();
            let (status, location) = match path.as_str() {
                "/a" => ("302 Found", "b".to_string()),
                "/b" => ("301 Moved Permanently", format!("http://{host}/c")),
                "/loop1" => ("302 Found", "/loop2".to_string()),
                "/loop2" => ("307 Temporary Redirect", "/loop1".to_string()),
                _ => ("200 OK", String::new()),
            };
            let body = if location.is_empty() {
                "final"
            } else {
                "moved"
            };
            let loc = if location.is_empty() {
                String::new()
            } else {
                format!("Location: {location}\r\n")
            };
            if write!(
                s,
                "HTTP/1.1 {status}\r\n{loc}Content-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .is_err()
            {
                return;
            }
        }
    })
}

#[test]
fn follows_relative_and_absolute_redirects() {
    let s = redirector();
    let r = Run::new(BIN, &["-L", "-s", &s.url("/a")], b"");
    r.assert_success();
    assert_eq!(r.stdout_text(), "final");
    let paths: Vec<String> = s
        .requests
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.split(' ').nth(1).unwrap().to_string())
        .collect();
    assert_eq!(paths, ["/a", "/b", "/c"]);
}

#[test]
fn without_l_the_redirect_is_the_answer() {
    let s = redirector();
    let r = Run::new(BIN, &[&s.url("/a")], b"");
    r.assert_success();
    assert_eq!(r.stdout_text(), "moved");
    assert!(r.stderr_text().contains("Location: b\r\n"));
}

#[test]
fn redirect_loops_are_an_error() {
    let s = redirector();
    let r = Run::new(BIN, &["-L", "-s", &s.url("/loop1")], b"");
    r.assert_code(47);
    assert!(r.stderr_text().contains("redirect loop"), "{r}");
}
