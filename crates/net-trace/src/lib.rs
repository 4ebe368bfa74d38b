//! net-trace: the lab's Wireshark exercise — capture the UDP and TCP
//! exchanges, find the handshake and teardown frames, and name the process
//! that sent each frame (which Wireshark cannot).
//!
//! # Layout
//! - [`decode`]: frames to packets with etherparse (Ethernet, Linux cooked,
//!   raw IP; IPv4, IPv6; TCP, UDP).
//! - [`analyze`]: connections, client and server, relative Seq/Ack,
//!   handshake, teardown shapes, retransmissions.
//! - [`procs`]: socket → process through `/proc`.
//! - [`pcapio`]: pcap and pcapng in (streaming), pcap and pcapng out.
//! - [`render`]: the frame table and the summaries.
//! - [`capture`]: live capture on Linux; `sys` holds the packet socket, the
//!   crate's only `unsafe`.
//!
//! # Example
//! Analysing frames from any source:
//! ```
//! use std::time::Duration;
//! use net_trace::analyze::Analyzer;
//! use net_trace::decode::{LinkType, decode};
//!
//! // An IPv4 + UDP datagram 127.0.0.1:40000 → 127.0.0.1:12000, "hi".
//! let ip: Vec<u8> = vec![
//!     0x45, 0, 0, 30, 0, 0, 0x40, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1,
//!     0x9c, 0x40, 0x2e, 0xe0, 0, 10, 0, 0, b'h', b'i',
//! ];
//! let packet = decode(LinkType::RawIp, &ip, Duration::ZERO, 30).expect("a UDP packet");
//! let row = Analyzer::new().push(&packet);
//! assert_eq!(row.info, "40000 → 12000 Len=2");
//! ```
#![deny(unsafe_code)]

pub mod analyze;
pub mod capture;
pub mod decode;
pub mod diagram;
pub mod join;
pub mod pcapio;
pub mod procs;
pub mod render;
#[cfg(target_os = "linux")]
mod sys;

use std::path::PathBuf;

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Opening a packet socket was refused.
    #[error(
        "live capture needs root or the CAP_NET_RAW capability (run it with sudo, or save a capture with tshark and analyse it with `net-trace read FILE`)"
    )]
    Privilege,
    /// The interface does not exist.
    #[error("cannot capture on {iface} ({reason})")]
    Interface {
        /// The interface name.
        iface: String,
        /// Why.
        reason: String,
    },
    /// Capturing failed.
    #[error("capture failed ({0})")]
    Capture(String),
    /// A capture file could not be read or written.
    #[error("{}: {reason}", .path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}
