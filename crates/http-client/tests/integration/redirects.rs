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

/// Each redirect form: where it is served, its `Location` as raw bytes,
/// and the request target that must follow (what curl requests, with
/// percent-encoding in upper case).
const FORMS: &[(&str, &[u8], &str)] = &[
    ("/dotdot/x/y", b"../final", "/dotdot/final"),
    ("/dot/x/y", b"./final", "/dot/x/final"),
    ("/abs", b"/abs-final", "/abs-final"),
    ("/absurl", b"http://HOST/absurl-final", "/absurl-final"),
    ("/frag", b"/frag-final#section", "/frag-final"),
    ("/utf8", "/café-final".as_bytes(), "/caf%C3%A9-final"),
    ("/latin1", b"/caf\xe9-final", "/caf%E9-final"),
    ("/query", b"/login?next=http://h/", "/login?next=http://h/"),
    ("/space", b"/a b", "/a%20b"),
];

/// Answers each `FORMS` path with its redirect and anything else with 200.
fn forms_server() -> RawServer {
    RawServer::start(|s, _, seen| {
        while let Some(req) = read_request(s) {
            seen.lock().unwrap().push(req.clone());
            let path = req.split(' ').nth(1).unwrap_or("/");
            let host = req
                .lines()
                .find_map(|l| l.strip_prefix("Host: "))
                .unwrap_or("")
                .trim()
                .to_string();
            let reply = match FORMS.iter().find(|(from, _, _)| *from == path) {
                Some((_, location, _)) => {
                    let mut r = b"HTTP/1.1 302 Found\r\nLocation: ".to_vec();
                    // Sent as raw bytes, so non-UTF-8 ones go out as they are.
                    match location.strip_prefix(b"http://HOST") {
                        Some(rest) => {
                            r.extend_from_slice(format!("http://{host}").as_bytes());
                            r.extend_from_slice(rest);
                        }
                        None => r.extend_from_slice(location),
                    }
                    r.extend_from_slice(b"\r\nContent-Length: 0\r\n\r\n");
                    r
                }
                None => b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec(),
            };
            if s.write_all(&reply).is_err() {
                return;
            }
        }
    })
}

fn targets(server: &RawServer) -> Vec<String> {
    server
        .requests
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.split(' ').nth(1).unwrap().to_string())
        .collect()
}

#[test]
fn every_redirect_form_is_requested_as_curl_requests_it() {
    let curl = testkit::peers::available("curl", "curl");
    for (from, _, to) in FORMS {
        let ours = forms_server();
        let r = Run::new(BIN, &["-L", "-s", &ours.url(from)], b"");
        r.assert_success();
        assert_eq!(r.stdout_text(), "ok");
        assert_eq!(targets(&ours), [*from, *to], "{from}");
        if !curl {
            continue;
        }
        let theirs = forms_server();
        let c = Run::new(
            "curl",
            &["-s", "-L", "-w", "\n%{url_effective}", &theirs.url(from)],
            b"",
        );
        c.assert_success();
        // curl writes its percent-encoding in lower case; both mean the same.
        let sent = targets(&theirs).join(" ").to_ascii_uppercase();
        assert_eq!(
            sent,
            format!("{from} {to}").to_ascii_uppercase(),
            "curl, {from}"
        );
        let effective = c.stdout_text().to_ascii_uppercase();
        let effective = effective.lines().last().unwrap().split('#').next().unwrap();
        assert_eq!(
            effective,
            theirs.url(to).to_ascii_uppercase(),
            "curl, {from}"
        );
    }
}

#[test]
fn an_unusable_location_is_exit_3() {
    let s = RawServer::once(
        b"HTTP/1.1 302 Found\r\nLocation: http://[::1/\r\nContent-Length: 0\r\n\r\n",
    );
    let r = Run::new(BIN, &["-L", "-s", &s.url("/x")], b"");
    r.assert_code(3);
    assert!(
        r.stderr_text().contains("cannot follow the redirect"),
        "{r}"
    );
}
