//! http-server: the lab's web server as a library — a thread-per-connection
//! HTTP/1.1 file server.
//!
//! GET and HEAD of files under a root directory, with keep-alive and
//! pipelining, single byte ranges, ETag/Last-Modified validators and
//! conditional requests, directory listings, and a small HTML page for
//! every error. Other known methods get 405, unknown ones 501.
//!
//! # Nothing outside the root, ever
//! Request paths are percent-decoded exactly once; targets with NUL,
//! backslash, broken `%` escapes or invalid UTF-8 are refused (400), and so
//! are `..` segments and anything the platform would read as a root or
//! drive — they are rejected, never resolved. Names starting with `.`
//! (`.env`, `.git/`) are not served (404). The remaining path is
//! canonicalised, following symlinks, and must still lie under the
//! canonical root (403 otherwise), so a symlink cannot lead out. See
//! [`path`] for the exact rules.
//!
//! # Never a wrong answer
//! Only regular files and directories are served: FIFOs, sockets and
//! devices are 404 and left out of listings, and files are opened without
//! blocking. Running out of file descriptors or memory is a 503 with
//! `Retry-After`, never a 404. A request that will be refused with a body
//! to come gets its final status without `100 Continue`. The access log
//! shows the body bytes that actually went out, and refused request lines
//! as the client sent them, escaped.
//!
//! # Limits
//! Request line 8 KiB (414), header section 32 KiB or 100 fields (431),
//! 10 s for a request head (408), 5 s keep-alive idle, 30 s without the
//! client accepting a response byte (the response is cut and the cut
//! logged; see [`output`]), 1024 connections, which also bound the threads:
//! one per connection being served (see [`net_core::acceptor`]), and a few
//! waiting for the next client or request. A keep-alive connection idle
//! for 20 ms waits on without a thread (see `park`).
//!
//! # Making room at the cap
//! No client can starve the others. When a new client arrives and every
//! slot is taken, [`server::Registry::make_room`] closes one connection,
//! oldest first among:
//! 1. idle keep-alive connections (closed quietly);
//! 2. connections whose request head or body has not fully arrived (they
//!    get `503 Service Unavailable` with `Retry-After: 1`, or are closed
//!    quietly if they sent nothing yet);
//! 3. connections whose client has accepted no response byte for longest
//!    (reset: the response cannot be finished).
//!
//! A connection busy preparing a response is never chosen, and a second
//! one is not closed while the first is still closing. So a newcomer is
//! served within milliseconds however the others stall.
//!
//! # Layout
//! - [`request`]: parsing and validating request heads (httparse).
//! - [`path`]: request target → file, the security policy.
//! - `cache` (private): a per-thread, one-second memory of resolutions.
//! - `small` (private): small files' responses kept in memory, sent with
//!   one call.
//! - [`files`]: validators, conditional requests, ranges, content types.
//! - `listing` (private): directory listings.
//! - [`response`]: responses written to any `Write`.
//! - [`output`]: writing to the socket under a progress deadline.
//! - `config` (private): settings and their defaults.
//! - `registry` (private): live connections, what each is doing, making
//!   room at the cap.
//! - `route` (private): the response for a request (file, directory,
//!   redirect, error page).
//! - `conn` (private): one connection's request loop, over the three
//!   above.
//! - `park` (private, Linux): idle keep-alive connections waiting in an
//!   epoll set without a thread, and the threads that take them up again.
//! - [`server`]: the accept loop over `conn`; re-exports the settings,
//!   the registry and [`server::respond`].
//! - `memory` (private): free heap pages handed back after a burst
//!   (glibc's `malloc_trim`).
//! - `sys` (private, Linux): the `TCP_DEFER_ACCEPT` socket option.
//!
//! `memory` and `sys` are the crate's only `unsafe`, one call each.
//!
//! # Example
//! ```
//! use std::io::{Read, Write};
//! use std::net::TcpStream;
//! use http_server::server::{self, Config};
//!
//! let root = tempfile::tempdir()?;
//! std::fs::write(root.path().join("HelloWorld.html"), "<h1>Hello</h1>")?;
//! let config = Config::new(root.path())?;
//! let shutdown = config.shutdown.clone();
//! let listener = net_core::sock::tcp_listener("127.0.0.1:0".parse()?)?;
//! let addr = listener.local_addr()?;
//! let srv = std::thread::spawn(move || server::run(listener, config));
//!
//! let mut c = TcpStream::connect(addr)?;
//! c.write_all(b"GET /HelloWorld.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
//! let mut reply = String::new();
//! c.read_to_string(&mut reply)?;
//! assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"));
//! assert!(reply.ends_with("<h1>Hello</h1>"));
//!
//! shutdown.fire();
//! srv.join().expect("server thread")?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod cache;
mod config;
mod conn;
mod date;
pub mod files;
mod listing;
mod memory;
pub mod output;
#[cfg(target_os = "linux")]
mod park;
pub mod path;
mod registry;
pub mod request;
pub mod response;
mod route;
pub mod server;
mod small;
pub mod status;
#[cfg(target_os = "linux")]
mod sys;

use std::path::PathBuf;

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A networking failure, already worded by net-core.
    #[error(transparent)]
    Net(#[from] net_core::Error),
    /// The document root is unusable.
    #[error("cannot serve {} ({})", .root.display(), net_core::error::describe(.source))]
    Root {
        /// The root as given.
        root: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
