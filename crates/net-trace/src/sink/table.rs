//! The frame table, as tshark's columns (and `--states`).

use std::io::Write;

use super::out::Out;
use super::{End, Shown, Sink};
use crate::Error;
use crate::analyze::Row;
use crate::owners::Owner;
use crate::render;

/// A live table's buffer: rows go out when the capture is idle and at least
/// every 100 ms (`out::FLUSH_EVERY`).
const LIVE_BUFFER: usize = 64 * 1024;

/// A saved capture's table buffer: large enough that writes are few.
const READ_BUFFER: usize = 256 * 1024;

/// The frame table.
#[derive(Debug)]
pub struct Table<W: Write> {
    out: Out<W>,
    states: bool,
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
            out: Out::new(out, capacity, live, false),
            states,
        }
    }

    /// Whether a live table's output was closed.
    #[cfg(test)]
    pub(crate) fn is_closed(&self) -> bool {
        self.out.is_closed()
    }
}

impl<W: Write> Sink for Table<W> {
    fn start(&mut self) -> Result<(), Error> {
        self.out.write(|w| writeln!(w, "{}", render::heading()))
    }

    #[inline]
    fn row(&mut self, _: &Shown<'_>, row: &Row, sender: Option<&Owner>) -> Result<(), Error> {
        let states = self.states;
        self.out
            .write(|w| render::write_row(w, row, sender, states))?;
        self.out.row_done()
    }

    fn idle(&mut self) {
        let _ = self.out.flush();
    }

    fn finish(&mut self, _: &End<'_>) -> Result<(), Error> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::Analyzer;
    use crate::decode::{LinkType, decode};
    use std::io;
    use std::sync::Arc;
    use std::time::Duration;

    /// An output that takes nothing: a closed pipe.
    struct Closed;

    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn a_row() -> Row {
        // An IPv4 + UDP datagram 127.0.0.1:40000 → 127.0.0.1:12000, "hi".
        let ip: Vec<u8> = vec![
            0x45, 0, 0, 30, 0, 0, 0x40, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1, 0x9c, 0x40,
            0x2e, 0xe0, 0, 10, 0, 0, b'h', b'i',
        ];
        let packet = decode(LinkType::RawIp, &ip, Duration::ZERO, 30).unwrap();
        Analyzer::new().push(&packet)
    }

    fn push(table: &mut dyn Sink) -> Result<(), Error> {
        let iface: Arc<str> = Arc::from("lo");
        let shown = Shown {
            time: Duration::ZERO,
            data: &[],
            wire_len: 30,
            link: LinkType::RawIp,
            iface: &iface,
        };
        let analyzer = Analyzer::new();
        let end = End {
            analyzer: &analyzer,
            methods: &[],
            tally: None,
            narrowed: None,
        };
        table.start()?;
        // Past the buffer, so the output is written to.
        for _ in 0..5_000 {
            table.row(&shown, &a_row(), None)?;
        }
        table.finish(&end)
    }

    #[test]
    fn a_closed_output_ends_a_live_table_but_stops_a_saved_captures() {
        let mut live = Table::live(Closed, false);
        assert!(push(&mut live).is_ok());
        assert!(live.is_closed());
        let e = push(&mut Table::new(Closed, false)).unwrap_err();
        assert!(
            matches!(&e, Error::Output(io) if io.kind() == io::ErrorKind::BrokenPipe),
            "{e}"
        );
    }
}
