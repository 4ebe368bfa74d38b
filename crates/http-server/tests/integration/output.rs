//! The server obeys SIGTERM, and serves, whatever its stdout and stderr
//! do: nobody reading either or both (`2>&1 | less` left paused), or a
//! stdout on a full disk.

use std::time::Duration;

use net_core::shutdown::STOP_GRACE;
use testkit::{Launch, Output, Server};

use crate::{BIN, Conn, get};

/// Time a loaded test machine may add to the server's own grace period.
const SLACK: Duration = Duration::from_secs(5);

/// Malformed requests: with `RUST_LOG=debug` each is one line on stderr
/// (about 80 bytes) besides its access log line on stdout, so these fill
/// a pipe's 64 KiB several times over.
const MALFORMED: usize = 3_000;

/// A server over a root holding `hello.txt`.
fn launch(root: &tempfile::TempDir) -> Launch {
    std::fs::write(root.path().join("hello.txt"), "hello").unwrap();
    let dir = root.path().to_str().unwrap();
    Server::builder(BIN, &["--port", "0", "--root", dir])
}

#[test]
fn sigterm_stops_the_server_whatever_reads_its_output() {
    for (name, stdout, stderr) in testkit::unread_outputs() {
        let root = tempfile::tempdir().unwrap();
        let mut server = launch(&root)
            .env("RUST_LOG", "debug")
            .stdout(stdout)
            .stderr(stderr)
            .start();
        for i in 0..MALFORMED {
            let mut c = Conn::open(server.addr());
            c.send(b"NOT HTTP AT ALL\r\n\r\n");
            assert_eq!(c.read(false).status, 400, "{name}: request {i}");
            if i % 500 == 0 {
                assert_eq!(get(server.addr(), "/hello.txt").body, b"hello", "{name}");
            }
        }
        assert_eq!(get(server.addr(), "/hello.txt").body, b"hello", "{name}");
        server.assert_stops(STOP_GRACE + SLACK, name);
    }
}

#[test]
fn a_stdout_on_a_full_disk_neither_stops_nor_silences_the_server() {
    let root = tempfile::tempdir().unwrap();
    let mut server = launch(&root)
        .stdout(Output::File("/dev/full".into()))
        .start();
    for _ in 0..200 {
        assert_eq!(get(server.addr(), "/hello.txt").body, b"hello");
    }
    server.assert_stops(STOP_GRACE + SLACK, "stdout on a full disk");
    testkit::assert_full_stdout_told(&server.stderr());
}
