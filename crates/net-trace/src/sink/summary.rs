//! Each connection's summary, after the table.

use std::io::{BufWriter, Write};

use super::{End, Rtts, Shown, Sink};
use crate::Error;
use crate::analyze::Row;
use crate::owners::Owner;
use crate::render::{self, ConnOwners};

/// Each connection's summary, after the table, with the processes proven
/// at each end.
#[derive(Debug)]
pub struct Summary<W: Write> {
    out: W,
    owners: ConnOwners,
    rtts: Rtts,
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
            rtts: Rtts::new(),
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
        self.rtts.note(row);
        Ok(())
    }

    fn finish(&mut self, end: &End<'_>) -> Result<(), Error> {
        let mut out = BufWriter::new(&mut self.out);
        let written = render::write_summaries(&mut out, end, &self.owners, &mut self.rtts)
            .and_then(|()| out.flush());
        match written {
            Err(e) if !self.quiet => Err(Error::Output(e)),
            _ => Ok(()),
        }
    }
}
