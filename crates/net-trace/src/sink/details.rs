//! The details pane (`--detail N`, `-V`): chosen frames field by field.

use std::collections::BTreeSet;
use std::io::{BufWriter, Write};

use super::{End, Shown, Sink};
use crate::Error;
use crate::analyze::Row;
use crate::details::{self, Streams};
use crate::owners::Owner;

/// Shows the chosen frames as Wireshark's details pane: every frame as
/// it comes (in place of the table), or a few frames after the table,
/// kept until the end (the table's rows come first).
#[derive(Debug)]
pub struct Details<W: Write> {
    out: BufWriter<W>,
    /// The frames to show; `None` for every frame.
    frames: Option<BTreeSet<usize>>,
    /// The chosen frames' panes, written at the end.
    kept: Vec<u8>,
    /// The chosen frames not seen yet.
    missing: BTreeSet<usize>,
    live: bool,
    streams: Streams,
}

impl<W: Write> Details<W> {
    /// Shows the frames numbered in `frames`, or all when it is empty;
    /// `live` frames name their interface.
    pub fn new(out: W, frames: BTreeSet<usize>, live: bool) -> Self {
        Details {
            out: BufWriter::new(out),
            missing: frames.clone(),
            frames: (!frames.is_empty()).then_some(frames),
            kept: Vec::new(),
            live,
            streams: Streams::default(),
        }
    }
}

impl<W: Write> Sink for Details<W> {
    fn row(&mut self, frame: &Shown<'_>, row: &Row, sender: Option<&Owner>) -> Result<(), Error> {
        let mut context = self.streams.context(frame, row);
        context.interface = self.live;
        let fields = match &self.frames {
            Some(f) if !f.contains(&row.no) => return Ok(()),
            Some(_) => {
                self.missing.remove(&row.no);
                return details::write(
                    &mut self.kept,
                    &details::fields(frame, row, sender, context),
                )
                .map_err(Error::Output);
            }
            None => details::fields(frame, row, sender, context),
        };
        details::write(&mut self.out, &fields).map_err(Error::Output)
    }

    fn idle(&mut self) {
        let _ = self.out.flush();
    }

    fn finish(&mut self, _: &End<'_>) -> Result<(), Error> {
        if self.frames.is_some() {
            // A blank line after the table.
            writeln!(self.out).map_err(Error::Output)?;
            self.out.write_all(&self.kept).map_err(Error::Output)?;
            if !self.missing.is_empty() {
                let missing: Vec<String> = self.missing.iter().map(usize::to_string).collect();
                writeln!(
                    self.out,
                    "No details of frame {}: not in the capture, or left out by the filter.\n",
                    missing.join(", ")
                )
                .map_err(Error::Output)?;
            }
        }
        self.out.flush().map_err(Error::Output)
    }
}
