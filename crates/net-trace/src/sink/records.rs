//! `--format json` and `--format tsv`: every column of every frame, for
//! jq, pandas and spreadsheets.
//!
//! JSON lines: one object per frame, `{"type":"frame",…}`, and at the end
//! one `{"type":"connection",…}` per connection, so everything on stdout
//! parses and `jq 'select(.type=="frame")'` picks the frames. TSV: a
//! header line, then one line per frame; a tab, newline, carriage return
//! or backslash inside a value is written `\t`, `\n`, `\r`, `\\`, so a
//! line is always one frame.

use std::io::{self, Write};
use std::net::IpAddr;

use super::conv::{Tallies, write_owner};
use super::out::Out;
use super::{End, Shown, Sink, json};
use crate::Error;
use crate::analyze::rel_time::TEXT_LEN;
use crate::analyze::{Direction, Ends, Findings, Kind, RelTime, Row};
use crate::owners::Owner;
use crate::text::{IP_LEN, U64_LEN, ip_str, u64_str};

/// Output buffer: large enough that writes are few.
const BUFFER: usize = 256 * 1024;

/// How frames are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// JSON lines.
    Json,
    /// Tab-separated values with a header line.
    Tsv,
}

/// The TSV header (`client_state` and `server_state` are added with
/// `--states`).
pub(crate) const TSV_HEADER: &str = "no\ttime\tepoch\tsource\tsource_port\tdestination\tdestination_port\tprotocol\tlength\tconnection\tdirection\tpid\tprocess\tinfo\tanalysis\tnotes";

/// Frames as JSON lines or TSV.
#[derive(Debug)]
pub struct Records<W: Write> {
    out: Out<W>,
    format: Format,
    states: bool,
    tallies: Tallies,
}

impl<W: Write> Records<W> {
    /// Frames of a saved capture: an output error stops the stream.
    pub fn new(out: W, format: Format, states: bool) -> Self {
        Self::with(out, format, states, false, false)
    }

    /// Frames of a live capture, streamed as they come: flushed after
    /// every row with `every_row` (a terminal), else at least every
    /// 100 ms and whenever the capture is idle; an output that cannot be
    /// written ends this output, not the capture.
    pub fn live(out: W, format: Format, states: bool, every_row: bool) -> Self {
        Self::with(out, format, states, true, every_row)
    }

    fn with(out: W, format: Format, states: bool, live: bool, every_row: bool) -> Self {
        Records {
            out: Out::new(out, BUFFER, live, every_row),
            format,
            states,
            tallies: Tallies::new(),
        }
    }
}

/// tshark's `tcp.analysis.*` field names of what the analysis found
/// (`overtaken` is net-trace's own: see `Findings::overtaken`).
pub fn analysis_names(f: &Findings) -> impl Iterator<Item = &'static str> {
    [
        (f.retransmission, "retransmission"),
        (f.fast_retransmission, "fast_retransmission"),
        (f.spurious_retransmission, "spurious_retransmission"),
        (f.out_of_order, "out_of_order"),
        (f.previous_not_captured, "lost_segment"),
        (f.acked_unseen, "ack_lost_segment"),
        (f.window_update, "window_update"),
        (f.window_full, "window_full"),
        (f.keep_alive, "keep_alive"),
        (f.keep_alive_ack, "keep_alive_ack"),
        (f.dup_ack.is_some(), "duplicate_ack"),
        (f.zero_window, "zero_window"),
        (f.zero_window_probe, "zero_window_probe"),
        (f.zero_window_probe_ack, "zero_window_probe_ack"),
        (f.ports_reused, "reused_ports"),
        (f.overtaken, "overtaken"),
    ]
    .into_iter()
    .filter_map(|(set, name)| set.then_some(name))
}

/// Writes a number (every frame has several: written without `write!`).
fn num(out: &mut impl Write, n: u64) -> io::Result<()> {
    out.write_all(u64_str(&mut [0; U64_LEN], n).as_bytes())
}

/// Writes a number, or `none` (`null`, or an empty TSV cell).
fn opt(out: &mut impl Write, n: Option<u64>, none: &[u8]) -> io::Result<()> {
    match n {
        Some(n) => num(out, n),
        None => out.write_all(none),
    }
}

/// Writes seconds with six decimals: a time since the first frame, or
/// since the epoch.
fn secs(out: &mut impl Write, t: RelTime) -> io::Result<()> {
    out.write_all(t.decimals_str(6, &mut [0; TEXT_LEN]).as_bytes())
}

/// A Source or Destination cell: an IP address (nothing to escape), or
/// the link layer's name.
enum Addr<'a> {
    Ip(IpAddr),
    Name(&'a str),
}

/// The row's ends as (source, source port, destination, destination
/// port); no ports for a frame that is not IP or a protocol without them.
fn ends(row: &Row) -> (Addr<'_>, Option<u64>, Addr<'_>, Option<u64>) {
    let port = |p: u16| (matches!(row.kind, Kind::Tcp | Kind::Udp)).then_some(u64::from(p));
    match &row.ends {
        Ends::Ip { src, dst } => (
            Addr::Ip(src.ip()),
            port(src.port()),
            Addr::Ip(dst.ip()),
            port(dst.port()),
        ),
        Ends::Link { src, dst } => (Addr::Name(src), None, Addr::Name(dst), None),
    }
}

fn json_addr(out: &mut impl Write, a: &Addr<'_>) -> io::Result<()> {
    match a {
        Addr::Ip(ip) => {
            out.write_all(b"\"")?;
            out.write_all(ip_str(&mut [0; IP_LEN], *ip).as_bytes())?;
            out.write_all(b"\"")
        }
        Addr::Name(s) => json::string(out, s),
    }
}

fn tsv_addr(out: &mut impl Write, a: &Addr<'_>) -> io::Result<()> {
    match a {
        Addr::Ip(ip) => out.write_all(ip_str(&mut [0; IP_LEN], *ip).as_bytes()),
        Addr::Name(s) => cell(out, s),
    }
}

/// The process that sent a row's frame; an ICMP error comes from a host's
/// kernel, not from a process of the connection.
fn process<'a>(row: &Row, sender: Option<&'a Owner>) -> Option<&'a Owner> {
    sender.filter(|_| row.kind != Kind::Icmp)
}

fn direction(d: Option<Direction>) -> Option<&'static str> {
    d.map(|d| match d {
        Direction::ClientToServer => "client→server",
        Direction::ServerToClient => "server→client",
    })
}

/// Writes one frame as a JSON object and its newline.
pub(crate) fn write_json(
    out: &mut impl Write,
    frame: &Shown<'_>,
    row: &Row,
    sender: Option<&Owner>,
    states: bool,
) -> io::Result<()> {
    let (src, sport, dst, dport) = ends(row);
    out.write_all(b"{\"type\":\"frame\",\"no\":")?;
    num(out, row.no as u64)?;
    out.write_all(b",\"time\":")?;
    secs(out, row.time)?;
    out.write_all(b",\"epoch\":")?;
    secs(out, RelTime::from(frame.time))?;
    out.write_all(b",\"source\":")?;
    json_addr(out, &src)?;
    out.write_all(b",\"source_port\":")?;
    opt(out, sport, b"null")?;
    out.write_all(b",\"destination\":")?;
    json_addr(out, &dst)?;
    out.write_all(b",\"destination_port\":")?;
    opt(out, dport, b"null")?;
    out.write_all(b",\"protocol\":")?;
    json::string(out, &row.protocol)?;
    out.write_all(b",\"length\":")?;
    num(out, u64::from(row.length))?;
    out.write_all(b",\"interface\":")?;
    json::string(out, frame.iface)?;
    out.write_all(b",\"connection\":")?;
    opt(out, row.conn.map(|c| c as u64), b"null")?;
    json::key(out, false, "direction")?;
    json::opt_string(out, direction(row.direction))?;
    json::key(out, false, "sender")?;
    json::opt_string(out, row.direction.map(Direction::sender))?;
    json::key(out, false, "process")?;
    write_owner(out, process(row, sender))?;
    if states {
        json::key(out, false, "states")?;
        match row.states {
            Some([c, s]) => write!(
                out,
                "{{\"client\":\"{}\",\"server\":\"{}\"}}",
                c.name(),
                s.name()
            )?,
            None => out.write_all(b"null")?,
        }
    }
    json::key(out, false, "info")?;
    json::string(out, &row.info)?;
    json::key(out, false, "analysis")?;
    json::strings(out, analysis_names(&row.analysis))?;
    if let Some((frame, n)) = row.analysis.dup_ack {
        write!(
            out,
            ",\"duplicate_ack_frame\":{frame},\"duplicate_ack_num\":{n}"
        )?;
    }
    // tshark's tcp.analysis.acks_frame and ack_rtt: the segment this ACK
    // acknowledges exactly, and how long after it the ACK came.
    if let Some((frame, rtt)) = row.tcp.and_then(|t| t.acks) {
        write!(
            out,
            ",\"acks_frame\":{frame},\"ack_rtt\":{}.{:09}",
            rtt.as_secs(),
            rtt.subsec_nanos()
        )?;
    }
    json::key(out, false, "notes")?;
    json::strings(out, row.notes.iter().map(String::as_str))?;
    out.write_all(b"}\n")
}

/// Writes `s` as a TSV cell: tab, newline, carriage return and backslash
/// escaped.
fn cell(out: &mut impl Write, s: &str) -> io::Result<()> {
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escaped: &[u8] = match b {
            b'\t' => b"\\t",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\\' => b"\\\\",
            _ => continue,
        };
        out.write_all(s.as_bytes().get(start..i).unwrap_or_default())?;
        out.write_all(escaped)?;
        start = i + 1;
    }
    out.write_all(s.as_bytes().get(start..).unwrap_or_default())
}

/// Writes one frame as a TSV line (empty cells for what it lacks).
pub(crate) fn write_tsv(
    out: &mut impl Write,
    frame: &Shown<'_>,
    row: &Row,
    sender: Option<&Owner>,
    states: bool,
) -> io::Result<()> {
    let (src, sport, dst, dport) = ends(row);
    num(out, row.no as u64)?;
    out.write_all(b"\t")?;
    secs(out, row.time)?;
    out.write_all(b"\t")?;
    secs(out, RelTime::from(frame.time))?;
    out.write_all(b"\t")?;
    tsv_addr(out, &src)?;
    out.write_all(b"\t")?;
    opt(out, sport, b"")?;
    out.write_all(b"\t")?;
    tsv_addr(out, &dst)?;
    out.write_all(b"\t")?;
    opt(out, dport, b"")?;
    out.write_all(b"\t")?;
    cell(out, &row.protocol)?;
    out.write_all(b"\t")?;
    num(out, u64::from(row.length))?;
    out.write_all(b"\t")?;
    opt(out, row.conn.map(|c| c as u64), b"")?;
    out.write_all(b"\t")?;
    out.write_all(direction(row.direction).unwrap_or_default().as_bytes())?;
    out.write_all(b"\t")?;
    match process(row, sender) {
        Some(o) => {
            num(out, u64::from(o.pid))?;
            out.write_all(b"\t")?;
            cell(out, o.program())?;
        }
        None => out.write_all(b"\t")?,
    }
    out.write_all(b"\t")?;
    cell(out, &row.info)?;
    out.write_all(b"\t")?;
    // The list's separators need no escaping: each item is a cell's text.
    for (i, name) in analysis_names(&row.analysis).enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        cell(out, name)?;
    }
    out.write_all(b"\t")?;
    for (i, note) in row.notes.iter().enumerate() {
        if i > 0 {
            out.write_all(b"; ")?;
        }
        cell(out, note)?;
    }
    if states {
        match row.states {
            Some([c, s]) => write!(out, "\t{}\t{}", c.name(), s.name())?,
            None => out.write_all(b"\t\t")?,
        }
    }
    out.write_all(b"\n")
}

impl<W: Write> Sink for Records<W> {
    fn start(&mut self) -> Result<(), Error> {
        if self.format == Format::Json {
            return Ok(());
        }
        let states = if self.states {
            "\tclient_state\tserver_state"
        } else {
            ""
        };
        self.out.write(|w| writeln!(w, "{TSV_HEADER}{states}"))
    }

    fn row(&mut self, frame: &Shown<'_>, row: &Row, sender: Option<&Owner>) -> Result<(), Error> {
        self.tallies.note(row, sender);
        let (format, states) = (self.format, self.states);
        self.out.write(|w| match format {
            Format::Json => write_json(w, frame, row, sender, states),
            Format::Tsv => write_tsv(w, frame, row, sender, states),
        })?;
        self.out.row_done()
    }

    fn idle(&mut self) {
        let _ = self.out.flush();
    }

    fn finish(&mut self, end: &End<'_>) -> Result<(), Error> {
        if self.format == Format::Json {
            let conversations = self.tallies.conversations(end);
            self.out
                .write(|w| conversations.iter().try_for_each(|c| c.write_json(w)))?;
        }
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn tsv_cells_keep_one_frame_per_line() {
        let mut out = Vec::new();
        cell(&mut out, "a\tb\nc\\d\re").unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), r"a\tb\nc\\d\re");
    }

    /// An output whose bytes the test can still see.
    #[derive(Clone, Default)]
    struct Shared(std::rc::Rc<std::cell::RefCell<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.borrow_mut().extend_from_slice(b);
            Ok(b.len())
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
        let packet =
            crate::decode::decode(crate::decode::LinkType::RawIp, &ip, Duration::ZERO, 30).unwrap();
        crate::analyze::Analyzer::new().push(&packet)
    }

    #[test]
    fn a_live_capture_streams_each_frame_to_a_terminal_and_each_batch_elsewhere() {
        let iface: std::sync::Arc<str> = std::sync::Arc::from("lo");
        let shown = Shown {
            time: Duration::ZERO,
            data: &[],
            wire_len: 30,
            link: crate::decode::LinkType::RawIp,
            iface: &iface,
        };
        let out = Shared::default();
        let mut terminal = Records::live(out.clone(), Format::Json, false, true);
        terminal.row(&shown, &a_row(), None).unwrap();
        let line = String::from_utf8(out.0.borrow().clone()).unwrap();
        assert!(
            line.starts_with("{\"type\":\"frame\",\"no\":1,") && line.ends_with("}\n"),
            "{line}"
        );

        let out = Shared::default();
        let mut pipe = Records::live(out.clone(), Format::Json, false, false);
        pipe.row(&shown, &a_row(), None).unwrap();
        assert!(out.0.borrow().is_empty(), "buffered until the batch ends");
        pipe.idle();
        assert_eq!(out.0.borrow().iter().filter(|&&b| b == b'\n').count(), 1);
    }
}
