//! End-to-end tests of the `http-client` binary and library: against the
//! real http-server (in-process) and against raw-socket servers written
//! here to misbehave in exactly one way each.
// Test code: an unwrap is an assertion with the error shown.
#![allow(clippy::unwrap_used)]

mod against_server;
mod compressed;
mod curl_options;
mod files;
mod framing;
mod impaired;
mod malformed;
mod peers;
mod proxy;
mod redirects;
mod tls;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_http-client");

/// Reads a request head (to the blank line) from `s`.
pub fn read_request(s: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
    }
    Some(String::from_utf8_lossy(&head).into_owned())
}

/// A raw test server: for each accepted connection, `script` gets the
/// stream and the connection's index. Counts connections and keeps the
/// request heads it saw.
#[derive(Debug)]
pub struct RawServer {
    pub addr: SocketAddr,
    pub connections: Arc<AtomicUsize>,
    pub requests: Arc<Mutex<Vec<String>>>,
}

impl RawServer {
    pub fn start<F>(script: F) -> RawServer
    where
        F: Fn(&mut TcpStream, usize, &Mutex<Vec<String>>) + Send + Sync + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (c, r) = (connections.clone(), requests.clone());
        let script = Arc::new(script);
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { break };
                let i = c.fetch_add(1, Ordering::SeqCst);
                let (script, r) = (script.clone(), r.clone());
                thread::spawn(move || {
                    stream
                        .set_read_timeout(Some(Duration::from_secs(10)))
                        .unwrap();
                    script(&mut stream, i, &r)
                });
            }
        });
        RawServer {
            addr,
            connections,
            requests,
        }
    }

    /// A server that answers every request with `reply` and then closes.
    pub fn once(reply: &'static [u8]) -> RawServer {
        Self::start(move |s, _, seen| {
            if let Some(req) = read_request(s) {
                seen.lock().unwrap().push(req);
                let _ = s.write_all(reply);
            }
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}
