//! A text sink's output ([`Out`]): buffered, and for a live capture
//! flushed as time passes and let go when it cannot be written.

use std::io::{self, BufWriter, Write};
use std::time::{Duration, Instant};

use crate::Error;

/// Longest a shown row waits in a live capture's buffer: one write per
/// row to a terminal would slow the whole capture down.
pub(crate) const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// Where a table or records sink writes. A live output that cannot be
/// written ends that output, not the capture (the files and the counts
/// still matter); a saved capture's stops the stream with the error.
#[derive(Debug)]
pub(crate) struct Out<W: Write> {
    buf: BufWriter<W>,
    live: bool,
    /// Flush after every row (a live capture to a terminal).
    every_row: bool,
    closed: bool,
    flushed: Instant,
}

impl<W: Write> Out<W> {
    /// An output buffered by `capacity` bytes.
    pub(crate) fn new(out: W, capacity: usize, live: bool, every_row: bool) -> Self {
        Out {
            buf: BufWriter::with_capacity(capacity, out),
            live,
            every_row,
            closed: false,
            flushed: Instant::now(),
        }
    }

    /// Whether a live output was let go.
    #[cfg(test)]
    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }

    /// Writes with `f` unless the output was let go.
    pub(crate) fn write(
        &mut self,
        f: impl FnOnce(&mut BufWriter<W>) -> io::Result<()>,
    ) -> Result<(), Error> {
        if self.closed {
            return Ok(());
        }
        let result = f(&mut self.buf);
        self.outcome(result)
    }

    /// After a row: a live output is flushed when its time has come.
    pub(crate) fn row_done(&mut self) -> Result<(), Error> {
        if self.live && (self.every_row || self.flushed.elapsed() >= FLUSH_EVERY) {
            self.flush()?;
        }
        Ok(())
    }

    pub(crate) fn flush(&mut self) -> Result<(), Error> {
        self.flushed = Instant::now();
        if self.closed {
            return Ok(());
        }
        let result = self.buf.flush();
        self.outcome(result)
    }

    /// Keeps a live output's error as "closed"; returns others.
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
}
