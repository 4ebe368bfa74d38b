//! End-to-end tests of the `http-server` binary over raw sockets.
// Test code: an unwrap is an assertion with the error shown.
#![allow(clippy::unwrap_used)]

mod bodies;
mod conformance;
mod files;
mod hostile;
mod limits;
mod logging;
mod output;
mod protocol;
#[cfg(target_os = "linux")]
mod resources;
mod security;
#[cfg(target_os = "linux")]
mod stalls;

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use testkit::Server;

pub const BIN: &str = env!("CARGO_BIN_EXE_http-server");

/// A server over a temporary root with a few files.
#[derive(Debug)]
pub struct Site {
    pub server: Server,
    pub root: tempfile::TempDir,
}

impl Site {
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }
}

pub fn site(extra: &[&str]) -> Site {
    let root = tempfile::tempdir().unwrap();
    populate(root.path());
    let dir = root.path().to_str().unwrap().to_string();
    let mut args = vec!["--port", "0", "--root", &dir];
    args.extend_from_slice(extra);
    Site {
        server: Server::start(BIN, &args),
        root,
    }
}

pub fn populate(root: &Path) {
    std::fs::write(
        root.join("HelloWorld.html"),
        "<html><body><h1>Hello, World!</h1></body></html>\n",
    )
    .unwrap();
    std::fs::write(root.join("notes.txt"), "0123456789abcdefghij").unwrap();
    std::fs::create_dir_all(root.join("docs")).unwrap();
    std::fs::write(root.join("docs/index.html"), "docs index").unwrap();
    std::fs::create_dir_all(root.join("files")).unwrap();
    std::fs::write(root.join("files/a.txt"), "a").unwrap();
    std::fs::write(root.join(".env"), "SECRET=1").unwrap();
}

/// A parsed response.
pub type Reply = testkit::http::Response;

/// A client connection that reads responses one at a time.
#[derive(Debug)]
pub struct Conn {
    pub reader: BufReader<TcpStream>,
}

impl Conn {
    pub fn open(addr: SocketAddr) -> Conn {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        Conn {
            reader: BufReader::new(s),
        }
    }

    pub fn send(&mut self, raw: &[u8]) {
        self.reader.get_mut().write_all(raw).unwrap();
    }

    /// Reads one response; `head_request`: no body follows whatever the
    /// Content-Length says.
    pub fn read(&mut self, head_request: bool) -> Reply {
        testkit::http::read_response(&mut self.reader, head_request).unwrap()
    }

    /// Whether the server closes the connection within `timeout`.
    pub fn closed_within(&mut self, timeout: Duration) -> bool {
        self.reader
            .get_ref()
            .set_read_timeout(Some(timeout))
            .unwrap();
        self.closed()
    }

    /// Whether the server closed the connection (EOF within the timeout).
    pub fn closed(&mut self) -> bool {
        let mut rest = Vec::new();
        self.reader.read_to_end(&mut rest).is_ok() && rest.is_empty()
    }
}

/// One request on a fresh connection.
pub fn get(addr: SocketAddr, target: &str) -> Reply {
    let mut c = Conn::open(addr);
    c.send(format!("GET {target} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes());
    c.read(false)
}

/// Sends raw bytes and returns the first response.
pub fn raw(addr: SocketAddr, bytes: &[u8]) -> Reply {
    let mut c = Conn::open(addr);
    c.send(bytes);
    c.read(false)
}
