//! Where rows go: the table, the summaries, the ladder diagram and the
//! pcap and pcapng writers, each a [`Sink`] that any command can combine.
//!
//! A sink sees every row shown, in frame order, with the frame's bytes and
//! the process that sent it once proven; at the end it sees the analysis
//! (for summaries) once.
//!
//! # Layout
//! - `table`: the frame table ([`Table`]).
//! - `details`: chosen frames field by field, as Wireshark's details pane
//!   ([`Details`]).
//! - `summary`: each connection's summary ([`Summary`]).
//! - `diagram`: the SVG ladder diagram ([`Diagram`]).
//! - `files`: the frames saved as pcap ([`Pcap`]) and pcapng ([`PcapNg`]).
//! - `records`: every column of every frame as JSON lines or TSV
//!   ([`Records`]); `json` writes its strings.
//! - `follow`: one connection's payload, reassembled ([`Follow`]).
//! - `conv`: one line per connection, as tshark's conversations
//!   ([`Conversations`]).
//! - `rtt`: each connection's round-trip times, for the summaries
//!   (`Rtts`).
//! - `out`: the buffered output the table and records write to, flushed
//!   as time passes in a live capture.

mod conv;
mod details;
mod diagram;
mod files;
mod follow;
mod json;
mod out;
mod records;
mod rtt;
mod summary;
mod table;

use std::sync::Arc;
use std::time::Duration;

use crate::Error;
use crate::analyze::{Analyzer, Row, Summary as ConnSummary};
use crate::decode::LinkType;
use crate::owners::{Method, Owner, Tally};

pub use conv::Conversations;
pub use details::Details;
pub use diagram::Diagram;
pub use files::{Pcap, PcapNg};
pub use follow::{Follow, Raw};
pub use records::{Format, Records, analysis_names};
pub(crate) use rtt::{RttStats, Rtts};
pub use summary::Summary;
pub use table::Table;

/// A frame shown: its bytes as captured, for the sinks that save them.
#[derive(Debug, Clone, Copy)]
pub struct Shown<'a> {
    /// Capture time (since the epoch).
    pub(crate) time: Duration,
    /// The bytes captured.
    pub(crate) data: &'a [u8],
    /// Length on the wire.
    pub(crate) wire_len: u32,
    /// How `data` starts.
    pub(crate) link: LinkType,
    /// The interface it came from.
    pub(crate) iface: &'a Arc<str>,
}

impl<'a> Shown<'a> {
    /// A frame from the source, shown as it was captured on `iface`.
    pub(crate) fn of(frame: &'a crate::pcapio::Frame, iface: &'a Arc<str>) -> Self {
        Shown {
            time: frame.time,
            data: &frame.data,
            wire_len: frame.wire_len,
            link: frame.link,
            iface,
        }
    }
}

/// What the sinks see once the stream has ended.
#[derive(Debug, Clone, Copy)]
pub struct End<'a> {
    /// The analysis, for summaries.
    pub(crate) analyzer: &'a Analyzer,
    /// How owners were proven, the main method first (empty when not
    /// looked up).
    pub(crate) methods: &'a [Method],
    /// How the TCP and UDP frames shown fared, when a live capture looked
    /// processes up.
    pub(crate) tally: Option<&'a Tally>,
    /// What a capture narrowed to some processes (`--pid`, `--pname`, a
    /// command) showed; `None` when every frame is shown.
    pub(crate) narrowed: Option<&'a Narrowed>,
}

/// What a capture narrowed to some processes showed: summaries name
/// connections and frames as a reader of the saved file, which holds only
/// these, counts them.
#[derive(Debug, Default)]
pub(crate) struct Narrowed {
    /// The capture's number of each connection shown, in the order of
    /// their first rows shown: rows and summaries name a connection by its
    /// place in this list, from 1.
    pub(crate) conns: Vec<usize>,
    /// The capture's number of each row shown, in order: summaries name a
    /// frame by its place in this list, from 1.
    pub(crate) numbers: Vec<usize>,
    /// Rows shown of frames corrupted on the way (the others' frames are
    /// not in the saved file either).
    pub(crate) corrupted: u64,
}

impl End<'_> {
    /// The summaries of the connections shown, in order, numbered (and
    /// naming frames) as the rows shown are.
    pub(crate) fn summaries(&self) -> Box<dyn Iterator<Item = ConnSummary> + '_> {
        let Some(narrowed) = self.narrowed else {
            return Box::new(self.analyzer.summaries());
        };
        Box::new(
            narrowed
                .conns
                .iter()
                .enumerate()
                .filter_map(move |(i, &conn)| {
                    let mut s = self.analyzer.summary(conn)?;
                    s.conn = i + 1;
                    s.renumber(|no| narrowed.numbers.binary_search(&no).ok().map(|i| i + 1));
                    Some(s)
                }),
        )
    }

    /// How many frames shown were corrupted on the way.
    pub(crate) fn corrupted(&self) -> u64 {
        self.narrowed
            .map_or_else(|| self.analyzer.corrupted(), |n| n.corrupted)
    }

    /// How many connections the summaries list.
    pub(crate) fn connection_count(&self) -> usize {
        self.narrowed
            .map_or_else(|| self.analyzer.connection_count(), |n| n.conns.len())
    }
}

/// A consumer of rows.
pub trait Sink {
    /// The source is open and its link type known: files are created here,
    /// so a file that cannot be written stops a capture before it starts.
    fn open(&mut self, link: LinkType) -> Result<(), Error> {
        let _ = link;
        Ok(())
    }

    /// Frames are about to come (a table writes its heading).
    fn start(&mut self) -> Result<(), Error> {
        Ok(())
    }

    /// One row shown, with its frame and the process that sent it. An
    /// error stops the stream.
    fn row(&mut self, frame: &Shown<'_>, row: &Row, sender: Option<&Owner>) -> Result<(), Error>;

    /// Whether this sink needs each frame's row (its analysis): a sink
    /// that only saves frames does not, and when no sink does, frames go
    /// to [`Sink::frame`] unanalysed.
    fn needs_rows(&self) -> bool {
        true
    }

    /// One frame kept, without a row (no sink needs rows, and no process
    /// is looked up).
    fn frame(&mut self, frame: &Shown<'_>) -> Result<(), Error> {
        let _ = frame;
        Ok(())
    }

    /// No frame came for a moment, or the stream stopped on an error:
    /// the time to flush buffered output.
    fn idle(&mut self) {}

    /// The stream has ended.
    fn finish(&mut self, end: &End<'_>) -> Result<(), Error>;
}
