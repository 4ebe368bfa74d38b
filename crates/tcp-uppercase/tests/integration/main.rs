//! End-to-end tests of the `tcp-uppercase` binary: real processes, real
//! sockets, servers on port 0 found through their readiness line.
// Test code: an unwrap is an assertion with the error shown.
#![allow(clippy::unwrap_used)]

mod client;
mod impaired;
mod output;
mod server;
mod stream;

use testkit::Server;

pub const BIN: &str = env!("CARGO_BIN_EXE_tcp-uppercase");

/// A server on an ephemeral loopback port.
pub fn start_server(extra: &[&str]) -> Server {
    let mut args = vec!["server", "--port", "0"];
    args.extend_from_slice(extra);
    Server::start(BIN, &args)
}
