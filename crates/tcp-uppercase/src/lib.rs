//! tcp-uppercase: the lab's TCP uppercase server and client, as a library.
//!
//! The server answers every connection with the byte stream it receives,
//! uppercased as it arrives (Unicode-aware, as Python's `str.upper()`), so
//! no framing is needed: a client that sends a bare sentence and waits for
//! one `recv` gets its answer, and a client that sends lines gets a line
//! back for each. Each connection has its own thread (net-core's
//! [`Acceptor`](net_core::Acceptor)).
//!
//! # Layout
//! - [`server`]: [`server::run`] serves a bound listener until shutdown;
//!   [`server::uppercase_stream`] is the per-connection loop over any
//!   `Read`/`Write`.
//! - [`client`]: [`client::Client`] sends a sentence (half-closing, so the
//!   textbook one-`recv` server works too) or a line at a time.
//! - [`duplex`]: the client's stream mode, standard input to the server and
//!   its replies to standard output at once, over one connection.
//!
//! # Example
//! ```
//! use net_core::{Endpoint, Shutdown, sock};
//! use tcp_uppercase::{client::Client, server};
//!
//! let listener = sock::tcp_listener("127.0.0.1:0".parse()?)?;
//! let port = listener.local_addr()?.port();
//! let shutdown = Shutdown::new();
//! let stop = shutdown.clone();
//! let srv = std::thread::spawn(move || server::run(listener, &stop, server::Config::quiet()));
//!
//! let mut client = Client::new(Endpoint::new("127.0.0.1", port)?);
//! assert_eq!(client.send_sentence(b"tanmayi 31")?, b"TANMAYI 31");
//! assert_eq!(client.exchange_line("straße".as_bytes())?, b"STRASSE");
//! drop(client); // close the kept connection so shutdown need not wait for it
//!
//! shutdown.fire();
//! srv.join().expect("server thread")?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod client;
pub mod duplex;
pub mod server;

/// The lab's port for the TCP uppercase exercise.
pub const DEFAULT_PORT: u16 = 13000;

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A networking failure, already worded by net-core.
    #[error(transparent)]
    Net(#[from] net_core::Error),
    /// The server closed the connection without sending anything back.
    #[error("the server at {peer} closed the connection without replying")]
    NoReply {
        /// The server's address.
        peer: String,
    },
    /// The server ended the connection before answering every line sent
    /// on it (a line begun counts as one).
    #[error(
        "the server at {peer} closed the connection having answered {answered} of the {sent} lines sent on it"
    )]
    Unanswered {
        /// The server's address.
        peer: String,
        /// Lines answered.
        answered: u64,
        /// Lines sent.
        sent: u64,
    },
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
