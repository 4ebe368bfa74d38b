//! `--compressed`: what is asked for, what is decoded, and what is left
//! alone, against nginx's gzip and against scripted peers, next to curl.

use std::io::Write;

use testkit::Run;

use crate::tls::{Nginx, curl};
use crate::{BIN, RawServer, read_request};

fn page() -> Vec<u8> {
    (0..30_000u32)
        .flat_map(|i| format!("line {i}: the same words again and again\n").into_bytes())
        .collect()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
#[ignore = "needs nginx"]
fn nginx_gzip_is_decoded_as_curl_decodes_it() {
    let page = page();
    let nginx = Nginx::start(
        "gzip on; gzip_types text/plain; gzip_min_length 10;",
        &["listen 127.0.0.1:{port};"],
        &[("page.txt", &page)],
    );
    let url = format!("http://127.0.0.1:{}/page.txt", nginx.ports[0]);
    // nginx sends it gzip-coded and chunked.
    let r = Run::new(BIN, &["-s", "-i", "--compressed", &url], b"");
    r.assert_success();
    let text = r.stdout_text();
    assert!(text.contains("Content-Encoding: gzip"), "{r}");
    assert!(text.contains("Transfer-Encoding: chunked"), "{r}");
    let r = Run::new(BIN, &["-s", "--compressed", &url], b"");
    r.assert_success();
    assert!(
        r.stdout == page,
        "the decoded page differs ({} bytes)",
        r.stdout.len()
    );
    if let Some(theirs) = curl(&["-s", "--compressed", &url]) {
        assert!(theirs.stdout == r.stdout, "curl decodes otherwise");
    }
    // -o as well.
    let out = nginx.path("saved.txt");
    Run::new(
        BIN,
        &["-s", "--compressed", "-o", out.to_str().unwrap(), &url],
        b"",
    )
    .assert_success();
    assert!(
        std::fs::read(&out).unwrap() == page,
        "the saved page differs"
    );
    // HEAD: the head only.
    let r = Run::new(BIN, &["-s", "-I", "--compressed", &url], b"");
    r.assert_success();
    assert!(r.stdout.is_empty(), "{r}");
}

#[test]
fn accept_encoding_is_sent_only_when_asked() {
    let server = RawServer::start(|s, _, seen| {
        if let Some(req) = read_request(s) {
            seen.lock().unwrap().push(req);
            let _ =
                s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        }
    });
    Run::new(BIN, &["-s", "--compressed", &server.url("/a")], b"").assert_success();
    Run::new(BIN, &["-s", &server.url("/b")], b"").assert_success();
    let seen = server.requests.lock().unwrap().clone();
    let host = server.addr.to_string();
    assert_eq!(
        seen[0],
        format!(
            "GET /a HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {ua}\r\nAccept: */*\r\nAccept-Encoding: deflate, gzip, br, zstd\r\n\r\n",
            ua = http_client::client::USER_AGENT
        )
    );
    assert!(
        !seen[1].to_ascii_lowercase().contains("accept-encoding"),
        "{}",
        seen[1]
    );
    // curl asks the same, byte for byte apart from its name.
    if curl(&["--version"]).is_some() {
        let _ = curl(&["-s", "--compressed", &server.url("/a")]);
        let theirs = server.requests.lock().unwrap()[2].clone();
        assert_eq!(
            theirs.replace("curl/7.88.1", http_client::client::USER_AGENT),
            seen[0]
        );
    }
}

/// A peer that answers every request with `head` and `body`.
fn peer(head: &'static str, body: Vec<u8>) -> RawServer {
    RawServer::start(move |s, _, seen| {
        if let Some(req) = read_request(s) {
            seen.lock().unwrap().push(req);
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(&body);
        }
    })
}

#[test]
fn without_the_flag_the_body_is_left_coded() {
    let coded = gzip(b"inside\n");
    let len = coded.len();
    let head: &'static str = Box::leak(
        format!("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n")
            .into_boxed_str(),
    );
    let server = peer(head, coded.clone());
    let r = Run::new(BIN, &["-s", &server.url("/")], b"");
    r.assert_success();
    assert_eq!(r.stdout, coded);
    let r = Run::new(BIN, &["-s", "--compressed", &server.url("/")], b"");
    r.assert_success();
    assert_eq!(r.stdout, b"inside\n");
}

#[test]
fn bodies_that_do_not_decode_are_exit_61_as_with_curl() {
    let mut cut = gzip(&page());
    cut.truncate(cut.len() / 2);
    for (head, body) in [
        (
            "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nConnection: close\r\n\r\n",
            b"this is not gzip at all".to_vec(),
        ),
        (
            "HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\nConnection: close\r\n\r\n",
            b"\xff\xff\xff\xff not deflate".to_vec(),
        ),
        (
            "HTTP/1.1 200 OK\r\nContent-Encoding: compress\r\nConnection: close\r\n\r\n",
            b"whatever".to_vec(),
        ),
    ] {
        let server = peer(head, body);
        let r = Run::new(BIN, &["-s", "--compressed", &server.url("/")], b"");
        r.assert_code(61);
        assert!(r.stderr_text().starts_with("error: "), "{r}");
        if let Some(theirs) = curl(&["-s", "--compressed", &server.url("/")]) {
            assert_eq!(theirs.code(), Some(61), "{head}: {theirs}");
        }
    }
    // Cut in the middle of its gzip stream, though whole as HTTP says.
    let server = peer(
        "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nConnection: close\r\n\r\n",
        cut,
    );
    Run::new(BIN, &["-s", "--compressed", &server.url("/")], b"").assert_code(61);
}

#[test]
fn no_body_is_no_decoding() {
    for head in [
        "HTTP/1.1 204 No Content\r\nContent-Encoding: gzip\r\nConnection: close\r\n\r\n",
        "HTTP/1.1 304 Not Modified\r\nContent-Encoding: gzip\r\nConnection: close\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        "HTTP/1.1 204 No Content\r\nContent-Encoding: compress\r\nConnection: close\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Encoding: compress\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    ] {
        let server = peer(head, Vec::new());
        let r = Run::new(BIN, &["-s", "--compressed", &server.url("/")], b"");
        r.assert_success();
        assert!(r.stdout.is_empty(), "{r}");
        if let Some(theirs) = curl(&["-s", "--compressed", &server.url("/")]) {
            assert_eq!(theirs.code(), Some(0), "{head}: {theirs}");
        }
    }
}

/// `body` in `coding` (one or two codings, comma-separated as in the
/// header, applied left to right).
fn encode(coding: &str, body: &[u8]) -> Vec<u8> {
    coding.split(", ").fold(body.to_vec(), |data, c| match c {
        "gzip" => gzip(&data),
        "deflate" => {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(&data).unwrap();
            e.finish().unwrap()
        }
        "br" => {
            let mut out = Vec::new();
            {
                let mut e = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
                e.write_all(&data).unwrap();
            }
            out
        }
        "zstd" => zstd::stream::encode_all(&data[..], 3).unwrap(),
        other => panic!("no encoder for {other}"),
    })
}

#[test]
fn every_coding_decodes_to_curls_bytes() {
    let page = page();
    for coding in ["gzip", "deflate", "br", "zstd", "gzip, br", "deflate, zstd"] {
        let coded = encode(coding, &page);
        // Chunked, in pieces that cut the coded stream anywhere.
        let mut body = Vec::new();
        for piece in coded.chunks(1000) {
            body.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
            body.extend_from_slice(piece);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(b"0\r\n\r\n");
        let head: &'static str = Box::leak(
            format!("HTTP/1.1 200 OK\r\nContent-Encoding: {coding}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
                .into_boxed_str(),
        );
        let server = peer(head, body);
        let r = Run::new(BIN, &["-s", "--compressed", &server.url("/")], b"");
        r.assert_success();
        assert!(
            r.stdout == page,
            "{coding}: {} bytes decoded",
            r.stdout.len()
        );
        if let Some(theirs) = curl(&["-s", "--compressed", &server.url("/")]) {
            assert_eq!(theirs.code(), Some(0), "{coding}: {theirs}");
            assert!(
                theirs.stdout == r.stdout,
                "{coding}: curl decodes otherwise"
            );
        }
    }
}

#[test]
fn more_after_the_coded_stream_ends_as_with_curl() {
    for (coding, code) in [("gzip", 23), ("deflate", 23), ("br", 23), ("zstd", 61)] {
        let mut body = encode(coding, b"kept\n");
        body.extend_from_slice(b"JUNKJUNK");
        let head: &'static str = Box::leak(
            format!(
                "HTTP/1.1 200 OK\r\nContent-Encoding: {coding}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )
            .into_boxed_str(),
        );
        let server = peer(head, body);
        let r = Run::new(BIN, &["-s", "--compressed", &server.url("/")], b"");
        r.assert_code(code);
        assert_eq!(r.stdout, b"kept\n", "{coding}: {r}");
        if let Some(theirs) = curl(&["-s", "--compressed", &server.url("/")]) {
            assert_eq!(theirs.code(), Some(code), "{coding}: {theirs}");
            assert_eq!(theirs.stdout, r.stdout, "{coding}");
        }
    }
}
