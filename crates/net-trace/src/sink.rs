//! Where rows go: the table, the summaries, the ladder diagram and the
//! pcap and pcapng writers, each a [`Sink`] that any command can combine.
//!
//! A sink sees every row shown, in frame order, with the frame's bytes and
//! the process that sent it once proven; at the end it sees the analysis
//! (for summaries) once.

use std::collections::{HashMap, HashSet};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::Error;
use crate::analyze::{Analyzer, Row};
use crate::decode::LinkType;
use crate::owners::{Method, Owner};
use crate::pcapio::{PcapNgOut, PcapOut, process_comment};
use crate::render::{self, ConnOwners};

/// A frame shown: its bytes as captured, for the sinks that save them.
#[derive(Debug, Clone, Copy)]
pub struct Shown<'a> {
    /// Capture time (since the epoch).
    pub time: Duration,
    /// The bytes captured.
    pub data: &'a [u8],
    /// Length on the wire.
    pub wire_len: u32,
    /// How `data` starts.
    pub link: LinkType,
    /// The interface it came from.
    pub iface: &'a Arc<str>,
}

/// What the sinks see once the stream has ended.
#[derive(Debug, Clone, Copy)]
pub struct End<'a> {
    /// The analysis, for summaries.
    pub analyzer: &'a Analyzer,
    /// How owners were proven, the main method first (empty when not
    /// looked up).
    pub methods: &'a [Method],
    /// With a capture narrowed to some processes: the connections shown.
    pub shown: Option<&'a HashSet<usize>>,
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

    /// No frame came for a moment, or the stream stopped on an error:
    /// the time to flush buffered output.
    fn idle(&mut self) {}

    /// The stream has ended.
    fn finish(&mut self, end: &End<'_>) -> Result<(), Error>;
}

/// Longest a shown row waits in a live table's buffer.
const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// A live table's buffer: rows go out when the capture is idle and at least
/// every [`FLUSH_EVERY`], since one write per row to a terminal would slow
/// the whole capture down.
const LIVE_BUFFER: usize = 64 * 1024;

/// A saved capture's table buffer: large enough that writes are few.
const READ_BUFFER: usize = 256 * 1024;

/// The frame table.
#[derive(Debug)]
pub struct Table<W: Write> {
    out: BufWriter<W>,
    states: bool,
    /// A live table: an output that cannot be written ends the table, not
    /// the capture (the files and the counts still matter), and rows are
    /// flushed as time passes.
    live: bool,
    closed: bool,
    flushed: Instant,
}

impl<W: Write> Table<W> {
    /// A table for a saved capture: an output error stops the stream.
    /// With `states`, each side's TCP state after every frame.
    pub fn new(out: W, states: bool) -> Self {
        Self::with(out, states, false, READ_BUFFER)
    }

    /// A table for a live capture (see [`Table`]'s `live`).
    pub fn live(out: W, states: bool) -> Self {
        Self::with(out, states, true, LIVE_BUFFER)
    }

    fn with(out: W, states: bool, live: bool, capacity: usize) -> Self {
        Table {
            out: BufWriter::with_capacity(capacity, out),
            states,
            live,
            closed: false,
            flushed: Instant::now(),
        }
    }

    /// Whether a live table's output was closed.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Keeps a live table's output error as "closed"; returns others.
    fn outcome(&mut self, result: io::Result<()>) -> Result<(), Error> {
        match result {
            Ok(()) => Ok(()),
            Err(_) if self.live => {
                self.closed = true;
                Ok(())
            }
            Err(e) => Err(Error::Output(e)),
        }
    }

    fn flush(&mut self) -> Result<(), Error> {
        self.flushed = Instant::now();
        if self.closed {
            return Ok(());
        }
        let result = self.out.flush();
        self.outcome(result)
    }
}

impl<W: Write> Sink for Table<W> {
    fn start(&mut self) -> Result<(), Error> {
        let result = writeln!(self.out, "{}", render::heading());
        self.outcome(result)
    }

    #[inline]
    fn row(&mut self, _: &Shown<'_>, row: &Row, sender: Option<&Owner>) -> Result<(), Error> {
        if !self.closed {
            let result = render::write_row(&mut self.out, row, sender, self.states);
            self.outcome(result)?;
        }
        if self.live && self.flushed.elapsed() >= FLUSH_EVERY {
            self.flush()?;
        }
        Ok(())
    }

    fn idle(&mut self) {
        let _ = self.flush();
    }

    fn finish(&mut self, _: &End<'_>) -> Result<(), Error> {
        self.flush()
    }
}

/// Each connection's summary, after the table, with the processes proven
/// at each end.
#[derive(Debug)]
pub struct Summary<W: Write> {
    out: W,
    owners: ConnOwners,
    /// An output error is kept quiet (a live capture whose table was
    /// closed), not returned.
    quiet: bool,
}

impl<W: Write> Summary<W> {
    /// Summaries for a saved capture: an output error is an error.
    pub fn new(out: W) -> Self {
        Summary {
            out,
            owners: ConnOwners::new(),
            quiet: false,
        }
    }

    /// Summaries for a live capture: an output that cannot be written
    /// does not fail it.
    pub fn live(out: W) -> Self {
        Summary {
            quiet: true,
            ..Summary::new(out)
        }
    }
}

impl<W: Write> Sink for Summary<W> {
    #[inline]
    fn row(&mut self, _: &Shown<'_>, row: &Row, sender: Option<&Owner>) -> Result<(), Error> {
        self.owners.note(row, sender);
        Ok(())
    }

    fn finish(&mut self, end: &End<'_>) -> Result<(), Error> {
        let mut out = BufWriter::new(&mut self.out);
        let written =
            render::write_summaries(&mut out, end.analyzer, &self.owners, end.methods, end.shown)
                .and_then(|()| out.flush());
        match written {
            Err(e) if !self.quiet => Err(Error::Output(e)),
            _ => Ok(()),
        }
    }
}

/// The SVG ladder diagram of each connection (or one), written at the end.
#[derive(Debug)]
pub struct Diagram {
    path: PathBuf,
    only: Option<usize>,
    ladders: crate::diagram::Collector,
}

impl Diagram {
    /// Draws connection `only`, or the first
    /// [`MAX_LADDERS`](crate::diagram::MAX_LADDERS), into `path`.
    pub fn new(path: &Path, only: Option<usize>) -> Self {
        Diagram {
            path: path.to_path_buf(),
            only,
            ladders: crate::diagram::Collector::new(only),
        }
    }
}

impl Sink for Diagram {
    fn row(&mut self, _: &Shown<'_>, row: &Row, sender: Option<&Owner>) -> Result<(), Error> {
        self.ladders.push(row, sender);
        Ok(())
    }

    fn finish(&mut self, _: &End<'_>) -> Result<(), Error> {
        let path = self.path.display();
        if self.ladders.is_empty() {
            if let Some(k) = self.only {
                return Err(Error::Diagram(format!(
                    "no connection {k} in this capture (the summary numbers them); {path} not written"
                )));
            }
            eprintln!("warning: no connection to draw; {path} not written");
            return Ok(());
        }
        std::fs::write(&self.path, self.ladders.svg()).map_err(|source| Error::FileIo {
            path: self.path.clone(),
            source,
        })?;
        eprintln!("diagram written to {path}");
        Ok(())
    }
}

/// The frames shown, saved to a classic pcap file.
#[derive(Debug)]
pub struct Pcap {
    path: PathBuf,
    out: Option<PcapOut>,
}

impl Pcap {
    /// Saves to `path` (created when the source opens).
    pub fn new(path: &Path) -> Self {
        Pcap {
            path: path.to_path_buf(),
            out: None,
        }
    }
}

impl Sink for Pcap {
    fn open(&mut self, link: LinkType) -> Result<(), Error> {
        self.out = Some(PcapOut::create(&self.path, link)?);
        Ok(())
    }

    fn row(&mut self, frame: &Shown<'_>, _: &Row, _: Option<&Owner>) -> Result<(), Error> {
        match self.out.as_mut() {
            Some(out) => out.write(frame.time, frame.data, frame.wire_len),
            None => Ok(()),
        }
    }

    fn finish(&mut self, _: &End<'_>) -> Result<(), Error> {
        self.out.as_mut().map_or(Ok(()), PcapOut::flush)
    }
}

/// The frames shown, saved to a pcapng file, each with the process that
/// sent it as a packet comment (Wireshark shows it).
#[derive(Debug)]
pub struct PcapNg {
    path: PathBuf,
    out: Option<PcapNgOut>,
    /// The file's interface number of each interface seen.
    ifaces: HashMap<Arc<str>, u32>,
}

impl PcapNg {
    /// Saves to `path` (created when the source opens).
    pub fn new(path: &Path) -> Self {
        PcapNg {
            path: path.to_path_buf(),
            out: None,
            ifaces: HashMap::new(),
        }
    }
}

impl Sink for PcapNg {
    fn open(&mut self, _: LinkType) -> Result<(), Error> {
        // Interfaces are described as their first frame comes, so each
        // frame names its own and a one-interface file stays readable by
        // tcpdump.
        self.out = Some(PcapNgOut::create(&self.path)?);
        Ok(())
    }

    fn row(&mut self, frame: &Shown<'_>, _: &Row, sender: Option<&Owner>) -> Result<(), Error> {
        let Some(out) = self.out.as_mut() else {
            return Ok(());
        };
        let comment = sender.map(|o| {
            let cmd = o.cmd.clone().unwrap_or_else(|| o.name.clone());
            process_comment(o.pid, &cmd, &o.args)
        });
        let id = match self.ifaces.get(frame.iface) {
            Some(id) => *id,
            None => {
                let id = out.add_interface(frame.iface, frame.link)?;
                self.ifaces.insert(frame.iface.clone(), id);
                id
            }
        };
        out.write(
            id,
            frame.time,
            frame.data,
            frame.wire_len,
            comment.as_deref(),
        )
    }

    fn finish(&mut self, _: &End<'_>) -> Result<(), Error> {
        self.out.as_mut().map_or(Ok(()), PcapNgOut::flush)
    }
}
