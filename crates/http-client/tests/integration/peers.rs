//! Downloads from servers no one here wrote.

use testkit::Run;
use testkit::peers::PythonHttpServer;

use crate::BIN;
use crate::tls::Nginx;

#[test]
fn byte_exact_from_python_http_server() {
    let root = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..2_000_000u32)
        .map(|i| (i.wrapping_mul(7919) >> 5) as u8)
        .collect();
    std::fs::write(root.path().join("data.bin"), &data).unwrap();
    let server = PythonHttpServer::serve(root.path());
    let port = server.port();
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("data.bin");
    let r = Run::new(
        BIN,
        &[
            "-s",
            "-o",
            out.to_str().unwrap(),
            "127.0.0.1",
            &port,
            "data.bin",
        ],
        b"",
    );
    r.assert_success();
    assert!(std::fs::read(&out).unwrap() == data, "download differs");
}

#[test]
#[ignore = "needs nginx"]
fn byte_exact_from_nginx() {
    let data: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(104_729) >> 3) as u8)
        .collect();
    let nginx = Nginx::start("", &["listen 127.0.0.1:{port};"], &[("data.bin", &data)]);
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
    let server = PythonHttpServer::serve(root.path());
    fetch_awkward(server.addr().port());
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
