//! Downloads from servers no one here wrote.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use testkit::Run;

use crate::BIN;
use crate::tls::Nginx;

#[derive(Debug)]
struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_listening(port: u16) -> bool {
    testkit::wait_tcp(([127, 0, 0, 1], port).into(), Duration::from_secs(15))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn byte_exact_from_python_http_server() {
    if !testkit::installed("python3", "python3") {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..2_000_000u32)
        .map(|i| (i.wrapping_mul(7919) >> 5) as u8)
        .collect();
    std::fs::write(root.path().join("data.bin"), &data).unwrap();
    let port = free_port();
    let _server = Kill(
        Command::new("python3")
            .args([
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                &port.to_string(),
            ])
            .current_dir(root.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    assert!(wait_listening(port), "python http.server did not start");
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("data.bin");
    let r = Run::new(
        BIN,
        &[
            "-s",
            "-o",
            out.to_str().unwrap(),
            "127.0.0.1",
            &port.to_string(),
            "data.bin",
        ],
        b"",
    );
    r.assert_success();
    assert!(std::fs::read(&out).unwrap() == data, "download differs");
}

#[test]
fn byte_exact_from_nginx() {
    let data: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(104_729) >> 3) as u8)
        .collect();
    let Some(nginx) = Nginx::start("", &["listen 127.0.0.1:{port};"], &[("data.bin", &data)])
    else {
        return;
    };
    let r = Run::new(
        BIN,
        &[
            "-s",
            &format!("http://127.0.0.1:{}/data.bin", nginx.ports[0]),
        ],
        b"",
    );
    r.assert_success();
    assert!(r.stdout == data, "download differs");
}

/// Serves `dir` with python's http.server, when python3 is installed.
fn python_server(dir: &std::path::Path) -> Option<(Kill, u16)> {
    if !testkit::installed("python3", "python3") {
        testkit::skip("python3 is not installed");
        return None;
    }
    let port = free_port();
    let server = Kill(
        Command::new("python3")
            .args([
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                &port.to_string(),
            ])
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    assert!(wait_listening(port), "python http.server did not start");
    Some((server, port))
}

/// File names that must be percent-encoded on the way: non-ASCII, spaces
/// and reserved characters.
const AWKWARD: &[&str] = &["café.html", "a b.txt", "r[1]{x}`;=&,$!.txt", "100%.txt"];

fn awkward_root() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    for name in AWKWARD {
        std::fs::write(root.path().join(name), name).unwrap();
    }
    root
}

fn fetch_awkward(port: u16) {
    for name in AWKWARD {
        // `100%.txt` is written encoded: a bare % stays as typed.
        let typed = name.replace('%', "%25");
        let r = Run::new(BIN, &["-s", "127.0.0.1", &port.to_string(), &typed], b"");
        r.assert_success();
        assert_eq!(r.stdout_text(), *name);
        let url = format!("http://127.0.0.1:{port}/{typed}");
        let r = Run::new(BIN, &["-s", &url], b"");
        r.assert_success();
        assert_eq!(r.stdout_text(), *name);
    }
}

#[test]
fn awkward_paths_reach_python_http_server() {
    let root = awkward_root();
    let Some((_server, port)) = python_server(root.path()) else {
        return;
    };
    fetch_awkward(port);
}

#[test]
fn awkward_paths_reach_our_server() {
    let root = awkward_root();
    let config = http_server::server::Config::new(root.path()).unwrap();
    let shutdown = config.shutdown.clone();
    let listener = net_core::sock::tcp_listener("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || http_server::server::run(listener, config));
    fetch_awkward(port);
    shutdown.fire();
}
