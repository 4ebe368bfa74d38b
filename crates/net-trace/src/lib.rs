//! net-trace: the lab's Wireshark exercise — capture the UDP and TCP
//! exchanges, find the handshake and teardown frames, and name the process
//! that sent each frame (which Wireshark cannot).
//!
//! # Layout
//! Frames flow `source → decode → analyze → join → sinks`:
//! - [`pcapio`]: capture files in, streaming (pcap and pcapng, every
//!   variant tshark reads, cut files), and pcap and pcapng out (packet
//!   comments carry the sending process).
//! - [`live`]: frames from packet sockets on their own thread, with a
//!   kernel BPF filter and the kernel's drop count; `sys` holds the packet
//!   socket, the crate's only `unsafe`.
//! - [`decode`](mod@decode): link layers (Ethernet with VLAN tags, Linux
//!   cooked v1 and v2, raw IP, BSD loopback), IPv4 and IPv6 with fragment
//!   reassembly, TCP, UDP, ICMP and ICMPv6, cut frames decoded as far as
//!   they go, through checked views of each header.
//! - [`analyze`]: streams as tshark's `tcp.stream` (4-tuple and
//!   generation), client and server, relative Seq/Ack, each side's TCP
//!   state, handshake, teardown shapes, retransmissions, ICMP errors tied
//!   to their flow; memory per connection, not per frame.
//! - [`owners`]: which process sent each frame, proven from kernel events
//!   (a private tracefs instance) or `/proc`, else unknown.
//! - `join`: rows wait, in order, for their owner's evidence.
//! - [`filter`]: tcpdump's filter expressions, compiled to classic BPF
//!   for the kernel and run over frames read from files.
//! - [`source`]: live sockets and capture files behind one trait.
//! - [`pipeline`]: the stages every frame goes through (decode, filter,
//!   analyse); [`capture`] runs them from any source, joined with owners,
//!   to any sinks (`capture` and `read` alike).
//! - [`sink`]: where rows go — the table, the summaries, the ladder
//!   diagram, pcap and pcapng files, the details pane; [`render`],
//!   [`diagram`] and [`details`] draw them.
//! - `text` and `hash`: numbers written without `write!`, and the hasher
//!   of the maps looked up for every frame.
//!
//! # API
//! The types a program needs to read, capture, decode and analyse frames
//! are re-exported here ([`FileReader`], [`LiveSource`], [`Decoder`],
//! [`Analyzer`], [`Row`], [`Sink`], [`Filter`]…); the modules hold the
//! rest of each layer's public face (the sinks, the details pane, the
//! owner evidence). Everything else is the crate's own.
//!
//! # Example
//! Analysing frames from any source:
//! ```
//! use std::time::Duration;
//! use net_trace::{Analyzer, LinkType, decode};
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
#![warn(missing_docs)]
#![warn(unreachable_pub)]

pub mod analyze;
pub mod capture;
pub mod decode;
pub mod details;
pub mod diagram;
pub mod filter;
mod hash;
mod join;
pub mod live;
pub mod owners;
pub mod pcapio;
pub mod pipeline;
pub mod render;
pub mod sink;
pub mod source;
#[cfg(target_os = "linux")]
mod sys;
mod text;

pub use analyze::{Analyzer, Row};
pub use capture::Options;
pub use decode::{Decoded, Decoder, LinkType, Packet, Transport, decode};
pub use filter::Filter;
pub use live::{LiveOptions, LiveSource};
pub use pcapio::{FileReader, Frame, PcapNgOut, PcapOut};
pub use sink::Sink;
pub use source::{FileSource, Source};

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
    /// A filter expression cannot be used (for this link type); a usage
    /// error.
    #[error(transparent)]
    Filter(#[from] filter::Error),
    /// Capturing failed.
    #[error("capture failed ({0})")]
    Capture(String),
    /// Capturing failed in a system call.
    #[error("capture failed ({what}: {})", net_core::error::describe(.source))]
    CaptureIo {
        /// What was being done.
        what: String,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// The command after `--` could not be started: not found (a shell's
    /// status 127) or found but not runnable (126), see
    /// [`Error::shell_status`].
    #[error("cannot run {program}: {}", net_core::error::describe(.source))]
    Command {
        /// The program as given.
        program: String,
        /// Why `execve` refused it.
        #[source]
        source: std::io::Error,
    },
    /// A capture file is not one this crate can read or write.
    #[error("{}: {reason}", .path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The table or the summaries could not be written.
    #[error(transparent)]
    Output(std::io::Error),
    /// A connection could not be followed as asked.
    #[error("{0}")]
    Follow(String),
    /// A diagram could not be drawn as asked.
    #[error("{0}")]
    Diagram(String),
    /// A capture file could not be opened, read or written.
    #[error("{}: {}", .path.display(), net_core::error::describe(.source))]
    FileIo {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
}

/// A shell's status for a command it cannot find.
pub(crate) const STATUS_NOT_FOUND: u8 = 127;
/// A shell's status for a command it finds but cannot run.
pub(crate) const STATUS_NOT_RUNNABLE: u8 = 126;

impl Error {
    /// The status a shell (and `ptcpdump --`, `time`, `env`) exits with
    /// for a command that could not be started: 127 when it is not found,
    /// 126 when it is found but cannot be run (not executable, a
    /// directory, not a program). `None` for every other error.
    pub fn shell_status(&self) -> Option<u8> {
        match self {
            Error::Command { source, .. } => Some(match source.kind() {
                std::io::ErrorKind::NotFound => STATUS_NOT_FOUND,
                _ => STATUS_NOT_RUNNABLE,
            }),
            _ => None,
        }
    }
}
