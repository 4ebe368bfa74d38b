//! net-core: the pieces every netlab program shares.
//!
//! # Layout
//! - [`endpoint`]: `host:port`, `[v6]:port` and host names, parsed and
//!   resolved with clear errors.
//! - [`sock`]: socket2 builders — the TCP listener (SO_REUSEADDR, backlog
//!   1024, dual-stack on `::`), UDP sockets, connect with a time-out.
//! - [`error`]: the one [`Error`] type, worded like
//!   `nothing is listening on 127.0.0.1:13000 (connection refused)`.
//! - [`shutdown`]: the [`Shutdown`] handle fired by Ctrl-C / SIGTERM, which
//!   wakes blocked `accept` and `recv` calls.
//! - [`acceptor`]: the thread-per-connection [`Acceptor`] with a connection
//!   cap and idle-thread reuse.
//! - [`sched`]: connection threads without wake-up preemption
//!   (`SCHED_BATCH`), the crate's one `unsafe` call.
//! - [`deadline`]: writes cut once the client takes no byte for the
//!   write time-out, across the whole reply.
//! - [`text`]: streaming Unicode uppercase and log previews.
//! - [`output`]: the readiness line, the access log and the diagnostics
//!   on stderr, none of which can hold a server up.
//! - [`ratelimit`]: one line a second, with a count, for a repeating
//!   failure.
//! - [`cli`]: parsers for flag values (time-outs in seconds).
//!
//! # Example
//! A complete uppercase server in a few lines, served on an ephemeral port:
//! ```
//! use std::io::{Read, Write};
//! use std::net::{Shutdown as Half, TcpStream};
//! use net_core::{Acceptor, Shutdown, sock, text};
//!
//! let listener = sock::tcp_listener("127.0.0.1:0".parse()?)?;
//! let addr = listener.local_addr()?;
//! let shutdown = Shutdown::new();
//! let stop = shutdown.clone();
//! let server = std::thread::spawn(move || {
//!     Acceptor::new("doc").run(listener, &stop, |mut s: TcpStream, _peer| {
//!         let mut buf = Vec::new();
//!         s.read_to_end(&mut buf)?;
//!         s.write_all(&text::uppercase_bytes(&buf))
//!     })
//! });
//!
//! let mut client = TcpStream::connect(addr)?;
//! client.write_all("straße".as_bytes())?;
//! client.shutdown(Half::Write)?;
//! let mut reply = String::new();
//! client.read_to_string(&mut reply)?;
//! assert_eq!(reply, "STRASSE");
//!
//! shutdown.fire();
//! server.join().expect("server thread")?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod acceptor;
pub mod cli;
pub mod deadline;
pub mod endpoint;
pub mod error;
pub mod output;
pub mod ratelimit;
pub mod sched;
pub mod shutdown;
pub mod sock;
pub mod text;

pub use acceptor::Acceptor;
pub use endpoint::{Endpoint, Host};
pub use error::{Error, Result};
pub use output::{AccessLog, announce};
pub use shutdown::Shutdown;
