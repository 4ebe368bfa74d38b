use std::net::TcpListener;
use std::path::Path;
use std::thread;

use http_client::{Client, Url};
use http_server::server::{self, Config};
use testkit::Run;

use crate::BIN;

/// An in-process http-server over a temporary root.
#[derive(Debug)]
pub(crate) struct Site {
    pub(crate) port: String,
    pub(crate) root: tempfile::TempDir,
    shutdown: net_core::Shutdown,
}

impl Drop for Site {
    fn drop(&mut self) {
        self.shutdown.fire();
    }
}

pub(crate) fn site() -> Site {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(
        root.path().join("HelloWorld.html"),
        "<h1>Hello, World!</h1>\n",
    )
    .unwrap();
    std::fs::write(root.path().join("two.txt"), "second file").unwrap();
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(root.path().join("blob.bin"), data).unwrap();
    let config = Config::new(root.path()).unwrap();
    let shutdown = config.shutdown.clone();
    let listener = net_core::sock::tcp_listener("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    thread::spawn(move || server::run(listener, config));
    Site {
        port,
        root,
        shutdown,
    }
}

#[test]
fn lab_form_prints_body_to_stdout_and_head_to_stderr() {
    let s = site();
    let run = Run::new(BIN, &["127.0.0.1", &s.port, "HelloWorld.html"], b"");
    run.assert_success();
    assert_eq!(run.stdout_text(), "<h1>Hello, World!</h1>\n");
    let err = run.stderr_text();
    assert!(err.starts_with("HTTP/1.1 200 OK\r\n"), "{err}");
    assert!(err.contains("Content-Type: text/html; charset=utf-8\r\n"));
}

#[test]
fn not_found_exits_22_with_the_page_shown() {
    let s = site();
    let run = Run::new(BIN, &["127.0.0.1", &s.port, "/missing.html"], b"");
    run.assert_code(22);
    assert!(run.stdout_text().contains("404 Not Found"));
    assert!(run.stderr_text().starts_with("HTTP/1.1 404 Not Found"));
}

#[test]
fn head_has_no_body() {
    let s = site();
    let run = Run::new(
        BIN,
        &[
            "-I",
            &format!("http://127.0.0.1:{}/HelloWorld.html", s.port),
        ],
        b"",
    );
    run.assert_success();
    assert!(run.stdout.is_empty());
    assert!(run.stderr_text().contains("Content-Length: 23\r\n"));
}

#[test]
fn flags_silent_include_verbose() {
    let s = site();
    let run = Run::new(BIN, &["-s", "127.0.0.1", &s.port, "two.txt"], b"");
    run.assert_success();
    assert_eq!(
        (run.stdout_text().as_str(), run.stderr_text().as_str()),
        ("second file", "")
    );
    let run = Run::new(BIN, &["-i", "127.0.0.1", &s.port, "two.txt"], b"");
    assert!(run.stdout_text().starts_with("HTTP/1.1 200 OK\r\n"));
    assert!(run.stdout_text().ends_with("\r\n\r\nsecond file"));
    let run = Run::new(BIN, &["-v", "127.0.0.1", &s.port, "two.txt"], b"");
    let err = run.stderr_text();
    assert!(err.contains("> GET /two.txt HTTP/1.1\n"), "{err}");
    assert!(err.contains(&format!("> Host: 127.0.0.1:{}\n", s.port)));
    assert!(err.contains("> User-Agent: netlab-http-client/"));
    assert!(err.contains("< HTTP/1.1 200 OK\n"));
}

#[test]
fn several_paths_share_one_connection() {
    let s = site();
    let mut client = Client::new();
    for path in ["/HelloWorld.html", "/two.txt", "/missing", "/blob.bin"] {
        let url = Url::parse(&format!("http://127.0.0.1:{}{path}", s.port)).unwrap();
        let r = client.get(&url).unwrap();
        assert!(r.head.status == 200 || r.head.status == 404);
    }
    assert_eq!(client.connections_opened(), 1);
    // The binary, in order.
    let run = Run::new(
        BIN,
        &["-s", "127.0.0.1", &s.port, "HelloWorld.html", "two.txt"],
        b"",
    );
    run.assert_success();
    assert_eq!(run.stdout_text(), "<h1>Hello, World!</h1>\nsecond file");
}

#[test]
fn output_file_is_byte_exact() {
    let s = site();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("blob.bin");
    let run = Run::new(
        BIN,
        &[
            "-s",
            "-o",
            out.to_str().unwrap(),
            "127.0.0.1",
            &s.port,
            "blob.bin",
        ],
        b"",
    );
    run.assert_success();
    assert!(run.stdout.is_empty());
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(s.root.path().join("blob.bin")).unwrap()
    );
    assert_eq!(leftovers(dir.path()), vec!["blob.bin".to_string()]);
}

pub fn leftovers(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn nothing_listening_exits_7() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let run = Run::new(BIN, &["127.0.0.1", &port, "/"], b"");
    run.assert_code(7);
    assert_eq!(
        run.stderr_text(),
        format!("error: nothing is listening on 127.0.0.1:{port} (connection refused)\n")
    );
}

#[test]
fn usage_errors() {
    Run::new(BIN, &[], b"").assert_code(2);
    Run::new(BIN, &["localhost", "notaport", "/"], b"").assert_code(2);
    Run::new(BIN, &["localhost", "80"], b"").assert_code(2);
    Run::new(
        BIN,
        &["-o", "x", "http://127.0.0.1:1/a", "http://127.0.0.1:1/b"],
        b"",
    )
    .assert_code(2);
    let run = Run::new(BIN, &["ftp://127.0.0.1/"], b"");
    run.assert_code(1);
    assert!(run.stderr_text().contains("ftp scheme is not supported"));
}

#[test]
fn unknown_host_maps_to_exit_6() {
    // Checked on the mapping: a live lookup would query the network.
    let e = http_client::Error::Net(net_core::Error::Resolve {
        host: "nowhere.invalid".into(),
        source: std::io::Error::other("failed to lookup address information"),
    });
    assert_eq!(e.exit_code(), 6);
    assert_eq!(
        e.to_string(),
        "could not resolve host \"nowhere.invalid\" (failed to lookup address information)"
    );
}
