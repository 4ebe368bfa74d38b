//! udp-chat: the lab's UDP part, as a library.
//!
//! Plain text datagrams, no newline, no framing — exactly what the textbook
//! `UDPClient.py` / `UDPServer.py` send — so either side interoperates with
//! them.
//!
//! # Layout
//! - [`uppercase_server`]: answers each datagram with its text uppercased
//!   (net-core's Unicode uppercase; invalid UTF-8 passes through).
//! - [`client`]: [`client::Client`] sends a line and waits for the reply,
//!   resending on loss and reporting "nothing is listening" from ICMP.
//! - [`ledger`]: tells a line's reply from a late or duplicated one (the
//!   protocol has no ids), for the client and the chat.
//! - [`chat`]: the full-duplex [`chat::Chat`] session, for the server
//!   operator or a client; it reads any `BufRead` and writes any `Write`.
//!
//! # Example
//! ```
//! use net_core::{Shutdown, sock};
//! use udp_chat::{client::Client, uppercase_server};
//!
//! let socket = sock::udp_socket("127.0.0.1:0".parse()?)?;
//! let addr = socket.local_addr()?;
//! let shutdown = Shutdown::new();
//! let stop = shutdown.clone();
//! let server = std::thread::spawn(move || {
//!     uppercase_server::run(socket, &stop, uppercase_server::Config::quiet())
//! });
//!
//! let mut client = Client::connect(addr)?;
//! let reply = client.exchange("amrita 31".as_bytes())?;
//! assert_eq!(reply.data, b"AMRITA 31");
//! assert_eq!(reply.from, addr);
//!
//! shutdown.fire();
//! server.join().expect("server thread")?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod chat;
pub mod client;
pub mod ledger;
pub mod unreachable;
pub mod uppercase_server;

use std::net::SocketAddr;

/// The lab's port for the UDP exercise.
pub const DEFAULT_PORT: u16 = 12000;

/// Largest UDP payload over IPv4: 65,535 − 20 (IP header) − 8 (UDP header).
pub const MAX_DATAGRAM_V4: usize = 65_507;

/// Largest UDP payload over IPv6 without jumbograms: 65,535 − 8.
pub const MAX_DATAGRAM_V6: usize = 65_527;

/// Receive buffer: one byte more than the largest datagram, so a datagram
/// that would not fit is detected rather than silently truncated.
pub const RECV_BUFFER_SIZE: usize = MAX_DATAGRAM_V6 + 1;

/// The largest payload that can be sent to `peer`.
pub fn max_datagram(peer: SocketAddr) -> usize {
    match peer {
        SocketAddr::V4(_) => MAX_DATAGRAM_V4,
        // An IPv4-mapped peer on a dual-stack socket still travels as IPv4.
        SocketAddr::V6(v6) if v6.ip().to_ipv4_mapped().is_some() => MAX_DATAGRAM_V4,
        SocketAddr::V6(_) => MAX_DATAGRAM_V6,
    }
}

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A networking failure, already worded by net-core.
    #[error(transparent)]
    Net(#[from] net_core::Error),
    /// A line got no answer, after every retry.
    #[error(
        "no reply to line {line} from {peer} after {attempts} attempt(s) of {timeout_secs} s each"
    )]
    NoReply {
        /// The line (1 for the first line sent).
        line: u64,
        /// The server.
        peer: SocketAddr,
        /// Datagrams sent.
        attempts: u32,
        /// Wait per attempt, in seconds.
        timeout_secs: f64,
    },
    /// Some lines got no answer (each was reported when given up).
    #[error("{}", unanswered_text(*.unanswered, *.sent, .peer))]
    Unanswered {
        /// Lines left unanswered.
        unanswered: u64,
        /// Lines sent.
        sent: u64,
        /// The server.
        peer: SocketAddr,
    },
    /// A line too long for one datagram.
    #[error(
        "the message is {len} bytes, more than the {max} bytes one datagram to {peer} can carry"
    )]
    TooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
        /// Where it was going.
        peer: SocketAddr,
    },
}

fn unanswered_text(unanswered: u64, sent: u64, peer: &SocketAddr) -> String {
    let noun = if sent == 1 { "line" } else { "lines" };
    let hint = if unanswered == sent {
        " (is the server running?)"
    } else {
        ""
    };
    format!("{unanswered} of {sent} {noun} got no reply from {peer}{hint}")
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Maps an I/O error of a socket talking to `peer`, turning an ICMP "port
/// unreachable" (reported as connection refused) into net-core's
/// "nothing is listening" error.
pub(crate) fn peer_error(what: &str, peer: SocketAddr, e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::ConnectionRefused {
        net_core::Error::Refused {
            target: peer.to_string(),
        }
        .into()
    } else {
        net_core::Error::io(format!("{what} {peer}"), e).into()
    }
}
