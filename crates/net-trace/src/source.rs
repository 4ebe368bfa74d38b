//! Frame sources: live packet sockets and capture files behind one trait,
//! so the same stages (decode, filter, analyse, join) and the same sinks
//! serve `capture` and `read`, and the live path can be run from a file.

use std::sync::Arc;
use std::time::Duration;

use crate::Error;
use crate::decode::LinkType;
use crate::live::{LiveSource, Stats};
use crate::pcapio::{FileReader, Frame};

/// What [`Source::next`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// A frame, written into the caller's [`Frame`].
    Frame,
    /// No frame within the wait; more may come.
    Idle,
    /// No frame will come any more.
    End,
}

/// Where frames come from.
pub trait Source {
    /// The link type of the frames, for a classic pcap header (a file's
    /// first interface).
    fn link(&self) -> LinkType;

    /// Waits at most `wait` for the next frame and writes it into `frame`
    /// (reusing its buffer when it has one). A file never waits.
    fn next(&mut self, frame: &mut Frame, wait: Duration) -> Result<Next, Error>;

    /// The interface the last frame came from.
    fn iface(&self) -> &Arc<str>;

    /// Whether frames may come from several interfaces (each row then
    /// names its own).
    fn several_interfaces(&self) -> bool {
        false
    }

    /// The counts so far.
    fn stats(&self) -> Stats;

    /// Stops taking new frames; frames already taken stay available to
    /// [`Source::next`]. Returns the final counts, or the error that ended
    /// the source early.
    fn stop(&mut self) -> Result<Stats, Error>;

    /// One-line warnings gathered so far, each reported once.
    fn take_warnings(&mut self) -> Vec<String> {
        Vec::new()
    }
}

impl Source for LiveSource {
    fn link(&self) -> LinkType {
        LiveSource::link(self)
    }

    fn next(&mut self, frame: &mut Frame, wait: Duration) -> Result<Next, Error> {
        let link = self.link();
        let Some((slot, data)) = self.next_slot(wait) else {
            return Ok(if self.is_finished() {
                Next::End
            } else {
                Next::Idle
            });
        };
        frame.time = slot.time;
        frame.wire_len = slot.wire_len;
        frame.link = link;
        // Into the frame's own buffer, when a held row has not taken it.
        frame.data.clear();
        frame.data.extend_from_slice(data);
        frame.interface = slot.ifindex;
        frame.comment = None;
        if !Arc::ptr_eq(self.last_iface(), &slot.iface) {
            self.set_last_iface(slot.iface);
        }
        Ok(Next::Frame)
    }

    fn iface(&self) -> &Arc<str> {
        self.last_iface()
    }

    fn several_interfaces(&self) -> bool {
        let ifaces = self.interfaces();
        ifaces.len() > 1 || ifaces.iter().any(|i| i == crate::live::ANY)
    }

    fn stats(&self) -> Stats {
        LiveSource::stats(self)
    }

    fn stop(&mut self) -> Result<Stats, Error> {
        LiveSource::stop(self)
    }
}

/// A capture file read record by record, in constant memory.
#[derive(Debug)]
pub struct FileSource {
    reader: FileReader,
    /// The file's frames' interface name.
    iface: Arc<str>,
    /// The link type of the file's (first) interface, once known.
    link: Option<LinkType>,
    frames: u64,
    /// The end of the file, or an error, was reached.
    ended: bool,
}

impl FileSource {
    /// Reads `reader`'s frames; `name` names their interface (in a pcapng
    /// written from them).
    pub fn new(reader: FileReader, name: &str) -> FileSource {
        let reader_link = reader.link();
        FileSource {
            reader,
            iface: Arc::from(name),
            link: reader_link,
            frames: 0,
            ended: false,
        }
    }
}

impl Source for FileSource {
    fn link(&self) -> LinkType {
        self.link.unwrap_or(LinkType::Ethernet)
    }

    #[inline]
    fn next(&mut self, frame: &mut Frame, _wait: Duration) -> Result<Next, Error> {
        if self.ended {
            return Ok(Next::End);
        }
        match self.reader.read_frame(frame) {
            Ok(true) => {
                self.frames += 1;
                self.link.get_or_insert(frame.link);
                Ok(Next::Frame)
            }
            Ok(false) => {
                self.ended = true;
                Ok(Next::End)
            }
            Err(e) => {
                self.ended = true;
                Err(e)
            }
        }
    }

    fn iface(&self) -> &Arc<str> {
        &self.iface
    }

    fn stats(&self) -> Stats {
        Stats {
            captured: self.frames,
            received: self.frames,
            dropped: 0,
        }
    }

    fn stop(&mut self) -> Result<Stats, Error> {
        Ok(self.stats())
    }

    fn take_warnings(&mut self) -> Vec<String> {
        self.reader.take_warnings()
    }
}
